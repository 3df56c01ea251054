"""The independent STN checker: a valid schedule passes with its objective, each kind of broken
schedule is caught."""

from __future__ import annotations

import dataclasses

import pytest

from optimizer.stn_check import Batch, StnSchedule, check_schedule
from optimizer.stn_data import (
    Arc,
    BatchInProgress,
    Changeover,
    Cleaning,
    Demand,
    Grid,
    OutputArc,
    State,
    StnData,
    UnitInit,
    UnitTask,
    Utility,
    UtilityUse,
)
from optimizer.stn_instances import mix_split

# the hand-computed optimum of mix_split: 84.5
MIX0 = Batch("Mix", "Mixer", 0, 1, 5)
MIX1 = Batch("Mix", "Mixer", 1, 2, 20)
SPLIT2 = Batch("Split", "Still", 2, 4, 25)
VALID = StnSchedule((MIX0, MIX1, SPLIT2))


def with_batches(*batches: Batch, shipped: tuple[float, ...] = ()) -> StnSchedule:
    return StnSchedule(tuple(batches), shipped)


def test_valid_schedule_passes_with_its_objective() -> None:
    check = check_schedule(mix_split(), VALID)
    assert check.problems == () and check.ok
    assert check.objective == pytest.approx(84.5)
    assert (check.value, check.cost, check.penalty) == pytest.approx((105, 20.5, 0))
    assert check.stock["M"] == pytest.approx((0, 5, 0, 0, 0))  # after the events at each point
    assert check.stock["P1"] == pytest.approx((0, 0, 0, 10, 10))
    assert check.stock["P2"] == pytest.approx((0, 0, 0, 0, 15))
    assert check.stock["A"][-1] == pytest.approx(17.5)


def test_the_empty_schedule_is_valid() -> None:
    check = check_schedule(mix_split(), StnSchedule(()))
    assert check.ok and check.objective == 0


BROKEN = [
    (
        "wrong_unit",
        with_batches(MIX0, MIX1, dataclasses.replace(SPLIT2, unit="Mixer")),
        "does not run this task",
    ),
    ("off_grid", with_batches(MIX0, MIX1, Batch("Split", "Still", 1.5, 3.5, 20)), "off the grid"),
    ("wrong_end", with_batches(MIX0, MIX1, dataclasses.replace(SPLIT2, end=3)), "ends at 3"),
    (
        "after_stop",
        with_batches(MIX0, MIX1, Batch("Split", "Still", 3, 5, 20)),
        "after the grid stop 4",
    ),
    (
        "above_bmax",
        with_batches(MIX0, dataclasses.replace(MIX1, size=21), SPLIT2),
        "outside [0, 20]",
    ),
    (
        "below_bmin",
        with_batches(MIX0, MIX1, dataclasses.replace(SPLIT2, size=4)),
        "outside [5, 25]",
    ),
    ("overlap", with_batches(MIX0, MIX1, Batch("Split", "Still", 1, 3, 5), SPLIT2), "overlaps"),
    (
        "negative_stock",
        with_batches(MIX0, MIX1, Batch("Split", "Still", 1, 3, 20)),
        "state 'M' at 1: stock -15 < 0",
    ),
    (
        "not_finite",
        with_batches(MIX0, MIX1, dataclasses.replace(SPLIT2, size=float("nan"))),
        "finite",
    ),
    ("negative_before_arrival", with_batches(Batch("Split", "Still", 0, 2, 5)), "stock -5 < 0"),
    (
        "hold_without_nis",
        with_batches(MIX0, Batch("M", "Mixer", 1, 2, 5, hold=True)),
        "cannot hold",
    ),
]


@pytest.mark.parametrize(("case", "schedule", "fragment"), BROKEN, ids=[c[0] for c in BROKEN])
def test_broken_schedules_are_caught(case: str, schedule: StnSchedule, fragment: str) -> None:
    problems = check_schedule(mix_split(), schedule).problems
    assert any(fragment in p for p in problems), problems


def test_storage_capacity_and_final_stock() -> None:
    states = tuple(State("M", 4, 0, -1) if s.name == "M" else s for s in mix_split().states)
    data = mix_split().replace(states=states, final_min=(("P2", 20),))
    problems = check_schedule(data, VALID).problems
    assert any("'M' at 1: stock 5 above the capacity 4" in p for p in problems), problems
    assert any("final stock 15 below the 20 required" in p for p in problems), problems


def test_demands() -> None:
    hard = mix_split().replace(demands=(Demand("P1", 3, 8),))
    assert check_schedule(hard, with_batches(MIX0, MIX1, SPLIT2, shipped=(8,))).ok
    short = check_schedule(hard, with_batches(MIX0, MIX1, SPLIT2, shipped=(5,))).problems
    assert any("must be met in full" in p for p in short), short
    early = check_schedule(
        hard.replace(demands=(Demand("P1", 2.5, 8),)),
        with_batches(MIX0, MIX1, SPLIT2, shipped=(8,)),
    ).problems
    assert any("'P1' at 2: stock -8 < 0" in p for p in early), early  # shipped at 2, made at 3
    soft = mix_split().replace(demands=(Demand("P1", 3, 12, 2.0),))
    check = check_schedule(soft, with_batches(MIX0, MIX1, SPLIT2, shipped=(10,)))
    assert check.ok
    assert check.penalty == pytest.approx(4.0)  # 2 short at 2 each
    assert check.objective == pytest.approx(84.5 - 4.0)  # shipped P1 keeps its price
    too_much = check_schedule(soft, with_batches(MIX0, MIX1, SPLIT2, shipped=(13,))).problems
    assert any("outside [0, 12]" in p for p in too_much), too_much
    missing = check_schedule(soft, VALID).problems
    assert any("ships 0 demands; the data has 1" in p for p in missing), missing


