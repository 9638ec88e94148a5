"""Pieces shared by the qnlp commands (sentences and proteins): model and training options, the training runner,
output checks, metrics and predictions."""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

from qnlp.ansatz import MAX_BOX_PARAMETERS, MAX_TYPE_QUBITS
from qnlp.model import NUMBERS
from qnlp.pipeline import ANSATZE
from tnq.cli import options

LAYERS = options.integer(1, MAX_BOX_PARAMETERS)
"""Ansatz layers: at least one, at most the parameters a box may have."""


def qubit_counts(text: str) -> dict[str, int]:
    """``n=1,s=1`` -> {"n": 1, "s": 1}."""
    out = {}
    for item in filter(None, text.split(",")):
        name, sep, count = item.partition("=")
        if not sep or not name.strip():
            raise argparse.ArgumentTypeError(f"expected type=count pairs like n=1,s=1, got {item!r}")
        try:
            out[name.strip()] = options.integer(0, MAX_TYPE_QUBITS)(count)
        except argparse.ArgumentTypeError as exc:
            raise argparse.ArgumentTypeError(f"{name.strip()}: {exc}") from None
    return out


def add_model_options(parser: argparse.ArgumentParser, default_ansatz: str = "iqp") -> None:
    """Ansatz and training options shared by ``qnlp train`` and ``qnlp protein train``."""
    parser.add_argument("--ansatz", choices=sorted(ANSATZE), default=default_ansatz, help="circuit ansatz")
    parser.add_argument("--layers", type=LAYERS, default=1, metavar="L", help="ansatz layers (default: %(default)s)")
    parser.add_argument("--single-qubit-params", type=options.integer(0, MAX_BOX_PARAMETERS), default=3, metavar="P",
                        help="rotations on one-qubit boxes (default: %(default)s)")
    parser.add_argument("--optimizer", choices=("adam", "spsa"), default="adam",
                        help="adam: exact gradients by torch autograd; spsa: two loss evaluations per step")
    parser.add_argument("--shots", type=options.of(NUMBERS["shots"]), default=None, metavar="N",
                        help="estimate probabilities from N shots (spsa only; default: exact)")
    parser.add_argument("--epochs", type=options.of(NUMBERS["epochs"]), default=100, metavar="E")
    parser.add_argument("--lr", type=options.of(NUMBERS["learning_rate"]), default=0.1, metavar="X",
                        help="Adam learning rate (default: %(default)s)")
    parser.add_argument("--batch-size", type=options.of(NUMBERS["batch_size"]), default=None, metavar="B",
                        help="mini-batch size (default: all)")
    parser.add_argument("--patience", type=options.of(NUMBERS["patience"]), default=20, metavar="P",
                        help="stop after P epochs without a better dev score (default: %(default)s)")
    parser.add_argument("--unknown-words", choices=("error", "random", "zero"), default="error",
                        help="parameters of words seen only in dev/test: an error, fixed random values (as an "
                             "untrained lambeq weight) or zeros (default: error)")
    parser.add_argument("--readout", choices=("outcomes", "marginal"), default="outcomes",
                        help="marginal: class = first output qubit(s), the others traced out (with 2+ qubits)")
    parser.add_argument("--weight-decay", type=options.of(NUMBERS["weight_decay"]), default=0.0, metavar="L2",
                        help="L2 penalty on the trained parameters (the angles, or the protein log-weights)")
    parser.add_argument("--lr-decay", type=options.of(NUMBERS["lr_decay"]), default=1.0, metavar="G",
                        help="learning rate factor per epoch, in (0, 1]")
    parser.add_argument("--label-smoothing", type=options.of(NUMBERS["label_smoothing"]), default=0.0, metavar="EPS",
                        help="in [0, 0.5)")
    parser.add_argument("--selection", choices=("accuracy", "loss"), default="accuracy",
                        help="keep the epoch with the best dev accuracy (ties: loss) or the lowest dev loss")
    parser.add_argument("--seed", type=options.of(NUMBERS["seed"]), default=0)
    parser.add_argument("--checkpoint", default=None, metavar="PATH",
                        help="save after every epoch and resume from this file when it exists")
    parser.add_argument("--resume", action=argparse.BooleanOptionalAction, default=True,
                        help="resume from an existing --checkpoint (--no-resume: start over and overwrite it)")
    parser.add_argument("--out", default=None, metavar="MODEL.safetensors", help="save the trained model")
    parser.add_argument("--plot", default=None, metavar="CURVE.png", help="save the learning curve")
    parser.add_argument("--json", action="store_true", help="print the results as one JSON object")
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                        help="progress bar (default: after 2 s)")


