"""``twin compare`` and ``twin sweep``: replications of several variants with common random
numbers; and what ``twin run -n`` shares with them (options, store, executor, summaries)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any

import typer

from twin.cli.common import (
    MAX_WORKERS_PER_CORE,
    AsJson,
    DaskOpt,
    Fresh,
    Kpis,
    NoStore,
    Replications,
    Seed,
    Sets,
    StoreDir,
    Timeout,
    UserError,
    Workers,
    check_int,
    check_number,
    check_seed,
    err,
    print_json,
    user_errors,
)

app = typer.Typer()

MAX_CONNECT_TIMEOUT_S = 300.0
MAX_SWEEP_POINTS = 1_000
"""Points of one sweep (each is a resolved, validated scenario held in memory)."""


# --------------------------------------------------------------------------- shared
def check_experiment_options(
    seed: int,
    replications: int | None,
    workers: int | None,
    connect_timeout: float,
    kpis: list[str] | None,
) -> None:
    """The options of ``run``, ``compare`` and ``sweep`` that size the work, with their bounds."""
    from twin.executors import cpu_count
    from twin.experiment import MAX_REPLICATIONS

    check_seed("--seed", seed)
    check_int("--replications", replications, 1, MAX_REPLICATIONS)
    cores = cpu_count()
    check_int(
        "--workers",
        workers,
        1,
        MAX_WORKERS_PER_CORE * cores,
        f"at most {MAX_WORKERS_PER_CORE} per core; this machine has {cores}",
    )
    check_number("--connect-timeout", connect_timeout, 0, MAX_CONNECT_TIMEOUT_S, "seconds", True)
    for k in kpis or ():
        if not k.strip():
            raise UserError("--kpi: bad value '': expected a KPI name or a glob like 'oee.*.oee'")


def make_store(store_dir: Path | None, no_store: bool) -> Any:
    from twin.store import Store

    if no_store:
        if store_dir is not None:
            raise UserError("--no-store: cannot be combined with --store")
        return None
    store = Store(store_dir or "runs")
    store.check_writable()
    return store


def run_experiment_cli(
    variants: list[Any],
    seed: int,
    replications: int,
    store: Any,
    fresh: bool,
    workers: int | None,
    dask: str | None,
    timeout: float,
    quiet: bool,
    options: dict[str, Any] | None = None,
) -> list[Any]:
    """Plan, start the executor (only if something is left to simulate) and run, with a
    progress bar on stderr unless ``quiet``."""
    from rich.progress import (
        BarColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from twin.executors import cpu_count, make_executor
    from twin.experiment import Experiment

    exp = Experiment(variants, seed, replications, store, fresh, options)
    pending = exp.pending_count
    if pending == 0:
        return exp.run()
    local = min(workers or cpu_count(), pending)  # no idle local workers
    with make_executor(workers if dask else local, dask, timeout) as ex:
        if quiet or not err.is_terminal:  # (a bar on a pipe is only noise)
            return exp.run(ex)
        with Progress(
            TextColumn(f"[bold]simulating[/] ({ex.name}, {ex.workers} workers)"),
            BarColumn(),
            TextColumn("{task.completed:.0f}/{task.total:.0f} replications"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=err,
            transient=True,
        ) as bar:
            task = bar.add_task("", total=exp.total)
            return exp.run(ex, lambda done, total: bar.update(task, completed=done, total=total))


def check_kpi_patterns(kpis: list[dict[str, Any]], patterns: list[str] | None) -> list[str]:
    """The KPI names ``patterns`` select in these KPI records (unknown ones: an error that
    lists the names there are)."""
    from twin.experiment import flatten_kpis, select_kpis

    return select_kpis([flatten_kpis(k) for k in kpis], patterns)


def kpi_names(results: list[Any], patterns: list[str] | None) -> list[str]:
    from twin.experiment import ExperimentError

    try:
        return check_kpi_patterns([k for r in results for k in r.kpis], patterns)
    except ExperimentError as exc:
        stored = [r for r in results if r.run_id]
        note = (
            " (the replications are stored: ask again with another --kpi and they are reused)"
            if stored
            else ""
        )
        raise UserError(f"{exc}{note}") from None


def result_summary(vr: Any, names: list[str]) -> dict[str, Any]:
    """One variant's runs as JSON-ready data."""
    from twin.experiment import summarize

    return {
        "variant": vr.variant.name,
        "file": vr.variant.file,
        "overrides": list(vr.variant.overrides),
        "run_id": vr.run_id,
        "reused": vr.reused,
        "kpis": {n: i.to_dict() for n, i in summarize(vr.kpis, names).items()},
    }


