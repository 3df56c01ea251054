"""Unit-level samples for calibration: cleaning times per class and distribution, and
failures (MTBF on the operating-time basis, MTTR, preventive maintenance durations). What is
read from which events is described in ``twin.fit_log``."""

from __future__ import annotations

import math
import warnings
from collections import defaultdict

import numpy as np
from scipy import stats

from twin.fit_dist import Sample
from twin.fit_events import LogContext, Observed, Rows, mean_or_none

__all__ = ["cleaning", "failures"]

Path = tuple[str | int, ...]


def cleaning(ctx: LogContext) -> list[Observed]:
    sc, view = ctx.sc, ctx.view
    starts, ends = Rows(view, "clean_start"), Rows(view, "clean_end")
    open_: dict[str, tuple[float, str]] = {}
    spells: list[tuple[str, str, float, float | None]] = []  # unit, kind, start, end
    events = sorted(
        [
            (t, 0, u, s)
            for t, u, s in zip(
                starts.t, starts.strings("unit"), starts.strings("state"), strict=True
            )
        ]
        + [
            (t, 1, u, s)
            for t, u, s in zip(ends.t, ends.strings("unit"), ends.strings("state"), strict=True)
        ],
        key=lambda e: e[0],
    )
    for t, is_end, u, kind in events:
        if not is_end:
            open_[u] = (t, kind)  # type: ignore[index]
        elif u in open_:
            t0, k0 = open_.pop(u)  # type: ignore[arg-type]
            spells.append((u, k0, t0, t))  # type: ignore[arg-type]
    spells += [(u, k, t0, None) for u, (t0, k) in open_.items()]
    runs = ctx.unit_products()
    exact: dict[Path, list[float]] = defaultdict(list)
    right: dict[Path, list[float]] = defaultdict(list)
    groups: dict[Path, dict[tuple[str, str], list[float]]] = defaultdict(lambda: defaultdict(list))
    unattributed = defaultdict(int)
    for u, kind, t0, t1 in spells:
        cls = ctx.class_of.get(u)
        if cls is None:
            continue
        cl = sc.equipment_classes[cls].cleaning
        base: Path = ("equipment_classes", cls, "cleaning")
        pair = None
        if kind in ("minor", "reclean"):
            path = (*base, "minor")
        elif kind == "campaign" or (kind == "full" and cl.campaign is not None):
            path = (*base, "campaign")
        elif kind in ("full", "major"):
            path = (*base, "major")
            if kind == "major" and cl.matrix:
                pair = _neighbours(runs.get(u), t0, t1)
                if pair is None:
                    unattributed[cls] += 1
                    continue
                if pair[1] in cl.matrix.get(pair[0], {}):
                    path = (*base, "matrix", pair[0], pair[1])
        else:
            continue
        if t1 is None:
            if ctx.end > t0:
                right[path].append(ctx.end - t0)
        else:
            exact[path].append(t1 - t0)
            if pair is not None and path[-1] == "major":
                groups[path][pair].append(t1 - t0)
    out = []
    for cls, spec in sc.equipment_classes.items():
        cl = spec.cleaning
        base = ("equipment_classes", cls, "cleaning")
        places: list[tuple[Path, object, str]] = [
            ((*base, "minor"), cl.minor, "minor and reclean"),
            ((*base, "major"), cl.major, "major"),
        ]
        if cl.campaign is not None:
            places.append(((*base, "campaign"), cl.campaign, "campaign and full"))
        for f, row in cl.matrix.items():
            for t, dist in row.items():
                places.append(((*base, "matrix", f, t), dist, f"major {f} -> {t}"))
        for path, dist, what in places:
            if not exact[path] and not right[path] and not dist.mean > 0:  # type: ignore[attr-defined]
                continue
            notes = []
            if path[-1] == "major" and cl.matrix:
                notes.append("major cleans between products without a matrix entry")
                notes.extend(_homogeneity(groups[path]))
                if unattributed[cls]:
                    notes.append(
                        f"{unattributed[cls]} major clean(s) at the end of the log left "
                        "out: the next product is not in the log"
                    )
            if path[-1] == "major" and cl.campaign is None:
                notes.append("full cleans (dirty-hold expiry) draw major too")
            out.append(
                Observed(
                    path,
                    "cleaning",
                    f"{cls} cleaning, {what}",
                    Sample.of(exact[path], right[path]),
                    dist,
                    notes=tuple(notes),
                    naive=mean_or_none(exact[path]) if right[path] else None,
                )
            )
    return out


# ------------------------------------------------------------------ failures


