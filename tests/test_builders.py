"""Circuit builders against independent definitions (qiskit's QFT, GHZ and BV by hand)."""

import numpy as np
import pytest
from refs import dense_statevector, reverse_bits

import tnq


@pytest.mark.parametrize("n", [1, 2, 3, 5])
@pytest.mark.parametrize("swaps", [True, False])
@pytest.mark.parametrize("inverse", [False, True])
def test_qft_matches_qiskit(n, swaps, inverse):
    from qiskit.quantum_info import Operator
    from qiskit.synthesis.qft import synth_qft_full

    from tnq.circuit.gates import reverse_qubit_order

    ours = reverse_qubit_order(Operator(tnq.qft(n, swaps=swaps, inverse=inverse).to_qiskit()).data)
    ref = reverse_qubit_order(Operator(synth_qft_full(n, do_swaps=swaps, inverse=inverse)).data)
    np.testing.assert_allclose(ours, ref, atol=1e-12)


def test_qft_then_inverse_is_identity():
    c = tnq.random_circuit(5, 20, seed=1)
    before = dense_statevector(c)
    c.compose(tnq.qft(5)).compose(tnq.qft(5, inverse=True))
    np.testing.assert_allclose(dense_statevector(c), before, atol=1e-12)


def test_ghz():
    vec = dense_statevector(tnq.ghz(5))
    expected = np.zeros(32)
    expected[[0, 31]] = 2**-0.5
    np.testing.assert_allclose(vec, expected, atol=1e-15)


@pytest.mark.parametrize("secret", ["1", "1011", "0110101"])
def test_bernstein_vazirani_reveals_the_secret(secret):
    state = tnq.simulate(tnq.bernstein_vazirani(secret), method="mps")
    assert state.counts(30, seed=0, qubits=range(len(secret))) == {secret: 30}


def test_brickwork_structure_and_determinism():
    c = tnq.brickwork(6, 4, seed=3)
    ops = c.count_ops()
    assert ops["u3"] == 24 and ops["cz"] == 3 + 2 + 3 + 2
    assert all(abs(op.qubits[0] - op.qubits[1]) == 1 for op in c.gates() if op.name == "cz")
    np.testing.assert_array_equal(dense_statevector(c), dense_statevector(tnq.brickwork(6, 4, seed=3)))
    assert not np.allclose(dense_statevector(c), dense_statevector(tnq.brickwork(6, 4, seed=4)))
    with pytest.raises(tnq.CircuitError, match="entangler"):
        tnq.brickwork(4, 2, entangler="rx")


def test_grid_random_matches_qiskit():
    from qiskit.quantum_info import Statevector

    c = tnq.grid_random(2, 3, 6, seed=1)
    assert c.num_qubits == 6
    np.testing.assert_allclose(dense_statevector(c), reverse_bits(Statevector(c.to_qiskit()).data, 6), atol=1e-12)
    assert all(abs(a - b) in (1, 3) for a, b in (op.qubits for op in c.gates() if op.name == "cz"))


def test_random_circuit_covers_the_gate_set_and_respects_locality():
    c = tnq.random_circuit(5, 600, seed=0)
    assert set(c.count_ops()) == set(tnq.GATES) | {"unitary"}
    local = tnq.random_circuit(6, 300, seed=1, local=True)
    for op in local.gates():
        assert max(op.qubits) - min(op.qubits) == len(op.qubits) - 1
    assert max(len(op.qubits) for op in tnq.random_circuit(5, 200, seed=2, max_arity=2).gates()) == 2
