"""Activation-aware MPO fitting: collect the input Gram matrix C = X^T X of each layer on calibration text, start
from a TT-SVD of W with input columns scaled by a Kronecker-structured approximation of the activation scale
(which folds back into the cores exactly), then minimise ||(W - M) X||^2 = tr((W - M) C (W - M)^T) core by core
with ``als.als_fit`` (alternating least squares against the full C)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from ..mpo.als import als_fit
from ..mpo.errors import MPOError
from ..mpo.factorize import factorize
from ..mpo.mpo import MPO, Whitening, scale_inputs
from ..progress import progress_bar
from .options import SITES


def run_batch(model: nn.Module, batch: Any) -> Any:
    """``model``'s output for one calibration batch: a tensor of input ids, or a dict of model inputs."""
    return model(**batch) if isinstance(batch, dict) else model(batch)


class SharedInputs:
    """Which hooked linears receive the very tensor an earlier one got in the same forward pass (q/k/v, gate/up):
    learned on the first batch, then fixed. ``groups`` lists the names by shared input, in first-use order."""

    def __init__(self) -> None:
        self.groups: list[list[str]] = []
        self.alias: dict[str, str] = {}
        self._seen: dict[int, tuple[str, torch.Tensor]] = {}  # holding the tensor keeps its id from being reused
        self._learning = True

    def owner(self, name: str, x: torch.Tensor) -> str:
        """The layer whose input ``x`` counts as: an earlier layer given the same tensor, else ``name`` itself."""
        if self._learning:
            seen = self._seen.get(id(x))
            if seen is not None and seen[1] is x and seen[0] != name:
                self.alias[name] = seen[0]
                next(g for g in self.groups if g[0] == seen[0]).append(name)
            elif seen is None and not any(g[0] == name for g in self.groups):
                self._seen[id(x)] = (name, x)
                self.groups.append([name])
        return self.alias.get(name, name)

    def end_batch(self) -> None:
        """Call after each forward pass: the first one taught the groups."""
        self._seen.clear()
        self._learning = False


