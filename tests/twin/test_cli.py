"""The twin command as a user meets it: exit codes, messages, outputs."""

import json
import subprocess
import sys

import pyarrow.parquet as pq
import yaml

from ..conftest import SCENARIOS

TWIN = [sys.executable, "-m", "twin"]


def twin(*args, cwd=None):
    return subprocess.run([*TWIN, *args], capture_output=True, text=True, cwd=cwd, timeout=300)


def test_validate_ok():
    r = twin("validate", str(SCENARIOS / "osd_plant.yaml"))
    assert r.returncode == 0, r.stderr
    assert "OK" in r.stdout and "21 units" in r.stdout


def test_validate_bad_input_exit_2_one_paragraph_no_traceback(tmp_path):
    data = yaml.safe_load((SCENARIOS / "tiny.yaml").read_text())
    data["products"]["tab_a"]["recipe"][1]["equipment_class"] = "pres"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data))
    r = twin("validate", str(bad))
    assert r.returncode == 2
    msg = " ".join(r.stderr.split())
    assert "Traceback" not in r.stderr
    assert f"{bad}: products.tab_a.recipe[1].equipment_class: bad value 'pres'" in msg
    assert "expected one of: granulator, press" in msg


def test_missing_file_and_syntax_error_exit_2(tmp_path):
    assert twin("validate", str(tmp_path / "none.yaml")).returncode == 2
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: [\n")
    r = twin("run", str(broken))
    assert r.returncode == 2 and "line" in r.stderr and "Traceback" not in r.stderr


def test_run_json_and_out_dir(tmp_path):
    out = tmp_path / "run_dir"
    r = twin("run", str(SCENARIOS / "tiny.yaml"), "--seed", "7", "--json", "--out", str(out))
    assert r.returncode == 0, r.stderr
    kpis = json.loads(r.stdout)
    assert kpis["seed"] == 7 and kpis["batches"]["qc_released"] > 0
    assert sorted(p.name for p in out.iterdir()) == [
        "events.parquet",
        "kpis.json",
        "meta.json",
        "scenario.yaml",
    ]
    assert pq.read_table(out / "events.parquet").num_rows == kpis["events"]
    assert json.loads((out / "kpis.json").read_text()) == kpis
    # the stored resolved scenario validates and runs to the same KPIs
    again = twin("run", str(out / "scenario.yaml"), "--seed", "7", "--json")
    assert json.loads(again.stdout)["events"] == kpis["events"]


def test_run_table_output():
    r = twin("run", str(SCENARIOS / "tiny.yaml"), "--seed", "1")
    assert r.returncode == 0, r.stderr
    for word in ("OTIF", "lead time", "throughput", "OEE", "gran_1"):
        assert word in r.stdout


def test_run_table_shows_material_flow():
    r = twin("run", str(SCENARIOS / "osd_plant.yaml"), "--seed", "2")
    assert r.returncode == 0, r.stderr
    for word in ("material flow", "transport wait", "AGV distance", "stockouts"):
        assert word in r.stdout
