"""Sequential (error-correcting) calibration: compress layers in forward order, each fitted to the inputs it
receives from the layers already compressed, so that a layer can undo part of the error upstream.

For a layer W whose original inputs are X_o and whose inputs in the partly compressed model are X_c (rows are
tokens), the replacement M minimises ||X_o W^T - X_c M^T||^2 + r ||W - M||^2: restore the original outputs from
the inputs the layer now gets, with a ridge r (``ridge`` x the mean diagonal of X_c^T X_c) that keeps M near W
where the calibration text says little. With G = X_c^T X_c + r I and K = X_o^T X_c + r I that is ||(W* - M) S||^2
plus a constant, for W* = W K G^-1 and S S^T = G: the usual activation-aware fit (whitened SVD or MPO ALS) of the
corrected target W* in the Gram matrix G. On SmolLM2 at 50% this took whitened SVD from perplexity 341 to 196
before healing (ridge 0.1; 0.01: 223, 0.3: 202; an anchor on the original inputs instead of the ridge: 206-230),
but healing erases the lead: after 15 minutes both reach 68-69 (benchmarks/mpo_compress.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from ..memory import default_budget, format_bytes
from ..mpo.errors import MPOError
from ..progress import progress_bar
from .fit import SharedInputs, run_batch
from .options import SEQUENTIAL_RIDGE


class StopForward(Exception):
    """Raised by a hook to end a forward pass once the inputs it needs are recorded."""


def _run(model: nn.Module, batch: Any) -> None:
    try:
        run_batch(model, batch)
    except StopForward:
        pass


def _record_inputs(model: nn.Module, names: Sequence[str], batches: Sequence[Any],
                   unchanged: Callable[[str], bool]) -> tuple[list[list[str]], dict[str, list[torch.Tensor]]]:
    """Forward ``batches`` through ``model`` once: the stages (names grouped by the input tensor they share, in
    the order the model first uses them, see ``fit.SharedInputs``) and each stage's inputs per batch (float32,
    tokens x d_in), kept only for stages with a layer that is not ``unchanged``."""
    inputs: dict[str, list[torch.Tensor]] = {}
    sharing = SharedInputs()
    needed: set[str] | None = None  # stages with a layer to change: known once the first pass taught the groups

    def hook(name: str) -> Any:
        def record(_module: nn.Module, args: tuple[torch.Tensor, ...]) -> None:
            x = args[0]
            if sharing.owner(name, x) == name and (needed is None or name in needed):
                inputs.setdefault(name, []).append(x.detach().reshape(-1, x.shape[-1]).float().clone())
        return record

    handles = [model.get_submodule(n).register_forward_pre_hook(hook(n)) for n in names]
    try:
        with torch.no_grad():
            for index, batch in enumerate(batches):
                _run(model, batch)
                sharing.end_batch()
                if index == 0:
                    needed = {g[0] for g in sharing.groups if not all(unchanged(n) for n in g)}
                    for head in set(inputs) - needed:
                        inputs[head] = []
                    _check_memory(sum(x[0].numel() * x[0].element_size() for x in inputs.values() if x),
                                  len(batches))
    finally:
        for h in handles:
            h.remove()
    missing = [n for n in names if not any(n in g for g in sharing.groups)]
    if missing:
        raise MPOError(f"sequential calibration: the calibration text never reached {', '.join(missing[:5])}")
    return sharing.groups, inputs


def _check_memory(batch_bytes: int, n_batches: int) -> None:
    """Refuse, after the first batch, to keep inputs that would not fit in 80% of the free memory."""
    needed, budget = batch_bytes * n_batches, default_budget()
    if needed > budget:
        raise MPOError(f"sequential calibration keeps the original inputs of every layer: about "
                       f"{format_bytes(needed)} for {n_batches} calibration batches, over the memory budget of "
                       f"{format_bytes(budget)} (80% of free memory); use fewer calibration tokens")


def _stage_grams(model: nn.Module, head: str, batches: Sequence[Any], reference: list[torch.Tensor]
                 ) -> tuple[np.ndarray, np.ndarray]:
    """(X_c^T X_c, X_o^T X_c) for the stage whose first layer is ``head``, each pass cut off there."""
    sums: list[torch.Tensor] = []
    position = [0]

    def record(_module: nn.Module, args: tuple[torch.Tensor, ...]) -> None:
        x_c = args[0].detach().reshape(-1, args[0].shape[-1]).double()
        x_o = reference[position[0]].double()
        terms = (x_c.T @ x_c, x_o.T @ x_c)
        sums[:] = terms if not sums else [a + b for a, b in zip(sums, terms)]
        raise StopForward

    handle = model.get_submodule(head).register_forward_pre_hook(record)
    try:
        with torch.no_grad():
            for position[0], batch in enumerate(batches):
                _run(model, batch)
    finally:
        handle.remove()
    return sums[0].numpy(), sums[1].numpy()


def corrected_target(weight: np.ndarray, gram: np.ndarray, cross: np.ndarray, ridge: float
                     ) -> tuple[np.ndarray, np.ndarray]:
    """(W*, G) of the module docstring from X_c^T X_c (``gram``) and X_o^T X_c (``cross``); ``ridge`` is relative
    to mean(diag X_c^T X_c). Where the inputs never reach (and for unchanged inputs), W* = W."""
    eye = max(ridge, 1e-12) * (float(np.mean(np.diag(gram))) or 1.0) * np.eye(len(gram))  # floor: G invertible
    combined = gram + eye
    # W* = W K G^-1  <=>  G W*^T = K^T W^T (G symmetric)
    target = np.linalg.solve(combined, (cross + eye).T @ weight.T).T
    return target, combined


def compress_sequentially(model: nn.Module, names: Sequence[str], batches: Sequence[Any],
                          replace: Callable[[str, nn.Linear, np.ndarray | None], None],
                          ridge: float = SEQUENTIAL_RIDGE, progress: bool | None = None,
                          unchanged: Callable[[str], bool] = lambda name: False) -> None:
    """Call ``replace(name, corrected linear, G)`` for every named linear of ``model`` in forward order; it is
    expected to put the compressed layer in place, so later layers see its outputs. ``batches`` are the
    calibration inputs; each stage (layers sharing one input) costs a forward pass cut off at that stage, except
    stages whose layers are all ``unchanged`` (kept as they are: e.g. kept dense by the budget), which get
    ``replace(name, original linear, None)`` without a pass and without keeping their inputs."""
    batches = list(batches)
    stages, reference = _record_inputs(model, names, batches, unchanged)
    for stage in progress_bar(stages, progress, "sequential calibration"):
        inputs = reference.pop(stage[0])
        if not inputs:
            for name in stage:
                replace(name, model.get_submodule(name), None)
            continue
        gram, cross = _stage_grams(model, stage[0], batches, inputs)
        for name in stage:
            linear = model.get_submodule(name)
            weight = linear.weight.detach().cpu().double().numpy()
            target, combined = corrected_target(weight, gram, cross, ridge)
            corrected = nn.Linear(weight.shape[1], weight.shape[0], bias=linear.bias is not None,
                                  dtype=linear.weight.dtype)
            with torch.no_grad():
                corrected.weight.copy_(torch.as_tensor(target))
                if linear.bias is not None:
                    corrected.bias.copy_(linear.bias)
            replace(name, corrected, combined)
