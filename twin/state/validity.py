"""Events a plant state cannot hold (the same rule for ``twin state`` on any log and for the
live twin): see :func:`why_invalid`."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from twin.scenario import UNIT_STATES

if TYPE_CHECKING:
    from twin.scenario import Scenario
    from twin.state.fold import StateBuilder
    from twin.state.records import Event

__all__ = ["why_invalid"]

_TINY = 1e-9  # the least quantity, size or batch count the state holds
_UNIT_STATES = frozenset(UNIT_STATES)
_NON_NEGATIVE = frozenset(("lot_receipt", "wh_full", "reorder", "agv_added", "agv_state"))
"""Kinds whose value becomes a quantity or a battery level of the state."""
_LOT_STATUSES = ("quarantine", "released", "rejected", "expired")
_DURATIONS = frozenset(("setup", "clean_start", "repair_start", "maintenance_start", "qc_start",
                        "step_start", "step_end"))  # fmt: skip
"""Kinds whose value is a number of hours."""
_AMOUNTS = _NON_NEGATIVE | {"lot_status", "charge_start", "charge_end", "material_pick",
                            "shipment", "stockout"}  # fmt: skip


def why_invalid(scenario: Scenario, sb: StateBuilder, e: Event) -> str | None:
    """Why applying ``e`` would leave a plant state that cannot be saved and read back (a
    unit state the model does not know, a step beyond the recipe, a quantity, size, due time or
    duration that is not a plausible finite number, a lot without its warehouse...), or None.
    The fold skips such events and counts them; the live twin reports them as divergences."""
    kind = e.kind
    if kind == "state" and e.state is not None and e.state not in _UNIT_STATES:
        return f"{e.unit}: unknown state {e.state!r}"
    if kind in ("step_start", "step_end", "setup"):
        b = sb.batches.get(e.batch)
        if b is not None:
            n = len(scenario.products[b.product].recipe)
            if not 0 <= e.step < n:
                return f"{kind} of step {e.step} of batch #{e.batch}; its recipe has {n}"
    elif kind in ("order_release", "order_resume"):
        try:
            qty = float(e.detail) if e.detail is not None else 1.0
        except ValueError:
            qty = 1.0  # the fold reads it as one batch
        if not (math.isfinite(qty) and _TINY <= qty < 1e9):
            return f"order {e.order}: quantity {e.detail!r}; expected a positive number"
        if not (math.isfinite(e.value) and 0 <= e.value < 1e9):
            return f"order {e.order}: due {e.value!r} h; expected a time after the start"
    elif kind in ("batch_release", "batch_resume"):
        if e.batch < 0:
            return f"{kind} without a batch number"
        if math.isfinite(e.value) and not _TINY <= e.value < 1e9:
            return f"batch #{e.batch}: size {e.value!r}; expected a positive number"
    if kind in ("lot_receipt", "lot_status", "wh_full") and e.detail is not None:
        if not e.unit:
            return f"{kind} of lot {e.detail} without its warehouse (unit)"
        if e.state is not None and e.state not in _LOT_STATUSES:
            return f"lot {e.detail}: status {e.state!r}; expected one of {_LOT_STATUSES}"
    elif kind == "agv_added" and e.unit and not e.detail:
        return f"{e.unit}: added without its node (detail)"
    elif kind == "agv_move" and e.detail and ">" in e.detail and not e.detail.split(">", 1)[1]:
        return f"{e.unit}: move {e.detail!r}; expected from>to"
    elif kind == "reorder" and math.isfinite(e.value) and e.value < _TINY:
        return f"reorder {e.detail}: quantity {e.value!r}; expected a positive number"
    if kind in _DURATIONS and not math.isnan(e.value) and not 0 <= e.value < 1e9:
        return f"{kind}: {e.value!r} hours; expected a duration >= 0"
    if kind in _AMOUNTS:
        if kind in _NON_NEGATIVE and not (math.isfinite(e.value) and 0 <= e.value < 1e9):
            return f"{kind}: value {e.value!r}; expected a finite number >= 0"
        if not math.isnan(e.value) and not (math.isfinite(e.value) and abs(e.value) < 1e9):
            return f"{kind}: value {e.value!r}; expected a finite number"
    return None
