"""Healing: brief fine-tuning of only the compressed layers' parameters (MPO cores, low-rank factors, biases) on
text, by next-token loss or by distillation from the original model. Each tensor gets an Adam step size relative
to its own rms (MPO cores of very different scales train together), with linear warm-up and cosine decay over a
step and/or wall-clock budget."""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from ..progress import progress_bar
from .errors import MPOError


def heal(model: nn.Module, modules: Sequence[nn.Module], ids: torch.Tensor, steps: int | None = None,
         seconds: float | None = None, window: int = 256, batch_size: int = 1, lr: float = 0.003,
         warmup: float = 0.1, teacher: nn.Module | None = None, seed: int = 0,
         progress: bool | None = None) -> list[float]:
    """Train the parameters of ``modules`` (all else frozen) on random ``window``-token slices of ``ids`` until
    ``steps`` or ``seconds`` run out (whichever first). Loss: next-token cross-entropy, or with ``teacher`` the KL
    divergence to its output distribution (causal LMs) / MSE to its hidden states (encoders). Returns the losses."""
    if steps is None and seconds is None:
        raise MPOError("heal: give steps and/or seconds")
    if len(ids) <= window + 1:
        raise MPOError(f"heal: need more than {window + 1} tokens of text, got {len(ids)}")
    params = [p for m in modules for p in m.parameters()]
    if not params:
        return []
    frozen = {p: p.requires_grad for p in model.parameters()}
    for p in model.parameters():
        p.requires_grad_(False)
    for p in params:
        p.requires_grad_(True)
    groups = [{"params": [p], "lr": lr * (float(p.detach().pow(2).mean().sqrt()) + 1e-8)} for p in params]
    for g in groups:
        g["base_lr"] = g["lr"]
    opt = torch.optim.Adam(groups, betas=(0.9, 0.99))
    gen = torch.Generator().manual_seed(seed)
    losses: list[float] = []
    start = time.perf_counter()
    counter = range(steps) if steps is not None else itertools.count()  # a time budget alone: no step total
    desc = "healing" if seconds is None else f"healing ({seconds / 60:.3g} min budget)"
    model.train()
    try:
        for step in progress_bar(counter, progress, desc, unit="step"):
            done = step / steps if steps else 0.0
            if seconds is not None:
                done = max(done, (time.perf_counter() - start) / seconds)
            if done >= 1.0:
                break
            scale = min(1.0, done / warmup) if warmup > 0 else 1.0
            scale *= 0.5 * (1 + math.cos(math.pi * done))
            for g in opt.param_groups:
                g["lr"] = g["base_lr"] * max(scale, 0.02)
            starts = torch.randint(0, len(ids) - window, (batch_size,), generator=gen)
            batch = torch.stack([ids[s:s + window] for s in starts.tolist()])
            loss = _loss(model, batch, teacher)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            losses.append(loss.item())
    finally:
        model.eval()
        for p, flag in frozen.items():
            p.requires_grad_(flag)
    return losses


def _loss(model: nn.Module, batch: torch.Tensor, teacher: nn.Module | None) -> Any:
    out = model(batch)
    if hasattr(out, "logits"):
        logits = out.logits[:, :-1].float()
        if teacher is None:
            return nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1))
        with torch.no_grad():
            target = teacher(batch).logits[:, :-1].float().log_softmax(-1)
        return nn.functional.kl_div(logits.log_softmax(-1), target, log_target=True, reduction="batchmean") \
            / batch.shape[1]
    if teacher is None:
        raise MPOError("heal: an encoder (no language-model head) heals by distillation; pass teacher=")
    with torch.no_grad():
        target = teacher(batch).last_hidden_state
    return nn.functional.mse_loss(out.last_hidden_state, target) / target.pow(2).mean()
