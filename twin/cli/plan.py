"""``twin plan``: an optimised production plan for a scenario, or a public job-shop instance
scheduled; and the planning progress shown on a terminal."""

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

PLAN_FORMATS = ("scenario", "jsplib", "fjsp", "stn")
STN_MODES = ("auto", "monolithic", "rolling")  # mirrors optimizer.commands (not imported: pyomo)
MAX_THREADS = 256  # mirrors optimizer.plan_commands.MAX_THREADS (not imported: pyomo)
MAX_PLAN_SEED = 2**31 - 1  # the MILP solver's seed is a C int


@contextlib.contextmanager
def planning_progress(
    label: str, time_limit: float, quiet: bool
) -> Iterator[Callable[[str, float | None, float | None, float], None] | None]:
    """A transient progress line on stderr while a plan is solved: stage, best objective so
    far, bound, and a bar of the elapsed time against the time limit. Yields the callback
    for ``optimizer.aps.solve`` (None, and nothing shown, when ``quiet`` or stderr is not a
    terminal)."""
    if quiet or not err.is_terminal:
        yield None
        return
    from rich.progress import (
        Progress,
        ProgressColumn,
        TextColumn,
        TimeElapsedColumn,
    )
    from rich.progress_bar import ProgressBar

    class TimeBar(ProgressColumn):
        def render(self, task: Any) -> ProgressBar:
            done = min(task.elapsed or 0.0, time_limit)
            return ProgressBar(total=time_limit, completed=done, width=24)

    with Progress(
        TextColumn("[bold]{task.description}[/]"),
        TextColumn("{task.fields[stage]}"),
        TextColumn("{task.fields[best]}"),
        TimeBar(),
        TimeElapsedColumn(),
        TextColumn(f"of {time_limit:g} s"),
        console=err,
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=time_limit, stage="dispatch rules", best="")

        def update(
            stage: str, incumbent: float | None, bound: float | None, elapsed: float
        ) -> None:
            best = "" if incumbent is None else f"best {incumbent:,.1f}"
            if bound is not None:
                best += f", bound {bound:,.1f}"
            bar.update(task, stage=stage, best=best, completed=min(elapsed, time_limit))

        yield update


