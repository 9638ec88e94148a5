"""Per-layer parameter (or byte) budgets from one global budget: a measured layer-sensitivity profile (loss
increase when one block alone is compressed) shifts parameters from robust layers to fragile ones, keeping the total
fixed."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..mpo.errors import MPOError
from ..progress import progress_bar
from .models import block_index, set_module
from .options import BUDGET_UNITS


@dataclass(frozen=True)
class Budget:
    """A compression target: ``fraction`` of the chosen layers' parameters (``unit='params'``) or of their bytes
    in float16 (``unit='bytes'``, each method counting its own bytes, scales included)."""

    fraction: float
    unit: str = "params"


def as_budget(budget: float | Budget) -> Budget:
    """``budget`` as a checked ``Budget`` (a plain number is a fraction of the parameters)."""
    chosen = budget if isinstance(budget, Budget) else Budget(budget)
    return Budget(check_budget(chosen.fraction, chosen.unit), chosen.unit)


def check_budget(budget: float, unit: str = "params") -> float:
    """``budget`` as a float in (0, 1]; ``MPOError`` for another value or an unknown ``unit``."""
    if unit not in BUDGET_UNITS:
        raise MPOError(f"budget_unit must be one of {', '.join(BUDGET_UNITS)}, got {unit!r}")
    what = "parameters" if unit == "params" else "bytes in float16"
    if isinstance(budget, bool) or not isinstance(budget, (int, float)) or not 0.0 < budget <= 1.0:
        raise MPOError(f"budget must be a fraction of the layers' {what} in (0, 1], got {budget!r}")
    return float(budget)


def allocate(sizes: Mapping[str, int], budget: float, sensitivity: Mapping[str, float] | None = None,
             strength: float = 0.5, floor: float = 0.1, ceiling: float = 1.0) -> dict[str, int]:
    """Parameters per layer: fraction f_i = clip(c * w_i, floor * budget, ceiling) of its ``sizes[i]`` with
    w_i = (sensitivity_i / mean)^strength (uniform without a profile) and c chosen by bisection so that
    sum f_i sizes_i = budget * sum sizes_i."""
    budget = check_budget(budget)
    names = list(sizes)
    if sensitivity is None:
        weights = np.ones(len(names))
    else:
        missing = [n for n in names if n not in sensitivity]
        if missing:
            raise MPOError(f"sensitivity profile has no value for layers {missing[:5]}")
        raw = np.array([max(float(sensitivity[n]), 0.0) for n in names]) + 1e-12
        weights = (raw / raw.mean()) ** strength
    size = np.array([sizes[n] for n in names], dtype=float)
    low, high = floor * budget, ceiling
    target = budget * size.sum()

    def used(c: float) -> float:
        return float((np.clip(c * weights, low, high) * size).sum())

    a, b = 0.0, 1.0
    while used(b) < target and b < 1e9:
        b *= 2
    for _ in range(100):
        mid = (a + b) / 2
        a, b = (mid, b) if used(mid) < target else (a, mid)
    fractions = np.clip(b * weights, low, high)
    return {n: max(1, int(f * s)) for n, f, s in zip(names, fractions, size)}


def groups_by_block(names: Sequence[str]) -> dict[str, list[str]]:
    """Layers grouped by block ('block 3'); layers outside numbered blocks form a group each."""
    groups: dict[str, list[str]] = {}
    for name in names:
        index = block_index(name)
        groups.setdefault(name if index is None else f"block {index}", []).append(name)
    return groups


def sensitivity_profile(model: nn.Module, names: Sequence[str], make_layer: Callable[[str], nn.Module],
                        loss: Callable[[nn.Module], float], progress: bool | None = None) -> dict[str, float]:
    """Loss increase ``loss(model with one block's layers replaced by make_layer(name)) - loss(model)`` per block,
    assigned to each layer of the block; the model is restored after each block."""
    base = loss(model)
    profile: dict[str, float] = {}
    for _group, members in progress_bar(list(groups_by_block(names).items()), progress, "sensitivity"):
        originals = {n: model.get_submodule(n) for n in members}
        try:
            for n in members:
                set_module(model, n, make_layer(n))
            with torch.no_grad():
                value = loss(model) - base
        finally:
            for n, m in originals.items():
                set_module(model, n, m)
        for n in members:
            profile[n] = value if math.isfinite(value) else 1e6
    return profile
