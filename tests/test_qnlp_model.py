"""The sentence classifier: learns the synthetic MC task, resumes from checkpoints exactly, saves and loads
without pickle, trains with SPSA, and refuses bad input clearly."""

from __future__ import annotations

import numpy as np
import pytest

from qnlp.data import generate_mc
from qnlp.errors import QnlpError
from qnlp.model import QuantumClassifier
from qnlp.pipeline import Pipeline

pytest.importorskip("torch")


@pytest.fixture(scope="module")
def data():
    examples = generate_mc(48, seed=1)
    tagged = [" ".join(e.tagged) for e in examples]
    labels = [e.label for e in examples]
    return tagged[:24], labels[:24], tagged[24:36], labels[24:36], tagged[36:], labels[36:]


def _classifier(**kwargs) -> QuantumClassifier:
    options = {"epochs": 25, "learning_rate": 0.15, "seed": 0, "progress": False}
    options.update(kwargs)
    return QuantumClassifier(Pipeline(reader="pregroup", ansatz="iqp", remove_cups=False), **options)


def test_learns_the_synthetic_task(data) -> None:
    X, y, X_dev, y_dev, X_test, y_test = data
    clf = _classifier().fit(X, y, X_dev, y_dev)
    assert clf.score(X, y) >= 0.9
    assert clf.score(X_test, y_test) >= 0.75
    probs = clf.predict_proba(X_test)
    assert probs.shape == (len(X_test), 2)
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-9)
    losses = [h["train_loss"] for h in clf.history_]
    assert losses[-1] < 0.6 * losses[0]


def test_checkpoint_resume_equals_uninterrupted_training(data, tmp_path) -> None:
    X, y, X_dev, y_dev, *_ = data
    straight = _classifier(epochs=6, batch_size=12).fit(X, y, X_dev, y_dev)
    path = tmp_path / "ckpt.safetensors"
    _classifier(epochs=3, batch_size=12).fit(X, y, X_dev, y_dev, checkpoint=path)
    resumed = _classifier(epochs=6, batch_size=12).fit(X, y, X_dev, y_dev, checkpoint=path)
    assert [h["epoch"] for h in resumed.history_] == list(range(1, 7))
    np.testing.assert_allclose(resumed.weights_, straight.weights_, atol=1e-12)
    np.testing.assert_allclose([h["train_loss"] for h in resumed.history_],
                               [h["train_loss"] for h in straight.history_], atol=1e-12)


def test_save_and_load_round_trip(data, tmp_path) -> None:
    X, y, *_ = data
    clf = _classifier(epochs=3).fit(X, y)
    path = tmp_path / "model.safetensors"
    clf.save(path)
    loaded = QuantumClassifier.load(path)
    np.testing.assert_allclose(loaded.predict_proba(X), clf.predict_proba(X), atol=1e-12)
    assert loaded.compile.config == clf.compile.config
    path.write_bytes(b"not a model")
    with pytest.raises(QnlpError, match="safetensors"):
        QuantumClassifier.load(path)


def test_spsa_reduces_the_loss_also_with_shots(data) -> None:
    X, y, *_ = data
    exact = _classifier(optimizer="spsa", epochs=30).fit(X, y)
    assert exact.history_[-1]["train_loss"] < exact.history_[0]["train_loss"]
    sampled = _classifier(optimizer="spsa", epochs=30, shots=200).fit(X, y)
    assert sampled.score(X, y) > 0.6


def test_bad_input_gives_clear_errors(data) -> None:
    X, y, *_ = data
    with pytest.raises(QnlpError, match="equal length"):
        _classifier().fit(X, y[:-1])
    with pytest.raises(QnlpError, match="not fitted"):
        _classifier().predict(X)
    clf = _classifier(epochs=1).fit(X, y)
    with pytest.raises(QnlpError, match="never seen in training"):
        clf.predict(["astronaut_N debugs_TV rocket_N"])
    with pytest.raises(QnlpError, match="item 0"):
        clf.predict(["man_N cooks_TV"])  # no parse to s
    with pytest.raises(QnlpError, match="shots need optimizer='spsa'"):
        _classifier(shots=10).fit(["x"], [0])  # fit checks the settings


