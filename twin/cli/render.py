"""Everything ``twin`` prints for people: the reports (KPIs with their intervals, adherence to
a plan, sweeps, the run store, plans, fleets), built from the tables and number formats of
:mod:`twin.cli.tables`."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from rich.markup import escape

from twin.cli.common import out
from twin.cli.tables import (
    Column,
    deviations_text,
    hours,
    interval_cell,
    num,
    pct,
    short_labels,
    show_pairs,
    show_table,
    wrap_list,
)

__all__ = [
    "show_intervals",
    "show_kpis",
    "show_adherence",
    "footer",
    "show_selected",
    "show_sweep",
    "show_runs",
    "show_plan",
    "objective_text",
    "short_paths",
    "show_fleet",
]


# --------------------------------------------------------------------------- KPI intervals
def show_intervals(
    title: str,
    columns: Sequence[tuple[str, Mapping[str, Mapping[str, Any]], bool]],
    caption: str | None = None,
) -> None:
    """A KPI x column table of intervals (``mean ± half-width``); ``columns`` are
    (header, {kpi: interval}, is_difference); a difference whose interval excludes zero gets
    a ``*``. Column headers longer than 22 characters become labels with a legend."""
    names = list(columns[0][1]) if columns else []
    headers = [h for h, _, _ in columns]
    plain = [h[2:] if d and h.startswith("Δ ") else h for h, _, d in columns]
    uniq = list(dict.fromkeys(plain))
    labels, legend = short_labels(uniq)
    label_of = dict(zip(uniq, labels, strict=True))
    shown = [
        ("Δ " + label_of[p]) if h.startswith("Δ ") else label_of[p]
        for h, p in zip(headers, plain, strict=True)
    ]
    cols = [Column("KPI", justify="left"), *(Column(h) for h in shown)]
    rows = [
        [escape(n), *(interval_cell(data.get(n), diff) for _, data, diff in columns)] for n in names
    ]
    notes = "; ".join(legend) if legend else None
    show_table(title, cols, rows, caption="; ".join(x for x in (notes, caption) if x) or None)


def footer(results: Sequence[Any], store: Any) -> None:
    reused = sum(r.reused for r in results)
    if store is not None:
        ids = list(dict.fromkeys(r.run_id for r in results if r.run_id))
        out.print(f"stored in {store.root}:", highlight=False, soft_wrap=True)
        for line in wrap_list(", ".join(ids), out.width - 2):  # broken between ids only
            out.print(f"  {line}", highlight=False, soft_wrap=True)
    if reused:
        out.print(
            f"{reused} replications reused from the store (--fresh to simulate again)",
            highlight=False,
        )


# --------------------------------------------------------------------------- one run
def _judged(orders: Mapping[str, Any]) -> Any:
    """Orders OTIF is computed over (``judged``; ``due_in_run`` in logs of older versions)."""
    return orders.get("judged", orders.get("due_in_run"))


def show_kpis(k: Mapping[str, Any]) -> None:
    """The KPI tables of one run."""
    b = k["batches"]
    lead = k["lead_time_h"]
    energy = k["energy_kwh"]
    otif = k["otif_pct"]
    show_pairs(
        f"{k['scenario']} (seed {k['seed']})",
        [
            (
                "batches released by QC",
                f"{b['qc_released']} (rejected {b['qc_rejected']}, scrapped "
                f"{b['scrapped']}, WIP at end {b['wip_at_end']})",
            ),
            ("makespan", f"{hours(k['makespan_h'])} h"),
            ("lead time mean / p95", f"{hours(lead['mean'])} / {hours(lead['p95'])} h"),
            ("OTIF", "-" if otif is None else f"{otif:.1f}% of {_judged(k['orders'])} orders"),
            ("WIP mean / max", f"{hours(k['wip']['mean'])} / {k['wip']['max']} batches"),
            ("cleaning share", f"{pct(k['cleaning_share'])}%"),
            (
                "energy",
                f"{hours(energy['total'], 0)} kWh ({hours(energy['per_batch'], 0)} kWh/batch)",
            ),
            ("deviations", deviations_text(k["deviations"])),
        ],
    )
    out.print()
    show_table(
        "throughput",
        [Column("product", "left"), Column("batches"), Column("quantity"), Column("per week")],
        [
            (escape(p), str(d["batches"]), hours(d["quantity"], 0), hours(d["per_week"], 2))
            for p, d in k["throughput"].items()
        ],
    )
    out.print()
    rows = []
    for u, o in k["oee"].items():
        s = k["state_share"].get(u, {})
        rows.append(
            (
                escape(u),
                escape(o.get("class") or ""),
                pct(s.get("processing", 0)),
                pct(s.get("cleaning", 0)),
                pct(s.get("down", 0)),
                pct(o["oee"]),
                pct(o["availability"]),
                pct(o["performance"]),
                pct(o["quality"]),
            )
        )
    show_table(
        "units (% of the window)",
        [
            Column("unit", "left"),
            Column("class", "left", optional=True),
            Column("proc"),
            Column("clean"),
            Column("down"),
            Column("OEE"),
            Column("A"),
            Column("P"),
            Column("Q"),
        ],
        rows,
        caption="proc = processing, clean = cleaning, down = broken down; "
        "OEE = A availability x P performance x Q quality",
    )
    _show_flow(k)
    if k.get("plan"):
        out.print()
        show_adherence(k["plan"])


def _show_flow(k: Mapping[str, Any]) -> None:
    """Material-flow KPIs, when the scenario has materials or a fleet."""
    t, m = k.get("transport"), k.get("materials")
    if not t and not m:
        return
    pairs: list[tuple[str, str]] = []
    if t:
        w = t["wait_h"]
        pairs += [
            ("transport requests served", f"{t['served']} of {t['requests']}"),
            (
                "transport wait mean / p95",
                f"{hours(None if w['mean'] is None else 60 * w['mean'])} / "
                f"{hours(None if w['p95'] is None else 60 * w['p95'])} min",
            ),
            ("AGV distance", f"{t['distance_m'] / 1000:,.0f} km"),
            ("AGV utilisation", f"{pct(t['utilisation'])}%"),
            (
                "traffic waits",
                f"{t['traffic_waits']['count']} ({hours(t['traffic_waits']['hours'])} h)",
            ),
        ]
    if m:
        starve = m.get("starvation_h") or {}
        top = sorted(starve.items(), key=lambda kv: -kv[1])[:3]
        pairs += [
            ("starvation (batch-hours)", ", ".join(f"{a} {h:,.0f}" for a, h in top) or "none"),
            ("stockouts", str(m["stockouts"]["count"])),
            ("expired lots", str(m["expired_lots"]["count"])),
        ]
    out.print()
    show_pairs("material flow", pairs)


def show_adherence(p: Mapping[str, Any]) -> None:
    """How the run followed its plan (``kpis['plan']``)."""
    dev = p.get("start_deviation_h") or {}
    on_time = p.get("order_on_time") or {}
    late_orders = sorted(o for o, v in on_time.items() if not v)
    planned, actual = p.get("makespan_planned_h"), p.get("makespan_actual_h")
    pairs = [
        ("operations started", f"{p['operations_started']} of {p['operations_planned']} planned"),
        (
            "start deviation",
            f"mean {_signed(dev.get('mean'))} h, mean absolute {hours(dev.get('mean_abs'), 2)} h, "
            f"p95 absolute {hours(dev.get('p95_abs'), 2)} h",
        ),
        ("operations started > 1 h late", str(p.get("late_operations", 0))),
        (
            "on the planned unit",
            "-" if p.get("on_planned_unit_pct") is None else f"{p['on_planned_unit_pct']:.1f}%",
        ),
        (
            "makespan planned / actual",
            f"{hours(planned)} / {hours(actual)} h"
            + (f" ({actual - planned:+,.1f} h)" if planned is not None and actual else ""),
        ),
        (
            "orders on time",
            f"{len(on_time) - len(late_orders)} of {len(on_time)}"
            + (f" (late: {', '.join(late_orders[:8])}" if late_orders else "")
            + (
                f" and {len(late_orders) - 8} more)"
                if len(late_orders) > 8
                else ")" * bool(late_orders)
            ),
        ),
        ("re-plans", str(p.get("replans", 0))),
    ]
    show_pairs("plan adherence", pairs)


def _signed(x: float | None) -> str:
    return "-" if x is None else f"{x:+,.2f}"


def value_text(v: Any) -> str:
    return json.dumps(v) if isinstance(v, dict | list) else str(v)


def show_selected(kpis: Mapping[str, Any], names: Sequence[str]) -> None:
    """The KPIs a single run was asked for with ``--kpi``: name and value."""
    from twin.experiment import flatten_kpis

    flat = flatten_kpis(kpis)
    show_table(
        f"{kpis['scenario']} (seed {kpis['seed']})",
        [Column("KPI", "left"), Column("value")],
        [(escape(n), num(flat.get(n))) for n in names],
    )


# --------------------------------------------------------------------------- sweeps
def short_paths(paths: Sequence[str]) -> list[str]:
    """The shortest dotted suffixes (at least two parts) that still tell the paths apart."""
    out_: list[str] = []
    for p in paths:
        parts = p.split(".")
        cand = p
        for k in range(min(2, len(parts)), len(parts) + 1):
            cand = ".".join(parts[-k:])
            if sum(q == cand or q.endswith("." + cand) for q in paths) == 1:
                break
        out_.append(cand)
    return out_


def show_sweep(
    title: str, axes: Sequence[str], rows: Sequence[Mapping[str, Any]], names: Sequence[str]
) -> None:
    """A row per sweep point: the swept values, then each KPI's mean ± half-width. Axis paths
    are shortened (legend below); when the swept values are too wide to stand beside the KPIs,
    points are numbered and listed first."""
    short = short_paths(axes)
    legend = [f"{b} = {a}" for a, b in zip(axes, short, strict=True) if a != b]
    values = [
        [escape(value_text(r["set"][a])) if a in r["set"] else "-" for a in axes] for r in rows
    ]
    key_width = sum(max(len(h), *(len(v[k]) for v in values)) + 2 for k, h in enumerate(short))
    kpi_labels, kpi_legend = short_labels(list(names))
    if kpi_legend:
        kpi_labels = [f"K{k + 1}" for k in range(len(names))]
        kpi_legend = [f"K{k + 1} = {n}" for k, n in enumerate(names)]
    kpi_cols = [Column(h) for h in kpi_labels]
    cells = [[interval_cell(r["kpis"].get(n)) for n in names] for r in rows]
    if key_width > out.width // 2:
        show_table(
            title + ": points",
            [Column("point", "left"), *(Column(s, "left") for s in short)],
            [[f"P{k + 1}", *v] for k, v in enumerate(values)],
            layout="vertical",
        )
        out.print()
        show_table(
            None,
            [Column("point", "left"), *kpi_cols],
            [[f"P{k + 1}", *c] for k, c in enumerate(cells)],
            caption="; ".join(["mean ± 95% CI half-width", *legend, *kpi_legend]),
        )
        return
    show_table(
        title,
        [*(Column(s, "left", style="cyan") for s in short), *kpi_cols],
        [[*v, *c] for v, c in zip(values, cells, strict=True)],
        keys=len(short),
        caption="; ".join(["mean ± 95% CI half-width", *legend, *kpi_legend]),
    )


# --------------------------------------------------------------------------- the run store
def show_runs(root: Any, infos: Sequence[Any]) -> None:
    """``twin runs list``: a row per run (listed vertically when the names are long)."""
    rows = []
    for i in infos:
        reps = f"{len(i.replications)}" + ("" if i.complete else f"/{i.requested} partial")
        rows.append(
            (
                escape(i.id),
                escape(str(i.meta.get("scenario"))),
                escape(str(i.meta.get("variant"))),
                str(i.meta.get("seed")),
                reps,
                str(i.meta.get("created", ""))[:16].replace("T", " "),
            )
        )
    show_table(
        f"runs in {root}",
        [
            Column("id", "left"),
            Column("scenario", "left", optional=True),
            Column("variant", "left"),
            Column("seed"),
            Column("reps"),
            Column("created", "left", optional=True),
        ],
        rows,
        layout="vertical",
    )


# --------------------------------------------------------------------------- planning
def objective_text(value: float | None, spec: str | None = None) -> str:
    """An objective value for reading: ``1,766.8 (tardiness+0.1*makespan, hours)``."""
    if value is None or not math.isfinite(value):
        return "-"
    text = f"{value:,.1f}" if abs(value) >= 10 else f"{value:.3g}"
    return text + (f" ({spec}, hours)" if spec else "")


def show_plan(report: Mapping[str, Any], rows: Sequence[Mapping[str, Any]]) -> None:
    """``twin plan``: the solve's summary and a row per unit."""
    gap = report.get("gap")
    bound = report.get("bound")
    late = report.get("late_orders", 0)
    pairs = [
        ("status", str(report.get("status"))),
        ("objective", objective_text(report.get("objective"), report.get("objective_spec"))),
        (
            "bound / gap",
            f"{objective_text(bound)} / " + ("-" if gap is None else f"{100 * gap:.1f}%"),
        ),
        (
            "orders / batches / operations",
            f"{report.get('orders')} / {report.get('batches')} / {report.get('operations')}",
        ),
        (
            "weighted tardiness",
            f"{hours(report.get('weighted_tardiness'))} h ({late} late orders)",
        ),
        ("makespan", f"{hours(report.get('makespan'))} h"),
        ("cleaning", f"{hours(report.get('cleaning_hours'))} h"),
        ("solve time", f"{report.get('seconds', 0):.1f} s"),
    ]
    if report.get("hold_violation_hours"):
        pairs.append(("hold times exceeded by", f"{hours(report['hold_violation_hours'], 2)} h"))
    show_pairs(f"plan for {report['scenario']}", pairs)
    out.print()
    show_table(
        None,
        [
            Column("unit", "left"),
            Column("ops"),
            Column("busy %"),
            Column("first start h"),
            Column("last end h"),
        ],
        [
            (
                escape(r["unit"]),
                str(r["operations"]),
                f"{100 * r['utilisation']:.0f}",
                f"{r['first_start']:,.1f}",
                f"{r['last_end']:,.1f}",
            )
            for r in rows
        ],
        caption="busy % = processing hours / planning horizon",
    )


