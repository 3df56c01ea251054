"""Distribution families for calibration: maximum likelihood under censoring, in the scenario's
own parameters.

The families are those of ``twin/units.py`` that describe positive durations, each with the
parameters a scenario file states, so a fitted distribution is written back as it is:

============  ====================  ===========================================================
family        scenario parameters   model
============  ====================  ===========================================================
exponential   mean                  rate 1/mean
lognormal     mean, sd              mean and sd of the variable (not of its logarithm)
normal        mean, sd              the parent normal truncated at 0, as the twin samples it
triangular    low, mode, high
uniform       low, high
============  ====================  ===========================================================

An observation is exact, right-censored (the value is larger than ``r``: a unit still running
at the end of the log) or left-censored (the value is at most ``l``). The log-likelihood is
``sum log f(exact) + sum log S(right) + sum log F(left)``; it is maximised with scipy
(closed forms where they exist: exponential with right censoring, lognormal and uniform without
censoring; Nelder-Mead otherwise). Triangular and uniform are non-regular (their support moves
with the parameters): the mode of a triangular is profiled over the order statistics, where its
maximum lies for fixed low and high, and the ends are searched by Nelder-Mead within bounds.

One module (about 600 lines) on purpose: the five families are one table of densities,
survival functions and maximisers over the same censored likelihood; split by family, each
piece would re-state that machinery.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import optimize, special, stats

__all__ = [
    "FAMILIES",
    "PARAMS",
    "Sample",
    "family",
    "Family",
]

_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)
_EMPTY = np.zeros(0)
_NM = {"xatol": 1e-6, "fatol": 1e-6, "maxiter": 2000}  # changes of 1e-6 in log L are noise


@dataclass(frozen=True, eq=False)
class Sample:
    """Observations of one quantity: exact values, right-censored and left-censored bounds.

    ``lo``/``hi`` (optional, one pair per observation, exact ones included) describe a fixed
    censoring design: a value ``x`` is seen exactly when ``lo < x <= hi``, as left-censored at
    ``lo`` when ``x <= lo`` and as right-censored at ``hi`` when ``x > hi``. The parametric
    bootstrap then censors simulated values the same way. Without them, right censoring is
    taken as random (independent of the value) and simulated from the reverse Kaplan-Meier
    estimate of the censoring times.
    """

    exact: np.ndarray
    right: np.ndarray = field(default_factory=lambda: _EMPTY)
    left: np.ndarray = field(default_factory=lambda: _EMPTY)
    lo: np.ndarray | None = None
    hi: np.ndarray | None = None

    @staticmethod
    def of(
        exact: Sequence[float] | np.ndarray,
        right: Sequence[float] | np.ndarray = (),
        left: Sequence[float] | np.ndarray = (),
        lo: Sequence[float] | np.ndarray | None = None,
        hi: Sequence[float] | np.ndarray | None = None,
    ) -> Sample:
        def arr(v: Sequence[float] | np.ndarray) -> np.ndarray:
            a = np.asarray(v, dtype=float).ravel()
            if a.size and not np.all(np.isfinite(a)):
                raise ValueError("observations must be finite numbers")
            return a

        lo_a = None if lo is None else arr(lo)
        hi_a = None if hi is None else np.asarray(hi, dtype=float).ravel()
        s = Sample(arr(exact), arr(right), arr(left), lo_a, hi_a)
        if lo_a is not None and (hi_a is None or len(lo_a) != s.n or len(hi_a) != s.n):
            raise ValueError("lo and hi need one bound per observation")
        return s

    @property
    def n_exact(self) -> int:
        return len(self.exact)

    @property
    def n_right(self) -> int:
        return len(self.right)

    @property
    def n_left(self) -> int:
        return len(self.left)

    @property
    def n(self) -> int:
        return len(self.exact) + len(self.right) + len(self.left)

    @property
    def censored(self) -> bool:
        return bool(len(self.right) or len(self.left))

    @functools.cached_property
    def logs(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Logarithms of exact, right and left values (-inf at 0), computed once."""
        return _log_pos(self.exact), _log_pos(self.right), _log_pos(self.left)


