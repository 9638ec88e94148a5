"""``qnlp protein train``: train a PTN (stairs) or CTN (tree) quantum classifier on labelled protein sequences
and print its test accuracy, parameter count, time per epoch and evaluation throughput beside the k-mer
logistic-regression baseline on the same split.

    qnlp protein train --fasta seqs.fa --label-from header --model ptn --sharing hierarchical
    qnlp protein train --modlamp AMPvsTM --model ptn --sharing uniform --out ptn.safetensors
    qnlp protein evaluate ptn.safetensors --fasta other.fa --skip-unlabelled --json
    qnlp protein predict ptn.safetensors --fasta new.fa --out predictions.csv

Data: ``--fasta`` (label from the header or from ``--label-map FILE``), ``--csv`` (label column), or a modlamp
set. Splits are stratified and seeded: ``--test-fraction`` for the test set, then ``--dev-fraction`` of the rest
for early stopping (the reported test accuracy is at the epoch with the best dev accuracy). ``--skip-unlabelled``
skips (and counts) the records without a label in ``--classes`` instead of refusing them. A saved model records its
class names and windows, so ``evaluate`` and ``predict`` need only the data (and for ``evaluate`` the label options).
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np

from qnlp.ansatz import MAX_TYPE_QUBITS
from qnlp.errors import located
from qnlp.model import NUMBERS
from qnlp.protein.alphabet import ALPHABETS, POLICIES
from qnlp.protein.compile import COORDINATES, PROTEIN_ANSATZE
from qnlp.protein.diagrams import MODELS, SHARING
from qnlp.protein.windows import KEEP, POOLING
from tnq.cli import options

PRESETS: dict[str, dict[str, Any]] = {
    "proteins": {"alphabet": "dayhoff6", "unknown": "map", "start": True, "ansatz": "mixture",
                 "coordinates": "log-weights", "readout": "marginal", "windows": 19, "stride": 1, "pool": "lse",
                 "temperature": 1.0, "lr": 0.05, "batch_size": None, "epochs": 150, "patience": 20,
                 "weight_decay": 0.001, "dev_fraction": 0.0},
    "peptides": {"alphabet": "aa20", "unknown": "error", "start": False, "ansatz": "controlled",
                 "coordinates": "angles", "readout": "outcomes", "windows": None, "stride": None, "pool": "mean",
                 "temperature": 1.0, "lr": 0.003, "batch_size": 16, "epochs": 60, "patience": 20,
                 "weight_decay": 0.0, "dev_fraction": 0.15},
}
"""What the options left out default to. ``proteins`` (the default): windows of 19 residues at stride 1 over the
whole protein, dayhoff6 words with X and START, the 1-qubit mixture ansatz in log-weights (one parameter per word,
at most 8), window logits soft-max pooled (``lse``) and the pooled protein probability trained, full-batch Adam (see
docs/protein_design.md). ``peptides``: the composition model that reaches ~0.95 on AMPvsTM (see
benchmarks/protein_quantum.py)."""


class _Unset:
    """The argparse default of the preset options: tells "left out" from any value the user may give."""

    def __repr__(self) -> str:
        return "from --preset"


UNSET = _Unset()


def apply_preset(args: argparse.Namespace) -> argparse.Namespace:
    """Fill the options left out from ``--preset``. ``--max-len`` drops the preset's windows (whole sequences),
    and the ``proteins`` preset trains log-weights only with the mixture ansatz (others train their angles)."""
    preset = PRESETS[args.preset]
    given = {name for name in preset if getattr(args, name) is not UNSET}
    for name, value in preset.items():
        if name not in given:
            setattr(args, name, value)
    if args.max_len is not None and "windows" not in given:
        args.windows, args.stride = None, None
    if "coordinates" not in given and args.ansatz != "mixture":
        args.coordinates = "angles"
    return args


def register(commands: Any) -> None:
    """Add ``protein`` (with ``train``, ``evaluate`` and ``predict``) to the ``qnlp`` subcommands."""
    from qnlp.commands import add_model_options

    protein = commands.add_parser("protein", help="protein / peptide sequence classification",
                                  description="Residues as words: PTN (stairs) and CTN (tree) circuits.")
    sub = protein.add_subparsers(dest="protein_command", required=True, metavar="COMMAND")
    train = sub.add_parser("train", help="train and evaluate a PTN / CTN classifier",
                           description=__doc__.split("\n\n")[0],
                           formatter_class=options.DefaultsHelpFormatter)
    add_data_options(train, modlamp=True)
    train.add_argument("--classes", default=None, metavar="A,B",
                       help="label order (first -> class 0); a label 'A-x' that is not a class counts as class A "
                            "(DeepLoc's 'Cell.membrane-M')")
    train.add_argument("--dedupe", action="store_true", help="drop repeated sequences before splitting")
    train.add_argument("--model", choices=MODELS, default="ptn", help="ptn: stairs (RNN-like); ctn: tree (CNN-like)")
    train.add_argument("--sharing", choices=SHARING, default="uniform",
                       help="one combining box everywhere, or one per step (ptn) / tree level (ctn)")
    train.add_argument("--position-classes", type=options.positive, default=None, metavar="C",
                       help="ptn hierarchical: C boxes for C equal segments of the chain (any length)")
    train.add_argument("--preset", choices=sorted(PRESETS), default="proteins",
                       help="defaults of the model and schedule options left out: 'proteins' (the default: pooled "
                            "windows, see docs/proteins.md) or 'peptides' (whole short sequences)")
    train.add_argument("--alphabet", choices=sorted(ALPHABETS), help="residue classes")
    train.add_argument("--unknown", choices=POLICIES, help="non-standard residues (X, B, Z, ...)")
    train.add_argument("--start", action=argparse.BooleanOptionalAction,
                       help="begin every sequence with a learned START state (a bias; the experts' prior weights "
                            "with --ansatz mixture)")
    train.add_argument("--max-len", type=options.positive, default=None, metavar="N", help="truncate to N residues")
    train.add_argument("--keep", choices=KEEP, default="both", help="which residues truncation keeps")
    train.add_argument("--windows", type=options.positive, metavar="W",
                       help="read windows of W residues and pool window predictions per sequence")
    train.add_argument("--stride", type=options.positive, metavar="S",
                       help="window stride, at most W (default: 1 with the proteins preset, else W)")
    train.add_argument("--pool", choices=POOLING,
                       help="how window predictions are pooled; lse trains the pooled sequence probability, the "
                            "others train every window on its sequence's label")
    train.add_argument("--temperature", type=options.positive_real, metavar="T",
                       help="--pool lse: T log mean exp(window log-odds / T) (small T: the largest window)")
    train.add_argument("--qubits", type=options.integer(1, MAX_TYPE_QUBITS), default=1, metavar="Q",
                       help="qubits per residue wire")
    train.add_argument("--coordinates", choices=COORDINATES,
                       help="what training moves: the circuit's angles, or (--ansatz mixture) each residue's "
                            "log-weights, mapped to its angles (better conditioned)")
    train.add_argument("--init-scale", type=options.of(NUMBERS["init_scale"]), default=0.1, metavar="X",
                       help="initial parameters uniform in [-X, X] (small: boxes start near the identity)")
    train.add_argument("--test-fraction", type=options.real(above=0.0, below=1.0), default=0.25, metavar="F",
                       help="part of the data held out for testing, in (0, 1)")
    train.add_argument("--dev-fraction", type=options.real(0.0, below=1.0), metavar="F",
                       help="part of the training data held out for early stopping, in [0, 1) (0: none)")
    train.add_argument("--baseline-k", default="1", metavar="K[,K]", help="k-mer sizes of the classical baseline")
    add_model_options(train)
    for action in train._actions:  # the protein ansatz joins the shared choices
        if action.dest == "ansatz":
            action.choices = sorted([*action.choices, *PROTEIN_ANSATZE])
    train.set_defaults(func=_train, **dict.fromkeys(PRESETS["proteins"], UNSET))

    evaluate = sub.add_parser("evaluate", help="accuracy, confusion matrix and per-class precision / recall of a "
                                               "saved model on labelled sequences",
                              description="Evaluate a model saved by 'qnlp protein train --out' on labelled "
                                          "sequences: the model brings its alphabet, classes, truncation and "
                                          "windows; only the label options are needed.")
    evaluate.add_argument("model", metavar="MODEL.safetensors", help="a model saved by qnlp protein train --out")
    add_data_options(evaluate)
    evaluate.add_argument("--json", action="store_true", help="print the results as one JSON object")
    evaluate.set_defaults(func=_evaluate)
    predict = sub.add_parser("predict", help="the predicted class and its probability for every sequence",
                             description="Write 'id,label,probability' CSV lines (with a header) for every "
                                         "sequence of the file, with a model saved by 'qnlp protein train --out'.")
    predict.add_argument("model", metavar="MODEL.safetensors", help="a model saved by qnlp protein train --out")
    add_data_options(predict, labels=False)
    predict.add_argument("--out", default=None, metavar="FILE.csv", help="write the CSV here (default: stdout)")
    predict.set_defaults(func=_predict)


def add_data_options(parser: argparse.ArgumentParser, labels: bool = True, modlamp: bool = False) -> None:
    """The input options: ``--fasta`` / ``--csv`` (/ ``--modlamp``) and, with ``labels``, where the labels are and
    ``--skip-unlabelled``."""
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--fasta", metavar="FILE", help="FASTA file (.gz read too)")
    source.add_argument("--csv", metavar="FILE", help="CSV / TSV file with sequence and label columns")
    if modlamp:
        source.add_argument("--modlamp", metavar="NAME", help="a modlamp data set, e.g. AMPvsTM")
    parser.add_argument("--sequence-column", default="sequence", help="CSV sequence column (name or 0-based index)")
    if not labels:
        return
    parser.add_argument("--label-from", choices=("header", "column"), default=None,
                        help="where labels are: FASTA header or CSV column (default: header for FASTA, column for "
                             "CSV)")
    parser.add_argument("--label-regex", default=None, metavar="RE",
                        help="FASTA: label = named group 'label', first group or whole match of RE in the header")
    parser.add_argument("--label-field", type=options.integer(), default=-1, metavar="I",
                        help="FASTA: label = header field I (split by --field-sep)")
    parser.add_argument("--field-sep", default=None, metavar="SEP", help="FASTA header field separator")
    parser.add_argument("--label-map", default=None, metavar="FILE", help="FASTA: two-column file id,label")
    parser.add_argument("--label-column", default="label", help="CSV label column (name or 0-based index)")
    parser.add_argument("--skip-unlabelled", action="store_true",
                        help="skip (and count) the records whose label is missing or not one of the classes, "
                             "instead of refusing them")


def _column(value: str) -> str | int:
    return int(value) if value.isdigit() else value


def load_data(args: argparse.Namespace, classes: list[str] | None = None, labels: bool = True) -> Any:
    """The SequenceSet the options name: labelled (``classes``, default ``--classes``, fix the label order) or,
    without ``labels``, unlabelled."""
    from qnlp.protein.errors import ProteinDataError
    from qnlp.protein.loaders import read_csv, read_fasta, read_label_map

    if not labels:
        return read_fasta(args.fasta) if args.fasta else read_csv(args.csv, _column(args.sequence_column), None)
    if classes is None and getattr(args, "classes", None):
        classes = args.classes.split(",")
    if getattr(args, "modlamp", None):
        from qnlp.protein.datasets import load_modlamp

        return load_modlamp(args.modlamp, dedupe=args.dedupe)
    if args.fasta:
        if args.label_from == "column":
            raise ProteinDataError("--label-from column applies to --csv; FASTA labels come from the header "
                                   "or --label-map")
        label_from: Any = read_label_map(args.label_map) if args.label_map else "header"
        data = read_fasta(args.fasta, label_from, label_regex=args.label_regex, label_field=args.label_field,
                          field_sep=args.field_sep, classes=classes, skip_unlabelled=args.skip_unlabelled)
    else:
        if args.label_from == "header":
            raise ProteinDataError("--label-from header applies to --fasta; CSV labels come from --label-column")
        data = read_csv(args.csv, _column(args.sequence_column), _column(args.label_column), classes=classes,
                        skip_unlabelled=args.skip_unlabelled)
    return data.dedupe() if getattr(args, "dedupe", False) else data


def bags(reader: Any, data: Any, windows: int, stride: int | None, temperature: float) -> list[Any]:
    """One ``WindowBag`` per sequence of ``data`` (its whole residue tokens), carrying its file and line."""
    from dataclasses import replace

    from qnlp.protein.model import WindowBag

    whole = replace(reader, max_len=None)
    return [WindowBag(whole.tokens(s, i, framed=False), windows, stride, temperature, data.source,
                      data.place(k)) for k, (s, i) in enumerate(zip(data.sequences, data.ids))]


def _items(reader: Any, data: Any, windows: int | None, stride: int | None) -> tuple[list[tuple[str, ...]], np.ndarray]:
    """Token tuples to classify (whole sequences, or windows), each carrying its record's file and line for error
    messages, and the sequence each came from."""
    if windows is None:
        items = [reader.tokens(s, i) for s, i in zip(data.sequences, data.ids)]
        owner = np.arange(len(data.sequences))
    else:
        items, owner = reader.window_tokens(data, windows, stride)
    return [located(item, data.source, data.place(int(k))) for item, k in zip(items, owner)], owner


EVAL_BATCH = 32
"""Sequences compiled and evaluated at a time by ``evaluate`` / ``predict``: memory stays flat in the file's size."""

