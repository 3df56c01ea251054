"""Calibration (twin/fit*.py): logs made by the twin with known parameters are recovered.

Statistical assertions use fixed seeds; each interval check is a 99% interval (a correct
method fails one in a hundred, so a seed was fixed once, not searched), and every interval is
also required to be narrow, so a biased or inflated estimate fails.
"""

from __future__ import annotations

import copy
import math
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import yaml
from scipy import stats

from twin.eventlog import read_parquet
from twin.fit import FitError, fit_log, write_report, write_variant
from twin.fit_dist import Sample, family
from twin.fit_stats import fit_sample, npmle
from twin.scenario import load_dict
from twin.simulate import simulate, write_run_dir
from twin.variants import deep_merge, resolve

# --------------------------------------------------------------------------- scenarios
# Known truth. A Monday start, analysts on weekday day shifts (QC releases after a weekend
# wait for them: left-censored lead times), batch sizes 100 and 50 (the mix step scales).
CALIB = {
    "name": "calib",
    "start": "2026-01-05T00:00:00",
    "simulation": {"horizon": "2600h"},
    "shifts": {"days": {"days": ["mon", "tue", "wed", "thu", "fri"], "hours": ["08:00-17:00"]}},
    "staff": {"analyst": {"count": 4, "shift": "days"}, "tech": {"count": 1}},
    "repairs": {"qualification": "tech"},
    "equipment_classes": {
        "mixer": {
            "failures": {
                "mtbf": {"dist": "exponential", "mean": "60h"},
                "mttr": {"dist": "lognormal", "mean": "2h", "sd": "1h"},
            }
        },
        "press": {},
    },
    "units": {"m1": {"class": "mixer", "count": 2}, "p1": {"class": "press", "count": 2}},
    "products": {
        "a": {
            "batch_size": 100,
            "recipe": [
                {
                    "name": "mix",
                    "equipment_class": "mixer",
                    "duration": {"dist": "lognormal", "mean": "4h", "sd": "1.5h"},
                    "scale_reference": 100,
                },
                {
                    "name": "press",
                    "equipment_class": "press",
                    "duration": {"dist": "triangular", "low": "2h", "mode": "3h", "high": "5h"},
                    "setup": {"dist": "uniform", "low": "30min", "high": "1h"},
                },
            ],
            "qc": {
                "qualification": "analyst",
                "hands_on": "2h",
                "lead_time": {"dist": "lognormal", "mean": "30h", "sd": "12h"},
            },
        }
    },
    "order_generator": {
        "products": {
            "a": {
                "interarrival": {"dist": "exponential", "mean": "6h"},
                "quantity": {"dist": "empirical", "values": [100, 150]},
                "due_after": "3d",
            }
        }
    },
}
TRUTH_QC_MEAN = 30.0


def _calib(**changes) -> dict:
    data = copy.deepcopy(CALIB)
    for dotted, value in changes.items():
        node = data
        *head, last = dotted.split(".")
        for k in head:
            node = node[int(k)] if isinstance(node, list) else node[k]
        node[int(last) if isinstance(node, list) else last] = value
    return data


def _write(tmp: Path, data: dict, name: str = "base.yaml") -> Path:
    path = tmp / name
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def calib_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("calib")


@pytest.fixture(scope="module")
def calib_log():
    return simulate(load_dict(copy.deepcopy(CALIB)), seed=11).events


@pytest.fixture(scope="module")
def calib_fit(calib_dir, calib_log):
    base = _write(calib_dir, CALIB)
    return fit_log(base, calib_log, alpha=0.01, bootstrap=199, seed=1)


def _inside(q, name: str, truth: float, rel_width: float) -> None:
    lo, hi = q.ci[name]
    assert lo <= truth <= hi, f"{q.path} {name}: {truth} not in [{lo:.4g}, {hi:.4g}]"
    assert hi - lo < rel_width * truth, f"{q.path} {name}: interval too wide [{lo}, {hi}]"


