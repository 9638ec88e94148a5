"""Compile passes: fuse() preserves the circuit's unitary, lower() turns SWAPs into a relabelling,
lightcone() and compact() keep what an observable needs."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from refs import phase_aligned_distance

import tnq
from tnq.backends import dense
from tnq.compile import Gate, apply_to_slot, compact, fuse, lightcone, lower, permute_gate

SEEDS = st.integers(min_value=0, max_value=2**32 - 1)


def unitary_of(gates, n: int) -> np.ndarray:
    """The 2^n x 2^n matrix of a gate list (wire 0 most significant), column by column via the dense
    backend's apply_matrix on an identity with a spectator axis."""
    psi = np.eye(2**n, dtype=np.complex128).reshape((2,) * n + (2**n,))
    for g in gates:
        psi = dense.apply_matrix(psi, g.matrix, g.wires)
    return psi.reshape(2**n, 2**n)


def permutation_matrix(wire_of: np.ndarray) -> np.ndarray:
    """The unitary moving the content of wire wire_of[q] to qubit q (index bit q = qubit q, MSB first)."""
    n = len(wire_of)
    eye = np.eye(2**n).reshape((2,) * n + (2**n,))
    return np.moveaxis(eye, list(wire_of), list(range(n))).reshape(2**n, 2**n)


@settings(max_examples=80)
@given(seed=SEEDS, n=st.integers(1, 5), num_gates=st.integers(0, 40), local=st.booleans())
def test_fuse_preserves_the_unitary(seed, n, num_gates, local):
    c = tnq.random_circuit(n, num_gates, seed=seed, local=local)
    gates = lower(c, relabel_swaps=False).gates
    fused = fuse(gates)
    np.testing.assert_allclose(unitary_of(fused, n), unitary_of(gates, n), atol=1e-10)
    assert len(fused) <= len(gates)
    multi = {w for g in fused if len(g.wires) > 1 for w in g.wires}
    assert all(g.wires[0] not in multi for g in fused if len(g.wires) == 1), "a 1q gate was not folded"


@settings(max_examples=60)
@given(seed=SEEDS, n=st.integers(2, 6), num_gates=st.integers(1, 40))
def test_lower_relabels_swaps_into_a_final_permutation(seed, n, num_gates):
    c = tnq.random_circuit(n, num_gates, seed=seed)
    for a in range(n - 1):  # make sure some swaps are present, also between gates
        c.swap(a, n - 1)
        c.h(a)
    plain = lower(c, relabel_swaps=False)
    relabelled = lower(c, relabel_swaps=True)
    assert len(relabelled.gates) == len(plain.gates) - c.count_ops()["swap"]  # every swap became a relabelling
    assert sorted(relabelled.wire_of.tolist()) == list(range(n))
    np.testing.assert_array_equal(plain.wire_of, np.arange(n))
    full = unitary_of(plain.gates, n)
    np.testing.assert_allclose(permutation_matrix(relabelled.wire_of) @ unitary_of(relabelled.gates, n), full,
                               atol=1e-10)
    # Through the backend: DenseState translates wires back to qubits.
    a = dense.run(relabelled.gates, n, relabelled.wire_of).statevector()
    b = dense.run(plain.gates, n, plain.wire_of).statevector()
    np.testing.assert_allclose(a, b, atol=1e-10)


def test_lower_swap_relabelling_by_hand():
    c = tnq.Circuit(3)
    c.swap(0, 2)
    c.x(0)  # acts on wire 2
    c.swap(0, 1)
    c.cx(0, 2)  # qubit 0 is on wire 1 now, qubit 2 on wire 0
    lowered = lower(c)
    assert [g.wires for g in lowered.gates] == [(2,), (1, 0)]
    assert lowered.wire_of.tolist() == [1, 2, 0]


def test_lower_refuses_unbound_parameters_and_drops_identities():
    c = tnq.Circuit(2)
    c.id(0)
    c.rx(tnq.Parameter("a"), 1)
    with pytest.raises(tnq.CircuitError, match="unbound parameters.*'a'"):
        lower(c)
    assert len(lower(c.bind({"a": 0.1})).gates) == 1


