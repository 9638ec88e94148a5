"""Per-sample contractions of an MPS with data: the cached environments of training and log-amplitudes.

Each step contracts a batch of environment vectors with one site tensor at each sample's symbol, as a single
matrix product over all symbols followed by a pick, so every sample costs one BLAS call per site.
"""

from __future__ import annotations

import numpy as np

from ..tensornet import MPS


def step_right(env: np.ndarray, tensor: np.ndarray, symbols: np.ndarray) -> np.ndarray:
    """``env[s] @ tensor[:, symbols[s], :]`` for every sample s; env (m, left) -> (m, right)."""
    left, d, right = tensor.shape
    full = (env @ tensor.reshape(left, d * right)).reshape(len(env), d, right)
    return full[np.arange(len(env)), symbols]


def step_left(env: np.ndarray, tensor: np.ndarray, symbols: np.ndarray) -> np.ndarray:
    """``tensor[:, symbols[s], :] @ env[s]`` for every sample s; env (m, right) -> (m, left)."""
    left, d, right = tensor.shape
    full = (env @ tensor.reshape(left * d, right).T).reshape(len(env), left, d)
    return full[np.arange(len(env)), :, symbols]


def normalise_rows(env: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Scale each row to unit norm (training ratios psi'/psi are invariant to it); returns (env, norms)."""
    norms = np.linalg.norm(env, axis=1)
    safe = np.where(norms > 0, norms, 1.0)
    return env / safe[:, None], norms


def log_abs_amplitudes(mps: MPS, X: np.ndarray) -> np.ndarray:
    """ln |<x|psi>| for each row of ``X`` (unnormalised psi), with per-site rescaling so long chains
    never underflow; -inf where the amplitude is exactly zero."""
    env = np.ones((len(X), 1), dtype=mps.tensors[0].dtype)
    log_scale = np.zeros(len(X))
    with np.errstate(divide="ignore"):
        for k, t in enumerate(mps.tensors):
            env, norms = normalise_rows(step_right(env, t, X[:, k]))
            log_scale += np.log(norms)
    return log_scale
