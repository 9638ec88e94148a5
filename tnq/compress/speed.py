"""Speed as a budget: every compressed layer gets, per number of input rows (one row: token-by-token decoding; 1024:
a prefill of 4 x 256 tokens), the form it runs in, chosen by timing its forms against the dense layer it replaces
on this machine (``choose_forms``): the most compact form that is not slower than ``max_slowdown`` times the dense
layer, else the fastest; then the compressed model's forward pass is timed against the original's in the same
process, round-robin (``compare_models``). Each distinct layer (class, shapes, dtype) is timed once."""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

import torch
from torch import nn

from ..mpo.plan import LOW_RANK_FORMS, MPO_FORMS, plan_contraction
from ..mpo.remote_code import form_plan, parameters_of
from .models import set_module

ROWS = (1, 1024)
"""Input rows per call at which layers are timed: decoding one token, and a prefill of 4 x 256 tokens."""

PREFILL = (4, 256)
"""Sequences x tokens of the timed prefill (tokens capped by the model's positions)."""

REPEATS = 5
"""Timed calls per measurement (the best counts), after one call that warms up."""

PRUNE = 4.0
"""Forms modelled at more than this many times the dense layer's multiply-adds are not timed (never faster)."""


class SlowdownWarning(UserWarning):
    """The compressed model's forward pass is slower than the slowdown allowed (the report says so too)."""


def best_time(run: Callable[[], Any], repeats: int = REPEATS, stop: float = math.inf) -> float:
    """The shortest of ``repeats`` timed calls of ``run`` (seconds) after one warm-up call; stops early once a call
    takes more than ``stop`` seconds."""
    run()
    best = math.inf
    for _ in range(repeats):
        clock = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - clock)
        if best > stop:
            break
    return best


def candidate_forms(layer: nn.Module) -> tuple[str, ...]:
    """The forms ``layer`` can run in, the most compact first: an MPO layer's (``plan.MPO_FORMS``; the two fused
    factors only with three cores or more, the whole matrix only with ``allow_dense``), a low-rank layer's, or those
    its class lists in ``FORMS`` (quantised layers); none for a layer without ``forms``."""
    if not hasattr(layer, "forms"):
        return ()
    if hasattr(type(layer), "FORMS"):
        return tuple(type(layer).FORMS)
    if hasattr(layer, "cores"):
        n = len(layer.cores)
        dense = getattr(layer, "allow_dense", False) or n == 1
        return tuple(f for f in MPO_FORMS if (f != "factors" or n > 2) and (f != "dense" or dense))
    if hasattr(layer, "first") and hasattr(layer, "second"):
        return LOW_RANK_FORMS
    return ()


def _modelled(layer: nn.Module, form: str, rows: int) -> float:
    """Multiply-adds of ``layer`` in ``form`` for ``rows`` rows, relative to its dense matrix's (1 when unknown)."""
    if form == "dense" or hasattr(type(layer), "FORMS"):
        return 1.0
    if hasattr(layer, "cores"):
        shapes = tuple(tuple(c.shape) for c in parameters_of(layer))
        dense = plan_contraction(shapes, rows, True, True, 1).cost
        return form_plan(shapes, rows, form, layer.allow_dense).cost / dense
    if hasattr(layer, "first") and hasattr(layer, "second"):
        rank, d_in = layer.first.shape
        d_out = layer.second.shape[0]
        return rank * (d_in + d_out) / (d_in * d_out)
    return 1.0


@dataclass
class LayerSpeed:
    """A layer's chosen forms ([rows, form], None for a layer of one form) and seconds per call at each row count:
    in the chosen form, and of the dense layer it replaced."""

    forms: list[list[Any]] | None
    seconds: dict[int, float]
    dense_seconds: dict[int, float]

    def ratio(self, rows: int) -> float:
        """Time in the chosen form over the dense layer's."""
        return self.seconds[rows] / self.dense_seconds[rows]


