"""Cold-chain distribution routing: vehicle routing with time windows and temperature classes.

Three steps, as in the rest of `optimizer/`: immutable problem data (`RoutingData`), a pure
`solve_routing(data, time_limit, seed) -> RoutingResult`, and an independent feasibility
checker `check_routes(data, routes)` that every result passes before it is returned.

Temperature classes. Every customer orders an ``ambient`` quantity, a ``cold`` (2-8 C)
quantity, or both; every vehicle type belongs to one class. A product rides only in a vehicle of
its own class: a refrigerated vehicle does *not* carry ambient goods. Many ambient products are
labelled "do not refrigerate" (15-25 C), so loading them into a 2-8 C reefer would be an
excursion, and a reefer kept at 2-8 C cannot also hold 15-25 C. The classes therefore form
separate fleets and the problem splits into one independent routing problem per class; a
customer with both kinds of demand receives two visits (one per class), each taking the
customer's service time.

Solving one class. First a strong heuristic: PyVRP (iterated local search, the state of the art
for VRPTW) when it is installed, otherwise a randomised cheapest-insertion with relocate moves.
Then the MILP of `build_model` (a 2-index formulation per vehicle type with time propagation
and a tight big-M per arc) is warm-started from the heuristic routes and given the rest of the
time budget, to prove optimality, improve, or at least give a lower bound. Small classes
(<= 30 visits) get a short heuristic run and a long MILP; classes up to 200 visits give the
MILP the last third of their time (measured here: Solomon C101 and R101 with 100 customers are
proven optimal in about 1 s from a good warm start); larger classes are left to the heuristic.

Units are the caller's: distances in one unit, times (windows, service, route duration) in
another; a vehicle type's `speed` converts distance to travel time (1.0 for Solomon instances).
Pyomo objects never leave this module: `build_model` is public for tests and experiments.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal, Protocol

__all__ = [
    "TEMPERATURES",
    "Customer",
    "Depot",
    "Route",
    "RoutePlan",
    "RouteSchedule",
    "RoutingData",
    "RoutingInfeasibleError",
    "RoutingResult",
    "VehicleType",
    "build_model",
    "check_demand",
    "check_routes",
    "route_schedule",
    "solve_routing",
    "split_by_temperature",
]

Temperature = Literal["ambient", "cold"]
TEMPERATURES: tuple[Temperature, ...] = ("ambient", "cold")
RoutingStatus = Literal["optimal", "feasible", "infeasible", "time_limit"]
EPS = 1e-6
"""Absolute tolerance on times, loads and distances in feasibility checks."""
SCALE = 1000
"""PyVRP works in integers: distances, times and loads are multiplied by this and rounded
conservatively (travel and service times up, windows and capacities down)."""


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
    `c + 1` is customer `c` (`customers[c]`). `time_format` only changes how times are shown:
    "clock" reads them as minutes since midnight (HH:MM), "number" prints them as they are.
    """

    depot: Depot
    customers: tuple[Customer, ...]
    vehicle_types: tuple[VehicleType, ...]
    distance: tuple[tuple[float, ...], ...]
    name: str = "routing"
    time_format: Literal["number", "clock"] = "number"

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


# ================================================================================= results
class HasPlan(Protocol):
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
    `starts[p]` are the arrival and start of service at the p-th customer; `loads[p]` the
    quantity on board when leaving the depot minus what was delivered before stop p.
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


@dataclass(frozen=True)
class Route:
    """A route of a result, with its schedule."""

    vehicle_type: int
    vehicle_name: str
    temperature: Temperature
    customers: tuple[int, ...]
    customer_names: tuple[str, ...]
    schedule: RouteSchedule

    def to_dict(self, data: RoutingData) -> dict[str, Any]:
        s = self.schedule
        stops = [
            {
                "customer": name,
                "arrival": _round(s.arrivals[p]),
                "start": _round(s.starts[p]),
                "arrival_time": data.format_time(s.arrivals[p]),
                "start_time": data.format_time(s.starts[p]),
                "delivered": _round(data.customers[c].demand(self.temperature)),
            }
            for p, (c, name) in enumerate(zip(self.customers, self.customer_names, strict=True))
        ]
        return {
            "vehicle_type": self.vehicle_name,
            "temperature": self.temperature,
            "departure": _round(s.departure),
            "departure_time": data.format_time(s.departure),
            "return": _round(s.return_time),
            "return_time": data.format_time(s.return_time),
            "distance": _round(s.distance),
            "duration": _round(s.duration),
            "load": _round(s.load),
            "stops": stops,
        }