WINDOW_BASELINE = 19
"""Window length of the classical window baseline when the quantum model reads whole sequences: about one
transmembrane helix."""


def sequence_proba(clf: Any, data: Any, windows: int | None, stride: int | None, pool_how: str,
                   batch: int | None = EVAL_BATCH, temperature: float = 1.0) -> np.ndarray:
    """Class probabilities of every sequence of ``data`` (windows pooled), ``batch`` sequences at a time with no
    circuit kept (``None``: all at once through the classifier's circuit cache, for the training sets)."""
    from qnlp.protein.windows import pool

    reader = clf.compile.reader
    step = len(data) if batch is None else batch
    parts = []
    for start in range(0, len(data), max(step, 1)):
        part = data.subset(np.arange(start, min(start + step, len(data))))
        if windows is not None and pool_how == "lse":  # pooled by the classifier, as in training
            parts.append(clf.predict_proba(bags(reader, part, windows, stride, temperature), batch))
            continue
        items, owner = _items(reader, part, windows, stride)
        probs = clf.predict_proba(items, None if batch is None else len(items))
        parts.append(pool(probs, owner, len(part), pool_how) if windows is not None else probs)
    return np.concatenate(parts) if parts else np.zeros((0, len(clf.classes_)))


def build_classifier(args: argparse.Namespace) -> tuple[Any, Any]:
    """The reader and the untrained classifier of ``train``'s (preset-filled) options."""
    from qnlp.commands import training_options
    from qnlp.protein.compile import ProteinCompiler
    from qnlp.protein.diagrams import ProteinReader
    from qnlp.protein.model import ProteinClassifier

    reader = ProteinReader(args.model, args.sharing, alphabet=args.alphabet, unknown=args.unknown,
                           max_len=args.max_len, keep=args.keep, position_classes=args.position_classes,
                           start=args.start)
    compiler = ProteinCompiler(reader, args.ansatz, qubits=args.qubits, layers=args.layers,
                               single_qubit_params=args.single_qubit_params, coordinates=args.coordinates)
    return reader, ProteinClassifier(compiler, init_scale=args.init_scale, **training_options(args))


