"""A combining-box ansatz for residue chains: the state node controls rotations of the incoming residue, which is
then post-selected, so each residue multiplies the state's basis amplitudes by residue-dependent factors.

Why: with ``<0|`` post-selection, a box ``U`` on (state, residue) acts on the state as ``M(w) = <0|_w U |w>``. When
``U`` is controlled by the state qubits (``CRy`` state -> residue), every ``M(w)`` is diagonal, so the log odds of
the output are a sum over residues: a composition (counts) model that trains like logistic regression. The ``Ry``
layer on the state qubits (``mix=True``) makes the ``M(w)`` non-commuting, adding order sensitivity. Generic
ansätze (Sim14, IQP) contain such boxes only at special parameter points and train slowly on long chains.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from discopy.grammar import pregroup
from discopy.quantum.circuit import Circuit
from discopy.quantum.gates import Bra, Ket, Ry, X

from qnlp.ansatz import CircuitAnsatz, controlled_at, gate_at, wires
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
        circuit = wires(n_qubits)
        if n_qubits % 2 == 0 and n_qubits // 2 in self._sizes:
            q = n_qubits // 2
            for t in params:
                if self.mix:
                    for i in range(q):
                        circuit = circuit >> gate_at(Ry(t[i]), i, n_qubits)
                angles = t[q * int(self.mix):]
                for i in range(q):
                    for j in range(q):
                        circuit = circuit >> controlled_at(Ry(angles[i * q + j]), i, q + j, n_qubits)
            return circuit
        if n_qubits < 2:
            raise QnlpError("ControlledAnsatz.circuit needs at least two qubits")
        for t in params:
            for i in range(n_qubits):
                circuit = circuit >> gate_at(Ry(t[i]), i, n_qubits)
            for i in range(n_qubits - 1):
                circuit = circuit >> controlled_at(Ry(t[n_qubits + i]), i, i + 1, n_qubits)
        return circuit


def gray_code_controls(n_controls: int) -> list[int]:
    """The control (0 .. n_controls-1) of the CNOT after each of the 2^n_controls rotations of a uniformly
    controlled rotation (Möttönen et al. 2004): the bit in which Gray codes i and i+1 (cyclically) differ."""
    size = 2 ** n_controls
    gray = [i ^ (i >> 1) for i in range(size)]
    return [(gray[i] ^ gray[(i + 1) % size]).bit_length() - 1 for i in range(size)]


def real_state(n_qubits: int, angles: Sequence) -> Circuit:
    """A circuit preparing, from ``|0...0>``, any real ``n_qubits`` state with ``2^n - 1`` angles: qubit ``t`` gets a
    uniformly controlled ``Ry`` from qubits ``0..t-1`` (Gray-code ``Ry``/CNOT ladder). Each block's first angle is
    offset by a quarter turn, so all-zero angles give the uniform superposition."""
    if len(angles) != 2 ** n_qubits - 1:
        raise QnlpError(f"real_state on {n_qubits} qubits takes {2 ** n_qubits - 1} angles, got {len(angles)}")
    circuit, k = wires(n_qubits), 0
    for target in range(n_qubits):
        controls = gray_code_controls(target) if target else [None]
        for i, control in enumerate(controls):
            circuit = circuit >> gate_at(Ry(angles[k] + (0.25 if i == 0 else 0)), target, n_qubits)
            k += 1
            if control is not None:
                circuit = circuit >> controlled_at(X, control, target, n_qubits)
    return circuit


def _control_signs(n_controls: int) -> np.ndarray:
    """``(-1)^(x . gray(i))`` for control patterns ``x`` (rows; control 0 most significant) and the ladder's
    Gray-code steps ``i`` (columns): a uniformly controlled ``Ry`` turns by ``sum_i signs[x, i] * angle_i``."""
    gray = [i ^ (i >> 1) for i in range(2 ** n_controls)]
    return np.array([[(-1) ** bin(_reversed_bits(x, n_controls) & g).count("1") for g in gray]
                     for x in range(2 ** n_controls)], dtype=float)


def _reversed_bits(x: int, width: int) -> int:
    return int(format(x, f"0{width}b")[::-1], 2) if width else 0


def real_state_angles(log_weights: Any) -> Any:
    """The ``real_state`` angles (last axis ``2^q - 1``) whose state has probabilities ``softmax(log_weights)``
    (last axis ``2^q``, basis state ``s`` with qubit 0 most significant) and positive amplitudes. Smooth in the
    weights; torch tensors keep their gradient, anything else goes through numpy.

    Why: the chain's distribution is a product of residue probabilities, log-linear in these weights, so training
    them (and mapping to angles for the circuit) is as well conditioned as logistic regression; trained as angles,
    probabilities near 0 or 1 sit on flat stretches of ``cos^2``."""
    import torch

    weights = log_weights if isinstance(log_weights, torch.Tensor) else torch.as_tensor(
        np.asarray(log_weights, dtype=float))
    size = weights.shape[-1]
    n = size.bit_length() - 1
    if n < 1 or size != 2 ** n:
        raise QnlpError(f"real_state_angles needs 2^q log-weights on the last axis (q >= 1), got {size}")
    lead = weights.shape[:-1]
    angles = []
    for target in range(n):  # marginal log-weights of the first target+1 qubits, split by the target's bit
        marginal = torch.logsumexp(weights.reshape(*lead, 2 ** target, 2, -1), -1)
        turn = torch.atan(torch.exp((marginal[..., 1] - marginal[..., 0]) / 2)) / np.pi  # cos^2(pi turn) = p0 / p
        signs = torch.as_tensor(_control_signs(target), dtype=weights.dtype)
        angles.append((turn - 0.25) @ signs / 2 ** target)  # signs^T signs = 2^target identity
    out = torch.cat(angles, -1)
    return out if isinstance(log_weights, torch.Tensor) else out.numpy()


class MixtureAnsatz(CircuitAnsatz):
    """Residue states are general real states on ``q`` qubits (``real_state``, ``2^q - 1`` angles each); the
    combining box on (state, residue) copies each state qubit onto its residue qubit (CNOT) and post-selects the
    residue on ``<0|``: it multiplies basis amplitude ``s`` of the state by the residue's amplitude ``s``.

    Why: a chain then ends in ``P(s) ∝ prod_r |phi_r(s)|^2``, a product of experts per hidden state ``s``; with the
    class read from the first qubit (``readout="marginal"``) the class probability is a mixture of ``2^(q-1)``
    log-linear (composition) models per class, which a single diagonal qubit (``ControlledAnsatz``) cannot
    express. The combining box has no parameters; zero angles give uniform residue states (every expert equal)."""

    def params_shape(self, n_qubits: int) -> tuple[int, ...]:
        return (2 ** n_qubits - 1,)

    def box_circuit(self, box: pregroup.Box) -> Circuit:
        dom, cod = self.ob_size(box.dom), self.ob_size(box.cod)
        if dom == 0 and cod > 0:
            symbols = self.symbols_of(box, *self.params_shape(cod))
            return Ket(*[0] * cod) >> real_state(cod, symbols)
        if dom == 2 * cod and cod > 0:
            circuit = wires(dom)
            for i in range(cod):
                circuit = circuit >> controlled_at(X, i, cod + i, dom)
            return circuit >> wires(cod) @ Bra(*[0] * cod)
        raise QnlpError(f"MixtureAnsatz maps residue states (0 -> q qubits) and combining boxes (2q -> q qubits); "
                        f"box {box.name!r} goes from {dom} to {cod} qubits")
