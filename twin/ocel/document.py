"""The OCEL 2.0 document in memory, between the twin's table and a file of either form
(JSON or SQLite), and the limits and constants both directions share."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MAX_JSON_BYTES = 1 << 30
"""The largest OCEL JSON file read (1 GiB; parsing needs several times that in memory)."""
MAX_SQLITE_BYTES = 4 << 30
"""The largest OCEL SQLite file read (4 GiB)."""
FORMAT_VERSION = 1
"""Version of the ``pharmatwin`` metadata block."""
EPOCH = "1970-01-01T00:00:00Z"
"""OCEL's time of static (initial) object attribute values."""
SQL_TYPES = {
    "string": "TEXT",
    "integer": "INTEGER",
    "float": "REAL",
    "time": "TIMESTAMP",
    "boolean": "BOOLEAN",
}
SQL_BACK = {"TEXT": "string", "INTEGER": "integer", "REAL": "float", "TIMESTAMP": "time"}
SQLITE_TABLES = ("event", "event_object", "object", "event_map_type", "object_map_type")


@dataclass(frozen=True)
class OcelSummary:
    """What an export wrote."""

    path: Path
    format: str
    events: int
    objects: int
    event_types: int
    object_types: int


# --------------------------------------------------------------------------- the OCEL document
@dataclass(slots=True)
class OcelEvent:
    id: str
    type: str
    time: str
    attributes: list[tuple[str, Any]]
    relationships: list[tuple[str, str]]


@dataclass(slots=True)
class OcelObject:
    id: str
    type: str
    attributes: list[tuple[str, Any, str]] = field(default_factory=list)  # name, value, time
    relationships: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class OcelDoc:
    """An OCEL 2.0 log in memory, between the twin's table and a file of either form."""

    event_types: dict[str, dict[str, str]]
    object_types: dict[str, dict[str, str]]
    events: list[OcelEvent]
    objects: dict[str, OcelObject]
    meta: dict[str, Any] | None = None
    where: Callable[[int], str] = str  # locates event i in its file, for messages


def quote_name(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
