"""What the ``twin plan`` command and ``--plan FILE|auto`` / ``--replan-on`` call; the CLI and
the dashboard share these, so a plan is made and wired into a run the same way everywhere.

- ``plan_scenario(path, horizon_hours, ...) -> (Plan, report)``: plan the orders released
  before the horizon; every plan passes the independent checker (``aps.check_plan``) before
  it is returned;
- ``scenario_for_horizon(scenario, horizon_hours, seed)``: the scenario the twin should run
  with that plan (those orders fixed, no order generator, so it stops when they are done);
- ``prepare_plan_run(scenario, seed, plan=...)``: the scenario and ``simulate()`` options of a
  run that follows a plan file, a ``Plan`` or a plan made now (``"auto"``), with re-planning;
- ``gantt_rows(plan, horizon)``: one row per unit for a summary table;
- ``ApsPlanner``: the re-planning protocol of ``twin.plan`` backed by the APS solver.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from optimizer.aps import ApsData, Objective, ProgressHook, check_plan, solve
from optimizer.aps_state import data_from_state
from optimizer.solvers import DEFAULT_SOLVER, check_solver
from twin.plan import (
    Plan,
    check_replanning,
    load_plan_any,
    scenario_fingerprint,
    validate_plan,
)
from twin.plant import PlannedOrder, generate_orders
from twin.scenario import Scenario, ScenarioError, load, load_dict
from twin.state import PlantState

__all__ = [
    "plan_scenario",
    "scenario_for_horizon",
    "scenario_for_plan",
    "prepare_plan_run",
    "PlanRun",
    "PlanCheckError",
    "gantt_rows",
    "ApsPlanner",
    "plan_from_state",
    "MAX_PLAN_OPERATIONS",
    "MAX_TIME_LIMIT_S",
    "MAX_REPLAN_TIME_LIMIT_S",
    "MAX_THREADS",
]

MAX_PLAN_OPERATIONS = 50_000
"""Operations (batch steps) in one plan: a longer horizon is planned in parts."""
MAX_TIME_LIMIT_S = 86_400.0
"""A planning solve runs at most a day."""
MAX_REPLAN_TIME_LIMIT_S = 600.0
"""A re-planning (or ``--plan auto``) solve inside a run takes at most ten minutes."""
MAX_THREADS = 256


class PlanCheckError(RuntimeError):
    """The solver produced a plan its independent checker rejects: a bug, never handed out."""


def _option(option: str, value: Any, expected: str) -> ScenarioError:
    return ScenarioError(option, "", value, expected)


def _finite(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def check_plan_options(
    time_limit: float,
    threads: int | None = 1,
    mip_gap: float | None = None,
    horizon_hours: float | None = None,
    max_time_limit: float = MAX_TIME_LIMIT_S,
    time_option: str = "--time-limit",
) -> None:
    """ScenarioError naming the option for a time limit that is not a finite number of
    seconds in (0, ``max_time_limit``], threads outside 1..``MAX_THREADS``, a MIP gap outside
    [0, 1) or a horizon that is not a finite number of hours > 0."""
    if not (_finite(time_limit) and 0 < time_limit <= max_time_limit):
        raise _option(
            time_option, time_limit, f"a finite number of seconds > 0 and <= {max_time_limit:,g}"
        )
    if threads is not None and not (
        isinstance(threads, int) and not isinstance(threads, bool) and 1 <= threads <= MAX_THREADS
    ):
        raise _option("--threads", threads, f"an integer from 1 to {MAX_THREADS}")
    if mip_gap is not None and not (_finite(mip_gap) and 0 <= mip_gap < 1):
        raise _option("--mip-gap", mip_gap, "a relative gap >= 0 and < 1, e.g. 0.01 for 1 %")
    if horizon_hours is not None and not (_finite(horizon_hours) and horizon_hours > 0):
        raise _option("--horizon", horizon_hours, "a duration > 0, e.g. 4w")


def parse_objective(spec: str | Objective) -> Objective:
    """``Objective.parse`` with its complaint as the ``--objective`` option's error."""
    try:
        return Objective.parse(spec)
    except ValueError as exc:
        raise _option("--objective", str(spec), str(exc)) from None


def scenario_for_horizon(
    scenario: Scenario, horizon_hours: float, seed: int = 0, replication: int = 0
) -> Scenario:
    """A copy whose orders are those the twin would release before ``horizon_hours`` (fixed
    and generated for ``seed``/``replication``), as fixed orders, without an order generator."""
    orders = [o for o in generate_orders(scenario, seed, replication) if o.release < horizon_hours]
    data = scenario.to_dict()
    data["orders"] = [
        {
            "id": o.id,
            "product": o.product,
            "quantity": o.quantity,
            "release": o.release,
            "due": max(o.due, o.release),
            "priority": o.priority,
        }
        for o in orders
    ]
    data["order_generator"] = None
    data["start"] = scenario.start.isoformat()
    return load_dict(data, f"{scenario.name} (orders released before {horizon_hours:g} h)")


