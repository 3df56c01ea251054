"""Executors: one interface for running independent tasks in-process, on a local process pool
or on a Dask cluster.

An executor maps a picklable module-level function over picklable items and yields results as
they complete (in any order). Results never depend on which executor ran them: the tasks carry
everything they need (plain data, seed, replication), and nothing is shared between them.

- :class:`InProcess`: one after another in this process (debugging, tiny jobs).
- :class:`LocalPool`: a ``concurrent.futures.ProcessPoolExecutor`` on all cores (the default).
  Workers are forked from a ``forkserver`` that has imported the model once, so they start in
  milliseconds and never inherit this process's threads. Workers die with the process that
  started them, even when it is killed with SIGKILL (see :func:`_die_with_parent`).

Items are taken from the iterable as workers become free (a few per worker in flight), so a
long list of tasks is never built or queued at once.
- :class:`DaskExecutor`: ``"local"`` starts a ``distributed.LocalCluster``; any other address
  (``tcp://host:8786``) connects to a running scheduler, with a short connect timeout.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any, TypeVar

__all__ = [
    "Executor",
    "ExecutorError",
    "InProcess",
    "LocalPool",
    "DaskExecutor",
    "make_executor",
    "cpu_count",
]

T = TypeVar("T")
R = TypeVar("R")


class ExecutorError(RuntimeError):
    """An executor could not be started or reached (phrased for the user)."""


def cpu_count() -> int:
    """Cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


class Executor:
    """Runs ``fn`` over ``items``; use as a context manager so workers are released."""

    name = "executor"
    workers = 1

    def map_unordered(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        raise NotImplementedError

    def close(self) -> None:
        """Release workers (idempotent)."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(workers={self.workers})"


class InProcess(Executor):
    name = "in-process"

    def map_unordered(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        for item in items:
            yield fn(item)


class LocalPool(Executor):
    """A process pool on this machine; ``workers`` defaults to all usable cores.

    Workers start at once. On Linux they are forked from this process while it has a single
    thread (fast: the model is already imported), otherwise from a ``forkserver`` that imports
    the model once (fork with other threads running can deadlock). Scripts using it need the
    ``if __name__ == "__main__":`` guard, as with any non-fork start method.
    """

    name = "local pool"

    def __init__(
        self,
        workers: int | None = None,
        start_method: str | None = None,
        preload: Sequence[str] = ("twin.experiment",),
    ) -> None:
        if workers is not None and workers < 1:
            raise ExecutorError(f"--workers: bad value {workers}: expected at least 1")
        self.workers = workers or cpu_count()
        if start_method is None:
            if sys.platform != "linux":
                start_method = "spawn"
            elif threading.active_count() == 1:
                start_method = "fork"
            else:
                start_method = "forkserver"
        self.start_method = start_method
        ctx = multiprocessing.get_context(start_method)
        if start_method == "forkserver":
            ctx.set_forkserver_preload(list(preload))
        self._pool: ProcessPoolExecutor | None = ProcessPoolExecutor(
            self.workers,
            mp_context=ctx,
            initializer=_die_with_parent,
            initargs=(os.getpid(),),
        )
        # start every worker now, before callers start threads
        for fut in [self._pool.submit(time.sleep, 0.01) for _ in range(self.workers)]:
            fut.result()

    def map_unordered(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        if self._pool is None:
            raise ExecutorError("the executor is closed")
        source = iter(items)
        window = 2 * self.workers  # tasks in flight: every worker busy, one more queued each
        pending: set[Future[R]] = set()

        def refill() -> None:
            while len(pending) < window:
                item = next(source, _END)
                if item is _END:
                    return
                pending.add(self._pool.submit(fn, item))  # type: ignore[union-attr]

        try:
            refill()
            while pending:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                refill()
                for fut in finished:
                    yield fut.result()
        finally:
            for fut in pending:
                fut.cancel()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


_END = object()

_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent: int) -> None:
    """Worker initializer: end this worker when the process that started the pool dies.

    On Linux the kernel sends SIGKILL when the worker's parent ends
    (``prctl(PR_SET_PDEATHSIG)``); the parent of a worker is the pool's process (``fork``) or
    the forkserver, which itself ends with the pool's process. A daemon thread watching that
    process covers every platform (and the moment before ``prctl`` took effect): it ends the
    worker within about a second of the pool's process vanishing.
    """
    import signal

    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):  # pragma: no cover - no libc prctl
            pass
    ppid = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(0.5)
            if os.getppid() != ppid or not _alive(parent):
                os._exit(1)

    threading.Thread(target=watch, name="die-with-parent", daemon=True).start()
    if os.getppid() != ppid or not _alive(parent):  # pragma: no cover - parent gone already
        os._exit(1)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - someone else's process took the pid
        return True
    return True


class DaskExecutor(Executor):
    """Dask distributed: ``address="local"`` starts a LocalCluster (``workers`` processes of one
    thread each, or threads with ``processes=False``); otherwise connect to ``address``."""

    name = "dask"

    def __init__(
        self,
        address: str = "local",
        workers: int | None = None,
        processes: bool = True,
        timeout: float = 5.0,
    ) -> None:
        from distributed import Client, LocalCluster

        self.address = address
        self._cluster: Any = None
        if address == "local":
            n = workers or cpu_count()
            self._cluster = LocalCluster(
                n_workers=n,
                threads_per_worker=1,
                processes=processes,
                dashboard_address=None,
                silence_logs=logging.CRITICAL,
            )
            self._client = Client(self._cluster)
        else:
            try:
                self._client = Client(address, timeout=f"{timeout}s")
            except Exception as exc:  # OSError, TimeoutError, ValueError: all mean unreachable
                detail = str(exc).splitlines()[0] if str(exc) else "no detail"
                raise ExecutorError(
                    f"--dask {address}: cannot reach a Dask scheduler there within {timeout:g} s "
                    f"({type(exc).__name__}: {detail}). "
                    f"Start one with `dask scheduler` and workers with `dask worker {address}` "
                    "(each with pharmatwin installed), or use --dask local."
                ) from None
        info = self._client.scheduler_info()
        self.workers = max(1, sum(w.get("nthreads", 1) for w in info.get("workers", {}).values()))

    def map_unordered(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        from distributed import as_completed

        futures = self._client.map(fn, list(items), pure=False)
        try:
            for fut in as_completed(futures):
                yield fut.result()
        finally:
            self._client.cancel([f for f in futures if not f.done()])

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None


def make_executor(
    workers: int | None = None, dask: str | None = None, timeout: float = 5.0
) -> Executor:
    """The executor the CLI options ask for: ``dask`` (``"local"`` or an address) wins; else
    ``workers=1`` runs in-process and anything else uses a local process pool."""
    if dask:
        return DaskExecutor(dask, workers=workers, timeout=timeout)
    if workers == 1:
        return InProcess()
    return LocalPool(workers)