def training_options(args: argparse.Namespace) -> dict[str, Any]:
    """The classifier keyword arguments of the options ``add_model_options`` adds."""
    return dict(optimizer=args.optimizer, learning_rate=args.lr, epochs=args.epochs, batch_size=args.batch_size,
                patience=args.patience, shots=args.shots, seed=args.seed, unknown_words=args.unknown_words,
                progress=args.progress, readout=args.readout, weight_decay=args.weight_decay, lr_decay=args.lr_decay,
                label_smoothing=args.label_smoothing, selection=args.selection)


def run_training(clf: Any, args: argparse.Namespace, train: tuple[list, Any], dev: tuple[list, Any] | None = None,
                 *, compile_sets: Sequence[list], check_sets: Sequence[list] = (),
                 report: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
                 show: Callable[[dict[str, Any]], None] | None = None) -> int:
    """The runner of ``qnlp train`` and ``qnlp protein train``: fit ``clf`` on ``train`` (early stopping on
    ``dev``) as ``fit_timed`` does, add the command's figures (``report(figures) -> result``), save
    ``--out`` / ``--plot`` and print the result as JSON (``--json``), with ``show`` or as 'key: value' lines."""
    X, y = train
    dev_X, dev_y = dev if dev is not None else (None, None)
    figures = fit_timed(clf, X, y, dev_X, dev_y, args.checkpoint, list(compile_sets), args.resume, check_sets)
    result = report(figures) if report is not None else figures
    save_outputs(clf, args, result)
    if args.json:
        print(json.dumps(result, indent=2))
    elif show is not None:
        show(result)
    else:
        for key, value in result.items():
            print(f"{key:>18}: {value}")
    return 0


def fit_timed(clf: Any, X: list, y: Any, dev_X: list | None, dev_y: Any, checkpoint: str | None,
              compile_sets: list[list], resume: bool = True, check_sets: Sequence[list] = ()) -> dict[str, Any]:
    """Compile the circuits of every set in ``compile_sets`` (timed apart from training), fit ``clf``
    (``checkpoint`` / ``resume`` as in ``fit``; Ctrl-C and SIGTERM say what the checkpoint kept) and return the
    training figures: parameters, epochs, best epoch, compile / train seconds and seconds per epoch. Items of
    ``compile_sets`` and ``check_sets`` (compiled for the check only, not cached) with words the training set lacks
    are refused before training, not after it."""
    from tnq.training import explain_interrupt

    start = time.perf_counter()
    known = {s for c in clf.circuits(X) for s in c.symbols}
    for items in compile_sets:
        clf.check_symbols(clf.circuits(items), items, known)
    compile_seconds = time.perf_counter() - start
    for items in check_sets:
        clf.check_symbols([clf.compile(item) for item in items], items, known)
    start = time.perf_counter()
    with explain_interrupt(checkpoint, "epoch", "the same command resumes from it"):
        clf.fit(X, y, dev_X, dev_y, checkpoint=checkpoint, resume=resume)
    train_seconds = time.perf_counter() - start
    epochs = len(clf.history_)
    return {"parameters": clf.n_parameters, "epochs": epochs, "best_epoch": clf.best_epoch_,
            "compile_seconds": round(compile_seconds, 3), "train_seconds": round(train_seconds, 3),
            "seconds_per_epoch": round(sum(h["seconds"] for h in clf.history_) / max(epochs, 1), 4)}


