"""STN solves against known optima: the published references, hand-computed cases for every
feature, re-planning from a plant state and the rolling horizon. Every solve is proven optimal
(gap 0, no clock involved) or checked for what does not depend on the clock."""

from __future__ import annotations

import json

import pytest

from optimizer.formats.stn import read_stn
from optimizer.solvers import SolverOptions, SolverUnavailableError
from optimizer.stn import StnResult, solve
from optimizer.stn_check import Batch, check_schedule
from optimizer.stn_data import (
    Arc,
    BatchInProgress,
    Changeover,
    Demand,
    Grid,
    OutputArc,
    Receipt,
    State,
    StnData,
    UnitInit,
    UnitTask,
    Utility,
    UtilityUse,
)
from optimizer.stn_instances import kondili, mix_split
from optimizer.stn_rolling import RollingOptions, solve_rolling, window_data
from tests.conftest import INSTANCES
from tests.optimizer.test_stn_model import featured

pytestmark = pytest.mark.solver

EXACT = SolverOptions(time_limit=120, mip_gap=0.0)


def proven(data: StnData, **kwargs) -> StnResult:
    result = solve(data, EXACT, mode="monolithic", **kwargs)
    assert result.status == "optimal", result.message
    assert result.bound == result.objective
    assert result.check is not None and result.check.ok
    assert check_schedule(data, result.schedule).objective == pytest.approx(result.objective)
    return result


# ------------------------------------------------------------------- published optima
@pytest.mark.parametrize(
    ("name", "value"),
    [("kondili_stnscheduler_H10", 2744.375), ("maravelias_grossmann2003_A_H6", 100.0)],
)
def test_published_optima_are_reproduced_exactly(name: str, value: float) -> None:
    data = read_stn(INSTANCES / "stn" / f"{name}.json")
    assert data.reference is not None and data.reference.value == value
    result = solve(data, EXACT)  # auto: one MILP for instances this small
    assert result.mode == "monolithic"
    assert (result.status, result.objective, result.bound, result.gap) == (
        "optimal",
        value,
        value,
        0.0,
    )
    assert result.check is not None and result.check.ok
    assert json.loads(json.dumps(result.to_dict()))["objective"] == value


def test_optimal_schedules_carry_no_useless_batches() -> None:
    """Maravelias A: 10 B need 10 IB (R1 4 + R2 3 x 2), which need 10 hA, which need 10 A
    heated: 30 units processed in all. Without the tidying LP HiGHS returns schedules that heat
    more A than anything uses (nothing costs, so the MILP cannot tell)."""
    data = read_stn(INSTANCES / "stn" / "maravelias_grossmann2003_A_H6.json")
    result = proven(data)
    assert result.objective == 100.0
    sizes = {}
    for b in result.schedule.batches:
        sizes[b.task] = sizes.get(b.task, 0) + b.size
    assert sizes == pytest.approx({"Heat": 10, "R1": 4, "R2": 6, "Sep": 10})


def test_the_other_highs_interface_agrees() -> None:
    data = read_stn(INSTANCES / "stn" / "maravelias_grossmann2003_A_H6.json")
    result = solve(data, SolverOptions(name="highs", time_limit=60, mip_gap=0.0))
    assert (result.status, result.objective) == ("optimal", 100.0)


# ------------------------------------------------------------------- hand-computed cases
def test_mix_split_hand_optimum() -> None:
    result = proven(mix_split())
    assert result.objective == 84.5
    real = [b for b in result.schedule.batches if not b.hold]
    assert [(b.task, b.unit, b.start, b.size) for b in real if b.task == "Split"] == [
        ("Split", "Still", 2.0, 25)
    ]
    mixes = [b for b in real if b.task == "Mix"]
    assert len(mixes) == 2 and sum(b.size for b in mixes) == pytest.approx(25)


