"""The circuit IR: an ordered list of operations on ``num_qubits`` qubits.

Bitstring convention (used by every backend): character ``q`` of a bitstring is qubit ``q``, and
qubit 0 is the most significant bit of a dense statevector index (``state[int("011", 2)]``).

Classical bits live in registers (``Circuit.cregs``, in declaration order; bit ``j`` of the circuit is the
j-th bit over all registers). ``measure(q, clbits=[c])`` writes qubit q's outcome into bit c and may be
followed by more gates on q; ``reset(q)`` returns q to |0>; any operation can carry a ``condition``
(register or bit == value, as OpenQASM 2's ``if(creg==k)``). Such dynamic circuits are run by ``tnq.sample``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ..errors import CircuitError
from .gates import GATES, gate_matrix, is_diagonal, is_unitary
from .parameters import ParameterExpression, by_name, check_numeric, is_symbolic

NON_UNITARY = ("measure", "barrier", "reset")


@dataclass(frozen=True, eq=False)
class Operation:
    """One instruction: a named gate, a custom ``unitary``, a ``measure``, a ``reset`` or a ``barrier``."""

    name: str
    qubits: tuple[int, ...]
    params: tuple[Any, ...] = ()
    matrix: np.ndarray | None = field(default=None, repr=False)
    label: str | None = None
    source: str | None = None
    """Where the operation was read from, as ``file:line`` (QASM input); errors raised later name it."""
    clbits: tuple[int, ...] = ()
    """For ``measure``: the classical bit each qubit's outcome is written to (empty: a terminal measurement)."""
    condition: tuple[tuple[int, ...], int] | None = None
    """``(bits, value)``: run only when the classical bits (``bits[0]`` least significant) read ``value``."""

    @property
    def is_gate(self) -> bool:
        return self.name not in NON_UNITARY

    @property
    def is_symbolic(self) -> bool:
        return any(is_symbolic(p) for p in self.params)

    @property
    def diagonal(self) -> bool:
        """True for gates whose matrix is diagonal (they commute with Z-type observables)."""
        if self.name == "unitary":
            return is_diagonal(self.matrix)
        return self.is_gate and GATES[self.name].diagonal

    def unitary(self) -> Any:
        """The gate's matrix (big-endian in ``self.qubits``); parameters must be bound."""
        if self.name == "unitary":
            return self.matrix
        if self.is_symbolic:
            raise CircuitError(f"{self.where} has unbound parameters "
                               f"{sorted(set().union(*(p.symbols for p in self.params if is_symbolic(p))))}; "
                               "call circuit.bind({...}) first")
        return gate_matrix(self.name, self.params)

    @property
    def where(self) -> str:
        """``'file:line: gate NAME on qubits [...]'`` (without the place when it is not known): how errors about
        this operation name it."""
        gate = f"gate {self.name} on qubits {list(self.qubits)}"
        return f"{self.source}: {gate}" if self.source else gate

    def with_qubits(self, qubits: Sequence[int]) -> Operation:
        return replace(self, qubits=tuple(qubits))

    def __repr__(self) -> str:
        args = ", ".join(repr(p) for p in self.params)
        return f"{self.name}({args}) {list(self.qubits)}" if args else f"{self.name} {list(self.qubits)}"


