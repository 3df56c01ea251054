"""Process plants on the command line: their KPI report, their plans (``twin plan`` on a
scenario with a ``process`` section) and running one (``twin run --plan``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rich.markup import escape

from twin.cli.common import UserError, out
from twin.cli.tables import Column, hours, pct, show_pairs, show_table

__all__ = [
    "PROCESS_PLAN_KIND",
    "process_plan_run",
    "load_process_plan",
    "show_process_kpis",
    "validate_line",
]


PROCESS_PLAN_KIND = "pharmatwin process plan"
"""``kind`` of a plan ``twin plan`` writes for a process plant."""


def validate_line(sc: Any, path: Path) -> str:
    """``twin validate``'s one line for a process plant."""
    p = sc.process
    return (
        f"[green]OK[/] {path}: '{sc.name}', process plant: {len(sc.unit_names())} units, "
        f"{len(p.materials)} materials, {len(p.tasks)} tasks, {len(p.utilities)} utilities, "
        f"{len(p.demands)} demands, horizon {sc.simulation.horizon:g} h"
    )


def load_process_plan(path: str | Path, sc: Any) -> dict[str, Any]:
    """A process plan file, checked against the scenario: the plant it was made for, and
    every batch a task its unit runs (UserError naming the file and the place otherwise)."""
    from twin.process import compile_plant

    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UserError(
            f"--plan {p}: bad value: expected a process plan JSON file ({exc})"
        ) from None
    if not isinstance(data, dict) or data.get("kind") != PROCESS_PLAN_KIND:
        raise UserError(
            f"--plan {p}: kind: bad value {data.get('kind') if isinstance(data, dict) else None!r}"
            f": expected {PROCESS_PLAN_KIND!r} (a plan twin plan wrote for a process plant)"
        )
    if data.get("scenario") != sc.name:
        raise UserError(
            f"--plan {p}: scenario: bad value {data.get('scenario')!r}: a plan for "
            f"'{sc.name}' (the plant being run)"
        )
    model = compile_plant(sc)
    rows = data.get("schedule")
    if not isinstance(rows, list):
        raise UserError(f"--plan {p}: schedule: bad value: expected a list of batches")
    for i, b in enumerate(rows):
        if not isinstance(b, Mapping) or b.get("hold"):
            continue
        task = model.tasks.get(b.get("task"))  # type: ignore[arg-type]
        if task is None or b.get("unit") not in task.units:
            raise UserError(
                f"--plan {p}: schedule[{i}]: bad value {b.get('task')!r} on {b.get('unit')!r}: "
                "expected a task of the scenario on one of its units"
            )
        for key in ("start", "size"):
            if not isinstance(b.get(key), int | float) or isinstance(b.get(key), bool):
                raise UserError(f"--plan {p}: schedule[{i}].{key}: bad value: expected a number")
    return data


def show_process_kpis(k: Mapping[str, Any]) -> None:
    """The KPI tables of one run of a process plant."""
    d, disc, mb = k["demand"], k["discarded"], k["mass_balance"]
    fill = d["fill_pct"]
    pairs = [
        ("batches", f"{k['batches']['total']}"),
        (
            "demand filled",
            "-"
            if fill is None
            else f"{fill:.1f}% of {hours(d['demanded'], 0)} "
            f"({d['orders_in_full']} of {d['orders']} demands in full)",
        ),
        (
            "discarded",
            f"{hours(disc['total'], 1)}"
            + "".join(f", {escape(r)} {hours(q, 1)}" for r, q in disc["by_reason"].items()),
        ),
        (
            "mass balance",
            f"entered {hours(mb['entered'], 1)} = left {hours(mb['left'], 1)} + held "
            f"{hours(mb['held_tanks'] + mb['held_units'], 1)} + discarded "
            f"{hours(mb['discarded'], 1)} (largest error {mb['max_error']:.2g})",
        ),
    ]
    if "plan" in k:
        pa = k["plan"]
        pairs.append(
            (
                "plan",
                f"{pa['started']} of {pa['planned']} batches started, {pa['on_time']} on time, "
                f"{pa['skipped']} skipped, delay mean {hours(pa['delay_mean_h'], 2)} h",
            )
        )
    show_pairs(f"{k['scenario']} (seed {k['seed']})", pairs)
    out.print()
    show_table(
        "throughput",
        [Column("material", "left"), Column("produced"), Column("per week"), Column("shipped")],
        [
            (escape(m), hours(t["produced"], 1), hours(t["per_week"], 1), hours(t["shipped"], 1))
            for m, t in k["throughput"].items()
        ],
    )
    out.print()
    states = ("processing", "cleaning", "waiting_utility", "blocked", "starved", "down")
    show_table(
        "units (% of the horizon)",
        [Column("unit", "left"), *(Column(s.replace("_", " ")) for s in states)],
        [
            (escape(u), *(pct(s.get(name, 0.0)) for name in states))
            for u, s in k["state_share"].items()
        ],
    )
    if k["utilities"]:
        out.print()
        show_table(
            "utilities",
            [Column("utility", "left"), Column("mean use"), Column("% of capacity"),
             Column("peak"), Column("capacity")],
            [
                (escape(u), hours(x["mean_use"], 2), pct(x["mean_share"]), hours(x["peak"], 1),
                 hours(x["capacity"], 1))
                for u, x in k["utilities"].items()
            ],
        )  # fmt: skip


def process_plan_run(
    sc: Any, plan_file: str | None, replanning: bool, from_state: Any, snapshots: Any
) -> Any:
    """``twin run`` options for a process plant: what it cannot do is refused by name; with
    ``--plan FILE`` the run follows that process plan (None without a plan)."""
    from types import SimpleNamespace

    for option, given in (
        ("--from-state", from_state is not None),
        ("--snapshot-at", bool(snapshots)),
        ("--replan-on/--replan-every/--early-start", replanning),
    ):
        if given:
            raise UserError(f"{option}: not for a process plant (scenario '{sc.name}')")
    if plan_file is None:
        return None
    if plan_file == "auto":
        raise UserError(
            "--plan auto: not for a process plant; make the plan with twin plan SCENARIO --out "
            "plan.json, then twin run SCENARIO --plan plan.json"
        )
    data = load_process_plan(plan_file, sc)
    return SimpleNamespace(
        scenario=sc, options={"process_plan": data}, label=f"--plan {plan_file}", warnings=()
    )


def plan_process_cli(
    source: Path,
    hours: float | None,
    time_limit: float,
    solver: str,
    threads: int,
    mip_gap: float | None,
    seed: int,
    out_file: Path | None,
    as_json: bool,
) -> None:
    """``twin plan SCENARIO`` for a process plant: its STN solved and the plan written."""
    from optimizer.stn_scenario import plan_process
    from twin.cli.common import print_json
    from twin.cli.files import write_output

    result = plan_process(source, hours, time_limit, solver, threads, mip_gap, "auto", seed)
    if out_file is not None:
        write_output(out_file, json.dumps(result, indent=1))
    if as_json:
        print_json({k: v for k, v in result.items() if k not in ("stock", "utility_use")})
        return

    def num(x: float | None) -> str:
        return "none" if x is None else f"{x:,.2f}"

    out.print(
        f"{result['scenario']}: STN over {result['horizon_hours']:g} h in steps of "
        f"{result['time_step']:g} h: objective {num(result['objective'])} (bound "
        f"{num(result['bound'])}, {result['status']}, {result['seconds']:.1f} s, "
        f"{result['batches']} batches)" + (f"; saved to {out_file}" if out_file else ""),
        highlight=False,
        soft_wrap=True,
    )
