"""GPTQ (Frantar et al. 2022) as compression methods: activation-aware, error-compensating quantisation. Columns of
W are rounded one at a time and the rounding error of each is spread over the columns not yet rounded through the
inverse Hessian H^-1 of the layer's loss ||(W - Q) X||^2 (H = X^T X of the calibration inputs, damped by
``damp`` x its mean diagonal), so that later columns absorb what earlier ones lost; the updates are applied lazily
in blocks of columns. By default columns go in order of decreasing input energy ("act order") with
round-to-nearest's group scales fixed beforehand from W (groups must stay consecutive inputs for the packed form);
in natural order each group's scales are taken when its first column is reached, from the weights as updated so
far (unless the group size does not divide the input dimension: then groups span rows and the scales are fixed
beforehand too). ``gptq`` stores exactly round-to-nearest's packed layers (kind ``quant``), so saved folders load
as any ``rtn`` one.

``gptq+lowrank`` adds structure: W ~ Q + L with L a low-rank term whose factors are stored in int8 (group-64
scales) or int4 (group-32 scales, about twice the rank), whichever fits the layer better, filling the bytes the
budget leaves beside the quantised weights (e.g. int4 with group-64 scales plus a low-rank term at int4-g32's
size): Q is GPTQ of W and L the whitened (activation-aware) SVD of W - Q, the rank-r term closest to what
quantisation lost in ||(W - Q - L) X|| (LQER; starting from L = whitened SVD of W and quantising W - L instead, or
alternating, was no better on SmolLM2's layers). Layers: ``CompressedQuantPlusLowRankLinear`` (kind
``quant+lowrank``), or ``rtn``'s where no low-rank term was kept."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ...checks import Number
from ...mpo.errors import MPOError
from ..options import Option, setting
from .base import FLOAT_BYTES, dims, layer_report, with_saved_forms
from .quantise import (
    FACTOR_BITS,
    FACTOR_GROUP,
    RoundToNearest,
    bias_parameter,
    dequantised,
    group_scales,
    packed,
    quantise,
    quantised_from_spec,
    quantised_size,
    round_on_grid,
    valid_quant_spec,
)

if TYPE_CHECKING:
    import torch
    from torch import nn

    from ...mpo.remote_code import QuantisedTensor
    from ..report import LayerReport

ORDERS = ("act", "natural")
"""GPTQ's column orders (``GPTQ.order``)."""

BLOCK = 128
"""Columns per lazy update block (rounded up to whole groups)."""


def inverse_hessian_factor(gram: np.ndarray, damp: float) -> torch.Tensor:
    """Upper-triangular U with U^T U = (G + damp * mean(diag G) * I)^-1 for G the symmetrised ``gram``: row i of U
    (scaled by 1 / U_ii) is how the error of column i spreads over the columns after it."""
    import torch

    H = torch.as_tensor(gram, dtype=torch.float64)
    if H.ndim != 2 or H.shape[0] != H.shape[1] or not bool(torch.isfinite(H).all()):
        raise MPOError(f"gptq: the input Gram matrix must be a finite square matrix, got shape {tuple(H.shape)}")
    H = (H + H.T) / 2
    mean = float(H.diagonal().mean())
    H = H + damp * (mean if mean > 0 else 1.0) * torch.eye(len(H), dtype=torch.float64)
    try:
        return torch.linalg.cholesky(torch.cholesky_inverse(torch.linalg.cholesky(H)), upper=True)
    except torch.linalg.LinAlgError:
        raise MPOError("gptq: the damped input Gram matrix is not positive definite (raise the damping)") from None


