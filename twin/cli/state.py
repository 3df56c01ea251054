"""``twin state``, ``twin forecast`` and ``twin export``: the plant now, what happens next, and
logs for process mining.

- ``twin state SCENARIO LOG --at T --out state.json``: the plant state at T from a log (a run
  folder or its events.parquet, OCEL 2.0 JSON/SQLite, a MES CSV/Parquet);
- ``twin forecast SCENARIO --state state.json --horizon 7d -n 100``: replications from that
  state; per order the probability of finishing on time and the completion percentiles;
- ``twin export RUN|DIR --format ocel2-json|ocel2-sqlite --out log.jsonocel``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any

import typer

from twin.cli.common import (
    AsJson,
    DaskOpt,
    Seed,
    Sets,
    StoreDir,
    Timeout,
    UserError,
    Workers,
    check_int,
    check_seed,
    err,
    out,
    parse_hours,
    print_json,
    user_errors,
)
from twin.scenario import load

app = typer.Typer()

MAX_FORECAST_HORIZON_H = 8_760.0  # a year ahead


def parse_instant(option: str, value: str, start: dt.datetime) -> float:
    """Hours since the scenario start from a date/date-time (``2026-03-02T06:00``) or an
    offset (``672h``, ``4w``); the instant must not be before the start."""
    from twin.scenario import parse_time

    try:
        t = parse_time(value)
    except ValueError as exc:
        raise UserError(f"{option}: bad value {value!r}: {exc}") from None
    if isinstance(t, dt.datetime):
        hours = (t - start).total_seconds() / 3600.0
        if hours < 0:
            raise UserError(
                f"{option}: bad value {value!r}: expected an instant on or after the scenario "
                f"start {start.isoformat(timespec='minutes')}"
            )
        return hours
    return float(t)


def _read(log: Path, scenario: Any) -> tuple[Any, float]:
    """The log's events, and the hours from the scenario's start to the log's (its times are
    moved onto the scenario's clock)."""
    from twin.logs import read_log

    obs = read_log(log, start=scenario.start)
    shift = (obs.start - scenario.start).total_seconds() / 3600.0
    table = obs.table
    if abs(shift) > 1e-9:
        import pyarrow as pa
        import pyarrow.compute as pc

        i = table.column_names.index("t")
        table = table.set_column(i, "t", pc.add(table.column("t"), pa.scalar(shift)))
    return table, shift