# --------------------------------------------------------------------------- compare
@app.command()
@user_errors
def compare(
    scenario: Annotated[Path, typer.Argument(help="Base scenario YAML file.")],
    variants: Annotated[
        list[Path] | None,
        typer.Option("--variant", help="Variant file patching the base (repeatable)."),
    ] = None,
    common: Annotated[
        list[Path] | None,
        typer.Option(
            "--common",
            help="Variant file applied to the base and under every --variant (repeatable: "
            "stacked in order).",
        ),
    ] = None,
    sets: Sets = None,
    replications: Replications = 10,
    seed: Seed = 0,
    kpis: Kpis = None,
    store_dir: StoreDir = None,
    no_store: NoStore = False,
    fresh: Fresh = False,
    workers: Workers = None,
    dask: DaskOpt = None,
    connect_timeout: Timeout = 5.0,
    as_json: AsJson = False,
) -> None:
    """Compare variants with the base: KPI means and paired differences (common random
    numbers: replication r of every variant uses the same random streams)."""
    from twin.cli.render import footer, show_intervals
    from twin.experiment import differences
    from twin.variants import resolve

    check_experiment_options(seed, replications, workers, connect_timeout, kpis)
    if not variants:
        raise UserError(
            "--variant: missing; give at least one variant file to compare with the base"
        )
    store = make_store(store_dir, no_store)
    overrides = list(sets or [])
    under = list(common or [])
    resolved = [resolve(scenario, under, overrides, name="base")]
    resolved += [resolve(scenario, [*under, v], overrides, name=Path(v).stem) for v in variants]
    results = run_experiment_cli(
        resolved, seed, replications, store, fresh, workers, dask, connect_timeout, as_json
    )
    names = kpi_names(results, kpis)
    base = results[0]
    report: dict[str, Any] = {
        "seed": seed,
        "replications": replications,
        "kpi_names": names,
        "base": result_summary(base, names),
        "variants": [],
    }
    for vr in results[1:]:
        diff = differences(base.kpis, vr.kpis, names)
        report["variants"].append(
            {**result_summary(vr, names), "difference": {n: i.to_dict() for n, i in diff.items()}}
        )
    if as_json:
        print_json(report)
        return
    columns: list[tuple[str, Any, bool]] = [(base.variant.name, report["base"]["kpis"], False)]
    for v in report["variants"]:
        columns.append((v["variant"], v["kpis"], False))
        columns.append((f"Δ {v['variant']}", v["difference"], True))
    show_intervals(
        f"{resolved[0].scenario.name}: {replications} replications, seed {seed}",
        columns,
        caption="mean ± 95% CI half-width; Δ = variant − base, paired; * = CI excludes 0",
    )
    footer(results, store)


# --------------------------------------------------------------------------- sweep
def _grid_size(grids: list[str]) -> int:
    """Points of the cartesian product of ``--grid`` options, counted without building it."""
    from twin.variants import parse_grid

    return math.prod(len(parse_grid(g)) for g in grids)


