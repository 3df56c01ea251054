"""``twin validate``, ``twin run`` and ``twin layout``: one scenario, checked, simulated or
drawn."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from twin.cli.common import (
    DaskOpt,
    Fresh,
    Kpis,
    NoStore,
    Seed,
    Sets,
    StoreDir,
    Timeout,
    UserError,
    Workers,
    check_number,
    check_out_dir,
    err,
    out,
    parse_hours,
    print_json,
    user_errors,
)
from twin.cli.experiments import (
    check_experiment_options,
    check_kpi_patterns,
    kpi_names,
    make_store,
    result_summary,
    run_experiment_cli,
)
from twin.scenario import load

app = typer.Typer()

MAX_REPLAN_TIME_LIMIT_S = 600.0  # mirrors optimizer.plan_commands (not imported: pyomo)


@app.command()
@user_errors
def validate(scenario: Annotated[Path, typer.Argument(help="Scenario YAML file.")]) -> None:
    """Check a scenario file and say what it describes (exit 0) or what is wrong (exit 2)."""
    sc = load(scenario)
    if sc.process is not None:
        from twin.cli.process import validate_line

        out.print(validate_line(sc, scenario), highlight=False)
        return
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
    seed: Seed = 0,
    out_dir: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Write the run (log, KPIs) to this new or empty folder; a previous run output "
            "there is replaced only with --force.",
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace a previous run output in --out.")
    ] = False,
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
        str | None,
        typer.Option("--replan-every", help="Re-plan every period (at least 1h), e.g. 24h."),
    ] = None,
    freeze: Annotated[
        str,
        typer.Option(
            help="Frozen window when re-planning: planned work starting within it keeps its place."
        ),
    ] = "0h",
    replan_time_limit: Annotated[
        float,
        typer.Option("--replan-time-limit", help="Seconds per (re-)planning solve (at most 600)."),
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
    from_state: Annotated[
        Path | None,
        typer.Option(
            "--from-state",
            help="Start from this plant state (JSON from twin state or --snapshot-at) instead "
            "of an empty plant; KPIs cover the time from there.",
        ),
    ] = None,
    snapshot_at: Annotated[
        list[str] | None,
        typer.Option(
            "--snapshot-at",
            help="Write the plant state at this instant into --out as state-<date>.json "
            "(a date-time or an offset; repeatable).",
        ),
    ] = None,
) -> None:
    """Simulate a scenario once (full KPI report) or N times (KPI means with 95% CIs)."""
    from twin.variants import resolve

    # every option is checked before anything is read or simulated
    check_experiment_options(seed, replications, workers, connect_timeout, kpis)
    _check_one_or_many(replications, out_dir, force, workers, dask, fresh)
    if snapshot_at and (out_dir is None or replications is not None):
        raise UserError("--snapshot-at: writes plant states into the run folder; give --out DIR")
    if snapshot_at and len(snapshot_at) > 1_000:
        raise UserError(f"--snapshot-at: bad value {len(snapshot_at)} instants: at most 1,000")
    wants_store = replications is not None or store_dir is not None or no_store
    store = make_store(store_dir, no_store) if wants_store else None
    events, every, freeze_h = _replanning(
        plan_file, replan_on, replan_every, freeze, replan_time_limit, early_start
    )
    overrides = _overrides(sets, dispatch, transport_dispatch)

    variant = resolve(scenario, variants, overrides)
    if variant.scenario.process is not None:  # a process plant (twin.cli.process)
        from twin.cli.process import process_plan_run

        replanning = bool(events or every is not None or early_start)
        planned = process_plan_run(variant.scenario, plan_file, replanning, from_state, snapshot_at)
        start_state, cuts = None, []
    else:
        start_state = _start_state(from_state, variant.scenario)
        cuts = _snapshot_times(snapshot_at, variant.scenario, start_state)
        planned = _plan_run(
            variant.scenario,
            seed,
            plan_file,
            events,
            every,
            freeze_h,
            replan_time_limit,
            early_start,
            quiet=as_json,
            state=start_state,
        )
    if planned is not None and planned.scenario is not variant.scenario:
        import dataclasses

        variant = dataclasses.replace(variant, scenario=planned.scenario)
    options = dict(planned.options) if planned is not None else {}
    if start_state is not None:  # every replication starts from the plant state
        options["state"] = start_state
    if replications is None:
        label = planned.label if planned is not None else None
        _run_once(variant, seed, options, label, out_dir, force, store, kpis, as_json, cuts)
        return
    from twin.cli.render import footer, show_intervals
    from twin.experiment import task_options

    [result] = run_experiment_cli(
        [variant],
        seed,
        replications,
        store,
        fresh,
        workers,
        dask,
        connect_timeout,
        as_json,
        task_options(options or None),
    )
    names = kpi_names([result], kpis)
    summary = result_summary(result, names)
    if as_json:
        print_json({"seed": seed, "replications": replications, **summary})
        return
    show_intervals(
        f"{variant.scenario.name}: {replications} replications, seed {seed} (95% CI)",
        [("mean", summary["kpis"], False)],
        caption="mean ± 95% CI half-width",
    )
    footer([result], store)


def _check_one_or_many(
    replications: int | None,
    out_dir: Path | None,
    force: bool,
    workers: int | None,
    dask: str | None,
    fresh: bool,
) -> None:
    """Options that belong to one run (``--out``, ``--force``) or to replications
    (``--workers``, ``--dask``, ``--fresh``); ``--out`` is checked before anything runs."""
    if replications is not None and out_dir is not None:
        raise UserError("--out: writes one run; with --replications runs go to the store (--store)")
    if replications is None:
        unused = [o for o, v in (("--workers", workers), ("--dask", dask), ("--fresh", fresh)) if v]
        if unused:
            raise UserError(
                f"{'/'.join(unused)}: only with --replications N (a single run runs in this "
                "process)"
            )
    check_out_dir(out_dir, force)


def _replanning(
    plan_file: str | None,
    replan_on: str | None,
    replan_every: str | None,
    freeze: str,
    time_limit: float,
    early_start: bool,
) -> tuple[tuple[str, ...], float | None, float]:
    """The re-planning options, checked: (events, period in hours, frozen window in hours)."""
    from twin.plan import REPLAN_EVENTS, check_replanning

    events = tuple(e.strip() for e in (replan_on or "").split(",") if e.strip())
    if replan_on is not None and not events:
        raise UserError(
            f"--replan-on: bad value {replan_on!r}: expected a comma list of: "
            f"{', '.join(REPLAN_EVENTS)}"
        )
    every = parse_hours("--replan-every", replan_every, 1.0)
    freeze_h = parse_hours("--freeze", freeze) or 0.0
    check_number("--replan-time-limit", time_limit, 0, MAX_REPLAN_TIME_LIMIT_S, "seconds", True)
    check_replanning(events, every, freeze_h)
    if plan_file is None and (events or every is not None or early_start):
        raise UserError("--replan-on/--replan-every/--early-start: need --plan FILE or --plan auto")
    return events, every, freeze_h


def _overrides(sets: list[str] | None, dispatch: str | None, transport: str | None) -> list[str]:
    """``--set`` options, with ``--dispatch`` and ``--transport-dispatch`` as overrides."""
    overrides = list(sets or [])
    if transport is not None:
        from twin.transport import rule_names

        if transport not in rule_names():
            raise UserError(
                f"--transport-dispatch: bad value {transport!r}: unknown rule; expected "
                f"one of: {', '.join(rule_names())}"
            )
        overrides.append(f"fleet.dispatch={transport}")
    if dispatch is not None:
        from twin.dispatch import policy_names

        if dispatch not in policy_names():
            raise UserError(
                f"--dispatch: bad value {dispatch!r}: unknown policy; expected one of: "
                f"{', '.join(policy_names())}"
            )
        overrides.append(f"dispatch={dispatch}")
    return overrides


def _run_once(
    variant: Any,
    seed: int,
    options: dict[str, Any],
    label: str | None,
    out_dir: Path | None,
    force: bool,
    store: Any,
    kpis: list[str] | None,
    as_json: bool,
    cuts: list[float],
) -> None:
    """One replication: the full KPI report (or the ``--kpi`` selection), written to
    ``--out`` (with the plant states at ``cuts``) and filed in the store when asked."""
    result = _simulate_once(variant.scenario, seed, options, quiet=as_json)
    selected = check_kpi_patterns([result.kpis], kpis) if kpis else None
    if out_dir is not None:
        from twin.simulate import RunDirError, write_run_dir

        states = []
        if cuts:
            from twin.state import states_at

            states = states_at(
                variant.scenario, result.events, cuts, options.get("state"), str(out_dir)
            )
        try:
            write_run_dir(result, out_dir, force=force, states=states)
        except RunDirError as exc:
            raise UserError(f"--out {exc}") from None
    run_id = None
    if store is not None:
        from twin.experiment import store_run

        run_id = store_run(store, variant, result, options, label)
    if as_json:
        print_json(result.kpis)
        return
    from twin.cli.render import show_kpis, show_selected

    if selected is not None:
        show_selected(result.kpis, selected)
    elif result.kpis.get("kind") == "process":
        from twin.cli.process import show_process_kpis

        show_process_kpis(result.kpis)
    else:
        show_kpis(result.kpis)
    saved = [str(p) for p in (out_dir,) if p] + ([f"{store.root} as {run_id}"] if run_id else [])
    out.print(
        f"{result.meta['events']:,} events in {result.wall_seconds:.2f} s"
        + (f"; saved to {' and '.join(saved)}" if saved else ""),
        highlight=False,
        soft_wrap=True,
    )


def _start_state(path: Path | None, sc: Any) -> Any:
    """The plant state of ``--from-state``, checked against the scenario (None without)."""
    if path is None:
        return None
    from twin.state import load_state

    st = load_state(path)
    if st.scenario != sc.name:
        raise UserError(
            f"--from-state {path}: scenario: bad value {st.scenario!r}: a state of scenario "
            f"'{sc.name}' (the plant being run)"
        )
    if abs((st.start - sc.start).total_seconds()) > 1:
        raise UserError(
            f"--from-state {path}: start: bad value {st.start.isoformat()!r}: the scenario's "
            f"calendar start {sc.start.isoformat()}"
        )
    if st.time >= sc.simulation.horizon:
        raise UserError(
            f"--from-state {path}: time_h: bad value {st.time:g}: an instant before the "
            f"scenario's horizon ({sc.simulation.horizon:g} h; --set simulation.horizon=... "
            "to look further)"
        )
    return st


def _snapshot_times(values: list[str] | None, sc: Any, st: Any) -> list[float]:
    """``--snapshot-at`` instants in hours, sorted, inside the run."""
    from twin.cli.state import parse_instant

    out = []
    for v in values or []:
        t = parse_instant("--snapshot-at", v, sc.start)
        lo = st.time if st is not None else 0.0
        if not lo <= t <= sc.simulation.horizon:
            raise UserError(
                f"--snapshot-at: bad value {v!r}: an instant within the run ({lo:g} to "
                f"{sc.simulation.horizon:g} h after the scenario start)"
            )
        out.append(t)
    return sorted(set(out))


def _plan_run(
    sc: Any,
    seed: int,
    plan_file: str | None,
    events: tuple[str, ...],
    every: float | None,
    freeze: float,
    time_limit: float,
    early_start: bool,
    quiet: bool,
    state: Any = None,
) -> Any:
    """``optimizer.plan_commands.prepare_plan_run`` for the options (None without --plan),
    with the planning progress on a terminal and the plan's warnings on stderr; with a plant
    state, ``--plan auto`` plans the work left at that state."""
    if plan_file is None:
        return None
    from optimizer.plan_commands import plan_from_state, prepare_plan_run
    from twin.cli.plan import planning_progress

    with planning_progress(f"planning {sc.name}", time_limit, quiet or plan_file != "auto") as cb:
        plan: Any = plan_file
        if state is not None and plan_file == "auto":
            plan = plan_from_state(sc, state, None, time_limit, progress=cb)
        planned = prepare_plan_run(
            sc,
            seed,
            plan,
            replan_on=events,
            replan_every=every,
            freeze=freeze,
            time_limit=time_limit,
            early_start=early_start,
            progress=cb,
            source="auto (from the state)" if plan is not plan_file else None,
        )
    for w in planned.warnings:
        err.print(f"[yellow]warning:[/] {w}", highlight=False, soft_wrap=True)
    return planned


def _simulate_once(sc: Any, seed: int, options: dict[str, Any], quiet: bool) -> Any:
    """One replication, with a progress bar of simulated hours on stderr unless ``quiet``."""
    from rich.progress import (
        BarColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from twin.simulate import simulate

    if quiet or not err.is_terminal:  # (a bar on a pipe is only noise)
        return simulate(sc, seed=seed, **options)
    with Progress(
        TextColumn("[bold]simulating[/] {task.description}"),
        BarColumn(),
        TextColumn("{task.completed:.0f}/{task.total:.0f} h"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    ) as bar:
        task = bar.add_task(sc.name, total=sc.simulation.horizon)
        return simulate(sc, seed=seed, progress=lambda t: bar.update(task, completed=t), **options)


@app.command()
@user_errors
def layout(
    scenario: Annotated[Path, typer.Argument(help="Scenario YAML file.")],
    out_file: Annotated[
        Path,
        typer.Option("--out", help="HTML file to write (a file twin wrote before is replaced)."),
    ] = Path("layout.html"),
    force: Annotated[
        bool, typer.Option("--force", help="Replace an existing file twin did not write.")
    ] = False,
) -> None:
    """Draw the scenario's layout graph (nodes by kind, segments, one-way arrows) as HTML."""
    import tempfile

    from twin.cli.files import check_output_file, is_layout_html, replace_file

    check_output_file("--out", out_file, force, is_layout_html, "a layout drawing")
    sc = load(scenario)
    if sc.layout is None:
        raise UserError(f"{scenario}: layout: bad value None: expected a layout section to draw")
    from dashboard.layout_html import write_layout_html

    out_file.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out_file.name}.", suffix=".html", dir=out_file.parent)
    import os

    os.close(fd)
    try:
        write_layout_html(sc, Path(tmp))
        replace_file(Path(tmp), out_file)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    out.print(f"wrote {out_file}", highlight=False)
