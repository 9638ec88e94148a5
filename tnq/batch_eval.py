"""Many parameterised circuits, post-selected, evaluated together for new parameter values.

Training a classifier on circuits (one per sentence, per protein, per window) evaluates the same few thousand
circuits with a new parameter vector at every step. ``ParametricBatch`` prepares them once:

- every circuit is lowered once and its symbolic gates grouped by kind (``tnq.parametric.ParametricGates``),
  so a new binding builds all rotation matrices of a kind in one vectorised construction;
- circuits with one *gate pattern* (same gates on the same qubits, same fixed and open qubits; only the angles
  differ) form a group, contracted as one stacked network whose parameterised gates carry a leading batch axis;
- each network is contracted along a tree cached by structure, found by default with cotengra's plain greedy
  search (deterministic, milliseconds even for chains of thousands of gates, and optimal enough for the chain,
  tree and window shapes of sentence and protein circuits); ``optimize="auto"`` / ``"hyper"`` search harder;
- every tensor is divided by its largest entry before the contraction and the factors are kept as logarithms
  (``scaled_amplitudes``), so post-selecting thousands of qubits (a protein of 2,000 residues) does not turn the
  probabilities into 0 / 0: amplitudes of 1e-400 are 0 in float64, their ratios are not.

Values may be a numpy vector or a torch tensor (results are then torch, and differentiable)::

    from tnq.batch_eval import ParametricBatch, Postselected

    batch = ParametricBatch([Postselected(circuit, fixed={1: 0, 2: 0}, open=[0]), ...], symbols=["a", "b"])
    batch.amplitudes([0.1, 0.2])      # shape (circuits, 2 ** open qubits): <fixed bits, o| psi>
    batch.probabilities([0.1, 0.2])   # the open qubits' outcome probabilities given the post-selection
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .arrays import is_torch
from .circuit import Circuit
from .circuit.gates import numeric_values
from .compile import Gate, lower
from .contraction.execute import contract, unify_arrays
from .contraction.network import PARAM_BATCH, CircuitNetwork, Network, absorb_basis_vectors, amplitude_network
from .contraction.paths import DEFAULT_CACHE, ITEMSIZE, TreeCache
from .contraction.program import Program
from .errors import CircuitError
from .memory import budget_bytes
from .parametric import ParametricGates

PRESETS = ("greedy", "auto", "hyper")
"""``greedy``: cotengra's plain greedy tree on the network as built (deterministic, no structural pre-pass; the
default); ``auto`` / ``hyper``: ``TreeCache.get_program``'s searches after structural simplification."""


@dataclass(frozen=True)
class Postselected:
    """A circuit whose qubits are each either ``fixed`` (post-selected on a bit) or ``open`` (the outputs, in
    output axis order: ``open[0]`` is the most significant bit of the outcome index)."""

    circuit: Circuit
    fixed: Mapping[int, int] = field(default_factory=dict)
    open: Sequence[int] = ()

    def check(self, where: str) -> None:
        """Raise a CircuitError naming ``where`` unless every qubit is fixed to 0 / 1 or open, exactly once."""
        n = self.circuit.num_qubits
        qubits = [*self.fixed, *self.open]
        if sorted(qubits) != list(range(n)):
            raise CircuitError(f"{where}: every qubit 0..{n - 1} must be either fixed or open exactly once "
                               f"(fixed {sorted(self.fixed)}, open {list(self.open)})")
        bad = {q: b for q, b in self.fixed.items() if b not in (0, 1)}
        if bad:
            raise CircuitError(f"{where}: fixed bits must be 0 or 1, got {bad}")


def _constant_key(matrix: Any) -> Any:
    """Equal constant gates (shared named-gate matrices, or equal custom unitaries) get equal keys."""
    if isinstance(matrix, np.ndarray) and not matrix.flags.writeable:
        return ("id", id(matrix))
    return ("bytes", np.asarray(matrix).tobytes())


