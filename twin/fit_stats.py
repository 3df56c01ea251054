"""Model choice, confidence intervals and goodness of fit for one quantity.

- **Candidates** are fitted by maximum likelihood (``twin.fit_dist``) and ranked by AIC
  (``2k - 2 log L``) or BIC (``k log n - 2 log L``, with ``n`` the number of uncensored
  observations, as Volinsky and Raftery advise for censored data). For triangular and uniform
  the support moves with the parameters, so the usual asymptotics behind AIC do not strictly
  hold; they are still compared on likelihood with k parameters, as ExpertFit and Stat::Fit do.
- **Confidence intervals** come from a parametric bootstrap: B samples of the same size are
  drawn from the fitted distribution, censored as the data were (``Sample``: a fixed design,
  or random right censoring drawn from the reverse Kaplan-Meier estimate of the censoring
  times), and refitted by the same maximum likelihood. Intervals are *basic* bootstrap
  intervals ``[2 t - q(1 - a/2), 2 t - q(a/2)]``: unlike percentile intervals they stay valid
  for the support ends of uniform and triangular, whose estimates are biased inwards (so those
  intervals lie outside the sample's range, as the true ends do). Scale parameters (means and
  sds of exponential and lognormal, sd of normal, and the mean of every family) take the basic
  interval on the log scale, ``t^2 / q``, which is exact for an exponential mean and never
  negative; lower ends of the others are clipped at 0.
- **Goodness of fit** uses the same bootstrap replicates, each refitted, so the p-value
  accounts for the estimated parameters (the approach of ``scipy.stats.goodness_of_fit``,
  which itself takes uncensored data only). Without censoring the statistic is
  Anderson-Darling, or Cramer-von Mises for uniform and triangular (their fitted support ends
  sit at the extreme observations, where the logarithms of Anderson-Darling degenerate). With
  censoring it is the Kolmogorov distance between the fitted CDF and the nonparametric maximum
  likelihood estimate: Kaplan-Meier under right censoring, Turnbull's self-consistent estimate
  when there is left censoring. p = (1 + #{T* >= T}) / (1 + B).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from twin.fit_dist import FAMILIES, Family, Sample, family

__all__ = [
    "Candidate",
    "Gof",
    "DistFit",
    "npmle",
    "statistic_kind",
    "gof_statistic",
    "fit_sample",
    "empirical_fit",
]


@dataclass(frozen=True)
class Candidate:
    """One family fitted by maximum likelihood (``loglik`` is -inf when it does not apply)."""

    family: str
    params: dict[str, float]
    loglik: float
    aic: float
    bic: float
    k: int
    theta: tuple[float, ...] = field(default=(), repr=False)
    note: str = ""


@dataclass(frozen=True)
class Gof:
    """Goodness of fit by parametric bootstrap with the parameters refitted."""

    statistic: str  # "anderson-darling" | "cramer-von-mises" | "kolmogorov-smirnov (KM)" ...
    value: float
    p_value: float
    replicates: int


@dataclass(frozen=True)
class DistFit:
    """The outcome for one sample (see ``fit_sample``)."""

    status: str  # "fitted" or "kept"
    family: str | None = None
    params: dict[str, object] = field(default_factory=dict)
    ci: dict[str, tuple[float, float]] = field(default_factory=dict)
    mean: float | None = None
    mean_ci: tuple[float, float] | None = None
    candidates: tuple[Candidate, ...] = ()
    best: str | None = None  # the criterion's winner among all candidates
    gof: Gof | None = None
    notes: tuple[str, ...] = ()
    theta: tuple[float, ...] = field(default=(), repr=False)


# --------------------------------------------------------------------------- nonparametric
def _km(times: np.ndarray, events: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Kaplan-Meier survival after each observation (sorted; events before censorings at
    ties). Returns the sorted times and S just after each of them."""
    order = np.lexsort((~events, times))
    t, d = times[order], events[order]
    at_risk = len(t) - np.arange(len(t))
    return t, np.cumprod(1.0 - d / at_risk), d


