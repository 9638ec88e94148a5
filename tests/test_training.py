"""The shared training protocol (tnq.training): the loop's selection and patience rule, per-epoch checkpoints that
resume to the uninterrupted run (also after Ctrl-C), refusal of checkpoints made with other settings, and the
estimators' scikit-learn parameters (get_params / set_params / clone, cross-validation)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from tnq.born import BornError, MPSBornMachine, bars_and_stripes
from tnq.cli.main import Terminated
from tnq.io import read_safetensors
from tnq.training import CheckpointError, Loop, explain_interrupt, improves, read_checkpoint, save_checkpoint
from tnq.training.checkpoint import KEY


class Walk:
    """A toy trainer: x <- x / 2 + noise from its own generator (part of its state); scores are given per epoch."""

    def __init__(self, scores: list[float] | None = None, stop_at: int | None = None) -> None:
        self.x, self.rng = np.zeros(3), np.random.default_rng(0)
        self.scores, self.stop_at = scores, stop_at

    def run_epoch(self, epoch: int) -> dict:
        if epoch == self.stop_at:
            raise KeyboardInterrupt
        self.x = 0.5 * self.x + self.rng.normal(size=3)
        return {"epoch": epoch + 1, "loss": float(self.x @ self.x)}

    def score(self, record: dict) -> float | None:
        return None if self.scores is None else self.scores[record["epoch"] - 1]

    def state(self) -> tuple[dict, dict]:
        return {"x": self.x.copy()}, {"rng": self.rng.bit_generator.state}

    def load_state(self, tensors: dict, meta: dict, where: str) -> None:
        if "x" not in tensors or not isinstance(meta.get("rng"), dict):
            raise CheckpointError(f"{where}: no walk state")
        self.x, self.rng = tensors["x"].copy(), np.random.default_rng()
        self.rng.bit_generator.state = meta["rng"]


def walk_after(epochs: int) -> np.ndarray:
    """The reference: x after ``epochs`` epochs, computed without the loop."""
    x, rng = np.zeros(3), np.random.default_rng(0)
    for _ in range(epochs):
        x = 0.5 * x + rng.normal(size=3)
    return x


SCORES = [5.0, 4.0, 4.5, 3.0, 3.2, 3.1, 3.0, 2.0, 1.0, 0.5]


@pytest.mark.parametrize("patience, stops_after, best", [(1, 3, 2), (2, 6, 4), (3, 7, 4), (None, 10, 10)])
def test_patience_counts_epochs_in_a_row_without_improvement(patience, stops_after, best):
    """P epochs in a row without improvement stop the run (epoch 7 ties the best score, 3.0 at epoch 4, which is no
    improvement), and the best epoch's state comes back."""
    walk = Walk(SCORES)
    progress = Loop(epochs=10, patience=patience, progress=False).run(walk)
    assert progress.epoch == len(progress.history) == stops_after
    assert progress.best_epoch == best and progress.best_score == (SCORES[best - 1],)
    np.testing.assert_array_equal(walk.x, walk_after(best))


def test_without_selection_the_last_state_is_kept_and_nothing_stops_early():
    walk = Walk(SCORES[:6])
    progress = Loop(epochs=6, patience=1, select=False, progress=False).run(walk)
    assert progress.epoch == 6 and progress.best_epoch == 4 and progress.best_state is None
    np.testing.assert_array_equal(walk.x, walk_after(6))
    assert Loop(epochs=3, patience=1, progress=False).run(Walk()).best_epoch is None  # no score: no selection


def test_improvement_rule():
    assert improves((-0.5, 1.0), (-0.5, 1.2))  # a tie passes to the next component
    assert not improves((-0.5, 1.0), (-0.6, 9.0))
    assert not improves((1.0,), (1.0 + 5e-10,), min_delta=1e-9) and improves((1.0,), (1.0 + 2e-9,), min_delta=1e-9)
    assert improves((-0.5, np.inf), None) and not improves((np.inf,), None, min_delta=1e-9)


