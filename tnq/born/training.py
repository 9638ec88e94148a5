"""Han et al. (PRX 8, 031012, 2018) two-site sweeps: gradient steps on the merged tensor of a bond using cached
per-sample environments, then a truncated SVD split through ``MPS.split_block``.

With the merged tensor A normalised (mixed canonical form, Z = |A|^2 = 1) the NLL gradient is
``2 A - 2 sum_s w_s Phi_s / psi_s``, where Phi_s is the environment outer product at sample s's symbols.
"""

from __future__ import annotations

import math

import numpy as np

from ..tensornet import MPS
from .contract import normalise_rows, step_left, step_right
from .errors import BornError

KERNEL_MAX_SAMPLES = 2048
"""Above this many distinct samples the m x m Gram matrix costs more memory than it saves time."""


class SweepTrainer:
    """Environments of the (unique) training samples around the orthogonality centre, and the bond update."""

    def __init__(self, mps: MPS, X: np.ndarray, weights: np.ndarray, max_bond: int | None, cutoff: float,
                 learning_rate: float, n_steps: int, kernel: bool | None = None, n_batches: int = 1,
                 rng: np.random.Generator | None = None) -> None:
        self.mps, self.X, self.w = mps, X, weights
        self.max_bond, self.cutoff = max_bond, cutoff
        self.learning_rate, self.n_steps = learning_rate, n_steps
        self.kernel = kernel  # None: choose per bond; True / False: force sample-space / tensor-space steps
        self.rng = rng if rng is not None else np.random.default_rng(0)
        self.batch_weights = self._batches(min(max(int(n_batches), 1), len(X)))
        n = mps.num_sites
        m = len(X)
        center = mps.center if mps.center in (0, 1) else 0
        mps.move_center(center)
        self.left: list[np.ndarray | None] = [None] * n  # left[k]: sites 0..k-1 contracted, (m, D_k)
        self.right: list[np.ndarray | None] = [None] * n  # right[k]: sites k+1..n-1 contracted
        self.left[0] = np.ones((m, 1))
        self.right[n - 1] = np.ones((m, 1))
        for k in range(center):
            self._advance_left(k)
        for k in range(n - 2, center, -1):
            self._advance_right(k)
        self.arange = np.arange(m)

    def _batches(self, n_batches: int) -> list[np.ndarray]:
        """Han et al.'s minibatches: a fixed random partition of the samples; step j of a bond uses batch
        (start + j) mod n_batches with a random start. Each entry is a weight vector summing to one."""
        if n_batches == 1:
            return [self.w]
        out = []
        for part in np.array_split(self.rng.permutation(len(self.X)), n_batches):
            w = np.zeros_like(self.w)
            w[part] = self.w[part]
            out.append(w / w.sum())
        return out

    def _step_weights(self) -> list[np.ndarray]:
        start = int(self.rng.integers(len(self.batch_weights))) if len(self.batch_weights) > 1 else 0
        return [self.batch_weights[(start + j) % len(self.batch_weights)] for j in range(self.n_steps)]

    def _advance_left(self, k: int) -> None:
        """left[k+1] from left[k] and tensor k (after tensor k became left-orthonormal)."""
        self.left[k + 1] = normalise_rows(step_right(self.left[k], self.mps.tensors[k], self.X[:, k]))[0]

    def _advance_right(self, k: int) -> None:
        """right[k] from right[k+1] and tensor k+1."""
        self.right[k] = normalise_rows(step_left(self.right[k + 1], self.mps.tensors[k + 1], self.X[:, k + 1]))[0]

    def gradient(self, k: int, merged: np.ndarray, d: int, weights: np.ndarray | None = None) -> np.ndarray:
        """NLL gradient at a normalised merged tensor of bond k, given as (left, d*d*right):
        ``2 A - 2 sum_s w_s Phi_s / psi_s``."""
        env_l, env_r = self.left[k], self.right[k + 1]
        m, dr = len(self.X), env_r.shape[1]
        codes = self.X[:, k] * d + self.X[:, k + 1]
        psi = np.einsum("mr,mr->m", (env_l @ merged).reshape(m, d * d, dr)[self.arange, codes], env_r)
        weighted_r = np.zeros((m, d * d, dr))
        with np.errstate(divide="ignore", invalid="ignore"):  # a zero amplitude fails the norm check later
            weighted_r[self.arange, codes] = env_r * ((self.w if weights is None else weights) / psi)[:, None]
        return 2.0 * merged - 2.0 * (env_l.T @ weighted_r.reshape(m, -1))

    def use_kernel(self, k: int, size: int) -> bool:
        """Steps in sample space pay off when there are fewer distinct samples than merged-tensor entries, and
        for any small sample count (they need fewer numpy calls per step)."""
        m = len(self.X)
        return self.kernel is not False and (self.kernel or (m <= max(size, 256) and m <= KERNEL_MAX_SAMPLES))

    def descend_in_sample_space(self, k: int, merged: np.ndarray, d: int) -> np.ndarray:
        """The same ``n_steps`` gradient steps as ``gradient`` would take, done on coefficients: every iterate is
        ``alpha A_0 + sum_s beta_s Phi_s``, so with the Gram matrix K = Phi Phi^T each step costs O(m^2), not
        O(m D^2 d^2), and the merged tensor is rebuilt once at the end."""
        env_l, env_r = self.left[k], self.right[k + 1]
        m, dr = len(self.X), env_r.shape[1]
        codes = self.X[:, k] * d + self.X[:, k + 1]
        gram = (env_l @ env_l.T) * (env_r @ env_r.T) * (codes[:, None] == codes[None, :])
        psi0 = np.einsum("mr,mr->m", (env_l @ merged).reshape(m, d * d, dr)[self.arange, codes], env_r)
        decay, lr2 = 1.0 - 2.0 * self.learning_rate, 2.0 * self.learning_rate
        alpha, beta, kb = 1.0, np.zeros(m), np.zeros(m)  # kb = K beta, so psi = alpha psi0 + kb
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            for weights in self._step_weights():  # in place: these vectors are short, numpy call overhead dominates
                psi = alpha * psi0
                psi += kb
                np.divide(lr2 * weights, psi, out=psi)  # a zero amplitude gives inf here and fails the norm check below
                beta *= decay
                beta += psi
                alpha *= decay
                kb = gram @ beta
                norm2 = alpha * alpha + 2.0 * alpha * beta.dot(psi0) + beta.dot(kb)
                if not 0.0 < norm2 < np.inf:
                    raise BornError(f"training diverged at bond {k}-{k + 1} (an amplitude reached zero); "
                                    "lower the learning rate")
                scale = 1.0 / math.sqrt(norm2)
                alpha *= scale
                beta *= scale
                kb *= scale
        weighted_r = np.zeros((m, d * d, dr))
        weighted_r[self.arange, codes] = env_r * beta[:, None]
        return self._normalised(alpha * merged + env_l.T @ weighted_r.reshape(m, -1), k)

    @staticmethod
    def _normalised(merged: np.ndarray, k: int) -> np.ndarray:
        nrm = np.linalg.norm(merged)
        if not np.isfinite(nrm) or nrm == 0.0:
            raise BornError(f"training diverged at bond {k}-{k + 1}; lower the learning rate")
        return merged / nrm

    def update_bond(self, k: int, absorb: str) -> float:
        """Gradient steps on the merged tensor of sites k, k+1, then split; returns the discarded weight."""
        mps = self.mps
        left_t, right_t = mps.tensors[k], mps.tensors[k + 1]
        dl, d, _ = left_t.shape
        dr = right_t.shape[2]
        merged = np.tensordot(left_t, right_t, axes=(2, 0)).reshape(dl, d * d * dr)
        merged /= np.linalg.norm(merged)
        if self.use_kernel(k, merged.size):
            merged = self.descend_in_sample_space(k, merged, d)
        else:
            for weights in self._step_weights():
                merged = self._normalised(merged - self.learning_rate * self.gradient(k, merged, d, weights), k)
        weight = mps.split_block(k, merged.reshape(dl, d, d, dr), self.max_bond, self.cutoff, absorb)
        if absorb == "right":
            self._advance_left(k)
        else:
            self._advance_right(k)
        return weight

    def sweep(self) -> None:
        """One back-and-forth pass (Han's loop): bonds left to right, then right to left. The turning bonds
        split toward the inside, so the centre ends at site 1 (or 0 for two sites) ready for the next sweep."""
        n = self.mps.num_sites
        start = self.mps.center
        for k in range(start, n - 1):
            self.update_bond(k, "left" if k == n - 2 else "right")
        for k in range(n - 3, -1, -1):
            self.update_bond(k, "right" if k == 0 else "left")