def test_cleaning_and_changeovers() -> None:
    cleaning = mix_split().replace(cleanings=(Cleaning("Mixer", "Mix", 1),))
    problems = check_schedule(cleaning, VALID).problems
    assert any("'Mix' at 1 starts before 2" in p for p in problems), problems
    changeover = mix_split().replace(changeovers=(Changeover("Mixer", "Mix", "Mix", 0.5),))
    problems = check_schedule(changeover, VALID).problems
    assert any("starts before 1.5" in p for p in problems), problems
    spaced = with_batches(Batch("Mix", "Mixer", 0, 1, 20), Batch("Split", "Still", 1, 3, 20))
    assert check_schedule(cleaning, spaced).ok and check_schedule(changeover, spaced).ok


def test_plant_state() -> None:
    busy = mix_split().replace(
        unit_init=(UnitInit("Mixer", 1, "Mix"),),
        changeovers=(Changeover("Mixer", "Mix", "Mix", 1),),
    )
    problems = check_schedule(busy, VALID).problems
    assert any("overlaps its initial state (busy until 1)" in p for p in problems), problems
    assert any("'Mix' at 1 starts before 2" in p for p in problems), problems
    running = mix_split().replace(in_progress=(BatchInProgress("Mix", "Mixer", -0.5, 20),))
    check = check_schedule(running, with_batches(Batch("Split", "Still", 1, 3, 20)))
    assert check.ok  # 20 M arrive at 0.5, usable from grid point 1
    assert check.stock["M"] == pytest.approx((0, 0, 0, 0, 0))
    assert check.stock["A"][0] == pytest.approx(30)  # the running batch drew its inputs before


def test_utilities_including_batches_in_progress() -> None:
    steam = dict(
        utilities=(Utility("Steam", 10, ((1, 4),)),),
        utility_uses=(UtilityUse("Mixer", "Mix", "Steam", 1, 0.25),),
    )
    data = mix_split().replace(**steam)
    check = check_schedule(data, with_batches(Batch("Mix", "Mixer", 0, 1, 20)))
    assert check.ok and check.utility_use["Steam"] == pytest.approx((6, 0, 0, 0))
    problems = check_schedule(data, with_batches(Batch("Mix", "Mixer", 1, 2, 20))).problems
    assert any("'Steam' over [1, 2): uses 6 of 4" in p for p in problems), problems


def test_objective_counts_costs() -> None:
    check = check_schedule(mix_split(), with_batches(Batch("Mix", "Mixer", 0, 1, 10)))
    assert check.ok
    assert check.objective == pytest.approx(-2 - 10)  # fixed 2; 10 M left at price -1


def nis_two_units() -> StnData:
    """T: A -> I (NIS) on U1 and U2 (1 h, <= 10); C: I -> P on U3 (1 h); Q: A -> R on U2."""
    return StnData(
        name="nis",
        states=(
            State("A", None, 100, 0),
            State("I", None, 0, 0, "none"),
            State("P", None, 0, 1),
            State("R", None, 0, 0.5),
        ),
        inputs=(Arc("A", "T", 1), Arc("I", "C", 1), Arc("A", "Q", 1)),
        outputs=(OutputArc("T", "I", 1, 1), OutputArc("C", "P", 1, 1), OutputArc("Q", "R", 1, 1)),
        unit_tasks=(
            UnitTask("U1", "T", 0, 10),
            UnitTask("U2", "T", 0, 10),
            UnitTask("U2", "Q", 0, 10),
            UnitTask("U3", "C", 0, 10),
        ),
        grid=Grid(0, 5, 1),
    )


def test_nis_material_waits_only_in_the_unit_that_made_it() -> None:
    data = nis_two_units()
    made = Batch("T", "U1", 0, 1, 10)
    used = Batch("C", "U3", 3, 4, 10)
    held_right = [Batch("I", "U1", 1, 2, 10, hold=True), Batch("I", "U1", 2, 3, 10, hold=True)]
    check = check_schedule(data, StnSchedule((made, *held_right, used)))
    assert check.ok, check.problems
    assert check.stock["I"] == pytest.approx((0,) * 6)
    elsewhere = [
        Batch("Q", "U2", 0, 1, 5),
        Batch("I", "U2", 1, 2, 10, hold=True),
        Batch("I", "U2", 2, 3, 10, hold=True),
    ]
    problems = check_schedule(data, StnSchedule((made, *elsewhere, used))).problems
    assert any(
        "hold of 'I' at 1 does not follow a batch of the unit that made or held it" in p
        for p in problems
    ), problems
    more = [
        Batch("T", "U1", 0, 1, 6),
        Batch("T", "U2", 0, 1, 4),
        Batch("I", "U1", 1, 2, 10, hold=True),
        Batch("I", "U1", 2, 3, 10, hold=True),
    ]
    problems = check_schedule(data, StnSchedule((*more, used))).problems
    assert any("keeps 10, more than the 6" in p for p in problems), problems
    late = [made, Batch("I", "U1", 2, 3, 10, hold=True)]
    problems = check_schedule(data, StnSchedule(tuple(late))).problems
    assert any("does not follow" in p for p in problems), problems  # a gap breaks the chain
    assert any("'I' at 1: stock 10 above the capacity 0" in p for p in problems), problems


def test_plant_state_can_hold_nis_material() -> None:
    data = nis_two_units().replace(unit_init=(UnitInit("U1", 1, "T", (("I", 8),)),))
    schedule = StnSchedule((Batch("I", "U1", 1, 2, 8, hold=True), Batch("C", "U3", 2, 3, 8)))
    check = check_schedule(data, schedule)
    assert check.ok, check.problems
    assert check.stock["P"][-1] == pytest.approx(8)
