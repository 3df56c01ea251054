"""A process plant in the dashboard, as plain functions (no browser): the playback of a real run
of scenarios/mab_plant.yaml (8 weeks, a fraction of a second) read into tank and utility
curves, the task Gantt and the cards, the figures built from them, and the Compare page's mean
levels; checked against the log itself and against twin.process's own KPIs."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from dashboard import data, figures, process_figures, timeline
from dashboard.process_levels import level_samples, mean_levels
from tests.dashboard.conftest import REPO
from twin.experiment import run_experiment
from twin.kpi import LogView
from twin.store import Store
from twin.variants import resolve

MAB = REPO / "scenarios" / "mab_plant.yaml"


def make_process_store(root: Path) -> dict[str, str]:
    """Two runs of mab_plant, seed 1, two replications each: the base, and three production
    bioreactors instead of four."""
    base = resolve(MAB)
    fewer = resolve(MAB, overrides=["units.BR.count=3"])
    a, b = run_experiment([base, fewer], seed=1, replications=2, store=Store(root))
    return {"base": a.run_id, "fewer": b.run_id}


@pytest.fixture(scope="module")
def mab_store(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("mab-store")
    return root, make_process_store(root)


@pytest.fixture(scope="module")
def pb(mab_store):
    root, runs = mab_store
    return data.playback(root, runs["base"], 0)


@pytest.fixture(scope="module")
def log(mab_store):
    root, runs = mab_store
    return Store(root).events(runs["base"], 0).to_pylist()


def _last(log, kind: str, unit: str, t: float) -> float:
    """The value of the last event of a kind for a unit at or before t (0 without one)."""
    vals = [r["value"] for r in log if r["kind"] == kind and r["unit"] == unit and r["t"] <= t]
    return vals[-1] if vals else 0.0


def test_tanks_and_utilities_are_read_from_the_log(pb, log):
    assert pb.is_process
    added = {r["unit"]: r for r in log if r["kind"] == "tank_added"}
    held = {k for k, r in added.items() if r["state"] in ("unlimited", "finite")}
    assert set(pb.tanks) == held  # storage none / zero_wait hold no level: left out
    assert pb.tanks["media"].capacity == 4000 and pb.tanks["media"].storage == "finite"
    assert math.isnan(pb.tanks["wfi"].capacity)
    assert {u: lv.capacity for u, lv in pb.utilities.items()} == {"cip": 2.0, "wfi_loop": 2.0}
    for t in (0.0, 100.0, 333.3, 900.0, pb.t1):
        for name, level in pb.tanks.items():
            assert level.at(t) == pytest.approx(_last(log, "tank_level", name, t))
        for name, level in pb.utilities.items():
            assert level.at(t) == pytest.approx(_last(log, "utility_level", name, t))
            assert 0 <= level.at(t) <= level.capacity


def test_a_discrete_run_has_no_tanks(tiny_store):
    root, runs = tiny_store
    tiny = data.playback(root, runs["base"], 0)
    assert not tiny.is_process and tiny.tanks == {} and tiny.utilities == {}
    assert [k for k, _ in figures.kpi_cards(tiny, 10.0)][1:3] == [
        "batches released",
        "WIP now (batches)",
    ]


def test_task_batches_are_gantt_bars_and_cards(pb, log):
    starts = [r for r in log if r["kind"] == "task_start"]
    ends = {(r["unit"], r["batch"]): r["t"] for r in log if r["kind"] == "task_end"}
    task = pb.bar_batch >= 0
    assert int(task.sum()) == len(starts)  # batches still running at the end included
    assert pb.first_activity == starts[0]["t"]
    for r in starts[:20]:
        (i,) = np.flatnonzero(pb.bar_batch == r["batch"])
        assert pb.units[pb.bar_unit[i]] == r["unit"] and pb.bar_label[i] == r["detail"]
        assert pb.bar_end[i] == ends.get((r["unit"], r["batch"]), pb.t1)
    fig = figures.gantt_figure(pb, 0.0, 168.0, t=24.0)
    names = {tr["name"] for tr in fig["data"]}
    assert {"media_prep", "buffer_prep", "seed_n2"} <= names
    assert any("task media_prep" in h for tr in fig["data"] for h in tr["customdata"])
    t = 500.0
    cards = dict(figures.kpi_cards(pb, t))
    done = sum(1 for r in log if r["kind"] == "task_end" and r["t"] <= t)
    under_way = sum(1 for r in starts if r["t"] <= t) - done
    assert cards["batches done"] == str(done)
    assert cards["batches under way"] == str(under_way)
    header, arrays = timeline.decode(timeline.timeline_bytes(pb))  # what the browser draws
    assert len(arrays["mark_release"]) == sum(1 for r in log if r["kind"] == "task_end")


def test_tank_figure_one_panel_per_tank_with_capacity_and_cursor(pb):
    fig = process_figures.tank_figure(pb, 300.0)
    levels = [tr for tr in fig["data"] if not tr["name"].endswith("capacity")]
    caps = [tr for tr in fig["data"] if tr["name"].endswith("capacity")]
    assert [tr["name"] for tr in levels] == list(pb.tanks)
    finite = [k for k, lv in pb.tanks.items() if lv.storage == "finite"]
    assert [tr["name"] for tr in caps] == [f"{k} capacity" for k in finite]
    assert all(tr["y"] == [pb.tanks[tr["name"][:-9]].capacity] * 2 for tr in caps)
    assert {tr["xaxis"] for tr in fig["data"]} == {"x"}  # one date axis: one cursor line
    assert len({tr["yaxis"] for tr in levels}) == len(pb.tanks)
    media = levels[list(pb.tanks).index("media")]
    assert media["line"]["shape"] == "hv" and media["y"][-1] == pb.tanks["media"].values[-1]
    assert media["x"][-1] == figures.cursor_date(pb, pb.t1)
    cursor = fig["layout"]["shapes"][0]
    assert cursor["x0"] == figures.cursor_date(pb, 300.0) and cursor["visible"]
    titles = [a["text"] for a in fig["layout"]["annotations"]]
    assert "media (finite, capacity 4,000)" in titles and "wfi (unlimited)" in titles
    assert fig["layout"]["title"]["text"].startswith("Tank levels")


def test_utility_figure_and_levels_at_the_cursor(pb, log):
    fig = process_figures.utility_figure(pb, 48.0)
    assert [tr["name"] for tr in fig["data"]] == [
        "cip",
        "cip capacity",
        "wfi_loop",
        "wfi_loop capacity",
    ]
    assert max(fig["data"][0]["y"]) <= fig["data"][1]["y"][0] == 2.0
    t = 612.5
    rows = process_figures.levels_at(pb, t)
    assert [r["id"] for r in rows] == [*pb.tanks, *pb.utilities]
    for r in rows:
        kind = "tank_level" if r["kind"] == "tank" else "utility_level"
        assert r["level"] == pytest.approx(_last(log, kind, r["id"], t))
        if r["capacity"] is None:
            assert r["pct"] is None
        else:
            assert r["pct"] == pytest.approx(100 * r["level"] / r["capacity"])


def test_mean_levels_agree_with_the_process_kpis(mab_store):
    root, runs = mab_store
    store = Store(root)
    kpis = store.kpis(runs["base"])
    for rep in (0, 1):
        means = mean_levels(LogView(store.events(runs["base"], rep)))
        for u, k in kpis[rep]["utilities"].items():
            assert means[f"utility.{u}"] == pytest.approx(k["mean_use"])
        assert 0 < means["tank.media"] <= 4000


def test_compare_figure_one_box_per_run_and_tank(mab_store, tiny_store):
    root, runs = mab_store
    store = Store(root)
    used = {runs["base"]: (0, 1), runs["fewer"]: (0, 1)}
    samples, caps = level_samples(store, used)
    assert list(samples) == list(used) and all(len(s) == 2 for s in samples.values())
    assert caps["tank.media"] == 4000 and caps["utility.cip"] == 2
    labels = {runs["base"]: "base", runs["fewer"]: "BR x3"}
    fig = process_figures.level_compare_figure(samples, labels, caps)
    keys = list(samples[runs["base"]][0])
    assert len(fig.data) == 2 * len(keys)
    assert {tr.name for tr in fig.data} == {"base", "BR x3"}
    titles = [a.text for a in fig.layout.annotations]
    assert "media (cap. 4,000)" in titles and "cip: in use (cap. 2)" in titles
    assert titles.index("media (cap. 4,000)") < titles.index("cip: in use (cap. 2)")
    box = next(tr for tr in fig.data if tr.name == "base")  # the first panel's base box
    assert list(box.y) == [s[keys[0]] for s in samples[runs["base"]]]
    # runs of a discrete plant are left out; none at all: a figure that says so
    troot, truns = tiny_store
    assert level_samples(Store(troot), {truns["base"]: (0,)}) == ({}, {})
    empty = process_figures.level_compare_figure({}, {})
    assert "no process plant" in empty.layout.title.text


def test_reports_of_a_process_plant_carry_levels_and_its_kpis(mab_store, pb):
    from dashboard import report

    root, runs = mab_store
    text = report.run_report(str(root), runs["base"], pb)
    assert "Tank levels over the run" in text and "Utilities in use" in text
    assert "demand_fill_pct" in text and "Work in progress" not in text
    both = report.compare_report(str(root), [runs["base"], runs["fewer"]], ["batches.total"], {})
    assert "time-mean tank level and utility use" in both
