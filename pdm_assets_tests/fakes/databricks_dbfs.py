"""DBFS on a local folder: `dbfs:/x` is `<root>/x`, with the REST API's limits and error codes."""
from __future__ import annotations

import base64
import binascii
import itertools
import os
import posixpath
import shutil
import threading
from pathlib import Path
from typing import Any

from .databricks_errors import ApiError, already_exists, as_int, invalid, not_found, required

MAX_BLOCK = 1024 * 1024  # add-block, put (inline) and read are capped at 1 MB by Databricks
DEFAULT_READ = 512 * 1024
# The emulator's own working state lives under the root but is not part of the DBFS namespace.
INTERNAL_DIR = ".databricks_emulator"


def normalize(path: str) -> str:
    """`dbfs:/a//b`, `dbfs:///a/b` and `/a/b` all name `/a/b`; relative paths are refused."""
    if path.startswith("dbfs:"):
        path = path[len("dbfs:"):]
    if not path.startswith("/"):
        raise invalid(f"Path must be absolute: {path}")
    # normpath keeps a leading "//" (POSIX allows it), so strip slashes first; ".." cannot climb above "/".
    return posixpath.normpath("/" + path.lstrip("/"))


def decode_b64(data: object, field: str) -> bytes:
    """Base64 request data, or INVALID_PARAMETER_VALUE as Databricks answers garbage."""
    try:
        return base64.b64decode(str(data), validate=True)
    except (binascii.Error, ValueError):
        raise invalid(f"Invalid base64 in field {field}") from None


class Dbfs:
    """The DBFS namespace and its streaming-upload handles, safe to call from many request threads."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._uploads = root / INTERNAL_DIR / "uploads"
        self._uploads.mkdir(parents=True, exist_ok=True)
        self._handles: dict[int, tuple[str, Path]] = {}
        self._next_handle = itertools.count(1)
        self._lock = threading.Lock()

    def local(self, path: str) -> Path:
        """The local file behind a DBFS path."""
        return self.root / normalize(path).lstrip("/")

    def _existing(self, path: str) -> Path:
        local = self.local(path)
        if not local.exists():
            raise not_found(f"No file or directory exists on path {normalize(path)}.")
        return local

    def info(self, path: str) -> dict[str, Any]:
        """A FileInfo: path, is_dir, file_size and modification_time (ms)."""
        local = self._existing(path)
        try:
            stat = local.stat()
        except FileNotFoundError:  # deleted between the two calls by a concurrent request or task
            raise not_found(f"No file or directory exists on path {normalize(path)}.") from None
        is_dir = local.is_dir()
        return {"path": normalize(path), "is_dir": is_dir, "file_size": 0 if is_dir else stat.st_size,
                "modification_time": int(stat.st_mtime * 1000)}

    def list(self, path: str) -> dict[str, Any]:
        """A directory's entries, or the file itself; an empty directory answers `{}` like Databricks."""
        local = self._existing(path)
        if not local.is_dir():
            return {"files": [self.info(path)]}
        base = normalize(path)
        names = sorted(n for n in os.listdir(local) if not (base == "/" and n == INTERNAL_DIR))
        files = [self.info(posixpath.join(base, name)) for name in names]
        return {"files": files} if files else {}

    def mkdirs(self, path: str) -> None:
        """Create a directory and its parents; a file on the way is RESOURCE_ALREADY_EXISTS."""
        try:
            self.local(path).mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise already_exists(f"A file or directory already exists at the input path {normalize(path)}.") from None

    def delete(self, path: str, recursive: bool) -> None:
        """Delete a file or directory; a missing path is a no-op, a non-empty one needs `recursive`."""
        local = self.local(path)
        if normalize(path) == "/":
            raise invalid("Cannot delete the root directory")
        if local.is_dir():
            if any(local.iterdir()) and not recursive:
                raise ApiError(400, "IO_ERROR", f"Directory {normalize(path)} is not empty. Use recursive delete.")
            shutil.rmtree(local)
        elif local.exists():
            local.unlink()

    def move(self, source: str, destination: str) -> None:
        """Move a file or a whole directory; the destination must not exist."""
        src = self._existing(source)
        dst = self.local(destination)
        if dst.exists():
            raise already_exists(f"A file or directory already exists at the input path {normalize(destination)}.")
        dst.parent.mkdir(parents=True, exist_ok=True)
        os.replace(src, dst)

    def read(self, path: str, offset: int, length: int) -> dict[str, Any]:
        """Up to `length` bytes from `offset`, base64-encoded, with `bytes_read` (0 at end of file)."""
        local = self._existing(path)
        if local.is_dir():
            raise invalid(f"Cannot read a directory: {normalize(path)}")
        if offset < 0 or length < 0:
            raise invalid("offset and length must be non-negative")
        if length > MAX_BLOCK:
            raise ApiError(400, "MAX_READ_SIZE_EXCEEDED", f"Cannot read more than {MAX_BLOCK} bytes at once")
        with open(local, "rb") as handle:
            handle.seek(offset)
            data = handle.read(length or DEFAULT_READ)
        return {"bytes_read": len(data), "data": base64.b64encode(data).decode("ascii")}

    def put(self, path: str, contents: bytes, overwrite: bool) -> None:
        """Write a whole file at once (inline uploads are limited to 1 MB like the real `put`)."""
        if len(contents) > MAX_BLOCK:
            raise ApiError(400, "MAX_BLOCK_SIZE_EXCEEDED", "File uploaded directly is larger than 1MB limit.")
        handle = self.create(path, overwrite)["handle"]
        self.add_block(handle, contents)
        self.close(handle)

    def create(self, path: str, overwrite: bool) -> dict[str, int]:
        """Open a streaming upload; the file appears atomically at `close`, so readers never see half of it."""
        target = self.local(path)
        if target.is_dir() or (target.exists() and not overwrite):
            raise already_exists(f"A file or directory already exists at the input path {normalize(path)}.")
        with self._lock:
            handle = next(self._next_handle)
            staging = self._uploads / str(handle)
            staging.write_bytes(b"")
            self._handles[handle] = (normalize(path), staging)
        return {"handle": handle}

    def add_block(self, handle: int, data: bytes) -> None:
        """Append a block (at most 1 MB) to an open upload."""
        if len(data) > MAX_BLOCK:
            raise ApiError(400, "MAX_BLOCK_SIZE_EXCEEDED", f"Block is larger than {MAX_BLOCK} bytes")
        with self._lock:
            _, staging = self._handle(handle)
            with open(staging, "ab") as out:
                out.write(data)

    def close(self, handle: int) -> None:
        """Finish an upload: move the staged bytes onto the target path."""
        with self._lock:
            path, staging = self._handle(handle)
            del self._handles[handle]
        target = self.local(path)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise already_exists(f"A file exists on the way to {path}.") from None
        os.replace(staging, target)

    def _handle(self, handle: int) -> tuple[str, Path]:
        if handle not in self._handles:
            raise not_found(f"Handle {handle} does not exist or has been closed.")
        return self._handles[handle]


