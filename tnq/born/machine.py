"""``MPSBornMachine``: an estimator modelling p(x) = |psi(x)|^2 / Z with a real MPS, trained by Han et al.'s
two-site sweeps (see ``training``), with exact (conditional) sampling, early stopping and checkpoints."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..checks import SEED, Number, check_numbers
from ..errors import SimulationError
from ..tensornet import MPS
from ..tensornet.decompose import check_truncation
from ..training import Estimator, Loop, Progress
from .conditional import check_given, log_marginal, sample_conditional
from .data import check_data, check_memory
from .errors import BornError
from .smoothing import DEFAULT_GRID, smooth_mps
from .training import CHECKPOINT_KIND, SweepEpochs, embed_tensor, spectral_embedding

INTEGER = Number(integer=True)
"""Any integer (numpy integers included, booleans not)."""


# The estimator's numeric settings (the tnq born options refuse the same values)
_NUMBERS: dict[str, Number] = {
    "n_sites": Number(integer=True, minimum=2), "d (symbols per site)": Number(integer=True, minimum=2),
    "n_steps": Number(integer=True, minimum=1), "n_sweeps": Number(integer=True, minimum=1),
    "init_bond": Number(integer=True, minimum=1), "n_batches": Number(integer=True, minimum=1),
    "patience": Number(integer=True, minimum=0), "embedding_steps": Number(integer=True, minimum=0),
    "learning_rate": Number(above=0, below=1), "embedding_lr": Number(above=0), "seed": SEED,
}


def _check(**values: Any) -> None:
    """Refuse (BornError naming it) a setting that breaks its rule in ``_NUMBERS``."""
    check_numbers(_NUMBERS, BornError, **values)


class MPSBornMachine(Estimator):
    """Generative model over strings of ``n_sites`` symbols in [0, d).

    ``max_bond`` (Han's Dmax), ``cutoff`` (largest relative discarded weight per split, the engine's rule) and
    ``value_cutoff`` (Han's rule: drop singular values below value_cutoff * s_max; 0 = off) bound the bonds.
    Each bond gets ``n_steps`` gradient steps of size ``learning_rate`` per visit, cycling over ``n_batches``
    minibatches (Han et al.'s SGD; 1 = full batch). With ``embedding_dim`` = p < d the MPS has
    physical dimension p and each symbol is a learned measurement vector (Hou et al. 2023; rank-1 POVM with
    orthonormal columns, initialised from symbol co-occurrence statistics), trained after every sweep by
    ``embedding_steps`` Riemannian steps (normalised gradient, adaptive step size starting at ``embedding_lr``,
    each kept only if it lowers the training NLL).
    """

    estimator_type = "density_estimator"

    def __init__(self, n_sites: int, max_bond: int = 16, cutoff: float = 1e-7, value_cutoff: float = 0.0, d: int = 2,
                 learning_rate: float = 0.1, n_steps: int = 10, n_sweeps: int = 4, init_bond: int = 2,
                 patience: int = 2, n_batches: int = 1, embedding_dim: int | None = None,
                 embedding_lr: float = 0.1, embedding_steps: int = 10, seed: int | None = 0,
                 progress: bool | None = None) -> None:
        self.n_sites, self.d, self.max_bond, self.cutoff, self.value_cutoff = n_sites, d, max_bond, cutoff, value_cutoff
        self.learning_rate, self.n_steps, self.n_sweeps, self.init_bond = learning_rate, n_steps, n_sweeps, init_bond
        self.patience, self.n_batches, self.seed, self.progress = patience, n_batches, seed, progress
        self.embedding_dim, self.embedding_lr, self.embedding_steps = embedding_dim, embedding_lr, embedding_steps
        self.embedding_: np.ndarray | None = None
        self.embedding_step_: float | None = None  # adaptive step size carried between sweeps
        self.smoothing_: list[float] = []  # smoothing strengths applied after training, in order
        self.mps_: MPS | None = None
        self.history_: list[dict[str, float]] = []
        self.best_sweep_: int | None = None

    def _validate_params(self) -> None:
        """Refuse (BornError naming it) a setting that breaks its rule; ``fit`` and ``load`` call this."""
        _check(n_sites=self.n_sites, **{"d (symbols per site)": self.d})
        try:
            check_truncation(self.max_bond, self.cutoff, self.value_cutoff)
        except SimulationError as exc:
            raise BornError(str(exc)) from None
        _check(n_steps=self.n_steps, n_sweeps=self.n_sweeps, init_bond=self.init_bond, n_batches=self.n_batches,
               patience=self.patience, embedding_steps=self.embedding_steps, learning_rate=self.learning_rate,
               embedding_lr=self.embedding_lr, seed=self.seed)
        Number(integer=True, minimum=2, maximum=self.d, optional=True).check("embedding_dim", self.embedding_dim,
                                                                            BornError)

    # --- training ---------------------------------------------------------------------------------
    def _init_mps(self) -> MPS:
        """Random positive tensors of bond ``init_bond`` (as Han et al.: no amplitude starts at zero)."""
        return MPS.random(int(self.n_sites), int(self.embedding_dim or self.d), int(self.init_bond), seed=self.seed,
                          dtype=np.float64, positive=True)

    def fit(self, X: Any, X_val: Any = None, n_sweeps: int | None = None, checkpoint: str | os.PathLike | None = None,
            resume: bool = True) -> MPSBornMachine:
        """Train until ``n_sweeps`` back-and-forth sweeps are done in total (continuing from the current MPS and its
        history when there is one), in the loop of ``tnq.training.loop``.

        With ``X_val``, keep the MPS with the best validation NLL and stop once ``patience + 1`` sweeps in a row have
        not improved it (``patience`` counts the sweeps without improvement that are tolerated). With
        ``checkpoint``, save after every sweep; with ``resume`` (the default) an existing one is continued (refused
        if it was made with other settings).
        """
        self._validate_params()
        if n_sweeps is not None:
            _check(n_sweeps=n_sweeps)
        X = check_data(X, self.n_sites, self.d, "X")
        X_val = None if X_val is None else check_data(X_val, self.n_sites, self.d, "X_val")
        if self.mps_ is None:
            self.mps_ = self._init_mps()
        unique, counts = np.unique(X, axis=0, return_counts=True)
        weights = counts / counts.sum()
        if self.embedding_dim is not None and self.embedding_ is None:
            init_rng = np.random.default_rng(None if self.seed is None else self.seed + 1)
            self.embedding_ = spectral_embedding(unique, weights, self.d, self.embedding_dim, init_rng)
        trainer = SweepEpochs(self, X, X_val, unique, weights)
        start = Progress(epoch=len(self.history_), history=list(self.history_), best_epoch=self.best_sweep_)
        if self.history_:  # when continuing, the current MPS (whose metric is the last record's) is the best we hold
            start.best_score, start.best_state = (trainer.score(self.history_[-1]),), trainer.state()
        loop = Loop(epochs=self.n_sweeps if n_sweeps is None else n_sweeps, patience=self.patience + 1,
                    select=X_val is not None, min_delta=1e-9, checkpoint=checkpoint, resume=resume,
                    kind=CHECKPOINT_KIND, settings=self._checkpoint_settings(), error=BornError,
                    progress=self.progress, desc="tnq born", unit="sweep", postfix=("train_nll", "val_nll"))
        progress = loop.run(trainer, start)
        self.history_, self.best_sweep_ = progress.history, progress.best_epoch
        return self

    def _checkpoint_settings(self) -> dict[str, Any]:
        """The parameters a resumed checkpoint must share (the shape, ``n_sites``, ``d`` and ``embedding_dim``, is
        checked with the state; ``n_sweeps``, ``patience`` and ``progress`` may change)."""
        skip = ("n_sites", "d", "embedding_dim", "n_sweeps", "patience", "progress")
        return {name: value for name, value in self.get_params(deep=False).items() if name not in skip}

    # --- evaluation --------------------------------------------------------------------------------
    def _fitted(self) -> MPS:
        """The model as an MPS over the d symbols (the trained MPS seen through the embedding, if any)."""
        if self.mps_ is None:
            raise BornError("this MPSBornMachine is not fitted yet; call fit(X) or load a saved model")
        if self.embedding_ is None:
            return self.mps_
        return MPS([embed_tensor(t, self.embedding_) for t in self.mps_.tensors], center=self.mps_.center)

    def log_prob(self, X: Any) -> np.ndarray:
        """ln p(x) for each row of ``X`` (natural log, exactly normalised)."""
        mps = self._fitted()
        X = check_data(X, self.n_sites, self.d, "X")
        return 2.0 * mps.log_amplitudes(X)[0] - 2.0 * np.log(mps.norm())

    def nll(self, X: Any) -> float:
        """Mean negative log-likelihood (nats) of the rows of ``X``."""
        return float(-np.mean(self.log_prob(X)))

    def score(self, X: Any, y: Any = None) -> float:
        """Mean log-likelihood (higher is better), the scikit-learn convention for density estimators."""
        return -self.nll(X)

    def prob(self, X: Any) -> np.ndarray:
        return np.exp(self.log_prob(X))

    def log_prob_given(self, given: Mapping[int, int]) -> float:
        """ln of the marginal probability that the given sites take the given values."""
        return log_marginal(self._fitted(), check_given(given, self.n_sites, self.d))

    # --- regularisation after training ----------------------------------------------------------------
    def smooth(self, eps: float) -> MPSBornMachine:
        """Apply amplitude smoothing (``tnq.born.smoothing``) in place; returns self."""
        if self.embedding_ is not None:
            raise BornError("smoothing acts on the symbols and is not available with a learned embedding")
        self.mps_ = smooth_mps(self._fitted(), eps)
        self.smoothing_.append(float(eps))
        return self

    def select_smoothing(self, X_val: Any, grid: Sequence[float] = DEFAULT_GRID) -> float:
        """Apply the smoothing strength from ``grid`` with the lowest NLL on ``X_val``; returns it."""
        X_val = check_data(X_val, self.n_sites, self.d, "X_val")
        base = self._fitted()
        scores = []
        for eps in grid:
            self.mps_ = smooth_mps(base, eps)
            scores.append(self.nll(X_val))
        best = float(grid[int(np.argmin(scores))])
        self.mps_ = base
        self.smooth(best)
        return best

    # --- sampling ------------------------------------------------------------------------------------
    def sample(self, n: int, given: Mapping[int, int] | None = None,
               seed: int | np.random.Generator | None = None) -> np.ndarray:
        """``n`` exact samples (shape (n, n_sites), uint8 for d <= 256); with ``given={site: value}`` the
        other sites are drawn from the conditional distribution (inpainting)."""
        mps = self._fitted()
        Number(integer=True, minimum=0).check("sample: n", n, BornError)
        if not isinstance(seed, np.random.Generator):
            SEED.check("sample: seed", seed, BornError)
        # MPS.sample holds, per shot, a uniform and a symbol per site and complex amplitudes of (d + 3) x bond
        needed = int(n) * (9 * self.n_sites + 16 * (max(t.shape[1] for t in mps.tensors) + 3) * mps.max_bond)
        check_memory(needed, f"sample: n={n} samples of {self.n_sites} sites", "draw fewer at a time")
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        if given:
            return sample_conditional(mps, int(n), check_given(given, self.n_sites, self.d), rng)
        return mps.copy().sample(int(n), rng)

    # --- persistence ------------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> None:
        """Write the model to one safetensors file (tensors) whose metadata holds the JSON description."""
        from .persist import save_model

        save_model(self, path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> MPSBornMachine:
        from .persist import load_model

        return load_model(path)

    def __repr__(self) -> str:
        state = f"bonds<= {self.mps_.max_bond}" if self.mps_ is not None else "unfitted"
        return f"MPSBornMachine(n_sites={self.n_sites}, d={self.d}, max_bond={self.max_bond}, {state})"
