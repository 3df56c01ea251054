"""Every trip within the wait, vehicles anywhere: the minimum path cover per window of requests.

``size_fleet`` answers "how many vehicles does the largest burst need" (``P = 1``): a
vehicle-scheduling / minimum path cover MILP per window of requests, where a vehicle may be
anywhere when it starts its first trip. It ignores where vehicles stand, so it under-estimates
waits where the empty drive is long; the service-level model (``optimizer.logistics_service``
and ``optimizer.logistics_sizing``) is what ``twin fleet`` uses, with ``clique_bound`` of this
module as its lower bound. With ``W`` the allowed wait, ``h`` the handling time, a trip is on
time if loading starts at ``s_j <= l_j = r_j + W - h``; ``g_ij = p_i + D(d_i, o_j)`` with
``p_j = 2h' + D(o_j, d_j)`` (see ``optimizer.logistics_demand`` for the charging allowance):

    x_ij in {0, 1}   vehicle goes on to j after i, (i, j) in ARCS
    s_j  in [e_j, l_j]   start of loading

    min  sum_j (1 - sum_i x_ij)
    s.t. sum_j x_ij <= 1                               (one successor)
         sum_i x_ij <= 1                               (one predecessor)
         s_j >= s_i + g_ij - M_ij (1 - x_ij),  M_ij = l_i + g_ij - e_j   (timing)
         s_j >= e_j + a_j (1 - sum_i x_ij)             (a chain's first trip)
         s_i <= s_j   for consecutive identical trips i < j   (symmetry)

``a_j`` is 0 with ``start="anywhere"``, the drive from the nearest charger or home node with
``start="chargers"``. Windows of ``window_h`` hours start every ``window_h / 2`` hours; each
gets a greedy upper bound and a clique lower bound, and the MILP runs, largest greedy bound
first, only where they differ. Work carried over a window's start, traffic congestion and
charging in blocks are not modelled; ``optimizer.fleet_commands`` verifies answers in the twin.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import pyomo.environ as pyo

from optimizer.logistics_demand import Charging, TransportDemand
from optimizer.options import OptionError, check_finite, check_positive, check_time_limit
from optimizer.solvers import SolverOptions, solve_model

__all__ = [
    "EXACT_CLIQUE_MAX",
    "FleetData",
    "FleetSizing",
    "FleetSolution",
    "Start",
    "WindowResult",
    "arc_neighbours",
    "build_model",
    "clique_bound",
    "greedy_clique",
    "greedy_chains",
    "size_fleet",
    "solve",
    "windows_of",
]

Start = Literal["anywhere", "chargers"]


@dataclass(frozen=True)
class FleetData:
    """One window of trips, prepared for the model (hours; see the module docstring)."""

    trips: tuple[int, ...]
    """Indices of the trips in the demand."""
    earliest: tuple[float, ...]
    latest: tuple[float, ...]
    service: tuple[float, ...]
    reach: tuple[float, ...]
    arcs: Mapping[tuple[int, int], float]
    """(i, j) -> g_ij for the feasible successions (positions in this window)."""
    max_wait: float
    handling: float
    window: tuple[float, float]
    origins: tuple[str, ...] = ()
    dests: tuple[str, ...] = ()

    @property
    def n(self) -> int:
        return len(self.trips)

    def big_m(self, i: int, j: int) -> float:
        return self.latest[i] + self.arcs[(i, j)] - self.earliest[j]

    @classmethod
    def build(
        cls,
        demand: TransportDemand,
        max_wait: float,
        window: tuple[float, float] | None = None,
        charging: Charging = "amortised",
        start: Start = "anywhere",
    ) -> FleetData:
        """The trips requested in ``window`` (all if None) with allowed wait ``max_wait``."""
        max_wait = check_finite(max_wait, "max_wait", "a finite number of hours >= 0")
        if max_wait < 0:
            raise OptionError("max_wait", max_wait, "a finite number of hours >= 0")
        if charging not in ("amortised", "none"):
            raise OptionError("charging", charging, 'one of: "amortised", "none"')
        if start not in ("anywhere", "chargers"):
            raise OptionError("start", start, 'one of: "anywhere", "chargers"')
        if max_wait < demand.handling - 1e-12:
            raise ValueError(
                f"max wait {max_wait * 60:g} min is shorter than loading a vehicle "
                f"({demand.handling * 60:g} min): no fleet can meet it"
            )
        d = demand if charging == "amortised" else demand.without_charging()
        lo, hi = window if window is not None else (-math.inf, math.inf)
        idx = [k for k, t in enumerate(d.times) if lo <= t < hi]
        idx.sort(key=lambda k: (d.times[k], d.origins[k], d.dests[k], k))
        h = d.handle()
        early = [d.times[k] for k in idx]
        late = [d.times[k] + max_wait - d.handling for k in idx]
        origins = [d.origins[k] for k in idx]
        dests = [d.dests[k] for k in idx]
        service = [2 * h + d.drive(o, e) for o, e in zip(origins, dests, strict=True)]
        if start == "chargers" and d.rest:
            reach = [min(d.drive(r, o) for r in d.rest) for o in origins]
        else:
            reach = [0.0] * len(idx)
        for j, k in enumerate(idx):
            if early[j] + reach[j] > late[j] + 1e-12:
                raise ValueError(
                    f"trip {k} ({origins[j]}->{dests[j]}) cannot be picked up within "
                    f"{max_wait * 60:g} min even by a vehicle of its own "
                    f"(it needs {(reach[j] + d.handling) * 60:.1f} min)"
                )
        arcs: dict[tuple[int, int], float] = {}
        n = len(idx)
        key = list(zip(early, origins, dests, strict=True))
        for i in range(n):
            for j in range(n):
                # identical trips (a burst of pallets) are served in index order: j -> i with
                # j > i would only be a relabelling of i -> j
                if i != j and not (j < i and key[i] == key[j]):
                    g = service[i] + d.drive(dests[i], origins[j])
                    if early[i] + g <= late[j] + 1e-12:
                        arcs[(i, j)] = g
        return cls(
            tuple(idx),
            tuple(early),
            tuple(late),
            tuple(service),
            tuple(reach),
            arcs,
            float(max_wait),
            d.handling,
            (max(lo, min(early, default=0.0)), min(hi, max(early, default=0.0))),
            tuple(origins),
            tuple(dests),
        )


# --------------------------------------------------------------------------- model
def build_model(data: FleetData) -> pyo.ConcreteModel:
    """The fleet-sizing MILP of the module docstring (no solving, no I/O)."""
    m = pyo.ConcreteModel(name="fleet_size")
    m.TRIPS = pyo.Set(initialize=range(data.n), ordered=True)
    m.ARCS = pyo.Set(initialize=sorted(data.arcs), dimen=2, ordered=True)
    _add_variables(m, data)
    _add_succession(m, data)
    _add_timing(m, data)
    _add_chain_start(m, data)
    _add_symmetry(m, data)
    _add_objective(m, data)
    return m


def _add_variables(m: pyo.ConcreteModel, data: FleetData) -> None:
    """x_ij in {0, 1} for (i, j) in ARCS; s_j in [e_j, l_j]."""
    m.x = pyo.Var(m.ARCS, domain=pyo.Binary)
    m.s = pyo.Var(
        m.TRIPS,
        bounds=lambda _m, j: (data.earliest[j], data.latest[j]),
        initialize=lambda _m, j: data.earliest[j],
    )
    _, pred = arc_neighbours(data.arcs, data.n)
    m.chain_start = pyo.Expression(m.TRIPS, rule=lambda _m, j: 1 - sum(_m.x[i, j] for i in pred[j]))


def arc_neighbours(
    arcs: Iterable[tuple[int, int]], n: int
) -> tuple[dict[int, list[int]], dict[int, list[int]]]:
    """Successors and predecessors of each of ``n`` trips along ``arcs`` (in arc order)."""
    succ: dict[int, list[int]] = {j: [] for j in range(n)}
    pred: dict[int, list[int]] = {j: [] for j in range(n)}
    for i, j in sorted(arcs):
        succ[i].append(j)
        pred[j].append(i)
    return succ, pred


def _add_succession(m: pyo.ConcreteModel, data: FleetData) -> None:
    """sum_j x_ij <= 1 and sum_i x_ij <= 1: a trip has one successor and one predecessor.

    Only for trips with at least two successors (predecessors): with one, the binary bound
    already says it.
    """
    succ, pred = arc_neighbours(data.arcs, data.n)
    m.HEADS = pyo.Set(initialize=[i for i in range(data.n) if len(succ[i]) > 1], ordered=True)
    m.TAILS = pyo.Set(initialize=[j for j in range(data.n) if len(pred[j]) > 1], ordered=True)

    @m.Constraint(m.HEADS)
    def one_successor(m, i):
        return sum(m.x[i, j] for j in succ[i]) <= 1

    @m.Constraint(m.TAILS)
    def one_predecessor(m, j):
        return sum(m.x[i, j] for i in pred[j]) <= 1


def _add_timing(m: pyo.ConcreteModel, data: FleetData) -> None:
    """s_j >= s_i + g_ij - M_ij (1 - x_ij) with M_ij = l_i + g_ij - e_j (the smallest valid M).

    Arcs with M_ij <= 0 fit whatever the pickup times are: they need no constraint.
    """
    timed = [a for a in sorted(data.arcs) if data.big_m(*a) > 1e-12]
    m.TIMED = pyo.Set(initialize=timed, dimen=2, ordered=True)

    @m.Constraint(m.TIMED)
    def timing(m, i, j):
        return m.s[j] >= m.s[i] + data.arcs[(i, j)] - data.big_m(i, j) * (1 - m.x[i, j])


def _add_chain_start(m: pyo.ConcreteModel, data: FleetData) -> None:
    """s_j >= e_j + a_j (1 - sum_i x_ij): a vehicle starting with j first drives to o_j.

    Only for trips with a_j > 0 (none with ``start="anywhere"``).
    """
    m.REACH = pyo.Set(initialize=[j for j in range(data.n) if data.reach[j] > 0], ordered=True)

    @m.Constraint(m.REACH)
    def reach(m, j):
        return m.s[j] >= data.earliest[j] + data.reach[j] * m.chain_start[j]


def _add_symmetry(m: pyo.ConcreteModel, data: FleetData) -> None:
    """s_i <= s_j for consecutive identical trips i < j (same request time, origin and
    destination): any schedule can be relabelled so, which removes equivalent solutions
    (``FleetData.build`` drops the arcs j -> i for the same reason)."""
    pairs = [
        (i, i + 1)
        for i in range(data.n - 1)
        if (data.earliest[i], data.origins[i], data.dests[i])
        == (data.earliest[i + 1], data.origins[i + 1], data.dests[i + 1])
    ]
    m.TWINS = pyo.Set(initialize=pairs, dimen=2, ordered=True)

    @m.Constraint(m.TWINS)
    def in_order(m, i, j):
        return m.s[i] <= m.s[j]


def _add_objective(m: pyo.ConcreteModel, data: FleetData) -> None:
    """min sum_j (1 - sum_i x_ij): the number of chains, i.e. of vehicles."""
    m.vehicles = pyo.Expression(expr=sum(m.chain_start[j] for j in m.TRIPS))
    m.obj = pyo.Objective(expr=m.vehicles, sense=pyo.minimize)


def _add_lower_bound(m: pyo.ConcreteModel, lower: int) -> None:
    """sum_j (1 - sum_i x_ij) >= L for a known lower bound L (``clique_bound``): lets the
    solver stop as soon as it meets it."""
    m.at_least = pyo.Constraint(expr=m.vehicles >= lower)


def clique_bound(data: FleetData) -> int:
    """Trips no vehicle can serve one after the other, in either order, need a vehicle each:
    the largest such set (a maximum clique of the incompatibility graph) is a lower bound."""
    import networkx as nx

    g = nx.Graph()
    g.add_nodes_from(range(data.n))
    arcs = data.arcs
    g.add_edges_from(
        (i, j)
        for i in range(data.n)
        for j in range(i + 1, data.n)
        if (i, j) not in arcs and (j, i) not in arcs
    )
    if data.n == 0:
        return 0
    if data.n > EXACT_CLIQUE_MAX:  # exact search is exponential: any clique is still a bound
        return len(greedy_clique(g))
    _, size = nx.max_weight_clique(g, weight=None)
    return int(size)


EXACT_CLIQUE_MAX = 120
"""Windows with more trips get a greedy clique (a weaker, still valid lower bound)."""


def greedy_clique(g: Any) -> list[int]:
    """A clique grown from each node, adding the candidate with most neighbours among the
    candidates; the largest found.

    Kept rather than networkx's ``approximation.large_clique_size`` (or ``max_clique``)
    because its bound is stronger, measured here: on every window of the reference plant's
    demand (both layouts, waits of 3.5-10 min, windows of 4-72 h, up to 288 trips) both found
    the exact maximum clique; on dense graphs ours found larger ones (G(n, p) with seeds 0-4:
    n = 150, p = 0.8: 22-24 against 20-22; n = 300, p = 0.8: 27-28 against 24-25; n = 600,
    p = 0.5: 13-14 against 12-13), at 5-14 times its time (0.6 s against 0.07 s at n = 150,
    p = 0.8). A larger clique is a higher lower bound, which is all this is for, and windows
    this dense and large are far from realistic ones. ``approximation.max_clique`` was slower
    still (seconds on 150 trips), smaller on several windows, and hit Python's recursion limit
    on windows of 300 trips.
    """
    best: list[int] = []
    for start in g.nodes:
        clique = [start]
        cand = set(g[start])
        while cand:
            nxt = max(cand, key=lambda v: (len(cand & set(g[v])), -v))
            clique.append(nxt)
            cand &= set(g[nxt])
        if len(clique) > len(best):
            best = clique
    return best


# --------------------------------------------------------------------------- solving
@dataclass(frozen=True)
class FleetSolution:
    """Vehicles for one window: the chains of trips (positions in the window) and pickups."""

    vehicles: int
    lower_bound: int
    status: str
    seconds: float
    chains: tuple[tuple[int, ...], ...]
    pickups: tuple[float, ...]
    """Start of loading per trip (hours)."""
    method: str = "milp"

    @property
    def proven(self) -> bool:
        return self.lower_bound >= self.vehicles


def greedy_chains(data: FleetData) -> FleetSolution:
    """A feasible schedule in O(n x vehicles): trips in request order, each to the vehicle that
    can start loading it earliest within its window, else to a new vehicle (an upper bound)."""
    t0 = time.perf_counter()
    chains: list[list[int]] = []
    pick = [0.0] * data.n
    for j in range(data.n):
        best, best_s = -1, math.inf
        for c, chain in enumerate(chains):
            i = chain[-1]
            g = data.arcs.get((i, j))
            if g is None:
                continue
            s = max(data.earliest[j], pick[i] + g)
            if s <= data.latest[j] + 1e-12 and s < best_s:
                best, best_s = c, s
        if best < 0:
            chains.append([j])
            pick[j] = data.earliest[j] + data.reach[j]
        else:
            chains[best].append(j)
            pick[j] = best_s
    lb = 1 if data.n else 0
    return FleetSolution(
        len(chains),
        lb,
        "feasible",
        time.perf_counter() - t0,
        tuple(tuple(c) for c in chains),
        tuple(pick),
        "greedy",
    )


def solve(data: FleetData, options: SolverOptions | None = None) -> FleetSolution:
    """Solve the window's MILP (warm-started from the greedy schedule)."""
    if data.n == 0:
        return FleetSolution(0, 0, "optimal", 0.0, (), (), "milp")
    options = options or SolverOptions()
    t0 = time.perf_counter()
    greedy = greedy_chains(data)
    lower = clique_bound(data)
    if greedy.vehicles <= max(1, lower):
        return FleetSolution(
            greedy.vehicles,
            greedy.vehicles,
            "optimal",
            time.perf_counter() - t0,
            greedy.chains,
            greedy.pickups,
            "greedy = clique bound",
        )
    m = build_model(data)
    _add_lower_bound(m, lower)
    options = replace(options, mip_gap=0.95 / greedy.vehicles)
    for chain in greedy.chains:
        for a, b in zip(chain, chain[1:], strict=False):
            m.x[a, b].value = 1
    for i, j in m.ARCS:
        if m.x[i, j].value is None:
            m.x[i, j].value = 0
    for j in m.TRIPS:
        m.s[j].value = greedy.pickups[j]
    res = solve_model(m, options, warmstart=True)
    seconds = time.perf_counter() - t0
    if not res.has_solution:
        return FleetSolution(
            greedy.vehicles, lower, res.status, seconds, greedy.chains, greedy.pickups, "greedy"
        )
    vehicles = round(pyo.value(m.vehicles))
    if res.bound is not None:
        lower = max(lower, math.ceil(res.bound - 1e-6))
    status = "optimal" if lower >= vehicles else res.status
    if vehicles > greedy.vehicles:  # cannot happen with the warm start, but never go worse
        return FleetSolution(
            greedy.vehicles, lower, status, seconds, greedy.chains, greedy.pickups, "greedy"
        )
    nxt = {i: j for (i, j) in m.ARCS if m.x[i, j].value > 0.5}
    has_pred = set(nxt.values())
    chains = []
    for j in range(data.n):
        if j not in has_pred:
            chain = [j]
            while chain[-1] in nxt:
                chain.append(nxt[chain[-1]])
            chains.append(tuple(chain))
    pickups = tuple(float(m.s[j].value) for j in range(data.n))
    return FleetSolution(
        vehicles, min(lower, vehicles), status, seconds, tuple(chains), pickups, "milp"
    )


