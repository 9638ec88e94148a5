"""Contraction backend: a lazy state that answers each query (amplitudes, also in batches,
marginals, Pauli expectations on the reverse lightcone) by contracting the circuit's tensor
network with a cached cotengra tree. Works for any qubit count whose networks are contractible,
and is differentiable when gate parameters are torch tensors."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from ..arrays import NUMPY, NumpyArrays, host, to_user
from ..compile import Gate, compact, lightcone
from ..contraction.execute import ContractionReport, contract, contraction_report, estimated_seconds, unify_arrays
from ..contraction.network import (
    BasisTemplate,
    CircuitNetwork,
    Network,
    absorb_basis_vectors,
    amplitude_network,
    expectation_network,
    marginal_network,
)
from ..contraction.paths import ASSUMED_FLOPS_PER_SECOND, DEFAULT_CACHE, TreeCache, TreeInfo
from ..contraction.program import Program
from ..errors import SimulationError
from ..memory import budget_bytes, format_bytes
from ..progress import announce
from ..state import State
from .dense import sample_bytes

BATCH_MIN = 32
"""From this many bitstrings on, amplitudes are computed in stacks (one contraction per chunk, with a
tree searched for the stacked network); fewer are computed one by one with the single-amplitude tree."""
BATCH_CHUNK = 128
"""At most this many bitstrings per stacked contraction (a power of two; the last chunk is padded)."""
BATCH_BYTES = 64 * 2**20
"""Chunks are also limited so that the single-amplitude peak memory times the chunk size stays below this."""
SAMPLE_LIMIT = 20
"""Sampling goes through the full marginal, so it is limited to this many qubits."""


class ContractState(State):
    """The output of a circuit, kept as its gate list; every query is one tensor-network contraction."""

    def __init__(self, gates: Sequence[Gate], num_wires: int, wire_of: np.ndarray, info: dict[str, Any],
                 optimize: str | Any = "auto", search_time: float = 10.0, memory_budget: int | None = None,
                 cache: TreeCache | None = None, client: Any = None, progress: bool | None = None,
                 arrays: NumpyArrays = NUMPY) -> None:
        super().__init__(num_wires, wire_of, info)
        self.xp = arrays  # the library, device and dtype the contractions run in
        budget_bytes(memory_budget)  # nan, inf or negative: refused now, not at the first query
        self.gates = list(gates)
        self.optimize, self.search_time, self.memory_budget = optimize, search_time, memory_budget
        self.cache = cache if cache is not None else DEFAULT_CACHE
        self.client, self.progress = client, progress
        self.reports: list[ContractionReport] = []
        self._ket: CircuitNetwork | None = None
        self._templates: dict[tuple[int, ...], BasisTemplate] = {}
        self._folds: dict[Any, tuple[Any, TreeInfo]] = {}

    @property
    def last_report(self) -> ContractionReport | None:
        """Cost of the most recent contraction (flops, width, search and contraction time)."""
        return self.reports[-1] if self.reports else None

    def _run(self, net: Network) -> Any:
        info = self.cache.get_program(net, self.optimize, self.search_time, self.memory_budget)
        return self._contract(net, info)

    def _contract(self, net: Network, info: TreeInfo) -> Any:
        self._plan(info)
        value, report = contract(net, info, self.client, self.progress, self.xp)
        self.reports.append(report)
        return value

    def _plan(self, info: TreeInfo, batch: int = 1) -> None:
        """Record the contraction about to run in ``info["contraction"]`` (slices, flops, peak memory, estimated
        seconds); a sliced one that should take a while is also announced on stderr, before it starts."""
        seconds = estimated_seconds(info.flops * batch)
        self.info["contraction"] = {"slices": info.slices, "flops": info.flops * batch,
                                    "peak_bytes": info.peak_bytes, "estimated_seconds": seconds}
        if info.slices > 1:
            budget = format_bytes(budget_bytes(self.memory_budget))
            announce(f"tnq: contraction sliced into {info.slices} slices to fit the memory budget of {budget} "
                     f"(peak {format_bytes(info.peak_bytes)} per slice): 10^{np.log10(max(info.flops, 1)):.1f} "
                     f"flops, about {seconds:.3g} s at {ASSUMED_FLOPS_PER_SECOND / 1e9:g} GFLOP/s",
                     self.progress, seconds)

    # --- primitives -------------------------------------------------------------------------------
    def _template(self, open_wires: Sequence[int] = ()) -> BasisTemplate:
        """The bitstring-independent amplitude network (per set of open wires), built once per state."""
        key = tuple(open_wires)
        template = self._templates.get(key)
        if template is None:
            if self._ket is None:
                self._ket = CircuitNetwork(self.gates, self.num_qubits)
            template = self._templates[key] = BasisTemplate(self._ket, self.num_qubits, key)
        return template

    def _prepared(self, template: BasisTemplate, batch: int | None) -> tuple[Any, TreeInfo, Network]:
        """Program for the template's network, one bitstring or a stack of ``batch`` (which reuses the
        single-bitstring tree: a stack only adds a batch axis to the steps a bitstring touches, and a
        tree searched for the stack itself came out worse), with the steps that no bitstring touches
        already run (once per state). Not folded when an array needs gradients: a cached part of the
        autograd graph could not be backpropagated twice."""
        key = (template.open_wires, batch)
        if key not in self._folds:
            single = template.network()
            info = self.cache.get_program(single, self.optimize, self.search_time, self.memory_budget)
            net = single
            if batch is not None:
                net = template.batch_network(batch)
                if info.program is not None:
                    info = replace(info, program=Program(net.inputs, net.output, net.size_dict, info.program.path))
            arrays = unify_arrays(net.arrays, self.xp)
            trainable = any(getattr(a, "requires_grad", False) for a in arrays)
            finish = None if info.program is None or trainable else info.program.fold(arrays, template.variable)
            self._folds[key] = (finish, info, net)
        return self._folds[key]

    def _chunk(self, template: BasisTemplate, count: int) -> int:
        """Bitstrings per stacked contraction: a power of two bounded by BATCH_CHUNK and BATCH_BYTES."""
        info = self._prepared(template, None)[1]
        if info.program is None:  # sliced trees run one bitstring at a time
            return 1
        size = 1
        while size < min(count, BATCH_CHUNK) and 2 * size * info.peak_bytes <= BATCH_BYTES:
            size *= 2
        return size

    def _evaluate(self, template: BasisTemplate, variable: dict[int, Any], batch: int | None) -> Any:
        finish, info, net = self._prepared(template, batch)
        variable = dict(zip(variable, unify_arrays(list(variable.values()), self.xp), strict=True))
        if not info.cache_hit:  # later queries reuse this state's tree: report them as cache hits
            self._folds[(template.open_wires, batch)] = (finish, replace(info, cache_hit=True, search_seconds=0.0),
                                                         net)
        if finish is not None:
            self._plan(info, batch or 1)
            start = time.perf_counter()
            value = finish(variable)
            report = contraction_report(net, info, time.perf_counter() - start)
            if batch is not None:  # the tree's cost is per bitstring
                report = replace(report, flops=report.flops * batch)
            self.reports.append(report)
            return value
        arrays = list(net.arrays)
        for pos, array in variable.items():
            arrays[pos] = array
        return self._contract(Network(net.inputs, arrays, net.output, net.size_dict), info)

    def _amplitudes(self, wire_bits: np.ndarray) -> Any:
        """A few bitstrings: one small contraction each (only the steps a bitstring touches). Many:
        stacked BATCH_CHUNK at a time along a batch index, one contraction per chunk with a tree
        searched for the stack, which shares everything the bitstrings have in common."""
        template = self._template()
        wire_bits = np.asarray(wire_bits, dtype=np.int64)
        if len(wire_bits) < BATCH_MIN or not template.variable:
            return self._amplitudes_one_by_one(template, wire_bits)
        size = self._chunk(template, len(wire_bits))
        if size == 1:
            return self._amplitudes_one_by_one(template, wire_bits)
        chunks = []
        for begin in range(0, len(wire_bits), size):
            rows = wire_bits[begin:begin + size]
            padded = np.concatenate([rows, np.repeat(rows[-1:], size - len(rows), axis=0)]) if len(rows) < size \
                else rows
            chunks.append(self._evaluate(template, template.batch_arrays(padded), size)[:len(rows)])
        if all(isinstance(v, np.ndarray) for v in chunks):
            return np.concatenate(chunks)
        from autoray import do

        return do("concatenate", chunks)

    def _amplitudes_one_by_one(self, template: BasisTemplate, wire_bits: np.ndarray) -> Any:
        values = [self._evaluate(template, template.variable_arrays(row), None) for row in wire_bits]
        if all(isinstance(v, (np.ndarray, np.generic, complex)) for v in values):
            return np.array(values, dtype=np.complex128).reshape(len(values))
        from autoray import do

        return do("stack", values)

    def amplitude_tensor(self, fixed: Mapping[int, int], open_qubits: Sequence[int]) -> Any:
        """Amplitudes with the ``fixed`` qubits projected on the given bits (post-selection, not
        normalised) as a tensor over ``open_qubits``: shape (2,)*len(open_qubits), axis j for
        open_qubits[j]. Every qubit must be either fixed or open."""
        template, wire_bits = self._open_template(fixed, open_qubits)
        return self._evaluate(template, template.variable_arrays(wire_bits), None)

    def _open_template(self, fixed: Mapping[int, int], open_qubits: Sequence[int]) -> tuple[BasisTemplate,
                                                                                             np.ndarray]:
        open_qubits = [int(q) for q in open_qubits]
        n = self.num_qubits
        if sorted([*fixed, *open_qubits]) != list(range(n)):
            raise SimulationError(f"amplitude_tensor: every qubit 0..{n - 1} must be either fixed or open exactly "
                                  f"once (fixed {sorted(fixed)}, open {open_qubits})")
        bad = {q: b for q, b in fixed.items() if b not in (0, 1)}
        if bad:
            raise SimulationError(f"amplitude_tensor: fixed bits must be 0 or 1, got {bad}")
        wire_bits = np.zeros(n, dtype=np.int64)
        for q, b in fixed.items():
            wire_bits[self.wire_of[q]] = b
        return self._template([int(self.wire_of[q]) for q in open_qubits]), wire_bits

    def _cone(self, wires: Sequence[int], diagonal: bool | Sequence[int]) -> tuple[list[Gate], dict[int, int]]:
        return compact(lightcone(self.gates, list(wires), diagonal), list(wires))

    def _expect_pauli(self, wire_ops: dict[int, np.ndarray]) -> Any:
        if not wire_ops:
            return 1.0
        diagonal = [w for w, op in wire_ops.items() if np.count_nonzero(op - np.diag(np.diag(op))) == 0]
        gates, index = self._cone(sorted(wire_ops), diagonal)
        net = expectation_network(gates, len(index), {index[w]: op for w, op in wire_ops.items()})
        return self._run(net)

    def marginal(self, qubits: Sequence[int]) -> Any:
        """Probabilities of the outcomes of ``qubits``: an array of shape (2,)*len(qubits),
        axis j for qubits[j], computed on their reverse lightcone."""
        qubits = list(qubits)
        bad = [q for q in qubits if not 0 <= q < self.num_qubits]
        if bad or len(set(qubits)) != len(qubits):
            raise SimulationError(f"marginal: qubits {qubits} must be distinct and in 0..{self.num_qubits - 1}")
        wires = [int(self.wire_of[q]) for q in qubits]
        gates, index = self._cone(wires, True)
        value = self._run(marginal_network(gates, len(index), [index[w] for w in wires]))
        return to_user(value.real)

    def _sample_bytes(self, shots: int) -> int:
        self._check_sampling()  # before the estimate: 2^n of a large state would only say "over budget"
        return sample_bytes(shots, self.num_qubits, 32 * 2**self.num_qubits)  # the complex marginal too

    def _check_sampling(self) -> None:
        if self.num_qubits > SAMPLE_LIMIT:
            raise SimulationError(f"sampling with method='contract' goes through the full marginal and is "
                                  f"limited to {SAMPLE_LIMIT} qubits (this state has {self.num_qubits}); "
                                  "use method='mps' to sample larger circuits")

    def _sample(self, shots: int, rng: np.random.Generator) -> np.ndarray:
        self._check_sampling()
        probs = host(self.marginal(list(range(self.num_qubits)))).reshape(-1)
        probs = np.clip(probs, 0, None)
        cumulative = np.cumsum(probs)
        idx = np.minimum(np.searchsorted(cumulative, rng.random(shots) * cumulative[-1], side="right"),
                         probs.size - 1)
        n = self.num_qubits
        qubit_bits = ((idx[:, None] >> np.arange(n - 1, -1, -1)) & 1).astype(np.uint8)
        wire_bits = np.empty_like(qubit_bits)
        wire_bits[:, self.wire_of] = qubit_bits
        return wire_bits


def stacked_amplitude_tensor(gates: Sequence[Gate], num_wires: int, fixed: Mapping[int, int],
                             open_wires: Sequence[int], cache: TreeCache | None = None, optimize: str | Any = "auto",
                             search_time: float = 10.0, memory_budget: int | None = None) -> Any:
    """Post-selected amplitude tensors of a stack of B circuits with one gate pattern, in one contraction:
    gate matrices that differ between the circuits carry a leading batch axis (B, d, d), shared ones are
    plain (d, d). Wires are fixed (``fixed``: wire -> bit) or open; returns shape (B, 2, ..., 2) with axes
    in ``open_wires`` order (no batch axis if no gate is stacked). The network is built once for the
    whole stack, so the Python cost does not grow with B."""
    if sorted([*fixed, *open_wires]) != list(range(num_wires)):
        raise SimulationError(f"stacked_amplitude_tensor: every wire 0..{num_wires - 1} must be either fixed or "
                              f"open exactly once (fixed {sorted(fixed)}, open {list(open_wires)})")
    state = ContractState(gates, num_wires, np.arange(num_wires), {"method": "contract"}, optimize, search_time,
                          memory_budget, cache)
    bits = np.zeros(num_wires, dtype=np.int64)
    for wire, bit in fixed.items():
        bits[wire] = bit
    net = absorb_basis_vectors(amplitude_network(CircuitNetwork(gates, num_wires), num_wires, bits, list(open_wires)))
    return state._run(net)


def run(gates: Sequence[Gate], num_wires: int, wire_of: np.ndarray, memory_budget: int | None = None,
        optimize: str | Any = "auto", search_time: float = 10.0, cache: TreeCache | None = None,
        client: Any = None, progress: bool | None = None, arrays: NumpyArrays = NUMPY,
        **_: Any) -> ContractState:
    """Nothing is contracted until a query arrives; this only records the gates and options. ``arrays``
    (``tnq.arrays.namespace``): the library, device and complex dtype the contractions run in."""
    info = {"method": "contract", "optimize": optimize if isinstance(optimize, str) else "custom",
            "search_time": search_time, "fidelity": 1.0}
    return ContractState(gates, num_wires, wire_of, info, optimize, search_time, memory_budget, cache, client,
                         progress, arrays)
