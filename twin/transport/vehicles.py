"""What the fleet works with: vehicles (AGVs), transport requests split into trips, and the
states a vehicle is logged in."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import simpy

__all__ = ["AGV_STATES", "Job", "Trip", "Vehicle"]

AGV_STATES = ("idle", "empty", "loaded", "traffic", "handling", "charging", "repositioning")


@dataclass(eq=False)
class Vehicle:
    """One AGV: where it is, its battery (kWh) and what it is doing."""

    name: str
    index: int
    code: int
    node: str
    battery: float
    state: str = ""
    busy: bool = False
    idle_since: float = 0.0  # when it last became idle (fcfs)
    drained_at: float = 0.0  # idle drain is booked up to here
    # repositioning (rules with dwell points): driving empty to ``dwell``; a trip may claim the
    # vehicle, which then stops at ``heading`` (the next node, reached at ``arrive_at``)
    relocating: bool = False
    dwell: str | None = None
    heading: str | None = None
    arrive_at: float = 0.0
    claim: Trip | None = field(default=None, repr=False)
    settled: bool = False  # its dwell point was chosen since it last became idle


@dataclass(eq=False)
class Job:
    """One transport request: its trips (one vehicle load each), what to call once the last
    load is picked up, and the event that fires when all are delivered."""

    trips: int
    on_pickup: Callable[[], None] | None
    done: simpy.Event
    picked: int = 0
    delivered: int = 0


@dataclass(eq=False)
class Trip:
    """One vehicle load of a request, from origin to destination."""

    seq: int
    origin: str
    dest: str
    loads: int
    due: float
    created: float
    batch: int
    code: int  # interned request id
    job: Job = field(repr=False)
