"""The ``twin`` command: a thin shell over the library.

Every command turns bad input into one clear paragraph on stderr and exit code 2, never a
traceback. This is the one module that may import ``optimizer`` and ``dashboard``, lazily, per
command.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import secrets
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from twin.executors import ExecutorError
from twin.experiment import ExperimentError
from twin.scenario import ScenarioError, load
from twin.store import StoreError

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
        except (ScenarioError, UserError, StoreError, ExperimentError, ExecutorError) as exc:
            err.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except OSError as exc:  # a file named on the command line that cannot be read/written
            where = exc.filename if exc.filename is not None else "a file"
            err.print(
                f"[bold red]error:[/] {where}: {exc.strerror or exc}; expected an existing, "
                "readable file (and a writable place for outputs)",
                highlight=False,
                soft_wrap=True,
            )
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


# --------------------------------------------------------------------------- shared options
Sets = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        help="Change one value: dotted.path=value (repeatable), e.g. units.press_1.count=2.",
    ),
]
Replications = Annotated[
    int, typer.Option("--replications", "-n", help="Replications per scenario.")
]
Seed = Annotated[
    int, typer.Option(help="Random seed (replication r of every variant shares streams).")
]
Kpis = Annotated[
    list[str] | None,
    typer.Option("--kpi", help="KPI to report (repeatable; globs like 'oee.*.oee')."),
]
StoreDir = Annotated[Path | None, typer.Option("--store", help="Run store folder (default: runs).")]
NoStore = Annotated[bool, typer.Option("--no-store", help="Do not write runs to the store.")]
Fresh = Annotated[
    bool, typer.Option("--fresh", help="Simulate again even if the store has the runs.")
]
Workers = Annotated[
    int | None, typer.Option(help="Local worker processes (default: all cores); 1 runs in-process.")
]
DaskOpt = Annotated[
    str | None,
    typer.Option(
        "--dask",
        help="Run on Dask: 'local' starts a LocalCluster, or a scheduler "
        "address such as tcp://host:8786.",
    ),
]
Timeout = Annotated[
    float, typer.Option("--connect-timeout", help="Seconds to reach a Dask scheduler.")
]
AsJson = Annotated[bool, typer.Option("--json", help="Print one JSON object, no progress bar.")]


@app.command()
@user_errors
def run(
    scenario: Annotated[Path, typer.Argument(help="Scenario YAML file.")],
    seed: Seed = 0,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Write the run (log, KPIs) here.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print KPIs as one JSON object.")] = False,
    dispatch: Annotated[str | None, typer.Option(help="Override the dispatch policy.")] = None,
    variants: Annotated[
        list[Path] | None,
        typer.Option(
            "--variant", help="Variant file patching the scenario (repeatable: stacked in order)."
        ),
    ] = None,
    sets: Sets = None,
    replications: Annotated[
        int | None,
        typer.Option(
            "--replications",
            "-n",
            help="Run N replications and report KPI means with "
            "95% confidence intervals (stored in the run store by default).",
        ),
    ] = None,
    kpis: Kpis = None,
    store_dir: StoreDir = None,
    no_store: NoStore = False,
    fresh: Fresh = False,
    workers: Workers = None,
    dask: DaskOpt = None,
    connect_timeout: Timeout = 5.0,
    plan_file: Annotated[
        str | None,
        typer.Option(
            "--plan", help="Follow a plan: a plan JSON file, or 'auto' to plan at the start."
        ),
    ] = None,
    replan_on: Annotated[
        str | None,
        typer.Option(
            "--replan-on", help="Re-plan at these events: breakdown,deviation (with --plan)."
        ),
    ] = None,
    replan_every: Annotated[
        str | None, typer.Option("--replan-every", help="Re-plan every period, e.g. 24h.")
    ] = None,
    freeze: Annotated[
        str,
        typer.Option(
            help="Frozen window when re-planning: planned work starting within it keeps its place."
        ),
    ] = "0h",
    replan_time_limit: Annotated[
        float, typer.Option("--replan-time-limit", help="Seconds per (re-)planning solve.")
    ] = 10.0,
    early_start: Annotated[
        bool,
        typer.Option(
            "--early-start", help="Start planned work as soon as possible, in plan order."
        ),
    ] = False,
    transport_dispatch: Annotated[
        str | None,
        typer.Option(
            "--transport-dispatch", help="AGV dispatch rule: nearest, fcfs, edd, optimised."
        ),
    ] = None,
) -> None:
    """Simulate a scenario once (full KPI report) or N times (KPI means with 95% CIs)."""
    from twin.dispatch import policy_names
    from twin.simulate import simulate, write_run_dir
    from twin.variants import resolve

    overrides = list(sets or [])
    if transport_dispatch is not None:
        from twin.transport import rule_names

        if transport_dispatch not in rule_names():
            raise UserError(
                f"--transport-dispatch: bad value {transport_dispatch!r}: unknown rule; expected "
                f"one of: {', '.join(rule_names())}"
            )
        overrides.append(f"fleet.dispatch={transport_dispatch}")
    if dispatch is not None:
        if dispatch not in policy_names():
            raise UserError(
                f"--dispatch: bad value {dispatch!r}: unknown policy; expected one of: "
                f"{', '.join(policy_names())}"
            )
        overrides.append(f"dispatch={dispatch}")
    if replications is not None:
        if out_dir is not None:
            raise UserError(
                "--out: writes one run; with --replications runs go to the store (--store)"
            )
        variant = resolve(scenario, variants, overrides)
        sc, options = _plan_options(
            variant.scenario,
            seed,
            plan_file,
            replan_on,
            replan_every,
            freeze,
            replan_time_limit,
            early_start,
        )
        if sc is not variant.scenario:
            variant = dataclasses.replace(variant, scenario=sc)
        if options.get("plan") is not None:
            options["plan"] = options["plan"].to_dict()
        store = _store(store_dir, no_store)
        [result] = _experiment(
            [variant],
            seed,
            replications,
            store,
            fresh,
            workers,
            dask,
            connect_timeout,
            as_json,
            options,
        )
        names = _kpi_names([result], kpis)
        summary = result_summary(result, names)
        if as_json:
            print_json({"seed": seed, "replications": replications, **summary})
            return
        _show_intervals(
            f"{variant.scenario.name}: {replications} replications, seed {seed} (95% CI)",
            {"mean": summary["kpis"]},
        )
        _footer([result], store)
        return

    variant = resolve(scenario, variants, overrides)
    sc = variant.scenario
    sc, plan_options = _plan_options(
        sc, seed, plan_file, replan_on, replan_every, freeze, replan_time_limit, early_start
    )
    horizon = sc.simulation.horizon
    if as_json:
        result = simulate(sc, seed=seed, **plan_options)
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
            result = simulate(
                sc, seed=seed, progress=lambda t: bar.update(task, completed=t), **plan_options
            )
    if out_dir is not None:
        write_run_dir(result, out_dir)
    run_id = None
    if store_dir is not None and not no_store:
        from twin.experiment import fingerprint
        from twin.store import Store

        store = Store(store_dir)
        data = variant.data()
        if plan_options:  # the plan is part of what the run is: a new run, never reused
            key = fingerprint(data, seed, extra={"plan": plan_file, "run": secrets.token_hex(8)})
            planned = dataclasses.replace(
                variant, overrides=(*variant.overrides, f"--plan {plan_file}")
            )
            run_id = store.create_run(planned, data, seed, 1, key)
        else:
            key = fingerprint(data, seed)
            run_id = store.find(key) or store.create_run(variant, data, seed, 1, key)
        store.save_run(run_id, result)
    if as_json:
        print_json(result.kpis)
        return
    show_kpis(result.kpis)
    saved = [str(p) for p in (out_dir,) if p] + ([f"{store_dir} as {run_id}"] if run_id else [])
    out.print(
        f"{result.meta['events']:,} events in {result.wall_seconds:.2f} s"
        + (f"; saved to {' and '.join(saved)}" if saved else ""),
        highlight=False,
    )


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
    from twin.experiment import differences
    from twin.variants import resolve

    if not variants:
        raise UserError(
            "--variant: missing; give at least one variant file to compare with the base"
        )
    overrides = list(sets or [])
    under = list(common or [])
    resolved = [resolve(scenario, under, overrides, name="base")]
    resolved += [resolve(scenario, [*under, v], overrides, name=Path(v).stem) for v in variants]
    store = _store(store_dir, no_store)
    results = _experiment(
        resolved, seed, replications, store, fresh, workers, dask, connect_timeout, as_json
    )
    names = _kpi_names(results, kpis)
    base = results[0]
    report = {
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
    columns: dict[str, dict[str, Any]] = {base.variant.name: report["base"]["kpis"]}
    for v in report["variants"]:
        columns[v["variant"]] = v["kpis"]
        columns[f"Δ {v['variant']}"] = v["difference"]
    _show_intervals(
        f"{resolved[0].scenario.name}: {replications} replications, seed {seed} "
        "(mean ± 95% CI half-width; Δ = variant − base, paired; * = CI excludes 0)",
        columns,
    )
    _footer(results, store)


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
    from twin.variants import resolve_many, sweep_points

    pts = sweep_points(grid or [], points or [])
    if not pts:
        raise UserError(
            "--grid/--point: missing; give at least one, e.g. --grid units.press_1.count=1,2,3"
        )
    resolved = resolve_many(scenario, pts, variant_file, sets or [])
    store = _store(store_dir, no_store)
    results = _experiment(
        resolved, seed, replications, store, fresh, workers, dask, connect_timeout, as_json
    )
    names = _kpi_names(results, kpis)
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
    table = Table(
        title=f"{resolved[0].scenario.name} sweep: {replications} replications, seed {seed} "
        "(mean ± 95% CI half-width)"
    )
    short = _short_paths(axes)
    if short != axes:
        table.caption = "; ".join(f"{b} = {a}" for a, b in zip(axes, short, strict=True) if a != b)
    for a in short:
        table.add_column(a, style="cyan", overflow="fold")
    for n in names:
        table.add_column(n, justify="right", overflow="fold")
    for row in rows:
        cells = ["-" if a not in row["set"] else _value(row["set"][a]) for a in axes]
        cells += [_pm(row["kpis"][n]) for n in names]
        table.add_row(*cells)
    out.print(table)
    _footer(results, store)


# --------------------------------------------------------------------------- runs
runs_app = typer.Typer(
    help="The run store: list, show, compare and remove stored runs.", no_args_is_help=True
)
app.add_typer(runs_app, name="runs")


@runs_app.command("list")
@user_errors
def runs_list(store_dir: StoreDir = None, as_json: AsJson = False) -> None:
    """Every stored run, oldest first."""
    from twin.store import Store

    store = Store(store_dir or "runs")
    infos = store.runs()
    if as_json:
        print_json([{**i.meta, "stored": len(i.replications), "status": i.status} for i in infos])
        return
    table = Table(title=f"runs in {store.root}")
    table.add_column("id", no_wrap=True)
    for col in ("scenario", "variant", "seed", "replications", "created"):
        table.add_column(col, justify="right" if col in ("seed", "replications") else "left")
    for i in infos:
        reps = f"{len(i.replications)}" + ("" if i.complete else f"/{i.requested} (partial)")
        table.add_row(
            i.id,
            str(i.meta.get("scenario")),
            str(i.meta.get("variant")),
            str(i.meta.get("seed")),
            reps,
            str(i.meta.get("created", ""))[:16].replace("T", " "),
        )
    out.print(table)
    if not infos:
        out.print("no runs yet: `twin run SCENARIO --replications N` stores some", highlight=False)


@runs_app.command("show")
@user_errors
def runs_show(
    run_id: Annotated[str, typer.Argument(help="Run id (or a unique prefix).")],
    kpis: Kpis = None,
    store_dir: StoreDir = None,
    as_json: AsJson = False,
) -> None:
    """A run's metadata and KPI means with 95% CIs over its replications."""
    from twin.experiment import flatten_kpis, select_kpis, summarize
    from twin.store import Store

    store = Store(store_dir or "runs")
    info = store.get(run_id)
    by_rep = store.kpis(info.id)
    values = [by_rep[r] for r in sorted(by_rep)]
    names = select_kpis([flatten_kpis(k) for k in values], kpis)
    summary = {n: i.to_dict() for n, i in summarize(values, names).items()}
    if as_json:
        print_json(
            {
                "run": info.meta,
                "path": str(info.path),
                "replications": list(info.replications),
                "status": info.status,
                "kpis": summary,
            }
        )
        return
    meta = Table(title=f"run {info.id}", show_header=False)
    for key in (
        "scenario",
        "variant",
        "base",
        "variant_file",
        "overrides",
        "seed",
        "created",
        "host",
        "python",
        "model",
    ):
        value = info.meta.get(key)
        if value not in (None, [], ""):
            meta.add_row(key, ", ".join(value) if isinstance(value, list) else str(value))
    meta.add_row("replications", f"{len(info.replications)} of {info.requested} ({info.status})")
    meta.add_row("folder", str(info.path))
    out.print(meta)
    _show_intervals("KPIs (mean ± 95% CI half-width)", {"mean": summary})


