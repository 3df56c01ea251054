"""Dispatch: which waiting batch a free unit takes next.

Every equipment class has a :class:`ClassQueue` of waiting step requests and its units. When a
unit becomes free or a batch arrives, the class's policy picks (request, unit) pairs. Policies
are pluggable by name::

    @register_policy("my_rule")
    class MyRule(RankPolicy):
        def rank(self, req, unit, now):   # smaller is better
            return (req.due, req.batch)

Built in: ``fifo``, ``edd`` (earliest due date), ``spt`` (shortest planned step),
``priority`` (order priority, then EDD) and ``min_changeover`` (least expected cleaning on the
unit, then EDD). Whatever the rule, a batch goes to the free unit needing the least cleaning.
A policy may also hold units idle on purpose (a plan-following policy does) and ask to be woken
at a later time with ``ClassQueue.wake_at``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import simpy
from simpy import Event

from twin.callbacks import at_end_of_instant

if TYPE_CHECKING:
    from twin.equipment import Unit

__all__ = [
    "Request",
    "Policy",
    "RankPolicy",
    "ClassQueue",
    "register_policy",
    "make_policy",
    "policy_names",
]


@dataclass(eq=False, slots=True)
class Request:
    """A batch waiting for a unit of one equipment class to run one recipe step."""

    batch: int
    order: str
    product: str
    step: int
    due: float
    priority: int
    planned: float  # mean step duration, for SPT
    enqueued: float
    seq: int
    event: simpy.Event


class Policy(Protocol):
    """Chooses what a class's free units do next.

    A policy may also decide when idle units are cleaned, with a method
    ``clean_idle(unit, now) -> "minor" | "major" | None``: the twin asks it when a unit
    becomes free and dirty with nothing of its class waiting (for classes with a
    ``dirty_hold``), and cleans the unit at once (``twin.rules.idle_clean``) or, on None, leaves
    it for a batch or for the full clean at its dirty-hold limit, as without the method
    (``twin.lookahead.Lookahead`` decides by running the plant ahead).
    """

    def assign(self, queue: ClassQueue, now: float) -> tuple[Request, Unit] | None:
        """One (request, unit) pair to start now, or None to leave the rest waiting."""
        ...


class RankPolicy:
    """A policy defined by a ranking of requests (smaller first); units by least cleaning."""

    unit_dependent = False
    arrival_order = False  # True if rank() is the order of arrival (the queue is already sorted)

    def rank(self, req: Request, unit: Unit | None, now: float) -> tuple:
        raise NotImplementedError

    def assign(self, queue: ClassQueue, now: float) -> tuple[Request, Unit] | None:
        if not self.unit_dependent and queue.units and not queue.units[0].prepares:
            # no unit of the class ever cleans (the units of a class clean alike): the first
            # free one by index, found without listing them all (this runs at every step)
            unit = queue.first_free()
            if unit is None or not queue.waiting:
                return None
            return self._first(queue, now), unit
        units = queue.free_units()
        if not units or not queue.waiting:
            return None
        if self.unit_dependent:
            best = min(
                ((self.rank(r, u, now), u.index, r, u) for r in queue.waiting for u in units),
                key=lambda x: (x[0], x[1]),
            )
            return best[2], best[3]
        req = self._first(queue, now)
        if len(units) > 1:  # (units that clean: see above)
            unit = min(units, key=lambda u: (u.cleaning_estimate(req.product), u.index))
        else:
            unit = units[0]
        return req, unit

    def _first(self, queue: ClassQueue, now: float) -> Request:
        """The waiting request that ranks first."""
        if self.arrival_order:
            return queue.waiting[0]
        return min(queue.waiting, key=lambda r: self.rank(r, None, now))


_POLICIES: dict[str, Callable[[], Policy]] = {}


def register_policy(name: str) -> Callable[[type], type]:
    """Class decorator making a policy available to scenarios by name."""

    def deco(cls: type) -> type:
        _POLICIES[name] = cls
        return cls

    return deco


def policy_names() -> list[str]:
    return sorted(_POLICIES)


def make_policy(name: str) -> Policy:
    return _POLICIES[name]()


@register_policy("fifo")
class Fifo(RankPolicy):
    arrival_order = True

    def rank(self, req: Request, unit: Unit | None, now: float) -> tuple:
        return (req.enqueued, req.batch)


@register_policy("edd")
class EarliestDue(RankPolicy):
    def rank(self, req: Request, unit: Unit | None, now: float) -> tuple:
        return (req.due, req.enqueued, req.batch)


@register_policy("spt")
class ShortestStep(RankPolicy):
    def rank(self, req: Request, unit: Unit | None, now: float) -> tuple:
        return (req.planned, req.enqueued, req.batch)


@register_policy("priority")
class Priority(RankPolicy):
    def rank(self, req: Request, unit: Unit | None, now: float) -> tuple:
        return (-req.priority, req.due, req.enqueued, req.batch)


@register_policy("min_changeover")
class MinChangeover(RankPolicy):
    unit_dependent = True

    def rank(self, req: Request, unit: Unit | None, now: float) -> tuple:
        assert unit is not None
        return (unit.cleaning_estimate(req.product), req.due, req.enqueued, req.batch)


class ClassQueue:
    """The waiting requests and the units of one equipment class."""

    def __init__(self, env: simpy.Environment, name: str, policy: Policy) -> None:
        self.env = env
        self.name = name
        self.policy = policy
        self.units: list[Unit] = []
        self.waiting: list[Request] = []
        self._seq = 0
        self._pending = False
        self.unsettled: list[Unit] = []  # units released this instant, rest state not yet shown
        self._on_dispatch = self._dispatch_now  # bound once: dispatch runs at every step
        self._fast: bool | None = None  # whether _assign_in_order applies (_takes_in_order)

    def first_free(self) -> Unit | None:
        """The first free unit (``Unit.free``, inlined), or None."""
        for u in self.units:
            if not u.busy and u.open and not u.maint_due:
                return u
        return None

    def free_units(self) -> list[Unit]:
        # ``Unit.free``, inlined: this runs at every dispatch decision
        return [u for u in self.units if not u.busy and u.open and not u.maint_due]

    def request(
        self,
        batch: int,
        order: str,
        product: str,
        step: int,
        due: float,
        priority: int,
        planned: float,
        enqueued: float | None = None,
    ) -> Request:
        """A batch asks for a unit of this class (``enqueued``: when it began to wait, if
        before now: a batch resumed from a plant state keeps its place)."""
        self._seq += 1
        env = self.env
        at = env._now if enqueued is None else enqueued
        req = Request(
            batch, order, product, step, due, priority, planned, at, self._seq, Event(env)
        )
        waiting = self.waiting
        waiting.append(req)
        # keep the queue in (arrival time, batch) order: requests arriving at one instant are
        # ranked by batch number, never by the order SimPy happened to create them in (a
        # restart from a plant state then decides exactly as the unbroken run did)
        k = len(waiting) - 1
        if k:
            last = waiting[k - 1]  # (last.enqueued, last.batch) > (at, batch), without tuples
            if last.enqueued > at or (last.enqueued == at and last.batch > batch):
                key = (at, batch)
                while k > 0 and (waiting[k - 1].enqueued, waiting[k - 1].batch) > key:
                    waiting[k], waiting[k - 1] = waiting[k - 1], waiting[k]
                    k -= 1
        # self.dispatch(), inlined (a request is made at every step)
        if not self._pending:
            for unit in self.units:
                if not unit.busy and unit.open and not unit.maint_due:  # unit.free, inlined
                    self._pending = True
                    at_end_of_instant(env, self._on_dispatch)
                    break
        return req

    def cancel(self, req: Request) -> None:
        if req in self.waiting:
            self.waiting.remove(req)

    def dispatch(self) -> None:
        """Give free units work, once everything happening at this instant has arrived.

        The decision is deferred to the end of the current instant (a normal-priority event),
        so batches released together compete under the policy instead of first come, first
        served.
        """
        if self._pending or not self.waiting:
            return
        for unit in self.units:
            if not unit.busy and unit.open and not unit.maint_due:  # unit.free, inlined
                break
        else:
            return  # nothing to decide until a unit frees up
        self._pending = True
        at_end_of_instant(self.env, self._on_dispatch)

    def _dispatch_now(self, _: simpy.Event) -> None:
        self._pending = False
        fast = self._fast
        if fast is None:
            fast = self._fast = self._takes_in_order()
        if fast:
            self._assign_in_order()
        else:
            self._assign_all()
        if self.unsettled:
            for unit in self.unsettled:
                unit.settle()
            self.unsettled.clear()

    def _takes_in_order(self) -> bool:
        """Whether the policy's choice is always the first waiting request and the first free
        unit by index: a ranking by arrival (FIFO) that looks at no unit, over units that never
        clean (``RankPolicy.assign``'s first case). Asked once, at the first decision (the
        units are all added by then, and whether they clean never changes)."""
        policy = self.policy
        cls = type(policy)
        return (
            isinstance(policy, RankPolicy)
            and cls.assign is RankPolicy.assign
            and cls._first is RankPolicy._first
            and policy.arrival_order
            and not policy.unit_dependent
            and bool(self.units)
            and not self.units[0].prepares
        )

    def _assign_in_order(self) -> None:
        """``_assign_all`` for a policy that takes requests in order (``_takes_in_order``):
        the same pairs, without a call to the policy, ``first_free`` and ``Unit.reserve`` per
        pair (this runs at every step of a flow line)."""
        waiting, units, env = self.waiting, self.units, self.env
        while waiting:
            for unit in units:
                if not unit.busy and unit.open and not unit.maint_due:  # unit.free, inlined
                    break
            else:
                return
            req = waiting.pop(0)
            # unit.reserve(req), inlined
            unit.busy = True
            unit.holder = req.batch
            unit._epoch += 1
            if unit._tracks_plan:
                unit.plant.reserved[(req.batch, req.step)] = (unit.name, env._now)
            # req.event.succeed(unit), inlined: a waiting request's event is always pending
            event = req.event
            event._ok = True
            event._value = unit
            env.schedule(event)

    def _assign_all(self) -> None:
        while self.waiting:
            for unit in self.units:
                if not unit.busy and unit.open and not unit.maint_due:  # unit.free, inlined
                    break
            else:
                return  # policies assign free units only
            pair = self.policy.assign(self, self.env.now)
            if pair is None:
                return
            req, unit = pair
            self.waiting.remove(req)
            unit.reserve(req)
            req.event.succeed(unit)

    def wake_at(self, t: float) -> None:
        """Run dispatch again at time t (for policies that wait on purpose)."""

        def waker(env: simpy.Environment):
            yield env.timeout(max(0.0, t - env.now))
            self.dispatch()

        self.env.process(waker(self.env))