@app.command()
@user_errors
def plan(
    source: Annotated[
        Path, typer.Argument(help="Scenario YAML, or an instance file with --format.")
    ],
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            help="scenario (default), jsplib (job shop), fjsp (flexible job shop) or stn "
            "(state-task network, JSON).",
        ),
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
    threads: Annotated[int, typer.Option(help="Solver threads (1 to 256).")] = 1,
    mip_gap: Annotated[
        float | None, typer.Option("--mip-gap", help="Relative MIP gap, 0 to < 1.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed (generated orders, search).")] = 0,
    mode: Annotated[
        str | None,
        typer.Option(help="With --format stn: auto (default), monolithic or rolling."),
    ] = None,
    out_file: Annotated[
        Path | None,
        typer.Option("--out", help="Write the plan (JSON); a plan twin wrote there is replaced."),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace an existing --out file twin did not write.")
    ] = False,
    as_json: AsJson = False,
) -> None:
    """Optimise a production plan for a scenario, or schedule a public benchmark instance."""
    from twin.cli.files import check_output_file, is_plan_json, is_result_json, write_output

    if fmt not in PLAN_FORMATS:
        raise UserError(f"--format: bad value {fmt!r}: expected one of: {', '.join(PLAN_FORMATS)}")
    check_number("--time-limit", time_limit, 0, MAX_TIME_LIMIT_S, "seconds", low_open=True)
    check_int("--threads", threads, 1, MAX_THREADS)
    check_number("--mip-gap", mip_gap, 0, 1, high_open=True)
    check_seed("--seed", seed, MAX_PLAN_SEED)
    hours = parse_hours("--horizon", horizon, 0.0, low_open=True)
    if fmt in ("jsplib", "fjsp") and (horizon is not None or mip_gap is not None):
        raise UserError(
            f"--horizon/--mip-gap: only for scenarios; --format {fmt} schedules the instance whole"
        )
    if fmt == "stn" and horizon is not None:
        raise UserError("--horizon: only for scenarios; an STN instance has its own horizon")
    if mode is not None and fmt != "stn":
        raise UserError(f"--mode: only with --format stn (not --format {fmt})")
    if mode is not None and mode not in STN_MODES:
        raise UserError(f"--mode: bad value {mode!r}: expected one of: {', '.join(STN_MODES)}")
    process = fmt == "scenario" and _is_process(source)  # a process plant: an STN plan
    if process and mode is not None:
        raise UserError("--mode: only with --format stn (a process plant is planned in auto)")
    table = out_file is not None and out_file.suffix.lower() in (".csv", ".xlsx")
    if table and (fmt != "scenario" or process):
        raise UserError(f"--out {out_file}: a table (CSV/XLSX) is for scenario plans; use .json")
    if out_file is not None:
        ours = (
            (_is_plan_table if table else is_plan_json)
            if fmt == "scenario" and not process
            else is_result_json
        )
        check_output_file("--out", out_file, force, ours, "a plan")
    if fmt == "stn":
        from optimizer.commands import plan_stn, stn_summary

        result = plan_stn(source, time_limit, solver, threads, mip_gap, mode or "auto", seed)
        if out_file is not None:
            write_output(out_file, json.dumps(result, indent=1))
        if as_json:
            print_json(result)
        else:
            out.print(
                stn_summary(result) + (f"; saved to {out_file}" if out_file else ""),
                highlight=False,
                soft_wrap=True,
            )
        return
    if process:
        from twin.cli.process import plan_process_cli

        plan_process_cli(
            source, hours, time_limit, solver, threads, mip_gap, seed, out_file, as_json
        )
        return
    if fmt != "scenario":
        from optimizer.commands import plan_benchmark

        result = plan_benchmark(fmt, source, time_limit, solver, threads, seed)
        if out_file is not None:
            write_output(out_file, json.dumps(result, indent=1))
        if as_json:
            print_json(result)
        else:
            out.print(
                f"{result['instance']}: makespan {result['makespan']} (lower bound "
                f"{result['lower_bound']}, {result['status']}, {result['seconds']:.1f} s)"
                + (f"; saved to {out_file}" if out_file else ""),
                highlight=False,
            )
        return
    from optimizer.plan_commands import PlanCheckError, gantt_rows, parse_objective, plan_scenario

    parse_objective(objective)  # a bad objective is named before the scenario is read
    try:
        with planning_progress(f"planning {source.name}", time_limit, as_json) as progress:
            the_plan, report = plan_scenario(
                source,
                hours,
                time_limit,
                solver,
                objective,
                seed,
                threads,
                mip_gap,
                progress=progress,
            )
    except PlanCheckError as exc:
        from rich.markup import escape

        err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    if out_file is not None and table:  # a planner's spreadsheet: dates and step names
        from optimizer.plan_commands import scenario_for_plan
        from twin.plan_table import write_plan_table

        horizon_h = report.get("horizon_hours")
        from twin.scenario import load

        write_plan_table(the_plan, scenario_for_plan(load(source), horizon_h, seed), out_file)
    elif out_file is not None:
        out_file.parent.mkdir(parents=True, exist_ok=True)
        the_plan.save(out_file)
    if as_json:
        print_json({**report, "plan": the_plan.to_dict() if out_file is None else str(out_file)})
        return
    from twin.cli.render import show_plan

    show_plan(report, gantt_rows(the_plan, report.get("horizon_hours")))
    out.print(
        f"{len(the_plan.operations)} operations, makespan {the_plan.makespan:,.1f} h"
        + (f"; saved to {out_file}" if out_file else ""),
        highlight=False,
    )


def _is_plan_table(path: Path) -> bool:
    """A plan table written before (its header starts order, batch, step)."""
    try:
        if path.suffix.lower() == ".xlsx":
            import openpyxl

            wb = openpyxl.load_workbook(path, read_only=True)
            head = next(wb.worksheets[0].iter_rows(max_row=1, values_only=True), ())
            wb.close()
        else:
            head = tuple(path.read_text(encoding="utf-8").splitlines()[0].split(","))
    except Exception:
        return False
    return [str(h) for h in head[:3]] == ["order", "batch", "step"]


def _is_process(source: Path) -> bool:
    """Whether the scenario file describes a process plant (a ``process`` section)."""
    from twin.scenario import load

    return load(source).process is not None