# --------------------------------------------------------------------------- recovery
def test_known_parameters_are_recovered_within_their_intervals(calib_fit):
    mix = calib_fit.get("products.a.recipe[0].duration")  # lognormal, scaled by batch size
    assert (mix.family, mix.n, mix.censored) == ("lognormal", mix.n, mix.censored)
    assert mix.n > 400
    _inside(mix, "mean", 4.0, 0.25)
    _inside(mix, "sd", 1.5, 0.5)
    press = calib_fit.get("products.a.recipe[1].duration")  # triangular 2, 3, 5
    assert press.family == "triangular"
    _inside(press, "low", 2.0, 0.15)
    _inside(press, "mode", 3.0, 0.3)
    _inside(press, "high", 5.0, 0.15)
    setup = calib_fit.get("products.a.recipe[1].setup")  # uniform 0.5 .. 1
    assert setup.family == "uniform"
    _inside(setup, "low", 0.5, 0.1)
    _inside(setup, "high", 1.0, 0.1)
    mttr = calib_fit.get("equipment_classes.mixer.failures.mttr")
    assert mttr.n >= 25
    lo, hi = mttr.mean_ci
    assert lo <= 2.0 <= hi and hi - lo < 1.5
    arrivals = calib_fit.get("order_generator.products.a.interarrival")
    assert arrivals.family == "exponential" and arrivals.n_right == 1
    _inside(arrivals, "mean", 6.0, 0.35)
    qty = calib_fit.get("order_generator.products.a.quantity")
    assert qty.family == "empirical" and qty.params["values"] == [100.0, 150.0]
    assert calib_fit.get("order_generator.products.a.due_after").written == 72.0


def test_scaled_step_is_fitted_at_the_reference_size(calib_fit, calib_log):
    """Half-size batches run half as long: dividing by size / reference gives the draws."""
    mix = calib_fit.get("products.a.recipe[0].duration")
    ends = [r for r in _rows(calib_log, "step_end") if r["step"] == 0]
    raw_mean = float(np.mean([r["value"] for r in ends]))
    assert raw_mean < 3.7  # the log mixes 100 and 50 kg batches
    assert mix.mean == pytest.approx(4.0, rel=0.06)
    assert any("reference size 100" in n for n in mix.notes)


def test_mtbf_with_censoring_at_the_end_of_the_log(calib_fit):
    mtbf = calib_fit.get("equipment_classes.mixer.failures.mtbf")
    assert mtbf.n >= 25 and mtbf.n_right == 2  # one running clock per unit at the end
    assert mtbf.family in ("exponential", "lognormal", "normal", "triangular", "uniform")
    lo, hi = mtbf.mean_ci
    assert lo <= 60.0 <= hi and hi - lo < 60.0


def test_qc_lead_time_with_analyst_waits_is_left_censored_not_biased(calib_fit):
    """Weekend batches wait for the analysts: their release only bounds the lead time."""
    qc = calib_fit.get("products.a.qc.lead_time")
    assert qc.family == "lognormal"
    assert qc.n_left > 20 and qc.n > 200
    _inside(qc, "mean", TRUTH_QC_MEAN, 0.25)
    _inside(qc, "sd", 12.0, 0.7)
    assert qc.naive_mean > TRUTH_QC_MEAN + 2.5  # face value: the analysts' delay counted in


def test_model_selection_picks_the_true_family_on_clear_cases(calib_fit):
    for path, truth in (
        ("products.a.recipe[0].duration", "lognormal"),
        ("products.a.recipe[1].duration", "triangular"),
        ("products.a.recipe[1].setup", "uniform"),
    ):
        q = calib_fit.get(path)
        aic = {c.family: c.aic for c in q.candidates}
        assert q.best == q.family == truth
        runner_up = min(v for k, v in aic.items() if k != truth)
        assert runner_up - aic[truth] > 4, (path, aic)
    rng = np.random.default_rng(5)
    x = rng.exponential(50.0, 300)
    assert fit_sample(Sample.of(x), rng=rng, bootstrap=0).family == "exponential"


