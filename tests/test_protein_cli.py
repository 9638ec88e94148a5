"""``qnlp protein train`` end to end on a tiny FASTA / CSV written to tmp_path: it learns a hydrophobic-vs-charged
rule, prints accuracy beside the k-mer baseline, saves a model that loads back with the same predictions, and
answers bad input with one line on stderr and exit code 2."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("discopy")

from qnlp.cli import main  # noqa: E402
from qnlp.protein.model import ProteinClassifier  # noqa: E402

FAST = ["--preset", "peptides", "--epochs", "30", "--batch-size", "8", "--lr", "0.01", "--patience", "30", "--progress",
        "--no-progress"]  # the peptide model these tests were written for (the default model reads windows)


def _records(n: int = 48, seed: int = 0) -> list[tuple[str, str, str]]:
    """(id, sequence, label): membrane-like (hydrophobic) vs soluble (charged / polar) peptides of 6-14 residues."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        label = "membrane" if i % 2 else "soluble"
        pool = "LIVFAMW" if label == "membrane" else "KRDEQNS"
        length = int(rng.integers(6, 15))
        residues = [rng.choice(list(pool)) if rng.random() < 0.8 else rng.choice(list("GTPYHC"))
                    for _ in range(length)]
        out.append((f"seq{i}", "".join(residues), label))
    return out


@pytest.fixture
def fasta(tmp_path):
    path = tmp_path / "tiny.fa"
    path.write_text("".join(f">{i} {label}\n{s}\n" for i, s, label in _records()))
    return path


def _run(argv, capsys):
    try:
        code = main([a for a in argv if a != "--progress"])
    except SystemExit as exc:  # argparse refuses an option value
        code = exc.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_train_fasta_prints_accuracy_baseline_and_saves(fasta, tmp_path, capsys):
    out = tmp_path / "ptn.safetensors"
    code, stdout, _ = _run(["protein", "train", "--fasta", str(fasta), "--label-from", "header", "--model", "ptn",
                            "--sharing", "uniform", "--out", str(out), "--json", *FAST], capsys)
    assert code == 0
    result = json.loads(stdout)
    assert result["classes"] == ["membrane", "soluble"]
    assert result["test_accuracy"] >= 0.8  # the rule is easy: an untrained model would sit near 0.5
    assert result["parameters"] == 20 * 3 + 1  # residue rotations + one shared CRy combining box
    assert result["baseline"]["parameters"] == 21 and 0 <= result["baseline"]["test_accuracy"] <= 1
    window = result["window_baseline"]  # composition (20) + 3 hydropathy-plot columns + intercept
    assert window["parameters"] == 24 and 0 <= window["test_accuracy"] <= 1 and "windows of 19" in window["features"]
    assert result["seconds_per_epoch"] > 0 and result["eval_sequences_per_second"] > 0
    model = ProteinClassifier.load(out)
    sequences = [s for _, s, _ in _records()]
    again = ProteinClassifier.load(out)
    np.testing.assert_allclose(model.predict_proba(sequences), again.predict_proba(sequences))
    assert set(model.predict(sequences)) <= {0, 1}
    labels = np.array([0 if lab == "membrane" else 1 for _, _, lab in _records()])
    assert model.score(sequences, labels) >= 0.8


@pytest.mark.parametrize("extra", [["--model", "ctn", "--sharing", "hierarchical"],
                                   ["--sharing", "hierarchical", "--position-classes", "3", "--alphabet", "dayhoff6"],
                                   ["--windows", "5", "--ansatz", "sim14", "--qubits", "1"],
                                   ["--ansatz", "controlled-mix", "--qubits", "2", "--layers", "2"],
                                   ["--qubits", "2", "--readout", "marginal", "--weight-decay", "0.001",
                                    "--lr-decay", "0.95", "--label-smoothing", "0.05", "--selection", "loss"],
                                   ["--ansatz", "mixture", "--qubits", "2", "--readout", "marginal", "--start"],
                                   ["--ansatz", "mixture", "--qubits", "2", "--start", "--windows", "5"],
                                   ["--ansatz", "mixture", "--qubits", "3", "--readout", "marginal",
                                    "--coordinates", "log-weights"]])
def test_other_shapes_run_and_report(fasta, capsys, extra):
    code, stdout, _ = _run(["protein", "train", "--fasta", str(fasta), "--epochs", "3", *extra, *FAST[2:]], capsys)
    assert code == 0
    assert "quantum  test accuracy" in stdout and "baseline test accuracy" in stdout


def test_csv_labels_from_column(tmp_path, capsys):
    path = tmp_path / "tiny.csv"
    path.write_text("id,sequence,label\n" + "".join(f"{i},{s},{lab}\n" for i, s, lab in _records(32)))
    code, stdout, _ = _run(["protein", "train", "--csv", str(path), "--json", "--epochs", "2", "--dev-fraction", "0",
                            *FAST[2:]], capsys)
    assert code == 0 and json.loads(stdout)["split"]["dev"] == 0


