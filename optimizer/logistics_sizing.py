"""Fleet sizing for a service level: the fewest vehicles that pick up a share ``P`` of the trips
within the allowed wait ``W`` (what ``twin fleet`` uses).

For a fleet of ``n`` the horizon is scheduled busy episode by busy episode (trips until the
whole fleet is idle when the next one is requested, at most ``window_h`` hours of requests),
each from the positions and busy times the previous one left; ``late(n)`` is the number of
trips picked up late. The answer is the smallest ``n`` with ``late(n) <= floor((1 - P) N)``,
one budget for the whole horizon, as the twin's share of pick-ups within the wait is counted.

The search: sizes are screened with the greedy schedule (``greedy_dispatch``, milliseconds a
year) from the lower bound up until one meets the level, or the share stops improving, or
``max_vehicles``; then smaller sizes are tried with the MILP of ``optimizer.logistics_service``
in the episodes the greedy leaves late trips in, while they meet it. The lower bound
(``service_lower_bound``): trips no vehicle can serve one after the other on time (a clique,
vehicles anywhere, ``optimizer.logistics_cover.clique_bound``) are on time only on distinct
vehicles, so ``n`` vehicles leave ``clique - n`` late in each window; the smallest ``n`` whose
total fits the budget.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from optimizer.logistics_cover import FleetData, clique_bound
from optimizer.logistics_demand import Charging, TransportDemand, wait_stats
from optimizer.logistics_service import (
    PreparedTrips,
    ServiceData,
    VehicleState,
    greedy_dispatch,
    solve_service,
    start_states,
)
from optimizer.options import check_count, check_positive, check_share, check_time_limit
from optimizer.progress import ProgressCallback, Reporter
from optimizer.solvers import SolverOptions

__all__ = [
    "WINDOW_SECONDS",
    "ServiceSizing",
    "SizeResult",
    "service_lower_bound",
    "size_fleet_service",
]


@dataclass(frozen=True)
class SizeResult:
    """The model's schedule of the whole horizon with one fleet size."""

    vehicles: int
    late: int
    trips: int
    method: str
    """"greedy" (the list schedule) or "milp" (episodes with late trips re-solved)."""
    complete: bool
    """False when the pass stopped early: over the late budget, or out of time."""
    milp_episodes: int
    """Episodes re-solved with the MILP."""
    seconds: float
    waits: tuple[float, ...] = field(default=(), repr=False)
    unsolved: int = 0
    """Episodes with late trips left to the greedy schedule because the time ran out."""
    episodes: int = 0
    """Busy episodes scheduled (see ``_episode``)."""

    @property
    def share(self) -> float:
        """Share of pick-ups within the allowed wait (of the trips scheduled)."""
        return 1.0 - self.late / self.trips if self.trips else 1.0

    def to_dict(self) -> dict[str, Any]:
        stats = wait_stats(self.waits)
        return {
            "vehicles": self.vehicles,
            "late": self.late,
            "trips": self.trips,
            "within_max_wait_pct": 100.0 * self.share,
            "mean_wait_min": None if stats["mean"] is None else stats["mean"] * 60,
            "p95_wait_min": None if stats["p95"] is None else stats["p95"] * 60,
            "method": self.method,
            "complete": self.complete,
            "episodes": self.episodes,
            "milp_episodes": self.milp_episodes,
            "unsolved_episodes": self.unsolved,
            "seconds": round(self.seconds, 3),
        }


@dataclass(frozen=True)
class ServiceSizing:
    """The fewest vehicles meeting a service level in the model, and how it was found."""

    vehicles: int | None
    """None when no fleet up to ``sizes[-1]`` meets the service level in the model."""
    lower_bound: int
    service: float
    max_wait: float
    late_allowed: int
    trips: int
    window_h: float
    sizes: tuple[SizeResult, ...]
    seconds: float
    charging: str
    time_out: bool = False
    """The MILP passes ran out of time (some episodes kept their greedy schedule)."""
    milp: tuple[SizeResult, ...] = ()
    """The MILP passes below the greedy answer, stopped early when over the late budget."""

    @property
    def proven(self) -> bool:
        """No smaller fleet can meet the service level in any schedule (the clique bound
        meets the answer). The window-by-window passes are not a proof: each window is solved
        from the state the previous one left."""
        return self.vehicles is not None and self.lower_bound >= self.vehicles

    @property
    def best(self) -> SizeResult | None:
        """The complete pass with the highest share (the smallest fleet among ties)."""
        done = [s for s in self.sizes if s.complete]
        return max(done, key=lambda s: (round(s.share, 6), -s.vehicles), default=None)

    def to_dict(self) -> dict[str, Any]:
        best = self.best
        return {
            "vehicles": self.vehicles,
            "reachable": self.vehicles is not None,
            "lower_bound": self.lower_bound,
            "proven": self.proven,
            "service_pct": 100.0 * self.service,
            "max_wait_h": self.max_wait,
            "late_allowed": self.late_allowed,
            "trips": self.trips,
            "window_h": self.window_h,
            "best_within_pct": None if best is None else 100.0 * best.share,
            "best_vehicles": None if best is None else best.vehicles,
            "sizes": [s.to_dict() for s in self.sizes],
            "milp_passes": [s.to_dict() for s in self.milp],
            "seconds": round(self.seconds, 3),
            "charging": self.charging,
            "time_out": self.time_out,
        }


