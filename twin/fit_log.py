"""What an event log says about each random quantity of a scenario: the samples to calibrate.

Everything is read from the log in the twin's schema (``twin.eventlog``); the scenario only
says which distribution each sample belongs to and how the twin draws it:

- **step durations** per product and step (the step's class is fixed by the recipe):
  ``step_end.value`` is processing hours without breakdown time; a step with
  ``scale_reference`` ran ``draw * size / reference`` hours (size = ``batch_release.value``),
  so the sample is the duration at the reference size. A step still processing at the end is
  right-censored at its processing hours so far.
- **setup** per product and step: ``setup.value`` (the twin logs only setups longer than 0).
- **cleaning** per class and distribution, from ``clean_start``/``clean_end`` times: minor and
  reclean draw the class's ``minor``; major the ``matrix[from][to]`` entry where the scenario
  has one (from = the product last run on the unit, to = the next one), else ``major``;
  campaign ``campaign``; full (dirty-hold expiry) ``campaign`` if set, else ``major``
  (``twin.rules``). A cleaning running at the end is right-censored.
- **MTBF** per class, on the twin's operating-time basis: the processing hours of a unit
  (time in state ``processing``) from a renewal (the start, a ``repair_end`` or a
  ``maintenance_end``) to the next ``breakdown``. Preventive maintenance renews the clock
  before a failure, and the end of the log stops it: both right-censor the time.
- **MTTR** per class: ``repair_start`` -> ``repair_end`` (waiting for a technician is not
  repair); a repair pending at the end is right-censored. **Maintenance duration** alike.
- **QC lead time** per product, ``quarantine`` -> ``qc_release``/``qc_reject``. The twin
  releases at the later of quarantine + lead time and the end of the analyst's hands-on work
  (``qc_start`` + hands-on), so a release at most ``c = qc_start - quarantine + max hands-on``
  after quarantine may be the analyst's doing: such a batch only says ``lead <= c``
  (left-censored at c). Batches whose ``c`` reaches past the end of the log are left out (that
  choice depends on the analyst queue, not on the lead time); those still waiting past ``c``
  are right-censored.
- **orders** per product of the order generator: gaps between ``order_release`` times (the
  time from the last one to the end is right-censored), quantities (``detail``) and
  ``due_after`` (``value`` - release time). Orders the scenario lists itself are left out.
"""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from twin.fit_dist import Sample
from twin.fit_events import (
    REQUIRED_COLUMNS,
    FitError,
    LogContext,
    Observed,
    Rows,
    Window,
    format_path,
    mean_or_none,
)
from twin.fit_units import cleaning, failures
from twin.kpi import LogView
from twin.scenario import Scenario

__all__ = ["FitError", "Observed", "Window", "observations", "format_path"]

Path = tuple[str | int, ...]


def observations(
    scenario: Scenario, table: pa.Table, until: float | None, source: str
) -> tuple[list[Observed], Window]:
    """The samples of every random quantity of ``scenario`` in the log ``table``."""
    missing = [c for c in REQUIRED_COLUMNS if c not in table.column_names]
    if missing:
        raise FitError(
            f"{source}: not an event log in the twin's schema: missing column(s) "
            f"{', '.join(missing)}; expected the columns of twin/eventlog.py ("
            f"{', '.join(REQUIRED_COLUMNS)}, detail)"
        )
    if until is not None:
        table = table.filter(pc.less(table.column("t"), until))
    if table.num_rows == 0:
        where = f" before --until {until:g} h" if until is not None else ""
        raise FitError(f"{source}: the log has no events{where}; expected a non-empty event log")
    t = table.column("t").to_numpy()
    if not np.all(np.isfinite(t)):
        raise FitError(
            f"{source}: {int(np.sum(~np.isfinite(t)))} event(s) with a time that is not a "
            "number; expected every t to be finite model hours"
        )
    if np.any(np.diff(t) < 0):  # a converted log may come unsorted: order it by time
        table = table.take(pa.array(np.argsort(t, kind="stable")))
    view = LogView(table)
    ends = view.t[view.kind("run_end")]
    end = float(ends.max()) if len(ends) else float(view.t.max())
    if until is not None:
        end = until if not len(ends) or until < end else end
    window = Window(end, until, table.num_rows)
    ctx = LogContext(scenario, view, end, source)
    out: list[Observed] = []
    for reader in (steps, setups, cleaning, failures, qc, orders):
        out += reader(ctx)
    return out, window


