"""Quantum PTN / CTN protein classifiers against the k-mer logistic-regression baseline on a modlamp peptide set
(AMPvsTM by default, repeated sequences dropped): the same stratified split per seed (25% test, then 15% of the
rest as dev for early stopping), test accuracy at the best dev epoch, trained parameters, seconds per training
epoch and evaluation throughput (sequences/s, compilation of unseen sequences included). ``--epoch-1000`` also
times one training epoch on 1000 AMPvsUniProt sequences (the issue's "minutes, not hours" figure).

    python benchmarks/protein_quantum.py [--seeds 3] [--configs ptn-u,ptn-h4] [--epoch-1000] [--json out.json]
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
from qnlp.protein.compile import ProteinCompiler  # noqa: E402
from qnlp.protein.datasets import MODLAMP_SETS, load_modlamp  # noqa: E402
from qnlp.protein.diagrams import ProteinReader  # noqa: E402
from qnlp.protein.model import ProteinClassifier  # noqa: E402
from tnq.io import atomic_write_text  # noqa: E402

TRAINING = {"learning_rate": 0.003, "batch_size": 16, "epochs": 60, "patience": 20, "init_scale": 0.1}
CONFIGS: dict[str, tuple[dict, dict, dict]] = {  # name: (reader, compiler, training overrides)
    "ptn-u": ({"model": "ptn", "sharing": "uniform"}, {"ansatz": "controlled"}, {}),
    "ptn-u-mix": ({"model": "ptn", "sharing": "uniform"}, {"ansatz": "controlled-mix"}, {}),
    "ptn-h4": ({"model": "ptn", "sharing": "hierarchical", "position_classes": 4}, {"ansatz": "controlled"}, {}),
    "ctn-u": ({"model": "ctn", "sharing": "uniform"}, {"ansatz": "controlled"}, {}),
    "ctn-h": ({"model": "ctn", "sharing": "hierarchical"}, {"ansatz": "controlled"}, {}),
    "ptn-u-q2": ({"model": "ptn", "sharing": "uniform"}, {"ansatz": "controlled", "qubits": 2}, {}),
    "ptn-u-sim14": ({"model": "ptn", "sharing": "uniform"}, {"ansatz": "sim14"}, {}),
}
BASELINES = {"composition k=1": {"k": 1}, "k=1,2": {"k": (1, 2)}}


def run_quantum(data, name: str, seed: int) -> dict:
    reader_cfg, compiler_cfg, overrides = CONFIGS[name]
    train, test = data.split(0.25, seed=seed)
    fit_set, dev = train.split(0.15, seed=seed)
    compiler = ProteinCompiler(ProteinReader(**reader_cfg), **compiler_cfg)
    clf = ProteinClassifier(compiler, seed=seed, progress=False, **{**TRAINING, **overrides})
    clf.fit(list(fit_set.sequences), fit_set.labels, list(dev.sequences), dev.labels)
    start = time.perf_counter()
    accuracy = clf.score(list(test.sequences), test.labels)
    rate = len(test) / (time.perf_counter() - start)
    seconds = [h["seconds"] for h in clf.history_]
    return {"config": name, "seed": seed, "accuracy": accuracy, "params": clf.n_parameters,
            "epochs": len(seconds), "best_epoch": clf.best_epoch_, "s_per_epoch": float(np.mean(seconds)),
            "train_size": len(fit_set), "eval_seq_per_s": rate}


def run_baseline(data, name: str, seed: int) -> dict:
    train, test = data.split(0.25, seed=seed)
    model = KmerBaseline(**BASELINES[name]).fit(train)
    return {"config": f"baseline {name}", "seed": seed, "accuracy": model.score(test), "params": model.num_parameters}


def epoch_1000(seed: int = 0) -> dict:
    """One training epoch (and one evaluation pass) of ptn-u on 1000 AMPvsUniProt sequences (lengths up to ~180)."""
    data = load_modlamp("AMPvsUniProt", dedupe=True)
    pick = data.subset(np.random.default_rng(seed).permutation(len(data))[:1000])
    compiler = ProteinCompiler(ProteinReader("ptn", "uniform", unknown="map"), "controlled")
    clf = ProteinClassifier(compiler, seed=seed, progress=False, **{**TRAINING, "epochs": 1})
    start = time.perf_counter()
    clf.circuits(list(pick.sequences))
    compile_s = time.perf_counter() - start
    clf.fit(list(pick.sequences), pick.labels)
    start = time.perf_counter()
    clf.predict(list(pick.sequences))
    return {"sequences": len(pick), "median_length": float(np.median(pick.lengths)), "compile_s": compile_s,
            "epoch_s": clf.history_[0]["seconds"], "eval_seq_per_s": len(pick) / (time.perf_counter() - start)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=sorted(MODLAMP_SETS), default="AMPvsTM")
    parser.add_argument("--seeds", type=int, default=3, help="split / initialisation seeds 0 .. N-1")
    parser.add_argument("--configs", default=",".join(CONFIGS), help=f"comma list of {', '.join(CONFIGS)}")
    parser.add_argument("--epoch-1000", action="store_true", help="time one epoch on 1000 AMPvsUniProt sequences")
    parser.add_argument("--json", default=None, help="write all rows to this JSON file")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    data = load_modlamp(args.dataset, dedupe=True)
    print(f"{data.summary()}; threads 1")
    print(f"{'model':<26} {'params':>6} {'acc per seed':>24} {'mean':>6} {'s/epoch':>8} {'eval seq/s':>10}")
    rows = []
    names = [n for n in args.configs.split(",") if n]
    unknown = [n for n in names if n not in CONFIGS]
    if unknown:
        parser.error(f"unknown configs {unknown}; choose from {', '.join(CONFIGS)}")
    for name in list(BASELINES) + names:
        quantum = name in CONFIGS
        seeds = [run_quantum(data, name, s) if quantum else run_baseline(data, name, s) for s in range(args.seeds)]
        rows += seeds
        accs = [r["accuracy"] for r in seeds]
        timing = (f"{np.mean([r['s_per_epoch'] for r in seeds]):>8.2f} "
                  f"{np.mean([r['eval_seq_per_s'] for r in seeds]):>10.0f}") if quantum else ""
        print(f"{seeds[0]['config']:<26} {seeds[0]['params']:>6} {' '.join(f'{a:.3f}' for a in accs):>24} "
              f"{np.mean(accs):>6.3f} {timing}", flush=True)
    if args.epoch_1000:
        row = epoch_1000()
        rows.append({"config": "epoch-1000", **row})
        print(f"1000 AMPvsUniProt sequences (median length {row['median_length']:g}): "
              f"compile {row['compile_s']:.1f} s, "
              f"one training epoch {row['epoch_s']:.1f} s, evaluation {row['eval_seq_per_s']:.0f} seq/s")
    if args.json:
        atomic_write_text(args.json, json.dumps({"dataset": args.dataset, "training": TRAINING, "rows": rows},
                                                indent=2) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
