"""Distribution scenarios: deliveries from the plant's finished-goods store to customers.

A YAML file (`scenarios/distribution.yaml`) describes the depot, the products with their
temperature class, the customers (hospitals, wholesalers, ...) with their orders, delivery
windows and service times, and the vehicle fleet. `load(path)` validates it into an immutable
`DistributionScenario` (frozen pydantic models, unknown keys refused); every problem becomes one
`twin.scenario.ScenarioError` naming the file, the path inside it, the bad value and what was
expected. `to_routing_data(scenario)` turns it into `optimizer.routing.RoutingData`.

Units: positions in km on a local grid (`x_km`, `y_km`) or as latitude/longitude (`lat`,
`lon`, great-circle distance); road distance = straight-line distance x `road_factor`. Times of
day are "HH:MM" strings or hours as numbers (8.5 = 08:30); service times in minutes; vehicle
speed in km/h; route durations in hours. Internally times are minutes since midnight.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from optimizer.routing import Customer, Depot, RoutingData, VehicleType
from twin.scenario import ScenarioError, read_yaml, validation_error

__all__ = ["DistributionScenario", "load", "load_dict", "parse_time_of_day", "to_routing_data"]

EARTH_RADIUS_KM = 6371.0
_CLOCK = re.compile(r"^(\d{1,2}):([0-5]\d)$")


def parse_time_of_day(value: Any) -> float:
    """Minutes since midnight from "HH:MM" (hours 0-47) or from hours given as a number."""
    if isinstance(value, bool):
        raise ValueError("expected a time of day as 'HH:MM' or hours as a number")
    if isinstance(value, int | float):
        if not (math.isfinite(value) and 0 <= value <= 48):
            raise ValueError("expected hours between 0 and 48")
        return float(value) * 60.0
    if isinstance(value, str):
        match = _CLOCK.match(value.strip())
        if match and int(match.group(1)) < 48:
            return int(match.group(1)) * 60.0 + int(match.group(2))
    raise ValueError("expected a time of day as 'HH:MM' (00:00-47:59) or hours as a number")


TimeOfDay = Annotated[float, BeforeValidator(parse_time_of_day)]
Positive = Annotated[float, Field(gt=0, allow_inf_nan=False)]
NonNegative = Annotated[float, Field(ge=0, allow_inf_nan=False)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Site(_Model):
    """A place given either on a km grid or by latitude/longitude."""

    x_km: float | None = Field(default=None, allow_inf_nan=False)
    y_km: float | None = Field(default=None, allow_inf_nan=False)
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)

    @model_validator(mode="after")
    def _one_position(self) -> _Site:
        grid = self.x_km is not None and self.y_km is not None
        globe = self.lat is not None and self.lon is not None
        partial = {self.x_km is None, self.y_km is None} == {True, False} or {
            self.lat is None,
            self.lon is None,
        } == {True, False}
        if grid == globe or partial:
            raise ValueError("expected a position: either x_km and y_km, or lat and lon")
        return self

    @property
    def on_grid(self) -> bool:
        return self.x_km is not None


class DepotSpec(_Site):
    name: str = "finished-goods store"
    opens: TimeOfDay = 0.0
    closes: TimeOfDay = 24 * 60.0

    @model_validator(mode="after")
    def _hours(self) -> DepotSpec:
        if self.closes <= self.opens:
            raise ValueError("expected 'closes' later than 'opens'")
        return self


class ProductSpec(_Model):
    temperature: Literal["ambient", "cold"]
    description: str = ""


class CustomerSpec(_Site):
    name: str = Field(min_length=1)
    kind: Literal["hospital", "wholesaler", "pharmacy", "clinic", "other"] = "other"
    window: tuple[TimeOfDay, TimeOfDay] = (0.0, 24 * 60.0)
    service_min: NonNegative = 0.0
    demand: dict[str, Positive] = Field(min_length=1)

    @model_validator(mode="after")
    def _window(self) -> CustomerSpec:
        if self.window[1] < self.window[0]:
            raise ValueError("expected a window [from, to] with from <= to")
        return self


class VehicleSpec(_Model):
    name: str = Field(min_length=1)
    temperature: Literal["ambient", "cold"]
    capacity: Positive
    count: int | None = Field(default=None, ge=0)
    max_route_hours: Positive | None = None
    speed_kmh: Positive = 50.0


class DistributionScenario(_Model):
    """A validated distribution scenario; times in minutes since midnight."""

    name: str = "distribution"
    description: str = ""
    load_unit: str = "pallets"
    road_factor: Annotated[float, Field(ge=1, allow_inf_nan=False)] = 1.0
    depot: DepotSpec
    products: dict[str, ProductSpec] = Field(default_factory=dict)
    customers: tuple[CustomerSpec, ...] = Field(min_length=1)
    vehicles: tuple[VehicleSpec, ...] = Field(min_length=1)


def load(path: str | Path) -> DistributionScenario:
    """Read and validate a distribution scenario file; problems raise `ScenarioError`."""
    return load_dict(read_yaml(path), str(path))


def load_dict(data: dict[str, Any], source: str = "<distribution>") -> DistributionScenario:
    """Validate plain data (as read from YAML) into a `DistributionScenario`."""
    try:
        scenario = DistributionScenario.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc, source, DistributionScenario) from None
    _check_references(scenario, source)
    return scenario


def _check_references(sc: DistributionScenario, source: str) -> None:
    seen: dict[str, int] = {}
    for i, cust in enumerate(sc.customers):
        if cust.name in seen:
            raise ScenarioError(
                source,
                f"customers[{i}].name",
                cust.name,
                f"expected a unique name (customers[{seen[cust.name]}] has it already)",
            )
        seen[cust.name] = i
        for product in cust.demand:
            if product not in sc.products and product not in ("ambient", "cold"):
                known = sorted(sc.products) + ["ambient", "cold"]
                raise ScenarioError(
                    source,
                    f"customers[{i}].demand.{product}",
                    product,
                    f"expected a product defined under 'products' or a temperature class; "
                    f"one of: {', '.join(known)}",
                )
    names = [v.name for v in sc.vehicles]
    for i, name in enumerate(names):
        if names.index(name) != i:
            raise ScenarioError(
                source, f"vehicles[{i}].name", name, "expected a unique vehicle type name"
            )
    on_grid = sc.depot.on_grid
    for i, cust in enumerate(sc.customers):
        if cust.on_grid != on_grid:
            depot_kind = "x_km/y_km" if on_grid else "lat/lon"
            raise ScenarioError(
                source,
                f"customers[{i}]",
                cust.name,
                f"expected a position as {depot_kind}, like the depot",
            )


def class_demand(sc: DistributionScenario, customer: CustomerSpec) -> dict[str, float]:
    """The customer's demand summed per temperature class."""
    out = {"ambient": 0.0, "cold": 0.0}
    for product, qty in customer.demand.items():
        temp = sc.products[product].temperature if product in sc.products else product
        out[temp] += qty
    return out


