"""The plant at an instant (``PlantState``): read from an event log, written as JSON, and the
starting point of warm starts, re-planning, forecasts and the live twin.

- ``model``: the frozen data and its versioned, validated JSON form (``load_state``);
- ``fold``: the state as a fold over events (``StateBuilder``, ``state_from_events``), over
  ``records`` (an event, a unit, a batch) with one function per event kind in ``handlers``.
"""

from twin.state.fold import Event, StateBuilder, state_from_events, states_at
from twin.state.model import (
    FORMAT,
    PHASES,
    VERSION,
    BatchState,
    LotState,
    OrderState,
    PlantState,
    StateError,
    UnitState,
    VehicleState,
    load_state,
    state_from_dict,
)

__all__ = [
    "FORMAT",
    "VERSION",
    "PHASES",
    "BatchState",
    "Event",
    "LotState",
    "OrderState",
    "PlantState",
    "StateBuilder",
    "StateError",
    "UnitState",
    "VehicleState",
    "load_state",
    "state_from_dict",
    "state_from_events",
    "states_at",
]
