"""A process-plant scenario as an STN: `stn_from_scenario(scenario, horizon) -> StnData`.

The scenario's ``process`` section (``twin.scenario.process``) maps onto the STN one to one:
materials are states (``unlimited``/``finite`` storage a tank, ``none`` NIS, ``zero_wait`` ZW;
``value`` the price), tasks keep their input fractions and their outputs at the offsets the twin
uses for a batch of the unit's largest size (`twin.process.model.output_offsets`: the rule lives
once), each (unit, task) pair is a unit-task with the batch range, utility uses, cleaning (its
mean duration), demands (soft at their penalty, or hard) and receipts within the horizon. A
declared yield below 1 sends the rest to a state ``waste`` (no tank limit, no value), since the
STN balances each batch exactly. `plan_process` solves it (`optimizer.stn.solve`) and shapes the
plan file ``twin run --plan`` follows.

What the STN does not model (documented in docs/process_plants.md): hold-time limits (the twin
discards expired material), utilities used by cleaning (CIP), breakdowns and variable durations
(the plan uses means; the twin draws them), batch-size-dependent durations beyond the largest
batch (a smaller batch is planned as long as the largest).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from optimizer.stn_data import (
    Arc,
    Cleaning,
    Demand,
    Grid,
    OutputArc,
    Receipt,
    State,
    StnData,
    UnitTask,
    Utility,
    UtilityUse,
)

__all__ = ["PROCESS_PLAN_KIND", "WASTE_STATE", "plan_process", "stn_from_scenario"]

PROCESS_PLAN_KIND = "pharmatwin process plan"
"""``kind`` of the plan file (twin.cli.process mirrors it)."""
WASTE_STATE = "waste"
"""The state yield losses go to (a name no material may take when some task loses yield)."""
_POLICY = {"unlimited": "store", "finite": "store", "none": "none", "zero_wait": "zero_wait"}


def stn_from_scenario(sc: Any, horizon: float | None = None) -> StnData:
    """The STN of a process plant over [0, horizon] (the scenario's horizon by default),
    on the grid of ``process.time_step`` (the horizon is cut to whole steps)."""
    from twin.process.model import compile_plant, nominal_duration, output_offsets

    if sc.process is None:
        raise ValueError(f"scenario {sc.name!r} has no process section to plan")
    model = compile_plant(sc)
    step = model.time_step
    stop_h = min(horizon if horizon is not None else model.horizon, model.horizon)
    periods = int(math.floor(stop_h / step + 1e-9))
    if periods < 1:
        raise ValueError(f"a horizon of at least one time step ({step:g} h); got {stop_h:g} h")
    grid = Grid(0.0, periods * step, step)
    states = [
        State(
            m.name,
            m.capacity if m.storage == "finite" else None,
            m.initial,
            m.value,
            _POLICY[m.storage],  # type: ignore[arg-type]
        )
        for m in model.materials.values()
    ]
    lossy = any(t.yield_ < 1.0 - 1e-12 for t in model.tasks.values())
    if lossy:
        if WASTE_STATE in model.materials:
            raise ValueError(f"a material named {WASTE_STATE!r} clashes with the STN's loss state")
        states.append(State(WASTE_STATE, None, 0.0, 0.0, "store"))
    inputs, outputs, unit_tasks, uses, cleanings = [], [], [], [], []
    for t in model.tasks.values():
        inputs += [Arc(m, t.name, f) for m, f in t.inputs]
        # the task's duration on the grid: its longest batch on its slowest unit
        unit, _, size = max(t.ranges, key=lambda r: nominal_duration(t, r[2]))
        length = nominal_duration(t, size)
        for m, amount, offset in output_offsets(t, size, length):
            outputs.append(OutputArc(t.name, m, amount / size, max(offset, 1e-6)))
        if lossy and t.yield_ < 1.0 - 1e-12:
            outputs.append(OutputArc(t.name, WASTE_STATE, 1.0 - t.yield_, max(length, 1e-6)))
        for u, lo, hi in t.ranges:
            unit_tasks.append(UnitTask(u, t.name, lo, hi))
            uses += [UtilityUse(u, t.name, name, fx, per) for name, fx, per in t.utilities]
            if t.cleaning is not None and t.cleaning.mean > 0:
                cleanings.append(Cleaning(u, t.name, t.cleaning.mean))
    demands = tuple(
        Demand(d.material, d.due, d.amount, None if d.hard else d.penalty)
        for d in model.demands
        if d.due <= grid.stop + 1e-9
    )
    receipts = tuple(
        Receipt(r.material, r.at, r.amount) for r in model.receipts if r.at < grid.stop - 1e-9
    )
    return StnData(
        name=sc.name,
        states=tuple(states),
        inputs=tuple(inputs),
        outputs=tuple(outputs),
        unit_tasks=tuple(unit_tasks),
        grid=grid,
        utilities=tuple(Utility(u, cap) for u, cap in model.utilities.items()),
        utility_uses=tuple(uses),
        cleanings=tuple(cleanings),
        demands=demands,
        receipts=receipts,
    )


def plan_process(
    path: str | Path,
    horizon: float | None = None,
    time_limit: float | None = 120.0,
    solver: str = "appsi_highs",
    threads: int = 1,
    mip_gap: float | None = None,
    mode: str = "auto",
    seed: int = 0,
) -> dict[str, Any]:
    """Plan a process-plant scenario file: its STN solved, as the JSON-ready plan file
    (``kind``, ``scenario``, ``time_step``, ``horizon_hours`` and the solve's report:
    objective, status, bound, seconds, gap, schedule, stock, ...). Raises ScenarioError for a
    bad scenario and ValueError for one without a process section."""
    from optimizer.solvers import SolverOptions
    from optimizer.stn import solve
    from twin.scenario import load

    sc = load(path)
    data = stn_from_scenario(sc, horizon)
    options = SolverOptions(
        name=solver, time_limit=time_limit, mip_gap=mip_gap, threads=threads, seed=seed
    )
    result = solve(data, options, mode=mode).to_dict()  # type: ignore[arg-type]
    return {
        "kind": PROCESS_PLAN_KIND,
        "scenario": sc.name,
        "path": str(path),
        "time_step": data.grid.step,
        "horizon_hours": data.grid.stop,
        "size": {
            "states": len(data.states),
            "tasks": len(data.tasks),
            "units": len(data.units),
            "periods": data.grid.periods,
        },
        **result,
    }
