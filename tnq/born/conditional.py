"""Conditional sampling with some sites fixed, built on ``MPS.sample``: fixing a site to symbol v keeps only
slice v of its tensor (a physical dimension of 1), so the engine's exact sampler draws the free sites from
p(x_free | x_given) ∝ |psi(x_free, x_given)|^2."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

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


def conditioned_mps(mps: MPS, given: Mapping[int, int]) -> MPS:
    """The MPS with each given site projected on its symbol (physical dim 1 there), canonicalised;
    raises BornError when the condition has zero probability."""
    tensors = [t[:, [given[k]], :] if k in given else t for k, t in enumerate(mps.tensors)]
    projected = MPS(tensors)
    projected.canonicalize(0)
    if projected.norm() <= 1e-300 * max(mps.norm(), 1.0):
        raise BornError(f"the condition {dict(given)} has zero probability under the model")
    return projected


def sample_conditional(mps: MPS, shots: int, given: Mapping[int, int], rng: np.random.Generator) -> np.ndarray:
    """Exact samples of all sites with the given ones fixed (shape (shots, n), uint8)."""
    out = conditioned_mps(mps, given).sample(shots, rng)
    for site, value in given.items():
        out[:, site] = value
    return out


def log_marginal(mps: MPS, given: Mapping[int, int]) -> float:
    """ln p(x_given) = ln(|P_given psi|^2 / |psi|^2), the log-probability of the condition itself."""
    projected = conditioned_mps(mps, given)
    return 2.0 * (np.log(projected.norm()) - np.log(mps.norm()))
