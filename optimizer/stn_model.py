"""The discrete-time STN MILP (Kondili, Pantelides and Sargent 1993, as in the MO-book).

`model_data(data)` turns `StnData` into grid indices (done once, outside the model); `build_model`
states the MILP from them and does no solving and no I/O.

Notation
--------
Grid points k = 0..N at times t_k = start + k * step. A *job* a is a unit-task pair (i, j) of the
data, or a hold job (below); its span P_a = ceil(d_i / step) where d_i is the task's longest
output duration, and a batch of a started at k keeps unit j busy on [k, k + P_a). Output s of
task i arrives o_is = ceil(d_is / step) periods after the start (`ceil`, because material made
between grid points can only be used at the next one: this discretisation is exact for tasks
that start on grid points). Job a may start at k in K_a = {k : k + P_a <= N, t_k >= the unit's
release (initial state plus cleaning or changeover after its last task)}.

Variables: W[a,k] in {0,1} (a batch of a starts at k; continuous in [0,1] for k >= relax_from,
used by the rolling horizon's look-ahead), B[a,k] >= 0 its size, S[s,k] in [0, C_s] the stock of
s after the events at k, U[d] in [0, D_d] the shortfall of a soft demand d.

Constraints, one `_add_<concern>` each (their docstrings hold the math):
unit occupancy, gaps (cleaning and changeovers), batch size, holds, material balance, final
stock, utilities; the objective in `_add_objective`.

NIS states (policy `none`) get one *hold job* per unit that makes them: it draws the material
at k and gives it back at k + 1 on the same unit (span 1, no cost), and may only follow a batch
of that unit that made the material, or another hold of it (`_add_holds`), so material without
a tank waits in the unit that made it and keeps it busy; zero-wait states simply have C_s = 0.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field

import pyomo.environ as pyo

from optimizer.stn_data import StnData, grid_index

__all__ = ["Job", "StnModelData", "build_model", "model_data", "periods_up"]


def periods_up(duration: float, step: float) -> int:
    """ceil(duration / step), where values within 1e-9 of a whole number count as whole."""
    x = duration / step
    nearest = round(x)
    if abs(x - nearest) <= 1e-9 * max(1.0, abs(x)):
        return int(nearest)
    return math.ceil(x)


@dataclass(frozen=True)
class Job:
    """A unit-task pair the model may start (or a hold job of an NIS state)."""

    task: str
    unit: str
    hold_of: str | None
    bmin: float
    bmax: float
    fixed_cost: float
    variable_cost: float
    duration: float
    """Real time a batch keeps the unit (the task's longest output duration)."""
    span: int
    """Periods the unit is busy: ceil(duration / step)."""
    window: int
    """Periods after a start in which the unit can start nothing else (span, plus the cleaning
    after every batch when it can be folded in)."""
    inputs: tuple[tuple[str, float], ...]
    outputs: tuple[tuple[str, float, int], ...]
    """(state, fraction, offset in periods)."""
    uses: tuple[tuple[str, float, float], ...]
    """(utility, fixed, per size) while the batch runs."""
    first: int
    last: int
    """Allowed starts first..last (empty when last < first)."""

    @property
    def starts(self) -> range:
        return range(self.first, self.last + 1)


@dataclass(frozen=True)
class StnModelData:
    """Everything `build_model` needs, in grid indices."""

    data: StnData
    periods: int
    times: tuple[float, ...]
    jobs: tuple[Job, ...]
    gaps: tuple[tuple[int, int, int], ...]
    """(a, b, L): a batch of b may not start in [k_a + window_a, k_a + L) after one of a."""
    arrivals: dict[tuple[str, int], float]
    """Material arriving from receipts and batches in progress, by (state, k)."""
    demands: tuple[tuple[int, str, int, float, float | None], ...]
    """(index in data.demands, state, k, amount, penalty or None when hard)."""
    capacity: dict[str, float | None]
    end_capacity: dict[str, float | None]
    """Capacity at the last grid point (differs only with `open_end`)."""
    utility_capacity: dict[tuple[str, int], float]
    """Capacity of each utility over [t_k, t_k+1) left by the batches in progress."""
    relax_from: int | None
    hold_sources: dict[int, tuple[tuple[int, float], ...]] = field(default_factory=dict)
    """Hold job -> the jobs on its unit whose output of the held state comes at their end,
    with its fraction: a hold follows one of them (or another hold of the same state)."""
    held_at_start: dict[int, tuple[int, float]] = field(default_factory=dict)
    """Hold job -> (k, amount): its unit holds that much of the state from grid point k on
    (the plant state: `UnitInit.held`, or a batch in progress ending then)."""

    @property
    def binaries(self) -> int:
        """Number of start variables that are integer."""
        top = self.periods + 1 if self.relax_from is None else self.relax_from
        return sum(len(range(j.first, min(j.last, top - 1) + 1)) for j in self.jobs)


def model_data(
    data: StnData, relax_from: int | None = None, open_end: bool = False
) -> StnModelData:
    """Grid indices of `data`; starts at or after `relax_from` get continuous W (None: none).
    `open_end` (a rolling-horizon window that ends before the real stop) lets NIS and zero-wait
    material exist at the last grid point: it is in a unit then, and the next window goes on."""
    g = data.grid
    n = g.periods
    times = tuple(g.time(k) for k in range(n + 1))
    step = g.step
    nis = {s.name for s in data.states if s.policy == "none"}
    release = _unit_release(data)
    proto: list[dict] = []
    for ut in data.unit_tasks:
        dur = data.duration(ut.task)
        proto.append(
            dict(
                task=ut.task,
                unit=ut.unit,
                hold_of=None,
                bmin=ut.bmin,
                bmax=ut.bmax,
                fixed_cost=ut.fixed_cost,
                variable_cost=ut.variable_cost,
                duration=dur,
                span=periods_up(dur, step),
                inputs=tuple((a.state, a.fraction) for a in data.task_inputs(ut.task)),
                outputs=tuple(
                    (o.state, o.fraction, periods_up(o.duration, step))
                    for o in data.task_outputs(ut.task)
                ),
                uses=tuple(
                    (u.utility, u.fixed, u.per_size)
                    for u in data.utility_uses
                    if (u.unit, u.task) == (ut.unit, ut.task)
                ),
            )
        )
    for s in sorted(nis):
        makers: dict[str, float] = {}
        for ut in data.unit_tasks:
            if any(o.state == s for o in data.task_outputs(ut.task)):
                makers[ut.unit] = max(makers.get(ut.unit, 0.0), ut.bmax)
        for unit, bmax in makers.items():
            proto.append(
                dict(
                    task=f"hold {s}",
                    unit=unit,
                    hold_of=s,
                    bmin=0.0,
                    bmax=bmax,
                    fixed_cost=0.0,
                    variable_cost=0.0,
                    duration=step,
                    span=1,
                    inputs=((s, 1.0),),
                    outputs=((s, 1.0, 1),),
                    uses=(),
                )
            )
    holds_on = {p["unit"] for p in proto if p["hold_of"] is not None}
    jobs: list[Job] = []
    for p in proto:
        fold = 0.0 if p["unit"] in holds_on or p["hold_of"] else data.cleaning(p["unit"], p["task"])
        window = periods_up(p["duration"] + fold, step)
        t_free, last = release.get(p["unit"], (g.start, None))
        gap = 0.0 if last is None else _gap(data, p["unit"], last, p["task"], p["hold_of"])
        first = grid_index(g, t_free + gap, "up")
        jobs.append(Job(**p, window=window, first=max(0, first), last=n - p["span"]))
    gaps = []
    for a, ja in enumerate(jobs):
        for b, jb in enumerate(jobs):
            if ja.unit != jb.unit or jb.hold_of is not None:
                continue
            if ja.hold_of is None:
                g_ab = _gap(data, ja.unit, ja.task, jb.task, None)
            else:  # after a hold: the largest gap after any task that makes the held state
                g_ab = max(
                    (
                        _gap(data, ja.unit, jc.task, jb.task, None)
                        for jc in jobs
                        if jc.unit == ja.unit
                        and jc.hold_of is None
                        and any(o[0] == ja.hold_of for o in jc.outputs)
                    ),
                    default=0.0,
                )
            length = periods_up(ja.duration + g_ab, step)
            if length > ja.window:
                gaps.append((a, b, length))
    hold_sources = {
        h: tuple(
            (a, frac)
            for a, ja in enumerate(jobs)
            if ja.unit == jh.unit and ja.hold_of is None
            for state, frac, offset in ja.outputs
            if state == jh.hold_of and offset == ja.span
        )
        for h, jh in enumerate(jobs)
        if jh.hold_of is not None
    }
    held = _held_at_start(data)
    held_at_start = {
        h: held[jh.hold_of, jh.unit] for h, jh in enumerate(jobs) if (jh.hold_of, jh.unit) in held
    }
    arrivals: dict[tuple[str, int], float] = defaultdict(float)
    for ui in data.unit_init:
        for state, amount in ui.held:
            arrivals[state, max(0, grid_index(g, ui.free_at, "up"))] += amount
    for r in data.receipts:
        arrivals[r.state, max(0, grid_index(g, r.time, "up"))] += r.amount
    for b in data.in_progress:
        for o in data.task_outputs(b.task):
            k = grid_index(g, b.start + o.duration, "up")
            if 0 <= k <= n:  # an output due before the grid start is in the initial stock
                arrivals[o.state, k] += o.fraction * b.size
    demands = tuple(
        (d, dem.state, min(n, grid_index(g, dem.time, "down")), dem.amount, dem.penalty)
        for d, dem in enumerate(data.demands)
    )
    utility_capacity: dict[tuple[str, int], float] = {}
    for u in data.utilities:
        for k in range(n):
            cap = u.capacity_between(times[k], times[k] + step)
            for b in data.in_progress:
                end = b.start + data.duration(b.task)
                if b.start < times[k] + step and end > times[k]:
                    for use in data.utility_uses:
                        if (use.unit, use.task, use.utility) == (b.unit, b.task, u.name):
                            cap -= use.fixed + use.per_size * b.size
            utility_capacity[u.name, k] = max(0.0, cap)
    return StnModelData(
        data=data,
        periods=n,
        times=times,
        jobs=tuple(jobs),
        gaps=tuple(gaps),
        arrivals=dict(arrivals),
        demands=demands,
        capacity={s.name: s.effective_capacity for s in data.states},
        end_capacity={
            s.name: None if open_end and s.policy != "store" else s.effective_capacity
            for s in data.states
        },
        utility_capacity=utility_capacity,
        relax_from=relax_from,
        hold_sources=hold_sources,
        held_at_start=held_at_start,
    )


def _held_at_start(data: StnData) -> dict[tuple[str, str], tuple[int, float]]:
    """(state, unit) -> (k, amount) of NIS material units hold when they become free: what the
    plant state says they hold, and the end outputs of batches in progress."""
    g = data.grid
    out: dict[tuple[str, str], tuple[int, float]] = {}
    for ui in data.unit_init:
        for state, amount in ui.held:
            out[state, ui.unit] = (max(0, grid_index(g, ui.free_at, "up")), amount)
    for b in data.in_progress:
        end = b.start + data.duration(b.task)
        for o in data.task_outputs(b.task):
            if data.state(o.state).policy == "none" and abs(o.duration - data.duration(b.task)) <= (
                1e-9 * g.step
            ):
                out[o.state, b.unit] = (max(0, grid_index(g, end, "up")), o.fraction * b.size)
    return out


def _unit_release(data: StnData) -> dict[str, tuple[float, str | None]]:
    """Unit -> (free from, last task) from the initial plant state."""
    out: dict[str, tuple[float, str | None]] = {}
    for ui in data.unit_init:
        out[ui.unit] = (ui.free_at, ui.last_task)
    for b in data.in_progress:
        out[b.unit] = (b.start + data.duration(b.task), b.task)
    return out


def _gap(data: StnData, unit: str, before: str, task: str, hold_of: str | None) -> float:
    """Least time between the end of a batch of task `before` and the start of a batch of
    `task` (0 before a hold job: material may wait in the unit that made it)."""
    if hold_of is not None:
        return 0.0
    return max(data.cleaning(unit, before), data.changeover(unit, before, task))


# ---------------------------------------------------------------------------------- model
def build_model(md: StnModelData) -> pyo.ConcreteModel:
    """The STN MILP of `md` (module docstring): sets, variables, constraints, objective."""
    m = pyo.ConcreteModel(name=f"stn {md.data.name}")
    n = md.periods
    m.STATES = pyo.Set(initialize=[s.name for s in md.data.states], ordered=True)
    m.TIME = pyo.RangeSet(0, n)
    m.STARTS = pyo.Set(
        dimen=2,
        ordered=True,
        initialize=[(a, k) for a, job in enumerate(md.jobs) for k in job.starts],
    )
    m.SOFT = pyo.Set(initialize=[d for d, *_, pen in md.demands if pen is not None])

    def w_domain(_m, a, k):
        relaxed = md.relax_from is not None and k >= md.relax_from
        return pyo.UnitInterval if relaxed else pyo.Binary

    m.W = pyo.Var(m.STARTS, domain=w_domain)
    m.B = pyo.Var(
        m.STARTS, domain=pyo.NonNegativeReals, bounds=lambda _m, a, k: (0.0, md.jobs[a].bmax)
    )
    m.S = pyo.Var(
        m.STATES,
        m.TIME,
        domain=pyo.NonNegativeReals,
        bounds=lambda _m, s, k: (0.0, md.end_capacity[s] if k == n else md.capacity[s]),
    )

    amounts = {d: amount for d, _, _, amount, _ in md.demands}
    m.U = pyo.Var(m.SOFT, domain=pyo.NonNegativeReals, bounds=lambda _m, d: (0.0, amounts[d]))
    _add_unit_occupancy(m, md)
    _add_gaps(m, md)
    _add_batch_size(m, md)
    _add_holds(m, md)
    _add_material_balance(m, md)
    _add_final_stock(m, md)
    _add_utilities(m, md)
    _add_objective(m, md)
    return m


def _add_unit_occupancy(m: pyo.ConcreteModel, md: StnModelData) -> None:
    """A unit starts at most one batch in any window of its tasks:

        sum_{a on j} sum_{k' in K_a, k - window_a < k' <= k} W[a,k'] <= 1     for all j, k

    (window_a = P_a, plus the cleaning after every batch on units without hold jobs). Rows with
    a single term are implied by W <= 1 and left out."""
    terms: dict[tuple[str, int], list[tuple[int, int]]] = defaultdict(list)
    for a, job in enumerate(md.jobs):
        for k0 in job.starts:
            for k in range(k0, min(md.periods, k0 + job.window - 1) + 1):
                terms[job.unit, k].append((a, k0))
    rows = sorted(key for key, lst in terms.items() if len(lst) > 1)
    m.UNIT_TIMES = pyo.Set(dimen=2, initialize=rows, ordered=True)

    @m.Constraint(m.UNIT_TIMES)
    def occupancy(m, unit, k):
        return sum(m.W[a, k0] for a, k0 in terms[unit, k]) <= 1


def _add_gaps(m: pyo.ConcreteModel, md: StnModelData) -> None:
    """Cleaning and changeovers: after a batch of a on unit j, a batch of b starts no earlier
    than ceil((d_a + g_ab) / step) periods later, g_ab = max(cleaning after a, changeover a->b).
    For each start k of b, the starts k' of a that forbid it, k - L_ab < k' <= k - window_a, are
    cut into runs no longer than window_a (two batches of a are at least that far apart, so a
    run holds at most one), and each run gives

        W[b,k] + sum_{k' in run} W[a,k'] <= 1.

    (Every earlier batch of a counts, not only the one just before b; with changeover times that
    obey the triangle inequality this is the same as the immediate-predecessor rule the checker
    applies, otherwise it is stricter.)"""
    rows: list[tuple[int, int, int, int]] = []
    runs: dict[tuple[int, int, int, int], list[int]] = {}
    for a, b, length in md.gaps:
        ja, jb = md.jobs[a], md.jobs[b]
        for k in jb.starts:
            lo, hi = max(ja.first, k - length + 1), min(ja.last, k - ja.window)
            first = lo
            while first <= hi:
                run = list(range(first, min(hi, first + ja.window - 1) + 1))
                key = (a, b, k, first)
                rows.append(key)
                runs[key] = run
                first += ja.window
    m.GAP_ROWS = pyo.Set(dimen=4, initialize=rows, ordered=True)

    @m.Constraint(m.GAP_ROWS)
    def gap(m, a, b, k, first):
        return m.W[b, k] + sum(m.W[a, k0] for k0 in runs[a, b, k, first]) <= 1


def _add_batch_size(m: pyo.ConcreteModel, md: StnModelData) -> None:
    """Bmin_a W[a,k] <= B[a,k] <= Bmax_a W[a,k]  (the lower row only where Bmin_a > 0)."""

    @m.Constraint(m.STARTS)
    def batch_max(m, a, k):
        return m.B[a, k] <= md.jobs[a].bmax * m.W[a, k]

    m.MIN_ROWS = pyo.Set(
        dimen=2, ordered=True, initialize=[(a, k) for a, k in m.STARTS if md.jobs[a].bmin > 0]
    )

    @m.Constraint(m.MIN_ROWS)
    def batch_min(m, a, k):
        return m.B[a, k] >= md.jobs[a].bmin * m.W[a, k]


def _add_holds(m: pyo.ConcreteModel, md: StnModelData) -> None:
    """NIS material waits only in the unit that made it: a hold h of state s on unit j starts
    right after a batch of a job a on j whose output of s comes at its end (o_as = P_a), or
    right after another hold of s on j, and keeps no more than that left it:

        W[h,k] <= sum_a W[a, k - P_a] + W[h, k-1] + H0[h,k]
        B[h,k] <= sum_a rho_as B[a, k - P_a] + B[h, k-1] + Q0[h,k]

    H0 = 1 and Q0 = the amount where the plant state has the unit holding s from k."""
    rows = [(h, k) for h in md.hold_sources for k in md.jobs[h].starts]
    m.HOLD_STARTS = pyo.Set(dimen=2, initialize=rows, ordered=True)

    def before(h: int, k: int) -> list[tuple[int, int, float]]:
        out = [(a, k - md.jobs[a].span, frac) for a, frac in md.hold_sources[h]]
        out.append((h, k - 1, 1.0))
        return [(a, k0, frac) for a, k0, frac in out if (a, k0) in m.STARTS]

    def initial(h: int, k: int) -> float | None:
        k0, amount = md.held_at_start.get(h, (None, 0.0))
        return amount if k0 == k else None

    @m.Constraint(m.HOLD_STARTS)
    def hold_start(m, h, k):
        start = 0.0 if initial(h, k) is None else 1.0
        return m.W[h, k] <= sum(m.W[a, k0] for a, k0, _ in before(h, k)) + start

    @m.Constraint(m.HOLD_STARTS)
    def hold_amount(m, h, k):
        held = initial(h, k) or 0.0
        return m.B[h, k] <= sum(f * m.B[a, k0] for a, k0, f in before(h, k)) + held


def _add_material_balance(m: pyo.ConcreteModel, md: StnModelData) -> None:
    """Stock after the events at k (S[s,-1] is the initial stock):

        S[s,k] = S[s,k-1] + R[s,k] + sum_{a makes s} rho_as B[a, k - o_as]
                 - sum_{a uses s} rho_as B[a,k] - sum_{demands d of s at k} (D_d - U_d)

    R holds receipts and outputs of batches in progress; each output arrives at its own offset
    o_as; 0 <= S[s,k] <= C_s is the variables' bounds (C_s = 0 for NIS and zero-wait)."""
    made: dict[tuple[str, int], list[tuple[float, int, int]]] = defaultdict(list)
    used: dict[tuple[str, int], list[tuple[float, int]]] = defaultdict(list)
    for a, job in enumerate(md.jobs):
        for k in job.starts:
            for s, frac in job.inputs:
                used[s, k].append((frac, a))
            for s, frac, offset in job.outputs:
                made[s, k + offset].append((frac, a, k))
    shipped: dict[tuple[str, int], list[tuple[int, float, bool]]] = defaultdict(list)
    for d, s, k, amount, penalty in md.demands:
        shipped[s, k].append((d, amount, penalty is not None))
    initial = {s.name: s.initial for s in md.data.states}

    @m.Constraint(m.STATES, m.TIME)
    def balance(m, s, k):
        before = initial[s] if k == 0 else m.S[s, k - 1]
        inflow = md.arrivals.get((s, k), 0.0) + sum(f * m.B[a, k0] for f, a, k0 in made[s, k])
        outflow = sum(f * m.B[a, k] for f, a in used[s, k]) + sum(
            amount - m.U[d] if soft else amount for d, amount, soft in shipped[s, k]
        )
        return m.S[s, k] == before + inflow - outflow


def _add_final_stock(m: pyo.ConcreteModel, md: StnModelData) -> None:
    """S[s,N] >= F_s for each `extra` row (the final stock demanded of s)."""
    target = dict(md.data.final_min)
    m.FINAL = pyo.Set(initialize=list(target), ordered=True)

    @m.Constraint(m.FINAL)
    def final_stock(m, s):
        return m.S[s, md.periods] >= target[s]


def _add_utilities(m: pyo.ConcreteModel, md: StnModelData) -> None:
    """Utility u over [t_k, t_k+1) (batches use it during their whole span):

        sum_{a uses u} sum_{k - P_a < k' <= k} (f_au W[a,k'] + v_au B[a,k']) <= Cap_u(k)

    Cap_u(k) is the smallest capacity over the period, less what batches in progress use."""
    terms: dict[tuple[str, int], list[tuple[float, float, int, int]]] = defaultdict(list)
    for a, job in enumerate(md.jobs):
        for u, fixed, per_size in job.uses:
            for k0 in job.starts:
                for k in range(k0, min(md.periods - 1, k0 + job.span - 1) + 1):
                    terms[u, k].append((fixed, per_size, a, k0))
    rows = sorted(key for key in terms if key in md.utility_capacity)
    m.UTILITY_TIMES = pyo.Set(dimen=2, initialize=rows, ordered=True)

    @m.Constraint(m.UTILITY_TIMES)
    def utility(m, u, k):
        use = sum(f * m.W[a, k0] + v * m.B[a, k0] for f, v, a, k0 in terms[u, k])
        return use <= md.utility_capacity[u, k]


def _add_objective(m: pyo.ConcreteModel, md: StnModelData) -> None:
    """max  sum_s price_s S[s,N] + sum_d price_{s_d} (D_d - U_d) - sum_d pen_d U_d
    - sum_{a,k} (fixed_a W[a,k] + variable_a B[a,k])"""
    price = {s.name: s.price for s in md.data.states}
    m.value = pyo.Expression(
        expr=sum(price[s] * m.S[s, md.periods] for s in m.STATES)
        + sum(
            price[s] * (amount - (m.U[d] if pen is not None else 0.0))
            for d, s, _, amount, pen in md.demands
        )
    )
    m.penalty = pyo.Expression(
        expr=sum(pen * m.U[d] for d, *_, pen in md.demands if pen is not None)
    )
    m.cost = pyo.Expression(
        expr=sum(
            md.jobs[a].fixed_cost * m.W[a, k] + md.jobs[a].variable_cost * m.B[a, k]
            for a, k in m.STARTS
        )
    )
    m.objective = pyo.Objective(expr=m.value - m.penalty - m.cost, sense=pyo.maximize)
