"""A straightforward numpy implementation of Han et al.'s MPS Born machine training (PRX 8, 031012), written
independently of tnq as the timing and accuracy reference for benchmarks/born_*.py.

Per-sample cumulants (environments) as in the paper's code: ``einsum`` contractions, the gradient built from the
per-sample outer products Phi = L R^T, numpy SVD with Han's truncation (keep s >= cutoff * s_max, at most Dmax).
Same sweep schedule as tnq: right pass, then left pass, turning bonds split toward the inside.
"""

from __future__ import annotations

import numpy as np


class HanReference:
    def __init__(self, n: int, max_bond: int, cutoff: float = 1e-7, lr: float = 0.1, n_steps: int = 10,
                 seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.n, self.max_bond, self.cutoff, self.lr, self.n_steps = n, max_bond, cutoff, lr, n_steps
        dims = [1] + [min(2, 2**k, 2 ** (n - k)) for k in range(1, n)] + [1]
        self.mats = [rng.random((dims[k], 2, dims[k + 1])) for k in range(n)]
        for k in range(n - 1, 0, -1):  # right-canonicalise, centre at site 0
            a = self.mats[k]
            q, r = np.linalg.qr(a.reshape(a.shape[0], -1).T)
            self.mats[k] = q.T.reshape(-1, 2, a.shape[2])
            self.mats[k - 1] = np.einsum("ijk,kl->ijl", self.mats[k - 1], r.T)
        self.mats[0] /= np.linalg.norm(self.mats[0])
        self.center = 0

    def init_cumulants(self, data: np.ndarray) -> None:
        self.data = data
        m = len(data)
        self.left = [None] * self.n
        self.right = [None] * self.n
        self.left[0] = np.ones((m, 1))
        self.right[self.n - 1] = np.ones((m, 1))
        for k in range(self.center):
            self.left[k + 1] = np.einsum("ij,jik->ik", self.left[k], self.mats[k][:, data[:, k], :])
        for k in range(self.n - 2, self.center, -1):
            self.right[k] = np.einsum("jik,ik->ij", self.mats[k + 1][:, data[:, k + 1], :], self.right[k + 1])

    def bond(self, k: int, going_right: bool) -> None:
        data, m = self.data, len(self.data)
        merged = np.einsum("ijk,klm->ijlm", self.mats[k], self.mats[k + 1])
        merged /= np.linalg.norm(merged)
        lv, rv = self.left[k], self.right[k + 1]
        for _ in range(self.n_steps):
            phi = np.einsum("ij,ik->ijk", lv, rv)  # (m, Dl, Dr), rebuilt every step as in the paper's code
            psi = np.einsum("ij,jik,ik->i", lv, merged[:, data[:, k], data[:, k + 1], :], rv)
            grad = np.zeros_like(merged)
            for a in range(2):
                for b in range(2):
                    sel = (data[:, k] == a) & (data[:, k + 1] == b)
                    grad[:, a, b, :] = np.einsum("ijk,i->jk", phi[sel], 1.0 / psi[sel]) * 2 / m
            merged += self.lr * (grad - 2 * merged)
            merged /= np.linalg.norm(merged)
        dl, dr = merged.shape[0], merged.shape[3]
        u, s, vh = np.linalg.svd(merged.reshape(dl * 2, 2 * dr), full_matrices=False)
        keep = max(1, min(self.max_bond, int(np.count_nonzero(s >= self.cutoff * s[0]))))
        u, s, vh = u[:, :keep], s[:keep], vh[:keep]
        s /= np.linalg.norm(s)
        if going_right:
            self.mats[k] = u.reshape(dl, 2, keep)
            self.mats[k + 1] = (s[:, None] * vh).reshape(keep, 2, dr)
            self.left[k + 1] = np.einsum("ij,jik->ik", lv, self.mats[k][:, data[:, k], :])
            self.center = k + 1
        else:
            self.mats[k] = (u * s).reshape(dl, 2, keep)
            self.mats[k + 1] = vh.reshape(keep, 2, dr)
            self.right[k] = np.einsum("jik,ik->ij", self.mats[k + 1][:, data[:, k + 1], :], rv)
            self.center = k

    def sweep(self) -> None:
        n = self.n
        for k in range(self.center, n - 1):
            self.bond(k, going_right=(k != n - 2))
        for k in range(n - 3, -1, -1):
            self.bond(k, going_right=(k == 0))

    def nll(self, data: np.ndarray) -> float:
        env = np.ones((len(data), 1))
        for k in range(self.n):
            env = np.einsum("ij,jik->ik", env, self.mats[k][:, data[:, k], :])
        return float(-np.mean(np.log(env[:, 0] ** 2)))

    @property
    def bond_dims(self) -> list[int]:
        return [a.shape[2] for a in self.mats[:-1]]
