"""tnq.expectation on the observable's reverse lightcone equals the full-simulation expectation (dense
and MPS) and qiskit's; diagonal observables drop trailing diagonal gates; QFT swaps; Hamiltonians."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from refs import qiskit_expectation, random_hamiltonian, random_pauli

import tnq

SEEDS = st.integers(min_value=0, max_value=2**32 - 1)
EXACT = {"dense": {}, "mps": {"cutoff": 0.0}}  # cutoff 0: no truncation at all, so 1e-9 agreement is owed


@settings(max_examples=80)
@given(seed=SEEDS, n=st.integers(1, 8), num_gates=st.integers(0, 40), with_qft=st.booleans(),
       diagonal=st.booleans())
def test_lightcone_expectation_equals_full_simulation(seed, n, num_gates, with_qft, diagonal):
    c = tnq.random_circuit(n, num_gates, seed=seed) if num_gates else tnq.Circuit(n)
    if with_qft:
        c.compose(tnq.qft(n, swaps=True))
    rng = np.random.default_rng(seed)
    obs = random_pauli(rng, n, paulis="Z" if diagonal else "XYZ")
    full = tnq.simulate(c, method="dense").expectation(obs)
    assert full == pytest.approx(qiskit_expectation(c, obs).real, abs=1e-9)
    for method in ("dense", "mps"):
        value = tnq.expectation(c, obs, method=method, **EXACT[method])
        assert value == pytest.approx(full, abs=1e-9), (method, obs)
        unconed = tnq.expectation(c, obs, method=method, use_lightcone=False, **EXACT[method])
        assert unconed == pytest.approx(full, abs=1e-9), (method, obs)


@settings(max_examples=30)
@given(seed=SEEDS, n=st.integers(2, 8))
def test_lightcone_hamiltonian_equals_full_simulation(seed, n):
    c = tnq.random_circuit(n, 30, seed=seed)
    rng = np.random.default_rng(seed)
    h = random_hamiltonian(rng, n, terms=5)
    full = tnq.simulate(c, method="dense").expectation(h)
    assert full == pytest.approx(qiskit_expectation(c, h).real, abs=1e-9)
    for method in ("dense", "mps"):
        assert tnq.expectation(c, h, method=method, **EXACT[method]) == pytest.approx(full, abs=1e-9)


def test_trailing_diagonal_gates_are_dropped_for_z_observables_only():
    c = tnq.Circuit(4)
    c.h(0)
    c.cx(0, 1)
    c.ry(0.4, 2)
    c.cx(2, 3)
    # trailing gates that are diagonal and commute with any Z string
    c.rz(0.3, 1)
    c.cz(1, 2)
    c.rzz(0.8, 0, 1)
    c.t(0)
    c.cp(0.5, 2, 3)
    c.unitary(np.diag(np.exp(1j * np.array([0.1, 0.2, 0.3, 0.4]))), [0, 2])
    full = tnq.simulate(c, method="dense")
    for method in ("dense", "mps"):
        value, state = tnq.expectation(c, "Z0 Z1", method=method, return_state=True, **EXACT[method])
        assert value == pytest.approx(full.expectation("Z0 Z1"), abs=1e-12)
        assert state.info["lightcone_gates"] == 2  # h and cx only: every later gate on 0, 1 is diagonal
        assert state.info["lightcone_qubits"] == 2  # so qubits 2, 3 (reached only by diagonal gates) drop out
        value, state = tnq.expectation(c, "X0 Z1", method=method, return_state=True, **EXACT[method])
        assert value == pytest.approx(full.expectation("X0 Z1"), abs=1e-12)
        assert state.info["lightcone_gates"] > 2  # X does not commute with the trailing diagonal gates


def test_lightcone_of_a_local_observable_in_a_big_brickwork_is_small():
    """40 qubits, depth 4: <Z20> needs the 8-qubit cone only, and matches a dense run of that cone."""
    c = tnq.brickwork(40, 4, seed=1)
    value, state = tnq.expectation(c, "Z20", method="mps", return_state=True)
    assert state.info["lightcone_qubits"] <= 8
    # Reference: the same computation on a 12-qubit window, which contains the whole cone.
    window = tnq.Circuit(12)
    for op in c.gates():
        if all(14 <= q < 26 for q in op.qubits):
            window.append(op.name, [q - 14 for q in op.qubits], op.params)
    assert value == pytest.approx(tnq.simulate(window, method="dense").expectation("Z6"), abs=1e-10)


def test_qft_with_swaps_lightcone_follows_the_relabelling():
    n = 9
    c = tnq.Circuit(n)
    tnq.circuit.builders.random_u3_layer(c, np.random.default_rng(4))
    c.compose(tnq.qft(n, swaps=True))
    full = tnq.simulate(c, method="dense")
    for obs in ["Z0", "X8", "Z0 Z8", "Y2 X6", "0.3*Z1 - 0.7*X4 Y7"]:
        for method in ("dense", "mps"):
            value = tnq.expectation(c, obs, method=method, **EXACT[method])
            assert value == pytest.approx(full.expectation(obs), abs=1e-10)


def test_expectation_input_forms_agree():
    c = tnq.random_circuit(4, 30, seed=9)
    full = tnq.simulate(c, method="dense")
    expected = 0.5 * full.expectation("Z0 Z1") - 1.5 * full.expectation("X2")
    forms = ["0.5*Z0 Z1 - 1.5*X2", [(0.5, "Z0 Z1"), (-1.5, "X2")],
             tnq.Hamiltonian.parse("0.5*Z0*Z1 - 1.5*X2")]
    for form in forms:
        assert tnq.expectation(c, form) == pytest.approx(expected, abs=1e-10)
    assert tnq.expectation(c, {0: "Z", 3: "X"}) == pytest.approx(full.expectation("Z0 X3"), abs=1e-10)
    assert tnq.expectation(c, tnq.PauliString.parse("ZIIX")) == pytest.approx(full.expectation("Z0 X3"), abs=1e-10)


@pytest.mark.parametrize("method", ["dense", "mps"])
def test_identity_and_constant_terms(method):
    c = tnq.ghz(3)
    assert tnq.expectation(c, "0.5 + Z0 Z2", method=method) == pytest.approx(1.5)
    assert tnq.expectation(c, "2.5", method=method) == pytest.approx(2.5)  # only an identity term


def test_non_hermitian_coefficients_give_a_complex_value():
    c = tnq.ghz(3)
    value = tnq.expectation(c, "1j*Z0 Z1 + 0.5*X0 X1 X2")
    assert isinstance(value, complex)
    assert value == pytest.approx(0.5 + 1j)
