"""Executing plans in the twin: the FollowPlan dispatch policy and the re-planning protocol.

:class:`FollowPlan` runs every unit's operations in plan order. Planned times are processing
starts: a unit is claimed for its next operation the expected cleaning and setup time before
it, so processing never starts before the planned start (unless ``early_start``: then each
unit takes its planned operations in order as soon as the batch is there). Work the plan
does not know (replacement batches, orders released later) fills gaps: it may take a unit
only if the unit has no planned operation or the next one is due later than the estimated
end of the unplanned work. If the whole plant stands still while units wait for released
batches (a plan crossed by a re-plan or a scrap), the unit takes the planned work due first
after ``patience`` hours instead of deadlocking.

Re-planning: a :class:`Planner` receives the plant now (``Plant.state_now()``, the
``twin.state.PlantState`` that warm starts and forecasts use too) and returns a new plan for
the rest; operations inside the frozen window keep their place.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import TYPE_CHECKING, Any, Protocol

from twin.plan import Plan, PlannedActivity, PlannedOperation

if TYPE_CHECKING:
    from twin.dispatch import ClassQueue, Request
    from twin.equipment import Unit
    from twin.scenario import Scenario
    from twin.state import PlantState

__all__ = ["FollowPlan", "Planner", "Replanner", "emit_plan"]


# ---------------------------------------------------------------------------- policy
class FollowPlan:
    """Dispatch that executes a plan; see the module docstring."""

    def __init__(self, plan: Plan, early_start: bool = False, patience: float = 24.0) -> None:
        self.early_start = early_start
        self.patience = patience
        self.plant: Any = None
        self.overrides = 0
        self._last_start = 0.0
        self._assigned: set[tuple[str, int]] = set()  # (batch key, step) handed out; kept
        self._stuck: dict[str, tuple[str, int, float]] = {}  # unit -> (key, step, since)
        self._hold: dict[tuple[int, int], float] = {}  # (batch id, step) -> planned start
        self.set_plan(plan)

    def set_plan(self, plan: Plan) -> None:
        self.plan = plan
        self._queue_of: dict[str, list[PlannedOperation]] = plan.by_unit()
        self._planned = {(op.key, op.step) for op in plan.operations}
        self._pos: dict[str, int] = defaultdict(int)
        self._stuck.clear()
        acts: dict[tuple[str, str], list[PlannedActivity]] = defaultdict(list)
        for a in sorted(plan.activities, key=lambda a: (a.start, a.end)):
            acts[(a.unit, a.kind)].append(a)
        self._acts = dict(acts)
        self._act_pos: dict[tuple[str, str], int] = defaultdict(int)

    def taken(self, key: str, step: int) -> None:
        """Step ``step`` of batch ``key`` is under way or done outside the plan's hands (a
        batch carried over by a warm start): units skip it in their planned sequence."""
        self._assigned.add((key, step))

    # -------------------------------------------------------------- asked by batches and units
    def planned_start(self, batch: int, step: int) -> float | None:
        """The planned processing start of a step just handed out (None: not planned, or
        ``early_start``): the batch holds its claimed unit until then, less its setup."""
        return self._hold.pop((batch, step), None)

    def activity_start(self, unit: Unit, kind: str, now: float) -> float:
        """When a unit may start its own work of ``kind`` (maintenance, clean) that is due now:
        the start of the plan's next such activity on the unit, if it falls before the unit's
        next planned operation (so the staff it takes are those the plan booked for it); now
        otherwise (the plan did not foresee it: the unit acts at once)."""
        acts = self._acts.get((unit.name, kind))
        if not acts or self.early_start:
            return now
        i = self._act_pos[(unit.name, kind)]
        while i < len(acts) and acts[i].end < now - 1e-9:
            i += 1  # planned earlier and not needed then: passed
        self._act_pos[(unit.name, kind)] = i
        if i == len(acts):
            return now
        nxt = self._next_op(unit)
        gap_end = math.inf if nxt is None else (nxt.start if nxt.claim is None else nxt.claim)
        if acts[i].start > gap_end + 1e-9:
            return now
        self._act_pos[(unit.name, kind)] = i + 1
        return max(now, acts[i].start)

    def attach(self, plant: Any) -> None:
        from twin.eventlog import kind_code

        self.plant = plant
        self._last_start = 0.0
        plant.log.watch(kind_code("step_start"), self._started)

    def _started(self, _kind: int) -> None:
        self._last_start = self.plant.env.now

    def _key(self, req: Request) -> str:
        return self.plant.batch_keys[req.batch] if self.plant is not None else ""

    def _lead(self, unit: Unit, req: Request, start: float) -> float:
        """Expected cleaning and setup before processing: the unit is claimed that much before
        the planned (processing) ``start``. The cleaning is the one the unit will need when
        setup is due (a clean-hold limit may run out before then), as the planner counts it."""
        if self.plant is None:
            return 0.0
        setup = self.plant.scenario.products[req.product].recipe[req.step].setup.mean
        return unit.cleaning_estimate(req.product, at=start - setup) + setup

    def _next_op(self, unit: Unit) -> PlannedOperation | None:
        ops = self._queue_of.get(unit.name, ())
        i = self._pos[unit.name]
        while i < len(ops) and (
            (ops[i].key, ops[i].step) in self._assigned
            or (self.plant is not None and self.plant.is_finished(ops[i].key))
        ):
            i += 1  # already handed out, or the batch was scrapped: skip
        self._pos[unit.name] = i
        return ops[i] if i < len(ops) else None

    def _stalled(self, now: float) -> bool:
        """No unit waits for a batch yet to be released, and nothing runs anywhere or no step
        has started for three patiences (units held by direct transfers or by batches starved
        of material look busy): the units' plans wait on each other (a plan crossed by
        re-planning or scrap)."""
        plant = self.plant
        if plant is None:
            return False
        quiet = now - self._last_start >= 3 * self.patience - 1e-9
        if not quiet and any(u.busy for u in plant.units):
            return False
        for u in plant.units:
            if u.free:
                nxt = self._next_op(u)
                if nxt is not None and nxt.key not in plant.released_keys:
                    return False
        return True

    def _take(
        self, req: Request, unit: Unit, op: PlannedOperation | None = None
    ) -> tuple[Request, Unit]:
        self._assigned.add((self._key(req), req.step))
        self._stuck.pop(unit.name, None)
        if op is not None and not self.early_start:
            self._hold[(req.batch, req.step)] = op.start
        return req, unit

    def _claim(self, unit: Unit, req: Request, op: PlannedOperation) -> float:
        """When the unit is taken for a planned operation: the plan's claim, or (a plan from
        elsewhere) the expected cleaning and setup before its start."""
        if op.claim is not None:
            return op.claim
        return op.start - self._lead(unit, req, op.start)

    def assign(self, queue: ClassQueue, now: float) -> tuple[Request, Unit] | None:
        waiting = {(self._key(r), r.step): r for r in queue.waiting}
        wake = None
        for unit in queue.units:
            if not unit.free:
                continue
            op = self._next_op(unit)
            here = False  # the unit's next planned batch is in the queue
            if op is not None:
                req = waiting.get((op.key, op.step))
                if req is not None:
                    here = True
                    claim = self._claim(unit, req, op)
                    if now + 1e-9 >= claim or self.early_start:
                        return self._take(req, unit, op)
                    wake = claim if wake is None else min(wake, claim)
            # gap filling with work the plan does not know
            for req in sorted(queue.waiting, key=lambda r: (r.due, r.enqueued, r.batch)):
                k = (self._key(req), req.step)
                if k in self._planned and k not in self._assigned:
                    continue  # (a step handed out before and given back, e.g. when its
                    # materials were taken meanwhile, is free for any unit)
                if op is None or now + req.planned <= (op.start if op.claim is None else op.claim):
                    return self._take(req, unit)
            if op is None or here or not queue.waiting:
                continue
            # the unit waits for a batch that is not here while others are. If the whole
            # plant stands still for ``patience`` hours, the plan can no longer be followed
            # (e.g. orders crossed by a re-plan): take the planned work due first instead
            # (counted in ``overrides``) rather than deadlock
            key = (op.key, op.step)
            since = self._stuck.get(unit.name)
            if since is None or since[:2] != key:
                # waiting counts from when the unit should have taken the operation: a plan
                # with long idle gaps is not a stalled plant
                due = op.start if op.claim is None else op.claim
                self._stuck[unit.name] = (*key, max(now, due))
                since = self._stuck[unit.name]
            stalled = op.key in self.plant.released_keys and self._stalled(now)
            if stalled and now >= since[2] + self.patience - 1e-9:
                starts = {(o.key, o.step): o.start for o in self.plan.operations}
                req = min(
                    queue.waiting,
                    key=lambda r: (starts.get((self._key(r), r.step), math.inf), r.batch),
                )
                self.overrides += 1
                return self._take(req, unit)
            t = max(since[2], now) + self.patience
            wake = t if wake is None else min(wake, t)
        if wake is not None:
            queue.wake_at(wake)
        return None


# ---------------------------------------------------------------------------- re-planning
class Planner(Protocol):
    """Something that turns the plant now (a ``twin.state.PlantState``) into a plan for the
    rest of the work (``current``: the plan being followed, if any)."""

    def plan(self, scenario: Scenario, state: PlantState, current: Plan | None = None) -> Plan: ...


class Replanner:
    """Calls a planner at chosen events and hands the new plan to the FollowPlan policy.

    Operations of the current plan that start within ``freeze`` hours of the trigger keep
    their unit and place (the frozen window); the planner's plan replaces the rest of what it
    covers; planned work it does not cover (batches not released yet) keeps its old slot.
    """

    def __init__(
        self,
        planner: Planner,
        policy: FollowPlan,
        on: tuple[str, ...] = (),
        every: float | None = None,
        freeze: float = 0.0,
    ) -> None:
        self.planner, self.policy, self.on, self.every, self.freeze = (
            planner,
            policy,
            on,
            every,
            freeze,
        )
        self.plant: Any = None
        self._pending = False
        self.count = 0

    def attach(self, plant: Any) -> None:
        from twin.eventlog import kind_code

        self.plant = plant
        for name in self.on:
            plant.log.watch(kind_code(name), lambda _k, name=name: self.trigger(name))
        if self.every:
            plant.env.process(self._periodic())

    def _periodic(self):
        while True:
            yield self.plant.env.timeout(self.every)
            self.trigger("every")

    def trigger(self, reason: str) -> None:
        """Re-plan at the end of the current instant (once, however many triggers)."""
        if self._pending:
            return
        self._pending = True
        ev = self.plant.env.event()
        ev.callbacks.append(lambda _e: self._replan(reason))
        ev.succeed()

    def _replan(self, reason: str) -> None:
        from twin.eventlog import kind_code

        self._pending = False
        plant = self.plant
        now = plant.env.now
        old = self.policy.plan
        state = plant.state_now()
        new = self.planner.plan(plant.scenario, state, old)

        def open_op(op: PlannedOperation) -> bool:  # not started yet, batch not finished
            b = state.batches.get(op.key)
            if b is None:
                return op.key not in plant.released_keys  # a batch still to be released
            return op.step > b.step or (op.step == b.step and b.phase in _WAITING)

        def ready(op: PlannedOperation) -> bool:  # its previous step is done
            b = state.batches.get(op.key)
            return b is not None and b.step == op.step and b.phase in _WAITING

        frozen = [
            op
            for op in old.operations
            if self.freeze > 0 and op.start <= now + self.freeze and open_op(op) and ready(op)
        ]
        fixed = {(op.key, op.step) for op in frozen}
        ops = frozen + [
            op for op in new.operations if (op.key, op.step) not in fixed and open_op(op)
        ]
        covered = {(op.key, op.step) for op in ops}
        # work the planner did not cover (e.g. batches not released yet) keeps its old slot
        ops += [op for op in old.operations if (op.key, op.step) not in covered and open_op(op)]
        acts = tuple(a for a in new.activities if a.end > now)
        plan = Plan(tuple(ops), now, {**new.meta, "trigger": reason}, acts)
        self.policy.set_plan(plan)
        self.count += 1
        plant.log.emit(kind_code("replan"), value=float(len(ops)), detail=plant.log.code(reason))
        emit_plan(plant.log, plan)
        for queue in plant.queues.values():
            queue.dispatch()


_WAITING = ("queued", "blocked")
"""Phases in which a batch waits for a unit for its current step (a claimed unit is its)."""


def emit_plan(log: Any, plan: Plan) -> None:
    """Write the plan into the log (so adherence KPIs need nothing but the log)."""
    from twin.eventlog import kind_code

    k = kind_code("plan_op")
    for op in sorted(plan.operations, key=lambda o: (o.start, o.unit, o.order, o.batch, o.step)):
        log.emit(
            k,
            unit=log.code(op.unit),
            order=log.code(op.order),
            batch=op.batch,
            step=op.step,
            value=op.start,
        )
    log.emit(kind_code("plan_end"), value=plan.makespan if plan.operations else math.nan)
