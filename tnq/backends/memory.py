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


def check_budget(needed: int, budget: int | None, what: str, hint: str = "") -> None:
    """Raise a clear error when ``needed`` bytes exceed the budget (default: 80% of free memory)."""
    budget = default_budget() if budget is None else budget
    if needed > budget:
        raise SimulationError(f"{what} needs about {needed / 2**30:.2f} GiB, over the memory budget of "
                              f"{budget / 2**30:.2f} GiB{'; ' + hint if hint else ''}")
