"""A combining-box ansatz for residue chains: the state node controls rotations of the incoming residue, which is
then post-selected, so each residue multiplies the state's basis amplitudes by residue-dependent factors.

Why: with ``<0|`` post-selection, a box ``U`` on (state, residue) acts on the state as ``M(w) = <0|_w U |w>``. When
``U`` is controlled by the state qubits (``CRy`` state -> residue), every ``M(w)`` is diagonal, so the log odds of
the output are a sum over residues: a composition (counts) model that trains like logistic regression. The ``Ry``
layer on the state qubits (``mix=True``) makes the ``M(w)`` non-commuting, adding order sensitivity. Generic
ansätze (Sim14, IQP) contain such boxes only at special parameter points and train slowly on long chains.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from discopy.quantum.circuit import Circuit
from discopy.quantum.gates import Ry

from qnlp.ansatz import CircuitAnsatz, _at, _controlled, _wire
from qnlp.errors import QnlpError


class ControlledAnsatz(CircuitAnsatz):
    """Box on ``2q`` qubits (state ``0..q-1``, residue ``q..2q-1``): per layer ``Ry`` on each state qubit (``mix``),
    then ``CRy`` from every state qubit ``i`` to every residue qubit ``j`` (``q*q`` angles). Boxes of any other width
    (residue states on ``q > 1`` qubits) get a ``Ry`` layer and a ladder of ``CRy``."""

    def __init__(self, ob_map: Mapping[Any, int], n_layers: int, n_single_qubit_params: int = 3, mix: bool = True,
                 share: Mapping[str, str] | None = None) -> None:
        super().__init__(ob_map, n_layers, n_single_qubit_params, share=share)
        self.mix = mix
        self._sizes = set(self.ob_map.values())

    def params_shape(self, n_qubits: int) -> tuple[int, ...]:
        if n_qubits % 2 == 0 and n_qubits // 2 in self._sizes:
            q = n_qubits // 2
            return (self.n_layers, q * (int(self.mix) + q))
        return (self.n_layers, 2 * n_qubits - 1)

    def circuit(self, n_qubits: int, params: np.ndarray) -> Circuit:
        circuit = _wire(n_qubits)
        if n_qubits % 2 == 0 and n_qubits // 2 in self._sizes:
            q = n_qubits // 2
            for t in params:
                if self.mix:
                    for i in range(q):
                        circuit = circuit >> _at(Ry(t[i]), i, n_qubits)
                angles = t[q * int(self.mix):]
                for i in range(q):
                    for j in range(q):
                        circuit = circuit >> _controlled(Ry(angles[i * q + j]), i, q + j, n_qubits)
            return circuit
        if n_qubits < 2:
            raise QnlpError("ControlledAnsatz.circuit needs at least two qubits")
        for t in params:
            for i in range(n_qubits):
                circuit = circuit >> _at(Ry(t[i]), i, n_qubits)
            for i in range(n_qubits - 1):
                circuit = circuit >> _controlled(Ry(t[n_qubits + i]), i, i + 1, n_qubits)
        return circuit
