"""The internal event stream: every adapter (MQTT, OPC UA, a test) hands its events to one
:class:`Sequencer`, which gives them back once each, in the plant's order.

- **Duplicates** (a QoS 1 redelivery, the same event over MQTT and OPC UA, a replayed range)
  are dropped by event identity: ``(source, seq)`` for sequenced sources, the event ``id``
  (the last :data:`ID_MEMORY` ids) for the others.
- **Sequenced sources** (events with ``src`` and ``seq``) are released strictly in ``seq``
  order. A missing number holds the events after it back; after ``gap_timeout`` seconds
  without progress the gap is reported (:meth:`Sequencer.gaps`: the live twin asks the source
  to send it again), and after ``give_up`` seconds without progress it is skipped and counted
  as lost. A source's heartbeat (:meth:`Sequencer.announce`) reveals a missing tail.
- **Unsequenced sources** (a MES that sends ids and times only) are held for ``window``
  seconds and released in time order, so deliveries that cross within the window are put
  back in order; an event older than what was already released is released at once (the fold
  counts it as out of order).

The sequencer never blocks and has no thread of its own: the live twin calls :meth:`push` for
each arrival and :meth:`pop` to take what is ready. Its position (next ``seq`` per source, the
recent ids) is saved with the plant state and restored on restart (:meth:`checkpoint`,
:meth:`from_checkpoint`), so a restarted twin drops what it already applied and asks for what
it missed.
"""

from __future__ import annotations

import heapq
import itertools
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from twin.live.events import LiveEvent

__all__ = ["Sequencer", "Gap", "ID_MEMORY", "MAX_HELD"]

ID_MEMORY = 100_000
"""Ids remembered for unsequenced events (a duplicate older than that is applied again)."""
MAX_HELD = 200_000
"""Events held back behind a gap, per source, before the gap is skipped at once."""


@dataclass
class Gap:
    """Numbers ``first..last`` of ``source`` have not arrived; ``since``: when the gap was
    seen, or the source last made progress filling it (a gap being filled is not timed out)."""

    source: str
    first: int
    last: int
    since: float


@dataclass
class _Source:
    next: int | None = None  # the next seq to release (None: not seen yet)
    held: list[tuple[int, int, LiveEvent]] = field(default_factory=list)  # heap by seq
    held_seqs: set[int] = field(default_factory=set)
    gap_since: float | None = None
    gap: Gap | None = None
    announced: int = -1  # the last seq the source said it published (heartbeat)
    announced_at: float = 0.0