def steps(ctx: LogContext) -> list[Observed]:
    sc = ctx.sc
    exact: dict[tuple[str, int], list[float]] = defaultdict(list)
    right: dict[tuple[str, int], list[float]] = defaultdict(list)
    done = set(zip(ctx.stop.batch.tolist(), ctx.stop.step.tolist(), strict=True))
    for b, k, p, v in zip(
        ctx.stop.batch,
        ctx.stop.step,
        ctx.stop.strings("product"),
        ctx.stop.value,
        strict=True,
    ):
        step = sc.products[p].recipe[k]  # type: ignore[index]
        exact[(p, int(k))].append(v / ctx.size(int(b), step.scale_reference, "step"))
    for b, k, p, u, t in zip(
        ctx.start.batch,
        ctx.start.step,
        ctx.start.strings("product"),
        ctx.start.strings("unit"),
        ctx.start.t,
        strict=True,
    ):
        if (int(b), int(k)) in done:
            continue
        step = sc.products[p].recipe[k]  # type: ignore[index]
        ran = ctx.clock.at(u, ctx.end) - ctx.clock.at(u, t)  # type: ignore[arg-type]
        if ran > 0:
            right[(p, int(k))].append(ran / ctx.size(int(b), step.scale_reference, "step"))
    out = []
    for p, prod in sc.products.items():
        for k, step in enumerate(prod.recipe):
            ref = step.scale_reference
            notes = (
                (
                    f"durations divided by batch size / {ref:g} (the recipe scales this step "
                    f"linearly): fitted at the reference size {ref:g}",
                )
                if ref
                else ()
            )
            out.append(
                Observed(
                    ("products", p, "recipe", k, "duration"),
                    "step",
                    f"{p} / {step.name} on {step.equipment_class}"
                    + (f", per {ref:g}" if ref else ""),
                    Sample.of(exact[(p, k)], right[(p, k)]),
                    step.duration,
                    notes=notes,
                    naive=mean_or_none(exact[(p, k)]) if right[(p, k)] else None,
                )
            )
    return out


def setups(ctx: LogContext) -> list[Observed]:
    rows = Rows(ctx.view, "setup")
    got: dict[tuple[str, int], list[float]] = defaultdict(list)
    for b, k, v in zip(rows.batch.tolist(), rows.step.tolist(), rows.value, strict=True):
        p = ctx.product_of.get(b)
        if p in ctx.sc.products and 0 <= k < len(ctx.sc.products[p].recipe):
            got[(p, k)].append(float(v))
    out = []
    for p, prod in ctx.sc.products.items():
        for k, step in enumerate(prod.recipe):
            if not got[(p, k)] and not step.setup.mean > 0:
                continue
            out.append(
                Observed(
                    ("products", p, "recipe", k, "setup"),
                    "setup",
                    f"{p} / {step.name} setup",
                    Sample.of(got[(p, k)]),
                    step.setup,
                    notes=("the twin logs only setups longer than 0",),
                )
            )
    return out


# ------------------------------------------------------------------ QC


def qc(ctx: LogContext) -> list[Observed]:
    sc, view, end = ctx.sc, ctx.view, ctx.end
    quar = Rows(view, "quarantine")
    t_start = dict(
        zip(
            Rows(view, "qc_start").batch.tolist(),
            Rows(view, "qc_start").t.tolist(),
            strict=True,
        )
    )
    t_done: dict[int, float] = {}
    for kind in ("qc_release", "qc_reject"):
        rows = Rows(view, kind)
        t_done.update(zip(rows.batch.tolist(), rows.t.tolist(), strict=True))
    per: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for b, t0, p in zip(quar.batch.tolist(), quar.t.tolist(), quar.strings("product"), strict=True):
        prod = sc.products.get(p or "")
        spec = (prod.qc or sc.qc) if prod is not None else None
        if spec is None:
            continue
        bound, _ = _upper(spec.hands_on)
        c = t_start[b] - t0 + bound if b in t_start else math.inf
        d = per[p]  # type: ignore[index]
        if c > end - t0:
            d["skipped"].append(0.0)
            continue
        d["lo"].append(c)
        d["hi"].append(end - t0)
        if b in t_done:
            x = t_done[b] - t0
            d["raw"].append(x)
            (d["exact"] if x > c + 1e-9 else d["left"]).append(x if x > c + 1e-9 else c)
        else:
            d["right"].append(end - t0)
    out = []
    for p, prod in sc.products.items():
        spec = prod.qc or sc.qc
        if spec is None:
            continue
        d = per[p]
        bound, approx = _upper(spec.hands_on)
        notes = [
            "left-censored where the release may have waited for the analyst: at most "
            f"qc_start - quarantine + {bound:.4g} h (the longest hands-on time"
            + (", its 99.9% quantile" if approx else "")
            + ") after quarantine"
        ]
        if d["skipped"]:
            notes.append(
                f"{len(d['skipped'])} batch(es) near the end of the log left out (their "
                "release could still be the analyst's doing)"
            )
        if prod.qc is None:
            notes.append("the plant's qc applies to this product; the variant gives it its own")
        out.append(
            Observed(
                ("products", p, "qc", "lead_time"),
                "qc",
                f"{p} QC lead time (quarantine to release)",
                Sample.of(d["exact"], d["right"], d["left"], d["lo"], d["hi"]),
                spec.lead_time,
                notes=tuple(notes),
                naive=mean_or_none(d["raw"]) if d["raw"] else None,
            )
        )
    return out