# --------------------------------------------------------------------------- families
class Family:
    """One distribution family: fit, log-likelihood, CDF, draws, and the scenario's parameters.

    ``theta`` is the family's internal parameter tuple (the log-scale mu and sigma for the
    lognormal, the scenario's parameters otherwise)."""

    name = ""
    names: tuple[str, ...] = ()
    bounded = False  # support ends move with the parameters (triangular, uniform)
    scales: tuple[str, ...] = ()  # scale parameters: intervals on the log scale

    @property
    def k(self) -> int:
        return len(self.names)

    def fit(
        self, s: Sample, hint: Sequence[float] | None = None
    ) -> tuple[float, ...] | None:  # pragma: no cover - overridden
        """The ML estimate (None when the family cannot describe the sample); ``hint`` is a
        nearby estimate to start a numerical search from (bootstrap refits)."""
        raise NotImplementedError

    def loglik(self, th: Sequence[float], s: Sample) -> float:  # pragma: no cover
        raise NotImplementedError

    def cdf(self, th: Sequence[float], x: np.ndarray) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def rvs(self, th: Sequence[float], n: int, rng: np.random.Generator) -> np.ndarray:
        return np.asarray(self.rv(th).rvs(size=n, random_state=rng), dtype=float)

    def rv(self, th: Sequence[float]):  # pragma: no cover - overridden
        """The scipy frozen distribution (quantiles for QQ plots, moments)."""
        raise NotImplementedError

    def params(self, th: Sequence[float]) -> dict[str, float]:
        return {n: float(v) for n, v in zip(self.names, th, strict=True)}

    def mean(self, th: Sequence[float]) -> float:
        return float(self.rv(th).mean())

    def spec(self, th: Sequence[float], digits: int = 5) -> dict[str, object]:
        """The distribution as a scenario writes it (hours for durations)."""
        out: dict[str, object] = {"dist": self.name}
        out.update({k: _round(v, digits) for k, v in self.params(th).items()})
        return out

    def _nll(self, th: Sequence[float], s: Sample) -> float:
        ll = self.loglik(th, s)
        return -ll if math.isfinite(ll) else 1e300


def _round(x: float, digits: int) -> float:
    return float(f"{x:.{digits}g}")