def _check_sweep(grids: list[str], points: list[str], sets: list[str]) -> None:
    """A path given by two --grid options (the second would silently replace the first), twice
    inside one --point, or both as a --grid axis and a --set (the axis would win) is refused;
    so is a sweep of more than ``MAX_SWEEP_POINTS`` points."""
    from twin.variants import parse_grid, parse_override, parse_point

    axes: dict[str, str] = {}
    for g in grids:
        dotted = parse_grid(g)[0].dotted
        if dotted in axes:
            raise UserError(
                f"--grid {g}: bad value {dotted!r}: this path is already an axis (--grid "
                f"{axes[dotted]}); expected each path in one --grid only (list all its values "
                "there, e.g. --grid path=1,2,3)"
            )
        axes[dotted] = g
    for s in sets:
        dotted = parse_override(s).dotted
        if dotted in axes:
            raise UserError(
                f"--set {s}: bad value {dotted!r}: this path is a --grid axis, whose values "
                "replace it at every point; expected a path that is not swept"
            )
    for p in points:
        seen: set[str] = set()
        for ov in parse_point(p):
            if ov.dotted in seen:
                raise UserError(
                    f"--point {p}: bad value {ov.dotted!r}: set twice in one point; expected "
                    "each path once"
                )
            seen.add(ov.dotted)
    n = (_grid_size(grids) if grids else 0) + len(points)
    if n > MAX_SWEEP_POINTS:
        raise UserError(
            f"--grid/--point: bad value {n:,} points: expected at most {MAX_SWEEP_POINTS:,} "
            "points in one sweep (fewer values per --grid; the store keeps every point, so a "
            "larger study can be run in parts)"
        )


@app.command()
@user_errors
def sweep(
    scenario: Annotated[Path, typer.Argument(help="Base scenario YAML file.")],
    grid: Annotated[
        list[str] | None,
        typer.Option(
            "--grid", help="path=v1,v2,... (repeatable; the points are all combinations)."
        ),
    ] = None,
    points: Annotated[
        list[str] | None,
        typer.Option("--point", help="One extra point: 'path=value; path=value' (repeatable)."),
    ] = None,
    variant_file: Annotated[
        list[Path] | None,
        typer.Option(
            "--variant", help="Variant file applied under every point (repeatable: stacked)."
        ),
    ] = None,
    sets: Sets = None,
    replications: Replications = 10,
    seed: Seed = 0,
    kpis: Kpis = None,
    store_dir: StoreDir = None,
    no_store: NoStore = False,
    fresh: Fresh = False,
    workers: Workers = None,
    dask: DaskOpt = None,
    connect_timeout: Timeout = 5.0,
    as_json: AsJson = False,
) -> None:
    """Simulate every point of a grid (and/or listed points) and tabulate KPI means."""
    from twin.experiment import MAX_SIMULATIONS
    from twin.variants import resolve_many, sweep_points

    check_experiment_options(seed, replications, workers, connect_timeout, kpis)
    if not grid and not points:
        raise UserError(
            "--grid/--point: missing; give at least one, e.g. --grid units.press_1.count=1,2,3"
        )
    _check_sweep(grid or [], points or [], sets or [])
    n_points = (_grid_size(grid) if grid else 0) + len(points or [])
    if n_points * replications > MAX_SIMULATIONS:
        raise UserError(
            f"--replications: bad value {replications}: {n_points:,} points x {replications:,} "
            f"replications = {n_points * replications:,} simulations; expected at most "
            f"{MAX_SIMULATIONS:,} in one command (fewer points or replications; the store "
            "keeps what ran, so a larger study can be run in parts)"
        )
    store = make_store(store_dir, no_store)
    pts = sweep_points(grid or [], points or [])
    resolved = resolve_many(scenario, pts, variant_file, sets or [])
    results = run_experiment_cli(
        resolved, seed, replications, store, fresh, workers, dask, connect_timeout, as_json
    )
    names = kpi_names(results, kpis)
    axes: list[str] = []
    for p in pts:
        for o in p:
            if o.dotted not in axes:
                axes.append(o.dotted)
    rows = []
    for p, vr in zip(pts, results, strict=True):
        rows.append({"set": {o.dotted: o.value for o in p}, **result_summary(vr, names)})
    if as_json:
        print_json(
            {
                "seed": seed,
                "replications": replications,
                "axes": axes,
                "kpi_names": names,
                "points": rows,
            }
        )
        return
    from twin.cli.render import footer, show_sweep

    show_sweep(
        f"{resolved[0].scenario.name} sweep: {replications} replications, seed {seed}",
        axes,
        rows,
        names,
    )
    footer(results, store)
