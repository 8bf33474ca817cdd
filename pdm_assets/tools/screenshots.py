"""Screenshots of the Dagster UI for the README: asset graph, partitions, model page (headless Chromium)."""
from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping, Optional, Sequence

REPO = Path(__file__).resolve().parents[2]
WORKSPACE = REPO / "workspace.yaml"
TELEMETRY_OFF = "telemetry:\n  enabled: false\n"
WIDTH, HEIGHT = 1600, 1000


class WebserverError(RuntimeError):
    """The webserver exited or did not load the code location in time."""


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def graphql(base_url: str, query: str, variables: Optional[Mapping[str, Any]] = None, timeout: float = 60.0) -> dict:
    """POST one query to the webserver's /graphql; the `data` of the answer, errors raised."""
    body = json.dumps({"query": query, "variables": dict(variables or {})}).encode()
    request = urllib.request.Request(f"{base_url}/graphql", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        answer = json.load(response)
    if answer.get("errors"):
        raise WebserverError(f"GraphQL errors: {answer['errors']}")
    return answer["data"]


LOCATION_STATUS = """
query LocationStatus {
  workspaceOrError {
    __typename
    ... on Workspace {
      locationEntries {
        name
        loadStatus
        locationOrLoadError { __typename ... on PythonError { message } }
      }
    }
  }
}
"""


def _location_loaded(base_url: str) -> bool:
    """True once every code location is loaded; a location that failed to load raises with its error."""
    data = graphql(base_url, LOCATION_STATUS, timeout=10)["workspaceOrError"]
    entries = data.get("locationEntries") or []
    for entry in entries:
        error = entry.get("locationOrLoadError") or {}
        if error.get("__typename") == "PythonError":
            raise WebserverError(f"code location {entry['name']} failed to load: {error.get('message')}")
    return bool(entries) and all(e["loadStatus"] == "LOADED" and e.get("locationOrLoadError") for e in entries)


def _tail(path: Path, lines: int = 30) -> str:
    """The last lines of a log file, for an error message."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _stop_group(proc: subprocess.Popen, grace: float = 15.0) -> None:
    """SIGTERM the process group the process leads (webserver and its code server), then SIGKILL."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
    with contextlib.suppress(ProcessLookupError):  # the code server may outlive its parent
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def ensure_dagster_home(dagster_home: Path) -> Path:
    """The instance directory, with a dagster.yaml turning telemetry off if it has none (as pdm-demo does)."""
    dagster_home.mkdir(parents=True, exist_ok=True)
    config = dagster_home / "dagster.yaml"
    if not config.exists():
        config.write_text(TELEMETRY_OFF)
    return dagster_home


@dataclass(frozen=True)
class Webserver:
    """A running dagster-webserver: its base URL and the id of its process group (it and its code server)."""

    url: str
    pgid: int


@contextlib.contextmanager
def running_webserver(dagster_home: Path, pdm_home: Path, *, port: Optional[int] = None, read_only: bool = False,
                      environ: Optional[Mapping[str, str]] = None, timeout: float = 120.0) -> Iterator[Webserver]:
    """The real dagster-webserver on loopback for workspace.yaml and this instance, once its code is loaded."""
    port = port or free_port()
    env = dict(os.environ if environ is None else environ)
    env.update(DAGSTER_HOME=str(ensure_dagster_home(Path(dagster_home))), PDM_HOME=str(pdm_home))
    executable = Path(sys.executable).parent / "dagster-webserver"
    command = [str(executable) if executable.exists() else "dagster-webserver",
               "-w", str(WORKSPACE), "-h", "127.0.0.1", "-p", str(port)]
    if read_only:
        command.append("--read-only")
    base_url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="pdm-webserver-") as scratch:
        log = Path(scratch) / "webserver.log"
        with log.open("wb") as out:
            # Its own session: the code server it spawns joins the group, and one killpg ends both.
            proc = subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            deadline = time.monotonic() + timeout
            while True:
                if proc.poll() is not None:
                    raise WebserverError(f"dagster-webserver exited with {proc.returncode}:\n{_tail(log)}")
                try:
                    if _location_loaded(base_url):
                        break
                except (urllib.error.URLError, ConnectionError, TimeoutError, socket.timeout):
                    pass  # not listening yet
                if time.monotonic() > deadline:
                    raise WebserverError(f"dagster-webserver did not load {WORKSPACE} within {timeout:.0f} s:\n"
                                         f"{_tail(log)}")
                time.sleep(1.0)
            yield Webserver(base_url, proc.pid)
        finally:
            _stop_group(proc)


