"""twin.evaluate.replicate: runs in a fixed order, the same results as simulate, whichever
executor ran them."""

from __future__ import annotations

import functools
from pathlib import Path

import pyarrow as pa
import pytest

from twin import load, simulate
from twin.evaluate import replicate
from twin.executors import InProcess, LocalPool

DENSE = Path(__file__).parents[1] / "data" / "dense_loop.yaml"


def pickups(events: pa.Table, kpis: dict, scale: float) -> tuple[int, float]:
    """A measure: transport pick-ups in the log and the KPI count of requests, scaled."""
    kinds = events.column("kind").to_pylist()
    return kinds.count("transport_pickup"), scale * kpis["transport"]["requests"]


def _rows(table: pa.Table) -> list[dict]:
    """The rows of an event log, NaN as None (NaN != NaN)."""
    return [{k: (None if v != v else v) for k, v in row.items()} for row in table.to_pylist()]


def _with_size(scenario, size):
    return scenario.model_copy(update={"fleet": scenario.fleet.model_copy(update={"size": size})})


def test_runs_come_back_in_order_with_what_simulate_gives() -> None:
    sc = load(DENSE)
    variants = [_with_size(sc, 1), _with_size(sc, 3)]
    seen = []
    reps = replicate(
        variants,
        seeds=(4, 2),
        replications=2,
        measure=functools.partial(pickups, scale=10.0),
        keep_events=True,
        progress=lambda done, total: seen.append((done, total)),
    )
    keys = [(r.scenario, r.seed, r.replication) for r in reps]
    assert keys == [(s, seed, r) for s in (0, 1) for seed in (4, 2) for r in (0, 1)]
    assert seen == [(k, 8) for k in range(9)]
    for rep in reps:
        run = simulate(variants[rep.scenario], seed=rep.seed, replication=rep.replication)
        assert rep.kpis == run.kpis
        assert _rows(rep.events()) == _rows(run.events)
        n_pickups = run.events.column("kind").to_pylist().count("transport_pickup")
        assert rep.measured == (n_pickups, 10.0 * run.kpis["transport"]["requests"])
    # the fleet size changes the runs: the two scenarios were not mixed up
    assert reps[0].kpis != reps[4].kpis


def test_a_process_pool_gives_the_same_results() -> None:
    sc = load(DENSE)
    measure = functools.partial(pickups, scale=1.0)
    here = replicate([sc], seeds=(0, 1, 2), measure=measure, executor=InProcess())
    with LocalPool(workers=2) as pool:
        there = replicate([sc], seeds=(0, 1, 2), measure=measure, executor=pool)
    assert [(r.seed, r.measured, r.kpis) for r in here] == [
        (r.seed, r.measured, r.kpis) for r in there
    ]


def test_the_log_stays_in_the_worker_unless_asked_for() -> None:
    (rep,) = replicate([load(DENSE)], seeds=(0,))
    assert rep.measured is None and rep.events_ipc is None
    with pytest.raises(ValueError, match="without keeping its event log"):
        rep.events()
