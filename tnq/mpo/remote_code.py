"""Modeling code of a transformers model compressed by tnq: low-rank and MPO (tensor-train) replacements for
linear layers, and quantised ones (weights, low-rank factors or MPO cores stored as 8- or 4-bit integers with
float16 group scales, run by dequantising then multiplying: simple and exact, not a fast integer kernel).
``tnq compress`` copies this file unchanged into the saved folder as ``modeling_tnq_compressed.py``
and appends two classes naming the original config and model classes, so that
``AutoModelForCausalLM.from_pretrained(folder, trust_remote_code=True)`` (``AutoModel`` for encoders) rebuilds the
compressed model without tnq. It imports only torch, transformers and ``plan.py`` (copied beside it; standard
library only) and reads no file: the config's ``tnq_compressed_layers`` maps each replaced linear's name to its
shapes, ``tnq_removed_modules`` lists submodules the saved model did not have, and the weights come from the
folder's safetensors as usual.

An MPO weight is a chain of cores (left bond, out_k, in_k, right bond). ``plan_contraction`` (``plan.py``) picks,
by counting multiply-adds from the core shapes and the number of input rows (cached per shape), how to apply them:
core by core, merged into blocks first (two blocks: a pair of factors), or merged into the whole matrix for one
matrix product; ``contract`` carries the plan out with one matrix product per block. tnq's own ``MPOLinear`` uses
the same functions."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from .plan import Plan, plan_contraction


def merge_block(cores: Sequence[torch.Tensor]) -> torch.Tensor:
    """Neighbouring cores (left, o, i, right) contracted into one (left, prod o, prod i, right)."""
    acc = cores[0]
    for core in cores[1:]:
        rl, o_acc, i_acc, r = acc.shape
        _, o, i, r2 = core.shape
        pair = (acc.reshape(-1, r) @ core.reshape(r, -1)).reshape(rl, o_acc, i_acc, o, i, r2)
        acc = pair.permute(0, 1, 3, 2, 4, 5).reshape(rl, o_acc * o, i_acc * i, r2)
    return acc


def contract(cores: Sequence[torch.Tensor], x: torch.Tensor, plan: Plan) -> torch.Tensor:
    """``x @ W.T`` for ``x`` of shape (batch, d_in) and ``W`` the matrix of ``cores``, following ``plan``: each
    block is absorbed by one matrix product (the whole matrix, when it is one block, by ``x @ W.T``)."""
    blocks = [merge_block(cores[a:b]) for a, b in plan.groups]
    batch = x.shape[0]
    if len(blocks) == 1:
        block = blocks[0]
        return x @ block.reshape(block.shape[1], block.shape[2]).T
    ins, outs = [b.shape[2] for b in blocks], [b.shape[1] for b in blocks]
    if plan.left_to_right:  # state (batch, in_g, rest of in, done out, bond); outs accumulate most significant first
        state, done = x.reshape(batch, ins[0], -1, 1, 1), 1
        for g, block in enumerate(blocks):
            rl, o, i, rr = block.shape
            rest = state.shape[2]
            flat = state.permute(0, 2, 3, 1, 4).reshape(-1, i * rl)
            state = flat @ block.permute(2, 0, 1, 3).reshape(i * rl, o * rr)  # (batch, rest, done, o, rr)
            done *= o
            if g + 1 < len(blocks):
                state = state.reshape(batch, ins[g + 1], rest // ins[g + 1], done, rr)
        return state.reshape(batch, done)
    # right to left: state (batch, rest of in, in_g, done out, bond); outs accumulate least significant first
    state, done = x.reshape(batch, -1, ins[-1], 1, 1), 1
    for g in range(len(blocks) - 1, -1, -1):
        rl, o, i, rr = blocks[g].shape
        rest = state.shape[1]
        flat = state.permute(0, 1, 3, 2, 4).reshape(-1, i * rr)
        state = flat @ blocks[g].permute(2, 3, 1, 0).reshape(i * rr, o * rl)  # (batch, rest, done, o, rl)
        done *= o
        if g > 0:
            state = state.reshape(batch, rest // ins[g - 1], ins[g - 1], done, rl)
    return state.reshape(batch, *outs[::-1]).permute(0, *range(len(outs), 0, -1)).reshape(batch, done)


def mpo_forward(cores: Sequence[torch.Tensor], x: torch.Tensor, bias: torch.Tensor | None,
                allow_dense: bool) -> torch.Tensor:
    """``x @ W.T + bias`` over the last axis of ``x`` for ``W`` the matrix of ``cores``, in the cheapest order."""
    shapes = tuple(tuple(c.shape) for c in cores)
    d_in, d_out = math.prod(s[2] for s in shapes), math.prod(s[1] for s in shapes)
    flat = x.reshape(-1, d_in)
    y = contract(cores, flat, plan_contraction(shapes, flat.shape[0], allow_dense)).reshape(*x.shape[:-1], d_out)
    return y if bias is None else y + bias


class CompressedMPOLinear(nn.Module):
    """An ``nn.Linear`` whose weight is a chain of MPO cores (left, o_k, i_k, right), created empty from shapes."""

    def __init__(self, core_shapes: Sequence[Sequence[int]], bias: bool, allow_dense: bool = True) -> None:
        super().__init__()
        self.cores = nn.ParameterList(nn.Parameter(torch.empty(*shape)) for shape in core_shapes)
        self.bias = nn.Parameter(torch.empty(math.prod(s[1] for s in core_shapes))) if bias else None
        self.allow_dense = allow_dense

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return mpo_forward(list(self.cores), x, self.bias, self.allow_dense)


class CompressedLowRankLinear(nn.Module):
    """An ``nn.Linear`` whose weight is ``second @ first`` (d_out x rank, rank x d_in), created empty."""

    def __init__(self, shape: Sequence[int], rank: int, bias: bool) -> None:
        super().__init__()
        d_out, d_in = shape
        self.first = nn.Parameter(torch.empty(rank, d_in))
        self.second = nn.Parameter(torch.empty(d_out, rank))
        self.bias = nn.Parameter(torch.empty(d_out)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = (x @ self.first.T) @ self.second.T
        return y if self.bias is None else y + self.bias


def dequantise(data: torch.Tensor, scales: torch.Tensor, bits: int, group: int, count: int) -> torch.Tensor:
    """The ``count`` flat values of a quantised tensor: ``data`` holds one signed integer per value (8 bits: int8)
    or two per byte (4 bits: value + 8 in the low then the high nibble); each run of ``group`` values shares one
    scale (the last run may be shorter)."""
    if bits == 4:
        data = torch.stack([data & 15, data >> 4], dim=-1).reshape(-1).to(torch.int8) - 8
    values = nn.functional.pad(data[:count].to(torch.float32), (0, scales.numel() * group - count))
    return (values.reshape(-1, group) * scales.to(torch.float32)[:, None]).reshape(-1)[:count]


class QuantisedTensor(nn.Module):
    """A tensor stored as ``bits``-bit integers (round-to-nearest, symmetric) with one float16 scale per ``group``
    consecutive values (row-major); calling it gives the dequantised tensor."""

    def __init__(self, shape: Sequence[int], bits: int, group: int) -> None:
        super().__init__()
        self.tensor_shape, self.bits, self.group = tuple(shape), bits, group
        count = math.prod(shape)
        self.register_buffer("data", torch.zeros(count if bits == 8 else -(-count // 2),
                                                 dtype=torch.int8 if bits == 8 else torch.uint8))
        self.register_buffer("scales", torch.zeros(-(-count // group), dtype=torch.float16))

    def forward(self, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        count = math.prod(self.tensor_shape)
        return dequantise(self.data, self.scales, self.bits, self.group, count).reshape(self.tensor_shape).to(dtype)


class CompressedQuantLinear(nn.Module):
    """An ``nn.Linear`` whose weight is quantised, run by dequantising the weight then one matrix product."""

    def __init__(self, shape: Sequence[int], bits: int, group: int, bias: bool) -> None:
        super().__init__()
        self.weight_q = QuantisedTensor(shape, bits, group)
        self.bias = nn.Parameter(torch.empty(shape[0])) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.linear(x, self.weight_q(x.dtype), self.bias)


class CompressedQuantLowRankLinear(nn.Module):
    """``CompressedLowRankLinear`` with quantised factors (dequantised, then the two matrix products)."""

    def __init__(self, shape: Sequence[int], rank: int, bits: int, group: int, bias: bool) -> None:
        super().__init__()
        d_out, d_in = shape
        self.first = QuantisedTensor((rank, d_in), bits, group)
        self.second = QuantisedTensor((d_out, rank), bits, group)
        self.bias = nn.Parameter(torch.empty(d_out)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = (x @ self.first(x.dtype).T) @ self.second(x.dtype).T
        return y if self.bias is None else y + self.bias


class CompressedQuantMPOLinear(nn.Module):
    """``CompressedMPOLinear`` with quantised cores (dequantised, then contracted as an MPO)."""

    def __init__(self, core_shapes: Sequence[Sequence[int]], bits: int, group: int, bias: bool,
                 allow_dense: bool = True) -> None:
        super().__init__()
        self.cores = nn.ModuleList(QuantisedTensor(shape, bits, group) for shape in core_shapes)
        self.bias = nn.Parameter(torch.empty(math.prod(s[1] for s in core_shapes))) if bias else None
        self.allow_dense = allow_dense

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return mpo_forward([core(x.dtype) for core in self.cores], x, self.bias, self.allow_dense)


def compressed_layer(spec: dict[str, Any]) -> nn.Module:
    """An empty layer from its ``tnq_compressed_layers`` entry."""
    if spec["kind"] == "mpo":
        return CompressedMPOLinear(spec["core_shapes"], spec["bias"], spec.get("allow_dense", True))
    if spec["kind"] == "lowrank":
        return CompressedLowRankLinear(spec["shape"], spec["rank"], spec["bias"])
    if spec["kind"] == "quant":
        return CompressedQuantLinear(spec["shape"], spec["bits"], spec["group"], spec["bias"])
    if spec["kind"] == "quant-lowrank":
        return CompressedQuantLowRankLinear(spec["shape"], spec["rank"], spec["bits"], spec["group"], spec["bias"])
    if spec["kind"] == "quant-mpo":
        return CompressedQuantMPOLinear(spec["core_shapes"], spec["bits"], spec["group"], spec["bias"],
                                        spec.get("allow_dense", True))
    raise ValueError(f"unknown compressed layer kind {spec['kind']!r}")


class CompressedConfigMixin:
    """Config of a compressed model: the original config plus ``tnq_compressed_layers`` and
    ``tnq_removed_modules``."""

    def __init__(self, tnq_compressed_layers: dict[str, Any] | None = None,
                 tnq_removed_modules: list[str] | None = None, **kwargs: Any) -> None:
        self.tnq_compressed_layers = dict(tnq_compressed_layers or {})
        self.tnq_removed_modules = list(tnq_removed_modules or [])
        super().__init__(**kwargs)


class CompressedModelMixin:
    """The original model with its recorded linears replaced by empty compressed layers after it is built."""

    def __init__(self, config: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(config, *args, **kwargs)
        for name in config.tnq_removed_modules:
            parent, _, child = name.rpartition(".")
            setattr(self.get_submodule(parent), child, None)
        for name, spec in config.tnq_compressed_layers.items():
            parent, _, child = name.rpartition(".")
            setattr(self.get_submodule(parent), child, compressed_layer(spec))


# The saved copy of this file ends with the classes of the compressed model, for example
#     from transformers import LlamaConfig, LlamaForCausalLM
#     class TnqCompressedConfig(CompressedConfigMixin, LlamaConfig): model_type = "tnq_compressed_llama"
#     class TnqCompressedModel(CompressedModelMixin, LlamaForCausalLM): config_class = TnqCompressedConfig
