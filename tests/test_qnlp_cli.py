"""``qnlp train`` and ``qnlp draw`` end to end on shipped synthetic data, and one-line errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from qnlp.cli import main
from qnlp.corpus import load_examples
from qnlp.data import write_mc
from qnlp.model import QuantumClassifier

pytest.importorskip("torch")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mc")
    examples = write_mc(folder / "all.txt", 40, seed=3)
    lines = (folder / "all.txt").read_text().splitlines(keepends=True)
    (folder / "train.txt").write_text("".join(lines[:24]))
    (folder / "dev.txt").write_text("".join(lines[24:32]))
    (folder / "test.txt").write_text("".join(lines[32:]))
    csv_lines = ["label,sentence\n"] + [f"{e.label},{' '.join(e.tagged)}\n" for e in examples[:24]]
    (folder / "train.csv").write_text("".join(csv_lines))
    return folder


def test_train_prints_accuracy_and_saves_model_and_curve(files, tmp_path, capsys) -> None:
    model, curve = tmp_path / "m.safetensors", tmp_path / "curve.png"
    code = main(["train", "--data", str(files / "train.txt"), "--dev", str(files / "dev.txt"), "--test",
                 str(files / "test.txt"), "--epochs", "15", "--lr", "0.15", "--out", str(model), "--plot",
                 str(curve), "--json", "--no-progress"])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert result["train_accuracy"] >= 0.8 and 0 <= result["test_accuracy"] <= 1
    assert result["parameters"] > 0 and result["seconds_per_epoch"] > 0
    assert curve.stat().st_size > 0
    loaded = QuantumClassifier.load(model)
    test = load_examples(files / "test.txt")
    assert abs(loaded.score([" ".join(e.tagged) for e in test], [e.label for e in test])
               - result["test_accuracy"]) < 1e-3


@pytest.mark.parametrize("reader", ["spiders", "cups", "stairs", "tree"])
def test_lexicon_free_readers_train_from_csv(files, capsys, reader: str) -> None:
    code = main(["train", "--data", str(files / "train.csv"), "--reader", reader, "--epochs", "2", "--json",
                 "--no-progress"])
    assert code == 0
    assert json.loads(capsys.readouterr().out)["parameters"] > 0


def test_draw_saves_both_images(tmp_path, capsys) -> None:
    assert main(["draw", "man_N prepares_TV tasty_ADJ dinner_N", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "diagram.png").stat().st_size > 0 and (tmp_path / "circuit.png").stat().st_size > 0


def test_errors_are_one_line_with_exit_code_2(files, tmp_path, capsys) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text("1 man_N cooks_TV meal_N\nfood man_N bakes_TV sauce_N\n")
    assert main(["train", "--data", str(bad), "--epochs", "1", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("qnlp: error:") and "bad.txt:2" in err and len(err.strip().splitlines()) == 1
    assert main(["train", "--data", str(tmp_path / "missing.txt"), "--no-progress"]) == 2
    assert "no such data file" in capsys.readouterr().err
    foreign = tmp_path / "plain.txt"  # plain English is tagged offline; a word the tagger cannot read is named
    foreign.write_text("1 man cooks meal .\n0 man фильм program .\n")
    assert main(["train", "--data", str(foreign), "--epochs", "1", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "plain.txt:2" in err and "Latin script" in err and len(err.strip().splitlines()) == 1


def test_training_options_reach_the_classifier(files, tmp_path, capsys) -> None:
    """--weight-decay, --lr-decay, --label-smoothing, --selection and --readout are passed to the classifier
    (saved with it, so the loaded model reports them)."""
    model = tmp_path / "m.safetensors"
    code = main(["train", "--data", str(files / "train.txt"), "--dev", str(files / "dev.txt"), "--epochs", "2",
                 "--weight-decay", "0.01", "--lr-decay", "0.9", "--label-smoothing", "0.05", "--selection", "loss",
                 "--readout", "marginal", "--out", str(model), "--json", "--no-progress"])
    assert code == 0
    params = QuantumClassifier.load(model).get_params()
    assert (params["weight_decay"], params["lr_decay"], params["label_smoothing"]) == (0.01, 0.9, 0.05)
    assert (params["selection"], params["readout"]) == ("loss", "marginal")


def _exit(argv: list[str], capsys) -> tuple[int, str]:
    """(exit code, stderr) of ``qnlp ARGV``, argparse's refusals included."""
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    return code, capsys.readouterr().err


def _no_training(monkeypatch) -> None:
    """Make any training step fail the test: the error must come before the work."""
    for step in ("_adam_step", "_spsa_step"):
        monkeypatch.setattr(QuantumClassifier, step, lambda *a, **k: pytest.fail("training started"))


