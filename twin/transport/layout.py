"""The plant layout as a graph: travel times at a top speed and every shortest route.

The layout is a directed graph (a two-way segment is one physical lane used in both
directions); all-pairs shortest paths by travel time are computed once when the layout is
built, so a move never searches. Every node and every segment is also a resource id for the
reservations of :mod:`twin.transport.traffic`: nodes first, then segments.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import networkx as nx

from twin.flow_spec import LayoutSpec, edge_length

__all__ = ["Layout", "Leg", "Route"]


class Leg(NamedTuple):
    edge: int  # resource id of the segment
    node: int  # resource id of the node reached
    to: str
    metres: float
    hours: float
    label: str  # the segment, "a-b" (two-way) or "a>b" (one-way)
    move: str  # "from>to"


class Route(NamedTuple):
    nodes: tuple[str, ...]
    legs: tuple[Leg, ...]
    resources: frozenset[int]
    metres: float
    hours: float


class Layout:
    """The layout graph with travel times at a given top speed and all shortest paths."""

    def __init__(self, spec: LayoutSpec, speed: float = 1.0) -> None:
        self.spec = spec
        self.names = list(spec.nodes)
        self.node_res = {n: i for i, n in enumerate(self.names)}
        self.labels: list[str] = list(self.names)
        g = nx.DiGraph()
        g.add_nodes_from(self.names)
        for i, e in enumerate(spec.edges):
            metres = edge_length(spec, e)
            v = min(speed, e.speed_limit) if e.speed_limit else speed
            hours = metres / v / 3600.0
            res = len(self.names) + i
            label = f"{e.from_}>{e.to}" if e.one_way else f"{e.from_}-{e.to}"
            self.labels.append(label)
            pairs = [(e.from_, e.to)] if e.one_way else [(e.from_, e.to), (e.to, e.from_)]
            for a, b in pairs:
                old = g.get_edge_data(a, b)
                if old is None or old["hours"] > hours:
                    g.add_edge(a, b, hours=hours, metres=metres, res=res, label=label)
        self.graph = g
        self.hours: dict[str, dict[str, float]] = {}
        self._paths: dict[str, dict[str, list[str]]] = {}
        for src, (dist, paths) in nx.all_pairs_dijkstra(g, weight="hours"):
            self.hours[src] = dist
            self._paths[src] = paths
        self._routes: dict[tuple[str, str], Route] = {}

    @property
    def n_resources(self) -> int:
        return len(self.labels)

    def distance(self, a: str, b: str) -> float:
        """Travel hours from a to b (inf if unreachable)."""
        return self.hours[a].get(b, math.inf)

    def route(self, a: str, b: str) -> Route:
        """The precomputed shortest route from a to b (built once, then cached)."""
        key = (a, b)
        r = self._routes.get(key)
        if r is None:
            nodes = self._paths[a][b]
            legs = []
            for u, v in zip(nodes, nodes[1:], strict=False):
                d = self.graph.edges[u, v]
                legs.append(
                    Leg(
                        d["res"],
                        self.node_res[v],
                        v,
                        d["metres"],
                        d["hours"],
                        d["label"],
                        f"{u}>{v}",
                    )
                )
            res = frozenset([self.node_res[a], *(x for leg in legs for x in (leg.edge, leg.node))])
            r = Route(
                tuple(nodes),
                tuple(legs),
                res,
                sum(x.metres for x in legs),
                sum(x.hours for x in legs),
            )
            self._routes[key] = r
        return r
