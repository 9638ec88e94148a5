"""Cup removal (snake rewriting): bend word states that feed a cup into effects, so their circuits need no
post-selected Bell measurement; fewer post-selected qubits make training and sampling cheaper.

Port of lambeq 0.5's ``RemoveCupsRewriter`` to DisCoPy 1.2.2 pregroup diagrams: a state (no inputs) whose
whole output enters one cup (nested cups compressed into one) becomes a ``TransposedState`` effect on the
cup's other leg. The ansatz maps it to the transpose of the state's circuit (``transpose_circuit``); bending
through the cup ``<00| + <11|`` is exactly the transpose, so the circuit's value is unchanged (no scalar lost).
DisCoPy's own ``Box.r`` rotation of circuits is not used: in 1.2.2 it gives wrong tensors (e.g. for Ry).
"""

from __future__ import annotations

from discopy.grammar import pregroup
from discopy.grammar.pregroup import Box, Cup, Diagram, Id, Ty
from discopy.quantum.circuit import Circuit, Swap, qubit
from discopy.quantum.gates import Bra, Controlled, Ket, QuantumGate, Ry, Scalar

from qnlp.errors import QnlpError

_SYMMETRIC = {"H", "X", "Z", "S", "T", "Rx", "Rz"}  # one-qubit gates equal to their transpose


class TransposedState(Box):
    """The effect obtained by bending the pregroup state ``state`` through a cup onto wires of type ``dom``."""

    def __init__(self, state: Diagram, dom: Ty):
        names = [box.name for box in state.boxes if not isinstance(box, Cup)]
        super().__init__(f"{names[0]}ᵀ" if len(names) == 1 else f"({' '.join(names)})ᵀ", dom, Ty())
        self.state = state

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TransposedState) and self.state == other.state and self.dom == other.dom

    def __hash__(self) -> int:
        return hash((self.name, str(self.dom)))

    def transposed_circuit(self, ansatz) -> Circuit:
        """The circuit of this effect under ``ansatz``: the transpose of the state's circuit."""
        return transpose_circuit(ansatz(self.state))


class _Cups(Box):
    """Nested cups compressed into one box while rewriting (``left`` then ``right`` halves of its domain)."""

    def __init__(self, left: Ty, right: Ty):
        super().__init__("CUPS", left @ right, Ty())
        self.left, self.right = left, right


def _is_cup(box: Box) -> bool:
    return isinstance(box, (Cup, _Cups))


def _halves(box: Box) -> tuple[Ty, Ty]:
    if isinstance(box, _Cups):
        return box.left, box.right
    return box.dom[:1], box.dom[1:]


def _layered(dom: Ty, boxes: list[tuple[Box, int]]) -> Diagram:
    diagram = Id(dom)
    for box, offset in boxes:
        diagram = diagram >> Id(diagram.cod[:offset]) @ box @ Id(diagram.cod[offset + len(box.dom):])
    return diagram


def _compress_cups(diagram: Diagram) -> Diagram:
    """Merge each run of nested cups (every next cup one wire further out) into one ``_Cups`` box."""
    layers: list[tuple[Box, int]] = []
    for box, offset in zip(diagram.boxes, diagram.offsets):
        if isinstance(box, Cup) and layers and _is_cup(layers[-1][0]) and offset == layers[-1][1] - 1:
            left, right = _halves(layers[-1][0])
            layers[-1] = (_Cups(box.dom[:1] @ left, right @ box.dom[1:]), offset)
        else:
            layers.append((box, offset))
    return _layered(diagram.dom, layers)


def _remove_cups(diagram: Diagram) -> Diagram:
    """lambeq's algorithm: keep the diagram as side-by-side pieces; a cup whose one half is exactly a whole state
    piece turns that piece into an effect on the other piece, any other cup stays (as nested plain cups)."""
    pieces: list[Diagram] = [Id(diagram.dom)]
    for box, offset in zip(diagram.boxes, diagram.offsets):
        i, off = 0, offset
        while i < len(pieces) and off >= len(pieces[i].cod):
            off -= len(pieces[i].cod)
            i += 1
        if off == 0 and not len(box.dom):
            pieces.insert(i, box)
            continue
        left, right, j = pieces[i], Id(Ty()), 1
        while len(left.cod) + len(right.cod) < off + len(box.dom):
            right, j = right @ pieces[i + j], j + 1
        cod = left.cod @ right.cod
        wires_l, wires_r = Id(cod[:off]), Id(cod[off + len(box.dom):])
        if _is_cup(box):
            first, second = _halves(box)
            k = len(first)
            if off == 0 and len(left.cod) == k and not len(left.dom):
                new = right >> TransposedState(left, second) @ wires_r
            elif len(right.cod) == len(second) and len(left.cod) == off + k and not len(right.dom):
                new = left >> wires_l @ TransposedState(right, first)
            else:
                new = left @ right >> wires_l @ Diagram.cups(first, second) @ wires_r
        else:
            new = left @ right >> wires_l @ box @ wires_r
        pieces[i:i + j] = [new]
    return Id(Ty()).tensor(*pieces)


def remove_cups(diagram: Diagram) -> Diagram:
    """Rewrite a pregroup diagram so that as few cups as possible remain (same value under any ansatz)."""
    if not isinstance(diagram, pregroup.Diagram):
        raise QnlpError(f"remove_cups expects a DisCoPy pregroup diagram, got {type(diagram).__name__}")
    return _remove_cups(_compress_cups(_remove_cups(diagram)))


class RemoveCupsRewriter:
    """Callable form of ``remove_cups``, named as lambeq's rewriter."""

    def __call__(self, diagram: Diagram) -> Diagram:
        return remove_cups(diagram)


def _transpose_gate(box: Circuit) -> Circuit:
    """``box`` transposed, with its wires in mirrored order (as bending through nested cups does)."""
    if isinstance(box, Ket):
        return Bra(*reversed(box.bitstring))
    if isinstance(box, Bra):
        return Ket(*reversed(box.bitstring))
    if isinstance(box, Controlled):
        inner = _transpose_gate(box.controlled)
        if not isinstance(inner, QuantumGate):  # Y^T = -Y: the sign is not global once controlled
            raise QnlpError(f"cannot transpose circuit box {box!r}: its controlled gate has no gate transpose")
        return Controlled(inner, distance=-box.distance)
    if isinstance(box, Swap) or (not len(box.dom) and not len(box.cod)):
        return box  # SWAP is symmetric under both; scalars are 1x1
    if isinstance(box, Ry):
        return Ry(-box.phase)
    if isinstance(box, QuantumGate) and box.name == "Y":
        return box @ Scalar(-1)
    if len(box.dom) == 1 and box.name.split("(")[0] in _SYMMETRIC:
        return box
    raise QnlpError(f"cannot transpose circuit box {box!r}: only Ket, Bra, H, X, Y, Z, S, T, Rx, Ry, Rz, SWAP, "
                    "scalars and controlled gates are supported")


def transpose_circuit(circuit: Circuit) -> Circuit:
    """The transpose of a circuit (``cod -> dom``), wire order mirrored: boxes in reverse order, each transposed."""
    widths, width = [], len(circuit.dom)
    for box in circuit.boxes:
        widths.append(width)
        width += len(box.cod) - len(box.dom)
    out = Circuit.id(qubit ** len(circuit.cod))
    for box, offset, width in reversed(list(zip(circuit.boxes, circuit.offsets, widths))):
        right = width - offset - len(box.dom)  # wires right of the box, left of it once mirrored
        out = out >> Circuit.id(qubit ** right) @ _transpose_gate(box) @ Circuit.id(qubit ** offset)
    return out