# --------------------------------------------------------------------------- windows
@dataclass(frozen=True)
class WindowResult:
    window: tuple[float, float]
    trips: int
    greedy: int
    vehicles: int
    lower_bound: int
    status: str
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "window_h": list(self.window),
            "trips": self.trips,
            "greedy": self.greedy,
            "vehicles": self.vehicles,
            "lower_bound": self.lower_bound,
            "status": self.status,
            "seconds": round(self.seconds, 3),
        }


@dataclass(frozen=True)
class FleetSizing:
    """The minimum fleet over all windows, and how it was found."""

    vehicles: int
    """Enough for every window (proven optimal per window when ``proven``)."""
    lower_bound: int
    proven: bool
    max_wait: float
    window_h: float
    trips: int
    windows: int
    solved: tuple[WindowResult, ...]
    peak: WindowResult | None
    seconds: float
    charging: str
    start: str
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "vehicles": self.vehicles,
            "lower_bound": self.lower_bound,
            "proven": self.proven,
            "max_wait_h": self.max_wait,
            "window_h": self.window_h,
            "trips": self.trips,
            "milp_windows": len(self.solved),
            "peak": self.peak.to_dict() if self.peak is not None else None,
            "solved": [w.to_dict() for w in self.solved],
            "seconds": round(self.seconds, 3),
            "charging": self.charging,
            "start": self.start,
        }


