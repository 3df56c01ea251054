"""Reader for vehicle-routing instances with time windows in VRPLIB format (Solomon style).

A file starts with `KEY : VALUE` header lines (NAME, TYPE, DIMENSION, VEHICLES, CAPACITY,
EDGE_WEIGHT_TYPE, COMMENT) followed by sections, each a keyword line and then one line per node:

    NODE_COORD_SECTION    id x y
    DEMAND_SECTION        id demand
    TIME_WINDOW_SECTION   id earliest latest
    SERVICE_TIME_SECTION  id duration
    DEPOT_SECTION         id ... -1

Nodes are numbered 1..DIMENSION; the file ends with EOF (optional). Distances follow the
convention of the published Solomon optima: d(i, j) = floor(10 * euclidean(i, j)) / 10, and the
travel time equals that truncated distance. The VEHICLES line is kept but is not binding for
the published optima (the fleet is free, the objective is total distance).

The `vrplib` package (the reader PyVRP uses) parses the text; this module checks what it read
against what a VRPTW instance must be, and says where a file goes wrong. `vrplib` drops the
node ids and line numbers, so `_locate` keeps, for each header key and section row, the line
it came from (the same lines `vrplib` reads: not blank, not `#` comments, up to EOF): every
problem is an `InstanceFormatError` naming the file, the line, the bad value and what was
expected.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from optimizer.formats import InstanceFormatError, read_text

if TYPE_CHECKING:
    from optimizer.routing import RoutingData

__all__ = [
    "MAX_CUSTOMERS",
    "MAX_NUMBER",
    "VrplibInstance",
    "parse_vrplib",
    "read_vrplib",
    "solomon_distance",
    "to_routing_data",
]

_SECTIONS = {  # values per row after the node id
    "NODE_COORD_SECTION": 2,
    "DEMAND_SECTION": 1,
    "TIME_WINDOW_SECTION": 2,
    "SERVICE_TIME_SECTION": 1,
    "DEPOT_SECTION": 0,
}
_REQUIRED = ("NODE_COORD_SECTION", "DEMAND_SECTION", "TIME_WINDOW_SECTION", "DEPOT_SECTION")

MAX_CUSTOMERS = 1_000
"""Customers in one instance (the largest VRPTW sets, Gehring and Homberger, have 1,000): the
distance matrix is held in full."""
MAX_NUMBER = 10_000_000
"""Largest coordinate (in absolute value), demand, capacity, time or service time. Solomon values
are below 1,000 and Gehring-Homberger ones below 10,000; up to 1e7 distances and times stay
exact in HiGHS (1e-9 relative tolerances) and within PyVRP's integers after scaling."""


@dataclass(frozen=True)
class VrplibInstance:
    """An immutable VRPTW instance; node 0 in every tuple is the depot.

    `coords[i]`, `demands[i]`, `windows[i]` (earliest, latest start of service) and
    `service_times[i]` describe node i; nodes are renumbered so that the depot comes first and
    the customers follow in the order of their ids. `customer_ids[i - 1]` is the file id of
    customer node i.
    """

    name: str
    capacity: float
    vehicles: int | None
    coords: tuple[tuple[float, float], ...]
    demands: tuple[float, ...]
    windows: tuple[tuple[float, float], ...]
    service_times: tuple[float, ...]
    customer_ids: tuple[int, ...]

    @property
    def n_customers(self) -> int:
        return len(self.coords) - 1

    def distance(self, i: int, j: int) -> float:
        """Truncated Euclidean distance between nodes i and j (the Solomon convention)."""
        return solomon_distance(self.coords[i], self.coords[j])


def solomon_distance(a: tuple[float, float], b: tuple[float, float]) -> float:
    """floor(10 * euclidean(a, b)) / 10, exact for integer coordinates."""
    dx, dy = a[0] - b[0], a[1] - b[1]
    if float(dx).is_integer() and float(dy).is_integer():
        return math.isqrt(int(100 * (dx * dx + dy * dy))) / 10
    return math.floor(10 * math.hypot(dx, dy) + 1e-9) / 10


