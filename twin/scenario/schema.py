"""The scenario schema: pydantic models of a plant, frozen once validated.

Times are hours since ``start`` (the calendar start of the plant). Order release and due dates
may be given as offsets (``"14d"``) or as ISO dates/datetimes, converted to offsets on loading
(``twin.scenario.loading``). Cross-references are checked in ``twin.scenario.checks``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import Field, PlainValidator, field_validator

from twin.flow_spec import (
    BomQty,
    FleetSpec,
    LayoutSpec,
    Material,
    WarehouseSpec,
)
from twin.scenario.process import ProcessSpec
from twin.schema_base import Float, Int, Model
from twin.units import Distribution, Duration, Fixed, parse_duration

__all__ = ["Scenario", "UNIT_STATES", "WEEKDAYS", "expand_units", "parse_time"]

UNIT_STATES = (
    "idle",
    "setup",
    "processing",
    "cleaning",
    "dirty_hold",
    "blocked",
    "starved",
    "down",
    "maintenance",
    "off_shift",
)
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


_Model = Model


def parse_time(value: Any) -> float | dt.datetime:
    """An offset from the scenario start (a duration) or a calendar date/datetime."""
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None) if value.tzinfo else value
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day)
    if isinstance(value, str):
        try:
            return parse_duration(value)
        except ValueError:
            try:
                return parse_time(dt.datetime.fromisoformat(value.strip()))
            except ValueError as exc:
                if _DATE_LIKE.match(value):
                    raise ValueError(
                        f"{value!r} is not a calendar date ({exc}); expected a date such as "
                        "2026-02-01 or 2026-02-01T06:00"
                    ) from None
        raise ValueError(
            f"expected an offset such as 14d or a date such as 2026-02-01, got {value!r}"
        )
    return parse_duration(value)


_DATE_LIKE = re.compile(r"^\s*\d{4}-\d{1,2}-\d{1,2}")
Time = Annotated[float | dt.datetime, PlainValidator(parse_time)]
# Bounds on everything that sizes memory or work: a typo must not eat the machine.
MAX_COUNT = 1_000_000  # batches per campaign or per maintenance interval
MAX_UNITS_PER_SPEC = 1_000
MAX_UNITS = 5_000
MAX_STAFF = 10_000
MAX_ORDERS = 100_000  # fixed orders, and orders an order generator may make over the horizon
MAX_BATCHES_PER_ORDER = 10_000
MAX_HORIZON_H = 87_600.0  # ten years
MAX_AMOUNT = 1e12  # quantities, batch sizes, capacities, kW
PositiveInt = Annotated[Int, Field(ge=1, le=MAX_COUNT)]
NonNegInt = Annotated[Int, Field(ge=0)]
Priority = Annotated[Int, Field(ge=-9999, le=9999)]
Probability = Annotated[Float, Field(ge=0.0, le=1.0)]
Amount = Annotated[Float, Field(gt=0, le=MAX_AMOUNT)]


# --------------------------------------------------------------------------- equipment
class Capacity(_Model):
    """Batch-size range a unit accepts (kg unless the scenario says otherwise)."""

    min: Annotated[Float, Field(ge=0, le=MAX_AMOUNT)] = 0.0
    max: Amount


class Failures(_Model):
    """Breakdowns by operating (processing) time: MTBF and MTTR as distributions."""

    mtbf: Distribution
    mttr: Distribution

    @field_validator("mtbf")
    @classmethod
    def _mtbf(cls, v: Any) -> Any:
        if v.mean < 1.0:
            raise ValueError(f"expected a mean time between failures of at least 1h, got {v.mean}h")
        return v


class Maintenance(_Model):
    """Preventive maintenance every N calendar hours and/or every N batches."""

    every: Duration | None = None
    every_batches: PositiveInt | None = None
    duration: Distribution
    qualification: str | None = None

    @field_validator("every")
    @classmethod
    def _positive(cls, v: float | None) -> float | None:
        if v is not None and v < 1.0:
            raise ValueError(f"expected a maintenance interval of at least 1h, got {v}h")
        return v


class StaffNeed(_Model):
    qualification: str
    count: PositiveInt = 1


class Cleaning(_Model):
    """Cleaning rules of an equipment class.

    minor: between batches of the same product; major: on product change (``matrix`` gives
    from -> to durations, ``major`` the default); campaign: full clean after
    ``campaign_batches`` batches; dirty_hold: longest a unit may wait dirty before cleaning
    must start; clean_hold: how long a clean unit stays clean.
    """

    minor: Distribution = Fixed(value=0.0)
    major: Distribution = Fixed(value=0.0)
    matrix: dict[str, dict[str, Distribution]] = Field(default_factory=dict)
    campaign_batches: PositiveInt | None = None
    campaign: Distribution | None = None
    dirty_hold: Duration | None = None
    clean_hold: Duration | None = None
    operators: StaffNeed | None = None


class EquipmentClass(_Model):
    description: str = ""
    capacity: Capacity | None = None
    energy_kw: dict[str, Annotated[Float, Field(ge=0, le=MAX_AMOUNT)]] = Field(default_factory=dict)
    failures: Failures | None = None
    maintenance: Maintenance | None = None
    cleaning: Cleaning = Cleaning()
    shift: str | None = None


class UnitSpec(_Model):
    equipment_class: str = Field(alias="class")
    count: Annotated[Int, Field(ge=1, le=MAX_UNITS_PER_SPEC)] = 1
    shift: str | None = None
    room: str | None = None
    station: str | None = None  # layout node where vehicles load and unload this unit


# --------------------------------------------------------------------------- recipes
class Step(_Model):
    """One ISA-88 operation of a recipe."""

    name: str
    equipment_class: str
    duration: Distribution
    scale_reference: Amount | None = None
    setup: Distribution = Fixed(value=0.0)
    operators: StaffNeed | None = None
    max_hold: Duration | None = None
    on_hold_violation: Literal["deviation", "scrap"] = "deviation"
    on_breakdown: Literal["resume", "scrap"] = "resume"
    transfer: Literal["store", "direct"] = "store"
    consumes: dict[str, BomQty] = Field(default_factory=dict)
    produces: dict[str, BomQty] = Field(default_factory=dict)


class QCSpec(_Model):
    """QC release: an analyst spends ``hands_on`` on the batch; release ``lead_time`` after
    quarantine."""

    qualification: str | None = None
    hands_on: Distribution = Fixed(value=0.0)
    lead_time: Distribution = Fixed(value=0.0)
    reject_probability: Probability = 0.0


class Product(_Model):
    description: str = ""
    batch_size: Amount
    recipe: tuple[Step, ...] = Field(min_length=1)
    qc: QCSpec | None = None
    finished_good: str | None = None  # material that QC-released batches add to stock


# --------------------------------------------------------------------------- people, calendars
class Shift(_Model):
    """A weekly calendar: working windows ("06:00-14:00", may cross midnight) on given days."""

    days: tuple[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"], ...] = WEEKDAYS
    hours: tuple[str, ...] = ("00:00-24:00",)

    @field_validator("hours")
    @classmethod
    def _windows(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for w in v:
            _parse_window(w)
        return v

    def windows(self) -> list[tuple[float, float]]:
        """Working windows as (start, end) hours within a week starting Monday 00:00."""
        out: list[tuple[float, float]] = []
        for day in self.days:
            base = WEEKDAYS.index(day) * 24.0
            for w in self.hours:
                a, b = _parse_window(w)
                if b <= a:
                    b += 24.0
                out.append((base + a, base + b))
        return _merge_weekly(out)


def _parse_window(text: str) -> tuple[float, float]:
    try:
        a, b = text.split("-")
        ha, ma = (int(x) for x in a.strip().split(":"))
        hb, mb = (int(x) for x in b.strip().split(":"))
    except Exception:
        raise ValueError(f"expected a window like '06:00-14:00', got {text!r}") from None
    if not (0 <= ha <= 24 and 0 <= hb <= 24 and 0 <= ma < 60 and 0 <= mb < 60):
        raise ValueError(f"expected a window like '06:00-14:00', got {text!r}")
    return ha + ma / 60, hb + mb / 60


def _merge_weekly(windows: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Merge overlapping windows of a 168 h week, wrapping Sunday night into Monday."""
    pieces: list[tuple[float, float]] = []
    for a, b in windows:
        if b > 168.0:
            pieces.append((a, 168.0))
            pieces.append((0.0, b - 168.0))
        else:
            pieces.append((a, b))
    pieces.sort()
    merged: list[tuple[float, float]] = []
    for a, b in pieces:
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


