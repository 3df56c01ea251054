"""The reference plant with material flow, its layout B, and the ``twin layout`` command."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from twin import load, simulate
from twin.cli import app

SCEN = Path(__file__).parents[2] / "scenarios"


def _short(path: Path, weeks: int = 10):
    sc = load(path)
    sim = sc.simulation.model_copy(update={"horizon": weeks * 168.0, "warmup": 0.0})
    return sc.model_copy(update={"simulation": sim})


@pytest.fixture(scope="module")
def runs():
    return {
        p: simulate(_short(SCEN / p), seed=0) for p in ("osd_plant.yaml", "osd_plant_layout_b.yaml")
    }


def test_osd_plant_has_material_and_transport_kpis(runs):
    k = runs["osd_plant.yaml"].kpis
    assert k["batches"]["qc_released"] > 50
    t = k["transport"]
    assert t["served"] > 500 and len(t["vehicles"]) == 6
    for v in t["vehicles"].values():
        assert sum(v["share"].values()) == pytest.approx(1.0)
    assert set(k["warehouses"]) == {"rm_store", "cold_store", "fg_store"}
    for m, b in k["materials"]["balance"].items():
        assert b["on_hand_end"] >= -1e-6, m
    assert k["materials"]["balance"]["paracetamol_500_fg"]["shipped"] > 0
    kinds = set(runs["osd_plant.yaml"].events.column("state").to_pylist())
    assert {"material", "ibc", "finished", "receipt"} <= kinds  # all four kinds of request


def test_layout_b_drives_further_and_waits_longer(runs):
    a = runs["osd_plant.yaml"].kpis["transport"]
    b = runs["osd_plant_layout_b.yaml"].kpis["transport"]
    assert b["distance_m"] > 2 * a["distance_m"]
    assert b["wait_h"]["mean"] > a["wait_h"]["mean"]


def test_twin_layout_writes_html(tmp_path):
    out = tmp_path / "layout.html"
    res = CliRunner().invoke(app, ["layout", str(SCEN / "osd_plant.yaml"), "--out", str(out)])
    assert res.exit_code == 0, res.output
    text = out.read_text()
    assert "st_pack_1" in text and "press_1" in text and "warehouse_gate" in text
    bad = CliRunner().invoke(app, ["layout", str(SCEN / "tiny.yaml"), "--out", str(out)])
    assert bad.exit_code == 2


def test_layout_b_full_copy_matches_its_variant_file():
    """The full copy and the variant file describe the same plant: they stay in step."""
    from twin.variants import resolve

    via_variant = resolve(SCEN / "osd_plant.yaml", SCEN / "variants" / "layout_b.yaml").scenario
    copy = load(SCEN / "osd_plant_layout_b.yaml")
    same = via_variant.model_copy(update={"name": copy.name, "description": copy.description})
    assert same == copy
