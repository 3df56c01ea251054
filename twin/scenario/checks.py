"""Cross-reference and satisfiability checks of a validated scenario.

Every name used somewhere must be defined, and combinations that could never run are refused
here (a step needing more operators than exist, a batch size outside a class's capacity, a
warm-up longer than the horizon, more work than the bounds in ``schema`` allow), each as one
ScenarioError naming the path.
"""

from __future__ import annotations

import math
import typing
from typing import Any

from twin.flow_spec import check_material_flow
from twin.scenario.errors import ScenarioError
from twin.scenario.process import check_process
from twin.scenario.schema import (
    MAX_BATCHES_PER_ORDER,
    MAX_ORDERS,
    MAX_UNITS,
    UNIT_STATES,
    Scenario,
    StaffNeed,
    UnitSpec,
)
from twin.units import MAX_DURATION_H

__all__ = ["check_references"]


def check_references(sc: Scenario, source: str) -> None:
    """Every name used somewhere must be defined; combinations must be satisfiable."""

    def fail(path: str, value: Any, expected: str) -> typing.NoReturn:
        raise ScenarioError(source, path, value, expected)

    def one_of(names: typing.Iterable[str]) -> str:
        names = sorted(names)
        return "expected one of: " + ", ".join(names) if names else "none are defined"

    from twin.dispatch import policy_names

    if not sc.products and sc.process is None:
        fail("products", {}, "expected: at least 1 product (or a process section)")
    if sc.dispatch not in policy_names():
        fail("dispatch", sc.dispatch, f"unknown dispatch policy; {one_of(policy_names())}")
    if sc.simulation.warmup >= sc.simulation.horizon:
        fail(
            "simulation.warmup",
            sc.simulation.warmup,
            f"a warm-up shorter than the horizon ({sc.simulation.horizon}h)",
        )

    def check_staff(path: str, need: StaffNeed | None) -> None:
        if need is None:
            return
        if need.qualification not in sc.staff:
            fail(
                f"{path}.qualification",
                need.qualification,
                f"unknown staff qualification; {one_of(sc.staff)}",
            )
        if need.count > sc.staff[need.qualification].count:
            fail(
                f"{path}.count",
                need.count,
                f"at most the {sc.staff[need.qualification].count} staff of qualification "
                f"{need.qualification!r} (more could never be found)",
            )

    def check_shift(path: str, name: str | None) -> None:
        if name is not None and name not in sc.shifts:
            fail(path, name, f"unknown shift calendar; {one_of(sc.shifts)}")

    for name, pool in sc.staff.items():
        check_shift(f"staff.{name}.shift", pool.shift)
    for name, shift in sc.shifts.items():
        if not shift.windows():
            fail(f"shifts.{name}", shift.model_dump(), "at least one working window")

    for cname, cls in sc.equipment_classes.items():
        base = f"equipment_classes.{cname}"
        check_shift(f"{base}.shift", cls.shift)
        for state in cls.energy_kw:
            if state not in UNIT_STATES:
                fail(
                    f"{base}.energy_kw.{state}", state, f"unknown unit state; {one_of(UNIT_STATES)}"
                )
        if cls.capacity and cls.capacity.min > cls.capacity.max:
            fail(
                f"{base}.capacity.min",
                cls.capacity.min,
                f"a minimum <= the maximum {cls.capacity.max}",
            )
        m = cls.maintenance
        if m is not None:
            if m.every is None and m.every_batches is None:
                fail(
                    f"{base}.maintenance", m.model_dump(), "at least one of every or every_batches"
                )
            if m.qualification is not None:
                check_staff(f"{base}.maintenance", StaffNeed(qualification=m.qualification))
        cl = cls.cleaning
        for frm, row in cl.matrix.items():
            if frm not in sc.products:
                fail(
                    f"{base}.cleaning.matrix.{frm}", frm, f"unknown product; {one_of(sc.products)}"
                )
            for to in row:
                if to not in sc.products:
                    fail(
                        f"{base}.cleaning.matrix.{frm}.{to}",
                        to,
                        f"unknown product; {one_of(sc.products)}",
                    )
        if cl.campaign_batches is not None and cl.campaign is None:
            fail(
                f"{base}.cleaning.campaign",
                None,
                "a campaign clean duration when campaign_batches is set",
            )
        check_staff(f"{base}.cleaning.operators", cl.operators)

    n_units = sum(spec.count for spec in sc.units.values())
    if n_units > MAX_UNITS:
        fail("units", n_units, f"at most {MAX_UNITS:,} units in all (counted with their copies)")
    for uid, spec in sc.units.items():
        if "#" in uid:
            fail(f"units.{uid}", uid, "a unit id without '#' (reserved for numbered copies)")
        if spec.equipment_class not in sc.equipment_classes:
            fail(
                f"units.{uid}.class",
                spec.equipment_class,
                f"unknown equipment class; {one_of(sc.equipment_classes)}",
            )
        check_shift(f"units.{uid}.shift", spec.shift)

    used_classes = {s.spec.equipment_class for s in _unit_views(sc)}
    for pname, prod in sc.products.items():
        for i, step in enumerate(prod.recipe):
            base = f"products.{pname}.recipe[{i}]"
            if step.equipment_class not in sc.equipment_classes:
                fail(
                    f"{base}.equipment_class",
                    step.equipment_class,
                    f"unknown equipment class; {one_of(sc.equipment_classes)}",
                )
            if step.equipment_class not in used_classes:
                fail(
                    f"{base}.equipment_class",
                    step.equipment_class,
                    "an equipment class with at least one unit in units",
                )
            cap = sc.equipment_classes[step.equipment_class].capacity
            if cap and not (cap.min <= prod.batch_size <= cap.max):
                fail(
                    f"products.{pname}.batch_size",
                    prod.batch_size,
                    f"a batch size within the capacity {cap.min}-{cap.max} of equipment class "
                    f"{step.equipment_class!r} used by recipe[{i}]",
                )
            if step.scale_reference:
                longest = step.duration.mean * prod.batch_size / step.scale_reference
                if longest > MAX_DURATION_H:
                    fail(
                        f"{base}.scale_reference",
                        step.scale_reference,
                        f"a reference size that keeps the scaled duration of batch size "
                        f"{prod.batch_size:g} within {MAX_DURATION_H:,.0f} h (it would take "
                        f"{longest:.3g} h)",
                    )
            check_staff(f"{base}.operators", step.operators)
            if step.transfer == "direct" and i == len(prod.recipe) - 1:
                fail(
                    f"{base}.transfer", "direct", "'store' on the last step (there is no next unit)"
                )
        if prod.qc and prod.qc.qualification:
            check_staff(f"products.{pname}.qc", StaffNeed(qualification=prod.qc.qualification))
    if sc.qc and sc.qc.qualification:
        check_staff("qc", StaffNeed(qualification=sc.qc.qualification))
    if sc.repairs:
        check_staff("repairs", StaffNeed(qualification=sc.repairs.qualification))

    seen: set[str] = set()
    for i, o in enumerate(sc.orders):
        if o.id in seen:
            fail(f"orders[{i}].id", o.id, "a unique order id")
        seen.add(o.id)
        if o.product not in sc.products:
            fail(f"orders[{i}].product", o.product, f"unknown product; {one_of(sc.products)}")
        n = o.quantity / sc.products[o.product].batch_size
        if n > MAX_BATCHES_PER_ORDER:
            fail(
                f"orders[{i}].quantity",
                o.quantity,
                f"at most {MAX_BATCHES_PER_ORDER} batches of "
                f"{sc.products[o.product].batch_size:g} per order",
            )
        if float(o.due) < float(o.release):
            fail(f"orders[{i}].due", o.due, f"a due date on or after the release ({o.release}h)")
    if sc.order_generator:
        expected = len(sc.orders)
        for stream in sc.order_generator.products.values():
            until = sc.simulation.horizon if stream.until is None else stream.until
            span = max(0.0, min(until, sc.simulation.horizon) - stream.start)
            expected += span / max(stream.interarrival.mean, 1 / 60)
        if expected > MAX_ORDERS:
            fail(
                "order_generator",
                f"about {expected:,.0f} orders over the horizon",
                f"at most {MAX_ORDERS:,} orders (longer interarrival times or a shorter horizon)",
            )
        for pname, stream in sc.order_generator.products.items():
            if pname not in sc.products:
                fail(
                    f"order_generator.products.{pname}",
                    pname,
                    f"unknown product; {one_of(sc.products)}",
                )
            if stream.interarrival.mean < 1 / 60:
                fail(
                    f"order_generator.products.{pname}.interarrival",
                    stream.interarrival.mean,
                    "a mean interarrival time of at least 1min",
                )
            if stream.quantity.mean <= 0:
                fail(
                    f"order_generator.products.{pname}.quantity",
                    stream.quantity.mean,
                    "a mean quantity > 0",
                )
            top = max(
                stream.quantity.mean,
                getattr(stream.quantity, "high", 0.0) or 0.0,
                max(getattr(stream.quantity, "values", (0.0,))),
            )
            if top / sc.products[pname].batch_size > MAX_BATCHES_PER_ORDER:
                fail(
                    f"order_generator.products.{pname}.quantity",
                    top,
                    f"at most {MAX_BATCHES_PER_ORDER} batches per order",
                )
    if not sc.orders and not sc.order_generator and sc.process is None:
        fail("orders", [], "at least one order, or an order_generator")
    for cname, cls in sc.equipment_classes.items():
        if math.isinf(cls.capacity.max if cls.capacity else 1.0):
            fail(f"equipment_classes.{cname}.capacity.max", "inf", "a finite capacity")
    check_material_flow(sc, fail, one_of)
    check_process(sc, source)


class _UnitView(typing.NamedTuple):
    name: str
    spec: UnitSpec


def _unit_views(sc: Scenario) -> list[_UnitView]:
    return [_UnitView(name, sc.units[uid]) for name, uid in sc.unit_names()]
