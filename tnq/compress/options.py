"""The settings of ``compress_model`` / ``tnq compress`` as dataclasses (``Text``, ``Calibration``, ``Healing``,
``Evaluation``, ``Output``; a method's own settings are fields of its ``Method``). Each field is a ``setting``: its
flat name (the keyword ``from_names`` takes and errors name, e.g. ``heal_lr``), its rule, and the command-line
option generated from it (``option_fields``), so that a setting is written out once. Instances check their values
when built. This module imports nothing heavy: the ``tnq`` command line builds its options from it without torch."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, NamedTuple

from ..checks import SEED_MAX, Number
from ..mpo.errors import MPOError

CALIBRATIONS = ("independent", "sequential")
"""How layers see calibration inputs: the original model's, or those the already-compressed layers give (see
``sequential.py``)."""

SITES = ("balanced", "auto")
"""MPO site factorisations: balanced, or per layer the better of the balanced MPO and a two-site low-rank one."""

PRECISIONS = ("float32", "bfloat16")
"""Healing precisions."""

BUDGET_UNITS = ("params", "bytes")
"""What a budget is a fraction of: the chosen layers' parameters, or their bytes in float16 (so 0.5 is int8's size
and about 0.28 int4's with group-32 scales)."""

SEQUENTIAL_RIDGE = 0.1
"""Ridge of sequential calibration's corrected target, measured on SmolLM2 at 50% (see ``sequential.py``)."""

SEED = Number(integer=True, minimum=0, maximum=SEED_MAX)
COUNT, POSITIVE = Number(integer=True, minimum=0), Number(integer=True, minimum=1)
FilePath = str | os.PathLike


class Option(NamedTuple):
    """How a setting appears on the command line: ``flag``, help, and where the option differs from the Python
    value: its ``rule`` (argparse refuses what it refuses), ``default``, ``convert`` (option value -> setting) and
    an argparse ``action`` (store_true / store_false)."""

    flag: str
    help: str = ""
    metavar: str | None = None
    rule: Number | None = None
    default: Any = MISSING
    convert: Callable[[Any], Any] | None = None
    action: str | None = None


def setting(default: Any, name: str, option: Option | None = None, *, rule: Number | None = None,
            choices: tuple[str, ...] | None = None) -> Any:
    """A dataclass field that is the setting ``name``: checked by ``rule`` / ``choices``, given on the command line
    by ``option`` (None: Python only)."""
    return field(default=default, metadata={"name": name, "option": option, "rule": rule, "choices": choices})


class Settings:
    """Base of the settings dataclasses: each ``setting`` field is checked when the instance is built."""

    def __post_init__(self) -> None:
        for f in fields(self):  # type: ignore[arg-type]
            name, rule, choices = f.metadata["name"], f.metadata["rule"], f.metadata["choices"]
            value = getattr(self, f.name)
            if rule is not None:
                rule.check(name, value, MPOError)
            if choices is not None and value not in choices:
                raise MPOError(f"{name} must be one of {', '.join(choices)}, got {value!r}")


@dataclass(frozen=True)
class Text(Settings):
    """The text: its first ``Evaluation.tokens`` tokens evaluate, the rest (then ``extra``) calibrate and heal in
    ``window``-token windows (causal LMs)."""

    file: FilePath | None = setting(None, "text", Option(
        "--text", "text file (default: gensim's lee_background.cor)"))
    tokens: Any = setting(None, "tokens")
    """Token ids (a 1-d tensor) instead of ``file``."""
    extra: FilePath | None = setting(None, "extra_text", Option(
        "--extra-text", "more text to calibrate and heal on after --text's training part (a file, or gensim-wiki: "
        "~100 Wikipedia articles shipped with gensim)", "FILE"))
    window: int = setting(256, "window", Option(
        "--window", "calibration / healing window in tokens (SmolLM2 at 50%%, 15 minutes, evaluated in "
        "512-token windows: 512 healed to perplexity 64.4-64.7, 256 to 67-68)"), rule=Number(integer=True, minimum=2))


