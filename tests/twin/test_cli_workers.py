"""Pool workers die with the ``twin`` process that started them, even after ``kill -9``:
orphans would keep a plant each in memory (about 250 MB) with parent 1."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import psutil
import pytest

from tests.conftest import SCENARIOS

TWIN = os.path.join(os.path.dirname(sys.executable), "twin")


def _wait_for_descendants(proc: subprocess.Popen, n: int, timeout: float = 60.0):
    parent = psutil.Process(proc.pid)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        kids = parent.children(recursive=True)
        if len(kids) >= n:
            return kids
        if proc.poll() is not None:
            pytest.fail(f"the command ended early: {proc.stderr.read() if proc.stderr else ''}")
        time.sleep(0.1)
    pytest.fail(f"fewer than {n} worker processes after {timeout} s")


def _gone(procs, timeout: float) -> list[psutil.Process]:
    deadline = time.monotonic() + timeout
    alive = list(procs)
    while alive and time.monotonic() < deadline:
        alive = [p for p in alive if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        time.sleep(0.1)
    return alive


def test_workers_of_a_killed_twin_run_die_with_it(tmp_path):
    proc = subprocess.Popen(
        [TWIN, "run", str(SCENARIOS / "osd_plant.yaml"), "-n", "8", "--workers", "4",
         "--no-store", "--json"],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        workers = _wait_for_descendants(proc, 4)
        time.sleep(0.5)  # the workers are simulating
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        alive = _gone(workers, timeout=10.0)
        assert not alive, [p.pid for p in alive]
    finally:
        if proc.poll() is None:
            proc.kill()
        for p in psutil.Process().children(recursive=True):
            if p.pid != proc.pid:
                p.kill()


def test_forkserver_workers_die_with_the_pool_process(tmp_path):
    script = tmp_path / "pool.py"
    script.write_text(
        textwrap.dedent("""
        import time
        from twin.executors import LocalPool

        if __name__ == "__main__":
            with LocalPool(3, start_method="forkserver") as pool:
                for _ in pool.map_unordered(time.sleep, [60] * 3):
                    pass
    """)
    )
    proc = subprocess.Popen([sys.executable, str(script)], stderr=subprocess.PIPE, text=True)
    try:
        kids = _wait_for_descendants(proc, 4)  # the forkserver and three workers
        time.sleep(0.5)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        alive = _gone(kids, timeout=10.0)
        assert not alive, [p.pid for p in alive]
    finally:
        if proc.poll() is None:
            proc.kill()
