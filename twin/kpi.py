"""KPIs as pure functions of an event log (an Arrow table with the ``eventlog`` schema).

Nothing here looks at live simulation objects, so every figure can be recomputed from a stored
run. The measurement window is [warm-up, end of run]; batch KPIs count batches that finished
inside it.

Definitions
-----------
- throughput: batches (and quantity) QC-released per product in the window; per week too.
- makespan: first batch release to last batch completion (QC release or scrap), hours.
- lead time: batch release (to the floor) to QC release, for batches released to the floor in
  the window and QC-released by its end (mean, p95); batches released during the warm-up are
  not counted, however late they finish.
- OTIF %: of the orders that can be judged (due inside the window, or already complete with a
  due date after the warm-up), the share completed in full (all batches released by QC) on or
  before their due date.
- time share per state per unit: hours in each state / window length (they sum to 1).
- OEE per unit = availability x performance x quality, where
  availability = processing hours / planned production time, where planned production time
  is the window less idle, dirty_hold (both: no demand), off_shift and maintenance hours;
  performance = sum of ideal step hours / processing hours (ideal = the fastest plausible
  duration of the step's distribution); quality = steps whose batch was later released by QC /
  steps whose batch is finished (released, rejected or scrapped).
- energy: hours in each state x the kW the unit draws in it; per batch = total / batches
  released.
- cleaning share: cleaning hours / unit hours, all units.
- WIP: batches released to the floor and not yet finished, time-averaged over the window.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from twin.flow_kpi import flow_kpis

_NOT_PLANNED = ("idle", "dirty_hold", "off_shift", "maintenance")

__all__ = ["compute_kpis", "LogView", "wip_series", "step_waits", "state_hours", "percentile"]


_NUMPY_TYPES = {
    pa.float64(): np.float64,
    pa.float32(): np.float32,
    pa.int64(): np.int64,
    pa.int32(): np.int32,
    pa.int16(): np.int16,
    pa.int8(): np.int8,
}


def _numpy(col: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """A numeric column as one NumPy array, read from its data buffer when it has no nulls
    (pyarrow's ``to_numpy`` imports pandas on first use: a third of a second of a short run)."""
    if isinstance(col, pa.ChunkedArray):
        if col.type in _NUMPY_TYPES and not col.null_count and col.num_chunks > 1:
            return np.concatenate([_values(c) for c in col.chunks])  # one copy, no Arrow array
        arr = col.combine_chunks()
    else:
        arr = col
    if arr.type not in _NUMPY_TYPES or arr.null_count:
        return arr.to_numpy(zero_copy_only=False)
    return _values(arr)


def _values(arr: pa.Array) -> np.ndarray:
    """The data buffer of a primitive array (what null slots hold there is unspecified)."""
    dtype = np.dtype(_NUMPY_TYPES[arr.type])
    data = arr.buffers()[1]
    if data is None or not len(arr):
        return np.zeros(0, dtype=dtype)
    return np.frombuffer(data, dtype=dtype, count=len(arr), offset=arr.offset * dtype.itemsize)


def _indices(arr: pa.DictionaryArray) -> np.ndarray:
    """A dictionary array's indices as int32 (int64 if they are wider), -1 where null. Not
    int64 throughout: a plant-year log has a million rows per column, and every mask over
    them reads half the bytes."""
    ind = arr.indices
    if ind.type not in _NUMPY_TYPES:
        return ind.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    idx = _values(ind)
    idx = idx.astype(np.int32) if idx.dtype.itemsize <= 4 else idx.astype(np.int64)
    if ind.null_count:  # (not ``fill_null``: pyarrow.compute's first call imports pandas)
        bits = np.unpackbits(np.frombuffer(ind.buffers()[0], dtype=np.uint8), bitorder="little")
        idx[bits[ind.offset : ind.offset + len(ind)] == 0] = -1
    return idx


def _chunk_indices(chunks: list[pa.DictionaryArray]) -> np.ndarray:
    """``_indices`` of several chunks, concatenated: one copy, then the nulls set to -1."""
    if any(c.indices.type not in _NUMPY_TYPES for c in chunks):
        return np.concatenate([_indices(c) for c in chunks])
    idx = np.concatenate([_values(c.indices) for c in chunks])
    if idx.dtype.itemsize != 4:
        idx = idx.astype(np.int32) if idx.dtype.itemsize < 4 else idx.astype(np.int64)
    at = 0
    for c in chunks:
        ind = c.indices
        if ind.null_count:
            bits = np.unpackbits(np.frombuffer(ind.buffers()[0], dtype=np.uint8), bitorder="little")
            part = idx[at : at + len(ind)]
            part[bits[ind.offset : ind.offset + len(ind)] == 0] = -1
        at += len(ind)
    return idx


class LogView:
    """Numpy views of an event log's columns, with string columns as codes + dictionaries.

    Every column and mask is computed once and kept: ``compute_kpis`` asks for the same kinds
    several times, and on a plant-year log each mask is a pass over a million rows."""

    def __init__(self, table: pa.Table) -> None:
        self.table = table
        self.t = _numpy(table.column("t"))
        self.value = _numpy(table.column("value"))
        self.batch = _numpy(table.column("batch"))
        self.step = _numpy(table.column("step"))
        self._str: dict[str, tuple[np.ndarray, list[str]]] = {}
        self._masks: dict[tuple[str, str], np.ndarray] = {}
        self._dicts: list[tuple[pa.Array, list[str]]] = []  # dictionaries met, as lists

    def codes(self, name: str) -> tuple[np.ndarray, list[str]]:
        if name not in self._str:
            col = self.table.column(name)
            if not pa.types.is_dictionary(col.type):
                col = pc.dictionary_encode(col)
            chunks = col.chunks if isinstance(col, pa.ChunkedArray) else [col]
            if len(chunks) > 1 and not all(
                c.dictionary.equals(chunks[0].dictionary) for c in chunks[1:]
            ):
                chunks = [col.combine_chunks()]  # one dictionary for all the rows
            if not chunks:
                chunks = [pa.array([], type=col.type)]
            idx = _chunk_indices(chunks) if len(chunks) > 1 else _indices(chunks[0])
            self._str[name] = (idx, self._strings(chunks[0].dictionary))
        return self._str[name]

    def _strings(self, dictionary: pa.Array) -> list[str]:
        """A dictionary as a list, converted once however many columns share it (the log's
        string columns all do: one Python string per order id is the slow part)."""
        for known, strings in self._dicts:
            if known is dictionary or known.equals(dictionary):
                return strings
        strings = dictionary.to_pylist()
        self._dicts.append((dictionary, strings))
        return strings

    def mask(self, name: str, value: str) -> np.ndarray:
        m = self._masks.get((name, value))
        if m is None:
            idx, dic = self.codes(name)
            try:
                m = idx == dic.index(value)
            except ValueError:
                m = np.zeros(len(idx), dtype=bool)
            m.flags.writeable = False  # shared by every caller
            self._masks[(name, value)] = m
        return m

    def kind(self, name: str) -> np.ndarray:
        return self.mask("kind", name)

    def strings(self, name: str, mask: np.ndarray) -> list[str | None]:
        idx, dic = self.codes(name)
        return [dic[i] if i >= 0 else None for i in idx[mask]]

    def window(self) -> tuple[float, float]:
        start = self.value[self.kind("run_start")]
        end = self.t[self.kind("run_end")]
        warm = float(start[0]) if len(start) else 0.0
        stop = float(end[-1]) if len(end) else float(self.t[-1]) if len(self.t) else 0.0
        return min(warm, stop), stop


def state_hours(view: LogView, lo: float, hi: float) -> dict[str, dict[str, tuple[float, float]]]:
    """unit -> state -> (hours in [lo, hi], kWh in [lo, hi]).

    Each state event opens a spell that the unit's next state event (or ``hi``) closes; the
    spells are clipped to [lo, hi]. Units appear in the order of their first state event, the
    states of a unit in the order of their first spell inside the window; sums run in time
    order (``np.bincount`` adds its weights in input order, as a loop would)."""
    m = np.flatnonzero(view.kind("state"))  # one pass over the log, then four takes
    t = view.t[m]
    kw = view.value[m]
    ucodes, strings = view.codes("unit")
    scodes, sstrings = view.codes("state")
    out: dict[str, dict[str, tuple[float, float]]] = {}
    if len(t):
        # units and states renumbered densely (a log's codes run over every string in it), so
        # the stable sort is a radix sort of small integers and the pairs index small arrays
        units, u = _dense(ucodes[m])
        states, s = _dense(scodes[m])
        order = np.argsort(u, kind="stable")  # per unit, in time order
        u, s, t, kw = u[order], s[order], t[order], kw[order]
        nxt = np.empty_like(t)
        nxt[:-1] = t[1:]
        last = np.ones(len(t), dtype=bool)
        last[:-1] = u[1:] != u[:-1]
        nxt[last] = hi
        a, b = np.maximum(t, lo), np.minimum(nxt, hi)
        spell = b > a
        # (unit, state) pairs that have a spell, in the order of their first spell
        ns = len(states)
        sel = u[spell].astype(np.int64) * ns + s[spell]
        dur = (b - a)[spell]
        h = np.bincount(sel, weights=dur)
        e = np.bincount(sel, weights=dur * kw[spell])
        first = np.full(len(units) * ns, len(sel))
        np.minimum.at(first, sel, np.arange(len(sel)))
        pairs = np.flatnonzero(first < len(sel))
        pairs = pairs[np.argsort(first[pairs], kind="stable")]
        for code in units:  # in the order of their codes (a log names units as it adds them)
            out[strings[code]] = {}
        for p in pairs.tolist():
            uname, sname = strings[units[p // ns]], sstrings[states[p % ns]]
            out[uname][sname] = (float(h[p]), float(e[p]))
    for name in view.strings("unit", view.kind("unit_added")):
        out.setdefault(name, {})  # type: ignore[arg-type]
    return out


def _dense(codes: np.ndarray) -> tuple[list[int], np.ndarray]:
    """The distinct codes (ascending) and each row's index among them, as small integers
    (a null, -1, is a code like any other here)."""
    shifted = codes + 1
    present = np.bincount(shifted)
    distinct = np.flatnonzero(present)
    rank = np.zeros(len(present), dtype=np.int16 if len(distinct) < 2**15 else np.int64)
    rank[distinct] = np.arange(len(distinct))
    return (distinct - 1).tolist(), rank[shifted]


def wip_series(table: pa.Table | LogView) -> tuple[np.ndarray, np.ndarray]:
    """(times, WIP after each change): batches on the floor, released and not finished."""
    view = table if isinstance(table, LogView) else LogView(table)
    plus = view.kind("batch_release") | view.kind("batch_resume")
    minus = (
        view.kind("qc_release") | view.kind("qc_reject") | (view.kind("scrap") & ~_qc_scrap(view))
    )
    m = plus | minus
    delta = np.where(plus[m], 1, -1)
    return view.t[m], np.cumsum(delta)


def _qc_scrap(view: LogView) -> np.ndarray:
    """Scrap events that follow a QC reject (already counted by the reject)."""
    return view.mask("detail", "qc_reject")


def _time_average(times: np.ndarray, values: np.ndarray, lo: float, hi: float) -> float:
    """Time average over [lo, hi] of a step function (``values[i]`` from ``times[i]`` on,
    0 before the first change)."""
    if hi <= lo:
        return 0.0
    before = values[times <= lo]
    level = float(before[-1]) if len(before) else 0.0
    inside = (times > lo) & (times < hi)
    ts, vs = times[inside], values[inside].astype(float)
    if not len(ts):
        return level * (hi - lo) / (hi - lo)
    levels = np.concatenate(([level], vs))
    edges = np.concatenate(([lo], ts, [hi]))
    # cumsum adds in order, as the running sum of the definition does
    total = float(np.cumsum(levels * np.diff(edges))[-1])
    return total / (hi - lo)


def step_waits(table: pa.Table | LogView) -> dict[str, np.ndarray]:
    """Per step index: time from the batch being ready (release or previous step end) to
    processing start, for every started step."""
    view = table if isinstance(table, LogView) else LogView(table)
    ready: dict[int, float] = {}
    out: dict[str, list[float]] = defaultdict(list)
    rel, start, end = view.kind("batch_release"), view.kind("step_start"), view.kind("step_end")
    for i in np.flatnonzero(rel | start | end):
        b = int(view.batch[i])
        if rel[i] or end[i]:
            ready[b] = float(view.t[i])
        else:
            out[str(int(view.step[i]))].append(float(view.t[i]) - ready[b])
    return {k: np.asarray(v) for k, v in out.items()}


def _orders(
    v: LogView, orel: np.ndarray, ocomp: np.ndarray, lo: float, hi: float
) -> tuple[int, int, int, int]:
    """(orders released, judged, on time, late): an order is judged if it is due inside the
    window, or complete with a due date after the warm-up; on time if complete by its due date
    (1e-9 h tolerance). An order's due date is its last release event's, its completion its
    last ``order_complete``."""
    codes = v.codes("order")[0]
    oc, dv = codes[orel], v.value[orel]
    cc, ct = codes[ocomp], v.t[ocomp]
    if (oc < 0).any() or (cc < 0).any() or _repeats(oc) or _repeats(cc):
        due = dict(zip(oc.tolist(), dv.tolist(), strict=True))  # repeated or unnamed orders
        done_at = dict(zip(cc.tolist(), ct.tolist(), strict=True))
        elig = [o for o, d in due.items() if (lo <= d <= hi) or (o in done_at and d >= lo)]
        ok = sum(1 for o in elig if o in done_at and done_at[o] <= due[o] + 1e-9)
        late = sum(1 for o in elig if o in done_at and done_at[o] > due[o] + 1e-9)
        return len(due), len(elig), ok, late
    size = int(max(oc.max(initial=-1), cc.max(initial=-1))) + 1
    done = np.full(size, np.nan)
    done[cc] = ct
    d = dv
    c = done[oc]
    has_done = ~np.isnan(c)
    elig = ((lo <= d) & (d <= hi)) | (has_done & (d >= lo))
    ok = int((elig & has_done & (c <= d + 1e-9)).sum())
    late = int((elig & has_done & (c > d + 1e-9)).sum())
    return len(oc), int(elig.sum()), ok, late


def percentile(values: np.ndarray, q: float) -> float:
    """``np.percentile(values, q)`` (its default, linear method) as NumPy computes it, to the
    last bit, for finite values: without its first call's import of ``numpy.ma`` (50 ms, a
    few percent of a short run; ``np.unique`` imports it too)."""
    n = len(values)
    at = (n - 1) * (q / 100)
    lo = min(max(math.floor(at), 0), n - 1)
    hi = min(lo + 1, n - 1)
    part = np.partition(values, [lo, hi]) if n > 1 else values
    a, b = float(part[lo]), float(part[hi])
    t = at - lo if at < n - 1 else 0.0
    diff = b - a
    return b - diff * (1 - t) if t >= 0.5 else a + diff * t


def _repeats(codes: np.ndarray) -> bool:
    """Whether some (non-negative) code occurs twice."""
    return bool(len(codes)) and int(np.bincount(codes).max()) > 1


def compute_kpis(table: pa.Table | LogView) -> dict[str, Any]:
    """Every KPI of a run, as plain JSON-ready data (from the log, or a view of it that other
    passes share)."""
    v = table if isinstance(table, LogView) else LogView(table)
    lo, hi = v.window()
    span = max(hi - lo, 1e-12)
    t = v.t

    rel = v.kind("batch_release")
    qc_ok = v.kind("qc_release")
    qc_bad = v.kind("qc_reject")
    scrap = v.kind("scrap")
    # rows of the kinds read several times, found once (a take is cheaper than a mask's pass)
    qc_i, rel_i = np.flatnonzero(qc_ok), np.flatnonzero(rel)
    ok_batches = v.batch[qc_i]
    ok_t = t[qc_i]
    in_win = ok_t >= lo
    pcodes, pstrings = v.codes("product")

    # throughput per product: counts and quantities summed in log order (bincount adds its
    # weights in input order)
    throughput: dict[str, dict[str, float]] = {}
    weeks = span / 168.0
    won = pcodes[qc_i][in_win]
    if len(won):
        n_by = np.bincount(won)
        q_by = np.bincount(won, weights=v.value[qc_i][in_win])
        for c in np.flatnonzero(n_by).tolist():
            throughput[pstrings[c]] = {
                "batches": int(n_by[c]),
                "quantity": float(q_by[c]),
                "per_week": int(n_by[c]) / weeks if weeks > 0 else 0.0,
            }

    # lead time of the batches released to the floor in the window (and QC-released by its end);
    # a batch carried over by a warm start (batch_resume) was released before the window
    rel_b = v.batch[rel_i]
    top = int(max(rel_b.max(initial=-1), ok_batches.max(initial=-1))) + 1
    release_t = np.full(top, -math.inf)
    release_t[rel_b] = t[rel_i]
    ok_release = release_t[ok_batches] if top else np.zeros(0)
    counted = ok_release >= lo
    leads = ok_t[counted] - ok_release[counted]
    finished_t = np.concatenate([ok_t, t[scrap & ~v.mask("detail", "qc_reject")], t[qc_bad]])
    makespan = float(finished_t.max() - t[rel_i].min()) if len(finished_t) and len(rel_i) else 0.0

    # orders
    orel = v.kind("order_release") | v.kind("order_resume")
    ocomp = v.kind("order_complete")
    n_orders, n_judged, on_time, late_done = _orders(v, orel, ocomp, lo, hi)

    # units: state shares, energy, OEE
    sh = state_hours(v, lo, hi)
    classes = dict(
        zip(
            v.strings("unit", v.kind("unit_added")),
            v.strings("detail", v.kind("unit_added")),
            strict=True,
        )
    )
    ucodes, ustrings = v.codes("unit")
    s_start, s_end = v.kind("step_start"), v.kind("step_end")
    n_units = len(ustrings)
    after_lo = t >= lo
    started = np.flatnonzero(s_start & after_lo)
    ideal_by = np.bincount(ucodes[started], weights=v.value[started], minlength=n_units)
    # quality: steps ended in the window whose batch is finished (released, rejected, scrapped)
    ended = np.flatnonzero(s_end & after_lo)
    eb = v.batch[ended]
    is_good = np.isin(eb, ok_batches)
    finished = is_good | np.isin(eb, v.batch[qc_bad | scrap])
    qual_n = np.bincount(ucodes[ended][finished], minlength=n_units)
    qual_good = np.bincount(ucodes[ended][is_good], minlength=n_units)
    # the code of each unit name (the dictionary holds every string of the log: order ids too)
    named = v.kind("state") | v.kind("unit_added") | s_start | s_end
    code_of = {ustrings[c]: c for c in _dense(ucodes[named])[0] if c >= 0}
    oee: dict[str, dict[str, float]] = {}
    share: dict[str, dict[str, float]] = {}
    energy_by_unit: dict[str, float] = {}
    cleaning_h = 0.0
    for u, states in sh.items():
        hours = {s: h for s, (h, _) in states.items()}
        share[u] = {s: float(h / span) for s, h in sorted(hours.items())}
        energy_by_unit[u] = float(sum(e for _, e in states.values()))
        cleaning_h += hours.get("cleaning", 0.0)
        proc = hours.get("processing", 0.0)
        planned = span - sum(hours.get(s, 0.0) for s in _NOT_PLANNED)
        avail = proc / planned if planned > 1e-9 else 0.0
        c = code_of[u]
        perf = float(ideal_by[c]) / proc if proc > 1e-9 else 0.0
        qual = int(qual_good[c]) / int(qual_n[c]) if qual_n[c] else 1.0
        oee[u] = {
            "class": classes.get(u),
            "availability": float(avail),
            "performance": float(perf),
            "quality": float(qual),
            "oee": float(avail * perf * qual),
        }

    wt, wv = wip_series(v)
    dev = v.kind("deviation")
    n_released = int(qc_ok[after_lo].sum()) if len(t) else 0
    total_energy = float(sum(energy_by_unit.values()))
    scrap_real = scrap & ~v.mask("detail", "qc_reject")
    scrap_reasons = Counter(v.strings("detail", scrap))
    return {
        "window_h": {"warmup": lo, "end": hi},
        "events": int(len(t)),
        "batches": {
            "released_to_floor": int(rel.sum()),
            "qc_released": int(qc_ok.sum()),
            "qc_rejected": int(qc_bad.sum()),
            "scrapped": int(scrap_real.sum()),
            "wip_at_end": int(wv[-1]) if len(wv) else 0,
        },
        "throughput": dict(sorted(throughput.items())),
        "makespan_h": makespan,
        "lead_time_h": {
            "mean": float(leads.mean()) if len(leads) else None,
            "p95": percentile(leads, 95) if len(leads) else None,
        },
        "otif_pct": 100.0 * on_time / n_judged if n_judged else None,
        "orders": {
            "released": n_orders,
            "judged": n_judged,
            "on_time": on_time,
            "late": late_done,
            "open_past_due": n_judged - on_time - late_done,
        },
        "oee": oee,
        "state_share": share,
        "energy_kwh": {
            "total": total_energy,
            "per_batch": total_energy / n_released if n_released else None,
            "by_unit": energy_by_unit,
        },
        "cleaning_share": cleaning_h / (span * max(len(sh), 1)),
        "deviations": {"total": int(dev.sum()), "by_type": dict(Counter(v.strings("state", dev)))},
        "scrapped": {"total": int(scrap.sum()), "by_reason": dict(scrap_reasons)},
        "wip": {"mean": _time_average(wt, wv, lo, hi), "max": int(wv.max()) if len(wv) else 0},
        **flow_kpis(v, lo, hi),
    }


LATE_TOLERANCE_H = 1.0


def plan_adherence(table: pa.Table | LogView) -> dict[str, Any] | None:
    """How a run followed the plan written into its log (``plan_op`` events), or None.

    start deviation = actual processing start - planned start (of the latest plan that
    contained the operation, when the run re-planned), per planned operation that started;
    an operation is late if it started more than LATE_TOLERANCE_H after plan;
    makespan_actual is the end of the last planned operation that ran.
    """
    v = table if isinstance(table, LogView) else LogView(table)
    pm = v.kind("plan_op")
    if not pm.any():
        return None
    planned = {}
    for order, b, s, u, start in zip(
        v.strings("order", pm),
        v.batch[pm].tolist(),
        v.step[pm].tolist(),
        v.strings("unit", pm),
        v.value[pm].tolist(),
        strict=True,
    ):
        planned[(order, b, s)] = (u, start)
    # batch id -> (order, index within the order), from the order of batch releases (after a
    # warm start: the carried-over batches' keys, and each order's batches already made)
    index: dict[int, tuple[str, int]] = {}
    count: Counter[str] = Counter()
    om = v.kind("order_resume")
    for order, made in zip(v.strings("order", om), v.batch[om].tolist(), strict=True):
        count[order] = max(0, made)
    bm = v.kind("batch_resume")
    for b, key in zip(v.batch[bm].tolist(), v.strings("detail", bm), strict=True):
        if key is not None and "/" in key:
            order, idx = key.rsplit("/", 1)
            index[b] = (order, int(idx))
    rel = v.kind("batch_release")
    for b, order in zip(v.batch[rel].tolist(), v.strings("order", rel), strict=True):
        count[order] += 1
        index[b] = (order, count[order])
    devs, same_unit, last_end = [], 0, 0.0
    st, en = v.kind("step_start"), v.kind("step_end")
    for b, s, u, t in zip(
        v.batch[st].tolist(),
        v.step[st].tolist(),
        v.strings("unit", st),
        v.t[st].tolist(),
        strict=True,
    ):
        key = (*index[b], s)
        if key in planned:
            devs.append(t - planned[key][1])
            same_unit += planned[key][0] == u
    for b, s, t in zip(v.batch[en].tolist(), v.step[en].tolist(), v.t[en].tolist(), strict=True):
        if (*index[b], s) in planned:
            last_end = max(last_end, t)
    d = np.asarray(devs)
    plan_end = v.value[v.kind("plan_end")]
    orders = {o for o, _, _ in planned}
    orel = v.kind("order_release")
    due = dict(zip(v.strings("order", orel), v.value[orel].tolist(), strict=True))
    ocomp = v.kind("order_complete")
    done_at = dict(zip(v.strings("order", ocomp), v.t[ocomp].tolist(), strict=True))
    return {
        "operations_planned": len(planned),
        "operations_started": len(devs),
        "start_deviation_h": {
            "mean": float(d.mean()) if len(d) else None,
            "mean_abs": float(np.abs(d).mean()) if len(d) else None,
            "p95_abs": float(np.percentile(np.abs(d), 95)) if len(d) else None,
        },
        "late_operations": int((d > LATE_TOLERANCE_H).sum()),
        "on_planned_unit_pct": 100.0 * same_unit / len(devs) if devs else None,
        "makespan_planned_h": float(plan_end[-1]) if len(plan_end) else None,
        "makespan_actual_h": last_end,
        "replans": int(v.kind("replan").sum()),
        "order_on_time": {
            o: float(o in done_at and done_at[o] <= due.get(o, math.inf) + 1e-9)
            for o in sorted(orders)
        },
    }
