"""Han et al. (PRX 8, 031012, 2018) two-site sweeps: gradient steps on the merged tensor of a bond using cached
per-sample environments, then a truncated SVD split through ``MPS.split_block``.

With the merged tensor A normalised (mixed canonical form, Z = |A|^2 = 1) the NLL gradient is
``2 A - 2 sum_s w_s Phi_s / psi_s``, where Phi_s is the environment outer product at sample s's symbols.

Token embeddings (Hou et al. 2023): with an embedding E (vocabulary V x physical p, orthonormal columns, i.e. the
rank-1 POVM {e_v e_v^T}), symbol v at a site contracts the physical leg with e_v. The effective V-dimensional
MPS T x_phys E keeps norm and canonical form, so Z stays |A|^2 and every formula above holds with Phi_s built
from e_{x_k} (x) e_{x_k+1}; ``embedding_gradient`` gives the NLL gradient for E itself.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..tensornet import MPS
from ..tensornet.batch import normalise_rows, step_left, step_right
from ..tensornet.decompose import fixed_svd
from .errors import BornError

SMALL_PAIRS = 16
"""Up to this many symbol pairs per bond the dense all-pairs contraction is fastest."""

KERNEL_MAX_SAMPLES = 2048
"""Above this many distinct samples the m x m Gram matrix costs more memory than it saves time."""


def embed_tensor(tensor: np.ndarray, embedding: np.ndarray | None) -> np.ndarray:
    """Site tensor (left, p, right) seen through the embedding: (left, V, right); unchanged without one."""
    return tensor if embedding is None else np.einsum("lsr,vs->lvr", tensor, embedding)


class SweepTrainer:
    """Environments of the (unique) training samples around the orthogonality centre, and the bond update."""

    def __init__(self, mps: MPS, X: np.ndarray, weights: np.ndarray, max_bond: int | None, cutoff: float,
                 learning_rate: float, n_steps: int, kernel: bool | None = None, n_batches: int = 1,
                 rng: np.random.Generator | None = None, embedding: np.ndarray | None = None,
                 value_cutoff: float = 0.0) -> None:
        self.mps, self.X, self.w, self.E = mps, X, weights, embedding
        self.value_cutoff = value_cutoff
        self.max_bond, self.cutoff = max_bond, cutoff
        self.learning_rate, self.n_steps = learning_rate, n_steps
        self.kernel = kernel  # None: choose per bond; True / False: force sample-space / tensor-space steps
        self.rng = rng if rng is not None else np.random.default_rng(0)
        self.batch_weights = self._batches(min(max(int(n_batches), 1), len(X)))
        self.vocab = mps.tensors[0].shape[1] if embedding is None else embedding.shape[0]
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
        t = embed_tensor(self.mps.tensors[k], self.E)
        self.left[k + 1] = normalise_rows(step_right(self.left[k], t, self.X[:, k]))[0]

    def _advance_right(self, k: int) -> None:
        """right[k] from right[k+1] and tensor k+1."""
        t = embed_tensor(self.mps.tensors[k + 1], self.E)
        self.right[k] = normalise_rows(step_left(self.right[k + 1], t, self.X[:, k + 1]))[0]

    # --- the merged tensor, in physical space (left, p*p*right) and seen through the embedding --------------
    def _lift(self, merged: np.ndarray, dr: int) -> np.ndarray:
        """(left, p*p*right) -> (left, V*V*right)."""
        if self.E is None:
            return merged
        p = self.E.shape[1]
        a = merged.reshape(len(merged), p, p, dr)
        return np.einsum("lstr,as,bt->labr", a, self.E, self.E).reshape(len(merged), -1)

    def _project(self, data_term: np.ndarray, dr: int) -> np.ndarray:
        """Adjoint of ``_lift``: (left, V*V*right) -> (left, p*p*right)."""
        if self.E is None:
            return data_term
        v = self.E.shape[0]
        a = data_term.reshape(len(data_term), v, v, dr)
        return np.einsum("labr,as,bt->lstr", a, self.E, self.E).reshape(len(data_term), -1)

    def _data_term(self, k: int, coef: np.ndarray, dr: int) -> np.ndarray:
        """sum_s coef_s Phi_s, as (left, p*p*right). Small alphabets: one matrix product over all symbol pairs;
        large ones: one product per symbol pair that occurs (the dense form would be mostly zeros)."""
        env_l, env_r = self.left[k], self.right[k + 1]
        m, v = len(self.X), self.vocab
        codes = self.X[:, k] * v + self.X[:, k + 1]
        if v * v <= SMALL_PAIRS:
            weighted_r = np.zeros((m, v * v, dr))
            weighted_r[self.arange, codes] = env_r * coef[:, None]
            return self._project(env_l.T @ weighted_r.reshape(m, -1), dr)
        weighted_r = env_r * coef[:, None]
        out = np.zeros((env_l.shape[1], v * v, dr))
        order = np.argsort(codes, kind="stable")
        present, starts = np.unique(codes[order], return_index=True)
        for c, lo, hi in zip(present, starts, list(starts[1:]) + [m], strict=True):
            rows = order[lo:hi]
            out[:, c, :] = env_l[rows].T @ weighted_r[rows]
        return self._project(out.reshape(len(out), -1), dr)

    def _psi(self, k: int, merged: np.ndarray, dr: int) -> np.ndarray:
        env_l, env_r = self.left[k], self.right[k + 1]
        m, v = len(self.X), self.vocab
        codes = self.X[:, k] * v + self.X[:, k + 1]
        lifted = self._lift(merged, dr)
        if v * v <= SMALL_PAIRS:
            picked = (env_l @ lifted).reshape(m, v * v, dr)[self.arange, codes]
        else:  # gather each sample's (left, right) matrix instead of contracting with every symbol pair
            picked = np.einsum("ml,lmr->mr", env_l, lifted.reshape(len(lifted), v * v, dr)[:, codes, :])
        return np.einsum("mr,mr->m", picked, env_r)

    def gradient(self, k: int, merged: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        """NLL gradient at a normalised merged tensor of bond k, given as (left, p*p*right):
        ``2 A - 2 sum_s w_s Phi_s / psi_s``."""
        dr = self.right[k + 1].shape[1]
        psi = self._psi(k, merged, dr)
        with np.errstate(divide="ignore", invalid="ignore"):  # a zero amplitude fails the norm check later
            coef = (self.w if weights is None else weights) / psi
        return 2.0 * merged - 2.0 * self._data_term(k, coef, dr)

    def use_kernel(self, k: int, size: int) -> bool:
        """Steps in sample space pay off when there are fewer distinct samples than merged-tensor entries, and
        for any small sample count (they need fewer numpy calls per step)."""
        m = len(self.X)
        return self.kernel is not False and (self.kernel or (m <= max(size, 256) and m <= KERNEL_MAX_SAMPLES))

    def descend_in_sample_space(self, k: int, merged: np.ndarray) -> np.ndarray:
        """The same ``n_steps`` gradient steps as ``gradient`` would take, done on coefficients: every iterate is
        ``alpha A_0 + sum_s beta_s Phi_s``, so with the Gram matrix K = Phi Phi^T each step costs O(m^2), not
        O(m D^2 d^2), and the merged tensor is rebuilt once at the end."""
        env_l, env_r = self.left[k], self.right[k + 1]
        m, dr = len(self.X), env_r.shape[1]
        a, b = self.X[:, k], self.X[:, k + 1]
        if self.E is None:
            same = (a[:, None] == a[None, :]) & (b[:, None] == b[None, :])
        else:
            overlap = self.E @ self.E.T  # <e_u, e_v>
            same = overlap[a][:, a] * overlap[b][:, b]
        gram = (env_l @ env_l.T) * (env_r @ env_r.T) * same
        psi0 = self._psi(k, merged, dr)
        decay, lr2 = 1.0 - 2.0 * self.learning_rate, 2.0 * self.learning_rate
        alpha, beta, kb = 1.0, np.zeros(m), np.zeros(m)  # kb = K beta, so psi = alpha psi0 + kb
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            for weights in self._step_weights():  # in place: these vectors are short, numpy call overhead dominates
                psi = alpha * psi0
                psi += kb
                np.divide(lr2 * weights, psi, out=psi)  # a zero amplitude gives inf here and fails the norm check
                beta *= decay
                beta += psi
                alpha *= decay
                kb = gram @ beta
                norm2 = alpha * alpha + 2.0 * alpha * beta.dot(psi0) + beta.dot(kb)
                if not 0.0 < norm2 < np.inf:
                    raise BornError(f"training diverged at bond {k}-{k + 1} (an amplitude reached zero); "
                                    "lower the learning rate or use fewer minibatches")
                scale = 1.0 / math.sqrt(norm2)
                alpha *= scale
                beta *= scale
                kb *= scale
        return self._normalised(alpha * merged + self._data_term(k, beta, dr), k)

    @staticmethod
    def _normalised(merged: np.ndarray, k: int) -> np.ndarray:
        nrm = np.linalg.norm(merged)
        if not np.isfinite(nrm) or nrm == 0.0:
            raise BornError(f"training diverged at bond {k}-{k + 1}; lower the learning rate "
                            "or use fewer minibatches")
        return merged / nrm

    def update_bond(self, k: int, absorb: str) -> float:
        """Gradient steps on the merged tensor of sites k, k+1, then split; returns the discarded weight."""
        mps = self.mps
        left_t, right_t = mps.tensors[k], mps.tensors[k + 1]
        dl, d, _ = left_t.shape
        dr = right_t.shape[2]
        merged = np.tensordot(left_t, right_t, axes=(2, 0)).reshape(dl, d * d * dr)
        merged /= np.linalg.norm(merged)
        if self.use_kernel(k, dl * self.vocab**2 * dr):
            merged = self.descend_in_sample_space(k, merged)
        else:
            for weights in self._step_weights():
                merged = self._normalised(merged - self.learning_rate * self.gradient(k, merged, weights), k)
        weight = mps.split_block(k, merged.reshape(dl, d, d, dr), self.max_bond, self.cutoff, absorb,
                                 self.value_cutoff)
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


def embedding_gradient(mps: MPS, embedding: np.ndarray, X: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Euclidean NLL gradient with respect to the embedding (V x p) at fixed MPS tensors:
    ``-2 sum_s w_s sum_k onehot(x_sk) g_sk^T / psi_s`` with g_sk the site-k amplitude vector of sample s.
    Z does not depend on E while its columns stay orthonormal."""
    n, m = mps.num_sites, len(X)
    rights = [np.ones((m, 1))] * n
    for k in range(n - 2, -1, -1):
        rights[k] = normalise_rows(step_left(rights[k + 1], embed_tensor(mps.tensors[k + 1], embedding),
                                             X[:, k + 1]))[0]
    grad = np.zeros_like(embedding)
    left = np.ones((m, 1))
    for k, t in enumerate(mps.tensors):
        g = np.einsum("ml,lsr,mr->ms", left, t, rights[k])  # amplitude as a function of e_{x_k}
        psi = np.einsum("ms,ms->m", g, embedding[X[:, k]])
        np.add.at(grad, X[:, k], (weights / psi)[:, None] * g)
        left = normalise_rows(step_right(left, embed_tensor(t, embedding), X[:, k]))[0]
    return -2.0 * grad