@pytest.mark.parametrize("name,suffix", [("bad.txt", b""), ("bad.csv", b"label,sentence\n")])
def test_non_utf8_data_is_one_line_naming_file_and_line(tmp_path, capsys, name, suffix) -> None:
    bad = tmp_path / name
    first = b"1,man_N cooks_TV meal_N\n" if name.endswith(".csv") else b"1 man_N cooks_TV meal_N\n"
    bad.write_bytes(suffix + first + first.replace(b"cooks", b"c\xffoks"))
    line = 3 if suffix else 2
    code, err = _exit(["train", "--data", str(bad), "--no-progress"], capsys)
    assert code == 2 and err.startswith("qnlp: error:") and len(err.strip().splitlines()) == 1
    assert f"{name}:{line}: not UTF-8 text (byte 0xff at byte offset" in err


def test_lexicon_file_errors_name_the_file(files, tmp_path, capsys, monkeypatch) -> None:
    _no_training(monkeypatch)
    lexicon = tmp_path / "lex.json"
    for content, message in [(b'{"man": "N",\n "x": \xff}', "lex.json:2: not UTF-8"),
                             (b'{"man": "N",\n "x" 1}', "lex.json:2:6: not JSON"),
                             (b'["man"]', "lex.json: the lexicon must be a JSON object"),
                             (b'{"man": "n @ @"}', "lex.json: word 'man': 'n @ @' is neither a known tag")]:
        lexicon.write_bytes(content)
        code, err = _exit(["train", "--data", str(files / "train.txt"), "--lexicon", str(lexicon)], capsys)
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err


@pytest.mark.parametrize("option,value", [
    ("--seed", "-3"), ("--seed", str(2**32)), ("--lr", "nan"), ("--lr", "0"), ("--lr", "inf"), ("--epochs", "-1"),
    ("--batch-size", "0"), ("--patience", "0"), ("--layers", "0"), ("--layers", "1001"), ("--shots", "0"),
    ("--single-qubit-params", "-1"), ("--weight-decay", "-1"), ("--lr-decay", "0"), ("--lr-decay", "1.5"),
    ("--label-smoothing", "0.5"), ("--qubits", "n=1,s=-1"), ("--qubits", "n=1,s=17"), ("--qubits", "n")])
def test_numeric_options_are_refused_before_any_work(files, capsys, option, value) -> None:
    """Refused by argparse (the classifier's own rules), in one line naming the option, before the data is read."""
    code, err = _exit(["train", "--data", str(files / "missing.txt"), option, value], capsys)
    assert code == 2 and err.startswith(f"qnlp train: error: argument {option}: ") and len(err.splitlines()) == 1


def test_draw_refuses_a_bad_layer_count_and_a_file_as_folder(tmp_path, capsys) -> None:
    code, err = _exit(["draw", "man_N cooks_TV meal_N", "--layers", "-2", "--out", str(tmp_path)], capsys)
    assert code == 2 and "argument --layers: must be in [1, 1000], got -2" in err
    (tmp_path / "file").write_text("x")
    code, err = _exit(["draw", "man_N cooks_TV meal_N", "--out", str(tmp_path / "file")], capsys)
    assert code == 2 and "--out" in err and "is a file; give a folder" in err


@pytest.mark.parametrize("outputs,message", [
    (["--plot", "{tmp}/c.xyz"], "--plot '{tmp}/c.xyz': unsupported file type .xyz"),
    (["--out", "{data}"], "--out '{data}' is the input"),
    (["--checkpoint", "{dev}"], "--checkpoint '{dev}' is the input"),
    (["--plot", "{data}.png", "--out", "{dev}"], "--out '{dev}' is the input"),
    (["--out", "{tmp}/m.png", "--plot", "{tmp}/m.png"], "--out and --plot name the same file"),
    (["--out", "{tmp}/m.st", "--checkpoint", "{tmp}/m.st"], "--out and --checkpoint name the same file"),
    (["--plot", "{tmp}/afile/c.png"], "is a file, not a folder"),
])
def test_outputs_are_checked_before_any_work(files, tmp_path, capsys, monkeypatch, outputs, message) -> None:
    _no_training(monkeypatch)
    (tmp_path / "afile").write_text("x")
    paths = {"tmp": tmp_path, "data": files / "train.txt", "dev": files / "dev.txt"}
    argv = ["train", "--data", str(files / "train.txt"), "--dev", str(files / "dev.txt"),
            *[o.format(**paths) for o in outputs], "--no-progress"]
    before = [p.read_bytes() for p in (files / "train.txt", files / "dev.txt")]
    code, err = _exit(argv, capsys)
    assert code == 2 and message.format(**paths) in err and len(err.strip().splitlines()) == 1, err
    assert [p.read_bytes() for p in (files / "train.txt", files / "dev.txt")] == before


