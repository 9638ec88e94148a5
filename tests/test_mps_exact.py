"""The MPS backend without truncation against the dense reference: states, amplitudes, Pauli
expectations and Hamiltonians, on random circuits with non-local, local, 3-qubit gates and swaps."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from refs import dense_statevector, phase_aligned_distance, random_hamiltonian, random_pauli

import tnq

SEEDS = st.integers(min_value=0, max_value=2**32 - 1)


def _circuit(seed: int, n: int, num_gates: int, local: bool, swaps: bool) -> tnq.Circuit:
    c = tnq.random_circuit(n, num_gates, seed=seed, local=local)
    if swaps and n > 1:  # far swaps (relabelled by lower) interleaved with entangling gates (routed)
        rng = np.random.default_rng(seed)
        for _ in range(n):
            a, b = (int(q) for q in rng.choice(n, size=2, replace=False))
            c.swap(a, b)
            c.cx(a, int(rng.integers(n - 1)) if a == n - 1 else n - 1)
            c.ry(float(rng.uniform(0, 6)), b)
        c.compose(tnq.random_circuit(n, num_gates // 2, seed=seed + 1, local=local))
    return c


@settings(max_examples=120)
@given(seed=SEEDS, n=st.integers(1, 7), num_gates=st.integers(1, 45), local=st.booleans(), swaps=st.booleans())
def test_mps_without_truncation_matches_dense(seed, n, num_gates, local, swaps):
    c = _circuit(seed, n, num_gates, local, swaps)
    exact = tnq.simulate(c, method="dense")
    mps = tnq.simulate(c, method="mps", max_bond=None, cutoff=0.0)
    vec = exact.statevector()
    # Global phase included: the MPS applies the same unitaries exactly.
    np.testing.assert_allclose(mps.statevector(), vec, atol=1e-9, rtol=0)
    assert phase_aligned_distance(mps.statevector(), vec) < 1e-9
    assert mps.fidelity == 1.0 and all(w == 0.0 for w in mps.discarded_weights)  # only exact zeros dropped
    rng = np.random.default_rng(seed)
    bits = rng.integers(0, 2, size=(8, n))
    np.testing.assert_allclose(mps.amplitudes(bits), exact.amplitudes(bits), atol=1e-9, rtol=0)
    for _ in range(3):
        obs = random_pauli(rng, n)
        assert mps.expectation(obs) == pytest.approx(exact.expectation(obs), abs=1e-9)
    h = random_hamiltonian(rng, n)
    assert mps.expectation(h) == pytest.approx(exact.expectation(h), abs=1e-9)


@settings(max_examples=40)
@given(seed=SEEDS, n=st.integers(3, 7), num_gates=st.integers(5, 40))
def test_mps_three_qubit_gates_far_apart(seed, n, num_gates):
    """Many ccx / cswap / ccz on scattered qubits: exercises 3-site routing and two-SVD splits."""
    rng = np.random.default_rng(seed)
    c = tnq.Circuit(n)
    for q in range(n):
        c.u3(*rng.uniform(0, 6, 3), q)
    for _ in range(num_gates):
        qubits = [int(q) for q in rng.choice(n, size=3, replace=False)]
        c.append(str(rng.choice(["ccx", "cswap", "ccz"])), qubits)
        c.ry(float(rng.uniform(0, 6)), qubits[0])
    mps = tnq.simulate(c, method="mps", cutoff=0.0)
    np.testing.assert_allclose(mps.statevector(), dense_statevector(c), atol=1e-9, rtol=0)


def test_mps_default_cutoff_error_is_within_its_reported_truncation():
    """The default cutoff (1e-16 relative weight per SVD) may drop tiny Schmidt values; the error
    must stay within the bound derived from what it reports (see test_mps_truncation)."""
    c = tnq.Circuit(12)
    tnq.circuit.builders.random_u3_layer(c, np.random.default_rng(5))
    c.compose(tnq.qft(12))
    mps = tnq.simulate(c, method="mps")
    exact = dense_statevector(c)
    bound = float(np.sum(np.sqrt(mps.discarded_weights)))
    assert phase_aligned_distance(exact, mps.statevector()) <= np.sqrt(2) * bound + 1e-12
    assert np.abs(mps.statevector() - exact).max() < 1e-7


@pytest.mark.parametrize("fused", [True, False])
def test_mps_backend_with_and_without_fusion(fused):
    from tnq.backends import mps as mps_backend
    from tnq.compile import fuse, lower

    c = tnq.random_circuit(6, 60, seed=21)
    lowered = lower(c)
    gates = fuse(lowered.gates) if fused else lowered.gates
    state = mps_backend.run(gates, c.num_qubits, lowered.wire_of, cutoff=0.0)
    np.testing.assert_allclose(state.statevector(), dense_statevector(c), atol=1e-9, rtol=0)


def test_mps_qft_swaps_are_relabelled_not_applied():
    """QFT's bit-reversal swaps cost nothing: the bond dimensions stay those of the swap-free QFT."""
    n = 10
    prep = tnq.Circuit(n)
    tnq.circuit.builders.random_u3_layer(prep, np.random.default_rng(2))
    with_swaps = prep.copy().compose(tnq.qft(n, swaps=True))
    without = prep.copy().compose(tnq.qft(n, swaps=False))
    a = tnq.simulate(with_swaps, method="mps", cutoff=0.0)
    b = tnq.simulate(without, method="mps", cutoff=0.0)
    np.testing.assert_allclose(a.statevector(), dense_statevector(with_swaps), atol=1e-9, rtol=0)
    assert a.info["routing_swaps"] == b.info["routing_swaps"]
    assert max(a.bond_dims) == max(b.bond_dims)
    assert list(a.qubit_sites()) != list(range(n))  # qubits were relabelled, not moved back


def test_mps_ghz_50_has_bond_two_and_exact_amplitudes():
    state = tnq.simulate(tnq.ghz(50), method="mps")
    assert max(state.bond_dims) == 2
    amps = state.amplitudes(["0" * 50, "1" * 50, "1" + "0" * 49, "0" * 49 + "1"])
    np.testing.assert_allclose(amps, [2**-0.5, 2**-0.5, 0, 0], atol=1e-12)
    assert state.expectation("Z0 Z49") == pytest.approx(1.0, abs=1e-12)
    assert state.expectation("Z17") == pytest.approx(0.0, abs=1e-12)
    assert state.expectation(" ".join(f"X{q}" for q in range(50))) == pytest.approx(1.0, abs=1e-10)


def test_mps_single_qubit_circuit():
    c = tnq.Circuit(1)
    c.h(0)
    c.rz(0.3, 0)
    state = tnq.simulate(c, method="mps")
    np.testing.assert_allclose(state.statevector(), dense_statevector(c), atol=1e-14)
    assert state.expectation("X0") == pytest.approx(np.cos(0.3), abs=1e-12)
