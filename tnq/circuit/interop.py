"""OpenQASM 2 and qiskit conversion. Parsing is qiskit.qasm2's (fast, handles qelib1.inc)."""

from __future__ import annotations

import cmath
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import CircuitError, QasmError
from .circuit import Circuit, Operation
from .gates import GATES, reverse_qubit_order
from .parameters import Parameter, ParameterExpression

# Statements tnq cannot simulate; found by a light scan so errors can name the line.
_UNSUPPORTED = [
    (re.compile(r"^\s*opaque\b"), "opaque gate declaration"),
]


MAX_QASM_BITS = 100_000
"""Most qubits plus classical bits a QASM file may declare: the parser allocates an object for each one."""
_REGISTER = re.compile(r"\b([qc])reg\s+([A-Za-z_]\w*)\s*\[\s*(\d+)\s*\]")


def _looks_like_path(source: str) -> bool:
    return "\n" not in source and ";" not in source and (source.endswith(".qasm") or os.path.exists(source))


def from_qasm(source: str | os.PathLike) -> Circuit:
    """Read OpenQASM 2 from a string or a file path; errors name the file, line and instruction, and every
    operation keeps its source line (``Operation.source``) for errors raised later."""
    text, origin = str(source), "<string>"
    if isinstance(source, os.PathLike) or _looks_like_path(text):
        origin = str(source)
        text = read_text(Path(source), origin)
    if not text.strip():
        raise QasmError(f"{origin}: empty QASM {'file' if origin != '<string>' else 'text'}: expected "
                        "'OPENQASM 2.0;' and a qreg")
    _scan_unsupported(text, origin)
    _check_sizes(text, origin)
    import qiskit.qasm2 as qasm2

    try:
        qc = qasm2.loads(text, custom_instructions=qasm2.LEGACY_CUSTOM_INSTRUCTIONS)
    except qasm2.QASM2ParseError as exc:
        message = str(exc).strip("'\"").replace("<input>", origin)
        match = re.search(r":(\d+),\d+:", message)
        line = f"\n  line {match.group(1)}: {_line(text, int(match.group(1)))}" if match else ""
        raise QasmError(f"{message}{line}") from None
    if qc.num_qubits == 0:
        raise QasmError(f"{origin}: declares no qubits: add a register such as 'qreg q[2];'")
    lines = _instruction_lines(text)
    if lines is not None and len(lines) != len(qc.data):  # the light scan misread the program: no lines
        lines = None
    return from_qiskit(qc, origin=origin, lines=lines)


