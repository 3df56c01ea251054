"""The plant state as a fold over its event log: ``StateBuilder(scenario).apply(events)``.

The events are the twin's own log, or an observed plant's log read into the same schema
(``twin.logs.read_log``: OCEL 2.0, MES CSV/Parquet). Each event moves the state the way the
twin's processes moved the plant when they emitted it, so the state after the events up to
``t`` is the plant at ``t``: a snapshot of a run, the state of an observed log, and the live
twin following a feed are one and the same computation. ``apply_event`` takes one event at a
time (the live twin); ``state(at)`` reads the result as a :class:`~twin.state.PlantState`.

Events the fold cannot place (a step start for a batch it never saw released, a repair end of
a unit that was not down) are counted in ``anomalies`` with their reason, not raised: an
observed plant is allowed to surprise the model, and the live twin reports them as
divergences.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

import pyarrow as pa

from twin.rules import DIRTY, CleanState, cleaned
from twin.scenario import Scenario
from twin.state.model import (
    BackorderState,
    BatchState,
    LotState,
    OrderState,
    PlantState,
    PurchaseOrderState,
    UnitState,
    VehicleState,
)

__all__ = ["StateBuilder", "state_from_events", "Event"]


@dataclass(slots=True)
class Event:
    """One event of the log schema (``twin.eventlog``), names resolved."""

    t: float
    kind: str
    unit: str | None = None
    batch: int = -1
    order: str | None = None
    product: str | None = None
    step: int = -1
    state: str | None = None
    value: float = math.nan
    detail: str | None = None


@dataclass
class _Unit:
    name: str
    cls: str
    state: str = "idle"
    since: float = 0.0
    holder: int = -1
    activity: str | None = None
    activity_kind: str | None = None
    activity_since: float = 0.0
    activity_hours: float | None = None
    clean: CleanState = field(default_factory=CleanState)
    operating_h: float = 0.0
    spell: float | None = None  # start of the current processing spell
    batches_since_maintenance: int = 0
    last_maintenance: float | None = None


@dataclass
class _Batch:
    id: int
    order: str
    index: int
    product: str
    size: float
    released: float
    step: int = 0
    phase: str = "queued"
    since: float = 0.0
    unit: str | None = None
    processed_h: float = 0.0
    setup_hours: float | None = None
    hold_deadline: float | None = None
    hold_flagged: bool = False
    quarantine_since: float | None = None
    qc_hands_on: float | None = None


class StateBuilder:
    """Folds events into the plant state of ``scenario`` (see the module docstring)."""

    def __init__(self, scenario: Scenario, source: str = "") -> None:
        self.scenario = scenario
        self.source = source
        self.time = 0.0
        self.units: dict[str, _Unit] = {}
        cls_of = {}
        for name, uid in scenario.unit_names():
            cls = scenario.units[uid].equipment_class
            cls_of[name] = cls
            self.units[name] = _Unit(name, cls)
        self.batches: dict[int, _Batch] = {}
        self.orders: dict[str, OrderState] = {}
        self.made: Counter[str] = Counter()
        self.next_batch_id = 0
        self.lots: dict[str, LotState] = {}
        self.purchase_orders: dict[str, PurchaseOrderState] = {}
        self.backorders: dict[tuple[str, str], float] = {}
        self.vehicles: dict[str, VehicleState] = {}
        self.anomalies: Counter[str] = Counter()
        self.events = 0

    @classmethod
    def from_state(cls, scenario: Scenario, state: PlantState) -> StateBuilder:
        """A builder that continues from a saved state (the live twin restarting): events
        after ``state.time`` are applied on top of it."""
        sb = cls(scenario, state.source)
        sb.time = state.time
        ids = {b.key: b.id for b in state.batches.values()}
        for name, us in state.units.items():
            u = sb.units.get(name)
            if u is None:
                sb.anomalies["state of an unknown unit"] += 1
                continue
            u.state, u.since, u.holder = us.state, us.since, ids.get(us.holder or "", -1)
            u.activity, u.activity_kind = us.activity, us.activity_kind
            u.activity_since, u.activity_hours = us.activity_since, us.activity_hours
            u.clean, u.operating_h = us.clean, us.operating_h
            u.batches_since_maintenance = us.batches_since_maintenance
            u.last_maintenance = us.last_maintenance
            if us.state == "processing":  # the open spell counts on from the state's time
                u.spell = state.time
        for bs in state.batches.values():
            sb.batches[bs.id] = _Batch(
                bs.id,
                bs.order,
                bs.index,
                bs.product,
                bs.size,
                bs.released,
                bs.step,
                bs.phase,
                bs.since,
                bs.unit,
                bs.processed_h,
                bs.setup_hours,
                bs.hold_deadline,
                bs.hold_flagged,
                bs.quarantine_since,
                bs.qc_hands_on,
            )
        sb.orders = dict(state.orders)
        sb.made.update({o.id: o.made for o in state.orders.values()})
        sb.next_batch_id = state.next_batch_id
        sb.lots = {lot.id: lot for lot in state.lots}
        sb.purchase_orders = {po.id: po for po in state.purchase_orders}
        sb.backorders = {(bo.order, bo.material): bo.quantity for bo in state.backorders}
        sb.vehicles = dict(state.vehicles)
        return sb

    # ------------------------------------------------------------------ input
    def apply_table(self, table: pa.Table, until: float | None = None) -> StateBuilder:
        """Apply the events of an event-log table in order (those at or before ``until``)."""
        cols = {c: table.column(c).to_pylist() for c in table.column_names}
        n = table.num_rows
        t = cols["t"]
        for i in range(n):
            if until is not None and t[i] > until + 1e-9:
                break
            self.apply_event(
                Event(
                    t[i],
                    cols["kind"][i],
                    cols["unit"][i],
                    cols["batch"][i] if cols["batch"][i] is not None else -1,
                    cols["order"][i],
                    cols["product"][i],
                    cols["step"][i] if cols["step"][i] is not None else -1,
                    cols["state"][i],
                    cols["value"][i] if cols["value"][i] is not None else math.nan,
                    cols["detail"][i],
                )
            )
        if until is not None:
            self.time = max(self.time, until)
        return self

    def apply_event(self, e: Event) -> None:
        """Apply one event (events must come in time order)."""
        if e.t < self.time - 1e-9:
            self.anomalies["event out of time order"] += 1
            return
        self.time = e.t
        self.events += 1
        handler = _HANDLERS.get(e.kind)
        if handler is not None:
            handler(self, e)

    # ------------------------------------------------------------------ helpers
    def _unit(self, e: Event) -> _Unit | None:
        u = self.units.get(e.unit or "")
        if u is None:
            self.anomalies[f"{e.kind} of an unknown unit"] += 1
        return u

    def _batch(self, e: Event, bid: int | None = None) -> _Batch | None:
        b = self.batches.get(e.batch if bid is None else bid)
        if b is None:
            self.anomalies[f"{e.kind} of a batch never released"] += 1
        return b

    def _end_spell(self, u: _Unit, t: float) -> None:
        if u.spell is not None:
            hours = max(0.0, t - u.spell)
            u.operating_h += hours
            b = self.batches.get(u.holder)
            if b is not None and b.phase in ("processing", "down"):
                b.processed_h += hours
            u.spell = None

    # ------------------------------------------------------------------ output
    def state(self, at: float | None = None) -> PlantState:
        """The plant at ``at`` (default: the last event applied); processing spells and
        activities still open are counted up to that instant."""
        time = self.time if at is None else max(at, self.time)
        sc = self.scenario
        keys = {bid: f"{b.order}/{b.index}" for bid, b in self.batches.items()}
        units = {}
        busy: Counter[str] = Counter()
        for name, u in self.units.items():
            spell = 0.0 if u.spell is None else max(0.0, time - u.spell)
            ec = sc.equipment_classes[u.cls]
            due = self._maintenance_due(u, time, ec)
            units[name] = UnitState(
                name=name,
                state=u.state,
                since=u.since,
                holder=keys.get(u.holder),
                activity=u.activity,
                activity_kind=u.activity_kind,
                activity_since=u.activity_since,
                activity_hours=u.activity_hours,
                clean=u.clean,
                operating_h=u.operating_h + spell,
                batches_since_maintenance=u.batches_since_maintenance,
                maintenance_due=due,
                last_maintenance=u.last_maintenance,
            )
            busy.update(self._staff_of(u, ec))
        batches = {}
        for bid, b in self.batches.items():
            processed = b.processed_h
            u = self.units.get(b.unit or "")
            if u is not None and u.holder == bid and u.spell is not None:
                processed += max(0.0, time - u.spell)
            batches[keys[bid]] = BatchState(
                key=keys[bid],
                id=bid,
                order=b.order,
                index=b.index,
                product=b.product,
                size=b.size,
                released=b.released,
                step=b.step,
                phase=b.phase,
                since=b.since,
                unit=b.unit,
                processed_h=processed,
                setup_hours=b.setup_hours,
                hold_deadline=b.hold_deadline,
                hold_flagged=b.hold_flagged,
                quarantine_since=b.quarantine_since,
                qc_hands_on=b.qc_hands_on,
            )
            if b.phase == "qc":
                qc = sc.products[b.product].qc or sc.qc
                hands = b.qc_hands_on
                if (
                    qc is not None
                    and qc.qualification
                    and (hands is None or time < b.since + hands)
                ):
                    busy[qc.qualification] += 1
        return PlantState(
            time=time,
            start=sc.start,
            scenario=sc.name,
            units=units,
            batches=batches,
            orders=dict(self.orders),
            staff_busy=dict(busy),
            next_batch_id=self.next_batch_id,
            lots=tuple(lot for lot in self.lots.values() if lot.quantity > 1e-9),
            vehicles=dict(self.vehicles),
            purchase_orders=tuple(self.purchase_orders.values()),
            backorders=tuple(
                BackorderState(o, m, q) for (o, m), q in self.backorders.items() if q > 1e-9
            ),
            source=self.source,
        )

    def _maintenance_due(self, u: _Unit, time: float, ec: Any) -> bool:
        m = ec.maintenance
        if m is None or u.activity == "maintenance":
            return False
        if m.every_batches is not None and u.batches_since_maintenance >= m.every_batches:
            return True
        if m.every is not None:
            last = u.last_maintenance if u.last_maintenance is not None else 0.0
            due_at = (math.floor(last / m.every + 1e-9) + 1) * m.every  # first due after it
            return due_at <= time + 1e-9
        return False

    def _staff_of(self, u: _Unit, ec: Any) -> dict[str, int]:
        sc = self.scenario
        if u.activity in ("processing", "setup"):
            b = self.batches.get(u.holder)
            if b is not None:
                ops = sc.products[b.product].recipe[b.step].operators
                if ops is not None:
                    return {ops.qualification: ops.count}
        elif u.activity == "clean" and ec.cleaning.operators is not None:
            return {ec.cleaning.operators.qualification: ec.cleaning.operators.count}
        elif u.activity == "repair" and sc.repairs is not None:
            return {sc.repairs.qualification: 1}
        elif u.activity == "maintenance" and ec.maintenance and ec.maintenance.qualification:
            return {ec.maintenance.qualification: 1}
        return {}


# ---------------------------------------------------------------------- event handlers
def _order_release(sb: StateBuilder, e: Event) -> None:
    sc = sb.scenario
    prod = sc.products.get(e.product or "")
    if prod is None or e.order is None:
        sb.anomalies["order_release of an unknown product"] += 1
        return
    try:
        qty = float(e.detail) if e.detail is not None else prod.batch_size
    except ValueError:
        qty = prod.batch_size
    n = max(1, math.ceil(qty / prod.batch_size - 1e-9))
    sb.orders[e.order] = OrderState(
        e.order, e.product, qty, e.t, float(e.value), max(-9999, min(9999, e.step)), n
    )


def _batch_release(sb: StateBuilder, e: Event) -> None:
    o = sb.orders.get(e.order or "")
    if o is None:
        sb.anomalies["batch_release of an unknown order"] += 1
        return
    sb.made[o.id] += 1
    sb.orders[o.id] = replace(o, made=sb.made[o.id])
    size = e.value if math.isfinite(e.value) else sb.scenario.products[o.product].batch_size
    sb.batches[e.batch] = _Batch(e.batch, o.id, sb.made[o.id], o.product, size, e.t, since=e.t)
    sb.next_batch_id = max(sb.next_batch_id, e.batch + 1)


def _state(sb: StateBuilder, e: Event) -> None:
    u = sb._unit(e)
    if u is None or e.state is None:
        return
    if e.state != "processing":
        sb._end_spell(u, e.t)
    elif u.spell is None:
        u.spell = e.t
    prev_holder = u.holder
    u.state, u.since, u.holder = e.state, e.t, e.batch
    if prev_holder >= 0 and prev_holder != e.batch:
        # the batch that held the unit let it go (a unit handed straight on logs only the new
        # holder): a batch blocked on it moves on, one that had claimed it gave it back
        pb = sb.batches.get(prev_holder)
        if pb is not None and pb.unit == u.name and pb.phase in ("claimed", "blocked"):
            pb.phase, pb.unit = "queued", None
    b = sb.batches.get(e.batch) if e.batch >= 0 else None
    if b is not None:
        if e.state == "blocked":
            b.phase, b.since, b.unit = "blocked", e.t, u.name
        elif e.state == "down" and b.phase == "processing":
            b.phase = "down"
        elif e.state == "processing" and b.phase == "down":
            b.phase = "processing"
        elif b.phase in ("queued", "blocked") and b.unit != u.name:
            b.phase, b.since, b.unit = "claimed", e.t, u.name  # the batch took this unit
        elif b.phase == "queued":
            b.phase, b.since = "claimed", e.t


def _clean_start(sb: StateBuilder, e: Event) -> None:
    u = sb._unit(e)
    if u is None:
        return
    u.activity, u.activity_kind, u.activity_since = "clean", e.state, e.t
    u.activity_hours = e.value if math.isfinite(e.value) else None


def _clean_end(sb: StateBuilder, e: Event) -> None:
    u = sb._unit(e)
    if u is None:
        return
    kind = e.state or u.activity_kind or "minor"
    u.clean = cleaned(u.clean, kind, e.t)
    if u.activity == "clean":
        u.activity, u.activity_kind, u.activity_hours = None, None, None


def _setup(sb: StateBuilder, e: Event) -> None:
    u, b = sb._unit(e), sb._batch(e)
    if u is None or b is None:
        return
    u.activity, u.activity_kind, u.activity_since = "setup", None, e.t
    u.activity_hours = e.value if math.isfinite(e.value) else None
    b.phase, b.since, b.unit, b.step = "setup", e.t, u.name, max(e.step, 0)
    b.setup_hours = u.activity_hours


def _step_start(sb: StateBuilder, e: Event) -> None:
    u, b = sb._unit(e), sb._batch(e)
    if u is None or b is None:
        return
    u.activity, u.activity_kind, u.activity_since, u.activity_hours = "processing", None, e.t, None
    u.holder = b.id
    if u.spell is None:
        u.spell = e.t
    b.phase, b.since, b.unit, b.step = "processing", e.t, u.name, max(e.step, 0)
    b.processed_h, b.hold_deadline, b.hold_flagged, b.setup_hours = 0.0, None, False, None


def _step_end(sb: StateBuilder, e: Event) -> None:
    u, b = sb._unit(e), sb._batch(e)
    if u is None or b is None:
        return
    sb._end_spell(u, e.t)
    u.spell = None
    sc = sb.scenario
    ec = sc.equipment_classes[u.cls]
    cl = ec.cleaning
    needs = bool(cl.minor.mean or cl.major.mean or cl.matrix or (cl.campaign and cl.campaign.mean))
    st = u.clean
    u.clean = CleanState(
        DIRTY if needs else st.cleanliness, b.product, st.campaign_count + 1, st.clean_since, e.t
    )
    u.batches_since_maintenance += 1
    u.activity, u.activity_hours = None, None
    recipe = sc.products[b.product].recipe
    s = max(e.step, 0)
    b.step, b.processed_h, b.setup_hours = s + 1, 0.0, None
    b.phase, b.since = ("queued", e.t)
    b.hold_deadline = e.t + recipe[s].max_hold if s < len(recipe) and recipe[s].max_hold else None
    b.hold_flagged = False
    if s + 1 >= len(recipe):
        b.unit = u.name  # until the finished batch leaves (QC events follow)
    elif recipe[s].transfer == "store":
        b.unit = None


def _breakdown(sb: StateBuilder, e: Event) -> None:
    u = sb._unit(e)
    if u is not None:
        sb._end_spell(u, e.t)


def _repair_start(sb: StateBuilder, e: Event) -> None:
    u = sb._unit(e)
    if u is not None:
        u.activity, u.activity_kind, u.activity_since = "repair", None, e.t
        u.activity_hours = e.value if math.isfinite(e.value) else None


def _repair_end(sb: StateBuilder, e: Event) -> None:
    u = sb._unit(e)
    if u is None:
        return
    u.operating_h = 0.0  # a repaired unit's failure clock starts again
    if u.activity == "repair":
        u.activity, u.activity_hours = None, None
    if u.holder >= 0 and sb.batches.get(u.holder) is not None:
        u.activity = "processing"  # back to the batch in hand


def _maintenance_start(sb: StateBuilder, e: Event) -> None:
    u = sb._unit(e)
    if u is not None:
        u.activity, u.activity_kind, u.activity_since = "maintenance", None, e.t
        u.activity_hours = e.value if math.isfinite(e.value) else None


def _maintenance_end(sb: StateBuilder, e: Event) -> None:
    u = sb._unit(e)
    if u is not None:
        u.operating_h, u.batches_since_maintenance, u.last_maintenance = 0.0, 0, e.t
        u.activity, u.activity_hours = None, None


def _deviation(sb: StateBuilder, e: Event) -> None:
    if e.state == "hold_time":
        b = sb.batches.get(e.batch)
        if b is not None:
            b.hold_flagged = True


def _finished(sb: StateBuilder, e: Event) -> None:
    b = sb.batches.pop(e.batch, None)
    if b is None:
        if e.kind != "scrap":  # a scrap after a QC reject refers to a batch already gone
            sb.anomalies[f"{e.kind} of a batch not on the floor"] += 1
        return
    if e.kind == "qc_release":
        o = sb.orders.get(b.order)
        if o is not None:
            sb.orders[b.order] = replace(o, released=o.released + 1)


def _quarantine(sb: StateBuilder, e: Event) -> None:
    b = sb._batch(e)
    if b is not None:
        b.phase, b.since, b.quarantine_since, b.unit = "quarantine", e.t, e.t, None


def _qc_start(sb: StateBuilder, e: Event) -> None:
    b = sb._batch(e)
    if b is not None:
        b.phase, b.since = "qc", e.t
        b.qc_hands_on = e.value if math.isfinite(e.value) else None


def _order_complete(sb: StateBuilder, e: Event) -> None:
    o = sb.orders.get(e.order or "")
    if o is not None:
        sb.orders[o.id] = replace(o, completed=e.t)


def _lot_life(sb: StateBuilder, material: str, arrived: float) -> float | None:
    spec = sb.scenario.materials.get(material)
    life = spec.shelf_life if spec is not None else None
    return None if life is None else arrived + life


def _lot(sb: StateBuilder, e: Event) -> None:
    """lot_receipt (put away), lot_status (released, rejected, expired), wh_full (at the
    dock). A supplier lot arriving closes the oldest open purchase order of its material."""
    if e.detail is None or e.product is None:
        return
    lot = sb.lots.get(e.detail)
    if e.kind == "wh_full":  # waits at the dock: its quantity is its pallets' worth
        spec = sb.scenario.materials.get(e.product)
        qty = e.value * (spec.pallet if spec is not None else 1.0)
        sb.lots[e.detail] = LotState(
            e.detail,
            e.product,
            e.unit or "",
            qty,
            _lot_life(sb, e.product, e.t),
            "quarantine",
            "dock",
            e.t,
        )
        _delivered(sb, e.product, qty)
        return
    if e.kind == "lot_receipt":
        if lot is not None and lot.place == "dock":  # put away after waiting at the dock
            sb.lots[e.detail] = replace(
                lot, place="stock", quantity=e.value, status=e.state or lot.status
            )
            return
        status = e.state or "released"
        sb.lots[e.detail] = LotState(
            e.detail,
            e.product,
            e.unit or "",
            e.value,
            _lot_life(sb, e.product, e.t),
            status,
            "stock",
            e.t,
        )
        if status == "quarantine":
            _delivered(sb, e.product, e.value)
        return
    if lot is None:
        return
    if e.state in ("rejected", "expired"):
        del sb.lots[e.detail]
    else:
        sb.lots[e.detail] = replace(lot, status=e.state or lot.status)


def _delivered(sb: StateBuilder, material: str, quantity: float) -> None:
    for po_id, po in sb.purchase_orders.items():
        if po.material == material:
            del sb.purchase_orders[po_id]
            return


def _reorder(sb: StateBuilder, e: Event) -> None:
    if e.detail is not None and e.product is not None and math.isfinite(e.value):
        sb.purchase_orders[e.detail] = PurchaseOrderState(e.detail, e.product, e.value, e.t)


def _pick(sb: StateBuilder, e: Event) -> None:
    lot = sb.lots.get(e.detail or "")
    if lot is not None and math.isfinite(e.value):
        left = lot.quantity - e.value
        if left <= 1e-9:
            del sb.lots[lot.id]
        else:
            sb.lots[lot.id] = replace(lot, quantity=left)
    if e.kind == "shipment" and e.order is not None and e.product is not None:
        key = (e.order, e.product)
        if key in sb.backorders:
            left = sb.backorders[key] - e.value
            if left <= 1e-9:
                del sb.backorders[key]
            else:
                sb.backorders[key] = left


def _stockout(sb: StateBuilder, e: Event) -> None:
    if e.order is not None and e.product is not None and math.isfinite(e.value):
        key = (e.order, e.product)
        sb.backorders[key] = sb.backorders.get(key, 0.0) + e.value


def _agv(sb: StateBuilder, e: Event) -> None:
    if e.unit is None:
        return
    v = sb.vehicles.get(e.unit)
    if e.kind == "agv_added":
        sb.vehicles[e.unit] = VehicleState(e.unit, e.detail or "", e.value, "idle", e.t)
    elif v is not None and e.kind == "agv_state":
        sb.vehicles[e.unit] = replace(v, state=e.state or v.state, since=e.t, battery_kwh=e.value)
    elif v is not None and e.kind == "agv_move" and e.detail and ">" in e.detail:
        sb.vehicles[e.unit] = replace(v, node=e.detail.split(">", 1)[1])


_HANDLERS = {
    "order_release": _order_release,
    "batch_release": _batch_release,
    "state": _state,
    "clean_start": _clean_start,
    "clean_end": _clean_end,
    "setup": _setup,
    "step_start": _step_start,
    "step_end": _step_end,
    "breakdown": _breakdown,
    "repair_start": _repair_start,
    "repair_end": _repair_end,
    "maintenance_start": _maintenance_start,
    "maintenance_end": _maintenance_end,
    "deviation": _deviation,
    "scrap": _finished,
    "qc_release": _finished,
    "qc_reject": _finished,
    "quarantine": _quarantine,
    "qc_start": _qc_start,
    "order_complete": _order_complete,
    "lot_receipt": _lot,
    "lot_status": _lot,
    "wh_full": _lot,
    "reorder": _reorder,
    "material_pick": _pick,
    "shipment": _pick,
    "stockout": _stockout,
    "agv_added": _agv,
    "agv_state": _agv,
    "agv_move": _agv,
}


def state_from_events(
    scenario: Scenario, table: pa.Table, at: float | None = None, source: str = ""
) -> PlantState:
    """The plant state at ``at`` (default: the end of the log) from an event-log table."""
    return StateBuilder(scenario, source).apply_table(table, at).state(at)
