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


@dataclass(frozen=True)
class GateKind:
    """The symbolic gates of one name in a gate list: their ``positions`` and, per parameter slot, their angles
    as an affine function of the parameter vector."""

    name: str
    positions: np.ndarray
    angles: tuple[AffineAngles, ...]

    def matrices(self, vector: Any, rows: np.ndarray | None = None) -> Any:
        """The matrices of the gates ``rows`` (sorted, distinct indices into ``positions``; None: all), one stack
        of shape (rows, d, d) built in one vectorised construction (torch when ``vector`` is)."""
        angles = self.angles if rows is None else [a.restrict(rows) for a in self.angles]
        return gate_matrix(self.name, [a.evaluate(vector) for a in angles])


class ParametricGates:
    """The gates of a lowered circuit with free symbols (``symbols``: their names, in value order).

    Symbolic gates are grouped by name into ``kinds`` (``GateKind``); ``kind_of[p]`` and ``row_of[p]`` say which
    kind gate ``p`` belongs to and its row there (-1: a gate without symbols, or one bound on its own)."""

    def __init__(self, gates: Sequence[Gate], symbols: Sequence[str]) -> None:
        self.gates = list(gates)
        self.symbols = list(symbols)
        column = {name: k for k, name in enumerate(self.symbols)}
        groups: dict[str, list[int]] = {}
        self.unbatched: list[int] = []
        """Symbolic gates whose other parameters are not plain numbers: bound one by one."""
        for p, g in enumerate(self.gates):
            if g.op is None or not g.op.is_symbolic:
                continue
            unknown = [name for v in g.op.params if isinstance(v, ParameterExpression) for name in v.terms
                       if name not in column]
            if unknown:
                raise CircuitError(f"gate {p} ({g.op.name}{' at ' + g.source if g.source else ''}) uses "
                                   f"parameter(s) {sorted(set(unknown))[:5]} that are not among the "
                                   f"{len(self.symbols)} symbols")
            if all(isinstance(v, (ParameterExpression, numbers.Real)) for v in g.op.params):
                groups.setdefault(g.op.name, []).append(p)
            else:
                self.unbatched.append(p)
        self.kinds = [GateKind(name, np.array(positions, dtype=np.int64),
                               tuple(AffineAngles.build([self.gates[p].op.params[j] for p in positions], column)
                                     for j in range(len(self.gates[positions[0]].op.params))))
                      for name, positions in groups.items()]
        self.kind_of = np.full(len(self.gates), -1, dtype=np.int64)
        self.row_of = np.full(len(self.gates), -1, dtype=np.int64)
        for k, kind in enumerate(self.kinds):
            self.kind_of[kind.positions] = k
            self.row_of[kind.positions] = np.arange(len(kind.positions))

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
        for kind in self.kinds:
            for p, matrix in zip(kind.positions, kind.matrices(vector)):
                gates[p] = Gate(self.gates[p].wires, matrix, self.gates[p].op)
        if self.unbatched:
            named = dict(zip(self.symbols, vector))
            for p in self.unbatched:
                op = self.gates[p].op
                bound = tuple(v.bind(named) if isinstance(v, ParameterExpression) else v for v in op.params)
                gates[p] = Gate(self.gates[p].wires,
                                op=Operation(op.name, op.qubits, bound, op.matrix, op.label, op.source))
        return gates

