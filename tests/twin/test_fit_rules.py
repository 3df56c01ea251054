"""What ``twin fit`` writes: only the groups asked for (``only``), and with
``keep_consistent`` the scenario's value wherever the log does not contradict it (a
likelihood-ratio test), so small samples do not replace a plant's design values with noise."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import SCENARIOS
from twin.fit import GROUPS, FitError, base_theta, consistent_with_base, fit_log
from twin.fit_dist import Sample, family
from twin.scenario import load
from twin.simulate import simulate

TINY = SCENARIOS / "tiny.yaml"


@pytest.fixture(scope="module")
def tiny_log():
    return simulate(load(TINY), seed=4).events


def test_only_writes_the_groups_asked_for(tiny_log):
    res = fit_log(TINY, tiny_log, bootstrap=0, only=["steps"])
    written = {q.kind for q in res.quantities if q.written is not None}
    assert written == {"step"}
    other = [q for q in res.fitted if q.kind != "step" and q.written is None]
    assert other and all(q.notes[0].startswith("not asked for (--only steps)") for q in other)
    with pytest.raises(FitError, match=r"--only: bad value 'stepz'.*steps, setups"):
        fit_log(TINY, tiny_log, bootstrap=0, only=["stepz"])
    assert set(GROUPS) == {"steps", "setups", "cleaning", "failures", "maintenance", "qc",
                           "orders"}  # fmt: skip


def test_base_theta_in_each_familys_parameters():
    assert base_theta({"dist": "exponential", "mean": 150.0}) == ("exponential", (150.0,))
    name, (mu, sd) = base_theta({"dist": "lognormal", "mean": 4.0, "sd": 2.0})
    assert family("lognormal").params((mu, sd)) == pytest.approx({"mean": 4.0, "sd": 2.0})
    assert base_theta({"dist": "triangular", "low": 1, "mode": 2, "high": 3})[1] == (1, 2, 3)
    assert base_theta({"dist": "empirical", "values": [1, 2]}) is None
    assert base_theta({"dist": "normal", "mean": 5, "sd": 1, "low": 2}) is None


def _fitted(x: np.ndarray, name: str) -> tuple[float, ...]:
    th = family(name).fit(Sample.of(x))
    assert th is not None
    return th


def test_keep_consistent_keeps_a_value_the_log_agrees_with_and_replaces_one_it_contradicts():
    rng = np.random.default_rng(3)
    base = {"dist": "exponential", "mean": 100.0}
    # 12 failures of a class whose MTBF is the scenario's: kept, with the statistic
    same = rng.exponential(100.0, 12)
    why = consistent_with_base(
        Sample.of(same), base, "exponential", _fitted(same, "exponential"), 0.05
    )
    assert why is not None and why.startswith("kept the scenario's value") and "n=12" in why
    # 200 failures at half the MTBF: replaced
    half = rng.exponential(50.0, 200)
    assert consistent_with_base(Sample.of(half), base, "exponential",
                                _fitted(half, "exponential"), 0.05) is None  # fmt: skip
    # a step 12% slower than a triangular allows (values past its high): always replaced
    tri = {"dist": "triangular", "low": 8.0, "mode": 10.0, "high": 14.0}
    slow = rng.triangular(8.96, 11.2, 15.68, 30)
    assert consistent_with_base(Sample.of(slow), tri, "triangular",
                                _fitted(slow, "triangular"), 0.05) is None  # fmt: skip
    # under the scenario's own distribution, about alpha of samples are replaced
    kept = sum(
        consistent_with_base(Sample.of(x), base, "exponential", _fitted(x, "exponential"), 0.05)
        is not None
        for x in (rng.exponential(100.0, 20) for _ in range(200))
    )
    assert 0.88 <= kept / 200 <= 0.99


def test_the_fit_command_takes_only_and_keep_consistent(tmp_path, tiny_log):
    import json
    import subprocess
    import sys

    from twin.eventlog import write_parquet

    write_parquet(tiny_log, tmp_path / "events.parquet")
    args = [sys.executable, "-m", "twin", "fit", str(TINY), str(tmp_path / "events.parquet"),
            "--bootstrap", "0", "--out", str(tmp_path / "f.yaml"), "--json"]  # fmt: skip
    res = subprocess.run([*args, "--only", "steps,qc", "--keep-consistent"], capture_output=True,
                         text=True, check=True)  # fmt: skip
    rows = json.loads(res.stdout)["quantities"]
    assert any(r["written"] for r in rows)
    assert all(r["path"].endswith(("duration", "lead_time")) for r in rows if r["written"])
    bad = subprocess.run([*args, "--only", "nope"], capture_output=True, text=True)
    assert bad.returncode == 2 and "--only: bad value 'nope'" in bad.stderr


def test_a_small_sample_scales_the_scenarios_distribution():
    from twin.fit_scale import fit_scale, scaled_theta

    rng = np.random.default_rng(8)
    # 12 QC lead times of a lab 25% slower than its triangular(72, 96, 168)
    x = rng.triangular(90.0, 120.0, 210.0, 12)
    k, ll = fit_scale(Sample.of(x), ("triangular", (72.0, 96.0, 168.0)))
    assert 1.1 < k < 1.4 and np.isfinite(ll)
    assert scaled_theta("triangular", (72.0, 96.0, 168.0), 1.25) == (90.0, 120.0, 210.0)
    mu, sd = scaled_theta("lognormal", (1.0, 0.5), 2.0)
    assert mu == pytest.approx(1.0 + np.log(2.0)) and sd == 0.5
    # right-censored failures: the factor of an exponential is the censored ML mean's ratio
    s = Sample.of([50.0, 70.0, 90.0], right=[200.0])
    k, _ = fit_scale(s, ("exponential", (100.0,)))
    assert k == pytest.approx((50 + 70 + 90 + 200) / 3 / 100, rel=1e-4)


def test_scale_below_fits_one_factor_and_keeps_the_shape(tiny_log):
    res = fit_log(TINY, tiny_log, bootstrap=0, scale_below=10_000)
    scaled = [q for q in res.fitted if any("one factor fitted" in n for n in q.notes)]
    assert scaled
    for q in scaled:
        assert q.family == q.base["dist"] and not q.candidates
    with pytest.raises(FitError, match="--scale-below: bad value -1"):
        fit_log(TINY, tiny_log, bootstrap=0, scale_below=-1)
