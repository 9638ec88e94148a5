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

# compress_model's paths by the options that give them, so that their errors name the option
PATH_OPTIONS = {"out": "--out", "plot": "--plot", "heal_checkpoint": "--heal-checkpoint",
                "samples_cache": "--samples-cache"}


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``compress`` command to an argparse subparsers object."""
    from ..mpo.choices import CALIBRATIONS, METHODS, PRECISIONS, SEQUENTIAL_RIDGE, SITES

    cmd = subparsers.add_parser("compress", help="compress a transformers model with MPOs (or SVD baselines)",
                                description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cmd.add_argument("model", metavar="MODEL", help="model folder, .safetensors, .gguf or tnq-compressed folder")
    cmd.add_argument("--budget", type=options.fraction, default=0.5,
                     help="fraction of the chosen layers' parameters to keep (default: 0.5)")
    cmd.add_argument("--method", choices=METHODS, default="mpo", help="default: mpo")
    cmd.add_argument("--layers", default="attention,mlp",
                     help="roles (attention, mlp, all) and/or layer names / glob patterns, comma-separated "
                          "(default: attention,mlp)")
    cmd.add_argument("--cores", type=options.positive, default=2,
                     help="MPO cores per layer (default: 2; 3-core MPOs had higher activation errors on SmolLM2)")
    cmd.add_argument("--text", default=None, help="text file (default: gensim's lee_background.cor)")
    cmd.add_argument("--extra-text", default=None, metavar="FILE",
                     help="more text to calibrate and heal on after --text's training part (a file, or gensim-wiki: "
                          "~100 Wikipedia articles shipped with gensim)")
    cmd.add_argument("--calibration-tokens", type=options.positive, default=4096, metavar="N")
    cmd.add_argument("--fit-steps", type=options.count, default=0, metavar="N",
                     help="activation-aware MPO fit: ALS sweeps over each layer's cores, minimising ||(W - M) X|| "
                          "on the calibration text (default: 0 = off; 1 is usually enough)")
    cmd.add_argument("--fit-iters", type=options.positive, default=10, metavar="N",
                     help="conjugate-gradient iterations per core update of the fit (default: 10)")
    cmd.add_argument("--sites", choices=SITES, default="balanced",
                     help="MPO site factorisation: balanced, or auto = per layer the better (by activation error) "
                          "of the balanced MPO and a two-site low-rank one (default: balanced)")
    cmd.add_argument("--site-margin", type=options.fraction, default=1.0, metavar="M",
                     help="with --sites auto: keep the balanced MPO only when its activation error is below M times "
                          "the low-rank one's (default: 1 = the lower error wins; e.g. 0.95 keeps only MPOs at least "
                          "5%% better: low-rank layers heal faster, see benchmarks/mpo_compress.py)")
    cmd.add_argument("--calibration", choices=CALIBRATIONS, default="independent",
                     help="independent: every layer fitted to the original model's inputs; sequential: layers "
                          "compressed in forward order, each fitted to restore the original outputs from the inputs "
                          "the already-compressed layers give it (one cut-off forward pass per group of layers "
                          "sharing an input; on SmolLM2 at 50%% much better before healing, 341 -> 196, but not "
                          "after 15 minutes of healing, see benchmarks/) (default: independent)")
    cmd.add_argument("--sequential-ridge", type=options.real(0), default=SEQUENTIAL_RIDGE, metavar="R",
                     help="with --calibration sequential: ridge keeping each layer near its original where the "
                          "calibration text says little, relative to the inputs' mean square (default: %(default)s)")
    cmd.add_argument("--sensitivity", action="store_true",
                     help="measure the per-block sensitivity and share the budget by it")
    cmd.add_argument("--sensitivity-strength", type=options.real(0), default=2.0, metavar="S",
                     help="with --sensitivity: each block's budget grows as sensitivity^S (default: 2, measured "
                          "better than 0.5 on SmolLM2 and MiniLM)")
    cmd.add_argument("--heal-minutes", type=options.real(0), default=0.0, help="healing time (default: 0 = no healing)")
    cmd.add_argument("--heal-steps", type=options.count, default=None, help="healing steps (default: as time allows)")
    cmd.add_argument("--heal-lr", type=options.positive_real, default=0.003, help="relative Adam step (default: 0.003)")
    cmd.add_argument("--heal-batch", type=options.positive, default=None, metavar="B",
                     help="examples per healing step (default: 1 window for causal LMs, 16 sentences for encoders)")
    cmd.add_argument("--heal-hidden-weight", type=options.real(0), default=1.0, metavar="W",
                     help="encoders: weight of the hidden-state MSE beside 1 - embedding cosine (default: 1)")
    cmd.add_argument("--heal-label-weight", type=options.real(0, 1), default=0.5, metavar="L",
                     help="causal LMs: loss = (1 - L) x distillation + L x next-token loss (default: 0.5)")
    cmd.add_argument("--heal-precision", choices=PRECISIONS, default="float32",
                     help="healing forward passes in bfloat16 autocast (~1.6x faster on CPUs with AVX512-BF16; "
                          "default: float32)")
    cmd.add_argument("--heal-samples", type=options.count, default=0, metavar="N",
                     help="causal LMs: first sample N tokens of text from the original model (prompted by the "
                          "training text) and heal on them too; real text alone is soon memorised. The sampling "
                          "time counts against --heal-minutes (default: 0)")
    cmd.add_argument("--samples-cache", default=None, metavar="FILE.safetensors",
                     help="with --heal-samples: reuse the samples in this file when it was made from the same "
                          "model, text and settings (then they cost no healing time), else sample and save them "
                          "here (compressing at several budgets or with several methods samples once)")
    cmd.add_argument("--heal-dense", action="store_true",
                     help="also train the chosen layers that the sensitivity budget kept dense, not only the "
                          "compressed ones (slower steps, but measured better on SmolLM2; see benchmarks/)")
    cmd.add_argument("--heal-checkpoint", default=None, metavar="FILE.safetensors",
                     help="save healing progress here every 5 minutes, at the end and on Ctrl-C or SIGTERM; when "
                          "the file exists, the same command goes on from it")
    cmd.add_argument("--heal-teacher-states", action="store_true",
                     help="causal LMs: compute the original's last hidden states over the healing windows once "
                          "(kept in --samples-cache) so each distillation step runs only its output head, not a "
                          "whole forward pass; heals on whole windows")
    cmd.add_argument("--no-distill", action="store_true", help="heal on next-token loss instead of distillation")
    cmd.add_argument("--window", type=options.integer(2), default=256,
                     help="calibration / healing window in tokens (SmolLM2 at 50%%, 15 minutes, evaluated in "
                          "512-token windows: 512 healed to perplexity 64.4-64.7, 256 to 67-68)")
    cmd.add_argument("--eval-tokens", type=options.count, default=16384, help="evaluation tokens (0: no evaluation)")
    cmd.add_argument("--eval-window", type=options.integer(2), default=512)
    cmd.add_argument("--out", default=None, metavar="DIR",
                     help="save the compressed model in this folder (it loads in tnq, or in transformers with "
                          "trust_remote_code=True)")
    cmd.add_argument("--overwrite", action="store_true",
                     help="replace an existing --out folder that tnq compress wrote (once the new one is complete)")
    cmd.add_argument("--plot", default=None, metavar="FILE.png", help="layer-sensitivity plot (with --sensitivity)")
    cmd.add_argument("--json", action="store_true", help="print the report as JSON")
    cmd.add_argument("--threads", type=options.positive, default=None, help="torch threads (default: torch's choice)")
    cmd.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                     help="progress bars on stderr (default: only when a step takes over 2 s)")
    cmd.add_argument("--seed", type=options.seed, default=0)
    cmd.set_defaults(func=run)
    return cmd


def run(args: argparse.Namespace) -> int:
    """Run ``tnq compress``; TnqErrors are reported by the main CLI as one line (exit code 2), which also makes
    SIGTERM stop the command as Ctrl-C does (healing saves its checkpoint, a half-written output is removed). Every
    path is checked before the model loads."""
    import torch

    from ..mpo.compress import check_paths, compress_model

    check_paths(args.model, text=args.text, extra_text=args.extra_text, out=args.out, overwrite=args.overwrite,
                plot=args.plot, heal_checkpoint=args.heal_checkpoint, samples_cache=args.samples_cache,
                options=PATH_OPTIONS)
    if args.threads:
        torch.set_num_threads(args.threads)
    result = compress_model(
        args.model, budget=args.budget, method=args.method, layers=args.layers, n_cores=args.cores,
        text=args.text, extra_text=args.extra_text, calibration_tokens=args.calibration_tokens,
        fit_steps=args.fit_steps, fit_iters=args.fit_iters, sites=args.sites, site_margin=args.site_margin,
        calibration=args.calibration, sequential_ridge=args.sequential_ridge, sensitivity=args.sensitivity,
        sensitivity_strength=args.sensitivity_strength, heal_steps=args.heal_steps,
        heal_seconds=60 * args.heal_minutes or None, heal_lr=args.heal_lr, heal_batch_size=args.heal_batch,
        heal_hidden_weight=args.heal_hidden_weight, heal_label_weight=args.heal_label_weight,
        heal_precision=args.heal_precision, heal_sample_tokens=args.heal_samples,
        heal_samples_cache=args.samples_cache, heal_dense=args.heal_dense, heal_checkpoint=args.heal_checkpoint,
        heal_teacher_states=args.heal_teacher_states, distill=not args.no_distill, window=args.window,
        eval_tokens=args.eval_tokens or None, eval_window=args.eval_window, out=args.out,
        overwrite=args.overwrite, plot=args.plot, progress=args.progress, seed=args.seed)
    if args.json:
        print(json.dumps(result.report.to_dict(), indent=1))
    else:
        print(result.report.format_text())
    return 0
