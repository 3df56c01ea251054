"""Random streams derived statelessly from (seed, replication, entity, purpose).

Each stream is a counter-mode generator over BLAKE2b (RFC 7693, ``hashlib.blake2b``): block
``k`` of the stream for a key is ``blake2b(key || 0x1e || k as 8 little-endian bytes)`` with a
64-byte digest, read as eight little-endian 64-bit words; each word gives one uniform double
``(word >> 11) * 2**-53`` in [0, 1). The same entity and purpose get the same numbers in every
variant of a scenario (common random numbers), and adding a unit never shifts the draws of
another. Nothing is derived statefully (``SeedSequence.spawn()`` would break this).

The distributions are written out here, each as the formula it documents, on top of
``random()``. They are the formulas the standard library's ``random.Random`` uses today (the
tests check it), but they are this module's own: no private or borrowed method of ``random``
is called, so a Python upgrade cannot change a stream. Everything a stream gives is fixed by
this file and by BLAKE2b.

Why not ``random.Random`` or a NumPy ``Generator``: a plant creates one stream per batch and
draws a handful of scalars from it. Seeding a Mersenne Twister costs about 8 us (it
initialises 624 words) and a ``Generator`` from a ``SeedSequence`` 12-15 us, both more than
all the other work of a batch's step on a simple flow line; creating a ``Stream`` costs a
string join and a generator, and a block of eight draws one hash.
"""

from __future__ import annotations

import hashlib
import math
import struct
from bisect import bisect
from collections.abc import Callable, Iterator, Sequence
from itertools import accumulate
from typing import TypeVar

__all__ = ["Stream", "batch_streams", "stream"]

T = TypeVar("T")

_WORDS = struct.Struct("<8Q").unpack
_BLAKE = hashlib.blake2b
_TO_UNIT = 2.0**-53
_TWO_PI = 2.0 * math.pi
_NV_MAGIC = 4 * math.exp(-0.5) / math.sqrt(2.0)  # Kinderman and Monahan's constant
_log, _exp, _sqrt, _cos, _sin = math.log, math.exp, math.sqrt, math.cos, math.sin


def _uniforms(prefix: bytes) -> Iterator[float]:
    """The stream's doubles: eight per BLAKE2b block, blocks counted from 0."""
    block = 0
    to_unit = _TO_UNIT
    while True:
        digest = _BLAKE(prefix + block.to_bytes(8, "little"), digest_size=64).digest()
        block += 1
        for word in _WORDS(digest):
            yield (word >> 11) * to_unit


class Stream:
    """One random stream: ``random()`` and the distributions the twin samples from."""

    __slots__ = ("random", "gauss_next")

    def __init__(self, key: bytes) -> None:
        self.random = _uniforms(key + b"\x1e").__next__
        """The next uniform double in [0, 1)."""
        self.gauss_next: float | None = None  # the second normal of a Box-Muller pair

    def uniform(self, a: float, b: float) -> float:
        """Uniform on [a, b): ``a + (b - a) * u``."""
        return a + (b - a) * self.random()

    def expovariate(self, lambd: float) -> float:
        """Exponential with rate ``lambd``, by inversion: ``-log(1 - u) / lambd``."""
        return -_log(1.0 - self.random()) / lambd

    def triangular(self, low: float, high: float, mode: float) -> float:
        """Triangular on [low, high] with ``mode``, by inversion of its CDF (one uniform)."""
        u = self.random()
        if high == low:
            return low
        c = (mode - low) / (high - low)
        if u > c:
            u, c, low, high = 1.0 - u, 1.0 - c, high, low
        return low + (high - low) * _sqrt(u * c)

    def gauss(self, mu: float, sigma: float) -> float:
        """Normal by Box-Muller: two uniforms give two normals; the second is kept for the
        next call (``gauss_next``)."""
        z = self.gauss_next
        self.gauss_next = None
        if z is None:
            random = self.random
            x2pi = random() * _TWO_PI
            g2rad = _sqrt(-2.0 * _log(1.0 - random()))
            z = _cos(x2pi) * g2rad
            self.gauss_next = _sin(x2pi) * g2rad
        return mu + z * sigma

    def normalvariate(self, mu: float, sigma: float) -> float:
        """Normal by Kinderman and Monahan's ratio of uniforms (two uniforms per try)."""
        random = self.random
        while True:
            u1 = random()
            u2 = 1.0 - random()
            z = _NV_MAGIC * (u1 - 0.5) / u2
            if z * z / 4.0 <= -_log(u2):
                return mu + z * sigma

    def lognormvariate(self, mu: float, sigma: float) -> float:
        """``exp`` of ``normalvariate(mu, sigma)``."""
        return _exp(self.normalvariate(mu, sigma))

    def choices(
        self, population: Sequence[T], weights: Sequence[float] | None = None, k: int = 1
    ) -> list[T]:
        """``k`` picks with replacement: index ``floor(u * n)`` without weights, else the
        first cumulative weight above ``u * total`` (bisection)."""
        random = self.random
        n = len(population)
        if weights is None:
            return [population[math.floor(random() * n)] for _ in range(k)]
        if len(weights) != n:
            raise ValueError(f"{len(weights)} weights for {n} values")
        cum = list(accumulate(weights))
        total = cum[-1] + 0.0
        if not (total > 0.0 and math.isfinite(total)):
            raise ValueError(f"weights must have a positive finite sum, got {total!r}")
        return [population[bisect(cum, random() * total, 0, n - 1)] for _ in range(k)]


def stream(seed: int, replication: int, *key: str) -> Stream:
    """The generator for one entity and purpose: ``stream(7, 0, "unit", "press_1", "failures")``."""
    return Stream("\x1f".join((str(seed), str(replication), *key)).encode())


def batch_streams(seed: int, replication: int) -> Callable[[str, int], Stream]:
    """``make(order, index)``: the stream of a batch, ``stream(seed, replication, "batch",
    order, str(index))``, built without joining the common part of the key again (a plant
    makes one per batch)."""
    head = f"{seed}\x1f{replication}\x1fbatch\x1f"

    def make(order: str, index: int) -> Stream:
        return Stream(f"{head}{order}\x1f{index}".encode())

    return make
