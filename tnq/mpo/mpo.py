"""MPO (TT-matrix) compression of a dense matrix: W (d_out x d_in) reshaped to (o_1..o_N, i_1..i_N), the (o_k, i_k)
pairs interleaved and split by the engine's TT-SVD into cores of shape (left, o_k, i_k, right)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from ..tensornet.decompose import product_svd, tensor_train
from .errors import MPOError
from .factorize import check_factors
from .plan import Plan, apply_cores, merge_cores, plan_contraction

_np_einsum = partial(np.einsum, optimize=True)  # optimize: pairwise contractions go through BLAS (tensordot)


def _is_int(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, np.integer))


def _check_matrix(W: Any, where: str) -> np.ndarray:
    """A finite, non-empty 2-D real or complex array (integers become float64)."""
    try:
        W = np.asarray(W)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise MPOError(f"{where}: the matrix could not be read as an array ({exc})") from None
    if W.ndim != 2:
        raise MPOError(f"{where}: the matrix must be 2-D (d_out x d_in), got shape {W.shape}")
    if W.size == 0:
        raise MPOError(f"{where}: the matrix is empty (shape {W.shape})")
    if W.dtype.kind in "biu":
        W = W.astype(np.float64)
    if W.dtype.kind not in "fc":
        raise MPOError(f"{where}: the matrix must be real or complex numbers, got dtype {W.dtype}")
    if not np.all(np.isfinite(W)):
        bad = tuple(int(v) for v in np.argwhere(~np.isfinite(W))[0])
        raise MPOError(f"{where}: the matrix has NaN or infinite entries (first at index {bad})")
    return W


def full_bonds(out_factors: Sequence[int], in_factors: Sequence[int]) -> list[int]:
    """Bond dimensions of an exact (untruncated) TT-matrix with these factors."""
    sizes = [o * i for o, i in zip(out_factors, in_factors)]
    return [min(math.prod(sizes[:k + 1]), math.prod(sizes[k + 1:])) for k in range(len(sizes) - 1)]


def params_at_bond(out_factors: Sequence[int], in_factors: Sequence[int], max_bond: int) -> int:
    """Parameter count of the cores when every bond is capped at ``max_bond`` (an upper bound when the
    TT-SVD also drops zero or small singular values)."""
    bonds = [1, *(min(max_bond, b) for b in full_bonds(out_factors, in_factors)), 1]
    return sum(bonds[k] * o * i * bonds[k + 1] for k, (o, i) in enumerate(zip(out_factors, in_factors)))


def bond_for_params(out_factors: Sequence[int], in_factors: Sequence[int], max_params: int) -> int:
    """Largest uniform bond cap whose cores fit in ``max_params`` parameters (binary search; the count grows
    with the cap)."""
    if params_at_bond(out_factors, in_factors, 1) > max_params:
        raise MPOError(f"max_params={max_params} is below the smallest MPO with these factors "
                       f"({params_at_bond(out_factors, in_factors, 1)} parameters at bond 1)")
    lo, hi = 1, max([1, *full_bonds(out_factors, in_factors)])
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if params_at_bond(out_factors, in_factors, mid) <= max_params:
            lo = mid
        else:
            hi = mid - 1
    return lo


def scale_inputs(cores: Sequence[np.ndarray], matrices: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Cores (left, o_k, i_k, right) with each input leg multiplied by its (i_k x i_k) matrix: the MPO of
    W (S_1 (x) ... (x) S_N)."""
    return [np.einsum("loir,ij->lojr", c, S) for c, S in zip(cores, matrices)]


@dataclass(frozen=True, eq=False)  # eq on arrays would be ambiguous
class Whitening:
    """Invertible matrices S_k (i_k x i_k), one per core's input leg, with their inverses computed once: an
    activation-aware fit truncates and balances the MPO of W (S_1 (x) ... (x) S_N) and folds S_k^-1 back into
    core k (``scale_inputs``)."""

    factors: tuple[np.ndarray, ...]
    inverses: tuple[np.ndarray, ...]

    @classmethod
    def of(cls, factors: Sequence[Any]) -> Whitening:
        """The whitening of ``factors`` (square matrices); one MPOError for a non-square or singular one."""
        mats = tuple(np.asarray(S) for S in factors)
        if any(S.ndim != 2 or S.shape[0] != S.shape[1] for S in mats):
            raise MPOError(f"whitening: needs square matrices, got shapes {[S.shape for S in mats]}")
        try:
            return cls(mats, tuple(np.linalg.inv(S) for S in mats))
        except np.linalg.LinAlgError:
            raise MPOError("whitening: a whitening matrix is singular") from None

    @property
    def sides(self) -> list[int]:
        """i_k of each factor."""
        return [len(S) for S in self.factors]