def _key(layer: nn.Module) -> tuple[Any, ...]:
    """What a layer's speed depends on: its class, the shapes and dtypes of its tensors, ``allow_dense``."""
    tensors = [*layer.parameters(), *layer.buffers()]
    return (type(layer), tuple((tuple(t.shape), t.dtype) for t in tensors), getattr(layer, "allow_dense", None))


def round_robin(runs: Mapping[str, Callable[[], Any]], repeats: int = REPEATS, stop: float = PRUNE,
                ) -> dict[str, float]:
    """The best of ``repeats`` timed calls of each run (seconds), after one warm-up call each, taken in turns so that
    a busy moment of the machine slows them all alike; a run whose best is more than ``stop`` times the first run's
    is not called again."""
    for run in runs.values():
        run()
    best = dict.fromkeys(runs, math.inf)
    reference = next(iter(runs))
    for repeat in range(repeats):
        for name, run in runs.items():
            if repeat and best[name] > stop * best[reference]:
                continue
            clock = time.perf_counter()
            run()
            best[name] = min(best[name], time.perf_counter() - clock)
    return best


def time_layer(layer: nn.Module, dense: nn.Module, max_slowdown: float, rows: tuple[int, ...] = ROWS,
               repeats: int = REPEATS) -> LayerSpeed:
    """Time ``layer`` in each of its forms (a copy per form) against ``dense`` (the linear it replaces) at each row
    count; set ``layer.forms`` to the most compact form within ``max_slowdown`` times the dense time, else the
    fastest."""
    generator = torch.Generator().manual_seed(0)
    chosen, seconds, dense_seconds = [], {}, {}
    forms = candidate_forms(layer)
    with torch.no_grad():
        for count in rows:
            x = torch.randn(count, dense.in_features, generator=generator).to(dense.weight.dtype)
            kept = ([f for f in forms if _modelled(layer, f, count) <= PRUNE]
                    or [min(forms, key=lambda f: _modelled(layer, f, count))]) if forms else []
            runs: dict[str, Callable[[], Any]] = {"dense layer": partial(dense, x)}
            for form in kept:
                runs[form] = partial(copy.deepcopy(layer), x)
                runs[form].func.forms = [[count, form]]
            if not forms:
                runs["as is"] = partial(layer, x)
            times = round_robin(runs, repeats)
            dense_seconds[count] = reference = times.pop("dense layer")
            fits = [f for f in kept if times[f] <= max_slowdown * reference]
            form = fits[0] if fits else min(times, key=lambda f: times[f])
            seconds[count] = times[form]
            if forms:
                chosen.append([count, form])
    if chosen:
        layer.forms = chosen
    return LayerSpeed(chosen or None, seconds, dense_seconds)


def choose_forms(net: nn.Module, dense: Mapping[str, nn.Module], max_slowdown: float,
                 rows: tuple[int, ...] = ROWS, repeats: int = REPEATS,
                 measured: dict[tuple[Any, ...], LayerSpeed] | None = None) -> dict[str, LayerSpeed]:
    """``time_layer`` for every compressed layer of ``net`` named in ``dense`` (name -> the linear it replaced),
    timing each distinct layer once and giving its forms to the layers like it; ``measured`` carries the timings
    from one call to the next (a model compressed block by block times each distinct layer once in all)."""
    measured = {} if measured is None else measured
    result = {}
    for name, linear in dense.items():
        layer = net.get_submodule(name)
        key = _key(layer)
        if key not in measured:
            measured[key] = time_layer(layer, linear, max_slowdown, rows, repeats)
        speed = measured[key]
        if speed.forms is not None:
            layer.forms = [list(f) for f in speed.forms]
        result[name] = speed
    return result


