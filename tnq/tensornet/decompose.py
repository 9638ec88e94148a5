"""Truncated factorisations shared by the MPS simulator, the Born machine and MPO compression."""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from ..arrays import host, namespace_of
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
    """Thin SVD in the matrix's array namespace (numpy: LAPACK gesdd, falling back to the slower but more robust
    gesvd; torch: ``torch.linalg.svd`` on the tensor's device)."""
    return namespace_of(matrix).svd(matrix)


DEGENERATE = 1e-10
"""Neighbouring singular values closer than this relative to the larger form one cluster: LAPACK's vectors for them
are any basis of their span, chosen by rounding (so by the CPU's BLAS kernels), and ``fix_gauge`` replaces them by a
canonical one. Relative, not to the largest value: tiny values of different size stay apart (Born training keeps
the largest of them, which it grows into new amplitude)."""

PIVOT_TIE = 1e-9
"""``canonical_basis`` treats weights within this (relative) of the largest as tied and takes the lowest index."""


def pivot(weight: np.ndarray) -> int:
    """The index of the largest of the (host) ``weight``, ties within ``PIVOT_TIE`` going to the lowest index: the
    entry whose phase a canonical gauge fixes."""
    return int(np.argmax(weight >= (1.0 - PIVOT_TIE) * weight.max()))


def canonical_basis(spanning: np.ndarray, count: int) -> np.ndarray:
    """``count`` orthonormal columns in the span of ``spanning`` (m x g, with spanning @ spanning^H the orthogonal
    projector P onto that span), fixed by the span alone: the first is P e_j for the coordinate j of largest weight
    P_jj (ties within ``PIVOT_TIE`` to the lowest j), normalised, then the same on what is left of P. Every column
    has a real positive entry at its pivot, so no phase is left to chance."""
    basis = np.array(spanning, dtype=np.result_type(spanning, np.float64))
    out = np.zeros((basis.shape[0], count), dtype=basis.dtype)
    for i in range(count):
        weight = np.einsum("ij,ij->i", basis.conj(), basis).real  # diagonal of the remaining projector
        j = pivot(weight)
        column = basis @ basis[j].conj() / np.sqrt(weight[j])
        column -= out[:, :i] @ (out[:, :i].conj().T @ column)  # re-orthogonalise against rounding
        out[:, i] = column / np.linalg.norm(column)
        basis -= np.outer(out[:, i], out[:, i].conj() @ basis)
    return out


def cluster_starts(s: np.ndarray, degenerate: float = DEGENERATE) -> np.ndarray:
    """Indices where a new cluster of (descending) singular values begins: a gap above ``degenerate`` times the
    larger neighbour (exact zeros form one cluster)."""
    return np.flatnonzero(np.concatenate(([True], s[:-1] - s[1:] > degenerate * s[:-1])))


def cluster_end(s: np.ndarray, keep: int, degenerate: float = DEGENERATE) -> int:
    """The end of the cluster holding value ``keep - 1``: how many values a truncation to ``keep`` must see."""
    starts = cluster_starts(s, degenerate)
    later = starts[starts >= keep]
    return int(later[0]) if len(later) else len(s)


def fix_gauge(u: np.ndarray, s: np.ndarray, vh: np.ndarray, side: str = "left",
              degenerate: float = DEGENERATE) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The same product u @ (s[:, None] * vh) (s descending, u orthonormal columns, vh orthonormal rows) with the
    singular vectors on ``side`` ('left': columns of u, 'right': rows of vh) fixed by the product alone, not by
    LAPACK's rounding: a single value's vector gets the phase that makes its largest entry real positive, and each
    cluster of values (``cluster_starts``) the ``canonical_basis`` of its span. In a cluster ``s`` becomes the
    norms of the rows of the rotated (s vh) and ``vh`` those rows normalised, so the product stays exact and the
    discarded weight of a truncation is still sum(s_dropped^2)."""
    if side == "right":
        v, s, uh = fix_gauge(vh.T, s, u.T, "left", degenerate)
        return uh.T, s, v.T
    xp = namespace_of(u)
    values = host(s)  # a host copy of the values only decides the clusters
    if len(values) == 0 or values[0] == 0.0:
        return xp.copy(u), xp.copy(s), xp.copy(vh)
    weight = (u.conj() * u).real
    pivot = xp.argmax(weight >= (1.0 - PIVOT_TIE) * xp.max(weight, axis=0), axis=0)
    phase = u[pivot, xp.arange(len(s))]
    phase = phase / abs(phase)
    u, vh = xp.copy(u), xp.copy(vh)  # the caller's arrays stay as they were
    u *= phase.conj()
    vh *= phase[:, None]
    starts = cluster_starts(values, degenerate)
    ends = np.append(starts[1:], len(s))
    if np.any(ends - starts > 1):
        s = xp.copy(s)
    for lo, hi in zip(starts[ends - starts > 1], ends[ends - starts > 1], strict=True):
        fixed = xp.asarray(canonical_basis(host(u[:, lo:hi]), hi - lo))  # on the host: a few columns, many steps
        rest = (fixed.conj().T @ u[:, lo:hi]) @ (s[lo:hi, None] * vh[lo:hi])  # fixed^H @ product
        u[:, lo:hi] = fixed
        s[lo:hi] = xp.norm(rest, axis=1)
        vh[lo:hi] = rest / xp.where(s[lo:hi] > 0, s[lo:hi], 1.0)[:, None]
    return u, s, vh


def fixed_svd(matrix: np.ndarray, degenerate: float = DEGENERATE) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``svd`` with the left singular vectors fixed by ``fix_gauge``: ``u`` depends only on matrix @ matrix^H, so a
    unitary change of basis of the columns leaves it as it is, and neither LAPACK nor the CPU picks it."""
    return fix_gauge(*svd(matrix), "left", degenerate)


