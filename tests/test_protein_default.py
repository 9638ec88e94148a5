"""The default ``qnlp protein train`` model (pooled windows, see docs/proteins.md): ``lse`` pooling against a plain
numpy reference, the count-dedupe fast path against every window's own circuit, training through the pooling on a
task only windows can solve, and the default command end to end on a tiny FASTA read back by ``evaluate``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("discopy")

from qnlp.cli import main  # noqa: E402
from qnlp.protein.cli import PRESETS, apply_preset, bags  # noqa: E402
from qnlp.protein.compile import ProteinCompiler  # noqa: E402
from qnlp.protein.diagrams import ProteinReader  # noqa: E402
from qnlp.protein.loaders import SequenceSet  # noqa: E402
from qnlp.protein.model import ProteinClassifier, WindowBag  # noqa: E402
from qnlp.protein.windows import lse_pool, pool  # noqa: E402

POLAR = list("DEKRNQSTGPAH")
"""Background residues: none of them is in dayhoff6's ILMV class."""
HYDROPHOBIC = list("ILMV")
SEGMENT = 19


def _reference_lse(probs: np.ndarray, owner: np.ndarray, weights: np.ndarray, t: float) -> np.ndarray:
    """Pooled class probabilities by the definition, windows repeated ``weights`` times: softmax over classes of
    ``t log mean exp((log p_c - log p_0) / t)``."""
    out = []
    for i in range(owner.max() + 1):
        rows = np.repeat(probs[owner == i], weights[owner == i].astype(int), axis=0)
        z = np.log(rows) - np.log(rows[:, :1])
        pooled = np.array([t * np.log(np.mean(np.exp(z[:, c] / t))) for c in range(probs.shape[1])])
        out.append(np.exp(pooled) / np.exp(pooled).sum())
    return np.array(out)


@pytest.mark.parametrize("classes", [2, 3])
@pytest.mark.parametrize("t", [1.0, 0.3, 3.0])
def test_lse_pool_matches_the_definition(classes: int, t: float) -> None:
    rng = np.random.default_rng(classes)
    owner = np.sort(rng.integers(0, 5, 40))
    owner[:5] = np.arange(5)  # every sequence has a window
    owner = np.sort(owner)
    probs = rng.dirichlet(np.ones(classes), 40)
    weights = rng.integers(1, 4, 40).astype(float)
    reference = _reference_lse(probs, owner, weights, t)
    got = np.exp(lse_pool(np.log(probs), owner, 5, weights, t))
    np.testing.assert_allclose(got, reference, rtol=1e-12, atol=1e-14)
    order = rng.permutation(40)  # the windows' order does not matter
    np.testing.assert_allclose(np.exp(lse_pool(np.log(probs[order]), owner[order], 5, weights[order], t)),
                               reference, rtol=1e-12, atol=1e-14)
    if classes == 2:  # the numpy entry point, on P(class 1), unit weights
        np.testing.assert_allclose(pool(probs[:, 1], owner, 5, "lse", t),
                                   _reference_lse(probs, owner, np.ones(40), t)[:, 1], rtol=1e-12)


def test_lse_pool_rejects_a_bad_temperature() -> None:
    with pytest.raises(ValueError, match="temperature"):
        pool(np.array([0.5]), np.array([0]), 1, "lse", temperature=0.0)


def _classifier(model: str, ansatz: str, qubits: int, coordinates: str) -> tuple[ProteinReader, ProteinClassifier]:
    reader = ProteinReader(model=model, sharing="uniform", alphabet="dayhoff6", unknown="map", start=True)
    compiler = ProteinCompiler(reader, ansatz, qubits=qubits, coordinates=coordinates)
    return reader, ProteinClassifier(compiler, readout="marginal", init_scale=1.0, progress=False)


@pytest.mark.parametrize("model,ansatz,qubits,coordinates", [("ptn", "mixture", 1, "log-weights"),
                                                             ("ctn", "mixture", 2, "log-weights"),
                                                             ("ptn", "controlled", 1, "angles")])