def _train(args: argparse.Namespace) -> int:
    from qnlp.commands import check_outputs, run_training
    from qnlp.protein.baseline import KmerBaseline
    from qnlp.protein.errors import ProteinDataError

    apply_preset(args)
    if args.windows is not None and args.max_len is not None:
        raise ProteinDataError("--windows and --max-len exclude each other (windows cover the whole sequence)")
    try:
        k = tuple(int(x) for x in args.baseline_k.split(","))
    except ValueError:
        raise ProteinDataError(f"--baseline-k expects integers like 1 or 1,2, got {args.baseline_k!r}") from None
    baseline = KmerBaseline(k=k, alphabet=args.alphabet, unknown=args.unknown, max_len=args.max_len,
                            keep=args.keep)  # checked now: a bad --baseline-k must not cost a training run
    window = args.windows or WINDOW_BASELINE  # the classical model that sees local windows
    window_baseline = KmerBaseline(k=1, alphabet=args.alphabet, unknown=args.unknown, max_len=args.max_len,
                                   keep=args.keep, hydropathy=window)
    check_outputs(args, [path for path in (args.fasta, args.csv, args.label_map) if path])
    data = load_data(args)
    present = sorted(set(data.labels.tolist())) if data.labels is not None else []
    if len(present) < 2:
        raise ProteinDataError(f"{data.source}: need labelled sequences of at least two classes, found "
                               f"{[data.label_names[i] for i in present]}")
    train, test = data.split(args.test_fraction, seed=args.seed)
    fit_set, dev_set = train.split(args.dev_fraction, seed=args.seed) if args.dev_fraction else (train, None)
    for name, part, fraction in (("test", test, args.test_fraction), ("dev", dev_set, args.dev_fraction)):
        if part is not None and len(part) == 0:
            raise ProteinDataError(f"{data.source}: {len(data)} records leave the {name} set empty "
                                   f"(--{name}-fraction {fraction:g}); give more data or a larger fraction"
                                   + (" (or --dev-fraction 0: no early stopping)" if name == "dev" else ""))
    reader, clf = build_classifier(args)
    clf.set_windows(args.windows, args.stride, args.pool, args.temperature)  # kept by --checkpoint files too
    pooled = args.windows is not None and args.pool == "lse"  # the pooled sequence probability is trained

    def labelled(part: Any) -> tuple[list[Any], np.ndarray]:
        """The items the classifier trains on (windows, sequences or WindowBags) and their labels."""
        if pooled:
            return bags(reader, part, args.windows, args.stride, args.temperature), part.labels
        items, owner = _items(reader, part, args.windows, args.stride)
        return items, part.labels[owner]

    X, y = labelled(fit_set)
    dev = labelled(dev_set) if dev_set is not None else None

    def accuracy(subset: Any, batch: int | None = None) -> tuple[float, float]:
        """(accuracy, sequences per second including compilation of unseen sequences)."""
        tick = time.perf_counter()
        probs = sequence_proba(clf, subset, args.windows, args.stride, args.pool, batch, args.temperature)
        rate = len(subset) / (time.perf_counter() - tick)
        return float(np.mean(clf.classes_[probs.argmax(1)] == subset.labels)), rate

    def report(figures: dict[str, Any]) -> dict[str, Any]:
        """Test / train (/ dev) accuracy, evaluation throughput and the baseline on the same split."""
        clf.set_inputs([data.label_names[int(c)] for c in clf.classes_])  # with the windows set_windows declared
        test_acc, rate = accuracy(test, EVAL_BATCH)
        baseline.fit(train)
        window_baseline.fit(train)
        result: dict[str, Any] = {
            "data": data.summary(), "classes": list(data.label_names), "skipped": data.skipped,
            "split": {"train": len(fit_set), "dev": len(dev_set) if dev_set is not None else 0, "test": len(test)},
            "model": f"{args.model}/{args.sharing} {args.ansatz} x{args.layers}, {args.qubits} qubit(s) per "
                     f"residue, {args.alphabet}" + (f", windows {args.windows} stride {args.stride or args.windows}"
                                                    f" pooled {args.pool}" if args.windows else ""),
            **figures, "test_accuracy": round(test_acc, 4), "train_accuracy": round(accuracy(fit_set)[0], 4),
            "eval_sequences_per_second": round(rate, 1),
            "baseline": {"features": f"{args.alphabet} k={','.join(map(str, k))}",
                         "parameters": baseline.num_parameters, "test_accuracy": round(baseline.score(test), 4)},
            "window_baseline": {"features": f"{args.alphabet} composition + hydropathy plot, windows of {window}",
                                "parameters": window_baseline.num_parameters,
                                "test_accuracy": round(window_baseline.score(test), 4)}}
        if dev_set is not None:
            result["dev_accuracy"] = round(accuracy(dev_set)[0], 4)
        return result

    def show(result: dict[str, Any]) -> None:
        print(result["data"])
        print(f"split: {result['split']}; model: {result['model']}")
        kept = f"best {clf.best_epoch_}" if dev is not None else "no dev set: the last"
        print(f"quantum  test accuracy {result['test_accuracy']:.4f}  parameters {result['parameters']:>6}  "
              f"epochs {result['epochs']} ({kept})  {result['seconds_per_epoch']:.3f} s/epoch  "
              f"eval {result['eval_sequences_per_second']:.0f} seq/s")
        for name in ("baseline", "window_baseline"):
            b = result[name]
            print(f"baseline test accuracy {b['test_accuracy']:.4f}  parameters {b['parameters']:>6}  "
                  f"(logistic regression, {b['features']})")
        for key in ("saved", "plot"):
            if key in result:
                print(f"{key}: {result[key]}")

    test_items = labelled(test)[0]  # checked for unseen words before training
    return run_training(clf, args, (X, y), dev, compile_sets=[X, test_items] if pooled else [X],
                        check_sets=[] if pooled else [test_items], report=report, show=show)