@dataclass
class ModelSpeed:
    """The forward pass of the original and the compressed model in one process: prefill of ``tokens`` tokens and
    a one-token decode step (seconds, the best of round-robin repeats), the slowdown allowed, and ``noise``: how
    far the original's second-best time is above its best (relative), a measure of the machine's jitter."""

    tokens: int
    prefill_before: float
    prefill_after: float
    decode_before: float
    decode_after: float
    max_slowdown: float
    noise: float = 0.0

    @property
    def prefill_ratio(self) -> float:
        """Compressed over original prefill time (< 1: faster)."""
        return self.prefill_after / self.prefill_before

    @property
    def decode_ratio(self) -> float:
        """Compressed over original decode time (< 1: faster)."""
        return self.decode_after / self.decode_before

    @property
    def ok(self) -> bool:
        """Whether both ratios are within ``max_slowdown``."""
        return max(self.prefill_ratio, self.decode_ratio) <= self.max_slowdown

    def to_dict(self) -> dict[str, Any]:
        """Times, tokens per second and ratios, for the report."""
        return {"prefill_tokens": self.tokens, "prefill_seconds_before": self.prefill_before,
                "prefill_seconds_after": self.prefill_after, "decode_seconds_before": self.decode_before,
                "decode_seconds_after": self.decode_after,
                "prefill_tokens_per_s_before": self.tokens / self.prefill_before,
                "prefill_tokens_per_s_after": self.tokens / self.prefill_after,
                "decode_tokens_per_s_before": 1 / self.decode_before,
                "decode_tokens_per_s_after": 1 / self.decode_after,
                "prefill_ratio": self.prefill_ratio, "decode_ratio": self.decode_ratio,
                "max_slowdown": self.max_slowdown, "noise": self.noise, "ok": self.ok}


def _inputs(net: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """Random token ids (seeded) for the prefill and the decode step."""
    config = getattr(net, "config", None)
    length = min(PREFILL[1], getattr(config, "max_position_embeddings", None) or PREFILL[1])
    vocab = getattr(config, "vocab_size", None) or net.get_input_embeddings().num_embeddings
    ids = torch.randint(0, vocab, (PREFILL[0], length), generator=torch.Generator().manual_seed(0))
    return ids, ids[:1, :1]


def compare_models(net: nn.Module, dense: Mapping[str, nn.Module], max_slowdown: float, causal: bool,
                   repeats: int = 3) -> ModelSpeed:
    """Time ``net``'s forward pass with its compressed layers and with the linears they replaced (``dense``,
    swapped in and out, round-robin) on a prefill of ``PREFILL`` tokens and a one-token decode step."""
    compressed = {name: net.get_submodule(name) for name in dense}
    prefill_ids, decode_ids = _inputs(net)
    options = {"use_cache": False} if causal else {}

    def run(ids: torch.Tensor) -> Callable[[], Any]:
        return lambda: net(input_ids=ids, **options)

    def swap(layers: Mapping[str, nn.Module]) -> None:
        for name, layer in layers.items():
            set_module(net, name, layer)

    times: dict[str, list[float]] = {key: [] for key in ("prefill_before", "prefill_after", "decode_before",
                                                          "decode_after")}
    try:
        with torch.no_grad():
            for repeat in range(max(repeats, 2) + 1):  # the first round warms up
                for state, layers in (("before", dense), ("after", compressed)):
                    swap(layers)
                    prefill = best_time(run(prefill_ids), 1) if repeat else run(prefill_ids)()
                    decode = best_time(run(decode_ids), 5) if repeat else run(decode_ids)()
                    if repeat:
                        times[f"prefill_{state}"].append(prefill)
                        times[f"decode_{state}"].append(decode)
    finally:
        swap(compressed)
    noise = max(sorted(times[key])[1] / min(times[key]) - 1 for key in ("prefill_before", "decode_before"))
    return ModelSpeed(int(prefill_ids.numel()), max_slowdown=max_slowdown, noise=noise,
                      **{key: min(values) for key, values in times.items()})


__all__ = ["LayerSpeed", "ModelSpeed", "SlowdownWarning", "choose_forms", "compare_models", "round_robin",
           "time_layer"]
