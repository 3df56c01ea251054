"""Immutable planning data for the plant scheduling model (`ApsData.from_scenario`).

Everything the scheduler needs is read from the Scenario once, here: operations (one per batch
and recipe step) with their eligible units and planning durations, orders with release, due
date and weight, units with their cleaning rules, calendars and maintenance, staff pools.
Nothing downstream looks at the Scenario again.
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass, field
from typing import Any

from twin.plant import PlannedOrder, generate_orders
from twin.scenario import Scenario
from twin.staff import ALWAYS, Calendar, week_offset

__all__ = [
    "ApsData",
    "Objective",
    "OpData",
    "BatchData",
    "OrderData",
    "UnitData",
    "PoolData",
    "UnitStart",
    "PlanInfeasibleError",
    "planning_duration",
    "ApsBuilder",
]

_TERMS = ("tardiness", "makespan", "cleaning")


class PlanInfeasibleError(ValueError):
    """A plan request no schedule can satisfy; names the orders and the constraint."""

    def __init__(self, orders: list[str], constraint: str, detail: str) -> None:
        self.orders, self.constraint = orders, constraint
        more = f" and {len(orders) - 10} more" if len(orders) > 10 else ""
        shown = ", ".join(orders[:10]) + more
        super().__init__(
            f"infeasible plan request: {constraint} cannot hold for order(s) {shown}: {detail}"
        )


@dataclass(frozen=True)
class Objective:
    """Weights of the objective terms: weighted tardiness (h), makespan (h), cleaning (h)."""

    tardiness: float = 1.0
    makespan: float = 0.0
    cleaning: float = 0.0

    def __post_init__(self) -> None:
        for name in _TERMS:
            v = getattr(self, name)
            if not (isinstance(v, int | float) and v >= 0 and math.isfinite(v)):
                raise ValueError(f'"{name}" weight must be a finite number >= 0, got {v!r}.')
        if self.tardiness == self.makespan == self.cleaning == 0:
            raise ValueError("an objective needs at least one positive weight.")

    @classmethod
    def parse(cls, spec: str | Objective) -> Objective:
        """``"tardiness"``, ``"makespan"``, ``"cleaning"`` or a weighted sum such as
        ``"tardiness+0.1*makespan"`` (weights are finite numbers >= 0, at least one > 0).
        Raises ValueError saying which term is wrong and why."""
        if isinstance(spec, Objective):
            return spec
        text = str(spec).replace(" ", "")
        example = "e.g. 'tardiness+0.1*makespan'"
        if not text:
            raise ValueError(f"empty objective; expected {example}")
        if len(text) > 200:
            raise ValueError(
                f"objective of {len(text)} characters; expected a short sum, {example}"
            )
        weights = dict.fromkeys(_TERMS, 0.0)
        for term in text.split("+"):
            if not term:
                raise ValueError(f"empty term in {spec!r}; expected terms joined by '+', {example}")
            m = re.fullmatch(r"(?:([^*]*)\*)?([A-Za-z_]+)", term)
            name = m.group(2).lower() if m else None
            if m is None or name not in _TERMS:
                if "-" in term.lstrip("-+0123456789.eE*") or term.startswith("-"):
                    why = "weights are numbers >= 0 (the objective is minimised) and terms are "
                    why += "joined by '+'"
                else:
                    why = f"expected [weight*]name with name one of {', '.join(_TERMS)}"
                raise ValueError(f"bad objective term {term!r} in {spec!r}; {why}, {example}")
            raw = m.group(1)
            try:
                w = 1.0 if raw is None else float(raw)
            except ValueError:
                w = math.nan
            if raw is not None and not re.fullmatch(r"[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?", raw):
                w = math.nan
            if not (math.isfinite(w) and w >= 0):
                raise ValueError(
                    f"bad objective term {term!r} in {spec!r}; the weight {raw!r} must be a "
                    f"finite number >= 0, {example}"
                )
            weights[name] += w
        if not any(weights.values()):
            raise ValueError(f"objective {spec!r} has no positive weight; expected {example}")
        return cls(**weights)

    def __str__(self) -> str:
        return "+".join(
            (n if w == 1 else f"{w:g}*{n}") for n in _TERMS if (w := getattr(self, n)) > 0
        )


@dataclass(frozen=True, slots=True)
class OpData:
    """One batch step: runs on one of ``units`` for ``dur`` hours after ``setup`` hours."""

    index: int
    batch: int
    step: int
    cls: str
    units: tuple[int, ...]
    dur: float
    setup: float
    staff: tuple[int, int] | None  # (pool index, count) held for setup + processing
    max_hold: float | None  # the next step must start processing within this of our end
    direct: bool  # the unit stays blocked until the next step's unit is taken


@dataclass(frozen=True, slots=True)
class BatchData:
    key: str  # "order/index"
    order: int
    product: str
    size: float
    ready: float  # release (or, when re-planning, when its next step can start)
    ops: tuple[int, ...]
    holds: int = -1  # re-planning: unit the batch still blocks (direct transfer), freed when
    # its next step takes a unit


@dataclass(frozen=True, slots=True)
class OrderData:
    id: str
    product: str
    release: float
    due: float  # due date of production (the order's due date less the QC lead time)
    weight: float
    batches: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class UnitStart:
    """A unit's state when planning starts."""

    free: float = 0.0
    last_product: str | None = None
    dirty: bool = False
    since: float = 0.0  # dirty since / clean since
    campaign: int = 0
    batches_since_maint: int = 0
    clean: Any = None  # its twin.rules.CleanState, when known (a plant state): wins over the above
    maintenance_due: bool = False