def windows_of(horizon: float, window_h: float) -> list[tuple[float, float]]:
    """Windows of ``window_h`` hours starting every ``window_h / 2`` hours over [0, horizon]."""
    step = window_h / 2
    n = max(1, math.ceil(horizon / step))
    return [(k * step, k * step + window_h) for k in range(n)]


def size_fleet(
    demand: TransportDemand,
    max_wait: float,
    window_h: float = 8.0,
    time_limit: float = 60.0,
    charging: Charging = "amortised",
    start: Start = "anywhere",
    options: SolverOptions | None = None,
) -> FleetSizing:
    """The fewest vehicles serving every trip of ``demand`` within ``max_wait`` hours.

    Windows are screened with the greedy schedule and solved exactly, largest greedy bound
    first, until no unsolved window can need more vehicles than the best answer so far, or
    ``time_limit`` seconds are used (then unsolved windows count with their greedy bound and
    ``proven`` is False). ``time_limit`` covers the whole call, preparing the windows included.
    """
    window_h = check_positive(window_h, "window_h", "hours")
    time_limit = check_time_limit(time_limit)
    t0 = time.perf_counter()
    deadline = t0 + time_limit
    horizon = max(demand.horizon, max(demand.times, default=0.0) + 1e-9)
    datas: list[FleetData] = []
    for w in windows_of(horizon, window_h):
        d = FleetData.build(demand, max_wait, w, charging, start)
        if d.n:
            datas.append(d)
    greedy = [greedy_chains(d) for d in datas]
    order = sorted(range(len(datas)), key=lambda k: (-greedy[k].vehicles, -datas[k].n, k))
    best = 0  # the largest proven window optimum so far
    lower = 0
    solved: list[WindowResult] = []
    unsolved_max = 0
    for pos, k in enumerate(order):
        if greedy[k].vehicles <= max(best, unsolved_max):
            break  # no window left can need more than the answer so far (greedy >= optimum)
        left = deadline - time.perf_counter() - 0.5  # margin for the model hand-over
        if left <= 0.05:
            unsolved_max = max(greedy[q].vehicles for q in order[pos:])
            break
        base = options or SolverOptions()
        opts = SolverOptions(
            name=base.name,
            time_limit=min(left, base.time_limit or left),
            mip_gap=base.mip_gap,
            threads=base.threads,
            seed=base.seed,
            node_limit=base.node_limit,
        )
        sol = solve(datas[k], opts)
        solved.append(
            WindowResult(
                datas[k].window,
                datas[k].n,
                greedy[k].vehicles,
                sol.vehicles,
                sol.lower_bound,
                sol.status,
                sol.seconds,
            )
        )
        lower = max(lower, sol.lower_bound)
        if sol.proven:
            best = max(best, sol.vehicles)
        else:
            unsolved_max = max(unsolved_max, sol.vehicles)
    vehicles = max(best, unsolved_max, lower)
    peak = max(solved, key=lambda w: (w.vehicles, w.trips), default=None)
    return FleetSizing(
        vehicles=vehicles,
        lower_bound=lower,
        proven=lower >= vehicles,
        max_wait=float(max_wait),
        window_h=float(window_h),
        trips=demand.n,
        windows=len(datas),
        solved=tuple(solved),
        peak=peak,
        seconds=time.perf_counter() - t0,
        charging=charging,
        start=start,
    )
