"""``compress_model``: replace a transformers model's attention and MLP linears by compressed layers (a ``Method``
from the registry: MPO, truncated or whitened SVD), optionally fitted to calibration activations, healed by brief
fine-tuning and evaluated before and after; with ``max_slowdown`` each layer's form is chosen by timing and the
model's speed compared with the original's (``speed.py``); the report lists parameters, bytes, per-layer chi, error,
form and time, quality, speed and times, and the model can be saved as safetensors + JSON that loads back without the
original. The steps: load -> calibrate -> allocate -> replace -> heal -> evaluate -> speed -> save, each a function
below."""

from __future__ import annotations

import copy
import math
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..mpo.errors import MPOError
from ..progress import progress_bar
from .budget import Budget, allocate, as_budget, sensitivity_profile
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
from .fit import collect_grams, run_batch
from .heal import heal
from .methods import Method, get_method, method_name
from .methods.base import FLOAT_BYTES, storage_bytes
from .models import ROLES, LoadedModel, find_linears, load_model, model_kind, set_module
from .options import SEED, Calibration, Evaluation, Healing, Output, Settings, Text
from .report import CompressionReport, CompressResult, LayerReport, model_size, peak_memory
from .samples import cached_sample_text, cached_teacher_states
from .sequential import compress_sequentially
from .teacher_states import teacher_states


def _name(settings: Settings, key: str, cli: bool) -> str:
    """The setting name of field ``key`` (its option flag with ``cli``), to name it in errors."""
    meta = next(f.metadata for f in fields(settings) if f.name == key)  # type: ignore[arg-type]
    return meta["option"].flag if cli else meta["name"]


def check_paths(model: Any, text: Text | None = None, healing: Healing | None = None, output: Output | None = None,
                *, cli: bool = False) -> None:
    """Before any work: refuse an output that would overwrite or sit inside an input (the model, the text files),
    a folder ``out`` that is or holds the model or that ``overwrite`` could not replace (see
    ``persist.check_replaceable``), a plot format matplotlib cannot write, a file output inside ``out`` (replaced
    whole) or two outputs on one path, and a place that cannot be written. Errors name the settings (their
    options with ``cli``)."""
    from ..errors import UsageError
    from ..io import check_distinct, check_output, check_plot
    from .persist import check_replaceable

    text, healing, output = text or Text(), healing or Healing(), output or Output()
    inputs = [Path(p) for p in (text.file, None if text.extra == WIKI_SAMPLE else text.extra) if p is not None]
    if isinstance(model, (str, os.PathLike)):
        inputs += [Path(model)] + ([Path(model).parent / "config.json"] if Path(model).is_file() else [])
    out, out_name = output.out, _name(output, "out", cli)
    if out is not None:
        check_output(out, option=out_name, inputs=inputs, folder=True)
        check_replaceable(out, output.overwrite, out_name)
    files = {_name(group, key, cli): getattr(group, key) for group, key in (
        (output, "plot"), (healing, "checkpoint"), (healing, "samples_cache")) if getattr(group, key) is not None}
    for name, path in files.items():
        if out is not None and Path(out).expanduser().resolve() in Path(path).expanduser().resolve().parents:
            raise UsageError(f"{name} {str(path)!r} is inside {out_name} {str(out)!r}, which is written "
                             f"whole at the end: choose another path")
    check_distinct(files)
    check_plot(output.plot, _name(output, "plot", cli), inputs)
    for group, key in ((healing, "checkpoint"), (healing, "samples_cache")):
        if getattr(group, key) is not None:
            check_output(getattr(group, key), option=_name(group, key, cli), inputs=inputs)


def _as_loaded(model: Any, tokenizer: Any) -> LoadedModel:
    if isinstance(model, LoadedModel):
        return model
    if isinstance(model, (str, os.PathLike)):
        loaded = load_model(model)
        return loaded if tokenizer is None else LoadedModel(loaded.model, tokenizer, loaded.kind, loaded.source)
    if isinstance(model, nn.Module):
        return LoadedModel(model.eval(), tokenizer, model_kind(model), type(model).__name__)
    raise MPOError(f"model must be a path, a LoadedModel or a torch.nn.Module, got {type(model).__name__}")