def test_fuse_merges_consecutive_gates_on_the_same_pair_in_either_order():
    rng = np.random.default_rng(1)
    u = [np.linalg.qr(rng.normal(size=(4, 4)) + 1j * rng.normal(size=(4, 4)))[0] for _ in range(2)]
    one = np.linalg.qr(rng.normal(size=(2, 2)) + 1j * rng.normal(size=(2, 2)))[0]
    gates = [Gate((0,), one), Gate((0, 1), u[0]), Gate((1,), one), Gate((1, 0), u[1]), Gate((2,), one)]
    fused = fuse(gates)
    assert len(fused) == 2  # one 2-qubit block and the lone 1-qubit gate on wire 2
    np.testing.assert_allclose(unitary_of(fused, 3), unitary_of(gates, 3), atol=1e-12)


def test_permute_gate_and_apply_to_slot():
    rng = np.random.default_rng(2)
    m = rng.normal(size=(8, 8))
    order = [2, 0, 1]
    permuted = permute_gate(m, order)
    # Applying `permuted` on wires (w[2], w[0], w[1]) equals applying m on (w0, w1, w2).
    a = unitary_of([Gate((0, 1, 2), m)], 3)
    b = unitary_of([Gate((2, 0, 1), permuted)], 3)
    np.testing.assert_allclose(a, b, atol=1e-12)
    x = tnq.GATES["x"].matrix()
    on_slot_1 = np.kron(np.kron(np.eye(2), x), np.eye(2))
    np.testing.assert_allclose(apply_to_slot(x, m, 1, after=True), on_slot_1 @ m, atol=1e-12)
    np.testing.assert_allclose(apply_to_slot(x, m, 1, after=False), m @ on_slot_1, atol=1e-12)


def test_lightcone_and_compact():
    c = tnq.Circuit(5)
    c.h(0)
    c.cx(0, 1)
    c.cx(3, 4)
    c.h(2)
    c.cx(1, 2)
    c.rz(0.2, 2)
    gates = lower(c).gates
    cone = lightcone(gates, [0], diagonal_observable=False)
    assert [g.wires for g in cone] == [(0,), (0, 1)]  # cx(1, 2) comes after cx(0, 1): outside the cone of 0
    cone2 = lightcone(gates, [2], diagonal_observable=True)  # rz commutes with Z2 and is dropped
    assert [g.wires for g in cone2] == [(0,), (0, 1), (2,), (1, 2)]
    compacted, index = compact(cone2, [2])
    assert index == {0: 0, 1: 1, 2: 2}
    compacted, index = compact([Gate((4,), np.eye(2)), Gate((1, 4), np.eye(4))], [4])
    assert index == {1: 0, 4: 1}
    assert [g.wires for g in compacted] == [(1,), (0, 1)]


@settings(max_examples=40)
@given(seed=SEEDS, n=st.integers(2, 6))
def test_lightcone_state_reproduces_local_reduced_expectations(seed, n):
    """The cone (after compact) gives the same <P> as the whole circuit, for random P."""
    c = tnq.random_circuit(n, 25, seed=seed)
    rng = np.random.default_rng(seed)
    q = int(rng.integers(n))
    for pauli in "XYZ":
        lowered = lower(c)
        support = [int(lowered.wire_of[q])]
        cone = lightcone(lowered.gates, support, pauli == "Z")
        gates, index = compact(cone, support)
        state = dense.run(gates, len(index), np.arange(len(index)))
        value = state.expectation(f"{pauli}{index[support[0]]}")
        assert value == pytest.approx(tnq.simulate(c, method="dense").expectation(f"{pauli}{q}"), abs=1e-10)


def test_inverse_circuit_undoes_the_circuit():
    c = tnq.random_circuit(4, 30, seed=3)
    both = c.copy().compose(c.inverse())
    vec = tnq.simulate(both, method="dense").statevector()
    assert phase_aligned_distance(vec, np.eye(16)[0]) < 1e-10
