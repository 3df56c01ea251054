"""``twin runs list|show|compare|rm``: the run store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from twin.cli.common import AsJson, Kpis, StoreDir, out, print_json, user_errors

app = typer.Typer(
    help="The run store: list, show, compare and remove stored runs.", no_args_is_help=True
)


def _store(store_dir: Path | None) -> Any:
    """The store to read: ``--store DIR`` must exist; the default ``runs`` may be missing
    (then there are no runs yet)."""
    from twin.store import DEFAULT_ROOT, Store

    if store_dir is None and not Path(DEFAULT_ROOT).exists():
        return Store(DEFAULT_ROOT)
    return Store.existing(store_dir or DEFAULT_ROOT)


@app.command("list")
@user_errors
def runs_list(store_dir: StoreDir = None, as_json: AsJson = False) -> None:
    """Every stored run, oldest first."""
    from twin.cli.render import show_runs

    store = _store(store_dir)
    infos = store.runs()
    if as_json:
        print_json([{**i.meta, "stored": len(i.replications), "status": i.status} for i in infos])
        return
    if not infos:
        where = "no run store yet" if not store.root.exists() else "no runs yet"
        out.print(
            f"{store.root}: {where}; `twin run SCENARIO --replications N` stores some",
            highlight=False,
        )
        return
    show_runs(store.root, infos)


@app.command("show")
@user_errors
def runs_show(
    run_id: Annotated[str, typer.Argument(help="Run id (or a unique prefix).")],
    kpis: Kpis = None,
    store_dir: StoreDir = None,
    as_json: AsJson = False,
) -> None:
    """A run's metadata and KPI means with 95% CIs over its replications."""
    from twin.cli.render import show_intervals
    from twin.cli.tables import show_pairs
    from twin.experiment import flatten_kpis, select_kpis, summarize
    from twin.store import Store

    store = Store.existing(store_dir or "runs")
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
    pairs = []
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
            pairs.append((key, ", ".join(value) if isinstance(value, list) else str(value)))
    pairs.append(("replications", f"{len(info.replications)} of {info.requested} ({info.status})"))
    pairs.append(("folder", str(info.path)))
    show_pairs(f"run {info.id}", pairs)
    out.print()
    show_intervals(
        "KPIs", [("mean", summary, False)], caption="mean ± 95% CI half-width over replications"
    )


@app.command("compare")
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
    from twin.cli.render import show_intervals
    from twin.cli.tables import show_pairs
    from twin.experiment import differences, select_kpis, summarize
    from twin.store import Store

    store = Store.existing(store_dir or "runs")
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
    show_pairs(
        None,
        [
            ("first", f"{a.id} ({a.meta.get('variant')})"),
            ("second", f"{b.id} ({b.meta.get('variant')})"),
        ],
    )
    show_intervals(
        f"second − first, {how}",
        [
            ("first", report["first"]["kpis"], False),
            ("second", report["second"]["kpis"], False),
            ("Δ second − first", report["difference"], True),
        ],
        caption="mean ± 95% CI half-width; * = CI excludes 0",
    )


@app.command("rm")
@user_errors
def runs_rm(
    run_ids: Annotated[list[str], typer.Argument(help="Run ids (or unique prefixes).")],
    store_dir: StoreDir = None,
    as_json: AsJson = False,
) -> None:
    """Remove runs from the store (all ids are checked before anything is removed)."""
    from twin.store import Store

    store = Store.existing(store_dir or "runs")
    infos = list({i.id: i for i in (store.get(r) for r in run_ids)}.values())
    for info in infos:
        store.remove(info.id)
        if not as_json:
            out.print(f"removed {info.id}", highlight=False)
    if as_json:
        print_json({"removed": [i.id for i in infos]})
