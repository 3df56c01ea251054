"""Reader for state-task networks in the JSON format of benchmarks/instances/stn.

The public format (benchmarks/instances/stn/README.md)::

    {"name": str,                                   optional
     "states": {name: {"capacity": number|null, "init": number, "price": number}},
     "st_arcs": [[state, task, fraction], ...],     a batch B draws fraction*B at its start
     "ts_arcs": [[task, state, fraction, duration], ...],   delivers fraction*B at +duration
     "units": [[unit, task, Bmin, Bmax, fixed_cost, variable_cost], ...],
     "grid": {"start": number, "stop": number, "step": number},
     "extra": [[state, amount], ...],               optional: final stock >= amount
     "reference": {"value": number, "sense": "max"|"min", "source": str, ...}}   optional

and the optional extensions documented in docs/stn.md: `states.<s>.policy` ("store", "none",
"zero_wait"), `utilities` ({name: {"capacity": number, "changes": [[time, capacity], ...]}}),
`unit_utilities` ([[unit, task, utility, fixed, per_size], ...]), `cleaning` ([[unit, task,
duration], ...]), `changeovers` ([[unit, from_task, to_task, duration], ...]), `demands`
([[state, time, amount] or [state, time, amount, penalty], ...]), `receipts` ([[state, time,
amount], ...]) and `initial` ({"units": [[unit, free_at, last_task|null] or [..., {state:
amount held}], ...], "in_progress": [[task, unit, start, size], ...]}), plus a free-text
`description`.

The reader is strict: unknown or duplicate keys, rows of the wrong length, booleans or strings
where numbers belong, NaN and infinities are refused, and so is every value `StnData` refuses
(unknown names, fractions of a task side not summing to 1, Bmin > Bmax, ...). Every problem is
an `InstanceFormatError` naming the file, the JSON path (`units[3][2]`), the bad value and what
was expected.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from optimizer.formats import InstanceFormatError, read_text
from optimizer.stn_data import (
    Arc,
    BatchInProgress,
    Changeover,
    Cleaning,
    Demand,
    Grid,
    OutputArc,
    Receipt,
    Reference,
    State,
    StnData,
    StnDataError,
    UnitInit,
    UnitTask,
    Utility,
    UtilityUse,
)

__all__ = ["parse_stn", "read_stn"]

_TOP_KEYS = {
    "name": False,
    "description": False,
    "states": True,
    "st_arcs": True,
    "ts_arcs": True,
    "units": True,
    "grid": True,
    "extra": False,
    "reference": False,
    "utilities": False,
    "unit_utilities": False,
    "cleaning": False,
    "changeovers": False,
    "demands": False,
    "receipts": False,
    "initial": False,
}
"""Keys of the top-level object; True for the required ones."""
_MAX_DEPTH = 32


class _Object(dict):
    """A JSON object that remembers keys given more than once (json keeps the last)."""

    duplicates: tuple[str, ...] = ()


class _NonFinite:
    """`NaN`, `Infinity` or `-Infinity` in the file (Python's json accepts them)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


def _object(pairs: list[tuple[str, Any]]) -> _Object:
    obj = _Object(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        obj.duplicates = tuple(k for k, _ in pairs if k in seen or seen.add(k))
    return obj


def _int(text: str) -> float | int:
    # a 5000-digit literal would make int() raise; anything beyond 1e30 is refused later anyway
    return int(text) if len(text) <= 30 else math.inf


def read_stn(path: str | Path) -> StnData:
    """Read an STN JSON file; the instance is named by its `name` key, else the file stem."""
    path = Path(path)
    return parse_stn(read_text(path), source=str(path), default_name=path.stem)


def parse_stn(text: str, source: str = "<string>", default_name: str = "stn") -> StnData:
    """Parse the text of an STN JSON file; `source` names it in error messages."""
    try:
        raw = json.loads(text, object_pairs_hook=_object, parse_constant=_NonFinite, parse_int=_int)
    except json.JSONDecodeError as exc:
        raise InstanceFormatError(
            source,
            exc.lineno,
            f"not valid JSON: {exc.msg} (column {exc.colno}); expected "
            "one JSON object as described in benchmarks/instances/stn/README.md.",
        ) from None
    except RecursionError:
        raise InstanceFormatError(
            source, 0, "the JSON is nested too deeply; expected an STN object."
        ) from None
    reader = _Reader(source)
    data = reader.instance(raw, default_name)
    return data


class _Reader:
    """Walks the parsed JSON, checking shapes and types, and builds `StnData`."""

    def __init__(self, source: str) -> None:
        self.source = source

    # -------------------------------------------------------------------- primitives
    def fail(self, where: str, value: Any, expected: str) -> None:
        shown = _show(value)
        raise InstanceFormatError(
            self.source, 0, f"bad value {shown}; expected {expected}.", where=where or "(top)"
        )

    def obj(self, where: str, value: Any, keys: dict[str, bool] | None = None) -> _Object:
        """An object; with `keys` (name -> required), unknown and missing keys are errors."""
        if not isinstance(value, dict):
            self.fail(where, value, "a JSON object {...}")
        if value.duplicates:
            self.fail(
                _join(where, value.duplicates[0]),
                value.duplicates[0],
                "each key once (this one is given twice)",
            )
        if keys is not None:
            for key in value:
                if key not in keys:
                    self.fail(_join(where, key), key, f"one of the keys {', '.join(keys)}")
            for key, required in keys.items():
                if required and key not in value:
                    self.fail(where, f"no key {key!r}", f"the key {key!r}")
        return value

    def array(self, where: str, value: Any, length: int | tuple[int, ...] | None = None) -> list:
        if not isinstance(value, list):
            self.fail(where, value, "a JSON array [...]")
        if length is not None:
            allowed = (length,) if isinstance(length, int) else length
            if len(value) not in allowed:
                words = " or ".join(str(n) for n in allowed)
                self.fail(where, value, f"an array of {words} elements")
        return value

    def name(self, where: str, value: Any) -> str:
        if not isinstance(value, str) or not value.strip():
            self.fail(where, value, "a name (a non-empty string)")
        return value

    def number(self, where: str, value: Any, what: str = "a number") -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.fail(where, value, what)
        if not math.isfinite(value) or abs(value) > 1e30:
            self.fail(where, value, f"{what} (finite)")
        return float(value)

    def optional_number(self, where: str, value: Any, what: str) -> float | None:
        return None if value is None else self.number(where, value, what)

    # ------------------------------------------------------------------------- parts
    def instance(self, raw: Any, default_name: str) -> StnData:
        top = self.obj("", raw, _TOP_KEYS)
        name = default_name
        if "name" in top:
            name = self.name("name", top["name"])
        if "description" in top and not isinstance(top["description"], str):
            self.fail("description", top["description"], "a string")
        states = self.states(top["states"])
        inputs = tuple(
            Arc(
                self.name(f"{w}[0]", r[0]),
                self.name(f"{w}[1]", r[1]),
                self.number(f"{w}[2]", r[2], "a fraction"),
            )
            for w, r in self.rows("st_arcs", top["st_arcs"], 3)
        )
        outputs = tuple(
            OutputArc(
                self.name(f"{w}[0]", r[0]),
                self.name(f"{w}[1]", r[1]),
                self.number(f"{w}[2]", r[2], "a fraction"),
                self.number(f"{w}[3]", r[3], "a duration"),
            )
            for w, r in self.rows("ts_arcs", top["ts_arcs"], 4)
        )
        unit_tasks = tuple(
            UnitTask(
                self.name(f"{w}[0]", r[0]),
                self.name(f"{w}[1]", r[1]),
                self.number(f"{w}[2]", r[2], "a batch size Bmin"),
                self.number(f"{w}[3]", r[3], "a batch size Bmax"),
                self.number(f"{w}[4]", r[4], "a fixed cost"),
                self.number(f"{w}[5]", r[5], "a variable cost"),
            )
            for w, r in self.rows("units", top["units"], 6)
        )
        grid_raw = self.obj("grid", top["grid"], {"start": True, "stop": True, "step": True})
        grid = Grid(
            *(self.number(f"grid.{k}", grid_raw[k], "a time") for k in ("start", "stop", "step"))
        )
        final_min = tuple(
            (self.name(f"{w}[0]", r[0]), self.number(f"{w}[1]", r[1], "an amount"))
            for w, r in self.rows("extra", top.get("extra", []), 2)
        )
        fields: dict[str, Any] = {
            "name": name,
            "states": states,
            "inputs": inputs,
            "outputs": outputs,
            "unit_tasks": unit_tasks,
            "grid": grid,
            "final_min": final_min,
            "reference": self.reference(top["reference"]) if "reference" in top else None,
        }
        fields.update(self.extensions(top))
        try:
            return StnData(**fields)
        except StnDataError as exc:
            raise InstanceFormatError(self.source, 0, exc.detail, where=exc.where) from None

    def rows(self, where: str, value: Any, length: int | tuple[int, ...]):
        """(path, row) for each row of an array of fixed-length arrays."""
        for n, row in enumerate(self.array(where, value)):
            yield f"{where}[{n}]", self.array(f"{where}[{n}]", row, length)

    def states(self, value: Any) -> tuple[State, ...]:
        raw = self.obj("states", value)
        if not raw:
            self.fail("states", raw, "at least one state")
        out = []
        for name, spec in raw.items():
            at = f"states.{name}"
            self.name("states", name)
            spec = self.obj(
                at, spec, {"capacity": True, "init": True, "price": True, "policy": False}
            )
            policy = spec.get("policy", "store")
            if policy not in ("store", "none", "zero_wait"):
                self.fail(f"{at}.policy", policy, "'store', 'none' or 'zero_wait'")
            out.append(
                State(
                    name,
                    self.optional_number(f"{at}.capacity", spec["capacity"], "a capacity or null"),
                    self.number(f"{at}.init", spec["init"], "an initial stock"),
                    self.number(f"{at}.price", spec["price"], "a price"),
                    policy,
                )
            )
        return tuple(out)

    def reference(self, value: Any) -> Reference:
        raw = self.obj("reference", value)
        for key in ("value", "sense"):
            if key not in raw:
                self.fail("reference", f"no key {key!r}", f"the key {key!r}")
        sense = raw["sense"]
        if sense not in ("max", "min"):
            self.fail("reference.sense", sense, "'max' or 'min'")
        for key, item in raw.items():  # metadata (source, solver, notes) stays free-form
            if key not in ("value", "sense") and not (
                item is None or isinstance(item, str | int | float) and not isinstance(item, bool)
            ):
                self.fail(f"reference.{key}", item, "a string or number (metadata)")
        source = raw.get("source", "")
        return Reference(
            self.number("reference.value", raw["value"], "the reference value"),
            sense,
            source if isinstance(source, str) else str(source),
        )

    def held(self, where: str, value: Any) -> tuple[tuple[str, float], ...]:
        """`{state: amount}`: NIS material a unit holds."""
        return tuple(
            (self.name(where, state), self.number(f"{where}.{state}", amount, "an amount"))
            for state, amount in self.obj(where, value).items()
        )

    def extensions(self, top: dict) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if "utilities" in top:
            utilities = []
            for name, spec in self.obj("utilities", top["utilities"]).items():
                at = f"utilities.{name}"
                self.name("utilities", name)
                spec = self.obj(at, spec, {"capacity": True, "changes": False})
                changes = tuple(
                    (
                        self.number(f"{w}[0]", r[0], "a time"),
                        self.number(f"{w}[1]", r[1], "a capacity"),
                    )
                    for w, r in self.rows(f"{at}.changes", spec.get("changes", []), 2)
                )
                utilities.append(
                    Utility(
                        name, self.number(f"{at}.capacity", spec["capacity"], "a capacity"), changes
                    )
                )
            out["utilities"] = tuple(utilities)
        if "unit_utilities" in top:
            out["utility_uses"] = tuple(
                UtilityUse(
                    self.name(f"{w}[0]", r[0]),
                    self.name(f"{w}[1]", r[1]),
                    self.name(f"{w}[2]", r[2]),
                    self.number(f"{w}[3]", r[3], "a use"),
                    self.number(f"{w}[4]", r[4], "a use per unit size"),
                )
                for w, r in self.rows("unit_utilities", top["unit_utilities"], 5)
            )
        if "cleaning" in top:
            out["cleanings"] = tuple(
                Cleaning(
                    self.name(f"{w}[0]", r[0]),
                    self.name(f"{w}[1]", r[1]),
                    self.number(f"{w}[2]", r[2], "a duration"),
                )
                for w, r in self.rows("cleaning", top["cleaning"], 3)
            )
        if "changeovers" in top:
            out["changeovers"] = tuple(
                Changeover(
                    self.name(f"{w}[0]", r[0]),
                    self.name(f"{w}[1]", r[1]),
                    self.name(f"{w}[2]", r[2]),
                    self.number(f"{w}[3]", r[3], "a duration"),
                )
                for w, r in self.rows("changeovers", top["changeovers"], 4)
            )
        if "demands" in top:
            out["demands"] = tuple(
                Demand(
                    self.name(f"{w}[0]", r[0]),
                    self.number(f"{w}[1]", r[1], "a time"),
                    self.number(f"{w}[2]", r[2], "an amount"),
                    self.optional_number(f"{w}[3]", r[3], "a penalty or null")
                    if len(r) == 4
                    else None,
                )
                for w, r in self.rows("demands", top["demands"], (3, 4))
            )
        if "receipts" in top:
            out["receipts"] = tuple(
                Receipt(
                    self.name(f"{w}[0]", r[0]),
                    self.number(f"{w}[1]", r[1], "a time"),
                    self.number(f"{w}[2]", r[2], "an amount"),
                )
                for w, r in self.rows("receipts", top["receipts"], 3)
            )
        if "initial" in top:
            init = self.obj("initial", top["initial"], {"units": False, "in_progress": False})
            out["unit_init"] = tuple(
                UnitInit(
                    self.name(f"{w}[0]", r[0]),
                    self.number(f"{w}[1]", r[1], "a time"),
                    None if r[2] is None else self.name(f"{w}[2]", r[2]),
                    self.held(f"{w}[3]", r[3]) if len(r) == 4 else (),
                )
                for w, r in self.rows("initial.units", init.get("units", []), (3, 4))
            )
            out["in_progress"] = tuple(
                BatchInProgress(
                    self.name(f"{w}[0]", r[0]),
                    self.name(f"{w}[1]", r[1]),
                    self.number(f"{w}[2]", r[2], "a start time"),
                    self.number(f"{w}[3]", r[3], "a batch size"),
                )
                for w, r in self.rows("initial.in_progress", init.get("in_progress", []), 4)
            )
        return out


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _show(value: Any) -> str:
    if isinstance(value, _NonFinite):
        return value.text
    if isinstance(value, dict):
        return "{...}" if value else "{}"
    if isinstance(value, list):
        text = json.dumps(value, default=str)
        return text if len(text) <= 60 else text[:56] + "...]"
    if isinstance(value, str):
        return repr(value) if len(value) <= 60 else repr(value[:56] + "...")
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    return str(value)
