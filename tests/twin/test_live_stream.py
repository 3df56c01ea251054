"""The internal event stream: duplicates dropped, sequenced sources released in order, gaps
reported then skipped and counted, unsequenced events re-ordered within the window, and the
position survives a restart."""

from __future__ import annotations

import random

from twin.live.events import LiveEvent
from twin.live.stream import Sequencer
from twin.state import Event


def ev(seq: int, t: float | None = None, source: str = "s", eid: str | None = None) -> LiveEvent:
    return LiveEvent(Event(seq if t is None else t, "state"), eid or f"{source}:{seq}", source, seq)


def loose(eid: str, t: float) -> LiveEvent:
    return LiveEvent(Event(t, "state"), eid)


def test_shuffled_and_duplicated_sequence_comes_out_once_in_order():
    rnd = random.Random(7)
    arrivals = [ev(i) for i in range(500)] + [ev(i) for i in rnd.sample(range(500), 120)]
    rnd.shuffle(arrivals)
    s = Sequencer()
    out = []
    for k, e in enumerate(arrivals):
        s.push(e, now=k * 1e-4)
        out += s.pop(now=k * 1e-4)
    out += s.pop(now=1.0)
    assert [e.seq for e in out] == list(range(500))
    assert s.duplicates == 120 and s.lost == 0 and s.held == 0


def test_a_gap_is_reported_after_the_timeout_then_skipped_and_counted():
    s = Sequencer(gap_timeout=1.0, give_up=5.0)
    for i in (0, 1, 2, 6, 7):
        s.push(ev(i), now=0.0)
    assert [e.seq for e in s.pop(0.0)] == [0, 1, 2]
    assert s.gaps(0.5) == []
    [gap] = s.gaps(1.5)
    assert (gap.source, gap.first, gap.last) == ("s", 3, 5)
    s.push(ev(4), now=2.0)  # part of the gap arrives (a replay)
    assert s.pop(2.0) == []
    assert [e.seq for e in s.pop(5.5)] == [4, 6, 7]  # 3 and 5 never came: skipped
    assert s.lost == 2 and s.gaps(6.0) == []


def test_a_filled_gap_releases_everything_and_loses_nothing():
    s = Sequencer(gap_timeout=0.1, give_up=10.0)
    for i in (0, 3, 4):
        s.push(ev(i), now=0.0)
    assert [e.seq for e in s.pop(0.0)] == [0]
    for i in (2, 1):
        s.push(ev(i), now=1.0)
    assert [e.seq for e in s.pop(1.0)] == [1, 2, 3, 4]
    assert s.lost == 0


def test_a_heartbeat_reveals_a_missing_tail():
    s = Sequencer(gap_timeout=0.5, give_up=3.0)
    s.push(ev(0), now=0.0)
    s.pop(0.0)
    s.announce("s", 4, now=0.1)
    s.pop(0.2)
    [gap] = s.gaps(1.0)
    assert (gap.first, gap.last) == (1, 4)
    assert s.pop(10.0) == [] and s.lost == 0  # nothing to skip to yet: not counted as lost


def test_unsequenced_events_are_put_back_in_time_order_within_the_window():
    s = Sequencer(window=0.2)
    s.push(loose("b", 2.0), now=0.0)
    s.push(loose("a", 1.0), now=0.1)  # crossed in delivery, within the window
    s.push(loose("a", 1.0), now=0.12)  # a duplicate by id
    assert s.pop(0.15) == []
    assert [e.id for e in s.pop(0.35)] == ["a", "b"]
    s.push(loose("c", 0.5), now=1.0)  # older than what went out: released, counted late
    assert [e.id for e in s.pop(1.3)] == ["c"]
    assert s.duplicates == 1 and s.late == 1


def test_position_survives_a_restart():
    s = Sequencer()
    for i in range(10):
        s.push(ev(i, source="a"), now=0.0)
    s.push(loose("x", 1.0), now=0.0)
    s.pop(1.0)
    again = Sequencer.from_checkpoint(s.checkpoint())
    assert again.push(ev(9, source="a"), now=0.0) is False  # applied before the restart
    assert again.push(loose("x", 1.0), now=0.0) is False
    assert again.push(ev(10, source="a"), now=0.0) is True
    assert [e.seq for e in again.pop(0.0)] == [10]


def test_a_gap_being_filled_is_neither_reported_again_nor_skipped():
    s = Sequencer(gap_timeout=1.0, give_up=3.0)
    for i in (0, 10):
        s.push(ev(i), now=0.0)
    out = s.pop(0.0)
    assert [g.first for g in s.gaps(1.5)] == [1]  # nothing came for 1.5 s: report it
    for k, i in enumerate(range(1, 10)):  # then a replay trickles in, one every 0.9 s
        now = 1.5 + 0.9 * (k + 1)
        s.push(ev(i), now=now)
        out += s.pop(now)
        assert s.gaps(now) == []  # progress: not reported again, not timed out
    assert [e.seq for e in out] == list(range(11)) and s.lost == 0
