"""Quantum PTN / CTN protein classifiers against the k-mer logistic-regression baseline on a modlamp peptide set
(AMPvsTM by default, repeated sequences dropped): the same stratified split per seed (25% test, then 15% of the
rest as dev for early stopping), test accuracy at the best dev epoch, trained parameters, seconds per training
epoch and evaluation throughput (sequences/s, compilation of unseen sequences included). ``--epoch-1000`` also
times one training epoch (of ptn-u or the config named) on 1000 AMPvsUniProt sequences (the issue's "minutes, not
hours" figure).

    python benchmarks/protein_quantum.py [--seeds 3 | --seeds 0,2] [--configs ptn-u,ptn-h4] [--epoch-1000 [CONFIG]]
        [--set selection=loss --set weight_decay=0.001 ...] [--json out.json]
    python benchmarks/protein_quantum.py --deeploc [--json out.json]

``--deeploc``: the default ``qnlp protein train`` model (its options parsed by the command itself, data options
only) on DeepLoc's 460 labelled Cytoplasm / Cell.membrane validation proteins: stratified 5-fold cross-validation
(scikit-learn, shuffled with seed 0), then trained on all 460 and scored on setHARD.

Each quantum run prints one line per seed (and per bagged member) with the dev figures it was selected by.
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
    # 2 qubits per residue, class = first output qubit (the second traced out): a mixture of two diagonal experts
    "ptn-u-q2m": ({"model": "ptn", "sharing": "uniform"}, {"ansatz": "controlled", "qubits": 2},
                  {"readout": "marginal"}),
    # the same mixture, selected by dev loss (dev accuracy saturates at 1.0 on ~46 sequences), lr 0.01, patience 25
    "ptn-u-q2m-loss": ({"model": "ptn", "sharing": "uniform"}, {"ansatz": "controlled", "qubits": 2},
                       {"readout": "marginal", "selection": "loss", "learning_rate": 0.01, "epochs": 80,
                        "patience": 25}),
    # ... with an L2 penalty on the angles and a decaying learning rate (train accuracy ~0.98: it overfits)
    "ptn-u-q2m-wd": ({"model": "ptn", "sharing": "uniform"}, {"ansatz": "controlled", "qubits": 2},
                     {"readout": "marginal", "selection": "loss", "learning_rate": 0.01, "epochs": 80,
                      "patience": 25, "weight_decay": 0.001, "lr_decay": 0.97}),
    # ... and a larger initialisation, so the two experts of each class start apart (small angles start them equal)
    "ptn-u-q2m-wd-i3": ({"model": "ptn", "sharing": "uniform"}, {"ansatz": "controlled", "qubits": 2},
                        {"readout": "marginal", "selection": "loss", "learning_rate": 0.01, "epochs": 80,
                         "patience": 25, "weight_decay": 0.001, "lr_decay": 0.97, "init_scale": 0.3}),
    "ptn-u-q3m": ({"model": "ptn", "sharing": "uniform"}, {"ansatz": "controlled", "qubits": 3},
                  {"readout": "marginal"}),
    # three ptn-u models on three fit/dev splits of the training part, test probabilities averaged (183 parameters)
    "ptn-u-bag3": ({"model": "ptn", "sharing": "uniform"}, {"ansatz": "controlled"}, {"bag": 3}),
    "ptn-u-q2m-bag3": ({"model": "ptn", "sharing": "uniform"}, {"ansatz": "controlled", "qubits": 2},
                       {"readout": "marginal", "bag": 3}),
    # residues as general 3-qubit states copied onto the state (qnlp.protein.ansatz.MixtureAnsatz): 4 composition
    # experts per class, 140 parameters
    "ptn-u-x3": ({"model": "ptn", "sharing": "uniform"}, {"ansatz": "mixture", "qubits": 3}, {"readout": "marginal"}),
    "ptn-u-x3-wd": ({"model": "ptn", "sharing": "uniform"}, {"ansatz": "mixture", "qubits": 3},
                    {"readout": "marginal", "selection": "loss", "learning_rate": 0.01, "epochs": 80,
                     "patience": 25, "weight_decay": 0.001}),
    # ... with a learned START state (the experts' prior weights), no early stopping (all training data, last
    # epoch); schedule and angle penalty chosen by 5-fold cross-validation on the seeds' training parts (the model's
    # closed form, benchmarks/protein_mixture_cv.py; test data unseen): batch 32, lr 0.02 decaying 0.98, 100 epochs,
    # L2 0.003
    "ptn-u-x3s": ({"model": "ptn", "sharing": "uniform", "start": True}, {"ansatz": "mixture", "qubits": 3},
                  {"readout": "marginal", "learning_rate": 0.02, "lr_decay": 0.98, "batch_size": 32, "epochs": 100,
                   "weight_decay": 0.003, "dev_fraction": 0.0}),
    # ... trained in log-weight coordinates (ProteinCompiler(coordinates="log-weights"): each residue's 7
    # log-probabilities relative to state 0, mapped to its angles), schedule again by 5-fold CV on the training parts
    # (protein_mixture_cv.py; this candidate had the best mean CV accuracy, 0.960): lr 0.05, L2 0.003 on the weights
    "ptn-u-x3w": ({"model": "ptn", "sharing": "uniform", "start": True},
                  {"ansatz": "mixture", "qubits": 3, "coordinates": "log-weights"},
                  {"readout": "marginal", "learning_rate": 0.05, "lr_decay": 0.98, "batch_size": 32, "epochs": 100,
                   "weight_decay": 0.003, "dev_fraction": 0.0}),
    "ptn-u-x2": ({"model": "ptn", "sharing": "uniform"}, {"ansatz": "mixture", "qubits": 2}, {"readout": "marginal"}),
    # order-sensitive mixing ansatz, larger decaying learning rate (lr 0.003 left seed 1 at chance)
    "ptn-u-mix-lr": ({"model": "ptn", "sharing": "uniform"}, {"ansatz": "controlled-mix"},
                     {"learning_rate": 0.01, "lr_decay": 0.97}),
}
BASELINES = {"composition k=1": {"k": 1}, "k=1,2": {"k": (1, 2)}, "svm-rbf counts": None}
"""Classical rows: KmerBaseline (logistic regression) options, or None for an RBF support-vector machine on the
standardised residue counts (scikit-learn defaults; its parameters are the support vectors' dual coefficients and
the intercept, the support vectors themselves being stored training data)."""


def run_quantum(data, name: str, seed: int, extra: dict | None = None) -> dict:
    """Train on one split (``bag=K`` in the overrides: K models on K different fit/dev splits of the training part,
    their test probabilities averaged; the parameters of all K are counted) and report test accuracy at the best
    dev epoch, with the selection figures (dev accuracy / loss, train accuracy) of each model."""
    reader_cfg, compiler_cfg, overrides = CONFIGS[name]
    overrides = {**overrides, **(extra or {})}
    bag = int(overrides.pop("bag", 1))
    dev_fraction = float(overrides.pop("dev_fraction", 0.15))
    train, test = data.split(0.25, seed=seed)
    members, probs, params = [], 0.0, 0
    for j in range(bag):
        member_seed = seed if j == 0 else seed + 1000 * j  # member 0 is the single model of this seed
        compiler = ProteinCompiler(ProteinReader(**reader_cfg), **compiler_cfg)
        clf = ProteinClassifier(compiler, seed=member_seed, **{"progress": False, **TRAINING, **overrides})
        if dev_fraction > 0:
            fit_set, dev = train.split(dev_fraction, seed=member_seed)
            clf.fit(list(fit_set.sequences), fit_set.labels, list(dev.sequences), dev.labels)
        else:  # no early stopping: all training data, the last epoch's parameters
            clf.fit(list(train.sequences), train.labels)
        start = time.perf_counter()
        member_probs = clf.predict_proba(list(test.sequences))
        rate = len(test) / (time.perf_counter() - start)
        probs = probs + member_probs[:, np.searchsorted(clf.classes_, np.arange(len(test.label_names)))]
        params += clf.n_parameters
        best_epoch = clf.best_epoch_ if dev_fraction > 0 else len(clf.history_)
        best = clf.history_[best_epoch - 1]
        members.append({"test_acc": float(np.mean(member_probs.argmax(1) == np.asarray(test.labels))),
                        "dev_acc": best.get("dev_acc", float("nan")), "dev_loss": best.get("dev_loss", float("nan")),
                        "train_acc": best["train_acc"], "best_epoch": best_epoch, "epochs": len(clf.history_),
                        "s_per_epoch": float(np.mean([h["seconds"] for h in clf.history_])), "eval_seq_per_s": rate})
        m = members[-1]
        print(f"  {name} seed {seed}{f' member {j}' if bag > 1 else ''}: test {m['test_acc']:.3f} "
              f"dev {m['dev_acc']:.3f} / {m['dev_loss']:.3f} train {m['train_acc']:.3f} "
              f"(best epoch {m['best_epoch']} of {m['epochs']}, {m['s_per_epoch']:.2f} s/epoch)", flush=True)
    accuracy = float(np.mean(np.argmax(probs, 1) == np.asarray(test.labels)))
    row = {"config": name, "seed": seed, "accuracy": accuracy, "params": params, "bag": bag,
           "s_per_epoch": float(np.mean([m["s_per_epoch"] for m in members])),
           "eval_seq_per_s": float(np.mean([m["eval_seq_per_s"] for m in members])),
           "dev_acc": float(np.mean([m["dev_acc"] for m in members])),
           "dev_loss": float(np.mean([m["dev_loss"] for m in members])), "members": members,
           "training": {**TRAINING, **overrides, "dev_fraction": dev_fraction}}
    if bag > 1:
        print(f"  {name} seed {seed}: bag of {bag}: test {accuracy:.3f}", flush=True)
    return row


def run_baseline(data, name: str, seed: int) -> dict:
    train, test = data.split(0.25, seed=seed)
    if BASELINES[name] is None:
        return _svm_baseline(train, test, name, seed)
    model = KmerBaseline(**BASELINES[name]).fit(train)
    return {"config": f"baseline {name}", "seed": seed, "accuracy": model.score(test), "params": model.num_parameters}


def _svm_baseline(train, test, name: str, seed: int) -> dict:
    """RBF-kernel SVM on residue counts: the non-linear classical reference (counts, not frequencies)."""
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    vocabulary = sorted({r for s in train.sequences for r in s})

    def counts(sequences) -> np.ndarray:
        return np.array([[s.count(r) for r in vocabulary] for s in sequences], dtype=float)

    model = make_pipeline(StandardScaler(), SVC()).fit(counts(train.sequences), train.labels)
    accuracy = float(np.mean(model.predict(counts(test.sequences)) == np.asarray(test.labels)))
    return {"config": f"baseline {name}", "seed": seed, "accuracy": accuracy,
            "params": int(model[-1].dual_coef_.size + 1)}


def epoch_1000(name: str = "ptn-u", seed: int = 0) -> dict:
    """One training epoch (and one evaluation pass) of config ``name`` on 1000 AMPvsUniProt sequences (lengths up
    to ~180; unknown residues mapped)."""
    data = load_modlamp("AMPvsUniProt", dedupe=True)
    pick = data.subset(np.random.default_rng(seed).permutation(len(data))[:1000])
    reader_cfg, compiler_cfg, overrides = CONFIGS[name]
    compiler = ProteinCompiler(ProteinReader(**{**reader_cfg, "unknown": "map"}), **compiler_cfg)
    training = {k: v for k, v in {**TRAINING, **overrides}.items() if k not in ("bag", "dev_fraction")}
    clf = ProteinClassifier(compiler, seed=seed, progress=False, **{**training, "epochs": 1})
    start = time.perf_counter()
    clf.circuits(list(pick.sequences))
    compile_s = time.perf_counter() - start
    clf.fit(list(pick.sequences), pick.labels)
    start = time.perf_counter()
    clf.predict(list(pick.sequences))
    return {"sequences": len(pick), "median_length": float(np.median(pick.lengths)), "compile_s": compile_s,
            "epoch_s": clf.history_[0]["seconds"], "eval_seq_per_s": len(pick) / (time.perf_counter() - start)}


DEEPLOC = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "datasets", "deeploc")
LABELS = ["--label-regex", r"(?P<label>Cytoplasm|Cell\.membrane)-", "--skip-unlabelled",
          "--classes", "Cytoplasm,Cell.membrane"]


def deeploc_cv(folds: int = 5) -> list[dict]:
    """Cross-validated accuracy of the default command's model on DeepLoc's validation proteins, and its setHARD
    accuracy trained on all of them, with training wall / CPU seconds and the parameter count."""
    from sklearn.model_selection import StratifiedKFold

    from qnlp.cli import build_parser
    from qnlp.protein.cli import apply_preset, bags, build_classifier, load_data

    def parsed(name: str) -> argparse.Namespace:
        argv = ["protein", "train", "--fasta", os.path.join(DEEPLOC, name), *LABELS, "--no-progress"]
        return apply_preset(build_parser().parse_args(argv))

    args = parsed("deeploc_our_val_set.fasta")
    data, hard = load_data(args), load_data(parsed("setHARD.fasta"))
    print(f"{data.summary()}\nsetHARD: {hard.summary()}", flush=True)

    def run(name: str, train, test) -> dict:
        reader, clf = build_classifier(args)
        wall, cpu = time.perf_counter(), time.process_time()
        clf.fit(bags(reader, train, args.windows, args.stride, args.temperature), train.labels)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        accuracy = clf.score(bags(reader, test, args.windows, args.stride, args.temperature), test.labels)
        row = {"config": name, "accuracy": accuracy, "params": clf.n_parameters, "train_wall_s": round(wall, 1),
               "train_cpu_s": round(cpu, 1), "train": len(train), "test": len(test)}
        print(f"{name:<10} accuracy {accuracy:.4f}  params {row['params']}  train {wall:.1f} s wall, "
              f"{cpu:.1f} s CPU", flush=True)
        return row

    splits = StratifiedKFold(folds, shuffle=True, random_state=0).split(np.zeros(len(data)), data.labels)
    rows = [run(f"fold {i + 1}", data.subset(tr), data.subset(te)) for i, (tr, te) in enumerate(splits)]
    accs = [r["accuracy"] for r in rows]
    print(f"{folds}-fold CV accuracy {np.mean(accs):.3f} +- {np.std(accs):.3f}", flush=True)
    return rows + [run("setHARD", data, hard)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=sorted(MODLAMP_SETS), default="AMPvsTM")
    parser.add_argument("--seeds", default="3", help="split / initialisation seeds: N (0 .. N-1) or a comma list")
    parser.add_argument("--configs", default=",".join(CONFIGS), help=f"comma list of {', '.join(CONFIGS)}")
    parser.add_argument("--epoch-1000", nargs="?", const="ptn-u", default=None, metavar="CONFIG",
                        help="time one epoch of CONFIG (default ptn-u) on 1000 AMPvsUniProt sequences")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a training option of every quantum config (JSON value), e.g. lr_decay=0.97")
    parser.add_argument("--deeploc", action="store_true",
                        help="the default protein model: 5-fold CV on DeepLoc's validation proteins, then setHARD")
    parser.add_argument("--json", default=None, help="write all rows to this JSON file")
    args = parser.parse_args()
    if args.deeploc:
        import torch

        torch.set_num_threads(1)
        rows = deeploc_cv()
        if args.json:
            atomic_write_text(args.json, json.dumps({"dataset": "deeploc", "rows": rows}, indent=2) + "\n")
        return
    try:
        seed_list = [int(x) for x in args.seeds.split(",") if x] if "," in args.seeds else list(range(int(args.seeds)))
    except ValueError:
        parser.error(f"--seeds wants N or a comma list of integers, got {args.seeds!r}")
    if not seed_list:
        parser.error(f"--seeds {args.seeds!r} selects no seed (N counts seeds; write '0,' for seed 0 alone)")
    extra = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep:
            parser.error(f"--set wants KEY=VALUE, got {item!r}")
        try:
            extra[key] = json.loads(value)
        except json.JSONDecodeError:
            extra[key] = value
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
        seeds = [run_quantum(data, name, s, extra) if quantum else run_baseline(data, name, s)
                 for s in seed_list]
        rows += seeds
        if not seeds:
            continue
        accs = [r["accuracy"] for r in seeds]
        timing = (f"{np.mean([r['s_per_epoch'] for r in seeds]):>8.2f} "
                  f"{np.mean([r['eval_seq_per_s'] for r in seeds]):>10.0f}") if quantum else ""
        print(f"{seeds[0]['config']:<26} {seeds[0]['params']:>6} {' '.join(f'{a:.3f}' for a in accs):>24} "
              f"{np.mean(accs):>6.3f} {timing}", flush=True)
    if args.epoch_1000:
        if args.epoch_1000 not in CONFIGS:
            parser.error(f"--epoch-1000: unknown config {args.epoch_1000!r}")
        row = epoch_1000(args.epoch_1000)
        rows.append({"config": f"epoch-1000 {args.epoch_1000}", **row})
        print(f"{args.epoch_1000}, 1000 AMPvsUniProt sequences (median length {row['median_length']:g}): "
              f"compile {row['compile_s']:.1f} s, "
              f"one training epoch {row['epoch_s']:.1f} s, evaluation {row['eval_seq_per_s']:.0f} seq/s")
    if args.json:
        atomic_write_text(args.json, json.dumps({"dataset": args.dataset, "training": {**TRAINING, **extra},
                                                 "rows": rows},
                                                indent=2) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
