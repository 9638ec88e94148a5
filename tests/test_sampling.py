"""Sampling: chi-square goodness of fit against exact probabilities (dense and MPS), GHZ-50, qubit
subsets, and qubit bookkeeping after swap relabelling and MPS routing."""

import numpy as np
import pytest
from refs import probabilities
from scipy.stats import chisquare

import tnq

SHOTS = 20_000
METHODS = ["dense", "mps"]


def _chi_square_pvalue(samples: np.ndarray, expected_probs: np.ndarray) -> float:
    """p-value of the observed bitstring histogram against ``expected_probs`` (index: bit 0 = column 0,
    most significant). Outcomes of probability ~0 must never appear; they are left out of the test."""
    k = samples.shape[1]
    index = samples.astype(np.int64) @ (1 << np.arange(k - 1, -1, -1))
    observed = np.bincount(index, minlength=2**k)
    support = expected_probs > 1e-12
    assert observed[~support].sum() == 0, "sampled an outcome of probability zero"
    expected = expected_probs[support] / expected_probs[support].sum() * len(samples)
    return float(chisquare(observed[support], expected).pvalue)


def _circuit(seed: int) -> tnq.Circuit:
    c = tnq.random_circuit(5, 25, seed=seed)
    return c.compose(tnq.qft(5, swaps=True))  # swaps: the MPS relabels qubits


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("seed", range(4))
def test_samples_fit_exact_probabilities(method, seed):
    c = _circuit(seed)
    state = tnq.simulate(c, method=method)
    samples = state.sample(SHOTS, seed=seed)
    assert samples.shape == (SHOTS, 5) and samples.dtype == np.uint8
    assert _chi_square_pvalue(samples, probabilities(c)) > 1e-3


@pytest.mark.parametrize("method", METHODS)
def test_counts_fit_exact_probabilities(method):
    c = _circuit(7)
    counts = tnq.simulate(c, method=method).counts(SHOTS, seed=3)
    assert sum(counts.values()) == SHOTS
    assert all(len(key) == 5 and set(key) <= {"0", "1"} for key in counts)
    probs = probabilities(c)
    observed = np.array([counts.get(format(i, "05b"), 0) for i in range(32)])
    support = probs > 1e-12
    assert observed[~support].sum() == 0
    assert chisquare(observed[support], probs[support] / probs[support].sum() * SHOTS).pvalue > 1e-3
    assert list(counts.values()) == sorted(counts.values(), reverse=True)  # most common first


@pytest.mark.parametrize("method", METHODS)
def test_qubit_subset_samples_fit_the_marginal(method):
    c = _circuit(11)
    qubits = [4, 1, 2]  # out of order on purpose: column j is qubits[j]
    samples = tnq.simulate(c, method=method).sample(SHOTS, seed=5, qubits=qubits)
    assert samples.shape == (SHOTS, 3)
    full = probabilities(c).reshape((2,) * 5)
    marginal = full.sum(axis=(0, 3)).transpose(2, 0, 1).reshape(-1)  # axes left (1, 2, 4) -> order (4, 1, 2)
    assert _chi_square_pvalue(samples, marginal) > 1e-3


def test_same_seed_same_samples_and_different_seed_different_samples():
    state = tnq.simulate(_circuit(2), method="mps")
    a = state.sample(500, seed=9)
    np.testing.assert_array_equal(a, state.sample(500, seed=9))
    assert not np.array_equal(a, state.sample(500, seed=10))
    rng = np.random.default_rng(0)
    assert state.sample(0, seed=rng).shape == (0, 5)


def test_ghz_50_samples_are_all_zeros_or_all_ones_with_both_present():
    state = tnq.simulate(tnq.ghz(50), method="mps")
    samples = state.sample(4000, seed=1)
    weights = samples.sum(axis=1)
    assert set(np.unique(weights).tolist()) == {0, 50}
    ones = float(np.mean(weights == 50))
    assert abs(ones - 0.5) < 5 * np.sqrt(0.25 / 4000)  # 5 sigma of a fair coin
    counts = state.counts(1000, seed=2)
    assert set(counts) == {"0" * 50, "1" * 50}


@pytest.mark.parametrize("method", METHODS)
def test_sampling_after_swaps_maps_qubits_back(method):
    """Deterministic outcomes through relabelled swaps and (MPS) routed long-range gates: the GHZ state made and
    unmade first is routed (entangled qubits), the rest acts on unentangled qubits in place."""
    n = 7
    c = tnq.Circuit(n)
    c.h(6)
    c.cx(6, 2)            # entangled qubits: routed, and the layout stays permuted
    c.cx(6, 4)            # |000> + |111> on qubits 6, 2, 4
    c.cx(2, 4)
    c.cx(6, 2)
    c.h(6)                # back to |0...0>
    c.x(0)
    c.swap(0, 5)          # the 1 moves to qubit 5
    c.cx(5, 1)            # long-range: qubit 1 becomes 1
    c.swap(1, 6)          # ... and moves to 6
    c.x(2)
    c.ccx(2, 6, 3)        # 3 becomes 1
    c.swap(3, 0)          # ... and moves to 0
    c.cswap(0, 4, 2)      # control 0 is 1: qubits 4 and 2 exchange -> 4 = 1, 2 = 0
    c.cx(6, 1)            # qubits 6 and 1 sit on wires 1 and 6 now: the MPS must route
    expected = "1100111"  # qubits 0, 1, 4, 5, 6 are 1
    state = tnq.simulate(c, method=method)
    assert state.probability(expected) == pytest.approx(1.0, abs=1e-12)
    samples = state.sample(50, seed=0)
    assert all("".join(map(str, row)) == expected for row in samples)
    assert state.counts(20, seed=1) == {expected: 20}
    subset = state.sample(10, seed=0, qubits=[6, 2, 0])
    assert all(list(row) == [1, 0, 1] for row in subset)
    if method == "mps":
        assert state.info["routing_swaps"] > 0 and state.info["product_gates"] > 0


def test_mps_sampling_with_routed_qubits_fits_the_distribution():
    """A circuit whose far-apart gates leave the MPS sites permuted; samples must still be per qubit."""
    rng = np.random.default_rng(3)
    n = 6
    c = tnq.Circuit(n)
    for q in range(n):
        c.ry(float(rng.uniform(0.3, 2.8)), q)
    c.cx(0, 5)
    c.cry(1.1, 5, 2)
    c.cx(4, 0)
    c.crx(0.7, 1, 4)
    state = tnq.simulate(c, method="mps")
    assert list(state.qubit_sites()) != list(range(n))
    assert _chi_square_pvalue(state.sample(SHOTS, seed=4), probabilities(c)) > 1e-3


@pytest.mark.parametrize("method", METHODS)
def test_high_power_chi_square(method):
    """500k shots: a bias of ~1e-3 in any probability would show; a correct sampler passes."""
    c = _circuit(5)
    samples = tnq.simulate(c, method=method).sample(500_000, seed=12)
    assert _chi_square_pvalue(samples, probabilities(c)) > 1e-3