def _log_pos(x: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(np.where(x > 0, x, 0.0))


class _Exponential(Family):
    name, names, scales = "exponential", ("mean",), ("mean",)

    def fit(self, s: Sample, hint: Sequence[float] | None = None) -> tuple[float, ...] | None:
        if s.n_exact == 0:
            return None
        m = (s.exact.sum() + s.right.sum()) / s.n_exact  # total time on test / events
        if not m > 0:
            return None
        if not s.n_left:
            return (float(m),)
        res = optimize.minimize_scalar(
            lambda lm: self._nll((math.exp(lm),), s),
            bounds=(math.log(m) - 12, math.log(m) + 12),
            method="bounded",
            options={"xatol": 1e-10},
        )
        return (float(math.exp(res.x)),)

    def loglik(self, th: Sequence[float], s: Sample) -> float:
        m = th[0]
        if not m > 0:
            return -math.inf
        ll = -s.n_exact * math.log(m) - (s.exact.sum() + s.right.sum()) / m
        if s.n_left:
            ll += float(np.sum(_log_pos(-np.expm1(-s.left / m))))
        return float(ll)

    def cdf(self, th: Sequence[float], x: np.ndarray) -> np.ndarray:
        return -np.expm1(-np.maximum(x, 0.0) / th[0])

    def rvs(self, th: Sequence[float], n: int, rng: np.random.Generator) -> np.ndarray:
        return rng.exponential(th[0], n)

    def rv(self, th: Sequence[float]):
        return stats.expon(scale=th[0])

    def mean(self, th: Sequence[float]) -> float:
        return float(th[0])


class _LogNormal(Family):
    name, names, scales = "lognormal", ("mean", "sd"), ("mean", "sd")

    def fit(self, s: Sample, hint: Sequence[float] | None = None) -> tuple[float, ...] | None:
        if s.n_exact < 2 or np.any(s.exact <= 0) or np.any(s.left <= 0):
            return None
        y = s.logs[0]
        mu0, sd0 = float(y.mean()), float(y.std())
        if not sd0 > 0:
            return None
        if not s.censored:
            return (mu0, sd0)
        res = optimize.minimize(
            lambda p: self._nll((p[0], math.exp(p[1])), s),
            [mu0, math.log(sd0)],
            method="Nelder-Mead",
            options=_NM,
        )
        return (float(res.x[0]), float(math.exp(res.x[1])))

    def loglik(self, th: Sequence[float], s: Sample) -> float:
        mu, sd = th
        y, y_right, y_left = s.logs
        if not sd > 0 or (s.n_exact and y.min() == -np.inf):
            return -math.inf
        z = (y - mu) / sd
        ll = -np.sum(y) - s.n_exact * (math.log(sd) + _HALF_LOG_2PI) - 0.5 * np.dot(z, z)
        if s.n_right:
            ll += np.sum(special.log_ndtr((mu - y_right) / sd))
        if s.n_left:
            ll += np.sum(special.log_ndtr((y_left - mu) / sd))
        return float(ll)

    def cdf(self, th: Sequence[float], x: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore"):
            return special.ndtr((_log_pos(x) - th[0]) / th[1])

    def rvs(self, th: Sequence[float], n: int, rng: np.random.Generator) -> np.ndarray:
        return rng.lognormal(th[0], th[1], n)

    def rv(self, th: Sequence[float]):
        return stats.lognorm(s=th[1], scale=math.exp(th[0]))

    def params(self, th: Sequence[float]) -> dict[str, float]:
        mu, sd = th
        mean = math.exp(mu + sd * sd / 2)
        return {"mean": mean, "sd": mean * math.sqrt(math.expm1(sd * sd))}

    def mean(self, th: Sequence[float]) -> float:
        return math.exp(th[0] + th[1] ** 2 / 2)


class _Normal(Family):
    """The parent normal's mean and sd; the twin truncates it at 0 (``twin.units.Normal``)."""

    name, names, scales = "normal", ("mean", "sd"), ("sd",)

    def fit(self, s: Sample, hint: Sequence[float] | None = None) -> tuple[float, ...] | None:
        if s.n_exact < 2:
            return None
        mu0, sd0 = float(s.exact.mean()), float(s.exact.std())
        if not sd0 > 0:
            return None
        res = optimize.minimize(
            lambda p: self._nll((max(p[0], 0.0), math.exp(p[1])), s),
            [max(mu0, 1e-9), math.log(sd0)],
            method="Nelder-Mead",
            options=_NM,
        )
        return (float(max(res.x[0], 0.0)), float(math.exp(res.x[1])))

    def loglik(self, th: Sequence[float], s: Sample) -> float:
        mu, sd = th
        if not sd > 0 or mu < 0 or np.any(s.exact < 0):
            return -math.inf
        z = (s.exact - mu) / sd
        log_mass = float(special.log_ndtr(mu / sd))  # P(parent > 0)
        ll = -s.n_exact * (math.log(sd) + _HALF_LOG_2PI) - 0.5 * np.dot(z, z)
        if s.n_right:
            ll += np.sum(special.log_ndtr(-(s.right - mu) / sd))
        if s.n_left:
            mass = special.ndtr((s.left - mu) / sd) - special.ndtr(-mu / sd)
            ll += np.sum(_log_pos(mass))
        return float(ll - s.n * log_mass)

    def cdf(self, th: Sequence[float], x: np.ndarray) -> np.ndarray:
        mu, sd = th
        lo = special.ndtr(-mu / sd)
        return np.clip((special.ndtr((x - mu) / sd) - lo) / (1.0 - lo), 0.0, 1.0)

    def rv(self, th: Sequence[float]):
        mu, sd = th
        return stats.truncnorm(a=-mu / sd, b=np.inf, loc=mu, scale=sd)


class _Uniform(Family):
    name, names, bounded = "uniform", ("low", "high"), True

    def fit(self, s: Sample, hint: Sequence[float] | None = None) -> tuple[float, ...] | None:
        if s.n_exact < 2:
            return None
        a0, b0 = float(s.exact.min()), float(s.exact.max())
        if not b0 > a0 or a0 < 0:
            return None
        if not s.censored:
            return (a0, b0)
        lo_max = min(a0, float(s.left.min())) if s.n_left else a0
        b_min = max(b0, float(s.right.max()) * (1 + 1e-12)) if s.n_right else b0
        span = b_min - lo_max
        res = optimize.minimize(
            lambda p: self._nll((p[0], p[1]), s),
            [lo_max - 1e-3 * span if s.n_left else lo_max, b_min + 1e-3 * span],
            method="Nelder-Mead",
            bounds=[(0.0, lo_max), (b_min, b_min + 10 * span)],
            options={"xatol": 1e-9 * span, "fatol": 1e-10, "maxiter": 2000},
        )
        return (float(res.x[0]), float(res.x[1]))

    def loglik(self, th: Sequence[float], s: Sample) -> float:
        a, b = th
        if not b > a or a < 0:
            return -math.inf
        if s.n_exact and (s.exact.min() < a or s.exact.max() > b):
            return -math.inf
        w = b - a
        ll = -s.n_exact * math.log(w)
        if s.n_right:
            ll += np.sum(_log_pos(np.clip((b - s.right) / w, 0.0, 1.0)))
        if s.n_left:
            ll += np.sum(_log_pos(np.clip((s.left - a) / w, 0.0, 1.0)))
        return float(ll)

    def cdf(self, th: Sequence[float], x: np.ndarray) -> np.ndarray:
        a, b = th
        return np.clip((x - a) / (b - a), 0.0, 1.0)

    def rvs(self, th: Sequence[float], n: int, rng: np.random.Generator) -> np.ndarray:
        return rng.uniform(th[0], th[1], n)

    def rv(self, th: Sequence[float]):
        return stats.uniform(loc=th[0], scale=th[1] - th[0])


class _Triangular(Family):
    name, names, bounded = "triangular", ("low", "mode", "high"), True

    def fit(self, s: Sample, hint: Sequence[float] | None = None) -> tuple[float, ...] | None:
        if s.n_exact < 3:
            return None
        x = np.sort(s.exact)
        if not x[-1] > x[0] or x[0] < 0:
            return None
        if not s.censored:
            return _triangular_newton(x, hint)
        lo_max = min(float(x[0]), float(s.left.min())) if s.n_left else float(x[0])
        b_min = max(float(x[-1]), float(s.right.max())) if s.n_right else float(x[-1])
        span = b_min - lo_max
        profile = _TriangularProfile(x, s)

        def nll(p: np.ndarray) -> float:
            ll = profile(p[0], p[1])[0]
            return -ll if math.isfinite(ll) else 1e300

        # the surface has a ridge per candidate mode, so small samples get several starts;
        # a bootstrap refit (``hint``) starts from the original estimate
        step = span / max(len(x), 4)
        starts = [] if hint is None else [(hint[0], hint[2])]
        if hint is None or len(x) < 50:
            starts.append((lo_max - step, b_min + step))
        if hint is None:
            starts.append((lo_max - 0.25 * span, b_min + 0.25 * span))
        if hint is None and len(x) < 50:
            starts.append((lo_max - step, b_min + span))
        res = None
        for a0, b0 in starts:
            r = optimize.minimize(
                nll,
                [min(max(a0, 0.0), lo_max), max(b0, b_min)],
                method="Nelder-Mead",
                bounds=[(0.0, lo_max), (b_min, b_min + 10 * span)],
                options={"xatol": 1e-7 * span, "fatol": 1e-7, "maxiter": 3000},
            )
            if res is None or r.fun < res.fun:
                res = r
        assert res is not None
        a, b = float(res.x[0]), float(res.x[1])
        ll, c = profile(a, b, full=True)
        return (a, c, b) if math.isfinite(ll) else None

    def loglik(self, th: Sequence[float], s: Sample) -> float:
        a, c, b = th
        if not (0 <= a <= c <= b and b > a):
            return -math.inf
        ll = 0.0
        if s.n_exact:
            pdf = self.rv(th).pdf(s.exact)
            ll += float(np.sum(_log_pos(pdf)))
            if np.any(pdf <= 0):
                return -math.inf
        if s.n_right:
            ll += float(np.sum(_log_pos(1 - self.cdf(th, s.right))))
        if s.n_left:
            ll += float(np.sum(_log_pos(self.cdf(th, s.left))))
        return ll

    def cdf(self, th: Sequence[float], x: np.ndarray) -> np.ndarray:
        a, c, b = th
        w = b - a
        with np.errstate(divide="ignore", invalid="ignore"):
            up = np.where(c > a, (np.clip(x - a, 0, None) ** 2) / (w * (c - a)), 1.0)
            down = np.where(b > c, 1 - (np.clip(b - x, 0, None) ** 2) / (w * (b - c)), 1.0)
        return np.clip(np.where(x <= c, np.minimum(up, 1.0), down), 0.0, 1.0)

    def rvs(self, th: Sequence[float], n: int, rng: np.random.Generator) -> np.ndarray:
        a, c, b = th
        return rng.triangular(a, c, b, n)

    def rv(self, th: Sequence[float]):
        a, c, b = th
        return stats.triang(c=(c - a) / (b - a), loc=a, scale=b - a)

    def mean(self, th: Sequence[float]) -> float:
        return float(sum(th) / 3)


def _triangular_newton(x: np.ndarray, hint: Sequence[float] | None) -> tuple[float, ...] | None:
    """Uncensored triangular ML (x sorted): the mode is an observation, and for a fixed mode
    x[k] the log-likelihood is smooth in the ends, maximised by Newton's method with analytic
    derivatives. Small samples try every k; larger ones try both extremes and the three best k
    for each of nine pairs of ends around the sample (and the ends of ``hint``), then alternate
    between the best k for the best ends found and the best ends for that k until k stays."""
    n = len(x)
    span = float(x[-1] - x[0])
    if n <= 30:
        ks: list[int] = list(range(n))
    else:  # the best modes for a few plausible pairs of ends, and both extremes
        step = span / n
        ends = [(x[0] - f * step, x[-1] + g * step) for f in (1, 5, 25) for g in (1, 5, 25)]
        if hint is not None:
            ends.append((hint[0], hint[2]))
        found = {0, n - 1}
        for a0, b0 in ends:
            sc = _mode_scores(x, min(max(a0, 0.0), float(x[0])), max(b0, float(x[-1])))
            found.update(int(i) for i in np.argsort(sc)[-3:])
        ks = sorted(found)
    best: tuple[float, float, float, float] | None = None
    seen: set[int] = set()
    while ks:
        for k in ks:
            seen.add(k)
            got = _ends_for_mode(x, k, span)
            if got is not None and (best is None or got[0] > best[0]):
                best = got
        if n <= 30 or best is None:
            break
        k = int(np.argmax(_mode_scores(x, best[1], best[3])))
        ks = [] if k in seen else [k]
    if best is None:
        return None
    return (best[1], best[2], best[3])


def _mode_scores(x: np.ndarray, a: float, b: float) -> np.ndarray:
    """Log-likelihood (up to a constant) with the mode at each x[k], for ends a, b."""
    n = len(x)
    with np.errstate(divide="ignore", invalid="ignore"):
        la, lb = np.log(x - a), np.log(b - x)
        k = np.arange(n)
        sc = np.cumsum(la) - (k + 1) * la + np.cumsum(lb[::-1])[::-1] - (n - k) * lb
    return np.where(np.isnan(sc), -np.inf, sc)


def _ends_for_mode(x: np.ndarray, k: int, span: float) -> tuple[float, float, float, float] | None:
    """(log L, low, mode, high) with the mode at x[k], ends by Newton with backtracking.

    g(a, b) = sum_{i<k} log(x_i - a) - k log(c - a) + sum_{i>k} log(b - x_i)
              - m log(b - c) - n log(b - a) + n log 2,   c = x[k], m = n - 1 - k.
    The mode at the first (last) observation puts low (high) on it."""
    n, c = len(x), float(x[k])
    lo_x, hi_x = x[:k], x[k + 1 :]
    m = n - 1 - k
    free_a, free_b = k > 0, m > 0
    tiny = 1e-12 * max(span, 1e-300)

    def g(a: float, b: float) -> float:
        if not (b > a and a >= 0) or (free_a and not a < x[0]) or (free_b and not b > x[-1]):
            return -math.inf
        out = n * (math.log(2.0) - math.log(b - a))
        if free_a:
            out += float(np.sum(np.log(lo_x - a))) - k * math.log(c - a)
        if free_b:
            out += float(np.sum(np.log(b - hi_x))) - m * math.log(b - c)
        return out

    a = max(float(x[0]) - span / n, 0.0) if free_a else float(x[0])
    b = float(x[-1]) + span / n if free_b else float(x[-1])
    val = g(a, b)
    for _ in range(100):
        w = b - a
        ga = gb = 0.0
        haa = hbb = n / w**2
        hab = -n / w**2
        if free_a:
            da = 1.0 / (lo_x - a)
            ga = -float(da.sum()) + k / (c - a) + n / w
            haa += -float(np.dot(da, da)) + k / (c - a) ** 2
        if free_b:
            db = 1.0 / (b - hi_x)
            gb = float(db.sum()) - m / (b - c) - n / w
            hbb += -float(np.dot(db, db)) + m / (b - c) ** 2
        if not free_a:
            ga, haa, hab = 0.0, -1.0, 0.0
        if not free_b:
            gb, hbb, hab = 0.0, -1.0, 0.0
        det = haa * hbb - hab * hab
        if haa < 0 and det > 0:  # concave here: Newton
            step_a, step_b = -(hbb * ga - hab * gb) / det, -(haa * gb - hab * ga) / det
        else:  # otherwise a gradient step of a sensible size
            scale = 0.1 * span / max(math.hypot(ga, gb), 1e-300)
            step_a, step_b = ga * scale, gb * scale
        t = 1.0
        while t > 1e-12:
            na, nb = a + t * step_a, b + t * step_b
            nv = g(na, nb)
            if nv >= val:
                break
            t /= 2
        else:
            break
        moved = abs(na - a) + abs(nb - b)
        a, b, val = na, nb, nv
        if moved < tiny:
            break
    if not math.isfinite(val):
        return None
    return val, a, c, b


class _TriangularProfile:
    """The triangular log-likelihood maximised over the mode, for given ends ``a`` < ``b``.

    For fixed ends the maximum over the mode lies at an observation or at an end (the density
    is piecewise log-concave between observations), so all n + 2 candidates are scored at once
    with cumulative sums: with the mode at x[k], x[i<k] lie on the rising side and x[i>k] on
    the falling side."""

    def __init__(self, x: np.ndarray, s: Sample) -> None:
        self.x, self.s, n = x, s, len(x)
        self.k1 = np.arange(1, n + 1, dtype=float)  # k + 1
        self.nk = n - np.arange(n, dtype=float)  # n - k
        self.log2n = n * math.log(2.0)

    def __call__(self, a: float, b: float, full: bool = False) -> tuple[float, float]:
        """(max log L, its mode). With censoring, only the 32 modes best for the exact values
        and 32 spread over the sample are scored against the censored ones (the search's
        inner loop), unless ``full``."""
        x, n = self.x, len(self.x)
        if not (b > a and 0 <= a <= x[0] and b >= x[-1]):
            return -math.inf, a
        lw = math.log(b - a)
        with np.errstate(divide="ignore", invalid="ignore"):
            la, lb = np.log(x - a), np.log(b - x)
            ca, cb = np.cumsum(la), np.cumsum(lb[::-1])[::-1]
            at_x = ca - self.k1 * la + cb - self.nk * lb  # nan where x == a or b
        at_x = np.where(np.isnan(at_x), -np.inf, at_x) + self.log2n - n * lw
        ends = np.array([cb[0], ca[-1]]) + self.log2n - 2 * n * lw  # mode at a, mode at b
        s = self.s
        if not (s.n_right or s.n_left):
            i = int(np.argmax(at_x))
            if at_x[i] >= ends.max():
                return float(at_x[i]), float(x[i])
            return (float(ends[0]), a) if ends[0] >= ends[1] else (float(ends[1]), b)
        modes = np.concatenate(([a], x, [b]))
        ll = np.concatenate(([ends[0]], at_x, [ends[1]]))
        if not full and n > 64:
            keep = np.union1d(np.argsort(ll)[-32:], np.linspace(0, n + 1, 32).astype(int))
            modes, ll = modes[keep], ll[keep]
        c, w = modes[:, None], b - a
        with np.errstate(divide="ignore", invalid="ignore"):
            if s.n_right:
                r = s.right[None, :]
                sf = np.where(
                    r <= c,
                    1 - np.clip(r - a, 0, None) ** 2 / (w * (c - a)),
                    np.clip(b - r, 0, None) ** 2 / (w * (b - c)),
                )
                ll = ll + np.sum(_log_pos(np.nan_to_num(sf, nan=1.0)), axis=1)
            if s.n_left:
                q = s.left[None, :]
                cdf = np.where(
                    q <= c,
                    np.clip(q - a, 0, None) ** 2 / (w * (c - a)),
                    1 - np.clip(b - q, 0, None) ** 2 / (w * (b - c)),
                )
                ll = ll + np.sum(_log_pos(np.nan_to_num(np.minimum(cdf, 1.0), nan=1.0)), axis=1)
        i = int(np.argmax(ll))
        return float(ll[i]), float(modes[i])


_FAMILIES: dict[str, Family] = {
    f.name: f for f in (_Exponential(), _LogNormal(), _Normal(), _Triangular(), _Uniform())
}
FAMILIES = tuple(_FAMILIES)
"""The parametric candidates, in the order reports list them."""
PARAMS = {name: f.names for name, f in _FAMILIES.items()} | {"fixed": ("value",)}


def family(name: str) -> Family:
    return _FAMILIES[name]
