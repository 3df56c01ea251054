"""Material transport in the twin: the layout graph, the AGV fleet, its dispatch rules and
dwell points, reservations and charging.

Routing: the layout is a directed graph (a two-way segment is one physical lane used in both
directions); all-pairs shortest paths by travel time are computed once when the layout is
built, so a move never searches.

Congestion and deadlock: every node and every segment is a resource that holds one vehicle at
a time. Before it moves, a vehicle reserves its *whole* route at once and releases each piece
as soon as it has passed it; a stopped vehicle holds nothing. So no vehicle ever holds a
resource while waiting for another, which rules out deadlock by construction, and waiting
routes are granted in arrival order, so none waits forever.

Dispatch rules (which idle vehicle serves which waiting trip) are pluggable by name with
:func:`register_rule`; built in are ``nearest``, ``fcfs``, ``edd`` and ``optimised`` (exact
assignment per decision epoch, and idle vehicles sent to dwell points).

The modules, one question each:

- :mod:`twin.transport.layout`: the graph, travel times and routes (``Layout``);
- :mod:`twin.transport.traffic`: reservations of nodes and segments (``Traffic``);
- :mod:`twin.transport.vehicles`: vehicles, requests and trips;
- :mod:`twin.transport.fleet`: the fleet serving requests, its vehicle processes and
  charging (``Fleet``);
- :mod:`twin.transport.rules`: the dispatch rules and their registry;
- :mod:`twin.transport.dwell`: where idle vehicles wait, and the dwell-point MILP;

Their public names are importable from here.
"""

from __future__ import annotations

from twin.transport.dwell import DwellPoints, DwellPolicy, expected_travel, joint_dwell_points
from twin.transport.fleet import Fleet
from twin.transport.layout import Layout, Leg, Route
from twin.transport.rules import (
    OptimisedDispatch,
    Rule,
    edd,
    fcfs,
    get_rule,
    nearest,
    register_rule,
    rule_names,
    with_transport_dispatch,
)
from twin.transport.traffic import Traffic
from twin.transport.vehicles import AGV_STATES, Job, Trip, Vehicle

__all__ = [
    "AGV_STATES",
    "DwellPoints",
    "DwellPolicy",
    "Fleet",
    "Job",
    "Layout",
    "Leg",
    "OptimisedDispatch",
    "Route",
    "Rule",
    "Traffic",
    "Trip",
    "Vehicle",
    "edd",
    "expected_travel",
    "fcfs",
    "get_rule",
    "joint_dwell_points",
    "nearest",
    "register_rule",
    "rule_names",
    "with_transport_dispatch",
]
