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

The twin is run through its public interface, ``twin.evaluate.replicate``: the runs of a
check go out as one batch on an executor (a local process pool on all cores unless another is
given), and only the wait figures of each run come back (``transport_waits``, computed in the
worker). The same seeds give the same figures whichever executor ran them.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from optimizer.logistics import TransportDemand, size_fleet_service, wait_stats
from optimizer.options import (
    OptionError,
    check_count,
    check_finite,
    check_positive,
    check_seed,
    check_share,
    check_time_limit,
)
from optimizer.progress import Progress, ProgressCallback, Reporter
from optimizer.solvers import DEFAULT_SOLVER, SolverOptions

if TYPE_CHECKING:
    import pyarrow as pa

    from twin.executors import Executor

__all__ = [
    "fleet_size",
    "load_layout_scenario",
    "transport_waits",
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


def transport_waits(events: pa.Table, kpis: dict[str, Any], max_wait: float) -> dict[str, Any]:
    """Transport-wait figures of one run (pick-ups in the KPI window): a ``twin.evaluate``
    measure, run in the worker next to the event log."""
    from twin.kpi import LogView

    v = LogView(events)
    lo, hi = v.window()
    pk = v.kind("transport_pickup")
    t = v.t[pk]
    waits = v.value[pk][(t >= lo) & (t <= hi)]
    k = kpis["transport"]
    stats = wait_stats(waits)
    return {
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
    executor: Executor | None = None,
    runs: Callable[[int, int], None] | None = None,
) -> list[dict[str, Any]]:
    """Simulate the scenario with each fleet size over ``seeds``, all runs as one batch on
    ``executor`` (in-process without one); wait figures per size. ``runs(done, total)`` is
    told as runs finish. ``seconds`` of a size is the simulation time of its runs (which may
    have run side by side)."""
    from twin.evaluate import replicate

    sizes = [int(n) for n in sizes if n >= 1]
    reps = replicate(
        [_with_size(scenario, n) for n in sizes],
        seeds,
        plan=plan,
        measure=functools.partial(transport_waits, max_wait=max_wait),
        executor=executor,
        progress=runs,
    )
    out = []
    for k, n in enumerate(sizes):
        mine = [r for r in reps if r.scenario == k]
        rows = [{"seed": r.seed, **r.measured} for r in mine]
        out.append(
            {
                "vehicles": n,
                "summary": _summary(rows),
                "runs": rows,
                "seconds": sum(r.wall_seconds for r in mine),
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
    executor: Executor | None = None,
    checked: Callable[[dict[str, Any]], None] | None = None,
    runs: Callable[[int, int], None] | None = None,
) -> tuple[int | None, list[dict[str, Any]]]:
    """The smallest fleet meeting the service level in the twin, searched from ``start``.

    Simulates ``start`` and ``start - 1`` over ``seeds`` (common random numbers: the same seeds
    for every size; both sizes in one batch on ``executor``); a size meets the level when its
    mean share of pick-ups within the wait over the seeds is at least ``service``. If
    ``start - 1`` meets it too, walks down; if ``start`` fails, walks up; at most ``max_steps``
    sizes beyond the first two. Returns the verified size (None if the boundary was not found
    within the steps, or ``walk`` is False) and one check per size evaluated, smallest first,
    each with ``meets``. ``checked`` is called with each check as it is done, ``runs`` with
    (done, total) as the runs of a batch finish.
    """
    checks: dict[int, dict[str, Any]] = {}

    def evaluate(sizes: Sequence[int]) -> None:
        todo = [n for n in dict.fromkeys(sizes) if n >= 1 and n not in checks]
        if not todo:
            return
        for chk in twin_check(scenario, todo, seeds, max_wait, plan, executor=executor, runs=runs):
            share = chk["summary"]["within_max_wait_pct"]["mean"]
            chk["meets"] = share is not None and share >= 100.0 * service - 1e-9
            checks[chk["vehicles"]] = chk
            if checked is not None:
                checked(chk)

    def meets(n: int) -> bool:
        if n < 1:
            return False
        evaluate([n])
        return bool(checks[n]["meets"])

    evaluate([start, start - 1])
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
    APS first, as ``twin run --plan auto``), a plan file, or a ``Plan``. Not
    ``prepare_plan_run`` itself: fleet sizing plans with its own solver and time limit (beyond
    the ten minutes a run's re-planning may take) and needs no re-planning options."""
    from optimizer.plan_commands import plan_scenario, scenario_for_horizon, scenario_for_plan
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
    plan_seed = plan.meta.get("seed")
    # the orders the plan was made for, as twin run --plan wires them (prepare_plan_run)
    scenario = scenario_for_plan(
        scenario, plan.meta.get("horizon_hours"), seed if plan_seed is None else int(plan_seed)
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
    executor: Executor | None,
    report: Reporter,
    several: bool,
) -> dict[str, Any]:
    from twin.deterministic import with_mean_durations
    from twin.evaluate import replicate

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
    name = f"{Path(label).stem}: " if several else ""  # which layout, when there are several
    t0 = time.perf_counter()
    # the demand: one run, or the plan as planned (the twin following it with mean durations)
    report("demand", f"{name}simulating the demand (seed {seeds[0]})")
    source = with_mean_durations(scenario) if plan is not None else scenario
    (run,) = replicate([source], [seeds[0]], plan=plan, keep_events=True)
    demand = TransportDemand.from_run(run.events(), source)
    demand_seconds = time.perf_counter() - t0

    def model_progress(p: Progress) -> None:
        report(p.phase, f"{name}{p.detail}", p.incumbent, p.bound)

    sizing = size_fleet_service(
        demand,
        max_wait,
        service,
        window_h=window_h,
        time_limit=time_limit,
        options=SolverOptions(name=solver, time_limit=time_limit),
        progress=model_progress if report else None,
    )
    model = sizing.vehicles
    best = sizing.best
    start = model if model is not None else (best.vehicles if best is not None else 1)
    t1 = time.perf_counter()
    met: list[int] = []
    failed: list[int] = []

    def checked(chk: dict[str, Any]) -> None:
        n, share = chk["vehicles"], chk["summary"]["within_max_wait_pct"]["mean"]
        (met if chk["meets"] else failed).append(n)
        report(
            "twin",
            f"{name}{n} AGVs: {_pct(share)} on time, {'meets' if chk['meets'] else 'misses'}",
            incumbent=min(met) if met else None,
            bound=max(failed) + 1 if failed else None,
        )

    def runs(done: int, total: int) -> None:
        if done < total:
            report("twin", f"{name}twin runs {done} of {total} done")

    verified, checks = verify_fleet(
        scenario,
        max(1, start),
        seeds,
        max_wait,
        service,
        plan,
        max_steps,
        walk=model is not None,
        executor=executor,
        checked=checked if report else None,
        runs=runs if report else None,
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


def _pct(share: float | None) -> str:
    return "-" if share is None else f"{share:.2f} %"


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
    executor: Executor | None = None,
    progress: ProgressCallback | None = None,
) -> dict[str, Any]:
    """The smallest AGV fleet of a scenario (and of each layout in ``compare_paths``) picking
    up ``service`` of the transport requests within ``max_wait_hours``: the model's answer,
    verified in the twin over ``seeds``.

    ``plan``: None (the demand of a simulated run, seed ``seeds[0]``), a plan file or ``Plan``,
    or "auto" (plan with the APS first); the demand is then the twin following the plan with
    mean durations, and the twin check follows it too.

    ``executor`` runs the twin checks (``twin.executors``); None opens a local process pool on
    all cores for the call and closes it at the end. ``progress`` receives an
    ``optimizer.progress.Progress`` at every step: phases "plan", "demand", "bound", "greedy",
    "milp" (the model; incumbent = its answer so far, bound = its lower bound) and "twin" (the
    check; incumbent = the smallest size meeting the level so far, bound = one more than the
    largest missing it), all in AGVs, with the seconds since the call began.

    Keys: ``max_wait_min``, ``service_pct``, ``seeds``, ``layouts`` (one entry per scenario:
    ``model_vehicles``, ``verified_vehicles``, ``fleet`` the model with its sizes and bounds,
    ``twin`` one check per fleet size evaluated) and ``table`` (one row per layout and fleet
    size: mean, p95 and max wait, share within the allowed wait, whether it meets the service
    level, requests served). ``time_limit`` is the model's budget per layout (the twin checks
    come on top; ``twin_seconds``).

    Raises, before any work: ``optimizer.options.OptionError`` for a bad number (a wait that
    is negative, NaN or infinite, a service level out of (0, 1], a time limit that is not a
    finite number > 0, no seeds or a bad seed, a bad ``window_h`` or ``max_steps``);
    ``ValueError`` for a scenario without a fleet or a wait shorter than loading;
    ``ScenarioError`` for a bad scenario or plan file.
    """
    from twin.scenario import load

    max_wait_hours = check_finite(max_wait_hours, "max_wait", "a finite number of hours >= 0")
    if max_wait_hours < 0:
        raise OptionError("max_wait", max_wait_hours, "a finite number of hours >= 0")
    time_limit = check_time_limit(time_limit)
    service = check_share(service, "service")
    window_h = check_positive(window_h, "window_h", "hours")
    max_steps = check_count(max_steps, "max_steps", 0)
    seeds = [check_seed(s, "seeds") for s in seeds]
    if not seeds:
        raise OptionError("seeds", seeds, "at least one seed for the twin check")
    report = Reporter(progress, unit="AGVs")
    base = load(scenario_path)
    label = str(plan) if isinstance(plan, str | Path) else "<plan>"
    scenarios = [(base, str(scenario_path))]
    for path in compare_paths:
        scenarios.append((load_layout_scenario(path, base=scenario_path), str(path)))
    own = executor is None
    if own:  # the workers start now, before any solver runs in this process
        from twin.executors import LocalPool
        from twin.experiment import model_hash

        model_hash()  # hashed before the fork: workers run this process's code, and know it
        executor = LocalPool()
    try:
        if plan is not None:
            report("plan", f"plan {'with the APS' if plan == 'auto' else label}")
        base, the_plan, plan_source = _plan_for(plan, base, label, seeds[0], time_limit, solver)
        scenarios[0] = (base, scenarios[0][1])
        if the_plan is not None:
            for k in range(1, len(scenarios)):
                sc, path = scenarios[k]
                sc, _, _ = _plan_for(the_plan, sc, plan_source, seeds[0], time_limit, solver)
                scenarios[k] = (sc, path)
        layouts = [
            _size_one(
                sc,
                path,
                max_wait_hours,
                service,
                time_limit,
                seeds,
                window_h,
                solver,
                the_plan,
                max_steps,
                executor,
                report,
                len(scenarios) > 1,
            )
            for sc, path in scenarios
        ]
    finally:
        if own and executor is not None:
            executor.close()
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
    executor: Executor | None = None,
) -> dict[str, Any]:
    """Transport waits of the same scenario and seeds under each dispatch rule (with
    ``vehicles`` AGVs instead of the scenario's fleet size if given). The runs go out as one
    batch on ``executor`` (in-process without one; rules registered at run time need an
    in-process or forked executor, since workers started afresh do not know them)."""
    from twin.evaluate import replicate
    from twin.scenario import load
    from twin.transport import with_transport_dispatch

    seeds = [check_seed(s, "seeds") for s in seeds]
    base = load(scenario_path)
    if vehicles is not None:
        base = _with_size(base, check_count(vehicles, "vehicles", 1))
    out: dict[str, Any] = {
        "scenario": str(scenario_path),
        "vehicles": base.fleet.size if base.fleet is not None else None,
        "seeds": list(seeds),
        "rules": {},
    }
    variants = [with_transport_dispatch(base, rule) for rule in rules]
    reps = replicate(variants, seeds, executor=executor)
    for k, rule in enumerate(rules):
        rows = []
        for rep in (r for r in reps if r.scenario == k):
            kt = rep.kpis["transport"]
            rows.append(
                {
                    "seed": rep.seed,
                    "mean_wait_min": _min(kt["wait_h"]["mean"]),
                    "p95_wait_min": _min(kt["wait_h"]["p95"]),
                    "served": kt["served"],
                    "distance_km": kt["distance_m"] / 1000.0,
                }
            )
        out["rules"][rule] = {
            "runs": rows,
            "mean_wait_min": float(np.mean([r["mean_wait_min"] for r in rows])),
            "p95_wait_min": float(np.mean([r["p95_wait_min"] for r in rows])),
        }
    return out
