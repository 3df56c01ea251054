"""What every column of the event log means, kind by kind: the one table that the OCEL 2.0
export and import (``twin.ocel``), the MES reader (``twin.mes``) and the documentation use.

The event log (``twin.eventlog``) has ten fixed columns, and some of them mean different things
per kind: ``unit`` names a unit, a warehouse or a vehicle; ``product`` a product or a material;
``detail`` a lot, a transport request, a purchase order, a reason or a number. Here every kind
says, for each column it uses, either

- :class:`Obj`: the column names an object, of an OCEL object type, related to the event with a
  qualifier (``unit`` of a ``lot_receipt`` is the ``warehouse`` the lot went into), or
- :class:`Attr`: the column is an event attribute, with a name and an OCEL type (``value`` of a
  ``state`` event is ``power_kw``, a float),

and which object attributes the event changes (:class:`Change`: a ``state`` event sets the
unit's ``state`` and ``power_kw``; a ``material_pick`` lowers its lot's ``quantity``). When the
log gets its own columns for vehicles or materials, this file is the one to change.

A column a kind does not describe is empty in the twin's logs; a reader or writer that meets a
value there keeps it as a generic attribute named after the column (so nothing is lost), and
the tests check that the twin never needs that fallback.

Why one module of this length: most of it is the table itself (``_SPECS``, one entry per
kind), and the rest are the small readers of that table (names, nulls, column types, Arrow
tables, timestamps) that every log reader and writer needs together; a reader of the log schema
should find it in one place.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from twin.eventlog import KINDS

__all__ = [
    "decode_utf8",
    "Obj",
    "Attr",
    "Change",
    "KindSpec",
    "ObjectType",
    "SCHEMA",
    "OBJECT_TYPES",
    "O2O",
    "EVENT_ALIASES",
    "OBJECT_TYPE_ALIASES",
    "COLUMNS",
    "EVENT_SCHEMA",
    "LogError",
    "kind_of",
    "object_type_of",
    "make_table",
    "batch_ids",
    "markdown_table",
]

COLUMNS = ("t", "kind", "unit", "batch", "order", "product", "step", "state", "value", "detail")
"""The columns of the event log, in order."""
OBJECT_COLUMNS = ("unit", "batch", "order", "product", "step", "state", "value", "detail")
"""The columns a kind may use (``t`` and ``kind`` are every event's)."""
STRING_COLUMNS = ("unit", "order", "product", "state", "detail")
INT_COLUMNS = ("batch", "step")
OCEL_TYPES = ("string", "integer", "float", "boolean", "time")

EVENT_SCHEMA = pa.schema(
    [
        ("t", pa.float64()),
        ("kind", pa.dictionary(pa.int8(), pa.string())),
        ("unit", pa.dictionary(pa.int32(), pa.string())),
        ("batch", pa.int32()),
        ("order", pa.dictionary(pa.int32(), pa.string())),
        ("product", pa.dictionary(pa.int32(), pa.string())),
        ("step", pa.int16()),
        ("state", pa.dictionary(pa.int32(), pa.string())),
        ("value", pa.float64()),
        ("detail", pa.dictionary(pa.int32(), pa.string())),
    ]
)
"""The Arrow schema of an event log, as ``EventLog.to_table`` makes it and every reader gives."""

BATCH_IDS_KEY = b"pharmatwin.batch_ids"
"""Schema metadata key of a table whose batches had text ids (MES, OCEL from elsewhere): a JSON
object from the integer in the ``batch`` column to the original text id."""


class LogError(ValueError):
    """An event log that cannot be read or written as asked, phrased for the user: the file,
    where in it, the bad value and what was expected."""


def decode_utf8(path: Any, raw: bytes, expected: str) -> str:
    """``raw`` (the bytes of ``path``) as text; a LogError naming the line and byte that are
    not UTF-8 and what was ``expected`` (e.g. "a CSV file in UTF-8")."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise LogError(
            f"{path}: line {line}: not UTF-8 text (byte {exc.start}: "
            f"{raw[exc.start : exc.start + 1]!r}); expected {expected}"
        ) from None


# --------------------------------------------------------------------------- the table
@dataclass(frozen=True, slots=True)
class Obj:
    """The column names an object of OCEL type ``type``, related with ``qualifier``."""

    type: str
    qualifier: str
    required: bool = False


@dataclass(frozen=True, slots=True)
class Attr:
    """The column is the event attribute ``name`` of OCEL type ``type`` (``unit`` is the
    physical unit, for the documentation)."""

    name: str
    type: str
    required: bool = False
    unit: str = ""


@dataclass(frozen=True, slots=True)
class Change:
    """The event sets attribute ``attribute`` of the object its column ``column`` names.

    ``source`` is a column (its value, converted to the attribute's type: hours become a time
    for ``time`` attributes), ``=text`` a constant, or ``-column`` the attribute less the
    column's value (a pick lowers a lot's quantity). With ``when`` the change applies only
    when the ``state`` column is one of those values.
    """

    column: str
    attribute: str
    source: str
    when: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class KindSpec:
    kind: str
    doc: str
    columns: Mapping[str, Obj | Attr]
    changes: tuple[Change, ...] = ()

    def objects(self) -> dict[str, Obj]:
        return {c: s for c, s in self.columns.items() if isinstance(s, Obj)}

    def attributes(self) -> dict[str, Attr]:
        return {c: s for c, s in self.columns.items() if isinstance(s, Attr)}


@dataclass(frozen=True, slots=True)
class ObjectType:
    """An OCEL object type: its attributes (name -> OCEL type) and which of them are static
    (written once, at the OCEL epoch 1970-01-01, rather than at the time they were set)."""

    doc: str
    attributes: Mapping[str, str] = field(default_factory=dict)
    static: frozenset[str] = frozenset()


OBJECT_TYPES: dict[str, ObjectType] = {
    "unit": ObjectType(
        "a piece of equipment (gran_1, press_1#2)",
        {"class": "string", "room": "string", "state": "string", "power_kw": "float"},
        frozenset({"class", "room"}),
    ),
    "equipment_class": ObjectType("a class of interchangeable units (granulator)"),
    "batch": ObjectType(
        "one batch of a product, through its recipe and QC",
        {"status": "string", "step": "integer", "size": "float"},
        frozenset({"size"}),
    ),
    "order": ObjectType(
        "a customer or production order, split into batches",
        {"status": "string", "due": "time", "priority": "integer", "quantity": "float"},
        frozenset({"due", "priority", "quantity"}),
    ),
    "product": ObjectType("a product with a recipe"),
    "material": ObjectType("a raw material, intermediate or finished good"),
    "lot": ObjectType(
        "a lot of a material in a warehouse", {"status": "string", "quantity": "float"}
    ),
    "warehouse": ObjectType("a warehouse with pallet positions"),
    "purchase_order": ObjectType("a supplier order of a material"),
    "vehicle": ObjectType(
        "an AGV",
        {"home": "string", "state": "string", "battery_kwh": "float"},
        frozenset({"home"}),
    ),
    "transport": ObjectType(
        "one transport request (a trip of up to the vehicle's capacity)", {"status": "string"}
    ),
    "tank": ObjectType(
        "a process plant's tank of one material (named after the material)",
        {"storage": "string", "level": "float"},
        frozenset({"storage"}),
    ),
    "utility": ObjectType(
        "a shared utility of a process plant (CIP skid, WFI, steam)",
        {"capacity": "float", "in_use": "float"},
        frozenset({"capacity"}),
    ),
}

O2O: tuple[tuple[str, str, str], ...] = (
    ("batch", "order", "part of"),
    ("batch", "product", "makes"),
    ("order", "product", "orders"),
    ("unit", "equipment_class", "instance of"),
    ("lot", "material", "of material"),
    ("lot", "warehouse", "stored in"),
    ("purchase_order", "material", "orders"),
    ("transport", "batch", "moves"),
    ("tank", "material", "holds"),
)
"""Object-to-object relations (source type, target type, qualifier): derived from the events
that relate both objects (a ``batch_release`` relates the batch, its order and its product)."""

_UNIT = Obj("unit", "unit", required=True)
_UNIT_OPT = Obj("unit", "unit")
_BATCH = Obj("batch", "batch", required=True)
_BATCH_OPT = Obj("batch", "batch")
_ORDER = Obj("order", "order")
_ORDER_REQ = Obj("order", "order", required=True)
_PRODUCT = Obj("product", "product")
_MATERIAL = Obj("material", "material", required=True)
_WAREHOUSE = Obj("warehouse", "warehouse")
_LOT = Obj("lot", "lot")
_VEHICLE = Obj("vehicle", "vehicle", required=True)
_STEP = Attr("step", "integer")


def _h(name: str) -> Attr:
    return Attr(name, "float", unit="h")


def _status(column: str, value: str) -> Change:
    return Change(column, "status", "=" + value)


def _spec(kind: str, doc: str, changes: Sequence[Change] = (), **columns: Obj | Attr) -> KindSpec:
    return KindSpec(kind, doc, columns, tuple(changes))


_BATCH_EVENT = {"batch": _BATCH, "order": _ORDER, "product": _PRODUCT}

_SPECS = (
    _spec(
        "run_start",
        "the run starts (model time 0)",
        value=_h("warmup_h"),
        detail=Attr("scenario", "string"),
    ),
    _spec(
        "unit_added",
        "a unit exists",
        [Change("unit", "class", "detail"), Change("unit", "room", "state")],
        unit=_UNIT,
        detail=Obj("equipment_class", "class"),
        state=Attr("room", "string"),
    ),
    _spec(
        "order_release",
        "an order is released to the plant",
        [
            _status("order", "released"),
            Change("order", "due", "value"),
            Change("order", "priority", "step"),
            Change("order", "quantity", "detail"),
        ],
        order=_ORDER_REQ,
        product=_PRODUCT,
        value=Attr("due_h", "float", unit="h since start"),
        step=Attr("priority", "integer"),
        detail=Attr("order_quantity", "string", unit="kg, as text"),
    ),
    _spec(
        "batch_release",
        "a batch is released to the floor",
        [_status("batch", "released"), Change("batch", "size", "value")],
        **_BATCH_EVENT,
        value=Attr("size", "float", unit="kg"),
    ),
    _spec(
        "step_start",
        "processing of a recipe step starts on a unit",
        [_status("batch", "processing"), Change("batch", "step", "step")],
        unit=_UNIT,
        **_BATCH_EVENT,
        step=Attr("step", "integer", required=True),
        value=_h("ideal_h"),
    ),
    _spec(
        "step_end",
        "processing of a recipe step ends",
        [_status("batch", "step_done")],
        unit=_UNIT,
        **_BATCH_EVENT,
        step=Attr("step", "integer", required=True),
        value=_h("processing_h"),
    ),
    _spec(
        "setup",
        "a unit is set up for a step",
        unit=_UNIT,
        batch=_BATCH_OPT,
        step=_STEP,
        value=_h("setup_h"),
    ),
    _spec(
        "clean_start",
        "cleaning starts (batch: the one it cleans for)",
        unit=_UNIT,
        batch=Obj("batch", "cleaned for"),
        state=Attr("cleaning", "string"),
        value=_h("duration_h"),
    ),
    _spec("clean_end", "cleaning ends", unit=_UNIT, state=Attr("cleaning", "string")),
    _spec("breakdown", "a unit breaks down", unit=_UNIT),
    _spec("repair_start", "repair starts", unit=_UNIT, value=_h("repair_h")),
    _spec("repair_end", "repair ends", unit=_UNIT),
    _spec("maintenance_start", "planned maintenance starts", unit=_UNIT, value=_h("maintenance_h")),
    _spec("maintenance_end", "planned maintenance ends", unit=_UNIT),
    _spec(
        "deviation",
        "a hold-time or dirty-hold limit was exceeded",
        unit=_UNIT_OPT,
        batch=_BATCH_OPT,
        order=_ORDER,
        product=_PRODUCT,
        step=_STEP,
        state=Attr("deviation", "string", required=True),
        value=_h("overrun_h"),
    ),
    _spec(
        "scrap",
        "a batch is scrapped",
        [_status("batch", "scrapped")],
        **_BATCH_EVENT,
        step=_STEP,
        detail=Attr("reason", "string"),
    ),
    _spec(
        "quarantine",
        "a finished batch waits for QC",
        [_status("batch", "quarantine")],
        **_BATCH_EVENT,
    ),
    _spec(
        "qc_start",
        "QC starts on a batch",
        [_status("batch", "in_qc")],
        **_BATCH_EVENT,
        value=_h("hands_on_h"),
    ),
    _spec(
        "qc_release",
        "QC releases a batch",
        [_status("batch", "qc_released")],
        **_BATCH_EVENT,
        value=Attr("size", "float", unit="kg"),
    ),
    _spec("qc_reject", "QC rejects a batch", [_status("batch", "qc_rejected")], **_BATCH_EVENT),
    _spec(
        "order_complete",
        "every batch of an order is QC-released",
        [_status("order", "complete")],
        order=_ORDER_REQ,
        product=_PRODUCT,
    ),
    _spec(
        "state",
        "a unit changes state, or the batch holding it changes",
        [Change("unit", "state", "state"), Change("unit", "power_kw", "value")],
        unit=_UNIT,
        batch=Obj("batch", "holding batch"),
        state=Attr("state", "string", required=True),
        value=Attr("power_kw", "float", unit="kW"),
    ),
    _spec("run_end", "the run ends", value=_h("horizon_h")),
    _spec(
        "lot_receipt",
        "a lot enters a warehouse",
        [Change("detail", "status", "state"), Change("detail", "quantity", "value")],
        unit=_WAREHOUSE,
        product=_MATERIAL,
        detail=Obj("lot", "lot", required=True),
        state=Attr("status", "string"),
        value=Attr("quantity", "float", unit="kg"),
    ),
    _spec(
        "lot_status",
        "a lot is released, rejected or expires",
        [
            Change("detail", "status", "state"),
            Change("detail", "quantity", "=0", when=("rejected", "expired")),
        ],
        unit=_WAREHOUSE,
        product=_MATERIAL,
        detail=Obj("lot", "lot", required=True),
        state=Attr("status", "string", required=True),
        value=Attr("quantity", "float", unit="kg"),
    ),
    _spec(
        "material_pick",
        "material is taken from a lot (no lot, no warehouse: an intermediate of the batch)",
        [Change("detail", "quantity", "-value")],
        batch=_BATCH_OPT,
        step=_STEP,
        unit=_WAREHOUSE,
        product=_MATERIAL,
        detail=_LOT,
        value=Attr("quantity", "float", unit="kg"),
    ),
    _spec(
        "material_produce",
        "a step produces an intermediate into its batch",
        unit=_UNIT_OPT,
        batch=_BATCH_OPT,
        step=_STEP,
        product=_MATERIAL,
        value=Attr("quantity", "float", unit="kg"),
    ),
    _spec(
        "starve_start",
        "a batch step waits for a material",
        unit=_UNIT_OPT,
        batch=_BATCH_OPT,
        step=_STEP,
        product=_MATERIAL,
        value=Attr("short", "float", unit="kg"),
    ),
    _spec(
        "starve_end",
        "the material is there",
        unit=_UNIT_OPT,
        batch=_BATCH_OPT,
        step=_STEP,
        product=_MATERIAL,
        value=_h("starved_h"),
    ),
    _spec(
        "reorder",
        "a purchase order is placed with the supplier",
        product=_MATERIAL,
        detail=Obj("purchase_order", "purchase order"),
        state=Attr("policy", "string"),
        value=Attr("quantity", "float", unit="kg"),
    ),
    _spec(
        "shipment",
        "finished goods are shipped for an order",
        [Change("detail", "quantity", "-value")],
        order=_ORDER,
        unit=_WAREHOUSE,
        product=_MATERIAL,
        detail=_LOT,
        value=Attr("quantity", "float", unit="kg"),
    ),
    _spec(
        "stockout",
        "an order's finished goods are short at its due date",
        order=_ORDER,
        product=_MATERIAL,
        value=Attr("short", "float", unit="kg"),
    ),
    _spec(
        "wh_level",
        "pallet positions used in a warehouse change",
        unit=Obj("warehouse", "warehouse", required=True),
        state=Attr("storage_class", "string"),
        value=Attr("positions_used", "float", unit="pallet positions"),
    ),
    _spec(
        "wh_full",
        "a lot waits at the dock: the warehouse is full",
        unit=Obj("warehouse", "warehouse", required=True),
        product=Obj("material", "material"),
        detail=_LOT,
        value=Attr("positions_needed", "float", unit="pallet positions"),
    ),
    _spec(
        "agv_added",
        "a vehicle exists",
        [Change("unit", "home", "detail"), Change("unit", "battery_kwh", "value")],
        unit=_VEHICLE,
        detail=Attr("node", "string"),
        value=Attr("battery_kwh", "float", unit="kWh"),
    ),
    _spec(
        "agv_state",
        "a vehicle changes state",
        [Change("unit", "state", "state"), Change("unit", "battery_kwh", "value")],
        unit=_VEHICLE,
        state=Attr("state", "string", required=True),
        value=Attr("battery_kwh", "float", unit="kWh"),
    ),
    _spec(
        "agv_move",
        "a vehicle drives one segment",
        unit=_VEHICLE,
        state=Attr("segment", "string"),
        detail=Attr("move", "string"),
        value=Attr("metres", "float", unit="m"),
    ),
    _spec(
        "transport_request",
        "a transport is requested",
        [_status("detail", "requested")],
        batch=_BATCH_OPT,
        detail=Obj("transport", "transport", required=True),
        state=Attr("load", "string"),
        value=Attr("loads", "float", unit="IBCs or pallets"),
    ),
    _spec(
        "transport_pickup",
        "a vehicle picks the load up",
        [_status("detail", "picked_up")],
        unit=_VEHICLE,
        batch=_BATCH_OPT,
        detail=Obj("transport", "transport", required=True),
        value=_h("waited_h"),
    ),
    _spec(
        "transport_done",
        "a vehicle delivers the load",
        [_status("detail", "delivered")],
        unit=_VEHICLE,
        batch=_BATCH_OPT,
        detail=Obj("transport", "transport", required=True),
        value=_h("elapsed_h"),
    ),
    _spec(
        "traffic_wait",
        "a vehicle waited for its route",
        unit=_VEHICLE,
        detail=Attr("blocked_at", "string"),
        value=_h("waited_h"),
    ),
    _spec(
        "charge_start",
        "a vehicle starts charging",
        [Change("unit", "battery_kwh", "value")],
        unit=_VEHICLE,
        detail=Attr("charger", "string"),
        value=Attr("battery_kwh", "float", unit="kWh"),
    ),
    _spec(
        "charge_end",
        "a vehicle is charged",
        [Change("unit", "battery_kwh", "value")],
        unit=_VEHICLE,
        detail=Attr("charger", "string"),
        value=Attr("battery_kwh", "float", unit="kWh"),
    ),
    _spec(
        "plan_op",
        "a planned operation (batch = index of the batch in its order)",
        unit=Obj("unit", "planned unit"),
        order=_ORDER,
        batch=Attr("batch_index", "integer"),
        step=_STEP,
        value=Attr("planned_start_h", "float", unit="h since start"),
    ),
    _spec("plan_end", "the plan's makespan", value=_h("makespan_h")),
    _spec(
        "replan",
        "the plant re-planned",
        value=Attr("operations", "float"),
        detail=Attr("trigger", "string"),
    ),
    _spec(
        "order_resume",
        "a run started from a plant state carries an open order over",
        [
            Change("order", "due", "value"),
            Change("order", "priority", "step"),
            Change("order", "quantity", "detail"),
        ],
        order=_ORDER_REQ,
        product=_PRODUCT,
        batch=Attr("batches_made", "integer"),
        value=Attr("due_h", "float", unit="h since start"),
        step=Attr("priority", "integer"),
        detail=Attr("order_quantity", "string", unit="kg, as text"),
    ),
    _spec(
        "batch_resume",
        "a run started from a plant state carries a batch on the floor over",
        [Change("batch", "size", "value"), Change("batch", "step", "step")],
        **_BATCH_EVENT,
        step=Attr("step", "integer"),
        value=Attr("size", "float", unit="kg"),
        detail=Attr("batch_key", "string"),
    ),
    _spec(
        "tank_added",
        "a process plant's tank exists (storage unlimited, finite, none or zero_wait)",
        [Change("unit", "storage", "state")],
        unit=Obj("tank", "tank", required=True),
        product=_MATERIAL,
        state=Attr("storage", "string"),
        value=Attr("capacity", "float", unit="kg; NaN: no limit"),
    ),
    _spec(
        "tank_level",
        "a tank's level changes",
        [Change("unit", "level", "value")],
        unit=Obj("tank", "tank", required=True),
        product=_MATERIAL,
        value=Attr("level", "float", unit="kg"),
    ),
    _spec(
        "utility_added",
        "a shared utility exists",
        [Change("unit", "capacity", "value")],
        unit=Obj("utility", "utility", required=True),
        value=Attr("capacity", "float", unit="utility units"),
    ),
    _spec(
        "utility_level",
        "the use of a utility changes",
        [Change("unit", "in_use", "value")],
        unit=Obj("utility", "utility", required=True),
        value=Attr("in_use", "float", unit="utility units"),
    ),
    _spec(
        "task_start",
        "a batch of a process task starts on a unit (its inputs drawn)",
        unit=_UNIT,
        batch=_BATCH,
        detail=Attr("task", "string", required=True),
        value=Attr("size", "float", unit="kg"),
    ),
    _spec(
        "task_end",
        "a batch of a process task ends",
        unit=_UNIT,
        batch=_BATCH,
        detail=Attr("task", "string", required=True),
        value=_h("processing_h"),
    ),
    _spec(
        "material_move",
        "material moves between places: supply, a tank (tank:<material>), a unit "
        "(unit:<name>), customer or waste",
        unit=_UNIT_OPT,
        batch=_BATCH_OPT,
        order=_ORDER,
        product=_MATERIAL,
        state=Attr("from", "string", required=True),
        detail=Attr("to", "string", required=True),
        value=Attr("quantity", "float", unit="kg"),
    ),
    _spec(
        "plan_task",
        "a planned batch of a process task",
        unit=Obj("unit", "planned unit"),
        batch=Attr("batch_index", "integer"),
        detail=Attr("task", "string"),
        value=Attr("planned_start_h", "float", unit="h since start"),
    ),
)

SCHEMA: dict[str, KindSpec] = {s.kind: s for s in _SPECS}
"""Kind -> what its columns mean. Every kind of ``twin.eventlog.KINDS`` is here."""


# --------------------------------------------------------------------------- names from elsewhere
EVENT_ALIASES: dict[str, str] = {
    # a MES or another tool's event type (normalised: lower case, '_' for blanks) -> kind
    "start": "step_start",
    "operation_start": "step_start",
    "start_operation": "step_start",
    "operation_started": "step_start",
    "process_start": "step_start",
    "start_step": "step_start",
    "step_started": "step_start",
    "end": "step_end",
    "complete": "step_end",
    "operation_end": "step_end",
    "end_operation": "step_end",
    "complete_operation": "step_end",
    "operation_completed": "step_end",
    "process_end": "step_end",
    "end_step": "step_end",
    "step_completed": "step_end",
    "step_ended": "step_end",
    "state_change": "state",
    "status_change": "state",
    "unit_state": "state",
    "equipment_state": "state",
    "failure": "breakdown",
    "fault": "breakdown",
    "cleaning_start": "clean_start",
    "cip_start": "clean_start",
    "cleaning_end": "clean_end",
    "cip_end": "clean_end",
    "batch_start": "batch_release",
    "batch_created": "batch_release",
    "qc_released": "qc_release",
    "qc_rejected": "qc_reject",
    "qc_sampling": "qc_start",
    "order_created": "order_release",
    "order_completed": "order_complete",
    "order_done": "order_complete",
    "scrapped": "scrap",
    "goods_receipt": "lot_receipt",
    "goods_issue": "material_pick",
}
"""Event names from other systems that mean a twin kind (see ``docs/event_logs.md``)."""

OBJECT_TYPE_ALIASES: dict[str, str] = {
    "equipment": "unit",
    "machine": "unit",
    "resource": "unit",
    "workcenter": "unit",
    "work_center": "unit",
    "batch_record": "batch",
    "job": "batch",
    "production_order": "order",
    "work_order": "order",
    "customer_order": "order",
    "sales_order": "order",
    "item": "product",
    "sku": "product",
    "raw_material": "material",
    "agv": "vehicle",
    "amr": "vehicle",
    "equipment_type": "equipment_class",
    "machine_type": "equipment_class",
}
"""Object types from other systems that mean a twin object type."""


def _norm(name: str) -> str:
    """``Start Operation``, ``start-operation``, ``StartOperation`` -> ``start_operation``."""
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name.strip())
    return re.sub(r"[\s\-]+", "_", snake.lower())


def kind_of(name: str) -> str | None:
    """The twin kind an event name means (a kind, or an alias; case and blanks ignored)."""
    n = _norm(name)
    if n in SCHEMA:
        return n
    return EVENT_ALIASES.get(n)


def object_type_of(name: str) -> str:
    """The twin object type an object type name means (itself when it is not an alias)."""
    n = _norm(name)
    return n if n in OBJECT_TYPES else OBJECT_TYPE_ALIASES.get(n, n)


# --------------------------------------------------------------------------- tables
_KIND_DICT = pa.array(KINDS, type=pa.string())
_KIND_CODE = {k: i for i, k in enumerate(KINDS)}


def _strings(values: Sequence[str | None]) -> pa.Array:
    return pa.array(values, type=pa.string()).dictionary_encode()


def make_table(
    columns: Mapping[str, Sequence[Any] | np.ndarray], batch_text: Mapping[int, str] | None = None
) -> pa.Table:
    """An event-log table in :data:`EVENT_SCHEMA` from plain columns (``t``: hours, ``kind``:
    kind names, strings or None, batch/step ints with -1 for none, value floats with NaN).

    ``batch_text`` (int -> original text id) is kept in the schema metadata
    (:data:`BATCH_IDS_KEY`; read it back with :func:`batch_ids`)."""
    kinds = np.fromiter((_KIND_CODE[k] for k in columns["kind"]), dtype=np.int8)
    arrays = {
        "t": pa.array(np.asarray(columns["t"], dtype=np.float64)),
        "kind": pa.DictionaryArray.from_arrays(pa.array(kinds, type=pa.int8()), _KIND_DICT),
        "batch": pa.array(np.asarray(columns["batch"], dtype=np.int32)),
        "step": pa.array(np.asarray(columns["step"], dtype=np.int16)),
        "value": pa.array(np.asarray(columns["value"], dtype=np.float64)),
    }
    for name in STRING_COLUMNS:
        arrays[name] = _strings(list(columns[name]))
    meta = None
    if batch_text:
        text = json.dumps({str(k): v for k, v in sorted(batch_text.items())}, ensure_ascii=False)
        meta = {BATCH_IDS_KEY: text.encode()}
    return pa.table([arrays[c] for c in COLUMNS], schema=EVENT_SCHEMA.with_metadata(meta))


def batch_ids(table: pa.Table) -> dict[int, str]:
    """The original text id of each batch number, for logs whose batches had text ids (MES,
    OCEL from another system); empty when the batch numbers are the ids."""
    meta = table.schema.metadata or {}
    raw = meta.get(BATCH_IDS_KEY)
    if not raw:
        return {}
    return {int(k): v for k, v in json.loads(raw).items()}


def conform(table: pa.Table, source: str) -> pa.Table:
    """A table with the event log's columns, cast to :data:`EVENT_SCHEMA` (a Parquet file read
    back may differ in dictionary index widths); LogError naming what is missing or wrong."""
    missing = [c for c in COLUMNS if c not in table.column_names]
    if missing:
        raise LogError(
            f"{source}: not a PharmaTwin event log: missing column(s) {', '.join(missing)}; "
            f"expected the columns {', '.join(COLUMNS)}"
        )
    out = []
    for f in EVENT_SCHEMA:
        col = table.column(f.name)
        try:
            if f.name == "kind":
                names = col.cast(pa.string()).to_pylist()
                bad = sorted({k for k in names if k not in _KIND_CODE}, key=str)
                if bad:
                    raise LogError(
                        f"{source}: column kind: unknown kind(s) {', '.join(map(repr, bad[:5]))}; "
                        "expected the kinds of twin.eventlog.KINDS"
                    )
                codes = np.fromiter((_KIND_CODE[k] for k in names), dtype=np.int8)
                col = pa.DictionaryArray.from_arrays(pa.array(codes, type=pa.int8()), _KIND_DICT)
            elif pa.types.is_dictionary(f.type):
                col = col.cast(pa.string()).combine_chunks().dictionary_encode()
            else:
                col = col.cast(f.type)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise LogError(
                f"{source}: column {f.name}: {col.type} cannot be read as {f.type} ({exc})"
            ) from None
        out.append(col)
    return pa.table(out, schema=EVENT_SCHEMA.with_metadata(table.schema.metadata))


def null_of(column: str) -> Any:
    """The empty value of a column (None, -1 or NaN)."""
    if column in INT_COLUMNS:
        return -1
    if column in ("value", "t"):
        return float("nan")
    return None


def is_null(column: str, value: Any) -> bool:
    if value is None:
        return True
    if column in INT_COLUMNS:
        return value == -1
    if column == "value":
        return value != value
    return False


def column_type(column: str) -> str:
    """The OCEL type a column's values have when kept as a generic attribute."""
    if column in INT_COLUMNS:
        return "integer"
    if column == "value":
        return "float"
    return "string"