@dataclass
class _Job:
    """One compression in progress: the settings, the model and what the steps pass on to each other."""

    loaded: LoadedModel
    method: Method
    text: Text
    calibration: Calibration
    healing: Healing
    progress: bool | None
    seed: int
    report: CompressionReport
    names: list[str]
    eval_ids: torch.Tensor | None = None
    train_ids: torch.Tensor | None = None
    train_sentences: list[torch.Tensor] | None = None  # encoders: the training text as tokenized sentences
    calib: list[Any] = field(default_factory=list)
    grams: dict[str, np.ndarray] = field(default_factory=dict)
    profile: dict[str, float] | None = None
    specs: dict[str, dict[str, Any]] = field(default_factory=dict)
    original: nn.Module | None = None
    max_slowdown: float | None = None
    replaced: dict[str, nn.Module] = field(default_factory=dict)  # with max_slowdown: the linears replaced, to time

    @property
    def net(self) -> nn.Module:
        return self.loaded.model

    def timed(self, step: str, start: float) -> None:
        self.report.times[step] = time.perf_counter() - start

    def size(self, linear: nn.Linear) -> int:
        """A layer's size in the budget's unit: its parameters, or its bytes in float16."""
        return linear.weight.numel() * (FLOAT_BYTES if self.report.budget_unit == "bytes" else 1)

    def max_params(self, method: Method, linear: nn.Linear, target: int) -> int:
        """The ``max_params`` of ``method.fit`` for a layer's budget ``target`` (in the budget's unit)."""
        if self.report.budget_unit == "bytes":
            return method.params_for_bytes(tuple(linear.weight.shape), target)
        return target


def compress_model(model: Any, budget: float | Budget = 0.5, method: str | Method = "mpo", *,
                   layers: str | Sequence[str] = ROLES, tokenizer: Any = None, text: Text | None = None,
                   calibration: Calibration | None = None, healing: Healing | None = None,
                   evaluation: Evaluation | None = None, output: Output | None = None,
                   progress: bool | None = None, seed: int = 0) -> CompressResult:
    """Compress ``model`` (a path ``load_model`` reads, a ``LoadedModel`` or a transformers module, modified in
    place) to ``budget`` of the chosen ``layers``' parameters (or, given ``Budget(fraction, unit='bytes')``, of
    their bytes in float16, each method counting its own bytes, scales included) with ``method`` (a registered name,
    ``METHODS``, or a ``Method`` with its own settings, e.g. ``MPOMethod(cores=2, fit_steps=1, sites='auto')``).

    ``text`` (``Text``; default gensim's lee_background.cor) is split: the first ``evaluation.tokens`` evaluate
    (perplexity in ``evaluation.window`` windows for causal LMs, sentence-embedding cosine to the original for
    encoders), the rest, followed by ``text.extra``, calibrate (``Calibration``: Gram matrices for the methods
    that use them, layers fitted one after the other with ``mode='sequential'``, a sensitivity profile sharing the
    budget) and heal (``Healing``). Causal LMs calibrate and heal on ``text.window``-token windows; encoders on the
    training text's sentences. ``evaluation.max_slowdown`` (default 1; None: no timing) runs each compressed layer
    in its most compact form that is at most that many times slower than the linear it replaced, timed on this
    machine, and times the model's forward pass against the original's (``speed.py``: the report says whether it is
    within the slowdown; a warning when not). ``output`` saves the result (``save_compressed``) and draws the
    sensitivity plot.
    ``from_names`` builds all of these from flat setting names, as the command line does."""
    target = as_budget(budget)
    budget = target.fraction
    SEED.check("seed", seed, MPOError)
    method = get_method(method)
    text, calibration, healing = text or Text(), calibration or Calibration(), healing or Healing()
    evaluation, output = evaluation or Evaluation(), output or Output()
    if output.plot is not None and calibration.sensitivity is False:
        raise MPOError("a sensitivity plot needs the sensitivity profile (sensitivity=True / --sensitivity)")
    if calibration.mode == "sequential" and not method.fits_inputs:
        raise MPOError("calibration='sequential' fits layers to their inputs: use method 'whitened-svd' or 'mpo'")
    check_paths(model, text, healing, output)
    torch.manual_seed(seed)
    if calibration.stream:
        return _compress_streaming(model, method, target, layers, text, calibration, healing, evaluation, output,
                                   progress, seed)
    clock = time.perf_counter()
    loaded = _as_loaded(model, tokenizer)
    job = _start(loaded, method, target, evaluation.max_slowdown, layers, text, calibration, healing, progress, seed)
    job.timed("load", clock)
    read_text(job, evaluation)
    quality = _measure_original(job, evaluation)
    _calibrate(job)
    targets = _allocate(job, budget)
    _replace(job, targets)
    report = job.report
    _evaluate(job, quality, "compressed")
    if healing.active:
        _heal(job)
        _evaluate(job, quality, "healed")
    report.params_after, report.bytes_after = model_size(job.net)
    if job.max_slowdown is not None and job.replaced:
        _speed(job, job.max_slowdown)
    if output.plot is not None:
        report.plot_sensitivity(output.plot)
    report.peak_memory = peak_memory()
    if output.out is not None:
        _save(job, output)
    return CompressResult(job.net, loaded.tokenizer, report, job.specs)


