"""The options every backend shares, checked at the door: truncation, memory budget, array library."""

from __future__ import annotations

from typing import Any

from ..arrays import NumpyArrays, check_array_options
from ..memory import budget_bytes
from ..tensornet.decompose import check_truncation


def check_options(max_bond: Any, cutoff: Any, memory_budget: Any, backend: Any = "numpy", device: Any = None,
                  dtype: Any = "complex128") -> NumpyArrays:
    """Refuse bad truncation, budget and array options at the door, whichever backend would (or would not) use
    them; returns the array namespace (``tnq.arrays``) the options name."""
    check_truncation(max_bond, cutoff)
    budget_bytes(memory_budget)
    return check_array_options(backend, device, dtype)
