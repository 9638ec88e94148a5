"""``qnlp protein evaluate`` / ``predict`` and ``--skip-unlabelled``: a tiny model trained on a FASTA written to
tmp_path is evaluated, and its metrics are recomputed here from its own ``predict_proba`` (confusion matrix by hand,
scikit-learn's metrics where installed); predictions stream in batches that keep no circuit; bad input is one line
and exit code 2. The DeepLoc validation file (../shared, skipped when absent) keeps its 460 Cytoplasm and
Cell.membrane proteins."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("discopy")

from qnlp.cli import main  # noqa: E402
from qnlp.protein.loaders import read_fasta  # noqa: E402
from qnlp.protein.model import ProteinClassifier  # noqa: E402

CLASSES = ["membrane", "soluble"]
FAST = ["--preset", "peptides", "--epochs", "3", "--batch-size", "8", "--lr", "0.02", "--no-progress"]
DEEPLOC = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "deeploc"


def _fasta_text(n: int = 32, seed: int = 1) -> str:
    """Hydrophobic (membrane) vs charged (soluble) peptides, then three records without a usable label: one whose
    label is no class, one with no label field and one whose header the label regex cannot match."""
    rng = np.random.default_rng(seed)
    records = []
    for i in range(n):
        label = CLASSES[i % 2]
        pool = "LIVFAMW" if label == "membrane" else "KRDEQNS"
        sequence = "".join(rng.choice(list(pool + "GT")) for _ in range(int(rng.integers(5, 12))))
        records.append(f">p{i} {label}-M\n{sequence}\n")
    return "".join(records) + ">x1 nucleus-S\nMKKLV\n>x2\nMKVLA\n>x3 ???\nLLKKA\n"


LABELS = ["--label-regex", r"(?P<label>\w+)-", "--classes", ",".join(CLASSES)]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("protein_eval")
    fasta = folder / "tiny.fa"
    fasta.write_text(_fasta_text())
    model = folder / "model.safetensors"
    code = main(["protein", "train", "--fasta", str(fasta), *LABELS, "--skip-unlabelled", "--out", str(model),
                 "--json", *FAST])
    assert code == 0
    return fasta, model


def _run(argv, capsys):
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse refuses an option value
        code = exc.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _labelled(fasta: Path):
    """The labelled records, read independently of the CLI (the three unlabelled ones dropped by hand)."""
    text = fasta.read_text().split(">")[1:]
    ids, sequences, labels = [], [], []
    for record in text:
        header, sequence = record.strip().split("\n")
        label = header.split()[1].split("-")[0] if " " in header else None
        if label in CLASSES:
            ids.append(header.split()[0])
            sequences.append(sequence)
            labels.append(label)
    return ids, sequences, labels


def test_train_counts_skipped_records_and_refuses_them_without_the_option(trained, capsys):
    fasta, model = trained
    clf = ProteinClassifier.load(model)
    assert clf.inputs_ == {"label_names": CLASSES, "windows": None, "stride": None, "pool": "mean"}
    code, out, err = _run(["protein", "train", "--fasta", str(fasta), *LABELS, "--skip-unlabelled", "--json",
                           "--epochs", "0", "--no-progress"], capsys)
    assert code == 0 and json.loads(out)["skipped"] == 3
    code, out, err = _run(["protein", "train", "--fasta", str(fasta), *LABELS, "--epochs", "0"], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "tiny.fa:" in err and "record 'x" in err and "--skip-unlabelled" not in out


def test_evaluate_metrics_equal_those_recomputed_from_the_predictions(trained, capsys):
    fasta, model = trained
    code, out, _ = _run(["protein", "evaluate", str(model), "--fasta", str(fasta), *LABELS[:2], "--skip-unlabelled",
                         "--json"], capsys)
    assert code == 0
    result = json.loads(out)
    _, sequences, truth = _labelled(fasta)
    probs = ProteinClassifier.load(model).predict_proba(sequences)
    predicted = [CLASSES[j] for j in probs.argmax(1)]
    confusion = [[sum(t == a and p == b for t, p in zip(truth, predicted)) for b in CLASSES] for a in CLASSES]
    assert result["confusion"] == confusion and result["sequences"] == len(truth) == 32 and result["skipped"] == 3
    assert result["accuracy"] == pytest.approx(np.mean(np.array(truth) == np.array(predicted)), abs=1e-12)
    assert result["sequences_per_second"] > 0
    for i, name in enumerate(CLASSES):
        column, row = sum(confusion[k][i] for k in range(2)), sum(confusion[i])
        figures = result["per_class"][name]
        assert figures["support"] == row
        assert figures["precision"] == pytest.approx(confusion[i][i] / column if column else 0.0, abs=1e-12)
        assert figures["recall"] == pytest.approx(confusion[i][i] / row, abs=1e-12)
    metrics = pytest.importorskip("sklearn.metrics")
    assert metrics.confusion_matrix(truth, predicted, labels=CLASSES).tolist() == confusion
    precision = metrics.precision_score(truth, predicted, labels=CLASSES, average=None, zero_division=0)
    recall = metrics.recall_score(truth, predicted, labels=CLASSES, average=None, zero_division=0)
    np.testing.assert_allclose([result["per_class"][n]["precision"] for n in CLASSES], precision, atol=1e-12)
    np.testing.assert_allclose([result["per_class"][n]["recall"] for n in CLASSES], recall, atol=1e-12)


def test_evaluate_text_output_and_unlabelled_records_without_the_option(trained, capsys):
    fasta, model = trained
    code, out, _ = _run(["protein", "evaluate", str(model), "--fasta", str(fasta), *LABELS[:2],
                         "--skip-unlabelled"], capsys)
    assert code == 0 and "accuracy" in out and "(3 skipped)" in out and "precision" in out
    code, _, err = _run(["protein", "evaluate", str(model), "--fasta", str(fasta), *LABELS[:2]], capsys)
    lines = fasta.read_text().splitlines()
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert f"tiny.fa:{lines.index('>x1 nucleus-S') + 1}: record 'x1': label 'nucleus' is not one of the classes" in err


@pytest.mark.parametrize("to_file", [True, False])
def test_predict_writes_each_sequence_with_the_models_probability(trained, tmp_path, capsys, to_file):
    fasta, model = trained
    out_path = tmp_path / "predictions.csv"
    code, out, _ = _run(["protein", "predict", str(model), "--fasta", str(fasta),
                         *(["--out", str(out_path)] if to_file else [])], capsys)
    assert code == 0
    text = out_path.read_text() if to_file else out
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["id", "label", "probability"]
    records = [r.strip().split("\n") for r in fasta.read_text().split(">")[1:]]
    assert [r[0] for r in rows[1:]] == [h.split()[0] for h, _ in records]  # every record, labelled or not
    probs = ProteinClassifier.load(model).predict_proba([s for _, s in records])
    assert [r[1] for r in rows[1:]] == [CLASSES[j] for j in probs.argmax(1)]
    # ~20 gates in float64 per sequence: batches stacked differently change the last few bits only
    np.testing.assert_allclose([float(r[2]) for r in rows[1:]], probs.max(1), rtol=1e-10)


def test_batched_prediction_keeps_no_circuit_and_matches_the_cached_one(trained):
    fasta, model = trained
    _, sequences, _ = _labelled(fasta)
    clf = ProteinClassifier.load(model)
    streamed = clf.predict_proba(sequences, batch_size=5)
    assert not clf._circuits and not clf._batches
    np.testing.assert_allclose(streamed, clf.predict_proba(sequences), rtol=1e-10)


def test_windowed_model_evaluates_with_its_saved_windows(tmp_path, capsys):
    from qnlp.protein.windows import pool, sliding_windows

    fasta = tmp_path / "tiny.fa"
    fasta.write_text(_fasta_text(16, seed=2))
    model = tmp_path / "w.safetensors"
    code, _, _ = _run(["protein", "train", "--fasta", str(fasta), *LABELS, "--skip-unlabelled", "--windows", "4",
                       "--stride", "2", "--pool", "max", "--out", str(model), "--dev-fraction", "0", *FAST], capsys)
    assert code == 0
    clf = ProteinClassifier.load(model)
    assert (clf.inputs_["windows"], clf.inputs_["stride"], clf.inputs_["pool"]) == (4, 2, "max")
    code, out, _ = _run(["protein", "predict", str(model), "--fasta", str(fasta)], capsys)
    rows = list(csv.reader(io.StringIO(out)))[1:]
    sequences = [r.strip().split("\n")[1] for r in fasta.read_text().split(">")[1:]]
    windows = [sliding_windows(s, 4, 2) for s in sequences]
    flat = clf.predict_proba([w for ws in windows for w in ws])
    owner = np.repeat(np.arange(len(sequences)), [len(ws) for ws in windows])
    expected = pool(flat, owner, len(sequences), "max")
    np.testing.assert_allclose([float(r[2]) for r in rows], expected.max(1), rtol=1e-10)


def _inputs_edited(model: Path, target: Path, inputs: dict | None) -> Path:
    """A copy of ``model`` whose 'inputs' field is ``inputs``, or (None) absent, as in files saved before it."""
    from tnq.io import read_safetensors, write_safetensors

    tensors, meta = read_safetensors(model, "qnlp", ValueError)
    meta = {k: v for k, v in meta.items() if k != "inputs"} | ({} if inputs is None else {"inputs": inputs})
    write_safetensors(target, tensors, "qnlp", meta)
    if inputs is None:  # an old file still loads; only evaluate / predict need what it lacks
        assert ProteinClassifier.load(target).inputs_ == {}
    return target


@pytest.mark.parametrize("argv,message", [
    (["protein", "evaluate", "{tmp}/none.safetensors", "--fasta", "{fasta}"], "none.safetensors"),
    (["protein", "evaluate", "{fasta}", "--fasta", "{fasta}"], "tiny.fa"),
    (["protein", "evaluate", "{old}", "--fasta", "{fasta}"], "does not record its class names"),
    (["protein", "evaluate", "{bad_names}", "--fasta", "{fasta}"], "field 'inputs': label_names must be"),
    (["protein", "predict", "{bad_windows}", "--fasta", "{fasta}"], "field 'inputs': stride must be null or"),
    (["protein", "predict", "{model}", "--fasta", "{fasta}", "--out", "{fasta}"], "is the input"),
    (["protein", "predict", "{model}", "--fasta", "{fasta}", "--out", "{model}"], "is the input"),
    (["protein", "predict", "{model}", "--fasta", "{fasta}", "--out", "{tmp}/p.txt"], "unsupported file type .txt"),
    (["protein", "predict", "{model}", "--fasta", "{tmp}/missing.fa"], "missing.fa: cannot read"),
    (["protein", "evaluate", "{model}", "--fasta", "{fasta}", "--label-regex", "("], "not a regular expression"),
    (["evaluate", "{model}", "--data", "{fasta}"], "a protein model"),
])
def test_bad_input_is_one_line_and_exit_2(trained, tmp_path, capsys, argv, message):
    fasta, model = trained
    paths = {"tmp": tmp_path, "fasta": fasta, "model": model,
             "old": _inputs_edited(model, tmp_path / "old.safetensors", None),
             "bad_names": _inputs_edited(model, tmp_path / "bad.safetensors",
                                         {"label_names": ["a"], "windows": None, "stride": None, "pool": "mean"}),
             "bad_windows": _inputs_edited(model, tmp_path / "bad_w.safetensors",
                                           {"label_names": CLASSES, "windows": 3, "stride": 4, "pool": "mean"})}
    before = fasta.read_bytes()
    code, out, err = _run([a.format(**paths) for a in argv], capsys)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert fasta.read_bytes() == before and not (tmp_path / "p.txt").exists()


@pytest.mark.skipif(not (DEEPLOC / "deeploc_our_val_set.fasta").is_file(), reason=f"DeepLoc not found at {DEEPLOC}")
def test_deeploc_keeps_the_460_cytoplasm_and_membrane_proteins():
    path = DEEPLOC / "deeploc_our_val_set.fasta"
    data = read_fasta(path, "header", label_regex=r"(?P<label>Cytoplasm|Cell\.membrane)-",
                      classes=["Cytoplasm", "Cell.membrane"], skip_unlabelled=True)
    assert (len(data), data.skipped) == (460, 1218)
    assert data.class_counts() == {"Cytoplasm": 299, "Cell.membrane": 161}
    headers = [line for line in path.read_text().splitlines() if line.startswith(">")]
    kept = {h.split()[0][1:] for h in headers if h.split()[1].split("-")[0] in ("Cytoplasm", "Cell.membrane")}
    assert set(data.ids) == kept
