"""Materials, lots and warehouses: FEFO picking, supplier deliveries, reorder policies, expiry,
finished goods and customer shipments.

A lot has a quantity, an expiry time, a status (quarantine, released, rejected, expired) and
the storage class of its material; it occupies ``ceil(quantity / pallet)`` pallet positions of
its warehouse while it is in stock. A supplier delivery arrives after a lead-time draw, waits
at the dock while its warehouse has no room, enters in quarantine, and is released (or
rejected) after sampling. Picking is FEFO: the released lot that expires first goes first.

A batch step needing materials first waits (``wait_for``) until all of them are in released
stock; the wait is starvation, logged per material (``starve_start`` / ``starve_end``). Only
then does the batch queue for a unit, and it takes the materials (``request``, all at once)
when it has the unit; if another batch was faster it gives the unit back and waits again, so a
missing material never holds a unit. ``request`` itself can also wait: waiting requests are
served in arrival order (a later one cannot take material an earlier one still needs).

QC-released batches of a product naming a ``finished_good`` add a lot of that material; at each
order's due date the order's quantity is shipped, FEFO; what is missing is a stockout and is
shipped (backordered) as soon as stock arrives.

Material balance, per material, at any time (what the conservation tests check)::

    received = consumed + shipped + on hand (quarantine + released) + expired + rejected

Intermediates are never stored: a step ``produces`` them into its batch and a later step of the
same batch ``consumes`` them.

Why one module of ~670 lines: it is one SimPy component, :class:`Inventory`, whose supply side
(deliveries, quarantine, expiry, reorders) and demand side (waits, requests, FEFO picks,
shipments, backorders) share the stock, the warehouse positions and the queues of waiting
requests; each change of stock serves the waiters at once. Split, each half would reach into
the other's state.
"""

from __future__ import annotations

import math
from collections import defaultdict, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import simpy

from twin.eventlog import kind_code
from twin.flow_spec import Material, Reorder, warehouse_of

if TYPE_CHECKING:
    from twin.plant import Plant
    from twin.state import PlantState

__all__ = ["Lot", "Warehouse", "Inventory", "Pick"]

K_RECEIPT = kind_code("lot_receipt")
K_STATUS = kind_code("lot_status")
K_PICK = kind_code("material_pick")
K_REORDER = kind_code("reorder")
K_SHIPMENT = kind_code("shipment")
K_STOCKOUT = kind_code("stockout")
K_LEVEL = kind_code("wh_level")
K_FULL = kind_code("wh_full")
K_STARVE_START = kind_code("starve_start")
K_STARVE_END = kind_code("starve_end")

_EPS = 1e-9


def _number(ident: str) -> int:
    """The number at the end of a lot or purchase-order id ("L00042" -> 42), or 0."""
    digits = ""
    for ch in reversed(ident):
        if not ch.isdigit():
            break
        digits = ch + digits
    return int(digits) if digits else 0


@dataclass(eq=False, slots=True)
class Lot:
    id: str
    material: str
    quantity: float
    expiry: float
    status: str  # quarantine | released | rejected | expired
    warehouse: str
    storage: str
    pallet: float
    positions: int = 0
    seq: int = 0
    sampling: float = 0.0  # quarantine hours until the QC decision
    reject: bool = False  # the decision, drawn when the lot was ordered


@dataclass(frozen=True, slots=True)
class Pick:
    """Quantity taken from one lot (for the batch record and transport)."""

    lot: str
    material: str
    warehouse: str
    quantity: float


class Warehouse:
    """Pallet positions per storage class; lots wait at the dock while there is no room."""

    def __init__(
        self, name: str, capacity: dict[str, int], gate: str | None, unload: str | None = None
    ) -> None:
        self.name = name
        self.capacity = dict(capacity)
        self.gate = gate
        self.unload = unload  # layout node where supplier trucks are unloaded
        self.used: dict[str, int] = defaultdict(int)
        self.dock: deque[Lot] = deque()