# --------------------------------------------------------------------------- time
MAX_EVENTS = 20_000_000
"""The most events any reader accepts (a plant-year of the reference plant has ~120k)."""
TIME_EXPECTED = "an ISO 8601 date-time such as 2026-01-05T06:00:00 or 2026-01-05T06:00:00Z"


def parse_timestamp(text: str) -> dt.datetime:
    """An ISO 8601 date or date-time (``T`` or a blank between date and time, optional
    fraction and offset, ``Z`` for UTC). ValueError if it is none."""
    if not isinstance(text, str):
        raise ValueError(f"expected text, got {type(text).__name__}")
    return dt.datetime.fromisoformat(text.strip())


def iso_times(start: dt.datetime, hours: np.ndarray, sep: str = "T", zone: str = "Z") -> list[str]:
    """Model hours as ISO 8601 texts to the microsecond (``2026-01-05T06:00:00.000000Z``)."""
    if start.tzinfo is not None:  # written in UTC
        start = start.astimezone(dt.UTC).replace(tzinfo=None)
    base = np.datetime64(start, "us")
    us = np.round(np.asarray(hours, dtype=np.float64) * 3.6e9).astype(np.int64)
    text = np.datetime_as_string(base + us.astype("timedelta64[us]"), unit="us")
    if sep != "T":
        text = np.char.replace(text, "T", sep)
    return [s + zone for s in text.tolist()]


