"""Run data for the dashboard: the runs listing and the pre-aggregated playback of one run.

Everything here is a plain function of the run store's files. A run's event log is turned once
into arrays the pages query at a cursor time with ``searchsorted`` (state changes per unit,
Gantt intervals, vehicle moves, batch positions, WIP and stock curves, event times by kind);
the result is cached per (store, run, replication, file time) with ``functools.lru_cache``, so
moving the cursor never re-reads or re-scans the log.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import math
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from twin.experiment import differences, flatten_kpis, summarize
from twin.kpi import LogView, wip_series
from twin.scenario import Scenario
from twin.store import Store, StoreError

__all__ = [
    "HEADLINE_KPIS",
    "JUMP_KINDS",
    "QUIET_KINDS",
    "Playback",
    "compare_rows",
    "kpi_samples",
    "load_playback",
    "playback",
    "prefetch",
    "runs_rows",
    "unit_positions",
]

HEADLINE_KPIS = ("otif_pct", "lead_time_h.mean", "batches.qc_released", "makespan_h", "wip.mean")
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
QUIET_KINDS = ("agv_move", "agv_state", "traffic_wait", "wh_level", "transport_request")
# unit states drawn as shaded bars in the Gantt (processing is drawn per product)
GANTT_STATES = ("setup", "cleaning", "down", "maintenance", "off_shift")


# --------------------------------------------------------------------------- runs listing
@functools.lru_cache(maxsize=512)
def _headline(path: str, replications: tuple[int, ...]) -> dict[str, float | None]:
    """Mean of the headline KPIs over a run's replications (stored runs never change)."""
    store = Store(Path(path).parent)
    kpis = list(store.kpis(Path(path).name).values())
    means = summarize(kpis, HEADLINE_KPIS) if kpis else {}
    return {k: (means[k].mean if k in means else None) for k in HEADLINE_KPIS}


def runs_rows(root: str | Path) -> list[dict[str, Any]]:
    """One row per stored run for the runs table: metadata and headline KPI means, newest first."""
    rows = []
    for info in Store(root).runs():
        meta = info.meta
        row: dict[str, Any] = {
            "id": info.id,
            "scenario": meta.get("scenario"),
            "variant": meta.get("variant"),
            "seed": meta.get("seed"),
            "replications": f"{len(info.replications)}/{info.requested}",
            "created": str(meta.get("created", ""))[:19].replace("T", " "),
            "status": info.status,
        }
        for k, v in _headline(str(info.path), info.replications).items():
            row[k] = None if v is None else round(v, 2)
        rows.append(row)
    rows.reverse()
    return rows


# --------------------------------------------------------------------------- compare
def kpi_samples(root: str | Path, run_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """run id -> KPIs of its replications, in replication order."""
    store = Store(root)
    out = {}
    for rid in run_ids:
        kp = store.kpis(rid)
        out[rid] = [kp[r] for r in sorted(kp)]
    return out


def compare_rows(
    samples: dict[str, list[dict[str, Any]]], seeds: dict[str, Any], names: list[str]
) -> list[dict[str, Any]]:
    """KPI table rows: per run the mean ± 95% CI half-width, and per other run the difference
    to the first run (paired by replication when both share the seed, else Welch)."""
    ids = list(samples)
    means = {rid: summarize(samples[rid], names) for rid in ids}
    diffs = {}
    for rid in ids[1:]:
        paired = seeds.get(rid) == seeds.get(ids[0])
        diffs[rid] = (differences(samples[ids[0]], samples[rid], names, paired=paired), paired)
    rows = []
    for name in names:
        row: dict[str, Any] = {"kpi": name}
        for i, rid in enumerate(ids):
            row[f"run{i}"] = _fmt_interval(means[rid][name])
        for i, rid in enumerate(ids[1:], start=1):
            iv, paired = diffs[rid]
            text = _fmt_interval(iv[name])
            if iv[name].low is not None and not iv[name].covers(0.0):
                text += " *"
            row[f"diff{i}"] = text + (" (paired)" if paired else " (Welch)")
        rows.append(row)
    return rows


def _fmt_interval(iv: Any) -> str:
    if iv.mean is None:
        return "-"
    hw = iv.half_width
    return f"{iv.mean:.4g}" if hw is None else f"{iv.mean:.4g} ± {hw:.3g}"


def flat_samples(samples: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, float]]]:
    return {rid: [flatten_kpis(k) for k in ks] for rid, ks in samples.items()}