class MPO:
    """A matrix as a chain of cores (left, o_k, i_k, right); entry W[(o_1..o_N), (i_1..i_N)] with o_1 and i_1
    the most significant digits. ``discarded`` is the TT-SVD's relative discarded weight (squared relative
    Frobenius error) when built by ``from_matrix``."""

    def __init__(self, cores: Sequence[Any], discarded: float | None = None) -> None:
        cores = [np.asarray(c) for c in cores]
        if not cores:
            raise MPOError("MPO: needs at least one core")
        for k, core in enumerate(cores):
            if core.ndim != 4:
                raise MPOError(f"MPO: core {k} must have 4 axes (left, out, in, right), got shape {core.shape}")
            right = cores[k + 1].shape[0] if k + 1 < len(cores) else 1
            left = 1 if k == 0 else cores[k - 1].shape[3]
            if core.shape[0] != left or core.shape[3] != right:
                raise MPOError(f"MPO: core {k} of shape {core.shape} does not chain: expected left bond {left} "
                               f"and right bond {right}")
        self.cores = cores
        self.discarded = discarded

    # --- construction ------------------------------------------------------------------------------------------
    @classmethod
    def from_matrix(cls, W: Any, n_cores: int = 3, max_bond: int | None = None, rel_error: float | None = None,
                    max_params: int | None = None, out_factors: Sequence[int] | None = None,
                    in_factors: Sequence[int] | None = None) -> MPO:
        """Compress ``W`` (d_out x d_in) by TT-SVD. Budgets combine (the tightest wins): ``max_bond`` caps every
        bond; ``rel_error`` bounds the relative Frobenius error ||W - MPO|| / ||W|| (a global discarded-weight
        budget shared by the N-1 SVDs); ``max_params`` picks the largest uniform bond whose cores fit."""
        W = _check_matrix(W, "MPO.from_matrix")
        if not _is_int(n_cores) or n_cores < 1:
            raise MPOError(f"MPO.from_matrix: n_cores must be a positive integer, got {n_cores!r}")
        if max_bond is not None and (not _is_int(max_bond) or max_bond < 1):
            raise MPOError(f"MPO.from_matrix: max_bond must be a positive integer or None, got {max_bond!r}")
        if rel_error is not None and not (isinstance(rel_error, (int, float, np.floating))
                                          and not isinstance(rel_error, bool) and 0.0 <= rel_error < 1.0):
            raise MPOError(f"MPO.from_matrix: rel_error must be a number in [0, 1) or None, got {rel_error!r}")
        if max_params is not None and (not _is_int(max_params) or max_params < 1):
            raise MPOError(f"MPO.from_matrix: max_params must be a positive integer or None, got {max_params!r}")
        n = int(n_cores)
        outs = check_factors(out_factors, W.shape[0], n, "out_factors")
        ins = check_factors(in_factors, W.shape[1], n, "in_factors")
        bond = max_bond
        if max_params is not None:
            fit = bond_for_params(outs, ins, max_params)
            bond = fit if bond is None else min(bond, fit)
        total = None if rel_error is None else float(rel_error) ** 2  # squared error = discarded weight
        tensor = W.reshape(outs + ins).transpose([a for k in range(n) for a in (k, n + k)])
        tt, discarded = tensor_train(tensor.reshape([o * i for o, i in zip(outs, ins)]), max_bond=bond,
                                     total_cutoff=total)
        cores = [c.reshape(c.shape[0], o, i, c.shape[2]) for c, o, i in zip(tt, outs, ins)]
        return cls(cores, discarded)

    # --- shape and size ----------------------------------------------------------------------------------------
    @property
    def out_factors(self) -> list[int]:
        return [c.shape[1] for c in self.cores]

    @property
    def in_factors(self) -> list[int]:
        return [c.shape[2] for c in self.cores]

    @property
    def shape(self) -> tuple[int, int]:
        """(d_out, d_in) of the represented matrix."""
        return math.prod(self.out_factors), math.prod(self.in_factors)

    @property
    def bond_dims(self) -> list[int]:
        """The N-1 internal bond dimensions."""
        return [c.shape[3] for c in self.cores[:-1]]

    @property
    def num_params(self) -> int:
        return sum(c.size for c in self.cores)

    @property
    def core_shapes(self) -> tuple[tuple[int, int, int, int], ...]:
        return tuple(tuple(int(s) for s in c.shape) for c in self.cores)  # type: ignore[misc]

    def plan(self, batch: int, allow_dense: bool = False) -> Plan:
        """The contraction order ``matvec`` uses for ``batch`` vectors."""
        return plan_contraction(self.core_shapes, int(batch), allow_dense)

    # --- use ---------------------------------------------------------------------------------------------------
    def to_matrix(self) -> np.ndarray:
        """The dense d_out x d_in matrix."""
        return merge_cores(self.cores, _np_einsum).reshape(self.shape)

    def matvec(self, x: Any, allow_dense: bool = False) -> Any:
        """``W @ v`` for every vector ``v`` along the last axis of ``x`` (shape (..., d_in) -> (..., d_out)),
        contracting the cores in the cheapest order without rebuilding W (unless ``allow_dense`` and that is
        cheaper). numpy arrays and torch tensors are both accepted; the result has the input's type."""
        is_torch = type(x).__module__.startswith("torch")
        if is_torch:
            import torch

            cores = [torch.as_tensor(c, dtype=x.dtype, device=x.device) for c in self.cores]
            einsum = torch.einsum
        else:
            x = np.asarray(x)
            cores, einsum = self.cores, _np_einsum
        d_out, d_in = self.shape
        if x.ndim < 1 or x.shape[-1] != d_in:
            raise MPOError(f"MPO.matvec: input must have last axis {d_in} (d_in), got shape {tuple(x.shape)}")
        lead = tuple(x.shape[:-1])
        flat = x.reshape(-1, d_in)
        y = apply_cores(cores, flat, self.plan(flat.shape[0], allow_dense), einsum)
        return y.reshape(*lead, d_out)

    def __matmul__(self, x: Any) -> Any:
        """``mpo @ x``: same as ``matvec`` (vectors along the last axis of ``x``)."""
        return self.matvec(x)

    def relative_error(self, W: Any) -> float:
        """||W - MPO||_F / ||W||_F."""
        W = _check_matrix(W, "MPO.relative_error")
        if W.shape != self.shape:
            raise MPOError(f"MPO.relative_error: matrix shape {W.shape} differs from the MPO's {self.shape}")
        norm = float(np.linalg.norm(W))
        diff = float(np.linalg.norm(W - self.to_matrix()))
        return diff / norm if norm > 0 else diff

    def balance(self, whitening: Whitening | Sequence[Any] | None = None, tol: float = 1e-10,
                max_sweeps: int = 100) -> MPO:
        """Re-gauge the cores (in place) without changing the matrix so that at every bond the two cores carry the
        square roots of its singular values: the Gram matrices of core k over its (left, o, i) legs and of core k+1
        over its (o, i, right) legs are then equal, as for the factors U sqrt(s), sqrt(s) V^T of an SVD. TT-SVD
        leaves the whole spectrum in the last core; healing SmolLM2's MPO layers from there (cores only rescaled to
        equal norms) diverged on a longer schedule, balanced it did not (benchmarks/mpo_compress.py). Two cores
        take one split; more sweep the bonds until the largest relative mismatch is below ``tol``. A bond larger
        than a neighbouring core's other legs (l*o*i or o*i*r) shrinks to that size, exactly.
        ``whitening`` (a ``Whitening``, or an invertible S_k, i_k x i_k, per core) balances the cores of the
        whitened MPO W (S_1 (x) ... (x) S_N) instead, the metric an activation-aware fit truncates in."""
        if whitening is not None:
            metric = whitening if isinstance(whitening, Whitening) else Whitening.of(whitening)
            if metric.sides != self.in_factors:
                raise MPOError(f"MPO.balance: whitening needs one square matrix per core of sides {self.in_factors}, "
                               f"got sides {metric.sides}")
            self.cores = scale_inputs(self.cores, metric.factors)
            self.balance(tol=tol, max_sweeps=max_sweeps)
            self.cores = scale_inputs(self.cores, metric.inverses)
            return self
        for _ in range(max_sweeps):
            for k in range(len(self.cores) - 1):
                a, b = self.cores[k], self.cores[k + 1]
                left, s, right = product_svd(a.reshape(-1, a.shape[3]), b.reshape(b.shape[0], -1)).factors()
                root = np.sqrt(s)
                self.cores[k] = (left * root).reshape(*a.shape[:3], len(s))
                self.cores[k + 1] = (root[:, None] * right).reshape(len(s), *b.shape[1:])
            if len(self.cores) <= 2 or self.imbalance() <= tol:
                break
        return self

    def imbalance(self) -> float:
        """Largest relative mismatch ||G_left - G_right|| / ||G_left|| over the bonds, with G_left the Gram matrix
        of core k over its (left, o, i) legs and G_right that of core k+1 over its (o, i, right) legs; 0 when
        balanced (see ``balance``)."""
        worst = 0.0
        for a, b in zip(self.cores, self.cores[1:]):
            x, y = a.reshape(-1, a.shape[3]), b.reshape(b.shape[0], -1)
            gram_left, gram_right = x.conj().T @ x, y @ y.conj().T
            norm = float(np.linalg.norm(gram_left))
            if norm > 0:
                worst = max(worst, float(np.linalg.norm(gram_left - gram_right)) / norm)
        return worst

    def __repr__(self) -> str:
        return (f"MPO(shape={self.shape}, out_factors={self.out_factors}, in_factors={self.in_factors}, "
                f"bond_dims={self.bond_dims}, num_params={self.num_params})")