# --------------------------------------------------------------------------- censoring
HEAVY = {
    "name": "heavy",
    "start": "2026-01-05T00:00:00",
    "simulation": {"horizon": "12000h"},
    "equipment_classes": {
        "kiln": {
            "failures": {"mtbf": {"dist": "exponential", "mean": "100h"}, "mttr": "1h"},
            "maintenance": {"every": "40h", "duration": "1h"},
        }
    },
    "units": {"k": {"class": "kiln", "count": 2}},
    "products": {
        "p": {
            "batch_size": 1,
            "recipe": [{"name": "fire", "equipment_class": "kiln", "duration": "2h"}],
        }
    },
    "order_generator": {
        "products": {"p": {"interarrival": "30min", "quantity": 1, "due_after": "1d"}}
    },
}


def test_heavy_censoring_biases_the_naive_mtbf_and_not_the_censored_one():
    """Preventive maintenance every 40 h renews the failure clock long before a typical
    failure: most times are censored, so the mean of the failures seen is about 20 h."""
    log = simulate(load_dict(copy.deepcopy(HEAVY)), seed=3).events
    res = fit_log(load_dict(copy.deepcopy(HEAVY)), log, families=["exponential"], bootstrap=199)
    q = res.get("equipment_classes.kiln.failures.mtbf")
    assert q.n_right > 1.5 * q.n and q.n > 60  # heavy censoring
    assert q.naive_mean < 35.0  # visibly biased: a third of the truth
    lo, hi = q.ci["mean"]
    assert lo <= 100.0 <= hi and 70.0 < q.params["mean"] < 140.0
    # the "total operating hours / failures" estimate is the exponential censored MLE itself
    tot = float(q.sample.exact.sum() + q.sample.right.sum()) / q.n
    assert tot == pytest.approx(q.params["mean"], rel=1e-9)


def test_operating_time_basis_is_exact():
    """Fixed MTBF of 10 processing hours with shifts, technician waits and maintenance
    renewals: every time between failures is exactly 10 h of processing."""
    data = {
        "name": "exact",
        "start": "2026-01-05T06:00:00",
        "simulation": {"horizon": "4w"},
        "shifts": {"days": {"days": ["mon", "tue", "wed", "thu", "fri"], "hours": ["06:00-22:00"]}},
        "staff": {"tech": {"count": 1, "shift": "days"}},
        "repairs": {"qualification": "tech"},
        "equipment_classes": {
            "m": {
                "shift": "days",
                "failures": {"mtbf": "10h", "mttr": "1h"},
                "maintenance": {"every_batches": 7, "duration": "2h"},
            }
        },
        "units": {"m1": {"class": "m", "count": 2}},
        "products": {
            "p": {
                "batch_size": 1,
                "recipe": [
                    {
                        "name": "s",
                        "equipment_class": "m",
                        "duration": {"dist": "uniform", "low": "2h", "high": "4h"},
                    }
                ],
            }
        },
        "order_generator": {
            "products": {"p": {"interarrival": "2h", "quantity": 1, "due_after": "1d"}}
        },
    }
    sc = load_dict(data)
    res = fit_log(sc, simulate(sc, seed=3).events, bootstrap=0)
    mtbf = res.get("equipment_classes.m.failures.mtbf")
    assert mtbf.family == "fixed" and mtbf.params["value"] == pytest.approx(10.0, abs=1e-9)
    assert mtbf.n > 30 and mtbf.n_right > 10  # renewed by maintenance before failing
    assert np.all(mtbf.sample.right < 10.0)
    assert res.get("equipment_classes.m.failures.mttr").params["value"] == pytest.approx(1.0)
    assert res.get("equipment_classes.m.maintenance.duration").written == 2.0


