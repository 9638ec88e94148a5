"""The original causal LM's last hidden states over fixed healing windows, computed once, so that a distillation
step gets the teacher's output distribution from one product with its output head instead of a whole forward pass
(SmolLM2 on 2 threads: the teacher's forward was ~25% of a healing step; the head is ~1/5 of that forward)."""

from __future__ import annotations

import torch
from torch import nn

from ..mpo.errors import MPOError
from ..progress import progress_bar

# relative error allowed between head(states) and the model's own logits, both in bfloat16 autocast
HEAD_TOLERANCE = 2e-2


def output_head(model: nn.Module) -> nn.Module:
    """The module that maps ``model``'s last hidden states to its logits (transformers' output embeddings)."""
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    if head is None:
        raise MPOError(f"teacher states: {type(model).__name__} has no output head (get_output_embeddings); "
                       "heal with the live teacher instead")
    return head


def teacher_states(model: nn.Module, windows: torch.Tensor, batch_size: int = 8,
                   progress: bool | None = None) -> torch.Tensor:
    """``model``'s last hidden states, shape (rows, window, hidden) in bfloat16, over ``windows`` (rows of token
    ids), computed in bfloat16 autocast as bfloat16 healing computes the live teacher. On the first batch the
    states are checked to reproduce the logits through ``output_head`` (a model whose logits are not a plain
    projection of the last hidden state, e.g. soft-capped, is refused with one error)."""
    windows = torch.as_tensor(windows).long()
    if windows.dim() != 2 or windows.numel() == 0:
        raise MPOError(f"teacher states: need a non-empty 2-D tensor of windows, got shape {tuple(windows.shape)}")
    head = output_head(model)
    parts = []
    was_training = model.training
    model.eval()
    try:
        for first in progress_bar(range(0, len(windows), batch_size), progress, "teacher states", unit="batch"):
            batch = windows[first:first + batch_size]
            with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
                out = model(batch, output_hidden_states=True)
                states = out.hidden_states[-1].to(torch.bfloat16)
                if first == 0:
                    _check_head(head, states, out.logits, type(model).__name__)
            parts.append(states)
    finally:
        model.train(was_training)
    return torch.cat(parts)


def teacher_log_probs(head: nn.Module, states: torch.Tensor) -> torch.Tensor:
    """The teacher's next-token log-probabilities (float32) at every position but the last, from its states."""
    dtype = next(head.parameters()).dtype  # float32 healing: bfloat16 states meet a float32 head
    return head(states[:, :-1].to(dtype)).float().log_softmax(-1)


def _check_head(head: nn.Module, states: torch.Tensor, logits: torch.Tensor, name: str) -> None:
    error = float((head(states).float() - logits.float()).abs().max() / logits.float().abs().max().clamp_min(1e-12))
    if not error <= HEAD_TOLERANCE:
        raise MPOError(f"teacher states: {name}'s logits are not its output head applied to its last hidden state "
                       f"(relative difference {error:.3g}); heal with the live teacher instead")
