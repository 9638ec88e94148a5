"""Shots from any circuit, dynamic ones included: ``tnq.sample``.

A circuit without mid-circuit operations is simulated once and its measured qubits sampled from the final state.
A dynamic circuit (mid-circuit measurement, reset, classically controlled operations) is run by branching: the
state is evolved up to a measurement, the exact probabilities of its two outcomes are computed, the shots still
running are split between them by a binomial draw, and each outcome that got shots continues on its projected,
renormalised state. Shots sharing a measurement history share one simulation, so k measurements cost at most
min(2^k, shots) branches. Measurements that nothing later depends on are not branched on: they are sampled, all
shots at once, from each branch's final state.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .backends import dense, mps
from .backends.memory import check_budget
from .circuit import Circuit, Operation
from .compile import Gate, fuse
from .errors import SimulationError
from .simulate import _backend_defaults, _check_circuit, _check_options, choose_method, simulate
from .state import State, _generator, tally

_X = np.array([[0, 1], [1, 0]], dtype=np.complex128)
BRANCH_OPTIONS = ("max_bond", "cutoff", "memory_budget", "progress")
"""The ``tnq.simulate`` options that apply to branching (dense and MPS backends)."""


@dataclass(frozen=True)
class _Step:
    """One instruction of the branching program: a gate, or a measurement / reset of one qubit."""

    kind: str  # "gate", "measure" or "reset"
    qubit: int = -1
    clbit: int = -1
    gate: Gate | None = None
    condition: tuple[tuple[int, ...], int] | None = None


def sample(circuit: Circuit, shots: int, seed: int | np.random.Generator | None = None, method: str = "auto",
           **options: Any) -> dict[str, int]:
    """Run ``circuit`` ``shots`` times and count the classical outcomes, most common first.

    Character j of a key is classical bit j, over the registers in declaration order (a circuit without
    classical registers: its measured qubits in measurement order, or every qubit when none is measured).
    qiskit prints the same bits right to left (bit 0 last, registers separated by spaces): reverse its keys to
    compare. Mid-circuit measurements, resets and ``if``-conditioned operations run by branching on the dense
    (``method="dense"``) or MPS (``"mps"``) backend; ``"auto"`` picks one as ``tnq.simulate`` does. ``options``
    are ``tnq.simulate``'s (``max_bond``, ``cutoff``, ``memory_budget``...). ``seed``: None, an integer in
    [0, 2**32) or a numpy Generator; a seed makes the counts reproducible.
    """
    _check_circuit(circuit, "sample")
    if isinstance(shots, (bool, np.bool_)) or not isinstance(shots, (int, np.integer)) or shots < 0:
        raise SimulationError(f"shots must be a non-negative integer, got {shots!r}")
    rng = _generator(seed)
    dynamic = circuit.is_dynamic
    known = set(BRANCH_OPTIONS if dynamic else _backend_defaults())
    unknown = set(options) - known
    if unknown:
        raise SimulationError(f"sample: unknown option(s) {sorted(unknown)}"
                              f"{' for a dynamic circuit' if dynamic else ''}; expected some of {sorted(known)}")
    if not dynamic:
        return state_counts(circuit, simulate(circuit, method, **options), int(shots), rng)
    _check_options(options.get("max_bond"), options.get("cutoff", 1e-16), options.get("memory_budget"))
    if circuit.parameters:
        raise SimulationError(f"circuit has unbound parameters {circuit.parameters}; call circuit.bind(...) first")
    backend, _ = choose_method(circuit.num_qubits, method, max_bond=options.get("max_bond"))
    if backend == "contract":
        raise SimulationError("a dynamic circuit needs a state to branch on: use method='dense' or 'mps'")
    steps, deferred, num_bits = _program(circuit)
    rows = _Brancher(circuit.num_qubits, num_bits, backend, steps, deferred, rng, options).run(int(shots))
    return tally(rows)


def state_counts(circuit: Circuit, state: State, shots: int, seed: int | np.random.Generator | None) -> dict[str, int]:
    """``tnq.sample``'s counts for a circuit without mid-circuit operations, from its simulated final ``state``."""
    rng = _generator(seed)
    if not circuit.num_clbits:
        return state.counts(shots, rng, circuit.measured_qubits or None)
    deferred = {}
    for op in circuit.ops:  # the last measurement writing a bit gives its value
        if op.name == "measure":
            deferred.update(zip(op.clbits, op.qubits))
    return tally(_fill(state, shots, rng, np.zeros(circuit.num_clbits, dtype=np.uint8), deferred))


