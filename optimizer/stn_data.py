"""State-task networks (STN): the immutable data a batch plant is scheduled from.

`StnData` holds a plant as Kondili, Pantelides and Sargent (1993) describe it: materials
(*states*) in storage, *tasks* that draw fractions of a batch from states at their start and
deliver fractions to states at given offsets, *units* that run tasks with batch-size limits and
costs, and a discrete time grid. Beyond the public JSON format (`optimizer.formats.stn`) it
holds what a real plant adds: shared utilities, cleaning and changeovers on units, storage
policies, time-indexed receipts and demands, and the state of a running plant to re-plan from.

The fields mirror the JSON form one to one (`inputs` is `st_arcs`, `outputs` is `ts_arcs`,
`unit_tasks` is `units`, `final_min` is `extra`, ...), so `StnData` validates everything once,
in `__post_init__`, and its `StnDataError` names the place as the JSON path (`units[3][2]`) that
the reader turns into a message about the file. Times and durations are in the unit of the grid
(hours, minutes, ...); tasks start on grid points.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "MAX_AMOUNT",
    "MAX_GRID_POINTS",
    "MAX_MONEY",
    "MAX_ROWS",
    "MAX_TIME",
    "Arc",
    "BatchInProgress",
    "Changeover",
    "Cleaning",
    "Demand",
    "Grid",
    "OutputArc",
    "Receipt",
    "Reference",
    "State",
    "StnData",
    "StnDataError",
    "StoragePolicy",
    "UnitInit",
    "UnitTask",
    "Utility",
    "UtilityUse",
    "grid_index",
]

MAX_GRID_POINTS = 100_000
"""Periods in one grid; the rolling horizon keeps each model far smaller than this."""
MAX_ROWS = 100_000
"""Entries in any one list (arcs, unit-task pairs, changeovers, demands ...)."""
MAX_NAMES = 2_000
"""States, tasks, units or utilities (each)."""
MAX_AMOUNT = 1e9
"""Largest amount of material (capacity, stock, batch size, demand)."""
MAX_MONEY = 1e9
"""Largest absolute price, cost or penalty per unit."""
MAX_TIME = 1e9
"""Largest absolute time or duration."""
FRACTION_TOLERANCE = 1e-5
"""How far the fractions of one task side may sum from 1 (rounded file values like 0.33333)."""
GRID_TOLERANCE = 1e-9
"""Relative tolerance when deciding that a time lies on the grid."""

StoragePolicy = Literal["store", "none", "zero_wait"]
"""`store`: a tank of `capacity` (None: unlimited, UIS; a number: FIS). `none` (NIS): no tank,
material waits in the unit that made it, keeping that unit busy. `zero_wait` (ZW): no tank and
no waiting: material is consumed at the grid point it appears."""


class StnDataError(ValueError):
    """A value of an STN that cannot be scheduled, with the JSON path of the place."""

    def __init__(self, where: str, message: str) -> None:
        self.where = where
        self.detail = message
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True)
class State:
    """A material and its storage. `initial` is the stock at the grid start; `price` values
    each unit left at the grid stop (negative: a cost of holding it)."""

    name: str
    capacity: float | None = None
    initial: float = 0.0
    price: float = 0.0
    policy: StoragePolicy = "store"

    @property
    def effective_capacity(self) -> float | None:
        """The stock the state may hold between tasks: None for unlimited."""
        return self.capacity if self.policy == "store" else 0.0


@dataclass(frozen=True)
class Arc:
    """`task` draws `fraction * B` from `state` at its start (one `st_arcs` row)."""

    state: str
    task: str
    fraction: float


@dataclass(frozen=True)
class OutputArc:
    """`task` delivers `fraction * B` to `state` `duration` after its start (`ts_arcs`)."""

    task: str
    state: str
    fraction: float
    duration: float


@dataclass(frozen=True)
class UnitTask:
    """`unit` can run `task` with a batch size in [bmin, bmax]; a start costs
    `fixed_cost + variable_cost * B` (one `units` row)."""

    unit: str
    task: str
    bmin: float
    bmax: float
    fixed_cost: float = 0.0
    variable_cost: float = 0.0


@dataclass(frozen=True)
class Grid:
    """Grid points `start, start + step, ..., stop`; every task finishes by `stop`."""

    start: float
    stop: float
    step: float

    @property
    def periods(self) -> int:
        return round((self.stop - self.start) / self.step)

    def time(self, k: int) -> float:
        """The time of grid point k (0 .. periods)."""
        return float(self.start + k * self.step)


@dataclass(frozen=True)
class Utility:
    """A shared resource (steam, cooling water, operators) with `capacity` in use at any time;
    `changes` are `(time, capacity)` steps from that time on (a shift pattern, a shutdown)."""

    name: str
    capacity: float
    changes: tuple[tuple[float, float], ...] = ()

    def capacity_between(self, t0: float, t1: float) -> float:
        """The smallest capacity over [t0, t1)."""
        level = self.capacity
        lowest = math.inf
        for when, cap in sorted(self.changes):
            if when <= t0:
                level = cap
            elif when < t1:
                lowest = min(lowest, level)
                level = cap
        return min(lowest, level)


@dataclass(frozen=True)
class UtilityUse:
    """While `unit` runs `task`, it uses `fixed + per_size * B` of `utility`."""

    unit: str
    task: str
    utility: str
    fixed: float = 0.0
    per_size: float = 0.0


@dataclass(frozen=True)
class Cleaning:
    """After every batch of `task`, `unit` needs `duration` before it runs anything else."""

    unit: str
    task: str
    duration: float


@dataclass(frozen=True)
class Changeover:
    """On `unit`, a batch of `to_task` starts at least `duration` after the end of a batch of
    `from_task` that ran just before it (cleaning between products)."""

    unit: str
    from_task: str
    to_task: str
    duration: float


@dataclass(frozen=True)
class Demand:
    """`amount` of `state` leaves the plant at `time` (at the last grid point at or before it).
    `penalty` None: it must be met; a number: any shortfall is allowed at that cost per unit."""

    state: str
    time: float
    amount: float
    penalty: float | None = None


@dataclass(frozen=True)
class Receipt:
    """`amount` of `state` arrives at `time` (usable from the first grid point at or after)."""

    state: str
    time: float
    amount: float


@dataclass(frozen=True)
class UnitInit:
    """A unit of a running plant: busy until `free_at`, after a batch of `last_task` (whose
    cleaning and changeovers still apply from `free_at`). `held` is material of NIS states it
    made and still holds, `(state, amount)`: it is released at `free_at` (usable from the first
    grid point at or after it), or held on in the unit."""

    unit: str
    free_at: float
    last_task: str | None = None
    held: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class BatchInProgress:
    """A batch started before the grid start and still running: it keeps its unit busy and
    delivers its outputs at `start + duration` of each output arc."""

    task: str
    unit: str
    start: float
    size: float


@dataclass(frozen=True)
class Reference:
    """A published optimum of the instance (metadata: it does not change the schedule)."""

    value: float
    sense: Literal["max", "min"] = "max"
    source: str = ""


@dataclass(frozen=True)
class StnData:
    """An STN scheduling problem; validated on construction (`StnDataError`).

    Objective (maximised): value of the final stock `sum price[s] * S[s, stop]`, plus the value
    of demands shipped (`price * shipped`), minus shortfall penalties, minus `fixed_cost` per
    batch and `variable_cost` per unit of batch size.
    """

    name: str
    states: tuple[State, ...]
    inputs: tuple[Arc, ...]
    outputs: tuple[OutputArc, ...]
    unit_tasks: tuple[UnitTask, ...]
    grid: Grid
    final_min: tuple[tuple[str, float], ...] = ()
    utilities: tuple[Utility, ...] = ()
    utility_uses: tuple[UtilityUse, ...] = ()
    cleanings: tuple[Cleaning, ...] = ()
    changeovers: tuple[Changeover, ...] = ()
    demands: tuple[Demand, ...] = ()
    receipts: tuple[Receipt, ...] = ()
    unit_init: tuple[UnitInit, ...] = ()
    in_progress: tuple[BatchInProgress, ...] = ()
    reference: Reference | None = None
    _index: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        from optimizer.stn_validate import validate

        validate(self)

    # ----------------------------------------------------------------------- look-ups
    @property
    def state_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.states)

    @property
    def tasks(self) -> tuple[str, ...]:
        """Task names in the order of first appearance in `unit_tasks`."""
        return tuple(dict.fromkeys(ut.task for ut in self.unit_tasks))

    @property
    def units(self) -> tuple[str, ...]:
        """Unit names in the order of first appearance in `unit_tasks`."""
        return tuple(dict.fromkeys(ut.unit for ut in self.unit_tasks))

    def state(self, name: str) -> State:
        return self._index["states"][name]

    def unit_task(self, unit: str, task: str) -> UnitTask:
        return self._index["unit_tasks"][unit, task]

    def task_inputs(self, task: str) -> tuple[Arc, ...]:
        return self._index["inputs"].get(task, ())

    def task_outputs(self, task: str) -> tuple[OutputArc, ...]:
        return self._index["outputs"].get(task, ())

    def duration(self, task: str) -> float:
        """How long a batch of `task` keeps its unit: its longest output offset."""
        return max(a.duration for a in self.task_outputs(task))

    def cleaning(self, unit: str, task: str) -> float:
        return self._index["cleanings"].get((unit, task), 0.0)

    def changeover(self, unit: str, from_task: str, to_task: str) -> float:
        return self._index["changeovers"].get((unit, from_task, to_task), 0.0)

    def replace(self, **changes) -> StnData:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)


def grid_index(grid: Grid, time: float, rounding: Literal["up", "down", "exact"]) -> int | None:
    """The grid point of `time`: the first at or after it (`up`), the last at or before it
    (`down`), or exactly on it (`exact`, None when `time` is off the grid). Times within
    `GRID_TOLERANCE` of a grid point count as on it. Not clipped to the grid."""
    x = (time - grid.start) / grid.step
    nearest = round(x)
    if abs(x - nearest) <= GRID_TOLERANCE * max(1.0, abs(x)):
        return nearest
    if rounding == "exact":
        return None
    return math.ceil(x) if rounding == "up" else math.floor(x)
