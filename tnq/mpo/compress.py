"""``compress_model``: replace a transformers model's attention and MLP linears by MPOs (or, as baselines at the
same parameter count, truncated / whitened SVD factors), optionally fitted to calibration activations, healed by
brief fine-tuning and evaluated before and after; the report lists parameters, bytes, per-layer chi and error,
quality and times, and the model can be saved as safetensors + JSON that loads back without the original."""

from __future__ import annotations

import copy
import math
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..checks import SEED_MAX, Number
from ..checks import check_numbers as check_many
from ..progress import progress_bar
from .baselines import LowRankLinear, svd_linear
from .budget import allocate, check_budget, groups_by_block, sensitivity_profile
from .choices import CALIBRATIONS, METHODS
from .errors import MPOError
from .evaluate import (
    WIKI_SAMPLE,
    embedding_cosine,
    encode_sentences,
    length_batches,
    perplexity,
    read_sentences,
    sentence_embeddings,
    split_sentences,
    split_text,
    tokenize_text,
    windows,
)
from .fit import (
    SITES,
    activation_error,
    choose_fit,
    collect_grams,
    fit_candidates,
    low_rank_sites,
    run_batch,
)
from .heal import check_heal_options, heal
from .heal_checkpoint import check_checkpoint_path
from .linear import MPOLinear
from .models import ROLES, LoadedModel, find_linears, load_model, model_kind, set_module
from .samples import cached_sample_text, cached_teacher_states
from .sequential import SEQUENTIAL_RIDGE, compress_sequentially
from .teacher_states import teacher_states


@dataclass
class LayerReport:
    """One replaced layer: shape, parameters, chi (MPO bond dimensions or the SVD rank) and relative errors."""

    name: str
    shape: tuple[int, int]
    params_before: int
    params_after: int
    chi: list[int]
    error: float
    """||W - M||_F / ||W||_F"""
    activation_error: float | None = None
    """||(W - M) X|| / ||W X|| on the calibration inputs (None without calibration)."""
    sensitivity: float | None = None
    sites: str | None = None
    """MPO site factorisation, e.g. '24x24 | 24x24' (out x in per site); None for low-rank layers."""
    site_errors: dict[str, float] | None = None
    """With ``sites='auto'``: the error (as ``activation_error``, else ``error``) of every factorisation tried."""