@dataclass(frozen=True)
class ClassResult:
    """What happened for one temperature class."""

    temperature: Temperature
    status: RoutingStatus
    distance: float | None
    lower_bound: float | None
    heuristic: str
    heuristic_distance: float | None
    exact: str
    seconds: float


@dataclass(frozen=True)
class RoutingResult:
    """Outcome of `solve_routing`; every route has passed `check_routes`."""

    name: str
    status: RoutingStatus
    distance: float | None
    routes: tuple[Route, ...]
    lower_bound: float | None
    seconds: float
    classes: tuple[ClassResult, ...] = field(default=())
    data: RoutingData | None = field(default=None, repr=False, compare=False)

    @property
    def vehicles(self) -> int:
        return len(self.routes)

    @property
    def gap(self) -> float | None:
        if self.distance is None or self.lower_bound is None:
            return None
        return max(0.0, (self.distance - self.lower_bound) / max(self.distance, 1e-9))

    def to_dict(self) -> dict[str, Any]:
        data = self.data
        return {
            "name": self.name,
            "status": self.status,
            "distance": _round(self.distance),
            "vehicles": self.vehicles,
            "lower_bound": _round(self.lower_bound),
            "gap": _round(self.gap, 6),
            "seconds": round(self.seconds, 3),
            "routes": [r.to_dict(data) for r in self.routes] if data is not None else [],
            "classes": [
                {
                    **asdict(c),
                    "distance": _round(c.distance),
                    "lower_bound": _round(c.lower_bound),
                    "heuristic_distance": _round(c.heuristic_distance),
                    "seconds": round(c.seconds, 3),
                }
                for c in self.classes
            ],
        }


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


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
            if not any(_direct_ok(data, k, c) for k in big_enough):
                reasons.append(
                    (cust.name, f"{temp} delivery: " + _direct_reason(data, big_enough[0], c))
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


def _direct_ok(data: RoutingData, k: int, c: int) -> bool:
    s = route_schedule(data, k, (c,))
    vt = data.vehicle_types[k]
    return (
        s.starts[0] <= data.customers[c].due + EPS
        and s.return_time <= data.depot.closes + EPS
        and (vt.max_duration is None or s.duration <= vt.max_duration + EPS)
    )


def _direct_reason(data: RoutingData, k: int, c: int) -> str:
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
        )
        out.append(ClassProblem(temp, sub, tuple(cust), tuple(types)))
    return out