def load_protein_model(path: str) -> Any:
    """A protein model that records its class names and windows (models saved before they did are refused)."""
    from qnlp.protein.errors import ProteinDataError
    from qnlp.protein.model import ProteinClassifier

    clf = ProteinClassifier.load(path)
    if not clf.inputs_:
        raise ProteinDataError(f"{path}: the model does not record its class names and windows (saved by an "
                               "older qnlp, or from Python without set_inputs); retrain it with qnlp protein "
                               "train --out")
    return clf


def _evaluate(args: argparse.Namespace) -> int:
    import torch  # noqa: F401  (start-up: loaded before the clock starts, so the rate measures the evaluation)

    from qnlp.commands import evaluation, print_metrics
    from qnlp.model import classification_metrics

    clf = load_protein_model(args.model)
    names = clf.inputs_["label_names"]
    tick = time.perf_counter()
    data = load_data(args, classes=names)
    probs = sequence_proba(clf, data, clf.inputs_["windows"], clf.inputs_["stride"], clf.inputs_["pool"],
                           temperature=clf.inputs_.get("temperature", 1.0))
    seconds = time.perf_counter() - tick
    metrics = classification_metrics(data.labels, probs.argmax(1), range(len(names)), names)
    print_metrics(evaluation(args.model, data.summary(), metrics, data.skipped, seconds), args.json)
    return 0


def _predict(args: argparse.Namespace) -> int:
    from qnlp.commands import write_predictions
    from tnq.io import check_output

    inputs = [args.model, args.fasta or args.csv]
    if args.out:
        check_output(args.out, option="--out", inputs=inputs, suffixes=("csv",))
    clf = load_protein_model(args.model)
    tick = time.perf_counter()
    data = load_data(args, labels=False)
    probs = sequence_proba(clf, data, clf.inputs_["windows"], clf.inputs_["stride"], clf.inputs_["pool"],
                           temperature=clf.inputs_.get("temperature", 1.0))
    rate = len(data) / (time.perf_counter() - tick)
    write_predictions(args.out, data.ids, [clf.inputs_["label_names"][j] for j in probs.argmax(1)], probs.max(1))
    if args.out:
        print(f"{args.out}: {len(data)} predictions ({rate:.2f} sequences/s)")
    return 0
