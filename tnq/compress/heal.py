"""Healing: brief fine-tuning of only the compressed layers' parameters (MPO cores, low-rank factors, biases) on
text, by next-token loss or by distillation from the original model. Causal LMs train on random windows of a token
stream; encoders can also train on batches of whole sentences (special tokens, padding and attention mask as
sentence embeddings see them) with a loss matching the embedding-cosine metric. Causal LMs distill with part of the
weight on the next-token loss (measured better than either alone), optionally in bfloat16 autocast. Each tensor
gets an Adam step size relative to its own rms (MPO cores of very different scales train together), with linear
warm-up and cosine decay over a step and/or wall-clock budget. With a checkpoint file the state is saved every few
minutes, at the end and on Ctrl-C or SIGTERM, and a later call with the file goes on from there (see
``heal_checkpoint``)."""

from __future__ import annotations

import itertools
import math
import os
import time
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from ..mpo.errors import MPOError
from ..progress import progress_bar
from .evaluate import mean_pool, pad_batch, text_digest
from .heal_checkpoint import (
    DeferredInterrupt,
    HealingInterrupted,
    check_checkpoint_path,
    checkpoint_exists,
    load_checkpoint,
    save_checkpoint,
)
from .options import PRECISIONS
from .teacher_states import output_head, teacher_log_probs


