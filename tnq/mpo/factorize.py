"""Balanced factorisation of a matrix dimension into the per-core sizes of a TT-matrix (MPO)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .errors import MPOError


def _divisors(dim: int) -> list[int]:
    small = [d for d in range(1, math.isqrt(dim) + 1) if dim % d == 0]
    return sorted(set(small + [dim // d for d in small]))


def factorize(dim: int, n: int) -> list[int]:
    """``n`` factors (ascending) whose product is ``dim``, as equal as possible: the one minimising the squared
    deviation of their logarithms from ``log(dim) / n``. A prime ``dim`` gives ones and ``dim``."""
    for name, value in (("dim", dim), ("n", n)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise MPOError(f"factorize: {name} must be a positive integer, got {value!r}")
    dim, n = int(dim), int(n)
    divisors, target = _divisors(dim), math.log(dim) / n
    best: tuple[float, list[int]] = (math.inf, [])

    def search(rest: int, parts: int, low: int, chosen: list[int], score: float) -> None:
        nonlocal best
        if parts == 1:
            if rest >= low:
                total = score + (math.log(rest) - target) ** 2
                if total < best[0] - 1e-12:
                    best = (total, chosen + [rest])
            return
        for d in divisors:
            if d < low or rest % d:
                continue
            if d ** parts > rest:  # ascending: every later factor is >= d
                break
            search(rest // d, parts - 1, d, chosen + [d], score + (math.log(d) - target) ** 2)

    search(dim, n, 1, [], 0.0)
    return best[1]


def check_factors(factors: Sequence[int] | None, dim: int, n: int, name: str) -> list[int]:
    """User-given factors (validated: ``n`` positive integers multiplying to ``dim``) or balanced ones."""
    if factors is None:
        return factorize(dim, n)
    try:
        values = [int(f) for f in factors]
        ok = all(not isinstance(f, bool) and float(f) == int(f) for f in factors)
    except (TypeError, ValueError):
        raise MPOError(f"{name} must be a sequence of positive integers, got {factors!r}") from None
    if not ok or len(values) != n or any(v < 1 for v in values):
        raise MPOError(f"{name} must be {n} positive integers (one per core), got {list(factors)!r}")
    if math.prod(values) != dim:
        raise MPOError(f"{name} {values} multiply to {math.prod(values)}, not to the dimension {dim}")
    return values
