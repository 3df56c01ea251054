"""A process plant compiled from its scenario, and the rules both the twin and the planner use.

`compile_plant(scenario)` turns the ``process`` section into frozen look-up tables; the rules
(`nominal_duration`, `output_offsets`, `utility_need`, `batch_limit`) are pure functions, so
the STN the planner builds (`optimizer.stn_scenario`) and the twin that runs the plant agree on
what a batch of a given size takes, gives and needs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from twin.scenario.process import batch_range, task_units

if TYPE_CHECKING:
    from twin.scenario import Scenario
    from twin.scenario.process import ProcessDemand, ProcessReceipt
    from twin.scenario.schema import Failures
    from twin.units import Distribution

__all__ = [
    "EPS",
    "MaterialModel",
    "PlantModel",
    "TaskModel",
    "batch_limit",
    "compile_plant",
    "nominal_duration",
    "output_offsets",
    "utility_need",
]

EPS = 1e-9
"""Amounts below this are nothing (rounding of fractions)."""


@dataclass(frozen=True)
class MaterialModel:
    name: str
    storage: str  # unlimited | finite | none | zero_wait
    capacity: float  # math.inf unless finite
    initial: float
    value: float
    max_hold: float | None

    @property
    def has_tank(self) -> bool:
        return self.storage in ("unlimited", "finite")


@dataclass(frozen=True)
class TaskModel:
    name: str
    units: tuple[str, ...]
    ranges: tuple[tuple[str, float, float], ...]  # (unit, min, max)
    duration: Distribution
    per_size: float
    inputs: tuple[tuple[str, float], ...]
    outputs: tuple[tuple[str, float, float | None], ...]  # (material, fraction, at)
    yield_: float
    utilities: tuple[tuple[str, float, float], ...]  # (utility, fixed, per_size)
    cleaning: Distribution | None
    cleaning_utilities: tuple[tuple[str, float], ...]
    priority: int
    rank: int  # dispatch order: higher priority first, then downstream first

    def range_on(self, unit: str) -> tuple[float, float]:
        for u, lo, hi in self.ranges:
            if u == unit:
                return lo, hi
        raise KeyError(unit)


@dataclass(frozen=True)
class PlantModel:
    materials: dict[str, MaterialModel]
    tasks: dict[str, TaskModel]
    utilities: dict[str, float]  # capacity
    units: tuple[tuple[str, str, str | None], ...]  # (unit, class, room)
    failures: dict[str, Failures]  # unit -> its class's failures (only units that have them)
    horizon: float
    time_step: float
    demands: tuple[ProcessDemand, ...] = ()
    receipts: tuple[ProcessReceipt, ...] = ()

    def dispatch_order(self) -> list[TaskModel]:
        return sorted(self.tasks.values(), key=lambda t: t.rank)


def nominal_duration(task: TaskModel, size: float) -> float:
    """How long a batch of `size` keeps its unit when nothing varies: the mean of the fixed
    part plus `per_size * size`."""
    return task.duration.mean + task.per_size * size


def output_offsets(task: TaskModel, size: float, duration: float) -> list[tuple[str, float, float]]:
    """(material, amount, offset from the start) of each output of a batch of `size` that
    takes `duration`: an output `at` a nominal offset comes at `at * duration / nominal`, one
    without at the end; in the order they come (ties in declaration order)."""
    nominal = nominal_duration(task, size)
    scale = duration / nominal if nominal > 0 else 1.0
    out = [
        (m, f * size, duration if at is None else min(duration, at * scale))
        for m, f, at in task.outputs
    ]
    return sorted(out, key=lambda x: x[2])


def utility_need(task: TaskModel, size: float) -> dict[str, float]:
    """What a running batch of `size` uses of each utility."""
    return {u: fixed + per * size for u, fixed, per in task.utilities}


def batch_limit(
    task: TaskModel,
    unit: str,
    available: dict[str, float],
    space: dict[str, float],
) -> float:
    """The largest batch of `task` on `unit` that the material in hand and the room in the
    output tanks allow (`available`, `space` per material), within the unit's maximum; 0 when
    that is below the unit's minimum. The twin's dispatching rule."""
    lo, hi = task.range_on(unit)
    size = hi
    for m, f in task.inputs:
        size = min(size, available.get(m, 0.0) / f)
    for m, f, _ in task.outputs:
        size = min(size, space.get(m, math.inf) / f)
    if size <= EPS or size < lo - EPS:
        return 0.0
    return max(size, lo)


def compile_plant(sc: Scenario) -> PlantModel:
    """The process plant of a scenario (which must have a ``process`` section)."""
    p = sc.process
    if p is None:
        raise ValueError(f"scenario {sc.name!r} has no process section")
    materials = {
        name: MaterialModel(
            name,
            m.storage,
            m.capacity if m.storage == "finite" and m.capacity is not None else math.inf,
            m.initial,
            m.value,
            m.max_hold,
        )
        for name, m in p.materials.items()
    }
    depth = _depths(p)
    tasks = {}
    for i, (name, t) in enumerate(p.tasks.items()):
        units = tuple(task_units(sc, t))
        ranges = tuple((u, *batch_range(sc, t, u)) for u in units)  # type: ignore[misc]
        tasks[name] = TaskModel(
            name=name,
            units=units,
            ranges=ranges,
            duration=t.duration,
            per_size=t.per_size,
            inputs=tuple(t.inputs.items()),
            outputs=tuple((o.material, o.fraction, o.at) for o in t.outputs),
            yield_=t.yield_,
            utilities=tuple((u, n.fixed, n.per_size) for u, n in t.utilities.items()),
            cleaning=t.cleaning.duration if t.cleaning is not None else None,
            cleaning_utilities=tuple(
                (u, n.fixed) for u, n in (t.cleaning.utilities.items() if t.cleaning else ())
            ),
            priority=t.priority,
            rank=0,
        )
        tasks[name] = _with_rank(tasks[name], (-t.priority, -depth[name], i))
    units = []
    failures = {}
    for unit, spec_id in sc.unit_names():
        spec = sc.units[spec_id]
        cls = sc.equipment_classes[spec.equipment_class]
        units.append((unit, spec.equipment_class, spec.room))
        if cls.failures is not None:
            failures[unit] = cls.failures
    order = sorted(tasks.values(), key=lambda t: t.rank)  # type: ignore[arg-type,return-value]
    tasks = {t.name: _with_rank(t, k) for k, t in enumerate(order)}
    return PlantModel(
        materials=materials,
        tasks=tasks,
        utilities={u: x.capacity for u, x in p.utilities.items()},
        units=tuple(units),
        failures=failures,
        horizon=sc.simulation.horizon,
        time_step=p.time_step,
        demands=p.demands,
        receipts=p.receipts,
    )


def _with_rank(t: TaskModel, rank: object) -> TaskModel:
    import dataclasses

    return dataclasses.replace(t, rank=rank)  # type: ignore[arg-type]


def _depths(p) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """How many tasks lie upstream of each task (its longest chain of producers): the
    dispatcher serves downstream tasks first, so material is pulled through the plant."""
    makers: dict[str, list[str]] = {}
    for name, t in p.tasks.items():
        for o in t.outputs:
            makers.setdefault(o.material, []).append(name)
    depth: dict[str, int] = {}

    def visit(name: str, seen: frozenset[str]) -> int:
        if name in depth:
            return depth[name]
        best = 0
        for m in p.tasks[name].inputs:
            for up in makers.get(m, []):
                if up not in seen:
                    best = max(best, 1 + visit(up, seen | {name}))
        depth[name] = best
        return best

    for name in p.tasks:
        visit(name, frozenset())
    return depth
