"""Builds a simulated plant from a Scenario and wires its pieces.

The Plant owns the SimPy environment, the event log, the class queues, units and staff
pools, and the order book (release of orders into batches, replacement of scrapped batches,
order completion). Everything observable goes through ``log.emit``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from operator import attrgetter
from typing import TYPE_CHECKING, Any, NamedTuple

import simpy
from simpy.events import Timeout

from twin.batches import Batch, run_batch
from twin.callbacks import process_end, process_start
from twin.dispatch import ClassQueue, Policy, make_policy
from twin.equipment import Unit
from twin.eventlog import EventLog, kind_code
from twin.flow_spec import charger_nodes
from twin.plain_batch import start_batch
from twin.scenario import Scenario
from twin.staff import ALWAYS, Calendar, Pool, run_calendar, week_offset
from twin.streams import Stream, batch_streams, stream

if TYPE_CHECKING:
    from twin.materials import Inventory
    from twin.state import PlantState
    from twin.transport import Fleet, Layout

__all__ = ["Plant", "PlannedOrder", "generate_orders"]

K_RUN_START = kind_code("run_start")
K_UNIT_ADDED = kind_code("unit_added")
K_ORDER_RELEASE = kind_code("order_release")
K_ORDER_COMPLETE = kind_code("order_complete")
K_SCRAP = kind_code("scrap")
K_RUN_END = kind_code("run_end")
K_ORDER_RESUME = kind_code("order_resume")
K_BATCH_RESUME = kind_code("batch_resume")


class PlannedOrder(NamedTuple):
    """An order as the plant runs it (release and due as hours); small, as a year of generated
    orders is held in memory. Immutable, read by attribute; a named tuple rather than a frozen
    dataclass because a frozen dataclass costs three times as much to build (one per order:
    a few percent of generating a flow line's year)."""

    id: str
    product: str
    quantity: float
    release: float
    due: float
    priority: int


@dataclass(slots=True)
class _OrderState:
    order: PlannedOrder
    batches_needed: int
    released: int = 0
    made: int = 0  # batch numbers handed out (replacements included)
    sizes: list[float] = field(default_factory=list)
    codes: tuple[int, int] = (-1, -1)  # the log's codes of the order id and the product


_RELEASE_ORDER = attrgetter("release", "id")  # the key orders are released in


def generate_orders(scenario: Scenario, seed: int, replication: int) -> list[PlannedOrder]:
    """The scenario's fixed orders plus those of its order generator, sorted by release."""
    orders = [
        PlannedOrder(o.id, o.product, o.quantity, float(o.release), float(o.due), o.priority)
        for o in scenario.orders
    ]
    gen = scenario.order_generator
    horizon = scenario.simulation.horizon
    if gen is not None:
        for product, ds in gen.products.items():
            rng = stream(seed, replication, "orders", product)
            t = ds.start
            until = min(horizon, ds.until) if ds.until is not None else horizon
            k = 0
            gap, quantity, due_after = (
                ds.interarrival.sampler(),
                ds.quantity.sample,
                ds.due_after.sample,
            )
            # a fixed quantity or due time draws nothing: read once (a year holds many orders)
            qty_fixed = ds.quantity.value if ds.quantity.dist == "fixed" else None
            due_fixed = ds.due_after.value if ds.due_after.dist == "fixed" else None
            priority = ds.priority
            while True:
                t += gap(rng)
                if t >= until:
                    break
                qty = max(quantity(rng) if qty_fixed is None else qty_fixed, 1e-9)
                due = t + (due_after(rng) if due_fixed is None else due_fixed)
                k += 1
                orders.append(PlannedOrder(f"{product}-{k:05d}", product, qty, t, due, priority))
    orders.sort(key=_RELEASE_ORDER)
    return orders


class Plant:
    """A runnable plant: ``Plant(scenario, seed).run(until)``."""

    def __init__(
        self,
        scenario: Scenario,
        seed: int = 0,
        replication: int = 0,
        policy: Policy | None = None,
        env: simpy.Environment | None = None,
        state: PlantState | None = None,
    ) -> None:
        self.scenario = scenario
        self.seed = seed
        self.replication = replication
        self.state = state
        t0 = 0.0 if state is None else state.time
        self.env = env or simpy.Environment(initial_time=t0)
        self.log = EventLog(self.env)
        self._offset = week_offset(
            scenario.start.weekday(), scenario.start.hour + scenario.start.minute / 60
        )
        self.policy = policy or make_policy(scenario.dispatch)
        if hasattr(self.policy, "attach"):
            self.policy.attach(self)
        # a policy that decides when idle dirty units are cleaned (None: at the dirty-hold limit)
        self.clean_idle = getattr(self.policy, "clean_idle", None)
        self.queues = {c: ClassQueue(self.env, c, self.policy) for c in scenario.equipment_classes}
        self.pools = {
            q: Pool(self.env, q, p.count, self.calendar(p.shift)) for q, p in scenario.staff.items()
        }
        self.units: list[Unit] = []
        self.step_table: dict[str, list] = {}  # product -> what batches read per step
        # batches of plain products run by callbacks (twin.plain_batch); False: every batch is
        # a SimPy process, as the tests run them to check that both give the same log
        self.plain_batches = True
        self.plain_products: dict[str, bool] = {}
        # whether anything looks at the event queue (end_of_instant: hold times, dirty-hold
        # limits, and a warm start's carried-over holds); if nothing does, a batch run by
        # callbacks need not schedule the end event a process would (nothing could see it)
        self.peeks_queue = (
            state is not None
            or any(s.max_hold is not None for p in scenario.products.values() for s in p.recipe)
            or any(c.cleaning.dirty_hold is not None for c in scenario.equipment_classes.values())
        )
        self._batch_stream = batch_streams(seed, replication)
        self._orders: dict[str, _OrderState] = {}
        self._next_batch = 0
        # bookkeeping for plans (FollowPlan, re-planning snapshots) only: a run without a plan
        # keeps none of it, so a year of batches costs no memory here
        self.tracks_plan = hasattr(self.policy, "set_plan")
        self.batch_keys: dict[int, str] = {}  # batch id -> "order/index" (stable across runs)
        self.finished_keys: set[str] = set()
        self.released_keys: set[str] = set()
        self.product_of: dict[int, str] = {}
        self.reserved: dict[tuple[int, int], tuple[str, float]] = {}  # (batch, step) -> unit, t
        self.size_of: dict[int, float] = {}
        self.open_batches = 0
        self.orders = generate_orders(scenario, seed, replication)
        if state is not None:  # released before the state: in it, or not part of this plant
            self.orders = [o for o in self.orders if o.release > t0 and o.id not in state.orders]
        self.all_released = False
        self.done = self.env.event()
        self._instant_end: simpy.Event | None = None
        self._builder: Any = None  # the state fold behind state_now()
        self._folded = 0
        log = self.log
        # the KPI window: from the warm-up, or (a warm start) from the state on
        window = scenario.simulation.warmup if state is None else t0
        log.emit(K_RUN_START, value=window, detail=log.code(scenario.name))
        for name, uid in scenario.unit_names():
            spec = scenario.units[uid]
            cls = scenario.equipment_classes[spec.equipment_class]
            cal = self.calendar(spec.shift or cls.shift)
            unit = Unit(self, name, len(self.units), spec.equipment_class, cls, cal.is_open(t0))
            unit.station = spec.station
            self.units.append(unit)
            self.queues[spec.equipment_class].units.append(unit)
            log.emit(
                K_UNIT_ADDED,
                unit=unit.code,
                detail=log.code(spec.equipment_class),
                state=log.code(spec.room),
            )
        self.unit_named = {u.name: u for u in self.units}
        if state is not None:
            self._restore(state)
        for unit in self.units:
            if state is None:
                unit.set_state(unit._rest_state())
            cal = self.calendar(scenario.units[unit.name.split("#")[0]].shift or unit.spec.shift)
            if not cal.always:
                self.env.process(run_calendar(self.env, cal, unit.calendar_change))
            m = unit.spec.maintenance
            if m is not None and m.every is not None:
                self.env.process(unit.maintenance_timer(m.every))
        self._build_material_flow()
        if state is not None:
            self._resume(state)
        self._next_order = 0  # the next order of self.orders to release
        self._quantity_codes: dict[float, int] = {}
        process_start(self.env, self._first_release)

    # ------------------------------------------------------------------ warm start
    def _restore(self, state: PlantState) -> None:
        """Units and the order book as the state has them (before any process runs)."""
        log = self.log
        ids = {b.key: b.id for b in state.batches.values()}
        for unit in self.units:
            us = state.units.get(unit.name)
            if us is not None:
                unit.restore(us, ids.get(us.holder or "", -1))
            else:
                unit.set_state(unit._rest_state())
        self._next_batch = max(self._next_batch, state.next_batch_id)
        for o in state.orders.values():
            if o.completed is not None:
                continue
            prod = self.scenario.products[o.product]
            n = o.batches_needed
            last = o.quantity - (n - 1) * prod.batch_size
            po = PlannedOrder(o.id, o.product, o.quantity, o.release, o.due, o.priority)
            self._orders[o.id] = _OrderState(
                po, n, o.released, o.made, [prod.batch_size] * (n - 1) + [last]
            )
            log.emit(
                K_ORDER_RESUME,
                order=log.code(o.id),
                product=log.code(o.product),
                batch=o.made,
                value=float(o.due),
                step=o.priority,
                detail=log.code(repr(float(o.quantity))),
            )

    def _resume(self, state: PlantState) -> None:
        """Start the processes that carry on what was under way at the state's instant.

        Work under way holds its staff, so it takes them back first (units' own cleaning and
        maintenance, then batches in setup, processing or cleaning); what was waiting asks
        again afterwards, in the order it began to wait, so the restart decides ties as the
        unbroken run did."""
        starts: list[tuple[tuple, Any]] = []
        for unit in self.units:
            us = state.units.get(unit.name)
            under_way = us is not None and us.activity in ("clean", "maintenance")
            if unit.holder < 0:
                since = us.since if us is not None else 0.0
                starts.append(((0 if under_way else 2, since, unit.index), unit.resume()))
        for bs in state.batches.values():
            order = self._orders.get(bs.order)
            if order is None:
                continue  # its order is complete or unknown: nothing to carry on
            o = order.order
            batch = Batch(
                bs.id,
                o.id,
                o.product,
                bs.size,
                float(o.due),
                o.priority,
                self.rng("batch", o.id, str(bs.index)),
            )
            if self.tracks_plan:
                key = f"{o.id}/{bs.index}"
                self.batch_keys[bs.id] = key
                self.released_keys.add(key)
                self.product_of[bs.id] = o.product
                self.size_of[bs.id] = bs.size
                # the steps it has done, and the one it holds a unit for, are not the plan's
                # to hand out any more
                taken = bs.step + (bs.phase in ("claimed", "setup", "processing", "down"))
                for s in range(taken):
                    self.policy.taken(key, s)
            self.open_batches += 1
            self.log.emit(
                K_BATCH_RESUME,
                batch=bs.id,
                order=self.log.code(o.id),
                product=self.log.code(o.product),
                step=bs.step,
                value=bs.size,
                detail=self.log.code(bs.key),
            )
            us = state.units.get(bs.unit or "")
            holds = (
                bs.phase in ("setup", "processing", "down")
                or (bs.phase == "claimed" and us is not None and us.activity == "clean")
                or bs.phase == "qc"  # hands-on under way holds an analyst
            )
            # a batch waiting for staff with its unit claimed began to wait when the unit
            # turned starved (after its cleaning), not when it was claimed
            waits = us.since if (us is not None and us.state == "starved") else bs.since
            key = (1 if holds else 2, bs.since if holds else waits, 1_000_000 + bs.id)
            starts.append((key, run_batch(self, batch, bs)))
        for _key, gen in sorted(starts, key=lambda s: s[0]):
            self.env.process(gen)

    def _build_material_flow(self) -> None:
        """Warehouses and stock, layout and fleet: only when the scenario has those sections
        (without them materials are unlimited and transport is instantaneous)."""
        sc = self.scenario
        self.inventory: Inventory | None = None
        self.fleet: Fleet | None = None
        self.layout: Layout | None = None
        self.ibc_store = sc.layout.ibc_store if sc.layout is not None else None
        if sc.materials:  # imported only when used (the transport package loads networkx)
            from twin.materials import Inventory

            self.inventory = Inventory(self)
            if self.state is None:
                self.inventory.start()
            else:
                self.inventory.restore(self.state)
            orders = list(self.orders)
            if self.state is not None:  # orders of the state whose due date (shipping) is ahead
                orders += [
                    PlannedOrder(o.id, o.product, o.quantity, o.release, o.due, o.priority)
                    for o in self.state.orders.values()
                    if o.due > self.env.now
                ]
            shipments = [
                (float(o.due), o.id, fg, o.quantity)
                for o in orders
                if (fg := sc.products[o.product].finished_good) is not None
            ]
            if shipments:
                self.env.process(self.inventory.shipments(shipments))
        if sc.layout is not None and sc.fleet is not None:
            from twin.transport import Fleet, Layout

            self.layout = Layout(sc.layout, sc.fleet.speed)
            self.fleet = Fleet(self, sc.fleet, self.layout, charger_nodes(sc))

    # ------------------------------------------------------------------ the plant now
    def state_now(self) -> PlantState:
        """The plant state at this instant (``twin.state``), folded from the log; only the
        events since the last call are folded again (re-planning asks for it often)."""
        from twin.state import StateBuilder
        from twin.state.fold import Event

        sb = self._builder
        if sb is None:
            sb = StateBuilder.from_state(self.scenario, self.state) if self.state else None
            sb = sb or StateBuilder(self.scenario, "run")
            self._builder = sb
        for row in self.log.rows(self._folded):
            sb.apply_event(Event(*row))
        self._folded = len(self.log)
        return sb.state(self.env.now)

    # ------------------------------------------------------------------ helpers
    def rng(self, *key: str) -> Stream:
        return stream(self.seed, self.replication, *key)

    def end_of_instant(self) -> simpy.Event:
        """An event that fires once nothing else is left to happen at the current time.

        Rules with a boundary at a model time (a hold time running out, a dirty-hold limit)
        wait for it, so that whatever else happens at that same instant (a unit freed, a batch
        arriving, a dispatch decision) counts as on time, whatever the order of the events."""
        assert self.peeks_queue, "peeks_queue must name every rule that waits for this"
        ev = self._instant_end
        if ev is None or ev.triggered:
            ev = self._instant_end = self.env.event()
            self.env.process(self._drain(ev))
        return ev

    def _drain(self, ev: simpy.Event):
        env = self.env
        while env.peek() <= env.now:
            yield env.timeout(0)
        self._instant_end = None
        ev.succeed()

    def calendar(self, shift: str | None) -> Calendar:
        if shift is None:
            return ALWAYS
        return Calendar(self.scenario.shifts[shift].windows(), self._offset)

    # ------------------------------------------------------------------ order book
    def _release_due(self, _event: simpy.Event | None = None) -> None:
        """Release the next order (it is due: this runs at its release time), and every other
        order due at this instant; then wait for the next one.

        The order book runs by callbacks (``twin.callbacks``) on the same events a process
        releasing the orders one by one would wait for: one less generator resume per order."""
        env, orders = self.env, self.orders
        k = self._next_order
        while k < len(orders):
            self._release(orders[k])
            k += 1
            if k < len(orders):
                wait = float(orders[k].release) - env.now
                if wait > 0:
                    self._next_order = k
                    Timeout(env, wait).callbacks.append(self._release_due)
                    return
        self._next_order = k
        self.all_released = True
        self._check_done()
        process_end(env)

    def _first_release(self, _event: simpy.Event) -> None:
        """The order book's start: wait for the first order's release, if it is ahead."""
        if self.orders:
            wait = float(self.orders[0].release) - self.env.now
            if wait > 0:
                Timeout(self.env, wait).callbacks.append(self._release_due)
                return
        self._release_due()

    def _release(self, order: PlannedOrder) -> None:
        """Release one order: its batches go to the floor."""
        log = self.log
        prod = self.scenario.products[order.product]
        n = max(1, math.ceil(order.quantity / prod.batch_size - 1e-9))
        last = order.quantity - (n - 1) * prod.batch_size
        # positional (unit, batch, order, product, step, state, value, detail): once per
        # order; the codes are taken in this order (it numbers the log's strings)
        order_c, product_c = log.code(order.id), log.code(order.product)
        sizes = [prod.batch_size] * (n - 1) + [last]
        state = _OrderState(order, n, sizes=sizes, codes=(order_c, product_c))
        self._orders[order.id] = state
        log.emit(
            K_ORDER_RELEASE,
            -1,
            -1,
            order_c,
            product_c,
            order.priority,
            -1,
            float(order.due),
            self._quantity_code(float(order.quantity)),
        )
        for k in range(n):
            self._start_batch(state, state.sizes[k])

    def _quantity_code(self, quantity: float) -> int:
        """The log's code of an order quantity's text (``repr``): orders mostly repeat a few
        quantities, so the text is made once per quantity, not per order."""
        code = self._quantity_codes.get(quantity)
        if code is None or quantity == 0.0:  # (0.0 and -0.0 are one key but two texts)
            code = self._quantity_codes[quantity] = self.log.code(repr(quantity))
        return code

    def _start_batch(self, state: _OrderState, size: float) -> None:
        o = state.order
        state.made += 1
        if self.tracks_plan:
            key = f"{o.id}/{state.made}"
            self.batch_keys[self._next_batch] = key
            self.released_keys.add(key)
            self.product_of[self._next_batch] = o.product
            self.size_of[self._next_batch] = size
        batch = Batch(
            self._next_batch,
            o.id,
            o.product,
            size,
            float(o.due),
            o.priority,
            self._batch_stream(o.id, state.made),
        )
        self._next_batch += 1
        self.open_batches += 1
        start_batch(self, batch)

    def is_finished(self, key: str) -> bool:
        """Whether the batch with this key (``order/index``) was released by QC or scrapped."""
        return key in self.finished_keys

    def batch_released(self, batch: Batch) -> None:
        if self.tracks_plan:
            self.finished_keys.add(self.batch_keys[batch.id])
        state = self._orders[batch.order]
        state.released += 1
        self.open_batches -= 1
        if state.released == state.batches_needed:
            del self._orders[batch.order]
            order_c, product_c = state.codes
            if order_c < 0:  # an order resumed from a plant state
                order_c, product_c = self.log.code(batch.order), self.log.code(batch.product)
            self.log.emit(K_ORDER_COMPLETE, -1, -1, order_c, product_c)
        self._check_done()

    def scrap(self, batch: Batch, step: int, reason: str) -> None:
        if self.tracks_plan:  # a plan may have units waiting for this batch
            self.finished_keys.add(self.batch_keys[batch.id])
            for queue in self.queues.values():
                queue.dispatch()
        log = self.log
        log.emit(
            K_SCRAP,
            batch=batch.id,
            order=log.code(batch.order),
            product=log.code(batch.product),
            step=step,
            detail=log.code(reason),
        )
        self.open_batches -= 1
        if self.scenario.replace_scrapped:
            self._start_batch(self._orders[batch.order], batch.size)
        self._check_done()

    def _check_done(self) -> None:
        if self.all_released and self.open_batches == 0 and not self.done.triggered:
            self.done.succeed()

    # ------------------------------------------------------------------ running
    def run(
        self,
        until: float | None = None,
        progress: Callable[[float], None] | None = None,
        chunks: int = 100,
    ) -> float:
        """Run to the horizon (or until every order is done, if the scenario says so)."""
        env = self.env
        horizon = self.scenario.simulation.horizon if until is None else until
        stop_early = (
            self.scenario.simulation.stop_when_done and self.scenario.order_generator is None
        )
        step = horizon / chunks
        while env.now < horizon:
            target = min(horizon, env.now + step)
            if stop_early:
                if self.done.triggered:
                    break
                env.run(until=self.done | env.timeout(target - env.now))
            else:
                env.run(until=target)
            if progress is not None:
                progress(env.now)
            if stop_early and self.done.triggered:
                break
        self.log.emit(K_RUN_END, value=horizon)
        return env.now