# --------------------------------------------------------------------------- layout positions
def unit_positions(sc: Scenario) -> tuple[dict[str, tuple[float, float]], dict[str, str]]:
    """(unit name -> (x, y), unit name -> room) for drawing the plant.

    With a layout, units sit around their station node (several units at one station fan out
    beside it); units without a station, and every unit of a scenario without a layout, are laid
    out in a grid: a column per room (or equipment class when the unit has no room).
    """
    rooms: dict[str, str] = {}
    groups: dict[str, list[str]] = defaultdict(list)
    for name, uid in sc.unit_names():
        spec = sc.units[uid]
        rooms[name] = spec.room or spec.equipment_class
        groups[(spec.station or "") if sc.layout is not None else ""].append(name)
    pos: dict[str, tuple[float, float]] = {}
    loose = groups.pop("", [])
    if sc.layout is not None:
        nodes = sc.layout.nodes
        for station, names in groups.items():
            node = nodes.get(station)
            if node is None:
                loose.extend(names)
                continue
            for k, name in enumerate(names):
                pos[name] = (
                    node.x + 7.0 * (k - (len(names) - 1) / 2),
                    node.y + 8.0 * _side(node.y),
                )
        xs = [n.x for n in nodes.values()]
        ys = [n.y for n in nodes.values()]
        x0, y0 = (min(xs), max(ys) + 30.0) if xs else (0.0, 0.0)
    else:
        x0, y0 = 0.0, 0.0
    by_room: dict[str, list[str]] = defaultdict(list)
    for name in loose:
        by_room[rooms[name]].append(name)
    for col, (_room, names) in enumerate(by_room.items()):
        for row, name in enumerate(names):
            pos[name] = (x0 + 30.0 * col, y0 - 12.0 * row)
    return pos, rooms


def _side(y: float) -> float:
    return -1.0 if y <= 0 else 1.0


# --------------------------------------------------------------------------- playback
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
    # units
    units: list[str]
    unit_class: list[str]
    unit_room: list[str]
    unit_xy: np.ndarray  # (n, 2)
    states: list[str]  # state names (codes index into this)
    st_times: list[np.ndarray]  # per unit: times of state changes
    st_codes: list[np.ndarray]  # per unit: state code after each change
    # Gantt intervals: start, end, unit index, label (product or state)
    bar_start: np.ndarray
    bar_end: np.ndarray
    bar_unit: np.ndarray
    bar_label: np.ndarray  # object array of str
    bar_batch: np.ndarray
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

    @property
    def n_events(self) -> int:
        return self.table.num_rows

    def to_date(self, hours: float | np.ndarray) -> Any:
        """Model hours as calendar datetimes (numpy datetime64[ms] for arrays)."""
        base = np.datetime64(self.start, "ms")
        if np.isscalar(hours):
            return self.start + dt.timedelta(hours=float(hours))
        return base + (np.asarray(hours) * 3_600_000).astype("timedelta64[ms]")

    # ------------------------------------------------------------------ at a time
    def unit_states(self, t: float) -> list[str]:
        out = []
        for times, codes in zip(self.st_times, self.st_codes, strict=True):
            k = int(np.searchsorted(times, t, side="right")) - 1
            out.append(self.states[codes[k]] if k >= 0 else "idle")
        return out

    def vehicle_positions(self, t: float) -> tuple[np.ndarray, list[str]]:
        """(m, 2) positions and states of the vehicles at time t."""
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

    def batch_positions(self, t: float) -> tuple[np.ndarray, list[str]]:
        """(k, 2) positions and labels of the batches being processed or carried at time t."""
        m = (self.bp_start <= t) & (t < self.bp_end)
        idx = np.flatnonzero(m)
        if not len(idx):
            return np.zeros((0, 2)), []
        vxy, _ = self.vehicle_positions(t) if (self.bp_vehicle[idx] >= 0).any() else (None, None)
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
        """Hours per state summed over units from the start to t."""
        acc: dict[str, float] = defaultdict(float)
        for times, codes in zip(self.st_times, self.st_codes, strict=True):
            k = int(np.searchsorted(times, t, side="right"))
            if not k:
                continue
            ends = np.append(times[1:k], t)
            dur = ends - times[:k]
            sums = np.bincount(codes[:k], weights=dur, minlength=len(self.states))
            for c, h in enumerate(sums):
                if h:
                    acc[self.states[c]] += float(h)
        return dict(acc)

    def events_around(self, t: float, before: int = 8, after: int = 8) -> list[dict[str, Any]]:
        """The listed events nearest to t: ``before`` up to t and ``after`` after it."""
        times = self.t[self.listed]
        k = int(np.searchsorted(times, t, side="right"))
        rows = self.listed[max(0, k - before) : k + after]
        part = self.table.take(pa.array(rows, type=pa.int64())).to_pylist()
        for r, i in zip(part, rows, strict=True):
            r["now"] = bool(self.t[i] <= t)
        return part


