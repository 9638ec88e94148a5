"""Modeling code of a transformers model compressed by tnq: low-rank and MPO (tensor-train) replacements for
linear layers, and quantised ones (weights, low-rank factors or MPO cores stored as 8- or 4-bit integers with
float16 group scales, run by dequantising then multiplying: simple and exact, not a fast integer kernel; in their
``dequantise`` form at every call, in their ``dense`` form once, the float weight kept between calls).
``tnq compress`` copies this file unchanged into the saved folder as ``modeling_tnq_compressed.py``
and appends two classes naming the original config and model classes, so that
``AutoModelForCausalLM.from_pretrained(folder, trust_remote_code=True)`` (``AutoModel`` for encoders) rebuilds the
compressed model without tnq. It imports only torch, transformers and ``plan.py`` (copied beside it; standard
library only) and reads no file: the config's ``tnq_compressed_layers`` maps each replaced linear's name to its
shapes, ``tnq_removed_modules`` lists submodules the saved model did not have, and the weights come from the
folder's safetensors as usual.

An MPO weight is a chain of cores (left bond, out_k, in_k, right bond), applied in one of three forms: core by core
(or in merged blocks: the cheapest grouping by multiply-adds, ``plan_contraction`` in ``plan.py``), fused into two
factors (left cores merged, right cores merged), or as the whole matrix; a low-rank layer as its two factors or as
their product. The layer's ``forms`` (from its config entry, measured on the machine that compressed it) name the
form for each number of input rows; without them the multiply-add count decides. At inference (no gradient needed)
the merged blocks or the matrix are built once and kept until a weight changes (``Derived``); with gradients the
cores are contracted afresh every call. tnq's own ``MPOLinear`` and ``LowRankLinear`` use the same functions."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from .plan import QUANT_FORMS, Plan, plan_contraction


def merge_block(cores: Sequence[torch.Tensor]) -> torch.Tensor:
    """Neighbouring cores (left, o, i, right) contracted into one (left, prod o, prod i, right)."""
    acc = cores[0]
    for core in cores[1:]:
        rl, o_acc, i_acc, r = acc.shape
        _, o, i, r2 = core.shape
        pair = (acc.reshape(-1, r) @ core.reshape(r, -1)).reshape(rl, o_acc, i_acc, o, i, r2)
        acc = pair.permute(0, 1, 3, 2, 4, 5).reshape(rl, o_acc * o, i_acc * i, r2)
    return acc


def form_at(forms: Sequence[Sequence[Any]] | None, rows: int) -> str | None:
    """The form ``forms`` (pairs [rows, form] by rows) gives the row count nearest to ``rows`` by ratio (the smaller
    on a tie); None without forms."""
    if not forms:
        return None
    return min(forms, key=lambda f: abs(math.log(max(rows, 1) / f[0])))[1]


def needs_grad(params: Sequence[torch.Tensor]) -> bool:
    """Whether this call must be differentiable in ``params`` (then nothing derived from them may be reused)."""
    return torch.is_grad_enabled() and any(p.requires_grad for p in params)


def parameters_of(module: nn.Module, *names: str) -> list[torch.Tensor | None]:
    """``module``'s parameters of these names (None for a missing one), or with no names those of its
    ``ParameterList`` ``cores`` in order; read from the module's dictionaries directly, because
    ``nn.Module.__getattr__`` costs about a microsecond per attribute, as much as a small layer's product at one
    row."""
    if not names:
        return list(module._modules["cores"]._parameters.values())
    return [module._parameters.get(name, module.__dict__.get(name)) for name in names]


class Derived:
    """What a layer computes once for inference and keeps until a parameter changes (in place: ``load_state_dict``,
    an edit under ``no_grad``; or by being replaced or moved), its forms do, or a call needs gradients (training:
    fused optimisers update parameters without marking them changed): ``values`` (merged blocks, the whole matrix)
    and ``steps`` (how to run a call of so many rows)."""

    def __init__(self) -> None:
        self.params: tuple[torch.Tensor, ...] = ()
        self.stamp: list[tuple[int, int]] = []
        self.forms: Any = None
        self.values: dict[Any, Any] = {}
        self.steps: dict[int, Any] = {}

    def check(self, params: Sequence[torch.Tensor], forms: Any) -> dict[int, Any]:
        """``steps``, emptied together with ``values`` when a parameter or the forms have changed since the last
        call. A parameter changes when its version or its memory does (the last ones seen are held, so their memory
        is not reused); as for autograd, edits through ``.data`` go unseen."""
        stamp = [(p._version, p.data_ptr()) for p in params]
        if stamp != self.stamp or forms is not self.forms:
            self.params, self.stamp, self.forms, self.values, self.steps = tuple(params), stamp, forms, {}, {}
        elif len(self.steps) > 64:  # many different row counts: keep the memo small
            self.steps.clear()
        return self.steps

    def clear(self) -> None:
        """Forget everything kept (the next inference call builds it again)."""
        self.params, self.stamp, self.values, self.steps = (), [], {}, {}

    def value(self, key: Any, build: Any) -> Any:
        """The value ``build()`` made under ``key`` (without gradients or autocast, in the parameters' dtype) since
        the last change."""
        value = self.values.get(key)
        if value is None:
            device = self.params[0].device.type if self.params else "cpu"
            with torch.inference_mode(False), torch.no_grad(), torch.autocast(device, enabled=False):
                value = self.values[key] = build()
        return value


def block_shapes(shapes: Sequence[Sequence[int]], plan: Plan) -> list[tuple[int, int, int, int]]:
    """(left, out, in, right) of each merged block of ``plan``."""
    return [(shapes[a][0], math.prod(s[1] for s in shapes[a:b]), math.prod(s[2] for s in shapes[a:b]),
             shapes[b - 1][3]) for a, b in plan.groups]


def operands(cores: Sequence[torch.Tensor], plan: Plan) -> list[torch.Tensor]:
    """The matrices ``apply_operands`` multiplies by: each merged block laid out for its step of the sweep (the
    whole matrix, d_out x d_in, when the plan is one block)."""
    blocks = [merge_block(cores[a:b]) for a, b in plan.groups]
    if len(blocks) == 1:
        return [blocks[0].reshape(blocks[0].shape[1], blocks[0].shape[2])]
    if plan.left_to_right:
        return [b.permute(2, 0, 1, 3).reshape(b.shape[2] * b.shape[0], b.shape[1] * b.shape[3]) for b in blocks]
    return [b.permute(2, 3, 1, 0).reshape(b.shape[2] * b.shape[3], b.shape[1] * b.shape[0]) for b in blocks]


def apply_operands(x: torch.Tensor, blocks: Sequence[Sequence[int]], mats: Sequence[torch.Tensor],
                   left_to_right: bool) -> torch.Tensor:
    """``x @ W.T`` for ``x`` of shape (batch, d_in) from the blocks' shapes and ``operands``: one matrix product
    per block."""
    batch = x.shape[0]
    if len(mats) == 1:
        return nn.functional.linear(x, mats[0])
    ins, outs = [b[2] for b in blocks], [b[1] for b in blocks]
    if left_to_right:  # state (batch, in_g, rest of in, done out, bond); outs accumulate most significant first
        state, done = x.reshape(batch, ins[0], -1, 1, 1), 1
        for g, ((rl, o, i, rr), mat) in enumerate(zip(blocks, mats)):
            rest = state.shape[2]
            state = state.permute(0, 2, 3, 1, 4).reshape(-1, i * rl) @ mat  # (batch, rest, done, o, rr)
            done *= o
            if g + 1 < len(blocks):
                state = state.reshape(batch, ins[g + 1], rest // ins[g + 1], done, rr)
        return state.reshape(batch, done)
    # right to left: state (batch, rest of in, in_g, done out, bond); outs accumulate least significant first
    state, done = x.reshape(batch, -1, ins[-1], 1, 1), 1
    for g in range(len(blocks) - 1, -1, -1):
        rl, o, i, rr = blocks[g]
        rest = state.shape[1]
        state = state.permute(0, 1, 3, 2, 4).reshape(-1, i * rr) @ mats[g]  # (batch, rest, done, o, rl)
        done *= o
        if g > 0:
            state = state.reshape(batch, rest // ins[g - 1], ins[g - 1], done, rl)
    return state.reshape(batch, *outs[::-1]).permute(0, *range(len(outs), 0, -1)).reshape(batch, done)


def is_low_rank(blocks: Sequence[Sequence[int]], plan: Plan) -> bool:
    """Whether the blocks are the two-site low-rank MPO (1, d_out, 1, chi), (chi, 1, d_in, 1) swept right to left:
    then ``operands`` are the two factors, d_in x chi and chi x d_out, and x times them is the whole product."""
    return (len(blocks) == 2 and not plan.left_to_right and blocks[0][0] == blocks[0][2] == 1
            and blocks[1][1] == blocks[1][3] == 1)


def form_plan(shapes: tuple[tuple[int, int, int, int], ...], rows: int, form: str | None, allow_dense: bool) -> Plan:
    """The plan of an MPO ``form`` (``plan.MPO_FORMS``) for ``rows`` input rows with the blocks kept between calls;
    without a form, the cheapest by multiply-adds (the whole matrix only with ``allow_dense``)."""
    if form == "dense":
        return Plan(((0, len(shapes)),), True, 0.0)
    if form in ("cores", "factors"):
        return plan_contraction(shapes, rows, False, True, 2 if form == "factors" else None)
    return plan_contraction(shapes, rows, allow_dense, True)


def mpo_forward(cores: Sequence[torch.Tensor], x: torch.Tensor, bias: torch.Tensor | None, allow_dense: bool,
                forms: Sequence[Sequence[Any]] | None = None, derived: Derived | None = None) -> torch.Tensor:
    """``x @ W.T + bias`` over the last axis of ``x`` for ``W`` the matrix of ``cores``: in the form ``forms`` give
    for this many rows (``form_plan``) with the merged blocks kept in ``derived`` when no gradient is needed, else
    in the cheapest order by multiply-adds, merging included."""
    d_in = x.shape[-1]
    rows = x.numel() // d_in if d_in else 0
    if derived is None or needs_grad(cores):
        if derived is not None and derived.values:
            derived.clear()
        shapes = tuple(tuple(c.shape) for c in cores)
        plan = plan_contraction(shapes, rows, allow_dense)
        step = plan, operands(cores, plan), block_shapes(shapes, plan)
    else:
        steps = derived.check(cores, forms)
        step = steps.get(rows)
        if step is None:
            shapes = tuple(tuple(c.shape) for c in cores)
            plan = form_plan(shapes, rows, form_at(forms, rows), allow_dense)
            key = plan.groups if len(plan.groups) == 1 else plan[:2]
            step = steps[rows] = plan, derived.value(key, lambda: operands(cores, plan)), block_shapes(shapes, plan)
    plan, mats, blocks = step
    if len(mats) == 1:
        return nn.functional.linear(x, mats[0], bias)
    if is_low_rank(blocks, plan):  # sites (d_out x 1 | 1 x d_in): two matrix products, as low-rank factors run
        y = x @ mats[1] @ mats[0]
        return y if bias is None else y + bias
    y = apply_operands(x.reshape(rows, d_in), blocks, mats, plan.left_to_right)
    y = y.reshape(*x.shape[:-1], math.prod(b[1] for b in blocks))
    return y if bias is None else y + bias


def low_rank_forward(first: torch.Tensor, second: torch.Tensor, x: torch.Tensor, bias: torch.Tensor | None,
                     forms: Sequence[Sequence[Any]] | None = None, derived: Derived | None = None) -> torch.Tensor:
    """``x @ (second @ first).T + bias``: by the two factors, or (the form ``forms`` give for this many rows, or
    without forms when it costs fewer multiply-adds) by their product kept in ``derived`` when no gradient is
    needed."""
    if derived is not None and not needs_grad((first, second)):
        steps, rows = derived.check((first, second), forms), x.numel() // first.shape[1]
        form = steps.get(rows)
        if form is None:
            (rank, d_in), d_out = first.shape, second.shape[0]
            cheaper = "dense" if d_out * d_in < rank * (d_out + d_in) else "factors"
            form = steps[rows] = form_at(forms, rows) or cheaper
        if form == "dense":
            return nn.functional.linear(x, derived.value("dense", lambda: second @ first), bias)
    elif derived is not None and derived.values:
        derived.clear()
    return nn.functional.linear(nn.functional.linear(x, first), second, bias)


class CompressedMPOLinear(nn.Module):
    """An ``nn.Linear`` whose weight is a chain of MPO cores (left, o_k, i_k, right), created empty from shapes;
    ``forms``: pairs [rows, form] (``plan.MPO_FORMS``)."""

    def __init__(self, core_shapes: Sequence[Sequence[int]], bias: bool, allow_dense: bool = True,
                 forms: Sequence[Sequence[Any]] | None = None) -> None:
        super().__init__()
        self.cores = nn.ParameterList(nn.Parameter(torch.empty(*shape)) for shape in core_shapes)
        self.bias = nn.Parameter(torch.empty(math.prod(s[1] for s in core_shapes))) if bias else None
        self.allow_dense, self.forms, self.derived = allow_dense, forms, Derived()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = parameters_of(self, "bias")[0]
        return mpo_forward(parameters_of(self), x, bias, self.allow_dense, self.forms, self.derived)


class CompressedLowRankLinear(nn.Module):
    """An ``nn.Linear`` whose weight is ``second @ first`` (d_out x rank, rank x d_in), created empty; ``forms``:
    pairs [rows, form] (``plan.LOW_RANK_FORMS``)."""

    def __init__(self, shape: Sequence[int], rank: int, bias: bool,
                 forms: Sequence[Sequence[Any]] | None = None) -> None:
        super().__init__()
        d_out, d_in = shape
        self.first = nn.Parameter(torch.empty(rank, d_in))
        self.second = nn.Parameter(torch.empty(d_out, rank))
        self.bias = nn.Parameter(torch.empty(d_out)) if bias else None
        self.forms, self.derived = forms, Derived()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return low_rank_forward(*parameters_of(self, "first", "second"), x, parameters_of(self, "bias")[0],
                                self.forms, self.derived)


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


class QuantForms(nn.Module):
    """Base of the quantised layers: ``forms`` ([rows, form] pairs, ``QUANT_FORMS``; None: dequantise every call)
    and the weight kept for the ``dense`` form until the stored integers change."""

    FORMS = QUANT_FORMS

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[list[Any]] | None = None
        self.derived = Derived()

    def kept(self, x: torch.Tensor) -> torch.Tensor | None:
        """The whole weight in ``x``'s dtype, kept between calls, when the form for ``x``'s rows is ``dense``."""
        if form_at(self.forms, x.numel() // x.shape[-1]) != "dense":
            return None
        self.derived.check(list(self.buffers()), self.forms)
        return self.derived.value(("dense", x.dtype), lambda: self.weight(x.dtype))

    def weight(self, dtype: torch.dtype) -> torch.Tensor:
        """The whole (d_out, d_in) float weight."""
        raise NotImplementedError


class CompressedQuantLinear(QuantForms):
    """An ``nn.Linear`` whose weight is quantised, run by dequantising the weight then one matrix product."""

    def __init__(self, shape: Sequence[int], bits: int, group: int, bias: bool) -> None:
        super().__init__()
        self.weight_q = QuantisedTensor(shape, bits, group)
        self.bias = nn.Parameter(torch.empty(shape[0])) if bias else None

    def weight(self, dtype: torch.dtype) -> torch.Tensor:
        return self.weight_q(dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kept = self.kept(x)
        return nn.functional.linear(x, self.weight_q(x.dtype) if kept is None else kept, self.bias)


class CompressedQuantLowRankLinear(QuantForms):
    """``CompressedLowRankLinear`` with quantised factors (dequantised, then the two matrix products)."""

    def __init__(self, shape: Sequence[int], rank: int, bits: int, group: int, bias: bool) -> None:
        super().__init__()
        d_out, d_in = shape
        self.first = QuantisedTensor((rank, d_in), bits, group)
        self.second = QuantisedTensor((d_out, rank), bits, group)
        self.bias = nn.Parameter(torch.empty(d_out)) if bias else None

    def weight(self, dtype: torch.dtype) -> torch.Tensor:
        return self.second(dtype) @ self.first(dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kept = self.kept(x)
        if kept is not None:
            return nn.functional.linear(x, kept, self.bias)
        y = (x @ self.first(x.dtype).T) @ self.second(x.dtype).T
        return y if self.bias is None else y + self.bias


class CompressedQuantMPOLinear(QuantForms):
    """``CompressedMPOLinear`` with quantised cores (dequantised, then contracted as an MPO)."""

    def __init__(self, core_shapes: Sequence[Sequence[int]], bits: int, group: int, bias: bool,
                 allow_dense: bool = True) -> None:
        super().__init__()
        self.cores = nn.ModuleList(QuantisedTensor(shape, bits, group) for shape in core_shapes)
        self.bias = nn.Parameter(torch.empty(math.prod(s[1] for s in core_shapes))) if bias else None
        self.allow_dense = allow_dense

    def weight(self, dtype: torch.dtype) -> torch.Tensor:
        block = merge_block([core(dtype) for core in self.cores])
        return block.reshape(block.shape[1], block.shape[2])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kept = self.kept(x)
        if kept is not None:
            return nn.functional.linear(x, kept, self.bias)
        return mpo_forward([core(x.dtype) for core in self.cores], x, self.bias, self.allow_dense)


def compressed_layer(spec: dict[str, Any]) -> nn.Module:
    """An empty layer from its ``tnq_compressed_layers`` entry."""
    if spec["kind"] == "mpo":
        return CompressedMPOLinear(spec["core_shapes"], spec["bias"], spec.get("allow_dense", True), spec.get("forms"))
    if spec["kind"] == "lowrank":
        return CompressedLowRankLinear(spec["shape"], spec["rank"], spec["bias"], spec.get("forms"))
    if spec["kind"] in QUANT_KINDS:
        return with_forms(quant_layer(spec), spec.get("forms"))
    raise ValueError(f"unknown compressed layer kind {spec['kind']!r}")


QUANT_KINDS = ("quant", "quant-lowrank", "quant-mpo", "quant+lowrank")


def with_forms(layer: QuantForms, forms: list[list[Any]] | None) -> QuantForms:
    """``layer`` set to run in ``forms`` (None: dequantise at every call)."""
    layer.forms = forms
    return layer


def quant_layer(spec: dict[str, Any]) -> QuantForms:
    """An empty quantised layer from its ``tnq_compressed_layers`` entry (forms aside)."""
    if spec["kind"] == "quant":
        return CompressedQuantLinear(spec["shape"], spec["bits"], spec["group"], spec["bias"])
    if spec["kind"] == "quant-lowrank":
        return CompressedQuantLowRankLinear(spec["shape"], spec["rank"], spec["bits"], spec["group"], spec["bias"])
    if spec["kind"] == "quant-mpo":
        return CompressedQuantMPOLinear(spec["core_shapes"], spec["bits"], spec["group"], spec["bias"],
                                        spec.get("allow_dense", True))
    if spec["kind"] == "quant+lowrank":
        return CompressedQuantPlusLowRankLinear(spec["shape"], spec["rank"], spec["bits"], spec["group"],
                                                spec["factor_bits"], spec["factor_group"], spec["bias"])
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


class CompressedQuantPlusLowRankLinear(QuantForms):
    """A quantised weight plus a low-rank term with quantised factors: ``x W_q^T + (x first^T) second^T``."""

    def __init__(self, shape: Sequence[int], rank: int, bits: int, group: int, factor_bits: int, factor_group: int,
                 bias: bool) -> None:
        super().__init__()
        d_out, d_in = shape
        self.weight_q = QuantisedTensor((d_out, d_in), bits, group)
        self.first = QuantisedTensor((rank, d_in), factor_bits, factor_group)
        self.second = QuantisedTensor((d_out, rank), factor_bits, factor_group)
        self.bias = nn.Parameter(torch.empty(d_out)) if bias else None

    def weight(self, dtype: torch.dtype) -> torch.Tensor:
        return self.weight_q(dtype) + self.second(dtype) @ self.first(dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kept = self.kept(x)
        if kept is not None:
            return nn.functional.linear(x, kept, self.bias)
        y = nn.functional.linear(x, self.weight_q(x.dtype), self.bias)
        return y + (x @ self.first(x.dtype).T) @ self.second(x.dtype).T
