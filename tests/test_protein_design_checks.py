"""The design study's closed forms (benchmarks/protein_design.py) against qnlp's own circuits, and the feature probes
(benchmarks/protein_features.py) against direct counts: the figures in docs/protein_design.md are those of the
models and features they name."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("discopy")
pytest.importorskip("sklearn")

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import protein_design  # noqa: E402
import protein_features  # noqa: E402

# float64 sums of at most ~20 log-weights, exponentiated and normalised: a few ulps of 1
TOLERANCE = 1e-12


@pytest.mark.parametrize("qubits", [1, 2])
def test_window_closed_form_matches_tnq_contraction(qubits: int) -> None:
    assert protein_design.check_against_qnlp(qubits, seed=3) < TOLERANCE


@pytest.mark.parametrize("alphabet,window,seed", [("dayhoff6", 7, 0), ("aa20", 5, 3)])
def test_mean_channel_matches_geomean_pooled_circuits(alphabet: str, window: int, seed: int) -> None:
    assert protein_design.check_mean_channel(alphabet, window, seed=seed) < TOLERANCE


def test_mean_channel_needs_one_qubit() -> None:
    with pytest.raises(ValueError, match="qubits=1"):
        protein_design.WindowMixture(protein_design.Design(mean="hydro3", qubits=2), 0)


def test_segment_runs_and_compositions_match_direct_counts() -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        mask = rng.random(30) < 0.4
        direct = sum(1 for i in range(len(mask)) if mask[i] and (i == 0 or not mask[i - 1]))
        assert protein_features._runs(mask) == direct
    sequence = "".join(rng.choice(list("ACDEFGHIKLMNPQRSTVWY"), 60))
    groups = protein_features.get_alphabet("dayhoff6").tokens
    cls = {r: i for i, g in enumerate(groups) for r in g}
    pairs = Counter(cls[a] * len(groups) + cls[b] for a, b in zip(sequence, sequence[1:]))
    got = protein_features.composition(sequence, "dayhoff6", 2)
    np.testing.assert_allclose(got, [pairs[j] / 59 for j in range(len(groups) ** 2)], rtol=0, atol=1e-15)


def test_lipid_motifs_read_the_consensus() -> None:
    assert protein_features.lipid("MGSSKSKPKD" + "A" * 20) == [1.0, 0.0, 0.0, 1.0]  # Src-like myristoylation
    assert protein_features.lipid("M" + "A" * 30 + "CVLS") == [0.0, 1.0, 0.0, 1.0]  # K-Ras-like CAAX
    assert protein_features.lipid("MGCTLKAEE" + "A" * 20) == [0.0, 0.0, 1.0, 1.0]  # dual acylation, no S/T at 6
    assert protein_features.lipid("MAAAAAAAAA" + "A" * 20) == [0.0, 0.0, 0.0, 0.0]