def _per_key(keys: np.ndarray, n: int) -> list[np.ndarray]:
    """Row indices grouped by key 0..n-1, each in the original (time) order."""
    order = np.argsort(keys, kind="stable")
    bounds = np.searchsorted(keys[order], np.arange(n + 1))
    return [order[bounds[i] : bounds[i + 1]] for i in range(n)]


def load_playback(store: Store, run_id: str, replication: int = 0) -> Playback:
    """Read one replication and pre-aggregate it (see :class:`Playback`)."""
    info = store.get(run_id)
    sc = store.scenario(info.id)
    table = store.events(info.id, replication)
    v = LogView(table)
    t = v.t
    t0, t1 = v.window()
    t0 = 0.0
    if len(t):
        t1 = max(t1, float(t[-1]))

    # ---------------------------------------------------------------- units and states
    kind_idx, kind_names = v.codes("kind")
    kcode = {name: i for i, name in enumerate(kind_names)}

    def rows(kind: str) -> np.ndarray:
        c = kcode.get(kind)
        return np.zeros(0, dtype=np.int64) if c is None else np.flatnonzero(kind_idx == c)

    unit_idx, unit_names = v.codes("unit")
    added = rows("unit_added")
    units = [unit_names[unit_idx[i]] for i in added]
    classes = v.strings("detail", np.isin(np.arange(len(t)), added))
    pos, rooms = unit_positions(sc)
    for k, name in enumerate(units):  # units the scenario does not name (should not happen)
        pos.setdefault(name, (30.0 * k, -100.0))
    uindex = {name: i for i, name in enumerate(units)}
    # dictionary code -> unit index (or -1)
    code_to_unit = np.full(len(unit_names) + 1, -1, dtype=np.int64)
    for c, name in enumerate(unit_names):
        code_to_unit[c] = uindex.get(name, -1)
    state_idx, state_names = v.codes("state")

    srows = rows("state")
    s_unit = code_to_unit[unit_idx[srows]]
    keep = s_unit >= 0
    srows, s_unit = srows[keep], s_unit[keep]
    used = np.unique(state_idx[srows])
    states = [state_names[c] for c in used]
    remap = np.full(len(state_names) + 1, 0, dtype=np.int64)
    remap[used] = np.arange(len(used))
    st_times, st_codes = [], []
    for grp in _per_key(s_unit, len(units)):
        r = srows[grp]
        st_times.append(t[r])
        st_codes.append(remap[state_idx[r]])

    # ---------------------------------------------------------------- Gantt intervals
    b_start: list[np.ndarray] = []
    b_end: list[np.ndarray] = []
    b_unit: list[np.ndarray] = []
    b_label: list[np.ndarray] = []
    b_batch: list[np.ndarray] = []
    shaded = [states.index(s) for s in GANTT_STATES if s in states]
    for u, (times, codes) in enumerate(zip(st_times, st_codes, strict=True)):
        ends = np.append(times[1:], t1)
        m = np.isin(codes, shaded)
        b_start.append(times[m])
        b_end.append(ends[m])
        b_unit.append(np.full(int(m.sum()), u))
        b_label.append(np.array([states[c] for c in codes[m]], dtype=object))
        b_batch.append(np.full(int(m.sum()), -1))
    prod_idx, prod_names = v.codes("product")
    starts = rows("step_start")
    ends_ = rows("step_end")
    open_: dict[tuple[int, int, int], int] = {}
    p_s, p_e, p_u, p_l, p_b = [], [], [], [], []
    bu = code_to_unit[unit_idx]
    bat = v.batch
    for i in np.sort(np.concatenate([starts, ends_])):
        key = (int(bu[i]), int(bat[i]), int(v.step[i]))
        if kind_idx[i] == kcode["step_start"]:
            open_[key] = i
        else:
            j = open_.pop(key, None)
            if j is not None and key[0] >= 0:
                p_s.append(t[j])
                p_e.append(t[i])
                p_u.append(key[0])
                p_l.append(prod_names[prod_idx[j]] if prod_idx[j] >= 0 else "batch")
                p_b.append(key[1])
    for key, j in open_.items():  # steps still running at the end
        if key[0] >= 0:
            p_s.append(t[j])
            p_e.append(t1)
            p_u.append(key[0])
            p_l.append(prod_names[prod_idx[j]] if prod_idx[j] >= 0 else "batch")
            p_b.append(key[1])
    b_start.append(np.asarray(p_s, dtype=float))
    b_end.append(np.asarray(p_e, dtype=float))
    b_unit.append(np.asarray(p_u, dtype=np.int64))
    b_label.append(np.asarray(p_l, dtype=object))
    b_batch.append(np.asarray(p_b, dtype=np.int64))

    # ---------------------------------------------------------------- vehicles
    nodes: dict[str, tuple[float, float, str]] = {}
    edges: list[tuple[str, str]] = []
    vehicles: list[str] = []
    v_home = np.zeros((0, 2))
    mv_t0: list[np.ndarray] = []
    mv_t1: list[np.ndarray] = []
    mv_a: list[np.ndarray] = []
    mv_b: list[np.ndarray] = []
    vs_times: list[np.ndarray] = []
    vs_codes: list[np.ndarray] = []
    v_states: list[str] = []
    warehouses: dict[str, tuple[float, float]] = {}
    vcode = np.full(len(unit_names) + 1, -1, dtype=np.int64)
    if sc.layout is not None:
        nodes = {n: (nd.x, nd.y, nd.kind) for n, nd in sc.layout.nodes.items()}
        edges = [(e.from_, e.to) for e in sc.layout.edges]
        for w, spec in sc.warehouses.items():
            if spec.gate in nodes:
                warehouses[w] = nodes[spec.gate][:2]
        vadded = rows("agv_added")
        vehicles = [unit_names[unit_idx[i]] for i in vadded]
        det_idx, det_names = v.codes("detail")
        v_home = np.array(
            [nodes.get(det_names[det_idx[i]], (0.0, 0.0, ""))[:2] for i in vadded], dtype=float
        ).reshape(-1, 2)
        for k, name in enumerate(vehicles):
            vcode[unit_names.index(name)] = k
        hours = _edge_hours(sc)
        mrows = rows("agv_move")
        m_v = vcode[unit_idx[mrows]]
        # per distinct move label "a>b": from/to coordinates and hours
        labels = det_idx[mrows]
        uniq = np.unique(labels)
        lab_a = np.zeros((len(det_names) + 1, 2))
        lab_b = np.zeros((len(det_names) + 1, 2))
        lab_h = np.zeros(len(det_names) + 1)
        for c in uniq:
            a, _, b = det_names[c].partition(">")
            lab_a[c] = nodes.get(a, (0.0, 0.0, ""))[:2]
            lab_b[c] = nodes.get(b, (0.0, 0.0, ""))[:2]
            lab_h[c] = hours.get((a, b), 0.0)
        for grp in _per_key(np.where(m_v < 0, len(vehicles), m_v), len(vehicles)):
            r = mrows[grp]
            mv_t0.append(t[r])
            mv_t1.append(t[r] + lab_h[det_idx[r]])
            mv_a.append(lab_a[det_idx[r]])
            mv_b.append(lab_b[det_idx[r]])
        arows = rows("agv_state")
        a_v = vcode[unit_idx[arows]]
        used_v = np.unique(state_idx[arows])
        v_states = [state_names[c] for c in used_v]
        vremap = np.zeros(len(state_names) + 1, dtype=np.int64)
        vremap[used_v] = np.arange(len(used_v))
        for grp in _per_key(np.where(a_v < 0, len(vehicles), a_v), len(vehicles)):
            r = arows[grp]
            vs_times.append(t[r])
            vs_codes.append(vremap[state_idx[r]])

    # ---------------------------------------------------------------- batch positions
    bp_s, bp_e, bp_b, bp_u, bp_v = [], [], [], [], []
    bp_s.append(np.asarray(p_s, dtype=float))
    bp_e.append(np.asarray(p_e, dtype=float))
    bp_b.append(np.asarray(p_b, dtype=np.int64))
    bp_u.append(np.asarray(p_u, dtype=np.int64))
    bp_v.append(np.full(len(p_s), -1, dtype=np.int64))
    if vehicles:
        picks, dones = rows("transport_pickup"), rows("transport_done")
        req_idx, _ = v.codes("detail")
        done_at: dict[tuple[int, int], float] = {}
        for i in dones:
            done_at[(int(req_idx[i]), int(bat[i]))] = float(t[i])
        q_s, q_e, q_b, q_v = [], [], [], []
        for i in picks:
            if bat[i] < 0 or vcode[unit_idx[i]] < 0:
                continue
            q_s.append(t[i])
            q_e.append(done_at.get((int(req_idx[i]), int(bat[i])), t1))
            q_b.append(int(bat[i]))
            q_v.append(int(vcode[unit_idx[i]]))
        bp_s.append(np.asarray(q_s, dtype=float))
        bp_e.append(np.asarray(q_e, dtype=float))
        bp_b.append(np.asarray(q_b, dtype=np.int64))
        bp_u.append(np.full(len(q_s), -1, dtype=np.int64))
        bp_v.append(np.asarray(q_v, dtype=np.int64))

    # ---------------------------------------------------------------- curves and marks
    wip_t, wip_v = wip_series(v)
    levels: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    lrows = rows("wh_level")
    if len(lrows):
        wh = [unit_names[c] for c in unit_idx[lrows]]
        cls = [state_names[c] if c >= 0 else "" for c in state_idx[lrows]]
        keys = np.array([f"{w} ({c})" for w, c in zip(wh, cls, strict=True)], dtype=object)
        for key in dict.fromkeys(keys):
            m = keys == key
            levels[str(key)] = (t[lrows[m]], v.value[lrows[m]])
    marks = {k: t[rows(k)] for k in (*JUMP_KINDS, "qc_release", "repair_end", "clean_start")}
    quiet = np.isin(kind_idx, [kcode[k] for k in QUIET_KINDS if k in kcode])
    return Playback(
        run_id=info.id,
        replication=replication,
        scenario=sc,
        start=sc.start,
        t0=t0,
        t1=t1,
        warmup=float(sc.simulation.warmup),
        units=units,
        unit_class=[c or "" for c in classes],
        unit_room=[rooms.get(u, "") for u in units],
        unit_xy=np.array([pos[u] for u in units], dtype=float).reshape(-1, 2),
        states=states,
        st_times=st_times,
        st_codes=st_codes,
        bar_start=np.concatenate(b_start) if b_start else np.zeros(0),
        bar_end=np.concatenate(b_end) if b_end else np.zeros(0),
        bar_unit=np.concatenate(b_unit).astype(np.int64) if b_unit else np.zeros(0, np.int64),
        bar_label=np.concatenate(b_label) if b_label else np.zeros(0, object),
        bar_batch=np.concatenate(b_batch).astype(np.int64) if b_batch else np.zeros(0, np.int64),
        vehicles=vehicles,
        v_home=v_home,
        mv_t0=mv_t0,
        mv_t1=mv_t1,
        mv_a=mv_a,
        mv_b=mv_b,
        vs_times=vs_times,
        vs_codes=vs_codes,
        v_states=v_states,
        bp_start=np.concatenate(bp_s),
        bp_end=np.concatenate(bp_e),
        bp_batch=np.concatenate(bp_b),
        bp_unit=np.concatenate(bp_u),
        bp_vehicle=np.concatenate(bp_v),
        wip_t=np.asarray(wip_t, dtype=float),
        wip_v=np.asarray(wip_v, dtype=float),
        levels=levels,
        marks=marks,
        table=table,
        t=t,
        listed=np.flatnonzero(~quiet),
        nodes=nodes,
        edges=edges,
        warehouses=warehouses,
    )


def _edge_hours(sc: Scenario) -> dict[tuple[str, str], float]:
    """Travel hours per directed layout segment at the fleet's speed (as the model drives)."""
    from twin.flow_spec import edge_length

    assert sc.layout is not None
    speed = sc.fleet.speed if sc.fleet is not None else 1.0
    out = {}
    for e in sc.layout.edges:
        metres = edge_length(sc.layout, e)
        vmax = min(speed, e.speed_limit) if e.speed_limit else speed
        h = metres / vmax / 3600.0 if vmax > 0 else math.inf
        out[(e.from_, e.to)] = h
        if not e.one_way:
            out[(e.to, e.from_)] = h
    return out


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