def test_cleaning_is_attributed_to_its_matrix_entry():
    data = {
        "name": "clean",
        "start": "2026-01-05T00:00:00",
        "simulation": {"horizon": "1500h"},
        "equipment_classes": {
            "mixer": {
                "cleaning": {
                    "minor": "30min",
                    "major": "2h",
                    "matrix": {"a": {"b": "3h"}},
                    "campaign_batches": 4,
                    "campaign": {"dist": "uniform", "low": "5h", "high": "7h"},
                }
            }
        },
        "units": {"m": {"class": "mixer"}},
        "products": {
            p: {
                "batch_size": 1,
                "recipe": [{"name": "mix", "equipment_class": "mixer", "duration": "1h"}],
            }
            for p in ("a", "b")
        },
        "order_generator": {
            "products": {
                p: {
                    "interarrival": {"dist": "exponential", "mean": "6h"},
                    "quantity": 1,
                    "due_after": "1d",
                }
                for p in ("a", "b")
            }
        },
    }
    sc = load_dict(data)
    res = fit_log(sc, simulate(sc, seed=2).events, bootstrap=0)
    base = "equipment_classes.mixer.cleaning"
    assert res.get(f"{base}.matrix.a.b").written == 3.0
    assert res.get(f"{base}.major").written == 2.0  # b -> a has no entry: the class's major
    assert res.get(f"{base}.minor").written == 0.5
    campaign = res.get(f"{base}.campaign")
    assert campaign.family == "uniform" and 4.9 < campaign.params["low"] < 5.2
    assert min(res.get(f"{base}.matrix.a.b").n, res.get(f"{base}.major").n) > 20


# --------------------------------------------------------------------------- small samples, until
def test_too_few_samples_keep_the_scenario_value(calib_dir, calib_log):
    res = fit_log(_write(calib_dir, CALIB), calib_log, until="40h", bootstrap=19)
    q = res.get("equipment_classes.mixer.failures.mtbf")
    assert q.status == "kept" and q.n < 5 and q.written is None and q.family is None
    assert any("kept the scenario's value: n=" in n for n in q.notes)
    text = (Path(write_variant(res, calib_dir / "few.yaml"))).read_text()
    assert "failures" not in yaml.safe_load(text).get("equipment_classes", {}).get("mixer", {})
    assert re.search(r"#   equipment_classes\.mixer\.failures\.mtbf: n=\d; kept", text)


def test_until_uses_only_earlier_events_and_censors_there(calib_dir, calib_log):
    full = fit_log(_write(calib_dir, CALIB), calib_log, bootstrap=0)
    cut = fit_log(_write(calib_dir, CALIB), calib_log, until="2026-01-26", bootstrap=0)
    assert cut.end == cut.until == 21 * 24.0
    arrivals = cut.get("order_generator.products.a.interarrival")
    assert arrivals.n < full.get("order_generator.products.a.interarrival").n
    releases = [r["t"] for r in _rows(calib_log, "order_release") if r["t"] < 504.0]
    assert arrivals.n == len(releases) - 1 and arrivals.n_right == 1
    assert arrivals.sample.right[0] == pytest.approx(504.0 - max(releases))
    assert fit_log(_write(calib_dir, CALIB), calib_log, until=504.0, bootstrap=0).end == 504.0


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"until": "yesterday"}, ["--until", "'yesterday'", "expected"]),
        ({"until": 0}, ["--until", "after the start"]),
        ({"families": ["gamma"]}, ["--families", "'gamma'", "exponential"]),
        ({"bootstrap": -1}, ["--bootstrap", "-1"]),
        ({"alpha": 0.7}, ["--alpha", "0.7"]),
        ({"criterion": "hqc"}, ["--criterion", "aic or bic"]),
    ],
)
def test_bad_options_are_one_clear_fit_error(calib_log, kwargs, words):
    with pytest.raises(FitError) as err:
        fit_log(load_dict(copy.deepcopy(CALIB)), calib_log, **kwargs)
    assert all(w in str(err.value) for w in words), str(err.value)


