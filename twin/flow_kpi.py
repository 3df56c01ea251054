"""Material-flow KPIs (materials, warehouses, transport) as pure functions of an event log.

Called by ``twin.kpi.compute_kpis``; each section appears only when the log has its events, so
a scenario without material flow has the KPIs it always had.

Definitions
-----------
- material balance (whole run, per material): received (supplier lots put away, initial stock,
  finished batches), consumed (picked for steps), shipped, expired, rejected, and on hand at
  the end = received - consumed - shipped - expired - rejected.
- starvation hours by material: time batches waited for a material, clipped to the window
  (waits still open at the end count up to the end).
- stockouts: customer shipments short at their due date (count and quantity short).
- warehouse occupancy: pallet positions used per warehouse and storage class, time-averaged
  over the window, its maximum, and the level at the end of every week.
- per vehicle: share of window hours in each state (idle, empty travel, loaded travel, waiting
  in traffic, handling, charging, and repositioning to a dwell point with the ``optimised``
  rule), metres driven, trips delivered.
- transport wait: request to pick-up, hours, for pick-ups in the window (mean, p95); lead:
  request to delivery.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from twin.kpi import LogView

__all__ = ["flow_kpis", "level_series", "agv_state_hours"]


def _rows(v: LogView, kind: str) -> np.ndarray:
    return np.flatnonzero(v.kind(kind))


def level_series(v: LogView) -> dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]:
    """(warehouse, storage class) -> (times, positions used after each change)."""
    m = v.kind("wh_level")
    out: dict[tuple[str, str], tuple[list[float], list[float]]] = defaultdict(lambda: ([], []))
    for w, c, t, x in zip(
        v.strings("unit", m), v.strings("state", m), v.t[m], v.value[m], strict=True
    ):
        ts, xs = out[(w, c)]
        ts.append(float(t))
        xs.append(float(x))
    return {k: (np.asarray(a), np.asarray(b)) for k, (a, b) in out.items()}


def _avg(times: np.ndarray, values: np.ndarray, lo: float, hi: float) -> float:
    if hi <= lo or not len(times):
        return 0.0
    edges = np.clip(np.append(times, hi), lo, hi)
    return float(np.sum(values * np.diff(edges)) / (hi - lo))


def agv_state_hours(v: LogView, lo: float, hi: float) -> dict[str, dict[str, float]]:
    """vehicle -> state -> hours in [lo, hi]."""
    m = v.kind("agv_state")
    rows: dict[str, list[tuple[float, str]]] = defaultdict(list)
    for u, s, t in zip(v.strings("unit", m), v.strings("state", m), v.t[m], strict=True):
        rows[u].append((float(t), s))
    out: dict[str, dict[str, float]] = {}
    for u, seq in rows.items():
        acc: dict[str, float] = defaultdict(float)
        for j, (t, s) in enumerate(seq):
            b = seq[j + 1][0] if j + 1 < len(seq) else hi
            a, b = max(t, lo), min(b, hi)
            if b > a:
                acc[s] += b - a
        out[u] = dict(sorted(acc.items()))
    return out


def _stats(x: list[float]) -> dict[str, float | None]:
    arr = np.asarray(x, dtype=float)
    return {
        "mean": float(arr.mean()) if len(arr) else None,
        "p95": float(np.percentile(arr, 95)) if len(arr) else None,
        "n": int(len(arr)),
    }


def _materials(v: LogView, lo: float, hi: float) -> dict[str, Any]:
    bal: dict[str, dict[str, float]] = defaultdict(
        lambda: dict.fromkeys(("received", "consumed", "shipped", "expired", "rejected"), 0.0)
    )
    t = v.t
    for kind, key in (("lot_receipt", "received"), ("shipment", "shipped")):
        m = v.kind(kind)
        for p, q in zip(v.strings("product", m), v.value[m], strict=True):
            bal[p][key] += float(q)
    m = v.kind("material_pick")
    wh = v.strings("unit", m)
    for p, q, w in zip(v.strings("product", m), v.value[m], wh, strict=True):
        if w is not None:  # picks with no warehouse are intermediates taken from the batch
            bal[p]["consumed"] += float(q)
    m = v.kind("lot_status")
    expired = defaultdict(int)
    for p, s, q in zip(v.strings("product", m), v.strings("state", m), v.value[m], strict=True):
        if s in ("expired", "rejected"):
            bal[p][s] += float(q)
            if s == "expired":
                expired[p] += 1
    for d in bal.values():
        d["on_hand_end"] = (
            d["received"] - d["consumed"] - d["shipped"] - d["expired"] - d["rejected"]
        )

    starve: dict[str, float] = defaultdict(float)
    episodes: dict[str, int] = defaultdict(int)
    open_: dict[tuple[int, int, str], float] = {}
    s0, s1 = v.kind("starve_start"), v.kind("starve_end")
    prods = v.codes("product")
    for i in np.flatnonzero(s0 | s1):
        key = (int(v.batch[i]), int(v.step[i]), prods[1][prods[0][i]])
        if s0[i]:
            open_[key] = float(t[i])
            episodes[key[2]] += 1
        else:
            a = open_.pop(key, float(t[i]))
            starve[key[2]] += max(0.0, min(float(t[i]), hi) - max(a, lo))
    for key, a in open_.items():
        starve[key[2]] += max(0.0, hi - max(a, lo))

    so = v.kind("stockout")
    short: dict[str, float] = defaultdict(float)
    for p, q in zip(v.strings("product", so), v.value[so], strict=True):
        short[p] += float(q)
    return {
        "balance": {k: bal[k] for k in sorted(bal)},
        "starvation_h": {k: starve[k] for k in sorted(starve)},
        "starvation_episodes": {k: episodes[k] for k in sorted(episodes)},
        "stockouts": {"count": int(so.sum()), "quantity_short": dict(sorted(short.items()))},
        "expired_lots": {
            "count": int(sum(expired.values())),
            "by_material": dict(sorted(expired.items())),
        },
        "reorders": int(v.kind("reorder").sum()),
    }


def _warehouses(v: LogView, lo: float, hi: float) -> dict[str, Any]:
    out: dict[str, dict[str, Any]] = {}
    weeks = np.arange(lo + 168.0, hi + 1e-9, 168.0)
    for (w, c), (ts, xs) in sorted(level_series(v).items()):
        idx = np.searchsorted(ts, weeks, side="right") - 1
        weekly = [float(xs[i]) if i >= 0 else 0.0 for i in idx]
        inwin = ts <= hi
        out.setdefault(w, {})[c] = {
            "mean": _avg(ts, xs, lo, hi),
            "max": float(xs[inwin].max()) if inwin.any() else 0.0,
            "weekly": weekly,
        }
    return out


def _transport(v: LogView, lo: float, hi: float) -> dict[str, Any]:
    span = max(hi - lo, 1e-12)
    hours = agv_state_hours(v, lo, hi)
    mv = v.kind("agv_move")
    dist: dict[str, float] = defaultdict(float)
    for u, x, t in zip(v.strings("unit", mv), v.value[mv], v.t[mv], strict=True):
        if lo <= t <= hi:
            dist[u] += float(x)
    done = v.kind("transport_done")
    trips: dict[str, int] = defaultdict(int)
    lead = []
    for u, x, t in zip(v.strings("unit", done), v.value[done], v.t[done], strict=True):
        if lo <= t <= hi:
            trips[u] += 1
            lead.append(float(x))
    pk = v.kind("transport_pickup")
    waits = [float(x) for x, t in zip(v.value[pk], v.t[pk], strict=True) if lo <= t <= hi]
    tw = v.kind("traffic_wait")
    vehicles = {}
    for u in v.strings("unit", v.kind("agv_added")):
        h = hours.get(u, {})
        vehicles[u] = {
            "share": {s: h[s] / span for s in sorted(h)},
            "distance_m": dist.get(u, 0.0),
            "trips": trips.get(u, 0),
        }
    return {
        "vehicles": vehicles,
        "distance_m": float(sum(dist.values())),
        "requests": int(v.kind("transport_request").sum()),
        "served": int(done.sum()),
        "served_in_window": len(lead),
        "wait_h": _stats(waits),
        "lead_h": _stats(lead),
        "traffic_waits": {"count": int(tw.sum()), "hours": float(v.value[tw].sum())},
        "charges": int(v.kind("charge_start").sum()),
        "utilisation": float(
            np.mean([1.0 - d["share"].get("idle", 0.0) for d in vehicles.values()])
        )
        if vehicles
        else 0.0,
    }


def flow_kpis(v: LogView, lo: float, hi: float) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if v.kind("lot_receipt").any() or v.kind("wh_level").any() or v.kind("material_pick").any():
        out["materials"] = _materials(v, lo, hi)
        out["warehouses"] = _warehouses(v, lo, hi)
    if v.kind("agv_added").any():
        out["transport"] = _transport(v, lo, hi)
    return out
