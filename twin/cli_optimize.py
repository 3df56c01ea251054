"""The optimizer and dashboard commands of ``twin``: plan, route, fleet, dash.

Registered on the one Typer app of ``twin.cli``; each command imports ``optimizer`` or
``dashboard`` lazily, so ``twin run`` never pays for them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.table import Table

from twin.cli import UserError, app, err, out, print_json, user_errors
from twin.scenario import ScenarioError
from twin.units import parse_duration

__all__ = ["plan", "route", "fleet", "dash"]

PLAN_FORMATS = ("scenario", "jsplib", "fjsp")
TimeLimit = Annotated[float, typer.Option("--time-limit", help="Solver time limit, seconds.")]
Solver = Annotated[str, typer.Option(help="Pyomo solver name (HiGHS by default).")]
AsJson = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


def _hours(option: str, value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise UserError(f"{option}: bad value {value!r}: {exc}") from None


def optimizer_errors(exc: Exception) -> UserError:
    """Input problems raised by optimizer/ as the CLI's one-paragraph error."""
    return UserError(str(exc))


def _known_errors() -> tuple[type[Exception], ...]:
    from optimizer.aps_data import PlanInfeasibleError
    from optimizer.formats import InstanceFormatError
    from optimizer.routing import RoutingInfeasibleError
    from optimizer.solvers import SolverUnavailableError

    return (
        InstanceFormatError,
        SolverUnavailableError,
        PlanInfeasibleError,
        RoutingInfeasibleError,
    )


@app.command()
@user_errors
def plan(
    source: Annotated[
        Path, typer.Argument(help="Scenario YAML, or an instance file with --format.")
    ],
    fmt: Annotated[
        str, typer.Option("--format", help="scenario (default), jsplib (job shop) or fjsp.")
    ] = "scenario",
    horizon: Annotated[
        str | None, typer.Option(help="Plan the orders released before this (e.g. 4w).")
    ] = None,
    time_limit: TimeLimit = 60.0,
    solver: Solver = "appsi_highs",
    objective: Annotated[
        str,
        typer.Option(help="tardiness, makespan, cleaning or a sum like 'tardiness+0.1*makespan'."),
    ] = "tardiness+0.1*makespan",
    threads: Annotated[int, typer.Option(help="Solver threads.")] = 1,
    mip_gap: Annotated[float | None, typer.Option("--mip-gap", help="Relative MIP gap.")] = None,
    seed: Annotated[int, typer.Option(help="Seed (generated orders, search).")] = 0,
    out_file: Annotated[Path | None, typer.Option("--out", help="Write the plan (JSON).")] = None,
    as_json: AsJson = False,
) -> None:
    """Optimise a production plan for a scenario, or schedule a public benchmark instance."""
    if fmt not in PLAN_FORMATS:
        raise UserError(f"--format: bad value {fmt!r}: expected one of: {', '.join(PLAN_FORMATS)}")
    try:
        if fmt != "scenario":
            from optimizer.commands import plan_benchmark

            result = plan_benchmark(fmt, source, time_limit, solver, threads, seed)
            if out_file is not None:
                out_file.write_text(json.dumps(result, indent=1))
            if as_json:
                print_json(result)
            else:
                out.print(
                    f"{result['instance']}: makespan {result['makespan']} (lower bound "
                    f"{result['lower_bound']}, {result['status']}, {result['seconds']:.1f} s)",
                    highlight=False,
                )
            return
        from optimizer.plan_commands import gantt_rows, plan_scenario

        the_plan, report = plan_scenario(
            source,
            _hours("--horizon", horizon),
            time_limit,
            solver,
            objective,
            seed,
            threads,
            mip_gap,
        )
    except _known_errors() as exc:
        raise optimizer_errors(exc) from None
    if out_file is not None:
        the_plan.save(out_file)
    if as_json:
        print_json({**report, "plan": the_plan.to_dict() if out_file is None else str(out_file)})
        return
    table = Table(
        title=f"plan for {report['scenario']}: {report['status']}, objective "
        f"{report.get('objective')}, {report.get('seconds', 0):.1f} s"
    )
    for col in ("unit", "operations", "utilisation", "first start h", "last end h"):
        table.add_column(col, justify="left" if col == "unit" else "right")
    for row in gantt_rows(the_plan, report.get("horizon_hours")):
        table.add_row(
            row["unit"],
            str(row["operations"]),
            f"{100 * row['utilisation']:.0f}%",
            f"{row['first_start']:.1f}",
            f"{row['last_end']:.1f}",
        )
    out.print(table)
    out.print(
        f"{len(the_plan.operations)} operations, makespan {the_plan.makespan:.1f} h"
        + (f"; saved to {out_file}" if out_file else ""),
        highlight=False,
    )


@app.command()
@user_errors
def route(
    source: Annotated[
        Path, typer.Argument(help="Distribution YAML, or a VRPLIB file with --format.")
    ],
    fmt: Annotated[
        str, typer.Option("--format", help="scenario (default) or vrplib.")
    ] = "scenario",
    time_limit: TimeLimit = 60.0,
    solver: Solver = "appsi_highs",
    seed: Annotated[int, typer.Option(help="Seed of the heuristic.")] = 0,
    out_file: Annotated[Path | None, typer.Option("--out", help="Write the routes (JSON).")] = None,
    as_json: AsJson = False,
) -> None:
    """Delivery routes for finished goods (cold chain, time windows), or a Solomon instance."""
    from optimizer.route_commands import (
        BENCHMARK_FORMATS,
        format_routes,
        route_benchmark,
        route_scenario,
    )

    if fmt not in ("scenario", *BENCHMARK_FORMATS):
        raise UserError(
            f"--format: bad value {fmt!r}: expected one of: scenario, "
            f"{', '.join(BENCHMARK_FORMATS)}"
        )
    try:
        if fmt == "scenario":
            result = route_scenario(source, time_limit, seed, solver)
        else:
            result = route_benchmark(fmt, source, time_limit, seed, solver)
    except _known_errors() as exc:
        raise optimizer_errors(exc) from None
    if out_file is not None:
        out_file.write_text(json.dumps(result, indent=1))
    if as_json:
        print_json(result)
    else:
        out.print(format_routes(result), highlight=False)