# ============================================================================== the solver
def solve_routing(
    data: RoutingData,
    time_limit: float = 60.0,
    seed: int = 0,
    solver: str | None = "appsi_highs",
    *,
    heuristic: Literal["auto", "pyvrp", "insertion"] = "auto",
    exact_max_customers: int = 30,
    bound_max_customers: int = 200,
) -> RoutingResult:
    """Routes of minimum total distance serving every customer within the rules.

    `time_limit` (seconds) covers the whole run; the classes share it in proportion to their
    visits. `solver` names the MILP solver of the exact stage (None skips that stage). Classes
    of at most `exact_max_customers` visits give the heuristic a short run and the MILP the
    rest of their time; classes of up to `bound_max_customers` visits give the heuristic two
    thirds and the MILP the last third (a lower bound, often a proof on tight windows); larger
    classes are left to the heuristic. Raises `RoutingInfeasibleError` before solving for
    demand that cannot be served, `SolverUnavailableError` for a solver not installed here.
    """
    if not time_limit > 0:
        raise ValueError(f'"time_limit" must be > 0 seconds, got {time_limit!r}.')
    started = time.perf_counter()
    deadline = started + time_limit
    check_demand(data)
    if solver is not None:
        from optimizer.solvers import check_solver

        check_solver(solver)  # a missing solver is reported before any time is spent
    problems = split_by_temperature(data)
    rng = random.Random(seed)
    routes: list[Route] = []
    classes: list[ClassResult] = []
    left_visits = sum(len(p.data.customers) for p in problems)
    for problem in problems:
        now = time.perf_counter()
        share = len(problem.data.customers) / left_visits
        left_visits -= len(problem.data.customers)
        class_deadline = now + max(0.05, (deadline - now) * share)
        plans, outcome = _solve_class(
            problem.data,
            class_deadline,
            rng.randrange(2**31),
            solver,
            heuristic,
            exact_max_customers,
            bound_max_customers,
        )
        classes.append(replace(outcome, temperature=problem.temperature))
        for plan in plans:
            k = problem.type_index[plan.vehicle_type]
            cust = tuple(problem.customer_index[c] for c in plan.customers)
            vt = data.vehicle_types[k]
            routes.append(
                Route(
                    vehicle_type=k,
                    vehicle_name=vt.name,
                    temperature=vt.temperature,
                    customers=cust,
                    customer_names=tuple(data.customers[c].name for c in cust),
                    schedule=route_schedule(data, k, cust),
                )
            )
    statuses = [c.status for c in classes]
    if "infeasible" in statuses:
        status: RoutingStatus = "infeasible"
        routes = []
    else:
        problems_found = check_routes(data, routes)
        if problems_found:  # never hand out a wrong plan: this is a bug, say so loudly
            raise RuntimeError("routing produced an infeasible plan: " + "; ".join(problems_found))
        if all(s == "optimal" for s in statuses):
            status = "optimal"
        elif "time_limit" in statuses:
            status = "time_limit"
        else:
            status = "feasible"
    distance = sum(r.schedule.distance for r in routes) if status != "infeasible" else None
    bounds = [c.lower_bound for c in classes]
    lower = sum(b for b in bounds if b is not None) if bounds and None not in bounds else None
    return RoutingResult(
        name=data.name,
        status=status,
        distance=distance,
        routes=tuple(routes),
        lower_bound=lower,
        seconds=time.perf_counter() - started,
        classes=tuple(classes),
        data=data,
    )


def _solve_class(
    data: RoutingData,
    deadline: float,
    seed: int,
    solver: str | None,
    heuristic: str,
    exact_max_customers: int,
    bound_max_customers: int,
) -> tuple[list[RoutePlan], ClassResult]:
    """Heuristic, then the warm-started MILP (all but large classes), within `deadline`."""
    started = time.perf_counter()
    n = len(data.customers)
    exact = solver is not None and n <= bound_max_customers
    budget = deadline - started
    if not exact:
        h_budget = 0.97 * budget
    elif n <= exact_max_customers:
        h_budget = min(0.25 * budget, 1.0 + 0.1 * n)
    else:
        h_budget = 2 * budget / 3
    name, plans = _run_heuristic(data, started + max(0.02, h_budget), seed, heuristic)
    best = plans if plans is not None and not check_routes(data, plans) else None
    h_dist = _total(data, best) if best is not None else None
    lower: float | None = None
    exact_msg = "skipped"
    status: RoutingStatus = "time_limit"
    if exact and solver is not None:
        mplans, mres = _solve_milp(data, best, deadline, seed, solver)
        exact_msg = f"{mres.solver}: {mres.status}"
        if (
            mplans is not None
            and not check_routes(data, mplans)
            and (best is None or _total(data, mplans) < _total(data, best) - EPS)
        ):
            best = mplans
        lower = mres.bound
        if best is not None and lower is not None:
            lower = min(lower, _total(data, best))
            if mres.status == "optimal" and _total(data, best) - lower <= 1e-5 * max(
                1.0, abs(lower)
            ):
                status = "optimal"
    if best is None:
        status = "infeasible"
    outcome = ClassResult(
        temperature="ambient",
        status=status,
        distance=_total(data, best) if best is not None else None,
        lower_bound=lower,
        heuristic=name,
        heuristic_distance=h_dist,
        exact=exact_msg,
        seconds=time.perf_counter() - started,
    )
    return best or [], outcome


def _total(data: RoutingData, plans: Sequence[HasPlan]) -> float:
    return sum(route_schedule(data, p.vehicle_type, p.customers).distance for p in plans)


# =============================================================================== heuristics
def _run_heuristic(
    data: RoutingData, deadline: float, seed: int, which: str
) -> tuple[str, list[RoutePlan] | None]:
    if which in ("auto", "pyvrp"):
        try:
            import pyvrp  # noqa: F401
        except ImportError:
            if which == "pyvrp":
                raise
        else:
            return "pyvrp", _pyvrp_routes(data, deadline, seed)
    return "insertion", _insertion_routes(data, deadline, seed)


