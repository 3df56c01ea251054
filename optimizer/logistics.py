"""AGV fleet sizing: the fewest vehicles that pick up the transport requests within a wait.

Wait is measured as in the twin's KPI ``transport.wait_h``: from the request until the load is
on the vehicle. Two models answer two questions:

- ``size_fleet_service`` (what ``twin fleet`` uses): the fewest vehicles that pick up a share
  ``P`` of the trips within ``W``, with the vehicles where the twin has them (at home first,
  then where they unloaded, dispatched only on request), scheduled busy episode by busy
  episode over the horizon.
- ``size_fleet``: every trip within ``W`` with vehicles "anywhere" (a minimum path cover per
  window of requests): how many vehicles the largest burst needs. Kept as a bound and for
  comparison.

The modules, by concern (the math of each model is in its module docstring):

- ``optimizer.logistics_demand``: ``TransportDemand`` (the trips of a run, travel times,
  the charging allowance) and ``wait_stats``;
- ``optimizer.logistics_cover``: the path-cover model (``FleetData``, ``build_model``,
  ``solve``, ``size_fleet``) and ``clique_bound``;
- ``optimizer.logistics_service``: the service-level model of one episode (``ServiceData``,
  ``build_service_model``, ``greedy_dispatch``, ``solve_service``);
- ``optimizer.logistics_sizing``: the search over fleet sizes (``size_fleet_service``,
  ``service_lower_bound``).

Their public names are importable from here. Traffic congestion and charging in blocks are in
neither model; ``optimizer.fleet_commands`` verifies answers in the twin.
"""

from __future__ import annotations

from optimizer.logistics_cover import (
    FleetData,
    FleetSizing,
    FleetSolution,
    Start,
    WindowResult,
    build_model,
    clique_bound,
    greedy_chains,
    size_fleet,
    solve,
    windows_of,
)
from optimizer.logistics_demand import Charging, TransportDemand, wait_stats
from optimizer.logistics_service import (
    PreparedTrips,
    ServiceData,
    ServiceSolution,
    VehicleState,
    build_service_model,
    greedy_dispatch,
    solve_service,
    start_states,
)
from optimizer.logistics_sizing import (
    ServiceSizing,
    SizeResult,
    service_lower_bound,
    size_fleet_service,
)

__all__ = [
    "Charging",
    "FleetData",
    "FleetSizing",
    "FleetSolution",
    "PreparedTrips",
    "ServiceData",
    "ServiceSizing",
    "ServiceSolution",
    "SizeResult",
    "Start",
    "TransportDemand",
    "VehicleState",
    "WindowResult",
    "build_model",
    "build_service_model",
    "clique_bound",
    "greedy_chains",
    "greedy_dispatch",
    "service_lower_bound",
    "size_fleet",
    "size_fleet_service",
    "solve",
    "solve_service",
    "start_states",
    "wait_stats",
    "windows_of",
]