def _compress_streaming(model: Any, method: Method, target: Budget, layers: str | Sequence[str], text: Text,
                        calibration: Calibration, healing: Healing, evaluation: Evaluation, output: Output,
                        progress: bool | None, seed: int) -> CompressResult:
    """``compress_model`` block by block from the safetensors files (``streaming.py``), after refusing what needs
    the whole model in memory."""
    from .streaming import compress_streaming

    refused = [what for what, given in (
        ("healing (heal_steps / heal_seconds)", healing.active),
        ("sequential calibration", calibration.mode == "sequential"),
        ("a measured sensitivity profile (sensitivity=True)", calibration.sensitivity is True),
        ("a sensitivity plot", output.plot is not None)) if given]
    if refused:
        raise MPOError(f"streaming compression holds one block at a time, so it cannot do {refused[0]}: drop it or "
                       f"compress without streaming")
    if output.out is None:
        raise MPOError("streaming compression writes the model as it goes: give an output folder (out / --out)")
    if not isinstance(model, (str, os.PathLike)):
        raise MPOError("streaming compression reads the model from its files: give its path, not a loaded model")

    def job(loaded: LoadedModel) -> _Job:
        return _start(loaded, method, target, evaluation.max_slowdown, layers, text, calibration, healing, progress,
                      seed)

    return compress_streaming(model, job, calibration, evaluation, output)


def _start(loaded: LoadedModel, method: Method, target: Budget, max_slowdown: float | None,
           layers: str | Sequence[str], text: Text, calibration: Calibration, healing: Healing,
           progress: bool | None, seed: int) -> _Job:
    """The job for a loaded model: the layers to compress, the budget, the slowdown limit and the report's sizes
    before."""
    kind = loaded.kind
    if healing.sample_tokens and kind != "causal-lm":
        raise MPOError(f"heal_sample_tokens: only causal LMs sample text; {loaded.source} is a {kind}")
    if healing.teacher_states and kind != "causal-lm":
        raise MPOError(f"heal_teacher_states: only causal LMs heal on token windows; {loaded.source} is a {kind}")
    names = find_linears(loaded.model, layers)
    report = CompressionReport(loaded.source, method_name(method), target.fraction, kind,
                               metric="perplexity" if kind == "causal-lm" else "embedding cosine",
                               calibration=calibration.mode, times={}, budget_unit=target.unit)
    report.params_before, report.bytes_before = model_size(loaded.model)
    report.layer_params_before = sum(loaded.model.get_submodule(n).weight.numel() for n in names)
    report.layer_bytes_before = FLOAT_BYTES * report.layer_params_before
    return _Job(loaded, method, text, calibration, healing, progress, seed, report, names,
                max_slowdown=max_slowdown)


