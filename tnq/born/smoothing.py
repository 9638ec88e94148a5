"""Amplitude smoothing, a post-training regulariser: psi -> (S x ... x S) psi with S = I + eps (J - I) on every site
(J the all-ones matrix), so each string borrows amplitude from its one-symbol neighbours. The result is an MPS
with the same bonds; eps is chosen on validation data (``select_smoothing``)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..tensornet import MPS
from .errors import BornError


def smoothing_matrix(d: int, eps: float) -> np.ndarray:
    return np.eye(d) + eps * (np.ones((d, d)) - np.eye(d))


def smooth_mps(mps: MPS, eps: float) -> MPS:
    """A canonical, normalised copy of ``mps`` with the smoothing matrix applied at every site."""
    if not (isinstance(eps, (int, float, np.floating)) and 0.0 <= eps < 1.0):
        raise BornError(f"smoothing eps must be in [0, 1), got {eps!r}")
    out = mps.copy()
    for k, t in enumerate(out.tensors):
        out.apply_one(k, smoothing_matrix(t.shape[1], float(eps)))
    out.canonicalize(0)
    out.normalize()
    return out


DEFAULT_GRID: Sequence[float] = (0.0, 0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.08, 0.1, 0.12, 0.15)
