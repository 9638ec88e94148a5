"""The dense backend against independent references: qiskit's Statevector and qiskit-aer's statevector
simulator, on hundreds of random circuits (all gates, 3-qubit gates, custom unitaries)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from refs import qiskit_statevector, reverse_bits

import tnq

SEEDS = st.integers(min_value=0, max_value=2**32 - 1)


@settings(max_examples=250)
@given(seed=SEEDS, n=st.integers(1, 7), num_gates=st.integers(1, 40), local=st.booleans())
def test_dense_matches_qiskit_statevector(seed, n, num_gates, local):
    c = tnq.random_circuit(n, num_gates, seed=seed, local=local)
    state = tnq.simulate(c, method="dense")
    ours = state.statevector()
    np.testing.assert_allclose(ours, qiskit_statevector(c), atol=1e-9, rtol=0)
    assert abs(np.linalg.norm(ours) - 1) < 1e-12


AER_CASES = [(seed, 1 + seed % 7, 5 + (7 * seed) % 45) for seed in range(120)]


def test_dense_matches_aer_statevector_on_120_random_circuits():
    from qiskit import transpile
    from qiskit_aer import AerSimulator

    sim = AerSimulator(method="statevector")
    circuits = [tnq.random_circuit(n, g, seed=1000 + seed) for seed, n, g in AER_CASES]
    assert sum(c.count_ops().get("unitary", 0) for c in circuits) > 50
    assert sum(c.count_ops().get("ccx", 0) + c.count_ops().get("cswap", 0) for c in circuits) > 10
    batch = []
    for c in circuits:
        qc = c.to_qiskit()
        qc.save_statevector()
        batch.append(qc)
    result = sim.run(transpile(batch, sim, optimization_level=0)).result()
    assert result.success
    for index, c in enumerate(circuits):
        aer = reverse_bits(np.asarray(result.get_statevector(index)), c.num_qubits)
        ours = tnq.simulate(c, method="dense").statevector()
        np.testing.assert_allclose(ours, aer, atol=1e-9, rtol=0, err_msg=f"circuit {index}: {c}")


@pytest.mark.parametrize("n", [1, 3, 6])
def test_dense_basis_states_follow_the_bitstring_convention(n):
    """X on a set of qubits gives the basis state whose string has '1' exactly there (qubit 0 leftmost)."""
    rng = np.random.default_rng(n)
    ones = [q for q in range(n) if rng.random() < 0.5] or [0]
    c = tnq.Circuit(n)
    for q in ones:
        c.x(q)
    bits = "".join("1" if q in ones else "0" for q in range(n))
    state = tnq.simulate(c, method="dense")
    assert state.probability(bits) == pytest.approx(1.0)
    assert abs(state.statevector()[int(bits, 2)]) == pytest.approx(1.0)


def test_dense_amplitudes_and_expectations_agree_with_statevector():
    from refs import qiskit_expectation

    c = tnq.random_circuit(5, 40, seed=11)
    state = tnq.simulate(c, method="dense")
    vec = state.statevector()
    bits = ["00000", "10110", "11111", "01001"]
    np.testing.assert_allclose(state.amplitudes(bits), [vec[int(b, 2)] for b in bits], atol=1e-14)
    for obs in ["Z0", "X1 Y3", "0.5*Z0 Z4 - 1.5*X2 + 0.25*Y0 Y1 Y2"]:
        assert state.expectation(obs) == pytest.approx(qiskit_expectation(c, obs).real, abs=1e-10)


def test_measure_and_barrier_do_not_change_the_state():
    c = tnq.random_circuit(4, 20, seed=5)
    with_extras = c.copy()
    with_extras.barrier()
    with_extras.measure()
    np.testing.assert_allclose(tnq.simulate(with_extras, method="dense").statevector(),
                               tnq.simulate(c, method="dense").statevector(), atol=0)
