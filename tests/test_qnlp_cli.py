"""``qnlp train`` and ``qnlp draw`` end to end on shipped synthetic data, and one-line errors."""

from __future__ import annotations

import json

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
    untagged = tmp_path / "plain.txt"
    untagged.write_text("1 man cooks meal .\n0 man runs program .\n")
    assert main(["train", "--data", str(untagged), "--epochs", "1", "--no-progress"]) == 2
    assert "not POS-tagged" in capsys.readouterr().err


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
