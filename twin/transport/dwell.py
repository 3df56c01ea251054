"""Where idle vehicles wait (dwell points), learned from where requests come from.

:class:`DwellPolicy` holds the parameters, :class:`DwellPoints` the state of one fleet during a
run (request counts, weights, cached placements), :func:`expected_travel` the objective and
:func:`joint_dwell_points` the exact p-median of all idle vehicles (the ``joint`` variant).
The rule that uses them is :class:`twin.transport.rules.OptimisedDispatch`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from twin.transport.layout import Layout

__all__ = ["DwellPoints", "DwellPolicy", "expected_travel", "joint_dwell_points"]

_UNREACHABLE = 1e3  # hours: stands in for "no route" in the dwell-point costs


@dataclass(frozen=True)
class DwellPolicy:
    """Where idle vehicles wait: the parameters of :class:`DwellPoints`.

    - ``move_weight``: a repositioning of ``h`` hours must lower the expected empty travel to
      the next request event by more than ``move_weight * h`` (0: any gain is worth a move).
    - ``capacity``: vehicles that may wait beside one node (parking bays).
    - ``first_refresh``, ``refresh``: the request weights are re-estimated after
      ``first_refresh`` request events, then each time the count doubles, at most ``refresh``
      events apart.
    - ``half_life``: request events after which an observation counts half (None: all count
      the same; the reference plant's demand does not drift within a year).
    - ``joint``: re-solve the dwell points of *all* idle vehicles at every epoch (an exact
      p-median, :func:`joint_dwell_points`) instead of placing each vehicle once when it becomes
      idle. Kept for comparison: it moves parked vehicles around and does worse in the twin
      (see docs/logistics.md).
    """

    move_weight: float = 0.05
    capacity: int = 1
    first_refresh: int = 10
    refresh: int = 1000
    half_life: float | None = None
    joint: bool = False

    def __post_init__(self) -> None:
        if self.capacity < 1 or self.first_refresh < 1 or self.refresh < 1:
            raise ValueError(
                f'"capacity", "first_refresh" and "refresh" must be >= 1, got '
                f"{self.capacity!r}, {self.first_refresh!r} and {self.refresh!r}."
            )
        if self.half_life is not None and self.half_life <= 0:
            raise ValueError(f'"half_life" must be > 0 or None, got {self.half_life!r}.')
        if self.move_weight < 0:
            raise ValueError(f'"move_weight" must be >= 0, got {self.move_weight!r}.')


def expected_travel(travel: np.ndarray, weight: np.ndarray, nodes: Sequence[int]) -> float:
    """Expected empty travel (hours) to the next request event with idle vehicles at ``nodes``:
    ``sum_{o,j} weight[o, j] * (the (j+1)-th smallest travel[c, o] over c in nodes)``."""
    if not len(nodes):
        return math.inf
    near = np.sort(travel[list(nodes)], axis=0)  # [rank, origin]
    k = min(len(nodes), weight.shape[1])
    return float(np.sum(weight[:, :k].T * near[:k]))


def joint_dwell_points(
    travel: np.ndarray, weight: np.ndarray, p: int, capacity: int = 1
) -> np.ndarray | None:
    """The best places for ``p`` idle vehicles to wait, jointly: vehicles per node.

    ``travel[c, o]``: hours from node ``c`` to origin ``o``; ``weight[o, j]``: the probability
    that the next request event is at ``o`` and needs at least ``j + 1`` trips (so it falls
    with ``j``). With ``y_c`` vehicles waiting at ``c`` and ``x[o, j, c]`` = 1 if the
    (j+1)-th trip of an event at ``o`` is served from ``c``::

        min  sum_{o,j,c} weight[o, j] * travel[c, o] * x[o, j, c]
        s.t. sum_c y_c = p,   0 <= y_c <= capacity,  y integer
             sum_c x[o, j, c] = 1            for every (o, j) with weight > 0 and j < p
             sum_j x[o, j, c] <= y_c         for every (o, c)
             x >= 0

    which is :func:`expected_travel` minimised over placements (a p-median whose customers
    may need several distinct vehicles: a burst of pallets). For fixed ``y`` the ``x`` part is
    a transportation problem per origin, integral, and since ``weight`` falls with ``j`` its
    optimum serves the first trip from the nearest vehicle, the second from the next nearest,
    and so on; so only ``y`` needs to be integer. Solved exactly by HiGHS
    (``scipy.optimize.milp``, about 15 ms on the 33-node reference layout). None if nothing
    has weight.
    """
    from scipy.optimize import Bounds, LinearConstraint, milp
    from scipy.sparse import coo_matrix

    n_c, n_o = travel.shape
    ranks = range(min(p, weight.shape[1]))
    slots = [(o, j) for o in range(n_o) for j in ranks if weight[o, j] > 0]
    if not slots or p < 1:
        return None
    n_x = len(slots) * n_c
    cost = np.zeros(n_c + n_x)
    for k, (o, j) in enumerate(slots):
        cost[n_c + k * n_c : n_c + (k + 1) * n_c] = weight[o, j] * travel[:, o] * 3600.0
    rows: list[np.ndarray] = [np.zeros(n_c, dtype=int)]  # sum_c y_c = p
    cols: list[np.ndarray] = [np.arange(n_c)]
    vals: list[np.ndarray] = [np.ones(n_c)]
    lo, hi = [float(p)], [float(p)]
    for k in range(len(slots)):  # each slot served once
        rows.append(np.full(n_c, 1 + k))
        cols.append(n_c + k * n_c + np.arange(n_c))
        vals.append(np.ones(n_c))
        lo.append(1.0)
        hi.append(1.0)
    by_origin: dict[int, list[int]] = {}
    for k, (o, _) in enumerate(slots):
        by_origin.setdefault(o, []).append(k)
    r = 1 + len(slots)
    for ks in by_origin.values():  # the slots of one origin use distinct vehicles at c
        for c in range(n_c):
            rows.append(np.full(len(ks) + 1, r))
            cols.append(np.array([n_c + k * n_c + c for k in ks] + [c]))
            vals.append(np.array([1.0] * len(ks) + [-1.0]))
            lo.append(-np.inf)
            hi.append(0.0)
            r += 1
    a = coo_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=(r, n_c + n_x),
    ).tocsr()
    upper = np.ones(n_c + n_x)
    upper[:n_c] = max(capacity, math.ceil(p / n_c))
    integral = np.zeros(n_c + n_x)
    integral[:n_c] = 1
    res = milp(
        cost,
        constraints=LinearConstraint(a, lo, hi),
        integrality=integral,
        bounds=Bounds(0.0, upper),
        options={"mip_rel_gap": 0.0},
    )
    if res.x is None:
        return None
    return np.rint(res.x[:n_c]).astype(int)


class DwellPoints:
    """Where the idle vehicles of one fleet wait; learns where requests come from as it runs.

    Weights: every request event (the trips requested from one origin at one instant) is
    counted per origin and per number of trips; after ``policy.first_refresh`` events, and
    again each time the count doubles (at most ``policy.refresh`` events apart), the counts
    become ``weight[o, j]``, the share of events at ``o`` with more than ``j`` trips. The
    run's own history, so deterministic; the first events (in the warm-up) place nothing.

    Placement (``spot``): a vehicle that becomes idle at ``here`` waits at

        argmin_c  expected_travel(others + [c]) + move_weight * travel(here, c)

    over every node ``c`` with a free bay, the other idle vehicles staying where they wait
    (repositioning ones counted at their dwell point). An exact 1-median given the others, by
    enumeration (33 nodes on the reference plant, well under a millisecond, cached per
    situation); a vehicle, once placed, is not moved again until it has worked. ``plan`` is
    the joint alternative (``policy.joint``): the exact p-median of
    :func:`joint_dwell_points` for the number of idle vehicles (cached until the next
    refresh), vehicles mapped to its points by a minimum-travel assignment, and moved only if
    the gain exceeds ``move_weight`` times the travel.
    """

    def __init__(self, policy: DwellPolicy, layout: Layout, vehicles: int) -> None:
        self.policy = policy
        self.names = list(layout.names)
        self.index = {x: i for i, x in enumerate(self.names)}
        hours = np.array([[layout.distance(a, b) for b in self.names] for a in self.names])
        self.travel = np.where(np.isfinite(hours), hours, _UNREACHABLE)  # [from, to]
        self.counts = np.zeros((len(self.names), max(1, vehicles)))  # events with > j trips
        self._keep = 0.5 ** (1.0 / policy.half_life) if policy.half_life else 1.0
        self._instant = -math.inf
        self._open: dict[int, int] = {}
        self.events = 0
        self._next_refresh = policy.first_refresh
        self.weight: np.ndarray | None = None
        self._spots: dict[tuple[tuple[str, ...], str], str] = {}
        self._table: dict[int, np.ndarray | None] = {}
        self._plans: dict[tuple[str, ...], list[str]] = {}

    def observe(self, origin: str, trips: int, now: float) -> None:
        """A request of ``trips`` trips from ``origin`` at ``now``."""
        if now != self._instant:
            self._flush()
            self._instant = now
        i = self.index[origin]
        self._open[i] = self._open.get(i, 0) + trips

    def _flush(self) -> None:
        for i, k in self._open.items():
            if self._keep < 1.0:
                self.counts *= self._keep
            self.counts[i, : min(k, self.counts.shape[1])] += 1.0
            self.events += 1
        self._open.clear()
        if self.events >= self._next_refresh:
            self.weight = self.counts / self.counts[:, 0].sum()
            self._spots.clear()
            self._table.clear()
            self._plans.clear()
            self._next_refresh = self.events + min(self.events, self.policy.refresh)

    def spot(self, others: Sequence[str], here: str) -> str:
        """Where a vehicle now at ``here`` should wait, the others waiting at ``others``."""
        if self.weight is None:
            return here
        key = (tuple(sorted(others)), here)
        out = self._spots.get(key)
        if out is None:
            out = self._spots[key] = self._spot([self.index[x] for x in key[0]], self.index[here])
        return out

    def _spot(self, others: list[int], here: int) -> str:
        assert self.weight is not None
        n = len(self.names)
        travel = self.travel  # [candidate, origin]
        ranked = np.sort(travel[others], axis=0)  # [rank, origin]
        f = self.policy.move_weight * travel[here]
        for j in range(min(len(others) + 1, self.weight.shape[1])):
            # the (j+1)-th shortest travel to each origin with a vehicle added at each
            # candidate: the candidate's own travel, clamped between the others' j-th and
            # (j+1)-th
            lo = ranked[j - 1] if j > 0 else -math.inf
            hi = ranked[j] if j < len(others) else math.inf
            f = f + np.minimum(np.maximum(travel, lo), hi) @ self.weight[:, j]
        f = np.round(f * 3600.0, 6)  # seconds, to the microsecond: ties go to the first node
        used = np.bincount(np.asarray(others, dtype=int), minlength=n)
        f[used >= self.policy.capacity] = np.inf
        best = int(np.argmin(f))
        if not np.isfinite(f[best]) or f[here] <= f[best]:
            return self.names[here]
        return self.names[best]

    def plan(self, positions: Sequence[str]) -> list[str]:
        """``policy.joint``: where each idle vehicle (at ``positions``) should wait."""
        key = tuple(positions)
        out = self._plans.get(key)
        if out is None:
            out = self._plans[key] = self._plan(key)
        return out

    def _plan(self, positions: tuple[str, ...]) -> list[str]:
        from scipy.optimize import linear_sum_assignment

        if self.weight is None or not positions:
            return list(positions)
        p = len(positions)
        if p not in self._table:
            y = joint_dwell_points(self.travel, self.weight, p, self.policy.capacity)
            self._table[p] = None if y is None else np.repeat(np.arange(len(y)), y)
        points = self._table[p]
        if points is None:
            return list(positions)
        here = [self.index[x] for x in positions]
        cost = self.travel[np.ix_(here, points)]
        rows, cols = linear_sum_assignment(cost)
        target = [int(points[c]) for c in cols[np.argsort(rows)]]
        gain = expected_travel(self.travel, self.weight, here) - expected_travel(
            self.travel, self.weight, target
        )
        if gain <= self.policy.move_weight * float(cost[rows, cols].sum()):
            return list(positions)
        return [self.names[t] for t in target]
