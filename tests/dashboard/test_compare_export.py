"""Comparisons on one basis, run labels, downloads and reports (no browser)."""

from __future__ import annotations

import csv
import io

import pyarrow.parquet as pq
import pytest

from dashboard import comparison, data, export, report
from dashboard.listing import labels_of, run_label, short_id
from tests.dashboard.conftest import TINY
from twin.experiment import run_experiment
from twin.store import Store
from twin.variants import resolve


def _samples(values: dict[str, dict[int, float]]) -> dict[str, dict[int, dict[str, float]]]:
    return {rid: {r: {"otif_pct": v} for r, v in reps.items()} for rid, reps in values.items()}


def test_means_and_differences_use_the_same_replications():
    """The issue's case: run 1 has 5 replications, run 2 one. The page showed run 1's mean over
    5 and a difference from 1 pair; now both rest on replication 0 and say so."""
    s = _samples({"r1": {0: 88.0, 1: 90.0, 2: 91.0, 3: 89.0, 4: 92.0}, "r2": {0: 89.5}})
    basis, cells = comparison.compare(s, {"r1": 7, "r2": 7}, ["otif_pct"])
    assert basis.used == {"r1": (0,), "r2": (0,)} and basis.left_out == {"r1": (1, 2, 3, 4)}
    mean1, mean2, diff = cells
    assert mean1.interval.mean == 88.0 and mean1.interval.n == 1
    assert diff.interval.mean == pytest.approx(mean2.interval.mean - mean1.interval.mean)
    text = comparison.display_rows(cells, ["r1", "r2"])[0]
    assert text == {"kpi": "otif_pct", "run0": "88 (no CI: 1 replication)",
                    "run1": "89.5 (no CI: 1 replication)", "diff1": "+1.5 (no CI: 1 pair)"}  # fmt: skip
    note = comparison.basis_note(basis, {"r1": "A", "r2": "B"})
    assert "(0; n=1)" in note and "Left out of A: replication(s) 1-4" in note


def test_paired_over_common_replications_and_welch_for_another_seed():
    s = _samples(
        {
            "ref": {0: 10.0, 1: 12.0, 2: 11.0, 3: 13.0},
            "same": {0: 11.0, 1: 13.5, 2: 12.0},  # same seed: paired on 0-2
            "other": {0: 20.0, 1: 22.0, 2: 21.0, 3: 25.0, 4: 19.0},  # another seed: Welch
        }
    )
    basis, cells = comparison.compare(s, {"ref": 1, "same": 1, "other": 2}, ["otif_pct"])
    assert basis.paired == ("same",) and basis.used["ref"] == (0, 1, 2)
    assert basis.used["other"] == (0, 1, 2, 3, 4)
    by = {(c.run, c.role): c for c in cells}
    ref, same, other = (by[(r, "mean")].interval for r in ("ref", "same", "other"))
    assert ref.mean == pytest.approx(11.0) and ref.n == 3
    d_same = by[("same", "difference")]
    assert d_same.method == "paired" and d_same.n_label == "3 pairs"
    assert d_same.interval.mean == pytest.approx(same.mean - ref.mean)
    d_other = by[("other", "difference")]
    assert d_other.method == "Welch" and d_other.n_label == "3 + 5"
    assert d_other.interval.mean == pytest.approx(other.mean - ref.mean)
    assert "n=3 pairs" in comparison.fmt_cell(d_same)
    rows = comparison.export_rows(cells, basis, {})
    assert {r["n"] for r in rows if r["run_id"] == "ref"} == {3}
    assert all(r["ci95_low"] <= r["mean"] <= r["ci95_high"] for r in rows)


def test_runs_are_labelled_by_scenario_variant_and_short_id(tiny_store):
    root, runs = tiny_store
    infos = [Store(root).get(runs["base"]), Store(root).get(runs["presses"])]
    assert short_id("20261125-191819-osd_plant-0675e3", "osd_plant") == "0675e3"
    assert short_id("20261125-191819-osd_plant-0675e3-2", "osd_plant") == "0675e3-2"
    label = run_label(infos[1])
    assert label.startswith("tiny / units.press_1.count=3 [") and label.endswith("]")
    labels = labels_of(infos)
    assert len(set(labels.values())) == 2 and labels[runs["base"]].startswith("tiny / base [")


