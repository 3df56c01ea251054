"""One replication of a process plant: `simulate_process(scenario, seed) -> ProcessRun`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from twin.process.control import Dispatcher, FollowStnPlan, PlannedBatch
from twin.process.kpi import plan_adherence, process_kpis
from twin.process.model import compile_plant
from twin.process.plant import ProcessPlant

__all__ = ["ProcessRun", "plan_batches", "simulate_process"]


@dataclass(frozen=True)
class ProcessRun:
    events: pa.Table
    kpis: dict[str, Any]
    n_events: int


def plan_batches(plan: Mapping[str, Any]) -> list[PlannedBatch]:
    """The batches of a process plan (``twin plan`` on a process scenario; holds left out)."""
    out = []
    for i, b in enumerate(r for r in plan["schedule"] if not r.get("hold")):
        out.append(
            PlannedBatch(i + 1, str(b["task"]), str(b["unit"]), float(b["start"]), float(b["size"]))
        )
    return out


def simulate_process(
    scenario: Any,
    seed: int = 0,
    replication: int = 0,
    plan: Mapping[str, Any] | None = None,
    progress: Callable[[float], None] | None = None,
) -> ProcessRun:
    """Run a process plant; with `plan` (a process plan as data) the units follow it. The same
    scenario, seed, replication and plan give the identical log."""
    model = compile_plant(scenario)
    plant = ProcessPlant(model, scenario.name, seed, replication)
    if plan is not None:
        batches = plan_batches(plan)
        plant.controller = FollowStnPlan(batches, float(plan.get("time_step", model.time_step)))
        plant.next_batch = len(batches) + 1
    else:
        plant.controller = Dispatcher()
    plant.run(progress)
    table = plant.log.to_table()
    kpis = process_kpis(table)
    adherence = plan_adherence(table)
    if adherence is not None:
        kpis["plan"] = adherence
    return ProcessRun(table, kpis, len(plant.log))