@app.command()
@user_errors
def state(
    scenario: Annotated[Path, typer.Argument(help="Scenario YAML file of the plant.")],
    log: Annotated[
        Path,
        typer.Argument(
            help="The plant's log: a run folder or events.parquet, an OCEL 2.0 file (JSON or "
            "SQLite), or a MES CSV/Parquet (docs/event_logs.md)."
        ),
    ],
    at: Annotated[
        str | None,
        typer.Option("--at", help="The instant: a date-time (2026-03-02T06:00) or an offset "
                     "(672h); default: the log's last event."),
    ] = None,
    out_file: Annotated[
        Path | None, typer.Option("--out", help="Write the plant state (JSON) here.")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace a file twin did not write.")]
    = False,
    as_json: AsJson = False,
) -> None:  # fmt: skip
    """The plant state at an instant, derived from a log (the state a forecast starts from)."""
    from twin.cli.files import check_output_file

    if out_file is not None:
        check_output_file("--out", out_file, force, _is_state_file, "a plant-state file")
    sc = load(scenario)
    table, _shift = _read(log, sc)
    end = float(table.column("t").to_numpy().max()) if table.num_rows else 0.0
    when = parse_instant("--at", at, sc.start) if at is not None else end
    if when > end + 1e-9:
        raise UserError(
            f"--at: bad value {at!r}: after the log's last event "
            f"({(sc.start + dt.timedelta(hours=end)).isoformat(timespec='minutes')}); "
            "expected an instant the log covers"
        )
    from twin.state import StateBuilder

    sb = StateBuilder(sc, str(log)).apply_table(table, when)
    st = sb.state(when)
    if out_file is not None:
        st.save(out_file)
    if as_json:
        print_json(st.to_dict())
        return
    _show_state(st, sb.anomalies)
    if out_file is not None:
        out.print(f"saved to {out_file}", highlight=False, soft_wrap=True)


def _is_state_file(path: Path) -> bool:
    import json

    try:
        return (
            json.loads(path.read_text(encoding="utf-8")).get("format") == "pharmatwin.plant-state"
        )
    except (OSError, ValueError, AttributeError):
        return False


def _show_state(st: Any, anomalies: Any) -> None:
    from collections import Counter

    from rich.table import Table

    t = Table(title=f"{st.scenario} at {st.at.isoformat(timespec='minutes')}", show_header=False)
    states = Counter(u.state for u in st.units.values())
    t.add_row("units", ", ".join(f"{n} {s}" for s, n in states.most_common()))
    phases = Counter(b.phase for b in st.batches.values())
    t.add_row("batches on the floor", f"{len(st.batches)}: " + ", ".join(
        f"{n} {p}" for p, n in phases.most_common()) if st.batches else "none")  # fmt: skip
    t.add_row("open orders", str(len(st.open_orders())))
    t.add_row("staff busy", ", ".join(f"{n} {q}" for q, n in sorted(st.staff_busy.items()))
              or "none")  # fmt: skip
    if st.lots:
        t.add_row("lots in stock", str(len(st.lots)))
    if anomalies:
        t.add_row("events not placed", ", ".join(f"{n} {k}" for k, n in anomalies.most_common(3)))
    out.print(t)


@app.command()
@user_errors
def forecast(
    scenario: Annotated[Path, typer.Argument(help="Scenario YAML file of the plant.")],
    state_file: Annotated[
        Path, typer.Option("--state", help="Plant-state JSON (twin state, twin run --snapshot-at).")
    ],
    horizon: Annotated[str, typer.Option(help="How far to look ahead, e.g. 7d (at most a year).")]
    = "7d",
    replications: Annotated[int, typer.Option("--replications", "-n", help="Replications.")] = 100,
    seed: Seed = 0,
    variants: Annotated[
        list[Path] | None,
        typer.Option("--variant", help="Variant file (e.g. from twin fit; repeatable)."),
    ] = None,
    sets: Sets = None,
    plan_file: Annotated[
        str | None,
        typer.Option("--plan", help="Follow a plan (JSON, CSV or XLSX), or 'auto' to plan now."),
    ] = None,
    plan_time_limit: Annotated[
        float, typer.Option("--plan-time-limit", help="Seconds for --plan auto.")
    ] = 30.0,
    store_dir: StoreDir = None,
    workers: Workers = None,
    dask: DaskOpt = None,
    connect_timeout: Timeout = 5.0,
    as_json: AsJson = False,
    show: Annotated[int, typer.Option("--show", help="Orders to list, most at risk first.")]
    = 15,
) -> None:  # fmt: skip
    """Look ahead from a plant state: per order the probability of finishing on time and when
    it completes (mean, p10, p50, p90), orders at risk first; plant KPIs with 95% CIs."""
    from twin.executors import cpu_count, make_executor
    from twin.forecast import MAX_FORECAST_REPLICATIONS, forecast, save_forecast
    from twin.state import load_state
    from twin.variants import resolve

    hours = parse_hours("--horizon", horizon, 0.0, MAX_FORECAST_HORIZON_H, low_open=True)
    check_int("--replications", replications, 1, MAX_FORECAST_REPLICATIONS)
    check_seed("--seed", seed)
    check_int("--show", show, 0, 10_000)
    check_int("--workers", workers, 1, 4 * cpu_count())
    st = load_state(state_file)
    sc = resolve(scenario, variants, list(sets or [])).scenario
    if st.scenario != sc.name:
        raise UserError(
            f"--state {state_file}: bad value {st.scenario!r}: a state of scenario '{sc.name}' "
            "(the plant being forecast)"
        )
    if abs((st.start - sc.start).total_seconds()) > 1:
        raise UserError(
            f"--state {state_file}: start: bad value {st.start.isoformat()!r}: the scenario's "
            f"calendar start {sc.start.isoformat()}"
        )
    plan = _forecast_plan(sc, st, plan_file, hours, seed, plan_time_limit, as_json)
    n_workers = 1 if replications < 8 and dask is None else (workers or cpu_count())
    with make_executor(n_workers if not dask else workers, dask, connect_timeout) as ex:
        fc = _with_progress(
            lambda cb: forecast(sc, st, hours, replications, seed, plan, ex, cb),
            replications,
            quiet=as_json,
        )
    fid = save_forecast(store_dir or "runs", fc, st) if store_dir is not None else None
    data = fc.to_dict()
    if as_json:
        print_json({**data, **({"id": fid} if fid else {})})
        return
    _show_forecast(data, show)
    if fid:
        out.print(f"stored in {store_dir} as forecast {fid}", highlight=False, soft_wrap=True)


def _show_forecast(data: dict[str, Any], show: int) -> None:
    """Orders at risk first: due, on-time probability, completion p10 / p50 / p90 (80 columns;
    dates as month-day hour:minute, the year in the title)."""
    from rich import box
    from rich.table import Table

    def d(iso: str | None) -> str:  # month-day and hour: a forecast is not to the minute
        return "-" if iso is None else iso[5:13].replace("T", " ") + "h"

    at = (data["at"] or "").replace("T", " ")
    out.print(
        f"{data['scenario']} from {at}, {data['horizon_h']:g} h ahead, {data['replications']} "
        "replications; orders most at risk first",
        highlight=False,
    )
    t = Table(box=None, padding=(0, 1), pad_edge=False, header_style="bold")
    for col in ("order", "due", "on time", "p10", "p50", "p90"):
        t.add_column(col, justify="left" if col == "order" else "right", no_wrap=True)
    for o in data["orders"][:show]:
        c = o["completion"]
        p = o["p_on_time"]
        tag = "-" if p is None else f"{100 * p:.0f}%"
        if p is not None and p < 0.5:
            tag = f"[bold red]{tag}[/]"
        t.add_row(o["id"], d(o["due"]), tag, d(c["p10"]), d(c["p50"]), d(c["p90"]))
    out.print(t)
    out.print(
        "dates: month-day hour; p10/p50/p90: when it completes (- after the horizon); "
        "on time - : due after the horizon",
        highlight=False,
    )
    if len(data["orders"]) > show:
        out.print(f"(and {len(data['orders']) - show} more orders: --show N or --json)")
    k = Table(title="plant KPIs over the horizon (mean ± 95% CI half-width)", show_header=False,
              box=box.SIMPLE)  # fmt: skip
    for name, i in data["kpis"].items():
        if i["mean"] is not None:
            hw = "" if i["half_width"] is None else f" ± {i['half_width']:.3g}"
            k.add_row(name, f"{i['mean']:.4g}{hw}")
    out.print(k)


def _forecast_plan(
    sc: Any, st: Any, plan_file: str | None, horizon: float, seed: int, limit: float, quiet: bool
) -> Any:
    """The plan a forecast follows: a file (JSON, CSV, XLSX) or, with 'auto', a plan made now
    from the state (None without --plan)."""
    if plan_file is None:
        return None
    if plan_file == "auto":
        from optimizer.plan_commands import plan_from_state
        from twin.cli.plan import planning_progress

        with planning_progress(f"planning {sc.name} from the state", limit, quiet) as cb:
            return plan_from_state(sc, st, horizon, limit, seed=seed, progress=cb)
    from twin.plan import load_plan_any, validate_plan

    plan = load_plan_any(plan_file, sc)
    for w in validate_plan(plan, sc, plan_file) or ():
        err.print(f"[yellow]warning:[/] {w}", highlight=False, soft_wrap=True)
    return plan


def _with_progress(work: Any, total: int, quiet: bool) -> Any:
    if quiet or not err.is_terminal:
        return work(None)
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("[bold]forecasting[/]"),
        BarColumn(),
        TextColumn("{task.completed:.0f}/{task.total:.0f} replications"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as bar:
        task = bar.add_task("", total=total)
        return work(lambda done, _total: bar.update(task, completed=done))


@app.command()
@user_errors
def export(
    source: Annotated[
        Path, typer.Argument(help="A run folder (twin run --out), a store replication, or "
                             "events.parquet.")
    ],
    fmt: Annotated[str, typer.Option("--format", help="ocel2-json or ocel2-sqlite.")]
    = "ocel2-json",
    out_file: Annotated[Path, typer.Option("--out", help="File to write.")] = Path(
        "log.jsonocel"
    ),
    start: Annotated[
        str | None,
        typer.Option("--start", help="Calendar start of a bare events.parquet (2026-01-05T06:00)."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace a file twin did not write.")]
    = False,
    as_json: AsJson = False,
) -> None:  # fmt: skip
    """Export an event log as OCEL 2.0 (object-centric event log) for process mining."""
    from twin.cli.files import check_output_file
    from twin.logs import export_log

    formats = ("ocel2-json", "ocel2-sqlite")
    if fmt not in formats:
        raise UserError(f"--format: bad value {fmt!r}: expected one of: {', '.join(formats)}")
    when = None
    if start is not None:
        try:
            when = dt.datetime.fromisoformat(start)
        except ValueError:
            raise UserError(
                f"--start: bad value {start!r}: expected a date-time such as 2026-01-05T06:00"
            ) from None
    check_output_file("--out", out_file, force, _is_ocel_file, "an OCEL export")
    summary = export_log(source, out_file, fmt, start=when)
    if as_json:
        print_json({"path": str(summary.path), "format": summary.format, "events":
                    summary.events, "objects": summary.objects})  # fmt: skip
        return
    out.print(
        f"wrote {summary.path}: {summary.events:,} events, {summary.objects:,} objects "
        f"({summary.event_types} event types, {summary.object_types} object types)",
        highlight=False,
        soft_wrap=True,
    )


def _is_ocel_file(path: Path) -> bool:
    """A file an earlier export wrote (OCEL JSON or SQLite), so it may be replaced."""
    try:
        head = path.read_bytes()[:4096]
    except OSError:
        return False
    return (
        head.startswith(b"SQLite format 3") or b'"objectTypes"' in head or b'"eventTypes"' in head
    )


@app.command()
@user_errors
def fit(
    scenario: Annotated[Path, typer.Argument(help="Scenario YAML file of the plant.")],
    log: Annotated[
        Path,
        typer.Argument(help="The plant's log (run folder, events.parquet, OCEL 2.0, MES CSV)."),
    ],
    until: Annotated[
        str | None, typer.Option(help="Use the log up to this instant (date-time or offset).")
    ] = None,
    out_file: Annotated[
        Path, typer.Option("--out", help="Variant file to write (twin run --variant it).")
    ] = Path("fitted.yaml"),
    report: Annotated[
        Path | None, typer.Option("--report", help="HTML report with QQ plots.")
    ] = None,
    criterion: Annotated[str, typer.Option(help="Model choice: aic or bic.")] = "aic",
    bootstrap: Annotated[
        int, typer.Option(help="Parametric bootstrap replicates (intervals, goodness of fit).")
    ] = 199,
    only: Annotated[
        str | None,
        typer.Option(help="Write only these groups: steps, setups, cleaning, failures, "
                     "maintenance, qc, orders (comma-separated; all are still fitted)."),
    ] = None,
    keep_consistent: Annotated[
        bool,
        typer.Option("--keep-consistent", help="Keep the scenario's value where the log does "
                     "not contradict it (likelihood-ratio test at 5%)."),
    ] = False,
    scale_below: Annotated[
        int,
        typer.Option("--scale-below", help="Fit a quantity seen fewer times than this as the "
                     "scenario's distribution times one factor (0: never)."),
    ] = 0,
    seed: Seed = 0,
    force: Annotated[bool, typer.Option("--force", help="Replace files twin did not write.")]
    = False,
    as_json: AsJson = False,
) -> None:  # fmt: skip
    """Calibrate a scenario on an observed log: durations, setups, cleaning, MTBF/MTTR (with
    censoring), QC lead times and order arrivals, chosen among families by AIC/BIC, written as
    a variant file with a comment per value (n, fit, goodness of fit)."""
    from twin.cli.files import check_output_file
    from twin.fit import fit_log, write_report, write_variant

    check_int("--bootstrap", bootstrap, 0, 10_000)
    check_int("--scale-below", scale_below, 0, 1_000_000)
    check_seed("--seed", seed)
    check_output_file("--out", out_file, force, _is_fitted_variant, "a fitted variant")
    if report is not None:
        check_output_file("--report", report, force, _is_fit_report, "a fit report")
    groups = None if only is None else [g.strip() for g in only.split(",") if g.strip()]
    sc = load(scenario)
    table, shift = _read(log, sc)
    cut = None if until is None else parse_instant("--until", until, sc.start)
    res = _with_steps(
        lambda cb: fit_log(scenario, table, until=cut, bootstrap=bootstrap, criterion=criterion,
                           only=groups, keep_consistent=keep_consistent,
                           scale_below=scale_below, seed=seed,
                           source=str(log), progress=cb),
        quiet=as_json,
    )  # fmt: skip
    write_variant(res, out_file)
    if report is not None:
        write_report(res, report)
    rows = [_fit_row(q) for q in res.quantities]
    if as_json:
        print_json(
            {
                "variant": str(out_file),
                "report": str(report) if report else None,
                "events": res.events,
                "criterion": res.criterion,
                "quantities": rows,
            }
        )
        return  # fmt: skip
    _show_fit(rows)
    out.print(
        f"wrote {out_file}" + (f" and {report}" if report else "")
        + f"; run the calibrated plant with: twin run {scenario} --variant {out_file}",
        highlight=False,
        soft_wrap=True,
    )  # fmt: skip


def _with_steps(work: Any, quiet: bool) -> Any:
    if quiet or not err.is_terminal:
        return work(None)
    with err.status("fitting") as status:
        return work(lambda done, total, what: status.update(f"fitting {what} ({done}/{total})"))


def _is_fitted_variant(path: Path) -> bool:
    try:
        return "twin fit" in path.read_text(encoding="utf-8")[:2000]
    except (OSError, ValueError):
        return False


def _is_fit_report(path: Path) -> bool:
    try:
        return "twin fit" in path.read_text(encoding="utf-8", errors="ignore")[:20000]
    except OSError:
        return False


def _fit_row(q: Any) -> dict[str, Any]:
    return {
        "path": q.path,
        "status": q.status,
        "n": q.n,
        "censored": q.censored,
        "family": q.family,
        "params": dict(q.params),
        "mean": q.mean,
        "mean_ci": list(q.mean_ci) if q.mean_ci else None,
        "naive_mean": q.naive_mean,
        "gof_p": getattr(q.gof, "p_value", None) if q.gof is not None else None,
        "written": q.written is not None,
        "notes": list(q.notes),
    }


def _show_fit(rows: list[dict[str, Any]]) -> None:
    """One row per quantity: n (censored), family, mean with its interval, GOF p-value."""
    from rich import box
    from rich.table import Table

    t = Table(
        title="twin fit: what the log says",
        box=box.SIMPLE_HEAD,
        caption="mean [95% interval], hours; p: goodness of fit; kept: too few data; "
        "c: censored; ec. = equipment_classes, gen. = order_generator.products",
    )
    for col in ("quantity", "n", "family", "mean", "p"):
        left = col in ("quantity", "family")
        # a long path folds at the edge rather than being cut (numbers never fold)
        t.add_column(col, justify="left" if left else "right", overflow="fold" if left else None,
                     no_wrap=not left)  # fmt: skip
    for r in rows:
        r = {**r, "path": _short_path(r["path"])}
        ci = r["mean_ci"]
        mean = "-" if r["mean"] is None else f"{r['mean']:.3g}"
        if ci:
            mean += f" [{ci[0]:.3g}, {ci[1]:.3g}]"
        n = f"{r['n']}" + (f" ({r['censored']}c)" if r["censored"] else "")
        p = "-" if r["gof_p"] is None else f"{r['gof_p']:.2f}"
        t.add_row(r["path"], n, r["family"] if r["status"] == "fitted" else "kept", mean, p)
    out.print(t)


def _short_path(path: str) -> str:
    for long, short in (("equipment_classes.", "ec."), ("order_generator.products.", "gen."),
                        ("products.", "")):  # fmt: skip
        if path.startswith(long):
            return short + path[len(long) :]
    return path