def test_labels_are_checked_before_training_naming_the_file(files, tmp_path, capsys, monkeypatch) -> None:
    """One class in the training data, a dev / test label the training data lacks, or an empty file: one line
    naming the file (and line), before any training."""
    _no_training(monkeypatch)
    lines = (files / "train.txt").read_text().splitlines(keepends=True)
    one = tmp_path / "one.txt"
    one.write_text("".join(line for line in lines if line.startswith("1 ")))
    code, err = _exit(["train", "--data", str(one)], capsys)
    assert code == 2 and f"{one}: the training data has only the label 1; a classifier needs at least two" in err
    test = tmp_path / "test.txt"
    test.write_text(lines[0] + lines[1] + "2" + lines[2][1:])
    code, err = _exit(["train", "--data", str(files / "train.txt"), "--test", str(test)], capsys)
    assert code == 2 and f"{test}:3: label 2 does not occur in the training data (classes [0, 1])" in err
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    code, err = _exit(["train", "--data", str(files / "train.txt"), "--dev", str(empty)], capsys)
    assert code == 2 and f"{empty}: no labelled sentences in the file" in err


def test_sentence_errors_name_file_and_line_before_training(files, tmp_path, capsys, monkeypatch) -> None:
    """A sentence that does not parse, a test word the training data lacks, or three classes on one output qubit:
    the error names FILE:LINE of the sentence, and comes before training."""
    _no_training(monkeypatch)
    lines = (files / "train.txt").read_text().splitlines(keepends=True)
    bad = tmp_path / "bad.txt"
    bad.write_text(lines[0] + "1 man_N cooks_TV\n")
    code, err = _exit(["train", "--data", str(files / "train.txt"), "--dev", str(bad)], capsys)
    assert code == 2 and f"{bad}:2 ('man_N cooks_TV'): " in err
    bad.write_text(lines[0] + "0 astronaut_N debugs_TV rocket_N\n")
    code, err = _exit(["train", "--data", str(files / "train.txt"), "--test", str(bad)], capsys)
    assert code == 2 and f"{bad}:2 ('astronaut_N debugs_TV rocket_N') uses parameters never seen in training" in err
    three = tmp_path / "three.txt"
    three.write_text("".join(f"{label}{line[1:]}" for label, line in enumerate(lines[:3])))
    code, err = _exit(["train", "--data", str(three), "--reader", "spiders"], capsys)
    assert code == 2 and f"{three}:1 (" in err and "3 classes [0, 1, 2] but its circuit has 1 output qubit(s)" in err


def test_a_foreign_checkpoint_names_the_flag_that_starts_over(files, tmp_path, capsys) -> None:
    checkpoint = tmp_path / "ck.safetensors"
    common = ["--epochs", "1", "--reader", "spiders", "--checkpoint", str(checkpoint), "--no-progress", "--json"]
    assert main(["train", "--data", str(files / "train.txt"), *common]) == 0
    capsys.readouterr()
    code, err = _exit(["train", "--data", str(files / "dev.txt"), *common], capsys)
    assert code == 2 and "checkpoint was written for other data" in err
    assert "pass --no-resume to start over (Python: fit(..., resume=False))" in err
    assert main(["train", "--data", str(files / "dev.txt"), *common, "--no-resume"]) == 0
    assert json.loads(capsys.readouterr().out)["epochs"] == 1


