"""The STN MILP without solving: grid preparation and model structure on hand-made instances."""

from __future__ import annotations

import pyomo.environ as pyo
import pytest

from optimizer.stn_data import (
    BatchInProgress,
    Changeover,
    Cleaning,
    Demand,
    Grid,
    Receipt,
    UnitInit,
    Utility,
    UtilityUse,
)
from optimizer.stn_instances import kondili, mix_split
from optimizer.stn_model import build_model, model_data, periods_up


def count(model: pyo.ConcreteModel, component) -> int:
    return sum(1 for _ in model.component_data_objects(component, active=True))


def featured():
    """mix_split with cleaning on the Still, a Mix -> Mix changeover, steam on the Mixer, a soft
    demand and a final-stock demand (optimum 68, see test_stn_solve)."""
    return mix_split().replace(
        name="mix_split_featured",
        cleanings=(Cleaning("Still", "Split", 1),),
        changeovers=(Changeover("Mixer", "Mix", "Mix", 1),),
        utilities=(Utility("Steam", 5),),
        utility_uses=(UtilityUse("Mixer", "Mix", "Steam", 1, 0.2),),
        demands=(Demand("P1", 3, 4, 10),),
        final_min=(("P2", 1),),
    )


def test_periods_round_up_exactly() -> None:
    assert periods_up(2, 1) == 2
    assert periods_up(2.5, 1) == 3
    assert periods_up(0.3, 0.1) == 3  # 0.3 / 0.1 = 2.9999999999999996
    assert periods_up(0.7, 0.25) == 3


def test_mix_split_structure() -> None:
    """Mix: span 1, starts 0..3; Split: span 2, starts 0..2. 5 states x 5 grid points."""
    md = model_data(mix_split())
    assert [(j.task, j.span, j.window, j.first, j.last) for j in md.jobs] == [
        ("Mix", 1, 1, 0, 3),
        ("Split", 2, 2, 0, 2),
    ]
    assert md.jobs[1].outputs == (("P1", 0.4, 1), ("P2", 0.6, 2))
    assert md.binaries == 7 and md.gaps == () and md.arrivals == {}
    m = build_model(md)
    assert (len(m.W), len(m.B), len(m.S), len(m.U)) == (7, 7, 25, 0)
    assert count(m, pyo.Var) == 39
    assert sum(1 for v in m.W.values() if v.is_binary()) == 7
    # the Still: starts 0 and 1 both cover grid point 1, starts 1 and 2 cover point 2
    assert list(m.occupancy) == [("Still", 1), ("Still", 2)]
    assert len(m.gap) == 0
    assert (len(m.batch_max), len(m.batch_min)) == (7, 3)  # Bmin > 0 only on the Still
    assert len(m.balance) == 25
    assert len(m.final_stock) == 0 and len(m.utility) == 0
    assert count(m, pyo.Constraint) == 2 + 7 + 3 + 25
    assert m.objective.sense == pyo.maximize
    assert m.S["M", 2].bounds == (0, None)


def test_featured_structure() -> None:
    """Cleaning folds into the Still's window (2 + 1 = 3 periods: 3 occupancy rows); the Mix
    changeover forbids a Mix right after a Mix (3 gap rows); steam is counted in the 4 grid
    intervals; the soft demand adds one shortfall variable."""
    md = model_data(featured())
    assert [(j.task, j.window) for j in md.jobs] == [("Mix", 1), ("Split", 3)]
    assert md.gaps == ((0, 0, 2),)  # Mix -> Mix: no start within 2 periods
    assert md.demands == ((0, "P1", 3, 4.0, 10.0),)
    assert md.utility_capacity == {("Steam", k): 5.0 for k in range(4)}
    m = build_model(md)
    assert count(m, pyo.Var) == 7 + 7 + 25 + 1
    assert list(m.occupancy) == [("Still", 1), ("Still", 2), ("Still", 3)]
    assert sorted(m.gap) == [(0, 0, 1, 0), (0, 0, 2, 1), (0, 0, 3, 2)]
    assert len(m.utility) == 4 and len(m.final_stock) == 1
    assert count(m, pyo.Constraint) == 3 + 3 + 7 + 3 + 25 + 1 + 4
    assert m.U[0].bounds == (0, 4)


