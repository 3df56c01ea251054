"""Entry points behind ``twin fleet`` and the transport-dispatch comparison; JSON-ready dicts.

``fleet_size`` sizes the AGV fleet of a scenario (``optimizer.logistics``) on the transport
demand of one simulated run, then checks the answer in the twin: it simulates the plant with
``n`` and ``n - 1`` vehicles over several seeds (the same seeds for both) and reports the
transport waits of each, so the user sees whether the answer holds under randomness. With
``compare_paths`` it does the same for other layouts (full scenario files, or variant files of
the base such as ``scenarios/variants/layout_b.yaml``) and adds a side-by-side table.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from optimizer.logistics import TransportDemand, size_fleet, wait_stats
from optimizer.solvers import DEFAULT_SOLVER, SolverOptions

__all__ = ["fleet_size", "load_layout_scenario", "twin_check", "compare_dispatch"]


def load_layout_scenario(path: str | Path, base: str | Path | None = None) -> Any:
    """A full scenario file, or a variant file (a partial scenario) applied to ``base``."""
    from twin.scenario import load, read_yaml
    from twin.variants import resolve

    data = read_yaml(path)
    if base is not None and not ("units" in data and "simulation" in data):
        return resolve(base, path).scenario
    return load(path)


def _with_size(scenario: Any, size: int) -> Any:
    fleet = scenario.fleet.model_copy(update={"size": int(size)})
    return scenario.model_copy(update={"fleet": fleet})


def _run_waits(scenario: Any, seed: int, max_wait: float) -> dict[str, Any]:
    """Transport-wait figures of one replication (pick-ups in the KPI window)."""
    from twin.kpi import LogView
    from twin.simulate import simulate

    run = simulate(scenario, seed=seed)
    v = LogView(run.events)
    lo, hi = v.window()
    pk = v.kind("transport_pickup")
    t = v.t[pk]
    waits = v.value[pk][(t >= lo) & (t <= hi)]
    k = run.kpis["transport"]
    stats = wait_stats(waits)
    return {
        "seed": seed,
        "mean_wait_min": _min(stats["mean"]),
        "p95_wait_min": _min(stats["p95"]),
        "max_wait_min": _min(stats["max"]),
        "within_max_wait_pct": float(100.0 * np.mean(waits <= max_wait + 1e-9))
        if len(waits)
        else None,
        "requests": k["requests"],
        "served": k["served"],
        "served_pct": 100.0 * k["served"] / k["requests"] if k["requests"] else None,
        "utilisation": k["utilisation"],
    }


def _min(hours: float | None) -> float | None:
    return None if hours is None else hours * 60.0


def _summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    from twin.experiment import mean_ci

    out: dict[str, Any] = {}
    for key in (
        "mean_wait_min",
        "p95_wait_min",
        "within_max_wait_pct",
        "served_pct",
        "utilisation",
    ):
        ci = mean_ci(r[key] for r in rows)
        out[key] = {"mean": ci.mean, "half_width": ci.half_width}
    maxes = [r["max_wait_min"] for r in rows if r["max_wait_min"] is not None]
    out["max_wait_min"] = max(maxes) if maxes else None
    out["requests"] = int(sum(r["requests"] for r in rows))
    out["served"] = int(sum(r["served"] for r in rows))
    return out


def twin_check(
    scenario: Any, sizes: Sequence[int], seeds: Sequence[int], max_wait: float
) -> list[dict[str, Any]]:
    """Simulate the scenario with each fleet size over ``seeds``; wait figures per size."""
    out = []
    for n in sizes:
        if n < 1:
            continue
        rows = [_run_waits(_with_size(scenario, n), s, max_wait) for s in seeds]
        out.append({"vehicles": int(n), "summary": _summary(rows), "runs": rows})
    return out


def _size_one(
    scenario: Any,
    label: str,
    max_wait: float,
    time_limit: float,
    seeds: Sequence[int],
    window_h: float,
    solver: str,
) -> dict[str, Any]:
    from twin.simulate import simulate

    if scenario.fleet is None or scenario.layout is None:
        raise ValueError(
            f"{label}: the scenario has no fleet and layout sections, so there is no "
            "transport demand to size a fleet for"
        )
    if max_wait < scenario.fleet.handling:
        raise ValueError(
            f"{label}: a max wait of {max_wait * 60:g} min is shorter than loading a vehicle "
            f"(fleet.handling = {scenario.fleet.handling * 60:g} min): no fleet can meet it"
        )
    demand_run = simulate(scenario, seed=seeds[0])
    demand = TransportDemand.from_run(demand_run)
    sizing = size_fleet(
        demand,
        max_wait,
        window_h=window_h,
        time_limit=time_limit,
        options=SolverOptions(name=solver, time_limit=time_limit),
    )
    n = sizing.vehicles
    check = twin_check(scenario, [n, n - 1], seeds, max_wait)
    return {
        "scenario": label,
        "name": scenario.name,
        "demand_seed": seeds[0],
        "current_fleet": scenario.fleet.size,
        "fleet": sizing.to_dict(),
        "twin": check,
    }


def fleet_size(
    scenario_path: str | Path,
    max_wait_hours: float,
    time_limit: float = 60.0,
    seeds: Sequence[int] = (0, 1, 2),
    compare_paths: Sequence[str | Path] = (),
    window_h: float = 8.0,
    solver: str = DEFAULT_SOLVER,
) -> dict[str, Any]:
    """The minimum AGV fleet of a scenario (and of each layout in ``compare_paths``), checked
    in the twin with that fleet and one vehicle fewer over ``seeds``.

    Keys: ``max_wait_min``, ``seeds``, ``layouts`` (one entry per scenario: ``fleet`` the
    sizing with its windows and bounds, ``twin`` the check of n and n - 1) and ``table``
    (one row per layout and fleet size: mean, p95 and max wait, share of pick-ups within the
    allowed wait, requests served). ``time_limit`` is the solver budget per layout.
    Raises ValueError for a negative wait, no seeds, or a scenario without a fleet.
    """
    from twin.scenario import load

    if not isinstance(max_wait_hours, int | float) or max_wait_hours < 0:
        raise ValueError(f'"max_wait" must be >= 0, got {max_wait_hours!r} hours.')
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError('"seeds" must name at least one seed for the twin check.')
    layouts = [
        _size_one(
            load(scenario_path),
            str(scenario_path),
            max_wait_hours,
            time_limit,
            seeds,
            window_h,
            solver,
        )
    ]
    for path in compare_paths:
        sc = load_layout_scenario(path, base=scenario_path)
        layouts.append(
            _size_one(sc, str(path), max_wait_hours, time_limit, seeds, window_h, solver)
        )
    table = []
    for lay in layouts:
        for chk in lay["twin"]:
            s = chk["summary"]
            table.append(
                {
                    "scenario": lay["scenario"],
                    "vehicles": chk["vehicles"],
                    "answer": chk["vehicles"] == lay["fleet"]["vehicles"],
                    "mean_wait_min": s["mean_wait_min"]["mean"],
                    "p95_wait_min": s["p95_wait_min"]["mean"],
                    "max_wait_min": s["max_wait_min"],
                    "within_max_wait_pct": s["within_max_wait_pct"]["mean"],
                    "served": s["served"],
                    "requests": s["requests"],
                }
            )
    return {
        "max_wait_min": max_wait_hours * 60.0,
        "seeds": seeds,
        "layouts": layouts,
        "table": table,
    }


def compare_dispatch(
    scenario_path: str | Path,
    seeds: Sequence[int] = (0, 1, 2, 3, 4),
    rules: Sequence[str] = ("nearest", "optimised"),
    vehicles: int | None = None,
) -> dict[str, Any]:
    """Transport waits of the same scenario and seeds under each dispatch rule (with
    ``vehicles`` AGVs instead of the scenario's fleet size if given)."""
    from twin.scenario import load
    from twin.simulate import simulate
    from twin.transport import with_transport_dispatch

    base = load(scenario_path)
    if vehicles is not None:
        base = _with_size(base, vehicles)
    out: dict[str, Any] = {
        "scenario": str(scenario_path),
        "vehicles": base.fleet.size if base.fleet is not None else None,
        "seeds": list(seeds),
        "rules": {},
    }
    for rule in rules:
        sc = with_transport_dispatch(base, rule)
        rows = []
        for s in seeds:
            k = simulate(sc, seed=s).kpis["transport"]
            rows.append(
                {
                    "seed": s,
                    "mean_wait_min": _min(k["wait_h"]["mean"]),
                    "p95_wait_min": _min(k["wait_h"]["p95"]),
                    "served": k["served"],
                    "distance_km": k["distance_m"] / 1000.0,
                }
            )
        out["rules"][rule] = {
            "runs": rows,
            "mean_wait_min": float(np.mean([r["mean_wait_min"] for r in rows])),
            "p95_wait_min": float(np.mean([r["p95_wait_min"] for r in rows])),
        }
    return out
