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
from typing import Any, NamedTuple

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


def common_library(matrices: Sequence[Any]) -> tuple[list[Any], Any]:
    """Put all gate matrices in one array library (torch if any is a torch tensor, for autograd);
    returns the matrices and a converter for the other arrays of the network."""
    if all(isinstance(m, np.ndarray) for m in matrices):
        return list(matrices), _same
    import torch

    def convert(a: Any) -> Any:
        return a if isinstance(a, torch.Tensor) else torch.as_tensor(np.array(a, dtype=np.complex128))

    return [convert(m) for m in matrices], convert


def _same(array: Any) -> Any:
    return array


class CircuitNetwork:
    """The ket network of a gate list: |psi> = gates |0...0>, with each wire's open index.

    Built in two parts so that re-building it for new gate values (new parameters) is a few array
    operations: the *layout* (which tensor sits on which indices, from the gate pattern and the
    diagonality found in the values) is cached, and the *values* are computed vectorised: all runs of
    one-qubit gates multiplied at once, all multi-qubit gates of one kind reshaped at once."""

    def __init__(self, gates: Sequence[Gate], num_wires: int, prefix: str = "k") -> None:
        self.num_wires = num_wires
        self.prefix = prefix
        wires = tuple(g.wires for g in gates)
        runs = _runs(wires, num_wires)
        matrices = [g.matrix for g in gates]
        if all(type(m) is np.ndarray and m.ndim == 2 for m in matrices):  # the common case, checked in one pass
            self.convert, batch = _same, ()
        else:
            matrices, self.convert = common_library(matrices)
            batch = _batch_shape(matrices)
        products = _run_products(matrices, runs, batch, self.convert)
        flush_diagonal = _flush_diagonal(products, runs)
        multi_diagonal = tuple(_gate_diagonal_slots(gates[p]) for p in runs.multi)
        layout = _layout(wires, num_wires, prefix, multi_diagonal, flush_diagonal)
        gate_tensors = _gate_tensors([matrices[p] for p in runs.multi], multi_diagonal, batch)
        self.layout = layout
        self.current = list(layout.current)
        self.zero_inputs = set(layout.zero_inputs)
        columns = products[..., :, 0] if products is not None else None
        diagonals = _einsum("...ii->...i", products) if products is not None else None
        zero = self.convert(np.array([1.0, 0.0], dtype=np.complex128))
        sources = {"zero": lambda i: zero, "column": lambda r: columns[r], "diagonal": lambda r: diagonals[r],
                   "full": lambda r: products[r], "gate": lambda g: gate_tensors[g]}
        self.tensors: list[tuple[tuple[str, ...], Any]] = [(inds, sources[kind](i)) for inds, kind, i in
                                                            layout.tensors]
        self._final = [None if r < 0 else products[r] for r in runs.final]

    # --- closing the network ---------------------------------------------------------------------
    def ket_tensors(self) -> list[tuple[tuple[str, ...], Any]]:
        return list(self.tensors)

    def final_pending(self, wire: int) -> Any | None:
        """The product of the one-qubit gates after the wire's last multi-qubit gate (None: no such gate)."""
        return self._final[wire]


class _Runs(NamedTuple):
    """Where a gate pattern's one-qubit gates go: ``runs[r]`` are the positions of run r (one-qubit gates
    in a row on one wire, multiplied into one matrix); ``ends[r]`` says where run r is placed ("input":
    folded into the wire's |0>, "flush": a tensor before a multi-qubit gate, "final": left for the output);
    ``multi`` are the positions of multi-qubit gates; ``final[w]`` is wire w's final run (-1: none).
    ``members`` lists every one-qubit gate's position and ``table[r, j]`` is the j-th gate of run r as an
    index into ``members`` (``len(members)``, an identity, past the run's end)."""

    runs: tuple[tuple[int, ...], ...]
    ends: tuple[str, ...]
    multi: tuple[int, ...]
    final: tuple[int, ...]
    members: tuple[int, ...]
    table: np.ndarray


