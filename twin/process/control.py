"""Who decides what a process plant starts: the dispatching rule, or a plan (STN schedule).

A controller has `attach(plant)` (called once at the start) and `dispatch(plant)` (called
whenever something changed: a unit freed, material arrived, a utility released); it starts
batches with `plant.start(...)` and may set free units' states (``idle``, ``starved``,
``waiting_utility``) so that waiting shows in the log.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from twin.process.model import EPS, TaskModel, batch_limit, utility_need

if TYPE_CHECKING:
    from twin.process.plant import ProcessPlant

__all__ = ["Dispatcher", "FollowStnPlan", "PlannedBatch"]


class Dispatcher:
    """The twin's own rule: tasks in order (priority, then downstream first), each on its
    free units in the order listed, as large a batch as the material in hand and the room in
    the output tanks allow (`batch_limit`), when its utilities are free."""

    def attach(self, plant: ProcessPlant) -> None:
        self.order = plant.model.dispatch_order()

    def dispatch(self, plant: ProcessPlant) -> None:
        wanting: set[str] = set()
        for task in self.order:
            for unit in task.units:
                if not plant.units[unit].free:
                    continue
                size = _possible(plant, task, unit, task.range_on(unit)[1])
                if size <= 0:
                    continue
                if plant.utilities_free(utility_need(task, size)):
                    plant.start(task, unit, size)
                else:
                    wanting.add(unit)
        for name, u in plant.units.items():
            if u.free:
                plant.set_state(name, "waiting_utility" if name in wanting else "idle")


@dataclass(frozen=True)
class PlannedBatch:
    """One batch of a plan: `index` (its number in the log), task, unit, start (h), size."""

    index: int
    task: str
    unit: str
    start: float
    size: float


class FollowStnPlan:
    """Run the planned batches: each unit runs its batches in planned order, none before its
    planned start, with the planned size or less when material is short (never below the
    unit's minimum). A batch drawing ``zero_wait`` material may start up to one grid
    step early, when that material appears between grid points. A batch that still cannot
    start when the unit's next batch is due is skipped (a ``deviation`` ``plan_skipped``)."""

    def __init__(self, batches: Sequence[PlannedBatch], step: float) -> None:
        self.batches = tuple(sorted(batches, key=lambda b: (b.start, b.index)))
        self.step = step

    def attach(self, plant: ProcessPlant) -> None:
        self.queue: dict[str, list[PlannedBatch]] = {u: [] for u in plant.units}
        for b in self.batches:
            self.queue[b.unit].append(b)
            plant.emit("plan_task", unit=b.unit, batch=b.index, detail=b.task, value=b.start)
        self.zw = {
            name
            for name, t in plant.model.tasks.items()
            if any(plant.model.materials[m].storage == "zero_wait" for m, _ in t.inputs)
        }
        plant.env.process(self._alarms(plant))

    def _alarms(self, plant: ProcessPlant) -> Generator:
        for t in sorted({b.start for b in self.batches}):
            if t > plant.env.now:
                yield plant.env.timeout(t - plant.env.now)
            plant.wake()

    def dispatch(self, plant: ProcessPlant) -> None:
        now = plant.env.now
        for unit, queue in self.queue.items():
            u = plant.units[unit]
            if not u.free:
                continue
            state = "idle"
            while queue:
                b = queue[0]
                early = self.step if b.task in self.zw else 0.0
                if now < b.start - early - EPS:
                    state = "idle"
                    break
                task = plant.model.tasks[b.task]
                size = _possible(plant, task, unit, b.size, room=False)
                if early and now < b.start - EPS and size < b.size - EPS:
                    break  # early only for the whole batch
                if size > 0 and plant.utilities_free(utility_need(task, size)):
                    queue.pop(0)
                    plant.start(task, unit, size, batch=b.index)
                    state = ""
                    break
                if len(queue) > 1 and now >= queue[1].start - EPS and size <= 0:
                    queue.pop(0)
                    plant.emit(
                        "deviation", unit=unit, batch=b.index, state="plan_skipped",
                        value=now - b.start,
                    )  # fmt: skip
                    continue
                state = "starved" if size <= 0 else "waiting_utility"
                break
            if state:
                plant.set_state(unit, state)


def _possible(
    plant: ProcessPlant, task: TaskModel, unit: str, cap: float, room: bool = True
) -> float:
    """The largest batch up to `cap` the plant allows now (0: none within the unit's range):
    the material in hand, and with `room` the tank room not yet promised to batches running
    (a plan has its tank levels checked already: outputs that find a tank full wait in their
    unit until it has room)."""
    available = {m: plant.available(m) for m, _ in task.inputs}
    space = {m: plant.space(m) for m, _, _ in task.outputs} if room else {}
    size = batch_limit(task, unit, available, space)
    lo = task.range_on(unit)[0]
    size = min(size, cap)
    return size if size > EPS and size >= lo - EPS else 0.0
