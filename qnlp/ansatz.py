"""Circuit ansätze: DisCoPy functors from pregroup diagrams to parameterised ``discopy.quantum`` circuits.

Mirrors lambeq 0.5's IQPAnsatz, Sim14Ansatz, Sim15Ansatz and StronglyEntanglingAnsatz (same gates, same order,
same symbol names such as ``loves__n.r@s@n.l_0``), but builds DisCoPy 1.2.2 circuits directly so the evaluator
gets only plain gates (Ket, Bra, H, CX, CRz, Rx/Ry/Rz, ``Controlled``) and sympy symbols. Each box becomes a circuit
on ``max(dom, cod)`` qubits; missing inputs are prepared in ``|0>``, surplus outputs post-selected on ``<0|``.
Symbols are named after the box (word and type), so they are shared across sentences by word; ``share`` maps
several words or boxes onto one symbol set (e.g. both relative pronouns "that" of the RP data set).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from itertools import cycle

import numpy as np
import sympy
from discopy.grammar import pregroup
from discopy.quantum.circuit import Circuit, Functor, Id, qubit
from discopy.quantum.gates import CX, Bra, Controlled, CRz, H, Ket, Rx, Ry, Rz, X

from qnlp.errors import QnlpError
from tnq.checks import Number

Rotation = type[Rx] | type[Ry] | type[Rz]

MAX_TYPE_QUBITS = 16
"""The most qubits ``ob_map`` may give one atomic type (a noun on 16 qubits is far beyond what sentence circuits
are contracted with)."""

MAX_BOX_PARAMETERS = 1000
"""The most parameters one box's circuit may have: building a circuit costs time quadratic in its gates (seconds
for 1000 gates on one box), so a larger box is refused before any gate is made."""

QUBIT_COUNT = Number(integer=True, minimum=0, maximum=MAX_TYPE_QUBITS)
BOX_PARAMETERS = Number(integer=True, minimum=0, maximum=MAX_BOX_PARAMETERS)


def box_label(box: pregroup.Box) -> str:
    """lambeq's box summary ``name_dom_cod`` (types without spaces, ``:``/``,``/space escaped): symbol prefix."""
    dom = str(box.dom).replace(" @ ", "@") if len(box.dom) else ""
    cod = str(box.cod).replace(" @ ", "@") if len(box.cod) else ""
    return f"{box.name}_{dom}_{cod}".translate({ord(c): f"\\{c}" for c in ":, "})


def circuit_symbols(circuit: Circuit) -> list[sympy.Symbol]:
    """The free symbols of a circuit, sorted by name (a stable order for parameter vectors)."""
    return sorted(circuit.free_symbols, key=lambda s: s.name)


def bind_circuit(circuit: Circuit, values: Mapping[str, float]) -> Circuit:
    """Replace every symbolic phase by its value, symbols matched by name. Works for sympy expressions and for
    lambeq's own ``Symbol`` (``scale * name``) left in circuits converted from lambeq."""
    def bound(box: Circuit) -> Circuit:
        if isinstance(box, Controlled):
            return Controlled(bound(box.controlled), distance=box.distance)
        phase = getattr(box, "phase", None)
        if phase is None or isinstance(phase, (int, float, complex, np.number)):
            return box
        if hasattr(phase, "unscaled"):  # lambeq.backend.symbol.Symbol
            return type(box)(phase.scale * _value(values, phase.name))
        if isinstance(phase, sympy.Expr):
            free = {s: _value(values, s.name) for s in phase.free_symbols}
            return type(box)(float(phase.subs(free)))
        return box

    out = Id(circuit.dom)
    for box, offset in zip(circuit.boxes, circuit.offsets):
        out = out >> Id(out.cod[:offset]) @ bound(box) @ Id(out.cod[offset + len(box.dom):])
    return out


def _value(values: Mapping[str, float], name: str) -> float:
    if name not in values:
        raise QnlpError(f"no value given for symbol {name!r}")
    return float(values[name])