class Sequencer:
    """Deduplicates and orders the events of all sources (see the module docstring)."""

    def __init__(
        self,
        window: float = 0.2,
        gap_timeout: float = 1.0,
        give_up: float = 15.0,
        now: float = 0.0,
    ) -> None:
        if not (window >= 0 and gap_timeout > 0 and give_up >= gap_timeout):
            raise ValueError("window >= 0, gap_timeout > 0 and give_up >= gap_timeout expected")
        self.window, self.gap_timeout, self.give_up = window, gap_timeout, give_up
        self.sources: dict[str, _Source] = {}
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._loose: list[tuple[float, int, float, LiveEvent]] = []  # (t, arrival, due, ev)
        self._arrivals = itertools.count()
        self._released_t = float("-inf")
        self.duplicates = 0
        self.lost = 0
        self.late = 0
        self.started = now

    # ------------------------------------------------------------------ input
    def push(self, ev: LiveEvent, now: float) -> bool:
        """Take one arrival; False if it was a duplicate (dropped)."""
        if ev.seq >= 0 and ev.source:
            src = self.sources.get(ev.source)
            if src is None:
                src = self.sources[ev.source] = _Source()
            if (src.next is not None and ev.seq < src.next) or ev.seq in src.held_seqs:
                self.duplicates += 1
                return False
            heapq.heappush(src.held, (ev.seq, next(self._arrivals), ev))
            src.held_seqs.add(ev.seq)
            return True
        if ev.id in self._ids:
            self.duplicates += 1
            self._ids.move_to_end(ev.id)
            return False
        self._ids[ev.id] = None
        if len(self._ids) > ID_MEMORY:
            self._ids.popitem(last=False)
        heapq.heappush(self._loose, (ev.event.t, next(self._arrivals), now + self.window, ev))
        return True

    def announce(self, source: str, last_seq: int, now: float) -> None:
        """A source's heartbeat: it has published up to ``last_seq`` (a gap at the tail shows)."""
        src = self.sources.get(source)
        if src is None:
            src = self.sources[source] = _Source()
        if last_seq > src.announced:
            src.announced, src.announced_at = last_seq, now

    # ------------------------------------------------------------------ output
    def pop(self, now: float) -> list[LiveEvent]:
        """The events ready to apply, in order (sequenced sources first, each in seq order)."""
        out: list[LiveEvent] = []
        for name, src in self.sources.items():
            self._release(name, src, now, out)
        if self._loose:
            self._release_loose(now, out)
        return out

    def _release(
        self, name: str, src: _Source, now: float, out: list[LiveEvent], skipping: bool = False
    ) -> None:
        held = src.held
        if src.next is None:
            if not held and src.announced < 0:
                return
            src.next = 0  # a new source: its history from the first number on
        start = src.next
        while held and held[0][0] == src.next:
            seq, _, ev = heapq.heappop(held)
            src.held_seqs.discard(seq)
            out.append(ev)
            src.next = seq + 1
        top = held[0][0] if held else (src.announced + 1 if src.announced >= src.next else None)
        if top is None or top <= src.next:
            src.gap_since, src.gap = None, None
            return
        if src.gap_since is None or (src.next > start and not skipping):
            src.gap_since = now  # a gap is timed from the last progress of its source
        if src.gap is None:
            src.gap = Gap(name, src.next, top - 1, src.gap_since)
        else:
            src.gap.first, src.gap.last, src.gap.since = src.next, top - 1, src.gap_since
        if now - src.gap_since >= self.give_up or len(held) > MAX_HELD:
            if not held:  # only announced: nothing to skip to, yet
                return
            # skip to the next event held; numbers still missing after it have been missing
            # as long (the same gap_since), so they are skipped too
            self.lost += held[0][0] - src.next
            src.next = held[0][0]
            self._release(name, src, now, out, skipping=True)

    def _release_loose(self, now: float, out: list[LiveEvent]) -> None:
        # the earliest event goes once its window has passed; later ones wait behind it
        loose = self._loose
        while loose and loose[0][2] <= now:
            t, _, _, ev = heapq.heappop(loose)
            if t < self._released_t - 1e-12:
                self.late += 1
            self._released_t = max(self._released_t, t)
            out.append(ev)

    def flush(self) -> list[LiveEvent]:
        """Everything held, in order, gaps skipped (counted as lost): at shutdown."""
        out: list[LiveEvent] = []
        for src in self.sources.values():
            while src.held:
                seq, _, ev = heapq.heappop(src.held)
                if src.next is not None and seq > src.next:
                    self.lost += seq - src.next
                out.append(ev)
                src.next = seq + 1
            src.held_seqs.clear()
        while self._loose:
            out.append(heapq.heappop(self._loose)[3])
        return out

    def gaps(self, now: float) -> list[Gap]:
        """Gaps open for at least ``gap_timeout`` seconds (ask their sources again)."""
        return [
            s.gap
            for s in self.sources.values()
            if s.gap is not None
            and s.gap_since is not None
            and now - s.gap_since >= self.gap_timeout
        ]

    @property
    def held(self) -> int:
        return sum(len(s.held) for s in self.sources.values()) + len(self._loose)

    # ------------------------------------------------------------------ restart
    def checkpoint(self) -> dict[str, Any]:
        """Plain data to resume from: where each source is, the recent ids."""
        return {
            "sources": {n: s.next for n, s in self.sources.items() if s.next is not None},
            "ids": list(self._ids)[-10_000:],
            "duplicates": self.duplicates,
            "lost": self.lost,
            "late": self.late,
        }

    @classmethod
    def from_checkpoint(cls, data: dict[str, Any], **options: Any) -> Sequencer:
        seq = cls(**options)
        for name, nxt in (data.get("sources") or {}).items():
            if isinstance(name, str) and isinstance(nxt, int) and nxt >= 0:
                seq.sources[name] = _Source(next=nxt)
        for i in data.get("ids") or []:
            if isinstance(i, str):
                seq._ids[i] = None
        for k in ("duplicates", "lost", "late"):
            if isinstance(data.get(k), int):
                setattr(seq, k, data[k])
        return seq
