"""Divergences: what the plant did that the model cannot explain, and how far the twin is from
the plant (the sync indicator).

Before each event is folded into the plant state, :class:`DivergenceDetector` checks it against
the state and the scenario; after it, the fold's own anomalies (``StateBuilder.anomalies``: an
event it could not place) count too. A divergence names the event, the unit and batch, and the
rule it broke:

=====================  =======================================================================
``batch_elsewhere``    a unit reports a batch the model has in setup or processing on another
                       unit
``step_order``         a batch starts a step other than the one it is at (skipped, repeated)
``wrong_class``        a step runs on a unit of another equipment class than its recipe says
``step_too_long``      a step ended after more processing hours than its duration distribution
                       allows (its upper end; the 99.99% quantile of an unbounded one), scaled
                       to the batch size
``step_overdue``       a step still running has already exceeded that bound (seen live, before
                       it ends; a step is flagged once)
``impossible_state``   a unit changed state in a way the model never does: down, or blocked,
                       from anything but processing (breakdowns strike running equipment; a
                       unit is blocked by the batch it just processed); setup from anything but
                       idle, cleaning or starved; out of setup to anything but processing; out
                       of dirty_hold to idle, setup, processing, blocked or down (a dirty unit
                       is cleaned first)
``fold``               the fold could not place the event (a step of a batch never released, a
                       repair of a unit that was not down, an unknown unit ...)
``lost``               events of a sequenced source that never arrived (skipped gap)
``invalid``            an event the model cannot represent: a unit state it does not know, a
                       step beyond its product's recipe, a quantity, size, due date or
                       battery that is not a finite number (or not positive where it must
                       be); it is counted and **not applied**, so the plant state stays valid
=====================  =======================================================================

:class:`SyncIndicator` keeps the share of recent events the model explained, the drift of step
durations (observed processing hours over the model's mean for that step, last 50 steps), the
gaps and lost events, and turns them into one word: ``in sync``, ``drifting`` or ``out of sync``.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from dataclasses import asdict, dataclass
from typing import Any

from twin.scenario import Scenario
from twin.state import Event, StateBuilder
from twin.state.validity import why_invalid

__all__ = [
    "Divergence",
    "DivergenceDetector",
    "SyncIndicator",
    "REASONS",
    "upper_bound",
    "ENTER_ONLY_FROM",
    "LEAVE_ONLY_TO",
]

REASONS = (
    "batch_elsewhere",
    "step_order",
    "wrong_class",
    "step_too_long",
    "step_overdue",
    "impossible_state",
    "fold",
    "lost",
    "invalid",
)
ENTER_ONLY_FROM: dict[str, frozenset[str]] = {
    "down": frozenset({"processing"}),
    "blocked": frozenset({"processing"}),
    "setup": frozenset({"idle", "cleaning", "starved"}),
}
"""A unit enters these states only from those (see the module docstring)."""
LEAVE_ONLY_TO: dict[str, frozenset[str]] = {
    "setup": frozenset({"processing"}),
    "dirty_hold": frozenset({"cleaning", "maintenance", "off_shift", "starved"}),
}
"""A unit leaves these states only for those."""
_Z9999 = 3.719016  # standard normal 99.99% quantile
_SLACK = 1e-6  # relative tolerance on bounds (float noise of scaled durations)


def upper_bound(dist: Any) -> float:
    """The longest duration a distribution of ``twin.units`` can draw: its upper end, or its
    99.99% quantile when it has none (normal without ``high``, lognormal, exponential)."""
    name = dist.dist
    if name == "fixed":
        return float(dist.value)
    if name in ("uniform", "triangular"):
        return float(dist.high)
    if name == "empirical":
        return float(max(dist.values))
    if name == "normal":
        return float(dist.high) if dist.high is not None else float(dist.mean_ + _Z9999 * dist.sd)
    if name == "exponential":
        return float(dist.mean_ * math.log(1e4))
    sigma2 = math.log(1 + (dist.sd / dist.mean_) ** 2)  # lognormal
    mu = math.log(dist.mean_) - sigma2 / 2
    return float(math.exp(mu + _Z9999 * math.sqrt(sigma2)))


@dataclass(frozen=True, slots=True)
class Divergence:
    """One event (or observation) the model cannot explain."""

    t: float  # model hours
    reason: str  # one of REASONS
    message: str
    unit: str | None = None
    batch: int = -1
    event_id: str = ""
    kind: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class _StepSpec:
    upper: float  # at the reference size (or per batch when the step does not scale)
    mean: float
    reference: float | None
    cls: str
    name: str


class DivergenceDetector:
    """Checks events against the model (see the module docstring). ``check(sb, e)`` before
    the fold applies ``e``, ``after(sb, e)`` after it, ``tick(sb, now)`` now and then for steps
    running too long."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.steps: dict[tuple[str, int], _StepSpec] = {}
        for pid, prod in scenario.products.items():
            for k, step in enumerate(prod.recipe):
                self.steps[(pid, k)] = _StepSpec(
                    upper_bound(step.duration),
                    float(step.duration.mean),
                    step.scale_reference,
                    step.equipment_class,
                    step.name,
                )
        self.unit_class = {
            name: scenario.units[uid].equipment_class for name, uid in scenario.unit_names()
        }
        self.flagged: set[tuple[int, int]] = set()  # running (batch, step) flagged overdue
        self._anomalies = 0
        self.ratios: deque[float] = deque(maxlen=50)  # observed / model mean, last steps

    # ------------------------------------------------------------------ per event
    def invalid(self, sb: StateBuilder, e: Event, event_id: str = "") -> Divergence | None:
        """Why the event cannot be applied without making the plant state invalid, if so
        (see ``invalid`` in the module docstring)."""
        why = why_invalid(self.scenario, sb, e)
        return None if why is None else self._div(e, "invalid", why, event_id)

    def _factor(self, spec: _StepSpec, size: float) -> float:
        return size / spec.reference if spec.reference else 1.0

    def check(self, sb: StateBuilder, e: Event, event_id: str = "") -> list[Divergence]:
        kind = e.kind
        if kind == "state":
            return self._state(sb, e, event_id)
        if kind in ("step_start", "setup", "step_end"):
            return self._step(sb, e, event_id)
        return []

    def _div(self, e: Event, reason: str, message: str, event_id: str) -> Divergence:
        return Divergence(e.t, reason, message, e.unit, e.batch, event_id, e.kind)

    def _state(self, sb: StateBuilder, e: Event, event_id: str) -> list[Divergence]:
        new = e.state
        if new is None:
            return []
        u = sb.units.get(e.unit or "")
        if u is None:
            return []  # the fold counts the unknown unit
        old = u.state
        if old == new:
            return []
        allowed_from = ENTER_ONLY_FROM.get(new)
        allowed_to = LEAVE_ONLY_TO.get(old)
        if (allowed_from is not None and old not in allowed_from) or (
            allowed_to is not None and new not in allowed_to
        ):
            return [
                self._div(
                    e,
                    "impossible_state",
                    f"{e.unit}: {old} -> {new}, a change of state the model never makes",
                    event_id,
                )
            ]
        b = sb.batches.get(e.batch) if e.batch >= 0 else None
        if (
            b is not None
            and b.phase in ("setup", "processing", "down")
            and b.unit is not None
            and b.unit != e.unit
            and new in ("setup", "processing")
        ):
            return [self._elsewhere(e, b, event_id)]
        return []

    def _elsewhere(self, e: Event, b: Any, event_id: str) -> Divergence:
        return self._div(
            e,
            "batch_elsewhere",
            f"{e.unit} reports batch {b.order}/{b.index} (#{b.id}), which the model has in "
            f"{b.phase} on {b.unit}",
            event_id,
        )

    def _step(self, sb: StateBuilder, e: Event, event_id: str) -> list[Divergence]:
        b = sb.batches.get(e.batch)
        u = sb.units.get(e.unit or "")
        if b is None or u is None:
            return []  # the fold counts a batch never released or an unknown unit
        out = []
        spec = self.steps.get((b.product, e.step))
        if e.kind == "step_end":
            if b.unit != e.unit or b.phase not in ("processing", "down") or b.step != e.step:
                out.append(
                    self._div(
                        e,
                        "step_order",
                        f"{e.unit} ends step {e.step} of batch {b.order}/{b.index} (#{b.id}), "
                        f"which the model has at step {b.step} ({b.phase} on {b.unit})",
                        event_id,
                    )
                )
            if spec is not None and math.isfinite(e.value):
                factor = self._factor(spec, b.size)
                if spec.mean > 0:
                    self.ratios.append(e.value / (spec.mean * factor))
                limit = spec.upper * factor
                if e.value > limit * (1 + _SLACK) + 1e-9 and (e.batch, e.step) not in self.flagged:
                    out.append(
                        self._div(
                            e,
                            "step_too_long",
                            f"{spec.name} of batch {b.order}/{b.index} on {e.unit} took "
                            f"{e.value:.2f} h of processing; the model allows at most "
                            f"{limit:.2f} h",
                            event_id,
                        )
                    )
            self.flagged.discard((e.batch, e.step))  # the step is over: flagged holds running ones
            return out
        if b.phase in ("setup", "processing", "down") and b.unit not in (None, e.unit):
            out.append(self._elsewhere(e, b, event_id))
        elif e.step != b.step:
            out.append(
                self._div(
                    e,
                    "step_order",
                    f"{e.unit} starts step {e.step} of batch {b.order}/{b.index} (#{b.id}), "
                    f"which the model has at step {b.step}",
                    event_id,
                )
            )
        if spec is not None and self.unit_class.get(e.unit or "") != spec.cls:
            out.append(
                self._div(
                    e,
                    "wrong_class",
                    f"{spec.name} of batch {b.order}/{b.index} runs on {e.unit} (a "
                    f"{self.unit_class.get(e.unit or '')}); the recipe says {spec.cls}",
                    event_id,
                )
            )
        return out

    def after(self, sb: StateBuilder, e: Event, event_id: str = "") -> list[Divergence]:
        """The fold's anomalies that this event added."""
        total = sum(sb.anomalies.values())
        if total <= self._anomalies:
            self._anomalies = total
            return []
        self._anomalies = total
        reason = _last_reason(sb.anomalies, e.kind)
        return [self._div(e, "fold", f"the fold cannot place it: {reason}", event_id)]

    def sync_anomalies(self, sb: StateBuilder) -> None:
        """Take the fold's anomaly count as it is now (after a restart or an offline fold)."""
        self._anomalies = sum(sb.anomalies.values())

    # ------------------------------------------------------------------ over time
    def tick(self, sb: StateBuilder, now: float) -> list[Divergence]:
        """Steps still processing at ``now`` (model hours) past their bound."""
        out = []
        for name, u in sb.units.items():
            if u.spell is None or u.holder < 0:
                continue
            b = sb.batches.get(u.holder)
            if b is None or b.phase not in ("processing", "down") or (b.id, b.step) in self.flagged:
                continue
            spec = self.steps.get((b.product, b.step))
            if spec is None:
                continue
            done = b.processed_h + max(0.0, now - u.spell)
            limit = spec.upper * self._factor(spec, b.size)
            if done > limit * (1 + _SLACK) + 1e-9:
                self.flagged.add((b.id, b.step))
                out.append(
                    Divergence(
                        now,
                        "step_overdue",
                        f"{spec.name} of batch {b.order}/{b.index} on {name} has run "
                        f"{done:.2f} h; the model allows at most {limit:.2f} h",
                        name,
                        b.id,
                        "",
                        "",
                    )
                )
        return out

    @property
    def drift(self) -> float | None:
        """Mean of observed / model mean step duration over the last steps (None: < 5)."""
        if len(self.ratios) < 5:
            return None
        return sum(self.ratios) / len(self.ratios)

    # ------------------------------------------------------------------ restart
    def checkpoint(self) -> dict[str, Any]:
        return {"flagged": sorted(self.flagged), "ratios": list(self.ratios)}

    def restore(self, data: dict[str, Any]) -> None:
        for item in data.get("flagged") or []:
            if isinstance(item, list) and len(item) == 2 and all(isinstance(x, int) for x in item):
                self.flagged.add((item[0], item[1]))
        for r in data.get("ratios") or []:
            if isinstance(r, int | float) and math.isfinite(r):
                self.ratios.append(float(r))


