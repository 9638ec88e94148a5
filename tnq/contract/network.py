"""Tensor networks of circuits, as (inputs, output, size_dict, arrays) ready for cotengra.

Structural simplifications are made while building, so that the network's *structure* depends
only on the circuit's gate pattern (not on parameter values or bitstrings) and a contraction tree
found once can be reused:

- runs of one-qubit gates are multiplied together and absorbed into |0> inputs and <b| outputs;
- a gate that is diagonal on some of its qubits (CZ, CP, RZZ, controls of CX...) shares that
  qubit's index instead of creating a new one: a hyperedge, as quimb's diagonal reduction does.

Arrays may be numpy or torch tensors (for autodiff); index names are short strings.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..circuit.gates import numeric_values
from ..compile import Gate

_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


PARAM_BATCH = "pbatch"
"""Index of a stack of circuits with one gate pattern and different parameters (gate matrices with a leading
batch axis); it is the first output axis of their amplitude network."""


@dataclass
class Network:
    """A tensor network: ``inputs[k]`` are the index names of ``arrays[k]``."""

    inputs: list[tuple[str, ...]] = field(default_factory=list)
    arrays: list[Any] = field(default_factory=list)
    output: tuple[str, ...] = ()
    size_dict: dict[str, int] = field(default_factory=dict)

    def add(self, inds: Sequence[str], array: Any) -> None:
        """Add a tensor; an array with one axis more than ``inds`` carries a leading parameter batch
        (a stack of circuits of one gate pattern), which becomes the hyperindex PARAM_BATCH."""
        inds = tuple(inds)
        if array.ndim == len(inds) + 1:
            inds = (PARAM_BATCH, *inds)
        self.inputs.append(inds)
        self.arrays.append(array)
        for ind, dim in zip(inds, array.shape):
            self.size_dict[ind] = int(dim)

    def structure_key(self) -> tuple:
        """Everything a contraction tree depends on (not the array values)."""
        return (tuple(self.inputs), self.output, tuple(sorted(self.size_dict.items())))


def diagonal_slots(matrix: Any, k: int) -> list[int]:
    """Slots j on which the gate never flips qubit j (block diagonal in that qubit); for a stack of
    matrices (leading batch axes), the slots on which every one of them is diagonal."""
    t = np.abs(numeric_values(matrix)).reshape((-1,) + (2,) * (2 * k))
    slots = []
    for j in range(k):
        row, col = 1 + j, 1 + k + j
        flip = np.take(np.take(t, 0, axis=row), 1, axis=col - 1) + np.take(np.take(t, 1, axis=row), 0, axis=col - 1)
        if np.all(flip <= 1e-14):
            slots.append(j)
    return slots


@functools.cache
def _flip_masks(k: int) -> tuple[np.ndarray, ...]:
    """Per slot j, the (row, column) entries of a k-qubit matrix whose row and column differ in qubit j
    (qubit 0 is the most significant bit of the index)."""
    index = np.arange(2**k)
    return tuple(((index[:, None] ^ index[None, :]) >> (k - 1 - j)) & 1 == 1 for j in range(k))


@functools.cache
def _named_diagonal_slots(name: str, k: int) -> list[int]:
    """The slots on which a named gate is diagonal for every parameter value (found at generic values, so a
    special angle that happens to be diagonal does not change the network's structure between bindings)."""
    from ..circuit.gates import GATES, gate_matrix

    spec = GATES[name]
    generic = [0.7071 + 0.3183 * i for i in range(spec.num_params)]
    return diagonal_slots(gate_matrix(name, generic), k)


def _einsum(eq: str, *operands: Any) -> Any:
    if all(isinstance(x, np.ndarray) for x in operands):
        return np.einsum(eq, *operands)
    from autoray import do

    return do("einsum", eq, *operands)


def _conj(array: Any) -> Any:
    return array.conj()


def common_library(gates: Sequence[Gate]) -> tuple[list[Gate], Any]:
    """Put all gate matrices in one array library (torch if any gate is a torch tensor, for
    autograd); returns the gates and a converter for the other arrays of the network."""
    ref = next((g.matrix for g in gates if not isinstance(g.matrix, np.ndarray)), None)
    if ref is None:
        return list(gates), lambda a: a
    import torch

    def convert(a: Any) -> Any:
        return a if isinstance(a, torch.Tensor) else torch.as_tensor(np.array(a, dtype=np.complex128))

    return [Gate(g.wires, convert(g.matrix)) for g in gates], convert


class CircuitNetwork:
    """The ket network of a gate list: |psi> = gates |0...0>, with each wire's open index."""

    def __init__(self, gates: Sequence[Gate], num_wires: int, prefix: str = "k") -> None:
        gates, self.convert = common_library(gates)
        self.num_wires = num_wires
        self.prefix = prefix
        self.tensors: list[tuple[tuple[str, ...], Any]] = []
        self.current = [f"{prefix}{w}_0" for w in range(num_wires)]
        self._count = [0] * num_wires
        self.pending: list[Any | None] = [None] * num_wires  # one-qubit product not yet placed
        self.zero_inputs: set[str] = set()                   # input indices carrying a plain |0>
        self.started = [False] * num_wires                   # has a multi-qubit gate touched the wire
        for gate in gates:
            self._apply(gate)
        for w in range(num_wires):  # wires never touched by multi-qubit gates: just an input vector
            if not self.started[w]:
                self._place_input(w)

    def _new_index(self, wire: int) -> str:
        self._count[wire] += 1
        self.current[wire] = f"{self.prefix}{wire}_{self._count[wire]}"
        return self.current[wire]

    def _place_input(self, wire: int) -> None:
        """|0> on the wire's first index, with any leading one-qubit gates folded in."""
        u = self.pending[wire]
        if u is None:
            self.zero_inputs.add(f"{self.prefix}{wire}_0")
        vec = u[..., :, 0] if u is not None else self.convert(np.array([1.0, 0.0], dtype=np.complex128))
        self.tensors.append(((f"{self.prefix}{wire}_0",), vec))
        self.pending[wire] = None
        self.started[wire] = True

    def _flush(self, wire: int) -> None:
        """Place the pending one-qubit product on a wire already carrying multi-qubit gates."""
        u = self.pending[wire]
        if u is None:
            return
        self.pending[wire] = None
        values = numeric_values(u)
        if np.all(np.abs(values[..., 0, 1]) <= 1e-14) and np.all(np.abs(values[..., 1, 0]) <= 1e-14):
            self.tensors.append(((self.current[wire],), _einsum("...ii->...i", u)))  # diagonal_slots(u, 1), faster
        else:
            old = self.current[wire]
            self.tensors.append(((self._new_index(wire), old), u))

    def _apply(self, gate: Gate) -> None:
        wires, matrix = gate.wires, gate.matrix
        if len(wires) == 1:
            w = wires[0]
            self.pending[w] = matrix if self.pending[w] is None else matrix @ self.pending[w]
            return
        for w in wires:
            if not self.started[w]:
                self._place_input(w)
            else:
                self._flush(w)
        k = len(wires)
        diag = _named_diagonal_slots(gate.op.name, k) if gate.op is not None and gate.op.name != "unitary" \
            else diagonal_slots(matrix, k)
        out_letters, in_letters = _LETTERS[:k], _LETTERS[k:2 * k]
        term_in = "".join(out_letters[j] if j in diag else in_letters[j] for j in range(k))
        kept = [j for j in range(k) if j not in diag]
        # result axes: diagonal slots (shared index), then outputs and inputs of the other slots
        result = "".join(out_letters[j] for j in diag) + "".join(out_letters[j] for j in kept) + \
            "".join(in_letters[j] for j in kept)
        eq = f"...{''.join(out_letters)}{term_in}->...{result}"
        tensor = _einsum(eq, matrix.reshape(tuple(matrix.shape[:-2]) + (2,) * (2 * k)))
        inds = [self.current[wires[j]] for j in diag]
        ins = [self.current[wires[j]] for j in kept]
        outs = [self._new_index(wires[j]) for j in kept]
        self.tensors.append((tuple(inds + outs + ins), tensor))

    # --- closing the network ---------------------------------------------------------------------
    def ket_tensors(self) -> list[tuple[tuple[str, ...], Any]]:
        return list(self.tensors)

    def final_pending(self, wire: int) -> Any | None:
        return self.pending[wire]


def amplitude_network(gates: Sequence[Gate] | CircuitNetwork, num_wires: int, bits: np.ndarray,
                      open_wires: Sequence[int] = ()) -> Network:
    """<b|psi> for one bitstring ``bits`` (shape (n,)). Wires listed in ``open_wires`` are left open
    instead (their entry of ``bits`` is ignored): the network's output index ``o{w}`` for each, in that
    order, so the result is a tensor over them (post-selected amplitudes). ``gates`` may be a prebuilt
    CircuitNetwork, so repeated queries skip rebuilding the ket."""
    circuit = gates if isinstance(gates, CircuitNetwork) else CircuitNetwork(gates, num_wires)
    net = Network()
    for inds, array in circuit.ket_tensors():
        net.add(inds, array)
    open_set = set(open_wires)
    for w in range(num_wires):
        u = circuit.final_pending(w)
        if w in open_set:
            net.add((f"o{w}", circuit.current[w]), u if u is not None else
                    circuit.convert(np.eye(2, dtype=np.complex128)))
            continue
        chosen = int(bits[w])
        row = u[..., chosen, :] if u is not None else circuit.convert(np.eye(2, dtype=np.complex128)[chosen])
        net.add((circuit.current[w],), row)
    net.output = tuple(f"o{w}" for w in open_wires)
    if PARAM_BATCH in net.size_dict:  # a stack of circuits: one result per circuit
        net.output = (PARAM_BATCH, *net.output)
    return net


BATCH = "batch"
"""Index name of the leading axis shared by the stacked tensors of a batch of bitstrings."""


class BasisTemplate:
    """<b|psi> (some wires left open) for any bitstring b with one fixed structure: |0> inputs are sliced
    away once; each output bit fixes its wire's last index, so the few tensors carrying such an index
    (or a last one-qubit gate's row u[b, :]) are the only *variable* tensors, re-sliced per bitstring,
    or gathered for a stack of bitstrings along a leading ``BATCH`` axis. Structure and constant
    arrays do not depend on b, so one tree (and its bitstring-independent steps) serves all of them."""

    def __init__(self, circuit: CircuitNetwork, num_wires: int, open_wires: Sequence[int] = ()) -> None:
        open_set = set(open_wires)
        self.open_wires = tuple(open_wires)
        eye = circuit.convert(np.eye(2, dtype=np.complex128))
        tensors = list(circuit.ket_tensors())
        fixed_by_bit: dict[str, int] = {}
        for w in range(num_wires):
            u = circuit.final_pending(w)
            if w in open_set:
                tensors.append(((f"o{w}", circuit.current[w]), u if u is not None else eye))
            elif u is None:
                fixed_by_bit[circuit.current[w]] = w
            else:  # the row u[b, :]: a pseudo index r{w} fixed by the bit
                tensors.append(((f"r{w}", circuit.current[w]), u))
                fixed_by_bit[f"r{w}"] = w
        zeros = circuit.zero_inputs - set(fixed_by_bit)
        self.inputs: list[tuple[str, ...]] = []
        self.constant: list[Any] = []          # arrays (variable entries hold the bits = 0 slice)
        self.variable: list[int] = []          # positions of variable tensors
        self.sources: list[tuple[Any, tuple[int, ...]]] = []  # per variable tensor: array with bit axes first, wires
        for inds, array in tensors:
            if len(inds) == 1 and inds[0] in zeros:
                continue
            for x in [i for i in inds if i in zeros]:
                pos = inds.index(x)
                array = array[(slice(None),) * pos + (0,)]
                inds = inds[:pos] + inds[pos + 1:]
            axes = [k for k, i in enumerate(inds) if i in fixed_by_bit]
            if axes:
                moved = _movedim(array, axes)
                self._add_variable(tuple(i for i in inds if i not in fixed_by_bit), moved,
                                   tuple(fixed_by_bit[inds[k]] for k in axes))
            else:
                self.inputs.append(tuple(inds))
                self.constant.append(array)
        self.output = tuple(f"o{w}" for w in self.open_wires)
        self.size_dict = {i: 2 for inds in self.inputs for i in inds}

    def _add_variable(self, inds: tuple[str, ...], moved: Any, wires: tuple[int, ...]) -> None:
        self.variable.append(len(self.inputs))
        self.sources.append((moved, wires))
        self.inputs.append(inds)
        self.constant.append(moved[(0,) * len(wires)])

    def network(self, bits: np.ndarray | None = None) -> Network:
        """The network for one bitstring (``bits`` over all wires; entries of open wires are ignored)."""
        arrays = list(self.constant)
        if bits is not None:
            for pos, array in self.variable_arrays(bits).items():
                arrays[pos] = array
        return Network(list(self.inputs), arrays, self.output, dict(self.size_dict))

    def variable_arrays(self, bits: np.ndarray) -> dict[int, Any]:
        return {pos: moved[tuple(int(bits[w]) for w in wires)]
                for pos, (moved, wires) in zip(self.variable, self.sources)}

    def batch_network(self, size: int) -> Network:
        """The structure for ``size`` bitstrings at once: variable tensors get a leading BATCH axis
        (the arrays are those of bits = 0, repeated), and BATCH is the first output axis."""
        net = self.network()
        var = set(self.variable)
        net.inputs = [((BATCH, *inds) if k in var else inds) for k, inds in enumerate(net.inputs)]
        net.arrays = [_repeat(a, size) if k in var else a for k, a in enumerate(net.arrays)]
        net.output = (BATCH, *self.output)
        net.size_dict[BATCH] = size
        if not self.variable:  # nothing depends on the bits: broadcast the single value
            net.inputs.append((BATCH,))
            net.arrays.append(np.ones(size, dtype=np.complex128))
        return net

    def batch_arrays(self, bits: np.ndarray) -> dict[int, Any]:
        """Variable arrays for a stack of bitstrings ``bits`` (shape (size, wires))."""
        out = {}
        for pos, (moved, wires) in zip(self.variable, self.sources):
            index = tuple(_index_like(moved, bits[:, w]) for w in wires)
            out[pos] = moved[index]
        return out


def _movedim(array: Any, axes: Sequence[int]) -> Any:
    if isinstance(array, np.ndarray):
        return np.moveaxis(array, list(axes), list(range(len(axes))))
    return array.movedim(tuple(axes), tuple(range(len(axes))))


def _repeat(array: Any, size: int) -> Any:
    if isinstance(array, (np.ndarray, np.generic)):
        return np.broadcast_to(np.asarray(array), (size, *np.shape(array)))
    return array.unsqueeze(0).expand(size, *array.shape)


def _index_like(array: Any, column: np.ndarray) -> Any:
    column = np.asarray(column, dtype=np.int64)
    if isinstance(array, np.ndarray):
        return column
    import torch

    return torch.as_tensor(column)


def _doubled(gates: Sequence[Gate], num_wires: int) -> tuple[CircuitNetwork, CircuitNetwork, Network]:
    ket = CircuitNetwork(gates, num_wires, prefix="k")
    bra = CircuitNetwork([Gate(g.wires, _conj(g.matrix)) for g in gates], num_wires, prefix="b")
    net = Network()
    for inds, array in ket.ket_tensors() + bra.ket_tensors():
        net.add(inds, array)
    return ket, bra, net


def expectation_network(gates: Sequence[Gate], num_wires: int, ops: dict[int, Any]) -> Network:
    """<psi| prod_w ops[w] |psi> (one-qubit operators on wires); other wires are traced out."""
    ket, bra, net = _doubled(gates, num_wires)
    joined = {}
    for w in range(num_wires):
        u = ket.final_pending(w)
        if w in ops:
            op = ket.convert(ops[w])
            op = op if u is None else _conj(u).T @ op @ u
            net.add((bra.current[w], ket.current[w]), op)
        else:  # U^dag U = I: join the bra and ket indices
            joined[bra.current[w]] = ket.current[w]
    _rename(net, joined)
    return net


def marginal_network(gates: Sequence[Gate], num_wires: int, wires: Sequence[int]) -> Network:
    """Probabilities of the given wires' outcomes: output axes in ``wires`` order."""
    ket, bra, net = _doubled(gates, num_wires)
    joined = {}
    for w in range(num_wires):
        u = ket.final_pending(w)
        if w in wires:
            o = f"o{w}"
            eye = ket.convert(np.eye(2, dtype=np.complex128))
            net.add((o, ket.current[w]), u if u is not None else eye)
            net.add((o, bra.current[w]), _conj(u) if u is not None else eye)
        else:
            joined[bra.current[w]] = ket.current[w]
    _rename(net, joined)
    net.output = tuple(f"o{w}" for w in wires)
    return net


def _rename(net: Network, mapping: dict[str, str]) -> None:
    """Identify indices (``old -> new``) throughout the network."""
    net.inputs = [tuple(mapping.get(i, i) for i in inds) for inds in net.inputs]
    for old in mapping:
        net.size_dict.pop(old, None)


def absorb_basis_vectors(net: Network) -> Network:
    """Column reduction for basis states: a one-hot vector on an index (|0> inputs, <b| outputs)
    fixes that index, so every tensor sharing it is sliced and the index disappears. Which indices
    are fixed does not depend on the bitstring, so trees stay reusable across bitstrings."""
    fixed: dict[str, int] = {}
    keep = []
    for k, (inds, array) in enumerate(zip(net.inputs, net.arrays)):
        if len(inds) == 1 and inds[0] not in fixed and inds[0] not in net.output:
            values = numeric_values(array)
            nonzero = np.flatnonzero(np.abs(values) > 0)
            if len(nonzero) == 1 and values[nonzero[0]] == 1:
                fixed[inds[0]] = int(nonzero[0])
                continue
        keep.append(k)
    if not fixed:
        return net
    out = Network(output=net.output)
    for k in keep:
        inds, array = list(net.inputs[k]), net.arrays[k]
        for x in [i for i in inds if i in fixed]:
            pos = inds.index(x)
            sliced = array[(slice(None),) * pos + (fixed[x],)]
            array = np.asarray(sliced) if isinstance(array, np.ndarray) else sliced
            inds = inds[:pos] + inds[pos + 1:]
        out.add(inds, array)
    return out
