"""QNLP side by side with lambeq 0.5, in one process, on the same diagrams and the same ansatz.

For MC and RP (lambeq's data sets, read from ../shared/datasets/lambeq_mc_rp/tagged): our offline pregroup parser
gives the diagrams, cups are removed, and the IQP ansatz (1 layer, 1 qubit per n and s) maps them to circuits. tnq's
classifier and lambeq's PytorchQuantumModel (lambeq's own IQPAnsatz + RemoveCupsRewriter on the same diagrams) are
trained with Adam for the same epochs; the epoch (forward + backward + step on the whole training set) is timed
interleaved, and test accuracies are printed. RP shares one parameter set between both kinds of "that".
A last case evaluates a 20+ word sentence with 2 qubits per noun (40+ qubits after rewriting) through tnq.

    python benchmarks/qnlp_lambeq.py [--epochs 60] [--quick] [--json out.json]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import common  # noqa: F401  (pins BLAS threads before numpy loads)
import numpy as np
import torch
from common import environment, parse_args

from qnlp.corpus import load_examples
from qnlp.model import QuantumClassifier
from qnlp.pipeline import Pipeline
from tnq.io import atomic_write_text

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "lambeq_mc_rp" / "tagged"
CASES = {"MC": ("mc_train_data.txt", "mc_dev_data.txt", "mc_test_data.txt", "s"),
         "RP": ("rp_train_data.txt", None, "rp_test_data.txt", "n")}


def _texts(examples) -> list[str]:
    return [" ".join(e.tagged) for e in examples]


def _lambeq_circuits(diagrams):
    """lambeq's pipeline on our diagrams: RemoveCupsRewriter, IQPAnsatz, PytorchQuantumModel."""
    from lambeq import AtomicType, IQPAnsatz, RemoveCupsRewriter

    from qnlp.readers import to_lambeq

    ansatz = IQPAnsatz({AtomicType.NOUN: 1, AtomicType.SENTENCE: 1}, n_layers=1, n_single_qubit_params=3)
    rewriter = RemoveCupsRewriter()
    return [ansatz(rewriter(to_lambeq(d))) for d in diagrams]


