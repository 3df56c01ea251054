"""Units: the state machine of one piece of equipment, its cleaning, failures and maintenance.

States (``twin.scenario.UNIT_STATES``): idle (clean), setup, processing, cleaning,
dirty_hold (used, not yet cleaned), blocked (holds finished material that cannot leave),
starved (reserved for a batch but waiting for staff), down (breakdown, waiting for or under
repair), maintenance (planned), off_shift (closed by the unit's calendar).

Cleaning happens when the next batch is known: a minor clean before a batch of the same
product, a major clean (from-to matrix) on product change, a campaign clean after N batches
(the rules are pure functions in ``twin.rules``, shared with the planner). Which cleaning is
done is decided when it starts (after any wait for a cleaner). A dirty unit must start cleaning
within ``dirty_hold`` of the end of its last use: a free unit nobody claims is cleaned fully at
that limit (or at once when it is released after it: a unit blocked by its batch, or off
shift); any cleaning that starts after the limit is logged as a ``dirty_hold`` deviation of the
overrun, and a minor clean becomes a major one. A clean unit unused past its clean-hold limit
is cleaned again before use.

Failures count operating (processing) time: a unit draws a time to failure from the MTBF
distribution and breaks down when its processing hours reach it; repair takes a technician
(if the scenario names a repairs qualification) and an MTTR draw. Preventive maintenance
renews the failure clock.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from twin.callbacks import at_end_of_instant
from twin.dispatch import Request
from twin.eventlog import kind_code
from twin.rules import (
    DIRTY,
    TIME_TOL,
    CleanState,
    cleaned,
    cleaning_duration,
    cleaning_needed,
    dirty_overrun,
    full_clean,
    idle_clean,
)
from twin.scenario import UNIT_STATES, EquipmentClass

if TYPE_CHECKING:
    from twin.plant import Plant
    from twin.state import UnitState

__all__ = ["Unit"]

K_STATE = kind_code("state")
K_CLEAN_START = kind_code("clean_start")
K_CLEAN_END = kind_code("clean_end")
K_BREAKDOWN = kind_code("breakdown")
K_REPAIR_START = kind_code("repair_start")
K_REPAIR_END = kind_code("repair_end")
K_MAINT_START = kind_code("maintenance_start")
K_MAINT_END = kind_code("maintenance_end")
K_DEVIATION = kind_code("deviation")


class Unit:
    """One physical unit. Its batch (``batches.py``) drives it step by step."""

    def __init__(
        self,
        plant: Plant,
        name: str,
        index: int,
        cls_name: str,
        spec: EquipmentClass,
        open_now: bool,
    ) -> None:
        self.plant = plant
        self.env = plant.env
        self.name = name
        self.index = index
        self.cls_name = cls_name
        self.spec = spec
        log = plant.log
        self.log = log
        self.code = log.code(name)
        self._state_codes = {s: log.code(s) for s in UNIT_STATES}
        self._kw = {s: float(spec.energy_kw.get(s, 0.0)) for s in UNIT_STATES}
        # what set_state("processing") logs, read where it is inlined (twin.plain_batch)
        self._processing_code = self._state_codes["processing"]
        self._processing_kw = self._kw["processing"]
        self.state = ""
        self.busy = False  # reserved by a batch, or cleaning/maintenance on its own
        self.open = open_now
        self._clean_state = CleanState()  # cleanliness, last product, campaign count, clocks
        # uses not yet folded into it (see ``clean``): product and end of the last one
        self._uses = 0
        self._last_use: tuple[str, float] = ("", 0.0)
        self.holder = -1  # the batch holding the unit (claimed, processing or blocked), or -1
        self._shown_holder = -1
        self._resumed: UnitState | None = None  # what the unit was doing at a warm start
        self._epoch = 0
        self.maint_due = False
        self.batches_since_maint = 0
        rng = plant.rng
        self.rng_fail = rng("unit", name, "failures")
        self.rng_repair = rng("unit", name, "repair")
        self.rng_clean = rng("unit", name, "cleaning")
        self.rng_maint = rng("unit", name, "maintenance")
        self.ttf = self._draw_ttf()
        self.queue = plant.queues[cls_name]
        self._tracks_plan = plant.tracks_plan  # read at every reservation
        cl = spec.cleaning
        self.needs_cleaning = bool(
            cl.minor.mean or cl.major.mean or cl.matrix or (cl.campaign and cl.campaign.mean)
        )
        # whether a batch must ask the unit for cleaning before it runs (prepare)
        self.prepares = self.needs_cleaning or cl.clean_hold is not None
        m = spec.maintenance
        self._maint_every_batches = m.every_batches if m is not None else None

    # ------------------------------------------------------------------ state
    def set_state(self, state: str) -> None:
        """Log a change of state, or of the batch holding the unit (the event's batch)."""
        if state != self.state or self.holder != self._shown_holder:
            self.state = state
            self._shown_holder = holder = self.holder
            self.log.emit(
                K_STATE, self.code, holder, -1, -1, -1, self._state_codes[state], self._kw[state]
            )

    def _rest_state(self) -> str:
        if not self.open:
            return "off_shift"
        return "dirty_hold" if self._clean_state.cleanliness == DIRTY else "idle"

    @property
    def clean(self) -> CleanState:
        """What the cleaning rules know of the unit (``twin.rules.CleanState``).

        A unit no cleaning rule acts on (``prepares`` false) still counts its uses, but only
        when someone asks: building a frozen ``CleanState`` after every step was a few percent
        of a flow line's run. Its cleanliness never changes with a use, so ``_clean_state``
        has it right at all times."""
        if self._uses:
            st = self._clean_state
            product, at = self._last_use
            self._clean_state = CleanState(
                st.cleanliness, product, st.campaign_count + self._uses, st.clean_since, at
            )
            self._uses = 0
        return self._clean_state

    @clean.setter
    def clean(self, st: CleanState) -> None:
        self._clean_state = st
        self._uses = 0

    @property
    def free(self) -> bool:
        return not self.busy and self.open and not self.maint_due

    def reserve(self, req: Request) -> None:
        self.busy = True
        self.holder = req.batch
        self._epoch += 1
        if self._tracks_plan:
            self.plant.reserved[(req.batch, req.step)] = (self.name, self.env.now)

    # ------------------------------------------------------------------ cleaning
    def cleaning_estimate(self, product: str, at: float | None = None) -> float:
        """Expected cleaning hours before this unit could run ``product`` (for dispatch), if
        it were taken now or, as it stands, at the later time ``at`` (a clean-hold limit may
        have run out by then)."""
        if not self.prepares:
            return 0.0  # no cleaning of any kind has a duration, no clean-hold limit
        now = self.env.now
        need = cleaning_needed(
            self.spec.cleaning, self.clean, product, now if at is None else max(at, now)
        )
        return 0.0 if need is None else need[1].mean

    def prepare(self, product: str):
        """Process: clean the reserved unit as the next product requires."""
        cl = self.spec.cleaning
        if cleaning_needed(cl, self.clean, product, self.env.now) is None:
            return
        staff = yield from self._cleaners()
        need = cleaning_needed(cl, self.clean, product, self.env.now)  # as it starts
        yield from self._clean(need[0] if need else "minor", need[1] if need else None, staff)

    def _cleaners(self):
        """Process: the cleaning staff (None if the class needs none); the unit is starved
        while it waits for them. Returns the pool to release after cleaning."""
        ops = self.spec.cleaning.operators
        if ops is None:
            return None
        staff = self.plant.pools[ops.qualification]
        grant = staff.request(ops.count)
        if not grant.triggered:
            self.set_state("starved")
            yield grant
        return staff

    def _clean(self, kind: str, dist, staff) -> object:
        """Process: clean now (the staff, if any, already granted)."""
        cl = self.spec.cleaning
        now = self.env.now
        over = dirty_overrun(cl, self.clean, now)
        if over > 0:
            self.log.emit(
                K_DEVIATION, unit=self.code, state=self.log.code("dirty_hold"), value=over
            )
        dur = 0.0 if dist is None else dist.sample(self.rng_clean)
        if dur > 0 or staff is not None:
            self.set_state("cleaning")
            self.log.emit(
                K_CLEAN_START,
                unit=self.code,
                batch=self.holder,
                state=self.log.code(kind),
                value=dur,
            )
            if dur > 0:
                yield self.env.timeout(dur)
            if staff is not None:
                staff.release(cl.operators.count)  # type: ignore[union-attr]
            self.log.emit(K_CLEAN_END, unit=self.code, state=self.log.code(kind))
        self.clean = cleaned(self.clean, kind, self.env.now)

    # ------------------------------------------------------------------ processing, failures
    def _draw_ttf(self) -> float:
        f = self.spec.failures
        return math.inf if f is None else max(f.mtbf.sample(self.rng_fail), 1e-6)

    def process(self, hours: float, scrap_on_breakdown: bool):
        """Process: run for ``hours`` of processing; breakdowns interrupt it.

        Returns False if a breakdown scrapped the batch.
        """
        env = self.env
        remaining = hours
        self.set_state("processing")
        while True:
            if self.ttf > remaining:
                if remaining > 0:
                    yield env.timeout(remaining)
                self.ttf -= remaining
                return True
            yield env.timeout(self.ttf)
            remaining -= self.ttf
            yield from self._breakdown()
            if scrap_on_breakdown:
                return False
            self.set_state("processing")

    def _breakdown(self):
        env = self.env
        self.set_state("down")
        self.log.emit(K_BREAKDOWN, unit=self.code)
        rep = self.plant.scenario.repairs
        pool = self.plant.pools[rep.qualification] if rep else None
        if pool is not None:
            yield pool.request(1)
        repair = self.spec.failures.mttr.sample(self.rng_repair)  # type: ignore[union-attr]
        self.log.emit(K_REPAIR_START, unit=self.code, value=repair)
        yield env.timeout(repair)
        if pool is not None:
            pool.release(1)
        self.log.emit(K_REPAIR_END, unit=self.code)
        self.ttf = self._draw_ttf()

    # ------------------------------------------------------------------ after a batch
    def finish_batch(self, product: str, scrapped: bool = False) -> None:
        """The batch's material left (or was scrapped): the unit is dirty."""
        if self.prepares:
            st = self.clean
            self._clean_state = CleanState(
                DIRTY if self.needs_cleaning else st.cleanliness,
                product,
                st.campaign_count + 1,
                st.clean_since,
                self.env.now,
            )
        else:  # counted now, folded into the clean state when it is read (see ``clean``)
            self._uses += 1
            self._last_use = (product, self.env._now)
        self.batches_since_maint += 1
        every = self._maint_every_batches
        if every is not None and self.batches_since_maint >= every:
            self.maint_due = True

    def release(self) -> None:
        """The batch no longer holds the unit: maintain, rest or take the next batch."""
        self.busy = False
        self.holder = -1
        self._epoch += 1
        if self.maint_due and self.open:
            self.env.process(self._maintain())
            return
        queue = self.queue
        if queue.waiting and self.open:
            # a waiting batch may take the unit at this instant: the class's dispatch settles
            # the rest state afterwards, so a unit handed straight on logs no empty idle spell
            queue.unsettled.append(self)
            if self._clean_state.cleanliness == DIRTY:
                self._watch_dirty()
            # queue.dispatch(), inlined: a request waits and this unit is free
            if not queue._pending:
                queue._pending = True
                at_end_of_instant(self.env, queue._on_dispatch)
            return
        self.set_state(self._rest_state())
        if self._clean_state.cleanliness == DIRTY:
            self._watch_dirty()
        queue.dispatch()

    def settle(self) -> None:
        """Show the rest state if nothing took the unit when it was released (see release)."""
        if not self.busy:
            self.set_state(self._rest_state())

    def _watch_dirty(self) -> None:
        """A free dirty unit is cleaned fully at its dirty-hold limit (at once if that has
        passed), unless a batch claims it first; a claim at the limit itself wins. A policy
        with ``clean_idle`` (see ``twin.dispatch.Policy``) may have it cleaned at once
        instead (``twin.rules.idle_clean``)."""
        if self.clean.cleanliness == DIRTY and self.spec.cleaning.dirty_hold is not None:
            self._epoch += 1
            self.env.process(self._dirty_watch(self._epoch))

    def _dirty_watch(self, epoch: int):
        env = self.env
        decide = self.plant.clean_idle
        if decide is not None:
            # a policy that decides idle cleans may clean the unit now, once nothing else at
            # this instant (a batch released, a dispatch) has claimed it
            yield self.plant.end_of_instant()
            if epoch != self._epoch or self.busy:
                return
            choice = None
            if self.open and not self.queue.waiting and self.clean.cleanliness == DIRTY:
                choice = decide(self, env.now)
            if choice is not None:
                self.busy = True
                self._epoch += 1
                staff = yield from self._cleaners()
                kind, dist = idle_clean(self.spec.cleaning, self.clean, choice)
                yield from self._clean(kind, dist, staff)
                self.release()
                return
        limit = self.clean.dirty_since + self.spec.cleaning.dirty_hold  # type: ignore[operator]
        if limit > env.now:
            yield env.timeout(limit - env.now)
        yield self.plant.end_of_instant()
        # events a few ulps later belong to the same instant (sums of floats drift; the
        # decoder, optimizer.aps_schedule, compares with the same margin): a claim then wins too
        while env.now < env.peek() <= env.now + TIME_TOL / 2:
            yield env.timeout(env.peek() - env.now)
            yield self.plant.end_of_instant()
        if epoch != self._epoch or self.busy or not self.open or self.clean.cleanliness != DIRTY:
            return
        self.busy = True
        self._epoch += 1
        yield from self._planned_gate("clean")
        staff = yield from self._cleaners()
        yield from self._clean("full", full_clean(self.spec.cleaning), staff)
        self.release()

    def _planned_gate(self, kind: str):
        """Process: under a plan, wait for the planned start of this unit's own work."""
        plant = self.plant
        if plant.tracks_plan:
            at = plant.policy.activity_start(self, kind, self.env.now)
            if at > self.env.now:
                yield self.env.timeout(at - self.env.now)

    # ------------------------------------------------------------------ warm start
    def restore(self, us: UnitState, holder: int) -> None:
        """Take the state a plant-state snapshot gives the unit (before the run resumes)."""
        self.clean = us.clean
        self.batches_since_maint = us.batches_since_maintenance
        self.maint_due = us.maintenance_due
        self.holder = holder
        self.busy = holder >= 0
        f = self.spec.failures
        if f is not None:  # remaining life of the failure clock, given the hours it has run
            self.ttf = max(f.mtbf.remaining(self.rng_fail, us.operating_h), 1e-6)
        self._resumed = us
        self.state = ""  # show the state at the restart
        self.set_state(us.state)

    def resume(self):
        """Process: continue the unit's own work under way at the restart (a dirty-hold or
        maintenance activity without a batch); a free unit rests and watches its dirty clock."""
        us = self._resumed
        if us is None or self.holder >= 0:
            return
        if us.activity == "clean":
            self.busy = True
            yield from self._finish_clean(us)
            self.release()
        elif us.activity == "maintenance" or (us.state == "maintenance" and self.maint_due):
            self.busy = True
            yield from self._maintain(us)
        elif not self.busy and self.open and self.maint_due:
            self.busy = True
            yield from self._maintain()
        else:
            self._watch_dirty()
            self.queue.dispatch()

    def _finish_clean(self, us: UnitState):
        """Process: the rest of a cleaning under way at the restart."""
        cl = self.spec.cleaning
        kind = us.activity_kind or "full"
        done = self.env.now - us.activity_since
        if us.activity_hours is not None:
            left = max(0.0, us.activity_hours - done)
        else:
            dist = (
                full_clean(cl)
                if kind == "full"
                else cleaning_duration(
                    cl, kind, self.clean.last_product, self.clean.last_product or ""
                )
            )
            left = dist.remaining(self.rng_clean, done)
        staff = None
        if cl.operators is not None:  # the cleaners are at work already
            staff = self.plant.pools[cl.operators.qualification]
            yield staff.take(cl.operators.count)
        self.set_state("cleaning")
        if left > 0:
            yield self.env.timeout(left)
        if staff is not None:
            staff.release(cl.operators.count)  # type: ignore[union-attr]
        self.log.emit(K_CLEAN_END, unit=self.code, state=self.log.code(kind))
        self.clean = cleaned(self.clean, kind, self.env.now)
        self._resumed = None

    def resume_clean(self, product: str, rng):
        """Process (a batch resumed with this unit claimed): finish a cleaning under way, then
        whatever cleaning the product still needs."""
        us = self._resumed
        if us is not None and us.activity == "clean":
            yield from self._finish_clean(us)
        self._resumed = None
        if self.prepares:
            yield from self.prepare(product)

    def resume_repair(self, rng):
        """Process (a batch resumed while its unit is down): the rest of the repair, or the
        whole repair if it had not started (waiting for a technician)."""
        env = self.env
        us = self._resumed
        self._resumed = None
        rep = self.plant.scenario.repairs
        pool = self.plant.pools[rep.qualification] if rep else None
        self.set_state("down")
        repairing = us is not None and us.activity == "repair"
        if pool is not None:  # a technician at work already, or one to wait for
            yield pool.take(1) if repairing else pool.request(1)
        failures = self.spec.failures
        if repairing:
            done = env.now - us.activity_since
            if us.activity_hours is not None:
                left = max(0.0, us.activity_hours - done)
            elif failures is not None:
                left = failures.mttr.remaining(self.rng_repair, done)
            else:  # a model without failures (a deterministic look-ahead): no repair time known
                left = 0.0
        else:
            left = failures.mttr.sample(self.rng_repair) if failures is not None else 0.0
            self.log.emit(K_REPAIR_START, unit=self.code, value=left)
        yield env.timeout(left)
        if pool is not None:
            pool.release(1)
        self.log.emit(K_REPAIR_END, unit=self.code)
        self.ttf = self._draw_ttf()

    # ------------------------------------------------------------------ maintenance, calendar
    def maintenance_timer(self, every: float):
        """Process: mark maintenance due at every multiple of ``every`` hours (from the
        scenario start, also in a run resumed later); start it when the unit is free."""
        while True:
            due = (math.floor(self.env.now / every + 1e-9) + 1) * every
            yield self.env.timeout(due - self.env.now)
            self.maint_due = True
            if not self.busy and self.open:
                self.busy = True
                self._epoch += 1
                self.env.process(self._maintain())

    def _maintain(self, resumed: UnitState | None = None):
        """Process: preventive maintenance (``resumed``: one under way at a restart)."""
        m = self.spec.maintenance
        assert m is not None
        self.busy = True
        self.set_state("maintenance")
        under_way = resumed is not None and resumed.activity == "maintenance"
        if not under_way:
            yield from self._planned_gate("maintenance")
        pool = self.plant.pools[m.qualification] if m.qualification else None
        if pool is not None:
            yield pool.take(1) if under_way else pool.request(1)
        if under_way:
            done = self.env.now - resumed.activity_since  # type: ignore[union-attr]
            if resumed.activity_hours is not None:  # type: ignore[union-attr]
                hours = max(0.0, resumed.activity_hours - done)  # type: ignore[union-attr]
            else:
                hours = m.duration.remaining(self.rng_maint, done)
            self._resumed = None
        else:
            hours = m.duration.sample(self.rng_maint)
            self.log.emit(K_MAINT_START, unit=self.code, value=hours)
        yield self.env.timeout(hours)
        if pool is not None:
            pool.release(1)
        self.log.emit(K_MAINT_END, unit=self.code)
        self.maint_due = False
        self.batches_since_maint = 0
        self.ttf = self._draw_ttf()
        self.release()

    def calendar_change(self, is_open: bool) -> None:
        self.open = is_open
        if self.busy:
            return
        if is_open and self.maint_due:
            self.busy = True
            self.env.process(self._maintain())
            return
        self.set_state(self._rest_state())
        if is_open:
            self._watch_dirty()  # a limit that ran out off shift is acted on at the opening
            self.queue.dispatch()
