"""Cheapest way to apply an MPO to a batch of vectors without rebuilding the matrix: cores are grouped into
contiguous blocks (each block merged into one core, e.g. two factors) and the blocks are absorbed left to right
or right to left; every grouping and both directions are costed and the cheapest is used. Works for numpy and
torch alike through the ``einsum`` passed in (the contraction is differentiable in torch). With ``cached`` the
merging is free (the merged blocks are kept between calls, as an inference layer keeps them) and ``blocks`` fixes the
number of blocks (2: the MPO fused into two factors)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any, NamedTuple

Shape = tuple[int, int, int, int]  # (left bond, out dim, in dim, right bond)

MPO_FORMS = ("cores", "factors", "dense")
"""Forms of an MPO layer, from the least memory: core by core (or in merged blocks, the cheapest grouping), fused
into two factors (left cores merged, right cores merged), the whole matrix."""

LOW_RANK_FORMS = ("factors", "dense")
"""Forms of a low-rank layer: its two factors, or their product."""

QUANT_FORMS = ("dequantise", "dense")
"""Forms of a quantised layer, the most compact first: its integers dequantised at every call (run-time memory of
the integers), or its whole float weight kept between inference calls (the dense matrix's memory and speed)."""


def valid_forms(forms: Any, allowed: Sequence[str]) -> bool:
    """Whether ``forms`` is None or a non-empty list of [rows, form] pairs, rows positive integers in increasing
    order and each form one of ``allowed`` (a layer's ``forms`` as saved)."""
    if forms is None:
        return True
    if not isinstance(forms, list) or not forms or not all(
            isinstance(f, list) and len(f) == 2 and type(f[0]) is int and f[0] >= 1 and f[1] in allowed
            for f in forms):
        return False
    return all(a[0] < b[0] for a, b in zip(forms, forms[1:]))


class Plan(NamedTuple):
    """Blocks of cores ``[start, stop)`` to merge, sweep direction and the modelled cost (multiply-adds plus
    elements written, merging included)."""

    groups: tuple[tuple[int, int], ...]
    left_to_right: bool
    cost: float


def _merge_cost(shapes: Sequence[Shape]) -> tuple[Shape, float]:
    """Shape of the merged block and the cost of merging it core by core."""
    rl, o_acc, i_acc, r = shapes[0]
    cost = 0.0
    for _, o, i, r2 in shapes[1:]:
        cost += rl * o_acc * i_acc * r * o * i * r2 + rl * o_acc * o * i_acc * i * r2
        o_acc, i_acc, r = o_acc * o, i_acc * i, r2
    return (rl, o_acc, i_acc, r), cost


def _sweep_cost(blocks: Sequence[Shape], batch: int, left_to_right: bool) -> float:
    """Multiply-adds plus elements written when absorbing the blocks one by one in the given direction."""
    outs, ins = [b[1] for b in blocks], [b[2] for b in blocks]
    cost = 0.0
    for g, (rl, _, _, rr) in enumerate(blocks):
        if left_to_right:
            i_rest, o_done = math.prod(ins[g:]), math.prod(outs[:g + 1])
            cost += batch * i_rest * o_done * rl * rr + batch * (i_rest // ins[g]) * o_done * rr
        else:
            i_rest, o_done = math.prod(ins[:g + 1]), math.prod(outs[g:])
            cost += batch * i_rest * o_done * rl * rr + batch * (i_rest // ins[g]) * o_done * rl
    return cost


@lru_cache(maxsize=1024)
def plan_contraction(shapes: tuple[Shape, ...], batch: int, allow_dense: bool = False, cached: bool = False,
                     blocks: int | None = None) -> Plan:
    """Cheapest grouping and direction for applying cores of these shapes to ``batch`` vectors. A single block
    (rebuilding the whole matrix) is considered only with ``allow_dense`` or when there is one core. ``cached``:
    merging costs nothing (the blocks are merged once and kept); ``blocks``: only groupings into that many blocks
    (at most the number of cores)."""
    n = len(shapes)
    best: Plan | None = None
    for mask in range(2 ** (n - 1)):
        cuts = [k + 1 for k in range(n - 1) if mask >> k & 1]
        bounds = [0, *cuts, n]
        groups = tuple(zip(bounds[:-1], bounds[1:]))
        if (len(groups) == 1 and n > 1 and not allow_dense) or (blocks is not None and len(groups) != min(blocks, n)):
            continue
        merged = [_merge_cost(shapes[a:b]) for a, b in groups]
        merged_shapes, merge = [m[0] for m in merged], (0.0 if cached else sum(m[1] for m in merged))
        for ltr in (True, False):
            plan = Plan(groups, ltr, merge + _sweep_cost(merged_shapes, max(batch, 1), ltr))
            if best is None or plan.cost < best.cost:
                best = plan
    assert best is not None
    return best


def merge_cores(cores: Sequence[Any], einsum: Callable[..., Any]) -> Any:
    """Contract neighbouring cores (left, o, i, right) into one core (left, prod o, prod i, right)."""
    acc = cores[0]
    for core in cores[1:]:
        rl, o_acc, i_acc, _ = acc.shape
        _, o, i, r2 = core.shape
        acc = einsum("aOIr,roib->aOoIib", acc, core).reshape(rl, o_acc * o, i_acc * i, r2)
    return acc


def apply_cores(cores: Sequence[Any], x: Any, plan: Plan, einsum: Callable[..., Any]) -> Any:
    """``x @ W.T`` for ``x`` of shape (batch, d_in), ``W`` the matrix of ``cores``, following ``plan``."""
    blocks = [merge_cores(cores[a:b], einsum) for a, b in plan.groups]
    ins, outs = [b.shape[2] for b in blocks], [b.shape[1] for b in blocks]
    batch, d_out, m = x.shape[0], math.prod(outs), len(blocks)
    if plan.left_to_right:
        state, o_done = x.reshape(batch, ins[0], math.prod(ins[1:]), 1, 1), 1
        for g, block in enumerate(blocks):
            out = einsum("bijpr,roiq->bjpoq", state, block)  # (batch, rest of in, done out, o_g, right)
            o_done *= outs[g]
            if g + 1 < m:
                state = out.reshape(batch, ins[g + 1], math.prod(ins[g + 2:]), o_done, block.shape[3])
        return out.reshape(batch, d_out)
    state, o_done = x.reshape(batch, math.prod(ins[:-1]), ins[-1], 1, 1), 1
    for g in range(m - 1, -1, -1):
        block = blocks[g]
        out = einsum("bjipq,roiq->bjopr", state, block)  # (batch, rest of in, o_g, done out, left)
        o_done *= outs[g]
        if g > 0:
            state = out.reshape(batch, math.prod(ins[:g - 1]), ins[g - 1], o_done, block.shape[0])
    return out.reshape(batch, d_out)
