"""Lowering passes from a Circuit to the flat gate list that backends execute.

1. ``lower``: bound gates as (qubits, matrix); SWAP gates become a relabelling of which wire holds
   which qubit (free, and it keeps an MPS from blowing up on QFT's bit reversal).
2. ``fuse``: single-qubit gates folded into neighbouring multi-qubit gates, and consecutive gates on
   the same qubits multiplied together, so each two-qubit block costs one SVD.
3. ``lightcone``: only the gates in the reverse lightcone of an observable, dropping trailing
   diagonal gates that commute with a diagonal observable.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

import numpy as np

from .circuit import Circuit, Operation
from .circuit.circuit import NON_UNITARY
from .circuit.gates import gate_matrix, is_diagonal
from .errors import CircuitError


class Gate:
    """A gate on wires; its matrix (big-endian in ``wires`` order) is built on first use, so passes
    that only look at structure (the lightcone) never pay for matrices they drop."""

    __slots__ = ("wires", "_matrix", "op", "source")

    def __init__(self, wires: tuple[int, ...], matrix: Any = None, op: Operation | None = None,
                 source: str | None = None) -> None:
        self.wires = tuple(wires)
        self._matrix = matrix
        self.op = op
        # ``file:line`` the gate was read from (a fused gate: its multi-qubit gate's), for error messages
        self.source = source if source is not None or op is None else op.source

    @property
    def matrix(self) -> Any:
        if self._matrix is None:
            self._matrix = self.op.unitary()  # type: ignore[union-attr]
        return self._matrix

    @property
    def diagonal(self) -> bool:
        """Diagonal gates commute with Z-type observables; named gates know without a matrix."""
        if self._matrix is None and self.op is not None and self.op.name != "unitary":
            return self.op.diagonal
        return is_diagonal(self.matrix)

    def moved(self, wires: Sequence[int]) -> Gate:
        """The same gate on other wires (matrix not built if not built yet)."""
        return Gate(tuple(wires), self._matrix, self.op, self.source)

    def __repr__(self) -> str:
        return f"Gate({list(self.wires)}, {self.op.name if self.op is not None else 'matrix'})"


SKIPPED = ("id", *NON_UNITARY)
"""Operations that lowering drops: identities, measurements and barriers."""

BATCH_BUILD_MIN = 4
"""Gate kinds with at least this many unbuilt gates get their matrices in one vectorised construction."""


def build_matrices(gates: Sequence[Gate]) -> None:
    """Build the matrices of gates not built yet, one vectorised construction per parameterised gate kind
    (a circuit's hundreds of rotations cost a few array operations instead of hundreds of small ones).
    Parameters may be numbers or torch scalars (stacked, so autograd still reaches each one)."""
    groups: dict[str, list[Gate]] = {}
    for g in gates:
        if g._matrix is None and g.op is not None and g.op.name != "unitary" and g.op.params:
            groups.setdefault(g.op.name, []).append(g)
    for name, members in groups.items():
        if len(members) < BATCH_BUILD_MIN:
            continue
        columns = list(zip(*(g.op.params for g in members)))
        if all(isinstance(v, (int, float, np.floating, np.integer)) for column in columns for v in column):
            params = [np.asarray(column, dtype=np.float64) for column in columns]
        elif all(type(v).__name__ == "Tensor" for column in columns for v in column):
            import torch

            params = [torch.stack([torch.as_tensor(v, dtype=torch.float64) for v in column]) for column in columns]
        else:
            continue  # mixed numbers and tensors, or complex values: built one by one on demand
        stack = gate_matrix(name, params)
        for g, matrix in zip(members, stack):
            g._matrix = matrix


DYNAMIC_WHAT = "a mid-circuit measurement, reset or classically controlled operation"
"""What makes a circuit dynamic (``Circuit.dynamic_operation``), as error messages say it."""


class Lowered(NamedTuple):
    gates: list[Gate]
    wire_of: np.ndarray
    """``wire_of[q]``: the wire that holds qubit q at the end (after relabelled SWAPs)."""


def lower(circuit: Circuit, relabel_swaps: bool = True, symbolic: bool = False) -> Lowered:
    """Gates of ``circuit`` on wires; raises if parameters are still symbolic, unless ``symbolic`` (the gates
    then keep their symbols, for ``tnq.parametric.ParametricGates`` to bind)."""
    dynamic = circuit.dynamic_operation()
    if dynamic is not None:
        raise CircuitError(f"{dynamic.where}: {DYNAMIC_WHAT}: the circuit has no single final state; sample it "
                           "with tnq.sample(circuit, shots)")
    wire_of = list(range(circuit.num_qubits))  # a list: indexing it is much faster than a numpy array
    gates: list[Gate] = []
    for op in circuit.ops:
        if op.name in SKIPPED:
            continue
        if not symbolic and op.params and op.is_symbolic:
            raise CircuitError(f"circuit has unbound parameters {circuit.parameters}; call circuit.bind(...) first")
        if relabel_swaps and op.name == "swap":
            a, b = op.qubits
            wire_of[a], wire_of[b] = wire_of[b], wire_of[a]
            continue
        gates.append(Gate(tuple(wire_of[q] for q in op.qubits), op=op))
    return Lowered(gates, np.array(wire_of, dtype=np.int64))


def permute_gate(matrix: np.ndarray, order: Sequence[int]) -> np.ndarray:
    """Reorder a gate's qubits: the result's qubit j is the input's qubit ``order[j]``."""
    k = len(order)
    if list(order) == list(range(k)):
        return matrix
    t = matrix.reshape((2,) * (2 * k)).transpose(list(order) + [k + o for o in order])
    return t.reshape(2**k, 2**k)


def apply_to_slot(u: np.ndarray, matrix: np.ndarray, slot: int, after: bool) -> np.ndarray:
    """``(u on slot) @ matrix`` if ``after`` else ``matrix @ (u on slot)``, without building kron."""
    k = int(matrix.shape[0]).bit_length() - 1
    if after:  # act on the output (row) index
        t = matrix.reshape(2**slot, 2, -1)
        return np.matmul(u, t).reshape(2**k, 2**k)
    t = matrix.reshape(-1, 2, 2 ** (k - slot - 1))  # act on the input (column) index
    return np.einsum("xby,bc->xcy", t, u).reshape(2**k, 2**k)


def fuse(gates: Sequence[Gate]) -> list[Gate]:
    """Fold one-qubit gates into multi-qubit gates and merge consecutive gates on the same wires."""
    out: list[Gate | None] = []
    last: dict[int, int] = {}            # wire -> index in out of the last gate touching it
    pending: dict[int, np.ndarray] = {}  # wire -> one-qubit product seen before any multi-qubit gate
    for gate in gates:
        wires, matrix = gate.wires, gate.matrix
        if len(wires) == 1:
            w = wires[0]
            if w in last:  # fold into the last gate on this wire (later gates elsewhere commute)
                prev = out[last[w]]
                out[last[w]] = Gate(prev.wires, apply_to_slot(matrix, prev.matrix, prev.wires.index(w), True),
                                    source=prev.source)
            else:
                pending[w] = matrix @ pending[w] if w in pending else matrix
            continue
        for slot, w in enumerate(wires):
            if w in pending:
                matrix = apply_to_slot(pending.pop(w), matrix, slot, False)
        previous = {last.get(w) for w in wires}
        if len(previous) == 1 and None not in previous:
            p = previous.pop()
            prev = out[p]
            if set(prev.wires) == set(wires):
                order = [wires.index(w) for w in prev.wires]
                out[p] = Gate(prev.wires, permute_gate(matrix, order) @ prev.matrix, source=prev.source)
                continue
        out.append(Gate(tuple(wires), matrix, source=gate.source))
        for w in wires:
            last[w] = len(out) - 1
    result = [g for g in out if g is not None]
    result += [Gate((w,), m) for w, m in sorted(pending.items())]
    return result


def lightcone(gates: Sequence[Gate], support: Sequence[int], diagonal_observable: bool | Iterable[int]) -> list[Gate]:
    """Gates in the reverse lightcone of an observable on wires ``support``.

    Walking backwards (Heisenberg picture), each wire's operator is identity, diagonal (Z-type) or
    general. A diagonal gate whose wires all carry identity or diagonal operators commutes with the
    evolved observable and is dropped; a kept diagonal gate only spreads diagonal operators, so a
    layer of commuting ZZ rotations (QAOA) does not chain the lightcone around a ring.
    ``diagonal_observable``: the support wires where the observable is diagonal (True: all of them).
    """
    diagonal = set(support) if diagonal_observable is True else set(diagonal_observable or ())
    kind = {w: ("diagonal" if w in diagonal else "general") for w in support}
    kept: list[Gate] = []
    for gate in reversed(gates):
        wires = gate.wires
        if not any(w in kind for w in wires):
            continue
        if all(kind.get(w) != "general" for w in wires) and gate.diagonal:
            continue  # commutes with the evolved observable
        kept.append(gate)
        spread = "diagonal" if gate.diagonal else "general"
        for w in wires:
            if kind.get(w) != "general":
                kind[w] = spread
    return kept[::-1]


def compact(gates: Sequence[Gate], keep: Sequence[int]) -> tuple[list[Gate], dict[int, int]]:
    """Renumber the wires used by ``gates`` and in ``keep`` to 0..m-1, preserving order."""
    used = sorted(set(keep).union(*(g.wires for g in gates)))
    index = {w: i for i, w in enumerate(used)}
    return [g.moved([index[w] for w in g.wires]) for g in gates], index