def _up(value: float) -> int:
    return math.ceil(value * SCALE - 1e-6)


def _down(value: float) -> int:
    return math.floor(value * SCALE + 1e-6)


def _pyvrp_routes(data: RoutingData, deadline: float, seed: int) -> list[RoutePlan] | None:
    """PyVRP's iterated local search on the problem scaled to integers (conservatively)."""
    import numpy as np
    import pyvrp
    from pyvrp.constants import MAX_VALUE
    from pyvrp.stop import MaxRuntime

    n = len(data.customers) + 1
    horizon = min(
        MAX_VALUE // 4,
        _down(data.depot.closes) if math.isfinite(data.depot.closes) else MAX_VALUE // 4,
    )

    def late(value: float) -> int:
        return min(horizon, _down(value)) if math.isfinite(value) else horizon

    dist = np.array([[round(d * SCALE) for d in row] for row in data.distance], dtype=np.int64)
    speeds = sorted({vt.speed for vt in data.vehicle_types})
    durations = [
        np.array([[_up(d / s) for d in row] for row in data.distance], dtype=np.int64)
        for s in speeds
    ]
    locations = [pyvrp.Location(0.0, 0.0) for _ in range(n)]
    depots = [pyvrp.Depot(0, tw_early=_up(data.depot.opens), tw_late=horizon)]
    clients = [
        pyvrp.Client(
            c + 1,
            delivery=[_up(cu.ambient + cu.cold)],
            service_duration=_up(cu.service),
            tw_early=_up(cu.ready),
            tw_late=late(cu.due),
        )
        for c, cu in enumerate(data.customers)
    ]
    types = [
        pyvrp.VehicleType(
            num_available=vt.count if vt.count is not None else len(data.customers),
            capacity=[_down(vt.capacity)],
            tw_early=_up(data.depot.opens),
            tw_late=horizon,
            shift_duration=late(vt.max_duration) if vt.max_duration is not None else MAX_VALUE,
            profile=speeds.index(vt.speed),
        )
        for vt in data.vehicle_types
        if vt.count != 0
    ]
    kept = [k for k, vt in enumerate(data.vehicle_types) if vt.count != 0]
    problem = pyvrp.ProblemData(locations, clients, depots, types, [dist] * len(speeds), durations)
    runtime = max(0.01, deadline - time.perf_counter())
    result = pyvrp.solve(problem, MaxRuntime(runtime), seed=seed, collect_stats=False)
    if not result.best.is_feasible():
        return None
    plans = []
    for route in result.best.routes():
        visits = tuple(a.idx for a in route if a.is_client())
        if visits:
            plans.append(RoutePlan(kept[route.vehicle_type()], visits))
    return plans


def _insertion_routes(data: RoutingData, deadline: float, seed: int) -> list[RoutePlan] | None:
    """Randomised cheapest insertion plus relocate moves, restarted until the deadline.

    The fallback when PyVRP is not installed: good on small instances, weaker on large ones.
    """
    rng = random.Random(seed)
    best: list[RoutePlan] | None = None
    best_dist = math.inf
    first = True
    while first or time.perf_counter() < deadline:
        order = list(range(len(data.customers)))
        if first:
            order.sort(key=lambda c: data.customers[c].due)
        else:
            rng.shuffle(order)
        first = False
        plans = _insert_all(data, order, deadline)
        if plans is None:
            continue
        plans = _relocate(data, plans, deadline)
        dist = _total(data, plans)
        if dist < best_dist - EPS:
            best, best_dist = plans, dist
    return best


def _feasible(data: RoutingData, k: int, customers: Sequence[int], count_ok: bool = True) -> bool:
    vt = data.vehicle_types[k]
    if sum(data.customers[c].demand(vt.temperature) for c in customers) > vt.capacity + EPS:
        return False
    nodes = [c + 1 for c in customers]
    if not _forward_ok(data, k, nodes, data.depot.opens):
        return False
    if vt.max_duration is None:
        return True
    return route_schedule(data, k, customers).duration <= vt.max_duration + EPS


