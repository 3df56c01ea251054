"""Process plants (API synthesis, biologics): tanks, fractional tasks, utilities, expiry.

- ``model``: the plant compiled from a scenario's ``process`` section, and the rules the twin
  and the planner share (durations, output offsets, utility needs, batch limits);
- ``plant``: the SimPy processes (tanks, units, utilities, material moves; events only);
- ``control``: what starts when: the dispatching rule, or an STN plan followed;
- ``kpi``: KPIs and the mass balance from the log;
- ``run``: ``simulate_process(scenario, seed, plan=None)``.
"""

from twin.process.control import Dispatcher, FollowStnPlan, PlannedBatch
from twin.process.kpi import mass_balance, plan_adherence, process_kpis
from twin.process.model import PlantModel, compile_plant
from twin.process.plant import ProcessPlant
from twin.process.run import ProcessRun, plan_batches, simulate_process

__all__ = [
    "Dispatcher",
    "FollowStnPlan",
    "PlannedBatch",
    "PlantModel",
    "ProcessPlant",
    "ProcessRun",
    "compile_plant",
    "mass_balance",
    "plan_adherence",
    "plan_batches",
    "process_kpis",
    "simulate_process",
]