def find_chromium(explicit: Optional[str] = None) -> str:
    """The Chromium (or Chrome) executable: the one given, else the first on PATH."""
    for name in ([explicit] if explicit else ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"]):
        found = shutil.which(name)
        if found:
            return found
    raise SystemExit("No Chromium found: install it (e.g. `apt-get install -y chromium`) or pass --chromium PATH.")


class Browser:
    """Headless Chromium driven over the DevTools protocol: wait for what a page shows, then capture it."""

    def __init__(self, executable: str, width: int = WIDTH, height: int = HEIGHT) -> None:
        self.executable, self.width, self.height = executable, width, height
        self._next_id = 0

    def __enter__(self) -> "Browser":
        from websockets.sync.client import connect  # websockets comes with dagster-webserver (uvicorn[standard])

        self._stack = contextlib.ExitStack()
        self._profile = tempfile.TemporaryDirectory(prefix="pdm-chromium-", ignore_cleanup_errors=True)
        self._proc = subprocess.Popen(
            [self.executable, "--headless=new", "--disable-gpu", "--no-sandbox", "--hide-scrollbars",
             "--no-first-run", "--no-default-browser-check", "--disable-extensions", "--disable-breakpad",
             "--disable-crash-reporter",
             f"--window-size={self.width},{self.height}", "--remote-debugging-address=127.0.0.1",
             "--remote-debugging-port=0", f"--user-data-dir={self._profile.name}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            port = self._devtools_port(Path(self._profile.name) / "DevToolsActivePort")
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as response:
                pages = [t for t in json.load(response) if t.get("type") == "page"]
            self._ws = self._stack.enter_context(
                connect(pages[0]["webSocketDebuggerUrl"], max_size=None, open_timeout=10))
            self.call("Page.enable")  # scripts added for new documents only run with the Page domain on
            self.call("Emulation.setDeviceMetricsOverride",
                      width=self.width, height=self.height, deviceScaleFactor=1, mobile=False)
        except BaseException:
            self._close_process()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._close_process()

    def _close_process(self) -> None:
        with contextlib.suppress(Exception):
            self._stack.close()
        _stop_group(self._proc, grace=5.0)
        self._profile.cleanup()

    def _devtools_port(self, marker: Path, timeout: float = 30.0) -> int:
        """The debugging port Chromium picked, from the file it writes into its profile."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"{self.executable} exited with {self._proc.returncode}")
            text = marker.read_text() if marker.exists() else ""
            if text.strip():
                return int(text.split()[0])
            time.sleep(0.2)
        raise RuntimeError(f"{self.executable} opened no DevTools port within {timeout:.0f} s")

    def call(self, method: str, **params: Any) -> dict:
        """One DevTools command and its result (events arriving meanwhile are skipped)."""
        self._next_id += 1
        self._ws.send(json.dumps({"id": self._next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self._ws.recv(timeout=60))
            if message.get("id") == self._next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page."""
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        return result.get("result", {}).get("value")

    def before_each_page(self, script: str) -> None:
        """JavaScript run in every document before the page's own scripts."""
        self.call("Page.addScriptToEvaluateOnNewDocument", source=script)

    def capture(self, url: str, out: Path, ready: str, *, height: Optional[int] = None, timeout: float = 90.0,
                quiet: float = 2.0) -> Path:
        """Open url; once `ready` holds and no request has been in flight for `quiet` s, save a PNG."""
        self.call("Emulation.setDeviceMetricsOverride", width=self.width, height=height or self.height,
                  deviceScaleFactor=1, mobile=False)
        self.call("Page.navigate", url=url)
        check = f"(() => {{ try {{ return Boolean({ready}) && window.__pdmPending() === 0; }} catch (e) {{ return false; }} }})()"
        deadline, quiet_since = time.monotonic() + timeout, None
        while True:
            now = time.monotonic()
            if self.evaluate(check):
                quiet_since = quiet_since or now
                if now - quiet_since >= quiet:
                    break
            else:
                quiet_since = None
            if now > deadline:
                raise TimeoutError(f"{url} did not finish loading within {timeout:.0f} s (waiting for {ready})")
            time.sleep(0.25)
        data = self.call("Page.captureScreenshot", format="png")["data"]
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(base64.b64decode(data))
        return out


# Before the UI's own scripts: count requests in flight (to wait for quiet), skip the community
# sign-up dialog the UI opens on localhost, and fold the left navigation to its icons.
PAGE_SETUP = """
(() => {
  let pending = 0;
  window.__pdmPending = () => pending;
  const fetch = window.fetch.bind(window);
  window.fetch = (...args) => { pending++; return fetch(...args).finally(() => { pending--; }); };
  try {
    localStorage.setItem("communityNux", JSON.stringify("1"));
    localStorage.setItem("dagster-nav-collapsed", "true");
  } catch (e) {}
})();
"""

ASSET_NODES = """
query AssetNodes {
  assetNodes { assetKey { path } groupName }
}
"""

PARTITION_STATUSES = """
query PartitionStatuses($path: [String!]!) {
  assetNodeOrError(assetKey: {path: $path}) {
    ... on AssetNode {
      partitionKeys
      assetPartitionStatuses {
        ... on TimePartitionStatuses { ranges { endKey status } }
      }
    }
  }
}
"""


@dataclass(frozen=True)
class Shot:
    """One page to capture: its file, what it shows, its URL path and what must be on it before capture."""

    filename: str
    title: str
    path: str
    ready: str
    height: Optional[int] = None


def _text_has(*texts: str) -> str:
    """A JavaScript condition: the page's visible text holds every one of these strings."""
    return " && ".join(f"document.body.innerText.includes({json.dumps(t)})" for t in texts) or "true"


def latest_materialized_partition(base_url: str, asset: str) -> Optional[str]:
    """The last materialized partition of a time-partitioned asset, else its last partition, else None."""
    node = graphql(base_url, PARTITION_STATUSES, {"path": [asset]})["assetNodeOrError"]
    ranges = (node.get("assetPartitionStatuses") or {}).get("ranges") or []
    done = [r["endKey"] for r in ranges if r["status"] == "MATERIALIZED"]
    keys = node.get("partitionKeys") or []
    return max(done) if done else (keys[-1] if keys else None)


def plan(base_url: str, partitioned_asset: str = "failure_predictions", model_asset: str = "failure_model") -> list[Shot]:
    """The pages to capture, with what the webserver reports about assets, groups and partitions."""
    nodes = graphql(base_url, ASSET_NODES)["assetNodes"]
    names = sorted(n["assetKey"]["path"][-1] for n in nodes)
    groups = sorted({n["groupName"] for n in nodes})
    expanded = ",".join(f"global@global:{g}" for g in groups)  # the lineage page's ids of open groups
    # Long names are shortened in the middle on the graph ("failu…_predictions"): look for their ends.
    graph = Shot("asset_graph.png", "global asset lineage, every group expanded",
                 f"/asset-groups?expanded={expanded}", _text_has(*(n[-8:] for n in names)))
    partition = latest_materialized_partition(base_url, partitioned_asset)
    query = f"?view=partitions&partition={partition}" if partition else "?view=partitions"
    partitions = Shot("partitions.png", f"{partitioned_asset} partitions, {partition or 'none'} selected",
                      f"/assets/{partitioned_asset}{query}",
                      _text_has("Partitions Selected", "Metadata", *([partition] if partition else [])))
    model = Shot("failure_model.png", f"{model_asset} overview with its latest metadata", f"/assets/{model_asset}",
                 _text_has("Metadata", "Definition", "Lineage"), height=1720)
    return [graph, partitions, model]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m pdm_assets.tools.screenshots", description=__doc__)
    p.add_argument("--dagster-home", type=Path, required=True, help="the Dagster instance (DAGSTER_HOME) to show")
    p.add_argument("--pdm-home", type=Path, required=True, help="the PDM_HOME the definitions load with")
    p.add_argument("--out", type=Path, default=REPO / "docs", help="where the PNGs go (default docs/)")
    p.add_argument("--port", type=int, default=0, help="webserver port on 127.0.0.1 (default: a free one)")
    p.add_argument("--chromium", default=None, help="the Chromium executable (default: found on PATH)")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for the webserver and each page")
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Start a read-only webserver on the instance, capture each page, print where each PNG went."""
    args = _parser().parse_args(argv)
    chromium = find_chromium(args.chromium)
    failed = 0
    with running_webserver(args.dagster_home.resolve(), args.pdm_home.resolve(), port=args.port or None,
                           read_only=True, timeout=args.timeout) as server:
        base_url = server.url
        print(f"screenshots: dagster-webserver at {base_url} (read-only) on {args.dagster_home}")
        with Browser(chromium) as browser:
            browser.before_each_page(PAGE_SETUP)
            for shot in plan(base_url):
                out = args.out / shot.filename
                try:
                    browser.capture(base_url + shot.path, out, shot.ready, height=shot.height,
                                    timeout=args.timeout)
                except TimeoutError as err:
                    failed += 1
                    print(f"screenshots: FAILED {shot.filename}: {err}", file=sys.stderr)
                    continue
                print(f"screenshots: wrote {out.resolve()} ({shot.title}; {shot.path})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