def test_names_may_repeat_across_states_tasks_and_units() -> None:
    base = mix_split()
    units = tuple(
        UnitTask(name, ut.task, ut.bmin, ut.bmax, ut.fixed_cost, ut.variable_cost)
        for name, ut in zip(("Mix", "M"), base.unit_tasks, strict=True)
    )
    result = proven(base.replace(unit_tasks=units))
    assert result.objective == 84.5
    assert {(b.task, b.unit) for b in result.schedule.batches} == {("Mix", "Mix"), ("Split", "M")}


def test_featured_hand_optimum() -> None:
    """mix_split + a Mix -> Mix changeover of 1 (no two mixes in a row), cleaning on the
    Still, steam, a soft demand of 4 P1 at 3 and P2 >= 1 at the end: one mix of 20, split
    once: 20 * 3.7 - 4 - 2 = 68."""
    result = proven(featured())
    assert result.objective == 68.0
    assert result.schedule.shipped == pytest.approx((4.0,))


def one_unit_two_products(**extra) -> StnData:
    """TA: A -> PA and TB: A -> PB on one unit, 2 h each, batches <= 10, grid 0..7 (3 batches
    fit). PA is worth 3, PB 5, but PB has a tank of 20."""
    return StnData(
        name="two_products",
        states=(State("A", None, 100, 0), State("PA", None, 0, 3), State("PB", 20, 0, 5)),
        inputs=(Arc("A", "TA", 1), Arc("A", "TB", 1)),
        outputs=(OutputArc("TA", "PA", 1, 2), OutputArc("TB", "PB", 1, 2)),
        unit_tasks=(UnitTask("U", "TA", 0, 10), UnitTask("U", "TB", 0, 10)),
        grid=Grid(0, 7, 1),
        **extra,
    )


def test_changeovers_cost_a_batch() -> None:
    """Without changeovers: TB, TB, TA = 130. With 2 h between products, a third batch no
    longer fits after a product change: TB, TB = 100 beats TA, TA, TA = 90 and TA, TB = 80."""
    assert proven(one_unit_two_products()).objective == 130
    changeovers = (Changeover("U", "TA", "TB", 2), Changeover("U", "TB", "TA", 2))
    result = proven(one_unit_two_products(changeovers=changeovers))
    assert result.objective == 100
    assert [b.task for b in result.schedule.batches] == ["TB", "TB"]


def two_reactors(**extra) -> StnData:
    """T: A -> P (2 h, <= 10) on U1 and U2, grid 0..4: four batches without limits (40)."""
    return StnData(
        name="two_reactors",
        states=(State("A", None, 100, 0), State("P", None, 0, 1)),
        inputs=(Arc("A", "T", 1),),
        outputs=(OutputArc("T", "P", 1, 2),),
        unit_tasks=(UnitTask("U1", "T", 0, 10), UnitTask("U2", "T", 0, 10)),
        grid=Grid(0, 4, 1),
        **extra,
    )


def test_shared_utility_limits_parallel_batches() -> None:
    """Steam 15, a batch uses 5 + B: one full batch at a time (two together share 5 between
    them), so 20; with the boiler down over [2, 3) only the first slot is left: 10."""
    assert proven(two_reactors()).objective == 40
    uses = tuple(UtilityUse(u, "T", "Steam", 5, 1) for u in ("U1", "U2"))
    result = proven(two_reactors(utilities=(Utility("Steam", 15),), utility_uses=uses))
    assert result.objective == 20
    assert max(result.check.utility_use["Steam"]) <= 15 + 1e-9
    down = Utility("Steam", 15, ((2, 0), (3, 15)))
    assert proven(two_reactors(utilities=(down,), utility_uses=uses)).objective == 10


def chain(policy: str) -> StnData:
    """10 of A arrive at 0 and cannot wait (zero-wait): T1 (U1, 1 h) must take them at 0 and
    makes I at 1; T2 (U2, 2 h) turns I into P, but U2 is busy until 3."""
    return StnData(
        name=f"chain_{policy}",
        states=(
            State("A", None, 0, 0, "zero_wait"),
            State("I", None, 0, 0, policy),
            State("P", None, 0, 1),
        ),
        inputs=(Arc("A", "T1", 1), Arc("I", "T2", 1)),
        outputs=(OutputArc("T1", "I", 1, 1), OutputArc("T2", "P", 1, 2)),
        unit_tasks=(UnitTask("U1", "T1", 0, 10), UnitTask("U2", "T2", 0, 10)),
        grid=Grid(0, 5, 1),
        receipts=(Receipt("A", 0, 10),),
        unit_init=(UnitInit("U2", 3, None),),
    )