def npmle(s: Sample) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The distinct exact values ``u`` with the nonparametric ML estimate of the CDF just
    before (``F(u-)``) and at them (``F(u)``): the empirical CDF without censoring,
    Kaplan-Meier with right censoring, Turnbull's self-consistent estimate (EM on the exact
    values, plus 0 and +inf where a censored interval holds none) with left censoring."""
    u, counts = np.unique(s.exact, return_counts=True)
    if not s.n_left:
        times = np.concatenate((s.exact, s.right))
        events = np.concatenate((np.ones(s.n_exact, bool), np.zeros(s.n_right, bool)))
        t, surv, _ = _km(times, events)
        first = np.searchsorted(t, u, side="left")
        last = first + counts - 1
        before = np.where(first > 0, surv[np.maximum(first - 1, 0)], 1.0)
        return u, 1.0 - before, 1.0 - surv[last]
    pts = u
    if s.n_right and (not len(u) or s.right.max() >= u.max()):
        pts = np.append(pts, np.inf)
    if not len(u) or s.left.min() < u.min():
        pts = np.insert(pts, 0, 0.0)
    exact_mass = np.zeros(len(pts))
    exact_mass[np.searchsorted(pts, u)] = counts
    a_right = pts[None, :] > s.right[:, None]
    a_left = pts[None, :] <= s.left[:, None]
    p = np.full(len(pts), 1.0 / len(pts))
    for _ in range(5000):
        w = exact_mass.copy()
        if s.n_right:
            w += p * (a_right.T @ (1.0 / np.maximum(a_right @ p, 1e-300)))
        w += p * (a_left.T @ (1.0 / np.maximum(a_left @ p, 1e-300)))
        new = w / s.n
        done = np.max(np.abs(new - p)) < 1e-10
        p = new
        if done:
            break
    cdf = np.cumsum(p)
    idx = np.searchsorted(pts, u)
    return u, np.where(idx > 0, cdf[np.maximum(idx - 1, 0)], 0.0), cdf[idx]


def statistic_kind(fam: Family, s: Sample) -> str:
    if s.censored or s.lo is not None:
        return "ks"
    return "cvm" if fam.bounded else "ad"


_STAT_NAMES = {
    "ad": "Anderson-Darling",
    "cvm": "Cramer-von Mises",
    "ks": "Kolmogorov-Smirnov on the nonparametric MLE",
}


def gof_statistic(fam: Family, th: Sequence[float], s: Sample, kind: str) -> float:
    if kind == "ks":
        u, before, at = npmle(s)
        f = fam.cdf(th, u)
        return float(np.max(np.maximum(np.abs(at - f), np.abs(before - f)))) if len(u) else 0.0
    n = s.n_exact
    z = np.sort(fam.cdf(th, s.exact))
    i = np.arange(1, n + 1)
    if kind == "cvm":
        return float(1.0 / (12 * n) + np.sum((z - (2 * i - 1) / (2 * n)) ** 2))
    z = np.clip(z, 1e-12, 1 - 1e-12)
    return float(-n - np.mean((2 * i - 1) * (np.log(z) + np.log1p(-z[::-1]))))


# --------------------------------------------------------------------------- bootstrap
class _Censor:
    """Censors simulated values as the data were censored (see ``Sample``)."""

    def __init__(self, s: Sample) -> None:
        self.s = s
        self.c_times = self.c_mass = None
        if s.lo is None and s.n_right:
            if s.n_left:
                raise ValueError("left censoring needs a fixed design (lo, hi)")
            times = np.concatenate((s.exact, s.right))
            cens = np.concatenate((np.zeros(s.n_exact, bool), np.ones(s.n_right, bool)))
            t, surv, d = _km(times, cens)  # the reverse Kaplan-Meier: censoring is the event
            jumps = -np.diff(np.concatenate(([1.0], surv)))
            keep = d & (jumps > 0)
            self.c_times, self.c_mass = t[keep], np.cumsum(jumps[keep])

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> Sample:
        s = self.s
        if s.lo is not None:
            lo, hi = s.lo, s.hi
            assert hi is not None
            left, right = x <= lo, x > hi
            return Sample(x[~left & ~right], hi[right], lo[left])
        if self.c_times is None:
            return Sample(x)
        u = rng.random(len(x))
        j = np.searchsorted(self.c_mass, u, side="right")
        c = np.where(
            j < len(self.c_times), self.c_times[np.minimum(j, len(self.c_times) - 1)], np.inf
        )
        cens = x > c
        return Sample(x[~cens], c[cens])


def _bootstrap(
    fam: Family, th: tuple[float, ...], s: Sample, replicates: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(scenario parameters, means, statistics) of the refitted replicates."""
    censor = _Censor(s)
    kind = statistic_kind(fam, s)
    pars, means, stat = [], [], []
    for _ in range(replicates):
        sim = censor(fam.rvs(th, s.n, rng), rng)
        if sim.n_exact < max(fam.k, 2):
            continue
        t2 = fam.fit(sim, th)
        if t2 is None:
            continue
        pars.append(list(fam.params(t2).values()))
        means.append(fam.mean(t2))
        stat.append(gof_statistic(fam, t2, sim, kind))
    return np.asarray(pars), np.asarray(means), np.asarray(stat)