@dataclass(frozen=True, slots=True)
class UnitData:
    name: str
    cls: str
    calendar: Calendar
    minor: float
    major: float
    matrix: dict[str, dict[str, float]]
    campaign_batches: int | None
    campaign: float
    dirty_hold: float | None
    clean_hold: float | None
    needs_cleaning: bool
    clean_staff: tuple[int, int] | None
    maint_every: float | None
    maint_every_batches: int | None
    maint_duration: float
    maint_staff: tuple[int, int] | None
    start: UnitStart = UnitStart()
    cleaning: Any = None  # the class's Cleaning spec: the rules (twin.rules) read it

    def major_clean(self, frm: str | None, to: str) -> float:
        return self.matrix.get(frm or "", {}).get(to, self.major)

    def clean_hours(self, kind: str, frm: str | None, to: str) -> float:
        """Planning hours of a cleaning of ``kind`` (see ``twin.rules.cleaning_duration``)."""
        if kind == "major":
            return self.major_clean(frm, to)
        if kind == "campaign":
            return self.campaign
        if kind == "full":
            return self.full
        return self.minor

    @property
    def full(self) -> float:
        """The clean done when the dirty-hold limit runs out (``twin.rules.full_clean``)."""
        return self.campaign if self.cleaning is not None and self.cleaning.campaign else self.major

    def change_clean(self, frm: str | None, to: str) -> float:
        """Cleaning between consecutive batches of ``frm`` then ``to`` (no campaign end)."""
        if not self.needs_cleaning or frm is None:
            return 0.0
        return self.minor if frm == to else self.major_clean(frm, to)


@dataclass(frozen=True, slots=True)
class PoolData:
    name: str
    count: int
    calendar: Calendar


def planning_duration(dist: Any, quantile: float | None = None, samples: int = 4000) -> float:
    """The mean of a distribution, or its quantile (closed form where there is one, else by
    sampling with a fixed seed)."""
    if quantile is None:
        return float(dist.mean)
    q = float(quantile)
    kind = getattr(dist, "dist", "fixed")
    if kind == "fixed":
        return float(dist.value)
    if kind == "uniform":
        return dist.low + q * (dist.high - dist.low)
    if kind == "exponential":
        return -dist.mean * math.log(max(1e-12, 1 - q))
    if kind == "triangular":
        a, c, b = dist.low, dist.mode, dist.high
        if b == a:
            return a
        f = (c - a) / (b - a)
        if q < f:
            return a + math.sqrt(q * (b - a) * (c - a))
        return b - math.sqrt((1 - q) * (b - a) * (b - c))
    rng = random.Random(12345)
    xs = sorted(dist.sample(rng) for _ in range(samples))
    return float(xs[min(len(xs) - 1, int(q * len(xs)))])