def wires(n: int) -> Circuit:
    """The identity on n qubits (a register to compose gates onto)."""
    return Id(qubit ** n)


def gate_at(gate: Circuit, offset: int, n: int) -> Circuit:
    """``gate`` acting on qubits offset.. of an n-qubit register."""
    return wires(offset) @ gate @ wires(n - offset - len(gate.dom))


def controlled_at(gate: Circuit, control: int, target: int, n: int) -> Circuit:
    """Controlled ``gate`` (one-qubit) from ``control`` to ``target`` on n qubits, as one DisCoPy box."""
    distance = target - control
    if distance == 0:
        raise QnlpError(f"control and target are both qubit {control}")
    box = CX if distance == 1 and gate == X else Controlled(gate, distance=distance)
    return gate_at(box, min(control, target), n)


def _layer(gates: Iterable[Circuit]) -> Circuit:
    return Id(qubit ** 0).tensor(*gates)


class CircuitAnsatz:
    """Base class: the functor, box -> circuit sizing and symbol naming; subclasses give ``circuit(n, params)``.

    ``ob_map`` maps atomic pregroup types (``Ty`` or names, e.g. ``{N: 1, S: 1}``) to qubit counts; ``n_layers``
    and ``n_single_qubit_params`` as in lambeq; ``share`` maps a box label (``that__n.r@n@s.l@n``) or a box name
    (``that``) to the label whose symbols it uses.
    """

    def __init__(self, ob_map: Mapping[pregroup.Ty | str, int], n_layers: int, n_single_qubit_params: int = 3,
                 single_qubit_rotations: Sequence[Rotation] | None = None, share: Mapping[str, str] | None = None):
        for name, value in (("n_layers", n_layers), ("n_single_qubit_params", n_single_qubit_params)):
            BOX_PARAMETERS.check(name, value, QnlpError)
        self.ob_map: dict[str, int] = {}
        for ty, size in ob_map.items():
            name = _atomic_name(ty)
            QUBIT_COUNT.check(f"ob_map[{name!r}] (qubits)", size, QnlpError)
            self.ob_map[name] = int(size)
        self.n_layers = n_layers
        self.n_single_qubit_params = n_single_qubit_params
        self.single_qubit_rotations = list(single_qubit_rotations or [Rx, Rz])
        self.share = dict(share or {})
        self._cache: dict[tuple[str, str, str], Circuit] = {}  # circuits are immutable: one per box signature
        self.functor = Functor(ob={pregroup.Ty(name): qubit ** size for name, size in self.ob_map.items()},
                               ar=self._ar, dom=pregroup.Category())

    def __call__(self, diagram: pregroup.Diagram) -> Circuit:
        """The circuit of a pregroup diagram (boxes, words, cups, spiders, swaps)."""
        self.check(diagram)
        return self.functor(diagram)

    def check(self, diagram: pregroup.Diagram) -> None:
        """Raise a clear error unless ``diagram`` is a pregroup diagram whose every atomic type ``ob_map`` sizes."""
        if not isinstance(diagram, pregroup.Diagram):
            raise QnlpError(f"an ansatz maps DisCoPy pregroup diagrams, got {type(diagram).__name__}")
        for where, ty in [("the diagram", diagram.dom @ diagram.cod)] + [
                (f"box {box.name!r}", box.dom @ box.cod) for box in diagram.boxes]:
            for ob in ty.inside:
                if ob.name not in self.ob_map:
                    raise QnlpError(f"{where} has atomic type {ob.name!r}, which ob_map does not size "
                                    f"(it sizes {sorted(self.ob_map)})")

    def symbols(self, item: pregroup.Diagram | Circuit) -> list[sympy.Symbol]:
        """The symbols a diagram's circuit (or a circuit) uses, sorted by name."""
        return circuit_symbols(item if isinstance(item, Circuit) else self(item))

    def ob_size(self, ty: pregroup.Ty) -> int:
        """Number of qubits of a pregroup type."""
        return sum(self.ob_map[ob.name] for ob in ty.inside)

    def label(self, box: pregroup.Box) -> str:
        """The symbol prefix of a box: its lambeq summary, unless ``share`` redirects it (label first, then name)."""
        label = box_label(box)
        return self.share.get(label, self.share.get(box.name, label))

    def params_shape(self, n_qubits: int) -> tuple[int, ...]:
        raise NotImplementedError

    def circuit(self, n_qubits: int, params: np.ndarray) -> Circuit:
        """The ansatz on ``n_qubits`` >= 2 qubits with a parameter array of shape ``params_shape(n_qubits)``."""
        raise NotImplementedError

    def symbols_of(self, box: pregroup.Box, count: int) -> list[sympy.Symbol]:
        """The ``count`` parameter symbols of ``box`` (``LABEL_0`` ...); more than ``MAX_BOX_PARAMETERS`` is an
        error naming the box, before any gate is built."""
        if count > MAX_BOX_PARAMETERS:
            raise QnlpError(f"box {box.name!r} would have {count} parameters, more than {MAX_BOX_PARAMETERS} "
                            f"(n_layers={self.n_layers}, n_single_qubit_params={self.n_single_qubit_params}, "
                            f"qubits {self.ob_map}): use fewer layers, rotations or qubits")
        label = self.label(box)
        return [sympy.Symbol(f"{label}_{i}") for i in range(count)]

    def box_circuit(self, box: pregroup.Box) -> Circuit:
        """The circuit of one box, as lambeq builds it."""
        dom, cod = self.ob_size(box.dom), self.ob_size(box.cod)
        n_qubits = max(dom, cod)
        if n_qubits == 0:
            circuit = wires(0)
        elif n_qubits == 1:
            circuit = wires(1)
            for symbol, rotation in zip(self.symbols_of(box, self.n_single_qubit_params),
                                        cycle(self.single_qubit_rotations)):
                circuit = circuit >> rotation(symbol)
        else:
            shape = self.params_shape(n_qubits)
            names = self.symbols_of(box, math.prod(shape))
            params = np.empty(len(names), dtype=object)
            params[:] = names
            circuit = self.circuit(n_qubits, params.reshape(shape))
        if cod > dom:
            circuit = wires(dom) @ Ket(*[0] * (cod - dom)) >> circuit
        if cod < dom:
            circuit = circuit >> wires(cod) @ Bra(*[0] * (dom - cod))
        return circuit

    def _ar(self, box: pregroup.Box) -> Circuit:
        transposed = getattr(box, "transposed_circuit", None)  # cup-removed words (qnlp.rewrite)
        if transposed is not None:
            return transposed(self)
        key = (box.name, str(box.dom), str(box.cod))
        if key not in self._cache:
            self._cache[key] = self.box_circuit(box)
        return self._cache[key]


