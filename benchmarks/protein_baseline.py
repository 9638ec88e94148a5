"""Classical baseline for the protein task: logistic regression on composition / k-mer features (qnlp.protein
KmerBaseline) on a modlamp peptide set, stratified 75/25 split with a fixed seed, beside the mean and spread over
``--seeds`` splits (seeds seed .. seed + seeds - 1, the headline split included: one split of ~100 test sequences
moves by several points). Read the quantum PTN/CTN models against these rows (accuracy and trained parameters).

    python benchmarks/protein_baseline.py [--dataset AMPvsTM] [--seeds 6] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import time

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

from qnlp.protein.baseline import KmerBaseline  # noqa: E402
from qnlp.protein.datasets import MODLAMP_SETS, load_modlamp  # noqa: E402
from tnq.io import atomic_write_text  # noqa: E402

CONFIGS: list[tuple[str, dict]] = [
    ("composition aa20 (k=1)", {"k": 1}),
    ("aa20 k=1,2", {"k": (1, 2)}),
    ("aa20 k=1,2, first+last 16 residues", {"k": (1, 2), "max_len": 16, "keep": "both"}),
    ("dayhoff6 k=1", {"k": 1, "alphabet": "dayhoff6"}),
    ("dayhoff6 k=1,2,3", {"k": (1, 2, 3), "alphabet": "dayhoff6"}),
    ("conjoint7 k=1,2", {"k": (1, 2), "alphabet": "conjoint7"}),
]


def run_config(data, config: dict, seed: int) -> tuple[float, int, float, float]:
    """(test accuracy, trained parameters, fit seconds, predicted sequences per second) on one split."""
    train, test = data.split(0.25, seed=seed)
    start = time.perf_counter()
    model = KmerBaseline(**config).fit(train)
    fit_s = time.perf_counter() - start
    start = time.perf_counter()
    accuracy = model.score(test)
    rate = len(test) / (time.perf_counter() - start)
    return accuracy, model.num_parameters, fit_s, rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=sorted(MODLAMP_SETS), default="AMPvsTM")
    parser.add_argument("--seed", type=int, default=0, help="seed of the headline split")
    parser.add_argument("--seeds", type=int, default=6, help="split seeds for mean and spread (headline included)")
    parser.add_argument("--json", default=None, help="write the rows to this JSON file")
    args = parser.parse_args()
    import sklearn.linear_model  # noqa: F401  (imported before timing)

    data = load_modlamp(args.dataset, dedupe=True)  # repeated sequences would leak across the split
    print(data.summary())
    train, test = data.split(0.25, seed=args.seed)
    print(f"split seed {args.seed}: train {len(train)} {train.class_counts()}, test {len(test)} {test.class_counts()}"
          f"; threads {os.environ['OPENBLAS_NUM_THREADS']}")
    header = (f"{'features':<38} {'params':>7} {'acc seed ' + str(args.seed):>12} {'mean +- std (seeds)':>22} "
              f"{'fit s':>7} {'pred seq/s':>11}")
    print(header)
    print("-" * len(header))
    rows = []
    for name, config in CONFIGS:
        accuracy, params, fit_s, rate = run_config(data, config, args.seed)
        seeds = range(args.seed, args.seed + max(args.seeds, 1))
        others = [accuracy] + [run_config(data, config, s)[0] for s in seeds[1:]]
        spread = f"{np.mean(others):.3f} +- {np.std(others):.3f} ({len(others)})"
        print(f"{name:<38} {params:>7} {accuracy:>12.4f} {spread:>22} {fit_s:>7.3f} {rate:>11.0f}")
        rows.append({"features": name, "config": {k: list(v) if isinstance(v, tuple) else v
                                                  for k, v in config.items()},
                     "params": params, "accuracy": accuracy, "seed": args.seed, "seed_accuracies": others,
                     "fit_s": fit_s, "predict_seq_per_s": rate})
    if args.json:
        payload = {"dataset": args.dataset, "records": len(data), "test_fraction": 0.25, "rows": rows}
        atomic_write_text(args.json, json.dumps(payload, indent=2) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