def _insert_all(data: RoutingData, order: list[int], deadline: float) -> list[RoutePlan] | None:
    routes: list[list[int]] = []
    types: list[int] = []
    used = [0] * len(data.vehicle_types)

    def dist_of(k: int, seq: Sequence[int]) -> float:
        nodes = [0] + [c + 1 for c in seq] + [0]
        return sum(data.distance[a][b] for a, b in zip(nodes, nodes[1:], strict=False))

    for c in order:
        best: tuple[float, int, int] | None = None
        for r, seq in enumerate(routes):
            base = dist_of(types[r], seq)
            for p in range(len(seq) + 1):
                cand = seq[:p] + [c] + seq[p:]
                if _feasible(data, types[r], cand):
                    delta = dist_of(types[r], cand) - base
                    if best is None or delta < best[0]:
                        best = (delta, r, p)
        if best is not None:
            routes[best[1]].insert(best[2], c)
            continue
        opened = False
        for k, vt in sorted(enumerate(data.vehicle_types), key=lambda kv: kv[1].capacity):
            if (vt.count is None or used[k] < vt.count) and _feasible(data, k, [c]):
                routes.append([c])
                types.append(k)
                used[k] += 1
                opened = True
                break
        if not opened:
            return None
    return [RoutePlan(k, tuple(seq)) for k, seq in zip(types, routes, strict=True)]


def _relocate(data: RoutingData, plans: list[RoutePlan], deadline: float) -> list[RoutePlan]:
    """First-improvement relocate of single customers between and within routes."""
    routes = [list(p.customers) for p in plans]
    types = [p.vehicle_type for p in plans]

    def dist_of(seq: Sequence[int]) -> float:
        nodes = [0] + [c + 1 for c in seq] + [0]
        return sum(data.distance[a][b] for a, b in zip(nodes, nodes[1:], strict=False))

    improved = True
    while improved and time.perf_counter() < deadline:
        improved = False
        for a in range(len(routes)):
            for i in range(len(routes[a])):
                c = routes[a][i]
                rest = routes[a][:i] + routes[a][i + 1 :]
                gain_out = dist_of(routes[a]) - dist_of(rest)
                for b in range(len(routes)):
                    target = rest if b == a else routes[b]
                    base = dist_of(target)
                    for p in range(len(target) + 1):
                        cand = target[:p] + [c] + target[p:]
                        delta = dist_of(cand) - base
                        if delta < gain_out - EPS and _feasible(data, types[b], cand):
                            if b == a:
                                routes[a] = cand
                            else:
                                routes[a], routes[b] = rest, cand
                            improved = True
                            break
                    if improved:
                        break
                if improved:
                    break
            if improved:
                break
        routes_types = [(r, k) for r, k in zip(routes, types, strict=True) if r]
        routes = [r for r, _ in routes_types]
        types = [k for _, k in routes_types]
    return [RoutePlan(k, tuple(r)) for r, k in zip(routes, types, strict=True)]


