"""Low-rank methods at a parameter budget, on the engine's truncated SVD: plain truncated SVD of W, and whitened
(activation-aware, SVD-LLM) SVD, which truncates W S for S the Cholesky factor of the input Gram matrix X X^T so
that the dropped singular values are exactly the loss in ||(W - M) X||. Both give ``tnq.mpo.LowRankLinear``
layers (saved as kind ``lowrank``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ...mpo.errors import MPOError
from ...mpo.plan import LOW_RANK_FORMS, valid_forms
from ...tensornet.decompose import truncated_svd
from .base import Method, dims, layer_report, with_saved_forms

if TYPE_CHECKING:
    import torch
    from torch import nn

    from ...mpo.linear import LowRankLinear
    from ..report import LayerReport


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
    import torch

    from ...mpo.linear import LowRankLinear

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


@dataclass(frozen=True)
class TruncatedSVD(Method):
    """Truncated SVD of each weight (data-free)."""

    kind = "lowrank"
    layer = "tnq.mpo.linear:LowRankLinear"
    fits_inputs = False

    def fit(self, linear: nn.Linear, max_params: int, gram: np.ndarray | None = None) -> tuple[nn.Module, LayerReport]:
        layer = svd_linear(linear, max_params, gram if self.needs_gram else None)
        return layer, layer_report(linear, layer, layer.weight_matrix().detach().double().numpy(), gram, [layer.rank])

    @staticmethod
    def to_spec(module: nn.Module) -> dict[str, Any]:
        return with_saved_forms(module, {"kind": "lowrank", "shape": [module.out_features, module.in_features],
                                         "rank": module.rank, "bias": module.bias is not None})

    @staticmethod
    def from_spec(spec: dict[str, Any], dtype: torch.dtype) -> nn.Module:
        from ...mpo.linear import LowRankLinear

        d_out, d_in = spec["shape"]
        layer = LowRankLinear.empty(d_out, d_in, spec["rank"], spec["bias"], dtype)
        layer.forms = spec.get("forms")
        return layer

    @staticmethod
    def spec_size(spec: dict[str, Any]) -> int | None:
        if (dims(spec.get("shape"), 2) and dims([spec.get("rank")], 1) and isinstance(spec.get("bias"), bool)
                and valid_forms(spec.get("forms"), LOW_RANK_FORMS)):
            (d_out, d_in), rank = spec["shape"], spec["rank"]
            return rank * (d_in + d_out) + spec["bias"] * d_out
        return None


@dataclass(frozen=True)
class WhitenedSVD(TruncatedSVD):
    """Whitened (activation-aware, SVD-LLM) SVD: the rank-r factors closest in ||(W - M) X|| on the calibration
    inputs."""

    fits_inputs = True

    @property
    def needs_gram(self) -> bool:
        return True

    def fit(self, linear: nn.Linear, max_params: int, gram: np.ndarray | None = None) -> tuple[nn.Module, LayerReport]:
        if gram is None:
            raise MPOError("whitened-svd needs calibration inputs (text tokens)")
        return super().fit(linear, max_params, gram)
