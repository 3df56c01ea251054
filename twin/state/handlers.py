"""One handler per event kind: how each event of the log moves the fold's state, the way the
twin's processes moved the plant when they emitted it (``HANDLERS``: kind -> handler)."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import TYPE_CHECKING

from twin.rules import DIRTY, CleanState, cleaned
from twin.state.model import (
    LotState,
    OrderState,
    PurchaseOrderState,
    VehicleState,
)
from twin.state.records import BatchRecord, Event

if TYPE_CHECKING:
    from twin.state.fold import StateBuilder


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
    sb.batches[e.batch] = BatchRecord(e.batch, o.id, sb.made[o.id], o.product, size, e.t, since=e.t)
    sb.next_batch_id = max(sb.next_batch_id, e.batch + 1)


def _state(sb: StateBuilder, e: Event) -> None:
    u = sb.unit_of(e)
    if u is None or e.state is None:
        return
    if e.state != "processing":
        sb.end_spell(u, e.t)
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
    u = sb.unit_of(e)
    if u is None:
        return
    u.activity, u.activity_kind, u.activity_since = "clean", e.state, e.t
    u.activity_hours = e.value if math.isfinite(e.value) else None


def _clean_end(sb: StateBuilder, e: Event) -> None:
    u = sb.unit_of(e)
    if u is None:
        return
    kind = e.state or u.activity_kind or "minor"
    u.clean = cleaned(u.clean, kind, e.t)
    if u.activity == "clean":
        u.activity, u.activity_kind, u.activity_hours = None, None, None


def _setup(sb: StateBuilder, e: Event) -> None:
    u, b = sb.unit_of(e), sb.batch_of(e)
    if u is None or b is None:
        return
    u.activity, u.activity_kind, u.activity_since = "setup", None, e.t
    u.activity_hours = e.value if math.isfinite(e.value) else None
    b.phase, b.since, b.unit, b.step = "setup", e.t, u.name, max(e.step, 0)
    b.setup_hours = u.activity_hours


def _step_start(sb: StateBuilder, e: Event) -> None:
    u, b = sb.unit_of(e), sb.batch_of(e)
    if u is None or b is None:
        return
    u.activity, u.activity_kind, u.activity_since, u.activity_hours = "processing", None, e.t, None
    u.holder = b.id
    if u.spell is None:
        u.spell = e.t
    b.phase, b.since, b.unit, b.step = "processing", e.t, u.name, max(e.step, 0)
    b.processed_h, b.hold_deadline, b.hold_flagged, b.setup_hours = 0.0, None, False, None


def _step_end(sb: StateBuilder, e: Event) -> None:
    u, b = sb.unit_of(e), sb.batch_of(e)
    if u is None or b is None:
        return
    sb.end_spell(u, e.t)
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
    u = sb.unit_of(e)
    if u is not None:
        sb.end_spell(u, e.t)


def _repair_start(sb: StateBuilder, e: Event) -> None:
    u = sb.unit_of(e)
    if u is not None:
        u.activity, u.activity_kind, u.activity_since = "repair", None, e.t
        u.activity_hours = e.value if math.isfinite(e.value) else None


def _repair_end(sb: StateBuilder, e: Event) -> None:
    u = sb.unit_of(e)
    if u is None:
        return
    u.operating_h = 0.0  # a repaired unit's failure clock starts again
    if u.activity == "repair":
        u.activity, u.activity_hours = None, None
    if u.holder >= 0 and sb.batches.get(u.holder) is not None:
        u.activity = "processing"  # back to the batch in hand


def _maintenance_start(sb: StateBuilder, e: Event) -> None:
    u = sb.unit_of(e)
    if u is not None:
        u.activity, u.activity_kind, u.activity_since = "maintenance", None, e.t
        u.activity_hours = e.value if math.isfinite(e.value) else None


def _maintenance_end(sb: StateBuilder, e: Event) -> None:
    u = sb.unit_of(e)
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
    b = sb.batch_of(e)
    if b is not None:
        b.phase, b.since, b.quarantine_since, b.unit = "quarantine", e.t, e.t, None


def _qc_start(sb: StateBuilder, e: Event) -> None:
    b = sb.batch_of(e)
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


HANDLERS = {
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
