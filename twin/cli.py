"""The ``twin`` command: a thin shell over the library.

Every command turns bad input into one clear paragraph on stderr and exit code 2, never a
traceback. This is the one module that may import ``optimizer`` and ``dashboard``, lazily, per
command.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from twin.scenario import ScenarioError, load

app = typer.Typer(
    help="PharmaTwin: simulate, plan and compare pharmaceutical plants.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True)

F = TypeVar("F", bound=Callable[..., Any])


class UserError(Exception):
    """A problem with what the user asked for (already phrased for them)."""


def user_errors(fn: F) -> F:
    """Turn known input problems into one message on stderr and exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (ScenarioError, UserError) as exc:
            err.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            err.print("interrupted")
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def _jsonable(obj: Any) -> Any:
    if hasattr(obj, "item"):
        return obj.item()
    raise TypeError(type(obj).__name__)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, default=_jsonable) + "\n")


@app.command()
@user_errors
def validate(scenario: Annotated[Path, typer.Argument(help="Scenario YAML file.")]) -> None:
    """Check a scenario file and say what it describes (exit 0) or what is wrong (exit 2)."""
    sc = load(scenario)
    n_units = len(sc.unit_names())
    gen = " + order generator" if sc.order_generator else ""
    out.print(
        f"[green]OK[/] {scenario}: '{sc.name}', {n_units} units in {len(sc.equipment_classes)} "
        f"classes, {len(sc.products)} products, {len(sc.orders)} orders{gen}, "
        f"horizon {sc.simulation.horizon:g} h, dispatch {sc.dispatch}",
        highlight=False,
    )


@app.command()
@user_errors
def run(
    scenario: Annotated[Path, typer.Argument(help="Scenario YAML file.")],
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    out_dir: Annotated[Path | None, typer.Option("--out", help="Write the run (log, KPIs) here.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print KPIs as one JSON object.")] = False,
    dispatch: Annotated[str | None, typer.Option(help="Override the dispatch policy.")] = None,
) -> None:
    """Simulate a scenario once; show KPIs, optionally save the run."""
    from twin.dispatch import policy_names
    from twin.simulate import simulate, write_run_dir

    sc = load(scenario)
    if dispatch is not None:
        if dispatch not in policy_names():
            raise UserError(
                f"--dispatch: bad value {dispatch!r}: unknown policy; expected one of: "
                f"{', '.join(policy_names())}"
            )
        sc = sc.model_copy(update={"dispatch": dispatch})
    horizon = sc.simulation.horizon
    if as_json:
        result = simulate(sc, seed=seed)
    else:
        with Progress(
            TextColumn("[bold]simulating[/] {task.description}"),
            BarColumn(),
            TextColumn("{task.completed:.0f}/{task.total:.0f} h"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=err,
            transient=True,
        ) as bar:
            task = bar.add_task(sc.name, total=horizon)
            result = simulate(sc, seed=seed, progress=lambda t: bar.update(task, completed=t))
    if out_dir is not None:
        write_run_dir(result, out_dir)
    if as_json:
        print_json(result.kpis)
        return
    show_kpis(result.kpis)
    out.print(
        f"{result.meta['events']:,} events in {result.wall_seconds:.2f} s"
        + (f"; saved to {out_dir}" if out_dir else ""),
        highlight=False,
    )


def _fmt(x: Any, pct: bool = False, digits: int = 1) -> str:
    if x is None:
        return "-"
    return f"{100 * x:.{digits}f}%" if pct else f"{x:,.{digits}f}"


def show_kpis(k: dict[str, Any]) -> None:
    """The KPI tables of one run."""
    head = Table(title=f"{k['scenario']} (seed {k['seed']})", show_header=False)
    b = k["batches"]
    rows = [
        ("batches released by QC", f"{b['qc_released']} (rejected {b['qc_rejected']}, scrapped {b['scrapped']}, WIP at end {b['wip_at_end']})"),
        ("makespan", f"{_fmt(k['makespan_h'])} h"),
        ("lead time mean / p95", f"{_fmt(k['lead_time_h']['mean'])} / {_fmt(k['lead_time_h']['p95'])} h"),
        ("OTIF", "-" if k["otif_pct"] is None else f"{k['otif_pct']:.1f}% of {k['orders']['due_in_run']} orders due"),
        ("WIP mean / max", f"{_fmt(k['wip']['mean'])} / {k['wip']['max']} batches"),
        ("cleaning share", _fmt(k["cleaning_share"], pct=True)),
        ("energy", f"{_fmt(k['energy_kwh']['total'], digits=0)} kWh ({_fmt(k['energy_kwh']['per_batch'], digits=0)} kWh/batch)"),
        ("deviations", f"{k['deviations']['total']} {k['deviations']['by_type'] or ''}"),
    ]
    for name, value in rows:
        head.add_row(name, value)
    out.print(head)
    tp = Table(title="throughput")
    for col in ("product", "batches", "quantity", "per week"):
        tp.add_column(col, justify="right" if col != "product" else "left")
    for p, d in k["throughput"].items():
        tp.add_row(p, str(d["batches"]), _fmt(d["quantity"], digits=0), _fmt(d["per_week"], digits=2))
    out.print(tp)
    ut = Table(title="units")
    for col in ("unit", "class", "processing", "cleaning", "down", "OEE", "A", "P", "Q"):
        ut.add_column(col, justify="left" if col in ("unit", "class") else "right")
    for u, o in k["oee"].items():
        s = k["state_share"].get(u, {})
        ut.add_row(u, o["class"] or "", _fmt(s.get("processing", 0), True), _fmt(s.get("cleaning", 0), True),
                   _fmt(s.get("down", 0), True), _fmt(o["oee"], True), _fmt(o["availability"], True),
                   _fmt(o["performance"], True), _fmt(o["quality"], True))
    out.print(ut)


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
