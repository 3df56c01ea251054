"""Re-planning when an order is at risk, and what the new plan changes.

The live twin never imports the optimizer: ``twin live --replan-when-at-risk`` hands it a
planner function (``optimizer.plan_commands.plan_from_state``), and :func:`replan_callback`
wraps it into the ``Lookahead``'s callback. After planning, a second, smaller forecast follows
the new plan from the same state, so the change is said in the terms that triggered it:
``o12: 35% -> 80% on time``, and the planned completion of each order at risk against its due
date.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twin.forecast import Forecast, Prediction, forecast
from twin.scenario import Scenario
from twin.state import PlantState

__all__ = ["replan_callback", "describe_change"]


def describe_change(
    before: Forecast, after: Forecast, plan: Any, risky: list[Prediction]
) -> dict[str, Any]:
    """What the plan changes for the orders at risk (plain data, with a one-line summary)."""
    after_by = {p.id: p for p in after.orders}
    ends: dict[str, float] = {}
    for op in plan.operations:
        ends[op.order] = max(ends.get(op.order, op.end), op.end)
    orders = []
    for p in risky:
        q = after_by.get(p.id)
        orders.append(
            {
                "order": p.id,
                "due_h": p.due,
                "p_on_time_before": p.p_on_time,
                "p_on_time_after": q.p_on_time if q is not None else None,
                "p50_before_h": p.p50,
                "p50_after_h": q.p50 if q is not None else None,
                "planned_end_h": ends.get(p.id),
            }
        )

    def pct(x: float | None) -> str:
        return "-" if x is None else f"{x:.0%}"

    parts = [
        f"{o['order']}: {pct(o['p_on_time_before'])} -> {pct(o['p_on_time_after'])} on time"
        for o in orders[:5]
    ]
    units = {op.unit for op in plan.operations}
    better = sum(
        1
        for o in orders
        if o["p_on_time_after"] is not None
        and o["p_on_time_before"] is not None
        and o["p_on_time_after"] > o["p_on_time_before"] + 1e-9
    )
    summary = "; ".join(parts) + (
        f" ({better} of {len(orders)} better; {len(plan.operations)} operations on "
        f"{len(units)} units)"
    )
    return {
        "summary": summary,
        "orders": orders,
        "operations": len(plan.operations),
        "units": len(units),
        "improved": better,
        "plan": plan.to_dict(),
    }


def replan_callback(
    planner: Callable[..., Any],
    time_limit: float = 10.0,
    seed: int = 0,
    replications: int = 20,
    executor: Any = None,
) -> Callable[[Scenario, PlantState, Forecast, list[Prediction]], dict[str, Any] | None]:
    """The ``Lookahead`` callback around ``planner(scenario, state, horizon_h=, time_limit=,
    seed=) -> Plan``."""

    def replan(
        sc: Scenario, state: PlantState, fc: Forecast, risky: list[Prediction]
    ) -> dict[str, Any] | None:
        plan = planner(sc, state, horizon_h=fc.horizon_h, time_limit=time_limit, seed=seed)
        if not plan.operations:
            return None
        n = max(1, min(fc.replications, replications))
        after = forecast(sc, state, fc.horizon_h, n, seed=fc.seed, plan=plan, executor=executor)
        return describe_change(fc, after, plan, risky)

    return replan
