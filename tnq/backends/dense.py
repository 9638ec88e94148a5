"""Dense statevector backend: the exact reference for tests (up to ~24 qubits).

Deliberately plain: every gate is applied as written, one tensordot each, so it serves as an
independent check of the MPS and contraction backends.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..arrays import NUMPY, NumpyArrays, host, namespace_of
from ..compile import Gate
from ..memory import check_budget
from ..progress import progress_bar
from ..state import State
from ..tensornet.decompose import check_truncation


class DenseState(State):
    """A statevector stored as an n-axis tensor in wire order (numpy, or torch on a device)."""

    def __init__(self, tensor: np.ndarray, wire_of: np.ndarray, info: dict[str, Any]) -> None:
        super().__init__(tensor.ndim, wire_of, info)
        self.tensor = tensor

    def statevector(self) -> np.ndarray:
        """Amplitudes in qubit order: index bit q (from the left) is qubit q."""
        return host(namespace_of(self.tensor).transpose(self.tensor, self.wire_of).reshape(-1))

    def _amplitudes(self, wire_bits: np.ndarray) -> np.ndarray:
        xp = namespace_of(self.tensor)
        return self.tensor[tuple(xp.index(column) for column in wire_bits.T)]

    def _expect_pauli(self, wire_ops: dict[int, np.ndarray]) -> complex:
        xp = namespace_of(self.tensor)
        phi = self.tensor
        for wire, op in wire_ops.items():
            phi = apply_matrix(phi, op, (wire,))
        return complex(xp.vdot(self.tensor, phi)) / float(xp.vdot(self.tensor, self.tensor).real)

    def _sample(self, shots: int, rng: np.random.Generator) -> np.ndarray:
        probs = np.abs(host(self.tensor).reshape(-1)) ** 2
        cumulative = np.cumsum(probs)
        idx = np.searchsorted(cumulative, rng.random(shots) * cumulative[-1], side="right")
        idx = np.minimum(idx, probs.size - 1)
        n = self.tensor.ndim
        return ((idx[:, None] >> np.arange(n - 1, -1, -1)) & 1).astype(np.uint8)

    def _sample_bytes(self, shots: int) -> int:
        return sample_bytes(shots, self.tensor.ndim, 24 * 2**self.tensor.ndim)


def sample_bytes(shots: int, n: int, table: int) -> int:
    """Peak bytes of drawing ``shots`` indices of n bits from a probability table of ``table`` bytes: the table and
    its cumulative sum, the uniforms and indices (int64 each) and the (shots, n) int64 bit table."""
    return table + shots * (17 * n + 32)


def apply_matrix(psi: np.ndarray, matrix: np.ndarray, wires: Sequence[int]) -> np.ndarray:
    """Apply a k-qubit matrix (big-endian in ``wires``) to an n-axis state tensor."""
    k = len(wires)
    xp = namespace_of(psi)
    g = xp.asarray(matrix).reshape((2,) * (2 * k))
    out = xp.tensordot(g, psi, axes=(list(range(k, 2 * k)), list(wires)))
    return xp.moveaxis(out, list(range(k)), list(wires))


def run(gates: Sequence[Gate], num_wires: int, wire_of: np.ndarray, memory_budget: int | None = None,
        progress: bool | None = None, max_bond: int | None = None, cutoff: float = 1e-16,
        arrays: NumpyArrays = NUMPY, **_: Any) -> DenseState:
    """Apply ``gates`` to |0...0> on ``num_wires`` wires. ``max_bond``/``cutoff`` do not apply to an
    exact statevector but are still validated, so a bad option fails the same way on every backend. ``arrays``
    (``tnq.arrays.namespace``) holds the statevector: numpy, or torch on a device, in a complex dtype."""
    check_truncation(max_bond, cutoff)
    check_budget(3 * 16 * 2**num_wires, memory_budget, f"a dense statevector of {num_wires} qubits",
                 "use method='mps' or 'auto'")
    psi = arrays.zeros((2,) * num_wires)
    psi[(0,) * num_wires] = 1.0
    for gate in progress_bar(gates, progress, "tnq dense", unit="gate"):
        psi = apply_matrix(psi, gate.matrix, gate.wires)
    return DenseState(psi, wire_of, {"method": "dense", "gates_applied": len(gates), "fidelity": 1.0})