# ================================================================================= the MILP
def build_model(data: RoutingData) -> Any:
    """The VRPTW as a Pyomo MILP (2-index per vehicle type); no solving, no I/O.

    Nodes: 0 is the depot, V = {1..n} the visits (one per customer and class with demand).
    For each vehicle type k, arcs A_k = {(i, j)} between the depot and visits of k's class,
    without arcs that can never be used (a_i + s_i + tau_ijk > b_j, or q_i + q_j > Q_k).

    Variables: x[k,i,j] in {0,1} (a type-k vehicle drives i -> j); t[i] service start at i in
    [a_i', b_i'] (windows tightened by the depot hours); l[i] load delivered up to and
    including i, in [q_i, Q_max]; r[i] departure from the depot of the route serving i (only
    when some maximum route duration binds).

        min  sum_{k,(i,j) in A_k} d_ij x[k,i,j]

    Constraint families, added in this order: `_add_visits`, `_add_flow`, `_add_fleet`,
    `_add_time`, `_add_load`, `_add_duration`, `_add_vehicle_bound`.
    """
    import pyomo.environ as pyo

    m = pyo.ConcreteModel(name=data.name)
    n = len(data.customers)
    K = range(len(data.vehicle_types))
    m.V = pyo.Set(initialize=range(1, n + 1))
    m.N = pyo.Set(initialize=range(n + 1))
    m.K = pyo.Set(initialize=K)
    arcs = _arcs(data)
    m.A = pyo.Set(initialize=arcs, dimen=3)

    def window(i: int) -> tuple[float, float]:
        cust = data.customers[i - 1]
        early = max(cust.ready, data.depot.opens + min(data.travel_time(k, 0, i) for k in K))
        late = min(
            cust.due, data.depot.closes - cust.service - min(data.travel_time(k, i, 0) for k in K)
        )
        return early, max(early, late)

    m.window = {i: window(i) for i in m.V}
    m.q = {i: data.customers[i - 1].ambient + data.customers[i - 1].cold for i in m.V}
    m.x = pyo.Var(m.A, domain=pyo.Binary)
    m.t = pyo.Var(m.V, bounds=lambda m, i: m.window[i])
    qmax = max(vt.capacity for vt in data.vehicle_types)
    m.l = pyo.Var(m.V, bounds=lambda m, i: (m.q[i], qmax))
    m.obj = pyo.Objective(
        expr=sum(data.distance[i][j] * m.x[k, i, j] for k, i, j in arcs), sense=pyo.minimize
    )
    m.arcs_in = {j: [] for j in m.N}
    m.arcs_out = {i: [] for i in m.N}
    for a in arcs:
        m.arcs_out[a[1]].append(a)
        m.arcs_in[a[2]].append(a)
    _add_visits(m, data)
    _add_flow(m, data)
    _add_fleet(m, data)
    _add_time(m, data)
    _add_load(m, data)
    _add_duration(m, data)
    _add_vehicle_bound(m, data)
    return m


def _arcs(data: RoutingData) -> list[tuple[int, int, int]]:
    """(k, i, j) for every arc a type-k vehicle could use in some feasible route."""
    out = []
    n = len(data.customers)
    for k, vt in enumerate(data.vehicle_types):
        if vt.count == 0:
            continue
        mine = [i for i in range(1, n + 1) if data.customers[i - 1].demand(vt.temperature) > 0]
        mine = [
            i
            for i in mine
            if data.customers[i - 1].demand(vt.temperature) <= vt.capacity + EPS
            and _direct_ok(data, k, i - 1)
        ]
        for i in mine:
            out.append((k, 0, i))
            out.append((k, i, 0))
        for i in mine:
            ci = data.customers[i - 1]
            for j in mine:
                if i == j:
                    continue
                cj = data.customers[j - 1]
                if ci.ready + ci.service + data.travel_time(k, i, j) > cj.due + EPS:
                    continue
                if ci.demand(vt.temperature) + cj.demand(vt.temperature) > vt.capacity + EPS:
                    continue
                out.append((k, i, j))
    return out


def _add_visits(m: Any, data: RoutingData) -> None:
    """Each visit is entered once:  sum_{(k,i,j) in A, j fixed} x[k,i,j] = 1  for j in V."""
    import pyomo.environ as pyo

    @m.Constraint(m.V)
    def visit_once(m: Any, j: int) -> Any:
        if not m.arcs_in[j]:  # no vehicle can reach it (check_demand reports this first)
            return pyo.Constraint.Infeasible
        return sum(m.x[a] for a in m.arcs_in[j]) == 1


def _add_flow(m: Any, data: RoutingData) -> None:
    """Flow conservation per type:  sum_i x[k,i,j] = sum_i x[k,j,i]  for k in K, j in V."""
    import pyomo.environ as pyo

    @m.Constraint(m.K, m.V)
    def flow(m: Any, k: int, j: int) -> Any:
        into = [a for a in m.arcs_in[j] if a[0] == k]
        out = [a for a in m.arcs_out[j] if a[0] == k]
        if not into and not out:
            return pyo.Constraint.Skip
        return sum(m.x[a] for a in into) == sum(m.x[a] for a in out)


def _add_fleet(m: Any, data: RoutingData) -> None:
    """Fixed fleets:  sum_j x[k,0,j] <= count_k  for types with a count."""
    import pyomo.environ as pyo

    @m.Constraint(m.K)
    def fleet(m: Any, k: int) -> Any:
        count = data.vehicle_types[k].count
        starts = [a for a in m.arcs_out[0] if a[0] == k]
        if count is None or not starts:
            return pyo.Constraint.Skip
        return sum(m.x[a] for a in starts) <= count


