"""The live event interface: the MQTT topic namespace, the JSON payload of one event, and the
checks every payload passes before it reaches the plant state.

One event of the twin's log schema (``twin.eventlog``: kind, unit, batch, order, product,
step, state, value, detail at model time ``t``) travels as one JSON object::

    {"v": 1, "id": "emu-osd_plant-3f9a2c:000123", "src": "emu-osd_plant-3f9a2c", "seq": 123,
     "ts": "2026-01-19T06:12:30.000000", "t": 336.2083, "kind": "step_start",
     "unit": "gran_1", "batch": 57, "order": "o12", "product": "tab_a", "step": 1,
     "state": null, "value": 4.0, "detail": null, "packml": null, "sent": 1767225600.123}

- ``id`` (required): unique per event; a message seen twice is applied once.
- ``src`` and ``seq`` (optional): the source and its gap-free sequence number; with them the
  live twin restores the source's order, sees gaps and asks the source to send them again.
- ``ts`` (ISO 8601, the plant's wall clock) or ``t`` (hours since the scenario start): when it
  happened; ``t`` wins when both are given (it is exact).
- ``kind`` (required): one of ``twin.eventlog.KINDS``; the other fields mean what the log's
  columns mean for that kind (``docs/event_logs.md``).
- ``batch``: the twin's batch number, or a text batch id (mapped to a number on first sight).
- ``packml``: for ``state`` events, the PackML state name of the new state (information only).
- ``sent``: when the source published it (Unix seconds): the event-to-state lag is measured
  from it.

Everything is bounded: a payload has at most :data:`MAX_PAYLOAD_BYTES` bytes, texts at most
:data:`MAX_TEXT` characters, numbers are finite and in range. Anything else raises
:class:`PayloadError` with the reason (the live twin counts and logs it, and goes on).

Topics (ISA-95 levels: enterprise root / site / area / unit)::

    <root>/<site>/<area>/<object>/event        one event (QoS 1)
    <root>/<site>/_source/<source>/status      heartbeat of a source (retained)
    <root>/<site>/_source/<source>/replay      ask a source to send a range of events again

``area`` is the unit's room (its equipment class when it has none), ``logistics`` for AGVs,
``warehouse`` for lots and stock, ``mes`` for orders, batches and QC; ``object`` is the unit,
vehicle or warehouse, or ``orders``/``batches``/``qc``/``plant``. Names are percent-encoded
where MQTT reserves the character (``press_1#2`` is ``press_1%232``).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from twin.eventlog import KINDS
from twin.scenario import Scenario
from twin.state import Event

__all__ = [
    "PAYLOAD_VERSION",
    "MAX_PAYLOAD_BYTES",
    "MAX_TEXT",
    "PACKML",
    "PACKML_CODES",
    "LiveEvent",
    "PayloadError",
    "Namespace",
    "encode_event",
    "decode_event",
    "BatchIds",
    "topic_escape",
    "topic_unescape",
]

PAYLOAD_VERSION = 1
MAX_PAYLOAD_BYTES = 8192
"""The largest payload read (an event is about 300 bytes); longer ones are refused unread."""
MAX_TEXT = 200
"""The longest text field (unit, order, product, state, detail, ids)."""
MAX_HOURS = 1e7
"""Model times beyond about a thousand years are refused."""
MAX_VALUE = 1e12
_KINDS = frozenset(KINDS)
_FIELDS = ("unit", "order", "product", "state", "detail")

PACKML: dict[str, tuple[str, str]] = {
    "idle": ("Idle", "Production"),
    "setup": ("Starting", "Production"),
    "processing": ("Execute", "Production"),
    "cleaning": ("Execute", "Clean"),
    "dirty_hold": ("Complete", "Production"),
    "blocked": ("Suspended", "Production"),
    "starved": ("Suspended", "Production"),
    "down": ("Held", "Production"),
    "maintenance": ("Stopped", "Maintenance"),
    "off_shift": ("Stopped", "Production"),
}
"""The twin's unit states as PackML (ISA-TR88.00.02) states and unit modes. Cleaning is the
Execute state of a Clean mode (ISA-88 CIP); blocked and starved are both Suspended (waiting for
downstream or upstream: the twin's state says which); a breakdown is Held (an internal fault
holding the unit until repaired)."""
PACKML_CODES = {
    "Clearing": 1, "Stopped": 2, "Starting": 3, "Idle": 4, "Suspended": 5, "Execute": 6,
    "Stopping": 7, "Aborting": 8, "Aborted": 9, "Holding": 10, "Held": 11, "Unholding": 12,
    "Suspending": 13, "Unsuspending": 14, "Resetting": 15, "Completing": 16, "Complete": 17,
}  # fmt: skip
FROM_PACKML: dict[tuple[str, str], str] = {
    ("Idle", "Production"): "idle",
    ("Starting", "Production"): "setup",
    ("Execute", "Production"): "processing",
    ("Execute", "Clean"): "cleaning",
    ("Complete", "Production"): "dirty_hold",
    ("Suspended", "Production"): "starved",
    ("Held", "Production"): "down",
    ("Aborted", "Production"): "down",
    ("Stopped", "Maintenance"): "maintenance",
    ("Stopped", "Production"): "off_shift",
}
"""PackML (state, mode) to the twin's state, for sources that send only PackML: Suspended reads
as starved (the twin cannot tell it from blocked), Aborted as down."""


class PayloadError(ValueError):
    """A message that is not a valid event (the reason, phrased for the log)."""


@dataclass(slots=True)
class LiveEvent:
    """One event as received: the log event, its identity and where it came from."""

    event: Event
    id: str
    source: str = ""
    seq: int = -1
    sent: float | None = None  # Unix seconds when the source published it
    received: float = 0.0  # Unix seconds when it arrived here
    origin: str = ""  # mqtt, opcua, direct


# --------------------------------------------------------------------------- topics
_RESERVED = re.compile(r"[%/#+\x00$]")


def topic_escape(name: str) -> str:
    """A name as one MQTT topic level: ``%``, ``/``, ``#``, ``+``, ``$`` and NUL
    percent-encoded."""
    return _RESERVED.sub(lambda m: f"%{ord(m.group()):02X}", name)


def topic_unescape(level: str) -> str:
    return re.sub(r"%([0-9A-F]{2})", lambda m: chr(int(m.group(1), 16)), level)


_MES_OBJECT = {
    "order_release": "orders", "order_resume": "orders", "order_complete": "orders",
    "batch_release": "batches", "batch_resume": "batches", "scrap": "batches",
    "quarantine": "qc", "qc_start": "qc", "qc_release": "qc", "qc_reject": "qc",
}  # fmt: skip
_LOGISTICS = frozenset(
    k for k in KINDS if k.startswith(("agv_", "transport_", "charge_")) or k == "traffic_wait"
)
_WAREHOUSE = frozenset(
    ("lot_receipt", "lot_status", "material_pick", "reorder", "shipment", "stockout")
    + ("wh_level", "wh_full")
)


@dataclass(frozen=True)
class Namespace:
    """The topic tree of one plant: ``root/site`` and where each unit sits (its area)."""

    root: str = "pharmatwin"
    site: str = "plant"
    areas: Mapping[str, str] | None = None  # unit -> area

    @classmethod
    def of(cls, scenario: Scenario, root: str = "pharmatwin", site: str | None = None) -> Namespace:
        areas = {}
        for name, uid in scenario.unit_names():
            spec = scenario.units[uid]
            areas[name] = spec.room or spec.equipment_class
        return cls(root, site or scenario.name, areas)

    @property
    def base(self) -> str:
        return f"{topic_escape(self.root)}/{topic_escape(self.site)}"

    def event_topic(self, e: Event) -> str:
        """The topic an event is published on (see the module docstring)."""
        areas = self.areas or {}
        if e.kind in _LOGISTICS:
            area, obj = "logistics", e.unit or "fleet"
        elif e.kind in _WAREHOUSE:
            area, obj = "warehouse", e.unit or "materials"
        elif e.unit is not None and e.unit in areas:
            area, obj = areas[e.unit], e.unit
        elif e.unit is not None:
            area, obj = "units", e.unit
        else:
            area, obj = "mes", _MES_OBJECT.get(e.kind, "plant")
        return f"{self.base}/{topic_escape(area)}/{topic_escape(obj)}/event"

    @property
    def event_filter(self) -> str:
        """The subscription that receives every event of the site."""
        return f"{self.base}/+/+/event"

    def status_topic(self, source: str) -> str:
        return f"{self.base}/_source/{topic_escape(source)}/status"

    @property
    def status_filter(self) -> str:
        return f"{self.base}/_source/+/status"

    def replay_topic(self, source: str) -> str:
        return f"{self.base}/_source/{topic_escape(source)}/replay"


# --------------------------------------------------------------------------- encoding
def _iso(start: dt.datetime, hours: float) -> str:
    return (start + dt.timedelta(hours=hours)).isoformat(timespec="microseconds")


def encode_event(
    e: Event,
    event_id: str,
    start: dt.datetime,
    source: str = "",
    seq: int = -1,
    sent: float | None = None,
) -> bytes:
    """The JSON payload of one event (see the module docstring)."""
    d: dict[str, Any] = {"v": PAYLOAD_VERSION, "id": event_id}
    if source:
        d["src"] = source
    if seq >= 0:
        d["seq"] = seq
    d["ts"] = _iso(start, e.t)
    d["t"] = e.t
    d["kind"] = e.kind
    d["unit"] = e.unit
    d["batch"] = e.batch if e.batch >= 0 else None
    d["order"] = e.order
    d["product"] = e.product
    d["step"] = e.step if e.step >= 0 else None
    d["state"] = e.state
    d["value"] = e.value if math.isfinite(e.value) else None
    d["detail"] = e.detail
    if e.kind == "state" and e.state in PACKML:
        d["packml"] = PACKML[e.state][0]
    if sent is not None:
        d["sent"] = round(sent, 6)
    return json.dumps(d, separators=(",", ":"), allow_nan=False).encode()


class BatchIds:
    """Text batch ids (a MES's ``B-2026-0042``) mapped to the twin's batch numbers, first seen
    first numbered, above every number the source used itself."""

    MAX = 1_000_000
    BASE = 1_000_000_000  # text ids are numbered from here, clear of a source's own numbers

    def __init__(self, mapping: Mapping[str, int] | None = None) -> None:
        self.ids: dict[str, int] = dict(mapping or {})
        self.next = max(self.ids.values(), default=self.BASE - 1) + 1

    def number(self, text: str) -> int:
        n = self.ids.get(text)
        if n is None:
            if len(self.ids) >= self.MAX:
                raise PayloadError(f"batch: more than {self.MAX:,} text batch ids")
            n = self.ids[text] = self.next
            self.next += 1
        return n


def _text(d: Mapping[str, Any], key: str, required: bool = False) -> str | None:
    v = d.get(key)
    if v is None:
        if required:
            raise PayloadError(f"{key}: missing; expected a text")
        return None
    if not isinstance(v, str):
        raise PayloadError(f"{key}: bad value {_short(v)}: expected a text or null")
    if not v or len(v) > MAX_TEXT or "\x00" in v:
        raise PayloadError(f"{key}: bad value {_short(v)}: expected 1 to {MAX_TEXT} characters")
    return v


def _int(d: Mapping[str, Any], key: str, low: int, high: int) -> int | None:
    v = d.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise PayloadError(f"{key}: bad value {_short(v)}: expected an integer or null")
    if isinstance(v, float) and not (math.isfinite(v) and v.is_integer()):
        raise PayloadError(f"{key}: bad value {_short(v)}: expected an integer or null")
    if not low <= v <= high:
        raise PayloadError(f"{key}: bad value {_short(v)}: expected {low} to {high}")
    return int(v)


def _number(d: Mapping[str, Any], key: str, bound: float) -> float | None:
    v = d.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise PayloadError(f"{key}: bad value {_short(v)}: expected a number or null")
    v = float(v)
    if not math.isfinite(v) or abs(v) > bound:
        raise PayloadError(
            f"{key}: bad value {_short(v)}: expected a finite number within ±{bound:g}"
        )
    return v


def _short(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def _when(ts: str, start: dt.datetime) -> float:
    try:
        when = dt.datetime.fromisoformat(ts.replace("Z", "+00:00") if ts.endswith("Z") else ts)
    except ValueError:
        raise PayloadError(
            f"ts: bad value {_short(ts)}: expected an ISO 8601 date-time such as "
            "2026-01-19T06:12:30"
        ) from None
    if when.tzinfo is not None:  # the plant's wall clock, as the log readers take it
        when = when.replace(tzinfo=None)
    return (when - start) / dt.timedelta(hours=1)


def decode_event(
    payload: bytes | str,
    start: dt.datetime,
    batch_ids: BatchIds | None = None,
    received: float = 0.0,
    origin: str = "",
) -> LiveEvent:
    """Check and read one payload; :class:`PayloadError` says what is wrong with it."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise PayloadError(
            f"payload of {len(payload):,} bytes; expected at most {MAX_PAYLOAD_BYTES:,}"
        )
    try:
        d = json.loads(payload)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise PayloadError("not a JSON text (UTF-8)") from None
    if not isinstance(d, dict):
        raise PayloadError(f"a JSON {type(d).__name__}; expected an object")
    version = d.get("v", PAYLOAD_VERSION)
    if type(version) is not int or version != PAYLOAD_VERSION:
        raise PayloadError(f"v: bad value {_short(version)}: expected {PAYLOAD_VERSION}")
    eid = _text(d, "id", required=True)
    kind = d.get("kind")
    if not isinstance(kind, str) or kind not in _KINDS:
        raise PayloadError(
            f"kind: bad value {_short(kind)}: expected an event kind of the twin's log"
        )
    t = _number(d, "t", MAX_HOURS)
    if t is None:
        ts = d.get("ts")
        if not isinstance(ts, str) or len(ts) > 40:
            raise PayloadError("t/ts: missing; expected model hours (t) or an ISO 8601 time (ts)")
        t = _when(ts, start)
        if not math.isfinite(t) or abs(t) > MAX_HOURS:
            raise PayloadError(f"ts: bad value {_short(ts)}: too far from the plant's start")
    if t < 0:
        raise PayloadError(f"t: bad value {t:g}: before the plant's start (expected >= 0)")
    texts = {k: _text(d, k) for k in _FIELDS}
    raw_batch = d.get("batch")
    if isinstance(raw_batch, str):
        if raw_batch.isascii() and raw_batch.isdigit() and len(raw_batch) <= 9:
            batch = int(raw_batch)
        else:
            _text(d, "batch")
            if batch_ids is None:
                raise PayloadError(f"batch: bad value {_short(raw_batch)}: expected a number")
            batch = batch_ids.number(raw_batch)
    else:
        batch = _int(d, "batch", -1, 2**31 - 1)
    step = _int(d, "step", -1, 32_767)
    value = _number(d, "value", MAX_VALUE)
    seq = _int(d, "seq", 0, 2**62)
    sent = _number(d, "sent", 1e11)
    source = _text(d, "src") or ""
    event = Event(
        t,
        kind,
        texts["unit"],
        -1 if batch is None else batch,
        texts["order"],
        texts["product"],
        -1 if step is None else step,
        texts["state"],
        math.nan if value is None else value,
        texts["detail"],
    )
    return LiveEvent(event, eid, source, -1 if seq is None else seq, sent, received, origin)
