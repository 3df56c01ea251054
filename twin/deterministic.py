"""Deterministic variants of a scenario, to run a plan "as planned".

``with_mean_durations(scenario)`` replaces every processing, setup, cleaning, maintenance,
repair and QC distribution by a fixed value equal to its mean, and removes breakdowns (unless
``keep_failures``) and QC rejections (unless ``keep_rejects``). Order arrival (the order
generator) and material supply keep their randomness: they are demand and suppliers, not
plant durations.

``without_material_flow(scenario)`` drops materials, warehouses, layout and fleet (and the
bills of materials and stations that refer to them): materials are then unlimited and
transport instantaneous, as the planner assumes.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from twin.scenario import Scenario
from twin.units import Fixed

__all__ = ["with_mean_durations", "without_material_flow", "at_means"]


def at_means(obj: Any) -> Any:
    """The same object with every distribution inside it replaced by its mean."""
    if isinstance(obj, BaseModel) and hasattr(obj, "dist") and hasattr(obj, "sample"):
        return Fixed(value=float(obj.mean))
    if isinstance(obj, BaseModel):
        update = {}
        for name in type(obj).model_fields:
            value = getattr(obj, name)
            new = at_means(value)
            if new is not value:
                update[name] = new
        return obj.model_copy(update=update) if update else obj
    if isinstance(obj, dict):
        out = {k: at_means(v) for k, v in obj.items()}
        return obj if all(out[k] is obj[k] for k in obj) else out
    if isinstance(obj, tuple):
        out_t = tuple(at_means(v) for v in obj)
        return obj if all(a is b for a, b in zip(out_t, obj, strict=True)) else out_t
    return obj


def with_mean_durations(
    scenario: Scenario, keep_failures: bool = False, keep_rejects: bool = False
) -> Scenario:
    """A copy of ``scenario`` whose plant durations are fixed at their means."""
    classes = {}
    for name, ec in scenario.equipment_classes.items():
        ec = at_means(ec)
        if not keep_failures and ec.failures is not None:
            ec = ec.model_copy(update={"failures": None})
        classes[name] = ec
    products = {}
    for name, prod in scenario.products.items():
        prod = at_means(prod)
        if prod.qc is not None and not keep_rejects:
            qc = prod.qc.model_copy(update={"reject_probability": 0.0})
            prod = prod.model_copy(update={"qc": qc})
        products[name] = prod
    qc = at_means(scenario.qc) if scenario.qc is not None else None
    if qc is not None and not keep_rejects:
        qc = qc.model_copy(update={"reject_probability": 0.0})
    return scenario.model_copy(
        update={"equipment_classes": classes, "products": products, "qc": qc}
    )


def without_material_flow(scenario: Scenario) -> Scenario:
    """A copy without materials, warehouses, layout and fleet."""
    products = {
        name: prod.model_copy(
            update={
                "finished_good": None,
                "recipe": tuple(
                    st.model_copy(update={"consumes": {}, "produces": {}}) for st in prod.recipe
                ),
            }
        )
        for name, prod in scenario.products.items()
    }
    units = {uid: spec.model_copy(update={"station": None}) for uid, spec in scenario.units.items()}
    return scenario.model_copy(
        update={
            "products": products,
            "units": units,
            "materials": {},
            "warehouses": {},
            "layout": None,
            "fleet": None,
        }
    )
