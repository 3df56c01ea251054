"""Routing problem data, route schedules and the independent checker of a plan.

The immutable problem (`RoutingData`: a depot, customers with a demand per temperature class,
vehicle types, a distance matrix), the schedule of one route (`route_schedule`: leave the depot
as late as the windows allow), the checker every plan passes before it is handed out
(`check_routes`), the check of demand no vehicle could serve (`check_demand`) and the split of a
problem into one problem per temperature class (`split_by_temperature`). Nothing here solves:
the solvers (`optimizer.routing_pyvrp`, `optimizer.routing_milp`, and `optimizer.routing`,
which runs them) build on it, and the checker shares no code with them beyond the schedule.

Units are the caller's: distances in one unit, times (windows, service, route duration) in
another; a vehicle type's `speed` converts distance to travel time (1.0 for Solomon instances).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal, Protocol

__all__ = [
    "EPS",
    "TEMPERATURES",
    "ClassProblem",
    "Customer",
    "Depot",
    "HasPlan",
    "RoutePlan",
    "RouteSchedule",
    "RoutingData",
    "RoutingInfeasibleError",
    "Temperature",
    "VehicleType",
    "check_demand",
    "check_routes",
    "route_distance",
    "route_schedule",
    "serves_alone",
    "split_by_temperature",
]

Temperature = Literal["ambient", "cold"]
TEMPERATURES: tuple[Temperature, ...] = ("ambient", "cold")
EPS = 1e-6
"""Absolute tolerance on times, loads and distances in feasibility checks."""


# ============================================================================ problem data
@dataclass(frozen=True)
class Depot:
    """The site every route starts and ends at (the plant's finished-goods store).

    Vehicles leave no earlier than `opens` and are back no later than `closes`.
    """

    name: str = "depot"
    opens: float = 0.0
    closes: float = math.inf
    x: float | None = None
    y: float | None = None

    def __post_init__(self) -> None:
        if not self.opens <= self.closes:
            raise ValueError(
                f'depot "{self.name}": "opens" ({self.opens}) must be <= "closes" ({self.closes}).'
            )


@dataclass(frozen=True)
class Customer:
    """A delivery point with its demand per temperature class.

    Service must start within [`ready`, `due`]; a vehicle arriving earlier waits. `service` is
    the time spent at the customer per visit.
    """

    name: str
    ambient: float = 0.0
    cold: float = 0.0
    ready: float = 0.0
    due: float = math.inf
    service: float = 0.0
    x: float | None = None
    y: float | None = None

    def __post_init__(self) -> None:
        for key in ("ambient", "cold", "service"):
            value = getattr(self, key)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f'customer "{self.name}": "{key}" must be >= 0, got {value!r}.')
        if self.ambient <= 0 and self.cold <= 0:
            raise ValueError(
                f'customer "{self.name}" has no demand; expected "ambient" or "cold" > 0.'
            )
        if not self.ready <= self.due:
            raise ValueError(
                f'customer "{self.name}": "ready" ({self.ready}) must be <= "due" ({self.due}).'
            )

    def demand(self, temperature: Temperature) -> float:
        return self.ambient if temperature == "ambient" else self.cold


@dataclass(frozen=True)
class VehicleType:
    """Identical vehicles of one temperature class.

    `count` is the number available (None: as many as needed, a free fleet); `max_duration` the
    longest time a route may take from leaving the depot to returning (None: no limit beyond the
    depot hours); `speed` the distance covered per time unit.
    """

    name: str
    temperature: Temperature
    capacity: float
    count: int | None = None
    max_duration: float | None = None
    speed: float = 1.0

    def __post_init__(self) -> None:
        if self.temperature not in TEMPERATURES:
            raise ValueError(
                f'vehicle type "{self.name}": "temperature" must be one of {TEMPERATURES}, '
                f"got {self.temperature!r}."
            )
        if not (math.isfinite(self.capacity) and self.capacity > 0):
            raise ValueError(
                f'vehicle type "{self.name}": "capacity" must be > 0, got {self.capacity!r}.'
            )
        if self.count is not None and not (isinstance(self.count, int) and self.count >= 0):
            raise ValueError(
                f'vehicle type "{self.name}": "count" must be an integer >= 0 or None, '
                f"got {self.count!r}."
            )
        if self.max_duration is not None and not self.max_duration > 0:
            raise ValueError(
                f'vehicle type "{self.name}": "max_duration" must be > 0 or None, '
                f"got {self.max_duration!r}."
            )
        if not (math.isfinite(self.speed) and self.speed > 0):
            raise ValueError(
                f'vehicle type "{self.name}": "speed" must be > 0, got {self.speed!r}.'
            )


@dataclass(frozen=True)
class RoutingData:
    """An immutable routing problem.

    `distance[i][j]` is the distance from node i to node j, where node 0 is the depot and node
    `c + 1` is customer `c` (`customers[c]`). The last three fields only change how results
    are shown: `time_format` "clock" reads times as minutes since midnight (HH:MM), "number"
    prints them as they are; `distance_unit` and `load_unit` name the units of distances and
    of demands and capacities ("km", "pallets"; empty when the data has none, as in Solomon
    instances).
    """

    depot: Depot
    customers: tuple[Customer, ...]
    vehicle_types: tuple[VehicleType, ...]
    distance: tuple[tuple[float, ...], ...]
    name: str = "routing"
    time_format: Literal["number", "clock"] = "number"
    distance_unit: str = ""
    load_unit: str = ""

    def __post_init__(self) -> None:
        n = len(self.customers) + 1
        if len(self.distance) != n or any(len(row) != n for row in self.distance):
            raise ValueError(
                f"the distance matrix must be {n} x {n} (depot + {n - 1} customers), "
                f"got {len(self.distance)} rows."
            )
        for i, row in enumerate(self.distance):
            for j, value in enumerate(row):
                if not (math.isfinite(value) and value >= 0):
                    raise ValueError(f"distance[{i}][{j}] must be >= 0, got {value!r}.")
        names = [c.name for c in self.customers]
        if len(set(names)) != len(names):
            dup = sorted({n for n in names if names.count(n) > 1})
            raise ValueError(f"customer names must be unique; repeated: {', '.join(dup)}.")
        if not self.vehicle_types:
            raise ValueError("at least one vehicle type is needed.")

    def travel_time(self, k: int, i: int, j: int) -> float:
        """Travel time of vehicle type k from node i to node j."""
        return self.distance[i][j] / self.vehicle_types[k].speed

    def format_time(self, t: float) -> str:
        if self.time_format == "clock" and math.isfinite(t):
            minutes = round(t)
            return f"{minutes // 60:02d}:{minutes % 60:02d}"
        return f"{t:g}"

    def replace(self, **changes: Any) -> RoutingData:
        return replace(self, **changes)


class RoutingInfeasibleError(ValueError):
    """Demand that no vehicle can serve, found before solving; names the customers and why."""

    def __init__(self, reasons: Sequence[tuple[str, str]]) -> None:
        self.reasons = tuple(reasons)
        self.customers = tuple(dict.fromkeys(name for name, _ in self.reasons))
        lines = "; ".join(f'"{name}": {why}' for name, why in self.reasons)
        super().__init__(f"the demand cannot be served: {lines}")


# ================================================================================= plans
class HasPlan(Protocol):
    """Anything with a vehicle type and a customer sequence (a `RoutePlan`, a `Route`)."""

    vehicle_type: int
    customers: tuple[int, ...]


@dataclass(frozen=True)
class RoutePlan:
    """One vehicle's trip: its vehicle type and the customers (indices) in visiting order."""

    vehicle_type: int
    customers: tuple[int, ...]


@dataclass(frozen=True)
class RouteSchedule:
    """Times of a route when the vehicle leaves the depot as late as its windows allow.

    Leaving late removes waiting and gives the shortest route duration. `arrivals[p]` and
    `starts[p]` are the arrival and start of service at the p-th customer; `load` is the
    quantity on board when leaving the depot.
    """

    departure: float
    arrivals: tuple[float, ...]
    starts: tuple[float, ...]
    return_time: float
    distance: float
    load: float

    @property
    def duration(self) -> float:
        return self.return_time - self.departure


# ===================================================================== schedule and checks
def route_schedule(data: RoutingData, vehicle_type: int, customers: Sequence[int]) -> RouteSchedule:
    """The schedule of a route leaving as late as possible (earliest departure if infeasible).

    The latest departure comes from a backward pass over the latest service starts; leaving
    later never makes a route shorter in distance but removes waiting.
    """
    k = vehicle_type
    nodes = [c + 1 for c in customers]
    temp = data.vehicle_types[k].temperature
    depart = data.depot.opens
    if nodes:
        latest = data.depot.closes
        nxt = 0
        for node in reversed(nodes):
            cust = data.customers[node - 1]
            latest = min(cust.due, latest - data.travel_time(k, node, nxt) - cust.service)
            nxt = node
        latest_departure = latest - data.travel_time(k, 0, nodes[0])
        if latest_departure >= data.depot.opens - EPS and _forward_ok(
            data, k, nodes, latest_departure
        ):
            depart = max(data.depot.opens, latest_departure)
    arrivals, starts = [], []
    t, prev, dist = depart, 0, 0.0
    for node in nodes:
        cust = data.customers[node - 1]
        t += data.travel_time(k, prev, node)
        dist += data.distance[prev][node]
        arrivals.append(t)
        t = max(t, cust.ready)
        starts.append(t)
        t += cust.service
        prev = node
    if nodes:
        t += data.travel_time(k, prev, 0)
        dist += data.distance[prev][0]
    load = sum(data.customers[c].demand(temp) for c in customers)
    return RouteSchedule(depart, tuple(arrivals), tuple(starts), t, dist, load)


def _forward_ok(data: RoutingData, k: int, nodes: list[int], depart: float) -> bool:
    t, prev = depart, 0
    for node in nodes:
        cust = data.customers[node - 1]
        t = max(t + data.travel_time(k, prev, node), cust.ready)
        if t > cust.due + EPS:
            return False
        t += cust.service
        prev = node
    return t + data.travel_time(k, prev, 0) <= data.depot.closes + EPS


def route_distance(data: RoutingData, plans: Sequence[HasPlan]) -> float:
    """Total distance of a set of routes."""
    return sum(route_schedule(data, p.vehicle_type, p.customers).distance for p in plans)


def check_routes(data: RoutingData, routes: Sequence[HasPlan]) -> list[str]:
    """Every rule a set of routes breaks, as readable messages; empty when feasible.

    Checks: known vehicle types and customers, the fleet size per type, temperature class,
    capacity, time windows, depot hours, route duration, and that every (customer, class) with
    a demand is served exactly once.
    """
    problems: list[str] = []
    served: dict[tuple[int, str], int] = {}
    used: dict[int, int] = {}
    for r, route in enumerate(routes):
        k = route.vehicle_type
        if not 0 <= k < len(data.vehicle_types):
            problems.append(f"route {r}: unknown vehicle type {k}.")
            continue
        vt = data.vehicle_types[k]
        label = f"route {r} ({vt.name}, {vt.temperature})"
        bad = [c for c in route.customers if not 0 <= c < len(data.customers)]
        if bad:
            problems.append(f"{label}: unknown customer indices {bad}.")
            continue
        if not route.customers:
            problems.append(f"{label}: visits no customer.")
            continue
        used[k] = used.get(k, 0) + 1
        for c in route.customers:
            cust = data.customers[c]
            if cust.demand(vt.temperature) <= 0:
                other = "cold" if vt.temperature == "ambient" else "ambient"
                problems.append(
                    f'{label}: customer "{cust.name}" has no {vt.temperature} demand '
                    f"(its {other} goods may not ride in a {vt.temperature} vehicle)."
                )
            served[(c, vt.temperature)] = served.get((c, vt.temperature), 0) + 1
        s = route_schedule(data, k, route.customers)
        if s.load > vt.capacity + EPS:
            problems.append(f"{label}: load {s.load:g} exceeds the capacity {vt.capacity:g}.")
        for p, c in enumerate(route.customers):
            cust = data.customers[c]
            if s.starts[p] > cust.due + EPS:
                problems.append(
                    f'{label}: customer "{cust.name}" is reached at '
                    f"{data.format_time(s.starts[p])}, after its window closes at "
                    f"{data.format_time(cust.due)}."
                )
        if s.return_time > data.depot.closes + EPS:
            problems.append(
                f"{label}: returns at {data.format_time(s.return_time)}, after the depot closes "
                f"at {data.format_time(data.depot.closes)}."
            )
        if vt.max_duration is not None and s.duration > vt.max_duration + EPS:
            problems.append(
                f"{label}: takes {s.duration:g}, more than the maximum route duration "
                f"{vt.max_duration:g}."
            )
    for k, n in sorted(used.items()):
        count = data.vehicle_types[k].count
        if count is not None and n > count:
            problems.append(
                f'vehicle type "{data.vehicle_types[k].name}" is used on {n} routes; '
                f"only {count} available."
            )
    for c, cust in enumerate(data.customers):
        for temp in TEMPERATURES:
            if cust.demand(temp) <= 0:
                continue
            n = served.get((c, temp), 0)
            if n == 0:
                problems.append(f'customer "{cust.name}": its {temp} demand is not delivered.')
            elif n > 1:
                problems.append(
                    f'customer "{cust.name}": its {temp} demand is delivered {n} times.'
                )
    return problems


def check_demand(data: RoutingData) -> None:
    """Raise `RoutingInfeasibleError` for demand that no vehicle could serve, even alone.

    A (customer, class) fails when no vehicle type of its class exists, its quantity is above
    every capacity of the class, or no vehicle of the class can go depot -> customer -> depot
    within the customer's window, the depot hours and the maximum route duration. A class whose
    fixed fleet cannot carry its total demand fails too.
    """
    reasons: list[tuple[str, str]] = []
    for temp in TEMPERATURES:
        types = [
            k for k, vt in enumerate(data.vehicle_types) if vt.temperature == temp and vt.count != 0
        ]
        total = 0.0
        for c, cust in enumerate(data.customers):
            q = cust.demand(temp)
            if q <= 0:
                continue
            total += q
            if not types:
                reasons.append(
                    (cust.name, f"{temp} demand {q:g} but no {temp} vehicle is available")
                )
                continue
            big_enough = [k for k in types if q <= data.vehicle_types[k].capacity + EPS]
            if not big_enough:
                most = max(data.vehicle_types[k].capacity for k in types)
                reasons.append(
                    (
                        cust.name,
                        f"{temp} demand {q:g} is above every {temp} vehicle capacity "
                        f"(largest {most:g})",
                    )
                )
                continue
            if not any(serves_alone(data, k, c) for k in big_enough):
                reasons.append(
                    (cust.name, f"{temp} delivery: " + _alone_reason(data, big_enough[0], c))
                )
        limited = all(data.vehicle_types[k].count is not None for k in types)
        if types and limited:
            room = sum(
                data.vehicle_types[k].capacity * (data.vehicle_types[k].count or 0) for k in types
            )
            if total > room + EPS:
                reasons.append(
                    (
                        f"all {temp} customers",
                        f"total {temp} demand {total:g} exceeds the {temp} fleet capacity {room:g}",
                    )
                )
    if reasons:
        raise RoutingInfeasibleError(reasons)


def serves_alone(data: RoutingData, k: int, c: int) -> bool:
    """Whether a vehicle of type k can serve customer c alone (depot -> c -> depot) within the
    window, the depot hours and the maximum route duration."""
    s = route_schedule(data, k, (c,))
    vt = data.vehicle_types[k]
    return (
        s.starts[0] <= data.customers[c].due + EPS
        and s.return_time <= data.depot.closes + EPS
        and (vt.max_duration is None or s.duration <= vt.max_duration + EPS)
    )


def _alone_reason(data: RoutingData, k: int, c: int) -> str:
    s = route_schedule(data, k, (c,))
    cust, vt, fmt = data.customers[c], data.vehicle_types[k], data.format_time
    if s.starts[0] > cust.due + EPS:
        return (
            f"its window {fmt(cust.ready)}-{fmt(cust.due)} closes before the earliest arrival "
            f"{fmt(s.starts[0])} straight from the depot"
        )
    if s.return_time > data.depot.closes + EPS:
        return (
            f"a vehicle serving it directly is back at {fmt(s.return_time)}, after the depot "
            f"closes at {fmt(data.depot.closes)}"
        )
    return (
        f"the direct round trip takes {s.duration:g}, more than the maximum route duration "
        f"{vt.max_duration:g} of {vt.name}"
    )


# ================================================================= splitting by temperature
@dataclass(frozen=True)
class ClassProblem:
    """The routing problem of one temperature class, with the maps back to the full data."""

    temperature: Temperature
    data: RoutingData
    customer_index: tuple[int, ...]
    """customer_index[c] is the index in the full data of customer c of this class."""
    type_index: tuple[int, ...]


def split_by_temperature(data: RoutingData) -> list[ClassProblem]:
    """One single-class problem per temperature class that has demand."""
    out = []
    for temp in TEMPERATURES:
        cust = [c for c, cu in enumerate(data.customers) if cu.demand(temp) > 0]
        if not cust:
            continue
        types = [k for k, vt in enumerate(data.vehicle_types) if vt.temperature == temp]
        nodes = [0] + [c + 1 for c in cust]
        sub = RoutingData(
            depot=data.depot,
            customers=tuple(
                replace(
                    data.customers[c],
                    ambient=data.customers[c].demand(temp) if temp == "ambient" else 0.0,
                    cold=data.customers[c].demand(temp) if temp == "cold" else 0.0,
                )
                for c in cust
            ),
            vehicle_types=tuple(data.vehicle_types[k] for k in types),
            distance=tuple(tuple(data.distance[i][j] for j in nodes) for i in nodes),
            name=f"{data.name}/{temp}",
            time_format=data.time_format,
            distance_unit=data.distance_unit,
            load_unit=data.load_unit,
        )
        out.append(ClassProblem(temp, sub, tuple(cust), tuple(types)))
    return out