def failures(ctx: LogContext) -> list[Observed]:
    sc, view = ctx.sc, ctx.view
    kinds = ("breakdown", "repair_start", "repair_end", "maintenance_start", "maintenance_end")
    ev: dict[str, list[tuple[float, int, str]]] = defaultdict(list)
    for order, kind in enumerate(kinds):
        rows = Rows(view, kind)
        for u, t in zip(rows.strings("unit"), rows.t, strict=True):
            ev[u].append((float(t), order, kind))  # type: ignore[index]
    ttf = defaultdict(lambda: ([], []))
    rep = defaultdict(lambda: ([], []))
    mnt = defaultdict(lambda: ([], []))
    for u, items in ev.items():
        cls = ctx.class_of.get(u)
        if cls is None:
            continue
        items.sort(key=lambda e: e[0])  # stable: same-time events keep their log order
        renew, running = 0.0, True
        rep_open = mnt_open = None
        for t, _, kind in items:
            if kind == "breakdown":
                if running:
                    ttf[cls][0].append(ctx.clock.at(u, t) - renew)
                running = False
            elif kind == "repair_start":
                rep_open = t
            elif kind == "repair_end":
                if rep_open is not None:
                    rep[cls][0].append(t - rep_open)
                rep_open = None
                renew, running = ctx.clock.at(u, t), True
            elif kind == "maintenance_start":
                mnt_open = t
            elif kind == "maintenance_end":
                if mnt_open is not None:
                    mnt[cls][0].append(t - mnt_open)
                mnt_open = None
                if running:
                    ran = ctx.clock.at(u, t) - renew
                    if ran > 0:
                        ttf[cls][1].append(ran)
                renew, running = ctx.clock.at(u, t), True
        if running:
            ran = ctx.clock.at(u, ctx.end) - renew
            if ran > 0:
                ttf[cls][1].append(ran)
        if rep_open is not None and ctx.end > rep_open:
            rep[cls][1].append(ctx.end - rep_open)
        if mnt_open is not None and ctx.end > mnt_open:
            mnt[cls][1].append(ctx.end - mnt_open)
    out = []
    for cls, spec in sc.equipment_classes.items():
        f = spec.failures
        seen = bool(ttf[cls][0] or rep[cls][0])
        if f is not None or seen:
            base = ("equipment_classes", cls, "failures")
            note = () if f is not None else ("the scenario has no failures for this class",)
            ex, rc = ttf[cls]
            tot = (sum(ex) + sum(rc)) / len(ex) if ex else math.nan
            out.append(
                Observed(
                    (*base, "mtbf"),
                    "mtbf",
                    f"{cls} time between failures (processing hours)",
                    Sample.of(ex, rc),
                    None if f is None else f.mtbf,
                    patchable=f is not None,
                    notes=(
                        *note,
                        "renewed at each repair and preventive maintenance; censored at "
                        "maintenance and at the end of the log",
                        f"total processing hours / failures = {tot:.4g} h (equals the "
                        "exponential MLE under censoring)",
                    )
                    if ex
                    else note,
                    naive=mean_or_none(ex) if rc else None,
                )
            )
            ex, rc = rep[cls]
            out.append(
                Observed(
                    (*base, "mttr"),
                    "mttr",
                    f"{cls} repair time",
                    Sample.of(ex, rc),
                    None if f is None else f.mttr,
                    patchable=f is not None,
                    notes=note,
                    naive=mean_or_none(ex) if rc else None,
                )
            )
        if spec.maintenance is not None:
            ex, rc = mnt[cls]
            out.append(
                Observed(
                    ("equipment_classes", cls, "maintenance", "duration"),
                    "maintenance",
                    f"{cls} preventive maintenance duration",
                    Sample.of(ex, rc),
                    spec.maintenance.duration,
                    naive=mean_or_none(ex) if rc else None,
                )
            )
    return out


# --------------------------------------------------------------------------- helpers


def _neighbours(runs, t0: float, t1: float | None) -> tuple[str, str] | None:
    """(product last run before ``t0``, product run next after ``t1``) on a unit."""
    if runs is None or t1 is None:
        return None
    end_t, end_p, start_t, start_p = runs
    i = int(np.searchsorted(end_t, t0, side="right")) - 1
    j = int(np.searchsorted(start_t, t1, side="left"))
    if i < 0 or j >= len(start_t):
        return None
    return end_p[i], start_p[j]


def _homogeneity(groups: dict[tuple[str, str], list[float]]) -> list[str]:
    """A k-sample Anderson-Darling check that the pooled product pairs share one distribution."""
    big = {k: v for k, v in groups.items() if len(v) >= 5}
    if len(big) < 2:
        return []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = stats.anderson_ksamp([np.asarray(v) for v in big.values()])
    p = float(res.pvalue)
    verdict = "consistent with one distribution" if p >= 0.05 else "they differ: add matrix entries"
    return [
        f"pooled pairs {', '.join(f'{a}->{b}' for a, b in big)}: k-sample AD p={p:.3g} ({verdict})"
    ]