def read_vrplib(path: str | Path, name: str | None = None) -> VrplibInstance:
    """Read a VRPLIB VRPTW file, named after the file stem unless `name` is given."""
    path = Path(path)
    text = read_text(path)
    return parse_vrplib(text, source=str(path), name=name or path.stem)


def parse_vrplib(text: str, source: str = "<string>", name: str = "vrptw") -> VrplibInstance:
    """Parse the text of a VRPLIB VRPTW instance; `source` names it in error messages."""
    from vrplib.parse import parse_vrplib as vrplib_parse

    where = _locate(text, source)
    for key in _REQUIRED:
        if key not in where.sections:
            raise InstanceFormatError(source, where.last, f"section {key} is missing.")
    dimension = _header_int(where, "DIMENSION", minimum=2, maximum=MAX_CUSTOMERS + 1)
    capacity = _header_number(where, "CAPACITY")
    vehicles = None
    if "VEHICLES" in where.specs:
        vehicles = _header_int(where, "VEHICLES", minimum=1, maximum=10 * MAX_CUSTOMERS)
    if "EDGE_WEIGHT_TYPE" in where.specs:
        line_no, value = where.specs["EDGE_WEIGHT_TYPE"]
        if value.upper() != "EUC_2D":
            raise InstanceFormatError(
                source, line_no, f"EDGE_WEIGHT_TYPE is {value!r}; expected EUC_2D."
            )
    try:
        raw = vrplib_parse(text, compute_edge_weights=False)
    except Exception as exc:  # anything the structure checks above did not foresee
        raise InstanceFormatError(
            source, 0, f"vrplib cannot read it ({exc}); expected a VRPLIB VRPTW instance."
        ) from exc

    coords = _by_node(where, raw, "NODE_COORD_SECTION", dimension)
    demands = _by_node(where, raw, "DEMAND_SECTION", dimension)
    windows = _by_node(where, raw, "TIME_WINDOW_SECTION", dimension)
    if "SERVICE_TIME_SECTION" in where.sections:
        services = _by_node(where, raw, "SERVICE_TIME_SECTION", dimension)
    else:
        services = {i: (0, (0.0,)) for i in range(1, dimension + 1)}
    depot = _depot(where, dimension)

    for node, (line_no, (value,)) in demands.items():
        if value < 0:
            raise InstanceFormatError(
                source, line_no, f"node {node} has demand {value:g}; expected a number >= 0."
            )
    for node, (line_no, (early, late)) in windows.items():
        if early < 0 or early > late:
            raise InstanceFormatError(
                source,
                line_no,
                f"node {node} has time window [{early:g}, {late:g}]; expected "
                "0 <= earliest <= latest.",
            )
    for node, (line_no, (value,)) in services.items():
        if value < 0:
            raise InstanceFormatError(
                source, line_no, f"node {node} has service time {value:g}; expected >= 0."
            )

    order = [depot] + [i for i in range(1, dimension + 1) if i != depot]
    return VrplibInstance(
        name=name,
        capacity=capacity,
        vehicles=vehicles,
        coords=tuple((coords[i][1][0], coords[i][1][1]) for i in order),
        demands=tuple(demands[i][1][0] for i in order),
        windows=tuple((windows[i][1][0], windows[i][1][1]) for i in order),
        service_times=tuple(services[i][1][0] for i in order),
        customer_ids=tuple(order[1:]),
    )


