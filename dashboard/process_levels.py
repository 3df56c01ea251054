"""Tank and utility levels of a process plant, read from its event log (``tank_added``,
``tank_level``, ``utility_added``, ``utility_level``; see docs/process_plants.md): step curves
for playback and time-weighted means per replication for comparisons.

A discrete plant's log has none of these kinds: both dictionaries are then empty.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from twin.kpi import LogView
from twin.store import Store

__all__ = ["Level", "process_levels", "mean_levels", "level_samples"]


@dataclass(frozen=True)
class Level:
    """A tank or a utility over a run: its level after each change (a step curve, 0 before the
    first), its capacity (NaN: none) and, for a tank, its storage policy."""

    times: np.ndarray
    values: np.ndarray
    capacity: float = math.nan
    storage: str = ""

    def at(self, t: float) -> float:
        """The level at time t (after every change at t)."""
        k = int(np.searchsorted(self.times, t, side="right")) - 1
        return float(self.values[k]) if k >= 0 else 0.0

    def mean(self, lo: float, hi: float) -> float:
        """Time-weighted mean level over [lo, hi]."""
        if hi <= lo:
            return self.at(lo)
        edges = np.concatenate(([lo], self.times[(self.times > lo) & (self.times < hi)], [hi]))
        levels = [self.at(lo), *self.values[(self.times > lo) & (self.times < hi)]]
        return float(np.dot(np.diff(edges), levels) / (hi - lo))

    @property
    def peak(self) -> float:
        return float(self.values.max()) if len(self.values) else 0.0


def process_levels(view: LogView) -> tuple[dict[str, Level], dict[str, Level]]:
    """(tanks, utilities) by id, in the order the log adds them. Tanks of storage ``none`` or
    ``zero_wait`` (material held in units, or used at once) are left out: they never hold a
    level."""
    kind_idx, kinds = view.codes("kind")
    code = {k: i for i, k in enumerate(kinds)}
    if "tank_added" not in code and "utility_added" not in code:
        return {}, {}
    unit_idx, names = view.codes("unit")
    state_idx, states = view.codes("state")

    def curves(added: str, level: str) -> dict[str, Level]:
        out: dict[str, Level] = {}
        rows = np.flatnonzero(kind_idx == code[added]) if added in code else []
        lrows = np.flatnonzero(kind_idx == code[level]) if level in code else np.zeros(0, int)
        lunit = unit_idx[lrows]
        for i in rows:
            storage = states[state_idx[i]] if state_idx[i] >= 0 else ""
            if storage in ("none", "zero_wait"):
                continue
            r = lrows[lunit == unit_idx[i]]
            cap = float(view.value[i])
            out[names[unit_idx[i]]] = Level(view.t[r], view.value[r], cap, storage)
        return out

    return curves("tank_added", "tank_level"), curves("utility_added", "utility_level")


def mean_levels(view: LogView, lo: float | None = None) -> dict[str, float]:
    """Time-weighted mean level of every tank and utility over the run (from ``lo``, else the
    run's start: its warm-up end), keyed ``tank.<id>`` and ``utility.<id>``."""
    start, stop = view.window()
    lo = start if lo is None else lo
    tanks, utilities = process_levels(view)
    out = {f"tank.{k}": v.mean(lo, stop) for k, v in tanks.items()}
    out.update({f"utility.{k}": v.mean(lo, stop) for k, v in utilities.items()})
    return out


def level_samples(
    store: Store, used: Mapping[str, Sequence[int]]
) -> tuple[dict[str, list[dict[str, float]]], dict[str, float]]:
    """For the runs of process plants among ``used`` (run -> replications; other runs are left
    out): run -> the :func:`mean_levels` of each replication, and the capacity of every tank
    and utility under the same keys (NaN: none)."""
    samples: dict[str, list[dict[str, float]]] = {}
    capacities: dict[str, float] = {}
    for rid, reps in used.items():
        if not _is_process(str(Path(store.root).resolve()), rid):
            continue
        samples[rid] = []
        for rep in reps:
            view = LogView(store.events(rid, rep))
            samples[rid].append(mean_levels(view))
            tanks, utilities = process_levels(view)
            capacities.update({f"tank.{k}": v.capacity for k, v in tanks.items()})
            capacities.update({f"utility.{k}": v.capacity for k, v in utilities.items()})
    return samples, capacities


@functools.lru_cache(maxsize=256)
def _is_process(root: str, run_id: str) -> bool:
    """Whether a stored run simulated a process plant (a run's scenario never changes: the
    answer is kept, so a comparison of discrete runs pays for reading it once)."""
    return Store(root).scenario(run_id).process is not None