@dataclass(frozen=True)
class Calibration(Settings):
    """What the calibration text is used for: per-layer input Gram matrices (whitened SVD, MPO fitting), layers
    fitted one after the other (``mode='sequential'``) and the sensitivity profile that shares the budget."""

    tokens: int = setting(4096, "calibration_tokens", Option("--calibration-tokens", metavar="N"), rule=POSITIVE)
    mode: str = setting("independent", "calibration", Option(
        "--calibration", "independent: every layer fitted to the original model's inputs; sequential: layers "
        "compressed in forward order, each fitted to restore the original outputs from the inputs "
        "the already-compressed layers give it (one cut-off forward pass per group of layers "
        "sharing an input; on SmolLM2 at 50%% much better before healing, 341 -> 196, but not "
        "after 15 minutes of healing, see benchmarks/) (default: independent)"), choices=CALIBRATIONS)
    sequential_ridge: float = setting(SEQUENTIAL_RIDGE, "sequential_ridge", Option(
        "--sequential-ridge", "with --calibration sequential: ridge keeping each layer near its original where the "
        "calibration text says little, relative to the inputs' mean square (default: %(default)s)", "R"),
        rule=Number(minimum=0))
    sensitivity: bool | Mapping[str, float] = setting(False, "sensitivity", Option(
        "--sensitivity", "measure the per-block sensitivity and share the budget by it", action="store_true"))
    """True: measure the profile; or a measured ``{layer: loss increase}``."""
    stream: bool = setting(False, "stream", Option(
        "--stream", "load, calibrate, compress and save one block at a time from the model's safetensors files, so "
        "that peak memory is about one block plus the activations, not the whole model (for models larger than "
        "memory; independent calibration, no healing or sensitivity profile, needs --out; each layer's form is "
        "still timed, the whole model's speed is not)", action="store_true"))
    sensitivity_strength: float = setting(2.0, "sensitivity_strength", Option(
        "--sensitivity-strength", "with --sensitivity: each block's budget grows as sensitivity^S (default: 2, "
        "measured better than 0.5 on SmolLM2 and MiniLM)", "S"), rule=Number(minimum=0))


def _seconds(minutes: float) -> float | None:
    return 60 * minutes or None


@dataclass(frozen=True)
class Healing(Settings):
    """Brief fine-tuning of the compressed layers after compression (off unless ``steps`` or ``seconds``)."""

    steps: int | None = setting(None, "heal_steps", Option(
        "--heal-steps", "healing steps (default: as time allows)", rule=COUNT),
        rule=Number(integer=True, minimum=0, optional=True))
    seconds: float | None = setting(None, "heal_seconds", Option(
        "--heal-minutes", "healing time (default: 0 = no healing)", rule=Number(minimum=0), default=0.0,
        convert=_seconds), rule=Number(minimum=0, optional=True))
    lr: float = setting(0.003, "heal_lr", Option("--heal-lr", "relative Adam step (default: 0.003)"),
                        rule=Number(above=0))
    batch_size: int | None = setting(None, "heal_batch_size", Option(
        "--heal-batch", "examples per healing step (default: 1 window for causal LMs, 16 sentences for encoders)",
        "B", rule=POSITIVE), rule=Number(integer=True, minimum=1, optional=True))
    hidden_weight: float = setting(1.0, "heal_hidden_weight", Option(
        "--heal-hidden-weight", "encoders: weight of the hidden-state MSE beside 1 - embedding cosine (default: 1)",
        "W"), rule=Number(minimum=0))
    label_weight: float = setting(0.5, "heal_label_weight", Option(
        "--heal-label-weight", "causal LMs: loss = (1 - L) x distillation + L x next-token loss (default: 0.5)",
        "L"), rule=Number(minimum=0, maximum=1))
    precision: str = setting("float32", "heal_precision", Option(
        "--heal-precision", "healing forward passes in bfloat16 autocast (~1.6x faster on CPUs with AVX512-BF16; "
        "default: float32)"), choices=PRECISIONS)
    sample_tokens: int = setting(0, "heal_sample_tokens", Option(
        "--heal-samples", "causal LMs: first sample N tokens of text from the original model (prompted by the "
        "training text) and heal on them too; real text alone is soon memorised. The sampling "
        "time counts against --heal-minutes (default: 0)", "N"), rule=COUNT)
    samples_cache: FilePath | None = setting(None, "heal_samples_cache", Option(
        "--samples-cache", "with --heal-samples: reuse the samples in this file when it was made from the same "
        "model, text and settings (then they cost no healing time), else sample and save them "
        "here (compressing at several budgets or with several methods samples once)", "FILE.safetensors"))
    dense: bool = setting(False, "heal_dense", Option(
        "--heal-dense", "also train the chosen layers that the sensitivity budget kept dense, not only the "
        "compressed ones (slower steps, but measured better on SmolLM2; see benchmarks/)", action="store_true"))
    checkpoint: FilePath | None = setting(None, "heal_checkpoint", Option(
        "--heal-checkpoint", "save healing progress here every 5 minutes, at the end and on Ctrl-C or SIGTERM; "
        "when the file exists, the same command goes on from it", "FILE.safetensors"))
    teacher_states: bool = setting(False, "heal_teacher_states", Option(
        "--heal-teacher-states", "causal LMs: compute the original's last hidden states over the healing windows "
        "once (kept in --samples-cache) so each distillation step runs only its output head, not a "
        "whole forward pass; heals on whole windows", action="store_true"))
    distill: bool = setting(True, "distill", Option(
        "--no-distill", "heal on next-token loss instead of distillation", action="store_false"))

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.samples_cache is not None and not self.sample_tokens:
            raise MPOError("heal_samples_cache caches sampled text: give heal_sample_tokens too")
        if self.checkpoint is not None and not self.active:
            raise MPOError("heal_checkpoint saves healing progress: give heal_steps or heal_seconds too")
        if self.teacher_states and not (self.distill and self.active):
            raise MPOError("heal_teacher_states speed up distillation: give heal_steps or heal_seconds, and distill")
        if self.sample_tokens and not self.active:
            raise MPOError("heal_sample_tokens is text to heal on: give heal_steps or heal_seconds too")

    @property
    def active(self) -> bool:
        """Whether healing runs at all."""
        return bool(self.steps or self.seconds)


