"""Random streams derived statelessly from (seed, replication, entity, purpose).

Each stream is ``SeedSequence(seed, spawn_key=(replication, stable_hash(key...)))``: the same
entity and purpose get the same numbers in every variant of a scenario (common random numbers),
and adding a unit never shifts the draws of another. ``SeedSequence.spawn()`` is stateful and is
deliberately not used.
"""

from __future__ import annotations

import hashlib

import numpy as np

__all__ = ["stable_hash", "stream"]


def stable_hash(*parts: str) -> int:
    """A 63-bit hash of the key parts, identical across processes and Python versions."""
    digest = hashlib.blake2b("\x1f".join(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def stream(seed: int, replication: int, *key: str) -> np.random.Generator:
    """The generator for one entity and purpose, e.g. ``stream(7, 0, "unit", "press_1", "failures")``."""
    seq = np.random.SeedSequence(seed, spawn_key=(replication, stable_hash(*key)))
    return np.random.Generator(np.random.PCG64(seq))