def _weight(priority: int) -> float:
    return 1.0 + priority if priority >= 0 else 1.0 / (1.0 - priority)


@dataclass(frozen=True)
class ApsData:
    """The scheduling problem; build it with :meth:`from_scenario`."""

    ops: tuple[OpData, ...]
    batches: tuple[BatchData, ...]
    orders: tuple[OrderData, ...]
    units: tuple[UnitData, ...]
    pools: tuple[PoolData, ...]
    t0: float = 0.0
    busy: tuple[tuple[int, float, float, int], ...] = ()  # (pool, start, end, n) already taken
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def unit_index(self) -> dict[str, int]:
        return {u.name: i for i, u in enumerate(self.units)}

    @classmethod
    def from_scenario(
        cls,
        scenario: Scenario,
        orders: list[PlannedOrder] | None = None,
        seed: int = 0,
        replication: int = 0,
        horizon: float | None = None,
        quantile: float | None = None,
        qc_offset: bool = True,
        staff: bool = True,
        due_margin: float = 0.0,
        hold_slack: float = 0.0,
    ) -> ApsData:
        """Operations of every batch of the orders (default: the scenario's fixed and generated
        orders, exactly those the twin releases for ``seed``/``replication``) released before
        ``horizon`` hours (all if None).

        ``quantile`` plans with that quantile of each duration instead of its mean;
        ``qc_offset`` moves each due date earlier by the product's mean QC lead time, so a batch
        finished on its production due date is released by QC on the order's due date;
        ``staff=False`` ignores operator capacity and shifts; ``due_margin`` hours are taken
        off every due date (a safety margin against delays the plan cannot foresee);
        ``hold_slack`` plans hold times whose violation scraps the batch at (1 - slack) of their
        limit.
        """
        if orders is None:
            orders = generate_orders(scenario, seed, replication)
        if horizon is not None:
            orders = [o for o in orders if o.release < horizon]
        builder = ApsBuilder(scenario, quantile, qc_offset, staff, due_margin, hold_slack)
        for o in orders:
            builder.add_order(o)
        return builder.build()


