"""OCEL 2.0 export and import of the event log, JSON and SQLite, on ``json`` and ``sqlite3``.

Export (:func:`export_ocel`): every row of the log is one event whose type is its kind. The
columns that name objects (``twin.log_schema.SCHEMA``) become event-to-object relationships
with a qualifier, the others event attributes; the object changes the table declares become
time-stamped object attributes (a unit's ``state``, a batch's ``status`` and ``step``, a lot's
``status`` and remaining ``quantity``, a vehicle's ``battery_kwh``), and objects that events
relate together get object-to-object relations (batch -> order, batch -> product, lot ->
material, unit -> equipment class, ...). Object ids are ``<type>:<name>`` (``unit:press_1``,
``batch:12``), unique across types as OCEL requires. Times are ISO 8601 to the microsecond
from the scenario's calendar start; the twin has no time zone, so its wall clock is written
as UTC (``Z``). Attribute values are written as JSON strings, as the official OCEL 2.0 JSON
schema requires, with each attribute's type declared in ``eventTypes`` / ``objectTypes``. A
``pharmatwin`` block (JSON) or ``pharmatwin_meta`` table (SQLite) keeps the start and the run's
metadata; OCEL readers ignore it.

Import (:func:`import_ocel`) reads both forms back into the twin's table: export then import
gives the same rows and values, times within a microsecond. Logs from other systems are mapped
by the convention in ``docs/event_logs.md``: event types are twin kinds or their aliases
(``log_schema.EVENT_ALIASES``), object types fill the columns the kind's row gives that type
(aliases in ``log_schema.OBJECT_TYPE_ALIASES``), attributes fill columns by name. There, units
named as objects get a ``unit_added`` event at the start, a unit's ``state`` (or ``status``)
object attribute changes become ``state`` events, and a batch event without its order or
product takes them from the batch's object-to-object relations. Event types that map to no
kind are an error naming them (or are left out with ``unmapped="skip"``).

Modules: ``document`` (the OCEL document in memory, limits), ``export`` (table -> document ->
file), ``readers`` (file -> document, checked), ``to_table`` (document -> table: the import
convention).
"""

from twin.ocel.document import FORMAT_VERSION, MAX_JSON_BYTES, MAX_SQLITE_BYTES, OcelSummary
from twin.ocel.export import export_ocel
from twin.ocel.to_table import import_ocel

__all__ = [
    "export_ocel",
    "import_ocel",
    "OcelSummary",
    "MAX_JSON_BYTES",
    "MAX_SQLITE_BYTES",
    "FORMAT_VERSION",
]
