"""KPIs of a process plant, as pure functions of its event log.

`process_kpis(table)`: throughput per material, demand fill, unit utilisation by state, utility
use, discards by reason and material, batches per task and the mass balance; `mass_balance`
replays the log and checks, at every instant, that what entered equals what left plus what is
held plus what was discarded, with tank levels read from their own events.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

import pyarrow as pa

__all__ = ["MassBalance", "mass_balance", "process_kpis", "plan_adherence"]


def _rows(table: pa.Table) -> list[tuple]:
    cols = ("t", "kind", "unit", "batch", "order", "product", "state", "value", "detail")
    d = table.select(list(cols)).to_pydict()
    return list(zip(*(d[c] for c in cols), strict=True))


class MassBalance(dict):
    """entered, left, discarded, held (tanks + units) at the end, and the largest imbalance
    seen at any instant (`max_error`), all in kg."""


def _place_kind(place: str) -> str:
    return place.split(":", 1)[0]


def mass_balance(table: pa.Table) -> MassBalance:
    """Replay the log: at every instant `entered - left - discarded - held` (held = tank levels
    from ``tank_level`` events + what units hold from ``material_move`` events) and the worst
    of it; also the lowest content any unit reached (never below 0 in a sound log)."""
    entered = left = discarded = 0.0
    tank: dict[str, float] = {}
    unit: dict[str, float] = defaultdict(float)
    worst = 0.0
    lowest_unit = 0.0
    rows = _rows(table)
    scale = 1.0
    for i, (t, kind, u, _b, _o, _p, state, value, detail) in enumerate(rows):
        if kind == "tank_level":
            tank[u] = value
        elif kind == "material_move":
            src, dst = _place_kind(state), _place_kind(detail)
            if src == "supply":
                entered += value
            if dst == "customer":
                left += value
            if dst == "waste":
                discarded += value
            if src == "unit":
                unit[state] -= value
                lowest_unit = min(lowest_unit, unit[state])
            if dst == "unit":
                unit[detail] += value
            scale = max(scale, entered)
        last = i + 1 == len(rows) or rows[i + 1][0] != t
        if last:  # the instant is complete: check it
            held = sum(tank.values()) + sum(unit.values())
            worst = max(worst, abs(entered - left - discarded - held))
    held_units = sum(unit.values())
    return MassBalance(
        entered=entered,
        left=left,
        discarded=discarded,
        held_tanks=sum(tank.values()),
        held_units=held_units,
        max_error=worst,
        relative_error=worst / scale,
        lowest_unit_content=lowest_unit,
    )


def process_kpis(table: pa.Table) -> dict[str, Any]:
    """The KPIs of one run of a process plant (see the module docstring)."""
    rows = _rows(table)
    horizon = next((r[7] for r in rows if r[1] == "run_end"), max((r[0] for r in rows), default=0))
    span = horizon if horizon > 0 else 1.0
    produced: dict[str, float] = defaultdict(float)
    shipped: dict[str, float] = defaultdict(float)
    short: dict[str, float] = defaultdict(float)
    discards: dict[str, float] = defaultdict(float)
    discards_mat: dict[str, float] = defaultdict(float)
    batches: dict[str, int] = defaultdict(int)
    mass: dict[str, float] = defaultdict(float)
    demand_ok: dict[str, bool] = {}
    unit_state: dict[str, tuple[str, float]] = {}
    unit_time: dict[str, dict[str, float]] = {}
    util_cap: dict[str, float] = {}
    util_level: dict[str, tuple[float, float]] = {}
    util_area: dict[str, float] = defaultdict(float)
    util_peak: dict[str, float] = defaultdict(float)
    for t, kind, u, _b, order, product, state, value, detail in rows:
        if kind == "material_move":
            src, dst = _place_kind(state), _place_kind(detail)
            if src == "unit" and dst == "tank":
                produced[product] += value
            elif dst == "customer":
                shipped[product] += value
                demand_ok.setdefault(order, True)
            elif dst == "waste":
                discards[detail.split(":", 1)[1]] += value
                discards_mat[product] += value
        elif kind == "stockout":
            short[product] += value
            demand_ok[order] = False
        elif kind == "task_start":
            batches[detail] += 1
            mass[detail] += value
        elif kind == "state":
            if u in unit_state:
                s0, t0 = unit_state[u]
                unit_time[u][s0] = unit_time[u].get(s0, 0.0) + t - t0
            else:
                unit_time[u] = {}
            unit_state[u] = (state, t)
        elif kind == "utility_added":
            util_cap[u] = value
            util_level[u] = (0.0, t)
        elif kind == "utility_level":
            lvl, t0 = util_level[u]
            util_area[u] += lvl * (t - t0)
            util_level[u] = (value, t)
            util_peak[u] = max(util_peak[u], value)
    for u, (s0, t0) in unit_state.items():
        unit_time[u][s0] = unit_time[u].get(s0, 0.0) + max(0.0, horizon - t0)
    for u, (lvl, t0) in util_level.items():
        util_area[u] += lvl * max(0.0, horizon - t0)
    demanded = {m: shipped.get(m, 0.0) + short.get(m, 0.0) for m in set(shipped) | set(short)}
    total_demanded = sum(demanded.values())
    balance = mass_balance(table)
    return {
        "kind": "process",
        "horizon_h": horizon,
        "throughput": {
            m: {"produced": q, "per_week": q / span * 168.0, "shipped": shipped.get(m, 0.0)}
            for m, q in sorted(produced.items())
        },
        "demand": {
            "demanded": total_demanded,
            "shipped": sum(shipped.values()),
            "short": sum(short.values()),
            "fill_pct": 100.0 * sum(shipped.values()) / total_demanded if total_demanded else None,
            "orders": len(demand_ok),
            "orders_in_full": sum(demand_ok.values()),
        },
        "demand_fill_pct": 100.0 * sum(shipped.values()) / total_demanded
        if total_demanded
        else None,
        "otif_pct": 100.0 * sum(demand_ok.values()) / len(demand_ok) if demand_ok else None,
        "batches": {"total": sum(batches.values()), **dict(sorted(batches.items()))},
        "processed": dict(sorted(mass.items())),
        "state_share": {
            u: {s: round(h / span, 9) for s, h in sorted(times.items()) if h > 0}
            for u, times in unit_time.items()
        },
        "utilisation": {
            u: round(times.get("processing", 0.0) / span, 9) for u, times in unit_time.items()
        },
        "utilities": {
            u: {
                "mean_use": util_area[u] / span,
                "mean_share": util_area[u] / span / cap if cap else 0.0,
                "peak": util_peak[u],
                "capacity": cap,
            }
            for u, cap in util_cap.items()
        },
        "discarded": {
            "total": sum(discards.values()),
            "by_reason": dict(sorted(discards.items())),
            "by_material": dict(sorted(discards_mat.items())),
        },
        "mass_balance": dict(balance),
    }


def plan_adherence(table: pa.Table) -> dict[str, Any] | None:
    """Planned against actual starts of a run that followed a plan (None without one):
    batches planned, started, started on time (within a minute), mean and largest delay."""
    planned: dict[int, float] = {}
    started: dict[int, float] = {}
    skipped = 0
    for t, kind, _u, b, _o, _p, state, value, _d in _rows(table):
        if kind == "plan_task":
            planned[b] = value
        elif kind == "task_start" and b in planned:
            started[b] = t
        elif kind == "deviation" and state == "plan_skipped":
            skipped += 1
    if not planned:
        return None
    delays = [started[b] - planned[b] for b in started]
    return {
        "planned": len(planned),
        "started": len(started),
        "skipped": skipped,
        "on_time": sum(1 for d in delays if abs(d) <= 1 / 60),
        "on_time_pct": 100.0 * sum(1 for d in delays if abs(d) <= 1 / 60) / len(planned),
        "delay_mean_h": sum(delays) / len(delays) if delays else math.nan,
        "delay_max_h": max(delays) if delays else math.nan,
    }
