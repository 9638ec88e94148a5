"""Classical k-mer baseline: features against brute-force k-mer counting, accuracy on modlamp's AMP-vs-TM split
(and chance level when the training labels are shuffled), parameter counts, errors."""

from __future__ import annotations

import itertools
from collections import Counter

import numpy as np
import pytest

pytest.importorskip("sklearn")

from qnlp.errors import QnlpError  # noqa: E402
from qnlp.protein.alphabet import ALPHABETS  # noqa: E402
from qnlp.protein.baseline import KmerBaseline  # noqa: E402
from qnlp.protein.errors import ProteinDataError, UnknownResidueError  # noqa: E402
from qnlp.protein.sequences import SequenceSet  # noqa: E402
from qnlp.protein.windows import truncate  # noqa: E402


def _brute_force(sequence: str, alphabet: str, k: tuple[int, ...], unknown: str) -> dict[str, float]:
    """k-mer frequencies by counting joined token tuples, keyed like ``feature_names``."""
    a = ALPHABETS[alphabet]
    tokens = a.encode(sequence, unknown=unknown)
    sep = "" if alphabet == "aa20" and unknown == "error" else "/"
    out: dict[str, float] = {}
    for n in k:
        grams = Counter(sep.join(tokens[i:i + n]) for i in range(len(tokens) - n + 1))
        total = sum(grams.values())
        for combo in itertools.product(a.vocabulary(unknown), repeat=n):
            out[sep.join(combo)] = grams.get(sep.join(combo), 0) / total if total else 0.0
    return out


@pytest.mark.parametrize("alphabet, k, unknown", [("aa20", (1, 2), "error"), ("dayhoff6", (1, 2, 3), "map"),
                                                   ("hydro3", (3, 1), "resolve")])
def test_features_match_brute_force_counting(alphabet, k, unknown):
    rng = np.random.default_rng(1)
    letters = "ACDEFGHIKLMNPQRSTVWY" + ("XBU" if unknown != "error" else "")
    sequences = ["".join(rng.choice(list(letters), size=n)) for n in (1, 2, 5, 17, 40)]
    model = KmerBaseline(k=k, alphabet=alphabet, unknown=unknown)
    features = model.features(sequences)
    names = model.feature_names
    assert features.shape == (len(sequences), len(names)) == (5, sum(len(model.vocabulary) ** n for n in k))
    for row, sequence in zip(features, sequences):
        expected = _brute_force(sequence, alphabet, k, unknown)
        assert np.allclose(row, [expected[name] for name in names])


def test_truncation_is_applied_before_counting():
    sequences = ["ACDEFGHIKLMNPQ", "WWWWAAAAAAKKKK"]
    model = KmerBaseline(k=(1, 2), max_len=6, keep="both")
    plain = KmerBaseline(k=(1, 2))
    assert np.allclose(model.features(sequences), plain.features([truncate(s, 6, "both") for s in sequences]))
    skipping = KmerBaseline(k=1, max_len=4, unknown="skip")  # unknowns dropped first, then 4 residues kept
    assert np.allclose(skipping.features(["XXAXCXXDEXX"]), KmerBaseline(k=1).features(["ACDE"]))


def test_amp_vs_tm_accuracy_and_shuffled_control():
    pytest.importorskip("modlamp")
    from qnlp.protein.datasets import load_modlamp

    train, test = load_modlamp("AMPvsTM").split(0.25, seed=0)
    model = KmerBaseline(k=(1, 2)).fit(train)
    accuracy = model.score(test)
    assert accuracy >= 0.93, accuracy  # measured 0.98 on this split (benchmarks/protein_baseline.py)
    assert model.num_parameters == 20 + 400 + 1 and model.num_statistics == 2 * 420
    assert model.label_names_ == ("TM", "AMP")
    proba = model.predict_proba(test)
    assert proba.shape == (len(test), 2) and np.allclose(proba.sum(1), 1.0)
    assert np.array_equal(model.predict(test), proba.argmax(1))
    assert np.isclose(accuracy, np.mean(proba.argmax(1) == test.labels))
    shuffled = np.random.default_rng(0).permutation(train.labels)
    control = KmerBaseline(k=(1, 2)).fit(list(train.sequences), shuffled).score(test)
    assert control < 0.75, control  # no signal left: near chance (0.5)


