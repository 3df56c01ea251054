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

Solving one class. First PyVRP's iterated local search (`optimizer.routing_pyvrp`, the state of
the art for VRPTW). Then the MILP of `optimizer.routing_milp` (a 2-index formulation per
vehicle type with time propagation and a tight big-M per arc) is warm-started from the
heuristic routes and given the rest of the time budget, to prove optimality, improve, or at
least give a lower bound. Small classes (<= 30 visits) get a short heuristic run and a long
MILP; classes up to 200 visits give the MILP the last third of their time (measured here:
Solomon C101 and R101 with 100 customers are proven optimal in about 1 s from a good warm
start); larger classes are left to the heuristic.

The modules, by concern: `optimizer.routing_data` (problem data, schedules, the checker),
`optimizer.routing_pyvrp` (the heuristic), `optimizer.routing_milp` (the MILP) and this one
(the solver that runs them per class, and its result). The public names of all of them are
importable from here.
"""

from __future__ import annotations

import random
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from optimizer.options import check_seed, check_time_limit
from optimizer.progress import ProgressCallback, Reporter
from optimizer.routing_data import (
    EPS,
    TEMPERATURES,
    ClassProblem,
    Customer,
    Depot,
    HasPlan,
    RoutePlan,
    RouteSchedule,
    RoutingData,
    RoutingInfeasibleError,
    Temperature,
    VehicleType,
    check_demand,
    check_routes,
    route_distance,
    route_schedule,
    split_by_temperature,
)
from optimizer.routing_milp import build_model, solve_milp
from optimizer.routing_pyvrp import pyvrp_routes

__all__ = [
    "TEMPERATURES",
    "ClassProblem",
    "ClassResult",
    "Customer",
    "Depot",
    "HasPlan",
    "Route",
    "RoutePlan",
    "RouteSchedule",
    "RoutingData",
    "RoutingInfeasibleError",
    "RoutingResult",
    "Temperature",
    "VehicleType",
    "build_model",
    "check_demand",
    "check_routes",
    "route_distance",
    "route_schedule",
    "solve_routing",
    "split_by_temperature",
]

RoutingStatus = Literal["optimal", "feasible", "infeasible", "time_limit"]

_clock = time.perf_counter
"""Where the solver reads the time (seconds); the stages' deadlines are on this clock."""


# ================================================================================= results


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
            "capacity": _round(data.vehicle_types[self.vehicle_type].capacity),
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


# ============================================================================== the solver
def solve_routing(
    data: RoutingData,
    time_limit: float = 60.0,
    seed: int = 0,
    solver: str | None = "appsi_highs",
    *,
    exact_max_customers: int = 30,
    bound_max_customers: int = 200,
    progress: ProgressCallback | None = None,
) -> RoutingResult:
    """Routes of minimum total distance serving every customer within the rules.

    `time_limit` (seconds, finite and > 0) covers the whole run; the classes share it in
    proportion to their visits. `seed` (0 .. 2**31 - 1) seeds the heuristic and the solver.
    `solver` names the MILP solver of the exact stage (None skips that stage). Classes of at
    most `exact_max_customers` visits give the heuristic a short run and the MILP the rest of
    their time; classes of up to `bound_max_customers` visits give the heuristic two thirds and
    the MILP the last third (a lower bound, often a proof on tight windows); larger classes are
    left to the heuristic. `progress` receives a `optimizer.progress.Progress` per stage and
    the heuristic's best distance about once a second (incumbent and bound are those of the
    class being solved, in `data.distance_unit`).

    Raises `optimizer.options.OptionError` for a bad time limit or seed and
    `RoutingInfeasibleError` for demand that cannot be served, both before solving, and
    `SolverUnavailableError` for a solver not installed here.
    """
    time_limit = check_time_limit(time_limit)
    seed = check_seed(seed)
    started = _clock()
    deadline = started + time_limit
    report = Reporter(progress, started, data.distance_unit, clock=_clock)
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
        now = _clock()
        share = len(problem.data.customers) / left_visits
        left_visits -= len(problem.data.customers)
        class_deadline = now + max(0.05, (deadline - now) * share)
        plans, outcome = _solve_class(
            problem,
            class_deadline,
            rng.randrange(2**31),
            solver,
            exact_max_customers,
            bound_max_customers,
            report,
        )
        classes.append(outcome)
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
        seconds=_clock() - started,
        classes=tuple(classes),
        data=data,
    )


def _solve_class(
    problem: ClassProblem,
    deadline: float,
    seed: int,
    solver: str | None,
    exact_max_customers: int,
    bound_max_customers: int,
    report: Reporter,
) -> tuple[list[RoutePlan], ClassResult]:
    """Heuristic, then the warm-started MILP (all but large classes), within `deadline`."""
    data, temp = problem.data, problem.temperature
    started = _clock()
    n = len(data.customers)
    exact = solver is not None and n <= bound_max_customers
    budget = deadline - started
    if not exact:
        h_budget = 0.97 * budget
    elif n <= exact_max_customers:
        h_budget = min(0.25 * budget, 1.0 + 0.1 * n)
    else:
        h_budget = 2 * budget / 3
    h_budget = max(0.02, h_budget)
    report("heuristic", f"{temp}: {n} visits, PyVRP for {h_budget:.1f} s")
    plans = pyvrp_routes(
        data,
        started + h_budget,
        seed,
        (lambda d: report("heuristic", f"{temp}: PyVRP", incumbent=d)) if report else None,
    )
    best = plans if plans is not None and not check_routes(data, plans) else None
    h_dist = route_distance(data, best) if best is not None else None
    lower: float | None = None
    exact_msg = "skipped"
    status: RoutingStatus = "time_limit"
    if exact and solver is not None:
        left = max(0.0, deadline - _clock())
        report("milp", f"{temp}: {solver} for up to {left:.1f} s", incumbent=h_dist)
        mplans, mres = solve_milp(data, best, deadline, seed, solver)
        exact_msg = f"{mres.solver}: {mres.status}"
        if (
            mplans is not None
            and not check_routes(data, mplans)
            and (best is None or route_distance(data, mplans) < route_distance(data, best) - EPS)
        ):
            best = mplans
        lower = mres.bound
        if best is not None and lower is not None:
            lower = min(lower, route_distance(data, best))
            if mres.status == "optimal" and route_distance(data, best) - lower <= 1e-5 * max(
                1.0, abs(lower)
            ):
                status = "optimal"
    if best is None:
        status = "infeasible"
    distance = route_distance(data, best) if best is not None else None
    report("milp" if exact else "heuristic", f"{temp}: {status}", distance, lower)
    outcome = ClassResult(
        temperature=temp,
        status=status,
        distance=distance,
        lower_bound=lower,
        heuristic="pyvrp",
        heuristic_distance=h_dist,
        exact=exact_msg,
        seconds=_clock() - started,
    )
    return best or [], outcome