@runs_app.command("compare")
@user_errors
def runs_compare(
    first: Annotated[str, typer.Argument(help="Run id (the reference).")],
    second: Annotated[str, typer.Argument(help="Run id compared with the first.")],
    kpis: Kpis = None,
    store_dir: StoreDir = None,
    as_json: AsJson = False,
) -> None:
    """Differences second − first per KPI: paired by replication when both runs share the seed
    (common random numbers), otherwise as independent samples (Welch)."""
    from twin.experiment import differences, select_kpis, summarize
    from twin.store import Store

    store = Store(store_dir or "runs")
    a, b = store.get(first), store.get(second)
    values = store.kpi_values([a.id, b.id])
    paired = a.meta.get("seed") == b.meta.get("seed")
    reps = sorted(set(values[a.id]) & set(values[b.id])) if paired else []
    paired = bool(reps)
    ka = [values[a.id][r] for r in (reps if paired else sorted(values[a.id]))]
    kb = [values[b.id][r] for r in (reps if paired else sorted(values[b.id]))]
    names = select_kpis(ka + kb, kpis)
    report = {
        "first": {
            "id": a.id,
            "variant": a.meta.get("variant"),
            "kpis": {n: i.to_dict() for n, i in summarize(ka, names).items()},
        },
        "second": {
            "id": b.id,
            "variant": b.meta.get("variant"),
            "kpis": {n: i.to_dict() for n, i in summarize(kb, names).items()},
        },
        "paired": paired,
        "replications": len(reps) if paired else None,
        "difference": {
            n: i.to_dict() for n, i in differences(ka, kb, names, paired=paired).items()
        },
    }
    if as_json:
        print_json(report)
        return
    how = (
        f"paired over {len(reps)} replications (same seed)"
        if paired
        else "independent samples (different seeds: Welch)"
    )
    out.print(
        f"first:  {a.id} ({a.meta.get('variant')})\nsecond: {b.id} ({b.meta.get('variant')})",
        highlight=False,
    )
    _show_intervals(
        f"second − first, {how}; mean ± 95% CI half-width, * = CI excludes 0",
        {
            "first": report["first"]["kpis"],
            "second": report["second"]["kpis"],
            "Δ second − first": report["difference"],
        },
    )