def stiefel_step(embedding: np.ndarray, grad: np.ndarray, step: float) -> np.ndarray:
    """One Riemannian gradient step on matrices with orthonormal columns, retracted by QR."""
    sym = embedding.T @ grad
    riemannian = grad - embedding @ (0.5 * (sym + sym.T))
    q, r = np.linalg.qr(embedding - step * riemannian)
    return q * np.sign(np.where(np.diag(r) == 0, 1, np.diag(r)))


def fit_embedding(mps: MPS, embedding: np.ndarray, X: np.ndarray, weights: np.ndarray, steps: int,
                  step_size: float) -> tuple[np.ndarray, float]:
    """Up to ``steps`` Riemannian gradient steps on the embedding at fixed MPS tensors, each accepted only if the
    weighted NLL decreases (the step size grows by 1.5 after a success and halves after a failure).
    Returns (embedding, step size to start from next time)."""
    def nll(emb: np.ndarray) -> float:
        effective = MPS([embed_tensor(t, emb) for t in mps.tensors])
        return float(-2.0 * np.sum(weights * effective.log_amplitudes(X)[0]))

    current = nll(embedding)
    for _ in range(steps):
        grad = embedding_gradient(mps, embedding, X, weights)
        trial = stiefel_step(embedding, grad / max(np.linalg.norm(grad), 1e-300), step_size)
        value = nll(trial)
        if value < current:
            embedding, current, step_size = trial, value, min(step_size * 1.5, 1.0)
        else:
            step_size *= 0.5
            if step_size < 1e-6:
                break
    return embedding, step_size