class Circuit:
    """A quantum circuit on ``num_qubits`` qubits, built gate by gate or read from QASM / qiskit.

    Gate methods follow qiskit's argument order (parameters first, then qubits)::

        c = Circuit(2); c.h(0); c.cx(0, 1); c.rz(Parameter("t"), 1)
    """

    def __init__(self, num_qubits: int, name: str | None = None, num_clbits: int = 0) -> None:
        if not isinstance(num_qubits, (int, np.integer)) or num_qubits < 1:
            raise CircuitError(f"num_qubits must be a positive integer, got {num_qubits!r}")
        self.num_qubits = int(num_qubits)
        self.name = name
        self.ops: list[Operation] = []
        self._measured: set[int] = set()
        self.cregs: list[tuple[str, int]] = []
        """Classical registers ``(name, size)`` in declaration order; their bits are numbered consecutively."""
        if num_clbits:
            self.add_creg("c", num_clbits)

    @property
    def num_clbits(self) -> int:
        """Number of classical bits over all registers."""
        return sum(size for _, size in self.cregs)

    def add_creg(self, name: str, size: int) -> range:
        """Declare a classical register; returns the circuit-wide indices of its bits."""
        if not isinstance(size, (int, np.integer)) or isinstance(size, bool) or size < 1:
            raise CircuitError(f"classical register {name!r}: size must be a positive integer, got {size!r}")
        if any(name == known for known, _ in self.cregs):
            raise CircuitError(f"classical register {name!r} is already declared")
        if self._measured:
            raise CircuitError(f"classical register {name!r}: declare classical registers before measuring "
                               "without clbits=")
        start = self.num_clbits
        self.cregs.append((str(name), int(size)))
        return range(start, start + int(size))

    def creg_bits(self, name: str) -> tuple[int, ...]:
        """The circuit-wide indices of register ``name``'s bits (its bit 0 first)."""
        start = 0
        for known, size in self.cregs:
            if known == name:
                return tuple(range(start, start + size))
            start += size
        raise CircuitError(f"no classical register named {name!r}; declared: "
                           f"{', '.join(n for n, _ in self.cregs) or 'none'}")

    # --- building -------------------------------------------------------------------------------
    def append(self, name: str, qubits: Sequence[int], params: Sequence[Any] = (),
               matrix: Any = None, label: str | None = None, source: str | None = None,
               clbits: Sequence[int] = (), condition: Any = None) -> Circuit:
        """Append one operation after validating its name, qubits and parameters; ``source`` (``file:line``)
        says where it was read from, and errors about it name that place. ``clbits``: where a ``measure``
        writes its outcomes; ``condition``: see ``Circuit.c_if``."""
        name = name.lower()
        qubits = self._check_qubits(name, qubits, source)
        where = f"{source}: gate {name} on qubits {list(qubits)}" if source else \
            f"gate {name} on qubits {list(qubits)} (operation {len(self.ops)})"
        clbits = self._check_clbits(name, qubits, clbits, where)
        if condition is not None:
            condition = self._check_condition(condition, where)
        if name == "unitary":
            matrix = self._check_matrix(matrix, len(qubits), where)
            params = ()
        elif name in NON_UNITARY:
            params = ()
        else:
            spec = GATES.get(name)
            if spec is None:
                raise CircuitError(f"{source + ': ' if source else ''}unknown gate {name!r}; known gates: "
                                   f"{', '.join(sorted(GATES))}")
            if len(qubits) != spec.num_qubits:
                raise CircuitError(f"{where}: {name} acts on {spec.num_qubits} qubit(s), got {len(qubits)}")
            if len(params) != spec.num_params:
                raise CircuitError(f"{where}: {name} takes {spec.num_params} parameter(s), got {len(params)}")
            params = tuple(check_numeric(p, where) for p in params)
        if name != "barrier":
            late = [q for q in qubits if q in self._measured]
            if late:
                raise CircuitError(f"{where}: qubit(s) {late} were already measured at the end (measure "
                                   "without clbits=); to measure mid-circuit, write the outcome to a classical "
                                   "bit: measure(q, clbits=[k])")
        if name == "measure" and not clbits:
            self._measured.update(qubits)
        self.ops.append(Operation(name, qubits, tuple(params), matrix, label, source, clbits, condition))
        return self

    def c_if(self, target: str | int, value: int) -> Circuit:
        """Make the last operation conditional: it runs only when classical register ``target`` (a name) or
        classical bit ``target`` (an index) reads ``value`` (register bit 0 least significant), e.g.
        ``c.x(1).c_if("c", 1)``; the same as ``append(..., condition=(target, value))``."""
        if not self.ops:
            raise CircuitError("c_if: no operation to condition yet")
        op = self.ops[-1]
        if op.condition is not None:
            raise CircuitError(f"c_if: {op.where} already has a condition")
        self.ops[-1] = replace(op, condition=self._check_condition((target, value), op.where))
        return self

    def _check_clbits(self, name: str, qubits: tuple[int, ...], clbits: Sequence[int], where: str) -> tuple[int, ...]:
        clbits = tuple(clbits)
        if not clbits:
            if name == "measure" and self.cregs:
                raise CircuitError(f"{where}: the circuit has classical registers; say which bits receive the "
                                   "outcomes: measure(*qubits, clbits=[...])")
            return ()
        if name != "measure":
            raise CircuitError(f"{where}: only measure writes classical bits")
        if len(clbits) != len(qubits):
            raise CircuitError(f"{where}: {len(qubits)} qubit(s) need {len(qubits)} classical bit(s), "
                               f"got {len(clbits)}")
        for b in clbits:
            self._check_clbit(b, where)
        if len(set(clbits)) != len(clbits):
            raise CircuitError(f"{where}: repeated classical bit in {list(clbits)}")
        return tuple(int(b) for b in clbits)

    def _check_clbit(self, bit: Any, where: str) -> None:
        if not isinstance(bit, (int, np.integer)) or isinstance(bit, bool):
            raise CircuitError(f"{where}: classical bit index must be an integer, got {bit!r}")
        if not 0 <= bit < self.num_clbits:
            valid = f"valid: 0..{self.num_clbits - 1}" if self.num_clbits else "the circuit has none: add_creg first"
            raise CircuitError(f"{where}: classical bit {bit} is out of range ({valid})")

    def _check_condition(self, condition: Any, where: str) -> tuple[tuple[int, ...], int]:
        """``(register name or bit index, value)`` or ``(bits tuple, value)`` as ``(bits, value)``."""
        try:
            target, value = condition
        except (TypeError, ValueError):
            raise CircuitError(f"{where}: a condition is (register name or classical bit, value), "
                               f"got {condition!r}") from None
        if isinstance(target, str):
            try:
                bits = self.creg_bits(target)
            except CircuitError as exc:
                raise CircuitError(f"{where}: condition on {exc}") from None
            what = f"register {target} ({len(bits)} bit(s))"
        else:
            bits = tuple(target) if isinstance(target, (tuple, list)) else (target,)
            for b in bits:
                self._check_clbit(b, where)
            bits = tuple(int(b) for b in bits)
            names = [name for name, _ in self.cregs if self.creg_bits(name) == bits]
            what = f"register {names[0]} ({len(bits)} bit(s))" if names else f"classical bit(s) {list(bits)}"
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or not 0 <= value < 2 ** len(bits):
            raise CircuitError(f"{where}: condition value {value!r} does not fit {what}: expected 0.."
                               f"{2 ** len(bits) - 1}")
        return bits, int(value)

    def unitary(self, matrix: Any, qubits: Sequence[int] | int, label: str | None = None) -> Circuit:
        """Append an arbitrary unitary; ``qubits[0]`` is the most significant bit of its index."""
        qubits = [qubits] if isinstance(qubits, (int, np.integer)) else qubits
        return self.append("unitary", qubits, matrix=matrix, label=label)

    def measure(self, *qubits: int, clbits: Sequence[int] | None = None) -> Circuit:
        """Measure qubits (default: all). Without ``clbits`` (circuits without classical registers): mark them
        as measured at the end; sampling returns these. With ``clbits``: write qubit ``qubits[j]``'s outcome to
        classical bit ``clbits[j]`` now; the qubits may be used again afterwards (run with ``tnq.sample``)."""
        return self.append("measure", qubits or range(self.num_qubits), clbits=clbits or ())

    def reset(self, *qubits: int) -> Circuit:
        """Reset qubits (default: all) to |0> mid-circuit: measure, then flip on outcome 1 (nothing recorded)."""
        for q in qubits or range(self.num_qubits):
            self.append("reset", [q])
        return self

    def barrier(self, *qubits: int) -> Circuit:
        """A no-op marker kept for QASM round trips."""
        return self.append("barrier", qubits or range(self.num_qubits))

    def compose(self, other: Circuit, qubits: Sequence[int] | None = None) -> Circuit:
        """Append all of ``other``'s operations, mapping its qubit ``k`` to ``qubits[k]``."""
        if qubits is None and other.num_qubits > self.num_qubits:
            raise CircuitError(f"compose: a {other.num_qubits}-qubit circuit does not fit in "
                               f"{self.num_qubits} qubits; pass qubits=[...] to place it")
        mapping = list(qubits) if qubits is not None else list(range(other.num_qubits))
        if len(mapping) != other.num_qubits:
            raise CircuitError(f"compose: {other.num_qubits} qubits need {other.num_qubits} targets, "
                               f"got {len(mapping)}")
        if other.cregs and not self.cregs:
            for creg in other.cregs:
                self.add_creg(*creg)
        elif other.cregs and other.cregs != self.cregs:
            raise CircuitError(f"compose: the circuits' classical registers differ ({other.cregs} vs {self.cregs})")
        for op in other.ops:
            self.append(op.name, [mapping[q] for q in op.qubits], op.params, op.matrix, op.label, op.source,
                        op.clbits, op.condition)
        return self

    # --- inspection -------------------------------------------------------------------------------
    def __iter__(self) -> Iterator[Operation]:
        return iter(self.ops)

    def __len__(self) -> int:
        return len(self.ops)

    def gates(self) -> Iterator[Operation]:
        """The unitary operations, skipping measurements and barriers."""
        return (op for op in self.ops if op.is_gate)

    @property
    def measured_qubits(self) -> list[int]:
        """Measured qubits in the order they were measured (empty: nothing measured)."""
        seen: list[int] = []
        for op in self.ops:
            if op.name == "measure":
                seen += [q for q in op.qubits if q not in seen]
        return seen

    @property
    def is_dynamic(self) -> bool:
        """True when the circuit resets qubits, conditions operations on classical bits, or acts on a qubit
        after measuring it: it then has no single final state, and ``tnq.sample`` runs it by branching."""
        return self.dynamic_operation() is not None

    def dynamic_operation(self) -> Operation | None:
        """The first reset, classically controlled operation, or operation on an already measured qubit."""
        measured: set[int] = set()
        for op in self.ops:
            if op.name == "reset" or op.condition is not None:
                return op
            if op.name not in ("barrier", "measure") and measured.intersection(op.qubits):
                return op
            if op.name == "measure":
                measured.update(op.qubits)
        return None

    @property
    def parameters(self) -> list[str]:
        """Sorted names of the free symbols still to be bound."""
        names: set[str] = set()
        for op in self.ops:
            for p in op.params:
                if isinstance(p, ParameterExpression):
                    names |= p.symbols
        return sorted(names)

    def count_ops(self) -> dict[str, int]:
        return dict(Counter(op.name for op in self.ops))

    def depth(self) -> int:
        """Number of layers of gates (barriers and measurements excluded)."""
        level = [0] * self.num_qubits
        for op in self.gates():
            d = 1 + max(level[q] for q in op.qubits)
            for q in op.qubits:
                level[q] = d
        return max(level)

    def __repr__(self) -> str:
        return (f"Circuit({self.num_qubits} qubits, {sum(1 for _ in self.gates())} gates, "
                f"depth {self.depth()}{', params ' + str(self.parameters) if self.parameters else ''})")

    # --- transformations -------------------------------------------------------------------------
    def copy(self) -> Circuit:
        new = Circuit(self.num_qubits, self.name)
        new.ops = list(self.ops)
        new._measured = set(self._measured)
        new.cregs = list(self.cregs)
        return new

    def bind(self, values: Mapping[Any, Any]) -> Circuit:
        """A copy with symbols replaced by ``values`` (keys: names or Parameters; values may be tensors)."""
        new = self.copy()
        values = by_name(values)  # one pass over the keys, not one per parameter
        ops = []
        for op in self.ops:
            if op.is_symbolic:  # only rebound parameters need checking; the others were checked when added
                op = replace(op, params=tuple(p.bind(values) if isinstance(p, ParameterExpression) else p
                                              for p in op.params))
                for p in op.params:
                    check_numeric(p, f"bind: {op.source + ': ' if op.source else ''}gate {op.name} on qubits "
                                     f"{list(op.qubits)}")
            ops.append(op)
        new.ops = ops
        return new

    def inverse(self) -> Circuit:
        """The adjoint circuit (gates reversed and conjugated as custom unitaries)."""
        if self.is_dynamic:
            raise CircuitError("inverse: a circuit with mid-circuit measurement, reset or classical control "
                               "has no inverse")
        new = Circuit(self.num_qubits, self.name)
        for op in reversed(list(self.gates())):
            new.unitary(np.asarray(op.unitary()).conj().T, op.qubits)
        return new

    # --- I/O (implemented in tnq.circuit.interop) ------------------------------------------------
    @classmethod
    def from_qasm(cls, source: str) -> Circuit:
        """Read OpenQASM 2 from a string or a path to a ``.qasm`` file."""
        from .interop import from_qasm

        return from_qasm(source)

    @classmethod
    def from_qiskit(cls, qc: Any) -> Circuit:
        """Convert a qiskit ``QuantumCircuit``."""
        from .interop import from_qiskit

        return from_qiskit(qc)

    def to_qiskit(self) -> Any:
        """Convert to a qiskit ``QuantumCircuit`` (qubit ``q`` -> qiskit qubit ``q``)."""
        from .interop import to_qiskit

        return to_qiskit(self)

    def to_qasm(self) -> str:
        """Export as an OpenQASM 2 string."""
        from .interop import to_qasm

        return to_qasm(self)

    # --- validation helpers ----------------------------------------------------------------------
    def _check_qubits(self, name: str, qubits: Iterable[int], source: str | None = None) -> tuple[int, ...]:
        gate = f"{source}: gate {name}" if source else f"gate {name}"
        out = []
        for q in qubits:
            if not isinstance(q, (int, np.integer)) or isinstance(q, bool):
                raise CircuitError(f"{gate}: qubit index must be an integer, got {q!r}")
            if not 0 <= q < self.num_qubits:
                raise CircuitError(f"{gate}: qubit {q} is out of range for a "
                                   f"{self.num_qubits}-qubit circuit (valid: 0..{self.num_qubits - 1})")
            out.append(int(q))
        if len(set(out)) != len(out):
            raise CircuitError(f"{gate}: repeated qubit in {out}")
        if not out and name not in NON_UNITARY:
            raise CircuitError(f"{gate}: no qubits given")
        return tuple(out)

    @staticmethod
    def _check_matrix(matrix: Any, k: int, where: str) -> np.ndarray:
        try:
            m = np.array(matrix, dtype=np.complex128)
        except (TypeError, ValueError) as exc:
            raise CircuitError(f"{where}: matrix is not numeric ({exc})") from None
        if m.shape != (2**k, 2**k):
            raise CircuitError(f"{where}: a {k}-qubit unitary must be {2**k}x{2**k}, got shape {m.shape}")
        if not np.all(np.isfinite(m)):
            raise CircuitError(f"{where}: matrix has NaN or infinite entries")
        if not is_unitary(m):
            dev = np.abs(m.conj().T @ m - np.eye(2**k)).max()
            raise CircuitError(f"{where}: matrix is not unitary (max |U^dag U - I| = {dev:.3g})")
        m.setflags(write=False)
        return m


def _add_gate_methods() -> None:
    """Give Circuit one method per named gate: ``c.h(0)``, ``c.rx(theta, 0)``, ``c.cp(lam, 0, 1)``."""
    for spec in GATES.values():
        def method(self: Circuit, *args: Any, _spec=spec) -> Circuit:
            n = _spec.num_params
            if len(args) != n + _spec.num_qubits:
                raise CircuitError(f"{_spec.name} takes {n} parameter(s) then {_spec.num_qubits} "
                                   f"qubit(s), got {len(args)} argument(s)")
            return self.append(_spec.name, args[n:], args[:n])

        method.__name__ = spec.name
        method.__doc__ = (f"Append {spec.name}: {spec.num_params} parameter(s) then "
                          f"{spec.num_qubits} qubit(s).")
        if not hasattr(Circuit, spec.name):
            setattr(Circuit, spec.name, method)


_add_gate_methods()
