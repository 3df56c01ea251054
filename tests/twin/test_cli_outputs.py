"""``--out`` never destroys a user's files: ``twin run`` writes a run only to a new path, an
empty folder or (with ``--force``) a previous run output; ``twin plan``, ``route`` and
``layout`` replace only a file of their own kind, atomically, and never a folder."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import SCENARIOS
from twin.cli import app
from twin.simulate import RUN_FILES, RunDirError, check_run_dir, is_run_output

TINY = str(SCENARIOS / "tiny.yaml")
runner = CliRunner()


def twin(*args, code: int = 0):
    res = runner.invoke(app, [str(a) for a in args])
    assert res.exit_code == code, (res.exit_code, res.stdout, res.stderr, res.exception)
    if code == 2:
        assert res.stderr.startswith("error: ") and "Traceback" not in res.stderr
    return res


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_run_out_refuses_a_folder_of_the_users_files(tmp_path):
    work = tmp_path / "analysis"
    work.mkdir()
    (work / "analysis.py").write_text("print('mine')\n")
    (work / "data.csv").write_text("a,b\n1,2\n")
    before = _snapshot(work)
    for extra in ([], ["--force"]):
        res = twin("run", TINY, "--out", work, *extra, code=2)
        assert "not empty and not a twin run output" in res.stderr
        assert "analysis.py" in res.stderr and "data.csv" in res.stderr
        assert _snapshot(work) == before  # not a byte changed, nothing renamed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["analysis"]  # no hidden leftovers


def test_run_out_refuses_a_file(tmp_path):
    f = tmp_path / "results"
    f.write_text("my notes")
    for extra in ([], ["--force"]):
        res = twin("run", TINY, "--out", f, *extra, code=2)
        assert "a file is there" in res.stderr
    assert f.read_text() == "my notes"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results"]  # no .results.old
    res = twin("run", TINY, "--out", f / "run", code=2)
    assert "is a file" in res.stderr


def test_run_out_writes_a_new_or_empty_folder_and_replaces_a_run_only_with_force(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    twin("run", TINY, "--out", empty, "--seed", "1")
    assert sorted(p.name for p in empty.iterdir()) == sorted(RUN_FILES)
    assert is_run_output(empty)
    meta = json.loads((empty / "meta.json").read_text())
    assert meta["kind"] == "pharmatwin run" and meta["seed"] == 1
    res = twin("run", TINY, "--out", empty, "--seed", "2", code=2)
    assert "previous run output; --force replaces it" in res.stderr
    assert json.loads((empty / "meta.json").read_text())["seed"] == 1
    twin("run", TINY, "--out", empty, "--seed", "2", "--force")
    assert json.loads((empty / "meta.json").read_text())["seed"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty"]  # the old one is gone
    nested = tmp_path / "a" / "b" / "run"
    twin("run", TINY, "--out", nested)
    assert is_run_output(nested)


def test_a_run_output_with_a_users_file_added_is_not_replaced(tmp_path):
    out = tmp_path / "run"
    twin("run", TINY, "--out", out)
    (out / "notes.txt").write_text("keep me")
    res = twin("run", TINY, "--out", out, "--force", code=2)
    assert "notes.txt" in res.stderr
    assert (out / "notes.txt").read_text() == "keep me"


def test_run_out_checks_before_simulating(tmp_path, monkeypatch):
    import importlib

    sim = importlib.import_module("twin.simulate")

    def boom(*a, **k):
        raise AssertionError("simulated although --out is refused")

    monkeypatch.setattr(sim, "simulate", boom)
    (tmp_path / "x.txt").write_text("x")
    twin("run", TINY, "--out", tmp_path, code=2)


def test_check_run_dir_refuses_links(tmp_path):
    target = tmp_path / "target"
    target.mkdir()
    link = tmp_path / "link"
    link.symlink_to(target)
    with pytest.raises(RunDirError, match="symbolic link"):
        check_run_dir(link)


@pytest.mark.solver
def test_plan_out_replaces_only_a_plan(tmp_path):
    plan = tmp_path / "plan.json"
    twin("plan", TINY, "--time-limit", "1", "--out", plan)
    first = plan.read_text()
    twin("plan", TINY, "--time-limit", "1", "--out", plan, "--seed", "1")  # a plan: replaced
    assert json.loads(plan.read_text())["meta"]["seed"] == 1 and plan.read_text() != first
    mine = tmp_path / "notes.json"
    mine.write_text('{"my": "notes"}')
    res = twin("plan", TINY, "--time-limit", "1", "--out", mine, code=2)
    assert "not a plan twin wrote; --force replaces it" in res.stderr
    assert mine.read_text() == '{"my": "notes"}'
    twin("plan", TINY, "--time-limit", "1", "--out", mine, "--force")
    assert "operations" in json.loads(mine.read_text())
    res = twin("plan", TINY, "--time-limit", "1", "--out", tmp_path, code=2)
    assert "a folder is there" in res.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.json", "plan.json"]


def test_plan_out_is_checked_before_planning(tmp_path):
    (tmp_path / "scenario.yaml").write_text("mine")
    res = twin("plan", TINY, "--out", tmp_path / "scenario.yaml", code=2)
    assert "not a plan twin wrote" in res.stderr
    assert (tmp_path / "scenario.yaml").read_text() == "mine"


def test_layout_out_replaces_only_a_drawing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    osd = str(SCENARIOS / "osd_plant.yaml")
    twin("layout", osd)
    drawing = tmp_path / "layout.html"
    assert "plotly" in drawing.read_text()
    twin("layout", osd)  # its own drawing: replaced
    (tmp_path / "index.html").write_text("<p>my page</p>")
    res = twin("layout", osd, "--out", "index.html", code=2)
    assert "not a layout drawing twin wrote" in res.stderr
    assert (tmp_path / "index.html").read_text() == "<p>my page</p>"
    assert "a folder is there" in twin("layout", osd, "--out", tmp_path, code=2).stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index.html", "layout.html"]
    assert oct(drawing.stat().st_mode & 0o777) == oct(0o666 & ~_umask())


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@pytest.mark.solver
def test_plan_stn_writes_its_answer_and_says_it_in_one_line(tmp_path):
    stn = SCENARIOS.parent / "benchmarks" / "instances" / "stn" / "kondili_stnscheduler_H10.json"
    out = tmp_path / "stn.json"
    res = twin("plan", "--format", "stn", stn, "--time-limit", "60", "--out", out)
    assert "objective 2744.375" in res.stdout and "reference 2744.375 reached" in res.stdout
    assert json.loads(out.read_text())["status"] == "optimal"
    twin("plan", "--format", "stn", stn, "--time-limit", "60", "--out", out)  # its own: replaced