def test_regularisation_options_are_validated() -> None:
    for bad in ({"weight_decay": -1.0}, {"lr_decay": 0.0}, {"lr_decay": 1.5}, {"label_smoothing": 0.5},
                {"readout": "parity"}, {"optimizer": "spsa", "weight_decay": 0.1}):
        with pytest.raises(QnlpError, match="weight_decay|lr_decay|label_smoothing|readout"):
            _classifier(**bad).fit(["x"], [0])  # fit checks the settings


def test_lr_decay_shrinks_later_steps(data) -> None:
    X, y, *_ = data
    one = _classifier(epochs=1, batch_size=12).fit(X, y)
    frozen = _classifier(epochs=3, batch_size=12, lr_decay=1e-9).fit(X, y)
    free = _classifier(epochs=3, batch_size=12).fit(X, y)
    np.testing.assert_allclose(frozen.weights_, one.weights_, atol=1e-6)  # epochs 2, 3 step by lr * 1e-9
    assert np.abs(free.weights_ - one.weights_).max() > 1e-3


def test_weight_decay_pulls_angles_towards_zero(data) -> None:
    X, y, *_ = data
    plain = _classifier(epochs=15).fit(X, y)
    decayed = _classifier(epochs=15, weight_decay=0.5).fit(X, y)
    assert np.linalg.norm(decayed.weights_) < 0.8 * np.linalg.norm(plain.weights_)


def test_label_smoothing_loss_is_the_smoothed_cross_entropy(data) -> None:
    X, y, *_ = data
    eps = 0.2
    clf = _classifier(epochs=1, label_smoothing=eps).fit(X, y)  # one full-batch step from the seeded start
    start = np.random.default_rng(0).uniform(-1, 1, clf.n_parameters)
    probs = clf._class_probs(clf.circuits(X), start)
    labels = np.searchsorted(clf.classes_, y)
    expected = -np.mean((1 - eps) * np.log(probs[np.arange(len(y)), labels])
                        + eps * np.log(probs[np.arange(len(y)), 1 - labels]))
    np.testing.assert_allclose(clf.history_[0]["train_loss"], expected, rtol=1e-9)


def test_marginal_readout_traces_out_the_other_output_qubits() -> None:
    from qnlp.protein.compile import ProteinCompiler
    from qnlp.protein.diagrams import ProteinReader

    seqs, labels = ["KLAKKLAK", "GIGKFLHS", "LLVVALLA", "AVLIVGLA"], ["AMP", "AMP", "TM", "TM"]
    compiler = ProteinCompiler(ProteinReader("ptn", "uniform"), "controlled", qubits=2)
    clf = QuantumClassifier(compiler, epochs=2, learning_rate=0.05, readout="marginal", progress=False).fit(
        seqs, labels)
    outcomes = clf._compiled(clf.circuits(seqs)).probabilities(clf.weights_)  # (4, 4): qubit 0 is the class
    assert outcomes.shape == (4, 4)
    marginal = outcomes[:, :2].sum(1), outcomes[:, 2:].sum(1)
    np.testing.assert_allclose(clf.predict_proba(seqs), np.stack(marginal, 1), atol=1e-12)
    first = QuantumClassifier(compiler, epochs=2, learning_rate=0.05, progress=False).fit(seqs, labels)
    ratio = outcomes[:, :2] / outcomes[:, :2].sum(1, keepdims=True)  # the default reads outcomes 00 and 01
    np.testing.assert_allclose(first._class_probs(first.circuits(seqs), clf.weights_), ratio, atol=1e-12)


def test_loss_selection_keeps_the_epoch_with_the_lowest_dev_loss(data) -> None:
    X, y, X_dev, y_dev, *_ = data
    clf = _classifier(epochs=8, batch_size=12, selection="loss", patience=None).fit(X, y, X_dev, y_dev)
    losses = [h["dev_loss"] for h in clf.history_]
    assert clf.best_epoch_ == int(np.argmin(losses)) + 1
    labels = np.searchsorted(clf.classes_, y_dev)
    kept = clf.predict_proba(X_dev)
    np.testing.assert_allclose(-np.mean(np.log(kept[np.arange(len(labels)), labels])), min(losses), rtol=1e-9)
    with pytest.raises(QnlpError, match="selection"):
        _classifier(selection="f1").fit(["x"], [0])  # fit checks the settings