@app.command()
@user_errors
def fleet(
    scenario: Annotated[Path, typer.Argument(help="Scenario YAML file with a layout and fleet.")],
    max_wait: Annotated[
        str, typer.Option("--max-wait", help="Allowed transport wait, e.g. 10min.")
    ] = "10min",
    service: Annotated[
        float,
        typer.Option(
            "--service", help="Share of pick-ups (%) that must be within the allowed wait."
        ),
    ] = 95.0,
    time_limit: TimeLimit = 60.0,
    plan_file: Annotated[
        str | None,
        typer.Option(
            "--plan",
            help="Size for a plan: a plan JSON file, or 'auto' to plan first (default: a run).",
        ),
    ] = None,
    compare: Annotated[
        list[Path] | None,
        typer.Option("--compare", help="Another layout (scenario or variant file); repeatable."),
    ] = None,
    seeds: Annotated[int, typer.Option(help="Twin replications checking the answer.")] = 3,
    solver: Solver = "appsi_highs",
    as_json: AsJson = False,
) -> None:
    """The smallest AGV fleet meeting a transport service level, verified in the twin."""
    from optimizer.fleet_commands import fleet_size

    wait = _hours("--max-wait", max_wait)
    if seeds < 1:
        raise UserError(f"--seeds: bad value {seeds}: expected at least 1")
    if not 0 < service <= 100:
        raise UserError(f"--service: bad value {service:g}: expected a percentage in (0, 100]")
    try:
        result = fleet_size(
            scenario,
            wait,
            time_limit,
            tuple(range(seeds)),
            tuple(compare or ()),
            solver=solver,
            service=service / 100.0,
            plan=plan_file,
        )
    except ScenarioError:
        raise
    except ValueError as exc:
        raise UserError(f"{scenario}: {exc}") from None
    except _known_errors() as exc:
        raise optimizer_errors(exc) from None
    if as_json:
        print_json(result)
        return
    for lay in result["layouts"]:
        f = lay["fleet"]
        if lay["model_vehicles"] is None:
            model = (
                f"no fleet reaches {result['service_pct']:g}% (best {f['best_within_pct']:.1f}% "
                f"with {f['best_vehicles']} vehicles)"
            )
        else:
            bound = "proven" if f["proven"] else f"lower bound {f['lower_bound']}"
            model = f"{lay['model_vehicles']} vehicles ({bound})"
        verified = lay["verified_vehicles"]
        twin_answer = f"{verified} vehicles" if verified is not None else "no size tried meets it"
        out.print(
            f"{lay['scenario']}: model {model}, {f['seconds']:.1f} s; twin {twin_answer}, "
            f"{lay['twin_seconds']:.1f} s (the plant has {lay['current_fleet']})",
            highlight=False,
        )
    table = Table(
        title=f"twin check, {result['service_pct']:g}% within {result['max_wait_min']:g} min, "
        f"seeds {result['seeds']}" + (f", plan {result['plan']}" if result["plan"] else ""),
        caption="waits in minutes; served: requests picked up of those made",
        box=box.SIMPLE_HEAD,  # nine columns: no vertical rules, so it fits 80 characters
    )
    several = len(result["layouts"]) > 1  # the scenario column only to tell layouts apart
    cols = ("scenario",) * several + ("AGVs", "", "mean", "p95", "max", "within %", "meets")
    for c in (*cols, "served"):
        table.add_column(c, justify="left" if c == "scenario" else "right")
    for row in result["table"]:
        mark = ", ".join(k for k in ("model", "verified") if row[k])
        served = row["served"]
        table.add_row(
            *(Path(row["scenario"]).stem,) * several,
            str(row["vehicles"]),
            mark,
            _fmt(row["mean_wait_min"]),
            _fmt(row["p95_wait_min"]),
            _fmt(row["max_wait_min"], 1),
            _fmt(row["within_max_wait_pct"], 1),
            "yes" if row["meets"] else "no",
            "all" if served == row["requests"] else f"{served}/{row['requests']}",
        )
    out.print(table)


def _fmt(x: float | None, digits: int = 2) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


@app.command()
@user_errors
def dash(
    store_dir: Annotated[Path, typer.Option("--store", help="Run store to serve.")] = Path("runs"),
    host: Annotated[
        str, typer.Option(help="Interface to listen on (127.0.0.1; 0.0.0.0 opts in to all).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8050,
) -> None:
    """Serve the dashboard over a run store (play back, compare, launch what-ifs)."""
    from dashboard.app import serve

    if not 0 < port < 65536:
        raise UserError(f"--port: bad value {port}: expected 1-65535")
    err.print(f"PharmaTwin dashboard on http://{host}:{port} (store {store_dir}); Ctrl-C stops it")
    serve(store_dir, host, port)
