"""Scenario sections of material flow: materials, bills of materials, warehouses, layout, fleet.

All four sections are optional. Without them a scenario behaves as before: materials are
unlimited and transport is instantaneous. ``check_material_flow`` validates the cross-references
(called from ``twin.scenario._check_references``, so every problem becomes one ScenarioError
naming the file, the path, the value and what was expected).

Quantities are in the material's unit (kg unless stated); lengths in metres, speeds in m/s,
battery energy in kWh, times as durations (hours).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Annotated, Any, Literal, NoReturn

from pydantic import Field, model_validator

from twin.schema_base import Float, Int, Model
from twin.units import Distribution, Duration, Fixed

if TYPE_CHECKING:
    from twin.scenario import Scenario

__all__ = [
    "STORAGE_CLASSES",
    "NODE_KINDS",
    "BomQty",
    "Material",
    "Supply",
    "Reorder",
    "WarehouseSpec",
    "LayoutNode",
    "LayoutEdge",
    "LayoutSpec",
    "FleetSpec",
    "check_material_flow",
]

STORAGE_CLASSES = ("ambient", "cold", "frozen")
NODE_KINDS = ("dock", "station", "warehouse_gate", "charger", "waypoint")
StorageClass = Literal["ambient", "cold", "frozen"]
MAX_AMOUNT = 1e12  # quantities, capacities, lengths: bounded like every number of a scenario
NonNeg = Annotated[Float, Field(ge=0, le=MAX_AMOUNT)]
Positive = Annotated[Float, Field(gt=0, le=MAX_AMOUNT)]
_Model = Model


# --------------------------------------------------------------------------- materials
class BomQty(_Model):
    """A bill-of-materials quantity: per batch, or per kg of batch size (exactly one)."""

    per_batch: NonNeg | None = None
    per_kg: NonNeg | None = None

    @model_validator(mode="after")
    def _one(self) -> BomQty:
        if (self.per_batch is None) == (self.per_kg is None):
            raise ValueError("exactly one of per_batch or per_kg")
        return self

    def quantity(self, batch_size: float) -> float:
        return self.per_batch if self.per_batch is not None else self.per_kg * batch_size  # type: ignore[operator]


class Reorder(_Model):
    """A reorder policy.

    ``sS``: when the inventory position (released + quarantine + on order + at the dock) falls
    to ``s`` or below, order up to ``S``; ``review`` 0 means continuous review, else a
    periodic check. ``schedule``: order ``quantity`` every ``every``, the first at ``first``.
    """

    policy: Literal["sS", "schedule"]
    s: NonNeg | None = None
    S: Positive | None = None
    review: Duration = 0.0
    every: Duration | None = None
    quantity: Positive | None = None
    first: Duration = 0.0

    @model_validator(mode="after")
    def _complete(self) -> Reorder:
        if self.policy == "sS":
            if self.s is None or self.S is None:
                raise ValueError("policy sS needs s (reorder point) and S (order-up-to level)")
            if self.s >= self.S:
                raise ValueError(f"the order-up-to level S must be > s, got s={self.s} S={self.S}")
            if self.every is not None or self.quantity is not None:
                raise ValueError("every and quantity belong to policy schedule, not sS")
        else:
            if self.every is None or self.every <= 0 or self.quantity is None:
                raise ValueError("policy schedule needs every (> 0) and quantity")
            if self.s is not None or self.S is not None:
                raise ValueError("s and S belong to policy sS, not schedule")
        return self


class Supply(_Model):
    """Supplier deliveries: lead time, quarantine sampling time and rejection, reorder policy."""

    lead_time: Distribution
    sampling: Distribution = Fixed(value=0.0)
    reject_probability: Annotated[Float, Field(ge=0.0, le=1.0)] = 0.0
    reorder: Reorder


class Material(_Model):
    """A raw material, an intermediate (carried by its batch) or a finished good."""

    description: str = ""
    kind: Literal["raw", "intermediate", "finished"] = "raw"
    storage: StorageClass = "ambient"
    unit: str = "kg"
    pallet: Positive = 500.0  # quantity per pallet position (and per transport load)
    shelf_life: Duration | None = None
    initial: NonNeg = 0.0  # released stock at the start
    warehouse: str | None = None  # default: the first warehouse with room for its storage class
    supply: Supply | None = None


class WarehouseSpec(_Model):
    """A store with pallet positions per storage class and (with a layout) a gate node where
    vehicles load and unload; with a fleet, supplier deliveries unloaded at ``dock`` are
    brought to the gate by AGVs before they are put away."""

    gate: str | None = None
    dock: str | None = None
    capacity: dict[StorageClass, Annotated[Int, Field(ge=0, le=10_000_000)]] = Field(min_length=1)


# --------------------------------------------------------------------------- layout, fleet
class LayoutNode(_Model):
    x: Annotated[Float, Field(ge=-MAX_AMOUNT, le=MAX_AMOUNT)]
    y: Annotated[Float, Field(ge=-MAX_AMOUNT, le=MAX_AMOUNT)]
    kind: Literal["dock", "station", "warehouse_gate", "charger", "waypoint"] = "waypoint"


class LayoutEdge(_Model):
    """A segment; ``length`` defaults to the distance between its nodes' coordinates."""

    from_: str = Field(alias="from")
    to: str
    length: Positive | None = None
    one_way: bool = False
    speed_limit: Positive | None = None  # m/s


