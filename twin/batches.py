"""A batch follows its recipe: wait for a unit, cleaning and staff; process; hold; QC release.

Hold times: a step's ``max_hold`` limits the time from its end to the start of processing of
the next step. When it runs out the batch raises a deviation at that moment (contemporaneous
record); with ``on_hold_violation: scrap`` the batch is scrapped then. A ``direct`` transfer
keeps the unit (state blocked) until the next step's unit is granted.

After the last step the batch is in quarantine until QC releases (or rejects) it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from twin.eventlog import kind_code
from twin.scenario import Product, QCSpec

if TYPE_CHECKING:
    from twin.equipment import Unit
    from twin.plant import Plant

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


@dataclass(slots=True)
class Batch:
    id: int
    order: str
    product: str
    size: float
    due: float
    priority: int
    rng: np.random.Generator


def run_batch(plant: Plant, batch: Batch):
    """The SimPy process of one batch."""
    env, log = plant.env, plant.log
    prod: Product = plant.scenario.products[batch.product]
    codes = (log.code(batch.order), log.code(batch.product))
    order_c, product_c = codes
    log.emit(K_BATCH_RELEASE, batch=batch.id, order=order_c, product=product_c, value=batch.size)
    held: Unit | None = None
    deadline = math.inf
    hold_policy = "deviation"
    hold_flagged = False
    for i, step in enumerate(prod.recipe):
        queue = plant.queues[step.equipment_class]
        scale = batch.size / step.scale_reference if step.scale_reference else 1.0
        req = queue.request(batch.id, batch.order, batch.product, i, batch.due, batch.priority,
                            step.duration.mean * scale)
        if not req.event.triggered and deadline < math.inf:
            timer = env.timeout(max(0.0, deadline - env.now))
            yield req.event | timer
            if not req.event.triggered:
                hold_flagged = True
                log.emit(K_DEVIATION, batch=batch.id, order=order_c, product=product_c, step=i,
                         state=log.code("hold_time"), value=0.0)
                if hold_policy == "scrap":
                    queue.cancel(req)
                    if held is not None:
                        held.release()
                    plant.scrap(batch, i, "hold_time")
                    return
        unit: Unit = yield req.event
        if held is not None:
            held.release()
            held = None
        yield from unit.prepare(batch.product)
        staff = None
        if step.operators is not None:
            staff = plant.pools[step.operators.qualification]
            grant = staff.request(step.operators.count)
            if not grant.triggered:
                unit.set_state("starved")
                yield grant
        setup = step.setup.sample(batch.rng)
        if setup > 0:
            unit.set_state("setup")
            log.emit(K_SETUP, unit=unit.code, batch=batch.id, step=i, value=setup)
            yield env.timeout(setup)
        if env.now > deadline and not hold_flagged:
            log.emit(K_DEVIATION, unit=unit.code, batch=batch.id, order=order_c, product=product_c,
                     step=i, state=log.code("hold_time"), value=env.now - deadline)
            if hold_policy == "scrap":
                if staff is not None:
                    staff.release(step.operators.count)
                unit.release()
                plant.scrap(batch, i, "hold_time")
                return
        hours = step.duration.sample(batch.rng) * scale
        log.emit(K_STEP_START, unit=unit.code, batch=batch.id, order=order_c, product=product_c,
                 step=i, value=step.duration.ideal * scale)
        ok = yield from unit.process(hours, step.on_breakdown == "scrap")
        if staff is not None:
            staff.release(step.operators.count)
        log.emit(K_STEP_END, unit=unit.code, batch=batch.id, order=order_c, product=product_c,
                 step=i, value=hours)
        unit.finish_batch(batch.product)
        if not ok:
            unit.release()
            plant.scrap(batch, i, "breakdown")
            return
        if step.max_hold is not None:
            deadline = env.now + step.max_hold
            hold_policy = step.on_hold_violation
        else:
            deadline = math.inf
        hold_flagged = False
        if step.transfer == "direct":
            unit.set_state("blocked")
            held = unit
        else:
            unit.release()
    log.emit(K_QUARANTINE, batch=batch.id, order=order_c, product=product_c)
    qc: QCSpec | None = prod.qc or plant.scenario.qc
    released = True
    if qc is not None:
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
        log.emit(K_QC_RELEASE, batch=batch.id, order=order_c, product=product_c, value=batch.size)
        plant.batch_released(batch)
    else:
        log.emit(K_QC_REJECT, batch=batch.id, order=order_c, product=product_c)
        plant.scrap(batch, len(prod.recipe), "qc_reject")
