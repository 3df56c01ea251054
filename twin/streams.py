"""Random streams derived statelessly from (seed, replication, entity, purpose).

Each stream is a counter-mode generator over BLAKE2b: block ``k`` of the stream for a key is
``blake2b(key || k)`` (64 bytes = eight 64-bit words), and each word gives one uniform double
from its top 53 bits. The same entity and purpose get the same numbers in every variant of a
scenario (common random numbers), and adding a unit never shifts the draws of another. Nothing
is derived statefully (``SeedSequence.spawn()`` would break this).

Why not ``random.Random`` or a NumPy Generator: a plant creates one stream per batch and draws
a handful of scalars from it. Seeding a Mersenne Twister costs about 4 us (it initialises 624
words), which was the largest single cost of a batch on a simple flow line; creating a
``Stream`` costs one string join, and a block of eight draws one hash. A cryptographic hash in
counter mode is as good a source of uniform bits as there is, and BLAKE2b is stable across
platforms and Python versions.

The distributions (``expovariate``, ``gauss``, ``lognormvariate``, ``triangular``,
``choices``, ...) are the standard library's own ``random.Random`` methods, which need only
``random()``; so a ``Stream`` samples exactly like a ``random.Random`` would from the same
uniforms.
"""

from __future__ import annotations

import hashlib
import random as _random
import struct

__all__ = ["Stream", "stable_hash", "stream"]

_WORDS = struct.Struct("<8Q").unpack
_BLAKE = hashlib.blake2b
_TO_UNIT = 2.0**-53


def stable_hash(*parts: str) -> int:
    """A 63-bit hash of the key parts, identical across processes and Python versions."""
    digest = hashlib.blake2b("\x1f".join(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


_R = _random.Random


class Stream:
    """One random stream: ``random()`` plus the standard library's distributions."""

    __slots__ = ("_prefix", "_block", "_words", "_i", "gauss_next")

    def __init__(self, key: bytes) -> None:
        self._prefix = key + b"\x1e"
        self._block = 0
        self._words: tuple[int, ...] = ()
        self._i = 8
        self.gauss_next: float | None = None  # used by random.Random.gauss

    def random(self) -> float:
        """The next uniform double in [0, 1)."""
        i = self._i
        if i == 8:
            block = self._block
            self._words = _WORDS(
                _BLAKE(self._prefix + block.to_bytes(8, "little"), digest_size=64).digest()
            )
            self._block = block + 1
            i = 0
        self._i = i + 1
        return (self._words[i] >> 11) * _TO_UNIT

    _randbelow = _R._randbelow_without_getrandbits
    uniform = _R.uniform
    triangular = _R.triangular
    expovariate = _R.expovariate
    normalvariate = _R.normalvariate
    gauss = _R.gauss
    lognormvariate = _R.lognormvariate
    choices = _R.choices
    choice = _R.choice
    randrange = _R.randrange
    randint = _R.randint
    shuffle = _R.shuffle


def stream(seed: int, replication: int, *key: str) -> Stream:
    """The generator for one entity and purpose: ``stream(7, 0, "unit", "press_1", "failures")``."""
    return Stream("\x1f".join((str(seed), str(replication), *key)).encode())