def read_text(path: Path, origin: str) -> str:
    """The file's text as UTF-8 (a byte-order mark is dropped); errors name the file, line and byte."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise QasmError(f"{origin}: cannot read QASM file ({exc.strerror or exc})") from None
    except ValueError as exc:  # a path with a NUL byte
        raise QasmError(f"{origin!r}: not a usable file name ({exc})") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - data.rfind(b"\n", 0, exc.start)
        raise QasmError(f"{origin}:{line}:{column}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset "
                        f"{exc.start}); OpenQASM files are UTF-8") from None


def _check_sizes(text: str, origin: str) -> None:
    """Refuse registers too large to read before the parser allocates them."""
    total = 0
    for match in _REGISTER.finditer(text):
        total += int(match.group(3))
        if total > MAX_QASM_BITS:
            line = text.count("\n", 0, match.start()) + 1
            raise QasmError(f"{origin}:{line}: registers declare over {MAX_QASM_BITS} bits; tnq reads at most "
                            f"{MAX_QASM_BITS}: {match.group(0)}")


def _instruction_lines(text: str) -> list[int] | None:
    """The line of each instruction qiskit's parser makes from ``text`` (a gate on whole registers makes one per
    qubit), by a light scan of the top-level statements of a program that parsed; None where the scan cannot
    tell (an include other than qelib1.inc may hold statements)."""
    code = _COMMENT.sub("", text)
    sizes: dict[str, int] = {}
    lines: list[int] = []
    depth, line, pos = 0, 1, 0
    for match in _STATEMENT.finditer(code):
        body, end = match.group(1), match.group(2)
        line += code.count("\n", pos, match.start(1))  # lines numbered as the parser numbers them
        pos = match.start(1)
        if end != ";":
            depth += 1 if end == "{" else -1  # a gate declaration's header and body make no instruction
        elif depth == 0 and body:
            count = _statement_count(body, sizes)
            if count is None:
                return None
            lines += [line] * count
    return lines


_COMMENT = re.compile(r"//[^\n]*")
_STATEMENT = re.compile(r"\s*([^;{}]*)([;{}])")
_NAME = re.compile(r"[A-Za-z_]\w*")


def _statement_count(statement: str, sizes: dict[str, int]) -> int | None:
    """How many instructions one top-level statement makes (None: an include the scan cannot follow)."""
    keyword = _NAME.match(statement)
    name = keyword.group(0) if keyword else ""
    if name in ("OPENQASM", "creg"):
        return 0
    if name == "if":  # if(creg==k) STATEMENT: as many instructions as the statement makes
        return _statement_count(statement[statement.find(")") + 1:].strip(), sizes)
    if name == "include":
        return 0 if "qelib1.inc" in statement else None
    if name == "qreg":
        match = _REGISTER.search(statement)
        if match:
            sizes[match.group(2)] = int(match.group(3))
        return 0
    if name == "barrier":
        return 1
    # the arguments follow the parameters, if any (they hold no parentheses themselves)
    args = statement[statement.rfind(")") + 1:] if ")" in statement else statement[len(name):]
    if name == "measure":
        args = args.split("->", 1)[0]
    if args.count("[") == args.count(",") + 1:  # every argument is one qubit
        return 1
    return max(1 if "[" in arg else sizes.get(arg.strip(), 1) for arg in args.split(","))


def _line(text: str, number: int) -> str:
    lines = text.split("\n")
    return lines[number - 1].strip() if 0 < number <= len(lines) else ""


def _scan_unsupported(text: str, origin: str) -> None:
    for number, raw in enumerate(text.split("\n"), start=1):
        code = raw.split("//", 1)[0]
        for statement in code.split(";"):
            for pattern, what in _UNSUPPORTED:
                if pattern.search(statement):
                    raise QasmError(f"{origin}:{number}: {what} is not supported by tnq: {statement.strip()}")


def _param_from_qiskit(value: Any, where: str) -> Any:
    from qiskit.circuit import ParameterExpression as QiskitExpression

    if not isinstance(value, QiskitExpression):
        return float(value) if not isinstance(value, complex) else value
    if not value.parameters:
        return float(value)
    terms, zero = {}, {p: 0.0 for p in value.parameters}
    for p in value.parameters:
        grad = value.gradient(p)
        if isinstance(grad, QiskitExpression) and grad.parameters:
            raise CircuitError(f"{where}: parameter expression {value} is not affine in its symbols")
        terms[p.name] = float(grad)
    const = float(value.bind(zero))
    if len(terms) == 1 and const == 0.0 and next(iter(terms.values())) == 1.0:
        return Parameter(next(iter(terms)))
    return ParameterExpression(terms, const)


def from_qiskit(qc: Any, origin: str = "qiskit circuit", lines: list[int] | None = None) -> Circuit:
    """Convert a qiskit ``QuantumCircuit``; custom gates are expanded through their definitions. ``lines``: the
    source line of each instruction (from QASM), kept as ``origin:line`` in each operation's ``source``."""
    circuit = Circuit(qc.num_qubits, name=qc.name)
    _add_registers(circuit, qc)
    phase = _append_qiskit(circuit, qc, list(range(qc.num_qubits)), origin, lines)
    if abs(cmath.exp(1j * phase) - 1) > 1e-14:
        # A Circuit has no global-phase field: keep qiskit's (circuit, GlobalPhaseGate and expanded
        # definitions, e.g. ecr's) as a phase gate in front, so amplitudes match qiskit's exactly.
        matrix = Circuit._check_matrix(cmath.exp(1j * phase) * np.eye(2), 1, f"{origin}: global phase")
        circuit.ops.insert(0, Operation("unitary", (0,), (), matrix, "global_phase"))
    return circuit


