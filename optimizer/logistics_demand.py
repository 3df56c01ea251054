"""Transport demand: the trips a fleet must serve and what moving between nodes costs.

The demand is a list of trips ``j`` (one vehicle load each), requested at ``r_j`` from node
``o_j`` to node ``d_j``, read from the event log of a simulated run (``transport_request``
events, ``TransportDemand.from_run``) or given directly. Travel times ``D(a, b)`` are the
layout's shortest paths at the fleet's speed, ``h`` is the loading (and unloading) time.

Charging allowance (``charging="amortised"`` in the models): the energy a vehicle uses has to
be put back at ``charge_kw``, so every hour it drives or stands costs extra hours at a charger.
That time is added to the activity that used the energy: a drive of ``m`` metres takes
``T + m * drain_per_m / charge_kw`` hours (``TransportDemand.drive``) and a handling
``h * (1 + drain_idle_per_h / charge_kw)`` (``TransportDemand.handle``). In the reference plant
this lengthens driving by about 29 % (0.0008 kWh/m at 10 kW).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np

__all__ = ["Charging", "TransportDemand", "wait_stats"]

Charging = Literal["amortised", "none"]


@dataclass(frozen=True)
class TransportDemand:
    """Trips (request time, origin, destination) and what moving between nodes costs.

    ``hours[a][b]`` and ``metres[a][b]`` are shortest-path travel times and lengths between the
    nodes the trips and vehicles use; ``rest`` the nodes where idle vehicles wait (chargers
    and home nodes).
    """

    times: tuple[float, ...]
    origins: tuple[str, ...]
    dests: tuple[str, ...]
    hours: Mapping[str, Mapping[str, float]]
    metres: Mapping[str, Mapping[str, float]]
    handling: float
    drain_per_m: float = 0.0
    drain_idle_per_h: float = 0.0
    charge_kw: float = 1.0
    rest: tuple[str, ...] = ()
    horizon: float = 0.0
    source: str = ""
    home: tuple[str, ...] = ()
    """Where the vehicles stand at the start (``fleet.home``, vehicle ``k`` at
    ``home[k % len(home)]``, as in the twin)."""

    def __post_init__(self) -> None:
        n = len(self.times)
        if len(self.origins) != n or len(self.dests) != n:
            raise ValueError(
                f"times, origins and dests must have one entry per trip, got {n}, "
                f"{len(self.origins)} and {len(self.dests)}."
            )
        if self.handling < 0:
            raise ValueError(f'"handling" must be >= 0 hours, got {self.handling!r}.')
        if self.charge_kw <= 0:
            raise ValueError(f'"charge_kw" must be > 0, got {self.charge_kw!r}.')
        for j, (o, d) in enumerate(zip(self.origins, self.dests, strict=True)):
            for node in (o, d):
                if node not in self.hours:
                    raise ValueError(f"trip {j} uses node {node!r}, which has no travel times.")

    @property
    def n(self) -> int:
        return len(self.times)

    @classmethod
    def from_scenario(
        cls,
        scenario: Any,
        times: Sequence[float],
        origins: Sequence[str],
        dests: Sequence[str],
        source: str = "",
    ) -> TransportDemand:
        """Trips on a scenario's layout, with its fleet's speed, handling and batteries."""
        from twin.flow_spec import charger_nodes
        from twin.transport import Layout

        if scenario.layout is None or scenario.fleet is None:
            raise ValueError(
                f"scenario {scenario.name!r} has no layout and fleet sections: "
                "there is no transport to size a fleet for"
            )
        fleet = scenario.fleet
        layout = Layout(scenario.layout, fleet.speed)
        home = tuple(fleet.home)
        rest = tuple(dict.fromkeys([*charger_nodes(scenario), *home]))
        nodes = sorted({*origins, *dests, *rest})
        unknown = [n for n in nodes if n not in layout.hours]
        if unknown:
            raise ValueError(f"trips use nodes not in the layout: {', '.join(unknown)}")
        hours = {a: {b: layout.distance(a, b) for b in nodes} for a in nodes}
        metres = {a: {b: layout.route(a, b).metres for b in nodes} for a in nodes}
        return cls(
            tuple(float(t) for t in times),
            tuple(origins),
            tuple(dests),
            hours,
            metres,
            float(fleet.handling),
            fleet.drain_per_m,
            fleet.drain_idle_per_h,
            fleet.charge_kw,
            rest,
            float(scenario.simulation.horizon),
            source or scenario.name,
            home,
        )

    @classmethod
    def from_run(cls, run: Any, scenario: Any | None = None) -> TransportDemand:
        """The trips requested in a simulated run (a ``twin.simulate.Run`` or its event table).

        Each ``transport_request`` event is one vehicle load; its ``detail`` names the trip as
        ``T<seq> <origin>><destination>``.
        """
        from twin.kpi import LogView

        events = getattr(run, "events", run)
        scenario = scenario if scenario is not None else getattr(run, "scenario", None)
        if scenario is None:
            raise ValueError("from_run needs the scenario of the run (for its layout and fleet)")
        if scenario.layout is None or scenario.fleet is None:
            raise ValueError(
                f"scenario {scenario.name!r} has no layout and fleet sections: "
                "there is no transport to size a fleet for"
            )
        v = LogView(events)
        m = v.kind("transport_request")
        nodes = set(scenario.layout.nodes)
        origins, dests = [], []
        for text in v.strings("detail", m):
            o, d = _split_trip(text or "", nodes)
            origins.append(o)
            dests.append(d)
        return cls.from_scenario(scenario, v.t[m].tolist(), origins, dests)

    # ---------------------------------------------------------------- derived times
    def drive(self, a: str, b: str) -> float:
        """Hours to drive a -> b, with the charging it implies (amortised)."""
        return self.hours[a][b] + self.metres[a][b] * self.drain_per_m / self.charge_kw

    def handle(self) -> float:
        """Hours of one loading or unloading, with the charging standing implies."""
        return self.handling * (1.0 + self.drain_idle_per_h / self.charge_kw)

    def without_charging(self) -> TransportDemand:
        return replace(self, drain_per_m=0.0, drain_idle_per_h=0.0)


def _split_trip(text: str, nodes: set[str]) -> tuple[str, str]:
    """``"T12 wh_gate>st_disp"`` -> ("wh_gate", "st_disp"), checked against the layout."""
    _, _, route = text.partition(" ")
    for i, ch in enumerate(route):
        if ch == ">" and route[:i] in nodes and route[i + 1 :] in nodes:
            return route[:i], route[i + 1 :]
    raise ValueError(f"cannot read origin and destination of transport request {text!r}")


def wait_stats(waits: Iterable[float]) -> dict[str, float | None]:
    """mean, p95 and max of waits in hours (None when empty)."""
    arr = np.asarray(list(waits), dtype=float)
    if not len(arr):
        return {"mean": None, "p95": None, "max": None}
    return {
        "mean": float(arr.mean()),
        "p95": float(np.percentile(arr, 95)),
        "max": float(arr.max()),
    }