class ParametricBatch:
    """Post-selected circuits prepared for repeated evaluation with new values of ``symbols`` (see the module
    docstring). Every circuit needs the same number of open qubits. ``optimize``: one of PRESETS;
    ``memory_budget`` (bytes): larger contractions are sliced, or refused before anything is allocated;
    ``cache``: where contraction trees are kept (default: the process-wide ``tnq.contraction.DEFAULT_CACHE``)."""

    def __init__(self, circuits: Sequence[Postselected], symbols: Sequence[str], *, optimize: str = "greedy",
                 search_time: float = 10.0, memory_budget: int | None = None, cache: TreeCache | None = None) -> None:
        if not circuits:
            raise CircuitError("ParametricBatch: no circuits to evaluate")
        if optimize not in PRESETS:
            raise CircuitError(f"ParametricBatch: unknown optimize {optimize!r}; choose one of {', '.join(PRESETS)}")
        budget_bytes(memory_budget)  # a bad budget is refused now, not at the first evaluation
        self.optimize, self.search_time, self.memory_budget = optimize, search_time, memory_budget
        self.cache = DEFAULT_CACHE if cache is None else cache
        self.circuits = list(circuits)
        widths = {len(c.open) for c in self.circuits}
        if len(widths) != 1:
            raise CircuitError(f"ParametricBatch: circuits have different numbers of open qubits {sorted(widths)}")
        self.num_open = widths.pop()
        gates: list[Gate] = []
        self._spans: list[tuple[int, int]] = []
        keys: list[tuple] = []
        for i, c in enumerate(self.circuits):
            c.check(f"circuit {i}")
            lowered = lower(c.circuit, symbolic=True)
            wire = lowered.wire_of
            fixed = tuple(sorted((int(wire[q]), int(b)) for q, b in c.fixed.items()))
            keys.append((c.circuit.num_qubits, fixed, tuple(int(wire[q]) for q in c.open)))
            self._spans.append((len(gates), len(gates) + len(lowered.gates)))
            gates += lowered.gates
        self.parametric = ParametricGates(gates, symbols)
        self.symbols = self.parametric.symbols
        if self.parametric.unbatched:
            p = self.parametric.unbatched[0]
            raise CircuitError(f"ParametricBatch: gate {gates[p].op.name} has parameters that are neither symbols "
                               "nor real numbers; bind them first")
        kind_of, row_of = self.parametric.kind_of, self.parametric.row_of
        constants: dict[Any, Any] = {}  # one matrix per distinct constant gate, shared by every circuit
        # circuits with one gate pattern form a group, contracted as one stack: per gate, the kind rows of its members
        self._groups: list[dict[str, Any]] = []
        self._group_of: list[tuple[int, int]] = []  # circuit -> (group, member number)
        index: dict[tuple, int] = {}
        for i, (begin, end) in enumerate(self._spans):
            pattern = []
            for p in range(begin, end):
                if kind_of[p] >= 0:
                    pattern.append((gates[p].wires, int(kind_of[p])))
                else:
                    key = _constant_key(gates[p].matrix)
                    constants.setdefault(key, gates[p].matrix)
                    pattern.append((gates[p].wires, key))
            key = (keys[i], tuple(pattern))
            if key not in index:  # per gate: wires, kind number or constant matrix, and its operation (named
                index[key] = len(self._groups)  # gates tell their diagonal qubits without looking at values)
                self._groups.append({"members": [], "key": keys[i], "gates": [
                    (wires, kind if isinstance(kind, int) else constants[kind], gates[begin + j].op)
                    for j, (wires, kind) in enumerate(pattern)]})
            group = self._groups[index[key]]
            self._group_of.append((index[key], len(group["members"])))
            group["members"].append(i)
        for group in self._groups:
            starts = np.array([self._spans[i][0] for i in group["members"]])
            group["rows"] = [row_of[starts + j] if isinstance(kind, int) else None
                             for j, (_, kind, _) in enumerate(group["gates"])]
        self._torch_constants: dict[int, Any] = {}

    def __len__(self) -> int:
        return len(self.circuits)

    def kind_rows(self, subset: Sequence[int] | None = None) -> list[np.ndarray | None]:
        """Per gate kind (``parametric.kinds`` order), the rows the circuits ``subset`` use (sorted; None: every
        row): what ``amplitudes(values, subset)`` builds, so a mini-batch step costs its own circuits only."""
        if subset is None:
            return [None] * len(self.parametric.kinds)
        positions = np.concatenate([np.arange(*self._spans[i]) for i in sorted(set(subset))] or [np.zeros(0, int)])
        kinds = self.parametric.kind_of[positions]
        out: list[np.ndarray | None] = []
        for k, kind in enumerate(self.parametric.kinds):
            rows = np.unique(self.parametric.row_of[positions[kinds == k]])
            out.append(None if len(rows) == len(kind.positions) else rows)
        return out

    def amplitudes(self, values: Any, subset: Sequence[int] | None = None) -> Any:
        """Post-selected amplitudes, shape (len(subset or circuits), 2 ** open qubits); numpy, or torch
        (differentiable) when ``values`` is a torch tensor. ``values``: a vector in ``symbols`` order or a mapping
        by name; ``subset``: only these circuits (rows in that order; only their gate matrices are built).
        Post-selecting thousands of qubits can take amplitudes below the smallest float (they are then 0):
        ``scaled_amplitudes`` keeps them as mantissas and logarithmic scales."""
        mantissas, log_scales = self.scaled_amplitudes(values, subset)
        factors = np.exp(log_scales)[:, None]
        return mantissas * (factors if isinstance(mantissas, np.ndarray) else _like(mantissas, factors))

    def scaled_amplitudes(self, values: Any, subset: Sequence[int] | None = None) -> tuple[Any, np.ndarray]:
        """The amplitudes as ``mantissas * exp(log_scales)[:, None]``, with mantissas of order one at most (every
        tensor of the network is divided by its largest entry before the contraction; the logarithms of these
        factors add up in ``log_scales``, a numpy vector): long chains of post-selections stay in range."""
        vector = self.parametric.vector(values)
        torch_mode = not isinstance(vector, np.ndarray)
        chosen = list(range(len(self.circuits))) if subset is None else [int(i) for i in subset]
        bad = [i for i in chosen if not 0 <= i < len(self.circuits)]
        if bad:
            raise CircuitError(f"subset: circuit {bad[0]} does not exist (there are {len(self.circuits)})")
        stacks = []
        for kind, rows in zip(self.parametric.kinds, self.kind_rows(None if subset is None else chosen)):
            remap = None
            if rows is not None:
                remap = np.full(len(kind.positions), -1, dtype=np.int64)
                remap[rows] = np.arange(len(rows))
            stacks.append((kind.matrices(vector, rows), remap))
        selected: dict[int, list[int]] = {}
        for i in chosen:
            g, member = self._group_of[i]
            selected.setdefault(g, []).append(member)
        results: dict[int, Any] = {}
        for g, members in selected.items():
            group = self._groups[g]
            # one member: plain matrices (no batch axis, the network's fast path); several: stacks (B, d, d)
            take = members[0] if len(members) == 1 else np.asarray(members)
            gates = []
            for (wires, kind, op), rows in zip(group["gates"], group["rows"]):
                if rows is None:
                    gates.append(Gate(wires, self._torch(kind) if torch_mode else kind, op))
                    continue
                stack, remap = stacks[kind]
                picked = rows[take] if remap is None else remap[rows[take]]
                gates.append(Gate(wires, stack[picked if np.ndim(picked) == 0 else _index(picked, torch_mode)], op))
            value, log_scale = self._contract(gates, *group["key"])
            if value.ndim == self.num_open:  # no parameterised gate: every member has the same amplitudes
                value, log_scale = value[None], np.reshape(log_scale, 1)
            value = value.reshape(-1, 2 ** self.num_open)
            for row, member in enumerate(members):
                one = 0 if value.shape[0] == 1 else row
                results[group["members"][member]] = (value[one], log_scale[one])
        mantissas = [results[i][0] for i in chosen]
        log_scales = np.array([results[i][1] for i in chosen], dtype=np.float64)
        if not torch_mode:
            return np.stack(mantissas), log_scales
        import torch

        return torch.stack(mantissas), log_scales

    def probabilities(self, values: Any, subset: Sequence[int] | None = None, tiny: float = 1e-300) -> Any:
        """Outcome probabilities of the open qubits given that the post-selections succeed: |amplitude|^2
        normalised per circuit (``tiny`` guards an all-zero row), shape as ``amplitudes``."""
        mantissas = self.scaled_amplitudes(values, subset)[0]
        peak = np.abs(numeric_values(mantissas)).max(1, keepdims=True, initial=0.0)
        peak[peak == 0] = 1.0  # rows divided by their largest entry first: tiny rows still normalise
        return normalised(abs(mantissas / (peak if isinstance(mantissas, np.ndarray) else _like(mantissas, peak))) ** 2,
                          tiny)

    def _torch(self, matrix: np.ndarray) -> Any:
        """A constant gate matrix as a torch tensor, converted once per batch."""
        key = id(matrix)
        if key not in self._torch_constants:
            import torch

            self._torch_constants[key] = (torch.tensor(matrix), matrix)  # keep matrix alive: its id stays valid
        return self._torch_constants[key][0]

    def _contract(self, gates: list[Gate], num_wires: int, fixed: tuple[tuple[int, int], ...],
                  open_wires: tuple[int, ...]) -> Any:
        bits = np.zeros(num_wires, dtype=np.int64)
        for wire, bit in fixed:
            bits[wire] = bit
        net, log_scale = rescaled(absorb_basis_vectors(amplitude_network(CircuitNetwork(gates, num_wires), num_wires,
                                                                         bits, list(open_wires))))
        return contract_network(net, self.optimize, self.search_time, self.memory_budget, self.cache), log_scale