def read_text(job: _Job, evaluation: Evaluation) -> None:
    """Tokenize and split the text and cut the calibration batches (the model is not run)."""
    loaded, text, kind = job.loaded, job.text, job.loaded.kind
    needs_text = (job.method.needs_gram or job.calibration.mode == "sequential" or job.calibration.sensitivity is True
                  or job.healing.active or evaluation.tokens)
    ids = text.tokens if text.tokens is not None else (
        tokenize_text(loaded.tokenizer, text.file) if needs_text else None)
    if ids is not None:
        job.eval_ids, job.train_ids = split_text(ids, evaluation.tokens)
        if text.extra is not None:
            job.train_ids = torch.cat([job.train_ids, tokenize_text(loaded.tokenizer, text.extra)])
    if job.train_ids is not None and kind != "causal-lm" and loaded.tokenizer is not None:
        job.train_sentences = encode_sentences(loaded.tokenizer, split_sentences(
            loaded.tokenizer.decode(job.train_ids.tolist(), skip_special_tokens=True).replace("\n", " "))) or None
    if job.train_sentences:
        job.calib = length_batches(job.train_sentences, job.calibration.tokens)
    elif job.train_ids is not None:
        job.calib = windows(job.train_ids, text.window, job.calibration.tokens)


def _measure_original(job: _Job, evaluation: Evaluation) -> Any:
    """The quality measure (None without evaluation text), after measuring the original with it; keeps a copy of
    the original when healing distils from it or samples text from it."""
    loaded, net, kind, eval_ids = job.loaded, job.net, job.loaded.kind, job.eval_ids
    quality = None
    if eval_ids is not None and len(eval_ids) > 1:
        clock = time.perf_counter()
        if kind == "causal-lm":
            quality = lambda m: perplexity(m, eval_ids, evaluation.window, None, job.progress)  # noqa: E731
        else:
            sentences = eval_sentences(loaded.tokenizer, eval_ids)
            reference = sentence_embeddings(net, loaded.tokenizer, sentences)
            quality = lambda m: embedding_cosine(m, reference, loaded.tokenizer, sentences)  # noqa: E731
        job.report.quality_before = quality(net)
        job.timed("evaluate original", clock)
    healing = job.healing
    if (healing.distill or healing.sample_tokens) and healing.active:
        job.original = copy.deepcopy(net).eval()
    return quality


def _evaluate(job: _Job, quality: Any, state: str) -> None:
    """Measure the model's quality now (``state``: 'compressed' or 'healed'), when there is evaluation text."""
    if quality is not None:
        clock = time.perf_counter()
        setattr(job.report, f"quality_{state}", quality(job.net))
        job.timed(f"evaluate {state}", clock)


def _calibrate(job: _Job) -> None:
    """Input Gram matrices of the layers (for methods that use them; sequential calibration makes its own) and
    the sensitivity profile."""
    calibration, calib = job.calibration, job.calib
    if calibration.mode == "sequential" and not calib:
        raise MPOError("calibration='sequential' needs calibration text (tokens after the evaluation tokens)")
    if calib and job.method.needs_gram and (calibration.mode == "independent" or calibration.sensitivity is True):
        clock = time.perf_counter()
        job.grams = collect_grams(job.net, job.names, calib, job.progress)
        job.timed("calibrate", clock)
    job.profile = dict(calibration.sensitivity) if isinstance(calibration.sensitivity, Mapping) else None
    if calibration.sensitivity is True:
        if not calib:
            raise MPOError("sensitivity profiling needs text (tokens)")
        clock = time.perf_counter()
        job.profile = _profile(job)
        job.timed("sensitivity", clock)


