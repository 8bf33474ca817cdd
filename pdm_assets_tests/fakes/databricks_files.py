"""Unity Catalog volumes on a local folder and the Files API over them: `/Volumes/c/s/v/x` is `<root>/Volumes/c/s/v/x`.

Only paths in a volume that exists are served (`/api/2.0/fs/files/...` and `/api/2.0/fs/directories/...`),
with the status codes, error codes and headers Databricks answers with.
"""
from __future__ import annotations

import email.utils
import os
import posixpath
import re
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NamedTuple

from .databricks_dbfs import INTERNAL_DIR
from .databricks_errors import ApiError, as_int, invalid

VOLUMES_DIR = "Volumes"
MAX_PAGE = 1000  # list_directory_contents: the default and the cap of page_size
ROUTE = re.compile(r"^/api/2\.0/fs/(?P<kind>files|directories)(?P<path>/.*)$")
_NAME_PART = re.compile(r"^[^./\s][^./]*$")


class Reply(NamedTuple):
    """A non-JSON answer: status, headers and raw body (the headers alone for HEAD)."""

    status: int
    headers: dict[str, str]
    body: bytes = b""


NO_CONTENT = Reply(204, {})


def normalize(path: str) -> str:
    """`/Volumes/c/s/v//a/../b` names `/Volumes/c/s/v/b`; relative paths are refused."""
    if not path.startswith("/"):
        raise invalid(f"Path must be absolute: {path}")
    # normpath keeps a leading "//" (POSIX allows it), so strip slashes first; ".." cannot climb above "/".
    return posixpath.normpath("/" + path.lstrip("/"))


def _file_not_found() -> ApiError:
    return ApiError(404, "NOT_FOUND", "The file being accessed is not found.")


def _directory_not_found() -> ApiError:
    return ApiError(404, "NOT_FOUND", "The directory being accessed is not found.")


def _not_empty() -> ApiError:
    """400 with the ErrorInfo reason clients (the Databricks CLI) look for."""
    return ApiError(400, "BAD_REQUEST", "The directory being deleted is not empty.", details=[
        {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "FILES_API_DIRECTORY_IS_NOT_EMPTY",
         "domain": "filesystem.databricks.com"}])


def _conflict(message: str) -> ApiError:
    """409 ALREADY_EXISTS, which the SDK raises as `AlreadyExists` (a `ResourceConflict`)."""
    return ApiError(409, "ALREADY_EXISTS", message)