def scenario_for_plan(scenario: Scenario, horizon_hours: float | None, seed: int = 0) -> Scenario:
    """The scenario a plan made for ``horizon_hours`` (None: all orders) and ``seed`` runs in:
    with a horizon or an order generator, the orders released before it (generated with the
    plan's seed), fixed; otherwise the scenario itself."""
    if horizon_hours is None and scenario.order_generator is None:
        return scenario
    return scenario_for_horizon(scenario, horizon_hours or scenario.simulation.horizon, seed)


def _operations(sc: Scenario, seed: int, horizon: float | None) -> int:
    """Batch steps of the orders released before ``horizon`` (what a plan would hold)."""
    n = 0
    for o in generate_orders(sc, seed, 0):
        if horizon is not None and o.release >= horizon:
            continue
        prod = sc.products[o.product]
        n += max(1, math.ceil(o.quantity / prod.batch_size - 1e-9)) * len(prod.recipe)
        if n > MAX_PLAN_OPERATIONS:
            break
    return n


def plan_scenario(
    scenario_path: str | Path | Scenario,
    horizon_hours: float | None = None,
    time_limit: float = 60.0,
    solver: str = DEFAULT_SOLVER,
    objective: str | Objective = "tardiness+0.1*makespan",
    seed: int = 0,
    threads: int | None = 1,
    mip_gap: float | None = None,
    hard_due: bool = False,
    quantile: float | None = None,
    due_margin: float = 0.0,
    hold_slack: float = 0.0,
    progress: ProgressHook | None = None,
) -> tuple[Plan, dict[str, Any]]:
    """Plan the orders released before ``horizon_hours`` (all orders if None) of a scenario.

    Returns the plan (``Plan.save`` writes it) and a plain report: status, objective, bound,
    gap, seconds, tardiness per order, cleaning hours, makespan, per-stage details. The plan's
    ``meta`` records the scenario, horizon, seed and the scenario's fingerprint (the twin
    refuses to run it in another plant). ``progress(stage, incumbent, bound, elapsed)`` is
    called as the solve goes (see ``aps.solve``).

    Raises ``ScenarioError`` for bad options (naming the command-line option), or a plan of
    more than ``MAX_PLAN_OPERATIONS`` operations; ``SolverUnavailableError`` (unknown/missing
    solver), ``PlanInfeasibleError``, and ``PlanCheckError`` if the plan fails its check.
    """
    check_plan_options(time_limit, threads, mip_gap, horizon_hours)
    obj = parse_objective(objective)
    check_solver(solver)
    sc = scenario_path if isinstance(scenario_path, Scenario) else load(scenario_path)
    if horizon_hours is None and sc.order_generator is not None:
        horizon_hours = sc.simulation.horizon
    n_ops = _operations(sc, seed, horizon_hours)
    if n_ops > MAX_PLAN_OPERATIONS:
        raise _option(
            "--horizon",
            f"{horizon_hours:g} h" if horizon_hours is not None else "all orders",
            f"a horizon whose orders make at most {MAX_PLAN_OPERATIONS:,} operations (batch "
            f"steps); scenario '{sc.name}' has more: plan a shorter horizon",
        )
    data = ApsData.from_scenario(
        sc,
        seed=seed,
        horizon=horizon_hours,
        quantile=quantile,
        due_margin=due_margin,
        hold_slack=hold_slack,
    )
    res = solve(
        data,
        objective=obj,
        time_limit=time_limit,
        solver=solver,
        seed=seed,
        threads=threads,
        mip_gap=mip_gap,
        hard_due=hard_due,
        progress=progress,
        initial=_rollouts(scenario_for_plan(sc, horizon_hours, seed)),
    )
    problems = check_plan(data, res.plan, holds=res.status != "infeasible")
    if problems:  # never hand out a plan the independent checker rejects: a bug, say so
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        raise PlanCheckError(
            f"internal error: the plan for '{sc.name}' failed its independent check: "
            + "; ".join(problems[:5])
            + more
            + ". No plan was written; please report this with the scenario."
        )
    report = res.report()
    report.update(
        {
            "scenario": sc.name,
            "horizon_hours": horizon_hours,
            "seed": seed,
            "orders": len(data.orders),
            "batches": len(data.batches),
            "objective_spec": str(obj),
            "solver": solver,
            "checked": True,
        }
    )
    meta = {
        **res.plan.meta,
        "scenario": sc.name,
        "horizon_hours": horizon_hours,
        "seed": seed,
        "scenario_fingerprint": scenario_fingerprint(scenario_for_plan(sc, horizon_hours, seed)),
    }
    plan = dataclasses.replace(res.plan, meta=meta)  # operations and activities
    return plan, report


