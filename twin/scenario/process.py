"""The process-plant section of a scenario (``process:``): a state-task network in YAML.

A process plant (API synthesis, biologics) moves material between tanks and units rather than
discrete batches along a recipe. The section names

- ``materials`` (the *states*): storage policy (``unlimited``, ``finite`` with a ``capacity``,
  ``none``: no tank, the material waits in the unit that made it, ``zero_wait``: no tank and no
  waiting), initial stock, value per unit and a hold-time limit (``max_hold``) after which
  material is discarded;
- ``tasks``: which units run them and with what batch range, a duration fixed plus proportional
  to the batch size, fractional inputs drawn at the start and outputs each at its own offset
  (``at``), a declared ``yield`` (outputs sum to it; the rest is a logged loss), utility use and
  cleaning after each batch;
- ``utilities`` (CIP/SIP skids, WFI, steam): capacities shared by running tasks and cleanings;
- ``demands`` and ``receipts`` of materials over time.

Units and their failures come from the scenario's ``equipment_classes`` and ``units`` as for
every plant; ``check_process`` checks cross-references and the mass balance of every task, each
problem one ``ScenarioError`` naming the path (``process.tasks.react_1.outputs[0].fraction``).
"""

from __future__ import annotations

import math
import typing
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator

from twin.schema_base import Float, Int, Model
from twin.units import Distribution, Duration, Fixed

if typing.TYPE_CHECKING:
    from twin.scenario.schema import Scenario

__all__ = [
    "FRACTION_TOLERANCE",
    "ProcessDemand",
    "ProcessMaterial",
    "ProcessReceipt",
    "ProcessSpec",
    "ProcessTask",
    "ProcessUtility",
    "TaskCleaning",
    "TaskOutput",
    "UtilityNeed",
    "check_process",
    "task_units",
]

FRACTION_TOLERANCE = 1e-5
"""How far the input fractions may sum from 1, and the outputs from the yield."""
MAX_AMOUNT = 1e12
MAX_ROWS = 100_000
Amount = Annotated[Float, Field(ge=0, le=MAX_AMOUNT)]
Positive = Annotated[Float, Field(gt=0, le=MAX_AMOUNT)]
Fraction = Annotated[Float, Field(gt=0, le=1)]
StoragePolicy = Literal["unlimited", "finite", "none", "zero_wait"]
RESERVED_PLACES = ("supply", "customer", "waste")
"""Names the event log uses for the world outside the plant (``material_move``)."""


class ProcessMaterial(Model):
    """A material (an STN state) and how it is stored."""

    description: str = ""
    storage: StoragePolicy = "unlimited"
    capacity: Positive | None = None
    initial: Amount = 0.0
    value: Annotated[Float, Field(ge=-1e9, le=1e9)] = 0.0
    max_hold: Duration | None = None


class TaskOutput(Model):
    """``fraction`` of the batch goes to ``material`` ``at`` after the start (default: the end).

    With variable durations the offset is scaled by the batch's actual over nominal duration,
    so an output due at the end stays at the end."""

    material: str
    fraction: Fraction
    at: Duration | None = None


class UtilityNeed(Model):
    """``fixed + per_size * B`` of a utility while the task (or cleaning) runs."""

    fixed: Amount = 0.0
    per_size: Amount = 0.0


