"""One replication of one run, pre-aggregated for playback: arrays the pages query at a cursor
time with ``searchsorted`` (built by :func:`dashboard.aggregate.load_playback`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import pyarrow as pa

from dashboard.process_levels import Level
from twin.scenario import Scenario

T = TypeVar("T")

__all__ = ["Playback", "parse_when", "TRACKED_STATES", "JUMP_KINDS", "QUIET_KINDS", "GANTT_STATES"]

# kinds the "next event" buttons jump between
JUMP_KINDS = (
    "breakdown",
    "deviation",
    "maintenance_start",
    "scrap",
    "qc_reject",
    "stockout",
    "starve_start",
    "order_complete",
    "batch_release",
)
# kinds left out of the event list by default (they outnumber everything else)
QUIET_KINDS = (
    "agv_move",
    "agv_state",
    "traffic_wait",
    "wh_level",
    "transport_request",
    "tank_level",  # process plants: drawn as curves instead
    "utility_level",
)
# unit states drawn as shaded bars in the Gantt (processing is drawn per product)
GANTT_STATES = ("setup", "cleaning", "down", "maintenance", "off_shift")
# states whose unit-hours are accumulated for the KPI cards ("all": every state)
TRACKED_STATES = ("processing", "down", "cleaning", "all")


@dataclass
class Playback:
    """One replication of one run, pre-aggregated for playback (arrays indexed by time)."""

    run_id: str
    replication: int
    scenario: Scenario
    start: dt.datetime
    t0: float
    t1: float
    warmup: float
    first_activity: float  # first step start (where the Gantt opens), or t0
    # units
    units: list[str]
    unit_class: list[str]
    unit_room: list[str]
    unit_xy: np.ndarray  # (n, 2)
    states: list[str]  # state names (codes index into this)
    st_times: list[np.ndarray]  # per unit: times of state changes
    st_codes: list[np.ndarray]  # per unit: state code after each change
    # unit-hours per tracked state, accumulated over all units at every state change:
    # hours until t = cum_h[s][k] + cum_n[s][k] * (t - cum_t[k]), k the last change <= t
    cum_t: np.ndarray
    cum_h: dict[str, np.ndarray]
    cum_n: dict[str, np.ndarray]
    # Gantt intervals: start, end, unit index, label (product or state), batch, order, step
    bar_start: np.ndarray
    bar_end: np.ndarray
    bar_unit: np.ndarray
    bar_label: np.ndarray  # object array of str
    bar_batch: np.ndarray
    bar_order: np.ndarray  # object array of str ("" for state bars)
    bar_step: np.ndarray  # object array of str: the recipe step's name
    # vehicles
    vehicles: list[str]
    v_home: np.ndarray  # (m, 2) position before the first move
    mv_t0: list[np.ndarray]
    mv_t1: list[np.ndarray]
    mv_a: list[np.ndarray]  # (k, 2) from
    mv_b: list[np.ndarray]  # (k, 2) to
    vs_times: list[np.ndarray]
    vs_codes: list[np.ndarray]
    v_states: list[str]
    # batches: where each one is during an interval (on a unit, or on a vehicle)
    bp_start: np.ndarray
    bp_end: np.ndarray
    bp_batch: np.ndarray
    bp_unit: np.ndarray  # unit index or -1
    bp_vehicle: np.ndarray  # vehicle index or -1
    # curves
    wip_t: np.ndarray
    wip_v: np.ndarray
    levels: dict[str, tuple[np.ndarray, np.ndarray]]
    # event times by kind (for jumps and KPI cards)
    marks: dict[str, np.ndarray]
    # the event list
    table: pa.Table
    t: np.ndarray
    listed: np.ndarray  # row indices shown in the event list (quiet kinds left out)
    nodes: dict[str, tuple[float, float, str]] = field(default_factory=dict)
    edges: list[tuple[str, str]] = field(default_factory=list)
    warehouses: dict[str, tuple[float, float]] = field(default_factory=dict)
    # process plants: tank levels and utility use (empty for a discrete plant)
    tanks: dict[str, Level] = field(default_factory=dict)
    utilities: dict[str, Level] = field(default_factory=dict)
    # what the pages computed once from this replication and keep (see ``memo``): it lives as
    # long as this object, which the cache replaces when the run's event file changes
    _memo: dict[Any, Any] = field(default_factory=dict, repr=False, compare=False)

    def memo(self, key: Any, make: Callable[[], T]) -> T:
        """``make()``, computed once per replication read (figures that do not depend on the
        cursor: the page sends them again on every visit). The value is shared: never
        modify it."""
        try:
            return self._memo[key]
        except KeyError:
            value = self._memo[key] = make()
            return value

    @property
    def n_events(self) -> int:
        return self.table.num_rows

    @property
    def is_process(self) -> bool:
        """A process plant's run (tanks and utilities rather than batches and vehicles)."""
        return bool(self.tanks or self.utilities)

    def to_date(self, hours: float | np.ndarray) -> Any:
        """Model hours as calendar datetimes (numpy datetime64[ms] for arrays)."""
        base = np.datetime64(self.start, "ms")
        if np.isscalar(hours):
            return self.start + dt.timedelta(hours=float(hours))
        return base + (np.asarray(hours) * 3_600_000).astype("timedelta64[ms]")

    def to_hours(self, when: dt.datetime) -> float:
        """A calendar datetime as model hours."""
        return (when - self.start).total_seconds() / 3600.0

    def clamp(self, t: float) -> float:
        return min(max(float(t), self.t0), self.t1)

    # ------------------------------------------------------------------ at a time
    def unit_states(self, t: float) -> list[str]:
        out = []
        for times, codes in zip(self.st_times, self.st_codes, strict=True):
            k = int(np.searchsorted(times, t, side="right")) - 1
            out.append(self.states[codes[k]] if k >= 0 else "idle")
        return out

    def vehicle_positions(self, t: float) -> tuple[np.ndarray, list[str]]:
        """(m, 2) positions and states of the vehicles at time t (moves interpolated)."""
        xy = self.v_home.copy()
        states = []
        for i in range(len(self.vehicles)):
            t0s = self.mv_t0[i]
            k = int(np.searchsorted(t0s, t, side="right")) - 1
            if k >= 0:
                a, b = self.mv_a[i][k], self.mv_b[i][k]
                dur = self.mv_t1[i][k] - t0s[k]
                f = 1.0 if dur <= 0 else min(1.0, (t - t0s[k]) / dur)
                xy[i] = a + (b - a) * f
            ks = int(np.searchsorted(self.vs_times[i], t, side="right")) - 1
            states.append(self.v_states[self.vs_codes[i][ks]] if ks >= 0 else "idle")
        return xy, states

    def batch_positions(
        self, t: float, vxy: np.ndarray | None = None
    ) -> tuple[np.ndarray, list[str]]:
        """(k, 2) positions and labels of the batches being processed or carried at time t;
        ``vxy``: the vehicles' drawn positions (else their positions at t)."""
        m = (self.bp_start <= t) & (t < self.bp_end)
        idx = np.flatnonzero(m)
        if not len(idx):
            return np.zeros((0, 2)), []
        if vxy is None and (self.bp_vehicle[idx] >= 0).any():
            vxy, _ = self.vehicle_positions(t)
        pts = np.zeros((len(idx), 2))
        labels = []
        for j, i in enumerate(idx):
            u, v = self.bp_unit[i], self.bp_vehicle[i]
            if u >= 0:
                pts[j] = self.unit_xy[u]
            elif vxy is not None:
                pts[j] = vxy[v] + (0.0, 3.0)
            labels.append(str(int(self.bp_batch[i])))
        return pts, labels

    def bars_in(self, lo: float, hi: float) -> np.ndarray:
        """Indices of the Gantt intervals overlapping [lo, hi]."""
        return np.flatnonzero((self.bar_end > lo) & (self.bar_start < hi))

    def count_until(self, kind: str, t: float) -> int:
        times = self.marks.get(kind)
        return 0 if times is None else int(np.searchsorted(times, t, side="right"))

    def next_time(self, kind: str, t: float, forward: bool = True) -> float | None:
        """Time of the next (or previous) event of a kind after (before) t."""
        times = self.marks.get(kind)
        if times is None or not len(times):
            return None
        if forward:
            k = int(np.searchsorted(times, t + 1e-9, side="right"))
            return float(times[k]) if k < len(times) else None
        k = int(np.searchsorted(times, t - 1e-9, side="left")) - 1
        return float(times[k]) if k >= 0 else None

    def wip_at(self, t: float) -> int:
        k = int(np.searchsorted(self.wip_t, t, side="right")) - 1
        return int(self.wip_v[k]) if k >= 0 else 0

    def state_hours_until(self, t: float) -> dict[str, float]:
        """Unit-hours from the start to t in each of ``TRACKED_STATES`` (summed over units)."""
        k = int(np.searchsorted(self.cum_t, t, side="right")) - 1
        if k < 0:
            return dict.fromkeys(TRACKED_STATES, 0.0)
        dt_ = t - float(self.cum_t[k])
        return {s: float(self.cum_h[s][k]) + float(self.cum_n[s][k]) * dt_ for s in TRACKED_STATES}

    def events_around(self, t: float, before: int = 8, after: int = 8) -> list[dict[str, Any]]:
        """The listed events nearest to t: ``before`` up to t and ``after`` after it."""
        times = self.t[self.listed]
        k = int(np.searchsorted(times, t, side="right"))
        rows = self.listed[max(0, k - before) : k + after]
        part = self.table.take(pa.array(rows, type=pa.int64())).to_pylist()
        for r, i in zip(part, rows, strict=True):
            r["now"] = bool(self.t[i] <= t)
        return part


def parse_when(text: str | float | None, pb: Playback) -> float:
    """A cursor time typed by a person or carried by a URL, as model hours: a date or datetime
    of the scenario's calendar (``2026-03-02``, ``2026-03-02 14:00``, ``2026-03-02T14:00:00``),
    or model hours (``30h``, or ``30`` in a link). Raises ValueError with what was expected."""
    if isinstance(text, int | float):
        return pb.clamp(float(text))
    s = (text or "").strip()
    try:  # model hours: "30h", or a bare number (as links carry it)
        return pb.clamp(float(s[:-1] if s.lower().endswith("h") else s))
    except ValueError:
        pass
    try:
        when = dt.datetime.fromisoformat(s.replace(" ", "T", 1) if len(s) > 10 else s)
    except ValueError:
        first, last = pb.to_date(pb.t0), pb.to_date(pb.t1)
        raise ValueError(
            f"time: bad value {s!r}: expected a date and time like {first:%Y-%m-%d %H:%M} "
            f"(between {first:%Y-%m-%d %H:%M} and {last:%Y-%m-%d %H:%M}), or model hours "
            "like 30h"
        ) from None
    if when.tzinfo is not None:
        when = when.replace(tzinfo=None)
    return pb.clamp(pb.to_hours(when))