def _atomic_name(ty: pregroup.Ty | str | object) -> str:
    if isinstance(ty, str):
        return ty
    inside = getattr(ty, "inside", None)
    if inside is not None and len(inside) == 1 and getattr(inside[0], "z", 0) == 0:
        return inside[0].name
    if type(ty).__module__.startswith("lambeq.") and len(ty) == 1 and str(ty).isidentifier():
        return str(ty)  # lambeq's AtomicType.NOUN and the like
    raise QnlpError(f"ob_map key {ty!r} must be one atomic pregroup type or its name")


class IQPAnsatz(CircuitAnsatz):
    """IQP: per layer Hadamards then a chain of CRz on neighbours; a final layer of Hadamards."""

    def params_shape(self, n_qubits: int) -> tuple[int, ...]:
        return (self.n_layers, n_qubits - 1)

    def circuit(self, n_qubits: int, params: np.ndarray) -> Circuit:
        hadamards = _layer([H] * n_qubits)
        circuit = wires(n_qubits)
        for thetas in params:
            circuit = circuit >> hadamards
            for i in range(n_qubits - 1):
                circuit = circuit >> gate_at(CRz(thetas[i]), i, n_qubits)
        if self.n_layers > 0:
            circuit = circuit >> hadamards
        return circuit


def _two_rings(n: int, first: Sequence, second: Sequence, gate1: Callable[[int], Circuit],
               gate2: Callable[[int], Circuit]) -> Circuit:
    """One Sim14/15 layer: Ry(first), ring i -> i-1 of gate1(i), Ry(second), ring i%n -> i+1 of gate2(i), i = n..1."""
    circuit = _layer([Ry(t) for t in first])
    for i in range(n):
        circuit = circuit >> controlled_at(gate1(i), i, (i - 1) % n, n)
    circuit = circuit >> _layer([Ry(t) for t in second])
    for i in range(n, 0, -1):
        circuit = circuit >> controlled_at(gate2(i), i % n, (i + 1) % n, n)
    return circuit