def spectral_embedding(X: np.ndarray, weights: np.ndarray, vocab: int, dim: int,
                       rng: np.random.Generator) -> np.ndarray:
    """Initial measurement vectors from symbol statistics: rows of diag(sqrt(P(v))) [P(next | v), P(prev | v)],
    reduced to ``dim`` orthonormal columns by SVD, so symbols seen in similar contexts start with aligned vectors
    and sum_v e_v e_v^T = I holds exactly. Columns the statistics cannot fill are completed at random. The vectors
    depend on the statistics alone (``fixed_svd``), not on the column order or the CPU's rounding."""
    counts = np.zeros((vocab, vocab))
    np.add.at(counts, (X[:, :-1].ravel(), X[:, 1:].ravel()), np.repeat(weights, X.shape[1] - 1))
    unigram = np.bincount(X.ravel(), weights=np.repeat(weights, X.shape[1]), minlength=vocab)
    with np.errstate(invalid="ignore", divide="ignore"):
        nxt = np.nan_to_num(counts / counts.sum(1, keepdims=True))
        prv = np.nan_to_num(counts.T / counts.T.sum(1, keepdims=True))
    context = np.sqrt(unigram / unigram.sum())[:, None] * np.hstack([nxt, prv])
    u, s, _ = fixed_svd(context)  # a canonical basis where symmetric statistics give equal singular values
    rank = int(np.count_nonzero(s > 1e-10 * max(s[0], 1e-300)))
    cols = u[:, : min(rank, dim)]
    extra = rng.normal(size=(vocab, dim - cols.shape[1]))
    extra -= cols @ (cols.T @ extra)
    return np.linalg.qr(np.hstack([cols, extra]))[0] if extra.size else cols