def to_routing_data(sc: DistributionScenario) -> RoutingData:
    """Routing data in km and minutes since midnight (shown as HH:MM)."""
    sites: list[_Site] = [sc.depot, *sc.customers]
    distance = tuple(
        tuple(round(_straight_km(a, b) * sc.road_factor, 6) for b in sites) for a in sites
    )
    customers = []
    for cust in sc.customers:
        demand = class_demand(sc, cust)
        customers.append(
            Customer(
                name=cust.name,
                ambient=demand["ambient"],
                cold=demand["cold"],
                ready=cust.window[0],
                due=cust.window[1],
                service=cust.service_min,
                x=cust.x_km if cust.on_grid else cust.lon,
                y=cust.y_km if cust.on_grid else cust.lat,
            )
        )
    d = sc.depot
    depot = Depot(
        name=d.name,
        opens=d.opens,
        closes=d.closes,
        x=d.x_km if d.on_grid else d.lon,
        y=d.y_km if d.on_grid else d.lat,
    )
    vehicles = tuple(
        VehicleType(
            name=v.name,
            temperature=v.temperature,
            capacity=v.capacity,
            count=v.count,
            max_duration=v.max_route_hours * 60.0 if v.max_route_hours is not None else None,
            speed=v.speed_kmh / 60.0,
        )
        for v in sc.vehicles
    )
    return RoutingData(
        depot=depot,
        customers=tuple(customers),
        vehicle_types=vehicles,
        distance=distance,
        name=sc.name,
        time_format="clock",
        distance_unit="km",
        load_unit=sc.load_unit,
    )


def _straight_km(a: _Site, b: _Site) -> float:
    if a.on_grid:
        return math.hypot(a.x_km - b.x_km, a.y_km - b.y_km)  # type: ignore[operator]
    lat1, lon1, lat2, lon2 = map(math.radians, (a.lat, a.lon, b.lat, b.lon))  # type: ignore[arg-type]
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))