@runs_app.command("rm")
@user_errors
def runs_rm(
    run_ids: Annotated[list[str], typer.Argument(help="Run ids (or unique prefixes).")],
    store_dir: StoreDir = None,
    as_json: AsJson = False,
) -> None:
    """Remove runs from the store (all ids are checked before anything is removed)."""
    from twin.store import Store

    store = Store(store_dir or "runs")
    infos = [store.get(r) for r in run_ids]
    for info in infos:
        store.remove(info.id)
        if not as_json:
            out.print(f"removed {info.id}", highlight=False)
    if as_json:
        print_json({"removed": [i.id for i in infos]})


# --------------------------------------------------------------------------- helpers
REPLAN_EVENTS = ("breakdown", "deviation", "scrap", "qc_reject")


def _plan_options(
    sc: Any,
    seed: int,
    plan_file: str | None,
    replan_on: str | None,
    replan_every: str | None,
    freeze: str,
    time_limit: float,
    early_start: bool,
) -> tuple[Any, dict[str, Any]]:
    """The scenario to run and simulate() keyword arguments for --plan and re-planning.

    A plan names the orders it was made for, so a scenario that generates orders runs with
    those orders fixed (the ones released before the plan's horizon, generated with the plan's
    seed): every replication then executes the same orders, with its own random durations,
    failures and rejects.
    """
    from twin.units import parse_duration

    def hours(option: str, value: str) -> float:
        try:
            return parse_duration(value)
        except ValueError as exc:
            raise UserError(f"{option}: bad value {value!r}: {exc}") from None

    if plan_file is None:
        if replan_on or replan_every or early_start:
            raise UserError(
                "--replan-on/--replan-every/--early-start: need --plan FILE or --plan auto"
            )
        return sc, {}
    events = tuple(e.strip() for e in (replan_on or "").split(",") if e.strip())
    for e in events:
        if e not in REPLAN_EVENTS:
            raise UserError(
                f"--replan-on: bad value {e!r}: expected a comma list of: "
                f"{', '.join(REPLAN_EVENTS)}"
            )
    from optimizer.plan_commands import ApsPlanner, plan_scenario, scenario_for_horizon

    options: dict[str, Any] = {"early_start": early_start, "freeze": hours("--freeze", freeze)}
    every = hours("--replan-every", replan_every) if replan_every else None
    if plan_file == "auto":
        if sc.order_generator is not None:
            sc = scenario_for_horizon(sc, sc.simulation.horizon, seed)
        with err.status(f"planning {sc.name} ({time_limit:g} s)"):
            options["plan"], _ = plan_scenario(sc, None, time_limit, seed=seed)
    else:
        from twin.plan import load_plan, validate_plan

        plan = load_plan(plan_file)
        horizon, plan_seed = plan.meta.get("horizon_hours"), plan.meta.get("seed", seed)
        if horizon is not None or sc.order_generator is not None:
            sc = scenario_for_horizon(sc, horizon or sc.simulation.horizon, int(plan_seed))
        validate_plan(plan, sc, plan_file)
        options["plan"] = plan
    if events or every:
        options.update(
            planner=ApsPlanner(time_limit=time_limit, seed=seed),
            replan_on=events,
            replan_every=every,
        )
    return sc, options