def test_relaxed_starts_are_continuous() -> None:
    md = model_data(kondili(10), relax_from=6)
    m = build_model(md)
    for (a, k), var in m.W.items():
        assert var.is_binary() == (k < 6), (a, k)
    assert md.binaries == sum(1 for a, k in m.W if k < 6)


def test_kondili_sizes() -> None:
    md = model_data(kondili(10))
    assert len(md.jobs) == 8 and md.binaries == 75
    m = build_model(md)
    assert len(m.balance) == 9 * 11
    assert count(m, pyo.Constraint) == len(m.occupancy) + 75 + 99


def test_nis_states_get_hold_jobs_on_the_units_that_make_them() -> None:
    base = kondili(10)
    states = tuple(
        s if s.name != "IntBC" else s.__class__(s.name, None, 0, -1, "none") for s in base.states
    )
    md = model_data(base.replace(states=states))
    holds = [(j.task, j.unit, j.bmax, j.span) for j in md.jobs if j.hold_of]
    assert holds == [("hold IntBC", "Reactor_1", 80, 1), ("hold IntBC", "Reactor_2", 50, 1)]
    assert md.capacity["IntBC"] == 0.0
    hold = next(j for j in md.jobs if j.hold_of)
    assert hold.inputs == (("IntBC", 1.0),) and hold.outputs == (("IntBC", 1.0, 1),)
    m = build_model(md)
    assert m.S["IntBC", 3].bounds == (0, 0)


def test_plant_state_moves_starts_and_material() -> None:
    """Reactor_1 still runs a Reaction_1 batch from -1 (ends at 1: IntBC arrives then); the
    Heater is free from 2.5 after Heating with a changeover of 1 into Heating: first start 4."""
    data = kondili(10).replace(
        in_progress=(BatchInProgress("Reaction_1", "Reactor_1", -1, 60),),
        unit_init=(UnitInit("Heater", 2.5, "Heating"),),
        changeovers=(Changeover("Heater", "Heating", "Heating", 1),),
        receipts=(Receipt("FeedA", 3.2, 50),),
        demands=(Demand("Product_1", 7.9, 10),),
    )
    md = model_data(data)
    first = {(j.task, j.unit): j.first for j in md.jobs}
    assert first["Heating", "Heater"] == 4
    assert first["Reaction_2", "Reactor_1"] == 1
    assert first["Reaction_2", "Reactor_2"] == 0
    assert md.arrivals == {("IntBC", 1): 60.0, ("FeedA", 4): 50.0}
    assert md.demands == ((0, "Product_1", 7, 10.0, None),)  # due 7.9: shipped at 7
    assert len(build_model(md).U) == 0  # a hard demand has no shortfall variable


@pytest.mark.parametrize("step", [0.5, 0.25])
def test_finer_grids_scale_spans_and_offsets(step: float) -> None:
    data = kondili(10).replace(grid=Grid(0, 10, step))
    md = model_data(data)
    r2 = next(j for j in md.jobs if j.task == "Reaction_2")
    assert r2.span == round(2 / step) and md.periods == round(10 / step)
    assert r2.last == md.periods - r2.span


def test_holds_follow_their_own_unit() -> None:
    """Hold jobs of the NIS state I on U1 and U2 (both make it): each may only follow a batch
    of T on its own unit or its own previous hold; U2's Q never feeds a hold."""
    from tests.optimizer.test_stn_check import nis_two_units

    data = nis_two_units().replace(unit_init=(UnitInit("U2", 2, "T", (("I", 6),)),))
    md = model_data(data)
    names = [(j.task, j.unit) for j in md.jobs]
    h1, h2 = names.index(("hold I", "U1")), names.index(("hold I", "U2"))
    assert md.hold_sources == {
        h1: ((names.index(("T", "U1")), 1.0),),
        h2: ((names.index(("T", "U2")), 1.0),),
    }
    assert md.held_at_start == {h2: (2, 6.0)}
    assert md.arrivals == {("I", 2): 6.0}
    m = build_model(md)
    starts = len(md.jobs[h1].starts) + len(md.jobs[h2].starts)
    assert len(m.hold_start) == len(m.hold_amount) == starts == 5 + 3  # U2 is busy until 2
    assert str(m.hold_start[h2, 2].body).count("W") == 1  # only the plant state lets it hold
