"""The shop MILP: model structure without solving, validity of the warm start, small solves."""

from __future__ import annotations

import random

import pyomo.environ as pyo
import pytest

from optimizer.shop_dispatch import best_dispatch
from optimizer.shop_graph import FlatShop, to_schedule
from optimizer.shop_milp import build_model, milp_data, set_warm_start, solve_milp
from optimizer.solvers import SolverOptions
from tests.optimizer.shop_cases import TINY, TINY_FLEX, TINY_OPTIMUM


def count(model: pyo.ConcreteModel, component) -> int:
    return sum(1 for _ in model.component_data_objects(component, active=True))


def test_job_shop_model_structure() -> None:
    """TINY: 6 operations; M0 runs 3 of them (3 pairs), M1 two (1 pair), M2 one."""
    data = milp_data(FlatShop.of(TINY), horizon=20, lower_bound=10)
    m = build_model(data)
    assert len(data.pairs) == 4
    assert (len(m.start), len(m.x), len(m.y)) == (6, 0, 4)
    assert count(m, pyo.Var) == 6 + 4 + 1
    assert len(m.precedence) == 3
    assert len(m.o1_first) == len(m.o2_first) == 4
    assert len(m.makespan) == 3
    assert len(m.assign_once) == 0 and len(m.machine_load) == 0
    assert len(m.tail_cut) == len(m.head_cut) == 5  # 3 operations on M0, 2 on M1
    assert count(m, pyo.Constraint) == 3 + 8 + 3 + 10
    assert m.cmax.bounds == (10, 20)


def test_flexible_model_structure() -> None:
    """TINY_FLEX: 2 flexible operations with 2 machines each -> 4 assignment binaries."""
    data = milp_data(FlatShop.of(TINY_FLEX), horizon=20, lower_bound=0)
    m = build_model(data)
    assert len(m.x) == 4
    assert len(m.assign_once) == 2
    assert len(m.machine_load) == 3  # M0, M1, M2 can all receive a flexible operation
    # M0: ops 1, 2, 4 -> 3 pairs; M1: ops 3, 4, 5 -> 3 pairs (job 2's ops 4, 5 excluded: same
    # job) minus 1 = 2; M2: ops 0, 1 -> same job, none
    assert sorted(data.pairs) == [(1, 2, 0), (1, 4, 0), (2, 4, 0), (3, 4, 1), (3, 5, 1)]
    assert len(m.y) == 5
    assert count(m, pyo.Var) == 6 + 4 + 5 + 1


@pytest.mark.parametrize("instance", [TINY, TINY_FLEX], ids=["jsp", "fjsp"])
def test_warm_start_satisfies_every_constraint(instance) -> None:
    flat = FlatShop.of(instance)
    for seed in range(5):
        seq, cmax = best_dispatch(flat, random.Random(seed), random_runs=1)
        rows = to_schedule(flat, seq)
        data = milp_data(flat, horizon=cmax, lower_bound=0)
        m = build_model(data)
        set_warm_start(m, data, rows, flat)
        for con in m.component_data_objects(pyo.Constraint, active=True):
            body = pyo.value(con.body)
            assert con.lower is None or body >= pyo.value(con.lower) - 1e-9, con.name
            assert con.upper is None or body <= pyo.value(con.upper) + 1e-9, con.name
        for var in m.component_data_objects(pyo.Var):
            lo, hi = var.bounds
            assert (lo is None or var.value >= lo) and (hi is None or var.value <= hi), var.name


@pytest.mark.solver
def test_milp_finds_and_proves_the_tiny_optimum() -> None:
    flat = FlatShop.of(TINY)
    seq, _ = best_dispatch(flat, random.Random(0))
    rows = to_schedule(flat, seq)
    outcome = solve_milp(flat, rows, 0, SolverOptions(time_limit=20, node_limit=1000))
    assert outcome.result.status == "optimal"
    assert outcome.result.objective == pytest.approx(TINY_OPTIMUM)
    assert outcome.sequencing is not None
    assert max(r[4] for r in to_schedule(flat, outcome.sequencing)) == TINY_OPTIMUM
