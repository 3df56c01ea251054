import math
import random

import numpy as np
import pytest
from pydantic import TypeAdapter, ValidationError

from twin.units import Distribution, parse_duration

DIST = TypeAdapter(Distribution)


@pytest.mark.parametrize(
    ("text", "hours"),
    [
        ("45min", 0.75),
        ("2h", 2.0),
        ("3d", 72.0),
        ("1w", 168.0),
        ("90s", 0.025),
        (1.5, 1.5),
        ("2", 2.0),
        ("1.5h", 1.5),
    ],
)
def test_durations(text, hours):
    assert parse_duration(text) == pytest.approx(hours)


@pytest.mark.parametrize("bad", ["2 hours", "h", "-1h", "abc", True, None, [1], float("nan"), -3])
def test_bad_durations_raise_value_error(bad):
    with pytest.raises(ValueError):
        parse_duration(bad)


@pytest.mark.parametrize(
    "spec",
    [
        "3h",
        {"dist": "uniform", "low": "1h", "high": "3h"},
        {"dist": "triangular", "low": 1, "mode": 2, "high": 6},
        {"dist": "normal", "mean": "4h", "sd": "30min"},
        {"dist": "lognormal", "mean": 4, "sd": 2},
        {"dist": "exponential", "mean": "5h"},
        {"dist": "empirical", "values": [1, 2, 4], "weights": [0.5, 0.3, 0.2]},
    ],
)
def test_sample_mean_matches_declared_mean(spec):
    d = DIST.validate_python(spec)
    rng = random.Random(3)
    xs = np.array([d.sample(rng) for _ in range(20000)])
    assert xs.min() >= 0
    assert xs.mean() == pytest.approx(d.mean, rel=0.03)
    assert d.ideal <= d.mean + 1e-9


def test_truncated_normal_respects_bounds():
    d = DIST.validate_python({"dist": "normal", "mean": 1, "sd": 2, "low": 0.5, "high": 2})
    rng = random.Random(0)
    xs = [d.sample(rng) for _ in range(2000)]
    assert min(xs) >= 0.5 and max(xs) <= 2


@pytest.mark.parametrize(
    "spec",
    [
        {"dist": "triangular", "low": 3, "mode": 2, "high": 6},
        {"dist": "uniform", "low": 3, "high": 1},
        {"dist": "weibull", "shape": 2},
        {"dist": "empirical", "values": [1, 2], "weights": [1]},
        {"dist": "exponential", "mean": "5h", "extra": 1},
        {"low": 1},
    ],
)
def test_bad_distributions(spec):
    with pytest.raises(ValidationError):
        DIST.validate_python(spec)


def test_lognormal_parameterised_by_mean_and_sd():
    d = DIST.validate_python({"dist": "lognormal", "mean": 4, "sd": 2})
    xs = np.array([d.sample(random.Random(i)) for i in range(1)])
    assert math.isfinite(xs[0])
    rng = random.Random(9)
    xs = np.array([d.sample(rng) for _ in range(40000)])
    assert xs.std() == pytest.approx(2.0, rel=0.05)


@pytest.mark.parametrize(
    ("mean", "sd", "low", "high"),
    [
        (1.0, 2.0, 0.0, None),  # a fifth of the mass cut: rejection
        (0.1, 5.0, 0.0, 0.5),  # 4% of the mass kept: inverse CDF
        (0.0, 1.0, 0.0, 0.01),  # a sliver: 100 rejections used to return the mean
        (6.0, 0.5, 0.0, None),  # no visible truncation
    ],
)
def test_truncated_normal_is_sampled_exactly_and_knows_its_mean(mean, sd, low, high):
    """Against scipy's truncnorm (independent truth): the declared mean is the truncated mean,
    and 20,000 draws pass a KS test against the truncated CDF."""
    from scipy import stats

    spec = {"dist": "normal", "mean": mean, "sd": sd, "low": low}
    if high is not None:
        spec["high"] = high
    d = DIST.validate_python(spec)
    hi = math.inf if high is None else high
    truth = stats.truncnorm((low - mean) / sd, (hi - mean) / sd, loc=mean, scale=sd)
    assert d.mean == pytest.approx(truth.mean(), rel=1e-9, abs=1e-12)
    rng = random.Random(11)
    xs = np.array([d.sample(rng) for _ in range(20000)])
    assert xs.min() >= low and xs.max() <= hi
    assert stats.kstest(xs, truth.cdf).pvalue > 0.001
    assert abs(xs.mean() - truth.mean()) < 4 * truth.std() / math.sqrt(len(xs))


def test_truncated_normal_mean_feeds_the_deterministic_twin():
    """Planning uses ``mean``: with mean 1h, sd 2h truncated at 0 it is about 2.02 h, not 1 h."""
    from twin.deterministic import at_means

    d = DIST.validate_python({"dist": "normal", "mean": 1, "sd": 2})
    assert at_means(d).value == pytest.approx(2.0183, abs=1e-3)