def _add_registers(circuit: Circuit, qc: Any) -> None:
    """qiskit's classical registers, in declaration order, when they number its bits consecutively; else one
    register ``c`` over all of them."""
    indices = [qc.find_bit(bit).index for reg in qc.cregs for bit in reg]
    if indices == list(range(qc.num_clbits)):
        for reg in qc.cregs:
            circuit.add_creg(reg.name, reg.size)
    elif qc.num_clbits:
        circuit.add_creg("c", qc.num_clbits)


def _condition_from_qiskit(qc: Any, condition: Any, where: str) -> tuple[tuple[int, ...], int]:
    """A qiskit ``(ClassicalRegister or Clbit, value)`` condition as ``(bits, value)``."""
    from qiskit.circuit import ClassicalRegister, Clbit

    if isinstance(condition, tuple) and len(condition) == 2:
        target, value = condition
        if isinstance(target, ClassicalRegister):
            return tuple(qc.find_bit(bit).index for bit in target), int(value)
        if isinstance(target, Clbit):
            return (qc.find_bit(target).index,), int(value)
    raise QasmError(f"{where}: only conditions 'register == value' or 'bit == value' are supported, "
                    f"got {condition}")


def _numeric_phase(value: Any) -> float:
    """A qiskit global phase as a float; a symbolic one cannot be kept and counts as 0."""
    try:
        return float(value)
    except TypeError:
        return 0.0


def _append_qiskit(circuit: Circuit, qc: Any, mapping: list[int], origin: str, lines: list[int] | None = None,
                   source: str | None = None, clmap: list[int] | None = None,
                   condition: tuple[tuple[int, ...], int] | None = None) -> float:
    """Append ``qc``'s instructions; returns the global phase they carry (not representable in a Circuit).
    ``lines`` gives each instruction's source line; ``source`` is that of the gate a definition expands;
    ``clmap`` maps ``qc``'s classical bits to the circuit's; ``condition`` (an if's) applies to every instruction."""
    from qiskit.quantum_info import Operator

    phase = _numeric_phase(qc.global_phase)
    clmap = list(range(qc.num_clbits)) if clmap is None else clmap
    for index, instruction in enumerate(qc.data):
        op = instruction.operation
        qubits = [mapping[qc.find_bit(q).index] for q in instruction.qubits]
        clbits = [clmap[qc.find_bit(c).index] for c in instruction.clbits]
        here = f"{origin}:{lines[index]}" if lines is not None else source
        where = f"{here}: {op.name} on qubits {qubits}" if here is not None else \
            f"{origin}: instruction {index} ({op.name} on qubits {qubits})"
        if op.name == "if_else" and condition is None and (len(op.blocks) == 1 or op.blocks[1] is None):
            bits, value = _condition_from_qiskit(qc, op.condition, where)
            # a phase that only a branch gets is a global phase of that branch, which nothing can observe
            _append_qiskit(circuit, op.blocks[0], qubits, origin, source=here or f"{origin}: instruction {index}",
                           clmap=clbits, condition=(tuple(clmap[b] for b in bits), value))
            continue
        if op.name in ("if_else", "while_loop", "for_loop", "switch_case", "box", "initialize"):
            what = "an if with an else branch or inside another if" if op.name == "if_else" else op.name
            raise QasmError(f"{where}: {what} is not supported by tnq")
        if op.name in ("barrier", "measure", "reset"):
            circuit.append(op.name, qubits, source=here, clbits=clbits if op.name == "measure" else (),
                           condition=condition if op.name != "barrier" else None)
        elif op.name == "global_phase":
            phase += _numeric_phase(op.params[0])
        elif op.name == "delay":
            continue
        elif op.name in GATES:
            circuit.append(op.name, qubits, [_param_from_qiskit(p, where) for p in op.params], source=here,
                           condition=condition)
        elif op.definition is not None and op.name != "unitary":
            phase += _append_qiskit(circuit, op.definition, qubits, origin, source=here, condition=condition)
        else:
            try:
                matrix = Operator(op).data
            except Exception as exc:  # qiskit raises several types for non-unitary instructions
                raise QasmError(f"{where}: cannot convert to a unitary ({exc})") from None
            circuit.append("unitary", qubits, matrix=reverse_qubit_order(matrix), label=op.name, source=here,
                           condition=condition)
    return phase