def _service_pass(
    demand: TransportDemand,
    prep: PreparedTrips,
    order: Sequence[int],
    vehicles: int,
    late_allowed: int | None,
    milp: bool,
    deadline: float,
    options: SolverOptions,
    late_h: float,
    window_h: float,
    report: Callable[[str, str], None] | None = None,
) -> SizeResult:
    """Schedule the horizon with ``vehicles``, episode by episode, each from the state the
    previous one left (positions, busy until); with ``milp``, episodes the greedy schedule
    leaves late trips in are re-solved exactly (``solve_service``). Stops once more than
    ``late_allowed`` trips are late (if given; then ``complete`` is False). Out of time, the
    greedy schedule of the remaining episodes stands (counted in ``unsolved``). ``report`` is
    told how far the pass is, at most every ``REPORT_EVERY`` seconds."""
    t0 = time.perf_counter()
    states = start_states(demand, vehicles)
    late = done = solved = episodes = greedy_only = 0
    waits: list[float] = []
    complete = True
    pos = 0
    next_report = t0 + REPORT_EVERY
    while pos < len(order):
        idx = _episode(prep, order, pos, states, window_h)
        pos += len(idx)
        episodes += 1
        sol = greedy_dispatch(prep, idx, states)
        if milp and sol.late:
            left = deadline - time.perf_counter()
            if left > 0.2:
                limit = min(left - 0.1, options.time_limit or left, WINDOW_SECONDS)
                data = ServiceData.of(prep, idx, states, sol.pickups, late_h)
                sol = solve_service(data, prep, replace(options, time_limit=limit), warm=sol)
                solved += 1
                if report is not None and time.perf_counter() >= next_report:
                    next_report = time.perf_counter() + REPORT_EVERY
                    budget = "" if late_allowed is None else f"/{late_allowed}"
                    report(
                        "milp",
                        f"{vehicles} AGVs, {100 * pos / len(order):.0f} % done, "
                        f"{late + sol.late}{budget} late",
                    )
            else:  # out of time: the greedy schedule of the episode stands
                greedy_only += 1
        late += sol.late
        done += len(idx)
        pairs = zip(sol.pickups, idx, strict=True)
        waits.extend(s + prep.handling - prep.request[k] for s, k in pairs)
        states = sol.exit
        if late_allowed is not None and late > late_allowed:
            complete = False
            break
    return SizeResult(
        vehicles, late, done if not complete else demand.n, "milp" if milp else "greedy",
        complete, solved, time.perf_counter() - t0, tuple(waits), greedy_only, episodes,
    )  # fmt: skip


def _episode(
    prep: PreparedTrips,
    order: Sequence[int],
    pos: int,
    states: Sequence[VehicleState],
    window_h: float,
) -> list[int]:
    """The trips from ``order[pos]`` until the whole fleet is idle when the next one is
    requested (in the greedy schedule from ``states``), at most ``window_h`` hours of
    requests: a busy episode, the unit the MILP re-solves."""
    node = [s.node for s in states]
    free = [s.free for s in states]
    first = prep.request[order[pos]]
    out: list[int] = []
    for k in order[pos:]:
        r = prep.request[k]
        if out and (r >= max(free) or r - first >= window_h):
            break
        o = prep.origins[k]
        v = min(range(len(free)), key=lambda u: (max(free[u], r) + prep.drive[node[u]][o], u))
        free[v] = max(free[v], r) + prep.drive[node[v]][o] + prep.service[k]
        node[v] = prep.dests[k]
        out.append(k)
    return out


REPORT_EVERY = 1.0
"""Seconds between two progress reports of one MILP pass."""

WINDOW_SECONDS = 0.5
"""Solver time per window of the service-level pass (its greedy schedule stands beyond)."""


