"""DisCoPy quantum circuits (the output of an ansatz functor) as tnq circuits with post-selection.

A DisCoPy circuit prepares qubits with ``Ket`` boxes anywhere in the diagram and post-selects them with
``Bra`` boxes; tnq circuits start every qubit in |0>. The translation gives each ``Ket`` qubit its own tnq
qubit, records every ``Bra`` as a fixed bit, and keeps the remaining wires, in codomain order, as the open
outputs. Symbolic phases (sympy expressions, DisCoPy's half-turn convention) become tnq parameters, so a
sentence circuit is translated once and evaluated many times with new values.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from qnlp.errors import QnlpError
from tnq.circuit import Circuit as TnqCircuit
from tnq.circuit.parameters import ParameterExpression

ROTATIONS = {"Rx": "rx", "Ry": "ry", "Rz": "rz", "U1": "p"}
"""DisCoPy rotation -> tnq gate; DisCoPy phases are in half turns: tnq angle = 2 pi phase."""

CONTROLLED = {"X": "cx", "Y": "cy", "Z": "cz", "H": "ch", "Rx": "crx", "Ry": "cry", "Rz": "crz", "U1": "cp"}
"""Gate name inside a one-control DisCoPy ``Controlled`` -> the tnq controlled gate."""

FIXED = {"H": "h", "X": "x", "Y": "y", "Z": "z", "S": "s", "T": "t"}


@dataclass
class SentenceCircuit:
    """A sentence's circuit in tnq form: gates on ``circuit.num_qubits`` qubits (parameters symbolic), the
    post-selected qubits and their bits, the open output qubits (DisCoPy codomain order) and a constant
    scalar factor (DisCoPy's ``sqrt(2)`` normalisations and the like)."""

    circuit: TnqCircuit
    postselect: dict[int, int]
    outputs: list[int]
    scalar: complex = 1.0
    symbols: list[str] = field(default_factory=list)

    @property
    def pattern(self) -> tuple:
        """Circuits with equal patterns can be evaluated in one batch."""
        return (self.circuit.num_qubits, tuple(sorted(self.postselect.items())), tuple(self.outputs))


def _phase(value: Any, where: Any) -> Any:
    """A DisCoPy phase (number or linear sympy expression) as a tnq angle (2 pi phase); symbolic phases are
    converted once (sympy is slow and the same word's phases recur in every sentence)."""
    try:
        return _symbolic_phase(value)
    except TypeError:  # unhashable phase
        return _convert_phase(value, where)
    except QnlpError as exc:
        raise QnlpError(f"{where}: {exc}") from None


@functools.lru_cache(maxsize=65536)
def _symbolic_phase(value: Any) -> Any:
    return _convert_phase(value, "phase")


def _convert_phase(value: Any, where: Any) -> Any:
    if isinstance(value, (int, float, np.floating, np.integer)):
        return 2 * math.pi * float(value)
    try:
        import sympy
    except ImportError as exc:  # pragma: no cover - sympy comes with discopy
        raise QnlpError(f"{where}: symbolic phase {value!r} needs sympy") from exc
    to_sympy = getattr(value, "to_sympy", None)  # lambeq symbols (kept by lambeq's to_discopy)
    expr = to_sympy() if to_sympy is not None else sympy.sympify(value)
    if expr.is_number:
        return 2 * math.pi * float(expr)
    symbols = sorted(expr.free_symbols, key=str)
    poly = sympy.Poly(expr, *symbols)
    if poly.total_degree() > 1:
        raise QnlpError(f"{where}: phase {value} is not linear in its symbols; only affine phases are supported")
    terms = {str(s): 2 * math.pi * float(poly.coeff_monomial(s)) for s in symbols}
    return ParameterExpression(terms, 2 * math.pi * float(poly.coeff_monomial(1)))


def _matrix(box: Any) -> np.ndarray:
    """A numeric DisCoPy gate's matrix in tnq's convention (DisCoPy arrays are indexed dom first)."""
    k = len(box.dom)
    return np.asarray(box.array, dtype=np.complex128).reshape(2 ** k, 2 ** k).T


def from_discopy(diagram: Any) -> SentenceCircuit:
    """Translate a pure DisCoPy 1.2.2 quantum circuit with empty domain (kets, gates, bras, scalars, swaps)."""
    if len(diagram.dom) != 0:
        raise QnlpError(f"circuit domain must be empty (a closed sentence), got {diagram.dom}")
    return _translate((_instruction(box, layer), offset)
                      for layer, (box, offset) in enumerate(zip(diagram.boxes, diagram.offsets)))


def from_functor(diagram: Any, functor: Callable[[Any], Any], width: Callable[[Any], int]) -> SentenceCircuit:
    """``from_discopy(functor(diagram))`` without building the whole DisCoPy circuit: each layer's box is mapped by
    the functor on its own (boxes repeat across sentences, so ``functor`` may cache) and its gates are shifted by
    ``width(left type)`` qubits. Same gates in the same order as the composed circuit, but linear in the
    sentence length, where composing DisCoPy diagrams is quadratic."""
    if len(diagram.dom) != 0:
        raise QnlpError(f"diagram domain must be empty (a closed sentence), got {diagram.dom}")
    return from_layers(((box, width(left)) for left, box, _ in diagram.inside), functor)


def from_layers(layers: Iterable[tuple[Any, int]], functor: Callable[[Any], Any],
                memo: dict[int, tuple[Any, list[tuple[tuple, int]]]] | None = None) -> SentenceCircuit:
    """The circuit of a closed diagram given as its boxes in order, each with the qubit offset of its first
    wire: the functor's image of each box, shifted (see ``from_functor``; callers that know the layout, such
    as the protein stairs and trees, skip building the diagram at all). Each distinct image (the same object
    returned again) is read once per call, or once for all calls that pass the same ``memo`` dict (it keeps
    the images it has read alive, so their ids stay theirs)."""
    read = {} if memo is None else memo

    def instructions() -> Iterator[tuple[tuple, int]]:
        layer = 0
        for box, shift in layers:
            image = functor(box)
            known = read.get(id(image))
            if known is None:
                known = read[id(image)] = (image, [(_instruction(b, layer + k), offset) for k, (b, offset)
                                                   in enumerate(zip(image.boxes, image.offsets))])
            layer += len(known[1])
            yield from ((instruction, shift + offset) for instruction, offset in known[1])

    return _translate(instructions())


@dataclass(frozen=True)
class _Where:
    """Where a box sits, formatted only when an error message needs it (printing symbolic phases is slow)."""

    layer: int
    box: Any

    def __str__(self) -> str:
        return f"layer {self.layer} ({self.box})"


def _instruction(box: Any, layer: int) -> tuple:
    """One DisCoPy box as ``(kind, ...)``: ``("ket", bits)``, ``("bra", bits)``, ``("swap",)``, ``("scalar",
    value)`` or ``("gate", name, slots, params)`` with the gate's qubits as positions in the box's span."""
    from discopy.quantum import gates as G
    from discopy.quantum.circuit import Swap, qubit

    if isinstance(box, G.Ket):
        return ("ket", tuple(int(b) for b in box.bitstring))
    if isinstance(box, G.Bra):
        return ("bra", tuple(int(b) for b in box.bitstring))
    if isinstance(box, Swap):
        return ("swap",)
    where = _Where(layer, box)
    if len(box.dom) == 0 and len(box.cod) == 0:
        if _is_symbolic(box):
            raise QnlpError(f"{where}: symbolic scalars are not supported")
        return ("scalar", complex(np.asarray(box.array).reshape(())))
    if box.dom != box.cod or box.is_mixed or any(ob != qubit.inside[0] for ob in box.dom.inside):
        raise QnlpError(f"{where}: only pure qubit gates, kets, bras and scalars can be evaluated "
                        f"(got {type(box).__name__} from {box.dom} to {box.cod})")
    return ("gate", *_gate(box, len(box.dom), where))


def _translate(instructions: Iterable[tuple[tuple, int]]) -> SentenceCircuit:
    """The gates of a closed circuit given as (instruction, offset) pairs, in order (see ``_instruction``)."""
    ops: list[tuple[str, list[int], list[Any]]] = []   # (gate or 'unitary', qubits, params or [matrix])
    postselect: dict[int, int] = {}
    wires: list[int] = []  # tnq qubit on each wire of the current layer
    scalar: complex = 1.0
    count = 0
    for instruction, offset in instructions:
        kind = instruction[0]
        if kind == "ket":
            new = list(range(count, count + len(instruction[1])))
            count += len(new)
            ops += [("x", [q], []) for q, bit in zip(new, instruction[1]) if bit]
            wires[offset:offset] = new
        elif kind == "bra":
            bits = instruction[1]
            postselect.update(zip(wires[offset:offset + len(bits)], bits))
            del wires[offset:offset + len(bits)]
        elif kind == "swap":
            wires[offset], wires[offset + 1] = wires[offset + 1], wires[offset]
        elif kind == "scalar":
            scalar *= instruction[1]
        else:
            _, name, slots, params = instruction
            ops.append((name, [wires[offset + j] for j in slots], params))
    circuit = TnqCircuit(count)
    for name, qubits, params in ops:
        if name == "unitary":
            circuit.unitary(params[0], qubits)
        else:
            getattr(circuit, name)(*params, *qubits)
    return SentenceCircuit(circuit, postselect, list(wires), scalar, sorted(circuit.parameters))


def _gate(box: Any, k: int, where: Any) -> tuple[str, list[int], list[Any]]:
    """Gate name, its qubits as positions 0..k-1 in the box's span, and its parameters."""
    from discopy.quantum import gates as G

    if isinstance(box, G.Controlled):
        inner, distance = box.controlled, box.distance
        if len(inner.dom) == 1 and not isinstance(inner, G.Controlled):
            control, target = (0, k - 1) if distance > 0 else (k - 1, 0)
            name = CONTROLLED.get(_base_name(inner))
            if name is not None:
                return name, [control, target], _params(inner, where)
    elif isinstance(box, G.Parametrized) and _base_name(box) in ROTATIONS:
        return ROTATIONS[_base_name(box)], list(range(k)), _params(box, where)
    elif box.name in FIXED:
        return FIXED[box.name], list(range(k)), []
    if _is_symbolic(box):
        raise QnlpError(f"{where}: symbolic gate {type(box).__name__} is not supported; "
                        f"use Rx/Ry/Rz/U1 or one-control CRx/CRy/CRz/CU1")
    return "unitary", list(range(k)), [_matrix(box)]


def _base_name(box: Any) -> str:
    return type(box).__name__ if type(box).__name__ in ROTATIONS else box.name.split("(")[0]


def _params(box: Any, where: Any) -> list[Any]:
    return [_phase(box.phase, where)] if hasattr(box, "phase") else []


def _is_symbolic(box: Any) -> bool:
    phase = getattr(box, "phase", None)
    return bool(box.free_symbols) or (phase is not None and not isinstance(phase, (int, float, complex, np.number)))