@pytest.mark.parametrize("standardize", [True, False])
def test_own_prediction_equals_sklearn_and_survives_save_load(tmp_path, standardize):
    """Prediction is numpy on the fitted arrays: compare with scikit-learn's own pipeline on the same features."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(3)
    pools = ["KKRRLLAG", "DDEEGGSS", "LLIIVVFW"]  # three residue-biased classes
    y = np.repeat([0, 1, 2], 12)
    sequences = ["".join(rng.choice(list(pools[c] + "ACDEFGHIKLMNPQRSTVWY"), size=15)) for c in y]
    queries = ["".join(rng.choice(list("ACDEFGHIKLMNPQRSTVWY"), size=12)) for _ in range(10)]
    for labels in (y, (y > 0).astype(int)):
        model = KmerBaseline(k=(1, 2), alphabet="dayhoff6", C=0.5, standardize=standardize).fit(sequences, labels)
        steps = [StandardScaler()] if standardize else []
        reference = make_pipeline(*steps, LogisticRegression(C=0.5, max_iter=5000))
        reference.fit(model.features(sequences), labels)
        assert np.allclose(model.predict_proba(queries), reference.predict_proba(model.features(queries)), atol=1e-6)
        assert np.array_equal(model.predict(queries), reference.predict(model.features(queries)))
        model.save(tmp_path / "b.safetensors")
        back = KmerBaseline.load(tmp_path / "b.safetensors")
        assert repr(back) == repr(model) and back.num_parameters == model.num_parameters
        assert np.array_equal(back.predict_proba(queries), model.predict_proba(queries))
    (tmp_path / "bad.safetensors").write_bytes(b"not a model")
    with pytest.raises(QnlpError, match="bad.safetensors: not a readable safetensors"):
        KmerBaseline.load(tmp_path / "bad.safetensors")


def test_multiclass_parameter_count_and_errors():
    data = SequenceSet([f"s{i}" for i in range(9)], ["KKKR", "KRKK", "RKKK", "DDEE", "EDED", "DEDD", "LLIV",
                                                     "VILL", "IVIL"], np.repeat([0, 1, 2], 3), ("pos", "neg", "hyd"))
    model = KmerBaseline(k=1, alphabet="dayhoff6").fit(data)
    assert model.num_parameters == 3 * 6 + 3 and model.score(data) == 1.0
    with pytest.raises(ProteinDataError, match="not fitted"):
        KmerBaseline().predict(["MK"])
    with pytest.raises(ProteinDataError, match="at least two classes"):
        KmerBaseline().fit(["MK", "KK"], [1, 1])
    with pytest.raises(ProteinDataError, match="too many"):
        KmerBaseline(k=5)
    with pytest.raises(ProteinDataError, match="not one string"):
        model.features("MKV")
    with pytest.raises(UnknownResidueError, match="'s1', position 2"):
        model.fit(SequenceSet(["s0", "s1"], ["MK", "MXK"], np.array([0, 1]), ("a", "b")))


def test_hydropathy_columns_against_a_direct_window_scan():
    """The hydropathy plot against a loop over every window: largest mean, largest in the first 40 residues, and
    windows above the transmembrane threshold per 100; a sequence shorter than the window is one window."""
    from qnlp.protein.baseline import KYTE_DOOLITTLE, TRANSMEMBRANE_THRESHOLD, hydropathy_features

    rng = np.random.default_rng(3)
    letters = np.array(list("ARNDCQEGHILKMFPSTWYV"))
    sequences = ["".join(rng.choice(letters, n)) for n in (5, 19, 60, 200)] + ["K" * 30 + "L" * 25 + "E" * 50]
    for sequence, row in zip(sequences, hydropathy_features(sequences, window=19, head=40)):
        h = [KYTE_DOOLITTLE[c] for c in sequence]
        size = min(19, len(h))
        means = [sum(h[i:i + size]) / size for i in range(len(h) - size + 1)]
        head = [m for i, m in enumerate(means) if i + size <= max(40, size)]
        above = 100 * sum(m > TRANSMEMBRANE_THRESHOLD for m in means) / len(means)
        np.testing.assert_allclose(row, [max(means), max(head), above], rtol=0, atol=1e-12)
    assert hydropathy_features(["L" * 30])[0, 2] == 100.0  # leucine (3.8) everywhere: every window is above


def test_hydropathy_columns_separate_a_membrane_segment_and_round_trip(tmp_path):
    """A baseline with hydropathy columns learns 'has a hydrophobic stretch' (composition alone, with the same
    residues shuffled into soluble stretches in the other class, cannot), and saves and loads with its setting."""
    rng = np.random.default_rng(0)
    polar = np.array(list("DEKRNQSTG"))
    seqs, labels = [], []
    for i in range(80):
        core = "".join(rng.choice(polar, 120))
        stretch = "LIVFLIVALLIVFLAVLIL"
        if i % 2:  # membrane: the stretch in one piece; soluble: the same residues spread out
            seqs.append(core[:50] + stretch + core[50:])
        else:
            spread = list(core)
            for j, c in enumerate(stretch):
                spread.insert(6 * j + 3, c)
            seqs.append("".join(spread))
        labels.append(i % 2)
    train, test = slice(0, 60), slice(60, 80)
    plain = KmerBaseline(k=1).fit(seqs[train], labels[train])
    window = KmerBaseline(k=1, hydropathy=19).fit(seqs[train], labels[train])
    assert window.score(seqs[test], labels[test]) == 1.0 > plain.score(seqs[test], labels[test])
    assert window.num_parameters == 20 + 3 + 1
    window.save(tmp_path / "b.safetensors")
    loaded = KmerBaseline.load(tmp_path / "b.safetensors")
    assert loaded.hydropathy == 19
    np.testing.assert_array_equal(loaded.predict_proba(seqs[test]), window.predict_proba(seqs[test]))
    with pytest.raises(ProteinDataError, match=r"hydropathy \(window length\) must be >= 1, got 0"):
        KmerBaseline(hydropathy=0)
    with pytest.raises(ProteinDataError, match=r"must be None or an integer >= 1, got 19.0"):
        KmerBaseline(hydropathy=19.0)