CHECKPOINT_KIND = "tnq.born.MPSBornMachine"
"""The Born machine's kind in training checkpoints (``tnq.training``)."""


def shape(model: Any) -> str:
    """What a Born machine's state is shaped by: its sites, symbols and embedding dimension."""
    return f"n_sites={model.n_sites}, d={model.d}, embedding_dim={model.embedding_dim}"


class SweepEpochs:
    """A Born machine's side of the training protocol (``tnq.training.Trainer``): one back-and-forth sweep per epoch
    (then the embedding's steps), NLL records, and the state (site tensors, centre, embedding and its step size)."""

    def __init__(self, model: Any, X: np.ndarray, X_val: np.ndarray | None, unique: np.ndarray,
                 weights: np.ndarray) -> None:
        self.model, self.X, self.X_val, self.unique, self.weights = model, X, X_val, unique, weights
        self.rng: np.random.Generator | None = None
        self.sweeper: SweepTrainer | None = None  # built at the next sweep (its environments follow the state)

    def _sweeper(self) -> SweepTrainer:
        m = self.model
        return SweepTrainer(m.mps_, self.unique, self.weights, m.max_bond, m.cutoff, m.learning_rate, m.n_steps,
                            n_batches=m.n_batches, rng=self.rng, embedding=m.embedding_, value_cutoff=m.value_cutoff)

    def run_epoch(self, epoch: int) -> dict[str, Any]:
        """One sweep; the record holds the sweep number, the NLLs and the largest bond."""
        model = self.model
        if self.rng is None:  # the minibatch stream of a run that starts at sweep k is seeded with seed + k
            self.rng = np.random.default_rng(None if model.seed is None else model.seed + epoch)
        if self.sweeper is None:
            self.sweeper = self._sweeper()
        self.sweeper.sweep()
        if model.embedding_ is not None:  # descend on the measurement vectors, then rebuild the environments
            model.embedding_, model.embedding_step_ = fit_embedding(
                model.mps_, model.embedding_, self.unique, self.weights, model.embedding_steps,
                model.embedding_step_ or model.embedding_lr)
            self.sweeper = self._sweeper()
        record = {"sweep": epoch + 1, "train_nll": model.nll(self.X), "max_bond": model.mps_.max_bond}
        if self.X_val is not None:
            record["val_nll"] = model.nll(self.X_val)
        return record

    def score(self, record: dict[str, Any]) -> float:
        """The validation NLL (the training NLL without validation data)."""
        return record.get("val_nll", record["train_nll"])

    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Copies of the site tensors (and embedding), with the parameters, centre and embedding step size."""
        from ..training.params import plain

        model = self.model
        tensors = {f"site_{k:05d}": np.array(t) for k, t in enumerate(model.mps_.tensors)}
        if model.embedding_ is not None:
            tensors["embedding"] = np.array(model.embedding_)
        meta = {"params": plain(model.get_params(deep=False)), "center": model.mps_.center,
                "embedding_step": model.embedding_step_}
        return tensors, meta

    def load_state(self, tensors: dict[str, np.ndarray], meta: dict[str, Any], where: str) -> None:
        """Check a state (as a model file is checked) and its shape against the model, then continue from it."""
        from .persist import model_from_state

        other = model_from_state(where, tensors, meta)
        if shape(other) != shape(self.model):
            raise BornError(f"{where}: checkpoint has {shape(other)}; this model has {shape(self.model)}")
        self.model.mps_, self.model.embedding_ = other.mps_, other.embedding_
        self.model.embedding_step_ = other.embedding_step_
        self.sweeper = None
