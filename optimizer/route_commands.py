"""Entry points of `twin route`: plain functions returning JSON-ready dicts.

    twin route scenarios/distribution.yaml --time-limit 60 --out routes.json
    twin route --format vrplib FILE --time-limit 60 --json

Both run `optimizer.routing.solve_routing` and return the result's `to_dict()` (keys `status`,
`distance`, `vehicles`, `lower_bound`, `gap`, `seconds`, `routes`, `classes`) plus a few keys
about the input, `units` among them; `format_routes` prints one for a terminal. Errors stay
typed, and all are raised before any solving: `optimizer.options.OptionError` for a bad time
limit, seed or format, `twin.scenario.ScenarioError` for a bad scenario,
`optimizer.formats.InstanceFormatError` for a bad instance file,
`optimizer.routing.RoutingInfeasibleError` for demand that cannot be served.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from optimizer.options import OptionError, check_seed, check_time_limit
from optimizer.progress import ProgressCallback

__all__ = ["BENCHMARK_FORMATS", "format_routes", "route_benchmark", "route_scenario"]

BENCHMARK_FORMATS = ("vrplib",)


def route_scenario(
    path: str | Path,
    time_limit: float = 60.0,
    seed: int = 0,
    solver: str | None = "appsi_highs",
    progress: ProgressCallback | None = None,
) -> dict[str, Any]:
    """Plan the deliveries of a distribution scenario YAML file."""
    from optimizer.distribution import load, to_routing_data
    from optimizer.routing import solve_routing

    time_limit, seed = check_time_limit(time_limit), check_seed(seed)
    scenario = load(path)
    data = to_routing_data(scenario)
    result = solve_routing(data, time_limit=time_limit, seed=seed, solver=solver, progress=progress)
    out = result.to_dict()
    out.update(
        {
            "scenario": str(path),
            "units": {
                "distance": "km",
                "time": "minutes since midnight",
                "load": scenario.load_unit,
            },
            "time_limit": time_limit,
            "seed": seed,
        }
    )
    return out


def route_benchmark(
    fmt: str,
    path: str | Path,
    time_limit: float = 60.0,
    seed: int = 0,
    solver: str | None = "appsi_highs",
    progress: ProgressCallback | None = None,
) -> dict[str, Any]:
    """Solve a public benchmark instance; adds its best-known value when one is listed in a
    `best_known.json` beside the file (the layout of benchmarks/instances)."""
    if fmt not in BENCHMARK_FORMATS:
        raise OptionError("format", fmt, f"one of: scenario, {', '.join(BENCHMARK_FORMATS)}")
    from optimizer.formats.vrplib import read_vrplib, to_routing_data
    from optimizer.routing import solve_routing

    time_limit, seed = check_time_limit(time_limit), check_seed(seed)
    path = Path(path)
    instance = read_vrplib(path)
    result = solve_routing(
        to_routing_data(instance),
        time_limit=time_limit,
        seed=seed,
        solver=solver,
        progress=progress,
    )
    out = result.to_dict()
    out.update(
        {
            "instance": instance.name,
            "file": str(path),
            "format": fmt,
            "customers": instance.n_customers,
            "units": {"distance": None, "time": None, "load": None},
            "time_limit": time_limit,
            "seed": seed,
        }
    )
    known = best_known(path)
    if known is not None:
        out["best_known"] = known["best_known_distance"]
        out["best_known_proven"] = known.get("proven_optimal", False)
        if result.distance is not None:
            out["gap_to_best_known_pct"] = round(
                100
                * (result.distance - known["best_known_distance"])
                / known["best_known_distance"],
                3,
            )
    return out


def best_known(path: str | Path) -> dict[str, Any] | None:
    """The row for this instance in `best_known.json` next to it, if any."""
    path = Path(path)
    table = path.with_name("best_known.json")
    if not table.is_file():
        return None
    try:
        rows = json.loads(table.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return next((row for row in rows if row.get("instance") == path.stem), None)


# ------------------------------------------------------------------------------ printing
WIDTH = 80
"""Widest line `format_routes` prints."""


def format_routes(result: dict[str, Any], width: int = WIDTH) -> str:
    """The routes of a result dict as lines of at most `width` characters: a summary, then per
    vehicle its times, distance and load, and one line per stop (service start, customer,
    quantity delivered). Distances and loads carry the units of `result["units"]` (km and the
    scenario's load unit for a distribution scenario; none for a benchmark instance, whose
    numbers have no unit), rounded to 0.1 and 0.01; durations in hours and minutes when times
    are clock times."""
    units = result.get("units") or {}
    km = units.get("distance") or ""
    load_unit = units.get("load") or ""
    clock = units.get("time") == "minutes since midnight"
    name = result.get("name") or result.get("instance") or ""
    parts = [f"{result['status']}", f"distance {_qty(result['distance'], km, 1)}"]
    parts.append(f"{result['vehicles']} vehicle" + ("" if result["vehicles"] == 1 else "s"))
    if result.get("lower_bound") is not None:
        bound = f"lower bound {_qty(result['lower_bound'], km, 1)}"
        if result.get("gap") is not None:
            bound += f" (gap {100 * result['gap']:.2f} %)"
        parts.append(bound)
    if "best_known" in result:
        known = f"best known {_qty(result['best_known'], km, 1)}"
        if "gap_to_best_known_pct" in result:
            known += f" ({result['gap_to_best_known_pct']:+.2f} %)"
        parts.append(known)
    parts.append(f"{result['seconds']:.1f} s")
    lines = _wrap(f"{name}: " if name else "", parts, width, "    ")
    for i, route in enumerate(result["routes"], start=1):
        label = f"{i:>3}. {route['vehicle_type']} ({route['temperature']}):"
        times = f"{route['departure_time']}-{route['return_time']}"
        times += f" ({_duration(route['duration'], clock)})"
        dist = _qty(route["distance"], km, 1) if km else f"distance {_num(route['distance'], 1)}"
        load = _load(route["load"], load_unit, route.get("capacity"))
        if len(f"{label} {times}, {dist}, {load}") <= width:
            lines.append(f"{label} {times}, {dist}, {load}")
        elif len(f"{label} {times}") <= width:
            lines += [f"{label} {times}", f"     {dist}, {load}"]
        else:
            lines += [_cut(label, width), f"     {times}, {dist}, {load}"]
        stops = route["stops"]
        qty = [_load(stop["delivered"], load_unit) for stop in stops]
        starts = [f"{stop['start_time']:>7}" for stop in stops]
        qw = max(map(len, qty), default=0)
        room = width - 7 - max(map(len, starts), default=7) - 2 - qw - 2
        column = min(max((len(s["customer"]) for s in stops), default=0), max(8, room))
        for stop, t, q in zip(stops, starts, qty, strict=True):
            lines.append(f"       {t}  {_cut(stop['customer'], column):<{column}}  {q:>{qw}}")
    return "\n".join(_cut(line, width) for line in lines)


def _wrap(first: str, parts: list[str], width: int, indent: str) -> list[str]:
    """`parts` joined by ", " after `first`, on as many lines as `width` needs."""
    lines, line = [], first
    for k, part in enumerate(parts):
        piece = part if k == 0 else ", " + part
        if k and len(line) + len(piece) > width:
            lines.append(line + ",")
            line = indent + part
        else:
            line += piece
    return [*lines, line]


def _num(x: float, digits: int) -> str:
    """At most `digits` decimals, no trailing zeros, thousands separated: 668.18 -> 668.18,
    15.0 -> 15, 1637.7 -> 1,637.7."""
    text = f"{x:,.{digits}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _qty(x: float | None, unit: str, digits: int) -> str:
    if x is None:
        return "-"
    return f"{_num(x, digits)} {unit}" if unit else _num(x, digits)


def _load(x: float, unit: str, capacity: float | None = None) -> str:
    """ "7 of 8 pallets", "2 pallets", or without a unit "load 7 of 200", "load 2"."""
    text = _num(x, 2) if capacity is None else f"{_num(x, 2)} of {_num(capacity, 2)}"
    return f"{text} {unit}" if unit else f"load {text}"


def _duration(x: float, clock: bool) -> str:
    """A route's duration: "5 h 07 min" when times are minutes, else the number."""
    if not clock:
        return _num(x, 1)
    minutes = math.floor(x + 0.5)
    return f"{minutes // 60} h {minutes % 60:02d} min"


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."