def heal(model: nn.Module, modules: Sequence[nn.Module], ids: torch.Tensor | Sequence[torch.Tensor],
         steps: int | None = None, seconds: float | None = None, window: int = 256, batch_size: int = 1,
         lr: float = 0.003, warmup: float = 0.1, teacher: nn.Module | None = None, seed: int = 0,
         progress: bool | None = None, pad_id: int = 0, hidden_weight: float = 1.0,
         dropout: bool = True, label_weight: float = 0.0, precision: str = "float32",
         checkpoint: str | os.PathLike | None = None, checkpoint_seconds: float = 300.0,
         teacher_states: torch.Tensor | None = None) -> list[float]:
    """Train the parameters of ``modules`` (all else frozen) on batches of ``batch_size`` random ``window``-token
    slices of ``ids`` (a 1-D token tensor), or random rows of ``ids`` when it is 2-D (fixed windows), or, when
    ``ids`` is a list of 1-D tensors (tokenized sentences), of ``batch_size`` random sentences (drawn 8 batches at a
    time and grouped by length) padded with ``pad_id`` and masked, until ``steps`` or ``seconds`` run out (whichever
    first). ``teacher_states`` (2-D ``ids`` only: the teacher's last hidden states over each row, see
    ``teacher_states.py``) replace the teacher's forward pass by its output head. Loss: next-token cross-entropy,
    or with ``teacher`` (1 - ``label_weight``) x the KL divergence to its output distribution + ``label_weight`` x the
    next-token loss (causal LMs); encoders distill: 1 - cosine between the student's and the teacher's mean-pooled
    embeddings plus ``hidden_weight`` times the relative MSE of the last hidden states. ``dropout=False`` trains in
    eval mode (a distilled student then matches the teacher's deterministic outputs). ``precision='bfloat16'``
    runs the forward passes in bfloat16 autocast (parameters and optimiser stay float32; ~1.6x more steps on CPUs
    with AVX512-BF16). With ``checkpoint`` (a safetensors file) the state is saved every ``checkpoint_seconds``, at
    the end and on Ctrl-C or SIGTERM (then ``HealingInterrupted`` says where); when the file exists, healing first
    restores it and continues (the step and time already spent count against ``steps`` / ``seconds``, which may
    differ from the first run's; every other setting and the text must match). Returns the losses, a resumed run's
    included."""
    if steps is None and seconds is None:
        raise MPOError("heal: give steps and/or seconds")
    check_heal_options(label_weight, precision, "heal: ")
    check_checkpoint_path(checkpoint)
    sentences = not isinstance(ids, torch.Tensor)
    rows = not sentences and ids.dim() == 2
    if teacher_states is not None:
        _check_states(ids, teacher_states, teacher, rows)
    if rows:
        if len(ids) == 0 or ids.shape[1] < 2:
            raise MPOError(f"heal: need windows of at least 2 tokens, got shape {tuple(ids.shape)}")
        window = ids.shape[1]
    elif sentences:
        ids = [torch.as_tensor(s).reshape(-1).long() for s in ids if len(s) > 0]
        if not ids:
            raise MPOError("heal: got an empty list of sentences")
    elif len(ids) <= window + 1:
        raise MPOError(f"heal: need more than {window + 1} tokens of text, got {len(ids)}")
    named = [(f"{i}.{n}", p) for i, m in enumerate(modules) for n, p in m.named_parameters()]
    params = [p for _, p in named]
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
    opt = _adam(groups)
    gen = torch.Generator().manual_seed(seed)
    losses: list[float] = []
    queue: list[list[torch.Tensor]] = []
    settings = {"window": window, "batch_size": batch_size, "lr": lr, "warmup": warmup, "seed": seed,
                "teacher": teacher is not None, "hidden_weight": hidden_weight, "dropout": dropout,
                "label_weight": label_weight, "precision": precision, "text": text_digest(ids),
                "teacher_states": teacher_states is not None,
                "parameters": [[name, list(p.shape)] for name, p in named]} if checkpoint is not None else {}
    first = elapsed = 0
    if checkpoint_exists(checkpoint):
        first, elapsed, losses = load_checkpoint(checkpoint, named, opt, gen, settings)
    start = time.perf_counter() - elapsed
    last_save = {"steps": first, "time": time.perf_counter()}  # a loaded checkpoint already holds step ``first``

    def save() -> None:
        """Write the checkpoint, unless it already holds every step taken."""
        if checkpoint is not None and len(losses) > last_save["steps"]:
            save_checkpoint(checkpoint, named, opt, gen, time.perf_counter() - start, losses, settings)
            last_save.update(steps=len(losses), time=time.perf_counter())

    counter = range(first, steps) if steps is not None else itertools.count(first)  # time alone: no step total
    desc = "healing" if seconds is None else f"healing ({seconds / 60:.3g} min budget)"
    desc += f", resumed at step {first}" if first else ""
    model.train(dropout)
    try:
        with DeferredInterrupt(enabled=checkpoint is not None) as interrupt:
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
                states = None
                if sentences:
                    if not queue:
                        queue = _sentence_batches(ids, batch_size, gen)
                    batch = pad_batch(queue.pop(), pad_id)
                elif rows:
                    picks = torch.randint(0, len(ids), (batch_size,), generator=gen)
                    batch = {"input_ids": ids[picks]}
                    states = None if teacher_states is None else teacher_states[picks]
                else:
                    starts = torch.randint(0, len(ids) - window, (batch_size,), generator=gen)
                    batch = {"input_ids": torch.stack([ids[s:s + window] for s in starts.tolist()])}
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bfloat16"):
                    loss = _loss(model, batch, teacher, hidden_weight, label_weight, states)
                opt.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(params, 1.0)
                opt.step()
                losses.append(loss.item())
                if interrupt.requested:
                    save()
                    raise HealingInterrupted(f"healing interrupted after {len(losses)} steps; its state is saved in "
                                             f"{checkpoint}: run the same command again to go on from there")
                if time.perf_counter() - last_save["time"] >= checkpoint_seconds:
                    save()
        save()
    finally:
        model.eval()
        for p, flag in frozen.items():
            p.requires_grad_(flag)
    return losses


def _adam(groups: list[dict[str, Any]]) -> torch.optim.Optimizer:
    """Adam with the fused kernel where torch has one for these tensors, the plain implementation otherwise. The
    optimiser step itself is ~5x faster on one CPU thread (35M parameters); healing SmolLM2 at 50% on 2 threads it
    gave ~2% more steps in 15 minutes (1053 vs 1034): the forward and backward passes dominate."""
    try:
        return torch.optim.Adam(groups, betas=(0.9, 0.99), fused=True)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.Adam(groups, betas=(0.9, 0.99))