@dataclass(frozen=True)
class Evaluation(Settings):
    """Quality before and after (perplexity for causal LMs, embedding cosine to the original for encoders) and
    speed: with ``max_slowdown``, each compressed layer runs in the most compact of its forms that is at most that
    many times slower than the dense layer on this machine (else its fastest), and the model's forward pass is
    timed against the original's (``speed.py``)."""

    tokens: int | None = setting(16384, "eval_tokens", Option(
        "--eval-tokens", "evaluation tokens (0: no evaluation)", rule=COUNT, convert=lambda n: n or None),
        rule=Number(integer=True, minimum=0, optional=True))
    window: int = setting(512, "eval_window", Option("--eval-window"), rule=Number(integer=True, minimum=2))
    max_slowdown: float | None = setting(1.0, "max_slowdown", Option(
        "--max-slowdown", "each compressed layer runs in its most compact form (MPO: core by core, two fused "
        "factors or the rebuilt matrix; low-rank: factors or their product) that is at most S times slower than "
        "the dense layer, timed on this machine, else in its fastest; the model's forward pass (prefill of 4 x 256 "
        "tokens, one-token decode) is then timed against the original's and the report says whether it is within "
        "S (0: no timing, forms by multiply-adds; default: 1)", "S", rule=Number(minimum=0),
        convert=lambda s: s or None), rule=Number(above=0, optional=True))


@dataclass(frozen=True)
class Output(Settings):
    """Where results go: the compressed model's folder and the sensitivity plot."""

    out: FilePath | None = setting(None, "out", Option(
        "--out", "save the compressed model in this folder (it loads in tnq, or in transformers with "
        "trust_remote_code=True)", "DIR"))
    overwrite: bool = setting(False, "overwrite", Option(
        "--overwrite", "replace an existing --out folder that tnq compress wrote (once the new one is complete)",
        action="store_true"))
    plot: FilePath | None = setting(None, "plot", Option(
        "--plot", "layer-sensitivity plot (with --sensitivity)", "FILE.png"))


GROUPS: dict[str, type[Settings]] = {"text": Text, "calibration": Calibration, "healing": Healing,
                                     "evaluation": Evaluation, "output": Output}
"""``compress_model``'s settings keywords and their dataclasses."""


def setting_fields(cls: type) -> Iterator[Any]:
    """The ``setting`` fields of a settings or method dataclass."""
    return (f for f in fields(cls) if "name" in f.metadata)


DIRECT = ("budget", "layers", "tokenizer", "progress", "seed")
"""``compress_model``'s own keywords, which ``from_names`` passes on as they are (``budget_unit`` joins ``budget``
as a ``Budget``)."""


def from_names(method: Any = "mpo", **values: Any) -> dict[str, Any]:
    """``compress_model``'s keyword arguments from flat setting names, e.g. ``compress_model(model,
    **from_names('mpo', budget=0.4, n_cores=3, heal_steps=100, eval_tokens=None))``: each setting goes to the
    dataclass with a field of that name (the method's own settings to the method; those of other methods are
    ignored), ``DIRECT`` names pass on as they are."""
    from dataclasses import replace

    from .methods import REGISTRY, get_method, method_class

    known = {f.metadata["name"] for c in [*GROUPS.values(), *map(method_class, REGISTRY)] for f in setting_fields(c)}
    unknown = sorted(set(values) - known - set(DIRECT) - {"budget_unit"})
    if unknown:
        raise MPOError(f"unknown setting {unknown[0]!r}")

    def given(target: type) -> dict[str, Any]:
        return {f.name: values[f.metadata["name"]] for f in setting_fields(target) if f.metadata["name"] in values}

    from .budget import Budget

    chosen = get_method(method)
    direct = {key: values[key] for key in DIRECT if key in values}
    if "budget_unit" in values:
        direct["budget"] = Budget(direct.get("budget", 0.5), values["budget_unit"])
    return {"method": replace(chosen, **given(type(chosen))), **{key: cls(**given(cls)) for key, cls in GROUPS.items()},
            **direct}
