"""Durations and probability distributions used throughout a scenario.

Model time is hours (float). Durations in a scenario may be written as plain numbers (hours)
or strings with a unit: ``"30s"``, ``"45min"``, ``"2h"``, ``"3d"``, ``"1w"``.

A distribution is written either as a duration (a fixed value) or as a mapping with a ``dist``
key::

    {dist: triangular, low: 1h, mode: 90min, high: 3h}
    {dist: normal, mean: 2h, sd: 20min}          # truncated at 0 (or at low/high if given)
    {dist: lognormal, mean: 4h, sd: 2h}          # mean and sd of the variable itself
    {dist: exponential, mean: 400h}
    {dist: uniform, low: 1h, high: 2h}
    {dist: empirical, values: [1h, 2h, 4h], weights: [0.5, 0.3, 0.2]}

Every distribution knows its ``mean`` (used for planning and dispatch estimates) and its
``ideal`` (the shortest plausible value, used as the OEE ideal cycle time).
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Callable
from operator import methodcaller
from statistics import NormalDist
from typing import TYPE_CHECKING, Annotated, Any, Literal

import numpy as np
from pydantic import BeforeValidator, Field, PrivateAttr, model_validator

from twin.schema_base import Float, Model

if TYPE_CHECKING:
    from twin.streams import Stream

    Rng = random.Random | Stream  # anything with random() and the stdlib's distributions

__all__ = [
    "Duration",
    "Distribution",
    "Fixed",
    "Uniform",
    "Triangular",
    "Normal",
    "LogNormal",
    "Exponential",
    "Empirical",
    "parse_duration",
    "parse_distribution",
    "MAX_DURATION_H",
]

_STD = NormalDist()

_UNITS = {
    "s": 1 / 3600,
    "sec": 1 / 3600,
    "min": 1 / 60,
    "m": 1 / 60,
    "h": 1.0,
    "hr": 1.0,
    "d": 24.0,
    "day": 24.0,
    "days": 24.0,
    "w": 168.0,
    "wk": 168.0,
}
MAX_DURATION_H = 1_000_000.0
"""The longest duration a scenario may state (about 114 years): longer is a typo or a unit
mix-up, and would make every KPI that divides by a duration meaningless."""
_DURATION_RE = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([a-zA-Z]*)\s*$")


def parse_duration(value: Any) -> float:
    """Hours from a number (already hours) or a string such as ``"45min"``, ``"2h"``, ``"3d"``.

    Raises ValueError (never TypeError) so pydantic reports it with its path.
    """
    if isinstance(value, bool):
        raise ValueError(
            f"expected a duration such as 45min, 2h, 3d or a number of hours, got {value!r}"
        )
    if isinstance(value, int | float):
        hours = float(value)
    elif isinstance(value, str):
        match = _DURATION_RE.match(value)
        unit = match.group(2).lower() if match else None
        if match is None or (unit and unit not in _UNITS):
            raise ValueError(
                f"expected a duration such as 45min, 2h, 3d, 1w or a number of hours, got {value!r}"
            )
        hours = float(match.group(1)) * (_UNITS[unit] if unit else 1.0)
    else:
        raise ValueError(
            f"expected a duration such as 45min, 2h, 3d or a number of hours, got {value!r}"
        )
    if not math.isfinite(hours) or hours < 0:
        raise ValueError(f"a duration must be finite and >= 0, got {value!r}")
    if hours > MAX_DURATION_H:
        raise ValueError(
            f"a duration of at most {MAX_DURATION_H:,.0f} h (about 114 years), got {value!r}"
        )
    return hours


Duration = Annotated[float, BeforeValidator(parse_duration)]


class _Dist(Model):
    @property
    def mean(self) -> float:  # pragma: no cover - overridden
        raise NotImplementedError

    @property
    def ideal(self) -> float:
        return self.mean

    def sample(self, rng: Rng) -> float:  # pragma: no cover - overridden
        raise NotImplementedError

    def sampler(self) -> Callable[[Rng], float]:
        """``sample`` as a function of the stream alone: the same numbers, for code that
        draws from one distribution many times (a recipe step's duration, once per batch)."""
        return self.sample

    def remaining(self, rng: Rng, elapsed: float) -> float:
        """A draw of what is left of a duration that has already run ``elapsed`` hours: the
        distribution conditioned on exceeding ``elapsed``, less ``elapsed`` (remaining life).
        0 when ``elapsed`` is past every value the distribution can take."""
        if elapsed <= 0:
            return self.sample(rng)
        for _ in range(64):  # rejection; the families below override it exactly
            x = self.sample(rng)
            if x > elapsed:
                return x - elapsed
        return 0.0

    def scaled(self, factor: float) -> float:
        """The mean scaled by a factor (helper for planning estimates)."""
        return self.mean * factor


class Fixed(_Dist):
    dist: Literal["fixed"] = "fixed"
    value: Duration

    @property
    def mean(self) -> float:
        return self.value

    def sample(self, rng: Rng) -> float:
        return self.value

    def remaining(self, rng: Rng, elapsed: float) -> float:
        return max(0.0, self.value - elapsed)


class Uniform(_Dist):
    dist: Literal["uniform"]
    low: Duration
    high: Duration

    @model_validator(mode="after")
    def _check(self) -> Uniform:
        if self.high < self.low:
            raise ValueError(f"uniform needs low <= high, got low={self.low}h high={self.high}h")
        return self

    @property
    def mean(self) -> float:
        return (self.low + self.high) / 2

    @property
    def ideal(self) -> float:
        return self.low

    def sample(self, rng: Rng) -> float:
        return self.low + (self.high - self.low) * rng.random()

    def remaining(self, rng: Rng, elapsed: float) -> float:
        if elapsed >= self.high:
            return 0.0
        lo = max(self.low, elapsed)
        return lo + (self.high - lo) * rng.random() - elapsed


class Triangular(_Dist):
    dist: Literal["triangular"]
    low: Duration
    mode: Duration
    high: Duration

    @model_validator(mode="after")
    def _check(self) -> Triangular:
        if not (self.low <= self.mode <= self.high):
            raise ValueError(
                f"triangular needs low <= mode <= high, got {self.low}h, {self.mode}h, {self.high}h"
            )
        return self

    @property
    def mean(self) -> float:
        return (self.low + self.mode + self.high) / 3

    @property
    def ideal(self) -> float:
        return self.low

    def sample(self, rng: Rng) -> float:
        if self.high == self.low:
            return self.low
        return rng.triangular(self.low, self.high, self.mode)

    def _cdf(self, x: float) -> float:
        a, c, b = self.low, self.mode, self.high
        if x <= a:
            return 0.0
        if x >= b:
            return 1.0
        if x <= c:
            return (x - a) ** 2 / ((b - a) * (c - a)) if c > a else 0.0
        return 1.0 - (b - x) ** 2 / ((b - a) * (b - c))

    def _inverse(self, u: float) -> float:
        a, c, b = self.low, self.mode, self.high
        f = (c - a) / (b - a)
        if u < f:
            return a + math.sqrt(u * (b - a) * (c - a))
        return b - math.sqrt((1 - u) * (b - a) * (b - c))

    def remaining(self, rng: Rng, elapsed: float) -> float:
        if elapsed <= self.low:
            return self.sample(rng) - elapsed
        if elapsed >= self.high:
            return 0.0
        lo = self._cdf(elapsed)
        return max(0.0, self._inverse(lo + (1.0 - lo) * rng.random()) - elapsed)


class Normal(_Dist):
    """Normal with ``mean`` and ``sd``, truncated to [low, high] (low defaults to 0).

    Sampled exactly from the truncated distribution: by rejection while most of the mass lies
    inside the bounds (as cheap as an untruncated draw), by the inverse CDF otherwise. ``mean``
    is the mean of the truncated distribution (what planning and dispatch estimates need), not
    the parameter, which is ``mean_``.
    """

    dist: Literal["normal"]
    mean_: Duration = Field(alias="mean")
    sd: Duration
    low: Duration = 0.0
    high: Duration | None = None
    _lo_cdf: float = PrivateAttr(0.0)  # Phi((low - mean) / sd)
    _mass: float = PrivateAttr(1.0)  # probability of [low, high] under the untruncated normal
    _tmean: float = PrivateAttr(0.0)

    @model_validator(mode="after")
    def _check(self) -> Normal:
        hi = math.inf if self.high is None else self.high
        if not (self.low <= self.mean_ <= hi):
            raise ValueError(f"normal needs low <= mean <= high, got mean={self.mean_}h")
        return self

    def model_post_init(self, _context: Any) -> None:
        mu, sd = self.mean_, self.sd
        hi = math.inf if self.high is None else self.high
        if sd <= 0 or hi - self.low <= 1e-12 * max(1.0, abs(mu)):
            self._tmean, self._mass = mu, 0.0  # a point: sample() returns it
            return
        a, b = (self.low - mu) / sd, (hi - mu) / sd
        lo_cdf, hi_cdf = _STD.cdf(a), (1.0 if b == math.inf else _STD.cdf(b))
        mass = hi_cdf - lo_cdf  # >= Phi(0) - Phi(a) or Phi(b) - Phi(0): never vanishing here
        pdf_b = 0.0 if b == math.inf else _STD.pdf(b)
        self._lo_cdf, self._mass = lo_cdf, mass
        self._tmean = min(max(mu + sd * (_STD.pdf(a) - pdf_b) / mass, self.low), hi)

    @property
    def mean(self) -> float:
        return self._tmean

    @property
    def ideal(self) -> float:
        return max(self.low, self.mean_ - 2 * self.sd)

    def sample(self, rng: Rng) -> float:
        mu, sd = self.mean_, self.sd
        if self._mass <= 0.0:
            return self._tmean
        hi = math.inf if self.high is None else self.high
        if self._mass > 0.5:
            for _ in range(64):  # P(64 rejections) < 2**-64: exact in practice, bounded always
                x = rng.gauss(mu, sd)
                if self.low <= x <= hi:
                    return float(x)
        # inverse CDF: u uniform on (Phi(a), Phi(b)); the bounds bracket 1/2, so no tail loss
        u = self._lo_cdf + self._mass * rng.random()
        u = min(max(u, 1e-300), 1.0 - 1e-16)
        return float(min(max(mu + sd * _STD.inv_cdf(u), self.low), hi))

    def remaining(self, rng: Rng, elapsed: float) -> float:
        hi = math.inf if self.high is None else self.high
        if elapsed <= self.low or self._mass <= 0.0:
            return max(0.0, self.sample(rng) - elapsed)
        if elapsed >= hi:
            return 0.0
        mu, sd = self.mean_, self.sd
        x = mu + sd * _upper_tail(rng, (elapsed - mu) / sd, (hi - mu) / sd)
        return max(0.0, min(x, hi) - elapsed)


class LogNormal(_Dist):
    """Log-normal given by the mean and standard deviation of the variable itself."""

    dist: Literal["lognormal"]
    mean_: Duration = Field(alias="mean")
    sd: Duration

    @model_validator(mode="after")
    def _check(self) -> LogNormal:
        if self.mean_ <= 0:
            raise ValueError("lognormal needs mean > 0")
        return self

    @property
    def mean(self) -> float:
        return self.mean_

    @property
    def ideal(self) -> float:
        return self.mean_ * 0.5 if self.sd > 0 else self.mean_

    def sample(self, rng: Rng) -> float:
        if self.sd == 0:
            return self.mean_
        sigma2 = math.log(1 + (self.sd / self.mean_) ** 2)
        mu = math.log(self.mean_) - sigma2 / 2
        return rng.lognormvariate(mu, math.sqrt(sigma2))

    def remaining(self, rng: Rng, elapsed: float) -> float:
        if self.sd == 0:
            return max(0.0, self.mean_ - elapsed)
        if elapsed <= 0:
            return self.sample(rng)
        sigma2 = math.log(1 + (self.sd / self.mean_) ** 2)
        mu, sigma = math.log(self.mean_) - sigma2 / 2, math.sqrt(sigma2)
        z = _upper_tail(rng, (math.log(elapsed) - mu) / sigma, math.inf)
        return max(0.0, math.exp(mu + sigma * z) - elapsed)


class Exponential(_Dist):
    dist: Literal["exponential"]
    mean_: Duration = Field(alias="mean")

    @property
    def mean(self) -> float:
        return self.mean_

    def sample(self, rng: Rng) -> float:
        mean = self.mean_
        return rng.expovariate(1.0 / mean) if mean > 0 else 0.0

    def sampler(self) -> Callable[[Rng], float]:
        """``rng.expovariate(1 / mean)`` called directly (a C-level ``methodcaller``): no
        Python frame of its own per draw, the same numbers as ``sample``."""
        if self.mean_ > 0:
            return methodcaller("expovariate", 1.0 / self.mean_)
        return self.sample

    def remaining(self, rng: Rng, elapsed: float) -> float:
        return self.sample(rng)  # memoryless


class Empirical(_Dist):
    dist: Literal["empirical"]
    values: tuple[Duration, ...] = Field(min_length=1)
    weights: tuple[Float, ...] | None = None

    @model_validator(mode="after")
    def _check(self) -> Empirical:
        if self.weights is not None:
            if len(self.weights) != len(self.values):
                raise ValueError(
                    f"empirical needs as many weights as values, got {len(self.weights)} "
                    f"weights for {len(self.values)} values"
                )
            if any(w < 0 or not math.isfinite(w) for w in self.weights) or sum(self.weights) <= 0:
                raise ValueError("empirical weights must be >= 0 with a positive sum")
        return self

    def _probs(self) -> np.ndarray:
        w = np.ones(len(self.values)) if self.weights is None else np.asarray(self.weights)
        return w / w.sum()

    @property
    def mean(self) -> float:
        return float(np.dot(self._probs(), self.values))

    @property
    def ideal(self) -> float:
        return min(self.values)

    def sample(self, rng: Rng) -> float:
        if len(self.values) == 1:
            return self.values[0]
        return rng.choices(self.values, weights=self.weights)[0]

    def remaining(self, rng: Rng, elapsed: float) -> float:
        w = self.weights or (1.0,) * len(self.values)
        later = [(v, wi) for v, wi in zip(self.values, w, strict=True) if v > elapsed and wi > 0]
        if not later:
            return 0.0
        v = rng.choices([x for x, _ in later], weights=[wi for _, wi in later])[0]
        return v - elapsed


def _upper_tail(rng: Rng, a: float, b: float) -> float:
    """A standard normal draw conditioned on a < Z <= b (inverse CDF on the smaller tail, so
    no precision is lost far out)."""
    if a > 0:  # reflect: draw -Z from (-b, -a]
        return -_upper_tail_below(rng, -b, -a)
    return _upper_tail_below(rng, a, b)


def _upper_tail_below(rng: Rng, a: float, b: float) -> float:
    lo = _STD.cdf(a) if a > -math.inf else 0.0
    hi = _STD.cdf(b) if b < math.inf else 1.0
    u = lo + (hi - lo) * rng.random()
    return _STD.inv_cdf(min(max(u, 1e-300), 1.0 - 1e-16))


_KINDS: dict[str, type[_Dist]] = {
    "fixed": Fixed,
    "uniform": Uniform,
    "triangular": Triangular,
    "normal": Normal,
    "lognormal": LogNormal,
    "exponential": Exponential,
    "empirical": Empirical,
}


def parse_distribution(value: Any) -> Any:
    """Turn the shorthand (a plain duration) into ``{dist: fixed, value: ...}``."""
    if isinstance(value, _Dist):
        return value
    if isinstance(value, dict):
        kind = value.get("dist")
        if not isinstance(kind, str) or kind not in _KINDS:
            raise ValueError(
                f"unknown distribution {value.get('dist')!r}; expected a duration or a mapping "
                f"with dist: one of {', '.join(_KINDS)}"
            )
        return value
    return {"dist": "fixed", "value": parse_duration(value)}


Distribution = Annotated[
    Annotated[
        Fixed | Uniform | Triangular | Normal | LogNormal | Exponential | Empirical,
        Field(discriminator="dist"),
    ],
    BeforeValidator(parse_distribution),
]
