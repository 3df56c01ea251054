"""`plan_stn`, the entry point behind `twin plan --format stn FILE`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from optimizer.commands import STN_MODES, plan_stn, stn_summary
from optimizer.formats import InstanceFormatError
from optimizer.solvers import SolverUnavailableError
from tests.conftest import INSTANCES

KONDILI = INSTANCES / "stn" / "kondili_stnscheduler_H10.json"


@pytest.mark.solver
def test_plan_stn_answers_the_cli_keys_first() -> None:
    answer = plan_stn(KONDILI, time_limit=120)
    assert list(answer)[:4] == ["objective", "status", "bound", "seconds"]
    assert (answer["objective"], answer["status"], answer["bound"]) == (
        2744.375,
        "optimal",
        2744.375,
    )
    assert answer["reference"] == {
        "value": 2744.375,
        "sense": "max",
        "source": "github jckantor/STN-Scheduler notebooks/1_Kondili_State_Task_Network.ipynb "
        "(output cell)",
    }
    assert answer["reference_reached"] is True
    assert answer["size"] == {"states": 9, "tasks": 5, "units": 4, "periods": 10}
    assert answer["batches"] == len(answer["schedule"]) > 0
    assert set(answer["schedule"][0]) == {"task", "unit", "start", "end", "size", "hold"}
    assert len(answer["stock"]["Product_1"]) == len(answer["times"]) == 11
    assert answer["mode"] == "monolithic" and answer["format"] == "stn"
    json.dumps(answer)  # JSON-ready
    line = stn_summary(answer)
    assert line.startswith("kondili_stnscheduler_H10: objective 2744.375 (bound 2744.375, optimal")
    assert line.endswith("reference 2744.375 reached")


@pytest.mark.solver
def test_plan_stn_modes() -> None:
    for mode in STN_MODES:
        answer = plan_stn(INSTANCES / "stn" / "maravelias_grossmann2003_A_H6.json", 60, mode=mode)
        assert answer["objective"] == 100.0, mode
    assert plan_stn(KONDILI, 60, mode="rolling")["mode"] == "rolling"


def test_plan_stn_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"states": {}}', encoding="utf-8")
    with pytest.raises(InstanceFormatError, match="bad.json"):
        plan_stn(bad)
    with pytest.raises(InstanceFormatError, match="no such file"):
        plan_stn(tmp_path / "none.json")
    with pytest.raises(SolverUnavailableError, match="nosuchsolver"):
        plan_stn(KONDILI, solver="nosuchsolver")
    with pytest.raises(ValueError, match="--mode"):
        plan_stn(KONDILI, mode="best")
    with pytest.raises(ValueError, match="time_limit"):
        plan_stn(KONDILI, time_limit=0)
    with pytest.raises(ValueError, match="mip_gap"):
        plan_stn(KONDILI, mip_gap=2)


@pytest.mark.solver
def test_infeasible_instance_is_an_answer_not_an_error(tmp_path: Path) -> None:
    doc = json.loads(KONDILI.read_text(encoding="utf-8"))
    doc["extra"] = [["Product_2", 5000]]
    del doc["reference"]
    path = tmp_path / "too_much.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    answer = plan_stn(path, 60)
    assert (answer["status"], answer["objective"], answer["schedule"]) == ("infeasible", None, [])
    assert answer["reference"] is None and answer["reference_reached"] is None
    assert "objective none" in stn_summary(answer)
