"""Reservations of nodes and segments: one vehicle each, whole routes granted atomically.

Before it moves, a vehicle reserves its *whole* route (all nodes and segments) at once and
releases each piece as soon as it has passed it. A stopped vehicle (idle, loading, unloading,
charging, waiting for a route) stands in a bay beside its node and holds nothing. So no
vehicle ever holds a resource while waiting for another (no hold-and-wait), which rules out
deadlock by construction. Waiting routes are granted in arrival order: a route that is
waiting claims its resources, and a later route may only overtake it if it needs none of them,
so no vehicle waits forever either (every held resource is released within one route's travel
time).
"""

from __future__ import annotations

import simpy

__all__ = ["Traffic"]


class Traffic:
    """Reservations of nodes and segments: one vehicle each, whole routes granted atomically."""

    def __init__(self, env: simpy.Environment, n: int) -> None:
        self.env = env
        self.holder: list[int] = [-1] * n
        self.waiting: list[tuple[frozenset[int], simpy.Event, int]] = []

    def reserve(self, vehicle: int, resources: frozenset[int]) -> simpy.Event:
        ev = self.env.event()
        self.waiting.append((resources, ev, vehicle))
        self._grant()
        return ev

    def free(self, resources: frozenset[int]) -> bool:
        """Whether a route over these resources would be granted at once: none is held and no
        waiting route claims any (waiting routes are all blocked between grants)."""
        holder = self.holder
        if any(holder[r] >= 0 for r in resources):
            return False
        return all(res.isdisjoint(resources) for res, _, _ in self.waiting)

    def blocker(self, resources: frozenset[int]) -> int:
        """A held resource among these (the smallest id), or -1."""
        held = [r for r in resources if self.holder[r] >= 0]
        return min(held) if held else -1

    def release(self, *resources: int) -> None:
        for r in resources:
            self.holder[r] = -1
        if self.waiting:
            self._grant()

    def _grant(self) -> None:
        holder = self.holder
        claimed: set[int] = set()
        keep = []
        for item in self.waiting:
            res, ev, vehicle = item
            if any(holder[r] >= 0 for r in res) or not claimed.isdisjoint(res):
                claimed |= res
                keep.append(item)
                continue
            for r in res:
                holder[r] = vehicle
            ev.succeed()
        self.waiting = keep