def collect_grams(model: nn.Module, names: Sequence[str], batches: Iterable[Any],
                  progress: bool | None = None, run: Callable[[Any], Any] | None = None) -> dict[str, np.ndarray]:
    """``{name: X^T X}`` (float64, d_in x d_in) of the inputs each named linear of ``model`` sees over ``batches``
    (each a tensor of input ids or a dict of model inputs, or whatever ``run`` takes: a function that runs part
    of the model on one batch). Layers fed the same tensor (q/k/v, gate/up) share one matrix."""
    grams: dict[str, torch.Tensor] = {}
    sharing = SharedInputs()

    def hook(name: str) -> Any:
        def record(_module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
            x = inputs[0]
            if sharing.owner(name, x) != name:
                return
            flat = x.detach().reshape(-1, x.shape[-1]).to(torch.float64)
            gram = flat.T @ flat
            grams[name] = grams[name] + gram if name in grams else gram
        return record

    handles = [model.get_submodule(n).register_forward_pre_hook(hook(n)) for n in names]
    try:
        with torch.no_grad():
            for batch in progress_bar(list(batches), progress, "calibration"):
                run_batch(model, batch) if run is None else run(batch)
                sharing.end_batch()
    finally:
        for h in handles:
            h.remove()
    return {n: grams[sharing.alias.get(n, n)].numpy() for n in names}


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


def input_whitening(gram: np.ndarray, in_factors: Sequence[int]) -> Whitening:
    """The Kronecker-factored whitening ``whitened_mpo`` truncates in: exact (damped 1e-6, as whitened SVD) when one
    site holds all inputs, else ``kron_factors`` damped 1e-4. Only the Kronecker product matters for truncation, but
    balancing (``MPO.balance``) sees each factor's scale, so the product's scale is shared among the sites in
    proportion to the log of their dimension: a 1-dim site gets 1, as the output side of whitened SVD."""
    factors = kron_factors(gram, in_factors, damp=1e-6 if max(in_factors) == len(gram) else 1e-4)
    scales = [float(np.mean(np.sum(S * S, axis=1))) for S in factors]  # mean diagonal of S S^T
    total_log = math.log(math.prod(in_factors))
    if total_log == 0 or min(scales) <= 0:
        return Whitening.of(factors)
    log_scale = sum(math.log(v) for v in scales)  # of the product's mean diagonal
    return Whitening.of([S * math.sqrt(math.exp(log_scale * math.log(i) / total_log) / v)
                         for S, v, i in zip(factors, scales, in_factors)])


def whitened_mpo(W: np.ndarray, gram: np.ndarray | None, n_cores: int, max_params: int,
                 out_factors: Sequence[int] | None = None, in_factors: Sequence[int] | None = None,
                 whitening: Whitening | None = None) -> MPO:
    """TT-SVD of W within ``max_params`` (sites from the given factors, else balanced); with ``gram`` (C = X^T X)
    the TT-SVD runs on W S for S = S_1 (x) ... (x) S_N a Kronecker-factored whitening of C (``whitening`` if
    already computed, else ``input_whitening``), and S_k^-1 is folded back into core k, so the result is exactly
    an MPO whose truncation favoured the directions the inputs use."""
    d_out, d_in = W.shape
    outs = list(out_factors) if out_factors is not None else factorize(d_out, n_cores)
    ins = list(in_factors) if in_factors is not None else factorize(d_in, n_cores)
    if gram is None:
        return MPO.from_matrix(W, n_cores=n_cores, max_params=max_params, out_factors=outs, in_factors=ins)
    metric = whitening if whitening is not None else input_whitening(gram, ins)
    WS = W.reshape([d_out, *ins])
    for k, S in enumerate(metric.factors):
        WS = np.moveaxis(np.tensordot(WS, S, axes=([k + 1], [0])), -1, k + 1)
    mpo = MPO.from_matrix(WS.reshape(d_out, d_in), n_cores=n_cores, max_params=max_params, out_factors=outs,
                          in_factors=ins)
    mpo.cores = scale_inputs(mpo.cores, metric.inverses)
    return mpo




def site_candidates(d_out: int, d_in: int, n_cores: int, sites: str = "balanced") -> list[tuple[list[int], list[int]]]:
    """(out_factors, in_factors) to try. 'balanced': the most even ``n_cores``-site split. 'auto': that and the
    degenerate two sites (d_out, 1) x (1, d_in), where the MPO is a plain rank-chi factorisation (so the better
    of the two is never worse than whitened SVD, and layers without Kronecker-like structure stay low-rank)."""
    if sites not in SITES:
        raise MPOError(f"sites must be one of {', '.join(SITES)}, got {sites!r}")
    balanced = (factorize(d_out, n_cores), factorize(d_in, n_cores))
    low_rank = ([d_out, 1], [1, d_in])
    return [balanced] if sites == "balanced" or balanced == low_rank else [balanced, low_rank]


def sites_text(out_factors: Sequence[int], in_factors: Sequence[int]) -> str:
    """A site factorisation as reports write it: out x in per site, e.g. '24x32 | 24x48'."""
    return " | ".join(f"{o}x{i}" for o, i in zip(out_factors, in_factors))


def low_rank_sites(d_out: int, d_in: int) -> str:
    """``sites_text`` of the two-site low-rank factorisation (d_out, 1) x (1, d_in)."""
    return sites_text([d_out, 1], [1, d_in])


@dataclass
class SiteFit:
    """One site factorisation tried by ``fit_candidates``: its MPO (not yet balanced), activation error (weight
    error without a Gram matrix) and the input whitening it was truncated in (None without a Gram matrix)."""

    mpo: MPO
    error: float
    whitening: Whitening | None

    @property
    def low_rank(self) -> bool:
        """Sites (d_out, 1) x (1, d_in): a plain rank-chi factorisation, whitened SVD's form."""
        return len(self.mpo.cores) == 2 and self.mpo.out_factors[-1] == 1 and self.mpo.in_factors[0] == 1

    @property
    def sites(self) -> str:
        """The factorisation as reports write it (``sites_text``), e.g. '24x32 | 24x48'."""
        return sites_text(self.mpo.out_factors, self.mpo.in_factors)


def fit_candidates(W: np.ndarray, gram: np.ndarray | None, max_params: int, n_cores: int = 2,
                   sites: str = "balanced", sweeps: int = 0, cg_iters: int = 10) -> list[SiteFit]:
    """Every ``site_candidates`` factorisation within ``max_params``: each starts from ``whitened_mpo`` and (with
    ``gram``) is fitted by ``sweeps`` ALS sweeps; the low-rank candidate starts at its optimum, whitened SVD, and
    is not swept."""
    fits = []
    d_out, d_in = W.shape
    for outs, ins in site_candidates(d_out, d_in, n_cores, sites):
        whitening = None if gram is None else input_whitening(gram, ins)
        mpo = whitened_mpo(W, gram, len(outs), max_params, outs, ins, whitening)
        fit = SiteFit(mpo, 0.0, whitening)
        if gram is not None and sweeps > 0 and not fit.low_rank:
            fit.mpo, _ = als_fit(mpo, W, gram, sweeps=sweeps, cg_iters=cg_iters, track=False)
        M = fit.mpo.to_matrix()
        fit.error = activation_error(W, M, gram) if gram is not None else float(np.linalg.norm(W - M))
        fits.append(fit)
    return fits


def check_site_margin(site_margin: float) -> None:
    """One MPOError unless 0 < ``site_margin`` <= 1 (1: the lowest error wins; 0.8: an MPO needs 20% less)."""
    if not 0 < site_margin <= 1:
        raise MPOError(f"site_margin must be in (0, 1], got {site_margin}")


def choose_fit(fits: Sequence[SiteFit], site_margin: float = 1.0) -> SiteFit:
    """The candidate with the lowest error, where a multi-site MPO counts only when its error is below
    ``site_margin`` times the low-rank candidate's: margins below 1 keep a layer low-rank unless the MPO's gain is
    large (measured on SmolLM2: MPO layers start closer to W but heal more slowly than low-rank ones)."""
    check_site_margin(site_margin)
    if not fits:
        raise MPOError("no site factorisation to choose from")
    return min(fits, key=lambda f: f.error if f.low_rank else f.error / site_margin)


def fit_layer(W: np.ndarray, gram: np.ndarray | None, max_params: int, n_cores: int = 2, sites: str = "balanced",
              sweeps: int = 0, cg_iters: int = 10, site_margin: float = 1.0) -> MPO:
    """The best MPO within ``max_params`` over ``fit_candidates`` (chosen by ``choose_fit``), balanced for training
    (``MPO.balance``), in the whitened metric with ``gram``: the low-rank candidate's cores are then whitened
    SVD's factors U sqrt(s), sqrt(s) V^T S^-1."""
    best = choose_fit(fit_candidates(W, gram, max_params, n_cores, sites, sweeps, cg_iters), site_margin)
    return best.mpo.balance(whitening=best.whitening)


def activation_error(W: np.ndarray, M: np.ndarray, gram: np.ndarray) -> float:
    """||(W - M) X|| / ||W X|| from the Gram matrix C = X^T X."""
    delta = W - M
    num = float(((delta @ gram) * delta).sum())
    den = float(((W @ gram) * W).sum())
    return math.sqrt(max(num, 0.0) / den) if den > 0 else math.sqrt(max(num, 0.0))
