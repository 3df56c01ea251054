"""STN instances built in code: the Kondili plant over any horizon, a hand-checked example,
and a seeded generator of multi-product plants with the features of a real site.

They feed the tests and `benchmarks/bench_stn.py` (instances that are not in the public set);
`kondili(10)` is the public `kondili_stnscheduler_H10` instance.
"""

from __future__ import annotations

import random

from optimizer.stn_data import (
    Arc,
    Changeover,
    Cleaning,
    Demand,
    Grid,
    OutputArc,
    State,
    StnData,
    UnitTask,
    Utility,
    UtilityUse,
)

__all__ = ["kondili", "mix_split", "multiproduct_plant"]


def kondili(horizon: int = 10, feed_per_10: float = 200.0) -> StnData:
    """Kondili, Pantelides and Sargent (1993) as in jckantor/STN-Scheduler, over `horizon`
    periods of 1 h, with `feed_per_10` of each feed for every 10 h (so longer horizons are
    not starved). `kondili(10)` equals the public H10 instance."""
    feed = feed_per_10 * horizon / 10
    states = (
        State("FeedA", None, feed, 0),
        State("FeedB", None, feed, 0),
        State("FeedC", None, feed, 0),
        State("HotA", None, 0, -1),
        State("IntAB", None, 0, -1),
        State("IntBC", None, 0, -1),
        State("ImpureE", None, 0, -1),
        State("Product_1", None, 0, 10),
        State("Product_2", None, 0, 10),
    )
    inputs = (
        Arc("FeedA", "Heating", 1.0),
        Arc("FeedB", "Reaction_1", 0.5),
        Arc("FeedC", "Reaction_1", 0.5),
        Arc("FeedC", "Reaction_3", 0.2),
        Arc("HotA", "Reaction_2", 0.4),
        Arc("IntAB", "Reaction_3", 0.8),
        Arc("IntBC", "Reaction_2", 0.6),
        Arc("ImpureE", "Separation", 1.0),
    )
    outputs = (
        OutputArc("Heating", "HotA", 1.0, 1),
        OutputArc("Reaction_2", "IntAB", 0.6, 2),
        OutputArc("Reaction_2", "Product_1", 0.4, 2),
        OutputArc("Reaction_1", "IntBC", 1.0, 2),
        OutputArc("Reaction_3", "ImpureE", 1.0, 1),
        OutputArc("Separation", "IntAB", 0.1, 2),
        OutputArc("Separation", "Product_2", 0.9, 1),
    )
    units = (
        UnitTask("Heater", "Heating", 0, 100),
        UnitTask("Reactor_1", "Reaction_1", 0, 80),
        UnitTask("Reactor_2", "Reaction_1", 0, 50),
        UnitTask("Reactor_1", "Reaction_2", 0, 80),
        UnitTask("Reactor_2", "Reaction_2", 0, 50),
        UnitTask("Reactor_1", "Reaction_3", 0, 80),
        UnitTask("Reactor_2", "Reaction_3", 0, 50),
        UnitTask("Still", "Separation", 0, 200),
    )
    return StnData(
        name=f"kondili_H{horizon}",
        states=states,
        inputs=inputs,
        outputs=outputs,
        unit_tasks=units,
        grid=Grid(0, horizon, 1),
    )


def mix_split() -> StnData:
    """Two tasks, mixing and splitting, worked out by hand (optimum 84.5).

    Mix (Mixer, <= 20, 2 per batch): 0.5 A + 0.5 B -> M after 1. Split (Still, 5..25, 4 per
    batch + 0.5 per unit): M -> 0.4 P1 after 1 + 0.6 P2 after 2. Grid 0..4; P1 is worth 6, P2 3,
    M -1. Split occupies the Still for 2 periods and must end by 4, so it runs once, at 1 (with
    at most the 20 of one mix at 0) or at 2 (with up to 25 from mixes at 0 and 1). One unit of
    M split is worth 0.4 * 6 + 0.6 * 3 - 0.5 = 3.7: 25 split at 2 after two mixes gives
    25 * 3.7 - 4 - 2 * 2 = 84.5, better than 20 at 1 after one mix (74 - 4 - 2 = 68).
    """
    return StnData(
        name="mix_split",
        states=(
            State("A", None, 30, 0),
            State("B", None, 30, 0),
            State("M", None, 0, -1),
            State("P1", None, 0, 6),
            State("P2", None, 0, 3),
        ),
        inputs=(Arc("A", "Mix", 0.5), Arc("B", "Mix", 0.5), Arc("M", "Split", 1.0)),
        outputs=(
            OutputArc("Mix", "M", 1.0, 1),
            OutputArc("Split", "P1", 0.4, 1),
            OutputArc("Split", "P2", 0.6, 2),
        ),
        unit_tasks=(
            UnitTask("Mixer", "Mix", 0, 20, 2, 0),
            UnitTask("Still", "Split", 5, 25, 4, 0.5),
        ),
        grid=Grid(0, 4, 1),
    )


