"""Validation of the material-flow sections: clear errors with file, path, value, expected."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from twin.cli import app
from twin.scenario import ScenarioError, load_dict

DATA = Path(__file__).parents[1] / "data"
BASE = yaml.safe_load((DATA / "flow_line.yaml").read_text())


def _error(mutate) -> ScenarioError:
    data = copy.deepcopy(BASE)
    mutate(data)
    with pytest.raises(ScenarioError) as info:
        load_dict(data, "plant.yaml")
    return info.value


def test_unreachable_station_is_named():
    def cut(d):  # the last segment becomes one-way towards the press: nothing comes back
        d["layout"]["edges"][2]["one_way"] = True

    e = _error(cut)
    assert e.source == "plant.yaml"
    assert e.path == "units.press_1.station" and e.value == "st_press"
    assert "st_press->" in e.expected and "unreachable" in e.expected
    assert str(e).startswith("plant.yaml: ")


def test_isolated_station_names_both_directions():
    def island(d):
        d["layout"]["nodes"]["island"] = {"x": 500, "y": 500, "kind": "station"}
        d["units"]["press_1"]["station"] = "island"

    e = _error(island)
    assert e.path == "units.press_1.station" and e.value == "island"
    assert "island->" in e.expected and "->island" in e.expected


def test_unknown_material():
    def typo(d):
        d["products"]["tab"]["recipe"][0]["consumes"]["apii"] = {"per_kg": 0.1}

    e = _error(typo)
    assert e.path == "products.tab.recipe[0].consumes.apii"
    assert e.value == "apii"
    assert "unknown material" in e.expected and "api" in e.expected


def test_negative_capacity():
    e = _error(lambda d: d["warehouses"]["main"]["capacity"].update(ambient=-3))
    assert e.path == "warehouses.main.capacity.ambient"
    assert e.value == -3
    assert "greater than or equal to 0" in e.expected


@pytest.mark.parametrize(
    ("mutate", "path"),
    [
        (lambda d: d["units"]["mix_1"].update(station="nowhere"), "units.mix_1.station"),
        (
            lambda d: d["layout"]["edges"].append({"from": "st_mix", "to": "mars"}),
            "layout.edges[3].to",
        ),
        (lambda d: d["fleet"].update(dispatch="random"), "fleet.dispatch"),
        (lambda d: d["fleet"].update(size=0), "fleet.size"),
        (lambda d: d["products"]["tab"].update(finished_good="api"), "products.tab.finished_good"),
        (lambda d: d["materials"]["api"].update(warehouse="annex"), "materials.api.warehouse"),
        (lambda d: d["materials"]["api"].update(storage="frozen"), "materials.api.storage"),
        (lambda d: d["layout"].pop("ibc_store"), "layout.ibc_store"),
        (lambda d: d["units"]["mix_1"].pop("station"), "units.mix_1.station"),
        (
            lambda d: d["products"]["tab"]["recipe"][0]["consumes"].update(
                api={"per_kg": 1, "per_batch": 2}
            ),
            "products.tab.recipe[0].consumes.api",
        ),
        (
            lambda d: d["products"]["tab"]["recipe"][1]["consumes"].update(blend2={"per_kg": 1}),
            "products.tab.recipe[1].consumes.blend2",
        ),
    ],
)
def test_other_flow_errors_name_the_path(mutate, path):
    e = _error(mutate)
    assert e.path == path, str(e)


def _unreachable(d):
    d["layout"]["edges"][2]["one_way"] = True


def _unknown_material(d):
    d["products"]["tab"]["recipe"][0]["consumes"]["apii"] = {"per_kg": 0.1}


def _negative_capacity(d):
    d["warehouses"]["main"]["capacity"]["cold"] = -1


@pytest.mark.parametrize(
    ("mutate", "says"),
    [
        (_unreachable, "units.press_1.station: bad value 'st_press'"),
        (_unknown_material, "products.tab.recipe[0].consumes.apii: bad value 'apii'"),
        (_negative_capacity, "warehouses.main.capacity.cold: bad value -1"),
    ],
)
def test_cli_validate_exit_code_2(tmp_path, mutate, says):
    data = copy.deepcopy(BASE)
    mutate(data)
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data))
    res = CliRunner().invoke(app, ["validate", str(bad)])
    assert res.exit_code == 2
    text = " ".join(res.output.split())
    assert f"{bad}: {says}" in text, text
    assert "Traceback" not in res.output


def test_cli_validate_accepts_the_flow_scenarios():
    for p in (DATA / "flow_line.yaml", DATA / "flow_supply.yaml", DATA / "dense_loop.yaml"):
        ok = CliRunner().invoke(app, ["validate", str(p)])
        assert ok.exit_code == 0, ok.output