def service_lower_bound(
    demand: TransportDemand,
    max_wait: float,
    late_allowed: int,
    window_h: float = 8.0,
    charging: Charging = "amortised",
) -> int:
    """The fewest vehicles that can leave at most ``late_allowed`` trips late in any model:
    in each window, trips no vehicle can serve one after the other on time (a clique of
    ``clique_bound``, vehicles anywhere) are on time only on distinct vehicles, so ``n``
    vehicles leave at least ``clique - n`` of them late; the bound is the smallest ``n`` with
    ``sum_w max(0, clique_w - n) <= late_allowed``."""
    horizon = max(demand.horizon, max(demand.times, default=0.0) + 1e-9)
    cliques = []
    for k in range(max(1, math.ceil(horizon / window_h))):
        w = (k * window_h, (k + 1) * window_h)
        data = FleetData.build(demand, max_wait, w, charging, "anywhere")
        if data.n:
            cliques.append(clique_bound(data))
    if not cliques:
        return 0
    for n in range(1, max(cliques) + 1):
        if sum(max(0, c - n) for c in cliques) <= late_allowed:
            return n
    return max(cliques)


def size_fleet_service(
    demand: TransportDemand,
    max_wait: float,
    service: float = 0.95,
    window_h: float = 4.0,
    time_limit: float = 60.0,
    charging: Charging = "amortised",
    max_vehicles: int = 30,
    late_h: float = 1.0,
    options: SolverOptions | None = None,
    progress: ProgressCallback | None = None,
) -> ServiceSizing:
    """The fewest vehicles that pick up at least ``service`` of the trips within ``max_wait``.

    A fleet of ``n`` starts at its home nodes and carries its positions through the horizon,
    scheduled busy episode by busy episode (trips until the whole fleet is idle, at most
    ``window_h`` hours of requests). Sizes are screened with the greedy schedule (``n`` = the
    lower bound, +1, ... until one meets the service level, or the share stops improving, or
    ``max_vehicles``); then smaller sizes are tried with the MILP (``build_service_model``) in
    the episodes with late trips, while they meet it. ``time_limit`` covers the whole call;
    out of time, the greedy schedule of the remaining episodes stands (``time_out``).
    ``progress`` receives a report per phase ("bound", "greedy", "milp") with the model's
    answer so far as the incumbent and the lower bound, in AGVs. Bad numbers raise
    ``optimizer.options.OptionError``.
    """
    service = check_share(service, "service")
    window_h = check_positive(window_h, "window_h", "hours")
    time_limit = check_time_limit(time_limit)
    max_vehicles = check_count(max_vehicles, "max_vehicles", 1)
    late_h = check_positive(late_h, "late_h", "hours")
    t0 = time.perf_counter()
    report = Reporter(progress, t0, "AGVs")
    deadline = t0 + time_limit
    prep = PreparedTrips.of(demand, max_wait, charging)
    allowed = math.floor((1.0 - service) * demand.n + 1e-9)
    order = prep.window(-math.inf, math.inf)
    lower = service_lower_bound(demand, max_wait, allowed, window_h, charging)
    report("bound", f"{demand.n} trips, at most {allowed} late", bound=lower)
    base = options or SolverOptions()
    sizes: dict[int, SizeResult] = {}
    answer: int | None = None
    n = max(1, lower)
    while n <= max_vehicles and demand.n:
        res = _service_pass(demand, prep, order, n, None, False, deadline, base, late_h, window_h)
        sizes[n] = res
        if res.late <= allowed:
            answer = n
        report(
            "greedy",
            f"{n} AGVs: {100 * res.share:.2f} % on time",
            incumbent=answer,
            bound=lower,
        )
        if answer is not None:
            break
        prev = sizes.get(n - 3)
        if prev is not None and res.share - prev.share < 0.001:
            break  # more vehicles no longer help: the service level is out of reach
        n += 1
    time_out = False
    tried: list[SizeResult] = []
    if answer is not None:
        n = answer - 1
        while n >= max(1, lower):
            if time.perf_counter() >= deadline - 0.5:
                time_out = True  # no time left to try n with the MILP
                break
            incumbent = answer

            def milp_report(phase: str, detail: str, _best: int = incumbent) -> None:
                report(phase, detail, incumbent=_best, bound=lower)

            res = _service_pass(
                demand, prep, order, n, allowed, True, deadline, base, late_h, window_h,
                milp_report if report else None,
            )  # fmt: skip
            tried.append(res)
            time_out = time_out or res.unsolved > 0
            if not res.complete:  # over the allowed late trips: n is too few (in the model)
                report("milp", f"{n} AGVs: over {allowed} late", incumbent=answer, bound=lower)
                break
            answer = n
            report(
                "milp",
                f"{n} AGVs: {100 * res.share:.2f} % on time",
                incumbent=answer,
                bound=lower,
            )
            n -= 1
    if demand.n == 0:
        answer = 0
    return ServiceSizing(
        vehicles=answer,
        lower_bound=lower if answer != 0 else 0,
        service=float(service),
        max_wait=float(max_wait),
        late_allowed=allowed,
        trips=demand.n,
        window_h=float(window_h),
        sizes=tuple(sizes[k] for k in sorted(sizes)),
        seconds=time.perf_counter() - t0,
        charging=charging,
        time_out=time_out,
        milp=tuple(tried),
    )
