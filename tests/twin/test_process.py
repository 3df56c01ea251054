"""Process plants in the twin: a hand-computed STN event by event, mass conservation on the
reference plants, zero-wait, expiry, NIS holds, utility contention and determinism."""

from __future__ import annotations

import copy
import io
import math

import pytest
import yaml

from twin.eventlog import write_parquet
from twin.process import mass_balance, simulate_process
from twin.scenario import load, load_dict
from twin.simulate import simulate

from ..conftest import DATA, SCENARIOS
from .helpers import events

MIX_SPLIT = DATA / "process_mix_split.yaml"


def base() -> dict:
    return yaml.safe_load(MIX_SPLIT.read_text())


def run(data: dict, seed: int = 0):
    return simulate_process(load_dict(copy.deepcopy(data), "<test>"), seed)


def moves(table, to: str | None = None) -> list[tuple]:
    return [
        (e["t"], e["product"], e["state"], e["detail"], round(e["value"], 9))
        for e in events(table, "material_move")
        if to is None or e["detail"].startswith(to)
    ]


# --------------------------------------------------------------------------- by hand
def test_mix_split_event_by_event():
    """Mix (<= 80 kg, 1 h) makes M from 0.5 A + 0.5 B; Split (<= 100 kg, 2 h) gives 0.4 P1
    after 1 h and 0.6 P2 at its end. With 100 kg of A and B, worked out by hand:
    mix 80 at 0; at 1 M = 80, split takes all 80 and mix makes 80 more; at 2 only 20 kg of A
    and B are left, so mix makes 40; at 3 split 1 ends and split 2 takes the 80 there (the 40
    of mix 3 arrive the same instant, after it); split 3 takes those 40 at 5."""
    r = run(base())
    starts = [
        (e["t"], e["detail"], e["unit"], e["batch"], e["value"])
        for e in events(r.events, "task_start")
    ]
    assert starts == [
        (0.0, "mix", "mixer_1", 1, 80.0),
        (1.0, "split", "splitter_1", 2, 80.0),
        (1.0, "mix", "mixer_1", 3, 80.0),
        (2.0, "mix", "mixer_1", 4, 40.0),
        (3.0, "split", "splitter_1", 5, 80.0),
        (5.0, "split", "splitter_1", 6, 40.0),
    ]
    ends = [(e["t"], e["batch"], e["value"]) for e in events(r.events, "task_end")]
    assert ends == [
        (1.0, 1, 1.0),
        (2.0, 3, 1.0),
        (3.0, 2, 2.0),
        (3.0, 4, 1.0),
        (5.0, 5, 2.0),
        (7.0, 6, 2.0),
    ]
    # splitting: each split batch sends 40% to P1 an hour in, 60% to P2 at its end
    assert moves(r.events, "tank:P") == [
        (2.0, "P1", "unit:splitter_1", "tank:P1", 32.0),
        (3.0, "P2", "unit:splitter_1", "tank:P2", 48.0),
        (4.0, "P1", "unit:splitter_1", "tank:P1", 32.0),
        (5.0, "P2", "unit:splitter_1", "tank:P2", 48.0),
        (6.0, "P1", "unit:splitter_1", "tank:P1", 16.0),
        (7.0, "P2", "unit:splitter_1", "tank:P2", 24.0),
    ]
    # mixing: the mixer draws equal parts of A and B
    draws = [m for m in moves(r.events, "unit:mixer_1")]
    assert draws == [
        (0.0, "A", "tank:A", "unit:mixer_1", 40.0),
        (0.0, "B", "tank:B", "unit:mixer_1", 40.0),
        (1.0, "A", "tank:A", "unit:mixer_1", 40.0),
        (1.0, "B", "tank:B", "unit:mixer_1", 40.0),
        (2.0, "A", "tank:A", "unit:mixer_1", 20.0),
        (2.0, "B", "tank:B", "unit:mixer_1", 20.0),
    ]
    levels = [(e["t"], e["value"]) for e in events(r.events, "tank_level") if e["unit"] == "M"]
    assert levels == [(1.0, 80.0), (1.0, 0.0), (2.0, 80.0), (3.0, 0.0), (3.0, 40.0), (5.0, 0.0)]
    # the demand of 50 P1 at 8 h ships first made, first out: 32 + 18
    assert moves(r.events, "customer") == [
        (8.0, "P1", "tank:P1", "customer", 32.0),
        (8.0, "P1", "tank:P1", "customer", 18.0),
    ]
    last = {e["unit"]: e["value"] for e in events(r.events, "tank_level")}
    assert last == {"A": 0.0, "B": 0.0, "M": 0.0, "P1": 30.0, "P2": 120.0}
    k = r.kpis
    assert k["demand"]["fill_pct"] == 100.0 and k["batches"] == {"total": 6, "mix": 3, "split": 3}
    assert k["utilisation"] == {"mixer_1": 0.3, "splitter_1": 0.6}
    assert k["mass_balance"]["entered"] == 200.0 and k["mass_balance"]["max_error"] == 0.0


