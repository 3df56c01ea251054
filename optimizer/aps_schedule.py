"""The list-scheduling decoder: an order of batch segments -> a timed schedule.

A *segment* is a run of consecutive steps of one batch linked by a hold-time limit or a direct
transfer; segments are scheduled whole, in list order, each step on the eligible unit where it
can start processing first (or on a unit given in ``assign``). Each unit runs its steps in the
order they were scheduled (a unit's timeline only grows), so a list fixes every unit sequence.

The decoder mirrors how the twin executes a plan, so that a plan run with deterministic
durations starts every step exactly when planned:

- a unit takes its next step (dispatch ``D``) when it is free, open by its calendar, and the
  batch is there, but no earlier than the cleaning and setup before the step's start (where
  the step would otherwise wait for staff, the twin takes the unit that late); it then cleans
  as the next product requires (minor on the same product,
  matrix/major on a change, campaign clean after ``campaign_batches``; a clean unit idle past
  ``clean_hold`` is cleaned again), waits for the step's staff (granted only on shift),
  sets up, and processes from ``S`` to ``E``;
- an idle dirty unit is fully cleaned when its ``dirty_hold`` runs out; planned maintenance
  starts when due (every N hours, or after N batches) as soon as the unit is free and open;
- a direct transfer keeps the unit blocked until the next step has taken its unit;
- staff pools are capacity profiles with shift calendars (work started on shift finishes).

A hold-time limit (next step must start processing within ``max_hold`` of this step's end)
is met by delaying the segment's earlier steps; what cannot be met is reported as violation
hours and penalised.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from optimizer.aps_data import ApsData, Objective

__all__ = ["Segment", "segments_of", "Schedule", "decode", "HOLD_PENALTY"]

HOLD_PENALTY = 1000.0
"""Objective penalty per hour of hold-time violation (the decoder's only soft constraint)."""

_EPS = 1e-9
_DAY = 24.0

# unit state fields (a list per unit; copied for trials)
FREE, LAST, DIRTY, SINCE, REL, CAMP, NEXT_DUE, PENDING, NBM = range(9)


@dataclass(frozen=True, slots=True)
class Segment:
    index: int
    batch: int
    k: int  # position among the batch's segments
    ops: tuple[int, ...]


def segments_of(data: ApsData) -> list[Segment]:
    """Split every batch's steps at links without a hold limit or direct transfer."""
    out: list[Segment] = []
    for b, batch in enumerate(data.batches):
        cur: list[int] = []
        k = 0
        for oi in batch.ops:
            cur.append(oi)
            op = data.ops[oi]
            if not (op.direct or op.max_hold is not None) or oi == batch.ops[-1]:
                out.append(Segment(len(out), b, k, tuple(cur)))
                cur, k = [], k + 1
        if cur:
            out.append(Segment(len(out), b, k, tuple(cur)))
    return out


@dataclass(frozen=True)
class Schedule:
    """A decoded schedule: per operation its unit, dispatch, cleaning, processing start/end."""

    unit: tuple[int, ...]
    dispatch: tuple[float, ...]
    clean: tuple[float, ...]
    start: tuple[float, ...]
    end: tuple[float, ...]
    tardiness: float  # weighted
    makespan: float
    cleaning: float  # hours, including dirty-hold full cleans
    hold_violation: float  # hours
    order_tardiness: tuple[float, ...]

    def cost(self, objective: Objective) -> float:
        return (objective.tardiness * self.tardiness + objective.makespan * self.makespan
                + objective.cleaning * self.cleaning + HOLD_PENALTY * self.hold_violation)


class _Pools:
    """Staff capacity profiles bucketed by day, with a journal for rollback."""

    def __init__(self, data: ApsData) -> None:
        self.pools = data.pools
        self.buckets: list[dict[int, list[tuple[float, float, int]]]] = [{} for _ in data.pools]
        self.journal: list[tuple[int, int]] = []
        for p, s, e, n in data.busy:
            self.add(p, s, e, n)
        self.journal.clear()

    def add(self, p: int, s: float, e: float, n: int) -> None:
        b = self.buckets[p]
        booking = (s, e, n)  # one object in every day bucket it spans (see grant)
        for d in range(int(s // _DAY), int(max(s, e - _EPS) // _DAY) + 1):
            b.setdefault(d, []).append(booking)
            self.journal.append((p, d))

    def rollback(self, mark: int) -> None:
        j = self.journal
        while len(j) > mark:
            p, d = j.pop()
            self.buckets[p][d].pop()

    def grant(self, p: int, t: float, length: float, n: int,
              extra: list[tuple[int, float, float, int]]) -> float:
        """Earliest time >= t at which n staff of pool p are on shift and free for length h."""
        if not math.isfinite(t):
            return math.inf
        pool = self.pools[p]
        cal = pool.calendar
        g = t
        length = max(length, _EPS)
        for _ in range(10_000):
            if not cal.is_open(g):
                g = cal.next_change(g)
                if math.isinf(g):
                    return g
                continue
            lo, hi = g, g + length
            # a booking spanning several days sits in several buckets: count it once, by
            # identity (two bookings of equal times and size are two bookings, not one)
            found = {id(iv): iv for d in range(int(lo // _DAY), int(hi // _DAY) + 1)
                     for iv in self.buckets[p].get(d, ())
                     if iv[0] < hi - _EPS and iv[1] > lo + _EPS}
            ivs = list(found.values())
            ivs.extend(iv[1:] for iv in extra
                       if iv[0] == p and iv[1] < hi - _EPS and iv[2] > lo + _EPS)
            if not ivs:
                if n <= pool.count:
                    return g
                return math.inf
            points = sorted({lo, *(s for s, _, _ in ivs if s > lo)})
            bad_at = None
            for x in points:
                use = sum(k for s, e, k in ivs if s <= x + _EPS and e > x + _EPS)
                if use + n > pool.count:
                    bad_at = x
                    break
            if bad_at is None:
                return g
            ends = [e for s, e, _ in ivs if s <= bad_at + _EPS and e > bad_at + _EPS]
            g = max(g, min(ends))
        return math.inf


def _open_at(cal, t: float) -> float:
    if cal.always or cal.is_open(t):
        return t
    return cal.next_change(t)


class _Decoder:
    def __init__(self, data: ApsData) -> None:
        self.data = data
        n = len(data.ops)
        self.unit = [-1] * n
        self.disp = [0.0] * n
        self.cln = [0.0] * n
        self.start = [0.0] * n
        self.end = [0.0] * n
        self.states = []
        for u in data.units:
            st = u.start
            every = u.maint_every
            nxt = math.inf if every is None else (math.floor(data.t0 / every) + 1) * every
            self.states.append([st.free, st.last_product, st.dirty, st.since, st.free,
                                st.campaign, nxt, False, st.batches_since_maint])
        self.pools = _Pools(data)
        self.cleaning = 0.0
        self.violation = 0.0

    # ------------------------------------------------------------------ one unit, one step
    def _advance(self, ui: int, st: list, t: float, extra: list, mine: list) -> float:
        """Let maintenance and dirty-hold cleans that happen before dispatch at >= t run;
        returns the dispatch time and updates ``st``."""
        u = self.data.units[ui]
        cal = u.calendar
        if math.isinf(t):
            return t
        for _ in range(1000):
            free = st[FREE]
            if math.isinf(free):
                return free
            every = u.maint_every
            if every is not None:
                while st[NEXT_DUE] <= free + _EPS:
                    st[PENDING] = True
                    st[NEXT_DUE] += every
            d = _open_at(cal, max(t, free))
            # candidate events before dispatch
            m_at = math.inf
            if st[PENDING]:
                m_at = _open_at(cal, free)
            elif every is not None:
                m_at = _open_at(cal, st[NEXT_DUE])
            w_at = math.inf
            if st[DIRTY] and u.dirty_hold is not None:
                # the twin cleans a free dirty unit at its limit (counted from the end of use),
                # at once if it is released or opens later; a claim at that instant wins
                w_at = _open_at(cal, max(st[SINCE] + u.dirty_hold, free))
            if m_at <= d + _EPS and m_at <= w_at:
                g = m_at
                if u.maint_staff is not None:
                    p, k = u.maint_staff
                    g = self.pools.grant(p, m_at, u.maint_duration, k, extra + mine)
                    mine.append((p, g, g + u.maint_duration, k))
                st[FREE] = st[REL] = g + u.maint_duration
                st[PENDING] = False
                st[NBM] = 0
                if every is not None:
                    while st[NEXT_DUE] <= m_at + _EPS:
                        st[NEXT_DUE] += every
                continue
            if w_at < d - _EPS:
                full = u.campaign if u.campaign_batches is not None or u.campaign else u.major
                g = w_at
                if u.clean_staff is not None:
                    p, k = u.clean_staff
                    g = self.pools.grant(p, w_at, full, k, extra + mine)
                    mine.append((p, g, g + full, k))
                st[FREE] = st[REL] = g + full
                st[DIRTY] = False
                st[CAMP] = 0
                st[SINCE] = g + full
                self._extra_clean += full
                continue
            return d
        return math.inf

    def _try(self, oi: int, ui: int, st0: list, ready: float, extra: list) -> tuple:
        """Times of step oi on unit ui (not committed): (S, E, D, clean, state, staff).

        The twin takes a unit for a planned operation only its expected cleaning and setup
        before the planned start (``twin.plan.FollowPlan``). So where the operation would wait
        for its staff (or for the unit's calendar) after cleaning, the unit is taken that much
        later: it stays dirty until then and may run out its dirty-hold limit and get a full
        clean meanwhile, as in the twin. Repeated until the claim no longer moves."""
        r = self._try_at(oi, ui, st0, ready, extra)
        setup = self.data.ops[oi].setup
        for _ in range(4):
            s, _e, d, c = r[:4]
            late = s - setup - c  # when the twin claims the unit for this start
            if late <= d + _EPS:
                break
            r = self._try_at(oi, ui, st0, late, extra)
        return r

    def _try_at(self, oi: int, ui: int, st0: list, ready: float, extra: list) -> tuple:
        """``_try`` with the unit taken as early as it can be from ``ready``."""
        data = self.data
        op = data.ops[oi]
        u = data.units[ui]
        st = list(st0)
        self._extra_clean = 0.0
        mine: list = []
        d = self._advance(ui, st, ready, extra, mine)
        product = data.batches[op.batch].product
        # cleaning the twin's unit does before the batch
        c = 0.0
        if not st[DIRTY]:
            if u.clean_hold is not None and d - st[SINCE] > u.clean_hold:
                c = u.minor
        else:
            if u.campaign_batches is not None and st[CAMP] >= u.campaign_batches:
                c, kind = u.campaign, "campaign"
            elif st[LAST] != product:
                c, kind = u.major_clean(st[LAST], product), "major"
            else:
                c, kind = u.minor, "minor"
            if u.dirty_hold is not None and d - st[SINCE] > u.dirty_hold and kind == "minor":
                c = u.major_clean(st[LAST], product) if st[LAST] != product else u.major
                kind = "major"
            if kind in ("major", "campaign"):
                st[CAMP] = 0
        t = d
        if c > 0 or (u.clean_staff is not None and st[DIRTY]):
            if u.clean_staff is not None:
                p, k = u.clean_staff
                t = self.pools.grant(p, d, c, k, extra + mine)
                mine.append((p, t, t + c, k))
            t += c
        if op.staff is not None:
            p, k = op.staff
            g = self.pools.grant(p, t, op.setup + op.dur, k, extra + mine)
            mine.append((p, g, g + op.setup + op.dur, k))
        else:
            g = t
        s = g + op.setup
        e = s + op.dur
        st[LAST] = product
        st[DIRTY] = u.needs_cleaning
        st[SINCE] = e
        st[CAMP] += 1
        st[NBM] += 1
        if u.maint_every_batches is not None and st[NBM] >= u.maint_every_batches:
            st[PENDING] = True
        st[FREE] = st[REL] = math.inf if op.direct else e
        return s, e, d, c, st, mine, self._extra_clean

    # ------------------------------------------------------------------ segments
    def schedule_segment(self, seg_ops: tuple[int, ...], ready: float,
                         assign: dict[int, int] | None) -> None:
        data = self.data
        lb = [0.0] * len(seg_ops)
        best = None
        for _attempt in range(12):
            res = self._segment_trial(seg_ops, ready, lb, assign)
            times = res[0]
            worst_k, worst_v, viol = -1, 0.0, 0.0
            for k in range(len(seg_ops) - 1):
                mh = data.ops[seg_ops[k]].max_hold
                if mh is not None:
                    v = times[k + 1][0] - times[k][1] - mh
                    if v > 1e-6:
                        viol += v
                        if v > worst_v:
                            worst_k, worst_v = k, v
            if best is None or viol < best[0] - 1e-9:
                best = (viol, res)
            if worst_k < 0:
                break
            lb[worst_k] = times[worst_k][2] + worst_v  # dispatch the earlier step later
        viol, (times, trial, extra, clean) = best
        self.violation += viol
        self.cleaning += clean
        for oi, (s, e, d, c, ui) in zip(seg_ops, times, strict=True):
            self.unit[oi], self.start[oi], self.end[oi] = ui, s, e
            self.disp[oi], self.cln[oi] = d, c
        for ui, st in trial.items():
            self.states[ui] = st
        for p, s, e, n in extra:
            self.pools.add(p, s, e, n)

    def _segment_trial(self, seg_ops, ready, lb, assign):
        data = self.data
        times: list[tuple[float, float, float, float, int]] = []
        trial: dict[int, list] = {}
        extra: list = []
        clean = 0.0
        t = ready
        prev_unit = -1
        for k, oi in enumerate(seg_ops):
            op = data.ops[oi]
            held = prev_unit if k > 0 and data.ops[seg_ops[k - 1]].direct else -1
            cands = (assign[oi],) if assign is not None and oi in assign else op.units
            best = None
            for ui in cands:
                if ui == held and len(cands) > 1:
                    continue
                st0 = trial.get(ui) or self.states[ui]
                if ui == held:  # the only eligible unit is the one the batch holds
                    st0 = list(st0)
                    st0[FREE] = st0[REL] = t
                r = self._try(oi, ui, st0, max(t, lb[k]), extra)
                key = (r[0], r[3], ui)
                if best is None or key < best[0]:
                    best = (key, ui, r)
            _, ui, (s, e, d, c, st, mine, watch) = best
            if k == 0 and data.batches[data.ops[oi].batch].holds >= 0:
                held = data.batches[data.ops[oi].batch].holds
            if held >= 0 and held != ui:
                pst = list(trial.get(held) or self.states[held])
                pst[FREE] = pst[REL] = d
                trial[held] = pst
            trial[ui] = st
            extra.extend(mine)
            clean += c + watch
            times.append((s, e, d, c, ui))
            t = e
            prev_unit = ui
        return times, trial, extra, clean


def decode(data: ApsData, segments: list[Segment], order: list[int],
           assign: dict[int, int] | None = None) -> Schedule:
    """Schedule the segments in ``order`` (segment indices; a segment listed before its
    batch's previous one waits for it)."""
    return Evaluator(data, segments, assign, every=0).evaluate(order)


class Evaluator:
    """Decodes lists that differ from the last accepted one only after some position, resuming
    from a checkpoint taken there (checkpoints every ``every`` positions; 0 for none).

    ``evaluate(order, changed_from)`` decodes; ``accept()`` makes that list the reference.
    """

    def __init__(self, data: ApsData, segments: list[Segment],
                 assign: dict[int, int] | None = None, every: int = 16) -> None:
        self.data, self.segments, self.assign, self.every = data, segments, assign, every
        self.dec = _Decoder(data)
        init = self._checkpoint([0] * len(data.batches), [b.ready for b in data.batches], {})
        self.cps: dict[int, tuple] = {0: init}
        self._cand: dict[int, tuple] = {}
        self.valid = 0  # the pools hold the reference list's decode up to this position

    def _checkpoint(self, nxt, ready, waiting) -> tuple:
        dec = self.dec
        return ([list(st) for st in dec.states], len(dec.pools.journal), list(nxt), list(ready),
                {b: dict(w) for b, w in waiting.items() if w}, dec.cleaning, dec.violation)

    def _restore(self, cp: tuple):
        states, mark, nxt, ready, waiting, cleaning, violation = cp
        dec = self.dec
        dec.states = [list(st) for st in states]
        dec.pools.rollback(mark)
        dec.cleaning, dec.violation = cleaning, violation
        return list(nxt), list(ready), {b: dict(w) for b, w in waiting.items()}

    def evaluate(self, order: list[int], changed_from: int = 0) -> Schedule:
        data, segments, dec, every = self.data, self.segments, self.dec, self.every
        limit = min(changed_from, self.valid)
        q = max(k for k in self.cps if k <= limit)
        nxt, ready, waiting = self._restore(self.cps[q])
        assign = self.assign
        cand: dict[int, tuple] = {}

        def run(seg: Segment) -> None:
            dec.schedule_segment(seg.ops, ready[seg.batch], assign)
            ready[seg.batch] = dec.end[seg.ops[-1]]
            nxt[seg.batch] += 1

        for pos in range(q, len(order)):
            if every and pos > q and pos % every == 0:
                cand[pos] = self._checkpoint(nxt, ready, waiting)
            seg = segments[order[pos]]
            if seg.k != nxt[seg.batch]:
                waiting.setdefault(seg.batch, {})[seg.k] = seg
                continue
            run(seg)
            w = waiting.get(seg.batch)
            while w and nxt[seg.batch] in w:
                run(w.pop(nxt[seg.batch]))
        for w in waiting.values():
            for k in sorted(w):
                run(w[k])
        self._cand, self._q = cand, q
        self.valid = min(changed_from, len(order))
        ends = dec.end
        tard = []
        total = 0.0
        for o in data.orders:
            c = max((ends[data.batches[b].ops[-1]] for b in o.batches if data.batches[b].ops),
                    default=0.0)
            t = max(0.0, c - o.due)
            tard.append(t)
            total += o.weight * t
        mk = max(ends, default=0.0)
        return Schedule(tuple(dec.unit), tuple(dec.disp), tuple(dec.cln), tuple(dec.start),
                        tuple(ends), total, mk, dec.cleaning, dec.violation, tuple(tard))

    def accept(self) -> None:
        """The last evaluated list becomes the reference."""
        q = self._q
        self.cps = {k: v for k, v in self.cps.items() if k <= q}
        self.cps.update(self._cand)
        self.valid = 1 << 60
