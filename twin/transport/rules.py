"""Transport dispatch rules: which idle vehicle serves which waiting trip.

Rules are pluggable by name::

    @register_rule("my_rule")
    def my_rule(pending, idle, fleet):      # -> (trip, vehicle)
        ...

Built in: ``nearest`` (oldest trip, nearest idle vehicle), ``fcfs`` (oldest trip, vehicle idle
longest), ``edd`` (trip with the earliest due date, nearest vehicle) and ``optimised`` (an
exact assignment of all waiting trips to all idle vehicles at each decision epoch, and idle
vehicles sent to dwell points chosen from where requests come from, see
:class:`OptimisedDispatch` and :class:`twin.transport.dwell.DwellPolicy`).

A rule object with an ``assign(pending, idle, fleet) -> [(trip, vehicle), ...]`` method is
*batched*: the fleet collects everything that happens at one instant (requests arriving,
vehicles becoming idle) and calls ``assign`` once at the end of that instant, instead of asking
for one pair at a time as soon as each request arrives. If it also has a
``dwell_points(fleet)`` method returning a :class:`twin.transport.dwell.DwellPoints` (or None),
the fleet asks that object, at every epoch, where the vehicles left idle should wait, and
sends them there ("repositioning", an empty drive that a new trip can take over at the
vehicle's next node).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from twin.transport.dwell import DwellPoints, DwellPolicy
from twin.transport.vehicles import Trip, Vehicle

if TYPE_CHECKING:
    from twin.scenario import Scenario
    from twin.transport.fleet import Fleet

__all__ = [
    "OptimisedDispatch",
    "Rule",
    "edd",
    "fcfs",
    "get_rule",
    "nearest",
    "register_rule",
    "rule_names",
    "with_transport_dispatch",
]

Rule = Callable[[list[Trip], list[Vehicle], "Fleet"], tuple[Trip, Vehicle]]
_RULES: dict[str, Rule] = {}


def register_rule(name: str) -> Callable[[Rule], Rule]:
    """Decorator making a transport dispatch rule available to scenarios by name."""

    def deco(fn: Rule) -> Rule:
        _RULES[name] = fn
        return fn

    return deco


def rule_names() -> list[str]:
    return sorted(_RULES)


def get_rule(name: str) -> Rule:
    """The rule registered as ``name`` (KeyError if none is)."""
    return _RULES[name]


def _nearest(trip: Trip, idle: list[Vehicle], fleet: Fleet) -> Vehicle:
    return min(idle, key=lambda v: (fleet.layout.distance(v.node, trip.origin), v.index))


@register_rule("nearest")
def nearest(pending: list[Trip], idle: list[Vehicle], fleet: Fleet) -> tuple[Trip, Vehicle]:
    trip = pending[0]
    return trip, _nearest(trip, idle, fleet)


@register_rule("fcfs")
def fcfs(pending: list[Trip], idle: list[Vehicle], fleet: Fleet) -> tuple[Trip, Vehicle]:
    return pending[0], min(idle, key=lambda v: (v.idle_since, v.index))


@register_rule("edd")
def edd(pending: list[Trip], idle: list[Vehicle], fleet: Fleet) -> tuple[Trip, Vehicle]:
    trip = min(pending, key=lambda t: (t.due, t.seq))
    return trip, _nearest(trip, idle, fleet)


def _eta(v: Vehicle, node: str, dist: Callable[[str, str], float], now: float) -> float:
    """Hours until ``v`` could be at ``node``: from where it stands, or, while repositioning,
    from the next node it reaches (where a new trip can take it over)."""
    if v.heading is None:
        return dist(v.node, node)
    return max(0.0, v.arrive_at - now) + dist(v.heading, node)


@dataclass(frozen=True)
class OptimisedDispatch:
    """Exact assignment of waiting trips to idle vehicles at each decision epoch, and dwell
    points for the vehicles left idle.

    A decision epoch is an instant at which requests arrive or vehicles become idle (everything
    at one instant is batched). With trips ``T`` and available vehicles ``V`` (idle, or
    repositioning and not yet taken) the rule solves

        min  sum_{t,v} c[t, v] x[t, v]
        s.t. sum_v x[t, v] <= 1 (each trip once), sum_t x[t, v] <= 1 (each vehicle once),
             sum x = min(|T|, |V|)   (no idle vehicle left beside a trip it could take)

        c[t, v] = travel(v -> origin of t) - age_weight * (now - requested at t)
                  + lateness_weight * max(0, now + travel(v -> origin of t) - due of t)

    with ``scipy.optimize.linear_sum_assignment`` (Hungarian/Jonker-Volgenant, exact, at most
    a few dozen rows here). The travel term moves the vehicle that is closest *overall* rather
    than the closest to the oldest trip; when there are more trips than vehicles it picks the
    trips that can be reached soonest, which is what lowers the mean wait; the age term keeps
    old trips from being passed over for long (a trip waiting ``d`` hours longer wins against
    ``age_weight * d`` hours of extra empty travel). Times are hours. A repositioning vehicle's
    travel counts from the next node it reaches, plus the time to get there.

    With ``dwell`` (default :class:`DwellPolicy`), the vehicles still idle after the
    assignment are sent to the dwell points of :class:`DwellPoints` (``dwell=None``: they stay
    where they unloaded, as with the other rules).
    """

    age_weight: float = 0.5
    lateness_weight: float = 0.0
    dwell: DwellPolicy | None = DwellPolicy()

    def __post_init__(self) -> None:
        if self.age_weight < 0 or self.lateness_weight < 0:
            raise ValueError(
                f'"age_weight" and "lateness_weight" must be >= 0, got '
                f"{self.age_weight!r} and {self.lateness_weight!r}."
            )

    def cost(self, pending: Sequence[Trip], idle: Sequence[Vehicle], fleet: Fleet) -> np.ndarray:
        """The cost matrix c[trip, vehicle] of the class docstring."""
        dist = fleet.layout.distance
        now = fleet.env.now
        travel = np.array([[_eta(v, t.origin, dist, now) for v in idle] for t in pending])
        age = np.array([now - t.created for t in pending], dtype=float)
        due = np.array([t.due for t in pending], dtype=float)
        c = travel - self.age_weight * age[:, None]
        if self.lateness_weight > 0:
            c += self.lateness_weight * np.maximum(0.0, now + travel - due[:, None])
        return c

    def assign(
        self, pending: Sequence[Trip], idle: Sequence[Vehicle], fleet: Fleet
    ) -> list[tuple[Trip, Vehicle]]:
        """Pairs (trip, vehicle), min(len(pending), len(idle)) of them, oldest trip first."""
        from scipy.optimize import linear_sum_assignment

        if not pending or not idle:
            return []
        rows, cols = linear_sum_assignment(self.cost(pending, idle, fleet))
        pairs = sorted(zip(rows.tolist(), cols.tolist(), strict=True))
        return [(pending[r], idle[c]) for r, c in pairs]

    def dwell_points(self, fleet: Fleet) -> DwellPoints | None:
        """The per-run dwell-point state for ``fleet`` (None without ``dwell``)."""
        if self.dwell is None:
            return None
        return DwellPoints(self.dwell, fleet.layout, fleet.spec.size)

    def __call__(
        self, pending: list[Trip], idle: list[Vehicle], fleet: Fleet
    ) -> tuple[Trip, Vehicle]:
        """The one-pair protocol of every rule: the first pair of the assignment."""
        return self.assign(pending, idle, fleet)[0]


register_rule("optimised")(OptimisedDispatch())


def with_transport_dispatch(scenario: Scenario, name: str) -> Scenario:
    """A copy of ``scenario`` whose fleet uses the transport dispatch rule ``name``."""
    if name not in _RULES:
        raise ValueError(
            f"unknown transport dispatch rule {name!r}; one of: {', '.join(rule_names())}"
        )
    if scenario.fleet is None:
        raise ValueError(
            f"scenario {scenario.name!r} has no fleet section: there is no transport to dispatch"
        )
    fleet = scenario.fleet.model_copy(update={"dispatch": name})
    return scenario.model_copy(update={"fleet": fleet})