def _need(value: Any) -> Any:
    """``steam: 2`` is short for ``steam: {fixed: 2}``."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return {"fixed": value}
    return value


class TaskCleaning(Model):
    """What a unit needs after each batch of the task before it runs anything else."""

    duration: Distribution = Fixed(value=0.0)
    utilities: dict[str, UtilityNeed] = Field(default_factory=dict)

    @field_validator("utilities", mode="before")
    @classmethod
    def _short(cls, v: Any) -> Any:
        return {k: _need(x) for k, x in v.items()} if isinstance(v, dict) else v


class BatchRange(Model):
    min: Amount = 0.0
    max: Positive


class ProcessTask(Model):
    """A task: units, batch range, duration ``duration + per_size * B``, inputs and outputs."""

    description: str = ""
    units: tuple[str, ...] = Field(min_length=1)
    batch: BatchRange | None = None
    duration: Distribution
    per_size: Duration = 0.0
    inputs: dict[str, Fraction] = Field(default_factory=dict)
    outputs: tuple[TaskOutput, ...] = Field(min_length=1)
    yield_: Annotated[Float, Field(gt=0, le=1, alias="yield")] = 1.0
    utilities: dict[str, UtilityNeed] = Field(default_factory=dict)
    cleaning: TaskCleaning | None = None
    priority: Annotated[Int, Field(ge=-9999, le=9999)] = 0

    @field_validator("utilities", mode="before")
    @classmethod
    def _short(cls, v: Any) -> Any:
        return {k: _need(x) for k, x in v.items()} if isinstance(v, dict) else v


class ProcessUtility(Model):
    """A shared resource with ``capacity`` in use at any time (skids: 1 per skid)."""

    description: str = ""
    capacity: Positive


class ProcessDemand(Model):
    """``amount`` of ``material`` ships at ``due`` (what the tank holds, up to the amount);
    a plan counts a shortfall at ``penalty`` per unit, or must meet it when ``hard``."""

    id: str
    material: str
    amount: Positive
    due: Duration
    penalty: Annotated[Float, Field(ge=0, le=1e9)] = 0.0
    hard: bool = False


class ProcessReceipt(Model):
    """``amount`` of ``material`` arrives at ``at``."""

    material: str
    amount: Positive
    at: Duration


class ProcessSpec(Model):
    """The ``process:`` section of a scenario."""

    time_step: Duration = 1.0
    materials: dict[str, ProcessMaterial] = Field(min_length=1)
    tasks: dict[str, ProcessTask] = Field(min_length=1)
    utilities: dict[str, ProcessUtility] = Field(default_factory=dict)
    demands: tuple[ProcessDemand, ...] = Field(default=(), max_length=MAX_ROWS)
    receipts: tuple[ProcessReceipt, ...] = Field(default=(), max_length=MAX_ROWS)

    @field_validator("time_step")
    @classmethod
    def _step(cls, v: float) -> float:
        if v < 1 / 60:
            raise ValueError(f"expected a time step of at least 1min, got {v}h")
        return v


def task_units(sc: Scenario, task: ProcessTask) -> list[str]:
    """The physical units a task may run on: unit names, a unit spec id standing for all its
    units (``R`` with count 2 is ``R`` and ``R#2``), in the order given, without repeats."""
    names = sc.unit_names()
    by_spec: dict[str, list[str]] = {}
    for unit, spec in names:
        by_spec.setdefault(spec, []).append(unit)
    physical = {u for u, _ in names}
    out: list[str] = []
    for ref in task.units:
        for u in by_spec.get(ref, [ref] if ref in physical else []):
            if u not in out:
                out.append(u)
    return out


def batch_range(sc: Scenario, task: ProcessTask, unit: str) -> tuple[float, float] | None:
    """(min, max) batch size of ``task`` on ``unit``: the task's ``batch``, else the unit's
    class capacity; None when neither is given."""
    if task.batch is not None:
        return task.batch.min, task.batch.max
    spec = dict(sc.unit_names())[unit]
    cap = sc.equipment_classes[sc.units[spec].equipment_class].capacity
    return (cap.min, cap.max) if cap is not None else None


def check_process(sc: Scenario, source: str) -> None:
    """Cross-references, storage and mass balance of the ``process`` section (ScenarioError)."""
    from twin.scenario.errors import ScenarioError

    p = sc.process
    if p is None:
        return

    def fail(path: str, value: Any, expected: str) -> typing.NoReturn:
        raise ScenarioError(source, "process." + path, value, expected)

    def one_of(names: typing.Iterable[str]) -> str:
        names = sorted(names)
        return "expected one of: " + ", ".join(names) if names else "none are defined"

    physical = [u for u, _ in sc.unit_names()]
    for u in physical:
        if u in RESERVED_PLACES:
            fail(
                "tasks",
                u,
                f"unit names other than {', '.join(RESERVED_PLACES)} (the log uses them)",
            )
    for name, m in p.materials.items():
        base = f"materials.{name}"
        if m.storage == "finite" and m.capacity is None:
            fail(f"{base}.capacity", None, "a tank capacity for storage: finite")
        if m.storage != "finite" and m.capacity is not None:
            fail(
                f"{base}.capacity",
                m.capacity,
                f"no capacity for storage: {m.storage} (use storage: finite for a tank of a size)",
            )
        if m.storage in ("none", "zero_wait") and m.initial > 0:
            fail(f"{base}.initial", m.initial, f"0: storage {m.storage} has no tank to hold stock")
        if m.capacity is not None and m.initial > m.capacity:
            fail(f"{base}.initial", m.initial, f"at most the tank capacity {m.capacity:g}")
        if m.max_hold is not None and m.max_hold <= 0:
            fail(f"{base}.max_hold", m.max_hold, "a hold-time limit > 0")

    made: set[str] = set()
    used: set[str] = set()
    for tname, t in p.tasks.items():
        base = f"tasks.{tname}"
        for i, ref in enumerate(t.units):
            if not task_units(sc, t.model_copy(update={"units": (ref,)})):
                fail(f"{base}.units[{i}]", ref, f"a unit or unit id; {one_of(sc.units)}")
        for unit in task_units(sc, t):
            rng = batch_range(sc, t, unit)
            if rng is None:
                fail(
                    f"{base}.batch",
                    None,
                    f"a batch range {{min, max}} (unit {unit!r} has no class capacity to use)",
                )
            if rng[0] > rng[1]:
                fail(f"{base}.batch.min", rng[0], f"at most the batch max {rng[1]:g}")
        for mat in t.inputs:
            if mat not in p.materials:
                fail(f"{base}.inputs.{mat}", mat, f"a material; {one_of(p.materials)}")
            used.add(mat)
        if not t.inputs:
            fail(
                f"{base}.inputs",
                {},
                "at least one input (mass comes from somewhere: a raw material with initial "
                "stock or receipts)",
            )
        if t.inputs:
            total = sum(t.inputs.values())
            if abs(total - 1.0) > FRACTION_TOLERANCE:
                first = next(iter(t.inputs))
                fail(
                    f"{base}.inputs.{first}",
                    t.inputs[first],
                    f"input fractions summing to 1 (they sum to {total:.6g}: "
                    f"{', '.join(f'{k} {v:g}' for k, v in t.inputs.items())})",
                )
        seen: set[str] = set()
        mean = t.duration.mean
        for i, out in enumerate(t.outputs):
            if out.material not in p.materials:
                fail(
                    f"{base}.outputs[{i}].material",
                    out.material,
                    f"a material; {one_of(p.materials)}",
                )
            if out.material in seen:
                fail(f"{base}.outputs[{i}].material", out.material, "each material output once")
            if out.material in t.inputs:
                fail(
                    f"{base}.outputs[{i}].material",
                    out.material,
                    "a material the task does not also draw (a task turns inputs into others)",
                )
            seen.add(out.material)
            made.add(out.material)
            if out.at is not None and out.at > mean + 1e-9:
                fail(
                    f"{base}.outputs[{i}].at",
                    out.at,
                    f"an offset within the task's duration ({mean:g} h, the mean of its fixed "
                    "part; an output at the end needs no offset)",
                )
        total = sum(o.fraction for o in t.outputs)
        if abs(total - t.yield_) > FRACTION_TOLERANCE:
            last = len(t.outputs) - 1
            fail(
                f"{base}.outputs[{last}].fraction",
                t.outputs[last].fraction,
                f"output fractions summing to the yield {t.yield_:g} (they sum to {total:.6g}; "
                "declare yield: <sum> when the rest is a loss)",
            )
        if mean + t.per_size <= 0:
            fail(f"{base}.duration", mean, "a duration > 0")
        needs = list(t.utilities.items())
        if t.cleaning is not None:
            needs += [(f"cleaning.{k}", v) for k, v in t.cleaning.utilities.items()]
        for key, need in needs:
            name = key.removeprefix("cleaning.")
            path = f"{base}.{'cleaning.' if key != name else ''}utilities.{name}"
            if name not in p.utilities:
                fail(path, name, f"a utility; {one_of(p.utilities)}")
            cap = p.utilities[name].capacity
            biggest = max((batch_range(sc, t, u) or (0.0, 0.0))[1] for u in task_units(sc, t))
            peak = need.fixed + (need.per_size * biggest if key == name else 0.0)
            if peak > cap + 1e-9:
                fail(
                    path,
                    peak,
                    f"a use within the utility's capacity {cap:g} (a batch of {biggest:g} "
                    "could never get it)",
                )
    for name, m in p.materials.items():
        if m.storage == "zero_wait" and name not in used:
            fail(f"materials.{name}.storage", m.storage, "a material some task draws (zero_wait)")
    for i, d in enumerate(p.demands):
        if d.material not in p.materials:
            fail(f"demands[{i}].material", d.material, f"a material; {one_of(p.materials)}")
        if p.materials[d.material].storage in ("none", "zero_wait"):
            fail(f"demands[{i}].material", d.material, "a material with a tank to ship from")
        if d.due > sc.simulation.horizon:
            fail(f"demands[{i}].due", d.due, f"within the horizon ({sc.simulation.horizon:g} h)")
    ids = [d.id for d in p.demands]
    for i, d in enumerate(p.demands):
        if ids.index(d.id) != i:
            fail(f"demands[{i}].id", d.id, "a demand id used once")
    for i, r in enumerate(p.receipts):
        if r.material not in p.materials:
            fail(f"receipts[{i}].material", r.material, f"a material; {one_of(p.materials)}")
        if p.materials[r.material].storage in ("none", "zero_wait"):
            fail(f"receipts[{i}].material", r.material, "a material with a tank to receive into")
    if not math.isfinite(p.time_step) or p.time_step > sc.simulation.horizon:
        fail("time_step", p.time_step, f"at most the horizon ({sc.simulation.horizon:g} h)")