class LayoutSpec(_Model):
    """The plant floor: named nodes in metres and the segments vehicles drive on.

    ``ibc_store`` is where IBCs wait between steps (``transfer: store``) and where finished
    batches go when their product names no finished good.
    """

    nodes: dict[str, LayoutNode] = Field(min_length=1)
    edges: tuple[LayoutEdge, ...] = ()
    ibc_store: str | None = None


class FleetSpec(_Model):
    size: Annotated[Int, Field(ge=1, le=1_000)]
    speed: Positive = 1.0  # m/s
    capacity: Annotated[Int, Field(ge=1, le=10_000)] = 1  # IBCs or pallets per trip
    battery_kwh: Positive = 20.0
    drain_per_m: NonNeg = 0.0005  # kWh per metre driven
    drain_idle_per_h: NonNeg = 0.05  # kWh per hour standing
    charge_kw: Positive = 5.0
    charge_threshold: Annotated[Float, Field(ge=0.0, lt=1.0)] = 0.25  # share of battery_kwh
    handling: Duration = 2 / 60  # load or unload time
    home: tuple[str, ...] = Field(min_length=1)
    chargers: tuple[str, ...] = ()  # default: every node of kind charger
    dispatch: str = "nearest"


# --------------------------------------------------------------------------- validation
def edge_length(spec: LayoutSpec, edge: LayoutEdge) -> float:
    if edge.length is not None:
        return edge.length
    a, b = spec.nodes[edge.from_], spec.nodes[edge.to]
    return math.hypot(a.x - b.x, a.y - b.y)


def required_nodes(sc: Scenario) -> dict[str, str]:
    """Layout nodes that vehicles must reach, with the scenario path that names each."""
    need: dict[str, str] = {}
    for uid, spec in sc.units.items():
        if spec.station is not None:
            need.setdefault(spec.station, f"units.{uid}.station")
    for wname, wh in sc.warehouses.items():
        if wh.gate is not None:
            need.setdefault(wh.gate, f"warehouses.{wname}.gate")
        if wh.dock is not None:
            need.setdefault(wh.dock, f"warehouses.{wname}.dock")
    if sc.layout is not None and sc.layout.ibc_store is not None:
        need.setdefault(sc.layout.ibc_store, "layout.ibc_store")
    if sc.fleet is not None:
        for i, n in enumerate(sc.fleet.home):
            need.setdefault(n, f"fleet.home[{i}]")
        for n in charger_nodes(sc):
            need.setdefault(n, "fleet.chargers")
    return need


def charger_nodes(sc: Scenario) -> tuple[str, ...]:
    assert sc.layout is not None and sc.fleet is not None
    if sc.fleet.chargers:
        return sc.fleet.chargers
    return tuple(n for n, node in sc.layout.nodes.items() if node.kind == "charger")


def warehouse_of(sc: Scenario, material: str) -> str | None:
    """The warehouse a material is stored in (explicit, else the first with room for its class)."""
    m = sc.materials[material]
    if m.warehouse is not None:
        return m.warehouse
    for name, wh in sc.warehouses.items():
        if wh.capacity.get(m.storage, 0) > 0:
            return name
    return None