def _profile(job: _Job) -> dict[str, float]:
    """Loss increase when each block alone is compressed at the uniform budget (``budget.sensitivity_profile``)."""
    net, kind, probe_method = job.net, job.loaded.kind, job.method.for_probe()
    modules = {n: net.get_submodule(n) for n in job.names}
    uniform = allocate({n: job.size(m) for n, m in modules.items()}, job.report.budget)
    probe = job.calib[:2] if kind == "causal-lm" else job.calib[len(job.calib) // 2:][:2]
    with torch.no_grad():
        base_out = None if kind == "causal-lm" else [_encode(net, b).detach() for b in probe]

    def probe_loss(m: nn.Module) -> float:
        with torch.no_grad():
            if kind == "causal-lm":
                return float(np.mean([float(m(b, labels=b).loss) for b in probe]))
            return float(np.mean([float(((_encode(m, b) - t) ** 2).mean() / (t ** 2).mean())
                                  for b, t in zip(probe, base_out)]))

    return sensitivity_profile(net, job.names, lambda n: probe_method.fit(
        modules[n], job.max_params(probe_method, modules[n], uniform[n]), job.grams.get(n))[0],
                               probe_loss, job.progress)


def _allocate(job: _Job, budget: float) -> dict[str, int]:
    """Each layer's parameter budget (``budget.allocate``, by the sensitivity profile when there is one)."""
    sizes = {n: job.size(job.net.get_submodule(n)) for n in job.names}
    return allocate(sizes, budget, job.profile, strength=job.calibration.sensitivity_strength)


def _replace(job: _Job, targets: dict[str, int]) -> None:
    """Replace every layer the budget does not keep dense, independently or in forward order (sequential)."""
    net, report, method, sequential = job.net, job.report, job.method, job.calibration.mode == "sequential"
    modules = {n: net.get_submodule(n) for n in job.names}
    sizes = {n: job.size(m) for n, m in modules.items()}
    layer_reports: dict[str, LayerReport] = {}
    clock = time.perf_counter()

    def kept_dense(name: str) -> bool:
        """The profile gave this layer its full size: it stays exact and dense."""
        return targets[name] >= sizes[name]

    def replace_one(name: str, linear: nn.Linear, gram: np.ndarray | None) -> None:
        calibrated = gram is not None or sequential  # sequential skips dense-only stages
        layer_reports[name] = replace_layer(job, name, linear, targets[name], gram, calibrated)

    if sequential:
        compress_sequentially(net, job.names, job.calib, replace_one, job.calibration.sequential_ridge, job.progress,
                              unchanged=kept_dense)
    else:
        for name in progress_bar(job.names, job.progress, f"compress ({report.method})"):
            replace_one(name, modules[name], job.grams.get(name))
    report.layers.extend(layer_reports[n] for n in job.names)
    job.grams.clear()
    step = "sequential calibration + decompose" if sequential else "decompose"
    job.timed(step + (" + fit" if method.fitted and job.calib else ""), clock)
    report.layer_params_after = sum(r.params_after for r in report.layers)
    report.layer_bytes_after = sum(r.bytes_after for r in report.layers)


def replace_layer(job: _Job, name: str, linear: nn.Linear, target: int, gram: np.ndarray | None,
                  calibrated: bool) -> LayerReport:
    """Put the compressed form of ``linear`` (the layer ``name`` of ``job.net``) in its place within ``target``
    (in the budget's unit), unless the budget keeps it whole (``target`` >= its size: it stays exact and dense),
    and return its report; ``calibrated``: whether calibration inputs reached it (its activation error is known)."""
    from .persist import layer_spec

    method = job.method
    if target >= job.size(linear):
        d_out, d_in = linear.weight.shape
        layer_report = LayerReport(name, (d_out, d_in), linear.weight.numel(), linear.weight.numel(), [], 0.0,
                                   0.0 if calibrated else None, bytes_after=storage_bytes(linear))
    else:
        layer, layer_report = method.fit(linear, job.max_params(method, linear, target), gram)
        layer_report.name, layer_report.bytes_after = name, storage_bytes(layer)
        set_module(job.net, name, layer)
        job.specs[name] = layer_spec(layer)
        if job.max_slowdown is not None:
            job.replaced[name] = linear
    layer_report.sensitivity = None if job.profile is None else job.profile[name]
    return layer_report


def _heal(job: _Job) -> None:
    """Heal the compressed layers (and with ``healing.dense`` the chosen ones kept dense): see ``heal.heal``."""
    healing, report, train_ids, window = job.healing, job.report, job.train_ids, job.text.window
    if not job.train_sentences and (train_ids is None or len(train_ids) <= window + 1):
        raise MPOError(f"healing needs more than {window + 1} tokens of text after the evaluation tokens")
    heal_text, seconds, samples = job.train_sentences or train_ids, healing.seconds, None
    if healing.sample_tokens:
        clock = time.perf_counter()
        samples, sampled = cached_sample_text(job.original, train_ids, healing.sample_tokens, healing.samples_cache,
                                              length=window, seed=job.seed, progress=job.progress)
        heal_text = torch.cat([samples, train_ids])
        report.heal_sample_tokens, report.heal_samples_cached = len(samples), not sampled
        job.timed("sample text" if sampled else "load cached samples", clock)
        if seconds is not None and sampled:
            seconds = max(0.0, seconds - report.times["sample text"])
    heal_states = None
    if healing.teacher_states:
        heal_text, heal_states, spent = _windows_and_states(job.original, samples, train_ids, window,
                                                            healing.samples_cache, job.progress)
        report.heal_teacher_states = True
        report.times["teacher states"] = spent
        if seconds is not None:
            seconds = max(0.0, seconds - spent)
    clock = time.perf_counter()
    net, encoder = job.net, job.loaded.kind != "causal-lm"
    pad_id = getattr(job.loaded.tokenizer, "pad_token_id", None)
    trained = [n for n in job.names if n in job.specs or healing.dense]
    report.heal_dense_layers = len(trained) - len(job.specs)
    for name in job.specs:  # quantised layers heal in their float form (``Method.to_float``)
        set_module(net, name, job.method.to_float(net.get_submodule(name)))
    report.heal_losses = heal(net, [net.get_submodule(n) for n in trained], heal_text, healing.steps, seconds,
                              window=window, batch_size=healing.batch_size or (16 if job.train_sentences else 1),
                              lr=healing.lr, teacher=job.original if healing.distill else None, seed=job.seed,
                              progress=job.progress, pad_id=0 if pad_id is None else pad_id,
                              hidden_weight=healing.hidden_weight, dropout=not encoder or not healing.distill,
                              precision=healing.precision, label_weight=0.0 if encoder else healing.label_weight,
                              checkpoint=healing.checkpoint, teacher_states=heal_states)
    report.heal_steps = len(report.heal_losses)
    for name in job.specs:
        set_module(net, name, job.method.finish(net.get_submodule(name)))
    job.timed("heal", clock)
    job.original = None


def _speed(job: _Job, max_slowdown: float) -> None:
    """Choose each compressed layer's forms by timing them against the linear it replaced, then time the model
    against the original (``speed.py``); the report records both and says when the model is slower than allowed."""
    import warnings

    from .speed import SlowdownWarning, choose_forms, compare_models

    clock = time.perf_counter()
    record_forms(job, choose_forms(job.net, job.replaced, max_slowdown))
    model = compare_models(job.net, job.replaced, max_slowdown, job.loaded.kind == "causal-lm")
    job.report.speed = model.to_dict()
    job.replaced.clear()
    job.timed("speed", clock)
    if not model.ok:
        warnings.warn(job.report.speed_text(), SlowdownWarning, stacklevel=3)


def record_forms(job: _Job, speeds: Mapping[str, Any]) -> None:
    """Each timed layer's forms and latency (``speed.LayerSpeed``) in its report, and its saved description with
    the forms."""
    from .persist import layer_spec

    reports = {r.name: r for r in job.report.layers}
    for name, speed in speeds.items():
        reports[name].forms = speed.forms
        reports[name].latency = [[rows, speed.seconds[rows], speed.dense_seconds[rows]] for rows in speed.seconds]
        job.specs[name] = layer_spec(job.net.get_submodule(name))


def _save(job: _Job, output: Output) -> None:
    """Save the compressed model into ``output.out`` (``persist.save_compressed``)."""
    from .persist import compressed_layers, save_compressed

    clock = time.perf_counter()
    job.report.output = str(output.out)
    save_compressed(job.net, output.out, compressed_layers(job.net), job.loaded.tokenizer,
                    json_safe(job.report.to_dict()), output.overwrite)
    job.timed("save", clock)


def _encode(model: nn.Module, batch: Any) -> torch.Tensor:
    """Last hidden states of an encoder for a batch (input ids or a dict of model inputs)."""
    return run_batch(model, batch).last_hidden_state


def eval_sentences(tokenizer: Any, ids: torch.Tensor, limit: int = 256) -> list[str]:
    """Sentences of the evaluation text (decoded back from its tokens) for the embedding comparison."""
    if tokenizer is None:
        raise MPOError("embedding cosine needs the model's tokenizer")
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


def json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


__all__ = ["check_paths", "compress_model"]
