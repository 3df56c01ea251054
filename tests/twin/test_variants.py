"""Variant files and --set overrides: merging, paths, validation messages."""

from __future__ import annotations

import copy

import pytest
import yaml

from tests.conftest import DATA, SCENARIOS
from twin.scenario import ScenarioError, load, load_dict
from twin.variants import (
    apply_override,
    deep_merge,
    parse_grid,
    parse_override,
    parse_point,
    resolve,
    resolve_many,
    sweep_points,
)

TINY = SCENARIOS / "tiny.yaml"


# --------------------------------------------------------------------------- merging
def test_deep_merge_mappings_merge_and_lists_replace():
    base = {"a": {"x": 1, "y": {"z": 2}}, "l": [1, 2, 3], "k": 5}
    patch = {"a": {"y": {"w": 3}}, "l": [9], "n": None}
    snapshot = copy.deepcopy(base)
    out = deep_merge(base, patch)
    assert out == {"a": {"x": 1, "y": {"z": 2, "w": 3}}, "l": [9], "k": 5, "n": None}
    assert base == snapshot  # inputs untouched


def test_deep_merge_lists_with_ids_merge_by_id_in_order():
    base = {"orders": [{"id": "o1", "q": 1, "p": "a"}, {"id": "o2", "q": 2}]}
    patch = {"orders": [{"id": "o2", "q": 20}, {"id": "o3", "q": 3}]}
    out = deep_merge(base, patch)
    assert out["orders"] == [
        {"id": "o1", "q": 1, "p": "a"},
        {"id": "o2", "q": 20},
        {"id": "o3", "q": 3},
    ]


def test_deep_merge_list_without_ids_replaces():
    base = {"recipe": [{"name": "a"}, {"name": "b"}]}
    assert deep_merge(base, {"recipe": [{"name": "c"}]}) == {"recipe": [{"name": "c"}]}


def test_a_distribution_naming_its_family_replaces_the_base_one():
    base = {"mttr": {"dist": "triangular", "low": 1, "mode": 2, "high": 6}, "x": 1}
    out = deep_merge(base, {"mttr": {"dist": "normal", "mean": 3, "sd": 1}})
    assert out["mttr"] == {"dist": "normal", "mean": 3, "sd": 1}
    # without a family, only the named parameter changes
    out = deep_merge(base, {"mttr": {"mode": 3}})
    assert out["mttr"] == {"dist": "triangular", "low": 1, "mode": 3, "high": 6}


def test_a_variant_changing_a_distribution_family_loads(tmp_path):
    v = tmp_path / "v.yaml"
    v.write_text(
        "equipment_classes:\n  granulator:\n    failures:\n"
        "      mttr: {dist: normal, mean: 2h, sd: 30min}\n"
    )
    sc = resolve(TINY, [v], []).scenario
    assert type(sc.equipment_classes["granulator"].failures.mttr).__name__ == "Normal"


# --------------------------------------------------------------------------- variant files
def test_variant_file_patches_base(tmp_path):
    v = tmp_path / "more_presses.yaml"
    v.write_text("units:\n  press_1: {count: 3}\nstaff:\n  operator: {count: 4}\n")
    var = resolve(TINY, v)
    base = load(TINY)
    assert var.name == "more_presses"
    assert var.scenario.units["press_1"].count == 3
    assert var.scenario.staff["operator"].count == 4
    # everything else is the base's
    assert var.scenario.model_copy(update={"units": base.units, "staff": base.staff}) == base


def test_variant_orders_merge_by_id(tmp_path):
    v = tmp_path / "v.yaml"
    v.write_text("orders:\n  - {id: o3, quantity: 800}\n")
    sc = resolve(TINY, v).scenario
    assert [o.id for o in sc.orders] == ["o1", "o2", "o3", "o4", "o5"]
    assert sc.orders[2].quantity == 800 and sc.orders[2].product == "tab_a"


def test_variant_problem_names_the_variant_file(tmp_path):
    v = tmp_path / "bad.yaml"
    v.write_text("units:\n  press_1: {count: none}\n")
    with pytest.raises(ScenarioError) as e:
        resolve(TINY, v)
    msg = str(e.value)
    assert str(v) in msg and "units.press_1.count" in msg and "'none'" in msg


def test_variant_yaml_syntax_error_names_the_file(tmp_path):
    v = tmp_path / "broken.yaml"
    v.write_text("units: {press_1: [\n")
    with pytest.raises(ScenarioError, match="broken.yaml"):
        resolve(TINY, v)


def test_osd_variant_files_are_valid():
    for name in ("extra_press", "second_shift"):
        var = resolve(SCENARIOS / "osd_plant.yaml", SCENARIOS / "variants" / f"{name}.yaml")
        assert var.name == name
    extra = resolve(SCENARIOS / "osd_plant.yaml", SCENARIOS / "variants" / "extra_press.yaml")
    assert (
        len(extra.scenario.unit_names()) == len(load(SCENARIOS / "osd_plant.yaml").unit_names()) + 1
    )


