"""Independent references and small helpers shared by the engine tests (qiskit, bit-order conversion)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

import tnq
from tnq.observables import Hamiltonian, as_hamiltonian


def reverse_bits(vector: np.ndarray, n: int) -> np.ndarray:
    """Convert a statevector between qiskit's order (qubit 0 least significant) and tnq's (most significant)."""
    return np.asarray(vector).reshape((2,) * n).transpose(range(n - 1, -1, -1)).reshape(-1)


def qiskit_statevector(circuit: tnq.Circuit) -> np.ndarray:
    """qiskit.quantum_info.Statevector of ``circuit`` in tnq's bit order."""
    from qiskit.quantum_info import Statevector

    qc = circuit.to_qiskit()
    qc.remove_final_measurements()
    return reverse_bits(Statevector(qc).data, circuit.num_qubits)


def dense_statevector(circuit: tnq.Circuit) -> np.ndarray:
    return tnq.simulate(circuit, method="dense").statevector()


def phase_aligned_distance(a: np.ndarray, b: np.ndarray) -> float:
    """min over phi of ||a - exp(i phi) b|| (attained at the phase of <b|a>)."""
    overlap = np.vdot(b, a)
    phase = overlap / abs(overlap) if abs(overlap) > 0 else 1.0
    return float(np.linalg.norm(np.asarray(a) - phase * np.asarray(b)))


def aer_index(bitstring: str) -> int:
    """The index of a tnq bitstring (character q = qubit q) in qiskit/aer's little-endian order."""
    return int(bitstring[::-1], 2)


def to_sparse_pauli_op(observable: object, n: int):
    """A tnq observable as a qiskit SparsePauliOp (an independent expectation-value reference)."""
    from qiskit.quantum_info import SparsePauliOp

    h: Hamiltonian = as_hamiltonian(observable, n)
    terms = []
    for coeff, term in zip(h.coeffs, h.terms, strict=True):
        labels = "".join(p for _, p in term.ops)
        terms.append((labels, list(term.support), coeff))
    return SparsePauliOp.from_sparse_list(terms, num_qubits=n)


def qiskit_expectation(circuit: tnq.Circuit, observable: object) -> complex:
    from qiskit.quantum_info import Statevector

    qc = circuit.to_qiskit()
    qc.remove_final_measurements()
    return complex(Statevector(qc).expectation_value(to_sparse_pauli_op(observable, circuit.num_qubits)))


def random_pauli(rng: np.random.Generator, n: int, max_weight: int = 3, paulis: str = "XYZ") -> str:
    """A random Pauli string like 'X0 Z3' on 1..max_weight distinct qubits."""
    k = int(rng.integers(1, min(max_weight, n) + 1))
    qubits = rng.choice(n, size=k, replace=False)
    return " ".join(f"{rng.choice(list(paulis))}{q}" for q in qubits)


def random_hamiltonian(rng: np.random.Generator, n: int, terms: int = 4) -> str:
    return " + ".join(f"{rng.uniform(-1, 1):.6f}*{random_pauli(rng, n)}" for _ in range(terms)).replace("+ -", "- ")


def bitstrings_from_indices(indices: Sequence[int], n: int) -> list[str]:
    return [format(int(i), f"0{n}b") for i in indices]


def probabilities(circuit: tnq.Circuit) -> np.ndarray:
    return np.abs(dense_statevector(circuit)) ** 2


def assert_directional_derivative(f, grad: np.ndarray, x: np.ndarray, directions: int = 3, eps: float = 1e-6) -> None:
    """Check <grad, d> against central finite differences of ``f`` along random directions d."""
    import pytest

    rng = np.random.default_rng(0)
    for _ in range(directions):
        direction = rng.normal(size=x.shape)
        numeric = (f(x + eps * direction) - f(x - eps * direction)) / (2 * eps)
        assert float(np.sum(grad * direction)) == pytest.approx(numeric, rel=1e-5, abs=1e-7)