def test_a_log_of_another_plant_is_refused_with_its_name(calib_log):
    other = _calib(**{"products": {"b": copy.deepcopy(CALIB["products"]["a"])}})
    other["order_generator"]["products"] = {"b": other["order_generator"]["products"]["a"]}
    with pytest.raises(
        FitError, match=r"LOG: the log has steps of product 'a'.*expected one of: b"
    ):
        fit_log(load_dict(other), calib_log)
    with pytest.raises(FitError, match=r"missing column\(s\) step, state"):
        fit_log(load_dict(copy.deepcopy(CALIB)), calib_log.drop(["step", "state"]))
    with pytest.raises(FitError, match="LOG: the log has no events; expected a non-empty"):
        fit_log(load_dict(copy.deepcopy(CALIB)), calib_log.slice(0, 0))


def test_a_bad_or_unsorted_log_is_handled(calib_log):
    sc = load_dict(copy.deepcopy(CALIB))
    shuffled = calib_log.take(np.random.default_rng(0).permutation(calib_log.num_rows))
    a = fit_log(sc, calib_log, bootstrap=0).get("equipment_classes.mixer.failures.mtbf")
    b = fit_log(sc, shuffled, bootstrap=0).get("equipment_classes.mixer.failures.mtbf")
    assert np.array_equal(np.sort(a.sample.exact), np.sort(b.sample.exact))
    kinds = calib_log.column("kind").to_pylist()
    values = calib_log.column("value").to_numpy().copy()
    values[kinds.index("step_end")] = float("nan")
    broken = calib_log.set_column(calib_log.column_names.index("value"), "value", pa.array(values))
    with pytest.raises(FitError, match=r"1 step_end event\(s\) with value nan; expected"):
        fit_log(sc, broken)


def test_plant_qc_is_copied_into_the_product(tmp_path):
    """tiny.yaml's products use the plant's QC: the variant gives the product its own, with
    the plant's analyst, hands-on time and reject rate, from a file or a Scenario object."""
    src = Path(__file__).resolve().parents[2] / "scenarios" / "tiny.yaml"
    sc = load_dict(yaml.safe_load(src.read_text()), str(src))
    log = simulate(sc, seed=1).events
    for base in (str(src), sc):
        res = fit_log(base, log, bootstrap=0)
        assert res.get("products.tab_a.qc.lead_time").written == 48.0
        out = write_variant(res, tmp_path / "tiny_fit.yaml")
        if isinstance(base, str):
            got = resolve(base, [str(out)]).scenario
        else:
            merged = deep_merge(sc.to_dict(), yaml.safe_load(out.read_text()))
            got = load_dict(merged)
        qc = got.products["tab_a"].qc
        assert (qc.qualification, qc.hands_on.mean, qc.lead_time.mean) == ("analyst", 4.0, 48.0)
        assert qc.reject_probability == 0.02
        assert got.products["tab_b"].qc is None  # n < 5: left to the plant's QC
    assert "products.tab_b.qc.lead_time: n=3; kept the scenario's value" in out.read_text()


def test_parquet_run_folder_gives_the_same_fit(tmp_path):
    sc = load_dict(copy.deepcopy(HEAVY))
    run = simulate(
        sc.model_copy(update={"simulation": sc.simulation.model_copy(update={"horizon": 800.0})})
    )
    write_run_dir(run, tmp_path / "run")
    a = fit_log(sc, run.events, bootstrap=9)
    b = fit_log(sc, read_parquet(tmp_path / "run" / "events.parquet"), bootstrap=9)
    assert [(q.path, q.n, q.params) for q in a.quantities] == [
        (q.path, q.n, q.params) for q in b.quantities
    ]


