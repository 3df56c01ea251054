"""Fixtures of the dashboard tests: a temporary store with runs of scenarios/tiny.yaml and a
dashboard server in a subprocess on a free port of 127.0.0.1."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from twin.experiment import run_experiment
from twin.store import Store
from twin.variants import resolve

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "scenarios" / "tiny.yaml"
ARTIFACTS = REPO / "test-artifacts"


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
