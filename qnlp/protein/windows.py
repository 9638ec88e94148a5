"""Long sequences for fixed-size models: truncation keeping the head, the tail or both ends, sliding windows that
cover every residue, and pooling of per-window predictions back to one prediction per sequence.

Real proteins have a median length near 500 residues while a circuit reads tens of words; signal peptides and
membrane anchors sit at the ends, hence ``keep="both"`` (first half + last half of the budget) by default.
Functions take any sliceable sequence: a string of residues or a tuple of alphabet tokens.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

import numpy as np

from qnlp.protein.errors import ProteinDataError

T = TypeVar("T", str, tuple, list)
KEEP = ("head", "tail", "both")
POOLING = ("mean", "max", "vote", "geomean", "lse")


def truncate(sequence: T, max_len: int, keep: str = "both") -> T:
    """``sequence`` cut to ``max_len`` items: the first (``head``), the last (``tail``), or the first
    ceil(max_len / 2) followed by the last floor(max_len / 2) (``both``). Shorter sequences are returned whole."""
    if keep not in KEEP:
        raise ProteinDataError(f"keep must be one of {KEEP}, got {keep!r}")
    if not isinstance(max_len, int | np.integer) or max_len < 1:
        raise ProteinDataError(f"max_len must be a positive integer, got {max_len!r}")
    if len(sequence) <= max_len:
        return sequence
    if keep == "head":
        return sequence[:max_len]
    if keep == "tail":
        return sequence[len(sequence) - max_len:]
    head = (max_len + 1) // 2
    return sequence[:head] + sequence[len(sequence) - (max_len - head):]


def window_starts(length: int, size: int, stride: int | None = None, ends_only: bool = False) -> list[int]:
    """Start offsets of windows of ``size`` every ``stride`` (default ``size``), plus one ending at the last
    residue when the stride does not land there, so every residue is in some window. Short inputs: ``[0]``.
    ``ends_only``: just the first and the last window (the two ends, to be pooled), ``[0, length - size]``."""
    stride = size if stride is None else stride
    if not isinstance(size, int | np.integer) or size < 1:
        raise ProteinDataError(f"window size must be a positive integer, got {size!r}")
    if not isinstance(stride, int | np.integer) or not 1 <= stride <= size:
        raise ProteinDataError(f"window stride must be an integer in 1..size={size} (a larger stride would skip "
                               f"residues), got {stride!r}")
    if length <= size:
        return [0]
    if ends_only:
        return [0, length - size]
    starts = list(range(0, length - size + 1, stride))
    if starts[-1] != length - size:
        starts.append(length - size)
    return starts


def sliding_windows(sequence: T, size: int, stride: int | None = None, ends_only: bool = False) -> list[T]:
    """The windows of ``sequence`` at ``window_starts`` (one window, the whole sequence, when it is short)."""
    return [sequence[s:s + size] for s in window_starts(len(sequence), size, stride, ends_only)]


def expand_windows(sequences: Sequence[T], size: int, stride: int | None = None,
                   ends_only: bool = False) -> tuple[list[T], np.ndarray]:
    """All windows of all sequences, and ``owner[j]`` = index of the sequence window ``j`` came from; train or
    predict on the windows, then ``pool`` the window predictions with ``owner``."""
    windows: list[T] = []
    owner: list[int] = []
    for i, sequence in enumerate(sequences):
        if len(sequence) == 0:
            raise ProteinDataError(f"expand_windows: sequence {i} is empty")
        pieces = sliding_windows(sequence, size, stride, ends_only)
        windows.extend(pieces)
        owner.extend([i] * len(pieces))
    return windows, np.array(owner, dtype=np.int64)


def pool(scores: np.ndarray, owner: np.ndarray, num_sequences: int | None = None, how: str = "mean",
         temperature: float = 1.0, weights: np.ndarray | None = None) -> np.ndarray:
    """Per-sequence scores from per-window class probabilities.

    ``scores``: (windows,) probabilities of the positive class, or (windows, classes) rows of probabilities.
    ``how``: ``mean`` (average probability); ``max`` (largest window probability: "some window looks positive";
    for 2-D scores the per-class maxima are renormalised to sum to one); ``vote`` (fraction of windows whose
    prediction is each class; threshold 0.5 for 1-D); ``geomean`` (normalised geometric mean: the product of the
    window likelihoods, as if windows were independent evidence); ``lse`` (soft maximum of the window log-odds
    against class 0, see ``lse_pool``; ``temperature`` and ``weights``, window multiplicities, apply to it).
    Returns (num_sequences,) or (num_sequences, classes)."""
    if how not in POOLING:
        raise ProteinDataError(f"pooling must be one of {POOLING}, got {how!r}")
    scores = np.asarray(scores, dtype=np.float64)
    owner = np.asarray(owner, dtype=np.int64)
    if scores.ndim not in (1, 2) or len(scores) != len(owner):
        raise ProteinDataError(f"pool: scores of shape {scores.shape} do not match {len(owner)} window owners")
    if len(owner) and owner.min() < 0:
        raise ProteinDataError("pool: negative owner index")
    num = int(owner.max()) + 1 if num_sequences is None and len(owner) else int(num_sequences or 0)
    if len(owner) and owner.max() >= num:
        raise ProteinDataError(f"pool: owner index {owner.max()} >= num_sequences {num}")
    counts = np.bincount(owner, minlength=num)
    if (counts == 0).any():
        raise ProteinDataError(f"pool: sequence {int(np.flatnonzero(counts == 0)[0])} has no windows")
    binary = scores.ndim == 1
    if how == "lse":
        logp = np.log(np.clip(np.stack([1.0 - scores, scores], axis=1) if binary else scores, 1e-300, None))
        out = np.exp(lse_pool(logp, owner, num, weights, temperature))
        return out[:, 1] if binary else out
    probs = np.stack([1.0 - scores, scores], axis=1) if binary else scores
    if how == "vote":
        values = np.zeros_like(probs)
        values[np.arange(len(probs)), probs.argmax(axis=1)] = 1.0
        if binary:  # ties at exactly 0.5 count as positive, the usual threshold
            values[:, 1] = scores >= 0.5
            values[:, 0] = 1.0 - values[:, 1]
    elif how == "geomean":
        values = np.log(np.clip(probs, 1e-300, None))
    else:
        values = probs
    out = np.zeros((num, probs.shape[1]))
    if how == "max":
        out[:] = -np.inf
        np.maximum.at(out, owner, values)
        if binary:
            return out[:, 1]
        out /= out.sum(axis=1, keepdims=True)
    else:
        np.add.at(out, owner, values)
        out /= counts[:, None]
        if how == "geomean":
            out = np.exp(out - out.max(axis=1, keepdims=True))
            out /= out.sum(axis=1, keepdims=True)
    return out[:, 1] if binary else out


def lse_pool(logp: Any, owner: np.ndarray, num_sequences: int, weights: Any = None, temperature: float = 1.0) -> Any:
    """Multiple-instance pooling of window class log-probabilities ``logp`` (windows, classes) into sequence class
    log-probabilities: class ``c``'s pooled log-odds against class 0 (the background) are the soft maximum
    ``T log mean_j exp(z_jc / T)`` of the window log-odds ``z_jc = logp_jc - logp_j0`` (mean weighted by
    ``weights``, the window multiplicities), then a softmax over classes. Two classes: ``sigmoid`` of the pooled
    logit, so one window that looks positive is enough. Torch in (differentiable), torch out; else numpy."""
    import torch

    if not (np.isfinite(temperature) and temperature > 0):
        raise ProteinDataError(f"pooling temperature must be a finite number > 0, got {temperature!r}")
    numpy_in = not isinstance(logp, torch.Tensor)
    logp = torch.as_tensor(np.asarray(logp, dtype=np.float64)) if numpy_in else logp
    index = torch.as_tensor(np.asarray(owner, dtype=np.int64))
    w = torch.ones(len(index), dtype=logp.dtype) if weights is None else torch.as_tensor(weights, dtype=logp.dtype)
    z = (logp - logp[:, :1]) / temperature
    top = torch.full((num_sequences, z.shape[1]), -torch.inf, dtype=z.dtype).scatter_reduce(
        0, index[:, None].expand(z.shape), z.detach(), "amax")
    total = torch.zeros_like(top).index_add(0, index, w[:, None] * torch.exp(z - top[index]))
    count = torch.zeros(num_sequences, dtype=z.dtype).index_add(0, index, w)
    pooled = temperature * (top + torch.log(total / count[:, None]))
    out = torch.log_softmax(pooled, dim=1)
    return out.numpy() if numpy_in else out