def to_qiskit(circuit: Circuit) -> Any:
    """Convert to a qiskit ``QuantumCircuit`` with one classical bit per measured qubit."""
    from qiskit import ClassicalRegister, QuantumCircuit
    from qiskit.circuit import Parameter as QiskitParameter
    from qiskit.circuit.library import UnitaryGate, get_standard_gate_name_mapping

    standard = get_standard_gate_name_mapping()
    symbols: dict[str, Any] = {}

    def param(p: Any) -> Any:
        if isinstance(p, ParameterExpression):
            expr = p._const
            for name, coeff in p._terms.items():
                expr = expr + coeff * symbols.setdefault(name, QiskitParameter(name))
            return expr
        return float(np.real(p)) if np.isrealobj(p) or np.imag(p) == 0 else p

    qc = QuantumCircuit(circuit.num_qubits, name=circuit.name)
    for name, size in circuit.cregs:
        qc.add_register(ClassicalRegister(size, name))
    measured = [] if circuit.cregs else circuit.measured_qubits  # terminal measurements: one bit per qubit
    if measured:
        qc.add_register(ClassicalRegister(len(measured), "c"))
    for op in circuit.ops:
        if op.condition is not None:
            with qc.if_test(_condition_to_qiskit(circuit, qc, op.condition)):
                _add_to_qiskit(qc, op, measured, standard, param, UnitaryGate)
        else:
            _add_to_qiskit(qc, op, measured, standard, param, UnitaryGate)
    return qc


def _add_to_qiskit(qc: Any, op: Operation, measured: list[int], standard: dict, param: Any, unitary_gate: Any) -> None:
    """Append one unconditioned operation to a qiskit circuit."""
    if op.name == "measure":
        for q, c in zip(op.qubits, op.clbits or [measured.index(q) for q in op.qubits], strict=True):
            qc.measure(q, c)
    elif op.name == "reset":
        qc.reset(op.qubits[0])
    elif op.name == "barrier":
        qc.barrier(*op.qubits)
    elif op.name == "unitary":
        qc.append(unitary_gate(reverse_qubit_order(op.matrix), label=op.label), list(op.qubits))
    else:
        qc.append(type(standard[op.name])(*[param(p) for p in op.params]), list(op.qubits))


def _condition_to_qiskit(circuit: Circuit, qc: Any, condition: tuple[tuple[int, ...], int]) -> Any:
    """``(bits, value)`` as qiskit's ``(ClassicalRegister, value)`` when the bits are a whole register, else
    ``(Clbit, value)`` for one bit."""
    bits, value = condition
    for (name, _), reg in zip(circuit.cregs, qc.cregs):
        if circuit.creg_bits(name) == bits:
            return reg, value
    if len(bits) == 1:
        return qc.clbits[bits[0]], value
    raise CircuitError(f"a condition on classical bits {list(bits)} that are not one whole register cannot be "
                       "written for qiskit")


def to_qasm(circuit: Circuit) -> str:
    """OpenQASM 2 text of a circuit with bound parameters (custom unitaries are synthesised)."""
    if circuit.parameters:
        raise CircuitError(f"bind parameters {circuit.parameters} before exporting to OpenQASM 2")
    import qiskit.qasm2 as qasm2

    return qasm2.dumps(to_qiskit(circuit))