# --------------------------------------------------------------------------- variant, report
def test_variant_round_trips_through_resolve(calib_dir, calib_fit):
    out = write_variant(calib_fit, calib_dir / "fitted.yaml")
    text = out.read_text()
    sc = resolve(calib_fit.base, [str(out)]).scenario
    mix = sc.products["a"].recipe[0]
    fitted = calib_fit.get("products.a.recipe[0].duration").params
    assert mix.duration.dist == "lognormal" and mix.scale_reference == 100
    assert mix.duration.mean == pytest.approx(fitted["mean"], rel=1e-4)
    assert mix.duration.sd == pytest.approx(fitted["sd"], rel=1e-4)
    press = sc.products["a"].recipe[1]
    assert press.name == "press" and press.equipment_class == "press"
    assert press.duration.dist == "triangular" and press.setup.dist == "uniform"
    assert sc.products["a"].qc.hands_on.mean == 2.0  # the rest of the product's QC is kept
    assert sc.equipment_classes["mixer"].failures.mttr.dist == "lognormal"
    assert sc.order_generator.products["a"].interarrival.dist == "exponential"
    written = [q for q in calib_fit.quantities if q.written is not None]
    lines = text.splitlines()
    heads = [i for i, line in enumerate(lines) if line.strip().startswith("# n=")]
    assert len(heads) == len(written) >= 9  # one comment per written value
    for i in heads:  # ... right above the value it describes
        j = next(k for k in range(i, len(lines)) if not lines[k].strip().startswith("#"))
        assert re.match(r"\s*(- )?\w+: ", lines[j]), lines[j]
    for q in written:
        assert f"# n={q.n}" in text
    run = simulate(
        sc.model_copy(update={"simulation": sc.simulation.model_copy(update={"horizon": 200.0})})
    )
    assert run.kpis["throughput"]


def test_variant_writes_the_best_family_over_another(calib_dir, calib_log):
    """The base's repair time is triangular; the data are lognormal. A variant's distribution
    that names its family replaces the base's whole (``twin.variants.deep_merge``), so the
    family the criterion prefers is written and loads."""
    tri = {"dist": "triangular", "low": "30min", "mode": "1h", "high": "6h"}
    uni = {"dist": "uniform", "low": 100, "high": 150}  # the orders are 100 or 150: discrete
    changes = {"equipment_classes.mixer.failures.mttr": tri}
    changes["order_generator.products.a.quantity"] = uni
    base = _write(calib_dir, _calib(**changes), "tri.yaml")
    res = fit_log(base, calib_log, bootstrap=49)
    q = res.get("equipment_classes.mixer.failures.mttr")
    assert q.best == q.family != "triangular"
    assert not any("cannot write" in n for n in q.notes)
    qty = res.get("order_generator.products.a.quantity")
    assert qty.family is not None
    out = write_variant(res, calib_dir / "tri_fitted.yaml")
    sc = resolve(str(base), [str(out)]).scenario
    mttr = sc.equipment_classes["mixer"].failures.mttr
    assert mttr.dist == q.family
    assert mttr.mean == pytest.approx(q.params["mean"], rel=1e-3)
    assert sc.order_generator.products["a"].quantity.dist == qty.family