def test_storage_policies() -> None:
    """With a tank (store) I waits there; without (none, NIS) it waits in U1, which holds it
    over [1, 3); zero-wait has nowhere to put it: no schedule exists."""
    stored = proven(chain("store"))
    assert stored.objective == 10 and not any(b.hold for b in stored.schedule.batches)
    held = proven(chain("none"))
    assert held.objective == 10
    holds = [(b.unit, b.start, b.size) for b in held.schedule.batches if b.hold]
    assert holds == [("U1", 1.0, 10), ("U1", 2.0, 10)]
    assert held.check.stock["I"] == pytest.approx((0,) * 6)
    zero_wait = solve(chain("zero_wait"), EXACT, mode="monolithic")
    assert (zero_wait.status, zero_wait.objective, zero_wait.schedule) == ("infeasible", None, None)


def receipts_and_demands(penalty: float | None) -> StnData:
    """T: A -> P (1 h, <= 10); no A until 15 arrive at 1.5 (usable at 2); 20 P due at 3, P
    worth 2: T at 2 makes 10 in time, T at 3 makes the last 5 too late."""
    return StnData(
        name="receipts_and_demands",
        states=(State("A", None, 0, 0), State("P", None, 0, 2)),
        inputs=(Arc("A", "T", 1),),
        outputs=(OutputArc("T", "P", 1, 1),),
        unit_tasks=(UnitTask("U", "T", 0, 10),),
        grid=Grid(0, 4, 1),
        receipts=(Receipt("A", 1.5, 15),),
        demands=(Demand("P", 3, 20, penalty),),
    )


def test_soft_and_hard_demands() -> None:
    """Soft (4 a unit short): ship 10, 10 short: 10 * 2 + 5 * 2 - 40 = -10. Hard: infeasible."""
    soft = proven(receipts_and_demands(4.0))
    assert soft.objective == -10 and soft.schedule.shipped == pytest.approx((10,))
    hard = solve(receipts_and_demands(None), EXACT, mode="monolithic")
    assert hard.status == "infeasible" and hard.objective is None


def test_replanning_from_a_running_plant() -> None:
    """Reactor_1 runs Reaction_1 (60 kg) since -1 and delivers 60 IntBC at 1; the Heater is
    free from 1.5 only. The plan starts nothing on them before, and the 60 kg are worth more
    than the same plant with Reactor_1 merely busy until 1."""
    heater = UnitInit("Heater", 1.5, "Heating")
    running = kondili(10).replace(
        in_progress=(BatchInProgress("Reaction_1", "Reactor_1", -1, 60),), unit_init=(heater,)
    )
    idle = kondili(10).replace(unit_init=(heater, UnitInit("Reactor_1", 1, "Reaction_1")))
    result = proven(running)
    for b in result.schedule.batches:
        assert b.unit != "Reactor_1" or b.start >= 1
        assert b.unit != "Heater" or b.start >= 2
    assert result.objective > proven(idle).objective


def test_replanning_mid_schedule_keeps_the_optimum() -> None:
    """Fix the optimal Kondili batches that start before some t0, re-plan the rest from the
    plant state they leave (running batches, stock, unit releases): the whole is still
    2744.375."""
    data = kondili(10)
    first = proven(data)
    # the first grid point from 3 on at which some batch is still running
    t0 = min(k for k in range(3, 10) if any(b.start < k < b.end for b in first.schedule.batches))
    done = [b for b in first.schedule.batches if b.start < t0]
    sub, _ = window_data(data, done, {}, t0, 10)
    assert sub.grid.start == t0 and sub.in_progress
    rest = proven(sub)
    whole = check_schedule(data, type(first.schedule)(tuple(done) + rest.schedule.batches))
    assert whole.ok, whole.problems
    assert whole.objective == pytest.approx(2744.375, abs=1e-6)


