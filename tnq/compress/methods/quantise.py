"""Quantisation as compression methods: round-to-nearest (RTN) of each weight to 8- or 4-bit integers with one
float16 scale per output channel or per group of values (``rtn``), and the structured methods with their factors
stored in int8 (``whitened-svd+int8``, ``mpo+int8``: group-64 scales). Layers are the ``Compressed*Quant*``
classes of ``tnq.mpo.remote_code`` (so an exported folder loads them without tnq) and run by dequantising the
weights then multiplying: simple and exactly the stored model, not a fast integer kernel. Healing trains the float
form of each layer (``to_float``) and quantises it again (``finish``)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ...checks import Number
from ...mpo.errors import MPOError
from ..options import Option, setting
from .base import Method, dims, layer_report, with_saved_forms
from .low_rank import WhitenedSVD
from .mpo import MPOMethod

if TYPE_CHECKING:
    import numpy as np
    import torch
    from torch import nn

    from ...mpo.remote_code import QuantisedTensor
    from ..report import LayerReport

BITS = (4, 8)
FACTOR_BITS, FACTOR_GROUP = 8, 64
"""Storage of the structured methods' factors: int8 with one float16 scale per 64 values (~1.03 bytes a value)."""


def quantise(tensor: torch.Tensor, bits: int, group: int, scales: torch.Tensor | None = None) -> QuantisedTensor:
    """``tensor`` rounded to the nearest multiple of its group's scale max|x| / (2^(bits-1) - 1) (stored in float16,
    values clamped to +-(2^(bits-1) - 1)), groups of ``group`` consecutive values in row-major order (the last one
    may be shorter). Given ``scales`` (float16, one per group), rounds on that grid instead (a healed layer back onto
    the grid it was quantised on)."""
    import torch

    count = tensor.numel()
    flat = tensor.detach().to(torch.float64).reshape(-1)
    padded = torch.nn.functional.pad(flat, (0, -(-count // group) * group - count))
    groups = padded.reshape(-1, group)
    if scales is None:
        scales = group_scales(groups, bits)
    values = round_on_grid(groups, scales.to(torch.float64)[:, None], bits)
    return packed(tensor.shape, values.reshape(-1)[:count], scales, bits, group)


def group_scales(groups: torch.Tensor, bits: int) -> torch.Tensor:
    """float16 scales max|x| / (2^(bits-1) - 1) of the rows of ``groups``; one MPOError where float16 overflows."""
    import torch

    scales = (groups.abs().amax(dim=-1) / (2 ** (bits - 1) - 1)).to(torch.float16)
    if not bool(torch.isfinite(scales).all()):
        raise MPOError(f"cannot quantise weights beyond float16's range (max |w| = {float(groups.abs().max()):.3g})")
    return scales


def round_on_grid(values: torch.Tensor, step: torch.Tensor, bits: int) -> torch.Tensor:
    """``values / step`` rounded to integers (half to even) and clamped to +-(2^(bits-1) - 1); a zero step gives 0."""
    import torch

    top = 2 ** (bits - 1) - 1
    return torch.round(values / torch.where(step > 0, step, 1.0)).clamp(-top, top)


def packed(shape: Any, values: torch.Tensor, scales: torch.Tensor, bits: int, group: int) -> QuantisedTensor:
    """The ``QuantisedTensor`` of ``shape`` holding the integers ``values`` (flat, row-major; in range for
    ``bits``) and the float16 ``scales`` of their groups of ``group``."""
    import torch

    from ...mpo.remote_code import QuantisedTensor

    result = QuantisedTensor(shape, bits, group)
    values = values.reshape(-1).to(torch.int8)
    if bits == 4:
        nibbles = (values + 8).to(torch.uint8)
        nibbles = torch.cat([nibbles, nibbles.new_zeros(len(nibbles) % 2)])
        result.data.copy_(nibbles[0::2] | (nibbles[1::2] << 4))
    else:
        result.data.copy_(values)
    result.scales.copy_(scales.reshape(-1))
    return result


def quantised_size(shape: Any, bits: int, group: int) -> int:
    """Values stored for a quantised tensor of ``shape``: its integers (int4: bytes of two) and its scales."""
    count = math.prod(shape)
    return (count if bits == 8 else -(-count // 2)) + -(-count // group)


def factor_params(max_bytes: int, tensors: int) -> int:
    """Factor values that ``tensors`` tensors stored as int8 with group scales may hold within ``max_bytes``: a
    tensor of n values takes n + 2 ceil(n / 64) <= n * 33 / 32 + 2 bytes."""
    return max(1, int((max_bytes - 2 * tensors) * FACTOR_GROUP / (FACTOR_GROUP + 2)))


def dequantised(tensor: QuantisedTensor, dtype: torch.dtype) -> Any:
    """A detached float copy of a quantised tensor."""
    return tensor(dtype).detach().clone()


def bias_copy(module: nn.Module) -> Any:
    """A detached copy of ``module``'s bias (None without one)."""
    return None if module.bias is None else module.bias.detach().clone()


def bias_parameter(module: nn.Module) -> Any:
    """``module``'s bias as a new trainable parameter (None without one)."""
    from torch import nn

    return None if module.bias is None else nn.Parameter(bias_copy(module))


def valid_quant_spec(spec: dict[str, Any], *keys: str) -> bool:
    """Whether a saved layer description has valid bits, group, bias and forms, and positive integers at ``keys``."""
    from ...mpo.plan import QUANT_FORMS, valid_forms

    return spec.get("bits") in BITS and dims([spec.get("group")], 1) and isinstance(spec.get("bias"), bool) and all(
        dims([spec.get(k)], 1) for k in keys) and valid_forms(spec.get("forms"), QUANT_FORMS)


def quantised_from_spec(spec: dict[str, Any], dtype: torch.dtype) -> nn.Module:
    """``Method.from_spec`` of every quantised kind: the folder's own layer class (``remote_code.compressed_layer``,
    forms included), its bias in ``dtype``."""
    from ...mpo.remote_code import compressed_layer

    return with_bias_dtype(compressed_layer(spec), dtype)


def with_bias_dtype(layer: nn.Module, dtype: torch.dtype) -> nn.Module:
    """``layer`` with its bias (its only float parameter) in ``dtype``."""
    if layer.bias is not None:
        layer.bias.data = layer.bias.data.to(dtype)
    return layer


@dataclass(frozen=True)
class RoundToNearest(Method):
    """Round-to-nearest quantisation of each weight: ``bits`` (8 or 4) per value, one float16 scale per output
    channel (``group=0``) or per ``group`` consecutive inputs. Its size is fixed: any budget below 1 quantises every
    layer (one the sensitivity profile gives its full size stays float)."""

    kind = "quant"
    layer = "tnq.mpo.remote_code:CompressedQuantLinear"
    fits_inputs = False

    bits: int = setting(8, "bits", Option("--bits", "rtn, gptq, gptq+lowrank: bits per weight, 8 or 4 (default: 8)"),
                        rule=Number(integer=True, minimum=4, maximum=8))
    group: int = setting(0, "group", Option(
        "--group", "rtn, gptq, gptq+lowrank: one scale per this many inputs of an output channel (default: 0 = one per "
                   "channel)", "G"),
        rule=Number(integer=True, minimum=0))

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.bits not in BITS:
            raise MPOError(f"bits must be 4 or 8, got {self.bits}")

    def fit(self, linear: nn.Linear, max_params: int, gram: np.ndarray | None = None) -> tuple[nn.Module, LayerReport]:
        import torch

        layer = self.finish(linear)
        return layer, layer_report(linear, layer, layer.weight_q(torch.float64).numpy(), gram, [])

    def to_float(self, module: nn.Module) -> nn.Module:
        import torch
        from torch import nn

        weight = dequantised(module.weight_q, torch.float32)
        linear = nn.Linear(weight.shape[1], weight.shape[0], bias=module.bias is not None)
        with torch.no_grad():
            linear.weight.copy_(weight)
            if module.bias is not None:
                linear.bias.copy_(module.bias)
        return linear

    def finish(self, module: nn.Module) -> nn.Module:
        from ...mpo.remote_code import CompressedQuantLinear

        d_out, d_in = module.weight.shape
        layer = CompressedQuantLinear((d_out, d_in), self.bits, self.group or d_in, module.bias is not None)
        layer.weight_q = quantise(module.weight, self.bits, self.group or d_in)
        layer.bias = bias_parameter(module)
        return layer

    @staticmethod
    def to_spec(module: nn.Module) -> dict[str, Any]:
        q = module.weight_q
        return with_saved_forms(module, {"kind": "quant", "shape": list(q.tensor_shape), "bits": q.bits,
                                         "group": q.group, "bias": module.bias is not None})

    from_spec = staticmethod(quantised_from_spec)

    @staticmethod
    def spec_size(spec: dict[str, Any]) -> int | None:
        if dims(spec.get("shape"), 2) and valid_quant_spec(spec):
            return quantised_size(spec["shape"], spec["bits"], spec["group"]) + spec["bias"] * spec["shape"][0]
        return None


@dataclass(frozen=True)
class Int8WhitenedSVD(WhitenedSVD):
    """Whitened SVD with both factors stored in int8 (group-64 scales): about twice the rank at the same bytes."""

    kind = "quant-lowrank"
    layer = "tnq.mpo.remote_code:CompressedQuantLowRankLinear"

    def params_for_bytes(self, shape: tuple[int, int], max_bytes: int) -> int:
        return factor_params(max_bytes, 2)

    def fit(self, linear: nn.Linear, max_params: int, gram: np.ndarray | None = None) -> tuple[nn.Module, LayerReport]:
        import torch

        low_rank, _ = super().fit(linear, max_params, gram)
        layer = self.finish(low_rank)
        M = layer.second(torch.float64) @ layer.first(torch.float64)
        return layer, layer_report(linear, layer, M.numpy(), gram, [low_rank.rank])

    def to_float(self, module: nn.Module) -> nn.Module:
        import torch

        from ...mpo.linear import LowRankLinear

        return LowRankLinear(dequantised(module.first, torch.float32), dequantised(module.second, torch.float32),
                             bias_copy(module))

    def finish(self, module: nn.Module) -> nn.Module:
        from ...mpo.remote_code import CompressedQuantLowRankLinear

        layer = CompressedQuantLowRankLinear((module.out_features, module.in_features), module.rank, FACTOR_BITS,
                                             FACTOR_GROUP, module.bias is not None)
        layer.first, layer.second = (quantise(t, FACTOR_BITS, FACTOR_GROUP) for t in (module.first, module.second))
        layer.bias = bias_parameter(module)
        return layer

    @staticmethod
    def to_spec(module: nn.Module) -> dict[str, Any]:
        (rank, d_in), d_out = module.first.tensor_shape, module.second.tensor_shape[0]
        return with_saved_forms(module, {"kind": "quant-lowrank", "shape": [d_out, d_in], "rank": rank,
                                         "bits": module.first.bits, "group": module.first.group,
                                         "bias": module.bias is not None})

    from_spec = staticmethod(quantised_from_spec)

    @staticmethod
    def spec_size(spec: dict[str, Any]) -> int | None:
        if dims(spec.get("shape"), 2) and valid_quant_spec(spec, "rank"):
            (d_out, d_in), rank, bits, group = spec["shape"], spec["rank"], spec["bits"], spec["group"]
            return (quantised_size((rank, d_in), bits, group) + quantised_size((d_out, rank), bits, group)
                    + spec["bias"] * d_out)
        return None


@dataclass(frozen=True)
class Int8MPO(MPOMethod):
    """The MPO method with its cores stored in int8 (group-64 scales)."""

    kind = "quant-mpo"
    layer = "tnq.mpo.remote_code:CompressedQuantMPOLinear"

    def params_for_bytes(self, shape: tuple[int, int], max_bytes: int) -> int:
        return factor_params(max_bytes, self.cores)

    def fit(self, linear: nn.Linear, max_params: int, gram: np.ndarray | None = None) -> tuple[nn.Module, LayerReport]:
        mpo, report = super().fit(linear, max_params, gram)
        layer = self.finish(mpo)
        M = self.to_float(layer).to_mpo().to_matrix()
        quantised = layer_report(linear, layer, M, gram, report.chi)
        quantised.sites, quantised.site_errors = report.sites, report.site_errors
        return layer, quantised

    def to_float(self, module: nn.Module) -> nn.Module:
        import torch

        from ...mpo.linear import MPOLinear

        layer = MPOLinear.empty([c.tensor_shape for c in module.cores], bias=module.bias is not None,
                                dtype=torch.float32, allow_dense=module.allow_dense)
        with torch.no_grad():
            for core, q in zip(layer.cores, module.cores):
                core.copy_(q(torch.float32))
            if module.bias is not None:
                layer.bias.copy_(module.bias)
        return layer

    def finish(self, module: nn.Module) -> nn.Module:
        from ...mpo.remote_code import CompressedQuantMPOLinear

        shapes = [tuple(c.shape) for c in module.cores]
        layer = CompressedQuantMPOLinear(shapes, FACTOR_BITS, FACTOR_GROUP, module.bias is not None,
                                         module.allow_dense)
        for i, core in enumerate(module.cores):
            layer.cores[i] = quantise(core, FACTOR_BITS, FACTOR_GROUP)
        layer.bias = bias_parameter(module)
        return layer

    @staticmethod
    def to_spec(module: nn.Module) -> dict[str, Any]:
        first = module.cores[0]
        shapes = [list(c.tensor_shape) for c in module.cores]
        return with_saved_forms(module, {"kind": "quant-mpo", "core_shapes": shapes, "bits": first.bits,
                                         "group": first.group, "bias": module.bias is not None,
                                         "allow_dense": module.allow_dense})

    from_spec = staticmethod(quantised_from_spec)

    @staticmethod
    def spec_size(spec: dict[str, Any]) -> int | None:
        shapes = spec.get("core_shapes")
        if isinstance(shapes, list) and shapes and all(dims(s, 4) for s in shapes) and valid_quant_spec(spec):
            return (sum(quantised_size(s, spec["bits"], spec["group"]) for s in shapes)
                    + spec["bias"] * math.prod(s[1] for s in shapes))
        return None
