"""Replications, confidence intervals, common random numbers and executors."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy import stats

from tests.conftest import DATA, SCENARIOS
from twin.executors import DaskExecutor, Executor, ExecutorError, InProcess, LocalPool
from twin.experiment import (
    DEFAULT_KPIS,
    Experiment,
    ExperimentError,
    Task,
    differences,
    fingerprint,
    flatten_kpis,
    mean_ci,
    paired_ci,
    run_experiment,
    run_task,
    select_kpis,
    summarize,
    welch_ci,
)
from twin.variants import resolve

TINY = SCENARIOS / "tiny.yaml"
MM1 = DATA / "mm1.yaml"


# --------------------------------------------------------------------------- KPI names
def test_flatten_kpis_gives_dotted_numeric_scalars():
    kpis = {
        "scenario": "x",
        "seed": 3,
        "replication": 1,
        "otif_pct": 50.0,
        "lead_time_h": {"mean": 2.5, "p95": None},
        "throughput": {"tab_a": {"batches": 4, "per_week": 1.5}},
        "oee": {"press_1#2": {"class": "press", "oee": 0.25}},
        "flag": True,
    }
    assert flatten_kpis(kpis) == {
        "otif_pct": 50.0,
        "lead_time_h.mean": 2.5,
        "throughput.tab_a.batches": 4.0,
        "throughput.tab_a.per_week": 1.5,
        "oee.press_1#2.oee": 0.25,
    }


def test_select_kpis_defaults_globs_and_unknown_names():
    flat = [{"otif_pct": 1.0, "oee.a.oee": 0.5, "oee.b.oee": 0.4, "oee.a.quality": 1.0}]
    assert select_kpis(flat) == ["otif_pct"]
    assert select_kpis(flat, ["oee.*.oee", "otif_pct"]) == ["oee.a.oee", "oee.b.oee", "otif_pct"]
    with pytest.raises(ExperimentError, match="'nope'.*no such KPI"):
        select_kpis(flat, ["nope"])


def test_default_kpis_exist_for_a_real_run():
    kpis = run_task(Task("k", resolve(TINY).data(), 1, 0, keep_events=False)).kpis
    flat = flatten_kpis(kpis)
    assert set(DEFAULT_KPIS) <= set(flat)


# --------------------------------------------------------------------------- intervals
def test_mean_ci_matches_scipy_student_t():
    x = np.random.default_rng(5).normal(10, 3, size=12)
    got = mean_ci(x, level=0.95)
    lo, hi = stats.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=stats.sem(x))
    assert got.mean == pytest.approx(x.mean())
    assert (got.low, got.high) == pytest.approx((lo, hi))
    assert got.n == 12 and got.half_width == pytest.approx((hi - lo) / 2)
    got90 = mean_ci(x, level=0.9)
    assert got90.half_width < got.half_width


def test_mean_ci_drops_missing_and_handles_tiny_samples():
    assert mean_ci([None, 2.0]).n == 1 and mean_ci([None, 2.0]).low is None
    assert mean_ci([]).mean is None
    const = mean_ci([3.0, 3.0, 3.0])
    assert (const.low, const.high) == (3.0, 3.0)


def test_paired_ci_is_the_interval_of_the_differences():
    a = [1.0, 2.0, 4.0, 7.0]
    b = [1.5, 2.2, 4.9, 7.1]
    got = paired_ci(a, b)
    res = stats.ttest_rel(b, a)
    ci = res.confidence_interval(0.95)
    assert (got.low, got.high) == pytest.approx((ci.low, ci.high))


def test_welch_ci_matches_scipy():
    rng = np.random.default_rng(2)
    a, b = rng.normal(0, 1, 9), rng.normal(1, 2, 14)
    got = welch_ci(a, b)
    ci = stats.ttest_ind(b, a, equal_var=False).confidence_interval(0.95)
    assert (got.low, got.high) == pytest.approx((ci.low, ci.high))


def test_summarize_and_differences_accept_nested_kpis():
    base = [{"x": {"y": 1.0}}, {"x": {"y": 2.0}}, {"x": {"y": 3.0}}]
    other = [{"x": {"y": 2.0}}, {"x": {"y": 3.5}}, {"x": {"y": 4.0}}]
    assert summarize(base, ["x.y"])["x.y"].mean == pytest.approx(2.0)
    d = differences(base, other, ["x.y"])["x.y"]
    assert d.mean == pytest.approx((2.0 + 3.5 + 4.0) / 3 - 2.0)
    assert differences(base, other, ["x.y"], paired=False)["x.y"].mean == pytest.approx(d.mean)


def test_paired_differences_match_replications_not_positions():
    """Run A has replications 0, 1, 2; run B only 1 and 2 (stored in another order): the pairs
    are (1, 1) and (2, 2), never A's replication 0 against B's first row."""
    base = [{"replication": r, "x": v} for r, v in ((0, 10.0), (1, 1.0), (2, 2.0))]
    other = [{"replication": 2, "x": 5.0}, {"replication": 1, "x": 3.0}]
    d = differences(base, other, ["x"])["x"]
    assert d.n == 2 and d.mean == pytest.approx(((3.0 - 1.0) + (5.0 - 2.0)) / 2)


# --------------------------------------------------------------------------- CRN on M/M/1
@pytest.fixture(scope="module")
def mm1_runs():
    """M/M/1 (lambda = 1/h) with mean service 0.8 h, and a variant with 0.75 h: once with
    common random numbers (same seed), once with an independent seed."""
    short = ["simulation.horizon=1000h", "simulation.warmup=100h"]
    base = resolve(MM1, overrides=short)
    faster = resolve(MM1, overrides=[*short, "products.widget.recipe.work.duration.mean=0.75h"])
    n = 16
    crn = run_experiment([base, faster], seed=11, replications=n)
    independent = run_experiment([faster], seed=1011, replications=n)[0]
    return crn[0], crn[1], independent


def _lead(vr):
    return [k["lead_time_h"]["mean"] for k in vr.kpis]


def test_mm1_mean_time_in_system_matches_queueing_theory(mm1_runs):
    base, faster, _ = mm1_runs
    # M/M/1, lambda = 1: W = 1 / (mu - lambda)
    assert mean_ci(_lead(base)).covers(1 / (1 / 0.8 - 1))  # 4 h
    assert mean_ci(_lead(faster)).covers(1 / (1 / 0.75 - 1))  # 3 h


def test_common_random_numbers_shrink_the_variance_of_a_paired_difference(mm1_runs):
    base, faster, independent = mm1_runs
    truth = 1 / (1 / 0.75 - 1) - 1 / (1 / 0.8 - 1)  # -1 h
    a, b, c = np.array(_lead(base)), np.array(_lead(faster)), np.array(_lead(independent))
    var_crn = np.var(b - a, ddof=1)
    var_ind = np.var(c - a, ddof=1)
    assert var_crn < var_ind / 3
    crn = paired_ci(list(a), list(b))
    ind = welch_ci(list(a), list(c))
    assert crn.covers(truth) and ind.covers(truth)
    assert crn.half_width < 0.6 * ind.half_width
    assert crn.high < 0  # CRN resolves the improvement; independent runs need more


def test_replication_r_of_every_variant_shares_the_arrival_stream():
    base = resolve(MM1, overrides=["simulation.horizon=50h", "simulation.warmup=0h"])
    faster = resolve(
        MM1,
        overrides=[
            "simulation.horizon=50h",
            "simulation.warmup=0h",
            "products.widget.recipe.work.duration.mean=0.5h",
        ],
    )
    [a, b] = run_experiment([base, faster], seed=3, replications=2)
    assert a.kpis[1]["orders"]["released"] == b.kpis[1]["orders"]["released"]
    assert a.kpis[0]["orders"]["released"] != a.kpis[1]["orders"]["released"]


# --------------------------------------------------------------------------- experiments
def test_identical_variants_are_simulated_once():
    calls = []

    class Counting(InProcess):
        def map_unordered(self, fn, items):
            items = list(items)  # an iterable, built as the executor takes it
            calls.extend(items)
            return super().map_unordered(fn, items)

    v = resolve(TINY)
    same = resolve(TINY, overrides=["units.press_1.count=2"])  # the base value
    out = run_experiment([v, same], seed=1, replications=3, executor=Counting())
    assert len(calls) == 3
    assert out[0].kpis == out[1].kpis


def test_results_from_a_worker_with_other_code_are_refused():
    class Stale(InProcess):
        def map_unordered(self, fn, items):
            for r in super().map_unordered(fn, items):
                yield dataclasses.replace(r, model="0000")

    with pytest.raises(ExperimentError, match="different twin code"):
        run_experiment([resolve(TINY)], replications=1, executor=Stale())


def test_replications_must_be_positive():
    with pytest.raises(ExperimentError, match="--replications"):
        Experiment([resolve(TINY)], replications=0)


def test_fingerprint_depends_on_scenario_and_seed():
    d = resolve(TINY).data()
    assert fingerprint(d, 1) == fingerprint(resolve(TINY).data(), 1)
    assert fingerprint(d, 1) != fingerprint(d, 2)
    assert fingerprint(d, 1) != fingerprint(
        resolve(TINY, overrides=["units.press_1.count=1"]).data(), 1
    )


# --------------------------------------------------------------------------- executors
def _outcome(executor: Executor) -> list[tuple]:
    variants = [resolve(TINY), resolve(TINY, overrides=["units.press_1.count=1"])]
    exp = Experiment(variants, seed=5, replications=3)
    tasks = exp.pending
    results = sorted(executor.map_unordered(run_task, tasks), key=lambda r: (r.key, r.replication))
    return [(r.key, r.replication, r.kpis, r.events_ipc) for r in results]


@pytest.fixture(scope="module")
def reference_outcome():
    return _outcome(InProcess())


def test_local_pool_fork_gives_identical_results(reference_outcome):
    with LocalPool(2, start_method="fork") as ex:
        assert _outcome(ex) == reference_outcome


def test_local_pool_forkserver_gives_identical_results(reference_outcome):
    with LocalPool(2, start_method="forkserver") as ex:
        assert ex.workers == 2
        assert _outcome(ex) == reference_outcome


def test_dask_local_cluster_gives_identical_results(reference_outcome):
    with DaskExecutor("local", workers=2, processes=False) as ex:
        assert ex.workers == 2
        assert _outcome(ex) == reference_outcome


def test_unreachable_dask_scheduler_is_a_clear_error():
    with pytest.raises(ExecutorError, match=r"--dask tcp://127.0.0.1:1: cannot reach"):
        DaskExecutor("tcp://127.0.0.1:1", timeout=0.5)


def test_local_pool_rejects_zero_workers():
    with pytest.raises(ExecutorError, match="--workers"):
        LocalPool(0)


# --------------------------------------------------------------------------- bounded work
def test_experiment_sizes_are_bounded_before_anything_is_built():
    from twin.experiment import MAX_REPLICATIONS, MAX_SIMULATIONS

    v = resolve(DATA / "mm1.yaml")
    for n in (0, -1, MAX_REPLICATIONS + 1, 2**70):
        with pytest.raises(ExperimentError, match=f"expected 1 to {MAX_REPLICATIONS:,}"):
            Experiment([v], replications=n)
    many = [dataclasses.replace(v, name=str(k)) for k in range(3)]
    with pytest.raises(ExperimentError, match=f"at most {MAX_SIMULATIONS:,}"):
        Experiment(many, replications=MAX_SIMULATIONS // 2)


def test_pending_tasks_are_built_one_at_a_time():
    v = resolve(DATA / "mm1.yaml")
    exp = Experiment([v], replications=10_000)
    assert exp.pending_count == 10_000
    tasks = exp.iter_pending()
    first = next(tasks)
    assert (first.replication, next(tasks).replication) == (0, 1)
    assert first.scenario is next(tasks).scenario  # one resolved scenario, shared


def test_the_local_pool_takes_items_as_workers_free_up():
    pulled = []

    def items():
        for k in range(1_000):
            pulled.append(k)
            yield k

    with LocalPool(2, start_method="fork") as pool:
        results = pool.map_unordered(abs, items())
        first = next(results)
        # a window in flight (2 per worker), refilled for those that finished together before
        # the first was handed out (at most a window more on a loaded machine): not the list
        assert len(pulled) <= 2 * (2 * pool.workers)
        assert sorted([first, *results]) == list(range(1_000))
