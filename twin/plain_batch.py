"""Batches of plain products, run by callbacks on SimPy events instead of as SimPy processes.

A product is plain when every step of its recipe is plain (``twin.batches.step_table``: a
unit and its processing time, nothing else), no unit its steps use can break down, and it
has neither QC nor a finished good to stock: a flow line's products are. A batch of such a
product does exactly what ``run_batch`` does with it: release, then per step ask for a unit,
draw the processing time, process, release the unit; then the QC release. Here each wait is
a callback attached to the same SimPy event the process would wait on, at the same moment,
and the start and the end schedule the same events a process's start and end do
(``twin.callbacks``; the end only where something looks at the queue, ``Plant.peeks_queue``),
so the event queue and the log are the same, event for event
(``tests/twin/test_plain_batch.py`` compares the two).
What is saved is a process's generator machinery: a process per batch and a generator
resume per event, a sixth of a flow line's run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import simpy
from simpy.events import Timeout

from twin.batches import (
    K_BATCH_RELEASE,
    K_QC_RELEASE,
    K_STEP_END,
    K_STEP_START,
    Batch,
    run_batch,
    step_table,
)
from twin.callbacks import process_end, process_start
from twin.equipment import K_STATE

if TYPE_CHECKING:
    from twin.equipment import Unit
    from twin.plant import Plant

__all__ = ["start_batch", "is_plain"]


def start_batch(plant: Plant, batch: Batch) -> None:
    """Start a new batch: by callbacks if its product is plain (and the plant allows it,
    ``Plant.plain_batches``), else as a SimPy process (``run_batch``)."""
    if plant.plain_batches and is_plain(plant, batch.product):
        _PlainBatch(plant, batch)
    else:
        plant.env.process(run_batch(plant, batch))


def is_plain(plant: Plant, product: str) -> bool:
    """Whether batches of ``product`` can run by callbacks (see the module docstring)."""
    plain = plant.plain_products.get(product)
    if plain is None:
        prod = plant.scenario.products[product]
        rows = step_table(plant, product)
        plain = plant.plain_products[product] = (
            all(row[-1] for row in rows)
            and all(u.spec.failures is None for row in rows for u in row[0].units)
            and (prod.qc or plant.scenario.qc) is None
            and (plant.inventory is None or prod.finished_good is None)
        )
    return plain


class _PlainBatch:
    """One batch of a plain product; each method is the part of ``run_batch`` between two
    waits."""

    __slots__ = ("plant", "batch", "rows", "codes", "i", "row", "scale", "unit", "hours")

    def __init__(self, plant: Plant, batch: Batch) -> None:
        self.plant = plant
        self.batch = batch
        self.rows = plant.step_table[batch.product]  # built by is_plain (step_table)
        self.i = 0
        # what ``env.process`` schedules: the process's start, urgent, at this instant
        process_start(plant.env, self._start)

    def _start(self, _event: simpy.Event) -> None:
        log, batch = self.plant.log, self.batch
        self.codes = order_c, product_c = log.code(batch.order), log.code(batch.product)
        log.emit(K_BATCH_RELEASE, -1, batch.id, order_c, product_c, -1, -1, batch.size)
        self._request()

    def _request(self) -> None:
        """Ask for a unit for step ``i``."""
        batch = self.batch
        row = self.row = self.rows[self.i]
        scale = self.scale = batch.size / row[4] if row[4] else 1.0
        req = row[0].request(
            batch.id, batch.order, batch.product, self.i, batch.due, batch.priority, row[1] * scale
        )
        req.event.callbacks.append(self._granted)

    def _granted(self, event: simpy.Event) -> None:
        """The unit is ours: process (no breakdown can come, no setup, nothing to wait for)."""
        batch, row, scale = self.batch, self.row, self.scale
        unit: Unit = event._value  # (what a process is sent; ``value`` is a Python property)
        self.unit = unit
        hours = self.hours = row[7](batch.rng) * scale
        order_c, product_c = self.codes
        emit = self.plant.log.emit
        emit(K_STEP_START, unit.code, batch.id, order_c, product_c, self.i, -1, row[2] * scale)
        # unit.set_state("processing"), inlined: a granted unit was idle, claimed or settling,
        # so it shows "processing" now (and the batch holding it)
        if unit.state != "processing" or unit.holder != unit._shown_holder:
            unit.state = "processing"
            unit._shown_holder = holder = unit.holder
            emit(K_STATE, unit.code, holder, -1, -1, -1, unit._processing_code, unit._processing_kw)
        Timeout(self.plant.env, hours).callbacks.append(self._processed)

    def _processed(self, _event: simpy.Event) -> None:
        """Step ``i`` is done: free the unit, then the next step or the QC release."""
        batch, unit, hours = self.batch, self.unit, self.hours
        order_c, product_c = self.codes
        unit.ttf -= hours
        plant = self.plant
        log = plant.log
        i = self.i
        log.emit(K_STEP_END, unit.code, batch.id, order_c, product_c, i, -1, hours)
        # unit.finish_batch(batch.product), inlined for a unit that never cleans (a plain
        # step's units do not: ``Unit.prepares`` is false), as it runs at every step
        unit._uses += 1
        unit._last_use = (batch.product, plant.env._now)
        unit.batches_since_maint += 1
        every = unit._maint_every_batches
        if every is not None and unit.batches_since_maint >= every:
            unit.maint_due = True
        unit.release()
        i = self.i = i + 1
        if i < len(self.rows):
            # self._request(), inlined
            row = self.row = self.rows[i]
            scale = self.scale = batch.size / row[4] if row[4] else 1.0
            req = row[0].request(
                batch.id, batch.order, batch.product, i, batch.due, batch.priority, row[1] * scale
            )
            req.event.callbacks.append(self._granted)
            return
        log.emit(K_QC_RELEASE, -1, batch.id, order_c, product_c, -1, -1, batch.size)
        plant.batch_released(batch)
        if plant.peeks_queue:
            process_end(plant.env)
