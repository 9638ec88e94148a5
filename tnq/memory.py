"""Memory budget: refuse work that would not fit before allocating it."""

from __future__ import annotations

import os

from .checks import Number
from .errors import SimulationError

BYTES = Number(minimum=0)
"""A memory budget in bytes: a finite number >= 0."""


def available_bytes() -> int:
    """Free physical memory now (falls back to 4 GiB where the OS does not say)."""
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return 4 * 2**30


def default_budget() -> int:
    """Default budget: 80% of the memory free now."""
    return int(0.8 * available_bytes())


def format_bytes(n: float) -> str:
    """``1536`` -> ``'1.5 KiB'``: sizes from bytes to PiB in readable units."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024:
            return f"{n:.3g} {unit}"
        n /= 1024
    return f"{n:.3g} PiB"


def budget_bytes(budget: float | None, name: str = "memory_budget") -> float:
    """The memory budget in bytes: ``budget`` when it is a finite number >= 0, the default (80% of free memory)
    when None; anything else (nan, inf, negative, not a number) raises a SimulationError naming ``name``."""
    if budget is None:
        return default_budget()
    if not BYTES.accepts(budget):
        raise SimulationError(f"{name} must be a finite number of bytes >= 0 (or None for 80% of free memory), "
                              f"got {budget!r}")
    return budget


def check_budget(needed: float, budget: float | None, what: str, hint: str = "") -> None:
    """Raise a clear error when ``needed`` bytes exceed the budget (default: 80% of free memory)."""
    budget = budget_bytes(budget)
    if needed > budget:
        raise SimulationError(f"{what} needs about {format_bytes(needed)}, over the memory budget of "
                              f"{format_bytes(budget)}{'; ' + hint if hint else ''}")