# ------------------------------------------------------------------------- rolling horizon
def test_rolling_with_one_window_is_the_monolithic_model() -> None:
    result = solve_rolling(
        kondili(10), EXACT, RollingOptions(window=10, commit=10, lookahead=0, mip_gap=0.0)
    )
    assert result.objective == 2744.375
    assert len([s for s in result.stages if s["stage"] == "window"]) == 1


def test_rolling_horizon_gives_a_checked_repeatable_schedule() -> None:
    data = kondili(24)
    options = RollingOptions(window=8, commit=4, lookahead=4, mip_gap=0.01)
    runs = [solve_rolling(data, EXACT, options) for _ in range(2)]
    first = runs[0]
    assert first.status in ("feasible", "optimal")
    assert first.check is not None and first.check.ok
    assert check_schedule(data, first.schedule).ok
    assert len([s for s in first.stages if s["stage"] == "window"]) == 5  # from 0, 4, ..., 16
    assert first.bound is not None and first.objective <= first.bound
    assert first.objective > 0.9 * first.bound  # the LP bound is within 10% here
    assert runs[1].objective == first.objective  # no clock in it: the same answer
    assert runs[1].schedule == first.schedule


def test_rolling_horizon_with_plant_features() -> None:
    """NIS holds, changeovers, cleaning, steam and soft demands cross window boundaries."""
    from optimizer.stn_instances import multiproduct_plant

    data = multiproduct_plant(products=3, horizon=16, seed=2)
    result = solve(
        data,
        SolverOptions(time_limit=120, mip_gap=0.0),
        mode="rolling",
        rolling=RollingOptions(window=6, commit=3, lookahead=4, mip_gap=0.05),
    )
    assert result.schedule is not None and result.check is not None and result.check.ok
    assert result.bound is not None and result.objective <= result.bound
    assert len(result.schedule.shipped) == len(data.demands)


def test_bad_arguments() -> None:
    with pytest.raises(SolverUnavailableError, match="no_such_solver"):
        solve(mix_split(), SolverOptions(name="no_such_solver"))
    with pytest.raises(ValueError, match='"mode"'):
        solve(mix_split(), mode="fastest")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match='"commit"'):
        RollingOptions(window=4, commit=5)


def test_result_is_json_ready() -> None:
    result = proven(mix_split())
    data = json.loads(json.dumps(result.to_dict()))
    assert data["objective"] == 84.5 and data["status"] == "optimal"
    assert data["batches"] == 3 and len(data["schedule"]) == 3
    assert data["schedule"][-1] == {
        "task": "Split",
        "unit": "Still",
        "start": 2.0,
        "end": 4.0,
        "size": 25.0,
        "hold": False,
    }
    assert data["stock"]["P2"] == [0, 0, 0, 0, 15]
    assert data["times"] == [0, 1, 2, 3, 4]
    assert isinstance(result.schedule.batches[0], Batch)


def test_rolling_horizon_carries_held_material_across_windows() -> None:
    """The NIS chain with windows of 2 periods fixing 1: the material made at 0 waits in U1
    over [1, 3), across two window boundaries (the plant state says U1 holds it), and is still
    turned into the 10 P the whole model makes."""
    data = chain("none")
    result = solve_rolling(
        data, EXACT, RollingOptions(window=2, commit=1, lookahead=1, mip_gap=0.0)
    )
    assert result.objective == 10
    assert [(b.unit, b.start) for b in result.schedule.batches if b.hold] == [
        ("U1", 1.0),
        ("U1", 2.0),
    ]
    assert len([s for s in result.stages if s["stage"] == "window"]) == 4
    sub, _ = window_data(data, [b for b in result.schedule.batches if b.start < 2], {}, 2, 5)
    assert UnitInit("U1", 2.0, "T1", (("I", 10.0),)) in sub.unit_init
    assert sub.receipts == ()  # the held material is in the unit, not a delivery
