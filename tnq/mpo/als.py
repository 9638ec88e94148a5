"""Activation-weighted alternating least squares for MPO cores: minimise f = tr((W - M) C (W - M)^T) (C = X X^T of
the layer's inputs) one core at a time. With the other cores fixed, M is linear in core k and the rows of M that
share core k's output index o_k see the same left / right environments, so the local normal matrix is one p x p
block H (p = left bond * i_k * right bond) shared by every o_k: each core update is a single SPD solve with o_k
right-hand sides, done by preconditioned conjugate gradients started from the current core (every iteration lowers
f, so a sweep never increases the loss). H is only ever applied as "rebuild M, multiply by C, project back"
(d_out d_in^2 work), and preconditioned by its Kronecker approximation (C ~ C_left (x) C_k (x) C_right from
partial traces), which is exact when the other sides are trivial (e.g. a two-core MPO whose sites split the matrix
into plain low-rank factors, where ALS becomes whitened-SVD ALS)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .errors import MPOError
from .mpo import MPO


def _left_env(cores: Sequence[np.ndarray], k: int) -> np.ndarray:
    """Cores 0..k-1 merged into (O_<, I_<, left bond of core k)."""
    env = np.ones((1, 1, 1))
    for c in cores[:k]:
        t = np.tensordot(env, c, axes=([2], [0]))  # X Y o i b
        x, y, o, i, b = t.shape
        env = t.transpose(0, 2, 1, 3, 4).reshape(x * o, y * i, b)
    return env


def _right_env(cores: Sequence[np.ndarray], k: int) -> np.ndarray:
    """Cores k+1..N-1 merged into (right bond of core k, O_>, I_>)."""
    env = np.ones((1, 1, 1))
    for c in reversed(cores[k + 1:]):
        t = np.tensordot(c, env, axes=([3], [0]))  # a o i X Y
        a, o, i, x, y = t.shape
        env = t.transpose(0, 1, 3, 2, 4).reshape(a, o * x, i * y)
    return env


def _build(left: np.ndarray, core: np.ndarray, right: np.ndarray) -> np.ndarray:
    """M (d_out x d_in) from the environments and core k."""
    t = np.tensordot(np.tensordot(left, core, axes=([2], [0])), right, axes=([4], [0]))  # X Y o i Z V
    x, y, o, i, z, v = t.shape
    return t.transpose(0, 2, 4, 1, 3, 5).reshape(x * o * z, y * i * v)


def _project(left: np.ndarray, E: np.ndarray, right: np.ndarray, o: int, i: int) -> np.ndarray:
    """The adjoint of ``_build``: <E, build(core)> = <project(E), core>; returns a core-shaped array."""
    x, y, z, v = left.shape[0], left.shape[1], right.shape[1], right.shape[2]
    t = np.tensordot(E.reshape(x, o, z, y, i, v), right, axes=([2, 5], [1, 2]))  # X o Y i b
    return np.tensordot(left, t, axes=([0, 1], [0, 2]))  # a o i b


def _inv_psd(A: np.ndarray, rel: float = 1e-10) -> np.ndarray:
    """Inverse of a symmetric PSD matrix with its eigenvalues floored at ``rel`` times the largest."""
    w, V = np.linalg.eigh((A + A.T) / 2)
    w = np.maximum(w, rel * max(float(w[-1]), 1e-300))
    return (V / w) @ V.T


def _preconditioner(left: np.ndarray, right: np.ndarray, gram: np.ndarray, i: int) -> tuple[np.ndarray, ...]:
    """Inverses of the Kronecker factors (A_left, C_k, A_right) of H's approximation."""
    y, v = left.shape[1], right.shape[2]
    total = float(np.trace(gram)) or 1.0
    c_left = np.trace(gram.reshape(y, i * v, y, i * v), axis1=1, axis2=3) / total
    c_right = np.trace(gram.reshape(y * i, v, y * i, v), axis1=0, axis2=2) / total
    c_mid = np.trace(np.trace(gram.reshape(y, i, v, y, i, v), axis1=0, axis2=3), axis1=1, axis2=3)
    a_left = np.tensordot(np.tensordot(left, c_left, axes=([1], [0])), left, axes=([0, 2], [0, 1]))
    a_right = np.tensordot(np.tensordot(right, c_right, axes=([2], [0])), right, axes=([1, 2], [1, 2]))
    return _inv_psd(a_left), _inv_psd(c_mid), _inv_psd(a_right)


def _apply_preconditioner(P: tuple[np.ndarray, ...], R: np.ndarray) -> np.ndarray:
    pl, pm, pr = P
    t = np.tensordot(pl, R, axes=([1], [0]))  # a o i b
    t = np.tensordot(t, pm, axes=([2], [1])).transpose(0, 1, 3, 2)
    return np.tensordot(t, pr, axes=([3], [1]))