def _basic(est: float, reps: np.ndarray, alpha: float, scale: bool) -> tuple[float, float]:
    """The basic bootstrap interval; on the log scale for a scale parameter (the exact pivot
    of an exponential mean, and never below 0)."""
    if scale and est > 0 and np.all(reps > 0):
        q_lo, q_hi = np.quantile(np.log(reps), [alpha / 2, 1 - alpha / 2])
        return (
            float(est * math.exp(math.log(est) - q_hi)),
            float(est * math.exp(math.log(est) - q_lo)),
        )
    q_lo, q_hi = np.quantile(reps, [alpha / 2, 1 - alpha / 2])
    return (max(0.0, float(2 * est - q_hi)), max(0.0, float(2 * est - q_lo)))


# --------------------------------------------------------------------------- choice
def _candidate(name: str, s: Sample) -> Candidate:
    fam = family(name)
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            th = fam.fit(s)
            ll = fam.loglik(th, s) if th is not None else -math.inf
    except (ValueError, FloatingPointError, ZeroDivisionError, OverflowError):
        th, ll = None, -math.inf
    if th is None or not math.isfinite(ll):
        return Candidate(name, {}, -math.inf, math.inf, math.inf, fam.k, note="does not apply")
    k = fam.k
    n_bic = max(s.n_exact, 1)
    return Candidate(
        name, fam.params(th), ll, 2 * k - 2 * ll, k * math.log(n_bic) - 2 * ll, k, tuple(th)
    )


def all_equal(x: np.ndarray) -> bool:
    return len(x) > 0 and float(x.max() - x.min()) <= 1e-9 * max(1.0, float(abs(x).max()))