def _store(store_dir: Path | None, no_store: bool) -> Any:
    from twin.store import Store

    if no_store:
        if store_dir is not None:
            raise UserError("--no-store: cannot be combined with --store")
        return None
    return Store(store_dir or "runs")


def _experiment(
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
    from twin.executors import cpu_count, make_executor
    from twin.experiment import Experiment

    exp = Experiment(variants, seed, replications, store, fresh, options)
    pending = len(exp.pending)
    if pending == 0:
        return exp.run()
    if workers is not None and workers < 1:
        raise UserError(f"--workers: bad value {workers}: expected at least 1")
    local = min(workers or cpu_count(), pending)  # no idle local workers
    with make_executor(workers if dask else local, dask, timeout) as ex:
        if quiet:
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


def _kpi_names(results: list[Any], patterns: list[str] | None) -> list[str]:
    from twin.experiment import flatten_kpis, select_kpis

    return select_kpis([flatten_kpis(k) for r in results for k in r.kpis], patterns)


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


def _short_paths(paths: list[str]) -> list[str]:
    """The shortest dotted suffixes (at least two parts) that still tell the paths apart."""
    out = []
    for p in paths:
        parts = p.split(".")
        for k in range(min(2, len(parts)), len(parts) + 1):
            cand = ".".join(parts[-k:])
            if sum(q == cand or q.endswith("." + cand) for q in paths) == 1:
                break
        out.append(cand)
    return out


def _num(x: float | None) -> str:
    if x is None:
        return "-"
    ax = abs(x)
    if ax >= 1000:
        return f"{x:,.0f}"
    if ax >= 10 or ax == 0:
        return f"{x:.1f}"
    return f"{x:.3g}"


def _pm(i: dict[str, Any]) -> str:
    if i["mean"] is None:
        return "-"
    if i["half_width"] is None:
        return _num(i["mean"])
    return f"{_num(i['mean'])} ± {_num(i['half_width'])}"


def _value(v: Any) -> str:
    return json.dumps(v) if isinstance(v, dict | list) else str(v)


def _show_intervals(title: str, columns: dict[str, dict[str, dict[str, Any]]]) -> None:
    """A KPI x column table of intervals; difference columns (named 'Δ ...') get a * when
    their interval excludes zero."""
    table = Table(title=title)
    table.add_column("KPI", overflow="fold")
    for name in columns:
        table.add_column(name, justify="right", overflow="fold")
    names = list(next(iter(columns.values())))
    for n in names:
        cells = [n]
        for col, data in columns.items():
            i = data.get(n)
            text = _pm(i) if i else "-"
            if (
                col.startswith("Δ")
                and i
                and i["low"] is not None
                and (i["low"] > 0 or i["high"] < 0)
            ):
                text = f"[bold]{text} *[/]"
            cells.append(text)
        table.add_row(*cells)
    out.print(table)


def _footer(results: list[Any], store: Any) -> None:
    reused = sum(r.reused for r in results)
    lines = []
    if store is not None:
        ids = ", ".join(dict.fromkeys(r.run_id for r in results if r.run_id))
        lines.append(f"stored in {store.root}: {ids}")
    if reused:
        lines.append(f"{reused} replications reused from the store (--fresh to simulate again)")
    for line in lines:
        out.print(line, highlight=False)


def _fmt(x: Any, pct: bool = False, digits: int = 1) -> str:
    if x is None:
        return "-"
    return f"{100 * x:.{digits}f}%" if pct else f"{x:,.{digits}f}"


def _judged(orders: dict[str, Any]) -> Any:
    """Orders OTIF is computed over (``judged``; ``due_in_run`` in logs of older versions)."""
    return orders.get("judged", orders.get("due_in_run"))


def show_kpis(k: dict[str, Any]) -> None:
    """The KPI tables of one run."""
    head = Table(title=f"{k['scenario']} (seed {k['seed']})", show_header=False)
    b = k["batches"]
    rows = [
        (
            "batches released by QC",
            f"{b['qc_released']} (rejected {b['qc_rejected']}, scrapped "
            f"{b['scrapped']}, WIP at end {b['wip_at_end']})",
        ),
        ("makespan", f"{_fmt(k['makespan_h'])} h"),
        (
            "lead time mean / p95",
            f"{_fmt(k['lead_time_h']['mean'])} / {_fmt(k['lead_time_h']['p95'])} h",
        ),
        (
            "OTIF",
            "-"
            if k["otif_pct"] is None
            else f"{k['otif_pct']:.1f}% of {_judged(k['orders'])} orders",
        ),
        ("WIP mean / max", f"{_fmt(k['wip']['mean'])} / {k['wip']['max']} batches"),
        ("cleaning share", _fmt(k["cleaning_share"], pct=True)),
        (
            "energy",
            f"{_fmt(k['energy_kwh']['total'], digits=0)} kWh "
            f"({_fmt(k['energy_kwh']['per_batch'], digits=0)} kWh/batch)",
        ),
        ("deviations", f"{k['deviations']['total']} {k['deviations']['by_type'] or ''}"),
    ]
    for name, value in rows:
        head.add_row(name, value)
    out.print(head)
    tp = Table(title="throughput")
    for col in ("product", "batches", "quantity", "per week"):
        tp.add_column(col, justify="right" if col != "product" else "left")
    for p, d in k["throughput"].items():
        tp.add_row(
            p, str(d["batches"]), _fmt(d["quantity"], digits=0), _fmt(d["per_week"], digits=2)
        )
    out.print(tp)
    ut = Table(title="units")
    for col in ("unit", "class", "processing", "cleaning", "down", "OEE", "A", "P", "Q"):
        ut.add_column(col, justify="left" if col in ("unit", "class") else "right")
    for u, o in k["oee"].items():
        s = k["state_share"].get(u, {})
        ut.add_row(
            u,
            o["class"] or "",
            _fmt(s.get("processing", 0), True),
            _fmt(s.get("cleaning", 0), True),
            _fmt(s.get("down", 0), True),
            _fmt(o["oee"], True),
            _fmt(o["availability"], True),
            _fmt(o["performance"], True),
            _fmt(o["quality"], True),
        )
    out.print(ut)
    _show_flow(k)


def _show_flow(k: dict[str, Any]) -> None:
    """Material-flow KPIs, when the scenario has materials or a fleet."""
    t, m = k.get("transport"), k.get("materials")
    if not t and not m:
        return
    flow = Table(title="material flow", show_header=False)
    if t:
        w = t["wait_h"]
        flow.add_row("transport requests served", f"{t['served']} of {t['requests']}")
        flow.add_row(
            "transport wait mean / p95",
            f"{_fmt(None if w['mean'] is None else 60 * w['mean'])} / "
            f"{_fmt(None if w['p95'] is None else 60 * w['p95'])} min",
        )
        flow.add_row("AGV distance", f"{t['distance_m'] / 1000:,.0f} km")
        flow.add_row("AGV utilisation", _fmt(t["utilisation"], pct=True))
        flow.add_row(
            "traffic waits",
            f"{t['traffic_waits']['count']} ({_fmt(t['traffic_waits']['hours'])} h)",
        )
    if m:
        starve = m.get("starvation_h") or {}
        top = sorted(starve.items(), key=lambda kv: -kv[1])[:3]
        flow.add_row(
            "starvation (batch-hours)", ", ".join(f"{mat} {h:,.0f}" for mat, h in top) or "none"
        )
        flow.add_row("stockouts", str(m["stockouts"]["count"]))
        flow.add_row("expired lots", str(m["expired_lots"]["count"]))
    out.print(flow)


@app.command()
@user_errors
def layout(
    scenario: Annotated[Path, typer.Argument(help="Scenario YAML file.")],
    out_file: Annotated[Path, typer.Option("--out", help="HTML file to write.")] = Path(
        "layout.html"
    ),
) -> None:
    """Draw the scenario's layout graph (nodes by kind, segments, one-way arrows) as HTML."""
    from twin.transport import write_layout_html

    sc = load(scenario)
    if sc.layout is None:
        raise UserError(f"{scenario}: layout: bad value None: expected a layout section to draw")
    write_layout_html(sc, out_file)
    out.print(f"wrote {out_file}", highlight=False)


def main() -> None:  # pragma: no cover
    app()


import twin.cli_optimize  # noqa: E402, F401  (registers plan, route, fleet, dash on the app)
