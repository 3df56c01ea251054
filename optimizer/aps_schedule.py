"""The list-scheduling decoder: an order of batch segments -> a timed schedule.

A *segment* is a run of consecutive steps of one batch linked by a hold-time limit or a direct
transfer; segments are scheduled whole, in list order, each step on the eligible unit where it
can start processing first (or on a unit given in ``assign``). Each unit runs its steps in the
order they were scheduled (a unit's timeline only grows), so a list fixes every unit sequence.

The decoder is a replay of the twin following a plan (``twin.follow_plan.FollowPlan``) with mean
durations: the rules are the twin's own pure functions (``twin.rules``: the cleaning a unit
needs, the dirty-hold limit, the hold-time boundary; ``twin.staff.Calendar``), and every step
of the twin's execution has its counterpart here:

- a unit is *claimed* for its next step (time ``D``, the plan's ``claim``) when it is free, open
  by its calendar and not due for maintenance, and the batch is there; it cleans at once as the
  next product requires, the kind decided as the cleaning starts (minor on the same product,
  matrix/major on a change, campaign clean after ``campaign_batches``, a reclean past
  ``clean_hold``, at least major past ``dirty_hold``). Where the cleaning needs cleaners, the
  unit is claimed when they are free, so the twin never waits for them;
- the step then waits for its staff and sets up; processing runs from ``S`` to ``E``; the twin
  holds a claimed unit until ``S`` - setup (no early start), so its staff request comes when
  the plan booked it;
- a free dirty unit is fully cleaned at its dirty-hold limit (a claim at that instant wins);
  planned maintenance starts when due (every N hours, or after N batches) as soon as the unit
  is free and open. Both are plan *activities*; the twin starts them no earlier than planned;
- a direct transfer keeps the unit blocked until the next step's unit is claimed;
- staff pools are capacity profiles with shift calendars (work started on shift finishes);
  the twin grants staff first-fit, which is what a profile booked in time order gives.

So a plan decoded here and run in the twin with mean durations starts and ends every step
exactly when planned (``tests/optimizer/test_decoder_is_the_twin.py`` checks it on random
plants).

A hold-time limit (next step must start processing within ``max_hold`` of this step's end)
is met by delaying the segment's earlier steps; what cannot be met is reported as violation
hours and penalised.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from optimizer.aps_data import ApsData, Objective, UnitData
from twin.rules import CLEAN, DIRTY, CleanState, cleaned, cleaning_kind, hold_violated

__all__ = ["Segment", "segments_of", "Schedule", "decode", "HOLD_PENALTY", "Activity"]

HOLD_PENALTY = 1000.0
"""Objective penalty per hour of hold-time violation (the decoder's only soft constraint)."""

_EPS = 1e-9
_DAY = 24.0

# unit state fields (a list per unit; copied for trials)
FREE, CLS, NEXT_DUE, PENDING, NBM = range(5)
# FREE: when the unit can next be claimed (inf while a direct transfer blocks it);
# CLS: its twin.rules.CleanState; NEXT_DUE/PENDING/NBM: maintenance by hours and by batches


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


@dataclass(frozen=True, slots=True)
class Activity:
    """Work a unit does on its own: ``maintenance`` or a dirty-hold ``clean``."""

    unit: int
    kind: str
    start: float
    end: float


@dataclass(frozen=True)
class Schedule:
    """A decoded schedule: per operation its unit, claim, cleaning hours, processing
    start/end; the units' own activities (maintenance, dirty-hold cleans)."""

    unit: tuple[int, ...]
    dispatch: tuple[float, ...]  # the claim time D
    clean: tuple[float, ...]
    start: tuple[float, ...]
    end: tuple[float, ...]
    tardiness: float  # weighted
    makespan: float
    cleaning: float  # hours, including dirty-hold full cleans
    hold_violation: float  # hours
    order_tardiness: tuple[float, ...]
    activities: tuple[Activity, ...] = ()

    def cost(self, objective: Objective) -> float:
        return (
            objective.tardiness * self.tardiness
            + objective.makespan * self.makespan
            + objective.cleaning * self.cleaning
            + HOLD_PENALTY * self.hold_violation
        )


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

    def grant(
        self, p: int, t: float, length: float, n: int, extra: list[tuple[int, float, float, int]]
    ) -> float:
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
            found = {
                id(iv): iv
                for d in range(int(lo // _DAY), int(hi // _DAY) + 1)
                for iv in self.buckets[p].get(d, ())
                if iv[0] < hi - _EPS and iv[1] > lo + _EPS
            }
            ivs = list(found.values())
            ivs.extend(
                iv[1:] for iv in extra if iv[0] == p and iv[1] < hi - _EPS and iv[2] > lo + _EPS
            )
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


def _start_state(data: ApsData, u: UnitData) -> list:
    st = u.start
    if st.clean is not None:
        cs = st.clean
    elif st.dirty:
        cs = CleanState(DIRTY, st.last_product, st.campaign, 0.0, st.since)
    else:
        cs = CleanState(CLEAN, st.last_product, st.campaign, st.since, 0.0)
    every = u.maint_every
    nxt = math.inf if every is None else (math.floor(data.t0 / every + 1e-9) + 1) * every
    return [st.free, cs, nxt, st.maintenance_due, st.batches_since_maint]


class _Decoder:
    def __init__(self, data: ApsData) -> None:
        self.data = data
        n = len(data.ops)
        self.unit = [-1] * n
        self.disp = [0.0] * n
        self.cln = [0.0] * n
        self.start = [0.0] * n
        self.end = [0.0] * n
        self.states = [_start_state(data, u) for u in data.units]
        self.pools = _Pools(data)
        self.cleaning = 0.0
        self.violation = 0.0
        self.acts: list[Activity] = []

    def _book(
        self, staff: tuple[int, int] | None, t: float, length: float, extra: list, mine: list
    ) -> float:
        """When staff ``(pool, count)`` can start ``length`` hours of work at or after ``t``
        (booked in ``mine``); ``t`` itself without staff."""
        if staff is None:
            return t
        p, k = staff
        g = self.pools.grant(p, t, length, k, extra + mine)
        mine.append((p, g, g + length, k))
        return g

    # ------------------------------------------------------------------ one unit, one step
    def _advance(self, ui: int, st: list, t: float, extra: list, mine: list, acts: list) -> float:
        """Run the unit's own work (maintenance, dirty-hold full cleans) that comes before it
        can be claimed at or after ``t``; returns the claim time and updates ``st``."""
        u = self.data.units[ui]
        cal = u.calendar
        if math.isinf(t):
            return t
        every = u.maint_every
        for _ in range(1000):
            free = st[FREE]
            if math.isinf(free):
                return free
            if every is not None:
                while st[NEXT_DUE] <= free + _EPS:  # a due passed while busy: one maintenance
                    st[PENDING] = True
                    st[NEXT_DUE] += every
            d = _open_at(cal, max(t, free))
            m_at = math.inf
            if st[PENDING]:
                m_at = _open_at(cal, free)
            elif every is not None:
                m_at = _open_at(cal, st[NEXT_DUE])
            cs = st[CLS]
            w_at = math.inf
            if cs.cleanliness == DIRTY and u.dirty_hold is not None:
                # a free dirty unit is cleaned at its limit, at once if released or opened
                # later (twin.equipment.Unit._watch_dirty); a claim at that instant wins
                w_at = _open_at(cal, max(cs.dirty_since + u.dirty_hold, free))
            if m_at <= d + _EPS and m_at <= w_at:
                g = self._book(u.maint_staff, m_at, u.maint_duration, extra, mine)
                end = g + u.maint_duration
                acts.append(Activity(ui, "maintenance", g, end))
                st[FREE] = end
                st[PENDING] = False
                st[NBM] = 0
                if every is not None:
                    while st[NEXT_DUE] <= end + _EPS:  # dues during maintenance are met by it
                        st[NEXT_DUE] += every
                continue
            if w_at + _EPS / 2 < d:  # claims a few ulps late are at the limit (twin: _dirty_watch)
                full = u.full
                if full > 0 or u.clean_staff is not None:
                    g = self._book(u.clean_staff, w_at, full, extra, mine)
                    acts.append(Activity(ui, "clean", g, g + full))
                else:
                    g = w_at
                st[FREE] = g + full
                st[CLS] = cleaned(cs, "full", g + full)
                self._extra_clean += full
                continue
            return d
        return math.inf

    def _try(self, oi: int, ui: int, st0: list, ready: float, extra: list) -> tuple:
        """Times of step oi on unit ui (not committed): (S, E, D, clean hours, state, staff
        bookings, dirty-hold cleaning hours, activities).

        The unit is claimed at D, as early as it can be from ``ready``; where the cleaning at D
        needs cleaners who are busy until later, the claim moves to when they are free (the
        twin would otherwise take the unit and wait), and the unit's own work is replayed up
        to the new D. Repeated until the claim no longer moves."""
        t = ready
        for _ in range(50):
            r = self._try_at(oi, ui, st0, t, extra)
            if r[0] is not None:
                return r
            t = r[1]  # the cleaners are free then: claim no earlier
        return (math.inf, math.inf, math.inf, 0.0, list(st0), [], 0.0, [])

    def _try_at(self, oi: int, ui: int, st0: list, ready: float, extra: list) -> tuple:
        data = self.data
        op = data.ops[oi]
        u = data.units[ui]
        st = list(st0)
        self._extra_clean = 0.0
        mine: list = []
        acts: list[Activity] = []
        d = self._advance(ui, st, ready, extra, mine, acts)
        if math.isinf(d):
            return (math.inf, math.inf, d, 0.0, st, mine, 0.0, acts)
        product = data.batches[op.batch].product
        cs = st[CLS]
        kind = cleaning_kind(u.cleaning, cs, product, d) if u.cleaning is not None else None
        c = 0.0
        t = d
        if kind is not None:
            c = u.clean_hours(kind, cs.last_product, product)
            if u.clean_staff is not None:
                p, k = u.clean_staff
                g = self.pools.grant(p, d, c, k, extra + mine)
                if g > d + _EPS:
                    return (None, g)  # claim when the cleaners are free
                mine.append((p, d, d + c, k))
            if c > 0 or u.clean_staff is not None:
                cs = cleaned(cs, kind, d + c)
            t = d + c
        g = self._book(op.staff, t, op.setup + op.dur, extra, mine)
        s = g + op.setup
        e = s + op.dur
        st[CLS] = CleanState(
            DIRTY if u.needs_cleaning else cs.cleanliness,
            product,
            cs.campaign_count + 1,
            cs.clean_since,
            e,
        )
        st[NBM] += 1
        if u.maint_every_batches is not None and st[NBM] >= u.maint_every_batches:
            st[PENDING] = True
        st[FREE] = math.inf if op.direct else e
        return s, e, d, c, st, mine, self._extra_clean, acts

    def finish(self, until: float) -> None:
        """The units' own work after their last step, up to ``until`` (the plan's end):
        dirty-hold cleans and maintenance take staff and cleaning hours in the twin too."""
        for ui in range(len(self.data.units)):
            st = self.states[ui]
            if math.isinf(st[FREE]) or st[FREE] >= until:
                continue
            self._extra_clean = 0.0
            mine: list = []
            acts: list[Activity] = []
            self._advance(ui, st, until, [], mine, acts)
            self.cleaning += self._extra_clean
            for p, s, e, n in mine:
                self.pools.add(p, s, e, n)
            self.acts.extend(acts)  # (one may start after ``until``: the twin gates it)

    # ------------------------------------------------------------------ segments
    def schedule_segment(
        self, seg_ops: tuple[int, ...], ready: float, assign: dict[int, int] | None
    ) -> None:
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
                    deadline = times[k][1] + mh
                    if hold_violated(times[k + 1][0], deadline):
                        v = times[k + 1][0] - deadline
                        viol += v
                        if v > worst_v:
                            worst_k, worst_v = k, v
            if best is None or viol < best[0] - 1e-9:
                best = (viol, res)
            if worst_k < 0:
                break
            lb[worst_k] = times[worst_k][2] + worst_v  # dispatch the earlier step later
        viol, (times, trial, extra, clean, acts) = best
        self.violation += viol
        self.cleaning += clean
        for oi, (s, e, d, c, ui) in zip(seg_ops, times, strict=True):
            self.unit[oi], self.start[oi], self.end[oi] = ui, s, e
            self.disp[oi], self.cln[oi] = d, c
        for ui, st in trial.items():
            self.states[ui] = st
        for p, s, e, n in extra:
            self.pools.add(p, s, e, n)
        self.acts.extend(acts)

    def _segment_trial(self, seg_ops, ready, lb, assign):
        data = self.data
        times: list[tuple[float, float, float, float, int]] = []
        trial: dict[int, list] = {}
        extra: list = []
        acts: list[Activity] = []
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
                    st0[FREE] = t
                r = self._try(oi, ui, st0, max(t, lb[k]), extra)
                key = (r[0], r[3], ui)
                if best is None or key < best[0]:
                    best = (key, ui, r)
            _, ui, (s, e, d, c, st, mine, watch, ua) = best
            if k == 0 and data.batches[data.ops[oi].batch].holds >= 0:
                held = data.batches[data.ops[oi].batch].holds
            if held >= 0 and held != ui:
                pst = list(trial.get(held) or self.states[held])
                pst[FREE] = d  # the held unit is released when the next unit is claimed
                trial[held] = pst
            trial[ui] = st
            extra.extend(mine)
            acts.extend(ua)
            clean += c + watch
            times.append((s, e, d, c, ui))
            t = e
            prev_unit = ui
        return times, trial, extra, clean, acts


def decode(
    data: ApsData, segments: list[Segment], order: list[int], assign: dict[int, int] | None = None
) -> Schedule:
    """Schedule the segments in ``order`` (segment indices; a segment listed before its
    batch's previous one waits for it)."""
    return Evaluator(data, segments, assign, every=0).evaluate(order)


class Evaluator:
    """Decodes lists that differ from the last accepted one only after some position, resuming
    from a checkpoint taken there (checkpoints every ``every`` positions; 0 for none).

    ``evaluate(order, changed_from)`` decodes; ``accept()`` makes that list the reference.
    """

    def __init__(
        self,
        data: ApsData,
        segments: list[Segment],
        assign: dict[int, int] | None = None,
        every: int = 16,
    ) -> None:
        self.data, self.segments, self.assign, self.every = data, segments, assign, every
        self.dec = _Decoder(data)
        init = self._checkpoint([0] * len(data.batches), [b.ready for b in data.batches], {})
        self.cps: dict[int, tuple] = {0: init}
        self._cand: dict[int, tuple] = {}
        self.valid = 0  # the pools hold the reference list's decode up to this position

    def _checkpoint(self, nxt, ready, waiting) -> tuple:
        dec = self.dec
        return (
            [list(st) for st in dec.states],
            len(dec.pools.journal),
            list(nxt),
            list(ready),
            {b: dict(w) for b, w in waiting.items() if w},
            dec.cleaning,
            dec.violation,
            len(dec.acts),
        )

    def _restore(self, cp: tuple):
        states, mark, nxt, ready, waiting, cleaning, violation, acts = cp
        dec = self.dec
        dec.states = [list(st) for st in states]
        dec.pools.rollback(mark)
        dec.cleaning, dec.violation = cleaning, violation
        del dec.acts[acts:]
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
        saved = [list(st) for st in dec.states]
        dec.finish(max(ends, default=0.0))  # undone by the next evaluate (after checkpoints)
        dec.states = saved
        tard = []
        total = 0.0
        for o in data.orders:
            c = max(
                (ends[data.batches[b].ops[-1]] for b in o.batches if data.batches[b].ops),
                default=0.0,
            )
            t = max(0.0, c - o.due)
            tard.append(t)
            total += o.weight * t
        mk = max(ends, default=0.0)
        return Schedule(
            tuple(dec.unit),
            tuple(dec.disp),
            tuple(dec.cln),
            tuple(dec.start),
            tuple(ends),
            total,
            mk,
            dec.cleaning,
            dec.violation,
            tuple(tard),
            tuple(dec.acts),
        )

    def accept(self) -> None:
        """The last evaluated list becomes the reference."""
        q = self._q
        self.cps = {k: v for k, v in self.cps.items() if k <= q}
        self.cps.update(self._cand)
        self.valid = 1 << 60
