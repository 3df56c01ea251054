"""Output a person can read: at 80 columns with stdout piped, every table fits, and no number,
name or interval is cut (``…``) or wrapped over two lines; numbers are rounded for reading."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import DATA, SCENARIOS
from twin.cli.tables import pm

MM1 = str(DATA / "mm1.yaml")
TINY = str(SCENARIOS / "tiny.yaml")
SHORT = ["--set", "simulation.horizon=300h", "--set", "simulation.warmup=30h"]


def twin80(*args: str, cwd: Path | None = None) -> str:
    """Run twin with stdout piped and COLUMNS=80; check every line fits and nothing is cut
    (JSON output is one line by design)."""
    env = {**os.environ, "COLUMNS": "80"}
    res = subprocess.run(
        [sys.executable, "-m", "twin", *map(str, args)],
        capture_output=True, text=True, env=env, cwd=cwd, timeout=600,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    if "--json" in args:
        return res.stdout
    for line in res.stdout.splitlines():
        assert len(line.rstrip()) <= 80, line
        assert "…" not in line, line
    return res.stdout


def on_one_line(text: str, *cells: str) -> bool:
    """Whether some line holds all of ``cells`` whole."""
    return any(all(c in line for c in cells) for line in text.splitlines())


def test_sweep_table_keeps_every_interval_whole(tmp_path):
    args = ["sweep", MM1, *SHORT, "--grid", "units.m1.count=1,2",
            "--grid", "products.widget.recipe.work.duration.mean=0.5h,0.8h", "-n", "3",
            "--workers", "1", "--store", "runs"]  # fmt: skip
    # (a relative store: the lines that name it stay short whatever the temporary folder)
    text = twin80(*args, cwd=tmp_path)
    data = json.loads(twin80(*args, "--json", cwd=tmp_path))  # reused from the store
    assert len(data["kpi_names"]) >= 8  # the default KPIs: far wider than 80 columns in one row
    for point in data["points"]:
        for name in data["kpi_names"]:
            i = point["kpis"][name]
            cell = pm(i["mean"], i["half_width"])
            assert cell in text, (name, cell)
        assert on_one_line(
            text,
            str(point["set"]["units.m1.count"]),
            str(point["set"]["products.widget.recipe.work.duration.mean"]),
        )
    assert "duration.mean = products.widget.recipe.work.duration.mean" in text  # the legend


def test_intervals_round_to_the_half_width():
    assert pm(0.072345, 0.00312) == "0.0723 ± 0.0031"
    assert pm(1834.2, 45.3) == "1,834 ± 45"
    assert pm(12.345, 3.21) == "12.3 ± 3.2"
    assert pm(5.0, 0.0) == "5 ± 0" and pm(1234.5, None) == "1,234"
    assert pm(None, None) == "-"


def test_runs_list_shows_whole_ids_and_variant_names(tmp_path):
    store = ["--store", str(tmp_path)]
    long_sets = ["--set", "units.m1.count=2", "--set",
                 "products.widget.recipe.work.duration.mean=0.75h"]  # fmt: skip
    for sets in ([], long_sets):
        twin80("run", MM1, *SHORT, *sets, "-n", "2", "--workers", "1", *store, "--json")
    text = twin80("runs", "list", *store)
    listed = json.loads(twin80("runs", "list", *store, "--json"))
    assert len(listed) == 2
    for run in listed:
        assert on_one_line(text, run["id"])
        for item in run["variant"].split(", "):  # a long name breaks between its items
            assert on_one_line(text, item), item


def test_unit_table_tells_similar_units_apart():
    text = twin80("run", str(SCENARIOS / "osd_plant.yaml"), "--set", "simulation.horizon=2w",
                  "--set", "simulation.warmup=0h")  # fmt: skip
    kpis = json.loads(
        twin80(
            "run",
            str(SCENARIOS / "osd_plant.yaml"),
            "--set",
            "simulation.horizon=2w",
            "--set",
            "simulation.warmup=0h",
            "--json",
        )
    )
    for unit, o in kpis["oee"].items():
        assert on_one_line(text, f"{unit} ", f"{100 * o['oee']:.1f}"), unit
    assert on_one_line(text, "blender_1 ") and on_one_line(text, "blender_2 ")
    assert "OEE = A availability x P performance x Q quality" in " ".join(text.split())
    assert "{" not in text  # deviations are words, not a Python dict


def test_compare_with_long_variant_names_uses_labels(tmp_path):
    long_name = tmp_path / "two_machines_and_a_much_longer_file_name.yaml"
    long_name.write_text("units:\n  m1: {count: 2}\n")
    text = twin80("compare", MM1, "--variant", long_name, *SHORT, "-n", "3", "--workers", "1",
                  "--no-store")  # fmt: skip
    assert "V1 = base" in text or "V2 = two_machines_and_a_much_longer_file_name" in text
    assert "two_machines_and_a_much_longer_file_name" in text


@pytest.mark.solver
def test_plan_and_plan_adherence_for_people(tmp_path):
    plan = "plan.json"  # relative: the line naming it stays short whatever the temporary folder
    text = twin80("plan", TINY, "--time-limit", "2", "--out", plan, cwd=tmp_path)
    report = json.loads(twin80("plan", TINY, "--time-limit", "2", "--json"))
    objective_line = next(line for line in text.splitlines() if line.startswith("objective"))
    assert "hours)" in objective_line and repr(report["objective"]) not in objective_line
    run = twin80("run", TINY, "--plan", plan, cwd=tmp_path)
    assert "plan adherence" in run
    for words in ("operations started", "start deviation", "makespan planned / actual",
                  "orders on time"):  # fmt: skip
        assert words in run
