"""Calibration (``twin fit``): estimate a scenario's distributions from an observed event log.

``fit_log(scenario, table)`` reads the log (an Arrow table in the twin's event-log schema,
whatever file it came from), builds one sample per random quantity of the scenario
(``twin.fit_log`` says what is estimated from which events, and how censoring arises), fits
every candidate family by maximum likelihood under censoring (``twin.fit_dist``), chooses by
AIC or BIC, and bootstraps the chosen fit for confidence intervals and a goodness-of-fit
p-value with the parameters refitted (``twin.fit_stats``). ``write_variant`` writes the result
as a variant file that patches exactly the fitted values, with a comment per value;
``write_report`` (``twin.fit_report``) an offline HTML report with QQ plots.

Nothing is fitted from fewer than ``min_n`` uncensored observations: the scenario's value is
kept and the result says so, with n.
"""

from __future__ import annotations

import datetime as dt
import math
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from twin.fit_dist import FAMILIES, Sample
from twin.fit_dist import family as get_family
from twin.fit_log import FitError, Observed, format_path, observations
from twin.fit_report import write_report
from twin.fit_stats import Candidate, Gof, empirical_fit, fit_sample
from twin.fit_variant import writable_families, write_variant
from twin.scenario import Scenario, ScenarioError, load_dict, parse_time, read_yaml

__all__ = [
    "FitError",
    "FitResult",
    "QuantityFit",
    "fit_log",
    "write_variant",
    "write_report",
    "parse_until",
    "CRITERIA",
    "ScenarioError",
]

CRITERIA = ("aic", "bic")
MAX_BOOTSTRAP = 100_000


@dataclass(frozen=True, eq=False)
class QuantityFit:
    """The fit of one quantity of the scenario.

    ``status``: "fitted" (written to the variant if ``written`` is set), "kept" (too few
    observations, or nothing fits: the scenario's value stays). ``params`` are in the
    scenario's parameters (durations in hours); ``ci`` holds ``1 - alpha`` basic-bootstrap
    intervals; ``naive_mean`` is the mean of the uncensored values taken at face value, given
    where censoring exists, beside the censored estimate ``mean``."""

    path: str
    segments: tuple[str | int, ...]
    kind: str
    label: str
    unit: str
    n: int
    n_right: int
    n_left: int
    status: str
    family: str | None
    params: Mapping[str, Any]
    ci: Mapping[str, tuple[float, float]]
    mean: float | None
    mean_ci: tuple[float, float] | None
    naive_mean: float | None
    candidates: tuple[Candidate, ...]
    best: str | None
    gof: Gof | None
    base: Any
    written: Any
    notes: tuple[str, ...]
    sample: Sample = field(repr=False)
    theta: tuple[float, ...] = field(default=(), repr=False)

    @property
    def censored(self) -> int:
        return self.n_right + self.n_left


@dataclass(frozen=True, eq=False)
class FitResult:
    """Every quantity's fit, with the settings and the log window used."""

    scenario: str
    base: str | None  # the scenario file (for resolving the variant), if fit_log had a path
    source: str
    end: float
    until: float | None
    events: int
    criterion: str
    alpha: float
    bootstrap: int
    min_n: int
    seed: int
    families: tuple[str, ...]
    quantities: tuple[QuantityFit, ...]
    base_data: Mapping[str, Any] = field(repr=False)

    def get(self, path: str) -> QuantityFit:
        for q in self.quantities:
            if q.path == path:
                return q
        raise KeyError(path)

    @property
    def fitted(self) -> tuple[QuantityFit, ...]:
        return tuple(q for q in self.quantities if q.status == "fitted")


# --------------------------------------------------------------------------- options
def parse_until(until: float | str | dt.datetime | None, scenario: Scenario) -> float | None:
    """Model hours from ``--until``: hours, a duration (``30d``) or a calendar date/time."""
    if until is None:
        return None
    expected = (
        "model hours (a number or a duration such as 30d) or a date on or after the scenario "
        f"start {scenario.start.isoformat()}, such as 2026-03-01 or 2026-03-01T06:00"
    )
    try:
        value = until if isinstance(until, dt.datetime) else parse_time(until)
    except (ValueError, TypeError):
        raise FitError(f"--until: bad value {until!r}: expected {expected}") from None
    if isinstance(value, dt.datetime):
        value = (value - scenario.start).total_seconds() / 3600.0
    if not math.isfinite(value) or value <= 0:
        raise FitError(f"--until: bad value {until!r}: expected {expected} (after the start)")
    return float(value)


def _options(
    families: Sequence[str] | None, alpha: float, bootstrap: int, criterion: str, min_n: int
) -> tuple[tuple[str, ...], bool]:
    allowed = (*FAMILIES, "empirical")
    fams = tuple(FAMILIES if families is None else families)
    bad = [f for f in fams if f not in allowed]
    if bad or not [f for f in fams if f != "empirical"]:
        raise FitError(
            f"--families: bad value {','.join(fams) if not bad else bad[0]!r}: expected one or "
            f"more of {', '.join(allowed)} (at least one besides empirical)"
        )
    if not (isinstance(alpha, float | int) and 0 < alpha < 0.5):
        raise FitError(f"--alpha: bad value {alpha!r}: expected a number between 0 and 0.5")
    if isinstance(bootstrap, bool) or not isinstance(bootstrap, int):
        raise FitError(f"--bootstrap: bad value {bootstrap!r}: expected a whole number")
    if not 0 <= bootstrap <= MAX_BOOTSTRAP:
        raise FitError(
            f"--bootstrap: bad value {bootstrap!r}: expected 0 (no intervals, no GOF) to "
            f"{MAX_BOOTSTRAP}; 199 or 999 are usual"
        )
    if criterion not in CRITERIA:
        raise FitError(f"--criterion: bad value {criterion!r}: expected aic or bic")
    if isinstance(min_n, bool) or not isinstance(min_n, int) or min_n < 3:
        raise FitError(f"--min-n: bad value {min_n!r}: expected a whole number >= 3")
    return tuple(f for f in fams if f != "empirical"), "empirical" in fams