def _solve_core(cores: list[np.ndarray], k: int, WC: np.ndarray, gram: np.ndarray, iters: int,
                tol: float) -> None:
    """Replace core k by (an approximation, never worse than the current core, of) the exact local minimiser."""
    left, right = _left_env(cores, k), _right_env(cores, k)
    G = cores[k]
    _, o, i, _ = G.shape

    def H(X: np.ndarray) -> np.ndarray:
        return _project(left, _build(left, X, right) @ gram, right, o, i)

    B = _project(left, WC, right, o, i)
    P = _preconditioner(left, right, gram, i)
    Rs = B - H(G)
    norm_b = math.sqrt(float(np.sum(B * B))) or 1.0
    Z = _apply_preconditioner(P, Rs)
    D = Z.copy()
    rz = np.einsum("aoib,aoib->o", Rs, Z)
    for _ in range(iters):
        if math.sqrt(float(np.sum(Rs * Rs))) <= tol * norm_b:
            break
        HD = H(D)
        dHd = np.einsum("aoib,aoib->o", D, HD)
        ok = dHd > 1e-300
        alpha = np.where(ok, rz / np.where(ok, dHd, 1.0), 0.0)[None, :, None, None]
        G = G + alpha * D
        Rs = Rs - alpha * HD
        Z = _apply_preconditioner(P, Rs)
        rz_new = np.einsum("aoib,aoib->o", Rs, Z)
        beta = np.where(rz > 1e-300, rz_new / np.where(rz > 1e-300, rz, 1.0), 0.0)[None, :, None, None]
        D = Z + beta * D
        rz = rz_new
    cores[k] = G


def _move_right(cores: list[np.ndarray], k: int) -> None:
    """QR of core k (left-orthonormal), R absorbed into core k+1: the matrix is unchanged."""
    a, o, i, b = cores[k].shape
    Q, R = np.linalg.qr(cores[k].reshape(a * o * i, b))
    cores[k] = Q.reshape(a, o, i, Q.shape[1])
    cores[k + 1] = np.tensordot(R, cores[k + 1], axes=([1], [0]))


def _move_left(cores: list[np.ndarray], k: int) -> None:
    """LQ of core k (right-orthonormal), L absorbed into core k-1."""
    a, o, i, b = cores[k].shape
    Q, R = np.linalg.qr(cores[k].reshape(a, o * i * b).T)
    cores[k] = Q.T.reshape(Q.shape[1], o, i, b)
    cores[k - 1] = np.tensordot(cores[k - 1], R.T, axes=([3], [0]))


def weighted_loss(W: np.ndarray, M: np.ndarray, gram: np.ndarray) -> float:
    """tr((W - M) C (W - M)^T)."""
    delta = W - M
    return float(np.sum((delta @ gram) * delta))


def als_fit(mpo: MPO, W: np.ndarray, gram: np.ndarray, sweeps: int = 1, cg_iters: int = 10,
            tol: float = 1e-6, track: bool = True) -> tuple[MPO, list[float]]:
    """Fit the cores of ``mpo`` (a copy is returned) to minimise tr((W - M) C (W - M)^T) by ``sweeps``
    left-to-right-and-back ALS sweeps, each core update ``cg_iters`` of preconditioned CG on its local problem.
    Returns the fitted MPO and, with ``track``, the loss before and after every core update (non-increasing;
    each costs a d_out d_in^2 product), else an empty list."""
    W = np.asarray(W, dtype=np.float64)
    gram = np.asarray(gram, dtype=np.float64)
    if W.shape != mpo.shape:
        raise MPOError(f"als_fit: matrix shape {W.shape} differs from the MPO's {mpo.shape}")
    if gram.shape != (W.shape[1], W.shape[1]):
        raise MPOError(f"als_fit: gram must be {W.shape[1]} x {W.shape[1]} (d_in x d_in), got {gram.shape}")
    if not (isinstance(sweeps, int) and sweeps >= 0 and isinstance(cg_iters, int) and cg_iters >= 1):
        raise MPOError(f"als_fit: sweeps must be >= 0 and cg_iters >= 1 (integers), got {sweeps!r}, {cg_iters!r}")
    cores = [np.array(c, dtype=np.float64) for c in mpo.cores]
    n = len(cores)
    WC = W @ gram
    losses = [weighted_loss(W, MPO(cores).to_matrix(), gram)] if track else []
    if sweeps == 0:
        return MPO(cores), losses
    for k in range(n - 1, 0, -1):  # orthogonality centre at core 0
        _move_left(cores, k)
    order = list(range(n)) + list(range(n - 2, -1, -1)) if n > 1 else [0]
    for sweep in range(sweeps):
        for step, k in enumerate(order):
            if sweep > 0 and step == 0:
                continue  # the previous sweep ended with this core
            _solve_core(cores, k, WC, gram, cg_iters, tol)
            if track:
                losses.append(weighted_loss(W, MPO(cores).to_matrix(), gram))
            if step + 1 < len(order):
                (_move_right if order[step + 1] > k else _move_left)(cores, k)
    return MPO(cores), losses