def run_case(name: str, epochs: int, lr: float, seed: int, timed_epochs: int) -> dict:
    train_file, dev_file, test_file, target = CASES[name]
    train, test = load_examples(DATA / train_file), load_examples(DATA / test_file)
    dev = load_examples(DATA / dev_file) if dev_file else None
    share = {"that": "that"} if name == "RP" else {}
    pipeline = Pipeline(reader="pregroup", ansatz="iqp", qubits={"n": 1, "s": 1}, layers=1, target=target,
                        share=share)
    X, y = _texts(train), [e.label for e in train]
    X_test, y_test = _texts(test), [e.label for e in test]

    # --- tnq: full training with the classifier ---------------------------------------------------
    clf = QuantumClassifier(pipeline, epochs=epochs, learning_rate=lr, seed=seed, patience=None,
                            unknown_words="random", progress=False)
    start = time.perf_counter()
    clf.fit(X, y, *((_texts(dev), [e.label for e in dev]) if dev else ()))
    tnq_fit = time.perf_counter() - start
    tnq_acc = clf.score(X_test, y_test)

    row = {"case": name, "epochs": epochs, "tnq_test_accuracy": round(tnq_acc, 4), "tnq_parameters": clf.n_parameters,
           "tnq_fit_s": round(tnq_fit, 2)}
    if share:  # lambeq names symbols by word *and type*, so it cannot share "that"; report tnq alone
        row["note"] = "lambeq side skipped: its symbols carry the box type, so both 'that's cannot share parameters"
        return row

    # --- lambeq: same diagrams, its IQP ansatz and PytorchQuantumModel -----------------------------
    from lambeq import PytorchQuantumModel

    circuits = _lambeq_circuits([pipeline.reader(t.split()) for t in X])
    test_circuits = _lambeq_circuits([pipeline.reader(t.split()) for t in X_test])
    model = PytorchQuantumModel.from_diagrams(circuits + test_circuits)  # lambeq's way: every symbol up front
    torch.manual_seed(seed)
    model.initialise_weights()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    targets = torch.tensor([[1 - v, v] for v in y], dtype=torch.float64)

    def lambeq_epoch() -> float:
        out = model(circuits)
        loss = torch.nn.functional.binary_cross_entropy(out, targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return float(loss.detach())

    # --- epoch timing, interleaved: the same forward + backward + step on the whole training set -------
    ours = clf._compiled(clf.circuits(X))
    theta = torch.tensor(clf.weights_, requires_grad=True)
    ours_opt = torch.optim.Adam([theta], lr=lr)
    labels = torch.as_tensor(np.searchsorted(clf.classes_, y))

    def tnq_epoch() -> float:
        probs = ours.probabilities(theta)[:, :2]
        loss = -torch.log(probs[torch.arange(len(labels)), labels] + 1e-12).mean()
        ours_opt.zero_grad()
        loss.backward()
        ours_opt.step()
        return float(loss.detach())

    lambeq_start = time.perf_counter()
    times = {"tnq": [], "lambeq": []}
    for _ in range(timed_epochs):
        for key, fn in (("tnq", tnq_epoch), ("lambeq", lambeq_epoch)):
            tick = time.perf_counter()
            fn()
            times[key].append(time.perf_counter() - tick)
    for _ in range(epochs - timed_epochs):  # finish lambeq's training for its accuracy
        lambeq_epoch()
    lambeq_fit = time.perf_counter() - lambeq_start
    with torch.no_grad():
        lambeq_pred = model(test_circuits).argmax(1).numpy()
    lambeq_acc = float(np.mean(lambeq_pred == np.asarray(y_test)))
    best = {k: min(v) for k, v in times.items()}
    row.update({"lambeq_test_accuracy": round(lambeq_acc, 4), "tnq_epoch_s": round(best["tnq"], 4),
                "lambeq_epoch_s": round(best["lambeq"], 4),
                "lambeq_over_tnq_epoch": round(best["lambeq"] / best["tnq"], 2), "lambeq_fit_s": round(lambeq_fit, 2)})
    return row


def long_sentence_case() -> dict:
    """A 20+ word sentence, 2 qubits per noun: width after cup removal and evaluation time through tnq."""
    sentence = ("skillful_ADJ man_N prepares_TV tasty_ADJ dinner_N that_RPRON woman_N who_RPRON person_N "
                "likes_TV cooks_TV and_CONJ chef_N bakes_TV fresh_ADJ sauce_N that_RPRON skillful_ADJ person_N "
                "prepares_TV")
    pipeline = Pipeline(reader="pregroup", ansatz="iqp", qubits={"n": 2, "s": 1}, layers=1)
    try:
        circuit = pipeline(sentence)
    except Exception as exc:  # the parser may not cover every construction; fall back to a plain chain
        sentence = " ".join(["skillful_ADJ"] * 9 + ["man_N", "prepares_TV"] + ["tasty_ADJ"] * 9 + ["dinner_N"])
        circuit = pipeline(sentence)
        note = f"fallback sentence ({type(exc).__name__})"
    else:
        note = "relative clauses"
    values = np.random.default_rng(0).uniform(-1, 1, len(circuit.symbols))
    from qnlp.evaluate import CompiledBatch

    batch = CompiledBatch([circuit], circuit.symbols)
    start = time.perf_counter()
    probs = batch.probabilities(values)
    first = time.perf_counter() - start
    start = time.perf_counter()
    batch.probabilities(values)
    repeat = time.perf_counter() - start
    return {"case": "long sentence", "words": len(sentence.split()), "qubits": circuit.circuit.num_qubits,
            "postselected": len(circuit.postselect), "first_eval_s": round(first, 3),
            "repeat_eval_s": round(repeat, 4), "probabilities": [round(float(p), 4) for p in probs[0]], "note": note}


def main(argv=None) -> None:
    def extra(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--epochs", type=int, default=60)
        parser.add_argument("--lr", type=float, default=0.1)
        parser.add_argument("--cases", default="MC,RP,long")

    args = parse_args(__doc__.splitlines()[0], argv, extra)
    torch.set_num_threads(args.threads)
    epochs = 20 if args.quick else args.epochs
    rows = []
    for name in args.cases.split(","):
        row = long_sentence_case() if name == "long" else run_case(name, epochs, args.lr, args.seed, 3)
        rows.append(row)
        print(" | ".join(f"{k}={v}" for k, v in row.items()), flush=True)
    if args.json:
        import json

        atomic_write_text(args.json, json.dumps({"rows": rows, "environment": environment()}, indent=2))


if __name__ == "__main__":
    main()
