"""Fixtures of the dashboard tests: a temporary store with runs of scenarios/tiny.yaml and a
dashboard server in a subprocess on a free port of 127.0.0.1."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from twin.experiment import run_experiment
from twin.store import Store
from twin.variants import resolve

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "scenarios" / "tiny.yaml"
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# the plotly.js the dashboard serves (dashboard/assets/vendor/README.md)
(PLOTLY_BUNDLE,) = (REPO / "dashboard" / "assets" / "vendor").glob("plotly-cartesian-*.min.js")
PLOTLY_VERSION = PLOTLY_BUNDLE.name.removeprefix("plotly-cartesian-").removesuffix(".min.js")
# the trace types of every figure on the page that the page's plotly.js does not know (it
# would draw nothing for them)
UNKNOWN_TRACES = """() => {
    const known = new Set(Object.keys(window.Plotly.PlotSchema.get().traces));
    const graphs = Array.from(document.querySelectorAll('.js-plotly-plot'));
    return graphs.flatMap(g => (g.data || []).map(t => t.type || 'scatter'))
        .filter(t => !known.has(t));
}"""


def watch_console(page) -> list[str]:
    """The page's console errors and uncaught exceptions, as they come."""
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    return errors


def assert_plotly_drew_all(page, errors: list[str]) -> None:
    """The page's plotly.js is the vendored cartesian bundle, every trace type of its figures
    is one it draws, and nothing went wrong in the page."""
    assert page.evaluate("() => window.Plotly.version") == PLOTLY_VERSION
    assert page.evaluate(UNKNOWN_TRACES) == []
    assert not errors, errors


def make_store(root: Path) -> dict[str, str]:
    """Two runs of tiny (base, and three presses), seed 1, two replications each."""
    base = resolve(TINY)
    more = resolve(TINY, overrides=["units.press_1.count=3"])
    a, b = run_experiment([base, more], seed=1, replications=2, store=Store(root))
    return {"base": a.run_id, "presses": b.run_id}


@pytest.fixture(scope="session")
def tiny_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("store")
    return root, make_store(root)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(store: Path, port: int, log: Path) -> subprocess.Popen:
    code = f"from dashboard.app import serve; serve({str(store)!r}, '127.0.0.1', {port})"
    out = log.open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=str(REPO),
        stdout=out,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 30
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"dashboard server exited: {log.read_text()}")
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"dashboard server did not start: {log.read_text()}")


@contextlib.contextmanager
def served_page(store: Path, log: Path, height: int = 1000) -> Iterator[tuple[Any, str]]:
    """A dashboard server on ``store`` and a headless Chromium page (30 s timeouts): yields
    (page, base URL); stops both afterwards."""
    from playwright.sync_api import sync_playwright

    port = free_port()
    proc = start_server(store, port, log)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM,
                                        args=["--no-sandbox", "--disable-dev-shm-usage"])  # fmt: skip
            try:
                page = browser.new_page(viewport={"width": 1400, "height": height})
                page.set_default_timeout(30_000)
                yield page, f"http://127.0.0.1:{port}"
            finally:
                browser.close()
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(scope="session")
def server(tiny_store, tmp_path_factory) -> Iterator[str]:
    root, _ = tiny_store
    port = free_port()
    proc = start_server(root, port, tmp_path_factory.mktemp("log") / "server.log")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
