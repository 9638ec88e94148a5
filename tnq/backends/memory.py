"""Memory budget: refuse work that would not fit before allocating it."""

from __future__ import annotations

import os

from ..errors import SimulationError


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


def check_budget(needed: int, budget: int | None, what: str, hint: str = "") -> None:
    """Raise a clear error when ``needed`` bytes exceed the budget (default: 80% of free memory)."""
    budget = default_budget() if budget is None else budget
    if needed > budget:
        raise SimulationError(f"{what} needs about {format_bytes(needed)}, over the memory budget of "
                              f"{format_bytes(budget)}{'; ' + hint if hint else ''}")
