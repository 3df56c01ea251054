"""``twin route`` and ``twin fleet``: delivery routes and the AGV fleet size."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from twin.cli.common import (
    MAX_TIME_LIMIT_S,
    AsJson,
    Solver,
    TimeLimit,
    UserError,
    check_int,
    check_number,
    check_seed,
    err,
    out,
    parse_hours,
    print_json,
    user_errors,
)

app = typer.Typer()

MAX_ROUTE_SEED = 2**31 - 1  # the solvers' seeds are C ints
MAX_FLEET_SEEDS = 100
"""Twin replications checking each fleet size."""
MAX_WAIT_H = 168.0


@contextlib.contextmanager
def solver_progress(label: str, quiet: bool) -> Iterator[Callable[[Any], None] | None]:
    """A transient status line on stderr while a solver works, fed with
    ``optimizer.progress.Progress`` reports (phase, elapsed, incumbent, bound). Yields the
    callback (None, and nothing shown, when ``quiet`` or stderr is not a terminal)."""
    if quiet or not err.is_terminal:
        yield None
        return
    with err.status(f"[bold]{label}[/]") as status:

        def update(p: Any) -> None:
            status.update(f"[bold]{label}[/] {p.line(max(20, err.width - len(label) - 4))}")

        yield update


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
    out_file: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Write the routes (JSON); routes twin wrote there are replaced."
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace an existing --out file twin did not write.")
    ] = False,
    as_json: AsJson = False,
) -> None:
    """Delivery routes for finished goods (cold chain, time windows), or a Solomon instance."""
    from twin.cli.files import check_output_file, is_result_json, write_output

    check_number("--time-limit", time_limit, 0, MAX_TIME_LIMIT_S, "seconds", low_open=True)
    check_seed("--seed", seed, MAX_ROUTE_SEED)
    if out_file is not None:
        check_output_file("--out", out_file, force, is_result_json, "routes")
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
    with solver_progress(f"routing {source.name}", as_json) as progress:
        if fmt == "scenario":
            result = route_scenario(source, time_limit, seed, solver, progress=progress)
        else:
            result = route_benchmark(fmt, source, time_limit, seed, solver, progress=progress)
    if out_file is not None:
        write_output(out_file, json.dumps(result, indent=1))
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
    seeds: Annotated[
        int, typer.Option(help="Twin replications checking the answer (1 to 100).")
    ] = 3,
    solver: Solver = "appsi_highs",
    as_json: AsJson = False,
) -> None:
    """The smallest AGV fleet meeting a transport service level, verified in the twin."""
    from twin.scenario import ScenarioError

    wait = parse_hours("--max-wait", max_wait, 0.0, MAX_WAIT_H, low_open=True)
    check_int("--seeds", seeds, 1, MAX_FLEET_SEEDS)
    check_number("--service", service, 0, 100, "%", low_open=True)
    check_number("--time-limit", time_limit, 0, MAX_TIME_LIMIT_S, "seconds", low_open=True)
    from optimizer.fleet_commands import fleet_size

    try:
        with solver_progress(f"sizing the fleet of {scenario.name}", as_json) as progress:
            result = fleet_size(
                scenario,
                wait,
                time_limit,
                tuple(range(seeds)),
                tuple(compare or ()),
                solver=solver,
                service=service / 100.0,
                plan=plan_file,
                progress=progress,
            )
    except ScenarioError:
        raise
    except ValueError as exc:
        from twin.cli.common import input_error_types

        if isinstance(exc, input_error_types()):
            raise
        raise UserError(f"{scenario}: {exc}") from None
    if as_json:
        print_json(result)
        return
    from twin.cli.render import show_fleet

    show_fleet(result)
