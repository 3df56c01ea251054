"""What the fold (``twin.state.fold``) works on: one event of the log with its names
resolved, and the fold's running records of a unit and a batch (read out as ``PlantState``)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from twin.rules import CleanState


@dataclass(slots=True)
class Event:
    """One event of the log schema (``twin.eventlog``), names resolved."""

    t: float
    kind: str
    unit: str | None = None
    batch: int = -1
    order: str | None = None
    product: str | None = None
    step: int = -1
    state: str | None = None
    value: float = math.nan
    detail: str | None = None


@dataclass
class UnitRecord:
    name: str
    cls: str
    state: str = "idle"
    since: float = 0.0
    holder: int = -1
    activity: str | None = None
    activity_kind: str | None = None
    activity_since: float = 0.0
    activity_hours: float | None = None
    clean: CleanState = field(default_factory=CleanState)
    operating_h: float = 0.0
    spell: float | None = None  # start of the current processing spell
    batches_since_maintenance: int = 0
    last_maintenance: float | None = None


@dataclass
class BatchRecord:
    id: int
    order: str
    index: int
    product: str
    size: float
    released: float
    step: int = 0
    phase: str = "queued"
    since: float = 0.0
    unit: str | None = None
    processed_h: float = 0.0
    setup_hours: float | None = None
    hold_deadline: float | None = None
    hold_flagged: bool = False
    quarantine_since: float | None = None
    qc_hands_on: float | None = None
