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
        _classifier(shots=10)