def test_resume_after_an_interrupt_equals_the_uninterrupted_run(tmp_path, capsys):
    """Ctrl-C in epoch 5: the checkpoint holds epochs 1-4 (written atomically: no temporary file), and resuming
    gives the uninterrupted run's history, best epoch, stop and state (the counters are in the checkpoint)."""
    path = tmp_path / "ck.safetensors"
    straight = Walk(SCORES)
    expected = Loop(epochs=10, patience=3, progress=False).run(straight)
    with pytest.raises(KeyboardInterrupt, match="ck.safetensors holds the last finished epoch; go on"):
        with explain_interrupt(path, "epoch", "go on"):
            Loop(epochs=10, patience=3, checkpoint=path, progress=False).run(Walk(SCORES, stop_at=4))
    assert [p.name for p in tmp_path.iterdir()] == ["ck.safetensors"]
    resumed = Walk(SCORES)
    progress = Loop(epochs=10, patience=3, checkpoint=path, progress=False).run(resumed)
    assert progress.history == expected.history and progress.best_epoch == expected.best_epoch == 4
    np.testing.assert_array_equal(resumed.x, straight.x)
    fresh = Loop(epochs=2, checkpoint=path, resume=False, progress=False).run(Walk())  # resume=False starts over
    assert fresh.epoch == 2 and read_checkpoint(path, kind="trainer", settings={})[1]["epoch"] == 2


def test_a_best_last_epoch_is_stored_once_and_resumes_as_the_best_state(tmp_path):
    """When the last saved epoch is the best one its state is written once (no ``best/`` copy) and comes back as both
    the current and the best state: a resumed run that never improves again ends on it."""
    path = tmp_path / "ck.safetensors"
    Loop(epochs=4, checkpoint=path, progress=False).run(Walk(SCORES))  # epoch 4 (score 3.0) is the best
    tensors, meta = read_checkpoint(path, kind="trainer", settings={})
    assert sorted(tensors) == ["x"] and meta["best"] == "current" and meta["best_epoch"] == 4
    resumed = Walk(SCORES)
    progress = Loop(epochs=7, checkpoint=path, progress=False).run(resumed)  # epochs 5-7 score worse than 3.0
    assert progress.best_epoch == 4 and progress.epoch == 7
    np.testing.assert_array_equal(resumed.x, walk_after(4))
    Loop(epochs=6, checkpoint=tmp_path / "later.safetensors", progress=False).run(Walk(SCORES))
    tensors, meta = read_checkpoint(tmp_path / "later.safetensors", kind="trainer", settings={})
    assert sorted(tensors) == ["best/x", "x"] and isinstance(meta["best"], dict)  # best epoch 4 is not the last
    np.testing.assert_array_equal(tensors["best/x"], walk_after(4))


def test_interrupt_notes_keep_the_signal_type(tmp_path):
    with pytest.raises(Terminated, match=r"^nothing saved \(--checkpoint FILE keeps every finished sweep\)$"):
        with explain_interrupt(None, "sweep", ""):
            raise Terminated
    with pytest.raises(KeyboardInterrupt, match="^no epoch had finished; nothing saved$"):
        with explain_interrupt(tmp_path / "none.safetensors", "epoch", ""):
            raise KeyboardInterrupt


def test_checkpoints_of_other_settings_or_kinds_are_refused(tmp_path):
    path = tmp_path / "ck.safetensors"
    settings = {"lr": 0.1, "batch": 8, "layers": (1, 2)}
    Loop(epochs=2, checkpoint=path, settings=settings, kind="walk", progress=False).run(Walk())
    assert read_checkpoint(path, kind="walk", settings={"layers": [1, 2], "lr": np.float64(0.1)})[1]["epoch"] == 2
    with pytest.raises(CheckpointError, match=r"ck.safetensors: checkpoint made with other lr \(checkpoint: lr=0.1; "
                                              r"now: lr=0.2\); start over"):
        Loop(epochs=3, checkpoint=path, settings={**settings, "lr": 0.2}, kind="walk", restart="start over",
             progress=False).run(Walk())
    with pytest.raises(CheckpointError, match="other depth"):  # a setting the file lacks differs ...
        read_checkpoint(path, kind="walk", settings={"depth": 3})
    assert read_checkpoint(path, kind="walk", settings={"depth": 3}, defaults={"depth": 3})  # ... unless defaulted
    with pytest.raises(CheckpointError, match="a checkpoint of 'walk', not of other"):
        read_checkpoint(path, kind="other", settings={})
    with pytest.raises(ValueError, match="reserved field 'kind'"):
        save_checkpoint(path, kind="walk", settings={}, tensors={}, meta={"kind": "x"})


@pytest.mark.parametrize("field, value, message", [
    ("history", [], "field 'history' of the checkpoint must be a list of 2 objects"),
    ("best_epoch", 3, r"field 'best_epoch' of the checkpoint must be null or an integer in \[1, 2\]"),
    ("stale", -1, "field 'stale'"), ("best_score", [float("nan")], "field 'best_score'"),
    ("state", {}, "no walk state")])
