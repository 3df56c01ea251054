"""The STN JSON reader: the public instances, a hand-written file, and every class of bad file."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from optimizer.formats import InstanceFormatError
from optimizer.formats.stn import parse_stn, read_stn
from optimizer.stn_data import (
    Arc,
    BatchInProgress,
    Changeover,
    Cleaning,
    Demand,
    Grid,
    OutputArc,
    Receipt,
    State,
    StnData,
    StnDataError,
    UnitInit,
    UnitTask,
    Utility,
    UtilityUse,
)
from optimizer.stn_instances import kondili, mix_split
from tests.conftest import INSTANCES

STN = INSTANCES / "stn"

GOOD: dict[str, Any] = {
    "name": "mix_split",
    "states": {
        "A": {"capacity": None, "init": 30, "price": 0},
        "B": {"capacity": None, "init": 30, "price": 0},
        "M": {"capacity": None, "init": 0, "price": -1},
        "P1": {"capacity": None, "init": 0, "price": 6},
        "P2": {"capacity": None, "init": 0, "price": 3},
    },
    "st_arcs": [["A", "Mix", 0.5], ["B", "Mix", 0.5], ["M", "Split", 1.0]],
    "ts_arcs": [["Mix", "M", 1.0, 1], ["Split", "P1", 0.4, 1], ["Split", "P2", 0.6, 2]],
    "units": [["Mixer", "Mix", 0, 20, 2, 0], ["Still", "Split", 5, 25, 4, 0.5]],
    "grid": {"start": 0, "stop": 4, "step": 1},
    "extra": [],
}


def write(tmp_path: Path, doc: Any, name: str = "plant.json") -> Path:
    path = tmp_path / name
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc), encoding="utf-8")
    return path


# ------------------------------------------------------------------------------ good files
def test_public_instances_read() -> None:
    kon = read_stn(STN / "kondili_stnscheduler_H10.json")
    assert kon.name == "kondili_stnscheduler_H10"
    assert (len(kon.states), len(kon.tasks), len(kon.units), kon.grid.periods) == (9, 5, 4, 10)
    assert kon.duration("Reaction_2") == 2 and kon.duration("Separation") == 2
    assert kon.reference is not None and kon.reference.value == 2744.375
    assert kon.reference.sense == "max"
    mar = read_stn(STN / "maravelias_grossmann2003_A_H6.json")
    assert (len(mar.states), mar.tasks, mar.grid.periods) == (4, ("Heat", "R1", "R2", "Sep"), 6)
    assert mar.reference is not None and mar.reference.value == 100.0


def test_the_code_built_kondili_is_the_public_one() -> None:
    public = read_stn(STN / "kondili_stnscheduler_H10.json")
    built = kondili(10)
    for field in ("states", "inputs", "outputs", "unit_tasks", "grid", "final_min"):
        assert getattr(built, field) == getattr(public, field), field


def test_hand_written_file_reads_into_the_same_data(tmp_path: Path) -> None:
    data = read_stn(write(tmp_path, GOOD))
    expected = mix_split()
    for field in ("name", "states", "inputs", "outputs", "unit_tasks", "grid", "final_min"):
        assert getattr(data, field) == getattr(expected, field), field
    assert data.reference is None


def test_name_defaults_to_the_file_stem(tmp_path: Path) -> None:
    doc = copy.deepcopy(GOOD)
    del doc["name"], doc["extra"]
    assert read_stn(write(tmp_path, doc, "my plant.json")).name == "my plant"


def test_states_tasks_and_units_are_separate_namespaces(tmp_path: Path) -> None:
    """A unit named like its task (a "Filter" filtering) or like a state is legal."""
    doc = copy.deepcopy(GOOD)
    doc["units"][0][0] = "Mix"
    doc["units"][1][0] = "M"
    data = read_stn(write(tmp_path, doc))
    assert data.units == ("Mix", "M") and data.tasks == ("Mix", "Split")


def test_extensions_read(tmp_path: Path) -> None:
    doc = copy.deepcopy(GOOD)
    doc["states"]["M"]["policy"] = "none"
    doc["description"] = "all the optional parts"
    doc.update(
        utilities={"Steam": {"capacity": 10, "changes": [[2, 5]]}},
        unit_utilities=[["Mixer", "Mix", "Steam", 1, 0.2]],
        cleaning=[["Still", "Split", 1]],
        changeovers=[["Mixer", "Mix", "Mix", 0.5]],
        demands=[["P1", 3, 4], ["P2", 4, 5, 2.5]],
        receipts=[["A", 1.5, 10]],
        initial={
            "units": [["Mixer", 0.5, "Mix", {"M": 3}]],
            "in_progress": [["Split", "Still", -1, 10]],
        },
        reference={"value": 1, "sense": "max", "source": "hand", "solver": "none"},
    )
    data = read_stn(write(tmp_path, doc))
    assert data.state("M").policy == "none" and data.state("M").effective_capacity == 0
    assert data.utilities == (Utility("Steam", 10.0, ((2.0, 5.0),)),)
    assert data.utility_uses == (UtilityUse("Mixer", "Mix", "Steam", 1.0, 0.2),)
    assert data.cleanings == (Cleaning("Still", "Split", 1.0),)
    assert data.changeovers == (Changeover("Mixer", "Mix", "Mix", 0.5),)
    assert data.demands == (Demand("P1", 3.0, 4.0, None), Demand("P2", 4.0, 5.0, 2.5))
    assert data.receipts == (Receipt("A", 1.5, 10.0),)
    assert data.unit_init == (UnitInit("Mixer", 0.5, "Mix", (("M", 3.0),)),)
    assert data.in_progress == (BatchInProgress("Split", "Still", -1.0, 10.0),)
    assert data.reference is not None and data.reference.source == "hand"
    assert data.utilities[0].capacity_between(1, 2) == 10
    assert data.utilities[0].capacity_between(1.5, 2.5) == 5


# ------------------------------------------------------------------------------- bad files
def mutate(change) -> dict:
    doc = copy.deepcopy(GOOD)
    change(doc)
    return doc


def setitem(path: list, value: Any):
    def change(doc: dict) -> None:
        target = doc
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return change


def delitem(path: list):
    def change(doc: dict) -> None:
        target = doc
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]

    return change


BAD_CASES = [
    # shape of the document
    ("top_not_object", lambda d: d.clear() or d.update(x=1), "x", "one of the keys"),
    ("unknown_top_key", setitem(["Units"], []), "Units", "one of the keys"),
    ("missing_states", delitem(["states"]), "(top)", "the key 'states'"),
    ("missing_grid", delitem(["grid"]), "(top)", "the key 'grid'"),
    ("states_not_object", setitem(["states"], []), "states", "a JSON object"),
    ("no_states", setitem(["states"], {}), "states", "at least one state"),
    ("state_missing_price", delitem(["states", "A", "price"]), "states.A", "the key 'price'"),
    ("state_unknown_key", setitem(["states", "A", "cap"], 1), "states.A.cap", "one of the keys"),
    # numbers
    ("capacity_string", setitem(["states", "A", "capacity"], "10"), "states.A.capacity", "'10'"),
    ("capacity_negative", setitem(["states", "M", "capacity"], -1), "states.M.capacity", "-1"),
    ("init_negative", setitem(["states", "A", "init"], -5), "states.A.init", "-5"),
    (
        "init_above_capacity",
        setitem(["states", "A", "capacity"], 10),
        "states.A.init",
        "at most the capacity 10",
    ),
    ("price_bool", setitem(["states", "A", "price"], True), "states.A.price", "true"),
    ("price_null", setitem(["states", "A", "price"], None), "states.A.price", "null"),
    ("huge_price", setitem(["states", "P1", "price"], 1e12), "states.P1.price", "a price from"),
    ("policy_unknown", setitem(["states", "M", "policy"], "tank"), "states.M.policy", "'tank'"),
    (
        "policy_with_capacity",
        lambda d: d["states"]["M"].update(policy="zero_wait", capacity=5),
        "states.M.capacity",
        "null or 0 with policy 'zero_wait'",
    ),
    # arcs
    ("st_arc_short", setitem(["st_arcs", 0], ["A", "Mix"]), "st_arcs[0]", "3 elements"),
    (
        "st_arc_unknown_state",
        setitem(["st_arcs", 0, 0], "AA"),
        "st_arcs[0][0]",
        "a state defined in states",
    ),
    (
        "st_arc_unknown_task",
        setitem(["st_arcs", 2, 1], "Splitt"),
        "st_arcs[2][1]",
        "a task some unit runs",
    ),
    ("st_arc_zero_fraction", setitem(["st_arcs", 2, 2], 0), "st_arcs[2][2]", "a fraction > 0"),
    ("st_arc_fraction_above_1", setitem(["st_arcs", 2, 2], 1.5), "st_arcs[2][2]", "1.5"),
    (
        "inputs_do_not_sum_to_1",
        setitem(["st_arcs", 0, 2], 0.4),
        "st_arcs[0][2]",
        "input fractions of task 'Mix' summing to 1",
    ),
    (
        "outputs_do_not_sum_to_1",
        setitem(["ts_arcs", 2, 2], 0.5),
        "ts_arcs[1][2]",
        "output fractions of task 'Split' summing to 1",
    ),
    (
        "duplicate_arc",
        lambda d: d["st_arcs"].append(["A", "Mix", 0.5]),
        "st_arcs[3][0]",
        "each input state once per task",
    ),
    ("ts_arc_zero_duration", setitem(["ts_arcs", 0, 3], 0), "ts_arcs[0][3]", "a duration > 0"),
    ("ts_arc_negative_duration", setitem(["ts_arcs", 0, 3], -2), "ts_arcs[0][3]", "-2"),
    ("ts_arc_duration_string", setitem(["ts_arcs", 0, 3], "1h"), "ts_arcs[0][3]", "'1h'"),
    ("ts_arc_unknown_state", setitem(["ts_arcs", 1, 1], "Q"), "ts_arcs[1][1]", "'Q'"),
    (
        "task_without_outputs",
        lambda d: d["ts_arcs"].pop(0),
        "units[0][1]",
        "at least one output arc in ts_arcs",
    ),
    (
        "task_without_inputs",
        lambda d: d["st_arcs"].pop(2),
        "units[1][1]",
        "at least one input arc in st_arcs",
    ),
    # units
    (
        "unit_row_long",
        setitem(["units", 0], ["Mixer", "Mix", 0, 20, 2, 0, 1]),
        "units[0]",
        "6 elements",
    ),
    ("bmin_above_bmax", setitem(["units", 1, 2], 30), "units[1][2]", "Bmin <= Bmax (25)"),
    ("bmax_zero", setitem(["units", 0, 3], 0), "units[0][3]", "Bmax > 0"),
    ("bmin_negative", setitem(["units", 0, 2], -1), "units[0][2]", "-1"),
    (
        "duplicate_unit_task",
        lambda d: d["units"].append(["Mixer", "Mix", 0, 5, 0, 0]),
        "units[2][1]",
        "each task listed once per unit",
    ),
    ("unit_name_empty", setitem(["units", 0, 0], ""), "units[0][0]", "a name"),
    ("cost_string", setitem(["units", 0, 4], "2"), "units[0][4]", "'2'"),
    # grid
    ("grid_stop_before_start", setitem(["grid", "stop"], 0), "grid.stop", "after grid.start"),
    ("grid_step_zero", setitem(["grid", "step"], 0), "grid.step", "a step > 0"),
    ("grid_step_negative", setitem(["grid", "step"], -1), "grid.step", "-1"),
    ("grid_off_step", setitem(["grid", "stop"], 4.5), "grid.stop", "a grid point"),
    ("grid_too_fine", setitem(["grid", "step"], 1e-6), "grid.step", "at most 100000 periods"),
    ("grid_extra_key", setitem(["grid", "unit"], "h"), "grid.unit", "one of the keys"),
    ("grid_missing_step", delitem(["grid", "step"]), "grid", "the key 'step'"),
    # extra
    ("extra_unknown_state", setitem(["extra"], [["P3", 1]]), "extra[0][0]", "'P3'"),
    ("extra_negative", setitem(["extra"], [["P1", -1]]), "extra[0][1]", "an amount >= 0"),
    ("extra_duplicate", setitem(["extra"], [["P1", 1], ["P1", 2]]), "extra[1][0]", "once"),
    (
        "extra_above_capacity",
        lambda d: d["states"]["P1"].update(capacity=5) or d.update(extra=[["P1", 6]]),
        "extra[0][1]",
        "at most the capacity 5",
    ),
    ("extra_not_pairs", setitem(["extra"], [["P1"]]), "extra[0]", "2 elements"),
    # reference
    (
        "reference_sense",
        setitem(["reference"], {"value": 1, "sense": "maximise"}),
        "reference.sense",
        "'max' or 'min'",
    ),
    (
        "reference_value",
        setitem(["reference"], {"value": "1", "sense": "max"}),
        "reference.value",
        "'1'",
    ),
    # extensions
    (
        "utility_use_unknown",
        setitem(["unit_utilities"], [["Mixer", "Mix", "Power", 1, 0]]),
        "unit_utilities[0][2]",
        "a utility defined in utilities",
    ),
    (
        "utility_use_wrong_unit",
        lambda d: d.update(
            utilities={"Steam": {"capacity": 5}}, unit_utilities=[["Still", "Mix", "Steam", 1, 0]]
        ),
        "unit_utilities[0][1]",
        "a task that unit 'Still' runs",
    ),
    (
        "changeover_unknown_task",
        setitem(["changeovers"], [["Mixer", "Mix", "Split", 1]]),
        "changeovers[0][2]",
        "a task that unit 'Mixer' runs",
    ),
    (
        "cleaning_negative",
        setitem(["cleaning"], [["Still", "Split", -1]]),
        "cleaning[0][2]",
        "a duration >= 0",
    ),
    (
        "demand_outside_grid",
        setitem(["demands"], [["P1", 9, 1]]),
        "demands[0][1]",
        "a time within the grid",
    ),
    (
        "demand_penalty_negative",
        setitem(["demands"], [["P1", 2, 1, -1]]),
        "demands[0][3]",
        "a penalty >= 0",
    ),
    ("receipt_before_grid", setitem(["receipts"], [["A", -1, 1]]), "receipts[0][1]", "-1"),
    (
        "in_progress_finished",
        setitem(["initial"], {"in_progress": [["Mix", "Mixer", -3, 5]]}),
        "initial.in_progress[0][2]",
        "a batch still running at grid.start",
    ),
    (
        "in_progress_too_big",
        setitem(["initial"], {"in_progress": [["Mix", "Mixer", -0.5, 50]]}),
        "initial.in_progress[0][3]",
        "a size from 0 to Bmax 20",
    ),
    (
        "held_not_nis",
        setitem(["initial"], {"units": [["Mixer", 0, "Mix", {"A": 3}]]}),
        "initial.units[0][3].A",
        "each NIS state (policy 'none') once",
    ),
    (
        "held_not_an_object",
        setitem(["initial"], {"units": [["Mixer", 0, "Mix", [["M", 3]]]]}),
        "initial.units[0][3]",
        "a JSON object",
    ),
    (
        "unit_init_unknown_unit",
        setitem(["initial"], {"units": [["Press", 2, None]]}),
        "initial.units[0][0]",
        "a unit listed in units",
    ),
]


@pytest.mark.parametrize(
    ("case", "change", "where", "fragment"), BAD_CASES, ids=[c[0] for c in BAD_CASES]
)
def test_bad_files_name_file_path_value_and_expectation(
    tmp_path: Path, case: str, change, where: str, fragment: str
) -> None:
    path = write(tmp_path, mutate(change))
    with pytest.raises(InstanceFormatError) as info:
        read_stn(path)
    err = info.value
    message = str(err)
    assert err.path == str(path)
    assert err.where == where, message
    assert message.startswith(f"{path}: {where}: "), message
    assert "bad value" in message and "expected" in message, message
    assert fragment in message, message


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ('{"states": {', 1, "not valid JSON"),
        ('{\n "states": {}\n "grid": 1}', 3, "not valid JSON"),
        ("[]", 0, "a JSON object"),
        ('{"name": "x", "name": "y"}', 0, "given twice"),
        (json.dumps(GOOD).replace("null", "NaN", 1), 0, "states.A.capacity: bad value NaN"),
        (json.dumps(GOOD).replace("null", "Infinity", 1), 0, "bad value Infinity"),
        (json.dumps(GOOD).replace("null", "-Infinity", 1), 0, "bad value -Infinity"),
        (json.dumps(GOOD).replace("null", "1e400", 1), 0, "a capacity or null (finite)"),
        (json.dumps(GOOD).replace("null", "1" + "0" * 5000, 1), 0, "(finite)"),
        ("[" * 100_000 + "]" * 100_000, 0, "nested too deeply"),
    ],
)
def test_malformed_json(tmp_path: Path, text: str, line: int, fragment: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(InstanceFormatError) as info:
        read_stn(path)
    assert info.value.line_no == line
    assert str(path) in str(info.value)
    assert fragment in str(info.value)


def test_missing_and_binary_files(tmp_path: Path) -> None:
    with pytest.raises(InstanceFormatError, match="no such file"):
        read_stn(tmp_path / "none.json")
    path = tmp_path / "binary.json"
    path.write_bytes(b"\xff\xfe{}")
    with pytest.raises(InstanceFormatError, match="not UTF-8"):
        read_stn(path)


def test_parse_names_the_source() -> None:
    with pytest.raises(InstanceFormatError, match=r"^<memory>: grid\.step: "):
        parse_stn(json.dumps({**GOOD, "grid": {"start": 0, "stop": 4, "step": 0}}), "<memory>")


# ---------------------------------------------------------------------- StnData in code
def test_data_built_in_code_is_validated_too() -> None:
    base = mix_split()
    with pytest.raises(StnDataError) as info:
        base.replace(unit_tasks=(UnitTask("Mixer", "Mix", 30, 20), base.unit_tasks[1]))
    assert info.value.where == "units[0][2]"
    with pytest.raises(StnDataError, match="grid.stop"):
        base.replace(grid=Grid(0, 0, 1))
    with pytest.raises(StnDataError, match="states.M"):
        base.replace(states=base.states + (State("M"),))
    with pytest.raises(StnDataError, match=r"st_arcs\[3\]\[1\]"):
        base.replace(inputs=base.inputs + (Arc("A", "Nope", 1.0),))
    with pytest.raises(StnDataError, match=r"ts_arcs\[3\]\[3\]"):
        base.replace(outputs=base.outputs + (OutputArc("Mix", "P1", 0.5, 0),))


def test_data_is_immutable_and_comparable() -> None:
    a, b = mix_split(), mix_split()
    assert a == b and hash(a) == hash(b)
    with pytest.raises(AttributeError):
        a.name = "other"  # type: ignore[misc]
    assert isinstance(a, StnData)