def _add_time(m: Any, data: RoutingData) -> None:
    """Time propagation with a tight big-M per arc (M_ij = max(0, b_i + s_i - a_j)):

    t_j >= t_i + s_i - M_ij + sum_k (tau_ijk + M_ij) x[k,i,j]    for i != j in V
    t_j >= opens + sum_k tau_0jk x[k,0,j]                         for j in V
    t_i + s_i + sum_k tau_i0k x[k,i,0] <= closes                  for i in V
    """
    import pyomo.environ as pyo

    pairs: dict[tuple[int, int], list[tuple[int, int, int]]] = {}
    for a in m.A:
        if a[1] != 0 and a[2] != 0:
            pairs.setdefault((a[1], a[2]), []).append(a)
    m.PAIRS = pyo.Set(initialize=sorted(pairs), dimen=2)

    def s(i: int) -> float:
        return data.customers[i - 1].service

    @m.Constraint(m.PAIRS)
    def precedence(m: Any, i: int, j: int) -> Any:
        big = max(0.0, m.window[i][1] + s(i) - m.window[j][0])
        return m.t[j] >= m.t[i] + s(i) - big + sum(
            (data.travel_time(a[0], i, j) + big) * m.x[a] for a in pairs[(i, j)]
        )

    @m.Constraint(m.V)
    def from_depot(m: Any, j: int) -> Any:
        return m.t[j] >= data.depot.opens + sum(
            data.travel_time(a[0], 0, j) * m.x[a] for a in m.arcs_in[j] if a[1] == 0
        )

    @m.Constraint(m.V)
    def to_depot(m: Any, i: int) -> Any:
        if not math.isfinite(data.depot.closes):
            return pyo.Constraint.Skip
        return (
            m.t[i]
            + s(i)
            + sum(data.travel_time(a[0], i, 0) * m.x[a] for a in m.arcs_out[i] if a[2] == 0)
            <= data.depot.closes
        )


def _add_load(m: Any, data: RoutingData) -> None:
    """Loads (MTZ lifted as Desrochers-Laporte), X_ij = sum_k x[k,i,j], Q = largest capacity:

    l_j >= l_i + q_j - Q + Q X_ij + (Q - q_i - q_j) X_ji          for i != j in V
    l_i <= sum_k Q_k sum_j x[k,j,i]       (only when capacities differ)
    """
    import pyomo.environ as pyo

    Q = max(vt.capacity for vt in data.vehicle_types)
    between: dict[tuple[int, int], list[tuple[int, int, int]]] = {}
    for a in m.A:
        if a[1] != 0 and a[2] != 0:
            between.setdefault((a[1], a[2]), []).append(a)
    m.LOAD_PAIRS = pyo.Set(initialize=sorted(between), dimen=2)

    @m.Constraint(m.LOAD_PAIRS)
    def load_propagation(m: Any, i: int, j: int) -> Any:
        back = between.get((j, i), [])
        lift = Q - m.q[i] - m.q[j]
        expr = m.l[i] + m.q[j] - Q + Q * sum(m.x[a] for a in between[(i, j)])
        if lift > 0 and back:
            expr = expr + lift * sum(m.x[a] for a in back)
        return m.l[j] >= expr

    if len({vt.capacity for vt in data.vehicle_types}) > 1:

        @m.Constraint(m.V)
        def type_capacity(m: Any, i: int) -> Any:
            return m.l[i] <= sum(data.vehicle_types[a[0]].capacity * m.x[a] for a in m.arcs_in[i])


