"""Two-site gates through the gate's operator Schmidt decomposition and a QR-reduced SVD.

A two-qubit gate G = sum_k L_k (x) R_k of operator rank r (2 for CZ/CX/CP and anything fused with
one-qubit gates) can raise the bond only to r * chi_mid. Writing theta = X @ Y with X = L(A) and
Y = R(B), QR factors of X and Y reduce the SVD to an (r chi_mid)-sized core instead of the
(2 chi_left) x (2 chi_right) block: same singular values, same truncation, a fraction of the cost
while bonds are still growing.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..arrays import host, namespace_of
from .decompose import plan_truncation, product_svd, truncate_fixed


def operator_schmidt(matrix: np.ndarray, tol: float = 1e-12) -> tuple[np.ndarray, np.ndarray]:
    """L (r, 2, 2) and R (r, 2, 2) with matrix = sum_k kron(L[k], R[k]); r is the operator rank."""
    t = matrix.reshape(2, 2, 2, 2).transpose(0, 2, 1, 3).reshape(4, 4)
    u, s, vh = np.linalg.svd(t)
    r = max(1, int(np.count_nonzero(s > tol * s[0])))
    root = np.sqrt(s[:r])
    left = (u[:, :r] * root).T.reshape(r, 2, 2)
    right = (root[:, None] * vh[:r]).reshape(r, 2, 2)
    return left, right


def reduced_pays(rank: int, chi_left: int, chi_mid: int, chi_right: int) -> bool:
    """The reduced core is smaller than the plain block in both directions."""
    return rank * chi_mid < 2 * min(chi_left, chi_right)


def apply_two_site(mps: Any, start: int, left: np.ndarray, right: np.ndarray, max_bond: int | None,
                   cutoff: float, value_cutoff: float, absorb: str) -> float:
    """Apply sum_k L_k (x) R_k to sites (start, start+1) of a canonical MPS whose centre is one of
    them; truncate as ``keep_count`` says and leave the centre on the ``absorb`` side. The new orthonormal core is
    gauge-fixed (``decompose.fix_gauge``), so a cut through equal singular values keeps the same state whatever
    the CPU's rounding. ``left`` and ``right`` may be numpy arrays whatever the MPS's array namespace."""
    a, b = mps.tensors[start], mps.tensors[start + 1]
    xp = namespace_of(a)
    left, right = xp.asarray(left), xp.asarray(right)
    chi_l, _, chi_m = a.shape
    chi_r = b.shape[2]
    r = left.shape[0]
    x = xp.einsum("kab,lbm->lamk", left, a).reshape(chi_l * 2, chi_m * r)
    y = xp.einsum("kab,mbr->mkar", right, b).reshape(chi_m * r, 2 * chi_r)
    product = product_svd(x, y)
    values = host(product.s)  # the keep count and the cluster ends are decided on the host
    plan = plan_truncation(values, max_bond, cutoff, value_cutoff)
    keep = plan.keep
    # (2 chi_l, keep) orthonormal columns, (keep, 2 chi_r) rows; the orthonormal side fixed by the state, not LAPACK
    left_core, s, right_core, weight = truncate_fixed(*product.factors(plan.end), values, plan,
                                                      "left" if absorb == "right" else "right")
    if keep < len(values):
        mps.discarded.append(weight)
    if absorb == "left":
        mps.tensors[start] = (left_core * s).reshape(chi_l, 2, keep)
        mps.tensors[start + 1] = right_core.reshape(keep, 2, chi_r)
        mps.center = start
    else:
        mps.tensors[start] = left_core.reshape(chi_l, 2, keep)
        mps.tensors[start + 1] = (s[:, None] * right_core).reshape(keep, 2, chi_r)
        mps.center = start + 1
    return weight
