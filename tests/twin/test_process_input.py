"""Bad process-plant input: one paragraph naming the file, the path inside it, the bad value
and what was expected; the CLI exits with 2 and no traceback."""

from __future__ import annotations

import copy
import subprocess
import sys

import pytest
import yaml

from twin.scenario import ScenarioError, load_dict

from ..conftest import DATA, SCENARIOS

MIX_SPLIT = DATA / "process_mix_split.yaml"


def base() -> dict:
    return yaml.safe_load(MIX_SPLIT.read_text())


def error(change) -> ScenarioError:
    d = base()
    change(d)
    with pytest.raises(ScenarioError) as info:
        load_dict(copy.deepcopy(d), "plant.yaml")
    return info.value


def tasks(d: dict) -> dict:
    return d["process"]["tasks"]


def mats(d: dict) -> dict:
    return d["process"]["materials"]


CASES = [
    (
        "output fractions short of the yield",
        lambda d: tasks(d)["split"]["outputs"][1].update(fraction=0.5),
        "process.tasks.split.outputs[1].fraction",
        0.5,
        "output fractions summing to the yield 1 (they sum to 0.9; declare yield: <sum>",
    ),
    (
        "input fractions not summing to 1",
        lambda d: tasks(d)["mix"]["inputs"].update(A=0.4),
        "process.tasks.mix.inputs.A",
        0.4,
        "input fractions summing to 1 (they sum to 0.9",
    ),
    (
        "a fraction above 1",
        lambda d: tasks(d)["split"]["outputs"][0].update(fraction=1.4),
        "process.tasks.split.outputs[0].fraction",
        1.4,
        "less than or equal to 1",
    ),
    (
        "an unknown material",
        lambda d: tasks(d)["mix"]["inputs"].update({"C": 0.0001}),
        "process.tasks.mix.inputs.C",
        "C",
        "a material; expected one of: A, B, M, P1, P2",
    ),
    (
        "an unknown unit",
        lambda d: tasks(d)["mix"].update(units=["mixer_9"]),
        "process.tasks.mix.units[0]",
        "mixer_9",
        "a unit or unit id; expected one of: mixer_1, splitter_1",
    ),
    (
        "a finite tank without a capacity",
        lambda d: mats(d)["M"].pop("capacity"),
        "process.materials.M.capacity",
        None,
        "a tank capacity for storage: finite",
    ),
    (
        "initial stock over the tank",
        lambda d: mats(d)["M"].update(initial=250),
        "process.materials.M.initial",
        250,
        "at most the tank capacity 200",
    ),
    (
        "stock of a zero-wait material",
        lambda d: mats(d)["M"].update(storage="zero_wait", initial=5, capacity=None),
        "process.materials.M.initial",
        5,
        "0: storage zero_wait has no tank to hold stock",
    ),
    (
        "an unknown storage policy",
        lambda d: mats(d)["M"].update(storage="tank"),
        "process.materials.M.storage",
        "tank",
        "'unlimited', 'finite', 'none' or 'zero_wait'",
    ),
    (
        "an output offset beyond the task",
        lambda d: tasks(d)["split"]["outputs"][0].update(at="3h"),
        "process.tasks.split.outputs[0].at",
        3.0,
        "an offset within the task's duration (2 h",
    ),
    (
        "a utility nobody defined",
        lambda d: tasks(d)["mix"].update(utilities={"steam": 1}),
        "process.tasks.mix.utilities.steam",
        "steam",
        "a utility; none are defined",
    ),
    (
        "a utility use over its capacity",
        lambda d: (
            d["process"].update(utilities={"steam": {"capacity": 2}}),
            tasks(d)["mix"].update(utilities={"steam": {"fixed": 1, "per_size": 0.05}}),
        ),
        "process.tasks.mix.utilities.steam",
        5.0,
        "a use within the utility's capacity 2 (a batch of 80 could never get it)",
    ),
    (
        "a demand of a material without a tank",
        lambda d: (
            mats(d)["P1"].update(storage="none"),
            d["process"]["demands"][0].update(material="P1"),
        ),
        "process.demands[0].material",
        "P1",
        "a material with a tank to ship from",
    ),
    (
        "a demand after the horizon",
        lambda d: d["process"]["demands"][0].update(due="2d"),
        "process.demands[0].due",
        48.0,
        "within the horizon (10 h)",
    ),
    (
        "a task without inputs",
        lambda d: tasks(d)["mix"].update(inputs={}),
        "process.tasks.mix.inputs",
        {},
        "at least one input",
    ),
    (
        "a batch range upside down",
        lambda d: tasks(d)["mix"].update(batch={"min": 90, "max": 80}),
        "process.tasks.mix.batch.min",
        90.0,
        "at most the batch max 80",
    ),
    (
        "a yield of 0",
        lambda d: tasks(d)["mix"].update({"yield": 0}),
        "process.tasks.mix.yield",
        0,
        "greater than 0",
    ),
]


@pytest.mark.parametrize(
    ("change", "path", "value", "expected"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_bad_process_input_names_file_path_value_and_expectation(change, path, value, expected):
    e = error(change)
    assert e.source == "plant.yaml"
    assert e.path == path
    assert e.value == value
    assert expected in str(e), str(e)


def test_a_declared_yield_makes_a_loss_valid():
    d = base()
    tasks(d)["split"]["outputs"][1]["fraction"] = 0.5
    tasks(d)["split"]["yield"] = 0.9
    sc = load_dict(d, "plant.yaml")
    assert sc.process.tasks["split"].yield_ == 0.9


def test_every_existing_scenario_is_unchanged_by_the_process_section():
    sc = load_dict(yaml.safe_load((SCENARIOS / "tiny.yaml").read_text()), "tiny.yaml")
    assert sc.process is None and sc.products
    data = yaml.safe_load((SCENARIOS / "tiny.yaml").read_text())
    data["products"] = {}
    with pytest.raises(ScenarioError, match="at least 1 product"):
        load_dict(data, "tiny.yaml")


def test_the_cli_exits_2_with_one_paragraph(tmp_path):
    d = base()
    tasks(d)["split"]["outputs"][0]["material"] = "P3"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(d))
    r = subprocess.run(
        [sys.executable, "-m", "twin", "validate", str(bad)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2
    text = " ".join(r.stderr.split())
    assert "Traceback" not in r.stderr
    assert f"{bad}: process.tasks.split.outputs[0].material: bad value 'P3'" in text
