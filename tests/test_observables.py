"""Pauli-string and Hamiltonian parsing: every accepted spelling means what it says."""

import numpy as np
import pytest

import tnq
from tnq import Hamiltonian, PauliString
from tnq.observables import as_hamiltonian


def _terms(text: str) -> list[tuple[complex, str]]:
    h = Hamiltonian.parse(text)
    return [(c, str(t)) for c, t in zip(h.coeffs, h.terms, strict=True)]


@pytest.mark.parametrize("text, expected", [
    ("Z0", [(1.0, "Z0")]),
    ("Z0 Z1", [(1.0, "Z0 Z1")]),
    ("X3*Z5", [(1.0, "X3 Z5")]),
    ("z1 x0", [(1.0, "X0 Z1")]),
    ("XIZ", [(1.0, "X0 Z2")]),
    ("1.5 XIZ", [(1.5, "X0 Z2")]),
    ("0.5*Z0 Z1 + X2 - 0.25*Y1", [(0.5, "Z0 Z1"), (1.0, "X2"), (-0.25, "Y1")]),
    ("Z0 - Z1", [(1.0, "Z0"), (-1.0, "Z1")]),
    ("-Z0", [(-1.0, "Z0")]),
    ("-0.5*Z0 + X1", [(-0.5, "Z0"), (1.0, "X1")]),
    ("+Z0 - -X1", [(1.0, "Z0"), (1.0, "X1")]),
    ("1e-3*Z0 + 2.5E+2*Z1 - .5*X2", [(0.001, "Z0"), (250.0, "Z1"), (-0.5, "X2")]),
    ("(0.5+1j)*Z0", [(0.5 + 1j, "Z0")]),
    ("( 0.5 - 2j ) Z0 + 1j*X1", [(0.5 - 2j, "Z0"), (1j, "X1")]),
    ("0.5 + Z0", [(0.5, "I"), (1.0, "Z0")]),
    ("I", [(1.0, "I")]),
])
def test_hamiltonian_parse(text, expected):
    assert _terms(text) == expected


def test_pauli_string_forms_agree():
    a = PauliString.parse("X0 Z2")
    assert a == PauliString.parse("XIZ") == PauliString.parse("Z2*X0")
    assert a == PauliString.from_dict({2: "Z", 0: "X", 1: "I"})
    assert a.support == (0, 2) and not a.is_diagonal
    assert PauliString.parse("Z0 Z7").is_diagonal
    assert str(PauliString.parse("")) == "I"


def test_parsed_hamiltonian_evaluates_like_its_terms():
    c = tnq.random_circuit(3, 25, seed=4)
    state = tnq.simulate(c, method="dense")
    value = state.expectation("-0.5*Z0 Z1 + 1e-1*X2 - (0.25)*Y0")
    expected = -0.5 * state.expectation("Z0 Z1") + 0.1 * state.expectation("X2") - 0.25 * state.expectation("Y0")
    assert value == pytest.approx(expected, abs=1e-12)
    # the same through a dense matrix built by hand
    vec = state.statevector()
    z, x, y, eye = np.diag([1, -1]), np.array([[0, 1], [1, 0]]), np.array([[0, -1j], [1j, 0]]), np.eye(2)
    h = -0.5 * np.kron(np.kron(z, z), eye) + 0.1 * np.kron(np.kron(eye, eye), x) - 0.25 * np.kron(np.kron(y, eye), eye)
    assert value == pytest.approx(np.vdot(vec, h @ vec).real, abs=1e-12)


def test_as_hamiltonian_accepts_every_form_and_checks_qubits():
    forms = ["Z0 X1", PauliString.parse("Z0 X1"), {0: "Z", 1: "X"}, [(1.0, "Z0 X1")],
             Hamiltonian.parse("Z0 X1")]
    for form in forms:
        h = as_hamiltonian(form, 2)
        assert [str(t) for t in h.terms] == ["Z0 X1"] and h.coeffs == (1.0,)
    with pytest.raises(tnq.ObservableError, match="acts on qubit 2"):
        as_hamiltonian("Z2", 2)
    with pytest.raises(tnq.ObservableError, match="'W' is not a Pauli"):
        as_hamiltonian({0: "W"}, 2)