def fit_sample(
    s: Sample,
    families: Sequence[str] = FAMILIES,
    *,
    criterion: str = "aic",
    alpha: float = 0.05,
    bootstrap: int = 199,
    rng: np.random.Generator,
    min_n: int = 5,
    writable: Callable[[str], bool] = lambda name: True,
    empirical: bool = False,
) -> DistFit:
    """Fit every candidate family, choose by ``criterion`` among those ``writable`` (the
    variant file can express them), then bootstrap the chosen one for intervals and GOF.

    Fewer than ``min_n`` uncensored observations: status "kept" (the scenario's value stays).
    All uncensored values equal: the fixed family. ``empirical`` adds the empirical family as
    a fallback when the chosen family is rejected at ``alpha`` (uncensored data only)."""
    if s.n_exact < min_n:
        return DistFit("kept", notes=(f"kept the scenario's value: n={s.n_exact} < {min_n}",))
    top = float(s.exact.max())
    if all_equal(s.exact) and not (s.n_right and s.right.max() > top + 1e-9 * max(1.0, top)):
        # a value censored at exactly the fixed value is consistent (X >= r)
        v = float(np.mean(s.exact))
        return DistFit(
            "fitted",
            "fixed",
            {"value": v},
            mean=v,
            notes=(f"all {s.n_exact} uncensored observations equal {v:.6g}",),
        )
    cands = [_candidate(name, s) for name in families]
    key = (lambda c: c.bic) if criterion == "bic" else (lambda c: c.aic)
    cands.sort(key=key)
    ok = [c for c in cands if math.isfinite(key(c))]
    if not ok:
        return DistFit("kept", candidates=tuple(cands), notes=("no candidate family applies",))
    notes: list[str] = []
    chosen = next((c for c in ok if writable(c.family)), None)
    if chosen is None:
        return DistFit(
            "kept",
            candidates=tuple(cands),
            best=ok[0].family,
            notes=("no fitted family can be written over the scenario's value",),
        )
    if chosen is not ok[0]:
        delta = key(chosen) - key(ok[0])
        notes.append(
            f"{criterion.upper()} prefers {ok[0].family} ({criterion.upper()} lower by "
            f"{delta:.1f}), which a variant cannot write over the scenario's value "
            f"(twin/variants.py merges a distribution key by key): wrote {chosen.family}"
        )
    fam = family(chosen.family)
    th = chosen.theta
    gof = None
    ci: dict[str, tuple[float, float]] = {}
    mean_ci = None
    if bootstrap > 0:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pars, means, stat = _bootstrap(fam, th, s, bootstrap, rng)
            t_obs = gof_statistic(fam, th, s, statistic_kind(fam, s))
        if len(stat) >= 10:
            for j, (name, est) in enumerate(chosen.params.items()):
                ci[name] = _basic(est, pars[:, j], alpha, name in fam.scales)
            mean_ci = _basic(fam.mean(th), means, alpha, True)
            p = (1 + int(np.sum(stat >= t_obs - 1e-12))) / (1 + len(stat))
            gof = Gof(_STAT_NAMES[statistic_kind(fam, s)], t_obs, p, len(stat))
        if len(stat) < bootstrap:
            notes.append(f"{bootstrap - len(stat)} of {bootstrap} bootstrap refits failed")
    params: dict[str, object] = dict(chosen.params)
    result = DistFit(
        "fitted",
        chosen.family,
        params,
        ci,
        fam.mean(th),
        mean_ci,
        tuple(cands),
        ok[0].family,
        gof,
        tuple(notes),
        th,
    )
    if (
        empirical
        and gof is not None
        and gof.p_value < alpha
        and not s.censored
        and writable("empirical")
    ):
        emp = empirical_fit(s.exact)
        return DistFit(
            "fitted",
            "empirical",
            emp.params,
            emp.ci,
            emp.mean,
            None,
            tuple(cands),
            ok[0].family,
            gof,
            (
                *notes,
                f"{chosen.family} rejected (GOF p={gof.p_value:.3f} < {alpha}): wrote the "
                "empirical distribution",
            ),
        )
    return result


def empirical_fit(x: np.ndarray, max_points: int = 50, z: float = 1.959964) -> DistFit:
    """The observed distribution: distinct values with their frequencies (Wilson intervals
    for the weights), or ``max_points`` equally weighted quantiles when there are more
    distinct values than that."""
    vals, counts = np.unique(x, return_counts=True)
    n = len(x)
    if len(vals) > max_points:
        vals = np.quantile(x, (np.arange(max_points) + 0.5) / max_points)
        counts = np.full(max_points, n / max_points)
    w = counts / n
    half = z * np.sqrt(w * (1 - w) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    centre = (w + z * z / (2 * n)) / (1 + z * z / n)
    ci = {
        f"weight {v:.6g}": (float(max(0.0, c - h)), float(min(1.0, c + h)))
        for v, c, h in zip(vals, centre, half, strict=True)
    }
    params: dict[str, object] = {
        "values": [float(f"{v:.6g}") for v in vals],
        "weights": [float(f"{v:.4g}") for v in w],
    }
    return DistFit("fitted", "empirical", params, ci, float(np.mean(x)))