def to_routing_data(instance: VrplibInstance, fleet_from_file: bool = False) -> RoutingData:
    """The instance as single-class (ambient) routing data with the Solomon distances.

    The fleet is free unless `fleet_from_file` makes the VEHICLES line binding.
    """
    from optimizer.routing import Customer, Depot, RoutingData, VehicleType

    n = len(instance.coords)
    matrix = tuple(tuple(instance.distance(i, j) for j in range(n)) for i in range(n))
    open_, close = instance.windows[0]
    customers = tuple(
        Customer(
            name=str(instance.customer_ids[i - 1]),
            ambient=instance.demands[i],
            ready=instance.windows[i][0],
            due=instance.windows[i][1],
            service=instance.service_times[i],
            x=instance.coords[i][0],
            y=instance.coords[i][1],
        )
        for i in range(1, n)
    )
    depot = Depot(
        name="depot", opens=open_, closes=close, x=instance.coords[0][0], y=instance.coords[0][1]
    )
    count = instance.vehicles if fleet_from_file else None
    vehicle = VehicleType(
        name="vehicle", temperature="ambient", capacity=instance.capacity, count=count
    )
    return RoutingData(
        name=instance.name,
        depot=depot,
        customers=customers,
        vehicle_types=(vehicle,),
        distance=matrix,
    )


# ----------------------------------------------------------------------------- locating
@dataclass
class _Where:
    """Where the header keys and section rows of a file are (1-based line numbers)."""

    source: str
    specs: dict[str, tuple[int, str]] = field(default_factory=dict)
    """KEY -> (line, value text)."""
    sections: dict[str, tuple[int, list[tuple[int, str]]]] = field(default_factory=dict)
    """NAME_SECTION -> (header line, [(line, text) of each row])."""
    last: int = 1


def _locate(text: str, source: str) -> _Where:
    """The lines `vrplib` reads, grouped as it groups them, with their line numbers; a line
    that is neither a header nor a section row, an unknown or repeated section, and a header
    after the sections are refused here, where the line is known."""
    where = _Where(source)
    rows: list[tuple[int, str]] | None = None
    for line_no, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        where.last = line_no
        if "EOF" in line:
            break
        if "_SECTION" in line:
            word = line.split()[0].rstrip(":").upper()
            if word not in _SECTIONS:
                raise InstanceFormatError(
                    source,
                    line_no,
                    f"found section {word!r}; expected one of {', '.join(_SECTIONS)}.",
                )
            if word in where.sections:
                raise InstanceFormatError(source, line_no, f"section {word} appears twice.")
            rows = []
            where.sections[word] = (line_no, rows)
        elif rows is not None:
            if ":" in line:
                raise InstanceFormatError(
                    source,
                    line_no,
                    f"found {line!r} after the sections began; expected the 'KEY : VALUE' "
                    "header lines before the first section.",
                )
            rows.append((line_no, line))
        elif ":" in line:
            key, _, value = line.partition(":")
            where.specs[key.strip().upper()] = (line_no, value.strip())
        else:
            raise InstanceFormatError(
                source, line_no, f"found {line!r}; expected a 'KEY : VALUE' header line."
            )
    return where


def _header_int(where: _Where, key: str, minimum: int, maximum: int) -> int:
    if key not in where.specs:
        raise InstanceFormatError(where.source, 1, f"header {key} is missing.")
    line_no, value = where.specs[key]
    try:
        number = int(value)
    except ValueError:
        raise InstanceFormatError(
            where.source, line_no, f"found {value!r}; expected {key} as an integer."
        ) from None
    if not minimum <= number <= maximum:
        raise InstanceFormatError(
            where.source,
            line_no,
            f"{key} is {number}; expected an integer from {minimum} to {maximum}.",
        )
    return number


def _header_number(where: _Where, key: str) -> float:
    if key not in where.specs:
        raise InstanceFormatError(where.source, 1, f"header {key} is missing.")
    line_no, value = where.specs[key]
    number = _number(value, where.source, line_no, f"{key} as a number")
    if not 0 < number <= MAX_NUMBER:
        raise InstanceFormatError(
            where.source, line_no, f"{key} is {value!r}; expected a number > 0 and <= {MAX_NUMBER}."
        )
    return number


