"""``simulate(scenario, seed) -> Run``: one replication of a plant, its event log and KPIs."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import yaml

from twin.dispatch import Policy
from twin.eventlog import write_parquet
from twin.kpi import compute_kpis, plan_adherence
from twin.plan import FollowPlan, Plan, Planner, Replanner, emit_plan
from twin.plant import Plant
from twin.scenario import Scenario

__all__ = ["Run", "simulate", "write_run_dir"]


@dataclass(frozen=True)
class Run:
    scenario: Scenario
    seed: int
    replication: int
    events: pa.Table
    kpis: dict[str, Any]
    wall_seconds: float
    meta: dict[str, Any] = field(default_factory=dict)


def simulate(
    scenario: Scenario,
    seed: int = 0,
    replication: int = 0,
    policy: Policy | None = None,
    progress: Callable[[float], None] | None = None,
    plan: Plan | None = None,
    planner: Planner | None = None,
    replan_on: tuple[str, ...] = (),
    replan_every: float | None = None,
    freeze: float = 0.0,
    early_start: bool = False,
) -> Run:
    """Run one replication. The same scenario, seed and replication give the identical log.

    With ``plan`` the units follow it (FollowPlan); with a ``planner`` too, the plant asks it
    for a new plan at the event kinds in ``replan_on`` (e.g. ``("breakdown", "deviation")``)
    and every ``replan_every`` hours, keeping operations within ``freeze`` hours in place.
    """
    t0 = time.perf_counter()
    replanner = None
    if plan is not None or planner is not None:
        if planner is not None and plan is None:
            plan = Plan(())
        policy = FollowPlan(plan, early_start=early_start)  # type: ignore[arg-type]
        if planner is not None:
            replanner = Replanner(planner, policy, on=replan_on, every=replan_every, freeze=freeze)
    plant = Plant(scenario, seed=seed, replication=replication, policy=policy)
    if plan is not None:
        emit_plan(plant.log, plan)
    if replanner is not None:
        replanner.attach(plant)
        if not plan.operations:  # type: ignore[union-attr]
            replanner.trigger("start")
    plant.run(progress=progress)
    table = plant.log.to_table()
    kpis = compute_kpis(table)
    adherence = plan_adherence(table)
    kpis = {"scenario": scenario.name, "seed": seed, "replication": replication, **kpis}
    if adherence is not None:
        kpis["plan"] = adherence
    wall = time.perf_counter() - t0
    return Run(
        scenario,
        seed,
        replication,
        table,
        kpis,
        wall,
        meta={"events": len(plant.log), "wall_seconds": wall},
    )


def write_run_dir(run: Run, out: str | Path) -> Path:
    """Write a run to a folder atomically (temporary folder, then rename).

    The folder holds scenario.yaml (resolved), events.parquet, kpis.json and meta.json. An
    existing folder is replaced only once the new one is complete.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        (tmp / "scenario.yaml").write_text(
            yaml.safe_dump(run.scenario.to_dict(), sort_keys=False), encoding="utf-8"
        )
        write_parquet(run.events, tmp / "events.parquet")
        (tmp / "kpis.json").write_text(json.dumps(run.kpis, indent=2, default=_json_default))
        meta = {
            "seed": run.seed,
            "replication": run.replication,
            "scenario": run.scenario.name,
            **run.meta,
        }
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2, default=_json_default))
        for f in tmp.iterdir():
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
        if out.exists():
            old = out.with_name(f".{out.name}.old")
            if old.exists():
                shutil.rmtree(old)
            out.rename(old)
            tmp.rename(out)
            shutil.rmtree(old)
        else:
            tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "item"):
        return obj.item()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
