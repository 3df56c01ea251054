"""The scenario format: a YAML plant description validated into immutable objects.

``load(path)`` is the only way in. Every problem (syntax, unknown key, wrong type, dangling
cross-reference) becomes one :class:`ScenarioError` that names the file, the path inside it
(``products.tab_a.recipe[2].equipment_class``), the bad value and what was expected. After
loading, nothing in the model re-checks input.

Times are hours since ``start`` (the calendar start of the plant). Order release and due dates
may be given as offsets (``"14d"``) or as ISO dates/datetimes, which are converted to offsets.
"""

from __future__ import annotations

import datetime as dt
import math
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PlainValidator, ValidationError, field_validator

from twin.flow_spec import (
    BomQty,
    FleetSpec,
    LayoutSpec,
    Material,
    WarehouseSpec,
    check_material_flow,
)
from twin.units import Distribution, Duration, Fixed, parse_duration

__all__ = [
    "ScenarioError",
    "Scenario",
    "load",
    "load_dict",
    "read_yaml",
    "UNIT_STATES",
    "expand_units",
    "validation_error",
]

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
MAX_SCENARIO_BYTES = 5_000_000


class ScenarioError(ValueError):
    """A scenario problem, as one paragraph a user can act on."""

    def __init__(self, source: str, path: str, value: Any, expected: str) -> None:
        self.source, self.path, self.value, self.expected = source, path, value, expected
        where = f"{source}: {path}" if path else source
        shown = _short(value)
        super().__init__(f"{where}: bad value {shown}: {expected}")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


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
                return parse_time(dt.datetime.fromisoformat(value))
            except ValueError:
                pass
        raise ValueError(
            f"expected an offset such as 14d or a date such as 2026-02-01, got {value!r}"
        )
    return parse_duration(value)


Time = Annotated[float | dt.datetime, PlainValidator(parse_time)]
PositiveInt = Annotated[int, Field(ge=1)]
NonNegInt = Annotated[int, Field(ge=0)]
Priority = Annotated[int, Field(ge=-9999, le=9999)]
MAX_BATCHES_PER_ORDER = 10_000
Probability = Annotated[float, Field(ge=0.0, le=1.0)]


# --------------------------------------------------------------------------- equipment
class Capacity(_Model):
    """Batch-size range a unit accepts (kg unless the scenario says otherwise)."""

    min: Annotated[float, Field(ge=0)] = 0.0
    max: Annotated[float, Field(gt=0)]


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
    energy_kw: dict[str, Annotated[float, Field(ge=0)]] = Field(default_factory=dict)
    failures: Failures | None = None
    maintenance: Maintenance | None = None
    cleaning: Cleaning = Cleaning()
    shift: str | None = None


class UnitSpec(_Model):
    equipment_class: str = Field(alias="class")
    count: PositiveInt = 1
    shift: str | None = None
    room: str | None = None
    station: str | None = None  # layout node where vehicles load and unload this unit


# --------------------------------------------------------------------------- recipes
class Step(_Model):
    """One ISA-88 operation of a recipe."""

    name: str
    equipment_class: str
    duration: Distribution
    scale_reference: Annotated[float, Field(gt=0)] | None = None
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
    batch_size: Annotated[float, Field(gt=0)]
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
    count: NonNegInt
    shift: str | None = None


class Repairs(_Model):
    qualification: str


# --------------------------------------------------------------------------- orders
class Order(_Model):
    id: str
    product: str
    quantity: Annotated[float, Field(gt=0)]
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
    products: dict[str, Product] = Field(min_length=1)
    staff: dict[str, StaffPool] = Field(default_factory=dict)
    shifts: dict[str, Shift] = Field(default_factory=dict)
    qc: QCSpec | None = None
    repairs: Repairs | None = None
    orders: tuple[Order, ...] = ()
    order_generator: OrderGenerator | None = None
    replace_scrapped: bool = True
    materials: dict[str, Material] = Field(default_factory=dict)
    warehouses: dict[str, WarehouseSpec] = Field(default_factory=dict)
    layout: LayoutSpec | None = None
    fleet: FleetSpec | None = None

    @field_validator("start", mode="before")
    @classmethod
    def _start(cls, v: Any) -> Any:
        if isinstance(v, dt.date | str):
            try:
                t = parse_time(v)
            except ValueError:
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


