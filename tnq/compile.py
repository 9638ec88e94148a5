"""Lowering passes from a Circuit to the flat gate list that backends execute.

1. ``lower``: bound gates as (qubits, matrix); SWAP gates become a relabelling of which wire holds
   which qubit (free, and it keeps an MPS from blowing up on QFT's bit reversal).
2. ``fuse``: single-qubit gates folded into neighbouring multi-qubit gates, and consecutive gates on
   the same qubits multiplied together, so each two-qubit block costs one SVD.
3. ``lightcone``: only the gates in the reverse lightcone of an observable, dropping trailing
   diagonal gates that commute with a diagonal observable.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from .circuit import Circuit
from .circuit.gates import is_diagonal
from .errors import CircuitError


class Gate(NamedTuple):
    """A bound gate on wires, its matrix big-endian in ``wires`` order."""

    wires: tuple[int, ...]
    matrix: np.ndarray


class Lowered(NamedTuple):
    gates: list[Gate]
    wire_of: np.ndarray
    """``wire_of[q]``: the wire that holds qubit q at the end (after relabelled SWAPs)."""


def lower(circuit: Circuit, relabel_swaps: bool = True) -> Lowered:
    """Bound gates of ``circuit`` on wires; raises if parameters are still symbolic."""
    if circuit.parameters:
        raise CircuitError(f"circuit has unbound parameters {circuit.parameters}; call circuit.bind(...) first")
    wire_of = np.arange(circuit.num_qubits)
    gates: list[Gate] = []
    for op in circuit.gates():
        if op.name == "id":
            continue
        if relabel_swaps and op.name == "swap":
            a, b = op.qubits
            wire_of[a], wire_of[b] = wire_of[b], wire_of[a]
            continue
        gates.append(Gate(tuple(int(wire_of[q]) for q in op.qubits), op.unitary()))
    return Lowered(gates, wire_of)


def permute_gate(matrix: np.ndarray, order: Sequence[int]) -> np.ndarray:
    """Reorder a gate's qubits: the result's qubit j is the input's qubit ``order[j]``."""
    k = len(order)
    if list(order) == list(range(k)):
        return matrix
    t = matrix.reshape((2,) * (2 * k)).transpose(list(order) + [k + o for o in order])
    return t.reshape(2**k, 2**k)


def embed(matrix: np.ndarray, position: int, k: int) -> np.ndarray:
    """A one-qubit matrix acting on slot ``position`` of a k-qubit gate."""
    left, right = np.eye(2**position), np.eye(2 ** (k - position - 1))
    return np.kron(np.kron(left, matrix), right)


def fuse(gates: Sequence[Gate]) -> list[Gate]:
    """Fold one-qubit gates into multi-qubit gates and merge consecutive gates on the same wires."""
    out: list[Gate | None] = []
    last: dict[int, int] = {}            # wire -> index in out of the last gate touching it
    pending: dict[int, np.ndarray] = {}  # wire -> one-qubit product seen before any multi-qubit gate
    for gate in gates:
        wires, matrix = gate
        if len(wires) == 1:
            w = wires[0]
            if w in last:  # fold into the last gate on this wire (later gates elsewhere commute)
                prev = out[last[w]]
                out[last[w]] = Gate(prev.wires, embed(matrix, prev.wires.index(w), len(prev.wires)) @ prev.matrix)
            else:
                pending[w] = matrix @ pending[w] if w in pending else matrix
            continue
        for slot, w in enumerate(wires):
            if w in pending:
                matrix = matrix @ embed(pending.pop(w), slot, len(wires))
        previous = {last.get(w) for w in wires}
        if len(previous) == 1 and None not in previous:
            p = previous.pop()
            prev = out[p]
            if set(prev.wires) == set(wires):
                order = [wires.index(w) for w in prev.wires]
                out[p] = Gate(prev.wires, permute_gate(matrix, order) @ prev.matrix)
                continue
        out.append(Gate(tuple(wires), matrix))
        for w in wires:
            last[w] = len(out) - 1
    result = [g for g in out if g is not None]
    result += [Gate((w,), m) for w, m in sorted(pending.items())]
    return result


def lightcone(gates: Sequence[Gate], support: Sequence[int], diagonal_observable: bool) -> list[Gate]:
    """Gates in the reverse lightcone of wires ``support``. With a diagonal (Z-type) observable,
    trailing diagonal gates on still-untouched wires commute with it and are dropped too."""
    active = set(support)  # wires the Heisenberg-evolved observable acts on
    touched: set[int] = set()  # wires of kept gates; elsewhere the observable is still the original
    kept: list[Gate] = []
    for gate in reversed(gates):
        wires = set(gate.wires)
        if not wires & active:
            continue
        if diagonal_observable and not wires & touched and is_diagonal(gate.matrix):
            continue
        kept.append(gate)
        active |= wires
        touched |= wires
    return kept[::-1]


def compact(gates: Sequence[Gate], keep: Sequence[int]) -> tuple[list[Gate], dict[int, int]]:
    """Renumber the wires used by ``gates`` and in ``keep`` to 0..m-1, preserving order."""
    used = sorted(set(keep).union(*(g.wires for g in gates)))
    index = {w: i for i, w in enumerate(used)}
    return [Gate(tuple(index[w] for w in g.wires), g.matrix) for g in gates], index