@pytest.mark.parametrize("name,bad", [
    ("learning_rate", float("nan")), ("learning_rate", 0.0), ("learning_rate", float("inf")), ("learning_rate", "0.1"),
    ("epochs", -1), ("epochs", 2.5), ("batch_size", 0), ("patience", 0), ("init_scale", -0.1),
    ("seed", -3), ("seed", 2**32), ("seed", True), ("weight_decay", float("inf")), ("lr_decay", float("nan")),
    ("label_smoothing", -0.1)])
def test_numeric_settings_are_refused_naming_the_parameter(name, bad) -> None:
    """The values the CLI's option types refuse are refused by the estimator too, naming the parameter."""
    with pytest.raises(QnlpError, match=rf"^{name} must be"):
        _classifier(**{name: bad}).fit(["x"], [0])  # fit checks the settings


def test_sampling_settings_are_refused_naming_the_parameter() -> None:
    with pytest.raises(QnlpError, match="shots must be"):
        _classifier(optimizer="spsa", shots=0).fit(["x"], [0])  # fit checks the settings
    with pytest.raises(QnlpError, match=r"spsa\['c'\] must be > 0, got 0.0"):
        _classifier(optimizer="spsa", spsa={"c": 0.0}).fit(["x"], [0])  # fit checks the settings
    with pytest.raises(QnlpError, match="unknown gain 'x'"):
        _classifier(optimizer="spsa", spsa={"x": 1.0}).fit(["x"], [0])  # fit checks the settings


def test_labels_need_two_classes_and_dev_labels_from_training(data) -> None:
    from qnlp.errors import located

    X, y, X_dev, y_dev, *_ = data
    with pytest.raises(QnlpError, match="^y: the training data has only the label 1; a classifier needs at least two"):
        _classifier(epochs=1).fit(X[:3], [1, 1, 1])
    items = [located(x, "train.txt", f"train.txt:{i + 1}") for i, x in enumerate(X[:3])]
    with pytest.raises(QnlpError, match="^train.txt: the training data has only the label 0"):
        _classifier(epochs=1).fit(items, [0, 0, 0])
    dev = [located(x, "dev.txt", f"dev.txt:{i + 1}") for i, x in enumerate(X_dev)]
    with pytest.raises(QnlpError, match=r"^dev.txt:3: label 7 does not occur in the training data \(classes \[0, 1"):
        _classifier(epochs=1).fit(X, y, dev, [y_dev[0], y_dev[1], 7, *y_dev[3:]])


def test_errors_name_the_file_and_line_of_located_items(data) -> None:
    """Items read from a file carry FILE:LINE into the classifier's errors (compile errors, unknown words, too few
    outcomes for the classes) instead of 'item i'."""
    from qnlp.errors import located

    X, y, *_ = data
    clf = _classifier(epochs=1).fit(X, y)
    bad = [located("man_N cooks_TV meal_N", "t.txt", "t.txt:1"), located("man_N cooks_TV", "t.txt", "t.txt:2")]
    with pytest.raises(QnlpError, match=r"^t.txt:2 \('man_N cooks_TV'\): "):
        clf.predict(bad)
    unknown = [located("astronaut_N debugs_TV rocket_N", "t.txt", "t.txt:9")]
    with pytest.raises(QnlpError, match=r"^t.txt:9 \('astronaut_N .*never seen in training"):
        clf.predict(unknown)
    three = [located(x, "three.txt", f"three.txt:{i + 1}") for i, x in enumerate(X[:3])]
    with pytest.raises(QnlpError, match=r"^three.txt:1 \(.*\): 3 classes \[0, 1, 2\] but its circuit has 1 output "
                                        r"qubit\(s\), 2 outcome\(s\)"):
        _classifier(epochs=1).fit(three, [0, 1, 2])


def test_located_errors_keep_their_type_and_fields():
    """An error raised while compiling an item is re-raised naming the item, with the same type and fields (a
    NoParseError keeps the closest reductions it found)."""
    from qnlp.errors import NoParseError, located_error

    original = NoParseError("no parse to s", "s", ["man: n"])
    located = located_error(original, "train.txt:3")
    assert type(located) is NoParseError and located.partials == ["man: n"] and located.target == "s"
    assert str(located) == "train.txt:3: no parse to s"
