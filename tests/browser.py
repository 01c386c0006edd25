"""A real headless Chromium (Debian's ``chromium`` package) driven over its DevTools protocol: a page is opened, scripts
run in it and the mouse clicks in it as an operator's would."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

from .conftest import free_port, wait_for

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def short_tmp() -> Path:
    """A new folder for Chromium's own temporary files (``TMPDIR``), in /tmp: its singleton socket's path must fit a Unix
    socket's 107 bytes, which one under a test's folder did not with pytest-xdist's worker folder in it (Chromium aborted,
    ``Socket path too long``). The caller removes it (:func:`remove_tmp`)."""
    return Path(tempfile.mkdtemp(prefix="chromium-", dir="/tmp"))


def remove_tmp(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-sync"]


class Browser:
    """Chromium showing ``url``, its profile under ``tmp``, its temporary files in a folder of their own
    (:func:`short_tmp`); closed (killed) on leaving the block, that folder removed."""

    def __init__(self, url: str, tmp: Path) -> None:
        self._debug = free_port()
        args = [str(CHROMIUM), *FLAGS, f"--remote-debugging-port={self._debug}", f"--user-data-dir={tmp / 'profile'}", url]
        self._tmp = short_tmp()
        env = {**os.environ, "TMPDIR": str(self._tmp)}
        self._proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        self._calls = itertools.count(1)
        self._ws: Any = None

    def __enter__(self) -> Browser:
        import websocket

        targets: list[dict[str, Any]] = []

        def page_up() -> bool:
            nonlocal targets
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self._debug}/json", timeout=2) as r:
                    targets = [t for t in json.loads(r.read()) if t.get("type") == "page"]
            except OSError:
                return False
            return bool(targets)

        try:
            assert wait_for(page_up, 60, poll=0.2), "Chromium's debugging port never answered"
            self._ws = websocket.create_connection(targets[0]["webSocketDebuggerUrl"], timeout=10, suppress_origin=True)
        except BaseException:
            self._close()
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._close()

    def _close(self) -> None:
        if self._ws is not None:
            self._ws.close()
        self._proc.kill()
        self._proc.wait(10)
        remove_tmp(self._tmp)

    def cdp(self, method: str, **params: Any) -> dict[str, Any]:
        """One DevTools call, its result within 30 s (each read bounded by the socket's 10 s timeout)."""
        n = next(self._calls)
        self._ws.send(json.dumps({"id": n, "method": method, "params": params}))
        end = time.monotonic() + 30
        while time.monotonic() < end:
            msg = json.loads(self._ws.recv())
            if msg.get("id") == n:
                return msg.get("result", {})  # type: ignore[no-any-return]
        raise AssertionError(f"Chromium never answered {method}")

    def js(self, expr: str) -> Any:
        """The value of a JavaScript expression in the page."""
        return self.cdp("Runtime.evaluate", expression=expr, returnByValue=True).get("result", {}).get("value")

    def click(self, element: str) -> None:
        """A real click in the middle of the element a JavaScript expression gives, not a call of its handler."""
        box = json.loads(self.js(f"JSON.stringify(({element}).getBoundingClientRect())"))
        x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        for kind in ("mousePressed", "mouseReleased"):
            self.cdp("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1)
