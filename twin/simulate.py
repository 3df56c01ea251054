"""``simulate(scenario, seed) -> Run``: one replication of a plant, its event log and KPIs."""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import yaml

from twin.dispatch import Policy
from twin.eventlog import write_parquet
from twin.follow_plan import FollowPlan, Planner, Replanner, emit_plan
from twin.kpi import LogView, compute_kpis, plan_adherence
from twin.plan import Plan
from twin.plant import Plant
from twin.scenario import Scenario

if TYPE_CHECKING:
    from twin.state import PlantState

__all__ = [
    "Run",
    "simulate",
    "write_run_dir",
    "check_run_dir",
    "is_run_output",
    "RunDirError",
    "RUN_FILES",
]


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
    state: PlantState | None = None,
    process_plan: dict[str, Any] | None = None,
) -> Run:
    """Run one replication. The same scenario, seed and replication give the identical log.

    With ``plan`` the units follow it (FollowPlan); with a ``planner`` too, the plant asks it
    for a new plan at the event kinds in ``replan_on`` (e.g. ``("breakdown", "deviation")``)
    and every ``replan_every`` hours, keeping operations within ``freeze`` hours in place.
    With ``state`` (a ``twin.state.PlantState``) the run starts from that plant at that
    instant instead of an empty plant at 0 (a warm start; KPIs cover the time from there).
    A scenario with a ``process`` section is a process plant (``twin.process``); it follows
    ``process_plan`` (an STN plan as data, ``twin plan`` on it) when given.
    """
    t0 = time.perf_counter()
    if scenario.process is not None:
        return _simulate_process(scenario, seed, replication, process_plan, progress, t0)
    replanner = None
    if plan is not None or planner is not None:
        if planner is not None and plan is None:
            plan = Plan(())
        policy = FollowPlan(plan, early_start=early_start)  # type: ignore[arg-type]
        if planner is not None:
            replanner = Replanner(planner, policy, on=replan_on, every=replan_every, freeze=freeze)
    plant = Plant(scenario, seed=seed, replication=replication, policy=policy, state=state)
    if plan is not None:
        emit_plan(plant.log, plan)
    if replanner is not None:
        replanner.attach(plant)
        if not plan.operations:  # type: ignore[union-attr]
            replanner.trigger("start")
    plant.run(progress=progress)
    table = plant.log.to_table()
    view = LogView(table)  # one view for both passes: its columns and masks are computed once
    kpis = compute_kpis(view)
    adherence = plan_adherence(view)
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


def _simulate_process(
    scenario: Scenario,
    seed: int,
    replication: int,
    plan: dict[str, Any] | None,
    progress: Callable[[float], None] | None,
    t0: float,
) -> Run:
    from twin.process import simulate_process

    pr = simulate_process(scenario, seed, replication, plan=plan, progress=progress)
    kpis = {"scenario": scenario.name, "seed": seed, "replication": replication, **pr.kpis}
    wall = time.perf_counter() - t0
    meta = {"events": pr.n_events, "wall_seconds": wall}
    return Run(scenario, seed, replication, pr.events, kpis, wall, meta=meta)


RUN_FILES = ("events.parquet", "kpis.json", "meta.json", "scenario.yaml")
"""The files of a run output folder (``twin run --out DIR``); besides these, only plant-state
snapshots (``state-<date>T<hhmm>.json``, ``twin run --snapshot-at``) are ever in one."""
_STATE_FILE = re.compile(r"^state-\d{4}-\d{2}-\d{2}T\d{4}(\d{2})?\.json$")


def _own(name: str) -> bool:
    return name in RUN_FILES or _STATE_FILE.match(name) is not None


RUN_KIND = "pharmatwin run"
"""``meta.json``'s ``kind``: marks a folder as a run output ``twin`` wrote."""


class RunDirError(ValueError):
    """A folder that must not receive a run (phrased for the user, starting with the path)."""


