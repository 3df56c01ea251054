"""Entry points behind ``twin fleet`` and the transport-dispatch comparison; JSON-ready dicts.

``fleet_size`` sizes the AGV fleet of a scenario for a service level: the share of pick-ups
within the allowed wait (``optimizer.logistics.size_fleet_service``), on the transport demand
of one simulated run, or of the twin following a plan with mean durations. It then verifies
the answer in the twin: it simulates the plant with the model's answer and one vehicle fewer
over several seeds (the same seeds for every size), and walks down (or up) a few sizes until
it finds the smallest fleet that meets the service level in the twin, so the user sees the
boundary (n meets it, n - 1 does not). With ``compare_paths`` it does the same for other
layouts (full scenario files, or variant files of the base such as
``scenarios/variants/layout_b.yaml``) and adds a side-by-side table.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from optimizer.logistics import TransportDemand, size_fleet_service, wait_stats
from optimizer.solvers import DEFAULT_SOLVER, SolverOptions

__all__ = [
    "fleet_size",
    "load_layout_scenario",
    "twin_check",
    "verify_fleet",
    "compare_dispatch",
]


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


def _run_waits(
    scenario: Any, seed: int, max_wait: float, plan: Any | None = None
) -> dict[str, Any]:
    """Transport-wait figures of one replication (pick-ups in the KPI window)."""
    from twin.kpi import LogView
    from twin.simulate import simulate

    run = simulate(scenario, seed=seed, plan=plan)
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
    scenario: Any,
    sizes: Sequence[int],
    seeds: Sequence[int],
    max_wait: float,
    plan: Any | None = None,
) -> list[dict[str, Any]]:
    """Simulate the scenario with each fleet size over ``seeds``; wait figures per size."""
    out = []
    for n in sizes:
        if n < 1:
            continue
        t0 = time.perf_counter()
        rows = [_run_waits(_with_size(scenario, n), s, max_wait, plan) for s in seeds]
        out.append(
            {
                "vehicles": int(n),
                "summary": _summary(rows),
                "runs": rows,
                "seconds": time.perf_counter() - t0,
            }
        )
    return out


def verify_fleet(
    scenario: Any,
    start: int,
    seeds: Sequence[int],
    max_wait: float,
    service: float,
    plan: Any | None = None,
    max_steps: int = 3,
    walk: bool = True,
) -> tuple[int | None, list[dict[str, Any]]]:
    """The smallest fleet meeting the service level in the twin, searched from ``start``.

    Simulates ``start`` and ``start - 1`` over ``seeds`` (common random numbers: the same seeds
    for every size); a size meets the level when its mean share of pick-ups within the wait
    over the seeds is at least ``service``. If ``start - 1`` meets it too, walks down; if
    ``start`` fails, walks up; at most ``max_steps`` sizes beyond the first two. Returns the
    verified size (None if the boundary was not found within the steps, or ``walk`` is False)
    and one check per size evaluated, smallest first, each with ``meets``.
    """
    checks: dict[int, dict[str, Any]] = {}

    def meets(n: int) -> bool:
        if n < 1:
            return False
        if n not in checks:
            (chk,) = twin_check(scenario, [n], seeds, max_wait, plan)
            share = chk["summary"]["within_max_wait_pct"]["mean"]
            chk["meets"] = share is not None and share >= 100.0 * service - 1e-9
            checks[n] = chk
        return bool(checks[n]["meets"])

    verified: int | None = None
    top, low = meets(start), meets(start - 1) if start > 1 else False
    if walk:
        steps = 0
        if top:
            n = start - 1 if low else start
            while low and n > 1 and steps < max_steps:
                steps += 1
                low = meets(n - 1)
                if low:
                    n -= 1
            verified = n if not low or n == 1 else None
        else:
            n = start
            while not meets(n) and steps < max_steps:
                steps += 1
                n += 1
            verified = n if meets(n) else None
    return verified, [checks[k] for k in sorted(checks)]


def _plan_for(
    plan: Any, scenario: Any, source: str, seed: int, time_limit: float, solver: str
) -> tuple[Any, Any, str]:
    """(the scenario to run, the plan, its origin) for ``plan``: None, "auto" (plan with the
    APS first, as ``twin run --plan auto``), a plan file, or a ``Plan``."""
    from optimizer.plan_commands import plan_scenario, scenario_for_horizon
    from twin.plan import Plan, load_plan, validate_plan

    if plan is None:
        return scenario, None, ""
    if isinstance(plan, str) and plan == "auto":
        if scenario.order_generator is not None:
            scenario = scenario_for_horizon(scenario, scenario.simulation.horizon, seed)
        the_plan, _ = plan_scenario(scenario, None, time_limit, solver=solver, seed=seed)
        the_plan.meta.setdefault("seed", seed)
        return scenario, the_plan, "auto"
    if not isinstance(plan, Plan):
        source = str(plan)
        plan = load_plan(plan)
    horizon, plan_seed = plan.meta.get("horizon_hours"), plan.meta.get("seed", seed)
    if horizon is not None or scenario.order_generator is not None:
        scenario = scenario_for_horizon(
            scenario, horizon or scenario.simulation.horizon, int(plan_seed)
        )
    validate_plan(plan, scenario, source)
    return scenario, plan, source


def _size_one(
    scenario: Any,
    label: str,
    max_wait: float,
    service: float,
    time_limit: float,
    seeds: Sequence[int],
    window_h: float,
    solver: str,
    plan: Any | None,
    max_steps: int,
) -> dict[str, Any]:
    from twin.deterministic import with_mean_durations
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
    t0 = time.perf_counter()
    if plan is not None:  # the plan as planned: the twin following it with mean durations
        demand_run = simulate(with_mean_durations(scenario), seed=seeds[0], plan=plan)
    else:
        demand_run = simulate(scenario, seed=seeds[0])
    demand = TransportDemand.from_run(demand_run)
    demand_seconds = time.perf_counter() - t0
    sizing = size_fleet_service(
        demand,
        max_wait,
        service,
        window_h=window_h,
        time_limit=time_limit,
        options=SolverOptions(name=solver, time_limit=time_limit),
    )
    model = sizing.vehicles
    best = sizing.best
    start = model if model is not None else (best.vehicles if best is not None else 1)
    t1 = time.perf_counter()
    verified, checks = verify_fleet(
        scenario,
        max(1, start),
        seeds,
        max_wait,
        service,
        plan,
        max_steps,
        walk=model is not None,
    )
    return {
        "scenario": label,
        "name": scenario.name,
        "demand": "plan" if plan is not None else "run",
        "demand_seed": seeds[0],
        "demand_seconds": demand_seconds,
        "current_fleet": scenario.fleet.size,
        "model_vehicles": model,
        "verified_vehicles": verified,
        "fleet": sizing.to_dict(),
        "twin": checks,
        "twin_seconds": time.perf_counter() - t1,
    }


def fleet_size(
    scenario_path: str | Path,
    max_wait_hours: float,
    time_limit: float = 60.0,
    seeds: Sequence[int] = (0, 1, 2),
    compare_paths: Sequence[str | Path] = (),
    window_h: float = 4.0,
    solver: str = DEFAULT_SOLVER,
    service: float = 0.95,
    plan: Any | None = None,
    max_steps: int = 3,
) -> dict[str, Any]:
    """The smallest AGV fleet of a scenario (and of each layout in ``compare_paths``) picking
    up ``service`` of the transport requests within ``max_wait_hours``: the model's answer,
    verified in the twin over ``seeds``.

    ``plan``: None (the demand of a simulated run, seed ``seeds[0]``), a plan file or ``Plan``,
    or "auto" (plan with the APS first); the demand is then the twin following the plan with
    mean durations, and the twin check follows it too.

    Keys: ``max_wait_min``, ``service_pct``, ``seeds``, ``layouts`` (one entry per scenario:
    ``model_vehicles``, ``verified_vehicles``, ``fleet`` the model with its sizes and bounds,
    ``twin`` one check per fleet size evaluated) and ``table`` (one row per layout and fleet
    size: mean, p95 and max wait, share within the allowed wait, whether it meets the service
    level, requests served). ``time_limit`` is the model's budget per layout (the twin checks
    come on top; ``twin_seconds``). Raises ValueError for a negative wait, a service level out
    of (0, 1], no seeds, or a scenario without a fleet; ScenarioError for a bad plan file.
    """
    from twin.scenario import load

    if not isinstance(max_wait_hours, int | float) or max_wait_hours < 0:
        raise ValueError(f'"max_wait" must be >= 0, got {max_wait_hours!r} hours.')
    if not (isinstance(service, int | float) and 0 < service <= 1):
        raise ValueError(f'"service" must be in (0, 1] (a share of pick-ups), got {service!r}.')
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError('"seeds" must name at least one seed for the twin check.')
    base = load(scenario_path)
    label = str(plan) if isinstance(plan, str | Path) else "<plan>"
    base, the_plan, plan_source = _plan_for(plan, base, label, seeds[0], time_limit, solver)
    scenarios = [(base, str(scenario_path))]
    for path in compare_paths:
        sc = load_layout_scenario(path, base=scenario_path)
        if the_plan is not None:
            sc, _, _ = _plan_for(the_plan, sc, plan_source, seeds[0], time_limit, solver)
        scenarios.append((sc, str(path)))
    layouts = [
        _size_one(
            sc,
            label,
            max_wait_hours,
            service,
            time_limit,
            seeds,
            window_h,
            solver,
            the_plan,
            max_steps,
        )
        for sc, label in scenarios
    ]
    table = []
    for lay in layouts:
        for chk in lay["twin"]:
            s = chk["summary"]
            table.append(
                {
                    "scenario": lay["scenario"],
                    "vehicles": chk["vehicles"],
                    "model": chk["vehicles"] == lay["model_vehicles"],
                    "verified": chk["vehicles"] == lay["verified_vehicles"],
                    "mean_wait_min": s["mean_wait_min"]["mean"],
                    "p95_wait_min": s["p95_wait_min"]["mean"],
                    "max_wait_min": s["max_wait_min"],
                    "within_max_wait_pct": s["within_max_wait_pct"]["mean"],
                    "meets": chk["meets"],
                    "served": s["served"],
                    "requests": s["requests"],
                }
            )
    return {
        "max_wait_min": max_wait_hours * 60.0,
        "service_pct": 100.0 * service,
        "seeds": seeds,
        "plan": plan_source or None,
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