# --------------------------------------------------------------------------- mass
@pytest.mark.parametrize("name", ["api_plant", "mab_plant"])
def test_mass_is_conserved_at_every_instant_on_the_reference_plants(name):
    sc = load(SCENARIOS / f"{name}.yaml")
    r = simulate_process(sc, seed=1)
    mb = mass_balance(r.events)
    assert mb["entered"] > 10_000
    assert mb["relative_error"] < 1e-9, mb
    assert mb["lowest_unit_content"] > -1e-6 * mb["entered"]
    # at the end nothing is held by an idle unit, and tanks agree with the moves into them
    assert mb["entered"] == pytest.approx(
        mb["left"] + mb["discarded"] + mb["held_tanks"] + mb["held_units"], rel=1e-12
    )
    levels = [e["value"] for e in events(r.events, "tank_level")]
    assert min(levels) >= -1e-9
    capacity = {e["unit"]: e["value"] for e in events(r.events, "tank_added")}
    for e in events(r.events, "tank_level"):
        cap = capacity[e["unit"]]
        assert math.isnan(cap) or e["value"] <= cap + 1e-6, e
    assert r.kpis["batches"]["total"] > 50
    assert r.kpis["demand"]["fill_pct"] is not None


def test_same_seed_same_log_and_another_seed_another():
    sc = load(SCENARIOS / "mab_plant.yaml")

    def raw(seed: int) -> bytes:
        buf = io.BytesIO()
        write_parquet(simulate(sc, seed=seed).events, buf)
        return buf.getvalue()

    assert raw(3) == raw(3)
    assert raw(3) != raw(4)


def test_mab_plant_shows_pooling_cycles_expiry_and_a_four_week_run_is_quick():
    sc = load(SCENARIOS / "mab_plant.yaml")
    r = simulate(sc, seed=1)
    k = r.kpis
    assert r.wall_seconds < 5
    # several Protein A cycles per harvest, pooled for one viral inactivation
    assert k["batches"]["protein_a"] >= 3 * k["batches"]["harvest"] > 0
    assert k["batches"]["viral_inactivation"] < k["batches"]["protein_a"]
    assert k["discarded"]["by_reason"].get("expired", 0) > 0
    assert set(k["utilities"]) == {"cip", "wfi_loop"}


# --------------------------------------------------------------------------- rules
def zero_wait_plant(quench_hours: str) -> dict:
    """`hot` makes Z (zero-wait) every 2 h; `quench` on one unit takes it. A quench of 1 h
    is free for every batch; one of 3 h is busy when every second batch comes."""
    d = base()
    d["simulation"]["horizon"] = "8h"
    d["process"]["materials"] = {
        "A": {"initial": 300},
        "Z": {"storage": "zero_wait"},
        "Q": {},
    }
    d["process"]["tasks"] = {
        "hot": {
            "units": ["mixer_1"],
            "duration": "2h",
            "batch": {"min": 50, "max": 50},
            "inputs": {"A": 1.0},
            "outputs": [{"material": "Z", "fraction": 1.0}],
        },
        "quench": {
            "units": ["splitter_1"],
            "duration": quench_hours,
            "inputs": {"Z": 1.0},
            "outputs": [{"material": "Q", "fraction": 1.0}],
        },
    }
    d["process"]["demands"] = []
    return d


def test_zero_wait_successor_starts_at_once():
    r = run(zero_wait_plant("1h"))
    hot = [e["t"] for e in events(r.events, "task_end") if e["detail"] == "hot"]
    quench = [e["t"] for e in events(r.events, "task_start") if e["detail"] == "quench"]
    assert hot == [2.0, 4.0, 6.0, 8.0] and quench == hot
    assert not moves(r.events, "waste")


