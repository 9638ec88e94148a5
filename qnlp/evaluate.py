"""Evaluate sentence circuits through tnq's contraction backend: build the gate matrices of all
sentences at once from the parameter vector (one batched matrix construction per gate kind), contract
each post-selected network (one cached tree per circuit shape, one stacked contraction per batch of
sentences with the same shape) and normalise over the open output qubits. Differentiable when the
parameters are a torch tensor."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from qnlp.circuits import SentenceCircuit
from qnlp.errors import QnlpError
from tnq.backends.contract import stacked_amplitude_tensor
from tnq.circuit.gates import gate_matrix
from tnq.compile import Gate
from tnq.contract import TreeCache
from tnq.parametric import AffineAngles

DEFAULT_CACHE = TreeCache()
"""Trees of sentence shapes, shared by every model in the process (a shape is searched once)."""


class CompiledBatch:
    """Sentence circuits prepared for repeated evaluation with new parameter vectors: constant gate
    matrices are built once; parameterised gates are grouped by kind, and their angles are an affine
    function of the parameter vector (``angles = const + sum coef * theta[index]``)."""

    def __init__(self, circuits: Sequence[SentenceCircuit], symbols: Sequence[str]) -> None:
        if not circuits:
            raise QnlpError("no circuits to evaluate")
        widths = {len(c.outputs) for c in circuits}
        if len(widths) != 1:
            raise QnlpError(f"circuits have different numbers of output qubits {sorted(widths)}; "
                            "evaluate each output type separately")
        self.circuits = list(circuits)
        self.symbols = list(symbols)
        position = {s: i for i, s in enumerate(self.symbols)}
        # per gate kind: number of gates and, per parameter slot, (const, rows, indices, coefs)
        self.kinds: dict[str, dict[str, Any]] = {}
        self.plans: list[list[tuple[tuple[int, ...], Any]]] = []  # per circuit: (wires, matrix or (kind, row))
        for c in self.circuits:
            missing = [s for s in c.symbols if s not in position]
            if missing:
                raise QnlpError(f"no value for symbol(s) {missing[:5]}{' ...' if len(missing) > 5 else ''}")
            plan = []
            for op in c.circuit.gates():
                if not op.is_symbolic:
                    plan.append((op.qubits, op.unitary()))
                    continue
                kind = self.kinds.setdefault(op.name, {"count": 0, "slots": [[] for _ in op.params]})
                row = kind["count"]
                kind["count"] += 1
                for slot, p in zip(kind["slots"], op.params):
                    slot.append(p)
                plan.append((op.qubits, (op.name, row)))
            self.plans.append(plan)
        self._torch_constants: dict[int, Any] = {}
        # circuits with one gate pattern (same gates on the same qubits, parameters aside) form a group that is
        # evaluated as one stacked network: per gate position, the rows of its kind's matrix stack
        self.groups: list[dict[str, Any]] = []
        self.group_of: list[tuple[int, int]] = []  # circuit -> (group, position in group)
        index: dict[tuple, int] = {}
        for i, (c, plan) in enumerate(zip(self.circuits, self.plans)):
            key = (c.pattern, tuple((wires, m[0]) if isinstance(m, tuple) else (wires, _constant_key(m))
                                    for wires, m in plan))
            if key not in index:
                index[key] = len(self.groups)
                self.groups.append({"members": [], "first": i})
            group = self.groups[index[key]]
            self.group_of.append((index[key], len(group["members"])))
            group["members"].append(i)
        for group in self.groups:
            plans = [self.plans[i] for i in group["members"]]
            group["rows"] = [np.array([plan[j][1][1] for plan in plans]) if isinstance(m, tuple) else None
                             for j, (_, m) in enumerate(plans[0])]
        # per gate kind: the kind rows each circuit uses (a mini-batch builds only its own gates' matrices)
        self._kind_rows: list[dict[str, list[int]]] = [{} for _ in self.circuits]
        for i, plan in enumerate(self.plans):
            for _, m in plan:
                if isinstance(m, tuple):
                    self._kind_rows[i].setdefault(m[0], []).append(m[1])
        for kind in self.kinds.values():  # angles = const + sum coef * theta[index], per parameter slot
            kind["slots"] = [AffineAngles.build(values, position) for values in kind["slots"]]

    def _matrices(self, theta: Any, chosen: Sequence[int] | None = None) -> dict[str, tuple[Any, np.ndarray | None]]:
        """Parameterised gate matrices, one stack per gate kind, with the map from kind row to stack row
        (``None``: every row, in order). ``chosen``: build only the gates of these circuits, so a mini-batch
        step costs (and backpropagates through) its own sequences only."""
        needed: dict[str, list[Any]] = {}
        if chosen is not None:
            for i in chosen:
                for name, rows in self._kind_rows[i].items():
                    needed.setdefault(name, []).append(rows)
        out = {}
        for name, kind in self.kinds.items():
            keep = remap = None
            if chosen is not None:
                if name not in needed:
                    continue
                keep = np.unique(np.concatenate([np.asarray(r) for r in needed[name]]))
                if len(keep) == kind["count"]:
                    keep = None
                else:
                    remap = np.full(kind["count"], -1, dtype=np.int64)
                    remap[keep] = np.arange(len(keep))
            params = [(angles if keep is None else angles.restrict(keep)).evaluate(theta) for angles in kind["slots"]]
            out[name] = (gate_matrix(name, params), remap)
        return out

    def _constant(self, matrix: np.ndarray) -> Any:
        key = id(matrix)
        if key not in self._torch_constants:
            import torch

            self._torch_constants[key] = (torch.tensor(matrix), matrix)  # keep matrix alive: id stays valid
        return self._torch_constants[key][0]

    def amplitudes(self, theta: Any, cache: TreeCache | None = None, subset: Sequence[int] | None = None) -> Any:
        """Post-selected output amplitudes, shape (len(circuits), 2**k), including each circuit's constant
        scalar; torch (differentiable) when ``theta`` is a torch tensor. ``subset``: only these circuits
        (rows in that order), e.g. a mini-batch: only their gate matrices are built (and backpropagated
        through), each gate-pattern group still contracted as one stack with its cached tree."""
        cache = DEFAULT_CACHE if cache is None else cache
        torch_mode = not isinstance(theta, np.ndarray)
        if not torch_mode:
            theta = np.asarray(theta, dtype=np.float64)
        if len(theta) != len(self.symbols):
            raise QnlpError(f"expected {len(self.symbols)} parameters, got {len(theta)}")
        chosen = list(range(len(self.circuits))) if subset is None else [int(i) for i in subset]
        stacks = self._matrices(theta, None if subset is None else chosen)
        selected: dict[int, list[int]] = {}
        for i in chosen:
            g, position = self.group_of[i]
            selected.setdefault(g, []).append(position)
        k = len(self.circuits[0].outputs)
        rows: dict[int, Any] = {}
        for g, positions in selected.items():
            group = self.groups[g]
            first = self.circuits[group["first"]]
            take = np.asarray(positions)
            gates = []
            for (wires, m), row_index in zip(self.plans[group["first"]], group["rows"]):
                if row_index is None:
                    gates.append(Gate(wires, self._constant(m) if torch_mode else m))
                else:
                    stack, remap = stacks[m[0]]
                    picked = row_index[take] if remap is None else remap[row_index[take]]
                    gates.append(Gate(wires, stack[_index(picked, torch_mode)]))
            n = first.circuit.num_qubits
            tensors = stacked_amplitude_tensor(gates, n, first.postselect, first.outputs, cache=cache)
            members = [group["members"][p] for p in positions]
            if tensors.ndim == k:  # no parameterised gate: every member has the same amplitudes
                tensors = tensors[None]
            tensors = tensors.reshape(-1, 2 ** k)
            for row, i in enumerate(members):
                rows[i] = tensors[0 if tensors.shape[0] == 1 else row] * self.circuits[i].scalar
        if not torch_mode:
            return np.stack([rows[i] for i in chosen])
        import torch

        return torch.stack([rows[i] for i in chosen])

    def probabilities(self, theta: Any, cache: TreeCache | None = None, subset: Sequence[int] | None = None,
                      tiny: float = 1e-300) -> Any:
        """Outcome probabilities of the output qubits given that the post-selections succeed: |amplitude|^2
        normalised per sentence, shape (len(circuits), 2**k)."""
        probs = abs(self.amplitudes(theta, cache, subset)) ** 2
        # post-selecting many qubits makes the total tiny (2**-50 and less): only guard against exactly zero
        return probs / (probs.sum(-1, keepdims=True) + tiny) if isinstance(probs, np.ndarray) else \
            probs / (probs.sum(-1, keepdim=True) + tiny)


def _constant_key(matrix: np.ndarray) -> Any:
    """Equal constant gates (shared named-gate matrices, or equal custom unitaries) get equal keys."""
    return ("id", id(matrix)) if not matrix.flags.writeable else ("bytes", matrix.tobytes())


def _index(rows: np.ndarray, torch_mode: bool) -> Any:
    if torch_mode:
        import torch

        return torch.as_tensor(rows)
    return rows


def amplitudes(circuits: Sequence[SentenceCircuit], values: Mapping[str, Any], cache: TreeCache | None = None) -> Any:
    """Post-selected output amplitudes for parameter ``values`` by symbol name (numbers, or torch scalars
    for autograd); see ``CompiledBatch`` to evaluate the same circuits many times."""
    symbols = sorted({s for c in circuits for s in c.symbols})
    theta = _vector(values, symbols)
    return CompiledBatch(circuits, symbols).amplitudes(theta, cache)


def probabilities(circuits: Sequence[SentenceCircuit], values: Mapping[str, Any],
                  cache: TreeCache | None = None) -> Any:
    symbols = sorted({s for c in circuits for s in c.symbols})
    return CompiledBatch(circuits, symbols).probabilities(_vector(values, symbols), cache)


def _vector(values: Mapping[str, Any], symbols: list[str]) -> Any:
    missing = [s for s in symbols if s not in values]
    if missing:
        raise QnlpError(f"no value for symbol(s) {missing[:5]}{' ...' if len(missing) > 5 else ''}")
    items = [values[s] for s in symbols]
    if any(hasattr(v, "requires_grad") for v in items):
        import torch

        return torch.stack([torch.as_tensor(v, dtype=torch.float64) for v in items]) if items else \
            torch.zeros(0, dtype=torch.float64)
    return np.array(items, dtype=np.float64)