def test_dedupe_equals_every_window_evaluated(model: str, ansatz: str, qubits: int, coordinates: str) -> None:
    """The bag's distinct windows (equal counts for the mixture ansatz, equal windows otherwise) weighted by
    their multiplicity give what every window's own circuit gives, pooled; windows of a protein in a random order
    (a random gauge of the product's factors) change nothing. Tolerance: a product of ~10 factors in float64."""
    reader, clf = _classifier(model, ansatz, qubits, coordinates)
    rng = np.random.default_rng(7)
    sequences = ["".join(rng.choice(list("AAAILVXK"), n)) for n in (30, 12, 25, 5)] + ["KLVA" * 6]
    data = SequenceSet(("a", "b", "c", "d", "e"), tuple(sequences), None)
    X = bags(reader, data, 7, 1, 1.0)
    clf.classes_ = np.array([0, 1])
    circuits = clf.circuits(X)
    clf.symbols_ = sorted({s for c in circuits for s in c.symbols})
    clf.weights_ = rng.normal(size=len(clf.symbols_))
    windows = [bag.windows() for bag in X]
    owner = np.repeat(np.arange(len(X)), [len(w) for w in windows])
    flat = [reader.framed(w) for ws in windows for w in ws]
    expected = pool(clf.predict_proba(flat)[:, 1], owner, len(X), "lse")
    np.testing.assert_allclose(clf.predict_proba(X)[:, 1], expected, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(clf.predict_proba(X, batch_size=2)[:, 1], expected, rtol=1e-12, atol=1e-15)
    picked = np.asarray(clf._class_probs(circuits, clf.weights_, np.array([3, 0, 2])))  # a mini-batch's bags
    np.testing.assert_allclose(picked[:, 1], expected[[3, 0, 2]], rtol=1e-12, atol=1e-15)
    rows = sum(len(c.weights) for c in circuits)
    assert rows < len(flat)  # something was deduped: the comparison is not trivially equal
    if ansatz == "mixture":  # a window's words in any order: the same output
        shuffled = [reader.framed(tuple(rng.permutation(list(w)))) for ws in windows for w in ws]
        np.testing.assert_allclose(clf.predict_proba(shuffled), clf.predict_proba(flat), rtol=1e-12)


def _planted(n: int, seed: int, length: int = 120) -> tuple[list[str], np.ndarray]:
    """Half the proteins carry a 19-residue ILMV segment, the other half the same 19 ILMV residues spread one per
    six positions (so no 19-residue window holds more than 4 of them): equal composition, only windows tell."""
    rng = np.random.default_rng(seed)
    sequences, labels = [], np.arange(n) % 2
    for label in labels:
        residues = list(rng.choice(POLAR, length))
        if label:
            start = int(rng.integers(0, length - SEGMENT))
            places = range(start, start + SEGMENT)
        else:
            places = [6 * i + int(rng.integers(0, 3)) for i in range(SEGMENT)]
        for p in places:
            residues[p] = str(rng.choice(HYDROPHOBIC))
        sequences.append("".join(residues))
    return sequences, labels


def test_training_through_pooling_learns_a_planted_segment() -> None:
    """A window score linear in the ILMV count separates the classes with a margin of 15 residues (19 in the
    segment's window against at most 4), and composition cannot (both classes hold 19 ILMV): a held-out accuracy
    of at least 0.9 needs the pooled windows to be trained (the majority rate is 0.5)."""
    reader, _ = _classifier("ptn", "mixture", 1, "log-weights")
    compiler = ProteinCompiler(reader, "mixture", qubits=1, coordinates="log-weights")
    clf = ProteinClassifier(compiler, learning_rate=0.05, epochs=150, weight_decay=0.001, init_scale=0.1,
                            readout="marginal", progress=False)
    train, y_train = _planted(60, seed=1)
    test, y_test = _planted(40, seed=2)

    def as_bags(sequences: list[str]) -> list[WindowBag]:
        return [WindowBag(reader.tokens(s, framed=False), SEGMENT, 1) for s in sequences]

    clf.fit(as_bags(train), y_train)
    assert clf.score(as_bags(test), y_test) >= 0.9
    assert clf.n_parameters <= 8


def _write_fasta(path: Path, n: int, seed: int) -> None:
    sequences, labels = _planted(n, seed)
    names = ["Cytoplasm", "Cell.membrane"]
    path.write_text("".join(f">P{i} {names[y]}-U\n{s}\n" for i, (s, y) in enumerate(zip(sequences, labels)))
                    + ">N1 Nucleus-U\nMKKDEPR\n")


def test_default_command_trains_saves_and_evaluates(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    fasta, model = tmp_path / "p.fasta", tmp_path / "m.safetensors"
    _write_fasta(fasta, 24, seed=3)
    labels = ["--label-regex", r"(?P<label>Cytoplasm|Cell\.membrane)-", "--skip-unlabelled"]
    code = main(["protein", "train", "--fasta", str(fasta), *labels, "--classes", "Cytoplasm,Cell.membrane",
                 "--out", str(model), "--json", "--no-progress"])
    result = json.loads(capsys.readouterr().out)
    assert code == 0
    assert result["parameters"] <= 8 and result["epochs"] == PRESETS["proteins"]["epochs"]
    assert "windows 19 stride 1 pooled lse" in result["model"] and result["skipped"]
    saved = ProteinClassifier.load(model)
    assert saved.inputs_["pool"] == "lse" and saved.inputs_["windows"] == 19 and saved.inputs_["stride"] == 1
    assert main(["protein", "evaluate", str(model), "--fasta", str(fasta), *labels, "--json"]) == 0
    evaluated = json.loads(capsys.readouterr().out)
    assert evaluated["sequences"] == 24 and 0.0 <= evaluated["accuracy"] <= 1.0


def test_presets_fill_only_what_is_left_out() -> None:
    from qnlp.cli import build_parser

    parser = build_parser()
    args = apply_preset(parser.parse_args(["protein", "train", "--fasta", "x.fa"]))
    assert {name: getattr(args, name) for name in PRESETS["proteins"]} == PRESETS["proteins"]
    args = apply_preset(parser.parse_args(["protein", "train", "--fasta", "x.fa", "--preset", "peptides",
                                           "--epochs", "7"]))
    assert args.epochs == 7 and args.ansatz == "controlled" and args.windows is None
    args = apply_preset(parser.parse_args(["protein", "train", "--fasta", "x.fa", "--max-len", "50",
                                           "--ansatz", "controlled"]))
    assert args.windows is None and args.coordinates == "angles" and args.alphabet == "dayhoff6"


def test_checkpoint_keeps_the_windows_and_pooling(tmp_path: Path) -> None:
    """A training checkpoint records the windows and pooling the run read: resuming it with WindowBags of another
    temperature, or after declaring other windows, is refused naming that setting; the same run resumes and
    continues where it stopped (two epochs then one more: three epochs of history)."""
    train, y = _planted(8, seed=4)
    checkpoint = tmp_path / "c.safetensors"

    def fresh(epochs: int) -> tuple[ProteinReader, ProteinClassifier]:
        reader, clf = _classifier("ptn", "mixture", 1, "log-weights")
        clf.set_params(epochs=epochs, learning_rate=0.05)
        return reader, clf

    reader, clf = fresh(2)

    def as_bags(t: float) -> list[WindowBag]:
        return [WindowBag(reader.tokens(s, framed=False), SEGMENT, 1, t) for s in train]

    clf.fit(as_bags(1.0), y, checkpoint=checkpoint)
    assert clf.windows_ == {"windows": SEGMENT, "stride": 1, "pool": "lse", "temperature": 1.0}
    _, other = fresh(3)
    with pytest.raises(ValueError, match="windows"):
        other.fit(as_bags(2.0), y, checkpoint=checkpoint)
    _, declared = fresh(3)
    declared.set_windows(SEGMENT, 1, "lse", 2.0)
    with pytest.raises(ValueError, match="set_windows declared"):
        declared.fit(as_bags(1.0), y, checkpoint=checkpoint)
    _, same = fresh(3)
    same.set_windows(SEGMENT, 1, "lse", 1.0)
    same.fit(as_bags(1.0), y, checkpoint=checkpoint)
    assert [r["epoch"] for r in same.history_] == [1, 2, 3]


def test_checkpoint_of_flat_windows_keeps_the_declared_pooling(tmp_path: Path) -> None:
    """Windows trained one by one (pooled only when evaluated): the declared pooling is a checkpoint setting."""
    reader, clf = _classifier("ptn", "mixture", 1, "log-weights")
    clf.set_params(epochs=1)
    windows = [reader.framed(tuple(reader.tokens(s, framed=False))[:5]) for s in ("AKLVD", "KKDEA", "LLIVM")]
    checkpoint = tmp_path / "c.safetensors"
    clf.set_windows(5, 1, "mean")
    clf.fit(windows, [0, 0, 1], checkpoint=checkpoint)
    _, other = _classifier("ptn", "mixture", 1, "log-weights")
    other.set_params(epochs=2)
    other.set_windows(5, 1, "max")
    with pytest.raises(ValueError, match="windows"):
        other.fit(windows, [0, 0, 1], checkpoint=checkpoint)


def test_saved_lse_model_predicts_with_its_own_temperature(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """A model trained with --temperature 3 saves it; predict (data options only) pools the saved model's window
    probabilities at T = 3 as the definition does, which differs from T = 1 (so a dropped setting is caught)."""
    import csv
    import io

    fasta, model = tmp_path / "p.fasta", tmp_path / "m.safetensors"
    _write_fasta(fasta, 12, seed=5)
    labels = ["--label-regex", r"(?P<label>Cytoplasm|Cell\.membrane)-", "--skip-unlabelled"]
    assert main(["protein", "train", "--fasta", str(fasta), *labels, "--classes", "Cytoplasm,Cell.membrane",
                 "--windows", "7", "--temperature", "3", "--epochs", "3", "--out", str(model), "--no-progress",
                 "--json"]) == 0
    capsys.readouterr()
    clf = ProteinClassifier.load(model)
    assert clf.inputs_["temperature"] == 3.0 and clf.inputs_["pool"] == "lse"
    assert main(["protein", "predict", str(model), "--fasta", str(fasta)]) == 0  # every record, N1 included
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))[1:]
    reader = clf.compile.reader
    sequences = [r.strip().split("\n")[1] for r in fasta.read_text().split(">")[1:]]
    windows = [WindowBag(reader.tokens(s, framed=False), 7, 1).windows() for s in sequences]
    flat = clf.predict_proba([reader.framed(w) for ws in windows for w in ws])
    owner = np.repeat(np.arange(len(sequences)), [len(ws) for ws in windows])
    weights = np.ones(len(owner))
    expected = _reference_lse(flat, owner, weights, 3.0)
    assert not np.allclose(expected, _reference_lse(flat, owner, weights, 1.0), rtol=1e-6)
    assert len(rows) == len(sequences) == 13
    np.testing.assert_allclose([float(r[2]) for r in rows], expected.max(1), rtol=1e-9)


def test_train_refuses_to_resume_a_checkpoint_with_other_pooling(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture) -> None:
    """qnlp protein train --checkpoint: the same command resumes; another --pool is one error, exit 2."""
    fasta, checkpoint = tmp_path / "p.fasta", tmp_path / "c.safetensors"
    _write_fasta(fasta, 12, seed=6)
    argv = ["protein", "train", "--fasta", str(fasta), "--label-regex", r"(?P<label>Cytoplasm|Cell\.membrane)-",
            "--skip-unlabelled", "--classes", "Cytoplasm,Cell.membrane", "--windows", "7", "--epochs", "1",
            "--checkpoint", str(checkpoint), "--no-progress", "--json"]
    assert main(argv) == 0 and checkpoint.is_file()
    assert main(argv) == 0  # the same settings: resumed
    capsys.readouterr()
    assert main([*argv, "--pool", "max"]) == 2
    err = capsys.readouterr().err
    assert "c.safetensors" in err and "windows" in err and "'max'" in err and len(err.strip().splitlines()) == 1