def test_zero_wait_batch_is_lost_when_the_successor_is_busy():
    r = run(zero_wait_plant("3h"))
    quench = [e["t"] for e in events(r.events, "task_start") if e["detail"] == "quench"]
    assert quench == [2.0, 6.0]  # busy at 4 (until 5) and at 8 (until 9)
    assert moves(r.events, "waste") == [
        (4.0, "Z", "unit:mixer_1", "waste:zero_wait", 50.0),
        (8.0, "Z", "unit:mixer_1", "waste:zero_wait", 50.0),
    ]
    assert r.kpis["discarded"]["by_reason"] == {"zero_wait": 100.0}
    assert r.kpis["mass_balance"]["max_error"] < 1e-9


def test_expired_material_is_discarded_and_logged():
    """M may wait 1.5 h; the splitter (2 h a batch) leaves the second 80 kg of M waiting
    from 2 h to 3 h (fine), and with a 30-min limit it expires at 2.5 h."""
    d = base()
    d["process"]["materials"]["M"]["max_hold"] = "30min"
    r = run(d)
    expired = moves(r.events, "waste:expired")
    assert expired == [(2.5, "M", "tank:M", "waste:expired", 80.0)]
    assert r.kpis["discarded"]["by_material"] == {"M": 80.0}
    assert r.kpis["mass_balance"]["max_error"] < 1e-9


def test_nis_material_waits_in_its_unit_which_is_blocked():
    """M without a tank: the mixer holds its 80 kg until the splitter takes it, and stays
    blocked (no new batch) meanwhile."""
    d = base()
    d["process"]["materials"]["M"] = {"storage": "none"}
    r = run(d)
    states = [(e["t"], e["state"]) for e in events(r.events, "state") if e["unit"] == "mixer_1"]
    assert (2.0, "blocked") in states
    mix = [e["t"] for e in events(r.events, "task_start") if e["detail"] == "mix"]
    split = [e["t"] for e in events(r.events, "task_start") if e["detail"] == "split"]
    assert mix == [0.0, 1.0, 3.0] and split == [1.0, 3.0, 5.0]
    assert moves(r.events, "unit:splitter_1")[1] == (
        3.0,
        "M",
        "unit:mixer_1",
        "unit:splitter_1",
        80.0,
    )


def test_utility_contention_shows_as_waiting():
    """Both tasks need the one steam unit: when the splitter (served first, downstream) has
    it, the mixer waits: from 1 to 3 h and from 4 to 6 h."""
    d = base()
    d["process"]["utilities"] = {"steam": {"capacity": 1}}
    for t in ("mix", "split"):
        d["process"]["tasks"][t]["utilities"] = {"steam": 1}
    r = run(d)
    mixer = [(e["t"], e["state"]) for e in events(r.events, "state") if e["unit"] == "mixer_1"]
    assert (1.0, "waiting_utility") in mixer and (4.0, "waiting_utility") in mixer
    starts = [(e["t"], e["detail"]) for e in events(r.events, "task_start")]
    assert starts[:4] == [(0.0, "mix"), (1.0, "split"), (3.0, "mix"), (4.0, "split")]
    use = [e["value"] for e in events(r.events, "utility_level")]
    assert max(use) == 1.0 and use[-1] == 0.0
    assert r.kpis["utilities"]["steam"]["peak"] == 1.0
    assert r.kpis["state_share"]["mixer_1"]["waiting_utility"] == pytest.approx(0.4)


def test_breakdowns_and_durations_come_from_the_scenario():
    d = base()
    d["simulation"]["horizon"] = "2w"
    d["process"]["materials"]["A"]["initial"] = 100_000
    d["process"]["materials"]["B"]["initial"] = 100_000
    d["equipment_classes"]["mixer"]["failures"] = {
        "mtbf": {"dist": "exponential", "mean": "10h"},
        "mttr": {"dist": "fixed", "value": "2h"},
    }
    d["process"]["tasks"]["split"]["duration"] = {"dist": "uniform", "low": "1h", "high": "3h"}
    r = run(d, seed=5)
    assert len(events(r.events, "breakdown")) > 5
    assert {e["unit"] for e in events(r.events, "breakdown")} == {"mixer_1"}
    lengths = {e["value"] for e in events(r.events, "task_end") if e["detail"] == "split"}
    assert len(lengths) > 10 and min(lengths) >= 1.0 and max(lengths) <= 3.0
    assert r.kpis["mass_balance"]["relative_error"] < 1e-9