def multiproduct_plant(products: int = 3, horizon: int = 48, seed: int = 0) -> StnData:
    """A seeded multi-product batch plant over `horizon` periods of 1 h.

    Each product p: a reaction (two raw materials -> intermediate I_p, 2-4 h) on two of the
    shared reactors, with changeovers (2 h) between products and steam use (2 + 0.05 B; the
    boiler carries two full reactions at a time); an intermediate tank
    (finite, 60-120; every third product has no tank: NIS, the material waits in the reactor);
    a purification (I_p -> 0.9 product + 0.1 waste, 1-2 h) on one of two stills with a cleaning
    after each batch; products left at the end are worth 3-6, waste costs 1 to dispose of; two
    soft demands per product, one in each half of the horizon (60-120 per 48 h, penalty 25 a
    unit short), so the plan is driven by demand, not by filling the tanks."""
    rng = random.Random(seed)
    n_reactors = max(2, (products + 1) // 2 + 1)
    reactors = [f"Reactor_{r + 1}" for r in range(n_reactors)]
    stills = ["Still_1", "Still_2"]
    raws = ["RawA", "RawB", "RawC"]
    states = [State(r, None, 1e5, 0) for r in raws]
    states.append(State("Waste", None, 0, -1))
    inputs: list[Arc] = []
    outputs: list[OutputArc] = []
    units: list[UnitTask] = []
    uses: list[UtilityUse] = []
    cleanings: list[Cleaning] = []
    demands: list[Demand] = []
    reactions = []
    for p in range(1, products + 1):
        inter, prod = f"I{p}", f"P{p}"
        nis = p % 3 == 0
        states.append(
            State(
                inter,
                None if nis else float(rng.choice((60, 80, 100, 120))),
                0,
                -0.5,
                "none" if nis else "store",
            )
        )
        states.append(State(prod, None, 0, float(rng.randint(3, 6))))
        a, b = rng.sample(raws, 2)
        x = rng.choice((0.3, 0.4, 0.5, 0.6))
        react, purify = f"React{p}", f"Purify{p}"
        reactions.append(react)
        inputs += [Arc(a, react, x), Arc(b, react, round(1 - x, 10)), Arc(inter, purify, 1.0)]
        outputs += [
            OutputArc(react, inter, 1.0, rng.randint(2, 4)),
            OutputArc(purify, prod, 0.9, rng.randint(1, 2)),
            OutputArc(purify, "Waste", 0.1, 1),
        ]
        for unit in rng.sample(reactors, 2):
            size = float(rng.choice((40, 50, 60)))
            units.append(UnitTask(unit, react, 0.2 * size, size, 5.0, 0.1))
            uses.append(UtilityUse(unit, react, "Steam", 2.0, 0.05))
        still = stills[p % 2]
        units.append(UnitTask(still, purify, 10.0, 80.0, 3.0, 0.05))
        cleanings.append(Cleaning(still, purify, 1.0))
        for half in (0, 1):
            due = rng.randint(horizon // 4 + half * horizon // 2, (half + 1) * horizon // 2)
            amount = round(horizon / 48 * rng.randint(60, 120) / 10) * 10
            demands.append(Demand(prod, float(due), float(amount), 25.0))
    changeovers = [
        Changeover(ut.unit, ut.task, other.task, 2.0)
        for ut in units
        if ut.task in reactions
        for other in units
        if other.unit == ut.unit and other.task in reactions and other.task != ut.task
    ]
    return StnData(
        name=f"plant_{products}p_H{horizon}_s{seed}",
        states=tuple(states),
        inputs=tuple(inputs),
        outputs=tuple(outputs),
        unit_tasks=tuple(units),
        grid=Grid(0, horizon, 1),
        utilities=(Utility("Steam", 2 * (2.0 + 0.05 * 60)),),
        utility_uses=tuple(uses),
        cleanings=tuple(cleanings),
        changeovers=tuple(changeovers),
        demands=tuple(sorted(demands, key=lambda d: (d.time, d.state))),
    )
