"""What-if runs from the browser: the planner's parameters of a scenario, the ``--set``
overrides a form stands for, and the safe reading of an uploaded scenario file.

A what-if run is an ordinary variant: the form becomes ``--set`` overrides on the base scenario
(``twin.variants.resolve``), so the stored run records exactly what was changed and the same
run can be reproduced from the command line.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from twin.dispatch import policy_names
from twin.scenario import Scenario, ScenarioError, load_dict, parse_yaml_text
from twin.variants import Variant, resolve

__all__ = [
    "MAX_UPLOAD_BYTES",
    "Params",
    "list_scenarios",
    "params_of",
    "overrides",
    "read_upload",
    "make_variant",
    "describe",
    "plan_option_available",
]

MAX_UPLOAD_BYTES = 1_000_000
_SCALED = ("value", "mean", "low", "mode", "high", "sd")


@dataclass(frozen=True)
class Params:
    """What the what-if form shows for a scenario (its current values)."""

    units: dict[str, int]  # unit spec id -> count
    staff: dict[str, int]  # pool -> count
    fleet: int | None  # vehicles, or None without a fleet
    dispatch: str
    dispatch_rules: list[str]
    failure_classes: list[str]  # equipment classes with an MTBF
    demand_streams: list[str]  # products of the order generator


def list_scenarios(folder: str | Path) -> list[str]:
    """The scenario files (``*.yaml``) of a folder, sorted (full paths: the server's business;
    the page offers their names)."""
    p = Path(folder)
    return sorted(str(f) for f in p.glob("*.yaml")) if p.is_dir() else []


_GENERATED = (".failures.mtbf=", ".interarrival=")


def describe(sets: list[str], mtbf_factor: float = 1.0, volume_factor: float = 1.0) -> str:
    """The what-if's name as a planner reads it: the plain overrides as they are, and the
    factors instead of the JSON distributions they expand to
    (``units.press_1.count=3, MTBF x2, order volume x1.5``); ``base`` when nothing changed."""
    parts = [s for s in sets if not any(g in s for g in _GENERATED)]
    if any(".failures.mtbf=" in s for s in sets):
        parts.append(f"MTBF x{mtbf_factor:g}")
    if any(".interarrival=" in s for s in sets):
        parts.append(f"order volume x{volume_factor:g}")
    return ", ".join(parts) or "base"


def params_of(sc: Scenario) -> Params:
    classes = [c for c, ec in sc.equipment_classes.items() if ec.failures is not None]
    return Params(
        units={uid: spec.count for uid, spec in sc.units.items()},
        staff={name: pool.count for name, pool in sc.staff.items()},
        fleet=sc.fleet.size if sc.fleet is not None else None,
        dispatch=sc.dispatch,
        dispatch_rules=policy_names(),
        failure_classes=classes,
        demand_streams=list(sc.order_generator.products) if sc.order_generator else [],
    )


def _scale(dist: Any, factor: float) -> Any:
    """A duration distribution (plain data, hours) with every time value times ``factor``."""
    if isinstance(dist, int | float) and not isinstance(dist, bool):
        return dist * factor
    if isinstance(dist, dict):
        out = dict(dist)
        for k in _SCALED:
            if isinstance(out.get(k), int | float) and not isinstance(out.get(k), bool):
                out[k] = out[k] * factor
        if isinstance(out.get("values"), list):
            out["values"] = [v * factor for v in out["values"]]
        return out
    return dist


def overrides(
    sc: Scenario,
    units: dict[str, int] | None = None,
    staff: dict[str, int] | None = None,
    fleet: int | None = None,
    mtbf_factor: float = 1.0,
    volume_factor: float = 1.0,
    dispatch: str | None = None,
) -> list[str]:
    """``--set`` overrides for the values that differ from the scenario's.

    ``mtbf_factor`` multiplies every equipment class's mean time between failures;
    ``volume_factor`` multiplies the order volume by dividing every demand stream's interarrival
    times by it.
    """
    out = []
    for uid, n in (units or {}).items():
        if uid in sc.units and n is not None and int(n) != sc.units[uid].count:
            out.append(f"units.{uid}.count={int(n)}")
    for pool, n in (staff or {}).items():
        if pool in sc.staff and n is not None and int(n) != sc.staff[pool].count:
            out.append(f"staff.{pool}.count={int(n)}")
    if fleet is not None and sc.fleet is not None and int(fleet) != sc.fleet.size:
        out.append(f"fleet.size={int(fleet)}")
    if dispatch and dispatch != sc.dispatch:
        out.append(f"dispatch={dispatch}")
    data = sc.to_dict()
    if mtbf_factor and abs(mtbf_factor - 1.0) > 1e-9:
        for name, ec in data["equipment_classes"].items():
            if ec.get("failures"):
                value = json.dumps(_scale(ec["failures"]["mtbf"], float(mtbf_factor)))
                out.append(f"equipment_classes.{name}.failures.mtbf={value}")
    if volume_factor and abs(volume_factor - 1.0) > 1e-9 and data.get("order_generator"):
        for prod, stream in data["order_generator"]["products"].items():
            value = json.dumps(_scale(stream["interarrival"], 1.0 / float(volume_factor)))
            out.append(f"order_generator.products.{prod}.interarrival={value}")
    return out


def read_upload(contents: str, filename: str, limit: int = MAX_UPLOAD_BYTES) -> dict[str, Any]:
    """An uploaded scenario (a ``data:...;base64,`` URL from ``dcc.Upload``) as validated plain
    data. Only ``yaml.safe_load`` reads it; any problem is a ScenarioError naming the file."""
    name = Path(filename or "upload.yaml").name
    _, _, payload = (contents or "").partition(",")
    if len(payload) > (limit * 4) // 3 + 8:
        raise ScenarioError(
            name, "", f"{len(payload) * 3 // 4} bytes", f"file too large; expected <= {limit} bytes"
        )
    try:
        raw = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise ScenarioError(name, "", "upload", "could not decode the uploaded file") from None
    if len(raw) > limit:
        raise ScenarioError(
            name, "", f"{len(raw)} bytes", f"file too large; expected <= {limit} bytes"
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ScenarioError(name, "", f"byte {exc.start}", "expected UTF-8 text") from None
    data = parse_yaml_text(text, name)
    load_dict(data, name)
    return data


def make_variant(
    base: str, sets: list[str], data: dict[str, Any] | None = None, name: str | None = None
) -> Variant:
    """The validated what-if variant: ``base`` (a file, or the name of uploaded ``data``) with
    the overrides applied, named ``name`` (else the overrides). Raises ScenarioError with the
    CLI's message."""
    return resolve(base, overrides=sets, name=name or ", ".join(sets) or "base", base_data=data)


def plan_option_available() -> bool:
    """Whether the optimiser offers plans the twin can follow (optimizer/plan_commands.py)."""
    import importlib.util

    try:
        return importlib.util.find_spec("optimizer.plan_commands") is not None
    except (ImportError, ValueError):
        return False