@dataclass(eq=False)
class _Need:
    batch: int
    step: int
    unit: int
    needs: dict[str, float]
    event: simpy.Event
    since: float
    short: list[str] = field(default_factory=list)


@dataclass(eq=False)
class _Backorder:
    order: int
    material: str
    quantity: float


class Inventory:
    """All warehouses and stock of a plant (built only when the scenario has materials)."""

    def __init__(self, plant: Plant) -> None:
        self.plant = plant
        self.env = plant.env
        self.log = log = plant.log
        sc = plant.scenario
        self.materials: dict[str, Material] = dict(sc.materials)
        self.warehouses = {
            n: Warehouse(n, dict(w.capacity), w.gate, w.dock) for n, w in sc.warehouses.items()
        }
        self.home: dict[str, str] = {}
        for m, spec in self.materials.items():
            if spec.kind != "intermediate":
                self.home[m] = warehouse_of(sc, m)  # type: ignore[assignment]
        self.released: dict[str, list[Lot]] = defaultdict(list)  # FEFO order
        self.quarantine: dict[str, float] = defaultdict(float)
        self.on_order: dict[str, float] = defaultdict(float)
        self.waiters: list[_Need] = []
        self.watchers: list[_Need] = []
        self._serving = False
        self._again = False
        self.backorders: deque[_Backorder] = deque()
        self._lot_seq = 0
        self._po_seq = 0
        self._mcodes = {m: log.code(m) for m in self.materials}
        self._wcodes = {w: log.code(w) for w in self.warehouses}
        self._status = {s: log.code(s) for s in ("quarantine", "released", "rejected", "expired")}
        for w in self.warehouses.values():
            for cls in sorted(w.capacity):
                log.emit(K_LEVEL, unit=self._wcodes[w.name], state=log.code(cls), value=0.0)

    def start(self) -> None:
        """An empty plant: the initial stock arrives, suppliers start."""
        for m, spec in self.materials.items():
            if spec.initial > 0:
                self._arrive(m, spec.initial, spec.shelf_life, quarantined=False)
        self._start_supply()

    def _start_supply(self) -> None:
        now = self.env.now
        for m, spec in self.materials.items():
            sup = spec.supply
            if sup is None:
                continue
            rule = sup.reorder
            if rule.policy == "schedule":
                every = rule.every or 0.0
                k = 0 if now <= rule.first or every <= 0 else math.ceil((now - rule.first) / every)
                self.env.process(self._schedule(m, rule, rule.first + k * every))
            elif rule.review > 0:
                self.env.process(self._review(m, rule, math.ceil(now / rule.review) * rule.review))
            else:
                self._check_reorder(m)

    def restore(self, st: PlantState) -> None:
        """The stock, open supplier orders and backorders of a plant state (a warm start):
        quarantine sampling and supplier lead times still running finish in a remaining time
        drawn from their distributions conditioned on the time already spent."""
        now = self.env.now
        rng = self.plant.rng("resume", "inventory")
        lots = sorted(st.lots, key=lambda x: (x.since, x.id))
        for k, ls in enumerate(lots, start=1):
            spec = self.materials.get(ls.material)
            if spec is None or ls.warehouse not in self.warehouses:
                continue
            reject, sampling = False, 0.0
            if ls.status == "quarantine" and spec.supply is not None:
                sampling = spec.supply.sampling.remaining(rng, now - ls.since)
                reject = bool(rng.random() < spec.supply.reject_probability)
            lot = Lot(
                ls.id,
                ls.material,
                ls.quantity,
                math.inf if ls.expiry is None else ls.expiry,
                ls.status,
                ls.warehouse,
                spec.storage,
                spec.pallet,
                seq=k,
                sampling=sampling,
                reject=reject,
            )
            wh = self.warehouses[lot.warehouse]
            if ls.place == "dock":
                wh.dock.append(lot)
                continue
            self._set_positions(lot, math.ceil(lot.quantity / lot.pallet - _EPS))
            if lot.expiry < math.inf:
                self.env.process(self._expire(lot))
            if lot.status == "released":
                self.released[lot.material].append(lot)
            else:
                self.quarantine[lot.material] += lot.quantity
                self.env.process(self._sample(lot, sampling, reject))
        for stock in self.released.values():
            stock.sort(key=lambda x: (x.expiry, x.seq))
        self._lot_seq = max([len(lots)] + [_number(ls.id) for ls in lots])
        for po in st.purchase_orders:
            sup = self.materials[po.material].supply if po.material in self.materials else None
            if sup is None:
                continue
            r = self.plant.rng("supply", po.material, po.id, "resume")
            lead = sup.lead_time.remaining(r, now - po.ordered)
            self.on_order[po.material] += po.quantity
            self.env.process(
                self._deliver(
                    po.material,
                    po.quantity,
                    lead,
                    sup.sampling.sample(r),
                    bool(r.random() < sup.reject_probability),
                )
            )
        self._po_seq = max([0] + [_number(po.id) for po in st.purchase_orders])
        for bo in st.backorders:
            if bo.material in self.materials:
                self.backorders.append(
                    _Backorder(self.log.code(bo.order), bo.material, bo.quantity)
                )
        self._start_supply()
        self._stock_changed()

    # ------------------------------------------------------------------ levels
    def available(self, material: str) -> float:
        return sum(lot.quantity for lot in self.released[material])

    def on_hand(self, material: str) -> float:
        """Released plus quarantine stock in the warehouse (not lots waiting at the dock)."""
        return self.available(material) + self.quarantine[material]

    def _position(self, material: str) -> float:
        wh = self.warehouses[self.home[material]]
        at_dock = sum(lot.quantity for lot in wh.dock if lot.material == material)
        return self.on_hand(material) + self.on_order[material] + at_dock

    def _set_positions(self, lot: Lot, positions: int) -> None:
        if positions == lot.positions:
            return
        wh = self.warehouses[lot.warehouse]
        wh.used[lot.storage] += positions - lot.positions
        lot.positions = positions
        self.log.emit(
            K_LEVEL,
            unit=self._wcodes[wh.name],
            state=self.log.code(lot.storage),
            value=float(wh.used[lot.storage]),
        )

    def _refit(self, lot: Lot) -> None:
        """Positions follow the quantity left; freed room lets docked lots in."""
        need = math.ceil(lot.quantity / lot.pallet - _EPS) if lot.quantity > _EPS else 0
        if need != lot.positions:
            freed = need < lot.positions
            self._set_positions(lot, need)
            if freed:
                self._admit(self.warehouses[lot.warehouse])

    # ------------------------------------------------------------------ receipts
    def _arrive(
        self,
        material: str,
        quantity: float,
        life: float | None,
        quarantined: bool,
        sampling: float = 0.0,
        reject: bool = False,
    ) -> None:
        """A lot reaches the dock of its warehouse."""
        spec = self.materials[material]
        self._lot_seq += 1
        lot = Lot(
            f"L{self._lot_seq:05d}",
            material,
            quantity,
            self.env.now + life if life is not None else math.inf,
            "quarantine" if quarantined else "released",
            self.home[material],
            spec.storage,
            spec.pallet,
            seq=self._lot_seq,
            sampling=sampling,
            reject=reject,
        )
        wh = self.warehouses[lot.warehouse]
        wh.dock.append(lot)
        if not self._admit(wh, lot):
            self.log.emit(
                K_FULL,
                unit=self._wcodes[wh.name],
                product=self._mcodes[material],
                detail=self.log.code(lot.id),
                value=float(math.ceil(quantity / lot.pallet - _EPS)),
            )

    def _admit(self, wh: Warehouse, probe: Lot | None = None) -> bool:
        """Put docked lots away, in arrival order, each as soon as there is room for it (a big
        lot does not hold up smaller ones behind it); True if ``probe`` went in."""
        admitted = False
        for lot in list(wh.dock):
            need = math.ceil(lot.quantity / lot.pallet - _EPS)
            if wh.used[lot.storage] + need > wh.capacity.get(lot.storage, 0):
                continue
            wh.dock.remove(lot)
            admitted |= lot is probe
            self._put_away(lot, need)
        return admitted

    def _put_away(self, lot: Lot, positions: int) -> None:
        log = self.log
        self._set_positions(lot, positions)
        log.emit(
            K_RECEIPT,
            unit=self._wcodes[lot.warehouse],
            product=self._mcodes[lot.material],
            detail=log.code(lot.id),
            state=self._status[lot.status],
            value=lot.quantity,
        )
        if lot.expiry < math.inf:
            self.env.process(self._expire(lot))
        if lot.status == "released":
            self._add_released(lot)
        else:
            self.quarantine[lot.material] += lot.quantity
            self.env.process(self._sample(lot, lot.sampling, lot.reject))

    def _add_released(self, lot: Lot) -> None:
        stock = self.released[lot.material]
        stock.append(lot)
        stock.sort(key=lambda x: (x.expiry, x.seq))
        self._stock_changed()

    def _stock_changed(self) -> None:
        """Serve waiting batches, then backorders; re-entrant calls (a pick frees room, a
        docked lot comes in) are folded into the running loop."""
        if self._serving:
            self._again = True
            return
        self._serving = True
        try:
            self._again = True
            while self._again:
                self._again = False
                self._serve_waiters()
                if self.watchers:
                    self._serve_watchers()
                if self.backorders:
                    self._serve_backorders()
        finally:
            self._serving = False

    def _sample(self, lot: Lot, hours: float, reject: bool):
        if hours > 0:
            yield self.env.timeout(hours)
        if lot.status != "quarantine":  # expired while in quarantine
            return
        self.quarantine[lot.material] -= lot.quantity
        lot.status = "rejected" if reject else "released"
        self.log.emit(
            K_STATUS,
            unit=self._wcodes[lot.warehouse],
            product=self._mcodes[lot.material],
            detail=self.log.code(lot.id),
            state=self._status[lot.status],
            value=lot.quantity,
        )
        if reject:
            lot.quantity = 0.0
            self._refit(lot)
            self._check_reorder(lot.material)
        else:
            self._add_released(lot)

    def _expire(self, lot: Lot):
        yield self.env.timeout(max(0.0, lot.expiry - self.env.now))
        if lot.quantity <= _EPS or lot.status not in ("released", "quarantine"):
            return
        if lot.status == "released":
            self.released[lot.material].remove(lot)
        else:
            self.quarantine[lot.material] -= lot.quantity
        lot.status = "expired"
        self.log.emit(
            K_STATUS,
            unit=self._wcodes[lot.warehouse],
            product=self._mcodes[lot.material],
            detail=self.log.code(lot.id),
            state=self._status["expired"],
            value=lot.quantity,
        )
        lot.quantity = 0.0
        self._refit(lot)
        self._check_reorder(lot.material)

    # ------------------------------------------------------------------ supply
    def _order(self, material: str, quantity: float, policy: str) -> None:
        sup = self.materials[material].supply
        assert sup is not None
        self._po_seq += 1
        po = f"PO{self._po_seq:05d}"
        rng = self.plant.rng("supply", material, po)
        lead = sup.lead_time.sample(rng)
        sampling = sup.sampling.sample(rng)
        reject = bool(rng.random() < sup.reject_probability)
        self.on_order[material] += quantity
        self.log.emit(
            K_REORDER,
            product=self._mcodes[material],
            state=self.log.code(policy),
            detail=self.log.code(po),
            value=quantity,
        )
        self.env.process(self._deliver(material, quantity, lead, sampling, reject))

    def _deliver(self, material: str, quantity: float, lead: float, sampling: float, reject: bool):
        yield self.env.timeout(lead)
        wh = self.warehouses[self.home[material]]
        fleet = self.plant.fleet
        if fleet is not None and wh.unload is not None and wh.gate is not None:
            pallets = math.ceil(quantity / self.materials[material].pallet - _EPS)
            yield fleet.request(wh.unload, wh.gate, pallets, self.env.now, kind="receipt")
        self.on_order[material] -= quantity
        self._arrive(
            material, quantity, self.materials[material].shelf_life, True, sampling, reject
        )

    def _check_reorder(self, material: str) -> None:
        sup = self.materials[material].supply
        if sup is None or sup.reorder.policy != "sS" or sup.reorder.review > 0:
            return
        pos = self._position(material)
        if pos <= sup.reorder.s + _EPS:
            self._order(material, sup.reorder.S - pos, "sS")

    def _review(self, material: str, rule: Reorder, first: float):
        if first > self.env.now:
            yield self.env.timeout(first - self.env.now)
        while True:
            pos = self._position(material)
            if pos <= rule.s + _EPS:
                self._order(material, rule.S - pos, "sS")
            yield self.env.timeout(rule.review)

    def _schedule(self, material: str, rule: Reorder, first: float):
        if first > self.env.now:
            yield self.env.timeout(first - self.env.now)
        while True:
            self._order(material, rule.quantity, "schedule")
            yield self.env.timeout(rule.every)

    # ------------------------------------------------------------------ consumption
    def wait_for(self, batch: int, step: int, needs: dict[str, float]) -> simpy.Event:
        """An event that fires once ``needs`` are all in released stock (nothing is taken:
        a batch checks before it queues for a unit). Starvation is logged while it waits."""
        ev = self.env.event()
        short = [m for m, q in needs.items() if self.available(m) < q - _EPS]
        if not short:
            ev.succeed()
            return ev
        for m in short:
            self.log.emit(
                K_STARVE_START,
                batch=batch,
                step=step,
                product=self._mcodes[m],
                value=needs[m] - self.available(m),
            )
        self.watchers.append(_Need(batch, step, -1, needs, ev, self.env.now, short))
        return ev

    def cancel_wait(self, event: simpy.Event) -> None:
        """Withdraw a ``wait_for`` (the batch was scrapped); its starvation ends now."""
        for need in self.watchers:
            if need.event is event:
                self.watchers.remove(need)
                for m in need.short:
                    self.log.emit(
                        K_STARVE_END,
                        batch=need.batch,
                        step=need.step,
                        product=self._mcodes[m],
                        value=self.env.now - need.since,
                    )
                return

    def _serve_watchers(self) -> None:
        keep = []
        for need in self.watchers:
            if self._fits(need.needs, {}):
                for m in need.short:
                    self.log.emit(
                        K_STARVE_END,
                        batch=need.batch,
                        step=need.step,
                        product=self._mcodes[m],
                        value=self.env.now - need.since,
                    )
                need.event.succeed()
            else:
                keep.append(need)
        self.watchers = keep

    def request(self, batch: int, step: int, unit: int, needs: dict[str, float]) -> simpy.Event:
        """Take ``needs`` (material -> quantity) for a step, all at once; the event's value is
        the list of picks. Starvation is logged per material while the batch waits."""
        ev = self.env.event()
        need = _Need(batch, step, unit, needs, ev, self.env.now)
        if not self.waiters and not self._serving and self._fits(needs, {}):
            ev.succeed(self._take(need))
            return ev
        log = self.log
        claimed: dict[str, float] = defaultdict(float)
        for w in self.waiters:
            for m, q in w.needs.items():
                claimed[m] += q
        for m, q in needs.items():
            short = q - (self.available(m) - claimed[m])
            if short > _EPS:
                need.short.append(m)
                log.emit(
                    K_STARVE_START,
                    batch=batch,
                    step=step,
                    unit=unit,
                    product=self._mcodes[m],
                    value=min(short, q),
                )
        self.waiters.append(need)
        self._stock_changed()
        return ev

    def can_take(self, needs: dict[str, float]) -> bool:
        """Whether ``request(needs)`` would be served at once."""
        return not self.waiters and not self._serving and self._fits(needs, {})

    def _fits(self, needs: dict[str, float], claimed: dict[str, float]) -> bool:
        return all(self.available(m) - claimed.get(m, 0.0) >= q - _EPS for m, q in needs.items())

    def _serve_waiters(self) -> None:
        if not self.waiters:
            return
        claimed: dict[str, float] = defaultdict(float)
        keep = []
        for need in self.waiters:
            if self._fits(need.needs, claimed):
                picks = self._take(need)
                now = self.env.now
                for m in need.short:
                    self.log.emit(
                        K_STARVE_END,
                        batch=need.batch,
                        step=need.step,
                        unit=need.unit,
                        product=self._mcodes[m],
                        value=now - need.since,
                    )
                need.event.succeed(picks)
            else:
                for m, q in need.needs.items():
                    claimed[m] += q
                keep.append(need)
        self.waiters = keep

    def _take(self, need: _Need) -> list[Pick]:
        picks: list[Pick] = []
        for m, q in need.needs.items():
            picks.extend(self._pick(m, q, K_PICK, batch=need.batch, step=need.step))
        return picks

    def _pick(
        self,
        material: str,
        quantity: float,
        kind: int,
        batch: int = -1,
        step: int = -1,
        order: int = -1,
    ) -> list[Pick]:
        """Take up to ``quantity`` FEFO from released stock, logging each lot touched."""
        log = self.log
        stock = self.released[material]
        left = quantity
        picks = []
        while left > _EPS and stock:
            lot = stock[0]
            q = min(lot.quantity, left)
            lot.quantity -= q
            left -= q
            if lot.quantity <= _EPS:
                q += lot.quantity
                lot.quantity = 0.0
                stock.pop(0)
            log.emit(
                kind,
                batch=batch,
                step=step,
                order=order,
                unit=self._wcodes[lot.warehouse],
                product=self._mcodes[material],
                detail=log.code(lot.id),
                value=q,
            )
            picks.append(Pick(lot.id, material, lot.warehouse, q))
            self._refit(lot)
        self._check_reorder(material)
        return picks

    # ------------------------------------------------------------------ finished goods
    def receive_finished(self, material: str, quantity: float) -> None:
        """A QC-released batch enters the finished-goods store."""
        self._arrive(material, quantity, self.materials[material].shelf_life, quarantined=False)

    def ship(self, order: str, material: str, quantity: float) -> None:
        """Ship an order at its due date; what is missing is a stockout, backordered."""
        oc = self.log.code(order)
        got = sum(p.quantity for p in self._pick(material, quantity, K_SHIPMENT, order=oc))
        short = quantity - got
        if short > _EPS:
            self.log.emit(K_STOCKOUT, order=oc, product=self._mcodes[material], value=short)
            self.backorders.append(_Backorder(oc, material, short))

    def _serve_backorders(self) -> None:
        keep: deque[_Backorder] = deque()
        while self.backorders:
            bo = self.backorders.popleft()
            if self.available(bo.material) > _EPS:
                got = sum(
                    p.quantity
                    for p in self._pick(bo.material, bo.quantity, K_SHIPMENT, order=bo.order)
                )
                bo.quantity -= got
            if bo.quantity > _EPS:
                keep.append(bo)
        self.backorders = keep

    def shipments(self, orders: Iterable[tuple[float, str, str, float]]):
        """Process: ship (due, order, material, quantity) at each due date."""
        for due, order, material, qty in sorted(orders):
            if due > self.env.now:
                yield self.env.timeout(due - self.env.now)
            self.ship(order, material, qty)
