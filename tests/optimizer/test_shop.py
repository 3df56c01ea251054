"""Shop scheduling: the independent checker, bounds, heuristics and known optima."""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optimizer.formats import ShopInstance
from optimizer.formats.fjsp import read_fjsp
from optimizer.formats.jobshop import read_jobshop
from optimizer.shop import check_schedule, shop_lower_bound, solve_shop
from optimizer.shop_dispatch import RULES, best_dispatch, dispatch, makespan_of
from optimizer.shop_graph import FlatShop, to_schedule
from optimizer.shop_tabu import TabuParams, tabu_search
from optimizer.solvers import SolverUnavailableError
from tests.conftest import INSTANCES
from tests.optimizer.shop_cases import TINY, TINY_FLEX, TINY_OPTIMUM, VALID_TINY


def load(name: str) -> ShopInstance:
    if name.startswith("mk"):
        return read_fjsp(INSTANCES / "fjsp" / f"{name}.txt")
    return read_jobshop(INSTANCES / "jobshop" / f"{name}.txt")


# ------------------------------------------------------------------------------- checker
def test_checker_accepts_a_valid_schedule() -> None:
    assert check_schedule(TINY, VALID_TINY) == []


def replace_row(rows, index, row):
    out = list(rows)
    out[index] = row
    return tuple(out)


@pytest.mark.parametrize(
    ("rows", "fragment"),
    [
        (VALID_TINY[:-1], "job 2 operation 1 is missing"),
        (VALID_TINY + (VALID_TINY[0],), "more than once"),
        (replace_row(VALID_TINY, 0, (0, 0, 1, 0, 5)), "not eligible"),
        (replace_row(VALID_TINY, 0, (0, 0, 2, 0, 4)), "lasts 4"),
        (replace_row(VALID_TINY, 1, (0, 1, 0, 4, 7)), "before operation 0 of the job ends at 5"),
        (replace_row(VALID_TINY, 2, (1, 0, 0, 1, 6)), "overlaps"),
        (replace_row(VALID_TINY, 4, (2, 0, 0, -1, 1)), "< 0"),
        (VALID_TINY + ((5, 0, 0, 0, 1),), "does not exist"),
    ],
)
def test_checker_finds_each_kind_of_violation(rows, fragment: str) -> None:
    problems = check_schedule(TINY, rows)
    assert any(fragment in p for p in problems), problems


def test_checker_allows_zero_length_operations_at_boundaries() -> None:
    inst = ShopInstance("z", 1, ((((0, 0),),), (((0, 3),),)))
    assert check_schedule(inst, ((0, 0, 0, 3, 3), (1, 0, 0, 0, 3))) == []
    assert check_schedule(inst, ((0, 0, 0, 1, 1), (1, 0, 0, 0, 3))) != []


# -------------------------------------------------------------------------------- bounds
def test_lower_bound_of_tiny_instances() -> None:
    assert shop_lower_bound(TINY) == 10
    assert shop_lower_bound(TINY_FLEX) <= 11


@pytest.mark.parametrize(("name", "bound"), [("la01", 666), ("ft06", 52), ("mk03", 204)])
def test_lower_bound_of_benchmarks(name: str, bound: int) -> None:
    assert shop_lower_bound(load(name)) == bound


# -------------------------------------------------------------------------- heuristics
@pytest.mark.parametrize("instance", [TINY, TINY_FLEX], ids=["jsp", "fjsp"])
def test_every_dispatch_rule_gives_a_valid_schedule(instance: ShopInstance) -> None:
    flat = FlatShop.of(instance)
    for rule in RULES:
        rows = to_schedule(flat, dispatch(flat, rule, random.Random(1)))
        assert check_schedule(instance, rows) == []


def test_unknown_dispatch_rule_is_refused() -> None:
    with pytest.raises(ValueError, match='"nope"'):
        dispatch(FlatShop.of(TINY), "nope")


def random_instance(seed: int, n_jobs: int, n_machines: int, flexible: bool) -> ShopInstance:
    rng = random.Random(seed)
    jobs = []
    for _ in range(n_jobs):
        machines = rng.sample(range(n_machines), n_machines)
        ops = []
        for k in machines:
            alts = [(k, rng.randint(1, 20))]
            if flexible:
                other = rng.randrange(n_machines)
                if other != k:
                    alts.append((other, rng.randint(1, 20)))
            ops.append(tuple(alts))
        jobs.append(tuple(ops))
    return ShopInstance(f"random{seed}", n_machines, tuple(jobs))


@pytest.mark.parametrize("flexible", [False, True], ids=["jsp", "fjsp"])
def test_tabu_search_is_deterministic_with_an_iteration_limit(flexible: bool) -> None:
    instance = random_instance(3, 8, 5, flexible)
    flat = FlatShop.of(instance)
    outcomes = []
    for _ in range(2):
        rng = random.Random(7)
        start, cmax = best_dispatch(flat, rng)
        outcomes.append(tabu_search(flat, start, rng, max_iterations=2000))
    assert outcomes[0] == outcomes[1]
    assert outcomes[0].iterations == 2000
    assert outcomes[0].stopped_by == "iterations"
    assert outcomes[0].makespan <= cmax
    assert check_schedule(instance, to_schedule(flat, outcomes[0].best)) == []