def _fill(state: State, shots: int, rng: np.random.Generator, record: np.ndarray,
          deferred: dict[int, int]) -> np.ndarray:
    """``shots`` rows of classical bits: ``record`` where the branch fixed them, and the deferred bits
    (bit -> qubit) sampled from ``state``."""
    rows = np.repeat(record[None, :], shots, axis=0)
    if deferred and shots:
        bits = list(deferred)
        rows[:, bits] = state.sample(shots, rng, [deferred[b] for b in bits])
    return rows


def _program(circuit: Circuit) -> tuple[list[_Step], dict[int, int], int]:
    """The circuit as steps, with the measurements that can wait for the end taken out: ``deferred`` maps a
    classical bit to the qubit whose final value it holds. A measurement waits when it is unconditioned, is the
    last to write its bit, no condition reads that bit afterwards and no later operation but a measurement or
    barrier touches its qubit. Also returns the number of classical bits (a circuit without registers: one per
    measured qubit, or per qubit when none is measured)."""
    ops = circuit.ops
    num_bits = circuit.num_clbits
    if not num_bits:  # terminal measurements (never followed by anything on their qubits) write virtual bits
        measured = circuit.measured_qubits or list(range(circuit.num_qubits))
        ops = [op for op in ops if op.name != "measure"]
        ops.append(Operation("measure", tuple(measured), clbits=tuple(range(len(measured)))))
        num_bits = len(measured)
    later_touched: set[int] = set()   # qubits acted on (not measured) after the current op
    later_read: set[int] = set()      # classical bits read by a condition after the current op
    later_written: set[int] = set()   # classical bits written after the current op
    deferred: dict[int, int] = {}
    steps: list[_Step] = []
    for op in reversed(ops):
        if op.name == "barrier" or op.name == "id" and op.condition is None:
            continue
        if op.name == "measure":
            for q, c in reversed(list(zip(op.qubits, op.clbits, strict=True))):
                if op.condition is None and c not in later_written and c not in later_read \
                        and q not in later_touched:
                    deferred[c] = q
                else:
                    steps.append(_Step("measure", q, c, condition=op.condition))
                later_written.add(c)
        elif op.name == "reset":
            steps.append(_Step("reset", op.qubits[0], condition=op.condition))
            later_touched.add(op.qubits[0])
        else:
            steps.append(_Step("gate", gate=Gate(op.qubits, op=op), condition=op.condition))
            later_touched.update(op.qubits)
        if op.condition is not None:
            later_read.update(op.condition[0])
    steps.reverse()
    return steps, deferred, num_bits


def _holds(condition: tuple[tuple[int, ...], int] | None, record: np.ndarray) -> bool:
    """Whether the classical bits in ``record`` satisfy ``condition`` (bits[0] least significant)."""
    if condition is None:
        return True
    bits, value = condition
    return sum(int(record[b]) << i for i, b in enumerate(bits)) == value