@dataclass
class CompressionReport:
    """Everything ``tnq compress`` prints: sizes, per-layer results, quality before/after and times (seconds)."""

    source: str
    method: str
    budget: float
    kind: str
    params_before: int = 0
    params_after: int = 0
    bytes_before: int = 0
    bytes_after: int = 0
    layer_params_before: int = 0
    layer_params_after: int = 0
    metric: str = "perplexity"
    calibration: str = "independent"
    """'sequential': layers fitted in forward order to corrected targets (see sequential.py)."""
    quality_before: float | None = None
    quality_compressed: float | None = None
    quality_healed: float | None = None
    heal_steps: int = 0
    heal_sample_tokens: int = 0
    heal_samples_cached: bool = False
    heal_dense_layers: int = 0
    heal_teacher_states: bool = False
    heal_losses: list[float] = field(default_factory=list)
    layers: list[LayerReport] = field(default_factory=list)
    times: dict[str, float] = field(default_factory=dict)
    output: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def format_text(self, per_layer: bool = True) -> str:
        """Readable summary (and one line per layer)."""
        calibrated = ", sequential calibration" if self.calibration == "sequential" else ""
        lines = [f"{self.source}: {self.kind}, method {self.method}{calibrated}, budget {self.budget:g} of "
                 f"{len(self.layers)} layers' parameters",
                 f"parameters {self.params_before:,} -> {self.params_after:,} "
                 f"({self.params_after / max(self.params_before, 1):.1%}); compressed layers "
                 f"{self.layer_params_before:,} -> {self.layer_params_after:,} "
                 f"({self.layer_params_after / max(self.layer_params_before, 1):.1%})",
                 f"bytes {self.bytes_before:,} -> {self.bytes_after:,}"]
        cached = " (cached)" if self.heal_samples_cached else ""
        sampled = f", {self.heal_sample_tokens:,} sampled tokens{cached}" if self.heal_sample_tokens else ""
        n_dense = self.heal_dense_layers
        dense = f", {n_dense} dense layer{'s' * (n_dense != 1)} trained too" if n_dense else ""
        dense += ", teacher states precomputed" if self.heal_teacher_states else ""
        quality = [("original", self.quality_before), ("compressed", self.quality_compressed),
                   (f"healed ({self.heal_steps} steps{sampled}{dense})", self.quality_healed)]
        lines.append(f"{self.metric}: " + ", ".join(f"{k} {v:.4g}" for k, v in quality if v is not None))
        lines.append("time: " + ", ".join(f"{k} {v:.1f} s" for k, v in self.times.items()))
        auto = [r for r in self.layers if r.site_errors]
        if auto:
            gains = [1 - r.site_errors[r.sites] / r.site_errors[low_rank_sites(*r.shape)] for r in auto
                     if r.sites != low_rank_sites(*r.shape)]
            span = f" (activation error {min(gains):.1%} to {max(gains):.1%} below low-rank)" if gains else ""
            lines.append(f"sites auto: {len(gains)} of {len(auto)} layers kept a multi-site MPO{span}, "
                         f"{len(auto) - len(gains)} the low-rank sites")
        if per_layer:
            lines.append(f"{'layer':<44} {'shape':>11} {'params':>9} {'chi':>12} {'error':>7} {'act.err':>7}")
            for r in self.layers:
                act = "" if r.activation_error is None else f"{r.activation_error:.3f}"
                lines.append(f"{r.name:<44} {r.shape[0]:>5}x{r.shape[1]:<5} {r.params_after:>9,} "
                             f"{','.join(map(str, r.chi)) or 'dense':>12} {r.error:7.3f} {act:>7}")
        if self.output:
            lines.append(f"saved {self.output}")
        return "\n".join(lines)

    def plot_sensitivity(self, path: str | os.PathLike) -> None:
        """Bar chart of the per-block sensitivity (loss increase) and the parameter fraction each block kept."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from ..io import save_figure

        groups = groups_by_block([r.name for r in self.layers])
        by_name = {r.name: r for r in self.layers}
        labels = list(groups)
        sens = [by_name[m[0]].sensitivity or 0.0 for m in groups.values()]
        kept = [sum(by_name[n].params_after for n in m) / sum(by_name[n].params_before for n in m)
                for m in groups.values()]
        fig, (a, b) = plt.subplots(2, 1, figsize=(max(6, 0.3 * len(labels)), 5), sharex=True)
        a.bar(range(len(labels)), sens, color="tab:red")
        a.set_ylabel("loss increase")
        a.set_title(f"layer sensitivity ({self.method} at {self.budget:g} of parameters, one block at a time)")
        b.bar(range(len(labels)), kept, color="tab:blue")
        b.set_ylabel("parameters kept")
        b.set_xticks(range(len(labels)), [lab.replace("block ", "") for lab in labels], fontsize=7)
        b.set_xlabel("block")
        fig.tight_layout()
        save_figure(fig, path)
        plt.close(fig)


@dataclass
class CompressResult:
    model: nn.Module
    tokenizer: Any
    report: CompressionReport
    specs: dict[str, dict[str, Any]]


def model_size(model: nn.Module) -> tuple[int, int]:
    """(parameters, bytes) counting shared (tied) tensors once."""
    seen: set[int] = set()
    params = nbytes = 0
    for p in model.parameters():
        if p.data_ptr() in seen:
            continue
        seen.add(p.data_ptr())
        params += p.numel()
        nbytes += p.numel() * p.element_size()
    return params, nbytes


def compress_layer(linear: nn.Linear, method: str, max_params: int, n_cores: int = 2,
                   gram: np.ndarray | None = None, fit_steps: int = 0, fit_iters: int = 10,
                   sites: str = "balanced", site_margin: float = 1.0) -> tuple[nn.Module, LayerReport]:
    """One replacement within ``max_params`` weight parameters and its report (name filled in by the caller). For
    MPOs with ``gram``, ``fit_steps`` ALS sweeps of ``fit_iters`` CG iterations per core update fit the cores;
    ``sites`` picks the site factorisation ('balanced' or 'auto', see ``fit.site_candidates``; with 'auto' a
    multi-site MPO must beat the low-rank one's error by the factor ``site_margin``, see ``fit.choose_fit``)."""
    W = linear.weight.detach().cpu().to(torch.float64).numpy()
    bias = None if linear.bias is None else linear.bias.detach().cpu()
    if method == "mpo":
        fits = fit_candidates(W, gram, max_params, n_cores, sites, fit_steps, fit_iters)
        best = choose_fit(fits, site_margin)
        mpo = best.mpo.balance(whitening=best.whitening)
        site_errors = {f.sites: f.error for f in fits} if len(fits) > 1 else None
        layer: nn.Module = MPOLinear(mpo, bias, dtype=linear.weight.dtype, allow_dense=True)
        M = mpo.to_matrix()
        chi = mpo.bond_dims
        sites_text = best.sites
    elif method in ("svd", "whitened-svd"):
        if method == "whitened-svd" and gram is None:
            raise MPOError("whitened-svd needs calibration inputs (text tokens)")
        layer = svd_linear(linear, max_params, gram if method == "whitened-svd" else None)
        M = layer.weight_matrix().detach().double().numpy()
        chi, sites_text, site_errors = [layer.rank], None, None
    else:
        raise MPOError(f"unknown method {method!r}; choose from {', '.join(METHODS)}")
    norm = float(np.linalg.norm(W)) or 1.0
    report = LayerReport("", (W.shape[0], W.shape[1]), linear.weight.numel(), sum(p.numel() for p in layer.parameters())
                         - (0 if bias is None else bias.numel()), chi, float(np.linalg.norm(W - M)) / norm,
                         None if gram is None else activation_error(W, M, gram))
    report.sites, report.site_errors = sites_text, site_errors
    return layer, report


# compress_model's numeric settings (the tnq compress options refuse the same values)
_NUMBERS: dict[str, Number] = {
    "n_cores": Number(integer=True, minimum=1),
    "calibration_tokens": Number(integer=True, minimum=1),
    "fit_steps": Number(integer=True, minimum=0),
    "fit_iters": Number(integer=True, minimum=1),
    "site_margin": Number(above=0, maximum=1),
    "sequential_ridge": Number(minimum=0),
    "sensitivity_strength": Number(minimum=0),
    "heal_steps": Number(integer=True, minimum=0, optional=True),
    "heal_seconds": Number(minimum=0, optional=True),
    "heal_lr": Number(above=0),
    "heal_batch_size": Number(integer=True, minimum=1, optional=True),
    "heal_hidden_weight": Number(minimum=0),
    "heal_label_weight": Number(minimum=0, maximum=1),
    "heal_sample_tokens": Number(integer=True, minimum=0),
    "window": Number(integer=True, minimum=2),
    "eval_tokens": Number(integer=True, minimum=0, optional=True),
    "eval_window": Number(integer=True, minimum=2),
    "seed": Number(integer=True, minimum=0, maximum=SEED_MAX),
}


def check_numbers(**values: Any) -> None:
    """Refuse (``MPOError`` naming the parameter) a setting of ``compress_model`` that is not a finite number of
    the right kind and range: the same values the ``tnq compress`` options refuse."""
    check_many(_NUMBERS, MPOError, **values)


def check_paths(model: Any, *, text: str | os.PathLike | None = None, extra_text: str | os.PathLike | None = None,
                out: str | os.PathLike | None = None, overwrite: bool = False, plot: str | os.PathLike | None = None,
                heal_checkpoint: str | os.PathLike | None = None, samples_cache: str | os.PathLike | None = None,
                options: Mapping[str, str] | None = None) -> None:
    """Before any work: refuse an output that would overwrite or sit inside an input (the model, the text files),
    a folder ``out`` that is or holds the model or that ``overwrite`` could not replace (see
    ``persist.check_replaceable``), a plot format matplotlib cannot write, a file output inside ``out`` (replaced
    whole) or two outputs on one path, and a place that cannot be written. ``options`` names the parameters in
    the errors (the CLI passes its option names)."""
    from ..errors import UsageError
    from ..io import check_distinct, check_output, check_plot
    from .persist import check_replaceable

    def name(key: str) -> str:
        return (options or {}).get(key, key)

    inputs = [Path(p) for p in (text, None if extra_text == WIKI_SAMPLE else extra_text) if p is not None]
    if isinstance(model, (str, os.PathLike)):
        inputs += [Path(model)] + ([Path(model).parent / "config.json"] if Path(model).is_file() else [])
    if out is not None:
        check_output(out, option=name("out"), inputs=inputs, folder=True)
        check_replaceable(out, overwrite, name("out"))
    files = {key: path for key, path in (("plot", plot), ("heal_checkpoint", heal_checkpoint),
                                         ("samples_cache", samples_cache)) if path is not None}
    for key, path in files.items():
        if out is not None and Path(out).expanduser().resolve() in Path(path).expanduser().resolve().parents:
            raise UsageError(f"{name(key)} {str(path)!r} is inside {name('out')} {str(out)!r}, which is written "
                             f"whole at the end: choose another path")
    check_distinct({name(key): path for key, path in files.items()})
    check_plot(plot, name("plot"), inputs)
    check_checkpoint_path(heal_checkpoint)
    for key in ("heal_checkpoint", "samples_cache"):
        if key in files:
            check_output(files[key], option=name(key), inputs=inputs)


def _as_loaded(model: Any, tokenizer: Any) -> LoadedModel:
    if isinstance(model, LoadedModel):
        return model
    if isinstance(model, (str, os.PathLike)):
        loaded = load_model(model)
        return loaded if tokenizer is None else LoadedModel(loaded.model, tokenizer, loaded.kind, loaded.source)
    if isinstance(model, nn.Module):
        return LoadedModel(model.eval(), tokenizer, model_kind(model), type(model).__name__)
    raise MPOError(f"model must be a path, a LoadedModel or a torch.nn.Module, got {type(model).__name__}")


def compress_model(model: Any, budget: float = 0.5, method: str = "mpo", layers: str | Sequence[str] = ROLES,
                   n_cores: int = 2, tokenizer: Any = None, text: str | os.PathLike | None = None,
                   tokens: torch.Tensor | None = None, extra_text: str | os.PathLike | None = None,
                   calibration_tokens: int = 4096, fit_steps: int = 0,
                   fit_iters: int = 10, sites: str = "balanced", site_margin: float = 1.0,
                   calibration: str = "independent", sequential_ridge: float = SEQUENTIAL_RIDGE,
                   sensitivity: bool | Mapping[str, float] = False,
                   sensitivity_strength: float = 2.0,
                   heal_steps: int | None = None, heal_seconds: float | None = None, heal_lr: float = 0.003,
                   heal_batch_size: int | None = None, heal_hidden_weight: float = 1.0,
                   heal_label_weight: float = 0.5, heal_precision: str = "float32", heal_sample_tokens: int = 0,
                   heal_samples_cache: str | os.PathLike | None = None, heal_dense: bool = False,
                   heal_checkpoint: str | os.PathLike | None = None, heal_teacher_states: bool = False,
                   distill: bool = True,
                   window: int = 256, eval_tokens: int | None = 16384, eval_window: int = 512,
                   out: str | os.PathLike | None = None, overwrite: bool = False,
                   plot: str | os.PathLike | None = None, progress: bool | None = None,
                   seed: int = 0) -> CompressResult:
    """Compress ``model`` (a path ``load_model`` reads, a ``LoadedModel`` or a transformers module, modified in
    place) to ``budget`` of the chosen layers' parameters with ``method`` ('mpo', 'svd', 'whitened-svd').

    Text (``tokens``, or ``text`` file tokenized; default gensim's lee_background.cor) is split: the first
    ``eval_tokens`` evaluate (perplexity in ``eval_window`` windows for causal LMs, sentence-embedding cosine to
    the original for encoders), the rest, followed by ``extra_text`` (a file, or ``'gensim-wiki'`` for
    ``evaluate.gensim_wiki_text``) when given, calibrate (``calibration_tokens``: Gram matrices for whitened SVD and
    activation-aware MPO fitting: ``fit_steps`` ALS sweeps over the cores, ``fit_iters`` CG iterations each;
    ``sites='auto'`` also tries other site factorisations per layer, see ``fit.site_candidates``, and keeps a
    multi-site MPO only when its error is below ``site_margin`` times the low-rank one's, see ``fit.choose_fit``;
    ``calibration='sequential'`` compresses the layers in forward order, each fitted to restore the original
    outputs from the inputs the compressed layers before it give, ``sequential_ridge`` keeping each layer near
    its original where the text says little, see ``sequential.py``; layer errors are then measured against that
    corrected target),
    profile sensitivity (``sensitivity=True``, or pass a measured
    ``{layer: loss increase}``; budgets follow sensitivity^``sensitivity_strength``, see ``budget.allocate``;
    layers given their full size stay dense) and heal (``heal_steps`` and/or
    ``heal_seconds``, ``heal_batch_size`` examples a step; by distillation from the original unless
    ``distill=False``; ``heal_precision='bfloat16'`` heals in bfloat16 autocast; ``heal_sample_tokens``: causal LMs
    first sample that many tokens from the original model, prompted by the training text (``samples.sample_text``),
    and heal on them followed by the training text; the sampling time counts against ``heal_seconds``; with
    ``heal_samples_cache`` (a safetensors file) samples are reused from an earlier run with the same model, text and
    settings, see ``samples.cached_sample_text``, and cost no healing time; ``heal_dense``: the chosen layers the
    profile kept dense train too, not only the compressed ones; ``heal_checkpoint``: a safetensors file where
    healing saves its state every few minutes, at the end and on Ctrl-C or SIGTERM, and from which the same call
    resumes it, see ``heal_checkpoint.py``; ``heal_teacher_states``: causal LMs heal on whole ``window``-token
    windows (the samples, then the training text cut into windows) over which the original's last hidden states
    are computed once, and kept in ``heal_samples_cache``, so a step runs only its output head, see
    ``teacher_states.py``; the time spent computing them, not loading them, counts against ``heal_seconds``).
    Causal LMs calibrate and heal on
    ``window``-token windows (batch 1 by default; loss (1 - ``heal_label_weight``) x distillation +
    ``heal_label_weight`` x next-token loss); encoders
    with a tokenizer on the training text's sentences tokenized as the evaluation tokenizes them (special tokens;
    calibration in unpadded equal-length batches, healing in padded masked batches of 16 by default, loss
    1 - embedding cosine + ``heal_hidden_weight`` x relative hidden-state MSE, dropout off when distilling).
    With ``out`` the result is saved (``save_compressed``); with ``plot`` the sensitivity profile is drawn."""
    budget = check_budget(budget)
    check_numbers(n_cores=n_cores, calibration_tokens=calibration_tokens, fit_steps=fit_steps, fit_iters=fit_iters,
                  site_margin=site_margin, sequential_ridge=sequential_ridge,
                  sensitivity_strength=sensitivity_strength, heal_steps=heal_steps, heal_seconds=heal_seconds,
                  heal_lr=heal_lr, heal_batch_size=heal_batch_size, heal_hidden_weight=heal_hidden_weight,
                  heal_label_weight=heal_label_weight, heal_sample_tokens=heal_sample_tokens, window=window,
                  eval_tokens=eval_tokens, eval_window=eval_window, seed=seed)
    check_heal_options(heal_label_weight, heal_precision, "heal_")
    if heal_samples_cache is not None and not heal_sample_tokens:
        raise MPOError("heal_samples_cache caches sampled text: give heal_sample_tokens too")
    if heal_checkpoint is not None and not (heal_steps or heal_seconds):
        raise MPOError("heal_checkpoint saves healing progress: give heal_steps or heal_seconds too")
    if heal_teacher_states and not (distill and (heal_steps or heal_seconds)):
        raise MPOError("heal_teacher_states speed up distillation: give heal_steps or heal_seconds, and distill")
    if heal_sample_tokens and not (heal_steps or heal_seconds):
        raise MPOError("heal_sample_tokens is text to heal on: give heal_steps or heal_seconds too")
    if plot is not None and sensitivity is False:
        raise MPOError("a sensitivity plot needs the sensitivity profile (sensitivity=True / --sensitivity)")
    if method not in METHODS:
        raise MPOError(f"unknown method {method!r}; choose from {', '.join(METHODS)}")
    if calibration not in CALIBRATIONS:
        raise MPOError(f"calibration must be one of {', '.join(CALIBRATIONS)}, got {calibration!r}")
    if calibration == "sequential" and method == "svd":
        raise MPOError("calibration='sequential' fits layers to their inputs: use method 'whitened-svd' or 'mpo'")
    if sites not in SITES:
        raise MPOError(f"sites must be one of {', '.join(SITES)}, got {sites!r}")
    check_paths(model, text=text, extra_text=extra_text, out=out, overwrite=overwrite, plot=plot,
                heal_checkpoint=heal_checkpoint, samples_cache=heal_samples_cache)
    torch.manual_seed(seed)
    clock = time.perf_counter()
    times: dict[str, float] = {}
    loaded = _as_loaded(model, tokenizer)
    net, kind = loaded.model, loaded.kind
    times["load"] = time.perf_counter() - clock
    if heal_sample_tokens and kind != "causal-lm":
        raise MPOError(f"heal_sample_tokens: only causal LMs sample text; {loaded.source} is a {kind}")
    if heal_teacher_states and kind != "causal-lm":
        raise MPOError(f"heal_teacher_states: only causal LMs heal on token windows; {loaded.source} is a {kind}")
    names = find_linears(net, layers)
    modules = {n: net.get_submodule(n) for n in names}
    needs_text = (method == "whitened-svd" or fit_steps > 0 or calibration == "sequential" or sensitivity is True
                  or heal_steps or heal_seconds or eval_tokens)
    ids = tokens if tokens is not None else (tokenize_text(loaded.tokenizer, text) if needs_text else None)
    report = CompressionReport(loaded.source, method, budget, kind,
                               metric="perplexity" if kind == "causal-lm" else "embedding cosine",
                               calibration=calibration, times=times)
    report.params_before, report.bytes_before = model_size(net)
    report.layer_params_before = sum(m.weight.numel() for m in modules.values())

    eval_ids = train_ids = None
    if ids is not None:
        eval_ids, train_ids = split_text(ids, eval_tokens)
        if extra_text is not None:
            train_ids = torch.cat([train_ids, tokenize_text(loaded.tokenizer, extra_text)])
    quality, sentences, reference = None, None, None
    if eval_ids is not None and len(eval_ids) > 1:
        clock = time.perf_counter()
        if kind == "causal-lm":
            quality = lambda m: perplexity(m, eval_ids, eval_window, None, progress)  # noqa: E731
        else:
            if loaded.tokenizer is None:
                raise MPOError("embedding cosine needs the model's tokenizer")
            sentences = _decode_sentences(loaded.tokenizer, eval_ids)
            reference = sentence_embeddings(net, loaded.tokenizer, sentences)
            quality = lambda m: embedding_cosine(m, reference, loaded.tokenizer, sentences)  # noqa: E731
        report.quality_before = quality(net)
        times["evaluate original"] = time.perf_counter() - clock

    original = copy.deepcopy(net).eval() if (distill or heal_sample_tokens) and (heal_steps or heal_seconds) else None
    train_sentences = None  # encoders: the training text as tokenized sentences (calibration and healing)
    if train_ids is not None and kind != "causal-lm" and loaded.tokenizer is not None:
        train_sentences = encode_sentences(loaded.tokenizer, split_sentences(
            loaded.tokenizer.decode(train_ids.tolist(), skip_special_tokens=True).replace("\n", " "))) or None
    if train_sentences:
        calib: list[Any] = length_batches(train_sentences, calibration_tokens)
    else:
        calib = [] if train_ids is None else windows(train_ids, window, calibration_tokens)
    grams: dict[str, np.ndarray] = {}
    if calibration == "sequential" and not calib:
        raise MPOError("calibration='sequential' needs calibration text (tokens after the evaluation tokens)")
    if calib and (method == "whitened-svd" or (method == "mpo" and fit_steps > 0)) and (
            calibration == "independent" or sensitivity is True):  # sequential calibration makes its own
        clock = time.perf_counter()
        grams = collect_grams(net, names, calib, progress)
        times["calibrate"] = time.perf_counter() - clock

    sizes = {n: modules[n].weight.numel() for n in names}
    profile = dict(sensitivity) if isinstance(sensitivity, Mapping) else None
    if sensitivity is True:
        if not calib:
            raise MPOError("sensitivity profiling needs text (tokens)")
        clock = time.perf_counter()
        uniform = allocate(sizes, budget)
        probe = calib[:2] if kind == "causal-lm" else calib[len(calib) // 2:][:2]
        with torch.no_grad():
            base_out = None if kind == "causal-lm" else [_encode(net, b).detach() for b in probe]

        def probe_loss(m: nn.Module) -> float:
            with torch.no_grad():
                if kind == "causal-lm":
                    return float(np.mean([float(m(b, labels=b).loss) for b in probe]))
                return float(np.mean([float(((_encode(m, b) - t) ** 2).mean() / (t ** 2).mean())
                                      for b, t in zip(probe, base_out)]))

        profile = sensitivity_profile(
            net, names, lambda n: compress_layer(modules[n], method, uniform[n], n_cores, grams.get(n), sites=sites,
                                             site_margin=site_margin)[0],
            probe_loss, progress)
        times["sensitivity"] = time.perf_counter() - clock

    targets = allocate(sizes, budget, profile, strength=sensitivity_strength)
    clock = time.perf_counter()
    specs: dict[str, dict[str, Any]] = {}
    from .persist import layer_spec

    layer_reports: dict[str, LayerReport] = {}

    def kept_dense(name: str) -> bool:
        """The profile gave this layer its full size: it stays exact and dense."""
        return targets[name] >= sizes[name]

    def replace(name: str, linear: nn.Linear, gram: np.ndarray | None) -> None:
        if kept_dense(name):
            d_out, d_in = linear.weight.shape
            calibrated = gram is not None or calibration == "sequential"  # sequential skips dense-only stages
            layer_report = LayerReport(name, (d_out, d_in), sizes[name], sizes[name], [], 0.0,
                                       0.0 if calibrated else None)
        else:
            layer, layer_report = compress_layer(linear, method, targets[name], n_cores, gram,
                                                 fit_steps, fit_iters, sites, site_margin)
            layer_report.name = name
            set_module(net, name, layer)
            specs[name] = layer_spec(layer)
        layer_report.sensitivity = None if profile is None else profile[name]
        layer_reports[name] = layer_report

    if calibration == "sequential":
        compress_sequentially(net, names, calib, replace, sequential_ridge, progress, unchanged=kept_dense)
    else:
        for name in progress_bar(names, progress, f"compress ({method})"):
            replace(name, modules[name], grams.get(name))
    report.layers.extend(layer_reports[n] for n in names)
    grams.clear()
    step = "sequential calibration + decompose" if calibration == "sequential" else "decompose"
    times[step + (" + fit" if fit_steps and method == "mpo" and calib else "")] = time.perf_counter() - clock
    report.layer_params_after = sum(r.params_after for r in report.layers)
    if quality is not None:
        clock = time.perf_counter()
        report.quality_compressed = quality(net)
        times["evaluate compressed"] = time.perf_counter() - clock

    if heal_steps or heal_seconds:
        if not train_sentences and (train_ids is None or len(train_ids) <= window + 1):
            raise MPOError(f"healing needs more than {window + 1} tokens of text after the evaluation tokens")
        heal_text = train_sentences or train_ids
        if heal_sample_tokens:
            clock = time.perf_counter()
            samples, sampled = cached_sample_text(original, train_ids, heal_sample_tokens, heal_samples_cache,
                                                  length=window, seed=seed, progress=progress)
            heal_text = torch.cat([samples, train_ids])
            report.heal_sample_tokens, report.heal_samples_cached = len(samples), not sampled
            times["sample text" if sampled else "load cached samples"] = time.perf_counter() - clock
            if heal_seconds is not None and sampled:
                heal_seconds = max(0.0, heal_seconds - times["sample text"])
        heal_states = None
        if heal_teacher_states:
            heal_text, heal_states, spent = _windows_and_states(original, samples if heal_sample_tokens else None,
                                                                train_ids, window, heal_samples_cache, progress)
            report.heal_teacher_states = True
            times["teacher states"] = spent
            if heal_seconds is not None:
                heal_seconds = max(0.0, heal_seconds - spent)
        clock = time.perf_counter()
        pad_id = getattr(loaded.tokenizer, "pad_token_id", None)
        trained = [n for n in names if n in specs or heal_dense]
        report.heal_dense_layers = len(trained) - len(specs)
        report.heal_losses = heal(net, [net.get_submodule(n) for n in trained], heal_text,
                                  heal_steps, heal_seconds, window=window,
                                  batch_size=heal_batch_size or (16 if train_sentences else 1), lr=heal_lr,
                                  teacher=original if distill else None, seed=seed, progress=progress,
                                  pad_id=0 if pad_id is None else pad_id, hidden_weight=heal_hidden_weight,
                                  dropout=kind == "causal-lm" or not distill, precision=heal_precision,
                                  label_weight=heal_label_weight if kind == "causal-lm" else 0.0,
                                  checkpoint=heal_checkpoint, teacher_states=heal_states)
        report.heal_steps = len(report.heal_losses)
        times["heal"] = time.perf_counter() - clock
        original = None
        if quality is not None:
            clock = time.perf_counter()
            report.quality_healed = quality(net)
            times["evaluate healed"] = time.perf_counter() - clock
    report.params_after, report.bytes_after = model_size(net)
    if plot is not None:
        report.plot_sensitivity(plot)
    if out is not None:
        from .persist import compressed_layers, save_compressed

        clock = time.perf_counter()
        report.output = str(out)
        save_compressed(net, out, compressed_layers(net), loaded.tokenizer, _json_safe(report.to_dict()), overwrite)
        times["save"] = time.perf_counter() - clock
    return CompressResult(net, loaded.tokenizer, report, specs)


def _encode(model: nn.Module, batch: Any) -> torch.Tensor:
    """Last hidden states of an encoder for a batch (input ids or a dict of model inputs)."""
    return run_batch(model, batch).last_hidden_state


def _decode_sentences(tokenizer: Any, ids: torch.Tensor, limit: int = 256) -> list[str]:
    """Sentences of the evaluation text (decoded back from its tokens) for the embedding comparison."""
    text = tokenizer.decode(ids.tolist(), skip_special_tokens=True)
    return split_sentences(text.replace("\n", " "))[:limit] or read_sentences(limit=limit)


def _windows_and_states(original: nn.Module, samples: torch.Tensor | None, train_ids: torch.Tensor, window: int,
                        cache: str | os.PathLike | None, progress: bool | None,
                        ) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Healing windows (the sampled sequences, then the training text cut into ``window``-token windows) with the
    original's last hidden states over them, and the seconds spent computing (not loading) those states."""
    rows, states, spent = [], [], 0.0
    if samples is not None:
        clock = time.perf_counter()
        cached, computed = cached_teacher_states(original, samples, window, cache, progress)
        rows.append(samples.reshape(-1, window))
        states.append(cached)
        if computed:
            spent += time.perf_counter() - clock
    real = train_ids[:len(train_ids) // window * window].reshape(-1, window)
    if len(real):
        clock = time.perf_counter()
        rows.append(real)
        states.append(teacher_states(original, real, progress=progress))
        spent += time.perf_counter() - clock
    return torch.cat(rows), torch.cat(states), spent


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


__all__ = ["METHODS", "CompressResult", "CompressionReport", "LayerReport", "LowRankLinear", "compress_layer",
           "compress_model", "model_size"]