def hours_since(times: Sequence[dt.datetime], start: dt.datetime) -> np.ndarray:
    """Hours from ``start`` to each time (to the microsecond). Naive times are the plant's
    wall clock; aware times are compared as instants (a naive ``start`` takes the first
    time's offset)."""
    if times and times[0].tzinfo is not None and start.tzinfo is None:
        start = start.replace(tzinfo=times[0].tzinfo)
    elif times and times[0].tzinfo is None and start.tzinfo is not None:
        start = start.replace(tzinfo=None)
    one = dt.timedelta(microseconds=1)
    return (
        np.fromiter(((x - start) // one for x in times), dtype=np.int64, count=len(times)) / 3.6e9
    )


def hours_to_datetime(start: dt.datetime, hours: float) -> dt.datetime:
    """The calendar time of model hours (to the microsecond)."""
    return start + dt.timedelta(microseconds=round(hours * 3.6e9))


def midnight(t: dt.datetime) -> dt.datetime:
    """The plant wall-clock midnight of a time's day (naive)."""
    return t.replace(hour=0, minute=0, second=0, microsecond=0, tzinfo=None)


def check_zones(times: Sequence[dt.datetime], where: Any) -> None:
    """LogError unless all times carry an offset or none does; ``where(i)`` locates row i."""
    if not times:
        return
    aware = times[0].tzinfo is not None
    for i, x in enumerate(times):
        if (x.tzinfo is not None) != aware:
            raise LogError(
                f"{where(i)}: bad value {x.isoformat()!r}: "
                f"{'no' if aware else 'a'} UTC offset where the first time has "
                f"{'one' if aware else 'none'}; expected every time with an offset or none"
            )


# --------------------------------------------------------------------------- documentation
def markdown_table() -> str:
    """The table of every kind as Markdown (the tests check ``docs/event_logs.md`` holds it)."""
    lines = [
        "| kind | what | objects (column: type, qualifier) | attributes (column: name, type) "
        "| object changes |",
        "|---|---|---|---|---|",
    ]
    for kind in KINDS:
        s = SCHEMA[kind]
        objs = "<br>".join(
            f"`{c}`: {o.type}, *{o.qualifier}*{' (required)' if o.required else ''}"
            for c, o in s.objects().items()
        )
        attrs = "<br>".join(
            f"`{c}`: {a.name} ({a.type}{', ' + a.unit if a.unit else ''})"
            f"{' (required)' if a.required else ''}"
            for c, a in s.attributes().items()
        )
        changes = "<br>".join(
            f"{s.columns[ch.column].type}.{ch.attribute} "  # type: ignore[union-attr]
            f"{'= ' + ch.source[1:] if ch.source.startswith('=') else ''}"
            f"{'-= `' + ch.source[1:] + '`' if ch.source.startswith('-') else ''}"
            f"{'<- `' + ch.source + '`' if ch.source[0] not in '=-' else ''}"
            f"{' when ' + '/'.join(ch.when) if ch.when else ''}"
            for ch in s.changes
        )
        lines.append(f"| `{kind}` | {s.doc} | {objs or '-'} | {attrs or '-'} | {changes or '-'} |")
    return "\n".join(lines) + "\n"