def test_damaged_checkpoint_fields_are_named(tmp_path, field, value, message):
    path = tmp_path / "ck.safetensors"
    Loop(epochs=2, checkpoint=path, progress=False).run(Walk(SCORES))
    meta = read_safetensors(path, KEY, AssertionError)[1]
    save_file(load_file(path), path, metadata={KEY: json.dumps({**meta, field: value})})
    with pytest.raises(CheckpointError, match=message):
        Loop(epochs=3, checkpoint=path, progress=False).run(Walk(SCORES))


# --- the Born machine on the loop --------------------------------------------------------------------------------
def test_born_resume_with_validation_equals_the_uninterrupted_run(tmp_path):
    """Early stopping state (best sweep, sweeps without improvement, best MPS) survives the checkpoint."""
    data = bars_and_stripes(3, 3)
    train, val = data[::2], data[1::2]
    options = dict(max_bond=3, patience=1, learning_rate=0.05, n_steps=2, progress=False)
    straight = MPSBornMachine(9, n_sweeps=10, **options).fit(train, X_val=val)
    path = tmp_path / "ck.safetensors"
    MPSBornMachine(9, n_sweeps=2, **options).fit(train, X_val=val, checkpoint=path)
    resumed = MPSBornMachine(9, n_sweeps=10, **options).fit(train, X_val=val, checkpoint=path)
    assert [sorted(r) for r in resumed.history_] == [sorted(r) for r in straight.history_]
    for got, want in zip(resumed.history_, straight.history_):  # same sweeps, same figures (to rounding)
        assert [got[k] for k in sorted(want)] == pytest.approx([want[k] for k in sorted(want)])
    assert resumed.best_sweep_ == straight.best_sweep_
    assert resumed.nll(val) == pytest.approx(straight.nll(val), abs=1e-9)
    assert len(MPSBornMachine.load(path).history_) == len(straight.history_)  # a checkpoint loads as a model
    with pytest.raises(BornError, match=r"checkpoint made with other learning_rate \(checkpoint: "
                                        r"learning_rate=0.05; now: learning_rate=0.1\)"):
        MPSBornMachine(9, n_sweeps=12, **{**options, "learning_rate": 0.1}).fit(train, X_val=val, checkpoint=path)


# --- scikit-learn parameters ----------------------------------------------------------------------------------------
def classifiers() -> list:
    pytest.importorskip("torch")
    from qnlp.model import QuantumClassifier
    from qnlp.pipeline import Pipeline
    from qnlp.protein.compile import ProteinCompiler
    from qnlp.protein.diagrams import ProteinReader
    from qnlp.protein.model import ProteinClassifier

    return [QuantumClassifier(Pipeline(reader="spiders"), epochs=3, spsa={"c": 0.1}, optimizer="spsa"),
            ProteinClassifier(ProteinCompiler(ProteinReader("ptn", "uniform"), "controlled"), init_scale=0.1),
            MPSBornMachine(6, max_bond=4, n_sweeps=1, seed=None)]


def test_clone_and_set_params_follow_the_constructor():
    from sklearn.base import clone, is_classifier

    for estimator in classifiers():
        params = estimator.get_params(deep=False)
        copy = clone(estimator)
        assert type(copy) is type(estimator) and copy is not estimator
        assert copy.get_params(deep=False).keys() == params.keys()
        assert all(copy.get_params(deep=False)[k] is v or copy.get_params(deep=False)[k] == v
                   for k, v in params.items() if k != "compile")
        assert is_classifier(estimator) == (not isinstance(estimator, MPSBornMachine))
        with pytest.raises(ValueError, match="invalid parameter 'colour'"):
            estimator.set_params(colour=1)
    clf = classifiers()[0]
    assert clf.set_params(learning_rate=float("nan")) is clf and np.isnan(clf.learning_rate)  # checked by fit
    with pytest.raises(ValueError, match="^learning_rate must be"):
        clf.fit(["a b"], [0])


def test_born_machine_in_cross_validation_and_grid_search():
    from sklearn.model_selection import GridSearchCV, cross_val_score

    X = np.random.default_rng(0).integers(0, 2, size=(40, 6))
    model = MPSBornMachine(6, max_bond=4, n_sweeps=1, n_steps=2, progress=False)
    scores = cross_val_score(model, X, cv=2)
    assert scores.shape == (2,) and np.isfinite(scores).all() and model.mps_ is None  # the clones were fitted
    search = GridSearchCV(model, {"max_bond": [2, 4]}, cv=2).fit(X)
    assert search.best_params_["max_bond"] in (2, 4) and search.best_estimator_.mps_.max_bond <= 4