# --------------------------------------------------------------------------- logistics
def show_fleet(result: Mapping[str, Any]) -> None:
    """``twin fleet``: per layout the model's and the twin's answer, then the twin check."""
    from pathlib import Path

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
    several = len(result["layouts"]) > 1  # the scenario column only to tell layouts apart
    cols = [Column("layout", "left")] * several + [
        Column("AGVs"),
        Column("", "left"),
        Column("mean"),
        Column("p95"),
        Column("max"),
        Column("within %"),
        Column("meets", "left"),
        Column("served"),
    ]
    rows = []
    for row in result["table"]:
        mark = ", ".join(k for k in ("model", "verified") if row[k])
        served = row["served"]
        rows.append(
            [
                *[escape(Path(row["scenario"]).stem)] * several,
                str(row["vehicles"]),
                mark,
                _two(row["mean_wait_min"]),
                _two(row["p95_wait_min"]),
                _two(row["max_wait_min"], 1),
                _two(row["within_max_wait_pct"], 1),
                "yes" if row["meets"] else "no",
                "all" if served == row["requests"] else f"{served}/{row['requests']}",
            ]
        )
    out.print()
    show_table(
        f"twin check, {result['service_pct']:g}% within {result['max_wait_min']:g} min, "
        f"seeds {result['seeds']}" + (f", plan {result['plan']}" if result["plan"] else ""),
        cols,
        rows,
        keys=1 + several,
        caption="waits in minutes; served: requests picked up of those made",
    )


def _two(x: float | None, digits: int = 2) -> str:
    return "-" if x is None else f"{x:.{digits}f}"
