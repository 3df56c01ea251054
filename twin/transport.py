"""The plant layout as a graph, the AGV fleet, transport dispatch, reservations and charging.

Routing: the layout is a directed graph (a two-way segment is one physical lane used in both
directions); all-pairs shortest paths by travel time are computed once when the layout is
built, so a move never searches.

Congestion and deadlock: every node and every segment is a resource that holds one vehicle at
a time. Before it moves, a vehicle reserves its *whole* route (all nodes and segments) at once
and releases each piece as soon as it has passed it. A stopped vehicle (idle, loading,
unloading, charging, waiting for a route) stands in a bay beside its node and holds nothing.
So no vehicle ever holds a resource while waiting for another (no hold-and-wait), which rules
out deadlock by construction. Waiting routes are granted in arrival order: a route that is
waiting claims its resources, and a later route may only overtake it if it needs none of them,
so no vehicle waits forever either (every held resource is released within one route's travel
time).

Dispatch rules (which idle vehicle serves which waiting trip) are pluggable by name::

    @register_rule("my_rule")
    def my_rule(pending, idle, fleet):      # -> (trip, vehicle)
        ...

Built in: ``nearest`` (oldest trip, nearest idle vehicle), ``fcfs`` (oldest trip, vehicle idle
longest), ``edd`` (trip with the earliest due date, nearest vehicle) and ``optimised`` (an
exact assignment of all waiting trips to all idle vehicles at each decision epoch, and idle
vehicles sent to dwell points chosen from where requests come from, see
:class:`OptimisedDispatch` and :class:`DwellPolicy`).

A rule object with an ``assign(pending, idle, fleet) -> [(trip, vehicle), ...]`` method is
*batched*: the fleet collects everything that happens at one instant (requests arriving,
vehicles becoming idle) and calls ``assign`` once at the end of that instant, instead of asking
for one pair at a time as soon as each request arrives. If it also has a
``dwell_points(fleet)`` method returning a :class:`DwellPoints` (or None), the fleet asks that
object, at every epoch, where the vehicles left idle should wait, and sends them there
("repositioning", an empty drive that a new trip can take over at the vehicle's next node).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

import networkx as nx
import numpy as np
import simpy

from twin.eventlog import kind_code
from twin.flow_spec import FleetSpec, LayoutSpec, edge_length

if TYPE_CHECKING:
    from twin.plant import Plant
    from twin.scenario import Scenario

__all__ = [
    "Layout",
    "Route",
    "Traffic",
    "Fleet",
    "Vehicle",
    "Trip",
    "register_rule",
    "rule_names",
    "OptimisedDispatch",
    "DwellPolicy",
    "DwellPoints",
    "joint_dwell_points",
    "expected_travel",
    "with_transport_dispatch",
    "layout_figure",
    "AGV_STATES",
]

AGV_STATES = ("idle", "empty", "loaded", "traffic", "handling", "charging", "repositioning")

K_AGV_ADDED = kind_code("agv_added")
K_AGV_STATE = kind_code("agv_state")
K_AGV_MOVE = kind_code("agv_move")
K_REQUEST = kind_code("transport_request")
K_PICKUP = kind_code("transport_pickup")
K_DONE = kind_code("transport_done")
K_TRAFFIC = kind_code("traffic_wait")
K_CHARGE_START = kind_code("charge_start")
K_CHARGE_END = kind_code("charge_end")


# --------------------------------------------------------------------------- layout, routes
class Leg(NamedTuple):
    edge: int  # resource id of the segment
    node: int  # resource id of the node reached
    to: str
    metres: float
    hours: float
    label: str  # the segment, "a-b" (two-way) or "a>b" (one-way)
    move: str  # "from>to"


class Route(NamedTuple):
    nodes: tuple[str, ...]
    legs: tuple[Leg, ...]
    resources: frozenset[int]
    metres: float
    hours: float


class Layout:
    """The layout graph with travel times at a given top speed and all shortest paths."""

    def __init__(self, spec: LayoutSpec, speed: float = 1.0) -> None:
        self.spec = spec
        self.names = list(spec.nodes)
        self.node_res = {n: i for i, n in enumerate(self.names)}
        self.labels: list[str] = list(self.names)
        g = nx.DiGraph()
        g.add_nodes_from(self.names)
        for i, e in enumerate(spec.edges):
            metres = edge_length(spec, e)
            v = min(speed, e.speed_limit) if e.speed_limit else speed
            hours = metres / v / 3600.0
            res = len(self.names) + i
            label = f"{e.from_}>{e.to}" if e.one_way else f"{e.from_}-{e.to}"
            self.labels.append(label)
            pairs = [(e.from_, e.to)] if e.one_way else [(e.from_, e.to), (e.to, e.from_)]
            for a, b in pairs:
                old = g.get_edge_data(a, b)
                if old is None or old["hours"] > hours:
                    g.add_edge(a, b, hours=hours, metres=metres, res=res, label=label)
        self.graph = g
        self.hours: dict[str, dict[str, float]] = {}
        self._paths: dict[str, dict[str, list[str]]] = {}
        for src, (dist, paths) in nx.all_pairs_dijkstra(g, weight="hours"):
            self.hours[src] = dist
            self._paths[src] = paths
        self._routes: dict[tuple[str, str], Route] = {}

    @property
    def n_resources(self) -> int:
        return len(self.labels)

    def distance(self, a: str, b: str) -> float:
        """Travel hours from a to b (inf if unreachable)."""
        return self.hours[a].get(b, math.inf)

    def route(self, a: str, b: str) -> Route:
        """The precomputed shortest route from a to b (built once, then cached)."""
        key = (a, b)
        r = self._routes.get(key)
        if r is None:
            nodes = self._paths[a][b]
            legs = []
            for u, v in zip(nodes, nodes[1:], strict=False):
                d = self.graph.edges[u, v]
                legs.append(
                    Leg(
                        d["res"],
                        self.node_res[v],
                        v,
                        d["metres"],
                        d["hours"],
                        d["label"],
                        f"{u}>{v}",
                    )
                )
            res = frozenset([self.node_res[a], *(x for leg in legs for x in (leg.edge, leg.node))])
            r = Route(
                tuple(nodes),
                tuple(legs),
                res,
                sum(x.metres for x in legs),
                sum(x.hours for x in legs),
            )
            self._routes[key] = r
        return r


class Traffic:
    """Reservations of nodes and segments: one vehicle each, whole routes granted atomically."""

    def __init__(self, env: simpy.Environment, n: int) -> None:
        self.env = env
        self.holder: list[int] = [-1] * n
        self.waiting: list[tuple[frozenset[int], simpy.Event, int]] = []

    def reserve(self, vehicle: int, resources: frozenset[int]) -> simpy.Event:
        ev = self.env.event()
        self.waiting.append((resources, ev, vehicle))
        self._grant()
        return ev

    def free(self, resources: frozenset[int]) -> bool:
        """Whether a route over these resources would be granted at once: none is held and no
        waiting route claims any (waiting routes are all blocked between grants)."""
        holder = self.holder
        if any(holder[r] >= 0 for r in resources):
            return False
        return all(res.isdisjoint(resources) for res, _, _ in self.waiting)

    def blocker(self, resources: frozenset[int]) -> int:
        """A held resource among these (the smallest id), or -1."""
        held = [r for r in resources if self.holder[r] >= 0]
        return min(held) if held else -1

    def release(self, *resources: int) -> None:
        for r in resources:
            self.holder[r] = -1
        if self.waiting:
            self._grant()

    def _grant(self) -> None:
        holder = self.holder
        claimed: set[int] = set()
        keep = []
        for item in self.waiting:
            res, ev, vehicle = item
            if any(holder[r] >= 0 for r in res) or not claimed.isdisjoint(res):
                claimed |= res
                keep.append(item)
                continue
            for r in res:
                holder[r] = vehicle
            ev.succeed()
        self.waiting = keep


# --------------------------------------------------------------------------- fleet
@dataclass(eq=False)
class Vehicle:
    name: str
    index: int
    code: int
    node: str
    battery: float
    state: str = ""
    busy: bool = False
    idle_since: float = 0.0  # when it last became idle (fcfs)
    drained_at: float = 0.0  # idle drain is booked up to here
    # repositioning (rules with dwell points): driving empty to ``dwell``; a trip may claim the
    # vehicle, which then stops at ``heading`` (the next node, reached at ``arrive_at``)
    relocating: bool = False
    dwell: str | None = None
    heading: str | None = None
    arrive_at: float = 0.0
    claim: Trip | None = field(default=None, repr=False)
    settled: bool = False  # its dwell point was chosen since it last became idle


@dataclass(eq=False)
class _Job:
    trips: int
    on_pickup: Callable[[], None] | None
    done: simpy.Event
    picked: int = 0
    delivered: int = 0


@dataclass(eq=False)
class Trip:
    seq: int
    origin: str
    dest: str
    loads: int
    due: float
    created: float
    batch: int
    code: int  # interned request id
    job: _Job = field(repr=False)


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


_UNREACHABLE = 1e3  # hours: stands in for "no route" in the dwell-point costs


def _eta(v: Vehicle, node: str, dist: Callable[[str, str], float], now: float) -> float:
    """Hours until ``v`` could be at ``node``: from where it stands, or, while repositioning,
    from the next node it reaches (where a new trip can take it over)."""
    if v.heading is None:
        return dist(v.node, node)
    return max(0.0, v.arrive_at - now) + dist(v.heading, node)


@dataclass(frozen=True)
class DwellPolicy:
    """Where idle vehicles wait: the parameters of :class:`DwellPoints`.

    - ``move_weight``: a repositioning of ``h`` hours must lower the expected empty travel to
      the next request event by more than ``move_weight * h`` (0: any gain is worth a move).
    - ``capacity``: vehicles that may wait beside one node (parking bays).
    - ``first_refresh``, ``refresh``: the request weights are re-estimated after
      ``first_refresh`` request events, then each time the count doubles, at most ``refresh``
      events apart.
    - ``half_life``: request events after which an observation counts half (None: all count
      the same; the reference plant's demand does not drift within a year).
    - ``joint``: re-solve the dwell points of *all* idle vehicles at every epoch (an exact
      p-median, :func:`joint_dwell_points`) instead of placing each vehicle once when it becomes
      idle. Kept for comparison: it moves parked vehicles around and does worse in the twin
      (see docs/logistics.md).
    """

    move_weight: float = 0.05
    capacity: int = 1
    first_refresh: int = 10
    refresh: int = 1000
    half_life: float | None = None
    joint: bool = False

    def __post_init__(self) -> None:
        if self.capacity < 1 or self.first_refresh < 1 or self.refresh < 1:
            raise ValueError(
                f'"capacity", "first_refresh" and "refresh" must be >= 1, got '
                f"{self.capacity!r}, {self.first_refresh!r} and {self.refresh!r}."
            )
        if self.half_life is not None and self.half_life <= 0:
            raise ValueError(f'"half_life" must be > 0 or None, got {self.half_life!r}.')
        if self.move_weight < 0:
            raise ValueError(f'"move_weight" must be >= 0, got {self.move_weight!r}.')


def expected_travel(travel: np.ndarray, weight: np.ndarray, nodes: Sequence[int]) -> float:
    """Expected empty travel (hours) to the next request event with idle vehicles at ``nodes``:
    ``sum_{o,j} weight[o, j] * (the (j+1)-th smallest travel[c, o] over c in nodes)``."""
    if not len(nodes):
        return math.inf
    near = np.sort(travel[list(nodes)], axis=0)  # [rank, origin]
    k = min(len(nodes), weight.shape[1])
    return float(np.sum(weight[:, :k].T * near[:k]))


def joint_dwell_points(
    travel: np.ndarray, weight: np.ndarray, p: int, capacity: int = 1
) -> np.ndarray | None:
    """The best places for ``p`` idle vehicles to wait, jointly: vehicles per node.

    ``travel[c, o]``: hours from node ``c`` to origin ``o``; ``weight[o, j]``: the probability
    that the next request event is at ``o`` and needs at least ``j + 1`` trips (so it falls
    with ``j``). With ``y_c`` vehicles waiting at ``c`` and ``x[o, j, c]`` = 1 if the
    (j+1)-th trip of an event at ``o`` is served from ``c``::

        min  sum_{o,j,c} weight[o, j] * travel[c, o] * x[o, j, c]
        s.t. sum_c y_c = p,   0 <= y_c <= capacity,  y integer
             sum_c x[o, j, c] = 1            for every (o, j) with weight > 0 and j < p
             sum_j x[o, j, c] <= y_c         for every (o, c)
             x >= 0

    which is :func:`expected_travel` minimised over placements (a p-median whose customers
    may need several distinct vehicles: a burst of pallets). For fixed ``y`` the ``x`` part is
    a transportation problem per origin, integral, and since ``weight`` falls with ``j`` its
    optimum serves the first trip from the nearest vehicle, the second from the next nearest,
    and so on; so only ``y`` needs to be integer. Solved exactly by HiGHS
    (``scipy.optimize.milp``, about 15 ms on the 33-node reference layout). None if nothing
    has weight.
    """
    from scipy.optimize import Bounds, LinearConstraint, milp
    from scipy.sparse import coo_matrix

    n_c, n_o = travel.shape
    ranks = range(min(p, weight.shape[1]))
    slots = [(o, j) for o in range(n_o) for j in ranks if weight[o, j] > 0]
    if not slots or p < 1:
        return None
    n_x = len(slots) * n_c
    cost = np.zeros(n_c + n_x)
    for k, (o, j) in enumerate(slots):
        cost[n_c + k * n_c : n_c + (k + 1) * n_c] = weight[o, j] * travel[:, o] * 3600.0
    rows: list[np.ndarray] = [np.zeros(n_c, dtype=int)]  # sum_c y_c = p
    cols: list[np.ndarray] = [np.arange(n_c)]
    vals: list[np.ndarray] = [np.ones(n_c)]
    lo, hi = [float(p)], [float(p)]
    for k in range(len(slots)):  # each slot served once
        rows.append(np.full(n_c, 1 + k))
        cols.append(n_c + k * n_c + np.arange(n_c))
        vals.append(np.ones(n_c))
        lo.append(1.0)
        hi.append(1.0)
    by_origin: dict[int, list[int]] = {}
    for k, (o, _) in enumerate(slots):
        by_origin.setdefault(o, []).append(k)
    r = 1 + len(slots)
    for ks in by_origin.values():  # the slots of one origin use distinct vehicles at c
        for c in range(n_c):
            rows.append(np.full(len(ks) + 1, r))
            cols.append(np.array([n_c + k * n_c + c for k in ks] + [c]))
            vals.append(np.array([1.0] * len(ks) + [-1.0]))
            lo.append(-np.inf)
            hi.append(0.0)
            r += 1
    a = coo_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=(r, n_c + n_x),
    ).tocsr()
    upper = np.ones(n_c + n_x)
    upper[:n_c] = max(capacity, math.ceil(p / n_c))
    integral = np.zeros(n_c + n_x)
    integral[:n_c] = 1
    res = milp(
        cost,
        constraints=LinearConstraint(a, lo, hi),
        integrality=integral,
        bounds=Bounds(0.0, upper),
        options={"mip_rel_gap": 0.0},
    )
    if res.x is None:
        return None
    return np.rint(res.x[:n_c]).astype(int)


class DwellPoints:
    """Where the idle vehicles of one fleet wait; learns where requests come from as it runs.

    Weights: every request event (the trips requested from one origin at one instant) is
    counted per origin and per number of trips; after ``policy.first_refresh`` events, and
    again each time the count doubles (at most ``policy.refresh`` events apart), the counts
    become ``weight[o, j]``, the share of events at ``o`` with more than ``j`` trips. The
    run's own history, so deterministic; the first events (in the warm-up) place nothing.

    Placement (``spot``): a vehicle that becomes idle at ``here`` waits at

        argmin_c  expected_travel(others + [c]) + move_weight * travel(here, c)

    over every node ``c`` with a free bay, the other idle vehicles staying where they wait
    (repositioning ones counted at their dwell point). An exact 1-median given the others, by
    enumeration (33 nodes on the reference plant, well under a millisecond, cached per
    situation); a vehicle, once placed, is not moved again until it has worked. ``plan`` is
    the joint alternative (``policy.joint``): the exact p-median of
    :func:`joint_dwell_points` for the number of idle vehicles (cached until the next
    refresh), vehicles mapped to its points by a minimum-travel assignment, and moved only if
    the gain exceeds ``move_weight`` times the travel.
    """

    def __init__(self, policy: DwellPolicy, layout: Layout, vehicles: int) -> None:
        self.policy = policy
        self.names = list(layout.names)
        self.index = {x: i for i, x in enumerate(self.names)}
        hours = np.array([[layout.distance(a, b) for b in self.names] for a in self.names])
        self.travel = np.where(np.isfinite(hours), hours, _UNREACHABLE)  # [from, to]
        self.counts = np.zeros((len(self.names), max(1, vehicles)))  # events with > j trips
        self._keep = 0.5 ** (1.0 / policy.half_life) if policy.half_life else 1.0
        self._instant = -math.inf
        self._open: dict[int, int] = {}
        self.events = 0
        self._next_refresh = policy.first_refresh
        self.weight: np.ndarray | None = None
        self._spots: dict[tuple[tuple[str, ...], str], str] = {}
        self._table: dict[int, np.ndarray | None] = {}
        self._plans: dict[tuple[str, ...], list[str]] = {}

    def observe(self, origin: str, trips: int, now: float) -> None:
        """A request of ``trips`` trips from ``origin`` at ``now``."""
        if now != self._instant:
            self._flush()
            self._instant = now
        i = self.index[origin]
        self._open[i] = self._open.get(i, 0) + trips

    def _flush(self) -> None:
        for i, k in self._open.items():
            if self._keep < 1.0:
                self.counts *= self._keep
            self.counts[i, : min(k, self.counts.shape[1])] += 1.0
            self.events += 1
        self._open.clear()
        if self.events >= self._next_refresh:
            self.weight = self.counts / self.counts[:, 0].sum()
            self._spots.clear()
            self._table.clear()
            self._plans.clear()
            self._next_refresh = self.events + min(self.events, self.policy.refresh)

    def spot(self, others: Sequence[str], here: str) -> str:
        """Where a vehicle now at ``here`` should wait, the others waiting at ``others``."""
        if self.weight is None:
            return here
        key = (tuple(sorted(others)), here)
        out = self._spots.get(key)
        if out is None:
            out = self._spots[key] = self._spot([self.index[x] for x in key[0]], self.index[here])
        return out

    def _spot(self, others: list[int], here: int) -> str:
        assert self.weight is not None
        n = len(self.names)
        travel = self.travel  # [candidate, origin]
        ranked = np.sort(travel[others], axis=0)  # [rank, origin]
        f = self.policy.move_weight * travel[here]
        for j in range(min(len(others) + 1, self.weight.shape[1])):
            # the (j+1)-th shortest travel to each origin with a vehicle added at each
            # candidate: the candidate's own travel, clamped between the others' j-th and
            # (j+1)-th
            lo = ranked[j - 1] if j > 0 else -math.inf
            hi = ranked[j] if j < len(others) else math.inf
            f = f + np.minimum(np.maximum(travel, lo), hi) @ self.weight[:, j]
        f = np.round(f * 3600.0, 6)  # seconds, to the microsecond: ties go to the first node
        used = np.bincount(np.asarray(others, dtype=int), minlength=n)
        f[used >= self.policy.capacity] = np.inf
        best = int(np.argmin(f))
        if not np.isfinite(f[best]) or f[here] <= f[best]:
            return self.names[here]
        return self.names[best]

    def plan(self, positions: Sequence[str]) -> list[str]:
        """``policy.joint``: where each idle vehicle (at ``positions``) should wait."""
        key = tuple(positions)
        out = self._plans.get(key)
        if out is None:
            out = self._plans[key] = self._plan(key)
        return out

    def _plan(self, positions: tuple[str, ...]) -> list[str]:
        from scipy.optimize import linear_sum_assignment

        if self.weight is None or not positions:
            return list(positions)
        p = len(positions)
        if p not in self._table:
            y = joint_dwell_points(self.travel, self.weight, p, self.policy.capacity)
            self._table[p] = None if y is None else np.repeat(np.arange(len(y)), y)
        points = self._table[p]
        if points is None:
            return list(positions)
        here = [self.index[x] for x in positions]
        cost = self.travel[np.ix_(here, points)]
        rows, cols = linear_sum_assignment(cost)
        target = [int(points[c]) for c in cols[np.argsort(rows)]]
        gain = expected_travel(self.travel, self.weight, here) - expected_travel(
            self.travel, self.weight, target
        )
        if gain <= self.policy.move_weight * float(cost[rows, cols].sum()):
            return list(positions)
        return [self.names[t] for t in target]


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


class Fleet:
    """AGVs serving transport requests on a layout."""

    def __init__(
        self, plant: Plant, spec: FleetSpec, layout: Layout, chargers: Sequence[str]
    ) -> None:
        self.env = env = plant.env
        self.log = log = plant.log
        self.spec = spec
        self.layout = layout
        self.traffic = Traffic(env, layout.n_resources)
        self.rule = _RULES[spec.dispatch]
        self._assign = getattr(self.rule, "assign", None)  # a batched rule (see module doc)
        self._epoch_at: float | None = None  # the instant a batched dispatch is scheduled for
        make_dwell = getattr(self.rule, "dwell_points", None)  # where idle vehicles wait
        self._dwell: DwellPoints | None = make_dwell(self) if make_dwell is not None else None
        self.pending: list[Trip] = []
        self.chargers = {c: simpy.Resource(env, capacity=1) for c in chargers}
        self.low = spec.charge_threshold * spec.battery_kwh
        self._seq = 0
        # "repositioning" is interned when first used, so logs without it keep their strings
        self._state_codes = {s: log.code(s) for s in AGV_STATES if s != "repositioning"}
        self._label_codes = [log.code(x) for x in layout.labels]
        self._move_codes: dict[str, int] = {}
        self.vehicles: list[Vehicle] = []
        for i in range(spec.size):
            name = f"agv_{i + 1}"
            node = spec.home[i % len(spec.home)]
            v = Vehicle(name, i, log.code(name), node, spec.battery_kwh)
            self.vehicles.append(v)
            log.emit(K_AGV_ADDED, unit=v.code, detail=log.code(node), value=v.battery)
            self._set(v, "idle")

    # ------------------------------------------------------------------ requests
    def request(
        self,
        origin: str,
        dest: str,
        loads: int,
        due: float,
        batch: int = -1,
        kind: str = "ibc",
        on_pickup: Callable[[], None] | None = None,
    ) -> simpy.Event:
        """Move ``loads`` IBCs/pallets from origin to dest; the event fires when all arrived.

        ``on_pickup`` is called once the last load has been picked up (a unit stays blocked
        until then).
        """
        env, log = self.env, self.log
        if origin == dest:  # same station (e.g. granulator and dryer in one room): no trip
            if on_pickup is not None:
                on_pickup()
            done = env.event()
            done.succeed()
            return done
        trips = max(1, math.ceil(loads / self.spec.capacity))
        job = _Job(trips, on_pickup, env.event())
        left = max(loads, 1)
        for _ in range(trips):
            n = min(left, self.spec.capacity)
            left -= n
            self._seq += 1
            code = log.code(f"T{self._seq} {origin}>{dest}")
            trip = Trip(self._seq, origin, dest, n, due, env.now, batch, code, job)
            log.emit(K_REQUEST, batch=batch, detail=code, state=log.code(kind), value=float(n))
            self.pending.append(trip)
        if self._dwell is not None:
            self._dwell.observe(origin, trips, env.now)
        self._dispatch()
        return job.done

    def _dispatch(self) -> None:
        if self._assign is not None:
            if (self.pending or self._dwell is not None) and self._epoch_at != self.env.now:
                self._epoch_at = self.env.now
                self.env.timeout(0).callbacks.append(self._epoch)
            return
        while self.pending:
            idle = [v for v in self.vehicles if not v.busy and self._fit(v)]
            if not idle:
                return
            trip, veh = self.rule(self.pending, idle, self)
            self.pending.remove(trip)
            veh.busy = True
            self.env.process(self._serve(veh, trip))

    def _epoch(self, _event: simpy.Event | None = None) -> None:
        """A batched decision epoch: assign waiting trips to available vehicles, all at once,
        then send the vehicles left idle to their dwell points (rules with dwell points)."""
        self._epoch_at = None
        assign = self._assign
        assert assign is not None
        while self.pending:
            idle = [v for v in self.vehicles if (not v.busy and self._fit(v)) or self._takeable(v)]
            if not idle:
                break
            for trip, veh in assign(self.pending, idle, self):
                self.pending.remove(trip)
                if veh.relocating:  # it stops at its next node and serves the trip from there
                    veh.claim = trip
                    continue
                veh.busy = True
                self.env.process(self._serve(veh, trip))
        if self._dwell is not None:
            self._position(self._dwell)

    @staticmethod
    def _takeable(v: Vehicle) -> bool:
        """Repositioning and not yet taken by a trip."""
        return v.relocating and v.claim is None

    def _position(self, dwell: DwellPoints) -> None:
        """Send the idle vehicles that have not been placed yet to their dwell points.

        A vehicle is placed once after it becomes idle (``DwellPoints.spot``, the other idle
        vehicles where they wait); with ``joint`` all idle vehicles are re-planned together.
        A vehicle moves only if its whole route can be reserved at once: a repositioning never
        queues for traffic (a queued route claims its resources ahead of later trips); else
        the vehicle stays unplaced and is tried again at the next epoch.
        """
        if dwell.weight is None:
            return
        avail = [v for v in self.vehicles if (not v.busy and self._fit(v)) or self._takeable(v)]
        where = {v.index: v.dwell if v.relocating else v.node for v in avail}
        if dwell.policy.joint:
            targets = dwell.plan([where[v.index] for v in avail])
            for v, target in zip(avail, targets, strict=True):
                if not v.relocating and target != v.node:
                    self._reposition(v, target)
            return
        placed = {v.index for v in avail if v.relocating or v.settled}
        for v in avail:
            if v.index in placed:
                continue
            others = [where[u.index] for u in avail if u.index in placed]
            target = dwell.spot(others, v.node)
            placed.add(v.index)
            if target == v.node or self._reposition(v, target):
                v.settled = True
                where[v.index] = target

    def _reposition(self, v: Vehicle, target: str) -> bool:
        """Start driving idle ``v`` empty to ``target`` if its route is free now."""
        route = self.layout.route(v.node, target)
        if not self.traffic.free(route.resources):
            return False
        self.traffic.reserve(v.index, route.resources)  # granted at once
        self._set(v, "repositioning")
        self.traffic.release(self.layout.node_res[v.node])
        v.busy = v.relocating = True
        v.dwell = target
        self.env.process(self._relocate(v, route))
        return True

    def _relocate(self, v: Vehicle, route: Route):
        """Drive a reserved route to a dwell point. A trip that takes the vehicle over stops it
        at its next node (the rest of the route is released) and is served from there."""
        legs = route.legs
        for k, leg in enumerate(legs):
            if v.claim is not None:
                self.traffic.release(*(r for x in legs[k:] for r in (x.edge, x.node)))
                break
            v.heading, v.arrive_at = leg.to, self.env.now + leg.hours
            yield from self._leg(v, leg)
        v.relocating, v.dwell, v.heading = False, None, None
        trip, v.claim = v.claim, None
        if trip is not None:
            yield from self._serve(v, trip)
            return
        self._set(v, "idle")
        v.busy = False
        self._dispatch()

    def _fit(self, v: Vehicle) -> bool:
        """An idle vehicle with a low battery goes charging instead of taking work."""
        self._drain_idle(v)
        if v.battery < self.low:
            v.busy = True
            self.env.process(self._charge_then_idle(v))
            return False
        return True

    # ------------------------------------------------------------------ vehicle processes
    def _set(self, v: Vehicle, state: str) -> None:
        if state != v.state:
            if v.state == "idle":
                self._drain_idle(v)
            v.state = state
            if state == "idle":
                v.idle_since = v.drained_at = self.env.now
            code = self._state_codes.get(state)
            if code is None:
                code = self._state_codes[state] = self.log.code(state)
            self.log.emit(K_AGV_STATE, unit=v.code, state=code, value=v.battery)

    def _drain_idle(self, v: Vehicle) -> None:
        if v.state == "idle":
            now = self.env.now
            v.battery = max(0.0, v.battery - (now - v.drained_at) * self.spec.drain_idle_per_h)
            v.drained_at = now

    def _serve(self, v: Vehicle, trip: Trip):
        env, log = self.env, self.log
        job = trip.job
        yield from self._drive(v, trip.origin, "empty")
        yield from self._handle(v)
        log.emit(
            K_PICKUP, unit=v.code, batch=trip.batch, detail=trip.code, value=env.now - trip.created
        )
        job.picked += 1
        if job.picked == job.trips and job.on_pickup is not None:
            job.on_pickup()
        yield from self._drive(v, trip.dest, "loaded")
        yield from self._handle(v)
        log.emit(
            K_DONE, unit=v.code, batch=trip.batch, detail=trip.code, value=env.now - trip.created
        )
        job.delivered += 1
        if job.delivered == job.trips:
            job.done.succeed()
        if v.battery < self.low:
            yield from self._charge(v)
        self._set(v, "idle")
        v.busy = v.settled = False
        self._dispatch()

    def _handle(self, v: Vehicle):
        if self.spec.handling > 0:
            self._set(v, "handling")
            yield self.env.timeout(self.spec.handling)

    def _drive(self, v: Vehicle, dest: str, mode: str):
        route = self.layout.route(v.node, dest)
        if not route.legs:
            return
        env, log, traffic = self.env, self.log, self.traffic
        grant = traffic.reserve(v.index, route.resources)
        if not grant.triggered:
            blocker = traffic.blocker(route.resources)
            self._set(v, "traffic")
            t0 = env.now
            yield grant
            log.emit(
                K_TRAFFIC,
                unit=v.code,
                value=env.now - t0,
                detail=self._label_codes[blocker] if blocker >= 0 else -1,
            )
        self._set(v, mode)
        traffic.release(self.layout.node_res[v.node])
        for leg in route.legs:
            yield from self._leg(v, leg)

    def _leg(self, v: Vehicle, leg: Leg):
        """Drive one reserved segment, releasing it and the node reached on arrival."""
        log = self.log
        mc = self._move_codes.get(leg.move)
        if mc is None:
            mc = self._move_codes[leg.move] = log.code(leg.move)
        log.emit(
            K_AGV_MOVE,
            unit=v.code,
            state=self._label_codes[leg.edge],
            detail=mc,
            value=leg.metres,
        )
        yield self.env.timeout(leg.hours)
        v.battery = max(0.0, v.battery - leg.metres * self.spec.drain_per_m)
        v.node = leg.to
        self.traffic.release(leg.edge, leg.node)

    def _charge(self, v: Vehicle):
        env, log = self.env, self.log
        dist = self.layout.distance
        free = [c for c, r in self.chargers.items() if r.count == 0 and not r.queue]
        pool = free or list(self.chargers)
        node = min(pool, key=lambda c: (dist(v.node, c), c))
        yield from self._drive(v, node, "empty")
        self._set(v, "idle")
        with self.chargers[node].request() as req:
            yield req
            self._set(v, "charging")
            log.emit(K_CHARGE_START, unit=v.code, detail=log.code(node), value=v.battery)
            need = self.spec.battery_kwh - v.battery
            if need > 0:
                yield env.timeout(need / self.spec.charge_kw)
            v.battery = self.spec.battery_kwh
            log.emit(K_CHARGE_END, unit=v.code, detail=log.code(node), value=v.battery)

    def _charge_then_idle(self, v: Vehicle):
        yield from self._charge(v)
        self._set(v, "idle")
        v.busy = v.settled = False
        self._dispatch()


# --------------------------------------------------------------------------- drawing
_KIND_STYLE = {
    "dock": ("square", "#8c564b"),
    "station": ("circle", "#1f77b4"),
    "warehouse_gate": ("diamond", "#2ca02c"),
    "charger": ("star", "#d62728"),
    "waypoint": ("circle-open", "#7f7f7f"),
}


def layout_figure(
    spec: LayoutSpec, stations: Mapping[str, Sequence[str]] | None = None, title: str = "layout"
) -> Any:
    """A plotly figure of the layout: segments, one-way arrows, nodes by kind, unit stations
    labelled with their units (``stations``: node -> unit names)."""
    import plotly.graph_objects as go

    stations = stations or {}
    fig = go.Figure()
    xs: list[float | None] = []
    ys: list[float | None] = []
    for e in spec.edges:
        a, b = spec.nodes[e.from_], spec.nodes[e.to]
        xs += [a.x, b.x, None]
        ys += [a.y, b.y, None]
    fig.add_trace(
        go.Scatter(
            x=xs,
            y=ys,
            mode="lines",
            line={"color": "#bbbbbb", "width": 3},
            name="segments",
            hoverinfo="skip",
        )
    )
    for e in spec.edges:
        if e.one_way:
            a, b = spec.nodes[e.from_], spec.nodes[e.to]
            fig.add_annotation(
                x=(a.x + 2 * b.x) / 3,
                y=(a.y + 2 * b.y) / 3,
                ax=(2 * a.x + b.x) / 3,
                ay=(2 * a.y + b.y) / 3,
                xref="x",
                yref="y",
                axref="x",
                ayref="y",
                showarrow=True,
                arrowhead=3,
                arrowsize=1.5,
                arrowcolor="#555555",
                text="",
            )
    for kind, (symbol, colour) in _KIND_STYLE.items():
        names = [n for n, node in spec.nodes.items() if node.kind == kind]
        if not names:
            continue
        text = [f"{n}: {', '.join(stations[n])}" if n in stations else n for n in names]
        labels = [
            ", ".join(stations[n]) if n in stations else ("" if kind == "waypoint" else n)
            for n in names
        ]
        fig.add_trace(
            go.Scatter(
                x=[spec.nodes[n].x for n in names],
                y=[spec.nodes[n].y for n in names],
                mode="markers+text",
                name=kind,
                text=labels,
                textposition="top center",
                hovertext=text,
                hoverinfo="text",
                marker={"symbol": symbol, "size": 12, "color": colour},
            )
        )
    fig.update_layout(
        title=title,
        xaxis_title="x (m)",
        yaxis_title="y (m)",
        yaxis={"scaleanchor": "x", "scaleratio": 1},
        template="plotly_white",
    )
    return fig


def write_layout_html(scenario: Any, path: str | Any) -> Any:
    """Write the drawing of a scenario's layout (``layout_figure``) to a standalone HTML file."""
    from pathlib import Path

    assert scenario.layout is not None
    stations: dict[str, list[str]] = {}
    for name, uid in scenario.unit_names():
        st = scenario.units[uid].station
        if st is not None:
            stations.setdefault(st, []).append(name)
    fig = layout_figure(scenario.layout, stations, title=f"{scenario.name}: layout")
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.write_html(str(out), include_plotlyjs="cdn")
    return out