def rescaled(net: Network) -> tuple[Network, np.ndarray]:
    """``net`` with every array divided by its largest absolute entry (per member, for arrays of a parameter batch)
    and the sum of the logarithms of those factors (shape (batch,), or () without a batch): the value of ``net`` is
    that of the result times ``exp(log_scale)``, and it no longer underflows where each tensor keeps some entry of
    order one. The factors are constants for autograd (they cancel in normalised probabilities)."""
    batch = net.size_dict.get(PARAM_BATCH)
    log_scale = np.zeros(() if batch is None else (batch,))
    arrays = []
    for inds, array in zip(net.inputs, net.arrays):
        magnitude = np.abs(numeric_values(array))
        if inds[:1] == (PARAM_BATCH,):
            peak = magnitude.reshape(len(magnitude), -1).max(1, initial=0.0)
            peak = np.where(peak > 0, peak, 1.0)
            factor = peak.reshape((-1,) + (1,) * (magnitude.ndim - 1))
        else:
            peak = factor = float(magnitude.max(initial=0.0)) or 1.0
        log_scale = log_scale + np.log(peak)
        arrays.append(array / (factor if isinstance(array, np.ndarray) else _like(array, factor)))
    return Network(list(net.inputs), arrays, net.output, dict(net.size_dict)), log_scale


