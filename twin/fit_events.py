"""Reading an event log for calibration: the rows of one kind, each unit's processing clock,
the maps from batches to products and sizes and from units to classes, and the checks that the
log belongs to the scenario (a product, step, unit or class the scenario does not know is a
:class:`FitError` naming it)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from twin.fit_dist import Sample
from twin.kpi import LogView
from twin.scenario import Scenario

__all__ = [
    "FitError",
    "Observed",
    "Window",
    "Rows",
    "Clock",
    "LogContext",
    "REQUIRED_COLUMNS",
    "format_path",
    "mean_or_none",
]

REQUIRED_COLUMNS = ("t", "kind", "unit", "batch", "order", "product", "step", "state", "value")
Path = tuple[str | int, ...]


class FitError(ValueError):
    """Input ``twin fit`` cannot use: one paragraph naming the file or option, the bad value
    and what was expected."""


@dataclass(frozen=True, eq=False)
class Observed:
    """One quantity's sample and where it goes in the scenario."""

    path: Path
    kind: str  # step | setup | cleaning | mtbf | mttr | maintenance | qc | interarrival | ...
    label: str
    sample: Sample
    base: object  # the scenario's distribution (a twin.units model), None if it has none
    unit: str = "h"
    discrete: bool = False
    patchable: bool = True
    notes: tuple[str, ...] = ()
    naive: float | None = None  # mean of the values taken at face value, where censored


@dataclass(frozen=True)
class Window:
    """The part of the log used: events at ``t < end``; ``end`` censors what is running."""

    end: float
    until: float | None
    events: int


def format_path(path: Iterable[str | int]) -> str:
    out = ""
    for seg in path:
        out += f"[{seg}]" if isinstance(seg, int) else ("." if out else "") + seg
    return out


class Rows:
    """The rows of one event kind as arrays (strings as Python lists)."""

    def __init__(self, view: LogView, kind: str) -> None:
        m = view.kind(kind)
        self.t = view.t[m]
        self.batch = view.batch[m].astype(np.int64)
        self.step = view.step[m].astype(np.int64)
        self.value = view.value[m]
        self._view, self._m = view, m

    def __len__(self) -> int:
        return len(self.t)

    def strings(self, column: str) -> list[str | None]:
        return self._view.strings(column, self._m)


class Clock:
    """Cumulative processing hours of each unit (time in state ``processing``)."""

    def __init__(self, view: LogView, end: float) -> None:
        rows = Rows(view, "state")
        units = rows.strings("unit")
        states = rows.strings("state")
        per: dict[str, list[int]] = defaultdict(list)
        for i, u in enumerate(units):
            per[u].append(i)  # the log is in time order, so each list is too
        self._per: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        for u, idx in per.items():
            ts = rows.t[idx]
            proc = np.array([states[i] == "processing" for i in idx], dtype=float)
            hours = np.diff(np.append(ts, max(end, ts[-1]))) * proc
            self._per[u] = (ts, np.concatenate(([0.0], np.cumsum(hours)[:-1])), proc)

    def at(self, unit: str, t: float) -> float:
        got = self._per.get(unit)
        if got is None:
            return 0.0
        ts, cum, proc = got
        j = int(np.searchsorted(ts, t, side="right")) - 1
        return 0.0 if j < 0 else float(cum[j] + (t - ts[j]) * proc[j])


# --------------------------------------------------------------------------- context


class LogContext:
    """The log and the scenario it is checked against, with the maps every reader needs."""

    def __init__(self, sc: Scenario, view: LogView, end: float, source: str) -> None:
        self.sc, self.view, self.end, self.source = sc, view, end, source
        rel = Rows(view, "batch_release")
        self.product_of = dict(zip(rel.batch.tolist(), rel.strings("product"), strict=True))
        self.size_of = dict(zip(rel.batch.tolist(), rel.value.tolist(), strict=True))
        added = Rows(view, "unit_added")
        self.class_of = {name: sc.units[uid].equipment_class for name, uid in sc.unit_names()}
        for u, c in zip(added.strings("unit"), added.strings("detail"), strict=True):
            if u is not None and c is not None:
                if c not in sc.equipment_classes:
                    raise FitError(
                        f"{source}: unit {u!r} is of class {c!r}, which the scenario does not "
                        f"define; expected one of: {', '.join(sc.equipment_classes)} (is this "
                        "the log of this scenario?)"
                    )
                self.class_of[u] = c
        for kind in ("step_end", "setup", "batch_release"):
            v = Rows(view, kind).value
            bad = ~np.isfinite(v) | (v < 0)
            if bad.any():
                raise FitError(
                    f"{source}: {int(bad.sum())} {kind} event(s) with value "
                    f"{float(v[bad][0])!r}; expected a finite number >= 0 (hours, or the batch "
                    "size for batch_release)"
                )
        self.clock = Clock(view, end)
        self.start = Rows(view, "step_start")
        self.stop = Rows(view, "step_end")
        self._check_products()

    # ------------------------------------------------------------------ checks
    def _check_products(self) -> None:
        sc, source = self.sc, self.source
        for rows in (self.start, self.stop):
            for u, p, k in zip(
                rows.strings("unit"), rows.strings("product"), rows.step, strict=True
            ):
                prod = sc.products.get(p or "")
                if prod is None:
                    raise FitError(
                        f"{source}: the log has steps of product {p!r}, which the scenario does "
                        f"not define; expected one of: {', '.join(sc.products)} (is this the "
                        "log of this scenario?)"
                    )
                if not 0 <= k < len(prod.recipe):
                    raise FitError(
                        f"{source}: the log has step {k} of product {p!r}, whose recipe has "
                        f"steps 0..{len(prod.recipe) - 1}; expected the log of this scenario"
                    )
                cls = self.class_of.get(u or "")
                if cls is None:
                    raise FitError(
                        f"{source}: the log runs product {p!r} on unit {u!r}, which the "
                        "scenario does not define; expected one of: "
                        f"{', '.join(self.class_of)}"
                    )
                if cls != prod.recipe[k].equipment_class:
                    raise FitError(
                        f"{source}: the log runs step {k} ({prod.recipe[k].name}) of {p!r} on "
                        f"{u!r} of class {cls!r}; the scenario's recipe expects class "
                        f"{prod.recipe[k].equipment_class!r}"
                    )

    def size(self, batch: int, ref: float | None, what: str) -> float:
        if ref is None:
            return 1.0
        size = self.size_of.get(batch)
        if size is None or not size > 0:
            raise FitError(
                f"{self.source}: batch {batch} has a {what} but no batch_release with its "
                "size; expected a batch_release event (value = batch size) before its steps"
            )
        return size / ref

    # ------------------------------------------------------------------ helpers
    def unit_products(self) -> dict[str, tuple[np.ndarray, list, np.ndarray, list]]:
        """Per unit: step_end times and products, step_start times and products."""
        per: dict[str, list[list]] = defaultdict(lambda: [[], [], [], []])
        for u, t, p in zip(
            self.stop.strings("unit"), self.stop.t, self.stop.strings("product"), strict=True
        ):
            per[u][0].append(t)  # type: ignore[index]
            per[u][1].append(p)  # type: ignore[index]
        for u, t, p in zip(
            self.start.strings("unit"), self.start.t, self.start.strings("product"), strict=True
        ):
            per[u][2].append(t)  # type: ignore[index]
            per[u][3].append(p)  # type: ignore[index]
        return {u: (np.asarray(a), b, np.asarray(c), d) for u, (a, b, c, d) in per.items()}


def mean_or_none(x: list[float]) -> float | None:
    return float(np.mean(x)) if len(x) else None