class ApsBuilder:
    """Builds ``ApsData`` order by order (``ApsData.from_scenario``, planning from a plant
    state in ``optimizer.aps_state``)."""

    def __init__(
        self,
        sc: Scenario,
        quantile: float | None,
        qc_offset: bool,
        staff: bool,
        due_margin: float = 0.0,
        hold_slack: float = 0.0,
    ) -> None:
        self.sc, self.quantile, self.qc_offset, self.staff = sc, quantile, qc_offset, staff
        self.due_margin, self.hold_slack = due_margin, hold_slack
        offset = week_offset(sc.start.weekday(), sc.start.hour + sc.start.minute / 60)
        self.offset = offset
        self.pool_names = list(sc.staff) if staff else []
        self.pools = (
            [PoolData(q, p.count, self._calendar(p.shift)) for q, p in sc.staff.items()]
            if staff
            else []
        )
        self.units: list[UnitData] = []
        self.by_class: dict[str, list[int]] = {}
        for name, uid in sc.unit_names():
            spec = sc.units[uid]
            ec = sc.equipment_classes[spec.equipment_class]
            cl = ec.cleaning
            m = ec.maintenance
            self.by_class.setdefault(spec.equipment_class, []).append(len(self.units))
            self.units.append(
                UnitData(
                    name=name,
                    cls=spec.equipment_class,
                    calendar=self._calendar(spec.shift or ec.shift),
                    minor=self._d(cl.minor),
                    major=self._d(cl.major),
                    matrix={
                        f: {t: self._d(d) for t, d in row.items()} for f, row in cl.matrix.items()
                    },
                    campaign_batches=cl.campaign_batches,
                    campaign=self._d(cl.campaign) if cl.campaign is not None else 0.0,
                    dirty_hold=cl.dirty_hold,
                    clean_hold=cl.clean_hold,
                    needs_cleaning=bool(
                        cl.minor.mean
                        or cl.major.mean
                        or cl.matrix
                        or (cl.campaign and cl.campaign.mean)
                    ),
                    clean_staff=self._need(cl.operators.qualification, cl.operators.count)
                    if cl.operators
                    else None,
                    maint_every=m.every if m else None,
                    maint_every_batches=m.every_batches if m else None,
                    maint_duration=self._d(m.duration) if m else 0.0,
                    maint_staff=self._need(m.qualification, 1) if m and m.qualification else None,
                    cleaning=cl,
                )
            )
        self.ops: list[OpData] = []
        self.batches: list[BatchData] = []
        self.orders: list[OrderData] = []

    def _calendar(self, shift: str | None) -> Calendar:
        if shift is None:
            return ALWAYS
        return Calendar(self.sc.shifts[shift].windows(), self.offset)

    def _hold(self, step: Any) -> float | None:
        if step.max_hold is None:
            return None
        if step.on_hold_violation == "scrap":
            return step.max_hold * (1.0 - self.hold_slack)
        return step.max_hold

    def _d(self, dist: Any) -> float:
        return planning_duration(dist, self.quantile)

    def _need(self, qualification: str, count: int) -> tuple[int, int] | None:
        if not self.staff:
            return None
        return (self.pool_names.index(qualification), count)

    def add_order(
        self,
        o: PlannedOrder,
        sizes: list[float] | None = None,
        first_index: int = 1,
        ready: list[float] | None = None,
        first_step: list[int] | None = None,
        holds: list[int] | None = None,
        pinned: list[int] | None = None,
    ) -> None:
        """Batches of an order (re-planning: some, from ``first_step``, ready at ``ready``,
        blocking unit ``holds``, the first step pinned to unit ``pinned``)."""
        prod = self.sc.products[o.product]
        if sizes is None:
            n = max(1, math.ceil(o.quantity / prod.batch_size - 1e-9))
            sizes = [prod.batch_size] * (n - 1) + [o.quantity - (n - 1) * prod.batch_size]
        due = float(o.due) - self.due_margin
        if self.qc_offset:
            qc = prod.qc or self.sc.qc
            if qc is not None:
                due -= self._d(qc.lead_time)
        oi = len(self.orders)
        bis = []
        for k, size in enumerate(sizes):
            bi = len(self.batches)
            s0 = first_step[k] if first_step else 0
            ops = []
            for s in range(s0, len(prod.recipe)):
                step = prod.recipe[s]
                scale = size / step.scale_reference if step.scale_reference else 1.0
                ops.append(len(self.ops))
                self.ops.append(
                    OpData(
                        index=len(self.ops),
                        batch=bi,
                        step=s,
                        cls=step.equipment_class,
                        units=(pinned[k],)
                        if pinned and pinned[k] >= 0 and s == s0
                        else tuple(self.by_class[step.equipment_class]),
                        dur=self._d(step.duration) * scale,
                        setup=self._d(step.setup),
                        staff=self._need(step.operators.qualification, step.operators.count)
                        if step.operators
                        else None,
                        max_hold=self._hold(step) if s + 1 < len(prod.recipe) else None,
                        direct=step.transfer == "direct" and s + 1 < len(prod.recipe),
                    )
                )
            r = ready[k] if ready else float(o.release)
            self.batches.append(
                BatchData(
                    f"{o.id}/{first_index + k}",
                    oi,
                    o.product,
                    size,
                    r,
                    tuple(ops),
                    holds[k] if holds else -1,
                )
            )
            bis.append(bi)
        self.orders.append(
            OrderData(o.id, o.product, float(o.release), due, _weight(o.priority), tuple(bis))
        )

    def build(
        self, t0: float = 0.0, starts: dict[int, UnitStart] | None = None, busy: tuple = ()
    ) -> ApsData:
        units = self.units
        if starts:
            units = [
                UnitData(**{**{f: getattr(u, f) for f in UnitData.__slots__}, "start": starts[i]})
                if i in starts
                else u
                for i, u in enumerate(units)
            ]
        return ApsData(
            tuple(self.ops),
            tuple(self.batches),
            tuple(self.orders),
            tuple(units),
            tuple(self.pools),
            t0,
            tuple(busy),
        )
