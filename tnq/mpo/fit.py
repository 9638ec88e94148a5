"""Activation-aware MPO fitting: collect the input Gram matrix C = X^T X of each layer on calibration text, start
from a TT-SVD of W with input columns scaled by a Kronecker-structured approximation of the activation scale
(which folds back into the cores exactly), then minimise ||(W - M) X||^2 = tr((W - M) C (W - M)^T) over all cores
with Adam. C is used through a rank-k sketch plus an isotropic remainder, so a step costs one rebuild of M and a
d_out x d_in x k product."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from ..progress import progress_bar
from .factorize import factorize
from .linear import MPOLinear
from .mpo import MPO


def collect_grams(model: nn.Module, names: Sequence[str], batches: Iterable[Any],
                  progress: bool | None = None) -> dict[str, np.ndarray]:
    """``{name: X^T X}`` (float64, d_in x d_in) of the inputs each named linear sees over ``batches`` (each a
    tensor of input ids or a dict of model inputs). Layers fed the same tensor (q/k/v, gate/up) share one matrix."""
    grams: dict[str, torch.Tensor] = {}
    alias: dict[str, str] = {}
    seen: dict[int, tuple[str, torch.Tensor]] = {}  # holding the tensor keeps its id from being reused
    first_batch = [True]

    def hook(name: str) -> Any:
        def record(_module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
            x = inputs[0]
            owner = seen.get(id(x))
            if first_batch[0] and owner is not None and owner[1] is x and owner[0] != name:
                alias[name] = owner[0]
            seen.setdefault(id(x), (name, x))
            if name in alias:
                return
            flat = x.detach().reshape(-1, x.shape[-1]).to(torch.float64)
            gram = flat.T @ flat
            grams[name] = grams[name] + gram if name in grams else gram
        return record

    handles = [model.get_submodule(n).register_forward_pre_hook(hook(n)) for n in names]
    try:
        with torch.no_grad():
            for batch in progress_bar(list(batches), progress, "calibration"):
                seen.clear()
                model(**batch) if isinstance(batch, dict) else model(batch)
                first_batch[0] = False
    finally:
        for h in handles:
            h.remove()
    return {n: grams[alias.get(n, n)].numpy() for n in names}


def kron_factors(gram: np.ndarray, factors: Sequence[int], damp: float = 1e-4) -> list[np.ndarray]:
    """Lower-triangular S_k (i_k x i_k) with S_1 S_1^T (x) ... (x) S_N S_N^T ~ C: each mode's Gram is the partial
    trace of C over the other modes (scaled so the product keeps tr C), damped relative to its mean diagonal."""
    n = len(factors)
    tensor = gram.reshape(list(factors) * 2)
    total = float(np.trace(gram)) or 1.0
    out = []
    for k in range(n):
        letters = "abcdefghijklmnop"[:n]
        rows = letters
        cols = "".join(c if j != k else c.upper() for j, c in enumerate(letters))
        mode = np.einsum(f"{rows}{cols}->{letters[k]}{letters[k].upper()}", tensor)
        mode = mode / total ** ((n - 1) / n) if total > 0 else mode
        mode = (mode + mode.T) / 2 + damp * float(np.mean(np.diag(mode))) * np.eye(len(mode))
        out.append(np.linalg.cholesky(mode))
    return out


def whitened_mpo(W: np.ndarray, gram: np.ndarray | None, n_cores: int, max_params: int) -> MPO:
    """TT-SVD of W within ``max_params``; with ``gram`` (C = X^T X) the TT-SVD runs on W S for S = S_1 (x) ... (x)
    S_N a Kronecker-factored whitening of C, and S_k^-1 is folded back into core k, so the result is exactly an
    MPO whose truncation favoured the directions the inputs actually use."""
    d_out, d_in = W.shape
    outs, ins = factorize(d_out, n_cores), factorize(d_in, n_cores)
    if gram is None:
        return MPO.from_matrix(W, n_cores=n_cores, max_params=max_params, out_factors=outs, in_factors=ins)
    factors = kron_factors(gram, ins)
    WS = W.reshape([d_out, *ins])
    for k, S in enumerate(factors):
        WS = np.moveaxis(np.tensordot(WS, S, axes=([k + 1], [0])), -1, k + 1)
    mpo = MPO.from_matrix(WS.reshape(d_out, d_in), n_cores=n_cores, max_params=max_params, out_factors=outs,
                          in_factors=ins)
    mpo.cores = [np.einsum("loir,ij->lojr", c, np.linalg.inv(S)) for c, S in zip(mpo.cores, factors)]
    return mpo


def gram_sketch(gram: np.ndarray, rank: int = 256, seed: int = 0) -> tuple[np.ndarray, np.ndarray | None, float]:
    """(F, Q, sigma) with C ~ F F^T + sigma (I - Q Q^T), F = Q chol(Q^T C Q), Q an orthonormal randomized range
    basis of C (exact Cholesky factor, Q None and sigma 0 when d_in <= rank)."""
    d = gram.shape[0]
    if d <= rank:
        return np.linalg.cholesky(gram + 1e-8 * (np.trace(gram) / d) * np.eye(d)), None, 0.0
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(gram @ (gram @ rng.normal(size=(d, rank))))  # one power iteration sharpens the range
    B = Q.T @ gram @ Q
    B = (B + B.T) / 2 + 1e-8 * np.trace(B) / rank * np.eye(rank)
    sigma = max(float(np.trace(gram) - np.trace(B)), 0.0) / (d - rank)
    return Q @ np.linalg.cholesky(B), Q, sigma


def fit_mpo(layer: MPOLinear, W: np.ndarray, gram: np.ndarray, steps: int = 50, lr: float = 0.02,
            sketch_rank: int = 256) -> tuple[float, float]:
    """Minimise tr((W - M) C (W - M)^T) / tr(W C W^T) over the cores of ``layer`` (in place) with Adam, step sizes
    relative to each core's rms. Returns the relative activation error before and after."""
    F_np, Q_np, sigma = gram_sketch(gram, sketch_rank)
    dtype = layer.cores[0].dtype
    F, Wt = torch.as_tensor(F_np, dtype=dtype), torch.as_tensor(W, dtype=dtype)
    Q = None if Q_np is None else torch.as_tensor(Q_np, dtype=dtype)

    def error(M: torch.Tensor) -> torch.Tensor:
        delta = Wt - M
        dF = delta @ F
        value = (dF * dF).sum()
        if sigma > 0 and Q is not None:
            dQ = delta @ Q
            value = value + sigma * ((delta * delta).sum() - (dQ * dQ).sum())
        return value

    with torch.no_grad():
        norm = float(error(torch.zeros_like(Wt))) or 1.0
    cores = list(layer.cores)
    groups = [{"params": [c], "lr": lr * float(c.detach().pow(2).mean().sqrt()) + 1e-12} for c in cores]
    opt = torch.optim.Adam(groups)
    before = after = math.nan
    for step in range(steps + 1):
        M = _dense(cores, layer.out_features, layer.in_features)
        loss = error(M) / norm
        if step == 0:
            before = float(loss.detach())
        after = float(loss.detach())
        if step == steps:
            break
        opt.zero_grad()
        loss.backward()
        opt.step()
    return math.sqrt(max(before, 0.0)), math.sqrt(max(after, 0.0))


def _dense(cores: Sequence[torch.Tensor], d_out: int, d_in: int) -> torch.Tensor:
    from .plan import merge_cores

    return merge_cores(list(cores), torch.einsum).reshape(d_out, d_in)


def activation_error(W: np.ndarray, M: np.ndarray, gram: np.ndarray) -> float:
    """||(W - M) X|| / ||W X|| from the Gram matrix C = X^T X."""
    delta = W - M
    num = float(((delta @ gram) * delta).sum())
    den = float(((W @ gram) * W).sum())
    return math.sqrt(max(num, 0.0) / den) if den > 0 else math.sqrt(max(num, 0.0))
