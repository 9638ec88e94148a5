"""Low-rank baselines at a parameter budget, on the engine's truncated SVD: plain truncated SVD of W, and whitened
(activation-aware, SVD-LLM) SVD, which truncates W S for S the Cholesky factor of the input Gram matrix X X^T so
that the dropped singular values are exactly the loss in ||(W - M) X||."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..tensornet.decompose import truncated_svd
from .errors import MPOError


class LowRankLinear(nn.Module):
    """``y = (x @ first.T) @ second.T + b`` with ``first`` (rank x d_in) and ``second`` (d_out x rank)."""

    def __init__(self, first: torch.Tensor, second: torch.Tensor, bias: torch.Tensor | None = None) -> None:
        super().__init__()
        if first.ndim != 2 or second.ndim != 2 or first.shape[0] != second.shape[1]:
            raise MPOError(f"LowRankLinear: factors of shapes {tuple(first.shape)} and {tuple(second.shape)} "
                           f"do not chain")
        self.first = nn.Parameter(first.detach().clone())
        self.second = nn.Parameter(second.detach().clone())
        self.bias = None if bias is None else nn.Parameter(bias.detach().clone())
        self.out_features, self.in_features = second.shape[0], first.shape[1]

    @classmethod
    def empty(cls, d_out: int, d_in: int, rank: int, bias: bool, dtype: torch.dtype = torch.float32) -> LowRankLinear:
        """Zero factors of the right shapes (filled by ``load_state_dict``)."""
        return cls(torch.zeros(rank, d_in, dtype=dtype), torch.zeros(d_out, rank, dtype=dtype),
                   torch.zeros(d_out, dtype=dtype) if bias else None)

    @property
    def rank(self) -> int:
        return self.first.shape[0]

    @property
    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def weight_matrix(self) -> torch.Tensor:
        return self.second @ self.first

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = (x @ self.first.T) @ self.second.T
        return y if self.bias is None else y + self.bias

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, rank={self.rank}"


def rank_for_params(d_out: int, d_in: int, max_params: int) -> int:
    """Largest rank whose two factors fit in ``max_params`` (at least 1)."""
    return max(1, min(min(d_out, d_in), max_params // (d_out + d_in)))


def whitening_factor(gram: np.ndarray, damp: float = 1e-6) -> np.ndarray:
    """Lower-triangular S with S S^T = X X^T + damp * mean(diag) * I (damping keeps S invertible)."""
    gram = np.asarray(gram, dtype=np.float64)
    scale = float(np.mean(np.diag(gram))) or 1.0
    for boost in (1.0, 1e2, 1e4):
        try:
            return np.linalg.cholesky(gram + damp * boost * scale * np.eye(len(gram)))
        except np.linalg.LinAlgError:
            continue
    raise MPOError("whitened SVD: the input Gram matrix is not positive definite even after damping")


def svd_linear(linear: nn.Linear, max_params: int, gram: np.ndarray | None = None) -> LowRankLinear:
    """Replace ``linear`` by a rank-r factorisation within ``max_params`` weight parameters: truncated SVD of W, or
    with ``gram`` (X X^T of the layer's inputs) whitened SVD: W S ~ U s V^T, M = U s (V^T S^-1)."""
    W = linear.weight.detach().cpu().to(torch.float64).numpy()
    d_out, d_in = W.shape
    rank = rank_for_params(d_out, d_in, max_params)
    if gram is None:
        t = truncated_svd(W, max_bond=rank)
        first = np.sqrt(t.S)[:, None] * t.Vh
    else:
        S = whitening_factor(gram)
        t = truncated_svd(W @ S, max_bond=rank)
        # first = sqrt(s) V^T S^{-1}: solve S^T Z^T = (sqrt(s) V^T)^T
        first = np.linalg.solve(S.T, (np.sqrt(t.S)[:, None] * t.Vh).T).T
    second = t.U * np.sqrt(t.S)[None, :]
    dtype = linear.weight.dtype
    bias = None if linear.bias is None else linear.bias.detach().cpu()
    return LowRankLinear(torch.as_tensor(first, dtype=dtype), torch.as_tensor(second, dtype=dtype), bias)