def check_outputs(args: argparse.Namespace, inputs: Sequence[str]) -> None:
    """Refuse, before any work, a ``--out`` / ``--plot`` / ``--checkpoint`` that is an input, that names the same
    file as another of them, that cannot be written, or (``--plot``) whose suffix matplotlib cannot write."""
    from tnq.io import check_distinct, check_output, check_plot

    outputs = {option: getattr(args, option.lstrip("-")) for option in ("--out", "--plot", "--checkpoint")}
    outputs = {option: path for option, path in outputs.items() if path}
    for option, path in outputs.items():
        if option == "--plot":
            check_plot(path, inputs=inputs)
        else:
            check_output(path, option=option, inputs=inputs)
    check_distinct(outputs)


def save_outputs(clf: Any, args: argparse.Namespace, result: dict[str, Any]) -> None:
    """``--out`` (the model) and ``--plot`` (the learning curve), recorded in ``result``."""
    if args.out:
        clf.save(args.out)
        result["saved"] = args.out
    if args.plot:
        from qnlp.plots import plot_learning_curve

        plot_learning_curve(clf.history_, args.plot)
        result["plot"] = args.plot


def evaluation(model: str, data: str, metrics: dict[str, Any], skipped: int, seconds: float) -> dict[str, Any]:
    """The result of ``qnlp evaluate`` / ``qnlp protein evaluate``: the model and data, the classification
    ``metrics`` (``qnlp.model.classification_metrics``), the records skipped, and the time and throughput."""
    return {"model": model, "data": data, **metrics, "skipped": skipped, "seconds": round(seconds, 3),
            "sequences_per_second": round(metrics["sequences"] / seconds, 2)}


def print_metrics(result: dict[str, Any], as_json: bool) -> None:
    """The evaluation ``result`` (of ``qnlp.model.classification_metrics`` and more) as JSON or a table."""
    if as_json:
        print(json.dumps(result, indent=2))
        return
    print(result["data"])
    print(f"accuracy {result['accuracy']:.4f} on {result['sequences']} items ({result['skipped']} skipped), "
          f"{result['sequences_per_second']:g} sequences/s")
    names = result["classes"]
    width = max(len(n) for n in [*names, "true/predicted"])
    print(f"{'true/predicted':>{width}}  " + "  ".join(f"{n:>{max(len(n), 6)}}" for n in names))
    for name, row in zip(names, result["confusion"]):
        print(f"{name:>{width}}  " + "  ".join(f"{v:>{max(len(n), 6)}}" for n, v in zip(names, row)))
    for name, figures in result["per_class"].items():
        print(f"{name:>{width}}  precision {figures['precision']:.4f}  recall {figures['recall']:.4f}  "
              f"support {figures['support']}")


def write_predictions(path: str | None, ids: Any, labels: Any, probabilities: Any) -> None:
    """``id,label,probability`` CSV (with that header): atomically to ``path``, or to stdout when it is None."""
    import csv
    import io

    from tnq.io import atomic_write_text

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["id", "label", "probability"])
    writer.writerows([i, label, repr(float(p))] for i, label, p in zip(ids, labels, probabilities))
    if path is None:
        print(buffer.getvalue(), end="")
    else:
        atomic_write_text(path, buffer.getvalue())


def read_lexicon(path: str | os.PathLike) -> dict[str, Any]:
    """A lexicon file: a JSON object word -> POS tag or type string (or a list of them), checked entry by entry;
    every error names the file."""
    from qnlp.errors import LexiconError
    from qnlp.files import read_text
    from qnlp.grammar import Lexicon

    text = read_text(path, LexiconError)
    try:
        entries = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LexiconError(f"{path}:{exc.lineno}:{exc.colno}: not JSON ({exc.msg})") from None
    except RecursionError:
        raise LexiconError(f"{path}: JSON nested too deeply") from None
    if not isinstance(entries, dict):
        raise LexiconError(f"{path}: the lexicon must be a JSON object word -> tag or type string")
    try:
        Lexicon(entries)
    except LexiconError as exc:
        raise LexiconError(f"{path}: {exc}") from None
    return entries