def _like(array: Any, factor: Any) -> Any:
    """``factor`` (a number or numpy array) as a torch tensor beside ``array``, or as is for other libraries."""
    if is_torch(array):
        import torch

        return torch.as_tensor(factor, dtype=torch.float64)
    return factor


def normalised(probs: Any, tiny: float = 1e-300) -> Any:
    """Rows of ``probs`` (numpy or torch) divided by their sums; post-selecting many qubits makes the sums tiny
    (2**-50 and less), so only an exactly zero row is guarded, by ``tiny``."""
    if isinstance(probs, np.ndarray):
        return probs / (probs.sum(-1, keepdims=True) + tiny)
    return probs / (probs.sum(-1, keepdim=True) + tiny)


def _index(rows: np.ndarray, torch_mode: bool) -> Any:
    if torch_mode:
        import torch

        return torch.as_tensor(rows)
    return rows


"""Bytes per complex128 entry."""


def pairwise(path: Sequence[Sequence[int]], num_inputs: int) -> list[tuple[int, int]]:
    """An SSA path (inputs 0..N-1, step k creates id N+k) as pairwise merges only: single-tensor steps (sums of
    indices no other tensor has, which a Program's leaves do anyway) are dropped and larger steps split into pairs;
    the merges are renumbered SSA-style."""
    ids = list(range(num_inputs))  # SSA id in ``path`` -> id among the pairwise merges
    pairs: list[tuple[int, int]] = []
    for step in path:
        current = ids[step[0]]
        for other in step[1:]:
            pairs.append((current, ids[other]))
            current = num_inputs + len(pairs) - 1
        ids.append(current)
    return pairs


