"""Validation of Born-machine data: one clear error for wrong shapes, NaN or out-of-range symbols."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import SimulationError
from ..memory import check_budget
from .errors import BornError


def check_memory(needed: int, what: str, hint: str = "") -> None:
    """BornError naming ``what`` when ``needed`` bytes exceed the memory budget (80% of the memory free now)."""
    try:
        check_budget(needed, None, what, hint)
    except SimulationError as exc:
        raise BornError(str(exc)) from None


def check_data(X: Any, n_sites: int | None = None, d: int = 2, name: str = "X") -> np.ndarray:
    """Return ``X`` as an (m, n_sites) integer array with entries in [0, d), or raise BornError
    naming the first offending row and column."""
    try:
        arr = np.asarray(X)
    except Exception as exc:  # ragged lists and the like
        raise BornError(f"{name}: cannot be read as a 2-D array ({exc})") from None
    if arr.dtype == object:
        raise BornError(f"{name}: rows have different lengths or non-numeric entries")
    if arr.ndim == 1 and n_sites is not None and arr.shape[0] == n_sites:
        arr = arr[None, :]
    if arr.ndim != 2:
        raise BornError(f"{name}: expected a 2-D array (samples, sites), got shape {arr.shape}")
    if arr.shape[0] == 0:
        raise BornError(f"{name}: no samples")
    if n_sites is not None and arr.shape[1] != n_sites:
        raise BornError(f"{name}: each sample must have {n_sites} sites, got {arr.shape[1]}")
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise BornError(f"{name}: expected numbers, got dtype {arr.dtype}")
    if np.iscomplexobj(arr):
        raise BornError(f"{name}: complex values are not symbols")
    if arr.dtype.kind == "f":
        bad = ~np.isfinite(arr)
        if bad.any():
            r, c = np.argwhere(bad)[0]
            raise BornError(f"{name}: non-finite value {arr[r, c]} at sample {r}, site {c}")
        frac = arr != np.round(arr)
        if frac.any():
            r, c = np.argwhere(frac)[0]
            raise BornError(f"{name}: non-integer value {arr[r, c]} at sample {r}, site {c}; "
                            f"symbols must be integers in [0, {d})")
    out_of_range = (arr < 0) | (arr >= d)
    if out_of_range.any():
        r, c = np.argwhere(out_of_range)[0]
        kind = "binary data (0/1)" if d == 2 else f"symbols in [0, {d})"
        raise BornError(f"{name}: value {arr[r, c]} at sample {r}, site {c} is out of range; "
                        f"the model expects {kind}")
    return arr.astype(np.intp)
