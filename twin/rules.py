"""The plant's rules as pure functions: what cleaning a unit needs, when a dirty unit must be
cleaned, when a hold time is kept.

No SimPy here. The twin (``equipment.py``, ``batches.py``) and the planner's decoder
(``optimizer/aps_schedule.py``) both call these functions, so a rule exists once and a plan
decoded with mean durations is what the twin does with them.

Boundaries are defined once, here:

- a hold time is kept when the next step starts processing at or before ``end + max_hold``
  (:func:`hold_violated`); starting exactly at the limit is on time;
- a dirty unit must start cleaning at ``dirty_since + dirty_hold`` (:func:`dirty_limit`); a
  cleaning that starts later, for whatever reason (the unit was blocked, off shift, or waited
  for a cleaner), is a ``dirty_hold`` deviation of the overrun (:func:`dirty_overrun`); a clean
  that starts exactly at the limit is on time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from twin.scenario import Cleaning
    from twin.units import Distribution

__all__ = [
    "CLEAN",
    "MINOR",
    "DIRTY",
    "TIME_TOL",
    "CleanState",
    "cleaning_kind",
    "cleaning_duration",
    "cleaning_needed",
    "dirty_limit",
    "dirty_overrun",
    "full_clean",
    "idle_clean",
    "hold_violated",
    "cleaned",
]

CLEAN, MINOR, DIRTY = "clean", "minor", "dirty"
"""Cleanliness of a unit: clean (after a major/campaign/full clean or never used), minor (after
a minor clean: fit for the same product only), dirty (used, not yet cleaned)."""

TIME_TOL = 1e-9
"""Hours: two model times closer than this are the same instant (sums of floats drift)."""


@dataclass(frozen=True, slots=True)
class CleanState:
    """What the cleaning rules need to know about a unit."""

    cleanliness: str = CLEAN
    last_product: str | None = None
    campaign_count: int = 0  # batches since the last major, campaign or full clean
    clean_since: float = 0.0  # end of the last cleaning (or the start of the run)
    dirty_since: float = 0.0  # end of the last use


def cleaning_kind(cl: Cleaning, st: CleanState, product: str, now: float) -> str | None:
    """The cleaning a unit needs before running ``product`` if it starts cleaning at ``now``:
    ``"minor"``, ``"major"``, ``"campaign"``, ``"reclean"`` or None.

    - clean, or minor-cleaned for this product: nothing, unless unused past ``clean_hold``
      (then a minor "reclean");
    - dirty: a campaign clean once ``campaign_batches`` batches ran since the last full clean;
      else a major clean on a product change; else a minor clean;
    - a minor-cleaned unit taking another product needs the major clean;
    - a dirty unit used past its ``dirty_hold`` limit gets at least a major clean.
    """
    hold = cl.clean_hold
    if st.cleanliness == CLEAN:
        if hold is not None and now - st.clean_since > hold + TIME_TOL:
            return "reclean"
        return None
    if cl.campaign_batches is not None and st.campaign_count >= cl.campaign_batches:
        return "campaign"
    if st.last_product != product:
        return "major"
    if st.cleanliness == MINOR:
        if hold is not None and now - st.clean_since > hold + TIME_TOL:
            return "reclean"
        return None
    if dirty_overrun(cl, st, now) > 0:
        return "major"
    return "minor"


def cleaning_duration(cl: Cleaning, kind: str, last: str | None, product: str) -> Distribution:
    """The duration of a cleaning of ``kind`` from ``last`` to ``product``: the matrix entry
    of a major clean (the class's ``major`` where the matrix is silent), the campaign clean,
    the full clean, or the minor clean (also for a reclean)."""
    if kind == "major":
        return cl.matrix.get(last or "", {}).get(product, cl.major)
    if kind == "campaign":
        return cl.campaign  # type: ignore[return-value]
    if kind == "full":
        return full_clean(cl)
    return cl.minor


def cleaning_needed(
    cl: Cleaning, st: CleanState, product: str, now: float
) -> tuple[str, Distribution] | None:
    """``cleaning_kind`` with its duration distribution, or None."""
    kind = cleaning_kind(cl, st, product, now)
    if kind is None:
        return None
    return kind, cleaning_duration(cl, kind, st.last_product, product)


def full_clean(cl: Cleaning) -> Distribution:
    """The clean done when a dirty unit's ``dirty_hold`` runs out with no batch waiting."""
    return cl.campaign if cl.campaign is not None else cl.major


def idle_clean(cl: Cleaning, st: CleanState, kind: str) -> tuple[str, Distribution]:
    """The clean of an idle dirty unit before its dirty-hold limit, as a policy chose it
    (``Policy.clean_idle``): ``"minor"`` (fit again for the product it ran, within
    ``clean_hold``) or ``"major"`` (fit for any product); the campaign clean instead of either
    once ``campaign_batches`` ran, as a batch would need it. Only the twin runs these (the
    planner's decoder never plans an idle clean)."""
    if kind not in ("minor", "major"):
        raise ValueError(f"an idle clean is 'minor' or 'major', not {kind!r}")
    if cl.campaign_batches is not None and st.campaign_count >= cl.campaign_batches:
        return "campaign", cl.campaign  # type: ignore[return-value]
    return (kind, cl.minor if kind == "minor" else cl.major)


def dirty_limit(cl: Cleaning, st: CleanState) -> float:
    """When cleaning of a dirty unit must start at the latest (inf: no limit, or not dirty)."""
    if st.cleanliness != DIRTY or cl.dirty_hold is None:
        return math.inf
    return st.dirty_since + cl.dirty_hold


def dirty_overrun(cl: Cleaning, st: CleanState, start: float) -> float:
    """Hours by which a cleaning starting at ``start`` misses the dirty-hold limit (0 if not)."""
    over = start - dirty_limit(cl, st)
    return over if over > TIME_TOL else 0.0


def hold_violated(start: float, deadline: float) -> bool:
    """Whether processing starting at ``start`` misses a hold-time ``deadline``."""
    return start > deadline + TIME_TOL


def cleaned(st: CleanState, kind: str, now: float) -> CleanState:
    """The state after a cleaning of ``kind`` ends at ``now``."""
    if kind in ("major", "campaign", "full"):
        return CleanState(CLEAN, st.last_product, 0, now, st.dirty_since)
    mark = MINOR if st.last_product is not None else CLEAN
    return CleanState(mark, st.last_product, st.campaign_count, now, st.dirty_since)
