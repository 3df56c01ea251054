"""What the ``twin plan`` command and ``--plan auto`` / ``--replan-on`` call.

- ``plan_scenario(path, horizon_hours, ...) -> (Plan, report)``: plan the orders released
  before the horizon;
- ``scenario_for_horizon(scenario, horizon_hours, seed)``: the scenario the twin should run
  with that plan (those orders fixed, no order generator, so it stops when they are done);
- ``gantt_rows(plan, horizon)``: one row per unit for a summary table;
- ``ApsPlanner``: the re-planning protocol of ``twin.plan`` backed by the APS solver.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from optimizer.aps import ApsData, Objective, UnitStart, solve
from optimizer.aps_data import _Builder
from optimizer.solvers import DEFAULT_SOLVER, check_solver
from twin.plan import Plan, Snapshot
from twin.plant import PlannedOrder, generate_orders
from twin.scenario import Scenario, load, load_dict

__all__ = [
    "plan_scenario",
    "scenario_for_horizon",
    "gantt_rows",
    "ApsPlanner",
    "snapshot_data",
]


def scenario_for_horizon(scenario: Scenario, horizon_hours: float, seed: int = 0,
                         replication: int = 0) -> Scenario:
    """A copy whose orders are those the twin would release before ``horizon_hours`` (fixed
    and generated for ``seed``/``replication``), as fixed orders, without an order generator."""
    orders = [o for o in generate_orders(scenario, seed, replication) if o.release < horizon_hours]
    data = scenario.to_dict()
    data["orders"] = [
        {"id": o.id, "product": o.product, "quantity": o.quantity, "release": o.release,
         "due": max(o.due, o.release), "priority": o.priority}
        for o in orders
    ]
    data["order_generator"] = None
    data["start"] = scenario.start.isoformat()
    return load_dict(data, f"{scenario.name} (orders released before {horizon_hours:g} h)")


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
) -> tuple[Plan, dict[str, Any]]:
    """Plan the orders released before ``horizon_hours`` (all orders if None) of a scenario.

    Returns the plan (``Plan.save`` writes it) and a plain report: status, objective, bound,
    gap, seconds, tardiness per order, cleaning hours, makespan, per-stage details.
    Raises ``SolverUnavailableError`` (unknown/missing solver) and ``PlanInfeasibleError``.
    """
    check_solver(solver)
    sc = scenario_path if isinstance(scenario_path, Scenario) else load(scenario_path)
    if horizon_hours is None and sc.order_generator is not None:
        horizon_hours = sc.simulation.horizon
    data = ApsData.from_scenario(sc, seed=seed, horizon=horizon_hours, quantile=quantile,
                                 due_margin=due_margin, hold_slack=hold_slack)
    res = solve(data, objective=objective, time_limit=time_limit, solver=solver, seed=seed,
                threads=threads, mip_gap=mip_gap, hard_due=hard_due)
    report = res.report()
    report.update({"scenario": sc.name, "horizon_hours": horizon_hours, "seed": seed,
                   "orders": len(data.orders), "batches": len(data.batches),
                   "objective_spec": str(Objective.parse(objective)), "solver": solver})
    plan = Plan(res.plan.operations, res.plan.created_at,
                {**res.plan.meta, "scenario": sc.name, "horizon_hours": horizon_hours,
                 "seed": seed})
    return plan, report


def gantt_rows(plan: Plan, horizon: float | None = None) -> list[dict[str, Any]]:
    """Per unit: utilisation (processing hours / horizon), first start, last end, ops count."""
    by_unit = plan.by_unit()
    span = horizon if horizon else max(plan.makespan - plan.created_at, 1e-9)
    rows = []
    for unit in sorted(by_unit):
        ops = by_unit[unit]
        busy = sum(op.end - op.start for op in ops)
        rows.append({
            "unit": unit,
            "utilisation": busy / span if span > 0 else 0.0,
            "first_start": min(op.start for op in ops),
            "last_end": max(op.end for op in ops),
            "operations": len(ops),
        })
    return rows


def snapshot_data(scenario: Scenario, snapshot: Snapshot, orders: list[PlannedOrder],
                  staff: bool = True, qc_offset: bool = True,
                  pin_window: float = 0.0) -> ApsData:
    """The problem of the snapshot's remaining work: waiting batches from their next step,
    available at once if their previous step is done (else when it ends); units free from
    ``unit_free_at`` and dirty with their last product; running steps are not re-planned.
    Waiting steps the current plan started before ``now + pin_window`` keep their unit (the
    twin may have taken it already: a step counts as running only once processing starts)."""
    builder = _Builder(scenario, None, qc_offset, staff)
    by_id = {o.id: o for o in orders}
    now = snapshot.time
    running_end: dict[str, float] = {}
    for op in snapshot.running:
        running_end[op.key] = max(running_end.get(op.key, now), op.end)
    done_unit = {(op.key, op.step): op.unit for op in snapshot.done}
    # a waiting step whose planned start has passed may already hold its unit (being cleaned
    # or set up): keep it on that unit
    old_unit = {}
    if snapshot.current_plan is not None:
        old_unit = {(op.key, op.step): op.unit for op in snapshot.current_plan.operations
                    if op.start <= now + pin_window}
    unit_index = {u.name: i for i, u in enumerate(builder.units)}
    groups: dict[str, list[tuple[int, int, float, int, int]]] = {}
    held: set[int] = set()
    for key, step in sorted(snapshot.waiting):
        order, idx = key.rsplit("/", 1)
        o = by_id.get(order)
        if o is None or step >= len(scenario.products[o.product].recipe):
            continue
        hold = -1
        recipe = scenario.products[o.product].recipe
        if step > 0 and recipe[step - 1].transfer == "direct" and (key, step - 1) in done_unit:
            hold = unit_index[done_unit[(key, step - 1)]]  # still blocked by this batch
            held.add(hold)
        pin = unit_index.get(old_unit.get((key, step), ""), -1)
        groups.setdefault(order, []).append((int(idx), step, running_end.get(key, now), hold, pin))
    for key, end in running_end.items():  # batches whose running step is not their last
        order, idx = key.rsplit("/", 1)
        if any(g[0] == int(idx) for g in groups.get(order, [])):
            continue
        step = max(op.step for op in snapshot.running if op.key == key) + 1
        o = by_id.get(order)
        if o is not None and step < len(scenario.products[o.product].recipe):
            groups.setdefault(order, []).append((int(idx), step, end, -1, -1))
    for order, items in groups.items():
        o = by_id.get(order)
        if o is None:
            continue
        prod = scenario.products[o.product]
        n = max(1, math.ceil(o.quantity / prod.batch_size - 1e-9))
        for idx, step, ready, hold, pin in sorted(items):
            size = prod.batch_size if idx < n else o.quantity - (n - 1) * prod.batch_size
            builder.add_order(o, sizes=[size], first_index=idx, ready=[max(now, ready)],
                              first_step=[step], holds=[hold], pinned=[pin])
    # merge the per-batch pseudo orders of one order into one order for tardiness
    starts = {}
    last: dict[str, tuple[float, str]] = {}
    for op in (*snapshot.done, *snapshot.running):
        o = by_id.get(op.order)
        if o is not None and (op.unit not in last or op.end >= last[op.unit][0]):
            last[op.unit] = (op.end, o.product)
    for ui, u in enumerate(builder.units):
        free = snapshot.unit_free_at.get(u.name, now)
        if ui in held:
            # freed when the blocking batch's next step takes its unit, which the new plan
            # decides: plan it as free now (an infinite time broke the decoder's arithmetic);
            # FollowPlan only hands a unit work once it is really free
            free = now
        if u.name in last:
            starts[ui] = UnitStart(free=max(free, now), last_product=last[u.name][1],
                                   dirty=u.needs_cleaning, since=last[u.name][0])
        else:
            starts[ui] = UnitStart(free=max(free, now), since=0.0)
    data = builder.build(t0=now, starts=starts)
    return _merge_orders(data)


def _merge_orders(data: ApsData) -> ApsData:
    from dataclasses import replace

    from optimizer.aps_data import BatchData, OrderData

    merged: dict[str, OrderData] = {}
    index: dict[int, int] = {}
    for oi, o in enumerate(data.orders):
        if o.id in merged:
            prev = merged[o.id]
            merged[o.id] = replace(prev, batches=prev.batches + o.batches)
        else:
            merged[o.id] = o
        index[oi] = list(merged).index(o.id)
    orders = tuple(merged.values())
    batches = tuple(BatchData(b.key, index[b.order], b.product, b.size, b.ready, b.ops, b.holds)
                    for b in data.batches)
    return replace(data, orders=orders, batches=batches)


@dataclass
class ApsPlanner:
    """A ``twin.plan.Planner``: re-plans the snapshot's remaining work with the APS solver.

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
        Objective.parse(self.objective)
        if self.use_milp:
            check_solver(self.solver)
        self._orders: list[PlannedOrder] | None = None
        self.calls = 0

    def plan(self, scenario: Scenario, snapshot: Snapshot) -> Plan:
        if self._orders is None:
            self._orders = generate_orders(scenario, self.seed, self.replication)
        data = snapshot_data(scenario, snapshot, self._orders, pin_window=max(0.0, self.freeze))
        self.calls += 1
        if not data.ops:
            return Plan((), created_at=snapshot.time, meta={"planner": "aps"})
        res = solve(data, objective=self.objective, time_limit=self.time_limit,
                    solver=self.solver, seed=self.seed + self.calls, threads=self.threads,
                    use_milp=self.use_milp, max_iter=self.max_iter)
        return Plan(res.plan.operations, snapshot.time,
                    {"planner": "aps", "status": res.status, "objective": res.objective})