def _add_duration(m: Any, data: RoutingData) -> None:
    """Maximum route duration D_k, when it binds, with r_i the route's depot departure
    (H = closes - opens, or the latest due date when the depot never closes):

        r_j <= t_j - sum_k tau_0jk x[k,0,j] + H (1 - X_0j)            for j in V
        r_j <= r_i + H (1 - X_ij)                                      for i != j in V
        t_i + s_i + sum_k tau_i0k x[k,i,0] - r_i <= sum_k D_k x[k,i,0] + H (1 - X_i0)
    """
    import pyomo.environ as pyo

    opens = data.depot.opens
    ends = [data.depot.closes] if math.isfinite(data.depot.closes) else []
    ends += [
        m.window[i][1] + data.customers[i - 1].service + max(data.travel_time(k, i, 0) for k in m.K)
        for i in m.V
    ]
    H = max(ends) - opens
    binding = [
        vt.max_duration is not None and vt.max_duration < H - EPS for vt in data.vehicle_types
    ]
    if not any(binding):
        return
    m.r = pyo.Var(m.V, bounds=(opens, opens + H))

    def D(k: int) -> float:
        d = data.vehicle_types[k].max_duration
        return H if d is None else min(d, H)

    @m.Constraint(m.V)
    def departure(m: Any, j: int) -> Any:
        first = [a for a in m.arcs_in[j] if a[1] == 0]
        return m.r[j] <= m.t[j] - sum(data.travel_time(a[0], 0, j) * m.x[a] for a in first) + H * (
            1 - sum(m.x[a] for a in first)
        )

    @m.Constraint(m.PAIRS)
    def same_departure(m: Any, i: int, j: int) -> Any:
        arcs = [a for a in m.arcs_out[i] if a[2] == j]
        return m.r[j] <= m.r[i] + H * (1 - sum(m.x[a] for a in arcs))

    @m.Constraint(m.V)
    def duration(m: Any, i: int) -> Any:
        last = [a for a in m.arcs_out[i] if a[2] == 0]
        return m.t[i] + data.customers[i - 1].service + sum(
            data.travel_time(a[0], i, 0) * m.x[a] for a in last
        ) - m.r[i] <= sum(D(a[0]) * m.x[a] for a in last) + H * (1 - sum(m.x[a] for a in last))


def _add_vehicle_bound(m: Any, data: RoutingData) -> None:
    """At least ceil(total demand / largest capacity) vehicles leave the depot (a valid cut)."""
    Q = max(vt.capacity for vt in data.vehicle_types)
    need = math.ceil(sum(m.q.values()) / Q - EPS)

    @m.Constraint()
    def vehicle_bound(m: Any) -> Any:
        return sum(m.x[a] for a in m.arcs_out[0]) >= need


def _warm_start(m: Any, data: RoutingData, plans: Sequence[RoutePlan]) -> None:
    """Set every variable to the values of the given (feasible) routes."""
    for a in m.A:
        m.x[a].value = 0
    for plan in plans:
        k = plan.vehicle_type
        s = route_schedule(data, k, plan.customers)
        nodes = [0] + [c + 1 for c in plan.customers] + [0]
        for i, j in zip(nodes, nodes[1:], strict=False):
            if (k, i, j) in m.x:
                m.x[k, i, j].value = 1
        load = 0.0
        for p, c in enumerate(plan.customers):
            i = c + 1
            load += m.q[i]
            lo, hi = m.window[i]
            m.t[i].value = min(max(s.starts[p], lo), hi)
            m.l[i].value = load
            if hasattr(m, "r"):
                m.r[i].value = s.departure


def _read_routes(m: Any, data: RoutingData) -> list[RoutePlan]:
    succ: dict[tuple[int, int], list[int]] = {}
    for k, i, j in m.A:
        value = m.x[k, i, j].value
        if value is not None and value > 0.5:
            succ.setdefault((k, i), []).append(j)
    plans = []
    for k in m.K:
        for first in succ.get((k, 0), []):
            seq, node, guard = [], first, 0
            while node != 0 and guard <= len(data.customers):
                seq.append(node - 1)
                node = succ.get((k, node), [0])[0]
                guard += 1
            plans.append(RoutePlan(k, tuple(seq)))
    return plans


def _solve_milp(
    data: RoutingData,
    start: list[RoutePlan] | None,
    deadline: float,
    seed: int,
    solver: str,
) -> tuple[list[RoutePlan] | None, Any]:
    """Build, warm-start and solve the MILP until `deadline`; (routes or None, SolveResult)."""
    from optimizer.solvers import SolverOptions, solve_model

    m = build_model(data)
    if start:
        _warm_start(m, data, start)
    left = max(0.05, deadline - time.perf_counter())
    options = SolverOptions(name=solver, time_limit=left, mip_gap=1e-6, threads=1, seed=seed)
    result = solve_model(m, options, warmstart=bool(start), deadline=deadline)
    plans = _read_routes(m, data) if result.has_solution else None
    return plans, result
