"""``tnq compress``: compress a transformers model's attention and MLP linears to a parameter budget (MPO, or the
truncated / whitened SVD baselines), heal, evaluate and save it as safetensors + JSON, with a modeling file so that
transformers alone loads it too: ``AutoModelForCausalLM.from_pretrained(DIR, trust_remote_code=True)``
(``AutoModel`` for encoders).

    tnq compress MODEL --budget 0.5 --out DIR
    tnq compress model.gguf --budget 0.5 --fit-steps 1 --sites auto --heal-minutes 15 --sensitivity --plot sens.png \
        --out DIR
    tnq compress DIR --method whitened-svd --budget 0.5 --layers mlp --json

MODEL is a model folder (config.json + safetensors), a .safetensors file beside its config.json, a .gguf file or a
folder written by tnq compress. Text defaults to gensim's lee_background.cor: the first --eval-tokens tokens
measure quality (perplexity for causal LMs, embedding cosine to the original for encoders), the rest calibrate
and heal.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from . import options

FIXED = ("model", "budget", "budget_unit", "method", "layers", "json", "threads", "progress", "seed")
"""The command's own arguments; every other option is generated from a setting of ``tnq.compress.options`` or of
a registered method."""


def _settings_classes() -> list[type]:
    from ..compress.methods import REGISTRY, method_class
    from ..compress.options import GROUPS

    return [*GROUPS.values(), *map(method_class, REGISTRY)]


def _add_setting(cmd: argparse.ArgumentParser, f: Any) -> None:
    """The option of the ``setting`` field ``f`` (its flag, help, rule or choices, default)."""
    from dataclasses import MISSING

    meta, option = f.metadata, f.metadata["option"]
    kwargs: dict[str, Any] = {"dest": meta["name"], "help": option.help or None}
    if option.action:
        kwargs["action"] = option.action
    else:
        rule = option.rule or meta["rule"]
        if rule is not None:
            kwargs["type"] = options.of(rule)
        if meta["choices"]:
            kwargs["choices"] = meta["choices"]
        kwargs["default"] = f.default if option.default is MISSING else option.default
        if not meta["choices"]:
            kwargs["metavar"] = option.metavar or option.flag.lstrip("-").replace("-", "_").upper()
    cmd.add_argument(option.flag, **kwargs)


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``compress`` command to an argparse subparsers object."""
    from ..compress.methods import REGISTRY
    from ..compress.options import BUDGET_UNITS, setting_fields

    cmd = subparsers.add_parser("compress", help="compress a transformers model with MPOs (or SVD baselines)",
                                description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cmd.add_argument("model", metavar="MODEL", help="model folder, .safetensors, .gguf or tnq-compressed folder")
    cmd.add_argument("--budget", type=options.fraction, default=0.5,
                     help="fraction of the chosen layers' parameters (or, with --budget-unit bytes, of their bytes "
                          "in float16) to keep (default: 0.5)")
    cmd.add_argument("--budget-unit", choices=BUDGET_UNITS, default="params",
                     help="params, or bytes: compare methods at equal size, quantised ones included (0.5 = int8's "
                          "size, about 0.28 = int4 with group-32 scales) (default: params)")
    cmd.add_argument("--method", choices=list(REGISTRY), default="mpo", help="default: mpo")
    cmd.add_argument("--layers", default="attention,mlp",
                     help="roles (attention, mlp, all) and/or layer names / glob patterns, comma-separated "
                          "(default: attention,mlp)")
    seen: set[str] = set()
    for cls in _settings_classes():
        for f in setting_fields(cls):
            if f.metadata["option"] is not None and f.metadata["name"] not in seen:
                seen.add(f.metadata["name"])
                _add_setting(cmd, f)
    cmd.add_argument("--json", action="store_true", help="print the report as JSON")
    cmd.add_argument("--threads", type=options.positive, default=None, help="torch threads (default: torch's choice)")
    cmd.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                     help="progress bars on stderr (default: only when a step takes over 2 s)")
    cmd.add_argument("--seed", type=options.seed, default=0)
    cmd.set_defaults(func=run)
    return cmd


def settings(args: argparse.Namespace) -> dict[str, Any]:
    """``compress_model``'s method and settings keywords from the parsed options (``options.from_names``)."""
    from ..compress.options import from_names, setting_fields

    values = {}
    for cls in _settings_classes():
        for f in setting_fields(cls):
            option = f.metadata["option"]
            if option is not None:
                value = getattr(args, f.metadata["name"])
                values[f.metadata["name"]] = option.convert(value) if option.convert else value
    return from_names(args.method, **values)


def run(args: argparse.Namespace) -> int:
    """Run ``tnq compress``; TnqErrors are reported by the main CLI as one line (exit code 2), which also makes
    SIGTERM stop the command as Ctrl-C does (healing saves its checkpoint, a half-written output is removed). Every
    path is checked before the model loads."""
    import warnings

    import torch

    from ..compress.budget import Budget
    from ..compress.pipeline import check_paths, compress_model
    from ..compress.speed import SlowdownWarning

    chosen = settings(args)
    check_paths(args.model, chosen["text"], chosen["healing"], chosen["output"], cli=True)
    if args.threads:
        torch.set_num_threads(args.threads)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SlowdownWarning)  # the report says it in its speed line
        result = compress_model(args.model, Budget(args.budget, args.budget_unit), layers=args.layers,
                                progress=args.progress, seed=args.seed, **chosen)
    if args.json:
        print(json.dumps(result.report.to_dict(), indent=1))
    else:
        print(result.report.format_text())
    return 0