def check_heal_options(label_weight: float, precision: str, where: str = "") -> None:
    """One clear error for a ``label_weight`` outside [0, 1] or an unknown ``precision`` (``where`` prefixes the
    message: callers check before hours of compression, ``heal`` again for direct use)."""
    if not 0.0 <= label_weight <= 1.0:
        raise MPOError(f"{where}label_weight must be in [0, 1], got {label_weight}")
    if precision not in PRECISIONS:
        raise MPOError(f"{where}precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")


def _sentence_batches(sentences: Sequence[torch.Tensor], batch_size: int, gen: torch.Generator,
                      pool: int = 8) -> list[list[torch.Tensor]]:
    """``pool`` batches of random sentences, drawn together and grouped by length (little padding), in random
    order."""
    picks = torch.randint(0, len(sentences), (pool * batch_size,), generator=gen).tolist()
    picks.sort(key=lambda i: len(sentences[i]))
    batches = [[sentences[i] for i in picks[s:s + batch_size]] for s in range(0, len(picks), batch_size)]
    return [batches[i] for i in torch.randperm(len(batches), generator=gen).tolist()]


def _check_states(ids: Any, states: torch.Tensor, teacher: nn.Module | None, rows: bool) -> None:
    """One clear error for teacher states that do not fit the text or come without the teacher's head."""
    if not rows:
        raise MPOError("heal: teacher_states need the text as a 2-D tensor of windows (one row of states each)")
    if teacher is None:
        raise MPOError("heal: teacher_states need the teacher too (its output head turns them into targets)")
    if states.dim() != 3 or tuple(states.shape[:2]) != tuple(ids.shape):
        raise MPOError(f"heal: teacher_states of shape {tuple(states.shape)} do not fit windows of shape "
                       f"{tuple(ids.shape)} (expected ({ids.shape[0]}, {ids.shape[1]}, hidden))")


def _loss(model: nn.Module, inputs: dict[str, torch.Tensor], teacher: nn.Module | None,
          hidden_weight: float = 1.0, label_weight: float = 0.0, states: torch.Tensor | None = None) -> Any:
    """The healing loss of one batch; ``states``: the teacher's last hidden states over it, used instead of
    running the teacher (causal LMs)."""
    batch = inputs["input_ids"]
    out = model(**inputs)
    if hasattr(out, "logits"):
        log_probs = out.logits[:, :-1].float().log_softmax(-1)
        next_token = nn.functional.nll_loss(log_probs.reshape(-1, log_probs.shape[-1]), batch[:, 1:].reshape(-1))
        if teacher is None:
            return next_token
        with torch.no_grad():
            if states is None:
                target = teacher(batch).logits[:, :-1].float().log_softmax(-1)
            else:
                target = teacher_log_probs(output_head(teacher), states)
        positions = log_probs.shape[0] * log_probs.shape[1]  # KL per predicted token, as the next-token loss
        distill = nn.functional.kl_div(log_probs, target, log_target=True, reduction="sum") / positions
        return (1 - label_weight) * distill + label_weight * next_token
    if teacher is None:
        raise MPOError("heal: an encoder (no language-model head) heals by distillation; pass teacher=")
    with torch.no_grad():
        target = teacher(**inputs).last_hidden_state
    return encoder_distillation_loss(out.last_hidden_state.float(), target.float(), inputs.get("attention_mask"),
                                     hidden_weight)


def encoder_distillation_loss(hidden: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None,
                              hidden_weight: float = 1.0) -> torch.Tensor:
    """Mean over the batch of 1 - cosine(mean-pooled ``hidden``, mean-pooled ``target``) over real tokens
    (``mask``; all when None), plus ``hidden_weight`` times ||hidden - target||^2 / ||target||^2 over real tokens."""
    if mask is None:
        mask = torch.ones(hidden.shape[:2], dtype=torch.long)
    cosine = nn.functional.cosine_similarity(mean_pool(hidden, mask), mean_pool(target, mask), dim=-1)
    loss = (1 - cosine).mean()
    if hidden_weight:
        weights = mask[..., None].to(hidden.dtype)
        loss = loss + hidden_weight * ((hidden - target).pow(2) * weights).sum() / (target.pow(2) * weights).sum()
    return loss
