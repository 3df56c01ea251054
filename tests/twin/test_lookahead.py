"""Lookahead dispatch (twin.lookahead): hand-computed cases and the rollout's guarantees."""

from __future__ import annotations

import copy
from typing import Any

import pyarrow as pa
import pytest

from twin.deterministic import with_mean_durations
from twin.dispatch import make_policy, policy_names
from twin.lookahead import Cost, Lookahead, log_cost, order_weight, plain_rules
from twin.scenario import load_dict
from twin.simulate import simulate

from .helpers import events

# One mixer, minor clean 0.5 h, major (product change) 3 h, 2 h a batch. o0 (product q) runs
# 0-2 h and leaves the mixer dirty with q. At 2 h two batches wait: A (product p, due 5 h,
# priority 3: weight 4) and B (product q, due 100 h).
#   B first (min_changeover: 0.5 h against 3 h): B 2.5-4.5, A cleaned 4.5-7.5, runs 7.5-9.5,
#     4.5 h late: cost 4 * 4.5 + makespan 9.5 + cleaning 3.5 = 31.
#   A first: A cleaned 2-5, runs 5-7 (2 h late), B cleaned 7-10, runs 10-12:
#     cost 4 * 2 + 12 + 6 = 26. The lookahead takes A first.
PLANT: dict[str, Any] = {
    "name": "lookahead_hand",
    "start": "2026-01-05T00:00:00",
    "simulation": {"horizon": "100h"},
    "dispatch": "min_changeover",
    "equipment_classes": {"mixer": {"cleaning": {"minor": "30min", "major": "3h"}}},
    "units": {"mix_1": {"class": "mixer"}},
    "products": {
        "p": {
            "batch_size": 100,
            "recipe": [{"name": "mix", "equipment_class": "mixer", "duration": "2h"}],
        },
        "q": {
            "batch_size": 100,
            "recipe": [{"name": "mix", "equipment_class": "mixer", "duration": "2h"}],
        },
    },  # fmt: skip
    "orders": [
        {"id": "o0", "product": "q", "quantity": 100, "release": 0, "due": "50h"},
        {"id": "A", "product": "p", "quantity": 100, "release": "1h", "due": "5h", "priority": 3},
        {"id": "B", "product": "q", "quantity": 100, "release": "1h", "due": "100h"},
    ],
}


def plant(**top: Any):
    data = copy.deepcopy(PLANT)
    data.update(top)
    return load_dict(data, "lookahead_hand")


def starts(run) -> dict[str, float]:
    return {e["order"]: e["t"] for e in events(run.events, "step_start")}


def log_bytes(table) -> bytes:
    """The log as Arrow IPC bytes (NaN values make ``Table.equals`` false on equal logs)."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def cost(run) -> float:
    """Weighted tardiness + makespan + cleaning started before it, from the log."""
    due = {e["order"]: e["value"] for e in events(run.events, "order_release")}
    prio = {"A": 3}
    done = {e["order"]: e["t"] for e in events(run.events, "order_complete")}
    mk = max(e["t"] for e in events(run.events, "step_end"))
    clean = sum(e["value"] for e in events(run.events, "clean_start") if e["t"] < mk)
    tard = sum(order_weight(prio.get(o, 0)) * max(0.0, done[o] - d) for o, d in due.items())
    return tard + mk + clean


def test_min_changeover_takes_the_cheap_clean_and_makes_the_urgent_order_late():
    run = simulate(plant())
    assert starts(run) == {"o0": 0.0, "B": 2.5, "A": 7.5}
    assert cost(run) == pytest.approx(31.0)


def test_lookahead_sees_the_lateness_and_takes_the_urgent_batch_first():
    policy = Lookahead()
    run = simulate(plant(), policy=policy)
    assert starts(run) == {"o0": 0.0, "A": 5.0, "B": 10.0}
    assert cost(run) == pytest.approx(26.0)
    assert policy.decisions == 1 and policy.rollouts == 2  # one contested decision, two futures


def test_the_cost_weights_decide():
    """Tardiness weighted at 0.1: 0.4 * 4.5 + 9.5 + 3.5 = 14.8 against 0.4 * 2 + 12 + 6 = 18.8,
    so the cheap clean first is now right."""
    run = simulate(plant(), policy=Lookahead(cost=Cost(tardiness=0.1)))
    assert starts(run)["B"] < starts(run)["A"]


def test_by_name_from_the_scenario_and_same_seed_same_log():
    sc = plant(dispatch="lookahead")
    a, b = simulate(sc, seed=3), simulate(sc, seed=3)
    assert log_bytes(a.events) == log_bytes(b.events)
    assert starts(a) == {"o0": 0.0, "A": 5.0, "B": 10.0}
    assert "lookahead" in policy_names() and "lookahead" not in plain_rules()


def test_when_the_rules_agree_it_is_its_base_rule():
    """With one batch waiting at a time there is nothing to decide: the log is the base
    rule's, event for event, and no future is run."""
    sc = plant(orders=[PLANT["orders"][0]])
    policy = Lookahead()
    ahead = simulate(sc, policy=policy).events
    assert log_bytes(ahead) == log_bytes(simulate(sc, policy=make_policy("min_changeover")).events)
    assert policy.rollouts == 0