def gptq_quantise(weight: torch.Tensor, gram: np.ndarray, bits: int, group: int, damp: float = 0.1,
                  block: int = BLOCK, act_order: bool = False) -> QuantisedTensor:
    """``weight`` (d_out x d_in) quantised by GPTQ against the inputs' Gram matrix ``gram`` (d_in x d_in): the
    same packed form as ``quantise(weight, bits, group)`` (which it equals when ``gram`` is diagonal).
    ``act_order``: columns in order of decreasing input energy (diagonal of ``gram``, ties by position), with
    round-to-nearest's scales fixed beforehand (groups stay consecutive inputs, as the packed form needs)."""
    import torch

    W = weight.detach().to(torch.float64).clone()
    d_out, d_in = W.shape
    if gram.shape != (d_in, d_in):
        raise MPOError(f"gptq: the input Gram matrix is {gram.shape[0]}x{gram.shape[1]}, the layer has {d_in} inputs")
    order = torch.arange(d_in)
    if act_order:
        order = torch.argsort(-torch.as_tensor(gram, dtype=torch.float64).diagonal(), stable=True)
    U = inverse_hessian_factor(gram[np.ix_(order.numpy(), order.numpy())] if act_order else gram, damp)
    dynamic = d_in % group == 0 and not act_order
    if dynamic:  # scales chosen as each group is reached; blocks hold whole groups
        scales = torch.zeros(d_out, d_in // group, dtype=torch.float16)
        step = torch.zeros_like(W)
        block = group * -(-block // group)
    else:  # groups span rows or columns are reordered: round-to-nearest's scales, from W
        scales = quantise(weight, bits, group).scales
        step = scales.to(torch.float64).repeat_interleave(group)[:d_out * d_in].reshape(d_out, d_in)[:, order]
    W = W[:, order]
    values = torch.zeros_like(W)
    for start in range(0, d_in, block):
        end = min(start + block, d_in)
        W1, U1 = W[:, start:end].clone(), U[start:end, start:end]
        errors = torch.zeros_like(W1)
        for i in range(end - start):
            col = start + i
            if dynamic and col % group == 0:
                scales[:, col // group] = group_scales(W1[:, i:i + group], bits)
                step[:, col:col + group] = scales[:, col // group].to(torch.float64)[:, None]
            q = round_on_grid(W1[:, i], step[:, col], bits)
            values[:, col] = q
            errors[:, i] = (W1[:, i] - q * step[:, col]) / U1[i, i]
            W1[:, i:] -= errors[:, i:i + 1] * U1[i:i + 1, i:]
        W[:, end:] -= errors @ U[start:end, end:]
    return packed(W.shape, values[:, torch.argsort(order)], scales, bits, group)


def _quantised_bytes(shape: Any, bits: int, group: int) -> int:
    """Bytes of a quantised tensor: its integers and its float16 scales."""
    import math

    count = math.prod(shape)
    return quantised_size(shape, bits, group) + (FLOAT_BYTES - 1) * -(-count // group)


def lowrank_bytes(d_out: int, d_in: int, rank: int, bits: int = FACTOR_BITS, group: int = FACTOR_GROUP) -> int:
    """Bytes of a rank-``rank`` term's two factors stored in ``bits`` with float16 scales per ``group`` values."""
    return _quantised_bytes((rank, d_in), bits, group) + _quantised_bytes((d_out, rank), bits, group)


def _rank_for_bytes(d_out: int, d_in: int, max_bytes: int, bits: int, group: int) -> int:
    """The largest rank (at most min(d_out, d_in); 0 when none fits) whose factors fit in ``max_bytes``."""
    rank = 0
    while rank < min(d_out, d_in) and lowrank_bytes(d_out, d_in, rank + 1, bits, group) <= max_bytes:
        rank += 1
    return rank


def _with_grid(linear: nn.Linear, grid: QuantisedTensor) -> nn.Linear:
    """``linear`` remembering the scales (and group) it was quantised with, for ``GPTQ.finish`` after healing."""
    linear.tnq_grid = (grid.scales.detach().clone(), grid.group)
    return linear


@dataclass(frozen=True)
class GPTQ(RoundToNearest):
    """GPTQ: ``bits`` per weight with one float16 scale per output channel (``group=0``) or per ``group`` inputs,
    each column rounded after the errors of the columns before it were compensated on the calibration inputs.
    Fixed size, as ``rtn``; layers are ``rtn``'s. After healing, weights are rounded again on the scales GPTQ
    chose."""

    fits_inputs = True

    damp: float = setting(0.1, "gptq_damp", Option(
        "--gptq-damp", "gptq, gptq+lowrank: dampening added to the input Gram matrix's diagonal, relative to its "
        "mean (default: 0.1; on SmolLM2 with 2,048-8,192 calibration tokens it gave lower errors on other text than "
        "0.01 or 1)", "D"), rule=Number(above=0))
    order: str = setting("act", "gptq_order", Option(
        "--gptq-order", "gptq, gptq+lowrank: the order columns are rounded in: act = by decreasing input energy, with "
        "round-to-nearest's group scales fixed beforehand (lower errors on SmolLM2's layers, on text it was not "
        "fitted to), or natural = input order, each group's scales taken when it is reached (default: act)"),
        choices=ORDERS)

    @property
    def needs_gram(self) -> bool:
        return True

    @property
    def fitted(self) -> bool:
        return True

    def _name(self) -> str:
        from . import method_name

        return method_name(self)

    def quantise_weight(self, weight: torch.Tensor, gram: np.ndarray | None) -> QuantisedTensor:
        """``weight`` quantised by GPTQ with this method's settings."""
        if gram is None:
            raise MPOError(f"{self._name()} needs calibration inputs (text tokens)")
        return gptq_quantise(weight, gram, self.bits, self.group or weight.shape[1], self.damp,
                             act_order=self.order == "act")

    def fit(self, linear: nn.Linear, max_params: int, gram: np.ndarray | None = None) -> tuple[nn.Module, LayerReport]:
        import torch

        from ...mpo.remote_code import CompressedQuantLinear

        layer = CompressedQuantLinear(tuple(linear.weight.shape), self.bits, self.group or linear.in_features,
                                      linear.bias is not None)
        layer.weight_q = self.quantise_weight(linear.weight, gram)
        layer.bias = bias_parameter(linear)
        return layer, layer_report(linear, layer, layer.weight_q(torch.float64).numpy(), gram, [])

    def to_float(self, module: nn.Module) -> nn.Module:
        return _with_grid(super().to_float(module), module.weight_q)

    def finish(self, module: nn.Module) -> nn.Module:
        from ...mpo.remote_code import CompressedQuantLinear

        if not hasattr(module, "tnq_grid"):
            return super().finish(module)
        scales, group = module.tnq_grid
        layer = CompressedQuantLinear(tuple(module.weight.shape), self.bits, group, module.bias is not None)
        layer.weight_q = quantise(module.weight, self.bits, group, scales)
        layer.bias = bias_parameter(module)
        return layer


FINER_GROUPS = (128, 64, 32)
"""Group sizes ``gptq+lowrank`` also tries below the chosen one (with a smaller low-rank term, or none)."""

FACTOR_FORMS = ((FACTOR_BITS, FACTOR_GROUP), (4, 32))
"""(bits, group) of the low-rank factors ``gptq+lowrank`` tries: int8 with group-64 scales, or int4 with group-32
ones (about twice the rank in the same bytes; on SmolLM2's layers it had the lower error more often)."""


@dataclass(frozen=True)
class GPTQLowRank(GPTQ):
    """GPTQ plus a low-rank term: W ~ Q + L, Q by GPTQ (``bits``, ``group``) of W and L the whitened SVD of W - Q
    at the largest rank the byte budget leaves beside Q, its factors in int8 or int4 (``FACTOR_FORMS``), whichever
    gives the lower activation error (GPTQ alone when no rank fits). With ``finer``, the finer groups of
    ``FINER_GROUPS`` compete too, each with the rank the bytes still allow."""

    kind = "quant+lowrank"
    layer = "tnq.mpo.remote_code:CompressedQuantPlusLowRankLinear"

    finer: bool = setting(False, "gptq_finer", Option(
        "--gptq-finer-groups", "gptq+lowrank: per layer, try finer groups (down to 32) with a smaller low-rank "
        "term too, keeping the lowest activation error on the calibration text (on SmolLM2 and MiniLM at "
        "int4-g32's size this chose mostly group 32 without the term and did worse than the default)",
        action="store_true"))

    def rank_for(self, shape: tuple[int, int], max_params: int, group: int | None = None,
                 factor: tuple[int, int] = (FACTOR_BITS, FACTOR_GROUP)) -> int:
        """The low-rank term's rank (0 when none fits) with factors stored as ``factor`` (bits, group) beside the
        weights quantised in groups of ``group`` (default: the method's), within the bytes of ``max_params``
        float16 parameters."""
        d_out, d_in = shape
        spare = FLOAT_BYTES * max_params - _quantised_bytes(shape, self.bits, group or self.group or d_in)
        return _rank_for_bytes(d_out, d_in, spare, *factor)

    def groups_for(self, shape: tuple[int, int], max_params: int) -> list[int]:
        """The group sizes tried for a layer of ``shape``: the method's, then (with ``finer``) the smaller ones of
        ``FINER_GROUPS`` whose quantised weights fit in ``max_params`` float16 parameters' bytes."""
        own = self.group or shape[1]
        finer = [g for g in FINER_GROUPS if self.finer and g < own and
                 _quantised_bytes(shape, self.bits, g) <= FLOAT_BYTES * max_params]
        return [own, *finer]

    def fit(self, linear: nn.Linear, max_params: int, gram: np.ndarray | None = None) -> tuple[nn.Module, LayerReport]:
        if gram is None:
            raise MPOError(f"{self._name()} needs calibration inputs (text tokens)")
        fits = [fit for g in self.groups_for(tuple(linear.weight.shape), max_params)
                for fit in self._fit_group(linear, gram, g, max_params)]
        return min(fits, key=lambda fit: fit[1].activation_error)

    def _fit_group(self, linear: nn.Linear, gram: np.ndarray, group: int, max_params: int
                   ) -> list[tuple[nn.Module, LayerReport]]:
        """GPTQ in groups of ``group`` plus the whitened SVD of its error in each ``FACTOR_FORMS`` storage at the
        rank that fits (GPTQ alone when none does)."""
        import torch

        from ...mpo.remote_code import CompressedQuantLinear

        W = linear.weight.detach().to(torch.float64)
        q = gptq_quantise(W, gram, self.bits, group, self.damp, act_order=self.order == "act")
        fits = []
        for factor in FACTOR_FORMS:
            rank = self.rank_for(tuple(W.shape), max_params, group, factor)
            if rank:
                low = _whitened_low_rank(W - q(torch.float64), gram, rank)
                layer = self.finish(_plus_low_rank(q, low, linear.bias, linear.weight.dtype, factor))
                M = layer.weight_q(torch.float64) + layer.second(torch.float64) @ layer.first(torch.float64)
                fits.append((layer, layer_report(linear, layer, M.numpy(), gram, [rank])))
        if not fits:
            layer = CompressedQuantLinear(tuple(W.shape), self.bits, group, linear.bias is not None)
            layer.weight_q, layer.bias = q, bias_parameter(linear)
            fits.append((layer, layer_report(linear, layer, q(torch.float64).numpy(), gram, [])))
        return fits

    def to_float(self, module: nn.Module) -> nn.Module:
        import torch

        from ...mpo.linear import LowRankLinear

        if not hasattr(module, "first"):  # a layer that took no low-rank term
            return super().to_float(module)
        return _plus_low_rank(module.weight_q, LowRankLinear(dequantised(module.first, torch.float32),
                                                             dequantised(module.second, torch.float32), None),
                              module.bias, torch.float32, (module.first.bits, module.first.group))

    def finish(self, module: nn.Module) -> nn.Module:
        from ...mpo.remote_code import CompressedQuantPlusLowRankLinear

        if not hasattr(module, "low_rank"):
            return super().finish(module)
        dense, low = module.dense, module.low_rank
        (scales, group), (factor_bits, factor_group) = dense.tnq_grid, module.factor_format
        layer = CompressedQuantPlusLowRankLinear(tuple(dense.weight.shape), low.rank, self.bits, group,
                                                 factor_bits, factor_group, dense.bias is not None)
        layer.weight_q = quantise(dense.weight, self.bits, group, scales)
        layer.first, layer.second = (quantise(t, factor_bits, factor_group) for t in (low.first, low.second))
        layer.bias = bias_parameter(dense)
        return layer

    @staticmethod
    def to_spec(module: nn.Module) -> dict[str, Any]:
        q, first = module.weight_q, module.first
        return with_saved_forms(module, {"kind": "quant+lowrank", "shape": list(q.tensor_shape), "bits": q.bits,
                                         "group": q.group, "rank": first.tensor_shape[0], "factor_bits": first.bits,
                                         "factor_group": first.group, "bias": module.bias is not None})

    from_spec = staticmethod(quantised_from_spec)

    @staticmethod
    def spec_size(spec: dict[str, Any]) -> int | None:
        factors = {"bits": spec.get("factor_bits"), "group": spec.get("factor_group"), "bias": spec.get("bias")}
        if dims(spec.get("shape"), 2) and valid_quant_spec(spec, "rank") and valid_quant_spec(factors):
            (d_out, d_in), rank = spec["shape"], spec["rank"]
            fb, fg = spec["factor_bits"], spec["factor_group"]
            return (quantised_size((d_out, d_in), spec["bits"], spec["group"]) + quantised_size((rank, d_in), fb, fg)
                    + quantised_size((d_out, rank), fb, fg) + spec["bias"] * d_out)
        return None


def _whitened_low_rank(W: torch.Tensor, gram: np.ndarray, rank: int) -> Any:
    """The rank-``rank`` whitened SVD of ``W`` (a ``LowRankLinear`` without bias, float64)."""
    import torch
    from torch import nn

    from .low_rank import svd_linear

    d_out, d_in = W.shape
    linear = nn.Linear(d_in, d_out, bias=False, dtype=torch.float64)
    with torch.no_grad():
        linear.weight.copy_(W)
    return svd_linear(linear, rank * (d_out + d_in), gram)


def _plus_low_rank(q: QuantisedTensor, low: Any, bias: torch.Tensor | None, dtype: torch.dtype,
                   factor: tuple[int, int]) -> nn.Module:
    """The float form of a GPTQ + low-rank layer: the dequantised ``q`` (remembering its grid) plus ``low``, whose
    factors are to be stored as ``factor`` (bits, group)."""
    import torch
    from torch import nn

    from ...mpo.linear import LowRankLinear, PlusLowRankLinear

    d_out, d_in = q.tensor_shape
    dense = nn.Linear(d_in, d_out, bias=bias is not None, dtype=dtype)
    with torch.no_grad():
        dense.weight.copy_(q(torch.float64))
        if bias is not None:
            dense.bias.copy_(bias)
    low = LowRankLinear(low.first.detach().to(dtype), low.second.detach().to(dtype), None)
    result = PlusLowRankLinear(_with_grid(dense, q), low)
    result.factor_format = factor
    return result
