"""Units: the state machine of one piece of equipment, its cleaning, failures and maintenance.

States (``twin.scenario.UNIT_STATES``): idle (clean), setup, processing, cleaning,
dirty_hold (used, not yet cleaned), blocked (holds finished material that cannot leave),
starved (reserved for a batch but waiting for staff), down (breakdown, waiting for or under
repair), maintenance (planned), off_shift (closed by the unit's calendar).

Cleaning happens when the next batch is known: a minor clean before a batch of the same
product, a major clean (from-to matrix) on product change, a campaign clean after N batches.
A unit left dirty is cleaned fully when its dirty-hold limit runs out; if it is used later than
that, a deviation is raised and a major clean done. A clean unit unused past its clean-hold
limit is cleaned again before use.

Failures count operating (processing) time: a unit draws a time to failure from the MTBF
distribution and breaks down when its processing hours reach it; repair takes a technician
(if the scenario names a repairs qualification) and an MTTR draw. Preventive maintenance
renews the failure clock.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from twin.dispatch import Request
from twin.eventlog import kind_code
from twin.scenario import UNIT_STATES, EquipmentClass

if TYPE_CHECKING:
    from twin.plant import Plant

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

CLEAN, MINOR, DIRTY = "clean", "minor", "dirty"


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
        self.state = ""
        self.busy = False  # reserved by a batch, or cleaning/maintenance on its own
        self.open = open_now
        self.cleanliness = CLEAN
        self.last_product: str | None = None
        self.campaign_count = 0
        self.clean_since = 0.0
        self.dirty_since = 0.0
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
        cl = spec.cleaning
        self.needs_cleaning = bool(
            cl.minor.mean or cl.major.mean or cl.matrix or (cl.campaign and cl.campaign.mean)
        )

    # ------------------------------------------------------------------ state
    def set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self.log.emit(
                K_STATE, self.code, -1, -1, -1, -1, self._state_codes[state], self._kw[state]
            )

    def _rest_state(self) -> str:
        if not self.open:
            return "off_shift"
        return "dirty_hold" if self.cleanliness == DIRTY else "idle"

    @property
    def free(self) -> bool:
        return not self.busy and self.open and not self.maint_due

    def reserve(self, req: Request) -> None:
        self.busy = True
        self._epoch += 1
        if self.plant.tracks_plan:
            self.plant.reserved[(req.batch, req.step)] = (self.name, self.env.now)

    # ------------------------------------------------------------------ cleaning
    def _cleaning_needed(self, product: str, now: float) -> tuple[str, object] | None:
        cl = self.spec.cleaning
        if self.cleanliness == CLEAN:
            if cl.clean_hold is not None and now - self.clean_since > cl.clean_hold:
                return "reclean", cl.minor
            return None
        if cl.campaign_batches is not None and self.campaign_count >= cl.campaign_batches:
            return "campaign", cl.campaign
        if self.last_product != product:
            return "major", self._major(product)
        if self.cleanliness == MINOR:
            if cl.clean_hold is not None and now - self.clean_since > cl.clean_hold:
                return "reclean", cl.minor
            return None
        return "minor", cl.minor

    def _major(self, product: str):
        row = self.spec.cleaning.matrix.get(self.last_product or "", {})
        return row.get(product, self.spec.cleaning.major)

    def cleaning_estimate(self, product: str, at: float | None = None) -> float:
        """Expected cleaning hours before this unit could run ``product`` (for dispatch), if
        it were taken now or, as it stands, at the later time ``at`` (a clean-hold limit may
        have run out by then)."""
        now = self.env.now
        need = self._cleaning_needed(product, now if at is None else max(at, now))
        return 0.0 if need is None else need[1].mean  # type: ignore[attr-defined]

    def prepare(self, product: str):
        """Process: clean the reserved unit as the next product requires."""
        need = self._cleaning_needed(product, self.env.now)
        cl = self.spec.cleaning
        if (
            self.cleanliness == DIRTY
            and cl.dirty_hold is not None
            and self.env.now - self.dirty_since > cl.dirty_hold
        ):
            self.log.emit(
                K_DEVIATION,
                unit=self.code,
                state=self.log.code("dirty_hold"),
                value=self.env.now - self.dirty_since - cl.dirty_hold,
            )
            if need is None or need[0] == "minor":
                need = ("major", self._major(product) if self.last_product != product else cl.major)
        if need is not None:
            yield from self._clean(need[0], need[1])

    def _clean(self, kind: str, dist) -> object:
        dur = dist.sample(self.rng_clean)
        cl = self.spec.cleaning
        if dur <= 0 and cl.operators is None:
            self._cleaned(kind)
            return
        staff = None
        if cl.operators is not None:
            staff = self.plant.pools[cl.operators.qualification]
            grant = staff.request(cl.operators.count)
            if not grant.triggered:
                self.set_state("starved")
                yield grant
        self.set_state("cleaning")
        self.log.emit(K_CLEAN_START, unit=self.code, state=self.log.code(kind), value=dur)
        if dur > 0:
            yield self.env.timeout(dur)
        if staff is not None:
            staff.release(cl.operators.count)
        self.log.emit(K_CLEAN_END, unit=self.code, state=self.log.code(kind))
        self._cleaned(kind)

    def _cleaned(self, kind: str) -> None:
        if kind in ("major", "campaign", "full"):
            self.campaign_count = 0
            self.cleanliness = CLEAN
        else:
            self.cleanliness = MINOR if self.last_product is not None else CLEAN
        self.clean_since = self.env.now

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
        self.log.emit(K_REPAIR_START, unit=self.code)
        yield env.timeout(self.spec.failures.mttr.sample(self.rng_repair))  # type: ignore[union-attr]
        if pool is not None:
            pool.release(1)
        self.log.emit(K_REPAIR_END, unit=self.code)
        self.ttf = self._draw_ttf()

    # ------------------------------------------------------------------ after a batch
    def finish_batch(self, product: str, scrapped: bool = False) -> None:
        """The batch's material left (or was scrapped): the unit is dirty."""
        self.last_product = product
        if self.needs_cleaning:
            self.cleanliness = DIRTY
        self.dirty_since = self.env.now
        self.campaign_count += 1
        self.batches_since_maint += 1
        m = self.spec.maintenance
        if (
            m is not None
            and m.every_batches is not None
            and self.batches_since_maint >= m.every_batches
        ):
            self.maint_due = True

    def release(self) -> None:
        """The batch no longer holds the unit: maintain, rest or take the next batch."""
        self.busy = False
        self._epoch += 1
        if self.maint_due and self.open:
            self.env.process(self._maintain())
            return
        queue = self.queue
        if queue.waiting and self.open:
            # a waiting batch may take the unit at this instant: the class's dispatch settles
            # the rest state afterwards, so a unit handed straight on logs no empty idle spell
            queue.unsettled.append(self)
        else:
            self.set_state(self._rest_state())
        if self.cleanliness == DIRTY and self.spec.cleaning.dirty_hold is not None:
            self.env.process(self._dirty_watch(self._epoch))
        queue.dispatch()

    def settle(self) -> None:
        """Show the rest state if nothing took the unit when it was released (see release)."""
        if not self.busy:
            self.set_state(self._rest_state())

    def _dirty_watch(self, epoch: int):
        """Clean fully when the dirty-hold limit runs out and nobody has claimed the unit."""
        yield self.env.timeout(self.spec.cleaning.dirty_hold)
        if epoch != self._epoch or self.busy or not self.open or self.cleanliness != DIRTY:
            return
        self.busy = True
        self._epoch += 1
        cl = self.spec.cleaning
        full = cl.campaign if cl.campaign is not None else cl.major
        yield from self._clean("full", full)
        self.release()

    # ------------------------------------------------------------------ maintenance, calendar
    def maintenance_timer(self, every: float):
        """Process: mark maintenance due every ``every`` hours; start it when the unit is free."""
        while True:
            yield self.env.timeout(every)
            self.maint_due = True
            if not self.busy and self.open:
                self.busy = True
                self._epoch += 1
                self.env.process(self._maintain())

    def _maintain(self):
        m = self.spec.maintenance
        assert m is not None
        self.busy = True
        self.set_state("maintenance")
        pool = self.plant.pools[m.qualification] if m.qualification else None
        if pool is not None:
            yield pool.request(1)
        self.log.emit(K_MAINT_START, unit=self.code)
        yield self.env.timeout(m.duration.sample(self.rng_maint))
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
            self.queue.dispatch()