def _last_reason(anomalies: Counter[str], kind: str) -> str:
    for reason in anomalies:
        if reason.startswith(kind):
            return reason
    return next(iter(anomalies), "unknown")


class SyncIndicator:
    """How well the twin follows the plant, in one word and a few numbers (see the module
    docstring)."""

    WINDOW = 1000

    def __init__(self) -> None:
        self.recent: deque[bool] = deque(maxlen=self.WINDOW)  # True: explained
        self.counts: Counter[str] = Counter()
        self.total = 0

    def record(self, divergences: list[Divergence], event: bool = True) -> None:
        if event:
            self.recent.append(not divergences)
        for d in divergences:
            self.counts[d.reason] += 1
            self.total += 1

    @property
    def explained(self) -> float | None:
        """Share of the last events without a divergence (None before the first)."""
        if not self.recent:
            return None
        return sum(self.recent) / len(self.recent)

    def status(self, drift: float | None, gaps: int, lost_recent: bool, stale: bool) -> str:
        share = self.explained
        if share is None:
            return "waiting"
        off = drift is not None and abs(drift - 1.0) > 0.15
        if stale or share < 0.9 or (drift is not None and abs(drift - 1.0) > 0.5):
            return "out of sync"
        if share < 0.99 or off or gaps or lost_recent:
            return "drifting"
        return "in sync"
