"""Entry points of `twin route`: plain functions returning JSON-ready dicts.

    twin route scenarios/distribution.yaml --time-limit 60 --out routes.json
    twin route --format vrplib FILE --time-limit 60 --json

Both run `optimizer.routing.solve_routing` and return the result's `to_dict()` (keys `status`,
`distance`, `vehicles`, `lower_bound`, `gap`, `seconds`, `routes`, `classes`) plus a few keys
about the input. Errors stay typed: `twin.scenario.ScenarioError` for a bad scenario,
`optimizer.formats.InstanceFormatError` for a bad instance file,
`optimizer.routing.RoutingInfeasibleError` for demand that cannot be served.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["BENCHMARK_FORMATS", "format_routes", "route_benchmark", "route_scenario"]

BENCHMARK_FORMATS = ("vrplib",)


def route_scenario(
    path: str | Path, time_limit: float = 60.0, seed: int = 0, solver: str | None = "appsi_highs"
) -> dict[str, Any]:
    """Plan the deliveries of a distribution scenario YAML file."""
    from optimizer.distribution import load, to_routing_data
    from optimizer.routing import solve_routing

    scenario = load(path)
    data = to_routing_data(scenario)
    result = solve_routing(data, time_limit=time_limit, seed=seed, solver=solver)
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
) -> dict[str, Any]:
    """Solve a public benchmark instance; adds its best-known value when one is listed in a
    `best_known.json` beside the file (the layout of ../shared/benchmarks)."""
    if fmt not in BENCHMARK_FORMATS:
        raise ValueError(
            f"unknown format {fmt!r}; expected one of: {', '.join(BENCHMARK_FORMATS)}."
        )
    from optimizer.formats.vrplib import read_vrplib, to_routing_data
    from optimizer.routing import solve_routing

    path = Path(path)
    instance = read_vrplib(path)
    result = solve_routing(
        to_routing_data(instance), time_limit=time_limit, seed=seed, solver=solver
    )
    out = result.to_dict()
    out.update(
        {
            "instance": instance.name,
            "file": str(path),
            "format": fmt,
            "customers": instance.n_customers,
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


def format_routes(result: dict[str, Any]) -> str:
    """The routes of a result dict as readable lines, one block per vehicle."""
    lines = [
        f"{result.get('name', '')}: {result['status']}, distance {result['distance']}, "
        f"{result['vehicles']} vehicles, lower bound {result['lower_bound']}, "
        f"{result['seconds']} s"
    ]
    for i, route in enumerate(result["routes"], start=1):
        lines.append(
            f"  {i}. {route['vehicle_type']} ({route['temperature']}): leave "
            f"{route['departure_time']}, back {route['return_time']}, "
            f"{route['distance']} distance, load {route['load']}"
        )
        for stop in route["stops"]:
            lines.append(
                f"       {stop['start_time']:>7}  {stop['customer']}  ({stop['delivered']})"
            )
    return "\n".join(lines)
