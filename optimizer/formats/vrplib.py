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
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from optimizer.formats import InstanceFormatError, read_text

if TYPE_CHECKING:
    from optimizer.routing import RoutingData

__all__ = ["VrplibInstance", "parse_vrplib", "read_vrplib", "solomon_distance", "to_routing_data"]

_SECTIONS = {
    "NODE_COORD_SECTION": 3,
    "DEMAND_SECTION": 2,
    "TIME_WINDOW_SECTION": 3,
    "SERVICE_TIME_SECTION": 2,
    "DEPOT_SECTION": 1,
}
_REQUIRED = ("NODE_COORD_SECTION", "DEMAND_SECTION", "TIME_WINDOW_SECTION", "DEPOT_SECTION")


@dataclass(frozen=True)
class VrplibInstance:
    """An immutable VRPTW instance; node 0 in every tuple is the depot.

    `coords[i]`, `demands[i]`, `windows[i]` (earliest, latest start of service) and
    `service_times[i]` describe node i; nodes are renumbered so that the depot comes first and
    customers keep their file order. `customer_ids[i - 1]` is the file id of customer node i.
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
    header: dict[str, tuple[int, str]] = {}
    rows: dict[str, list[tuple[int, list[str]]]] = {}
    section: str | None = None
    last_line = 1
    for line_no, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        last_line = line_no
        if not line:
            continue
        word = line.split()[0].rstrip(":").upper()
        if word == "EOF":
            break
        if word.endswith("_SECTION"):
            if word not in _SECTIONS:
                raise InstanceFormatError(
                    source,
                    line_no,
                    f"found section {word!r}; expected one of {', '.join(_SECTIONS)}.",
                )
            if word in rows:
                raise InstanceFormatError(source, line_no, f"section {word} appears twice.")
            section = word
            rows[section] = []
            continue
        if ":" in line and section is None:
            key, _, value = line.partition(":")
            header[key.strip().upper()] = (line_no, value.strip())
            continue
        if section is None:
            raise InstanceFormatError(
                source, line_no, f"found {line!r}; expected a 'KEY : VALUE' header line."
            )
        tokens = line.split()
        if section == "DEPOT_SECTION":
            rows[section].extend((line_no, [t]) for t in tokens)
            continue
        width = _SECTIONS[section]
        if len(tokens) != width:
            raise InstanceFormatError(
                source,
                line_no,
                f"found {line!r} in {section}; expected {width} numbers per line.",
            )
        rows[section].append((line_no, tokens))

    for key in _REQUIRED:
        if key not in rows:
            raise InstanceFormatError(source, last_line, f"section {key} is missing.")
    dimension = _header_int(header, "DIMENSION", source, minimum=2)
    capacity = _header_number(header, "CAPACITY", source)
    vehicles = _header_int(header, "VEHICLES", source, minimum=1) if "VEHICLES" in header else None
    if "EDGE_WEIGHT_TYPE" in header:
        line_no, value = header["EDGE_WEIGHT_TYPE"]
        if value.upper() != "EUC_2D":
            raise InstanceFormatError(
                source, line_no, f"EDGE_WEIGHT_TYPE is {value!r}; expected EUC_2D."
            )

    coords = _by_node(rows["NODE_COORD_SECTION"], dimension, source, "NODE_COORD_SECTION")
    demands = _by_node(rows["DEMAND_SECTION"], dimension, source, "DEMAND_SECTION")
    windows = _by_node(rows["TIME_WINDOW_SECTION"], dimension, source, "TIME_WINDOW_SECTION")
    if "SERVICE_TIME_SECTION" in rows:
        services = _by_node(rows["SERVICE_TIME_SECTION"], dimension, source, "SERVICE_TIME_SECTION")
    else:
        services = {i: (0, [0.0]) for i in range(1, dimension + 1)}

    depot_ids = []
    for line_no, (token,) in rows["DEPOT_SECTION"]:
        value = _int(token, source, line_no, "a depot node id or -1")
        if value == -1:
            break
        if not 1 <= value <= dimension:
            raise InstanceFormatError(
                source, line_no, f"depot id {value} is outside 1..{dimension}."
            )
        depot_ids.append(value)
    if len(depot_ids) != 1:
        line_no = rows["DEPOT_SECTION"][0][0] if rows["DEPOT_SECTION"] else last_line
        raise InstanceFormatError(
            source, line_no, f"found {len(depot_ids)} depots {depot_ids}; expected exactly one."
        )
    depot = depot_ids[0]

    for node, (line_no, (value,)) in demands.items():
        if value < 0:
            raise InstanceFormatError(
                source, line_no, f"node {node} has demand {value:g}; expected a number >= 0."
            )
    for node, (line_no, (early, late)) in windows.items():
        if early > late:
            raise InstanceFormatError(
                source,
                line_no,
                f"node {node} has time window [{early:g}, {late:g}]; expected earliest <= latest.",
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


# ----------------------------------------------------------------------------- helpers
def _header_int(header: dict[str, tuple[int, str]], key: str, source: str, minimum: int) -> int:
    if key not in header:
        raise InstanceFormatError(source, 1, f"header {key} is missing.")
    line_no, value = header[key]
    number = _int(value, source, line_no, f"{key} as an integer")
    if number < minimum:
        raise InstanceFormatError(
            source, line_no, f"{key} is {number}; expected an integer >= {minimum}."
        )
    return number


def _header_number(header: dict[str, tuple[int, str]], key: str, source: str) -> float:
    if key not in header:
        raise InstanceFormatError(source, 1, f"header {key} is missing.")
    line_no, value = header[key]
    number = _float(value, source, line_no, f"{key} as a number")
    if number <= 0:
        raise InstanceFormatError(source, line_no, f"{key} is {value!r}; expected a number > 0.")
    return number


def _by_node(
    rows: list[tuple[int, list[str]]], dimension: int, source: str, section: str
) -> dict[int, tuple[int, list[float]]]:
    """Section rows keyed by node id, each id 1..dimension present exactly once."""
    out: dict[int, tuple[int, list[float]]] = {}
    for line_no, tokens in rows:
        node = _int(tokens[0], source, line_no, f"a node id in {section}")
        if not 1 <= node <= dimension:
            raise InstanceFormatError(
                source, line_no, f"node id {node} in {section} is outside 1..{dimension}."
            )
        if node in out:
            raise InstanceFormatError(
                source, line_no, f"node id {node} appears twice in {section}."
            )
        values = [_float(t, source, line_no, f"a number in {section}") for t in tokens[1:]]
        out[node] = (line_no, values)
    if len(out) != dimension:
        missing = sorted(set(range(1, dimension + 1)) - set(out))
        line_no = rows[-1][0] if rows else 1
        shown = ", ".join(map(str, missing[:10])) + (" ..." if len(missing) > 10 else "")
        raise InstanceFormatError(
            source,
            line_no,
            f"{section} lists {len(out)} nodes; expected DIMENSION = {dimension} "
            f"(missing node ids: {shown}).",
        )
    return out


def _int(token: str, source: str, line_no: int, what: str) -> int:
    try:
        return int(token)
    except ValueError:
        raise InstanceFormatError(source, line_no, f"found {token!r}; expected {what}.") from None


def _float(token: str, source: str, line_no: int, what: str) -> float:
    try:
        value = float(token)
    except ValueError:
        raise InstanceFormatError(source, line_no, f"found {token!r}; expected {what}.") from None
    if not math.isfinite(value):
        raise InstanceFormatError(source, line_no, f"found {token!r}; expected a finite number.")
    return value