# Which endpoint answers which verb, as in the REST API (reads are GET, everything else POST).
GET_ACTIONS = frozenset({"get-status", "list", "read"})
POST_ACTIONS = frozenset({"mkdirs", "delete", "move", "create", "add-block", "close", "put"})


def handle(dbfs: Dbfs, action: str, query: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
    """Serve `/api/2.0/dbfs/<action>` with the request's query (GET) and JSON body (POST)."""
    args = {**query, **body}
    if action == "get-status":
        return dbfs.info(str(required(args, "path")))
    if action == "list":
        return dbfs.list(str(required(args, "path")))
    if action == "read":
        return dbfs.read(str(required(args, "path")), as_int(args.get("offset", 0), "offset"),
                         as_int(args.get("length", 0), "length"))
    if action == "mkdirs":
        dbfs.mkdirs(str(required(args, "path")))
    elif action == "delete":
        dbfs.delete(str(required(args, "path")), _flag(args.get("recursive")))
    elif action == "move":
        dbfs.move(str(required(args, "source_path")), str(required(args, "destination_path")))
    elif action == "create":
        return dbfs.create(str(required(args, "path")), _flag(args.get("overwrite")))
    elif action == "add-block":
        dbfs.add_block(as_int(required(args, "handle"), "handle"), decode_b64(required(args, "data"), "data"))
    elif action == "close":
        dbfs.close(as_int(required(args, "handle"), "handle"))
    elif action == "put":
        contents = args.get("contents", "")
        data = contents if isinstance(contents, bytes) else decode_b64(contents, "contents")
        dbfs.put(str(required(args, "path")), data, _flag(args.get("overwrite")))
    return {}


def _flag(value: object) -> bool:
    """JSON booleans, or the "true"/"false" text of a query string or multipart form."""
    return value is True or str(value).lower() == "true"