class Sim14Ansatz(CircuitAnsatz):
    """Sim et al. circuit 14 (lambeq's variant): Ry layer, CRx ring one way, Ry layer, CRx ring the other way."""

    def params_shape(self, n_qubits: int) -> tuple[int, ...]:
        return (self.n_layers, 4 * n_qubits)

    def circuit(self, n_qubits: int, params: np.ndarray) -> Circuit:
        n, circuit = n_qubits, wires(n_qubits)
        for t in params:
            circuit = circuit >> _two_rings(n, t[:n], t[2 * n:3 * n], lambda i, t=t: Rx(t[n + i]),
                                            lambda i, t=t: Rx(t[4 * n - i]))
        return circuit


class Sim15Ansatz(CircuitAnsatz):
    """Sim et al. circuit 15 (lambeq's variant): Ry layer, CNOT ring one way, Ry layer, CNOT ring the other way."""

    def params_shape(self, n_qubits: int) -> tuple[int, ...]:
        return (self.n_layers, 2 * n_qubits)

    def circuit(self, n_qubits: int, params: np.ndarray) -> Circuit:
        n, circuit = n_qubits, wires(n_qubits)
        for t in params:
            circuit = circuit >> _two_rings(n, t[:n], t[n:], lambda _i: X, lambda _i: X)
        return circuit


class StronglyEntanglingAnsatz(CircuitAnsatz):
    """PennyLane's StronglyEntanglingLayers as in lambeq: Rz Ry Rz on each qubit, then a CNOT ring of range
    ``ranges[layer]`` (default layer % (n-1) + 1). One-qubit boxes cycle Rz, Ry."""

    def __init__(self, ob_map: Mapping[pregroup.Ty | str, int], n_layers: int, n_single_qubit_params: int = 3,
                 ranges: Sequence[int] | None = None, share: Mapping[str, str] | None = None):
        super().__init__(ob_map, n_layers, n_single_qubit_params, [Rz, Ry], share=share)
        self.ranges = None if ranges is None else list(ranges)
        if self.ranges is not None and len(self.ranges) != n_layers:
            raise QnlpError(f"StronglyEntanglingAnsatz: {len(self.ranges)} ranges for {n_layers} layers")

    def params_shape(self, n_qubits: int) -> tuple[int, ...]:
        return (self.n_layers, 3 * n_qubits)

    def circuit(self, n_qubits: int, params: np.ndarray) -> Circuit:
        circuit = wires(n_qubits)
        for layer in range(self.n_layers):
            for j in range(n_qubits):
                a, b, c = params[layer][3 * j:3 * j + 3]
                circuit = circuit >> gate_at(Rz(a) >> Ry(b) >> Rz(c), j, n_qubits)
            if self.ranges is None:
                step = layer % (n_qubits - 1) + 1
            elif not 0 < self.ranges[layer] < n_qubits:
                raise QnlpError(f"StronglyEntanglingAnsatz: range {self.ranges[layer]} of layer {layer} must be "
                                f"between 1 and {n_qubits - 1} for a {n_qubits}-qubit box")
            else:
                step = self.ranges[layer]
            for j in range(n_qubits):
                circuit = circuit >> controlled_at(X, j, (j + step) % n_qubits, n_qubits)
        return circuit