@functools.lru_cache(maxsize=64)
def _runs(wires: tuple[tuple[int, ...], ...], num_wires: int) -> _Runs:
    runs: list[list[int]] = []
    ends: list[str] = []
    open_run = [-1] * num_wires
    started = [False] * num_wires
    multi = []
    for p, ws in enumerate(wires):
        if len(ws) == 1:
            w = ws[0]
            if open_run[w] < 0:
                open_run[w] = len(runs)
                runs.append([])
                ends.append("final")
            runs[open_run[w]].append(p)
            continue
        for w in ws:
            if open_run[w] >= 0:
                ends[open_run[w]] = "flush" if started[w] else "input"
                open_run[w] = -1
            started[w] = True
        multi.append(p)
    for w in range(num_wires):  # wires never touched by multi-qubit gates: the run becomes the input
        if not started[w] and open_run[w] >= 0:
            ends[open_run[w]] = "input"
            open_run[w] = -1
    members = sorted(p for run in runs for p in run)
    slot = {p: k for k, p in enumerate(members)}
    table = np.full((len(runs), max(map(len, runs), default=0)), len(members), dtype=np.int64)
    for r, run in enumerate(runs):
        table[r, :len(run)] = [slot[p] for p in run]
    return _Runs(tuple(map(tuple, runs)), tuple(ends), tuple(multi), tuple(open_run), tuple(members), table)


class _Layout(NamedTuple):
    """The ket network's tensors as (indices, source kind, source number), its final index per wire and
    the input indices carrying a plain |0>."""

    tensors: tuple[tuple[tuple[str, ...], str, int], ...]
    current: tuple[str, ...]
    zero_inputs: frozenset[str]


@functools.lru_cache(maxsize=64)
def _layout(wires: tuple[tuple[int, ...], ...], num_wires: int, prefix: str,
            multi_diagonal: tuple[tuple[int, ...], ...], flush_diagonal: tuple[bool, ...]) -> _Layout:
    """Walk the gate pattern once: indices of every tensor, with the same structural simplifications
    as the module docstring lists (one-qubit runs absorbed, diagonal slots sharing their index)."""
    runs = _runs(wires, num_wires)
    run_of = {p: r for r, members in enumerate(runs.runs) for p in members[-1:]}  # a run ends at its last gate
    flush_rank = {r: k for k, r in enumerate(r for r, e in enumerate(runs.ends) if e == "flush")}
    count = [0] * num_wires
    current = [f"{prefix}{w}_0" for w in range(num_wires)]
    started = [False] * num_wires
    pending = [-1] * num_wires
    tensors: list[tuple[tuple[str, ...], str, int]] = []
    zero_inputs: set[str] = set()

    def new_index(w: int) -> str:
        count[w] += 1
        current[w] = f"{prefix}{w}_{count[w]}"
        return current[w]

    def place_input(w: int) -> None:
        r = pending[w]
        if r < 0:
            zero_inputs.add(current[w])
        tensors.append(((current[w],), "zero" if r < 0 else "column", r))
        pending[w], started[w] = -1, True

    def flush(w: int) -> None:
        r = pending[w]
        if r < 0:
            return
        pending[w] = -1
        if flush_diagonal[flush_rank[r]]:
            tensors.append(((current[w],), "diagonal", r))
        else:
            old = current[w]
            tensors.append(((new_index(w), old), "full", r))

    multi_rank = {p: k for k, p in enumerate(runs.multi)}
    for p, ws in enumerate(wires):
        if len(ws) == 1:
            if p in run_of:
                pending[ws[0]] = run_of[p]
            continue
        for w in ws:
            if not started[w]:
                place_input(w)
            else:
                flush(w)
        diag = multi_diagonal[multi_rank[p]]
        kept = [j for j in range(len(ws)) if j not in diag]
        inds = [current[ws[j]] for j in diag]
        ins = [current[ws[j]] for j in kept]
        outs = [new_index(ws[j]) for j in kept]
        tensors.append((tuple(inds + outs + ins), "gate", multi_rank[p]))
    for w in range(num_wires):
        if not started[w]:
            place_input(w)
    return _Layout(tuple(tensors), tuple(current), frozenset(zero_inputs))


