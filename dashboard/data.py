"""Run data for the dashboard: the cached playback of a replication, and the names the pages
use from the modules that compute it.

Everything is a plain function of the run store's files: the runs listing
(:mod:`dashboard.listing`), comparisons on one basis (:mod:`dashboard.comparison`), the
pre-aggregated playback (:mod:`dashboard.playback_data`, built by :mod:`dashboard.aggregate`)
and where things are drawn (:mod:`dashboard.plant_layout`). A playback is cached per (store,
run, replication, file time) with ``functools.lru_cache``, so moving the cursor never re-reads
or re-scans the log.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections import defaultdict
from pathlib import Path

from dashboard.aggregate import load_playback
from dashboard.listing import HEADLINE_KPIS, run_label, runs_rows
from dashboard.plant_layout import unit_positions
from dashboard.playback_data import JUMP_KINDS, QUIET_KINDS, Playback
from twin.store import Store, StoreError

__all__ = [
    "HEADLINE_KPIS",
    "JUMP_KINDS",
    "QUIET_KINDS",
    "Playback",
    "load_playback",
    "playback",
    "prefetch",
    "run_label",
    "runs_rows",
    "unit_positions",
]


@functools.lru_cache(maxsize=4)
def _cached(root: str, run_id: str, replication: int, stamp: float) -> Playback:
    return load_playback(Store(root), run_id, replication)


_LOCKS: dict[tuple[str, str, int], threading.Lock] = defaultdict(threading.Lock)
_LOCKS_GUARD = threading.Lock()


def playback(root: str | Path, run_id: str, replication: int = 0) -> Playback:
    """The cached playback of a replication (re-read only if its event file changed; a run
    asked for by two requests at once is read once)."""
    store = Store(root)
    info = store.get(run_id)
    path = info.path / f"rep-{replication:04d}" / "events.parquet"
    if not path.is_file():
        raise StoreError(
            f"{info.id}: no replication {replication}; it has {list(info.replications)}"
        )
    key = (str(Path(root).resolve()), info.id, replication)
    with _LOCKS_GUARD:
        lock = _LOCKS[key]
    with lock:
        return _cached(*key, path.stat().st_mtime)


def prefetch(root: str | Path, run_id: str, replication: int = 0) -> None:
    """Start reading a run's playback in the background (when its page is requested, while
    the browser is still loading scripts); errors are left for the page to report."""

    def work() -> None:
        with contextlib.suppress(StoreError, OSError, ValueError):
            playback(root, run_id, replication)

    threading.Thread(target=work, daemon=True, name="playback-prefetch").start()