class TruncationPlan(NamedTuple):
    """What a truncation keeps, decided from the (host) singular values before any factor is formed."""

    keep: int
    """How many values ``keep_count`` keeps."""
    end: int
    """The end of the cluster holding the last kept value (``cluster_end``): the factors to form and gauge-fix."""
    weight: float
    """Relative discarded weight, sum(s_dropped^2) / sum(s^2)."""


def plan_truncation(values: np.ndarray, max_bond: int | None, cutoff: float,
                    value_cutoff: float = 0.0) -> TruncationPlan:
    """The ``TruncationPlan`` for descending host ``values``: ``keep_count``'s count and discarded weight, and the
    end of the cluster holding the last kept value."""
    keep, weight = keep_count(values, max_bond, cutoff, value_cutoff)
    return TruncationPlan(keep, cluster_end(values, keep), weight)


def truncate_fixed(u: np.ndarray, s: np.ndarray, vh: np.ndarray, values: np.ndarray, plan: TruncationPlan,
                   side: str = "left") -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Factors of an SVD (the first ``plan.end``, or more) with the orthonormal ``side`` gauge-fixed
    (``fix_gauge``), cut to ``plan.keep`` and the kept values rescaled to the original norm; returns
    (u, s, vh, weight). Fixing stops at the end of the cluster holding the last kept value, as the dropped clusters
    need no canonical basis (most of the fixing on long truncated runs). When that cluster is cut, its values were
    rotated: its dropped part is what its dropped rows hold, so the weight is still sum(s_dropped^2) of the
    canonical factors."""
    keep, end, weight = plan
    u, s, vh = fix_gauge(u[:, :end], s[:end], vh[:end], side)
    if keep < len(values):  # weight is 0 when nothing is dropped
        if end > keep:
            weight = float(np.sum(host(s[keep:]) ** 2) + np.sum(values[end:] ** 2)) / float(np.sum(values ** 2))
        u, s, vh = u[:, :keep], s[:keep] / math.sqrt(1.0 - weight), vh[:keep]
    return u, s, vh, weight


def keep_count(s: np.ndarray, max_bond: int | None, cutoff: float,
               value_cutoff: float = 0.0) -> tuple[int, float]:
    """How many of the (descending) singular values to keep so the relative discarded weight stays <= ``cutoff``,
    every kept value is >= ``value_cutoff * s[0]`` (Han et al. 2018's per-value rule; 0 = off) and the count
    is <= ``max_bond``; at least one is kept. Returns (count, discarded weight). Decided on a host copy of ``s``."""
    s = host(s)
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
    xp = namespace_of(x)
    q1, r1 = xp.qr(x)
    q2t, l2t = xp.qr(y.T)  # y = l2t.T @ q2t.T
    u, s, vh = xp.svd(r1 @ l2t.T)
    return ProductSVD(q1, u, s, vh, q2t)


def truncated_svd(matrix: np.ndarray, max_bond: int | None = None, cutoff: float = 0.0,
                  renormalize: bool = False, value_cutoff: float = 0.0) -> Truncation:
    """SVD keeping at most ``max_bond`` values, discarding at most ``cutoff`` relative weight and dropping values
    below ``value_cutoff * s_max`` (see ``keep_count``).
    With ``renormalize`` the kept values are rescaled to the original Frobenius norm. ``U`` is gauge-fixed
    (``fixed_svd``): a cut through equal singular values keeps the same subspace on every CPU."""
    U, S, Vh = fixed_svd(matrix)
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