_MAIN = "import sys; from qnlp.cli import main; sys.exit(main(sys.argv[1:]))"


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize("command", ["train", "protein"])
def test_sigterm_is_as_safe_as_ctrl_c_and_training_resumes(files, tmp_path, capsys, command) -> None:
    """SIGTERM during training (as a scheduler or `kill` sends it): exit 143 with the Ctrl-C message, no traceback,
    no half-written file, a checkpoint that the same command resumes from (its epochs kept), and the previous
    SIGTERM handler back once the command returns."""
    checkpoint, model = tmp_path / "ck.safetensors", tmp_path / "m.safetensors"
    if command == "train":
        argv = ["train", "--data", str(files / "train.txt"), "--reader", "spiders"]
    else:
        fasta = tmp_path / "p.fa"
        fasta.write_text("".join(f">s{i} {'ab'[i % 2]}\n{'KLVA'[i % 4:] + 'MKVLA'[: i % 5 + 1]}\n" for i in range(16)))
        argv = ["protein", "train", "--fasta", str(fasta), "--dev-fraction", "0"]
    argv += ["--checkpoint", str(checkpoint), "--no-progress"]
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    process = subprocess.Popen([sys.executable, "-c", _MAIN, *argv, "--epochs", "1000000"], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    while not checkpoint.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "no checkpoint written"
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 128 + signal.SIGTERM, err
    assert "Traceback" not in err and err.strip() == (f"qnlp: terminated: {checkpoint} holds the last finished "
                                                       "epoch; the same command resumes from it"), err
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")) == []

    from tnq.io import read_safetensors
    from tnq.training.checkpoint import KEY

    meta = read_safetensors(checkpoint, KEY, AssertionError)[1]
    done = meta["epoch"]
    assert done >= 1 and len(meta["history"]) == done
    handler = signal.getsignal(signal.SIGTERM)
    assert main([*argv, "--epochs", str(done + 1), "--json", "--out", str(model)]) == 0
    assert signal.getsignal(signal.SIGTERM) is handler
    assert json.loads(capsys.readouterr().out)["epochs"] == done + 1
    assert QuantumClassifier.load(model).history_[:done] == meta["history"]  # resumed, not started over


@pytest.fixture(scope="module")
def sentence_model(files, tmp_path_factory):
    model = tmp_path_factory.mktemp("sentence_model") / "m.safetensors"
    assert main(["train", "--data", str(files / "train.txt"), "--epochs", "4", "--out", str(model),
                 "--no-progress"]) == 0
    return model


def test_evaluate_metrics_equal_those_recomputed_from_the_predictions(files, sentence_model, capsys) -> None:
    capsys.readouterr()
    assert main(["evaluate", str(sentence_model), "--data", str(files / "test.txt"), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    test = load_examples(files / "test.txt")
    truth = [e.label for e in test]
    predicted = QuantumClassifier.load(sentence_model).predict([" ".join(e.tagged) for e in test]).tolist()
    confusion = [[sum(t == a and p == b for t, p in zip(truth, predicted)) for b in (0, 1)] for a in (0, 1)]
    assert result["confusion"] == confusion and result["sequences"] == len(test) and result["skipped"] == 0
    assert result["accuracy"] == sum(t == p for t, p in zip(truth, predicted)) / len(test)
    for c in (0, 1):
        hits, column = confusion[c][c], confusion[0][c] + confusion[1][c]
        assert result["per_class"][str(c)]["precision"] == (hits / column if column else 0.0)
        assert result["per_class"][str(c)]["recall"] == hits / sum(confusion[c])


def test_predict_writes_the_models_probabilities(files, sentence_model, tmp_path, capsys) -> None:
    import csv

    out = tmp_path / "p.csv"
    assert main(["predict", str(sentence_model), "--data", str(files / "dev.txt"), "--out", str(out)]) == 0
    rows = list(csv.reader(out.read_text().splitlines()))
    dev = load_examples(files / "dev.txt")
    probs = QuantumClassifier.load(sentence_model).predict_proba([" ".join(e.tagged) for e in dev])
    assert rows[0] == ["id", "label", "probability"]
    assert [r[0] for r in rows[1:]] == [f"{files / 'dev.txt'}:{i}" for i in range(1, len(dev) + 1)]
    assert [int(r[1]) for r in rows[1:]] == probs.argmax(1).tolist()
    # a few dozen float64 gates per sentence: batching changes the last bits at most
    assert max(abs(float(r[2]) - p) for r, p in zip(rows[1:], probs.max(1))) < 1e-10


@pytest.mark.parametrize("argv,message", [
    (["predict", "{model}", "--data", "{data}", "--out", "{data}"], "is the input"),
    (["predict", "{model}", "--data", "{data}", "--out", "{tmp}/p.json"], "unsupported file type .json"),
    (["evaluate", "{model}", "--data", "{unseen}"], "unseen.txt:2: label 7 does not occur in the training data"),
    (["evaluate", "{data}", "--data", "{data}"], "train.txt"),
])
def test_evaluate_and_predict_refuse_bad_input(files, sentence_model, tmp_path, capsys, argv, message) -> None:
    unseen = tmp_path / "unseen.txt"
    lines = (files / "test.txt").read_text().splitlines(keepends=True)
    unseen.write_text(lines[0] + "7" + lines[1][1:])
    paths = {"model": sentence_model, "data": files / "train.txt", "tmp": tmp_path, "unseen": unseen}
    before = (files / "train.txt").read_bytes()
    code, err = _exit([a.format(**paths) for a in argv], capsys)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert (files / "train.txt").read_bytes() == before and not (tmp_path / "p.json").exists()