def _scenario(scenario: Scenario | str | Path) -> tuple[Scenario, dict[str, Any], str | None]:
    if isinstance(scenario, Scenario):
        return scenario, scenario.to_dict(), None
    path = str(scenario)
    data = read_yaml(path)
    return load_dict(data, path), data, path


# --------------------------------------------------------------------------- fitting
def fit_log(
    scenario: Scenario | str | Path,
    table: pa.Table,
    until: float | str | dt.datetime | None = None,
    families: Sequence[str] | None = None,
    alpha: float = 0.05,
    bootstrap: int = 199,
    *,
    criterion: str = "aic",
    min_n: int = 5,
    seed: int = 0,
    source: str = "LOG",
    progress: Callable[[int, int, str], None] | None = None,
) -> FitResult:
    """Fit every random quantity of ``scenario`` that the log ``table`` observes.

    ``scenario`` is a scenario file (its text is kept for the variant) or a Scenario;
    ``until`` uses only events before it; ``families`` are the candidates (default: all of
    ``twin.fit_dist.FAMILIES``; add ``"empirical"`` to fall back to the observed distribution
    where the chosen family is rejected at ``alpha``); ``bootstrap`` is the number of
    parametric bootstrap replicates (0: no intervals, no GOF); ``seed`` makes them repeatable;
    ``source`` names the log in messages; ``progress(done, total, path)`` is called after each
    quantity.
    Raises :class:`FitError` (bad options, a log that does not match the scenario) and
    :class:`~twin.scenario.ScenarioError` (a bad scenario file)."""
    fams, empirical = _options(families, alpha, bootstrap, criterion, min_n)
    sc, base_data, base_path = _scenario(scenario)
    until_h = parse_until(until, sc)
    obs, window = observations(sc, table, until_h, source)
    out = []
    for done, o in enumerate(obs, 1):
        rng = np.random.default_rng([seed, zlib.crc32(format_path(o.path).encode())])
        ok = writable_families(base_data, o.path) if o.patchable else (lambda f: True)
        if (
            o.discrete
            and o.sample.n_exact >= min_n
            and _is_discrete(o.sample)
            and len(np.unique(o.sample.exact)) > 1
            and ok("empirical")
        ):
            fit = empirical_fit(o.sample.exact)
        else:
            fit = fit_sample(
                o.sample,
                fams,
                criterion=criterion,
                alpha=alpha,
                bootstrap=bootstrap,
                rng=rng,
                min_n=min_n,
                writable=ok,
                empirical=empirical,
            )
        written = None
        if fit.status == "fitted" and o.patchable and fit.family is not None:
            written = _spec(fit.family, fit.params, fit.theta)
        out.append(_quantity(o, fit, written, alpha))
        if progress is not None:
            progress(done, len(obs), out[-1].path)
    return FitResult(
        sc.name,
        base_path,
        source,
        window.end,
        window.until,
        window.events,
        criterion,
        float(alpha),
        bootstrap,
        min_n,
        seed,
        (*fams, *(("empirical",) if empirical else ())),
        tuple(out),
        base_data,
    )


def _is_discrete(s: Sample) -> bool:
    """Order quantities taking few distinct values, each seen more than once."""
    if s.n_exact == 0:
        return False
    k = len(np.unique(s.exact))
    return k <= 12 and s.n_exact >= 2 * k


def _spec(family: str, params: Mapping[str, Any], theta: tuple[float, ...]) -> Any:
    if family == "fixed":
        return float(f"{params['value']:.6g}")
    if family == "empirical":
        return {"dist": "empirical", **params}
    return get_family(family).spec(theta)


def _quantity(o: Observed, fit, written: Any, alpha: float) -> QuantityFit:
    s = o.sample
    base = None if o.base is None else o.base.model_dump(mode="json", by_alias=True)  # type: ignore[attr-defined]
    notes = list(o.notes) + list(fit.notes)
    if fit.status == "fitted" and not o.patchable:
        written = None
    if fit.status == "fitted" and fit.gof is not None and fit.gof.p_value < alpha:
        notes.append(
            f"the fit is rejected at alpha={alpha:g} ({fit.gof.statistic} p={fit.gof.p_value:.3g})"
        )
    return QuantityFit(
        format_path(o.path),
        o.path,
        o.kind,
        o.label,
        o.unit,
        s.n_exact,
        s.n_right,
        s.n_left,
        fit.status,
        fit.family,
        dict(fit.params),
        dict(fit.ci),
        fit.mean,
        fit.mean_ci,
        o.naive if s.censored else None,
        fit.candidates,
        fit.best,
        fit.gof,
        base,
        written,
        tuple(notes),
        s,
        fit.theta,
    )
