"""Which examples a validation split holds out: an exact share, reproducible, units kept whole."""

from __future__ import annotations

import hashlib
from array import array
from collections import defaultdict

from admin.datasets.stats import MIN_EXAMPLES

# A unit is what must not straddle training and validation. A KakaoTalk conversation becomes
# exactly one example, so every example is its own unit; identical examples share their
# unit key (a hash of the example), so a duplicate never lands on both sides.


def held_out_count(share: float, examples: int) -> int:
    """round(share x examples), at least 1, leaving at least MIN_EXAMPLES for training.

    0 when even one held-out example would leave too few to train on.
    """
    wanted = max(1, int(share * examples + 0.5))  # half up: 0.25 x 10 holds out 3
    return max(0, min(wanted, examples - MIN_EXAMPLES))


def choose_held_out(units: array, share: float, seed: str) -> frozenset[int]:
    """Ordinals (0-based, in file order) of the examples to hold out.

    `units[i]` is the unit key of example i. Units are taken in an order drawn from `seed`
    (the source file's sha256, so the same file always splits the same way) until exactly
    `held_out_count` examples are held out; a unit too big for what is left is skipped.
    """
    count = held_out_count(share, len(units))
    members: dict[int, list[int]] = defaultdict(list)
    for ordinal, unit in enumerate(units):
        members[unit].append(ordinal)
    salt = seed.encode()
    order = sorted(members, key=lambda unit: _rank(salt, unit))
    held: list[int] = []
    for unit in order:
        if len(held) == count:
            break
        if len(held) + len(members[unit]) <= count:
            held.extend(members[unit])
    return frozenset(held)


def unit_key(payload: bytes) -> int:
    """A signed 64-bit key for an example (fits array("q"))."""
    return int.from_bytes(hashlib.blake2b(payload, digest_size=8).digest(), "big", signed=True)


def _rank(salt: bytes, unit: int) -> bytes:
    return hashlib.blake2b(unit.to_bytes(8, "big", signed=True), key=salt[:64]).digest()