class _Brancher:
    """Runs the steps depth first; the branch with fewer shots goes first, so at most log2(shots) + 1 states
    wait at once."""

    def __init__(self, num_qubits: int, num_bits: int, backend: str, steps: list[_Step], deferred: dict[int, int],
                 rng: np.random.Generator, options: dict[str, Any]) -> None:
        self.n, self.backend, self.steps, self.deferred, self.rng = num_qubits, backend, steps, deferred, rng
        self.num_clbits = num_bits
        self.options = {"max_bond": options.get("max_bond"), "cutoff": options.get("cutoff", 1e-16),
                        "memory_budget": options.get("memory_budget"), "progress": False}
        self.wires = np.arange(self.n)

    def run(self, shots: int) -> np.ndarray:
        """Rows of classical bits, one per shot."""
        if not shots:
            return np.zeros((0, self.num_clbits), dtype=np.uint8)
        if self.backend == "dense":
            waiting = int(math.log2(max(shots, 1))) + 3  # states alive at once: waiting branches, current, copy
            check_budget(waiting * 16 * 2**self.n, self.options["memory_budget"],
                         f"branching a dense statevector of {self.n} qubits", "use method='mps'")
        start = self._start()
        stack = [(0, start, shots, np.zeros(self.num_clbits, dtype=np.uint8))]
        out = []
        while stack:
            position, state, count, record = stack.pop()
            out.append(self._branch(position, state, count, record, stack))
        return np.concatenate(out) if out else np.zeros((0, self.num_clbits), dtype=np.uint8)

    def _start(self) -> State:
        if self.backend == "dense":
            return dense.run([], self.n, self.wires, **self.options)
        return mps.run([], self.n, self.wires, **self.options)

    def _branch(self, position: int, state: State, shots: int, record: np.ndarray, stack: list) -> np.ndarray:
        """Run one branch until it splits (pushing its children) or ends (returning its rows)."""
        segment: list[Gate] = []
        while position < len(self.steps):
            step = self.steps[position]
            position += 1
            if not _holds(step.condition, record):
                continue
            if step.kind == "gate":
                segment.append(step.gate)
                continue
            state = self._apply(state, segment)
            segment = []
            p1 = self._probability_one(state, step.qubit)
            ones = int(self.rng.binomial(shots, p1))
            outcomes = [(b, k) for b, k in ((0, shots - ones), (1, ones)) if k]
            if len(outcomes) == 2:
                outcomes.sort(key=lambda bk: -bk[1])  # the larger branch waits; the smaller runs first
                bit, count = outcomes[0]
                other = self._copy(state)
                self._project(other, step.qubit, bit, step.kind == "reset")
                stack.append((position, other, count, self._record(record, step, bit)))
            bit, shots = outcomes[-1]
            self._project(state, step.qubit, bit, step.kind == "reset")
            record = self._record(record, step, bit)
        state = self._apply(state, segment)
        return _fill(state, shots, self.rng, record, self.deferred)

    @staticmethod
    def _record(record: np.ndarray, step: _Step, bit: int) -> np.ndarray:
        if step.kind != "measure":
            return record
        record = record.copy()
        record[step.clbit] = bit
        return record

    def _apply(self, state: State, gates: list[Gate]) -> State:
        if not gates:
            return state
        numeric = [Gate(g.wires, np.asarray(g.matrix, dtype=np.complex128), source=g.source) for g in gates]
        if self.backend == "dense":
            psi = state.tensor
            for g in numeric:
                psi = dense.apply_matrix(psi, g.matrix, g.wires)
            state.tensor = psi
            return state
        return mps.run(fuse(numeric), self.n, self.wires, initial=state, **self.options)

    @staticmethod
    def _copy(state: State) -> State:
        if isinstance(state, dense.DenseState):
            return dense.DenseState(state.tensor.copy(), state.wire_of, dict(state.info))
        return mps.MPSState(state.mps.copy(), state.site_of.copy(), state.wire_of, dict(state.info))

    @staticmethod
    def _probability_one(state: State, qubit: int) -> float:
        """The exact probability that measuring ``qubit`` gives 1 (the state need not be normalised)."""
        if isinstance(state, dense.DenseState):
            t = np.moveaxis(state.tensor, qubit, 0)
            w0, w1 = float(np.vdot(t[0], t[0]).real), float(np.vdot(t[1], t[1]).real)
        else:
            site = int(state.site_of[qubit])
            state.mps.move_center(site)  # canonical about the site: its tensor carries the whole norm
            t = state.mps.tensors[site]
            w0, w1 = float(np.vdot(t[:, 0], t[:, 0]).real), float(np.vdot(t[:, 1], t[:, 1]).real)
        return min(max(w1 / (w0 + w1), 0.0), 1.0)

    @staticmethod
    def _project(state: State, qubit: int, bit: int, reset: bool) -> None:
        """Project ``qubit`` on ``bit`` and renormalise; a reset then flips a 1 back to 0."""
        if isinstance(state, dense.DenseState):
            t = np.moveaxis(state.tensor, qubit, 0)  # a view: writes go to the state
            t[1 - bit] = 0
            t[bit] /= np.linalg.norm(t[bit])
            if reset and bit:
                t[0], t[1] = t[1].copy(), 0
            return
        site = int(state.site_of[qubit])  # the centre is at this site (moved there by _probability_one)
        t = state.mps.tensors[site].copy()
        t[:, 1 - bit] = 0
        t[:, bit] /= np.linalg.norm(t[:, bit])  # the other tensors are isometries: this renormalises the state
        if reset and bit:
            t = np.matmul(_X, t)
        state.mps.tensors[site] = t
