"""Truncated factorisations shared by the MPS simulator, the Born machine and MPO compression."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import scipy.linalg

from ..errors import SimulationError


class Truncation(NamedTuple):
    """Result of a truncated SVD: ``matrix ~= U @ diag(S) @ Vh``."""

    U: np.ndarray
    S: np.ndarray
    Vh: np.ndarray
    discarded: float
    """Relative discarded weight: sum of dropped s^2 over sum of all s^2 (0 when exact)."""


def check_truncation(max_bond: int | None, cutoff: float, value_cutoff: float = 0.0) -> None:
    """Validate truncation options once, with a clear message."""
    if max_bond is not None and (isinstance(max_bond, bool) or not isinstance(max_bond, (int, np.integer))
                                 or max_bond < 1):
        raise SimulationError(f"max_bond must be a positive integer or None, got {max_bond!r}")
    if not (isinstance(cutoff, (int, float, np.floating)) and 0.0 <= cutoff < 1.0):
        raise SimulationError(f"cutoff must be a number in [0, 1), got {cutoff!r}")
    if not (isinstance(value_cutoff, (int, float, np.floating)) and not isinstance(value_cutoff, bool)
            and 0.0 <= value_cutoff < 1.0):
        raise SimulationError(f"value_cutoff must be a number in [0, 1), got {value_cutoff!r}")


def svd(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Thin SVD by LAPACK gesdd, falling back to the slower but more robust gesvd."""
    try:
        return scipy.linalg.svd(matrix, full_matrices=False, lapack_driver="gesdd", check_finite=False)
    except np.linalg.LinAlgError:
        return scipy.linalg.svd(matrix, full_matrices=False, lapack_driver="gesvd", check_finite=False)


def keep_count(s: np.ndarray, max_bond: int | None, cutoff: float,
               value_cutoff: float = 0.0) -> tuple[int, float]:
    """How many of the (descending) singular values to keep so the relative discarded weight stays <= ``cutoff``,
    every kept value is >= ``value_cutoff * s[0]`` (Han et al. 2018's per-value rule; 0 = off) and the count
    is <= ``max_bond``; at least one is kept. Returns (count, discarded weight)."""
    weights = s * s
    total = float(weights.sum())
    if total == 0.0:
        return 1, 0.0
    tail = np.cumsum(weights[::-1])[::-1]  # tail[i] = sum_{j >= i} s_j^2
    keep = int(np.count_nonzero(tail > cutoff * total))
    if value_cutoff > 0.0:
        keep = min(keep, int(np.count_nonzero(s >= value_cutoff * s[0])))
    if max_bond is not None:
        keep = min(keep, max_bond)
    keep = max(keep, 1)
    discarded = float(tail[keep]) / total if keep < len(s) else 0.0
    return keep, discarded


class ProductSVD(NamedTuple):
    """SVD of a product ``x @ y`` = q1 @ (u * s) @ vh @ q2t.T kept in its QR-reduced form, so a caller can choose
    how many singular values to keep (from ``s``) before the outer factors are formed (``factors``)."""

    q1: np.ndarray
    u: np.ndarray
    s: np.ndarray
    vh: np.ndarray
    q2t: np.ndarray

    def factors(self, keep: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(left, s, right) for the first ``keep`` singular values (all when None): orthonormal columns in
        ``left``, orthonormal rows in ``right``, ``(left * s) @ right`` the best rank-``keep`` approximation."""
        keep = len(self.s) if keep is None else keep
        return self.q1 @ self.u[:, :keep], self.s[:keep], self.vh[:keep] @ self.q2t.T


def product_svd(x: np.ndarray, y: np.ndarray) -> ProductSVD:
    """SVD of the product ``x @ y`` through QR factors of ``x`` and ``y``, at the cost of the inner dimension rather
    than of the full product; ``.factors(keep)`` gives (left, s, right) with ``x @ y == (left * s) @ right`` when
    nothing is dropped."""
    q1, r1 = scipy.linalg.qr(x, mode="economic", check_finite=False)
    q2t, l2t = scipy.linalg.qr(y.T, mode="economic", check_finite=False)  # y = l2t.T @ q2t.T
    u, s, vh = svd(r1 @ l2t.T)
    return ProductSVD(q1, u, s, vh, q2t)


def truncated_svd(matrix: np.ndarray, max_bond: int | None = None, cutoff: float = 0.0,
                  renormalize: bool = False, value_cutoff: float = 0.0) -> Truncation:
    """SVD keeping at most ``max_bond`` values, discarding at most ``cutoff`` relative weight and dropping values
    below ``value_cutoff * s_max`` (see ``keep_count``).
    With ``renormalize`` the kept values are rescaled to the original Frobenius norm."""
    U, S, Vh = svd(matrix)
    keep, discarded = keep_count(S, max_bond, cutoff, value_cutoff)
    if keep < len(S):
        U, S, Vh = U[:, :keep], S[:keep], Vh[:keep]
        if renormalize and discarded < 1.0:
            S = S / np.sqrt(1.0 - discarded)
    return Truncation(U, S, Vh, discarded)


def tensor_train(tensor: np.ndarray, max_bond: int | None = None, cutoff: float = 0.0,
                 value_cutoff: float = 0.0, total_cutoff: float | None = None) -> tuple[list[np.ndarray], float]:
    """TT-SVD: split an order-N tensor into cores of shape (left, dim_k, right) by sequential
    truncated SVDs, left to right (cores 0..N-2 left-orthonormal). Returns cores and the total
    relative discarded weight (the squared relative Frobenius error: the steps' errors are orthogonal).
    ``total_cutoff`` (replacing ``cutoff``) is a budget for that total: each step may discard an even share
    of what is left of it, so budget unused by early steps passes to later ones."""
    dims = tensor.shape
    cores, discarded_total = [], 0.0
    rest = np.asarray(tensor).reshape(1, -1)
    for k, d in enumerate(dims[:-1]):
        left = rest.shape[0]
        if total_cutoff is not None:  # (1 - D)(1 - c)^steps_left = 1 - total_cutoff
            ratio = (1.0 - total_cutoff) / (1.0 - discarded_total)
            cutoff = min(max(-np.expm1(np.log(ratio) / (len(dims) - 1 - k)), 0.0), total_cutoff)
        t = truncated_svd(rest.reshape(left * d, -1), max_bond, cutoff, value_cutoff=value_cutoff)
        cores.append(t.U.reshape(left, d, -1))
        rest = t.S[:, None] * t.Vh
        discarded_total += t.discarded * (1.0 - discarded_total)
    cores.append(rest.reshape(rest.shape[0], dims[-1], 1))
    return cores, discarded_total
