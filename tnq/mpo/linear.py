"""``MPOLinear``: a drop-in ``torch.nn.Linear`` whose weight is held as trainable MPO cores (and ``LowRankLinear``,
its two-factor special case). The forward pass is ``remote_code.mpo_forward`` / ``low_rank_forward``, the code a
saved compressed model also runs under transformers: while training, the cores are contracted in the cheapest order
by multiply-adds, merging included (``plan.plan_contraction``: core by core, in merged blocks, or, only with
``allow_dense``, as the rebuilt matrix); at inference (no gradient needed) the layer runs in the form its ``forms``
give for the number of input rows (measured by ``tnq compress``; else by multiply-adds) with the merged blocks or the
rebuilt matrix kept until a weight changes. A balanced MPO at a few rows per call costs far more multiply-adds than
its dense matrix, so with ``allow_dense`` it then keeps the matrix: dense speed at the dense matrix's memory."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from torch import nn

from .errors import MPOError
from .mpo import MPO
from .remote_code import Derived, low_rank_forward, merge_block, mpo_forward, parameters_of


class MPOLinear(nn.Module):
    """``y = x @ W.T + b`` with ``W`` an MPO of cores (left, o_k, i_k, right) stored as ``nn.Parameter``s."""

    def __init__(self, mpo: MPO, bias: Any | None = None, dtype: torch.dtype | None = None,
                 allow_dense: bool = False) -> None:
        super().__init__()
        dtype = dtype if dtype is not None else torch.get_default_dtype()
        self.out_features, self.in_features = mpo.shape
        self.cores = nn.ParameterList(nn.Parameter(torch.as_tensor(np.ascontiguousarray(c), dtype=dtype))
                                      for c in mpo.cores)
        if bias is not None:
            bias = torch.as_tensor(bias, dtype=dtype).detach().clone()
            if bias.shape != (self.out_features,):
                raise MPOError(f"MPOLinear: bias must have shape ({self.out_features},), got {tuple(bias.shape)}")
            self.bias: nn.Parameter | None = nn.Parameter(bias)
        else:
            self.register_parameter("bias", None)
        self.allow_dense = allow_dense
        self.forms: list[list[Any]] | None = None  # [rows, form] pairs, ``plan.MPO_FORMS``
        self.derived = Derived()
        self.merged: torch.Tensor | None = None  # the rebuilt matrix inside ``merged_weights``

    @classmethod
    def from_linear(cls, linear: nn.Linear, allow_dense: bool = False, **mpo_options: Any) -> MPOLinear:
        """Compress ``linear.weight`` with ``MPO.from_matrix(weight, **mpo_options)`` (in float64) and keep its
        bias; parameters take the layer's dtype."""
        if not isinstance(linear, nn.Linear):
            raise MPOError(f"MPOLinear.from_linear: expected a torch.nn.Linear, got {type(linear).__name__}")
        weight = linear.weight.detach().cpu().to(torch.float64).numpy()
        bias = None if linear.bias is None else linear.bias.detach().cpu()
        return cls(MPO.from_matrix(weight, **mpo_options), bias, dtype=linear.weight.dtype, allow_dense=allow_dense)

    @classmethod
    def empty(cls, core_shapes: list[tuple[int, int, int, int]], bias: bool = False,
              dtype: torch.dtype | None = None, allow_dense: bool = False) -> MPOLinear:
        """Zero cores of the given shapes (and a zero bias), to be filled by ``load_state_dict``."""
        mpo = MPO([np.zeros(tuple(s)) for s in core_shapes])
        return cls(mpo, np.zeros(mpo.shape[0]) if bias else None, dtype=dtype, allow_dense=allow_dense)

    def to_mpo(self) -> MPO:
        """The weight as a numpy ``MPO``."""
        return MPO([c.detach().cpu().numpy() for c in self.cores])

    def to_linear(self) -> nn.Linear:
        """A dense ``nn.Linear`` with the rebuilt weight and the same bias."""
        dtype = self.cores[0].dtype
        linear = nn.Linear(self.in_features, self.out_features, bias=self.bias is not None, dtype=dtype)
        with torch.no_grad():
            linear.weight.copy_(torch.as_tensor(self.to_mpo().to_matrix(), dtype=dtype))
            if self.bias is not None:
                linear.bias.copy_(self.bias)
        return linear

    @property
    def num_params(self) -> int:
        """Weight cores plus bias."""
        return sum(p.numel() for p in self.parameters())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.in_features:
            raise MPOError(f"MPOLinear: input must have last axis {self.in_features}, got shape {tuple(x.shape)}")
        if self.merged is not None:
            return nn.functional.linear(x, self.merged, self.bias)
        bias = parameters_of(self, "bias")[0]
        return mpo_forward(parameters_of(self), x, bias, self.allow_dense, self.forms, self.derived)

    def extra_repr(self) -> str:
        bonds = [c.shape[3] for c in self.cores][:-1]
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bond_dims={bonds}, bias={self.bias is not None}")


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
        self.forms: list[list[Any]] | None = None  # [rows, form] pairs, ``plan.LOW_RANK_FORMS``
        self.derived = Derived()

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
        return low_rank_forward(*parameters_of(self, "first", "second"), x, parameters_of(self, "bias")[0],
                                self.forms, self.derived)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, rank={self.rank}"


class PlusLowRankLinear(nn.Module):
    """``dense(x) + low_rank(x)``: an ``nn.Linear`` (which holds the bias) plus a bias-free ``LowRankLinear``; the
    trainable float form of a quantised weight with a low-rank correction (healed together, then quantised again)."""

    def __init__(self, dense: nn.Linear, low_rank: LowRankLinear) -> None:
        super().__init__()
        self.dense, self.low_rank = dense, low_rank

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dense(x) + self.low_rank(x)


@contextmanager
def merged_weights(model: nn.Module) -> Iterator[nn.Module]:
    """Inside the block, every ``MPOLinear`` of ``model`` runs as a dense linear from its matrix, rebuilt once on
    entry (without gradients: for inference, e.g. generation) and dropped on exit; the cores must not change
    meanwhile."""
    layers = [m for m in model.modules() if isinstance(m, MPOLinear)]
    try:
        with torch.no_grad():
            for layer in layers:
                layer.merged = merge_block(list(layer.cores)).reshape(layer.out_features, layer.in_features)
        yield model
    finally:
        for layer in layers:
            layer.merged = None