def test_deterministically_never_worse_than_its_base_rule():
    """The rollout guarantee: on the deterministic twin, looking ahead to the end with the base
    rule deciding the rest can only improve on the base rule (reference plant, 2 weeks)."""
    from twin.deterministic import without_material_flow
    from twin.plant import generate_orders
    from twin.scenario import load

    sc = with_mean_durations(without_material_flow(load("scenarios/osd_plant.yaml")))
    sc = sc.model_copy(update={"simulation": sc.simulation.model_copy(update={"horizon": 336.0})})
    base = simulate(sc, policy=make_policy("min_changeover"))
    policy = Lookahead(window=None)
    ahead = simulate(sc, policy=policy)
    assert policy.decisions > 0

    orders = [(o.id, o.due, o.priority) for o in generate_orders(sc, 0, 0) if o.release <= 336]

    def c(run):
        return log_cost(run.events, 0.0, orders)

    assert c(ahead) <= c(base) + 1e-6


# --- idle cleaning --------------------------------------------------------------------------
# One mixer (minor clean 0.5 h, major 3 h, dirty hold 10 h: a dirty unit nobody claims gets
# the full clean, here the major one, at 10 h after its use) and an oven that never cleans.
# o0 (product p) mixes 0-2 h; what comes next decides whether to clean the idle mixer at 2 h:
# - p at 20 h: left, it is cleaned fully 12-15 h and runs 20-22 (cost 22 + 3 = 25); a minor
#   clean at once (2-2.5 h) keeps it fit for p: 22 + 0.5 = 22.5 (a major one: 25, no better);
# - q at 4 h: left, it is cleaned for q 4-7 h and runs 7-9 (9 + 3 = 12); a major clean at once
#   (2-5 h) has it ready sooner: 7 + 3 = 10 (a minor one: wasted, 9 + 3.5 = 12.5);
# - nothing, o0 bakes 2-10 h in the oven: the full clean at 12 h comes after the last step and
#   counts nothing (cost 10; the run ends with o0 at 10 h); any clean at once would count
#   (10.5, 13): leave it.
IDLE: dict[str, Any] = {
    "name": "idle_clean_hand",
    "start": "2026-01-05T00:00:00",
    "simulation": {"horizon": "100h"},
    "dispatch": "min_changeover",
    "equipment_classes": {
        "mixer": {"cleaning": {"minor": "30min", "major": "3h", "dirty_hold": "10h"}},
        "oven": {},
    },
    "units": {"mix_1": {"class": "mixer"}, "oven_1": {"class": "oven"}},
    "products": {
        "p": {"batch_size": 100,
              "recipe": [{"name": "mix", "equipment_class": "mixer", "duration": "2h"}]},
        "q": {"batch_size": 100,
              "recipe": [{"name": "mix", "equipment_class": "mixer", "duration": "2h"}]},
        "r": {"batch_size": 100,
              "recipe": [{"name": "mix", "equipment_class": "mixer", "duration": "2h"},
                         {"name": "bake", "equipment_class": "oven", "duration": "8h"}]},
    },
    "orders": [{"id": "o0", "product": "p", "quantity": 100, "release": 0, "due": "50h"}],
}  # fmt: skip


def idle_plant(orders: list[dict]):
    data = copy.deepcopy(IDLE)
    data["orders"] = orders
    return load_dict(data, "idle_clean_hand")


def cleans(run) -> list[tuple[float, str, float]]:
    return [(e["t"], e["state"], e["value"]) for e in events(run.events, "clean_start")]


def plain_cost(run) -> float:
    """Makespan + cleaning started before it (no order is late in these cases)."""
    mk = max(e["t"] for e in events(run.events, "step_end"))
    return mk + sum(v for t, _, v in cleans(run) if t < mk)


O0 = {"id": "o0", "product": "p", "quantity": 100, "release": 0, "due": "50h"}


@pytest.mark.parametrize(
    ("o1", "rule_cost", "rule_cleans", "ahead_cost", "ahead_first_clean"),
    [
        ({"product": "p", "release": "20h"}, 25.0, [(12.0, "full", 3.0)], 22.5,
         (2.0, "minor", 0.5)),
        ({"product": "q", "release": "4h"}, 12.0, [(4.0, "major", 3.0)], 10.0,
         (2.0, "major", 3.0)),
    ],
)  # fmt: skip
def test_lookahead_cleans_an_idle_unit_as_what_comes_next_needs(
    o1, rule_cost, rule_cleans, ahead_cost, ahead_first_clean
):
    sc = idle_plant([O0, {"id": "o1", "quantity": 100, "due": "50h", **o1}])
    rule = simulate(sc, policy=make_policy("min_changeover"))
    assert cleans(rule)[: len(rule_cleans)] == rule_cleans
    assert plain_cost(rule) == pytest.approx(rule_cost)
    policy = Lookahead()
    ahead = simulate(sc, policy=policy)
    assert cleans(ahead)[0] == ahead_first_clean
    assert plain_cost(ahead) == pytest.approx(ahead_cost)
    # one idle moment (the run ends with o1), three futures (leave, minor, major)
    assert policy.cleaning_decisions == 1 and policy.rollouts == 3


def test_lookahead_leaves_dirty_a_unit_nothing_will_need():
    sc = idle_plant([{**O0, "product": "r"}])
    policy = Lookahead()
    run = simulate(sc, policy=policy)
    assert cleans(run) == []
    assert plain_cost(run) == pytest.approx(10.0)
    assert policy.cleaning_decisions == 1


def test_without_clean_kinds_it_leaves_cleaning_to_the_plant():
    sc = idle_plant([O0, {"id": "o1", "product": "p", "quantity": 100, "release": "20h",
                          "due": "50h"}])  # fmt: skip
    policy = Lookahead(clean_kinds=())
    run = simulate(sc, policy=policy)
    assert log_bytes(run.events) == log_bytes(
        simulate(sc, policy=make_policy("min_changeover")).events
    )
    assert policy.cleaning_decisions == 0
    with pytest.raises(ValueError, match="clean_kinds"):
        Lookahead(clean_kinds=("full",))