def _batch_shape(matrices: Sequence[Any]) -> tuple[int, ...]:
    """The common leading (parameter batch) shape of the gate matrices."""
    shapes = {m.shape[:-2] for m in matrices}
    if len(shapes) <= 1:
        return tuple(shapes.pop()) if shapes else ()
    return tuple(np.broadcast_shapes(*shapes))


def _stack(arrays: Sequence[Any], batch: tuple[int, ...]) -> Any:
    """Stack same-size matrices along a new first axis, broadcasting each to the common batch shape."""
    if all(isinstance(a, np.ndarray) for a in arrays):
        if not batch:
            return np.array(arrays)  # faster than np.stack for many small matrices
        return np.stack([np.broadcast_to(a, batch + a.shape[-2:]) for a in arrays])
    import torch

    return torch.stack([torch.as_tensor(a).to(torch.complex128).expand(*batch, *a.shape[-2:]) for a in arrays])


def _take(stack: Any, index: np.ndarray) -> Any:
    return stack[_index_like(stack, index)]


def _run_products(matrices: Sequence[Any], runs: _Runs, batch: tuple[int, ...], convert: Any) -> Any:
    """Each run's product (later gates on the left) as one stack (runs, *batch, 2, 2): runs are padded
    with identities to the longest, and step j multiplies every run's j-th gate at once."""
    if not runs.runs:
        return None
    stack = _stack([matrices[p] for p in runs.members] + [convert(np.eye(2, dtype=np.complex128))], batch)
    table = runs.table
    products = _take(stack, table[:, 0])
    for j in range(1, table.shape[1]):
        products = _take(stack, table[:, j]) @ products
    return products


def _flush_diagonal(products: Any, runs: _Runs) -> tuple[bool, ...]:
    """Per run placed before a multi-qubit gate: is its product diagonal (for every batch entry)? A diagonal
    one shares its wire's index instead of opening a new one."""
    flushed = [r for r, e in enumerate(runs.ends) if e == "flush"]
    if not flushed:
        return ()
    values = np.abs(numeric_values(products)[flushed])
    off = np.maximum(values[..., 0, 1], values[..., 1, 0]).reshape(len(flushed), -1)
    return tuple(bool(x) for x in np.all(off <= 1e-14, axis=1))


def _gate_diagonal_slots(gate: Gate) -> tuple[int, ...]:
    k = len(gate.wires)
    if gate.op is not None and gate.op.name != "unitary":
        return tuple(_named_diagonal_slots(gate.op.name, k))
    return tuple(diagonal_slots(gate.matrix, k))


