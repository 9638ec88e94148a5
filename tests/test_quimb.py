"""quimb interop: MPSState.to_quimb() is a quimb MPS with qubit q on site q (also after swap routing
and relabelling), and MPS.from_quimb round trips, including states built by quimb itself."""

import numpy as np
import pytest
from refs import dense_statevector

import tnq

qtn = pytest.importorskip("quimb.tensor")


def _routed_circuit(seed: int, n: int = 7) -> tnq.Circuit:
    """Random gates, a QFT with its swaps, and long-range gates: the MPS ends with permuted sites."""
    c = tnq.random_circuit(n, 30, seed=seed)
    c.compose(tnq.qft(n, swaps=True))
    c.cx(0, n - 1)
    c.crz(0.4, n - 2, 1)
    return c


@pytest.mark.parametrize("seed", range(3))
def test_to_quimb_matches_our_amplitudes_in_qubit_order(seed):
    c = _routed_circuit(seed)
    n = c.num_qubits
    state = tnq.simulate(c, method="mps", cutoff=0.0)
    assert list(state.qubit_sites()) != list(range(n))  # the interesting case: sites are permuted
    q = state.to_quimb()
    assert isinstance(q, qtn.MatrixProductState) and q.L == n
    exact = dense_statevector(c)
    np.testing.assert_allclose(np.asarray(q.to_dense()).reshape(-1), exact, atol=1e-9)
    rng = np.random.default_rng(seed)
    for bits in ["".join(map(str, r)) for r in rng.integers(0, 2, size=(5, n))]:
        assert complex(q.amplitude(bits)) == pytest.approx(state.amplitude(bits), abs=1e-10)
    # quimb's own local expectation on the exported state agrees with ours.
    z = np.diag([1.0, -1.0])
    ours = state.expectation("Z2")
    theirs = q.H @ q.gate(z, 2, contract=True)
    assert complex(theirs).real == pytest.approx(ours, abs=1e-9)


def test_to_quimb_keeps_truncated_states_normalised():
    c = tnq.brickwork(8, 8, seed=2)
    state = tnq.simulate(c, method="mps", max_bond=3)
    q = state.to_quimb()
    assert max(q.bond_sizes()) <= 3
    assert float(abs(q.H @ q)) == pytest.approx(1.0, abs=1e-10)
    np.testing.assert_allclose(np.asarray(q.to_dense()).reshape(-1), state.statevector(), atol=1e-12)


def test_from_quimb_round_trip_of_our_state():
    state = tnq.simulate(_routed_circuit(5), method="mps", cutoff=0.0)
    q = state.to_quimb()
    back = tnq.MPS.from_quimb(q)
    np.testing.assert_allclose(back.to_dense(), state.statevector(), atol=1e-12)
    assert back.center == 0
    assert back.norm() == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("n, d, bond", [(1, 2, 1), (2, 2, 2), (6, 2, 5), (5, 3, 4)])
def test_from_quimb_of_a_quimb_built_state(n, d, bond):
    """A state made by quimb (any gauge), not by us: amplitudes and norm survive the conversion."""
    q = qtn.MPS_rand_state(n, bond, phys_dim=d, seed=7, dtype="complex128")
    ours = tnq.MPS.from_quimb(q)
    assert ours.num_sites == n and all(t.shape[1] == d for t in ours.tensors)
    np.testing.assert_allclose(ours.to_dense(), np.asarray(q.to_dense()).reshape(-1), atol=1e-12)
    again = ours.to_quimb()
    np.testing.assert_allclose(np.asarray(again.to_dense()).reshape(-1), np.asarray(q.to_dense()).reshape(-1),
                               atol=1e-12)


def test_quimb_circuit_amplitude_agrees_on_a_swap_free_circuit():
    """quimb's exact tensor-network Circuit as one more independent reference (no SWAPs: see DESIGN.md)."""
    c = tnq.brickwork(10, 5, seed=4)
    qc = qtn.Circuit(10)
    for op in c.gates():
        qc.apply_gate(op.name.upper(), *op.params, *op.qubits)
    state = tnq.simulate(c, method="mps", cutoff=0.0)
    for bits in ["0" * 10, "1011001110", "0100110001"]:
        assert complex(qc.amplitude(bits)) == pytest.approx(state.amplitude(bits), abs=1e-10)
