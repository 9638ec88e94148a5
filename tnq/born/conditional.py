"""Conditioning a Born machine on some sites (inpainting): the user-facing {site: value} check, and the
log-probability of the condition. Sampling and projection themselves are the engine's ``MPS.sample(fixed=...)``
and ``MPS.project``."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..errors import SimulationError
from ..tensornet import MPS
from .errors import BornError


def check_given(given: Mapping[int, int], n_sites: int, d: int) -> dict[int, int]:
    """Validate a {site: symbol} mapping; negative sites count from the end."""
    if not isinstance(given, Mapping):
        raise BornError(f"given must be a mapping {{site: value}}, got {type(given).__name__}")
    out = {}
    for site, value in given.items():
        if isinstance(site, bool) or not isinstance(site, (int, np.integer)) or not -n_sites <= site < n_sites:
            raise BornError(f"given: site {site!r} is not an integer in [0, {n_sites})")
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 0 <= value < d:
            raise BornError(f"given: value {value!r} at site {site} is not an integer in [0, {d})")
        out[int(site) % n_sites] = int(value)
    return out


def sample_conditional(mps: MPS, shots: int, given: Mapping[int, int], rng: np.random.Generator) -> np.ndarray:
    """Exact samples of all sites with the given ones fixed (shape (shots, n), uint8); BornError when the
    condition has zero probability under the model."""
    try:
        return mps.sample(shots, rng, fixed=given)
    except SimulationError as exc:
        raise BornError(str(exc)) from None


def log_marginal(mps: MPS, given: Mapping[int, int]) -> float:
    """ln p(x_given) = ln(|P_given psi|^2 / |psi|^2), the log-probability of the condition itself
    (-inf when it is impossible)."""
    if len(given) == mps.num_sites:  # the condition is a whole string: its probability is |psi(x)|^2
        log_abs = mps.log_amplitudes(np.array([[given[k] for k in range(mps.num_sites)]]))[0][0]
    else:
        with np.errstate(divide="ignore"):
            log_abs = np.log(mps.project(given).norm())
    return float(2.0 * (log_abs - np.log(mps.norm())))
