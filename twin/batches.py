"""A batch follows its recipe: wait for a unit, cleaning and staff; process; hold; QC release.

Hold times: a step's ``max_hold`` limits the time from its end to the start of processing of
the next step; starting exactly at the limit is on time (``twin.rules.hold_violated``). When
the limit passes while the batch still waits for its unit or materials, the batch raises a
deviation at that moment (contemporaneous record); when the unit was granted in time but
cleaning and setup push processing past the limit, the deviation is raised as processing
starts. With ``on_hold_violation: scrap`` the batch is scrapped then. A ``direct`` transfer
keeps the unit (state blocked) until the next step's unit is granted.

After the last step the batch is in quarantine until QC releases (or rejects) it; a product
without QC (neither its own ``qc`` nor the scenario's) is released at once.

Material flow (only with the scenario sections; see ``twin/materials.py`` and
``twin/transport.py``): a step with a bill of materials first waits until its materials are in
stock, then queues for its unit and takes them; with a fleet, AGVs bring picked pallets and the
batch's IBC to the unit (starved while they are on the way), a finished unit stays blocked
until its IBC is picked up, and the finished batch travels to the finished-goods store before
QC. A QC-released batch of a product with a finished good adds a lot to stock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import simpy
from simpy.events import Timeout

from twin.eventlog import kind_code
from twin.rules import TIME_TOL, hold_violated
from twin.scenario import Product, QCSpec, Step

if TYPE_CHECKING:
    from twin.equipment import Unit
    from twin.materials import Pick
    from twin.plant import Plant
    from twin.state import BatchState
    from twin.streams import Stream
    from twin.transport import Fleet

__all__ = ["Batch", "run_batch", "step_table"]

K_BATCH_RELEASE = kind_code("batch_release")
K_STEP_START = kind_code("step_start")
K_STEP_END = kind_code("step_end")
K_SETUP = kind_code("setup")
K_DEVIATION = kind_code("deviation")
K_SCRAP = kind_code("scrap")
K_QUARANTINE = kind_code("quarantine")
K_QC_START = kind_code("qc_start")
K_QC_RELEASE = kind_code("qc_release")
K_QC_REJECT = kind_code("qc_reject")
K_PICK = kind_code("material_pick")
K_PRODUCE = kind_code("material_produce")


@dataclass(slots=True)
class Batch:
    id: int
    order: str
    product: str
    size: float
    due: float
    priority: int
    rng: Stream


def _hold_wait(plant: Plant, event, deadline: float, batch: Batch, step: int):
    """Process: wait for ``event`` (a unit granted, materials in stock); if the hold-time
    ``deadline`` passes first, record the deviation at that moment. Returns whether the hold
    time ran out.

    The boundary is ``twin.rules.hold_violated``: what happens at the deadline itself is on
    time, so at the deadline the check waits for the end of that instant (a unit freed at
    exactly the limit must not count as late, whatever the order of the events)."""
    env, log = plant.env, plant.log
    if event.triggered or deadline == math.inf:
        return False
    yield event | env.timeout(max(0.0, deadline - env.now))
    if not event.triggered:
        yield plant.end_of_instant()
    if event.triggered:
        return False
    log.emit(
        K_DEVIATION,
        batch=batch.id,
        order=log.code(batch.order),
        product=log.code(batch.product),
        step=step,
        state=log.code("hold_time"),
        value=0.0,
    )
    return True


def _scrap_on_hold(plant: Plant, batch: Batch, step: int, held: Unit | None) -> None:
    if held is not None:
        held.release()
    plant.scrap(batch, step, "hold_time")


def run_batch(plant: Plant, batch: Batch, resume: BatchState | None = None):
    """The SimPy process of one batch; with ``resume``, the batch continues from that state
    (a warm start: what is under way finishes in the remaining time, drawn from the duration
    conditioned on the time already spent)."""
    env, log = plant.env, plant.log
    prod: Product = plant.scenario.products[batch.product]
    recipe = prod.recipe
    codes = (log.code(batch.order), log.code(batch.product))
    order_c, product_c = codes
    held: Unit | None = None
    fleet = plant.fleet
    inventory = plant.inventory
    carry: dict[str, float] = {}  # intermediates the batch carries
    at_store: simpy.Event | None = None  # with a fleet: the IBC is (on its way) in the IBC store
    deadline = math.inf
    hold_policy = "deviation"
    hold_flagged = False
    first, stage, enqueued = 0, 0, None
    unit: Unit | None = None
    if resume is None:
        # positional (unit, batch, order, product, step, state, value): the hot path
        log.emit(K_BATCH_RELEASE, -1, batch.id, order_c, product_c, -1, -1, batch.size)
    else:
        first = resume.step
        stage = _RESUME_STAGE[resume.phase]
        if resume.hold_deadline is not None and first > 0:
            deadline = resume.hold_deadline
            hold_policy = recipe[first - 1].on_hold_violation
            hold_flagged = resume.hold_flagged
        if resume.phase == "blocked":
            held, stage = plant.unit_named[resume.unit], 0  # type: ignore[index]
        elif stage > 0 and resume.unit is not None:
            unit = plant.unit_named[resume.unit]
        enqueued = resume.since if resume.phase in ("queued", "blocked") else None
    table = step_table(plant, batch.product)
    for i in range(first, len(recipe)):
        step = recipe[i]
        (queue, mean_h, ideal_h, fixed_setup, scale_ref, consumes, ops, draw, produces, max_hold,
         direct, plain) = table[i]  # fmt: skip
        scale = batch.size / scale_ref if scale_ref else 1.0
        if plain and stage == 0 and deadline == math.inf and held is None and at_store is None:
            # a plain step (see ``step_table``) with no hold time running: what the general
            # path below does for it, without the checks that cannot apply (a flow line's
            # steps are all plain, and this loop is most of the cost of a run)
            req = queue.request(
                batch.id, batch.order, batch.product, i, batch.due, batch.priority,
                mean_h * scale, enqueued,
            )  # fmt: skip
            enqueued = None
            unit = yield req.event
            hours = draw(batch.rng) * scale
            log.emit(K_STEP_START, unit.code, batch.id, order_c, product_c, i, -1, ideal_h * scale)
            if unit.ttf > hours:  # no breakdown can come
                unit.set_state("processing")
                yield Timeout(env, hours)
                unit.ttf -= hours
                ok = True
            else:
                ok = yield from unit.process(hours, step.on_breakdown == "scrap")
            log.emit(K_STEP_END, unit.code, batch.id, order_c, product_c, i, -1, hours)
            unit.finish_batch(batch.product)
            unit.release()
            if not ok:
                plant.scrap(batch, i, "breakdown")
                return
            continue
        staff = None
        if stage == 0:  # take a unit (materials first, if the step needs some)
            needs: dict[str, float] = {}
            if consumes and inventory is not None:
                needs = _needs(plant, batch, i, consumes, carry)
            while True:
                if needs:  # wait until the materials are there before queueing for a unit
                    ready = inventory.wait_for(batch.id, i, needs)
                    if deadline != math.inf and not hold_flagged:
                        hold_flagged = yield from _hold_wait(plant, ready, deadline, batch, i)
                        if hold_flagged and hold_policy == "scrap":
                            inventory.cancel_wait(ready)
                            _scrap_on_hold(plant, batch, i, held)
                            return
                    if not ready.triggered:
                        yield ready
                req = queue.request(
                    batch.id,
                    batch.order,
                    batch.product,
                    i,
                    batch.due,
                    batch.priority,
                    mean_h * scale,
                    enqueued,
                )
                enqueued = None
                if deadline != math.inf and not hold_flagged:
                    hold_flagged = yield from _hold_wait(plant, req.event, deadline, batch, i)
                    if hold_flagged and hold_policy == "scrap":
                        queue.cancel(req)
                        _scrap_on_hold(plant, batch, i, held)
                        return
                unit = yield req.event
                if not needs or inventory.can_take(needs):
                    break
                unit.release()  # another batch took the material first: give the unit back
            arrivals: list[simpy.Event] = []
            if held is not None:
                if fleet is not None:
                    arrivals.append(
                        fleet.request(
                            held.station,
                            unit.station,
                            1,
                            batch.due,
                            batch.id,
                            "ibc",
                            on_pickup=held.release,
                        )
                    )
                else:
                    held.release()
                held = None
            elif at_store is not None and fleet is not None:
                chain = _from_store(fleet, at_store, plant.ibc_store, unit.station, batch)
                arrivals.append(env.process(chain))
                at_store = None
            if needs:
                got = inventory.request(batch.id, i, unit.code, needs)
                assert got.triggered
                if fleet is not None:
                    arrivals.extend(_deliver_materials(plant, batch, got.value, unit))
            if unit.prepares:
                yield from unit.prepare(batch.product)
            if arrivals and not all(ev.triggered for ev in arrivals):
                unit.set_state("starved")
                yield env.all_of(arrivals)
        elif stage == 1:  # resumed with the unit claimed: finish a cleaning under way
            yield from unit.resume_clean(batch.product, batch.rng)  # type: ignore[union-attr]
        if stage <= 1:
            setup = step.setup.sample(batch.rng) if fixed_setup is None else fixed_setup
            if plant.tracks_plan:  # following a plan: processing never starts before planned
                planned = plant.policy.planned_start(batch.id, i)
                if planned is not None and planned - setup > env.now + TIME_TOL:
                    unit.set_state("idle")
                    yield env.timeout(planned - setup - env.now)
        elif stage == 2:  # resumed in setup: what is left of it
            done = env.now - resume.since  # type: ignore[union-attr]
            if resume.setup_hours is not None:  # type: ignore[union-attr]
                setup = max(0.0, resume.setup_hours - done)  # type: ignore[union-attr]
            else:
                setup = step.setup.remaining(batch.rng, done)
        else:
            setup = 0.0
        if ops is not None:
            staff = plant.pools[ops.qualification]
            if stage >= 2:  # resumed mid-step: its operators are already at work
                grant = staff.take(step.operators.count)
            else:
                grant = staff.request(step.operators.count)
            if not grant.triggered:
                unit.set_state("starved")  # type: ignore[union-attr]
                yield grant
        if setup > 0:
            unit.set_state("setup")  # type: ignore[union-attr]
            if stage <= 1:
                log.emit(K_SETUP, unit=unit.code, batch=batch.id, step=i, value=setup)  # type: ignore[union-attr]
            yield env.timeout(setup)
        if (
            stage <= 2
            and not hold_flagged
            and deadline != math.inf
            and hold_violated(env.now, deadline)
        ):
            log.emit(
                K_DEVIATION,
                unit=unit.code,  # type: ignore[union-attr]
                batch=batch.id,
                order=order_c,
                product=product_c,
                step=i,
                state=log.code("hold_time"),
                value=env.now - deadline,
            )
            if hold_policy == "scrap":
                if staff is not None:
                    staff.release(step.operators.count)
                unit.release()  # type: ignore[union-attr]
                plant.scrap(batch, i, "hold_time")
                return
        if stage <= 2:
            hours = draw(batch.rng) * scale
            log.emit(
                K_STEP_START,
                unit.code,  # type: ignore[union-attr]
                batch.id,
                order_c,
                product_c,
                i,
                -1,
                ideal_h * scale,
            )
            left = hours
        else:  # resumed while processing (or down): what is left of the step
            done = resume.processed_h  # type: ignore[union-attr]
            left = step.duration.remaining(batch.rng, done / scale) * scale
            hours = done + left
            if stage == 4:  # its unit is down: the repair comes first
                yield from unit.resume_repair(batch.rng)  # type: ignore[union-attr]
                if step.on_breakdown == "scrap":
                    left = -1.0
        stage = 0
        if left < 0:
            ok = False
        elif unit.ttf > left:  # type: ignore[union-attr]  # no breakdown can come
            unit.set_state("processing")  # type: ignore[union-attr]
            yield env.timeout(left)
            unit.ttf -= left  # type: ignore[union-attr]
            ok = True
        else:
            ok = yield from unit.process(left, step.on_breakdown == "scrap")  # type: ignore[union-attr]
        if staff is not None:
            staff.release(step.operators.count)
        log.emit(K_STEP_END, unit.code, batch.id, order_c, product_c, i, -1, hours)  # type: ignore[union-attr]
        unit.finish_batch(batch.product)  # type: ignore[union-attr]
        if not ok:
            unit.release()  # type: ignore[union-attr]
            plant.scrap(batch, i, "breakdown")
            return
        for m, qty in produces.items():
            q = qty.quantity(batch.size)
            carry[m] = carry.get(m, 0.0) + q
            log.emit(
                K_PRODUCE,
                unit=unit.code,
                batch=batch.id,
                step=i,
                product=log.code(m),
                value=q,  # type: ignore[union-attr]
            )
        if max_hold is not None:
            deadline = env.now + max_hold
            hold_policy = step.on_hold_violation
        else:
            deadline = math.inf
        hold_flagged = False
        if direct:
            unit.set_state("blocked")  # type: ignore[union-attr]
            held = unit
        elif fleet is not None:
            unit.set_state("blocked")  # type: ignore[union-attr]
            last = i == len(recipe) - 1
            dest, loads = (
                _finished_destination(plant, prod, batch) if last else (plant.ibc_store, 1)
            )
            moved = fleet.request(
                unit.station,  # type: ignore[union-attr]
                dest,
                loads,
                batch.due,
                batch.id,
                "finished" if last else "ibc",
                on_pickup=unit.release,  # type: ignore[union-attr]
            )
            if last:
                yield moved
            else:
                at_store = moved
        else:
            unit.release()  # type: ignore[union-attr]
    qc: QCSpec | None = prod.qc or plant.scenario.qc
    released = True
    if qc is not None:  # without QC the batch is released at once, never in quarantine
        in_qc = resume is not None and resume.phase in ("quarantine", "qc")
        if in_qc and resume.quarantine_since is not None:  # type: ignore[union-attr]
            t0 = resume.quarantine_since  # type: ignore[union-attr]
        else:
            log.emit(K_QUARANTINE, -1, batch.id, order_c, product_c)
            t0 = env.now
        analysts = plant.pools[qc.qualification] if qc.qualification else None
        if in_qc and resume.phase == "qc":  # type: ignore[union-attr]  # hands-on under way
            done = env.now - resume.since  # type: ignore[union-attr]
            if resume.qc_hands_on is not None:  # type: ignore[union-attr]
                hands_on = max(0.0, resume.qc_hands_on - done)  # type: ignore[union-attr]
            else:
                hands_on = qc.hands_on.remaining(batch.rng, done)
            if hands_on <= 0:
                analysts = None  # the analyst is done with it: only the lead time is left
            elif analysts is not None:
                yield analysts.take(1)
        else:
            if analysts is not None:
                yield analysts.request(1)
            hands_on = qc.hands_on.sample(batch.rng)
            log.emit(K_QC_START, batch=batch.id, order=order_c, product=product_c, value=hands_on)
        if in_qc:  # the lead time runs from quarantine: draw what is left of it
            lead = qc.lead_time.remaining(batch.rng, env.now - t0) + (env.now - t0)
        else:
            lead = qc.lead_time.sample(batch.rng)
        if hands_on > 0:
            yield env.timeout(hands_on)
        if analysts is not None:
            analysts.release(1)
        rest = t0 + lead - env.now
        if rest > 0:
            yield env.timeout(rest)
        released = batch.rng.random() >= qc.reject_probability
    if released:
        log.emit(K_QC_RELEASE, -1, batch.id, order_c, product_c, -1, -1, batch.size)
        if inventory is not None and prod.finished_good is not None:
            inventory.receive_finished(prod.finished_good, batch.size)
        plant.batch_released(batch)
    else:
        log.emit(K_QC_REJECT, batch=batch.id, order=order_c, product=product_c)
        plant.scrap(batch, len(recipe), "qc_reject")


def step_table(plant: Plant, product: str) -> list[tuple]:
    """Per recipe step, what every batch of the product reads, in local form (a batch reads
    them at every step; attributes of the scenario's models cost more): the class's queue, the
    mean and ideal durations (properties computed by the distribution), the setup hours if
    fixed (else None: drawn per batch), the scale reference, the materials consumed, the
    operators, the duration's sampler, the materials produced, the hold limit, whether the
    transfer is direct, and whether the step is plain. Built once per plant and product.

    A plain step needs nothing but a unit and its processing time: no materials to wait for,
    no operators, no setup, no cleaning (its class's units never clean), nothing produced, no
    hold time after it, no direct transfer, no transport and no plan to follow."""
    table = plant.step_table.get(product)
    if table is None:
        recipe = plant.scenario.products[product].recipe
        table = plant.step_table[product] = [_step_row(plant, s) for s in recipe]
    return table


def _step_row(plant: Plant, s: Step) -> tuple:
    """One step's row of ``step_table``."""
    queue = plant.queues[s.equipment_class]
    fixed_setup = s.setup.value if s.setup.dist == "fixed" else None
    direct = s.transfer == "direct"
    plain = (
        not (s.consumes and plant.inventory is not None)
        and s.operators is None
        and fixed_setup == 0.0
        and not s.produces
        and s.max_hold is None
        and not direct
        and plant.fleet is None
        and not plant.tracks_plan
        and not any(u.prepares for u in queue.units)
    )
    return (
        queue,
        s.duration.mean,
        s.duration.ideal,
        fixed_setup,
        s.scale_reference,
        s.consumes,
        s.operators,
        s.duration.sampler(),
        s.produces,
        s.max_hold,
        direct,
        plain,
    )


_RESUME_STAGE = {
    "queued": 0,
    "blocked": 0,
    "claimed": 1,
    "setup": 2,
    "processing": 3,
    "down": 4,
    "quarantine": 0,
    "qc": 0,
}
"""Where a resumed batch picks up its current step (see ``run_batch``)."""


def _from_store(fleet: Fleet, at_store: simpy.Event, store: str, station: str, batch: Batch):
    """Process: once the IBC has reached the IBC store, bring it to the next unit."""
    if not at_store.processed:
        yield at_store
    yield fleet.request(store, station, 1, batch.due, batch.id, "ibc")


def _finished_destination(plant: Plant, prod: Product, batch: Batch) -> tuple[str, int]:
    """Where a finished batch goes (its finished good's warehouse gate, else the IBC store)
    and in how many pallet loads."""
    fg = prod.finished_good
    if fg is None or plant.inventory is None:
        return plant.ibc_store, 1
    inv = plant.inventory
    gate = inv.warehouses[inv.home[fg]].gate
    pallets = max(1, math.ceil(batch.size / inv.materials[fg].pallet - 1e-9))
    return (gate or plant.ibc_store), pallets


def _needs(
    plant: Plant, batch: Batch, step: int, consumes: dict, carry: dict[str, float]
) -> dict[str, float]:
    """Warehouse materials a step needs; intermediates are taken from the batch at once."""
    log = plant.log
    inv = plant.inventory
    assert inv is not None
    needs: dict[str, float] = {}
    for m, qty in consumes.items():
        q = qty.quantity(batch.size)
        if inv.materials[m].kind == "intermediate":
            carry[m] = carry.get(m, 0.0) - q
            log.emit(K_PICK, unit=-1, batch=batch.id, step=step, product=log.code(m), value=q)
        elif q > 0:
            needs[m] = q
    return needs


def _deliver_materials(plant: Plant, batch: Batch, picks: list[Pick], unit: Unit) -> list:
    """Transport requests bringing picked pallets from their warehouses to the unit."""
    inv, fleet = plant.inventory, plant.fleet
    assert inv is not None and fleet is not None
    pallets: dict[str, float] = {}
    for pick in picks:
        size = inv.materials[pick.material].pallet
        pallets[pick.warehouse] = pallets.get(pick.warehouse, 0.0) + pick.quantity / size
    out = []
    for wname in sorted(pallets):
        gate = inv.warehouses[wname].gate
        assert gate is not None
        loads = max(1, math.ceil(pallets[wname] - 1e-9))
        out.append(fleet.request(gate, unit.station, loads, batch.due, batch.id, "material"))
    return out