# --------------------------------------------------------------------------- loading
def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping with the safe loader; any problem is a ScenarioError."""
    p = Path(path)
    src = str(path)
    if not p.is_file():
        raise ScenarioError(src, "", str(path), "no such file; expected a scenario YAML file")
    if p.stat().st_size > MAX_SCENARIO_BYTES:
        raise ScenarioError(
            src, "", p.stat().st_size, f"file too large; expected <= {MAX_SCENARIO_BYTES} bytes"
        )
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ScenarioError(src, "", f"byte {exc.start}", "expected UTF-8 text") from None
    return parse_yaml_text(text, src)


def parse_yaml_text(text: str, source: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ScenarioError(source, where, problem, "expected valid YAML") from None
    if not isinstance(data, dict):
        raise ScenarioError(
            source, "", type(data).__name__, "expected a YAML mapping at the top level"
        )
    return data


def load(path: str | Path) -> Scenario:
    """Load and validate a scenario file."""
    return load_dict(read_yaml(path), str(path))


def load_dict(data: Mapping[str, Any], source: str = "<scenario>") -> Scenario:
    """Validate plain data (as read from YAML) into a Scenario, or raise ScenarioError."""
    if not isinstance(data, Mapping):
        raise ScenarioError(source, "", type(data).__name__, "expected a mapping at the top level")
    try:
        scenario = Scenario.model_validate(dict(data))
    except ValidationError as exc:
        raise validation_error(exc, source, Scenario) from None
    except RecursionError:
        raise ScenarioError(source, "", "...", "nesting too deep") from None
    scenario = _resolve_times(scenario, source)
    _check_references(scenario, source)
    return scenario


def _loc_to_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif (
            part
            in {"fixed", "uniform", "triangular", "normal", "lognormal", "exponential", "empirical"}
            and out
        ):
            continue  # discriminator tag pydantic inserts for tagged unions
        elif str(part).startswith(("function-", "union[", "tagged-union[", "constrained-")):
            continue
        else:
            out += ("." if out else "") + str(part)
    return out


def _allowed_keys(loc: tuple[Any, ...], root: type[BaseModel]) -> list[str] | None:
    """The keys allowed at the place an unknown key was found (walks the model types)."""
    tp: Any = root
    for part in loc[:-1]:
        tp = _unwrap(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            field = next(
                (f for n, f in tp.model_fields.items() if (f.alias or n) == part or n == part), None
            )
            if field is None:
                return None
            tp = field.annotation
        elif typing.get_origin(tp) is dict:
            tp = typing.get_args(tp)[1]
        elif typing.get_origin(tp) is tuple:
            tp = typing.get_args(tp)[0]
        else:
            return None
    tp = _unwrap(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return [f.alias or n for n, f in tp.model_fields.items()]
    return None


def _unwrap(tp: Any) -> Any:
    while True:
        origin = typing.get_origin(tp)
        if origin is Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            models = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
            tp = models[0] if len(models) == 1 else args[0]
            if len(args) > 1 and not models:
                return tp
        else:
            return tp


def validation_error(
    exc: ValidationError, source: str, root: type[BaseModel] | None = None
) -> ScenarioError:
    """A pydantic ValidationError as the one-paragraph ScenarioError (file, path inside it,
    bad value, expectation); ``root`` is the model validated (for listing allowed keys)."""
    err = exc.errors(include_url=False)[0]
    loc = tuple(err["loc"])
    path = _loc_to_path(loc)
    kind = err["type"]
    if kind == "extra_forbidden":
        allowed = _allowed_keys(loc, root or Scenario)
        expected = "unknown key" + (
            f"; expected one of: {', '.join(sorted(allowed))}" if allowed else ""
        )
        return ScenarioError(source, path, loc[-1], expected)
    if kind == "missing":
        return ScenarioError(source, path, None, "required key is missing")
    msg = err["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    expected = msg[0].lower() + msg[1:] if msg else "a valid value"
    if kind.startswith(
        ("int_", "float_", "string_", "bool_", "dict_", "tuple_", "list_")
    ) or kind in {
        "greater_than",
        "greater_than_equal",
        "less_than_equal",
        "literal_error",
        "too_short",
    }:
        expected = "expected: " + expected
    return ScenarioError(source, path, err.get("input"), expected)


def _offset(value: Any, start: dt.datetime, source: str, path: str) -> float:
    if isinstance(value, dt.datetime):
        hours = (value - start).total_seconds() / 3600
    elif isinstance(value, dt.date):
        hours = (dt.datetime(value.year, value.month, value.day) - start).total_seconds() / 3600
    else:
        return float(value)
    if hours < 0:
        raise ScenarioError(
            source, path, str(value), f"a date on or after the scenario start {start.isoformat()}"
        )
    return hours


def _resolve_times(sc: Scenario, source: str) -> Scenario:
    orders = []
    for i, o in enumerate(sc.orders):
        release = _offset(o.release, sc.start, source, f"orders[{i}].release")
        due = _offset(o.due, sc.start, source, f"orders[{i}].due")
        orders.append(o.model_copy(update={"release": release, "due": due}))
    return sc.model_copy(update={"orders": tuple(orders)})


def _check_references(sc: Scenario, source: str) -> None:
    """Every name used somewhere must be defined; combinations must be satisfiable."""

    def fail(path: str, value: Any, expected: str) -> typing.NoReturn:
        raise ScenarioError(source, path, value, expected)

    def one_of(names: typing.Iterable[str]) -> str:
        names = sorted(names)
        return "expected one of: " + ", ".join(names) if names else "none are defined"

    from twin.dispatch import policy_names

    if sc.dispatch not in policy_names():
        fail("dispatch", sc.dispatch, f"unknown dispatch policy; {one_of(policy_names())}")
    if sc.simulation.warmup >= sc.simulation.horizon:
        fail(
            "simulation.warmup",
            sc.simulation.warmup,
            f"a warm-up shorter than the horizon ({sc.simulation.horizon}h)",
        )

    def check_staff(path: str, need: StaffNeed | None) -> None:
        if need is None:
            return
        if need.qualification not in sc.staff:
            fail(
                f"{path}.qualification",
                need.qualification,
                f"unknown staff qualification; {one_of(sc.staff)}",
            )
        if need.count > sc.staff[need.qualification].count:
            fail(
                f"{path}.count",
                need.count,
                f"at most the {sc.staff[need.qualification].count} staff of qualification "
                f"{need.qualification!r} (more could never be found)",
            )

    def check_shift(path: str, name: str | None) -> None:
        if name is not None and name not in sc.shifts:
            fail(path, name, f"unknown shift calendar; {one_of(sc.shifts)}")

    for name, pool in sc.staff.items():
        check_shift(f"staff.{name}.shift", pool.shift)
    for name, shift in sc.shifts.items():
        if not shift.windows():
            fail(f"shifts.{name}", shift.model_dump(), "at least one working window")

    for cname, cls in sc.equipment_classes.items():
        base = f"equipment_classes.{cname}"
        check_shift(f"{base}.shift", cls.shift)
        for state in cls.energy_kw:
            if state not in UNIT_STATES:
                fail(
                    f"{base}.energy_kw.{state}", state, f"unknown unit state; {one_of(UNIT_STATES)}"
                )
        if cls.capacity and cls.capacity.min > cls.capacity.max:
            fail(
                f"{base}.capacity.min",
                cls.capacity.min,
                f"a minimum <= the maximum {cls.capacity.max}",
            )
        m = cls.maintenance
        if m is not None:
            if m.every is None and m.every_batches is None:
                fail(
                    f"{base}.maintenance", m.model_dump(), "at least one of every or every_batches"
                )
            if m.qualification is not None:
                check_staff(f"{base}.maintenance", StaffNeed(qualification=m.qualification))
        cl = cls.cleaning
        for frm, row in cl.matrix.items():
            if frm not in sc.products:
                fail(
                    f"{base}.cleaning.matrix.{frm}", frm, f"unknown product; {one_of(sc.products)}"
                )
            for to in row:
                if to not in sc.products:
                    fail(
                        f"{base}.cleaning.matrix.{frm}.{to}",
                        to,
                        f"unknown product; {one_of(sc.products)}",
                    )
        if cl.campaign_batches is not None and cl.campaign is None:
            fail(
                f"{base}.cleaning.campaign",
                None,
                "a campaign clean duration when campaign_batches is set",
            )
        check_staff(f"{base}.cleaning.operators", cl.operators)

    for uid, spec in sc.units.items():
        if "#" in uid:
            fail(f"units.{uid}", uid, "a unit id without '#' (reserved for numbered copies)")
        if spec.equipment_class not in sc.equipment_classes:
            fail(
                f"units.{uid}.class",
                spec.equipment_class,
                f"unknown equipment class; {one_of(sc.equipment_classes)}",
            )
        check_shift(f"units.{uid}.shift", spec.shift)

    used_classes = {s.spec.equipment_class for s in _unit_views(sc)}
    for pname, prod in sc.products.items():
        for i, step in enumerate(prod.recipe):
            base = f"products.{pname}.recipe[{i}]"
            if step.equipment_class not in sc.equipment_classes:
                fail(
                    f"{base}.equipment_class",
                    step.equipment_class,
                    f"unknown equipment class; {one_of(sc.equipment_classes)}",
                )
            if step.equipment_class not in used_classes:
                fail(
                    f"{base}.equipment_class",
                    step.equipment_class,
                    "an equipment class with at least one unit in units",
                )
            cap = sc.equipment_classes[step.equipment_class].capacity
            if cap and not (cap.min <= prod.batch_size <= cap.max):
                fail(
                    f"products.{pname}.batch_size",
                    prod.batch_size,
                    f"a batch size within the capacity {cap.min}-{cap.max} of equipment class "
                    f"{step.equipment_class!r} used by recipe[{i}]",
                )
            check_staff(f"{base}.operators", step.operators)
            if step.transfer == "direct" and i == len(prod.recipe) - 1:
                fail(
                    f"{base}.transfer", "direct", "'store' on the last step (there is no next unit)"
                )
        if prod.qc and prod.qc.qualification:
            check_staff(f"products.{pname}.qc", StaffNeed(qualification=prod.qc.qualification))
    if sc.qc and sc.qc.qualification:
        check_staff("qc", StaffNeed(qualification=sc.qc.qualification))
    if sc.repairs:
        check_staff("repairs", StaffNeed(qualification=sc.repairs.qualification))

    seen: set[str] = set()
    for i, o in enumerate(sc.orders):
        if o.id in seen:
            fail(f"orders[{i}].id", o.id, "a unique order id")
        seen.add(o.id)
        if o.product not in sc.products:
            fail(f"orders[{i}].product", o.product, f"unknown product; {one_of(sc.products)}")
        n = o.quantity / sc.products[o.product].batch_size
        if n > MAX_BATCHES_PER_ORDER:
            fail(
                f"orders[{i}].quantity",
                o.quantity,
                f"at most {MAX_BATCHES_PER_ORDER} batches of "
                f"{sc.products[o.product].batch_size:g} per order",
            )
        if float(o.due) < float(o.release):
            fail(f"orders[{i}].due", o.due, f"a due date on or after the release ({o.release}h)")
    if sc.order_generator:
        for pname, stream in sc.order_generator.products.items():
            if pname not in sc.products:
                fail(
                    f"order_generator.products.{pname}",
                    pname,
                    f"unknown product; {one_of(sc.products)}",
                )
            if stream.interarrival.mean < 1 / 60:
                fail(
                    f"order_generator.products.{pname}.interarrival",
                    stream.interarrival.mean,
                    "a mean interarrival time of at least 1min",
                )
            if stream.quantity.mean <= 0:
                fail(
                    f"order_generator.products.{pname}.quantity",
                    stream.quantity.mean,
                    "a mean quantity > 0",
                )
            top = max(
                stream.quantity.mean,
                getattr(stream.quantity, "high", 0.0) or 0.0,
                max(getattr(stream.quantity, "values", (0.0,))),
            )
            if top / sc.products[pname].batch_size > MAX_BATCHES_PER_ORDER:
                fail(
                    f"order_generator.products.{pname}.quantity",
                    top,
                    f"at most {MAX_BATCHES_PER_ORDER} batches per order",
                )
    if not sc.orders and not sc.order_generator:
        fail("orders", [], "at least one order, or an order_generator")
    for cname, cls in sc.equipment_classes.items():
        if math.isinf(cls.capacity.max if cls.capacity else 1.0):
            fail(f"equipment_classes.{cname}.capacity.max", "inf", "a finite capacity")
    check_material_flow(sc, fail, one_of)


class _UnitView(typing.NamedTuple):
    name: str
    spec: UnitSpec


def _unit_views(sc: Scenario) -> list[_UnitView]:
    return [_UnitView(name, sc.units[uid]) for name, uid in sc.unit_names()]