@pytest.mark.parametrize("argv,message", [
    (["--fasta", "{missing}"], "cannot read"),
    (["--fasta", "{bad}"], "bad.fa:2: record 'a', column 3"),
    (["--fasta", "{fasta}", "--label-from", "column"], "--label-from column applies to --csv"),
    (["--fasta", "{fasta}", "--windows", "4", "--max-len", "8"], "exclude each other"),
    (["--fasta", "{fasta}", "--baseline-k", "x"], "--baseline-k"),
    (["--fasta", "{unknown}", "--unknown", "error"], "non-standard residue 'X'"),
    (["--fasta", "{fasta}", "--ansatz", "controlled", "--coordinates", "log-weights"],
     "coordinates='log-weights' are the mixture ansatz"),
])
def test_bad_input_is_one_line_and_exit_2(fasta, tmp_path, capsys, argv, message):
    bad = tmp_path / "bad.fa"
    bad.write_text(">a membrane\nMK1L\n>b soluble\nKKR\n")
    unknown = tmp_path / "unknown.fa"
    unknown.write_text("".join(f">{i} {lab}\n{s}\n" for i, s, lab in _records(8)) + ">z soluble\nKXK\n")
    paths = {"missing": tmp_path / "none.fa", "bad": bad, "fasta": fasta, "unknown": unknown}
    code, _, err = _run(["protein", "train", *[a.format(**paths) for a in argv], "--epochs", "1"], capsys)
    assert code == 2
    assert err.startswith("qnlp: error:") and message in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("option,value", [
    ("--seed", "-3"), ("--lr", "nan"), ("--epochs", "-1"), ("--batch-size", "0"), ("--patience", "0"),
    ("--layers", "0"), ("--qubits", "0"), ("--qubits", "17"), ("--max-len", "0"), ("--windows", "0"),
    ("--stride", "-1"), ("--position-classes", "0"), ("--init-scale", "inf"), ("--test-fraction", "1.5"),
    ("--test-fraction", "0"), ("--dev-fraction", "-0.1"), ("--label-field", "x")])
def test_numeric_options_are_refused_before_any_work(tmp_path, capsys, option, value):
    code, _, err = _run(["protein", "train", "--fasta", str(tmp_path / "missing.fa"), option, value], capsys)
    assert code == 2 and err.startswith(f"qnlp protein train: error: argument {option}: ")
    assert len(err.splitlines()) == 1


def _no_training(monkeypatch):
    from qnlp.model import QuantumClassifier

    for step in ("_adam_step", "_spsa_step"):
        monkeypatch.setattr(QuantumClassifier, step, lambda *a, **k: pytest.fail("training started"))


@pytest.mark.parametrize("kind", ["fa", "csv"])
def test_non_utf8_files_are_one_line_naming_file_and_line(tmp_path, capsys, kind):
    path = tmp_path / f"bad.{kind}"
    text = ">a x\nMKV\n>b y\nKK\xffR\n" if kind == "fa" else "id,sequence,label\na,MKV,x\nb,KK\xffR,y\n"
    path.write_bytes(text.encode("latin-1"))
    code, _, err = _run(["protein", "train", f"--{'fasta' if kind == 'fa' else 'csv'}", str(path)], capsys)
    assert code == 2 and err.startswith("qnlp: error:") and len(err.strip().splitlines()) == 1
    assert f"bad.{kind}:{4 if kind == 'fa' else 3}: not UTF-8 text (byte 0xff" in err


@pytest.mark.parametrize("argv,message", [
    (["--out", "{fasta}"], "--out '{fasta}' is the input"),
    (["--plot", "{tmp}/curve.xyz"], "unsupported file type .xyz"),
    (["--checkpoint", "{tmp}/m.png", "--plot", "{tmp}/m.png"], "--plot and --checkpoint name the same file"),
    (["--baseline-k", "0"], "k must be distinct positive integers"),
    (["--label-regex", "("], "label_regex '(' is not a regular expression"),
])
def test_outputs_and_settings_are_checked_before_training(fasta, tmp_path, capsys, monkeypatch, argv, message):
    _no_training(monkeypatch)
    before = fasta.read_bytes()
    paths = {"fasta": fasta, "tmp": tmp_path}
    code, _, err = _run(["protein", "train", "--fasta", str(fasta), *[a.format(**paths) for a in argv], *FAST[2:]],
                        capsys)
    assert code == 2 and message.format(**paths) in err and len(err.strip().splitlines()) == 1, err
    assert fasta.read_bytes() == before


def test_one_class_is_refused_naming_the_file(tmp_path, capsys, monkeypatch):
    _no_training(monkeypatch)
    path = tmp_path / "one.fa"
    path.write_text("".join(f">{i} membrane\n{s}\n" for i, s, _ in _records(8)))
    code, _, err = _run(["protein", "train", "--fasta", str(path), "--classes", "membrane,soluble"], capsys)
    assert code == 2 and f"{path}: need labelled sequences of at least two classes, found ['membrane']" in err


def test_too_few_records_for_the_splits_are_refused(tmp_path, capsys, monkeypatch):
    _no_training(monkeypatch)
    path = tmp_path / "two.fa"
    path.write_text(">a membrane\nLLIVF\n>b soluble\nKKRDE\n")
    code, _, err = _run(["protein", "train", "--fasta", str(path)], capsys)
    assert code == 2 and f"{path}: 2 records leave the test set empty (--test-fraction 0.25)" in err
