"""`plan_benchmark`, the library side of `twin plan --format jsplib|fjsp FILE --json`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from optimizer.commands import plan_benchmark, read_benchmark
from optimizer.formats import InstanceFormatError
from optimizer.shop import check_schedule

JSP_TEXT = "# tiny\n3 3\n2 5 0 3 1 1\n0 5 1 5 2 1\n0 2 1 3 2 1\n"
FJSP_TEXT = "2 2\n2 1 1 3 2 1 2 2 3\n1 2 1 2 2 4\n"


@pytest.mark.solver
@pytest.mark.parametrize(("fmt", "text"), [("jsplib", JSP_TEXT), ("fjsp", FJSP_TEXT)])
def test_plan_benchmark_returns_a_json_ready_plan(tmp_path: Path, fmt: str, text: str) -> None:
    path = tmp_path / "tiny.txt"
    path.write_text(text, encoding="utf-8")
    (tmp_path / "best_known.json").write_text(
        json.dumps([{"instance": "tiny", "best_known": 13}]), encoding="utf-8"
    )
    plan = plan_benchmark(fmt, path, time_limit=10, solver="appsi_highs", threads=1, seed=0)
    assert json.loads(json.dumps(plan)) == plan
    for key in (
        "makespan",
        "lower_bound",
        "status",
        "seconds",
        "instance",
        "jobs",
        "machines",
        "operations",
        "schedule",
    ):
        assert key in plan
    assert plan["instance"] == "tiny"
    assert plan["best_known"] == 13
    assert plan["status"] == "optimal"
    assert plan["lower_bound"] == plan["makespan"]
    instance = read_benchmark(fmt, path)
    assert plan["operations"] == instance.n_operations == len(plan["schedule"])
    rows = [tuple(r.values()) for r in plan["schedule"]]
    assert check_schedule(instance, rows) == []


def test_plan_benchmark_rejects_unknown_formats(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match='"taillard".*jsplib, fjsp'):
        plan_benchmark("taillard", tmp_path / "x.txt", 1, "appsi_highs", 1, 0)


def test_plan_benchmark_reports_malformed_files(tmp_path: Path) -> None:
    path = tmp_path / "bad.txt"
    path.write_text("2 2\n0 1 1 x\n", encoding="utf-8")
    with pytest.raises(InstanceFormatError, match="line 2"):
        plan_benchmark("jsplib", path, 1, "appsi_highs", 1, 0)
