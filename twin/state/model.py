"""PlantState: the plant at an instant, as plain frozen data with a versioned JSON form.

One definition of "the plant now" for the whole project: snapshots of a run, the state of an
observed log, warm starts of the twin, re-planning, forecasts and the live twin all use it.
Times are model hours since the scenario's calendar start; the JSON also carries the instant
as an ISO 8601 date-time (``at``).

What a unit, batch and order look like at that instant (elapsed times are what a real plant
knows; remaining times are drawn when the twin resumes, from the distribution conditioned on
the time already spent):

- a unit: its state (``idle``, ``processing``, ... as in the event log) since when; the batch
  holding it; what it is doing (``activity``: a step's processing, a setup, a cleaning of some
  kind, a repair, maintenance) since when, with the duration where the log recorded it; its
  cleanliness (``twin.rules.CleanState``); operating (processing) hours since the last repair
  or maintenance renewed its failure clock; batches since maintenance; maintenance due;
- a batch: order, index within the order, product, size, release time; the step it is at and
  its ``phase`` there (``queued`` at the step's class, ``claimed`` a unit (cleaning, waiting
  for staff or for its planned start), ``setup``, ``processing`` (``down`` while its unit is
  broken), ``blocked`` on its unit after the step, ``quarantine`` or ``qc`` after the last
  step); the unit; since when; hours processed in the current step; the hold-time deadline
  running from the previous step and whether it was already missed;
- an order: product, quantity, release, due date, priority, batches needed, batch numbers
  handed out (replacements included) and batches QC-released; when it completed;
- staff: how many of each qualification are busy (derived from what units and QC are doing);
- with material flow: lots per warehouse (quantity, expiry, status), and AGVs (node, battery).
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from twin.rules import CLEAN, DIRTY, MINOR, CleanState
from twin.scenario import ScenarioError

__all__ = [
    "FORMAT",
    "VERSION",
    "PHASES",
    "ACTIVITIES",
    "UnitState",
    "BatchState",
    "OrderState",
    "LotState",
    "PurchaseOrderState",
    "BackorderState",
    "VehicleState",
    "PlantState",
    "StateError",
    "load_state",
    "state_from_dict",
]

FORMAT = "pharmatwin.plant-state"
VERSION = 1
PHASES = (
    "queued",
    "claimed",
    "setup",
    "processing",
    "down",
    "blocked",
    "quarantine",
    "qc",
)
ACTIVITIES = ("processing", "setup", "clean", "repair", "maintenance")
MAX_STATE_BYTES = 200_000_000


class StateError(ScenarioError):
    """A plant-state file that cannot be read: names the file, the path inside it, the bad
    value and what was expected (the same one-paragraph form as scenario errors)."""


@dataclass(frozen=True, slots=True)
class UnitState:
    name: str
    state: str = "idle"
    since: float = 0.0
    holder: str | None = None  # key of the batch holding the unit
    activity: str | None = None  # one of ACTIVITIES, or None when the unit does nothing
    activity_kind: str | None = None  # cleaning kind (minor, major, ...) of a clean
    activity_since: float = 0.0
    activity_hours: float | None = None  # its full duration, where the log recorded it
    clean: CleanState = CleanState()
    operating_h: float = 0.0  # processing hours since the failure clock was renewed
    batches_since_maintenance: int = 0
    maintenance_due: bool = False
    last_maintenance: float | None = None  # end of the last maintenance


@dataclass(frozen=True, slots=True)
class BatchState:
    key: str  # "order/index"
    id: int  # the batch number in the event log
    order: str
    index: int
    product: str
    size: float
    released: float
    step: int
    phase: str
    since: float
    unit: str | None = None
    processed_h: float = 0.0  # processing hours of the current step so far (no breakdowns)
    setup_hours: float | None = None  # the setup's duration, where the log recorded it
    hold_deadline: float | None = None  # processing of ``step`` must start by then
    hold_flagged: bool = False  # the deadline passed (a deviation was raised)
    quarantine_since: float | None = None
    qc_hands_on: float | None = None  # the analyst's hands-on hours, where the log recorded them


@dataclass(frozen=True, slots=True)
class OrderState:
    id: str
    product: str
    quantity: float
    release: float
    due: float
    priority: int = 0
    batches_needed: int = 1
    made: int = 0  # batch numbers handed out, replacements of scrapped batches included
    released: int = 0  # batches QC-released
    completed: float | None = None


@dataclass(frozen=True, slots=True)
class LotState:
    id: str
    material: str
    warehouse: str
    quantity: float
    expiry: float | None  # None: it does not expire
    status: str  # quarantine | released (rejected and expired lots are gone)
    place: str = "stock"  # stock, or dock (waiting for room in its warehouse)
    since: float = 0.0  # when it reached the dock (the start of its quarantine sampling)


@dataclass(frozen=True, slots=True)
class PurchaseOrderState:
    """A supplier order placed and not yet delivered."""

    id: str
    material: str
    quantity: float
    ordered: float


@dataclass(frozen=True, slots=True)
class BackorderState:
    """Finished goods an order is still short of (shipped when stock comes)."""

    order: str
    material: str
    quantity: float


@dataclass(frozen=True, slots=True)
class VehicleState:
    name: str
    node: str
    battery_kwh: float
    state: str = "idle"
    since: float = 0.0


@dataclass(frozen=True)
class PlantState:
    """The plant at ``time`` (hours since ``start``); see the module docstring."""

    time: float
    start: dt.datetime
    scenario: str
    units: dict[str, UnitState]
    batches: dict[str, BatchState]
    orders: dict[str, OrderState]
    staff_busy: dict[str, int] = field(default_factory=dict)
    next_batch_id: int = 0
    lots: tuple[LotState, ...] = ()
    vehicles: dict[str, VehicleState] = field(default_factory=dict)
    purchase_orders: tuple[PurchaseOrderState, ...] = ()
    backorders: tuple[BackorderState, ...] = ()
    fingerprint: dict[str, str] | None = None
    source: str = ""  # where it was taken from (a run, a log file, the live feed)

    @property
    def at(self) -> dt.datetime:
        return self.start + dt.timedelta(hours=self.time)

    def open_orders(self) -> list[OrderState]:
        return [o for o in self.orders.values() if o.completed is None]

    # ------------------------------------------------------------------ JSON
    def to_dict(self) -> dict[str, Any]:
        def unit(u: UnitState) -> dict[str, Any]:
            d = asdict(u)
            d["clean"] = asdict(u.clean)
            return d

        return {
            "format": FORMAT,
            "version": VERSION,
            "scenario": self.scenario,
            "fingerprint": self.fingerprint,
            "source": self.source,
            "time_h": self.time,
            "start": self.start.isoformat(),
            "at": self.at.isoformat(timespec="seconds"),
            "next_batch_id": self.next_batch_id,
            "staff_busy": dict(self.staff_busy),
            "units": {k: unit(u) for k, u in self.units.items()},
            "batches": {k: asdict(b) for k, b in self.batches.items()},
            "orders": {k: asdict(o) for k, o in self.orders.items()},
            "lots": [asdict(lot) for lot in self.lots],
            "purchase_orders": [asdict(po) for po in self.purchase_orders],
            "backorders": [asdict(bo) for bo in self.backorders],
            "vehicles": {k: asdict(v) for k, v in self.vehicles.items()},
        }

    def save(self, path: str | Path) -> None:
        """Write the state as JSON atomically (temporary file, then rename)."""
        from twin.store import write_text_atomic

        write_text_atomic(Path(path), json.dumps(self.to_dict(), indent=1))


# ---------------------------------------------------------------------- reading
def load_state(path: str | Path) -> PlantState:
    """Read and check a plant-state JSON file; any problem is one StateError."""
    p = Path(path)
    src = str(path)
    if p.is_dir():
        raise StateError(src, "", src, "a folder; expected a plant-state JSON file")
    if not p.is_file():
        raise StateError(src, "", src, "no such file; expected a plant-state JSON file")
    if p.stat().st_size > MAX_STATE_BYTES:
        raise StateError(
            src, "", f"{p.stat().st_size:,} bytes", f"a file of at most {MAX_STATE_BYTES:,} bytes"
        )
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise StateError(src, "", f"byte {exc.start}", "UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise StateError(
            src, f"line {exc.lineno}, column {exc.colno}", exc.msg, "valid JSON"
        ) from None
    except RecursionError:
        raise StateError(src, "", "...", "JSON nested at most a few hundred levels") from None
    return state_from_dict(data, src)


class _Reader:
    """Field checks with the path inside the file in every message."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, path: str, value: Any, expected: str) -> StateError:
        return StateError(self.source, path, value, expected)

    def obj(self, v: Any, path: str) -> dict[str, Any]:
        if not isinstance(v, dict):
            raise self.fail(path, v, "a JSON object")
        return v

    def text(self, v: Any, path: str, optional: bool = False) -> str | None:
        if v is None and optional:
            return None
        if not isinstance(v, str) or not v:
            raise self.fail(path, v, "a non-empty text" + (" or null" if optional else ""))
        return v

    def number(self, v: Any, path: str, low: float = 0.0, optional: bool = False) -> float | None:
        if v is None and optional:
            return None
        ok = isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
        if not ok or v < low or v > 1e9:
            raise self.fail(
                path, v, f"a finite number >= {low:g}" + (" or null" if optional else "")
            )
        return float(v)

    def integer(self, v: Any, path: str, low: int = 0) -> int:
        if not (isinstance(v, int) and not isinstance(v, bool)) or v < low or v > 10**9:
            raise self.fail(path, v, f"an integer >= {low}")
        return int(v)

    def flag(self, v: Any, path: str) -> bool:
        if not isinstance(v, bool):
            raise self.fail(path, v, "true or false")
        return v

    def choice(
        self, v: Any, path: str, options: tuple[str, ...], optional: bool = False
    ) -> str | None:
        if v is None and optional:
            return None
        if v not in options:
            raise self.fail(path, v, "one of: " + ", ".join(options))
        return v

    def known(self, d: dict[str, Any], path: str, cls: type, extra: tuple[str, ...] = ()) -> None:
        allowed = {f.name for f in fields(cls)} | set(extra)
        for k in d:
            if k not in allowed:
                raise self.fail(
                    f"{path}.{k}" if path else k,
                    k,
                    "unknown key; expected one of: " + ", ".join(sorted(allowed)),
                )