@dataclass(frozen=True)
class PlanRun:
    """A run that follows a plan: the scenario to simulate (orders fixed where the plan needs
    it), the ``simulate()`` keyword arguments, warnings for the user (one line each), a label
    for the run store (``--plan plan.json``) and, for a plan made now, its planning report."""

    scenario: Scenario
    options: dict[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    label: str | None = None
    report: dict[str, Any] | None = None


def prepare_plan_run(
    scenario: Scenario,
    seed: int = 0,
    plan: str | Path | Plan | None = None,
    *,
    replan_on: tuple[str, ...] = (),
    replan_every: float | None = None,
    freeze: float = 0.0,
    time_limit: float = 10.0,
    early_start: bool = False,
    progress: ProgressHook | None = None,
    source: str | None = None,
) -> PlanRun:
    """How ``twin run --plan FILE|auto [--replan-on ...]`` runs ``scenario``.

    ``plan`` is a plan file, a ``Plan``, ``"auto"`` (plan the run's orders now, within
    ``time_limit`` seconds) or None (no plan: then no re-planning options either). A plan is
    checked against the scenario before anything runs (``twin.plan.validate_plan``: orders,
    batches, steps, unit classes, duplicates, the scenario it was made for). A plan names the
    orders it was made for, so a scenario that generates orders runs with those orders fixed
    (the ones released before the plan's horizon, generated with the plan's seed): every
    replication then executes the same orders, with its own durations, failures and rejects.
    Re-planning calls the APS inside the run at the events ``replan_on`` and every
    ``replan_every`` hours, with ``time_limit`` seconds a solve.

    Raises ScenarioError (naming the option or the plan file) for anything that cannot run.
    """
    check_replanning(replan_on, replan_every, freeze)
    check_plan_options(
        time_limit,
        max_time_limit=MAX_REPLAN_TIME_LIMIT_S,
        time_option="--replan-time-limit",
    )
    if plan is None:
        if replan_on or replan_every is not None or early_start:
            raise _option(
                "--replan-on/--replan-every/--early-start",
                "without a plan",
                "--plan FILE or --plan auto with them",
            )
        return PlanRun(scenario)
    sc = scenario
    report = None
    warnings: tuple[str, ...] = ()
    if isinstance(plan, str) and plan == "auto":
        if sc.order_generator is not None:
            sc = scenario_for_horizon(sc, sc.simulation.horizon, seed)
        check_replanning(replan_on, replan_every, freeze, sc.simulation.horizon)
        the_plan, report = plan_scenario(sc, None, time_limit, seed=seed, progress=progress)
        label = "--plan auto"
    else:
        if isinstance(plan, Plan):
            the_plan, label = plan, f"--plan {source or '<plan>'}"
        else:
            source = source or str(plan)
            # a table names orders and steps: it is read against the plant with its orders fixed
            fixed = scenario_for_plan(sc, None, seed) if _is_table(plan) else sc
            the_plan, label = load_plan_any(plan, fixed), f"--plan {source}"
        plan_seed = the_plan.meta.get("seed")
        sc = scenario_for_plan(
            sc, the_plan.meta.get("horizon_hours"), seed if plan_seed is None else plan_seed
        )
        check_replanning(replan_on, replan_every, freeze, sc.simulation.horizon)
        warnings = tuple(validate_plan(the_plan, sc, source or "<plan>"))
    options: dict[str, Any] = {"plan": the_plan, "early_start": early_start, "freeze": freeze}
    if replan_on or replan_every is not None:
        options.update(
            planner=ApsPlanner(time_limit=time_limit, seed=seed, freeze=freeze),
            replan_on=tuple(replan_on),
            replan_every=replan_every,
        )
    return PlanRun(sc, options, warnings, label, report)


def gantt_rows(plan: Plan, horizon: float | None = None) -> list[dict[str, Any]]:
    """Per unit: utilisation (processing hours / horizon), first start, last end, ops count."""
    by_unit = plan.by_unit()
    span = horizon if horizon else max(plan.makespan - plan.created_at, 1e-9)
    rows = []
    for unit in sorted(by_unit):
        ops = by_unit[unit]
        busy = sum(op.end - op.start for op in ops)
        rows.append(
            {
                "unit": unit,
                "utilisation": busy / span if span > 0 else 0.0,
                "first_start": min(op.start for op in ops),
                "last_end": max(op.end for op in ops),
                "operations": len(ops),
            }
        )
    return rows


@dataclass
class ApsPlanner:
    """A ``twin.follow_plan.Planner``: re-plans the snapshot's remaining work with the APS solver.

    ``seed``/``replication`` must match the run's when the scenario generates orders, so the
    planner knows the orders the twin released. ``freeze`` should match the run's frozen
    window: waiting steps the current plan starts within it keep their unit.
    """

    time_limit: float = 5.0
    objective: str | Objective = "tardiness+0.1*makespan"
    solver: str = DEFAULT_SOLVER
    seed: int = 0
    replication: int = 0
    use_milp: bool = False
    threads: int | None = 1
    max_iter: int | None = None
    freeze: float = 0.0

    def __post_init__(self) -> None:
        parse_objective(self.objective)
        check_plan_options(
            self.time_limit,
            self.threads,
            max_time_limit=MAX_REPLAN_TIME_LIMIT_S,
            time_option="--replan-time-limit",
        )
        if not (_finite(self.freeze) and self.freeze >= 0):
            raise _option("--freeze", self.freeze, "a duration >= 0")
        if self.use_milp:
            check_solver(self.solver)
        self._orders: list[PlannedOrder] | None = None
        self.calls = 0

    def plan(self, scenario: Scenario, state: PlantState, current: Plan | None = None) -> Plan:
        """A plan for the work left in ``state`` (the plant now: ``twin.state``)."""
        if self._orders is None:
            self._orders = generate_orders(scenario, self.seed, self.replication)
        data = data_from_state(scenario, state, orders=self._orders)
        self.calls += 1
        if not data.ops:
            return Plan((), created_at=state.time, meta={"planner": "aps"})
        initial = _rollouts(scenario, state)
        if current is not None:  # carrying on as planned is one of the candidates
            initial["current plan"] = _sequence(current)
        res = solve(
            data,
            objective=self.objective,
            time_limit=self.time_limit,
            solver=self.solver,
            seed=self.seed + self.calls,
            threads=self.threads,
            use_milp=self.use_milp,
            max_iter=self.max_iter,
            initial=initial,
        )
        return dataclasses.replace(
            res.plan,
            created_at=state.time,
            meta={"planner": "aps", "status": res.status, "objective": res.objective},
        )


def plan_from_state(
    scenario: Scenario,
    state: PlantState,
    horizon_h: float | None = None,
    time_limit: float = 30.0,
    objective: str | Objective = "tardiness+0.1*makespan",
    solver: str = DEFAULT_SOLVER,
    seed: int = 0,
    progress: ProgressHook | None = None,
) -> Plan:
    """A plan for the work left in ``state`` (batches on the floor and the orders released
    within ``horizon_h`` hours after it), checked independently before it is handed out."""
    check_plan_options(time_limit, 1, None, horizon_h)
    obj = parse_objective(objective)
    data = data_from_state(scenario, state, horizon_h, seed=seed)
    if not data.ops:
        return Plan((), created_at=state.time, meta={"planner": "aps", "from_state": state.time})
    res = solve(data, objective=obj, time_limit=time_limit, solver=solver, seed=seed,
                progress=progress, initial=_rollouts(scenario, state))  # fmt: skip
    problems = check_plan(data, res.plan, holds=res.status != "infeasible")
    if problems:
        raise PlanCheckError(
            f"internal error: the plan from the state of '{scenario.name}' failed its "
            f"independent check: {'; '.join(problems[:5])}. Please report this."
        )
    return dataclasses.replace(
        res.plan,
        created_at=state.time,
        meta={"planner": "aps", "from_state": state.time, "status": res.status,
              "objective": res.objective, "seed": seed},
    )  # fmt: skip


def _rollouts(scenario: Scenario, state: PlantState | None = None) -> dict[str, list]:
    """What each of the twin's dispatch rules would do from here (deterministic runs): the
    search starts from the best of them, so a plan is never worse than the plant without one
    (when durations are as expected)."""
    from twin.evaluate import rule_sequences
    from twin.lookahead import plain_rules

    return {f"twin {r}": seq for r, seq in rule_sequences(scenario, plain_rules(), state).items()}


def _sequence(plan: Plan) -> list[tuple[str, int]]:
    """A plan's operations as (batch key, step) in the order their units are claimed."""
    ops = sorted(plan.operations, key=lambda o: (o.start if o.claim is None else o.claim, o.unit))
    return [(f"{o.order}/{o.batch}", o.step) for o in ops]


def _is_table(path: Any) -> bool:
    return Path(str(path)).suffix.lower() in (".csv", ".xlsx")
