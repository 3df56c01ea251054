"""``twin dash`` serves the dashboard where it is asked to, or says at once why it cannot."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_twin_dash_serves_on_a_free_port(tmp_path):
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "twin", "dash", "--port", str(port), "--store", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
                    assert r.status == 200
                    break
            except OSError:
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                assert time.monotonic() < deadline, "the dashboard did not answer"
                time.sleep(0.5)
        # a second dashboard on the same port: refused at once, exit 2, no traceback
        t0 = time.perf_counter()
        res = subprocess.run(
            [sys.executable, "-m", "twin", "dash", "--port", str(port), "--store", str(tmp_path)],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert res.returncode == 2 and "already in use" in res.stderr
        assert "Traceback" not in res.stderr and "running" not in res.stdout
        assert time.perf_counter() - t0 < 30
    finally:
        proc.terminate()
        proc.wait(30)