class StaffPool(_Model):
    count: Annotated[Int, Field(ge=0, le=MAX_STAFF)]
    shift: str | None = None


class Repairs(_Model):
    qualification: str


# --------------------------------------------------------------------------- orders
class Order(_Model):
    id: str
    product: str
    quantity: Amount
    release: Time = 0.0
    due: Time
    priority: Priority = 0


class DemandStream(_Model):
    """Orders of one product arriving at random: interarrival time, quantity, due offset."""

    interarrival: Distribution
    quantity: Distribution
    due_after: Distribution
    priority: Priority = 0
    start: Duration = 0.0
    until: Duration | None = None


class OrderGenerator(_Model):
    products: dict[str, DemandStream] = Field(min_length=1)


class Simulation(_Model):
    horizon: Duration
    warmup: Duration = 0.0
    stop_when_done: bool = True

    @field_validator("horizon")
    @classmethod
    def _positive(cls, v: float) -> float:
        if v <= 0:
            raise ValueError("the horizon must be > 0")
        if v > MAX_HORIZON_H:
            raise ValueError(
                f"a horizon of at most {MAX_HORIZON_H:,.0f} h (ten years), got {v:,.0f} h"
            )
        return v


class Scenario(_Model):
    """A validated plant. Immutable; build a changed copy with ``model_copy(update=...)``."""

    name: str
    description: str = ""
    start: dt.datetime = dt.datetime(2026, 1, 5, 0, 0)
    simulation: Simulation
    dispatch: str = "fifo"
    equipment_classes: dict[str, EquipmentClass] = Field(min_length=1)
    units: dict[str, UnitSpec] = Field(min_length=1)
    products: dict[str, Product] = Field(default_factory=dict)  # >= 1 unless `process`
    staff: dict[str, StaffPool] = Field(default_factory=dict)
    shifts: dict[str, Shift] = Field(default_factory=dict)
    qc: QCSpec | None = None
    repairs: Repairs | None = None
    orders: tuple[Order, ...] = Field(default=(), max_length=MAX_ORDERS)
    order_generator: OrderGenerator | None = None
    replace_scrapped: bool = True
    materials: dict[str, Material] = Field(default_factory=dict)
    warehouses: dict[str, WarehouseSpec] = Field(default_factory=dict)
    layout: LayoutSpec | None = None
    fleet: FleetSpec | None = None
    process: ProcessSpec | None = None  # a process plant (twin.scenario.process)

    @field_validator("start", mode="before")
    @classmethod
    def _start(cls, v: Any) -> Any:
        if isinstance(v, dt.date | str):
            try:
                t = parse_time(v)
            except ValueError:
                if isinstance(v, str) and _DATE_LIKE.match(v):
                    raise
                t = None
            if isinstance(t, dt.datetime):
                return t
        raise ValueError(f"expected a date or datetime such as 2026-01-05T06:00, got {v!r}")

    def to_dict(self) -> dict[str, Any]:
        """Plain data that ``load_dict`` accepts again (the resolved scenario of a run)."""
        return self.model_dump(mode="json", by_alias=True, exclude_defaults=False)

    def unit_names(self) -> list[tuple[str, str]]:
        """(unit name, spec id) for every physical unit, in declaration order."""
        return expand_units(self.units)


def expand_units(units: Mapping[str, UnitSpec]) -> list[tuple[str, str]]:
    """A spec with count n gives units ``id``, ``id#2`` ... ``id#n`` (stable names, so adding a
    unit never renames an existing one)."""
    out = []
    for uid, spec in units.items():
        out.append((uid, uid))
        out.extend((f"{uid}#{k}", uid) for k in range(2, spec.count + 1))
    return out
