"""A lowered circuit that keeps its symbols, re-bound to new values in a few array operations.

Re-evaluating one circuit with many parameter values (training, sweeps) should not pay for binding,
lowering and building every gate one by one: the circuit is lowered once, each symbolic angle is
compiled to ``const + sum coeff * value`` (sparse, per gate kind), and a new binding builds every gate
matrix of a kind in one vectorised construction. Values may be torch tensors (autograd reaches them).
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .circuit.circuit import Operation
from .circuit.gates import gate_matrix
from .circuit.parameters import Parameter, ParameterExpression
from .compile import Gate
from .errors import CircuitError


@dataclass(frozen=True)
class AffineAngles:
    """The angles of n gates as an affine function of a parameter vector: angle[i] = const[i] plus
    coef * vector[col] for every (row, col, coef) entry with row i (sparse: an angle uses a few symbols)."""

    const: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    coefs: np.ndarray

    @classmethod
    def build(cls, values: Sequence[Any], column: Mapping[str, int]) -> AffineAngles:
        """From one parameter per gate (ParameterExpression or real number); ``column``: symbol -> vector index."""
        const = np.zeros(len(values))
        rows, cols, coefs = [], [], []
        for i, value in enumerate(values):
            if isinstance(value, ParameterExpression):
                const[i] = value.const
                for name, coef in value.terms.items():
                    rows.append(i)
                    cols.append(column[name])
                    coefs.append(coef)
            else:
                const[i] = float(value)
        return cls(const, np.array(rows, dtype=np.int64), np.array(cols, dtype=np.int64),
                   np.array(coefs, dtype=np.float64))

    def restrict(self, keep: np.ndarray) -> AffineAngles:
        """Only the gates ``keep`` (sorted, distinct), renumbered 0..len(keep)-1."""
        remap = np.full(len(self.const), -1, dtype=np.int64)
        remap[keep] = np.arange(len(keep))
        mask = remap[self.rows] >= 0
        return AffineAngles(self.const[keep], remap[self.rows[mask]], self.cols[mask], self.coefs[mask])

    def evaluate(self, vector: Any) -> Any:
        """The angles for ``vector`` (numpy, or torch with autograd)."""
        if isinstance(vector, np.ndarray):
            return self.const + np.bincount(self.rows, weights=self.coefs * vector[self.cols],
                                            minlength=len(self.const))
        import torch

        const = torch.as_tensor(self.const, dtype=vector.dtype)
        terms = torch.as_tensor(self.coefs, dtype=vector.dtype) * vector[torch.as_tensor(self.cols)]
        return const.index_add(0, torch.as_tensor(self.rows), terms)


class ParametricGates:
    """The gates of a lowered circuit with free symbols (``symbols``: their names, in value order)."""

    def __init__(self, gates: Sequence[Gate], symbols: Sequence[str]) -> None:
        self.gates = list(gates)
        self.symbols = list(symbols)
        column = {name: k for k, name in enumerate(self.symbols)}
        groups: dict[str, list[int]] = {}
        self._each: list[int] = []  # symbolic gates whose other parameters are not plain numbers
        for p, g in enumerate(self.gates):
            if g.op is None or not g.op.is_symbolic:
                continue
            if all(isinstance(v, (ParameterExpression, numbers.Real)) for v in g.op.params):
                groups.setdefault(g.op.name, []).append(p)
            else:
                self._each.append(p)
        self._kinds = [(name, positions, [AffineAngles.build([self.gates[p].op.params[j] for p in positions], column)
                                          for j in range(len(self.gates[positions[0]].op.params))])
                       for name, positions in groups.items()]

    def vector(self, values: Mapping[Any, Any] | Sequence[Any] | np.ndarray | Any) -> Any:
        """``values`` as one vector in ``symbols`` order: a mapping (names or Parameters as keys, extra
        keys ignored), or a sequence / array / torch tensor already in that order."""
        if isinstance(values, Mapping):
            named = {key.name if isinstance(key, Parameter) else key: v for key, v in values.items()}
            missing = [name for name in self.symbols if name not in named]
            if missing:
                raise CircuitError(f"no value bound for parameter(s) {missing[:5]}"
                                   f"{' ...' if len(missing) > 5 else ''} ({len(self.symbols)} needed)")
            items = [named[name] for name in self.symbols]
            if any(type(v).__name__ == "Tensor" for v in items):
                import torch

                return self._checked(torch.stack([torch.as_tensor(v, dtype=torch.float64).reshape(()) for v in items]))
            values = items
        if type(values).__name__ == "Tensor":
            import torch

            return self._checked(values.to(torch.float64))
        try:
            vector = np.asarray(values, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise CircuitError(f"parameter values must be real numbers ({len(self.symbols)} of them): {exc}") from None
        return self._checked(vector)

    def _checked(self, vector: Any) -> Any:
        if tuple(vector.shape) != (len(self.symbols),):
            raise CircuitError(f"expected {len(self.symbols)} parameter values (for {self.symbols[:3]}"
                               f"{'...' if len(self.symbols) > 3 else ''}), got shape {tuple(vector.shape)}")
        numeric = np.asarray(vector.detach().numpy() if hasattr(vector, "detach") else vector)
        bad = np.flatnonzero(~np.isfinite(numeric))
        if len(bad):
            raise CircuitError(f"parameter {self.symbols[bad[0]]!r} is not finite ({numeric[bad[0]]})")
        return vector

    def bind(self, values: Mapping[Any, Any] | Sequence[Any] | np.ndarray | Any) -> list[Gate]:
        """The gates with every matrix built for ``values`` (numpy, or torch when the values are tensors)."""
        vector = self.vector(values)
        gates = list(self.gates)  # gates without symbols are shared (their matrices are built once)
        for name, positions, columns in self._kinds:
            stack = gate_matrix(name, [c.evaluate(vector) for c in columns])
            for p, matrix in zip(positions, stack):
                gates[p] = Gate(self.gates[p].wires, matrix, self.gates[p].op)
        if self._each:
            named = dict(zip(self.symbols, vector))
            for p in self._each:
                op = self.gates[p].op
                bound = tuple(v.bind(named) if isinstance(v, ParameterExpression) else v for v in op.params)
                gates[p] = Gate(self.gates[p].wires,
                                op=Operation(op.name, op.qubits, bound, op.matrix, op.label, op.source))
        return gates

