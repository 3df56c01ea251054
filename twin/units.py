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
from typing import TYPE_CHECKING, Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

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
    "format_hours",
]

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
    return hours


Duration = Annotated[float, BeforeValidator(parse_duration)]


def format_hours(hours: float) -> str:
    """A short human form of a number of hours, for tables."""
    if hours >= 48:
        return f"{hours / 24:.1f}d"
    if hours >= 1:
        return f"{hours:.1f}h"
    return f"{hours * 60:.0f}min"


class _Dist(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @property
    def mean(self) -> float:  # pragma: no cover - overridden
        raise NotImplementedError

    @property
    def ideal(self) -> float:
        return self.mean

    def sample(self, rng: Rng) -> float:  # pragma: no cover - overridden
        raise NotImplementedError

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


class Normal(_Dist):
    """Normal, truncated to [low, high] (low defaults to 0) by resampling."""

    dist: Literal["normal"]
    mean_: Duration = Field(alias="mean")
    sd: Duration
    low: Duration = 0.0
    high: Duration | None = None

    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False
    )

    @model_validator(mode="after")
    def _check(self) -> Normal:
        hi = math.inf if self.high is None else self.high
        if not (self.low <= self.mean_ <= hi):
            raise ValueError(f"normal needs low <= mean <= high, got mean={self.mean_}h")
        return self

    @property
    def mean(self) -> float:
        return self.mean_

    @property
    def ideal(self) -> float:
        return max(self.low, self.mean_ - 2 * self.sd)

    def sample(self, rng: Rng) -> float:
        hi = math.inf if self.high is None else self.high
        for _ in range(100):
            x = rng.gauss(self.mean_, self.sd)
            if self.low <= x <= hi:
                return float(x)
        return self.mean_


class LogNormal(_Dist):
    """Log-normal given by the mean and standard deviation of the variable itself."""

    dist: Literal["lognormal"]
    mean_: Duration = Field(alias="mean")
    sd: Duration

    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False
    )

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


class Exponential(_Dist):
    dist: Literal["exponential"]
    mean_: Duration = Field(alias="mean")

    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False
    )

    @property
    def mean(self) -> float:
        return self.mean_

    def sample(self, rng: Rng) -> float:
        return rng.expovariate(1.0 / self.mean_) if self.mean_ > 0 else 0.0


class Empirical(_Dist):
    dist: Literal["empirical"]
    values: tuple[Duration, ...] = Field(min_length=1)
    weights: tuple[float, ...] | None = None

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
