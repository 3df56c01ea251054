import copy

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

import twin
from twin.scenario import ScenarioError, load, load_dict
from twin.simulate import simulate

from ..conftest import DATA, SCENARIOS


def tiny() -> dict:
    return yaml.safe_load((SCENARIOS / "tiny.yaml").read_text())


@pytest.mark.parametrize("path", sorted(SCENARIOS.rglob("*.yaml")) + sorted(DATA.glob("*.yaml")))
def test_shipped_scenarios_validate(path):
    if "variants" in path.parts:
        pytest.skip("variant files patch a base scenario")
    if "units" not in yaml.safe_load(path.read_text()):
        pytest.skip("not a plant scenario (e.g. a distribution network)")
    sc = load(path)
    assert sc.name


def test_osd_plant_is_a_realistic_reference():
    sc = load(SCENARIOS / "osd_plant.yaml")
    assert len(sc.unit_names()) >= 20
    assert len(sc.products) >= 4
    assert sc.simulation.horizon >= 52 * 168
    assert sc.qc is not None or all(p.qc for p in sc.products.values())
    assert any(c.failures for c in sc.equipment_classes.values())
    assert any(c.cleaning.matrix for c in sc.equipment_classes.values())


def test_scenario_is_immutable():
    sc = load(SCENARIOS / "tiny.yaml")
    with pytest.raises(ValidationError):
        sc.name = "x"  # type: ignore[misc]


def test_resolved_scenario_round_trips():
    sc = load(SCENARIOS / "tiny.yaml")
    again = load_dict(yaml.safe_load(yaml.safe_dump(sc.to_dict())), "resolved")
    assert again == sc
    # calendar dates became offsets from the start
    assert again.orders[-1].release == pytest.approx((10 - 0.25) * 24)


def _set(d, path, value):
    cur = d
    for p in path[:-1]:
        cur = cur[p]
    if value is KeyError:
        del cur[path[-1]]
    else:
        cur[path[-1]] = value


@pytest.mark.parametrize(
    ("path", "value", "where", "expect"),
    [
        (
            ("units", "gran_1", "class"),
            "granulatr",
            "units.gran_1.class",
            "unknown equipment class",
        ),
        (
            ("products", "tab_a", "recipe", 1, "equipment_class"),
            "pres",
            "products.tab_a.recipe[1].equipment_class",
            "unknown equipment class",
        ),
        (
            ("products", "tab_a", "recipe", 0, "duration"),
            "4 hours",
            "products.tab_a.recipe[0].duration",
            "duration",
        ),
        (
            ("products", "tab_a", "recipe", 0, "colour"),
            "red",
            "products.tab_a.recipe[0].colour",
            "unknown key",
        ),
        (("products", "tab_a", "batch_size"), 1000, "products.tab_a.batch_size", "capacity"),
        (("products", "tab_a", "batch_size"), -5, "products.tab_a.batch_size", "greater than 0"),
        (("orders", 0, "product"), "tab_z", "orders[0].product", "unknown product"),
        (("orders", 1, "id"), "o1", "orders[1].id", "unique"),
        (("orders", 0, "due"), KeyError, "orders[0].due", "missing"),
        (("dispatch",), "random", "dispatch", "unknown dispatch policy"),
        (("staff", "analyst", "shift"), "nights", "staff.analyst.shift", "unknown shift"),
        (
            ("equipment_classes", "granulator", "cleaning", "matrix", "tab_q"),
            {"tab_a": "1h"},
            "equipment_classes.granulator.cleaning.matrix.tab_q",
            "unknown product",
        ),
        (
            ("equipment_classes", "granulator", "energy_kw", "sleeping"),
            1,
            "equipment_classes.granulator.energy_kw.sleeping",
            "unknown unit state",
        ),
        (
            ("equipment_classes", "granulator", "failures", "mtbf"),
            {"dist": "gamma"},
            "equipment_classes.granulator.failures.mtbf",
            "unknown distribution",
        ),
        (
            ("products", "tab_a", "recipe", 0, "operators", "count"),
            5,
            "products.tab_a.recipe[0].operators.count",
            "at most the 2 staff",
        ),
        (("simulation", "warmup"), "8w", "simulation.warmup", "shorter than the horizon"),
        (("shifts", "days", "hours"), ["6-14"], "shifts.days.hours", "window"),
        (("units", "press_1", "count"), 0, "units.press_1.count", "greater than or equal to 1"),
    ],
)
def test_bad_input_names_file_path_value_and_expectation(path, value, where, expect):
    data = tiny()
    _set(data, path, value)
    with pytest.raises(ScenarioError) as info:
        load_dict(data, "scenarios/tiny.yaml")
    msg = str(info.value)
    assert msg.startswith(f"scenarios/tiny.yaml: {where}:"), msg
    assert expect in msg, msg
    assert "\n" not in msg


def test_yaml_syntax_error_names_line(tmp_path):
    p = tmp_path / "broken.yaml"
    p.write_text("name: x\nunits: [a, b\n")
    with pytest.raises(ScenarioError) as info:
        load(p)
    assert str(p) in str(info.value) and "line" in str(info.value)


def test_missing_file_and_non_mapping(tmp_path):
    with pytest.raises(ScenarioError, match="no such file"):
        load(tmp_path / "nope.yaml")
    p = tmp_path / "list.yaml"
    p.write_text("- 1\n- 2\n")
    with pytest.raises(ScenarioError, match="mapping"):
        load(p)


def test_unsafe_yaml_is_refused(tmp_path):
    p = tmp_path / "evil.yaml"
    p.write_text("name: !!python/object/apply:os.system ['echo hacked']\n")
    with pytest.raises(ScenarioError):
        load(p)


# ---------------------------------------------------------------- property-based
def _paths(d, prefix=()):
    if isinstance(d, dict):
        for k, v in d.items():
            yield (*prefix, k)
            yield from _paths(v, (*prefix, k))
    elif isinstance(d, list):
        for i, v in enumerate(d):
            yield (*prefix, i)
            yield from _paths(v, (*prefix, i))


BASE = tiny()
PATHS = sorted(_paths(BASE), key=str)
JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(
        ["2h", "-1h", "0", "tab_a", "press", "operator", "fifo", "1e309h", "06:00-14:00"]
    ),
    st.lists(st.integers(-3, 3), max_size=3),
    st.dictionaries(
        st.sampled_from(["dist", "mean", "low", "x"]),
        st.sampled_from(["fixed", 1, "2h", None]),
        max_size=3,
    ),
)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(st.sampled_from(PATHS), st.one_of(JUNK, st.just(KeyError))),
        min_size=1,
        max_size=3,
    )
)
def test_mutated_scenarios_fail_cleanly_or_run(mutations):
    data = copy.deepcopy(BASE)
    for path, value in mutations:
        try:
            _set(data, path, value)
        except (KeyError, IndexError, TypeError):
            continue
    try:
        sc = load_dict(data, "mutant.yaml")
    except ScenarioError as exc:
        assert str(exc).startswith("mutant.yaml")
        return
    short = sc.model_copy(
        update={
            "simulation": sc.simulation.model_copy(
                update={"horizon": min(sc.simulation.horizon, 150.0), "warmup": 0.0}
            )
        }
    )
    run = simulate(short, seed=1)
    assert run.kpis["events"] > 0


def test_public_api():
    assert twin.load and twin.simulate and twin.ScenarioError