def _gate_tensors(matrices: Sequence[Any], diagonal: Sequence[tuple[int, ...]], batch: tuple[int, ...]) -> list[Any]:
    """Multi-qubit gate matrices as tensors: axes (shared diagonal slots, outputs, inputs of the other
    slots), one einsum per group of gates with equal size and diagonal slots."""
    groups: dict[tuple[int, tuple[int, ...]], list[int]] = {}
    for g, (matrix, diag) in enumerate(zip(matrices, diagonal)):
        groups.setdefault((int(matrix.shape[-1]).bit_length() - 1, diag), []).append(g)
    out: list[Any] = [None] * len(matrices)
    for (k, diag), members in groups.items():
        stack = _stack([matrices[g] for g in members], batch)
        out_letters, in_letters = _LETTERS[:k], _LETTERS[k:2 * k]
        term_in = "".join(out_letters[j] if j in diag else in_letters[j] for j in range(k))
        kept = [j for j in range(k) if j not in diag]
        result = "".join(out_letters[j] for j in diag) + "".join(out_letters[j] for j in kept) + \
            "".join(in_letters[j] for j in kept)
        tensors = _einsum(f"...{''.join(out_letters)}{term_in}->...{result}",
                          stack.reshape(tuple(stack.shape[:-2]) + (2,) * (2 * k)))
        for i, g in enumerate(members):
            out[g] = tensors[i]
    return out


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
        self.open_wires = tuple(open_wires)
        has_final = tuple(circuit.final_pending(w) is not None for w in range(num_wires))
        plan = _basis_plan(circuit.layout, has_final, num_wires, self.open_wires)
        eye = circuit.convert(np.eye(2, dtype=np.complex128))
        tensors = [array for _, array in circuit.ket_tensors()]
        tensors += [eye if circuit.final_pending(w) is None else circuit.final_pending(w) for w in plan.finals]
        self.inputs = list(plan.inputs)
        self.variable = list(plan.variable)
        self.constant: list[Any] = []          # arrays (variable entries hold the bits = 0 slice)
        self.sources: list[tuple[Any, tuple[int, ...]]] = []  # per variable tensor: array with bit axes first, wires
        for source, slicer, axes, wires in plan.entries:
            array = tensors[source] if slicer is None else tensors[source][slicer]
            if axes:
                moved = _movedim(array, axes)
                self.sources.append((moved, wires))
                array = moved[(0,) * len(wires)]
            self.constant.append(array)
        self.output = tuple(f"o{w}" for w in self.open_wires)
        self.size_dict = {i: 2 for inds in self.inputs for i in inds}

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


class _BasisPlan(NamedTuple):
    """How a BasisTemplate is cut from a ket layout: per kept tensor (source number: a ket tensor, or
    ``len(ket) + j`` for the j-th wire in ``finals``, whose last one-qubit product or identity closes it),
    the slicer removing |0> input indices (None: none), and for tensors carrying a bit-fixed index the
    axes moved to the front and their wires."""

    entries: tuple[tuple[int, tuple | None, tuple[int, ...], tuple[int, ...]], ...]
    inputs: tuple[tuple[str, ...], ...]
    variable: tuple[int, ...]
    finals: tuple[int, ...]


@functools.lru_cache(maxsize=64)
def _basis_plan(layout: _Layout, has_final: tuple[bool, ...], num_wires: int,
                open_wires: tuple[int, ...]) -> _BasisPlan:
    tensors = [inds for inds, _, _ in layout.tensors]
    finals: list[int] = []
    fixed_by_bit: dict[str, int] = {}
    for w in range(num_wires):
        if w in open_wires:
            tensors.append((f"o{w}", layout.current[w]))
            finals.append(w)
        elif not has_final[w]:
            fixed_by_bit[layout.current[w]] = w
        else:  # the row u[b, :]: a pseudo index r{w} fixed by the bit
            tensors.append((f"r{w}", layout.current[w]))
            finals.append(w)
            fixed_by_bit[f"r{w}"] = w
    zeros = layout.zero_inputs - set(fixed_by_bit)
    entries, inputs, variable = [], [], []
    for source, inds in enumerate(tensors):
        # the |0> input itself is dropped; a diagonal gate run on a still-|0> index is kept, sliced to its phase
        if source < len(layout.tensors) and layout.tensors[source][1] == "zero" and inds[0] in zeros:
            continue
        slicer = tuple(0 if i in zeros else slice(None) for i in inds) if any(i in zeros for i in inds) else None
        inds = tuple(i for i in inds if i not in zeros)
        axes = tuple(k for k, i in enumerate(inds) if i in fixed_by_bit)
        if axes:
            variable.append(len(inputs))
        entries.append((source, slicer, axes, tuple(fixed_by_bit[inds[k]] for k in axes)))
        inputs.append(tuple(i for i in inds if i not in fixed_by_bit))
    return _BasisPlan(tuple(entries), tuple(inputs), tuple(variable), tuple(finals))


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
