"""Parameter uncertainty for forecasts: an ensemble of plausible fitted plants.

A fit from a few weeks of log is uncertain (a QC lead time from 14 releases, an MTBF from 11
failures), and a forecast that takes the point estimate as the truth draws intervals that are
too narrow: in ``benchmarks/bench_forecast.py`` the p10-p90 interval of the calibrated plant
covered 57% of batch completions where the true plant's own model covered 77%.

``ensemble(result, members)`` gives ``members`` copies of a ``FitResult`` in which every
written value is replaced by a draw from the basic parametric bootstrap of its fit: a sample
of the same size is drawn from the fitted distribution and refitted (``theta*``), and the
member takes ``2 theta - theta*`` (``theta^2 / theta*`` for scale parameters, as the intervals
of ``twin.fit_stats`` do). The basic bootstrap reflects the estimate's error about the
estimate, so members spread where the true value may lie, beyond the sample's range for the
ends of a uniform or triangular (which a small sample always underestimates). Forecasting
replications over the members (``twin.forecast.forecast(..., members=...)``) then carries the
parameter uncertainty into the prediction intervals, the way a Bayesian posterior predictive
would, at no extra cost per replication.

A quantity fitted as a factor on the scenario's distribution (``twin.fit_scale``, small samples)
moves only by its factor, refitted and reflected the same way.

Simplifications: censored observations are drawn as exact ones (the refit is then a little
tighter than with the real censoring); each quantity is drawn independently.
"""

from __future__ import annotations

import dataclasses
import math
import zlib
from collections.abc import Sequence

import numpy as np

from twin.fit import FitResult, QuantityFit
from twin.fit_dist import FAMILIES, Sample, family

__all__ = ["ensemble", "member_theta", "member_factor"]

# per family: which internal parameters reflect on the log scale (the others linearly)
_LOG_SCALE = {
    "exponential": (True,),
    "lognormal": (False, True),  # mu (log scale already), sigma
    "normal": (False, True),
    "uniform": (False, False),
    "triangular": (False, False, False),
}


def member_theta(
    name: str, theta: Sequence[float], n: int, rng: np.random.Generator
) -> tuple[float, ...]:
    """One draw of the parameters of family ``name`` around the estimate ``theta`` from ``n``
    observations (basic parametric bootstrap); ``theta`` itself if the refit fails."""
    fam = family(name)
    x = fam.rvs(theta, max(n, fam.k + 1), rng)
    star = fam.fit(Sample.of(x))
    if star is None:
        return tuple(theta)
    out = []
    for t, s, log in zip(theta, star, _LOG_SCALE[name], strict=True):
        if log:
            out.append(t * t / s if s > 0 else t)
        else:
            out.append(2 * t - s)
    if name in ("uniform", "triangular"):
        out = sorted(max(0.0, v) for v in out)
        if name == "triangular":  # keep the mode where the estimate has it between the ends
            lo, hi = out[0], out[-1]
            mode = min(max(2 * theta[1] - star[1], lo), hi)
            out = [lo, mode, hi]
        if out[-1] <= out[0]:
            return tuple(theta)
    if name == "normal":
        out[0] = max(out[0], 0.0)
    if not all(math.isfinite(v) for v in out):
        return tuple(theta)
    return tuple(float(v) for v in out)


def member_factor(
    name: str, theta: tuple[float, ...], n: int, rng: np.random.Generator
) -> tuple[float, ...]:
    """As ``member_theta`` for a quantity fitted as a factor on the scenario's distribution
    (``twin.fit_scale``): the factor is refitted on a sample of ``n`` and reflected on the log
    scale (``1 / k*`` around the fit), the shape kept."""
    from twin.fit_scale import fit_scale, scaled_theta

    x = family(name).rvs(theta, max(n, 2), rng)
    got = fit_scale(Sample.of(x), (name, tuple(theta)))
    if got is None or not got[0] > 0:
        return tuple(theta)
    return scaled_theta(name, tuple(theta), 1.0 / got[0])


def ensemble(result: FitResult, members: int, seed: int = 0) -> list[FitResult]:
    """``members`` FitResults whose written values are basic-bootstrap draws around the fit
    (see the module docstring); member 0 is the fit itself. Write each with
    ``twin.fit.write_variant`` to get the plants a forecast spreads its replications over."""
    if isinstance(members, bool) or not isinstance(members, int) or members < 1:
        raise ValueError(f"members: bad value {members!r}: expected a whole number >= 1")
    out = [result]
    for k in range(1, members):
        qs = []
        for q in result.quantities:
            qs.append(_drawn(q, seed, k))
        out.append(dataclasses.replace(result, quantities=tuple(qs)))
    return out


def _drawn(q: QuantityFit, seed: int, k: int) -> QuantityFit:
    if q.written is None or q.family not in FAMILIES or not q.theta or q.n < 2:
        return q
    rng = np.random.default_rng([seed, k, zlib.crc32(q.path.encode())])
    fam = family(q.family)
    if any("one factor fitted" in n for n in q.notes):  # twin.fit_scale: only the factor moves
        th = member_factor(q.family, q.theta, q.n, rng)
    else:
        th = member_theta(q.family, q.theta, q.n, rng)
    return dataclasses.replace(q, theta=th, params=fam.params(th), written=fam.spec(th))