LARGE_NETWORK = 256
"""Programs of networks with more tensors than this (long chains: one structure per protein length, megabytes each)
are kept LARGE_PROGRAMS at a time; those of smaller ones (sentence shapes and windows, met again every epoch)
SMALL_PROGRAMS at a time."""
LARGE_PROGRAMS, SMALL_PROGRAMS = 64, 1024


def greedy_program(inputs: tuple[tuple[str, ...], ...], output: tuple[str, ...],
                   sizes: tuple[tuple[str, int], ...]) -> Program:
    """A Program along cotengra's plain greedy path for a network structure (``Network.structure_key()``):
    deterministic, and milliseconds for thousands of tensors; recent structures are kept (see LARGE_NETWORK)."""
    return (_large_program if len(inputs) > LARGE_NETWORK else _small_program)(inputs, output, sizes)


def _greedy_program(inputs: tuple[tuple[str, ...], ...], output: tuple[str, ...],
                    sizes: tuple[tuple[str, int], ...]) -> Program:
    import cotengra as ctg
    from cotengra.pathfinders.path_basic import linear_to_ssa

    size_dict = dict(sizes)
    path = ctg.array_contract_path(inputs, output, size_dict, optimize="greedy", cache=False)
    return Program(inputs, output, size_dict, pairwise(linear_to_ssa(path), len(inputs)))


_small_program = functools.lru_cache(maxsize=SMALL_PROGRAMS)(_greedy_program)
_large_program = functools.lru_cache(maxsize=LARGE_PROGRAMS)(_greedy_program)


def program_peak_bytes(program: Program) -> int:
    """An upper bound of the memory a Program's steps allocate: while a step runs, its two operands and its result
    are alive, each at most the largest intermediate (the network's inputs are already allocated)."""
    largest = max((math.prod(step.out_shape) for step in program.steps), default=1)
    return 3 * largest * ITEMSIZE


def contract_network(net: Network, optimize: str = "greedy", search_time: float = 10.0,
                     memory_budget: int | None = None, cache: TreeCache | None = None) -> Any:
    """The value of ``net`` (numpy, or torch if any array is). ``greedy``: along cotengra's greedy path compiled
    into a matrix-product Program (cached by structure), unless that could exceed ``memory_budget``: then along a
    tree from ``cache`` sliced to the budget (or a clear error); ``auto`` / ``hyper``: ``TreeCache.get_program``."""
    cache = DEFAULT_CACHE if cache is None else cache
    if optimize == "greedy":
        program = greedy_program(*net.structure_key())
        if program_peak_bytes(program) <= budget_bytes(memory_budget):
            return program(unify_arrays(net.arrays))
        return contract(net, cache.get_tree(net, "greedy", search_time, memory_budget))[0]
    return contract(net, cache.get_program(net, optimize, search_time, memory_budget))[0]
