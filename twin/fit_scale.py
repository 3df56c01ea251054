"""Small samples: fit one factor on the scenario's own distribution.

From 8 to 25 observations a free fit of two or three parameters is poorly determined: AIC
picks a uniform whose ends sit on the sample's extremes, and the upper tail that decides late
orders (the last batch's QC release) is cut off where the sample happened to stop. The
scenario's distribution carries what the plant was designed with, its shape above all; what a
few weeks of log can tell is whether the plant runs faster or slower than that.

``fit_scale(sample, base)`` keeps the scenario's family and shape and estimates one factor
``k`` by maximum likelihood under the same censoring as every fit: the distribution of
``k X`` where ``X`` follows the scenario's (every time parameter times ``k``; for a lognormal
``mu + log k``). One parameter, so the likelihood-ratio test against the scenario's value
(``k = 1``) has one degree of freedom.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import optimize

from twin.fit_dist import Sample, family

__all__ = ["fit_scale", "scaled_theta"]


def scaled_theta(name: str, theta: tuple[float, ...], k: float) -> tuple[float, ...]:
    """The parameters of ``k X`` for ``X`` of family ``name`` with ``theta``."""
    if name == "lognormal":
        return (theta[0] + math.log(k), theta[1])
    return tuple(t * k for t in theta)


def _bounds(name: str, theta: tuple[float, ...], s: Sample) -> tuple[float, float]:
    """Factors for which every observation is possible (the support moves with ``k`` for
    triangular and uniform); wide otherwise."""
    lo, hi = 1e-3, 1e3
    if name in ("triangular", "uniform"):
        low, high = theta[0], theta[-1]
        top = np.concatenate([s.exact, s.right])
        bottom = np.concatenate([s.exact, s.left])
        if len(top) and high > 0:
            lo = max(lo, float(top.max()) / high * (1 + 1e-9))
        if len(bottom) and low > 0:
            hi = min(hi, float(bottom.min()) / low * (1 - 1e-9))
    return lo, hi


def fit_scale(sample: Sample, base: tuple[str, tuple[float, ...]]) -> tuple[float, float] | None:
    """The ML factor ``k`` and its log-likelihood for the scenario's ``(family, theta)``, or
    None where no factor makes every observation possible."""
    name, theta = base
    fam = family(name)
    lo, hi = _bounds(name, theta, sample)
    if not lo < hi:
        return None

    def nll(lk: float) -> float:
        ll = fam.loglik(scaled_theta(name, theta, math.exp(lk)), sample)
        return -ll if math.isfinite(ll) else 1e300

    res = optimize.minimize_scalar(
        nll, bounds=(math.log(lo), math.log(hi)), method="bounded", options={"xatol": 1e-8}
    )
    k = float(math.exp(res.x))
    ll = -float(res.fun)
    if not math.isfinite(ll) or ll <= -1e299:
        return None
    return k, ll