def test_tabu_search_reaches_ft06_optimum_in_fixed_iterations() -> None:
    flat = FlatShop.of(load("ft06"))
    rng = random.Random(0)
    start, cmax = best_dispatch(flat, rng)
    out = tabu_search(flat, start, rng, lower_bound=55, max_iterations=20_000)
    assert cmax > 55
    assert out.makespan == 55 == makespan_of(flat, out.best)
    assert out.stopped_by == "lower_bound"


def test_tabu_params_check_themselves() -> None:
    with pytest.raises(ValueError, match='"stall"'):
        TabuParams(stall=0)
    with pytest.raises(ValueError, match='"kick_min"'):
        TabuParams(kick_min=5, kick_max=2)


small_instances = st.integers(1, 4).flatmap(
    lambda m: st.lists(
        st.lists(
            st.lists(
                st.tuples(st.integers(0, m - 1), st.integers(0, 9)),
                min_size=1,
                max_size=m,
                unique_by=lambda a: a[0],
            ).map(tuple),
            min_size=1,
            max_size=4,
        ).map(tuple),
        min_size=1,
        max_size=4,
    ).map(lambda jobs: ShopInstance("random", m, tuple(jobs)))
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instance=small_instances, seed=st.integers(0, 1000))
def test_heuristic_schedules_are_valid_and_bounded(instance: ShopInstance, seed: int) -> None:
    flat = FlatShop.of(instance)
    cmax = min(makespan_of(flat, dispatch(flat, rule)) for rule in RULES if rule != "random")
    result = solve_shop(instance, time_limit=5, seed=seed, iterations=100, use_milp=False)
    assert check_schedule(instance, result.schedule) == []
    assert shop_lower_bound(instance) <= result.lower_bound <= result.makespan <= cmax
    assert result.makespan == max(row[4] for row in result.schedule)


# ------------------------------------------------------------------------------ solve_shop
def test_solve_shop_validates_arguments() -> None:
    with pytest.raises(ValueError, match='"time_limit"'):
        solve_shop(TINY, time_limit=0)
    with pytest.raises(ValueError, match='"threads"'):
        solve_shop(TINY, threads=0)
    with pytest.raises(SolverUnavailableError, match="no_such_solver"):
        solve_shop(TINY, solver="no_such_solver")


@pytest.mark.solver
def test_hand_computed_optimum_is_proven() -> None:
    result = solve_shop(TINY, time_limit=20, iterations=500, node_limit=1000)
    assert result.makespan == TINY_OPTIMUM
    assert result.lower_bound == TINY_OPTIMUM
    assert result.status == "optimal"
    assert check_schedule(TINY, result.schedule) == []


@pytest.mark.solver
def test_flexible_tiny_instance_is_proven() -> None:
    result = solve_shop(TINY_FLEX, time_limit=20, iterations=500, node_limit=1000)
    assert result.status == "optimal"
    assert check_schedule(TINY_FLEX, result.schedule) == []
    assert result.makespan <= TINY_OPTIMUM


def test_result_is_json_ready() -> None:
    result = solve_shop(TINY, time_limit=5, iterations=50, use_milp=False)
    data = json.loads(json.dumps(result.to_dict()))
    assert data["makespan"] == result.makespan
    assert data["status"] in ("optimal", "feasible", "time_limit")
    assert data["schedule"][0] == dict(
        zip(("job", "operation", "machine", "start", "end"), result.schedule[0], strict=True)
    )
    assert result.status == "feasible"  # stopped by the iteration limit, not the clock


@pytest.mark.slow
@pytest.mark.solver
def test_ft06_optimum_is_proven() -> None:
    result = solve_shop(load("ft06"), time_limit=30, iterations=20_000, node_limit=20_000)
    assert (result.makespan, result.lower_bound, result.status) == (55, 55, "optimal")


@pytest.mark.slow
def test_la01_optimum_is_reached_and_meets_the_bound() -> None:
    result = solve_shop(load("la01"), time_limit=30, iterations=50_000)
    assert (result.makespan, result.status) == (666, "optimal")


@pytest.mark.slow
@pytest.mark.solver
def test_mk01_optimum_is_reached() -> None:
    result = solve_shop(load("mk01"), time_limit=30, iterations=30_000, node_limit=200)
    assert result.makespan == 40
    assert result.lower_bound >= 39
    assert check_schedule(load("mk01"), result.schedule) == []


@pytest.mark.slow
@pytest.mark.solver
def test_parallel_milp_proves_ft06() -> None:
    result = solve_shop(load("ft06"), time_limit=20, threads=2)
    assert (result.makespan, result.status) == (55, "optimal")
    assert check_schedule(load("ft06"), result.schedule) == []


@pytest.mark.solver
@pytest.mark.parametrize("threads", [1, 2])
def test_a_tiny_time_limit_still_gives_a_checked_schedule(threads: int) -> None:
    """ft10 cannot be proven in 0.3 s: the clock stops the search, and what comes back is a
    valid schedule with a valid bound, however far the run got (no timing is asserted)."""
    instance = load("ft10")
    result = solve_shop(instance, time_limit=0.3, threads=threads)
    assert result.status == "time_limit"
    assert check_schedule(instance, result.schedule) == []
    assert result.makespan == max(row[4] for row in result.schedule)
    assert shop_lower_bound(instance) <= result.lower_bound <= 930 <= result.makespan
    assert 0 < result.gap < 1