def is_run_output(path: str | Path) -> bool:
    """Whether ``path`` is a folder holding a run output written by :func:`write_run_dir` and
    nothing else (only the run files; ``meta.json`` names the scenario and seed)."""
    p = Path(path)
    if p.is_symlink() or not p.is_dir():
        return False
    names = {e.name for e in p.iterdir()}
    if not names or not all(_own(n) for n in names) or "meta.json" not in names:
        return False
    if any(not (p / n).is_file() or (p / n).is_symlink() for n in names):
        return False
    try:
        meta = json.loads((p / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(meta, dict) and "scenario" in meta and "seed" in meta


def check_run_dir(out: str | Path, force: bool = False) -> None:
    """Raise :class:`RunDirError` unless a run may be written to ``out``: a new path, an empty
    folder, or (only with ``force``) a previous run output, which it then replaces. A file, a
    symbolic link or a folder holding anything else is refused: ``twin`` never renames or
    deletes what it did not write."""
    p = Path(out)
    if p.is_symlink():
        raise RunDirError(
            f"{p}: a symbolic link is there; expected a new path, an empty folder or a previous "
            "run output"
        )
    if not p.exists():
        for parent in p.absolute().parents:
            if parent.exists():
                if not parent.is_dir():
                    raise RunDirError(f"{p}: {parent} is a file; expected a folder path")
                break
        return
    if not p.is_dir():
        raise RunDirError(
            f"{p}: a file is there; expected a folder for the run (a new path, an empty folder "
            "or a previous run output); twin does not replace files it did not write"
        )
    entries = sorted(e.name for e in p.iterdir())
    if not entries:
        return
    if is_run_output(p):
        if not force:
            raise RunDirError(
                f"{p}: holds a previous run output; --force replaces it (or choose a new folder)"
            )
        return
    shown = ", ".join(entries[:5]) + (f" and {len(entries) - 5} more" if len(entries) > 5 else "")
    raise RunDirError(
        f"{p}: the folder is not empty and not a twin run output (it holds {shown}); twin "
        "writes a run only to a new path, an empty folder or a previous run output, and never "
        "deletes files it did not write: choose another folder"
    )


def state_file_name(at: dt.datetime) -> str:
    """The name of a plant-state snapshot in a run folder: ``state-2026-03-02T0600.json``."""
    return f"state-{at:%Y-%m-%dT%H%M}" + (f"{at:%S}" if at.second else "") + ".json"


def write_run_dir(
    run: Run, out: str | Path, force: bool = False, states: Sequence[Any] = ()
) -> Path:
    """Write a run to a folder atomically (temporary folder beside it, then a rename).

    The folder holds scenario.yaml (resolved), events.parquet, kpis.json and meta.json, and
    the plant-state snapshots ``states`` (``twin.state.PlantState``) if any; nothing else.
    ``out`` must be a new path or an empty folder; a previous run output is replaced only with
    ``force`` (only its run files are removed); anything else raises
    :class:`RunDirError` before a byte is written (see :func:`check_run_dir`).
    """
    out = Path(out)
    check_run_dir(out, force)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        (tmp / "scenario.yaml").write_text(
            yaml.safe_dump(run.scenario.to_dict(), sort_keys=False), encoding="utf-8"
        )
        write_parquet(run.events, tmp / "events.parquet")
        (tmp / "kpis.json").write_text(json.dumps(run.kpis, indent=2, default=_json_default))
        meta = {
            "kind": RUN_KIND,
            "seed": run.seed,
            "replication": run.replication,
            "scenario": run.scenario.name,
            **run.meta,
        }
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2, default=_json_default))
        for st in states:  # plant-state snapshots (twin run --snapshot-at)
            (tmp / state_file_name(st.at)).write_text(json.dumps(st.to_dict(), indent=1))
        for f in tmp.iterdir():
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
        os.chmod(tmp, 0o777 & ~_umask())
        if out.is_dir() and any(out.iterdir()):  # a previous run output, with force
            _replace_run_dir(tmp, out)
        else:
            os.rename(tmp, out)  # a new path, or over an empty folder (rename replaces it)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _replace_run_dir(tmp: Path, out: Path) -> None:
    """Swap a previous run output for the new one: the old folder is moved aside, the new one
    renamed into place, and only the old run files are removed (anything that appeared in the
    old folder meanwhile is left where it was moved, and said)."""
    old = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
    old.rmdir()
    os.rename(out, old)
    try:
        os.rename(tmp, out)
    except BaseException:
        os.rename(old, out)
        raise
    for f in list(old.iterdir()):
        if _own(f.name):
            f.unlink(missing_ok=True)
    try:
        old.rmdir()
    except OSError:
        raise RunDirError(
            f"{out}: written; files that appeared in the previous run output while it was "
            f"replaced were kept in {old}"
        ) from None


@functools.cache
def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "item"):
        return obj.item()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
