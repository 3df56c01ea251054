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
kept and the result says so, with n. Two options narrow what is written (the fit is still made
and reported): ``only`` names groups of quantities (``GROUPS``: steps, setups, cleaning,
failures, maintenance, qc, orders), and ``keep_consistent`` keeps the scenario's value where
the log does not contradict it: a likelihood-ratio test of the scenario's own distribution
against the fitted one (``2 (log L_fit - log L_scenario)`` against chi-squared with the fitted
family's number of parameters, at ``alpha``), so a handful of observations that happen to
average 10% off do not replace a value the plant was designed with. ``scale_below`` fits a
quantity with fewer uncensored observations than that as the scenario's own distribution times
one factor (``twin.fit_scale``): the shape the plant was designed with is kept, and the few
observations say only whether it runs faster or slower.
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
from twin.fit_stats import Candidate, DistFit, Gof, empirical_fit, fit_sample
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
    "consistent_with_base",
    "base_theta",
    "CRITERIA",
    "GROUPS",
    "ScenarioError",
]

CRITERIA = ("aic", "bic")
MAX_BOOTSTRAP = 100_000
GROUPS: dict[str, tuple[str, ...]] = {
    "steps": ("step",),
    "setups": ("setup",),
    "cleaning": ("cleaning",),
    "failures": ("mtbf", "mttr"),
    "maintenance": ("maintenance",),
    "qc": ("qc",),
    "orders": ("interarrival", "quantity", "due_after"),
}
"""The groups ``only`` (``twin fit --only``) chooses among, and the quantity kinds in each."""


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


