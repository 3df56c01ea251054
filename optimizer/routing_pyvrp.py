"""The heuristic stage of routing: PyVRP's iterated local search on our problem data.

PyVRP (the state of the art for VRPTW, a hard dependency) works in integers, so distances,
times and loads are scaled by `SCALE` and rounded conservatively: travel and service times
and demands up, windows and capacities down. A plan it finds is then feasible for the exact
data too (the caller checks it with `check_routes` all the same).

There is no fallback heuristic. The randomised cheapest insertion with relocate moves that
stood in for PyVRP when it was optional was measured against it (heuristic only, the same
time limit, seeds 0 and 1, `solve_routing(..., solver=None)`) and was never better: equal on
C101_25, R101_25, RC101_25 and the distribution scenario, and longer on the rest, by 13 %
(R201_25), 20 % (C101_100) and 11 % (R101_100) at 2 s, and still by 5-6 %, 17-19 % and 8-9 %
at 10 s, where PyVRP reached the best-known distance on all but one run. So it was removed
(docs/routing.md has the table).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from optimizer.routing_data import RoutePlan, RoutingData

__all__ = ["SCALE", "pyvrp_routes"]

SCALE = 1000
"""PyVRP works in integers: distances, times and loads are multiplied by this and rounded
conservatively (travel and service times up, windows and capacities down)."""


def _up(value: float) -> int:
    return math.ceil(value * SCALE - 1e-6)


def _down(value: float) -> int:
    return math.floor(value * SCALE + 1e-6)


class _Watch:
    """A PyVRP stopping criterion (`pyvrp.stop.StoppingCriterion`): stop after `runtime`
    seconds, and hand the best feasible distance to `report` at most every `every` seconds."""

    def __init__(
        self, runtime: float, report: Callable[[float], None] | None, every: float = 1.0
    ) -> None:
        from pyvrp.stop import MaxRuntime

        self._stop = MaxRuntime(runtime)
        self._report = report
        self._every = every
        self._next = time.perf_counter() + every
        self._last: int | None = None

    def __call__(self, best_cost: int) -> bool:
        from pyvrp.constants import MAX_VALUE

        if self._report is not None and best_cost < MAX_VALUE:
            now = time.perf_counter()
            if now >= self._next and best_cost != self._last:
                self._report(best_cost / SCALE)
                self._last, self._next = best_cost, now + self._every
        return self._stop(best_cost)


def pyvrp_routes(
    data: RoutingData,
    deadline: float,
    seed: int,
    report: Callable[[float], None] | None = None,
) -> list[RoutePlan] | None:
    """PyVRP's iterated local search on the problem scaled to integers (conservatively), until
    `deadline` (`time.perf_counter()` seconds); None when it finds no feasible plan. `report`
    receives the best distance found so far, at most once a second."""
    import numpy as np
    import pyvrp
    from pyvrp.constants import MAX_VALUE

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
    result = pyvrp.solve(problem, _Watch(runtime, report), seed=seed, collect_stats=False)
    if not result.best.is_feasible():
        return None
    plans = []
    for route in result.best.routes():
        visits = tuple(a.idx for a in route if a.is_client())
        if visits:
            plans.append(RoutePlan(kept[route.vehicle_type()], visits))
    return plans
