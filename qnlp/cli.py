"""``qnlp`` command line: train, evaluate and apply sentence classifiers and draw sentence diagrams and circuits.

    qnlp train --data train.txt --dev dev.txt --test test.txt --reader pregroup --ansatz iqp --out m.safetensors
    qnlp evaluate m.safetensors --data test.txt --json
    qnlp predict m.safetensors --data new.txt --out predictions.csv
    qnlp draw "man_N prepares_TV tasty_ADJ dinner_N" --out drawings/
    qnlp protein train --fasta seqs.fa --label-from header --model ptn --sharing hierarchical

Errors in the input are one line on stderr and exit code 2, found before any work starts where they can be (options,
output paths, data files, labels, words the training data lacks). Ctrl-C and SIGTERM stop training the same way:
the ``--checkpoint`` keeps the last finished epoch and the same command resumes from it (exit code 130 / 143).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from typing import Any

from qnlp.commands import (
    LAYERS,
    add_model_options,
    check_outputs,
    evaluation,
    print_metrics,
    qubit_counts,
    read_lexicon,
    run_training,
    training_options,
    write_predictions,
)
from qnlp.errors import located
from qnlp.pipeline import ANSATZE, FALLBACKS, READERS
from tnq.cli import options


def build_parser() -> argparse.ArgumentParser:
    parser = options.OneLineParser(prog="qnlp", description="Quantum NLP on tnq: sentences -> DisCoPy diagrams -> "
                                                            "circuits -> trained classifiers.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = commands.add_parser(
        "train", help="train a sentence classifier",
        description="Train a classifier on labelled sentences ('label sentence' lines as in lambeq's data sets, "
                    "or CSV with --text-column/--label-column). Tagged tokens (word_TAG) are typed by their tag "
                    "for the pregroup reader.")
    train.add_argument("--data", required=True, metavar="TRAIN", help="training file")
    train.add_argument("--dev", default=None, metavar="DEV", help="development file (early stopping)")
    train.add_argument("--test", default=None, metavar="TEST", help="test file")
    train.add_argument("--text-column", default="sentence", help="CSV column with the sentence")
    train.add_argument("--label-column", default="label", help="CSV column with the label")
    train.add_argument("--reader", choices=READERS, default="pregroup",
                       help="pregroup: the offline CKY parser; spiders/cups/stairs/tree: lexicon-free readers")
    train.add_argument("--target", default="s", help="sentence type (s for MC, n for RP noun phrases)")
    train.add_argument("--qubits", type=qubit_counts, default=None, metavar="n=1,s=1",
                       help="qubits per atomic type (default: 1 for each of n, s)")
    train.add_argument("--share", action="append", default=[], metavar="WORD",
                       help="give every box of WORD one shared set of parameters whatever its type (repeatable; "
                            "use --share that on RP so the pronoun's type cannot leak the label)")
    train.add_argument("--keep-cups", action="store_true", help="do not remove cups before the ansatz")
    train.add_argument("--lexicon", default=None, metavar="LEX.json",
                       help="JSON word -> POS tag or type string, for untagged text with the pregroup reader")
    train.add_argument("--fallback", choices=FALLBACKS, default=None,
                       help="read sentences the pregroup parser cannot type with this lexicon-free reader instead of "
                            "stopping (counted as <split>_fallback in the output)")
    add_model_options(train)
    train.set_defaults(func=_train)

    draw = commands.add_parser("draw", help="save a sentence's diagram and circuit as images")
    draw.add_argument("sentence", help="the sentence (word_TAG tokens for the pregroup reader)")
    draw.add_argument("--reader", choices=READERS, default="pregroup")
    draw.add_argument("--target", default="s")
    draw.add_argument("--ansatz", choices=sorted(ANSATZE), default="iqp")
    draw.add_argument("--layers", type=LAYERS, default=1)
    draw.add_argument("--qubits", type=qubit_counts, default=None, metavar="n=1,s=1")
    draw.add_argument("--remove-cups", action="store_true", help="draw the diagram after cup removal")
    draw.add_argument("--out", default="qnlp-drawings", metavar="DIR", help="folder for diagram.png and circuit.png")
    draw.set_defaults(func=_draw)

    evaluate = commands.add_parser("evaluate", help="accuracy, confusion matrix and per-class precision / recall "
                                                    "of a saved sentence model",
                                   description="Evaluate a model saved by 'qnlp train --out' on a labelled file "
                                               "(the format of 'qnlp train --data').")
    predict = commands.add_parser("predict", help="the predicted class and its probability for every sentence",
                                  description="Write 'id,label,probability' CSV lines (with a header; id = "
                                              "FILE:LINE) for every sentence of a file in the format of 'qnlp train "
                                              "--data' (its labels are not used), with a model saved by 'qnlp "
                                              "train --out'.")
    for command in (evaluate, predict):
        command.add_argument("model", metavar="MODEL.safetensors", help="a model saved by qnlp train --out")
        command.add_argument("--data", required=True, metavar="FILE", help="the sentences")
        command.add_argument("--text-column", default="sentence", help="CSV column with the sentence")
        command.add_argument("--label-column", default="label", help="CSV column with the label")
    evaluate.add_argument("--json", action="store_true", help="print the results as one JSON object")
    evaluate.set_defaults(func=_evaluate)
    predict.add_argument("--out", default=None, metavar="FILE.csv", help="write the CSV here (default: stdout)")
    predict.set_defaults(func=_predict)

    from qnlp import parse_cmd
    from qnlp.protein import cli as protein_cli  # more commands register themselves

    parse_cmd.add_parser(commands)

    protein_cli.register(commands)
    return parser


def _texts(examples: list, reader: str) -> list[str]:
    """Sentences as the reader wants them (tagged tokens for the pregroup parser when the data has tags), each
    carrying the file and line it was read from for error messages."""
    return [located(" ".join(e.tagged) if reader == "pregroup" and e.tags is not None else e.sentence,
                    e.where.rpartition(":")[0], e.where) for e in examples]


def _train(args: argparse.Namespace) -> int:
    from qnlp.corpus import load_examples
    from qnlp.model import QuantumClassifier, check_labels, training_classes
    from qnlp.pipeline import Pipeline, counted_fallbacks

    paths = {name: path for name, path in (("train", args.data), ("dev", args.dev), ("test", args.test)) if path}
    check_outputs(args, [*paths.values(), *([args.lexicon] if args.lexicon else [])])
    splits = {name: load_examples(path, args.text_column, args.label_column) for name, path in paths.items()}
    qubits = args.qubits or {"n": 1, "s": 1, args.target: 1}
    lexicon = read_lexicon(args.lexicon) if args.lexicon else None
    pipeline = Pipeline(reader=args.reader, ansatz=args.ansatz, qubits=qubits, layers=args.layers,
                        single_qubit_params=args.single_qubit_params, remove_cups=not args.keep_cups,
                        target=args.target, share={w: w for w in args.share}, lexicon=lexicon,
                        fallback=args.fallback)
    data = {name: (_texts(ex, args.reader), [e.label for e in ex]) for name, ex in splits.items()}
    classes = training_classes(data["train"][1], data["train"][0])
    for name in ("dev", "test"):
        if name in data:
            check_labels(data[name][1], classes, data[name][0])
    clf = QuantumClassifier(pipeline, **training_options(args))

    def report(figures: dict[str, Any]) -> dict[str, Any]:
        # every set was compiled before training (so parse errors came first): the fallbacks are all recorded
        fell_back = counted_fallbacks(pipeline, {n: X for n, (X, _) in data.items()}) if args.fallback else {}
        return {**figures, **fell_back,
                **{f"{name}_accuracy": round(clf.score(Xs, ys), 4) for name, (Xs, ys) in data.items()}}

    return run_training(clf, args, data["train"], data.get("dev"), compile_sets=[X for X, _ in data.values()],
                        report=report)


EVAL_BATCH = 64
"""Sentences compiled and evaluated at a time by ``evaluate`` / ``predict`` (memory flat in the file's size)."""


def _sentence_model(args: argparse.Namespace) -> tuple[Any, list[Any], list[str]]:
    """The saved sentence model, the examples of ``--data`` and their texts as the model's reader wants them."""
    from qnlp.corpus import load_examples
    from qnlp.errors import QnlpError
    from qnlp.model import QuantumClassifier

    clf = QuantumClassifier.load(args.model)
    if clf.compile.config.get("compiler", "qnlp.pipeline:Pipeline") != "qnlp.pipeline:Pipeline":
        raise QnlpError(f"{args.model}: a protein model; use qnlp protein evaluate / predict")
    examples = load_examples(args.data, args.text_column, args.label_column)
    return clf, examples, _texts(examples, clf.compile.reader_name)


def _evaluate(args: argparse.Namespace) -> int:
    from qnlp.model import check_labels, classification_metrics

    clf, examples, texts = _sentence_model(args)
    labels = [e.label for e in examples]
    check_labels(labels, clf.classes_, texts)
    tick = time.perf_counter()
    predicted = clf.predict(texts, EVAL_BATCH)
    seconds = time.perf_counter() - tick
    metrics = classification_metrics(labels, predicted, clf.classes_.tolist())
    print_metrics(evaluation(args.model, f"{args.data}: {len(texts)} sentences", metrics, 0, seconds), args.json)
    return 0


def _predict(args: argparse.Namespace) -> int:
    from tnq.io import check_output

    if args.out:
        check_output(args.out, option="--out", inputs=[args.model, args.data], suffixes=("csv",))
    clf, examples, texts = _sentence_model(args)
    probs = clf.predict_proba(texts, EVAL_BATCH)
    write_predictions(args.out, [e.where for e in examples], clf.classes_[probs.argmax(1)].tolist(), probs.max(1))
    if args.out:
        print(f"{args.out}: {len(texts)} predictions")
    return 0


def _draw(args: argparse.Namespace) -> int:
    from qnlp.draw import save_drawings
    from qnlp.pipeline import Pipeline, tokens
    from tnq.io import check_output

    out = check_output(args.out, option="--out", folder=True)
    qubits = args.qubits or {"n": 1, "s": 1, args.target: 1}
    pipeline = Pipeline(reader=args.reader, ansatz=args.ansatz, qubits=qubits, layers=args.layers,
                        remove_cups=False, target=args.target)
    diagram = pipeline.reader(tokens(args.sentence))
    out.mkdir(parents=True, exist_ok=True)
    save_drawings(diagram, out / "diagram.png", out / "circuit.png", ansatz=pipeline.ansatz,
                  rewrite=args.remove_cups)
    print(f"saved {out / 'diagram.png'} and {out / 'circuit.png'}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``qnlp`` command line; returns the exit code: 2 for errors in the input, 130 after Ctrl-C and 143
    after SIGTERM (both stop the command the same safe way)."""
    from tnq.cli.main import run_command

    return run_command(build_parser().parse_args(argv), "qnlp")


if __name__ == "__main__":
    raise SystemExit(main())
