"""Loading a scenario: file -> safe YAML -> pydantic schema -> times resolved -> checks.

``load(path)`` is the only way in. Every problem (syntax, unknown key, wrong type, dangling
cross-reference, an impossible combination) becomes one :class:`ScenarioError` that names the
file, the path inside it (``products.tab_a.recipe[2].equipment_class``), the bad value and what
was expected. After loading, nothing in the model re-checks input.
"""

from __future__ import annotations

import datetime as dt
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ValidationError

from twin.scenario.checks import check_references
from twin.scenario.errors import ScenarioError
from twin.scenario.schema import Scenario
from twin.scenario.yaml_io import load_yaml_text

__all__ = ["load", "load_dict", "read_yaml", "parse_yaml_text", "validation_error"]

MAX_SCENARIO_BYTES = 5_000_000


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
    except OSError as exc:
        raise ScenarioError(src, "", str(path), f"a readable file ({exc.strerror})") from None
    return parse_yaml_text(text, src)


def parse_yaml_text(text: str, source: str) -> dict[str, Any]:
    """A YAML mapping read with the project's one safe reader (``yaml_io``)."""
    data = load_yaml_text(text, source)
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
    check_references(scenario, source)
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
