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

from twin.eventlog import kind_code
from twin.rules import TIME_TOL, hold_violated
from twin.scenario import Product, QCSpec

if TYPE_CHECKING:
    from twin.equipment import Unit
    from twin.materials import Pick
    from twin.plant import Plant
    from twin.streams import Stream
    from twin.transport import Fleet

__all__ = ["Batch", "run_batch"]

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


def run_batch(plant: Plant, batch: Batch):
    """The SimPy process of one batch."""
    env, log = plant.env, plant.log
    prod: Product = plant.scenario.products[batch.product]
    codes = (log.code(batch.order), log.code(batch.product))
    order_c, product_c = codes
    # positional (unit, batch, order, product, step, state, value): the hot path of every batch
    log.emit(K_BATCH_RELEASE, -1, batch.id, order_c, product_c, -1, -1, batch.size)
    held: Unit | None = None
    fleet = plant.fleet
    inventory = plant.inventory
    carry: dict[str, float] = {}  # intermediates the batch carries
    at_store: simpy.Event | None = None  # with a fleet: the IBC is (on its way) in the IBC store
    deadline = math.inf
    hold_policy = "deviation"
    hold_flagged = False
    for i, step in enumerate(prod.recipe):
        queue = plant.queues[step.equipment_class]
        scale = batch.size / step.scale_reference if step.scale_reference else 1.0
        needs: dict[str, float] = {}
        if step.consumes and inventory is not None:
            needs = _needs(plant, batch, i, step.consumes, carry)
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
                step.duration.mean * scale,
            )
            if deadline != math.inf and not hold_flagged:
                hold_flagged = yield from _hold_wait(plant, req.event, deadline, batch, i)
                if hold_flagged and hold_policy == "scrap":
                    queue.cancel(req)
                    _scrap_on_hold(plant, batch, i, held)
                    return
            unit: Unit = yield req.event
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
        if unit.needs_cleaning or unit.spec.cleaning.clean_hold is not None:
            yield from unit.prepare(batch.product)
        if arrivals and not all(ev.triggered for ev in arrivals):
            unit.set_state("starved")
            yield env.all_of(arrivals)
        setup = step.setup.sample(batch.rng) if step.setup.dist != "fixed" else step.setup.value
        if plant.tracks_plan:  # following a plan: processing never starts before planned
            planned = plant.policy.planned_start(batch.id, i)
            if planned is not None and planned - setup > env.now + TIME_TOL:
                unit.set_state("idle")
                yield env.timeout(planned - setup - env.now)
        staff = None
        if step.operators is not None:
            staff = plant.pools[step.operators.qualification]
            grant = staff.request(step.operators.count)
            if not grant.triggered:
                unit.set_state("starved")
                yield grant
        if setup > 0:
            unit.set_state("setup")
            log.emit(K_SETUP, unit=unit.code, batch=batch.id, step=i, value=setup)
            yield env.timeout(setup)
        if not hold_flagged and hold_violated(env.now, deadline):
            log.emit(
                K_DEVIATION,
                unit=unit.code,
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
                unit.release()
                plant.scrap(batch, i, "hold_time")
                return
        hours = step.duration.sample(batch.rng) * scale
        log.emit(
            K_STEP_START,
            unit.code,
            batch.id,
            order_c,
            product_c,
            i,
            -1,
            step.duration.ideal * scale,
        )
        if unit.ttf > hours:  # no breakdown can come: skip the breakdown-aware loop
            unit.set_state("processing")
            yield env.timeout(hours)
            unit.ttf -= hours
            ok = True
        else:
            ok = yield from unit.process(hours, step.on_breakdown == "scrap")
        if staff is not None:
            staff.release(step.operators.count)
        log.emit(K_STEP_END, unit.code, batch.id, order_c, product_c, i, -1, hours)
        unit.finish_batch(batch.product)
        if not ok:
            unit.release()
            plant.scrap(batch, i, "breakdown")
            return
        for m, qty in step.produces.items():
            q = qty.quantity(batch.size)
            carry[m] = carry.get(m, 0.0) + q
            log.emit(
                K_PRODUCE, unit=unit.code, batch=batch.id, step=i, product=log.code(m), value=q
            )
        if step.max_hold is not None:
            deadline = env.now + step.max_hold
            hold_policy = step.on_hold_violation
        else:
            deadline = math.inf
        hold_flagged = False
        if step.transfer == "direct":
            unit.set_state("blocked")
            held = unit
        elif fleet is not None:
            unit.set_state("blocked")
            last = i == len(prod.recipe) - 1
            dest, loads = (
                _finished_destination(plant, prod, batch) if last else (plant.ibc_store, 1)
            )
            moved = fleet.request(
                unit.station,
                dest,
                loads,
                batch.due,
                batch.id,
                "finished" if last else "ibc",
                on_pickup=unit.release,
            )
            if last:
                yield moved
            else:
                at_store = moved
        else:
            unit.release()
    qc: QCSpec | None = prod.qc or plant.scenario.qc
    released = True
    if qc is not None:  # without QC the batch is released at once, never in quarantine
        log.emit(K_QUARANTINE, -1, batch.id, order_c, product_c)
        t0 = env.now
        analysts = plant.pools[qc.qualification] if qc.qualification else None
        if analysts is not None:
            yield analysts.request(1)
        log.emit(K_QC_START, batch=batch.id, order=order_c, product=product_c)
        hands_on = qc.hands_on.sample(batch.rng)
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
        plant.scrap(batch, len(prod.recipe), "qc_reject")


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
