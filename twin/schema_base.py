"""The base of every scenario model and its number types: no silent type coercions.

YAML 1.1 reads ``yes``, ``no``, ``on``, ``off``, ``true`` and ``false`` as booleans, and pydantic
would then quietly turn ``count: true`` into 1. Every number of a scenario is therefore typed
``Float`` or ``Int``, which refuse booleans with a message that says how YAML read the value,
and refuse non-finite values (``.nan``, ``.inf``). Models are frozen and forbid unknown keys.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict

__all__ = ["Model", "Float", "Int", "BOOL_HINT", "number"]

BOOL_HINT = "YAML reads true/false/yes/no/on/off as booleans"


def number(value: Any) -> Any:
    """Refuse booleans and non-finite floats before pydantic's own number checks."""
    if isinstance(value, bool):
        raise ValueError(f"expected a number, not the boolean {value!r} ({BOOL_HINT})")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"expected a finite number, got {value!r}")
    return value


Float = Annotated[float, BeforeValidator(number)]
Int = Annotated[int, BeforeValidator(number)]


class Model(BaseModel):
    """Frozen, unknown keys forbidden, finite numbers."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False
    )