# ------------------------------------------------------------------ orders


def orders(ctx: LogContext) -> list[Observed]:
    sc = ctx.sc
    rows = Rows(ctx.view, "order_release")
    fixed = {o.id for o in sc.orders}
    per: dict[str, list[tuple[float, float, float]]] = defaultdict(list)
    for o, p, t, due, qty in zip(
        rows.strings("order"),
        rows.strings("product"),
        rows.t,
        rows.value,
        rows.strings("detail"),
        strict=True,
    ):
        if o in fixed or p is None:
            continue
        try:
            q = float(qty)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise FitError(
                f"{ctx.source}: order {o!r}: bad quantity {qty!r} in the detail column; "
                "expected a number (order_release.detail holds the order quantity)"
            ) from None
        per[p].append((float(t), q, float(due) - float(t)))
    gen = sc.order_generator.products if sc.order_generator is not None else {}
    out = []
    for p in list(gen) + [p for p in per if p not in gen]:
        ds = gen.get(p)
        items = sorted(per.get(p, []))
        times = np.array([i[0] for i in items])
        stop = min(ctx.end, ds.until) if ds is not None and ds.until is not None else ctx.end
        gaps = np.diff(times)
        tail = [stop - times[-1]] if len(times) and stop > times[-1] else []
        base: Path = ("order_generator", "products", p)
        note = (
            () if ds is not None else ("not written: the scenario has no order generator for it",)
        )
        out += [
            Observed(
                (*base, "interarrival"),
                "interarrival",
                f"{p} order inter-arrival time",
                Sample.of(gaps, tail),
                ds.interarrival if ds else None,
                patchable=ds is not None,
                notes=(*note, "gaps between releases; the last one is censored at the end"),
            ),
            Observed(
                (*base, "quantity"),
                "quantity",
                f"{p} order quantity",
                Sample.of([i[1] for i in items]),
                ds.quantity if ds else None,
                unit="",
                discrete=True,
                patchable=ds is not None,
                notes=note,
            ),
            Observed(
                (*base, "due_after"),
                "due_after",
                f"{p} order due date after release",
                Sample.of([i[2] for i in items]),
                ds.due_after if ds else None,
                patchable=ds is not None,
                notes=note,
            ),
        ]
    return out


# --------------------------------------------------------------------------- helpers


def _upper(dist) -> tuple[float, bool]:
    """The longest value a distribution can draw (its 99.9% quantile when unbounded, flagged)."""
    name = dist.dist
    if name == "fixed":
        return float(dist.value), False
    if name in ("uniform", "triangular"):
        return float(dist.high), False
    if name == "empirical":
        return float(max(dist.values)), False
    if name == "normal":
        if dist.high is not None:
            return float(dist.high), False
        return float(dist.mean_ + 3.090232 * dist.sd), True
    if name == "exponential":
        return float(dist.mean_ * math.log(1000.0)), True
    sigma2 = math.log(1 + (dist.sd / dist.mean_) ** 2)
    mu = math.log(dist.mean_) - sigma2 / 2
    return float(math.exp(mu + 3.090232 * math.sqrt(sigma2))), True
