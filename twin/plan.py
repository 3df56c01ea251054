"""Plans the twin can execute: the data, reading and writing them, checking them against a
scenario (how they are executed is :mod:`twin.follow_plan`).

A :class:`Plan` is a list of operations: batch ``k`` of order ``o`` runs recipe step ``s`` on
unit ``u`` from ``start`` to ``end`` (hours since the scenario start), and the units' own
planned activities (maintenance, cleans). The optimizer produces plans; the twin only reads
them, so ``twin`` never imports ``optimizer``.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from twin.scenario import Scenario, ScenarioError

if TYPE_CHECKING:
    pass

__all__ = [
    "PlannedOperation",
    "PlannedActivity",
    "Plan",
    "load_plan",
    "load_plan_any",
    "plan_from_dict",
    "validate_plan",
    "scenario_fingerprint",
    "check_replanning",
    "REPLAN_EVENTS",
    "batch_key",
]


def batch_key(order: str, index: int) -> str:
    """The stable name of the index-th batch (1-based) of an order: ``"o12/3"``."""
    return f"{order}/{index}"


@dataclass(frozen=True, slots=True)
class PlannedOperation:
    """Batch ``batch`` (1-based within its order) runs recipe step ``step`` on ``unit``,
    processing from ``start`` to ``end``; the unit is taken (for its cleaning, then setup) at
    ``claim`` (None: the twin estimates it as the expected cleaning and setup before
    ``start``)."""

    order: str
    batch: int  # 1-based index of the batch within its order
    step: int
    unit: str
    start: float
    end: float
    claim: float | None = None

    @property
    def key(self) -> str:
        return batch_key(self.order, self.batch)


ACTIVITY_KINDS = ("maintenance", "clean")


@dataclass(frozen=True, slots=True)
class PlannedActivity:
    """Work a unit does on its own in the plan: preventive ``maintenance``, or the full
    ``clean`` of a dirty unit whose dirty-hold limit runs out. The twin starts it no earlier
    than ``start``."""

    unit: str
    kind: str
    start: float
    end: float


@dataclass(frozen=True)
class Plan:
    operations: tuple[PlannedOperation, ...]
    created_at: float = 0.0
    meta: dict[str, Any] = field(default_factory=dict)
    activities: tuple[PlannedActivity, ...] = ()

    @property
    def makespan(self) -> float:
        return max((op.end for op in self.operations), default=0.0)

    def by_unit(self) -> dict[str, list[PlannedOperation]]:
        out: dict[str, list[PlannedOperation]] = defaultdict(list)
        for op in sorted(self.operations, key=lambda o: (o.start, o.end, o.order, o.batch, o.step)):
            out[op.unit].append(op)
        return dict(out)

    def to_dict(self) -> dict[str, Any]:
        out = {
            "created_at": self.created_at,
            "meta": self.meta,
            "operations": [
                {k: v for k, v in asdict(op).items() if k != "claim" or v is not None}
                for op in self.operations
            ],
        }
        if self.activities:
            out["activities"] = [asdict(a) for a in self.activities]
        return out

    def save(self, path: str | Path) -> None:
        """Write the plan as JSON atomically (a temporary file in the same folder, then a
        rename), so a reader never sees half a plan."""
        from twin.store import json_safe, write_text_atomic

        write_text_atomic(Path(path), json.dumps(json_safe(self.to_dict()), indent=1))


# ---------------------------------------------------------------------------- loading
MAX_PLAN_BYTES = 100_000_000
"""A plan file larger than this is refused before it is read (about 500,000 operations)."""
MAX_PLAN_OPERATIONS = 500_000
MAX_PLAN_HOURS = 1_000_000.0
"""Planned times are hours since the scenario start, at most this (about 114 years)."""
REPLAN_EVENTS = ("breakdown", "deviation", "scrap", "qc_reject")
"""Event kinds a run can re-plan at (``--replan-on``)."""
MIN_REPLAN_EVERY_H = 1.0
"""Periodic re-planning at most once an hour of model time (``--replan-every``)..."""
MAX_REPLANS = 1_000
"""...and at most this many periodic re-plans over a run (each one is a solve)."""

_FIELDS: dict[str, type] = {
    "order": str,
    "batch": int,
    "step": int,
    "unit": str,
    "start": float,
    "end": float,
}


def _number_ok(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def plan_from_dict(data: Any, source: str) -> Plan:
    """Read plain data into a Plan, or raise ScenarioError naming the bad entry.

    Every operation needs ``order`` and ``unit`` (text), ``batch`` (an integer >= 1), ``step``
    (an integer >= 0), ``start`` and ``end`` (finite hours since the scenario start, 0 to
    ``MAX_PLAN_HOURS``, end >= start). ``meta.horizon_hours`` and ``meta.seed``, read by the
    twin, must be a positive number of hours and an integer >= 0 when present.
    """
    if not isinstance(data, dict) or not isinstance(data.get("operations"), list):
        raise ScenarioError(
            source, "operations", type(data).__name__, "a JSON object with a list 'operations'"
        )
    raw_ops = data["operations"]
    if len(raw_ops) > MAX_PLAN_OPERATIONS:
        raise ScenarioError(
            source,
            "operations",
            f"{len(raw_ops):,} operations",
            f"at most {MAX_PLAN_OPERATIONS:,} operations",
        )
    ops = []
    for i, raw in enumerate(raw_ops):
        if not isinstance(raw, dict):
            raise ScenarioError(
                source, f"operations[{i}]", raw, "an object with " + ", ".join(_FIELDS)
            )
        unknown = sorted(set(raw) - set(_FIELDS) - {"claim"})
        if unknown:
            raise ScenarioError(
                source,
                f"operations[{i}].{unknown[0]}",
                unknown[0],
                "unknown key; expected one of: " + ", ".join(_FIELDS),
            )
        values = {}
        for name, typ in _FIELDS.items():
            v = raw.get(name)
            where = f"operations[{i}].{name}"
            if typ is str:
                if not isinstance(v, str) or not v:
                    raise ScenarioError(source, where, v, "a non-empty text")
                values[name] = v
            elif typ is int:
                low = 1 if name == "batch" else 0
                if not (_number_ok(v) and int(v) == v and v >= low):
                    raise ScenarioError(source, where, v, f"an integer >= {low}")
                values[name] = int(v)
            else:
                if not (_number_ok(v) and 0 <= v <= MAX_PLAN_HOURS):
                    raise ScenarioError(
                        source,
                        where,
                        v,
                        f"a finite number of hours since the scenario start, 0 to "
                        f"{MAX_PLAN_HOURS:,.0f}",
                    )
                values[name] = float(v)
        if values["end"] < values["start"]:
            raise ScenarioError(
                source,
                f"operations[{i}].end",
                values["end"],
                f"an end >= the start {values['start']:g}",
            )
        claim = raw.get("claim")
        if claim is not None:
            if not (_number_ok(claim) and 0 <= claim <= values["start"]):
                raise ScenarioError(
                    source,
                    f"operations[{i}].claim",
                    claim,
                    f"null or a finite number of hours between 0 and the start "
                    f"{values['start']:g} (when the unit is taken for cleaning and setup)",
                )
            values["claim"] = float(claim)
        ops.append(PlannedOperation(**values))  # type: ignore[arg-type]
    created = data.get("created_at", 0.0)
    if created is None:
        created = 0.0
    if not (_number_ok(created) and 0 <= created <= MAX_PLAN_HOURS):
        raise ScenarioError(source, "created_at", created, "a finite number of hours >= 0")
    meta = data.get("meta")
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        raise ScenarioError(source, "meta", meta, "a JSON object")
    _check_meta(meta, source)
    return Plan(tuple(ops), float(created), dict(meta), _activities(data, source))


def _activities(data: dict[str, Any], source: str) -> tuple[PlannedActivity, ...]:
    raw = data.get("activities") or []
    if not isinstance(raw, list) or len(raw) > MAX_PLAN_OPERATIONS:
        raise ScenarioError(
            source,
            "activities",
            type(raw).__name__,
            f"a list of at most {MAX_PLAN_OPERATIONS:,} unit activities",
        )
    out = []
    for i, a in enumerate(raw):
        where = f"activities[{i}]"
        if not isinstance(a, dict) or set(a) != {"unit", "kind", "start", "end"}:
            raise ScenarioError(source, where, a, "an object with unit, kind, start, end")
        if not isinstance(a["unit"], str) or not a["unit"]:
            raise ScenarioError(source, f"{where}.unit", a["unit"], "a non-empty text")
        if a["kind"] not in ACTIVITY_KINDS:
            raise ScenarioError(
                source, f"{where}.kind", a["kind"], "one of: " + ", ".join(ACTIVITY_KINDS)
            )
        for name in ("start", "end"):
            if not (_number_ok(a[name]) and 0 <= a[name] <= MAX_PLAN_HOURS):
                raise ScenarioError(
                    source, f"{where}.{name}", a[name], "a finite number of hours >= 0"
                )
        if a["end"] < a["start"]:
            raise ScenarioError(source, f"{where}.end", a["end"], "an end >= the start")
        out.append(PlannedActivity(a["unit"], a["kind"], float(a["start"]), float(a["end"])))
    return tuple(out)


def _check_meta(meta: dict[str, Any], source: str) -> None:
    horizon = meta.get("horizon_hours")
    if horizon is not None and not (_number_ok(horizon) and 0 < horizon <= MAX_PLAN_HOURS):
        raise ScenarioError(
            source, "meta.horizon_hours", horizon, "null or a finite number of hours > 0"
        )
    seed = meta.get("seed")
    if seed is not None and not (
        isinstance(seed, int) and not isinstance(seed, bool) and 0 <= seed < 2**63
    ):
        raise ScenarioError(source, "meta.seed", seed, "an integer >= 0 (the seed it was made for)")
    fp = meta.get("scenario_fingerprint")
    if fp is not None and not (
        isinstance(fp, dict) and all(isinstance(fp.get(k), str) for k in ("plant", "parameters"))
    ):
        raise ScenarioError(
            source,
            "meta.scenario_fingerprint",
            fp,
            "an object with the text fields 'plant' and 'parameters' (as `twin plan` writes)",
        )


def load_plan_any(path: str | Path, scenario: Scenario) -> Plan:
    """A plan from a JSON file (``twin plan --out plan.json``) or a table (CSV or XLSX: a
    planner's spreadsheet, ``twin.plan_table``); a table names steps and dates, so it is read
    against ``scenario``."""
    if Path(path).suffix.lower() in (".csv", ".xlsx"):
        from twin.plan_table import read_plan_table

        return read_plan_table(path, scenario)
    return load_plan(path)


def load_plan(path: str | Path) -> Plan:
    """Read and check a plan file (JSON, as ``twin plan --out`` writes it)."""
    p = Path(path)
    src = str(path)
    if p.is_dir():
        raise ScenarioError(src, "", src, "a folder; expected a plan JSON file")
    if not p.is_file():
        raise ScenarioError(src, "", src, "no such file; expected a plan JSON file")
    try:
        size = p.stat().st_size
        if size > MAX_PLAN_BYTES:
            raise ScenarioError(
                src, "", f"{size:,} bytes", f"a plan file of at most {MAX_PLAN_BYTES:,} bytes"
            )
        text = p.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ScenarioError(src, "", f"byte {exc.start}", "UTF-8 text (a plan JSON file)") from None
    except OSError as exc:
        raise ScenarioError(
            src, "", src, f"unreadable ({exc.strerror or exc}); expected a readable plan JSON file"
        ) from None
    if not text.strip():
        raise ScenarioError(src, "", "an empty file", "a plan JSON file")
    try:
        data = json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise ScenarioError(
            src, f"line {exc.lineno}, column {exc.colno}", exc.msg, "valid JSON"
        ) from None
    except ValueError as exc:  # NaN / Infinity, which JSON does not have
        raise ScenarioError(src, "", str(exc), "valid JSON (no NaN or Infinity)") from None
    except RecursionError:
        raise ScenarioError(src, "", "...", "JSON nested at most a few hundred levels") from None
    return plan_from_dict(data, src)


def _no_constant(name: str) -> Any:
    raise ValueError(name)


def scenario_fingerprint(scenario: Scenario) -> dict[str, str]:
    """What a plan depends on, hashed: ``plant`` (units and their classes, products with their
    batch sizes and recipe steps, order ids with product and quantity: a plan for another
    plant cannot be run) and ``parameters`` (everything else that shapes the plan's times:
    durations, cleaning, failures, staff, shifts, release and due dates; a plan made for other
    parameters runs, but its times may not hold). Names, descriptions, the simulation horizon
    and the dispatch rule are left out."""
    import hashlib

    plant = {
        "units": [[n, scenario.units[spec].equipment_class] for n, spec in scenario.unit_names()],
        "products": {
            p: {
                "batch_size": prod.batch_size,
                "steps": [[s.name, s.equipment_class] for s in prod.recipe],
            }
            for p, prod in sorted(scenario.products.items())
        },
        "orders": sorted([o.id, o.product, o.quantity] for o in scenario.orders),
        "generator": scenario.order_generator is not None,
    }
    params = {
        k: v
        for k, v in scenario.to_dict().items()
        if k not in ("name", "description", "simulation", "dispatch")
    }

    def digest(obj: Any) -> str:
        text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    return {"plant": digest(plant), "parameters": digest(params)}


def _batches(quantity: float, batch_size: float) -> int:
    return max(1, math.ceil(quantity / batch_size - 1e-9))


def validate_plan(plan: Plan, scenario: Scenario, source: str = "<plan>") -> list[str]:
    """Check a plan against the scenario it is to run in; raise ScenarioError for the first
    problem, return warnings (one line each).

    Every operation must name an order of the scenario (when its orders are fixed), a batch
    within the order's batch count, a step of the product's recipe, and a unit of that step's
    equipment class; no operation may appear twice. A plan whose ``meta`` carries a scenario
    fingerprint (``twin plan`` writes one) must have been made for the same plant and orders;
    made for other durations, staff or calendars of that plant (a what-if variant) it is
    accepted with a warning.
    """
    units = dict(scenario.unit_names())
    orders = {o.id: o for o in scenario.orders}
    known_orders = scenario.order_generator is None
    seen: dict[tuple[str, int, int], int] = {}
    for i, op in enumerate(plan.operations):
        where = f"operations[{i}]"
        if op.unit not in units:
            raise ScenarioError(
                source, f"{where}.unit", op.unit, f"a unit of scenario '{scenario.name}'"
            )
        if op.step < 0:
            raise ScenarioError(source, f"{where}.step", op.step, "a step index >= 0")
        key = (op.order, op.batch, op.step)
        if key in seen:
            raise ScenarioError(
                source,
                where,
                f"{op.key} step {op.step}",
                f"each batch step planned once; operations[{seen[key]}] plans it already",
            )
        seen[key] = i
        if not known_orders:
            continue
        order = orders.get(op.order)
        if order is None:
            shown = ", ".join(sorted(orders)[:10]) + (", ..." if len(orders) > 10 else "")
            raise ScenarioError(
                source,
                f"{where}.order",
                op.order,
                f"an order of scenario '{scenario.name}': {shown or 'it has none'}",
            )
        product = scenario.products[order.product]
        n = _batches(order.quantity, product.batch_size)
        if op.batch > n:
            raise ScenarioError(
                source,
                f"{where}.batch",
                op.batch,
                f"a batch 1..{n} of order {op.order} ({order.quantity:g} of {order.product} "
                f"in batches of {product.batch_size:g})",
            )
        recipe = product.recipe
        if op.step >= len(recipe):
            raise ScenarioError(
                source,
                f"{where}.step",
                op.step,
                f"a step 0..{len(recipe) - 1} of the recipe of {order.product}",
            )
        cls = recipe[op.step].equipment_class
        unit_cls = scenario.units[units[op.unit]].equipment_class
        if unit_cls != cls:
            raise ScenarioError(
                source,
                f"{where}.unit",
                op.unit,
                f"a unit of class {cls} (step {op.step} '{recipe[op.step].name}' of "
                f"{order.product}); {op.unit} is a {unit_cls}",
            )
    fp = plan.meta.get("scenario_fingerprint")
    if not isinstance(fp, dict):
        return []
    mine = scenario_fingerprint(scenario)
    made_for = plan.meta.get("scenario", "another scenario")
    if fp.get("plant") != mine["plant"]:
        raise ScenarioError(
            source,
            "meta.scenario_fingerprint",
            fp.get("plant"),
            f"a plan made for this plant and these orders; it was made for '{made_for}', whose "
            "units, recipes or orders differ from those of scenario "
            f"'{scenario.name}' (make a plan for it with `twin plan`)",
        )
    if fp.get("parameters") != mine["parameters"]:
        return [
            f"{source} was made for another variant of this plant (durations, cleaning, "
            "staff, shifts or dates differ): its times may not hold"
        ]
    return []


def check_replanning(
    replan_on: tuple[str, ...] = (),
    replan_every: float | None = None,
    freeze: float = 0.0,
    horizon: float | None = None,
) -> None:
    """Raise ScenarioError (naming the ``twin run`` option) for re-planning options a run
    cannot honour in bounded time: unknown events, a period under ``MIN_REPLAN_EVERY_H`` or
    giving more than ``MAX_REPLANS`` re-plans over ``horizon``, a negative frozen window."""
    for e in replan_on:
        if e not in REPLAN_EVENTS:
            raise ScenarioError(
                "--replan-on", "", e, f"a comma list of: {', '.join(REPLAN_EVENTS)}"
            )
    if replan_every is not None:
        if not (_number_ok(replan_every) and replan_every >= MIN_REPLAN_EVERY_H):
            raise ScenarioError(
                "--replan-every",
                "",
                f"{replan_every:g} h" if _number_ok(replan_every) else replan_every,
                f"a period of at least {MIN_REPLAN_EVERY_H:g} h (each re-plan is a solve)",
            )
        if horizon is not None and horizon / replan_every > MAX_REPLANS:
            raise ScenarioError(
                "--replan-every",
                "",
                f"{replan_every:g} h",
                f"at most {MAX_REPLANS:,} re-plans over the run; every {replan_every:g} h over "
                f"the {horizon:,g} h horizon makes {horizon / replan_every:,.0f}: use a period "
                f"of at least {horizon / MAX_REPLANS:,.3g} h",
            )
    if not (_number_ok(freeze) and 0 <= freeze <= MAX_PLAN_HOURS):
        raise ScenarioError("--freeze", "", freeze, "a duration >= 0")