class Volumes:
    """The `/Volumes` namespace: which volumes exist and the file operations of the Files API."""

    def __init__(self, root: Path, names: Iterable[str] = ()) -> None:
        self.root = root
        self._staging = root / INTERNAL_DIR / "file-uploads"
        for name in names:
            self.create(name)

    def create(self, name: str) -> Path:
        """Create the volume `catalog.schema.volume` (its folder); return that folder."""
        parts = name.split(".")
        if len(parts) != 3 or not all(_NAME_PART.match(part) for part in parts):
            raise ValueError(f"A volume is named catalog.schema.volume; got {name!r}")
        folder = self.root.joinpath(VOLUMES_DIR, *parts)
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def local(self, path: str) -> Path:
        """The local file behind `/Volumes/...` (whether or not its volume exists)."""
        normalized = normalize(path)
        if normalized != f"/{VOLUMES_DIR}" and not normalized.startswith(f"/{VOLUMES_DIR}/"):
            raise ValueError(f"Not a volume path: {path}")
        return self.root / normalized.lstrip("/")

    def _in_volume(self, path: str) -> tuple[str, Path, int]:
        """The normalized path, its local file and its depth below the volume, or the error Databricks gives."""
        normalized = normalize(path)
        parts = normalized.split("/")[1:]
        if len(parts) < 4 or parts[0] != VOLUMES_DIR:
            raise invalid(f"The emulated Files API serves Unity Catalog volume paths only "
                          f"(/Volumes/<catalog>/<schema>/<volume>/...); got {normalized}")
        if not self.root.joinpath(*parts[:4]).is_dir():
            raise ApiError(404, "NOT_FOUND", f"Volume '{'.'.join(parts[1:4])}' does not exist.")
        return normalized, self.root / normalized.lstrip("/"), len(parts) - 4

    # ---- files ---------------------------------------------------------------------------------
    def upload(self, path: str, data: bytes, overwrite: bool) -> None:
        """Write a whole file, creating missing parent directories; atomic, so readers never see half of it."""
        normalized, local, depth = self._in_volume(path)
        if depth == 0 or local.is_dir():
            raise _conflict(f"A directory already exists at {normalized}.")
        if local.exists() and not overwrite:
            raise _conflict("The file being created already exists.")
        self._make_directory(local.parent, normalized)
        self._staging.mkdir(parents=True, exist_ok=True)
        handle, staged = tempfile.mkstemp(dir=self._staging)
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        if overwrite:
            os.replace(staged, local)
            return
        try:  # link, unlike replace, refuses an existing target: no window for a concurrent upload
            os.link(staged, local)
        except FileExistsError:
            raise _conflict("The file being created already exists.") from None
        finally:
            os.unlink(staged)

    def download(self, path: str, head: bool = False) -> Reply:
        """The file's bytes (none for HEAD) with the content-length, content-type and last-modified headers."""
        _, local, _ = self._in_volume(path)
        try:
            if not local.is_file():
                raise _file_not_found()
            stat = local.stat()
            data = b"" if head else local.read_bytes()
        except FileNotFoundError:  # deleted meanwhile by a concurrent request or task
            raise _file_not_found() from None
        # HEAD announces the length GET would send; a GET answers with exactly what it read.
        return Reply(200, {"Content-Length": str(stat.st_size if head else len(data)),
                           "Content-Type": "application/octet-stream",
                           "Last-Modified": email.utils.formatdate(stat.st_mtime, usegmt=True)}, data)

    def delete(self, path: str) -> None:
        """Delete a file; a missing path (or a directory) is NOT_FOUND."""
        _, local, _ = self._in_volume(path)
        try:
            if not local.is_file():
                raise _file_not_found()
            local.unlink()
        except FileNotFoundError:
            raise _file_not_found() from None

    # ---- directories ---------------------------------------------------------------------------
    def create_directory(self, path: str) -> None:
        """Create a directory and its parents (`mkdir -p`); idempotent."""
        normalized, local, _ = self._in_volume(path)
        self._make_directory(local, normalized)

    def _make_directory(self, local: Path, normalized: str) -> None:
        try:
            local.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise _conflict(f"A file exists at {normalized} or on the way to it.") from None

    def directory_metadata(self, path: str) -> None:
        """Nothing when the directory exists, NOT_FOUND otherwise."""
        _, local, _ = self._in_volume(path)
        if not local.is_dir():
            raise _directory_not_found()

    def list(self, path: str, page_size: int | None = None, page_token: str | None = None) -> dict[str, Any]:
        """A page of the directory's entries, sorted by name; `next_page_token` while more remain."""
        normalized, local, _ = self._in_volume(path)
        try:
            names = sorted(os.listdir(local))
        except (FileNotFoundError, NotADirectoryError):
            raise _directory_not_found() from None
        size = MAX_PAGE if not page_size or page_size <= 0 else min(page_size, MAX_PAGE)
        # The token is the last name of the previous page: stable while entries come and go.
        remaining = [name for name in names if page_token is None or name > page_token]
        contents = [entry for name in remaining[:size] if (entry := self._entry(normalized, local / name))]
        answer: dict[str, Any] = {"contents": contents} if contents else {}
        if len(remaining) > size:
            answer["next_page_token"] = remaining[size - 1]
        return answer

    @staticmethod
    def _entry(parent: str, local: Path) -> dict[str, Any] | None:
        try:
            stat = local.stat()
        except FileNotFoundError:  # deleted between listdir and stat
            return None
        is_dir = local.is_dir()
        entry = {"path": f"{parent}/{local.name}", "is_directory": is_dir, "name": local.name,
                 "last_modified": int(stat.st_mtime * 1000)}
        return entry if is_dir else {**entry, "file_size": stat.st_size}

    def delete_directory(self, path: str) -> None:
        """Delete an empty directory; a non-empty one is the 400 the Files API gives (the volume itself stays)."""
        normalized, local, depth = self._in_volume(path)
        if not local.is_dir():
            raise _directory_not_found()
        if depth == 0:
            raise invalid(f"Cannot delete the root directory of a volume: {normalized}")
        try:
            local.rmdir()  # refuses a non-empty directory by itself, also one a task filled meanwhile
        except FileNotFoundError:
            raise _directory_not_found() from None
        except OSError:
            raise _not_empty() from None


def handle(volumes: Volumes, method: str, kind: str, path: str, query: dict[str, str],
           body: bytes) -> Reply | dict[str, Any]:
    """Serve `/api/2.0/fs/<kind><path>` (path already percent-decoded): a Reply, or JSON for a listing."""
    if kind == "files":
        if method == "PUT":
            # overwrite defaults to true: "If true or unspecified, an existing file will be overwritten".
            volumes.upload(path, body, str(query.get("overwrite", "true")).lower() == "true")
            return NO_CONTENT
        if method in ("GET", "HEAD"):
            return volumes.download(path, head=method == "HEAD")
        if method == "DELETE":
            volumes.delete(path)
            return NO_CONTENT
        if method == "POST" and query.get("action") == "initiate-upload":
            raise invalid(f"The emulator supports one-shot uploads only (PUT /api/2.0/fs/files{path}), which the "
                          "SDK's FilesExt uses below Config.multipart_upload_min_stream_size (5 MB): raise that "
                          f"setting or upload a smaller file; got action=initiate-upload for {path}")
    else:
        if method == "PUT":
            volumes.create_directory(path)
            return NO_CONTENT
        if method == "HEAD":
            volumes.directory_metadata(path)
            return Reply(200, {})
        if method == "GET":
            page_size = as_int(query["page_size"], "page_size") if "page_size" in query else None
            return volumes.list(path, page_size, query.get("page_token"))
        if method == "DELETE":
            volumes.delete_directory(path)
            return NO_CONTENT
    raise ApiError(404, "ENDPOINT_NOT_FOUND", f"No API found for '{method} /api/2.0/fs/{kind}{path}'")