# --------------------------------------------------------------------------- --set
def test_set_parses_yaml_scalars_and_durations():
    sc = resolve(TINY, overrides=["units.press_1.count=3", "simulation.horizon=2w"]).scenario
    assert sc.units["press_1"].count == 3
    assert sc.simulation.horizon == 336.0


def test_set_into_lists_by_id_index_and_name():
    by_id = resolve(TINY, overrides=["orders.o3.quantity=800"]).scenario
    by_index = resolve(TINY, overrides=["orders[2].quantity=800"]).scenario
    by_dot_index = resolve(TINY, overrides=["orders.2.quantity=800"]).scenario
    assert by_id == by_index == by_dot_index
    assert by_id.orders[2].quantity == 800
    step = resolve(TINY, overrides=["products.tab_b.recipe.compression.duration=7h"]).scenario
    assert step.products["tab_b"].recipe[1].duration.mean == 7.0


def test_set_a_mapping_value_and_a_field_absent_from_the_base():
    sc = resolve(
        TINY, overrides=["equipment_classes.press.failures={mtbf: 100h, mttr: 2h}"]
    ).scenario
    assert sc.equipment_classes["press"].failures.mtbf.mean == 100.0


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        (
            "units.press_1.cnt=2",
            ["--set units.press_1.cnt=2", "units.press_1.cnt", "unknown key", "count"],
        ),
        ("simulation.horizn=4w", ["simulation.horizn", "unknown key", "horizon"]),
        (
            "units.press_1.count=two",
            ["--set units.press_1.count=two", "units.press_1.count", "'two'", "integer"],
        ),
        ("orders.o9.quantity=3", ["orders.o9", "no such list element", "o1"]),
        ("orders[7].quantity=3", ["orders[7]", "no such list element"]),
        ("equipment_classes.press.cleaning.minor.value=3", ["plain value"]),
        ("units.press_1", ["dotted.path=value"]),
        ("units..count=1", ["empty parts"]),
        ("units.press_1.count=[1, 2", ["YAML"]),
    ],
)
def test_bad_set_is_a_clear_error(text, fragments):
    with pytest.raises(ScenarioError) as e:
        resolve(TINY, overrides=[text])
    for frag in fragments:
        assert frag in str(e.value), (frag, str(e.value))


def test_error_is_blamed_on_the_override_that_caused_it():
    with pytest.raises(ScenarioError) as e:
        resolve(TINY, overrides=["units.press_1.count=3", "staff.operator.count=0"])
    # an operator count of 0 breaks the recipe steps needing an operator
    assert str(e.value).startswith("--set staff.operator.count=0:")


def test_unknown_path_check_happens_before_validation():
    data = yaml.safe_load(TINY.read_text())
    with pytest.raises(ScenarioError, match="unknown key"):
        apply_override(data, parse_override("units.press_1.colour=red"))


def test_resolved_scenario_round_trips_as_plain_data():
    var = resolve(TINY, overrides=["orders.o1.due=2026-01-12"])
    again = load_dict(var.data())
    assert again == var.scenario


# --------------------------------------------------------------------------- grids
def test_grid_values_keep_commas_inside_brackets():
    ovs = parse_grid(
        "equipment_classes.press.failures={mtbf: 100h, mttr: 2h},{mtbf: 50h, mttr: 1h}"
    )
    assert [o.value for o in ovs] == [{"mtbf": "100h", "mttr": "2h"}, {"mtbf": "50h", "mttr": "1h"}]


def test_sweep_points_are_the_cartesian_product_then_listed_points():
    pts = sweep_points(
        ["units.press_1.count=1,2,3", "staff.operator.count=2,3"],
        ["units.press_1.count=4; staff.operator.count=2"],
    )
    assert len(pts) == 3 * 2 + 1
    assert [(p[0].value, p[1].value) for p in pts[:6]] == [
        (1, 2),
        (1, 3),
        (2, 2),
        (2, 3),
        (3, 2),
        (3, 3),
    ]
    assert [o.text for o in pts[-1]] == ["units.press_1.count=4", "staff.operator.count=2"]


def test_point_needs_assignments():
    with pytest.raises(ScenarioError):
        parse_point(" ; ")


def test_resolve_many_validates_every_point_first():
    pts = sweep_points(["units.press_1.count=1,0"], [])
    with pytest.raises(ScenarioError, match=r"--grid units.press_1.count=0"):
        resolve_many(TINY, pts)


def test_resolve_many_labels_points():
    vs = resolve_many(DATA / "mm1.yaml", sweep_points(["units.m1.count=1,2"], []))
    assert [v.name for v in vs] == ["units.m1.count=1", "units.m1.count=2"]
    assert [v.scenario.units["m1"].count for v in vs] == [1, 2]
