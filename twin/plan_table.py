"""Plans as tables: a planner's own schedule from a spreadsheet or an ERP/APS export.

One row per operation, columns (header names are matched without regard to case, blanks or
underscores; a few common aliases are accepted):

=========  ==============================================================================
order      the order id
batch      the batch's number within its order (1, 2, ...)
step       the recipe step: its name (``granulation``) or its index (0, 1, ...)
unit       the unit that runs it
start      planned processing start: a date-time (``2026-03-02 06:00``) or hours since the
           scenario start
end        optional: planned end (default: start + the step's mean duration)
claim      optional: when the unit is taken for cleaning and setup
=========  ==============================================================================

CSV (comma or semicolon separated, UTF-8) and XLSX (the first sheet) are read; both are
written by ``twin plan --out plan.csv|xlsx``. Every problem is one ScenarioError naming the
file, the row and column, the bad value and what was expected; the plan is then checked
against the scenario like every plan (``twin.plan.validate_plan``).
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import math
from pathlib import Path
from typing import Any

from twin.plan import MAX_PLAN_BYTES, MAX_PLAN_OPERATIONS, Plan, PlannedOperation
from twin.scenario import Scenario, ScenarioError

__all__ = ["read_plan_table", "write_plan_table", "TABLE_SUFFIXES"]

TABLE_SUFFIXES = (".csv", ".xlsx")
_ALIASES = {
    "order": ("order", "orderid", "productionorder"),
    "batch": ("batch", "batchno", "batchnumber", "batchindex"),
    "step": ("step", "operation", "op", "stepname", "phase"),
    "unit": ("unit", "equipment", "machine", "resource"),
    "start": ("start", "plannedstart", "starttime", "begin", "planstart"),
    "end": ("end", "plannedend", "endtime", "finish", "planend"),
    "claim": ("claim", "unitclaim", "setupstart"),
}


def _norm(text: Any) -> str:
    return "".join(ch for ch in str(text or "").lower() if ch.isalnum())


def _rows(path: Path, source: str) -> list[list[Any]]:
    if path.stat().st_size > MAX_PLAN_BYTES:
        raise ScenarioError(
            source, "", path.stat().st_size, f"a file of at most {MAX_PLAN_BYTES:,} bytes"
        )
    if path.suffix.lower() == ".xlsx":
        try:
            import openpyxl

            wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises many types for a file that is not XLSX
            raise ScenarioError(
                source, "", type(exc).__name__, "an Excel workbook (.xlsx)"
            ) from None
        ws = wb.worksheets[0]
        rows = [list(r) for r in ws.iter_rows(values_only=True)]
        wb.close()
        return rows
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ScenarioError(source, "", f"byte {exc.start}", "UTF-8 text") from None
    dialect: Any = csv.excel
    with contextlib.suppress(csv.Error):
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    return [row for row in csv.reader(io.StringIO(text), dialect)]


def read_plan_table(path: str | Path, scenario: Scenario) -> Plan:
    """A plan from a CSV or XLSX table (see the module docstring)."""
    p = Path(path)
    src = str(path)
    if p.is_dir():
        raise ScenarioError(src, "", src, "a folder; expected a plan file (CSV or XLSX)")
    if not p.is_file():
        raise ScenarioError(src, "", src, "no such file; expected a plan file (CSV or XLSX)")
    rows = [r for r in _rows(p, src) if any(c not in (None, "") for c in r)]
    if not rows:
        raise ScenarioError(src, "", "empty", "a header row and one row per operation")
    header = [_norm(c) for c in rows[0]]
    col: dict[str, int] = {}
    for name, aliases in _ALIASES.items():
        for i, h in enumerate(header):
            if h in aliases and name not in col:
                col[name] = i
    missing = [n for n in ("order", "batch", "step", "unit", "start") if n not in col]
    if missing:
        raise ScenarioError(
            src,
            "row 1",
            rows[0],
            "a header with the columns order, batch, step, unit, start "
            f"(and optionally end, claim); missing: {', '.join(missing)}",
        )
    if len(rows) - 1 > MAX_PLAN_OPERATIONS:
        raise ScenarioError(src, "", f"{len(rows) - 1:,} rows", f"at most {MAX_PLAN_OPERATIONS:,}")
    orders = {o.id: o for o in scenario.orders}
    ops = []
    for r, row in enumerate(rows[1:], start=2):

        def cell(name: str, row: list = row) -> Any:
            i = col.get(name)
            v = row[i] if i is not None and i < len(row) else None
            return None if v == "" else v

        def bad(name: str, value: Any, expected: str, r: int = r) -> ScenarioError:
            return ScenarioError(src, f"row {r}, column {name}", value, expected)

        order = cell("order")
        if order is None or str(order).strip() == "":
            raise bad("order", order, "an order id")
        order = str(order).strip()
        batch = _integer(cell("batch"))
        if batch is None or batch < 1:
            raise bad("batch", cell("batch"), "the batch's number within its order (1, 2, ...)")
        unit = cell("unit")
        if unit is None or not str(unit).strip():
            raise bad("unit", unit, "a unit name")
        product = orders[order].product if order in orders else None
        step = _step(cell("step"), product, scenario)
        if step is None:
            names = ", ".join(s.name for s in scenario.products[product].recipe) if product else ""
            raise bad(
                "step",
                cell("step"),
                "a recipe step name or index" + (f" ({names})" if names else ""),
            )
        start = _hours(cell("start"), scenario.start)
        if start is None:
            raise bad(
                "start", cell("start"), "a date-time (2026-03-02 06:00) or hours since the start"
            )
        end = _hours(cell("end"), scenario.start) if cell("end") is not None else None
        if cell("end") is not None and end is None:
            raise bad("end", cell("end"), "a date-time or hours since the start")
        if end is None:
            end = start + _mean_duration(scenario, product, step, orders.get(order))
        if end < start:
            raise bad("end", cell("end"), f"an end at or after the start ({start:g} h)")
        claim = _hours(cell("claim"), scenario.start) if cell("claim") is not None else None
        if cell("claim") is not None and (claim is None or claim > start):
            raise bad("claim", cell("claim"), "a date-time or hours at or before the start")
        ops.append(PlannedOperation(order, batch, step, str(unit).strip(), start, end, claim))
    return Plan(tuple(ops), meta={"source": src})


def _integer(v: Any) -> int | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v
    try:
        f = float(str(v).strip())
    except (TypeError, ValueError):
        return None
    return int(f) if math.isfinite(f) and f == int(f) else None


def _step(v: Any, product: str | None, scenario: Scenario) -> int | None:
    if v is None:
        return None
    n = _integer(v)
    if n is not None and n >= 0:
        return n
    if product is None:
        return None
    names = [s.name for s in scenario.products[product].recipe]
    key = _norm(v)
    for i, name in enumerate(names):
        if _norm(name) == key:
            return i
    return None


def _hours(v: Any, start: dt.datetime) -> float | None:
    if v is None:
        return None
    if isinstance(v, dt.datetime):
        h = (v.replace(tzinfo=None) - start).total_seconds() / 3600.0
        return h if h >= 0 else None
    if isinstance(v, int | float) and not isinstance(v, bool):
        return float(v) if math.isfinite(v) and 0 <= v <= 1e6 else None
    text = str(v).strip()
    try:
        f = float(text)
        return f if math.isfinite(f) and 0 <= f <= 1e6 else None
    except ValueError:
        pass
    try:
        when = dt.datetime.fromisoformat(text.replace(" ", "T", 1) if "T" not in text else text)
    except ValueError:
        return None
    return _hours(when, start)


def _mean_duration(scenario: Scenario, product: str | None, step: int, order: Any) -> float:
    if product is None:
        return 0.0
    recipe = scenario.products[product].recipe
    if step >= len(recipe):
        return 0.0
    s = recipe[step]
    size = scenario.products[product].batch_size
    scale = size / s.scale_reference if s.scale_reference else 1.0
    return s.duration.mean * scale


def write_plan_table(plan: Plan, scenario: Scenario, path: str | Path) -> Path:
    """Write a plan as CSV or XLSX (by the suffix), with calendar date-times and step names,
    atomically (a temporary file, then a rename)."""
    import os
    import tempfile

    p = Path(path)
    products = {o.id: o.product for o in scenario.orders}

    def when(h: float | None) -> str:
        if h is None:
            return ""
        return (scenario.start + dt.timedelta(hours=h)).isoformat(sep=" ", timespec="seconds")

    header = ["order", "batch", "step", "step_index", "unit", "start", "end", "claim",
              "start_h", "end_h"]  # fmt: skip
    rows = []
    for op in sorted(plan.operations, key=lambda o: (o.start, o.unit, o.order, o.batch)):
        prod = products.get(op.order)
        name = (
            scenario.products[prod].recipe[op.step].name
            if prod and op.step < len(scenario.products[prod].recipe)
            else str(op.step)
        )
        rows.append([op.order, op.batch, name, op.step, op.unit, when(op.start), when(op.end),
                     when(op.claim), round(op.start, 6), round(op.end, 6)])  # fmt: skip
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=p.suffix, dir=p.parent)
    os.close(fd)
    try:
        if p.suffix.lower() == ".xlsx":
            import openpyxl

            wb = openpyxl.Workbook()
            ws = wb.active
            ws.title = "plan"
            ws.append(header)
            for row in rows:
                ws.append(row)
            wb.save(tmp)
        else:
            with open(tmp, "w", newline="", encoding="utf-8") as fh:
                w = csv.writer(fh)
                w.writerow(header)
                w.writerows(rows)
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return p