def state_from_dict(data: Any, source: str = "<state>") -> PlantState:
    """Check plain data (as read from JSON) and build the PlantState; any problem is one
    StateError naming the path."""
    from twin.scenario import UNIT_STATES

    r = _Reader(source)
    d = r.obj(data, "")
    if d.get("format") != FORMAT:
        raise r.fail("format", d.get("format"), f"'{FORMAT}' (a file written by PharmaTwin)")
    if d.get("version") != VERSION:
        raise r.fail(
            "version",
            d.get("version"),
            f"{VERSION} (this version reads plant states of version {VERSION})",
        )
    top = (
        "format",
        "version",
        "scenario",
        "fingerprint",
        "source",
        "time_h",
        "start",
        "at",
        "next_batch_id",
        "staff_busy",
        "units",
        "batches",
        "orders",
        "lots",
        "vehicles",
        "purchase_orders",
        "backorders",
    )
    for k in d:
        if k not in top:
            raise r.fail(k, k, "unknown key; expected one of: " + ", ".join(top))
    time = r.number(d.get("time_h"), "time_h")
    try:
        start = dt.datetime.fromisoformat(str(d.get("start")))
    except ValueError:
        raise r.fail(
            "start", d.get("start"), "an ISO 8601 date-time such as 2026-01-05T06:00:00"
        ) from None
    units: dict[str, UnitState] = {}
    for name, raw in r.obj(d.get("units"), "units").items():
        p = f"units.{name}"
        u = r.obj(raw, p)
        r.known(u, p, UnitState)
        c = r.obj(u.get("clean", {}), f"{p}.clean")
        r.known(c, f"{p}.clean", CleanState)
        clean = CleanState(
            r.choice(c.get("cleanliness", CLEAN), f"{p}.clean.cleanliness", (CLEAN, MINOR, DIRTY)),
            r.text(c.get("last_product"), f"{p}.clean.last_product", optional=True),
            r.integer(c.get("campaign_count", 0), f"{p}.clean.campaign_count"),
            r.number(c.get("clean_since", 0.0), f"{p}.clean.clean_since"),
            r.number(c.get("dirty_since", 0.0), f"{p}.clean.dirty_since"),
        )
        units[name] = UnitState(
            name=name,
            state=r.choice(u.get("state", "idle"), f"{p}.state", UNIT_STATES),
            since=r.number(u.get("since", 0.0), f"{p}.since"),
            holder=r.text(u.get("holder"), f"{p}.holder", optional=True),
            activity=r.choice(u.get("activity"), f"{p}.activity", ACTIVITIES, optional=True),
            activity_kind=r.text(u.get("activity_kind"), f"{p}.activity_kind", optional=True),
            activity_since=r.number(u.get("activity_since", 0.0), f"{p}.activity_since"),
            activity_hours=r.number(u.get("activity_hours"), f"{p}.activity_hours", optional=True),
            clean=clean,
            operating_h=r.number(u.get("operating_h", 0.0), f"{p}.operating_h"),
            batches_since_maintenance=r.integer(
                u.get("batches_since_maintenance", 0), f"{p}.batches_since_maintenance"
            ),
            maintenance_due=r.flag(u.get("maintenance_due", False), f"{p}.maintenance_due"),
            last_maintenance=r.number(
                u.get("last_maintenance"), f"{p}.last_maintenance", optional=True
            ),
        )
    orders: dict[str, OrderState] = {}
    for oid, raw in r.obj(d.get("orders"), "orders").items():
        p = f"orders.{oid}"
        o = r.obj(raw, p)
        r.known(o, p, OrderState)
        orders[oid] = OrderState(
            id=oid,
            product=r.text(o.get("product"), f"{p}.product"),
            quantity=r.number(o.get("quantity"), f"{p}.quantity", low=1e-12),
            release=r.number(o.get("release", 0.0), f"{p}.release"),
            due=r.number(o.get("due"), f"{p}.due"),
            priority=int(r.number(o.get("priority", 0), f"{p}.priority", low=-9999)),
            batches_needed=r.integer(o.get("batches_needed", 1), f"{p}.batches_needed", low=1),
            made=r.integer(o.get("made", 0), f"{p}.made"),
            released=r.integer(o.get("released", 0), f"{p}.released"),
            completed=r.number(o.get("completed"), f"{p}.completed", optional=True),
        )
    batches: dict[str, BatchState] = {}
    for key, raw in r.obj(d.get("batches"), "batches").items():
        p = f"batches.{key}"
        b = r.obj(raw, p)
        r.known(b, p, BatchState)
        order = r.text(b.get("order"), f"{p}.order")
        if order not in orders:
            raise r.fail(f"{p}.order", order, "an order of this state's orders")
        unit = r.text(b.get("unit"), f"{p}.unit", optional=True)
        if unit is not None and unit not in units:
            raise r.fail(f"{p}.unit", unit, "a unit of this state's units")
        batches[key] = BatchState(
            key=key,
            id=r.integer(b.get("id"), f"{p}.id"),
            order=order,
            index=r.integer(b.get("index"), f"{p}.index", low=1),
            product=r.text(b.get("product"), f"{p}.product"),
            size=r.number(b.get("size"), f"{p}.size", low=1e-12),
            released=r.number(b.get("released", 0.0), f"{p}.released"),
            step=r.integer(b.get("step", 0), f"{p}.step"),
            phase=r.choice(b.get("phase"), f"{p}.phase", PHASES),
            since=r.number(b.get("since", 0.0), f"{p}.since"),
            unit=unit,
            processed_h=r.number(b.get("processed_h", 0.0), f"{p}.processed_h"),
            setup_hours=r.number(b.get("setup_hours"), f"{p}.setup_hours", optional=True),
            hold_deadline=r.number(b.get("hold_deadline"), f"{p}.hold_deadline", optional=True),
            hold_flagged=r.flag(b.get("hold_flagged", False), f"{p}.hold_flagged"),
            quarantine_since=r.number(
                b.get("quarantine_since"), f"{p}.quarantine_since", optional=True
            ),
            qc_hands_on=r.number(b.get("qc_hands_on"), f"{p}.qc_hands_on", optional=True),
        )
        if batches[key].phase not in ("queued", "quarantine", "qc") and unit is None:
            raise r.fail(f"{p}.unit", None, f"the unit of a batch in phase '{batches[key].phase}'")
    staff = {
        k: r.integer(v, f"staff_busy.{k}")
        for k, v in r.obj(d.get("staff_busy", {}), "staff_busy").items()
    }
    lots = []
    for i, raw in enumerate(d.get("lots") or []):
        p = f"lots[{i}]"
        lo = r.obj(raw, p)
        r.known(lo, p, LotState)
        lots.append(
            LotState(
                r.text(lo.get("id"), f"{p}.id"),
                r.text(lo.get("material"), f"{p}.material"),
                r.text(lo.get("warehouse"), f"{p}.warehouse"),
                r.number(lo.get("quantity"), f"{p}.quantity"),
                r.number(lo.get("expiry"), f"{p}.expiry", low=-1e9, optional=True),
                r.choice(lo.get("status"), f"{p}.status", ("quarantine", "released")),
                r.choice(lo.get("place", "stock"), f"{p}.place", ("stock", "dock")),
                r.number(lo.get("since", 0.0), f"{p}.since"),
            )
        )
    vehicles = {}
    for name, raw in r.obj(d.get("vehicles") or {}, "vehicles").items():
        p = f"vehicles.{name}"
        v = r.obj(raw, p)
        r.known(v, p, VehicleState)
        vehicles[name] = VehicleState(
            name,
            r.text(v.get("node"), f"{p}.node"),
            r.number(v.get("battery_kwh"), f"{p}.battery_kwh"),
            r.text(v.get("state", "idle"), f"{p}.state"),
            r.number(v.get("since", 0.0), f"{p}.since"),
        )
    pos = []
    for i, raw in enumerate(d.get("purchase_orders") or []):
        p = f"purchase_orders[{i}]"
        po = r.obj(raw, p)
        r.known(po, p, PurchaseOrderState)
        pos.append(
            PurchaseOrderState(
                r.text(po.get("id"), f"{p}.id"),
                r.text(po.get("material"), f"{p}.material"),
                r.number(po.get("quantity"), f"{p}.quantity", low=1e-12),
                r.number(po.get("ordered", 0.0), f"{p}.ordered"),
            )
        )
    bos = []
    for i, raw in enumerate(d.get("backorders") or []):
        p = f"backorders[{i}]"
        bo = r.obj(raw, p)
        r.known(bo, p, BackorderState)
        bos.append(
            BackorderState(
                r.text(bo.get("order"), f"{p}.order"),
                r.text(bo.get("material"), f"{p}.material"),
                r.number(bo.get("quantity"), f"{p}.quantity", low=1e-12),
            )
        )
    fp = d.get("fingerprint")
    if fp is not None and not (
        isinstance(fp, dict) and all(isinstance(x, str) for x in fp.values())
    ):
        raise r.fail("fingerprint", fp, "null or an object of texts (as PharmaTwin writes it)")
    return PlantState(
        time=time,
        start=start,
        scenario=r.text(d.get("scenario"), "scenario"),
        units=units,
        batches=batches,
        orders=orders,
        staff_busy=staff,
        next_batch_id=r.integer(d.get("next_batch_id", 0), "next_batch_id"),
        lots=tuple(lots),
        vehicles=vehicles,
        purchase_orders=tuple(pos),
        backorders=tuple(bos),
        fingerprint=fp,
        source=d["source"] if isinstance(d.get("source"), str) else source,
    )


def with_time(state: PlantState, time: float) -> PlantState:
    """The same state read as of a later instant (nothing happened in between)."""
    return replace(state, time=time)
