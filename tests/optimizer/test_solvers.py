"""The solver layer: options checking, unknown solvers, results of a tiny MILP."""

from __future__ import annotations

import pyomo.environ as pyo
import pytest

from optimizer.solvers import (
    SolveResult,
    SolverOptions,
    SolverUnavailableError,
    available_solvers,
    check_solver,
    solve_model,
)


def knapsack() -> pyo.ConcreteModel:
    """max 5a + 4b + 3c s.t. 2a + 3b + c <= 5 (binary): the optimum 9 takes a and b."""
    m = pyo.ConcreteModel()
    m.I = pyo.Set(initialize=["a", "b", "c"])
    value = {"a": 5, "b": 4, "c": 3}
    weight = {"a": 2, "b": 3, "c": 1}
    m.take = pyo.Var(m.I, domain=pyo.Binary)
    m.capacity = pyo.Constraint(expr=sum(weight[i] * m.take[i] for i in m.I) <= 5)
    m.value = pyo.Objective(expr=sum(value[i] * m.take[i] for i in m.I), sense=pyo.maximize)
    return m


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"name": ""}, '"name"'),
        ({"time_limit": 0}, '"time_limit"'),
        ({"time_limit": -1.5}, "-1.5"),
        ({"mip_gap": 1.5}, '"mip_gap"'),
        ({"threads": 0}, '"threads"'),
        ({"seed": -1}, '"seed"'),
        ({"node_limit": 0}, '"node_limit"'),
    ],
)
def test_options_check_themselves(kwargs: dict, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        SolverOptions(**kwargs)


def test_default_options() -> None:
    options = SolverOptions()
    assert options.name == "appsi_highs"
    assert options.time_limit == 60.0


def test_highs_is_available() -> None:
    names = available_solvers()
    assert "appsi_highs" in names and "highs" in names
    check_solver("appsi_highs")


@pytest.mark.parametrize("name", ["no_such_solver", "glpk_but_misspelt"])
def test_unknown_solver_lists_available_ones(name: str) -> None:
    with pytest.raises(SolverUnavailableError) as info:
        solve_model(knapsack(), SolverOptions(name=name, time_limit=5))
    message = str(info.value)
    assert name in message and '"appsi_highs"' in message


@pytest.mark.solver
@pytest.mark.parametrize("name", ["appsi_highs", "highs"])
def test_tiny_milp_is_solved_and_loaded(name: str) -> None:
    m = knapsack()
    result = solve_model(m, SolverOptions(name=name, time_limit=10))
    assert isinstance(result, SolveResult)
    assert result.status == "optimal"
    assert result.objective == pytest.approx(9.0)
    assert result.bound == pytest.approx(9.0)
    assert result.gap == pytest.approx(0.0, abs=1e-9)
    assert result.seconds < 10
    assert [round(pyo.value(m.take[i])) for i in m.I] == [1, 1, 0]
    assert pyo.value(m.value) == pytest.approx(9.0)


@pytest.mark.solver
def test_warm_start_is_accepted() -> None:
    m = knapsack()
    m.take["a"].set_value(1)
    m.take["b"].set_value(1)
    m.take["c"].set_value(0)
    result = solve_model(m, SolverOptions(time_limit=10, node_limit=1), warmstart=True)
    assert result.objective == pytest.approx(9.0)


@pytest.mark.solver
@pytest.mark.parametrize("name", ["appsi_highs", "highs"])
def test_a_solution_that_cannot_be_loaded_is_an_error_result(name: str, monkeypatch) -> None:
    """HiGHS once returned fewer values than variables on a model with 1e23 coefficients, and
    loading them raised an IndexError through every caller; now it is a result like any other."""
    from pyomo.contrib.appsi import base as appsi_base
    from pyomo.contrib.solver.common import solution_loader
    from pyomo.contrib.solver.solvers import highs as new_highs

    def broken(*args, **kwargs):
        raise IndexError("list index out of range")

    for module in (appsi_base, solution_loader, new_highs):
        for cls in list(vars(module).values()):
            if isinstance(cls, type) and "load_vars" in vars(cls):
                monkeypatch.setattr(cls, "load_vars", broken)
    result = solve_model(knapsack(), SolverOptions(name=name, time_limit=10))
    assert result.status == "error"
    assert result.objective is None and not result.has_solution
    assert "IndexError" in result.message
