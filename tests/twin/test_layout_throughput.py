"""Layout B against layout A in throughput: the peak-demand variant (capacity-bound plant, one
AGV) stacked under each layout, compared with common random numbers; and the stacking of
variant files that makes that comparison one command."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from tests.conftest import SCENARIOS
from twin.cli import app
from twin.scenario import ScenarioError
from twin.variants import resolve

BASE = SCENARIOS / "osd_plant.yaml"
PEAK = SCENARIOS / "variants" / "peak_demand.yaml"
LAYOUT_B = SCENARIOS / "variants" / "layout_b.yaml"
TINY = SCENARIOS / "tiny.yaml"
SHORT = ["--set", "simulation.horizon=12w", "--set", "simulation.warmup=2w"]
RELEASED, DISTANCE, WAIT = "batches.qc_released", "transport.distance_m", "transport.wait_h.mean"
runner = CliRunner()


def _compare(*args: str, n: int) -> dict:
    res = runner.invoke(app, ["compare", str(BASE), *map(str, args), *SHORT,
                              "-n", str(n), "--workers", "1", "--no-store", "--json",
                              "--kpi", RELEASED, "--kpi", DISTANCE, "--kpi", WAIT])  # fmt: skip
    assert res.exit_code == 0, (res.stdout, res.stderr, res.exception)
    return json.loads(res.stdout)


# --------------------------------------------------------------------------- stacking
def test_variant_files_stack_in_order(tmp_path):
    first, second = tmp_path / "first.yaml", tmp_path / "second.yaml"
    first.write_text("units:\n  press_1: {count: 3}\nstaff:\n  operator: {count: 4}\n")
    second.write_text("units:\n  press_1: {count: 1}\n")
    var = resolve(TINY, [first, second])
    assert var.scenario.units["press_1"].count == 1  # the later file wins
    assert var.scenario.staff["operator"].count == 4  # what it leaves alone stays
    assert var.name == "first, second" and var.file == f"{first}, {second}"
    assert resolve(TINY, [second, first]).scenario.units["press_1"].count == 3
    assert resolve(TINY, [first]).scenario == resolve(TINY, first).scenario


def test_a_stacked_file_with_a_bad_value_is_named(tmp_path):
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text("units:\n  press_1: {count: 3}\n")
    bad.write_text("staff:\n  operator: {count: -1}\n")
    with pytest.raises(ScenarioError) as err:
        resolve(TINY, [good, bad])
    assert str(bad) in str(err.value) and str(good) not in str(err.value)


def test_peak_variant_stacks_with_layout_b():
    peak_b = resolve(BASE, [PEAK, LAYOUT_B]).scenario
    b_peak = resolve(BASE, [LAYOUT_B, PEAK]).scenario
    assert peak_b == b_peak  # the two files touch different sections
    assert peak_b.fleet.size == 1
    assert peak_b.layout == resolve(BASE, LAYOUT_B).scenario.layout


def test_run_variant_option_stacks(tmp_path):
    more, fewer = tmp_path / "more.yaml", tmp_path / "fewer.yaml"
    more.write_text("units:\n  press_1: {count: 3}\n")
    fewer.write_text("units:\n  press_1: {count: 1}\n")

    def presses(*variants: str) -> set[str]:
        args = [a for v in variants for a in ("--variant", v)]
        res = runner.invoke(app, ["run", str(TINY), *args, "--json"])
        assert res.exit_code == 0, (res.stdout, res.stderr, res.exception)
        return {u for u in json.loads(res.stdout)["oee"] if u.startswith("press_1")}

    assert presses(str(more)) == {"press_1", "press_1#2", "press_1#3"}
    assert presses(str(more), str(fewer)) == {"press_1"}


# --------------------------------------------------------------------------- throughput
@pytest.mark.slow
def test_at_peak_layout_b_releases_fewer_batches_than_layout_a():
    """Capacity-bound and with one AGV, layout B's longer trips cost output; common random
    numbers (replication r of both layouts sees the same orders and durations) make the paired
    difference clear over four replications of 12 weeks (10 measured after the warm-up)."""
    report = _compare("--common", PEAK, "--variant", LAYOUT_B, n=4)
    base, [b] = report["base"], report["variants"]
    assert base["file"] == str(PEAK) and b["file"] == f"{PEAK}, {LAYOUT_B}"
    released_a = base["kpis"][RELEASED]["mean"]
    lost = b["difference"][RELEASED]
    assert lost["high"] < 0, lost  # the paired 95% interval excludes 0
    assert lost["mean"] < -0.05 * released_a, (lost, released_a)
    further = b["difference"][DISTANCE]
    assert further["low"] > 0 and b["kpis"][DISTANCE]["mean"] > 2 * base["kpis"][DISTANCE]["mean"]
    assert b["difference"][WAIT]["low"] > 0


def test_demand_bound_reference_plant_releases_the_same_on_both_layouts():
    """Without the peak, layout B drives much further but releases as many batches."""
    report = _compare("--variant", LAYOUT_B, n=3)
    base, [b] = report["base"], report["variants"]
    released_a = base["kpis"][RELEASED]["mean"]
    assert abs(b["difference"][RELEASED]["mean"]) < 0.02 * released_a
    assert b["kpis"][DISTANCE]["mean"] > 2 * base["kpis"][DISTANCE]["mean"]