def _kinds(only: Sequence[str] | None) -> frozenset[str] | None:
    """The quantity kinds the groups in ``only`` name (None: all)."""
    if only is None:
        return None
    bad = [g for g in only if g not in GROUPS]
    if bad or not only:
        raise FitError(
            f"--only: bad value {(bad[0] if bad else ''.join(only))!r}: expected one or more of "
            f"{', '.join(GROUPS)}, separated by commas"
        )
    return frozenset(k for g in only for k in GROUPS[g])


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
    only: Sequence[str] | None = None,
    keep_consistent: bool = False,
    scale_below: int = 0,
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
    quantity. ``only`` (groups of ``GROUPS``) and ``keep_consistent`` (a likelihood-ratio test
    at ``alpha`` against the scenario's value) narrow what is written, and ``scale_below``
    fits small samples as the scenario's distribution times a factor; see the module docstring.
    Raises :class:`FitError` (bad options, a log that does not match the scenario) and
    :class:`~twin.scenario.ScenarioError` (a bad scenario file)."""
    fams, empirical = _options(families, alpha, bootstrap, criterion, min_n)
    kinds = _kinds(only)
    if isinstance(scale_below, bool) or not isinstance(scale_below, int) or scale_below < 0:
        raise FitError(f"--scale-below: bad value {scale_below!r}: expected a whole number >= 0")
    sc, base_data, base_path = _scenario(scenario)
    until_h = parse_until(until, sc)
    obs, window = observations(sc, table, until_h, source)
    out = []
    for done, o in enumerate(obs, 1):
        rng = np.random.default_rng([seed, zlib.crc32(format_path(o.path).encode())])
        ok = writable_families(base_data, o.path) if o.patchable else (lambda f: True)
        scaled = None
        if (
            o.discrete
            and o.sample.n_exact >= min_n
            and _is_discrete(o.sample)
            and len(np.unique(o.sample.exact)) > 1
            and ok("empirical")
        ):
            fit = empirical_fit(o.sample.exact)
        elif (scaled := _scaled(o, scale_below, min_n, ok)) is not None:
            fit = scaled
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
        why: str | None = None
        if fit.status == "fitted" and o.patchable and fit.family is not None:
            written = _spec(fit.family, fit.params, fit.theta)
            if kinds is not None and o.kind not in kinds:
                why = f"not asked for (--only {','.join(only or ())})"
            elif keep_consistent:
                df = 1 if fit is scaled else None
                why = consistent_with_base(o.sample, o.base, fit.family, fit.theta, alpha, df)
            if why is not None:
                written = None
        out.append(_quantity(o, fit, written, alpha, why))
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


def _quantity(o: Observed, fit, written: Any, alpha: float, why: str | None) -> QuantityFit:
    s = o.sample
    base = None if o.base is None else o.base.model_dump(mode="json", by_alias=True)  # type: ignore[attr-defined]
    notes = ([why] if why else []) + list(o.notes) + list(fit.notes)
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


# --------------------------------------------------------------------------- keep_consistent
def base_theta(base: Any) -> tuple[str, tuple[float, ...]] | None:
    """The scenario's distribution as a family of ``twin.fit_dist`` and its parameters, or None
    where it is not one of them (fixed, empirical, a normal truncated elsewhere than at 0)."""
    data = base.model_dump(mode="json", by_alias=True) if hasattr(base, "model_dump") else base
    if not isinstance(data, Mapping):
        return None
    d = data.get("dist")
    try:
        if d == "exponential":
            return d, (float(data["mean"]),)
        if d == "lognormal":
            m, sd = float(data["mean"]), float(data["sd"])
            s2 = math.log1p((sd / m) ** 2)
            return d, (math.log(m) - s2 / 2, math.sqrt(s2))
        if d == "normal" and not data.get("low") and data.get("high") is None:
            return d, (float(data["mean"]), float(data["sd"]))
        if d == "triangular":
            return d, (float(data["low"]), float(data["mode"]), float(data["high"]))
        if d == "uniform":
            return d, (float(data["low"]), float(data["high"]))
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return None
    return None


def consistent_with_base(
    sample: Sample,
    base: Any,
    fitted: str,
    theta: tuple[float, ...],
    alpha: float,
    df: int | None = None,
) -> str | None:
    """Why the scenario's value stays (a sentence), or None if the log contradicts it.

    The likelihood-ratio statistic ``2 (log L_fit - log L_scenario)`` is compared with the
    chi-squared distribution with ``df`` degrees of freedom (default: as many as the fitted
    family has parameters; 1 for a factor on the scenario's distribution): exact
    asymptotically when the scenario's family is the fitted one (nested, the scenario's value
    a point of it), an approximation otherwise. A scenario distribution the
    data cannot have come from (an observation beyond a triangular's ``high``) has log L = -inf
    and is always replaced; one that cannot be scored (fixed, empirical) is replaced too."""
    from scipy import stats

    bt = base_theta(base)
    if bt is None or fitted not in FAMILIES:
        return None
    ll_base = get_family(bt[0]).loglik(bt[1], sample)
    ll_fit = get_family(fitted).loglik(theta, sample)
    if not (math.isfinite(ll_base) and math.isfinite(ll_fit)):
        return None
    lr = max(0.0, 2.0 * (ll_fit - ll_base))
    p = float(stats.chi2.sf(lr, df or get_family(fitted).k))
    if p < alpha:
        return None
    return (
        f"kept the scenario's value: the log does not contradict it (likelihood ratio "
        f"{lr:.2f}, p={p:.2g} >= alpha={alpha:g}, n={sample.n_exact})"
    )


def _scaled(o: Observed, scale_below: int, min_n: int, ok: Callable[[str], bool]) -> DistFit | None:
    """The scenario's distribution times the ML factor, for a sample of at least ``min_n`` and
    fewer than ``scale_below`` uncensored observations (None otherwise)."""
    from twin.fit_scale import fit_scale, scaled_theta

    if not (min_n <= o.sample.n_exact < scale_below) or o.discrete or not o.patchable:
        return None
    bt = base_theta(o.base)
    if bt is None or not ok(bt[0]):
        return None
    got = fit_scale(o.sample, bt)
    if got is None:
        return None
    k, _ll = got
    fam = get_family(bt[0])
    th = scaled_theta(bt[0], bt[1], k)
    note = (
        f"the scenario's {bt[0]} times {k:.3g} (n={o.sample.n_exact} < {scale_below}: one "
        "factor fitted, the scenario's shape kept)"
    )
    return DistFit("fitted", bt[0], fam.params(th), {}, fam.mean(th), None, (), None, None,
                   (note,), th)  # fmt: skip