def test_write_refuses_a_folder_and_leaves_nothing(calib_dir, calib_fit, tmp_path):
    with pytest.raises(FitError, match="it is a folder"):
        write_variant(calib_fit, tmp_path)
    with pytest.raises(FitError, match="--report"):
        write_report(calib_fit, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_report_has_qq_plots_and_opens_offline(calib_dir, calib_fit):
    out = write_report(calib_fit, calib_dir / "fit.html")
    html = out.read_text()
    plotted = [
        q
        for q in calib_fit.quantities
        if q.status == "fitted" and q.family not in ("fixed", "empirical")
    ]
    assert len(plotted) >= 6
    assert html.count('id="qq-') == len(plotted) and html.count("QQ plot:") == len(plotted)
    assert not re.search(r"<script[^>]*\ssrc=", html)  # Plotly is inline, no CDN
    assert not re.search(r"<link[^>]*https?://", html)
    assert "Plotly" in html and html.startswith("<!DOCTYPE html>")
    assert "products.a.qc.lead_time" in html and "left-censored" in html


# --------------------------------------------------------------------------- the estimators
def test_censored_fits_match_scipy_censored_data():
    rng = np.random.default_rng(7)
    x = rng.lognormal(1.0, 0.5, 400)
    c = rng.uniform(0, 8, 400)
    ex, rc = x[x <= c], c[x > c]
    data = stats.CensoredData(uncensored=ex, right=rc)
    s = Sample.of(ex, rc)
    mu, sigma = family("lognormal").fit(s)
    shape, _, scale = stats.lognorm.fit(data, floc=0)
    assert mu == pytest.approx(math.log(scale), abs=1e-4)
    assert sigma == pytest.approx(shape, abs=1e-4)
    (mean,) = family("exponential").fit(s)
    assert mean == pytest.approx(stats.expon.fit(data, floc=0)[1], rel=1e-4)
    u, _, at = npmle(s)
    assert np.allclose(at, stats.ecdf(data).cdf.evaluate(u))


def test_left_censored_estimate_is_the_mirrored_kaplan_meier():
    """Turnbull's estimate with left censoring only equals Kaplan-Meier on mirrored data."""
    rng = np.random.default_rng(8)
    x = rng.exponential(10.0, 200)
    lo = rng.uniform(0, 10, 200)
    s = Sample.of(x[x > lo], [], lo[x <= lo])
    u, before, at = npmle(s)
    m = 1000.0
    mirrored = stats.CensoredData(uncensored=m - x[x > lo], right=m - lo[x <= lo])
    surv = stats.ecdf(mirrored).sf  # P(m - X > y) = P(X < m - y)
    assert np.allclose(before, surv.evaluate(m - u), atol=1e-9)
    assert before[0] == 0.0 and at[-1] == pytest.approx(1.0)


def test_truncated_normal_recovers_the_parent_parameters():
    x = stats.truncnorm(a=-1.0, b=np.inf, loc=1.0, scale=1.0).rvs(4000, random_state=3)
    mu, sd = family("normal").fit(Sample.of(x))
    assert x.mean() > 1.25  # the sample mean is pulled up by the truncation
    assert mu == pytest.approx(1.0, abs=0.08) and sd == pytest.approx(1.0, abs=0.06)


def test_gof_rejects_a_wrong_family_and_matches_scipy_on_a_right_one():
    rng = np.random.default_rng(4)
    wrong = fit_sample(Sample.of(rng.uniform(2, 5, 200)), ["exponential"], rng=rng, bootstrap=199)
    assert wrong.gof.p_value < 0.01
    x = rng.exponential(50.0, 120)
    mine = fit_sample(Sample.of(x), ["exponential"], rng=rng, bootstrap=999).gof
    ref = stats.goodness_of_fit(
        stats.expon, x, known_params={"loc": 0.0}, statistic="ad", n_mc_samples=999, rng=rng
    )
    assert mine.statistic == "Anderson-Darling"
    assert mine.value == pytest.approx(ref.statistic, rel=1e-6)
    assert abs(mine.p_value - ref.pvalue) < 0.06


def test_bootstrap_intervals_have_their_coverage():
    """Basic intervals cover at about their level: an exponential mean under random
    censoring (log scale), and the upper end of a uniform, where percentile intervals
    would never cover (every refitted maximum lies below the true end)."""
    hits_exp = hits_uni = 0
    reps = 80
    for seed in range(reps):
        rng = np.random.default_rng(100 + seed)
        x = rng.exponential(10.0, 40)
        c = rng.exponential(20.0, 40)
        lo, hi = fit_sample(
            Sample.of(x[x <= c], c[x > c]), ["exponential"], rng=rng, bootstrap=99
        ).ci["mean"]
        hits_exp += lo <= 10.0 <= hi
        u = fit_sample(Sample.of(rng.uniform(2, 5, 30)), ["uniform"], rng=rng, bootstrap=99).ci[
            "high"
        ]
        hits_uni += u[0] <= 5.0 <= u[1]
    assert 0.85 <= hits_exp / reps <= 1.0
    assert 0.85 <= hits_uni / reps <= 1.0


# --------------------------------------------------------------------------- helpers
def _rows(table, kind: str) -> list[dict]:
    kinds = table.column("kind").to_pylist()
    cols = {c: table.column(c).to_pylist() for c in ("t", "step", "value", "batch")}
    return [{c: cols[c][i] for c in cols} for i, k in enumerate(kinds) if k == kind]