def check_material_flow(
    sc: Scenario, fail: Callable[[str, Any, str], NoReturn], one_of: Callable[[Iterable[str]], str]
) -> None:
    """Cross-references of the material-flow sections (see the module docstring)."""
    mats = sc.materials
    for mname, m in mats.items():
        base = f"materials.{mname}"
        if m.warehouse is not None and m.warehouse not in sc.warehouses:
            fail(f"{base}.warehouse", m.warehouse, f"unknown warehouse; {one_of(sc.warehouses)}")
        if m.kind == "intermediate":
            if m.supply is not None or m.initial > 0:
                fail(
                    f"{base}.kind",
                    m.kind,
                    "raw or finished for a material with supply or initial stock",
                )
            continue
        if m.kind == "finished" and m.supply is not None:
            fail(f"{base}.supply", "supply", "no supply for a finished good (it is produced)")
        wh = warehouse_of(sc, mname)
        if wh is None:
            fail(
                f"{base}.storage",
                m.storage,
                f"a warehouse with {m.storage} capacity (pallet positions > 0) for this material",
            )
        elif sc.warehouses[wh].capacity.get(m.storage, 0) <= 0:
            fail(f"{base}.warehouse", wh, f"a warehouse with {m.storage} capacity > 0")

    for pname, prod in sc.products.items():
        made: set[str] = set()
        if prod.finished_good is not None:
            fg = prod.finished_good
            if fg not in mats:
                fail(f"products.{pname}.finished_good", fg, f"unknown material; {one_of(mats)}")
            if mats[fg].kind != "finished":
                fail(f"products.{pname}.finished_good", fg, "a material of kind finished")
        for i, step in enumerate(prod.recipe):
            base = f"products.{pname}.recipe[{i}]"
            for mname in step.consumes:
                if mname not in mats:
                    fail(f"{base}.consumes.{mname}", mname, f"unknown material; {one_of(mats)}")
                if mats[mname].kind == "intermediate" and mname not in made:
                    fail(
                        f"{base}.consumes.{mname}",
                        mname,
                        "an intermediate produced by an earlier step of the same recipe",
                    )
                if mats[mname].kind == "finished":
                    fail(f"{base}.consumes.{mname}", mname, "a raw material or an intermediate")
            for mname in step.produces:
                if mname not in mats:
                    fail(f"{base}.produces.{mname}", mname, f"unknown material; {one_of(mats)}")
                if mats[mname].kind != "intermediate":
                    fail(
                        f"{base}.produces.{mname}",
                        mname,
                        "an intermediate (finished goods come from products.<p>.finished_good)",
                    )
                made.add(mname)

    for wname, wh in sc.warehouses.items():
        for key, node in (("gate", wh.gate), ("dock", wh.dock)):
            if node is not None and (sc.layout is None or node not in sc.layout.nodes):
                fail(
                    f"warehouses.{wname}.{key}",
                    node,
                    "a node of layout.nodes" if sc.layout else f"no {key} without a layout section",
                )

    lay = sc.layout
    if lay is None:
        for uid, spec in sc.units.items():
            if spec.station is not None:
                fail(f"units.{uid}.station", spec.station, "no station without a layout section")
        if sc.fleet is not None:
            fail("fleet", "fleet", "a layout section (the fleet drives on it)")
        return
    for i, e in enumerate(lay.edges):
        for end, name in (("from", e.from_), ("to", e.to)):
            if name not in lay.nodes:
                fail(f"layout.edges[{i}].{end}", name, f"unknown node; {one_of(lay.nodes)}")
        if e.from_ == e.to:
            fail(f"layout.edges[{i}].to", e.to, "a node other than the edge's start")
        if edge_length(lay, e) <= 0:
            fail(
                f"layout.edges[{i}].length", 0.0, "a length > 0 (give one, or distinct coordinates)"
            )
    for uid, spec in sc.units.items():
        if spec.station is not None and spec.station not in lay.nodes:
            fail(f"units.{uid}.station", spec.station, f"unknown layout node; {one_of(lay.nodes)}")
    if lay.ibc_store is not None and lay.ibc_store not in lay.nodes:
        fail("layout.ibc_store", lay.ibc_store, f"unknown layout node; {one_of(lay.nodes)}")
    fleet = sc.fleet
    if fleet is not None:
        from twin.transport import rule_names

        if fleet.dispatch not in rule_names():
            fail(
                "fleet.dispatch",
                fleet.dispatch,
                f"unknown transport dispatch rule; {one_of(rule_names())}",
            )
        for i, n in enumerate(fleet.home):
            if n not in lay.nodes:
                fail(f"fleet.home[{i}]", n, f"unknown layout node; {one_of(lay.nodes)}")
        for i, n in enumerate(fleet.chargers):
            if n not in lay.nodes:
                fail(f"fleet.chargers[{i}]", n, f"unknown layout node; {one_of(lay.nodes)}")
        if not charger_nodes(sc):
            fail(
                "fleet.chargers", [], "at least one charger (list it, or give a node kind: charger)"
            )
        for uid, spec in sc.units.items():
            if spec.station is None:
                fail(
                    f"units.{uid}.station",
                    None,
                    "a layout node (every unit needs one with a fleet)",
                )
        for wname, wh in sc.warehouses.items():
            if wh.gate is None:
                fail(f"warehouses.{wname}.gate", None, "a layout node (needed with a fleet)")
        if lay.ibc_store is None:
            fail(
                "layout.ibc_store",
                None,
                "a layout node where IBCs wait between steps (needed with a fleet)",
            )
    _check_reachable(sc, lay, fail)


def _check_reachable(
    sc: Scenario, lay: LayoutSpec, fail: Callable[[str, Any, str], NoReturn]
) -> None:
    import networkx as nx

    g = nx.DiGraph()
    g.add_nodes_from(lay.nodes)
    for e in lay.edges:
        g.add_edge(e.from_, e.to)
        if not e.one_way:
            g.add_edge(e.to, e.from_)
    need = required_nodes(sc)
    names = sorted(need)
    bad: list[tuple[str, str]] = []
    for a in names:
        reach = nx.descendants(g, a) | {a}
        bad.extend((a, b) for b in names if b not in reach)
    if bad:
        # blame the node in most unreachable pairs (an island, or a one-way dead end)
        count: dict[str, int] = {}
        for a, b in bad:
            count[a] = count.get(a, 0) + 1
            count[b] = count.get(b, 0) + 1
        worst = min(count, key=lambda n: (-count[n], n))
        pairs = ", ".join(f"{a}->{b}" for a, b in bad[:10])
        fail(
            need[worst],
            worst,
            f"a node reachable from every other station and back; unreachable: {pairs}"
            + (f" (and {len(bad) - 10} more)" if len(bad) > 10 else ""),
        )