def test_downloads_parse_back_in_every_format(tiny_store):
    root, runs = tiny_store
    ids = [runs["base"], runs["presses"]]
    rows = export.compare_table(str(root), ids, ["otif_pct", "wip.mean"])
    assert {r["kpi"] for r in rows} == {"otif_pct", "wip.mean"}
    assert {"mean", "ci95_low", "ci95_high", "n", "method"} <= set(rows[0])
    back = list(csv.DictReader(io.StringIO(export.encode(rows, "csv").decode())))
    assert [r["kpi"] for r in back] == [r["kpi"] for r in rows]
    table = pq.read_table(io.BytesIO(export.encode(rows, "parquet")))
    assert table.num_rows == len(rows) and table.column("n").to_pylist() == [r["n"] for r in rows]
    from openpyxl import load_workbook

    ws = load_workbook(io.BytesIO(export.encode(rows, "xlsx", sheet="compare")))["compare"]
    cells = list(ws.values)
    assert list(cells[0]) == list(rows[0]) and len(cells) == len(rows) + 1
    assert cells[1][list(rows[0]).index("mean")] == pytest.approx(rows[0]["mean"])
    per_rep = export.kpis_table(str(root), ids)
    assert [(r["run_id"], r["replication"]) for r in per_rep] == [
        (i, k) for i in ids for k in (0, 1)
    ]
    with pytest.raises(ValueError, match="format: bad value 'pdf'"):
        export.encode(rows, "pdf")


def test_events_and_gantt_downloads_match_the_page(tiny_store):
    root, runs = tiny_store
    pb = data.playback(root, runs["base"], 0)
    listed = pb.events_around(30.0)
    rows = export.events_table(pb, 30.0)
    assert [r["t_h"] for r in rows] == [r["t"] for r in listed]
    assert rows[0]["time"].startswith("2026-01-0") and "kind" in rows[0]
    gantt = export.gantt_table(pb, 24.0, 48.0)
    assert gantt and all(r["end_h"] > 24.0 and r["start_h"] < 48.0 for r in gantt)
    batch = next(r for r in gantt if r["what"] == "batch")
    assert (
        batch["order"]
        and batch["step"]
        and batch["duration_h"] == pytest.approx(batch["end_h"] - batch["start_h"])
    )


def test_reports_are_self_contained(tiny_store):
    root, runs = tiny_store
    pb = data.playback(root, runs["base"], 0)
    text = report.run_report(str(root), runs["base"], pb)
    assert "<script src" not in text.replace("'", '"').replace('" ', '"')
    assert "Plotly.newPlot" in text or "plotly" in text.lower()
    assert text.count("Plotly.newPlot") >= 3  # Gantt, WIP/stock, utilisation
    for word in ("seed", "pharmatwin", "otif_pct", "KPIs per replication", runs["base"]):
        assert word in text
    assert str(root) not in text  # no server path
    both = report.compare_report(str(root), [runs["base"], runs["presses"]], ["otif_pct"], {})
    assert "Paired (common random numbers)" in both and both.count("Plotly.newPlot") >= 2


def test_store_with_unequal_replications(tmp_path):
    """Through the store: 3 replications against 1 of the same seed."""
    a = resolve(TINY)
    b = resolve(TINY, overrides=["units.press_1.count=3"])
    (ra,) = run_experiment([a], seed=4, replications=3, store=Store(tmp_path))
    (rb,) = run_experiment([b], seed=4, replications=1, store=Store(tmp_path))
    rows = export.compare_table(str(tmp_path), [ra.run_id, rb.run_id], ["otif_pct"])
    assert [r["n"] for r in rows] == [1, 1, 1]
    assert rows[2]["mean"] == pytest.approx(rows[1]["mean"] - rows[0]["mean"])