def _rows(raw: dict[str, Any], section: str) -> list[list[Any]]:
    """The values `vrplib` read for a section, one list per row (node ids removed)."""
    data = raw.get(section.removesuffix("_SECTION").lower(), [])
    if isinstance(data, np.ndarray):
        if data.ndim == 1:
            return [[x] for x in data.tolist()]
        return [list(row) for row in data.tolist()]
    return [list(row) for row in data]


def _by_node(
    where: _Where, raw: dict[str, Any], section: str, dimension: int
) -> dict[int, tuple[int, tuple[float, ...]]]:
    """Section rows keyed by node id (each id 1..dimension exactly once), as (line, values)."""
    source = where.source
    _, lines = where.sections[section]
    values = _rows(raw, section)
    width = _SECTIONS[section]
    out: dict[int, tuple[int, tuple[float, ...]]] = {}
    for (line_no, line), row in zip(lines, values, strict=True):
        node = _int(line.split()[0], source, line_no, f"a node id in {section}")
        if not 1 <= node <= dimension:
            raise InstanceFormatError(
                source, line_no, f"node id {node} in {section} is outside 1..{dimension}."
            )
        if node in out:
            raise InstanceFormatError(
                source, line_no, f"node id {node} appears twice in {section}."
            )
        if len(row) != width:
            raise InstanceFormatError(
                source,
                line_no,
                f"found {line!r} in {section}; expected {width + 1} numbers per line.",
            )
        tokens = line.split()[1:]  # as written, for the messages
        numbers = tuple(
            _number(x, source, line_no, f"a number in {section}", shown=tok)
            for x, tok in zip(row, tokens, strict=True)
        )
        out[node] = (line_no, numbers)
    if len(out) != dimension:
        missing = sorted(set(range(1, dimension + 1)) - set(out))
        line_no = lines[-1][0] if lines else where.sections[section][0]
        shown = ", ".join(map(str, missing[:10])) + (" ..." if len(missing) > 10 else "")
        raise InstanceFormatError(
            source,
            line_no,
            f"{section} lists {len(out)} nodes; expected DIMENSION = {dimension} "
            f"(missing node ids: {shown}).",
        )
    return out


def _depot(where: _Where, dimension: int) -> int:
    """The one depot's node id (1-based): the ids of DEPOT_SECTION up to -1."""
    source = where.source
    header, lines = where.sections["DEPOT_SECTION"]
    first = lines[0][0] if lines else header
    tokens = [(no, tok) for no, line in lines for tok in line.split()]
    ids = []
    for line_no, token in tokens:
        value = _int(token, source, line_no, "a depot node id or -1")
        if value == -1:
            break
        if not 1 <= value <= dimension:
            raise InstanceFormatError(
                source, line_no, f"depot id {value} is outside 1..{dimension}."
            )
        ids.append(value)
    if len(ids) != 1:
        raise InstanceFormatError(
            source, first, f"found {len(ids)} depots {ids}; expected exactly one."
        )
    return ids[0]


def _int(token: Any, source: str, line_no: int, what: str) -> int:
    try:
        return int(str(token))
    except ValueError:
        raise InstanceFormatError(source, line_no, f"found {token!r}; expected {what}.") from None


def _number(token: Any, source: str, line_no: int, what: str, shown: str | None = None) -> float:
    """A finite number of at most `MAX_NUMBER` in absolute value; `vrplib` hands over ints,
    floats, or (in a section with a non-numeric entry) strings. `shown`: the token as the file
    writes it."""
    text = str(token) if shown is None else shown
    try:
        value = float(token)
    except (TypeError, ValueError):
        raise InstanceFormatError(source, line_no, f"found {text!r}; expected {what}.") from None
    if not math.isfinite(value) or abs(value) > MAX_NUMBER:
        raise InstanceFormatError(
            source,
            line_no,
            f"found {text!r}; expected a finite number of at most {MAX_NUMBER} in absolute value.",
        )
    return value
