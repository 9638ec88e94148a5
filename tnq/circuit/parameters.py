"""Symbolic gate parameters: named symbols and affine expressions of them, bound to numbers later.

Training code binds symbols to floats or to torch tensors (for autodiff); the simulator only sees
numbers. Affine expressions (``2 * theta + 0.5``) cover the rotation angles that ansaetze and
QASM programs produce.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from typing import Any

from ..errors import CircuitError


class ParameterExpression:
    """``const + sum_k coeff_k * symbol_k``: an affine combination of named symbols."""

    __slots__ = ("_terms", "_const")

    def __init__(self, terms: Mapping[str, float], const: float = 0.0) -> None:
        self._terms = {name: float(c) for name, c in terms.items() if c != 0}
        self._const = float(const)

    # --- inspection -------------------------------------------------------------------------
    @property
    def symbols(self) -> frozenset[str]:
        """Names of the free symbols in this expression."""
        return frozenset(self._terms)

    @property
    def terms(self) -> dict[str, float]:
        """Coefficient of each symbol (a copy)."""
        return dict(self._terms)

    @property
    def const(self) -> float:
        return self._const

    def bind(self, values: Mapping[Any, Any]) -> Any:
        """Evaluate with ``values`` (keys: symbol names or Parameters). Returns a number or tensor."""
        total: Any = self._const
        for name, coeff in self._terms.items():
            value = _lookup(values, name)
            total = total + coeff * value if coeff != 1.0 else total + value
        return total

    # --- arithmetic ---------------------------------------------------------------------------
    def _combine(self, other: Any, sign: float) -> ParameterExpression:
        if isinstance(other, ParameterExpression):
            terms = dict(self._terms)
            for name, c in other._terms.items():
                terms[name] = terms.get(name, 0.0) + sign * c
            return ParameterExpression(terms, self._const + sign * other._const)
        if isinstance(other, numbers.Real):
            return ParameterExpression(self._terms, self._const + sign * float(other))
        return NotImplemented

    def __add__(self, other: Any) -> ParameterExpression:
        return self._combine(other, 1.0)

    __radd__ = __add__

    def __sub__(self, other: Any) -> ParameterExpression:
        return self._combine(other, -1.0)

    def __rsub__(self, other: Any) -> ParameterExpression:
        return (-self)._combine(other, 1.0)

    def __mul__(self, other: Any) -> ParameterExpression:
        if isinstance(other, numbers.Real):
            k = float(other)
            return ParameterExpression({n: k * c for n, c in self._terms.items()}, k * self._const)
        return NotImplemented

    __rmul__ = __mul__

    def __truediv__(self, other: Any) -> ParameterExpression:
        if isinstance(other, numbers.Real):
            return self * (1.0 / float(other))
        return NotImplemented

    def __neg__(self) -> ParameterExpression:
        return self * -1.0

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, ParameterExpression)
                and self._terms == other._terms and self._const == other._const)

    def __hash__(self) -> int:
        return hash((frozenset(self._terms.items()), self._const))

    def __repr__(self) -> str:
        parts = [f"{c:g}*{n}" if c != 1.0 else n for n, c in sorted(self._terms.items())]
        if self._const or not parts:
            parts.append(f"{self._const:g}")
        return " + ".join(parts)


class Parameter(ParameterExpression):
    """A named free symbol, e.g. ``Parameter("theta")``; symbols with equal names are the same."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        if not isinstance(name, str) or not name:
            raise CircuitError(f"a Parameter needs a non-empty string name, got {name!r}")
        super().__init__({name: 1.0})
        self.name = name

    def __repr__(self) -> str:
        return f"Parameter({self.name!r})"


ParamValue = float | complex | ParameterExpression | Any


def by_name(values: Mapping[Any, Any]) -> dict[str, Any]:
    """The same bindings keyed by symbol name (keys may be names or Parameters)."""
    return {key.name if isinstance(key, Parameter) else key: value for key, value in values.items()}


def _lookup(values: Mapping[Any, Any], name: str) -> Any:
    if name in values:
        return values[name]
    for key, value in values.items():
        if isinstance(key, Parameter) and key.name == name:
            return value
    raise CircuitError(f"no value bound for parameter {name!r}")


def is_symbolic(value: Any) -> bool:
    """True when ``value`` still has free symbols (must be bound before simulation)."""
    return isinstance(value, ParameterExpression) and bool(value.symbols)


def check_numeric(value: Any, where: str) -> Any:
    """Reject NaN/inf parameters with a message naming the gate; pass symbols and tensors through."""
    if isinstance(value, ParameterExpression):
        return value if value.symbols else value.bind({})
    if isinstance(value, numbers.Number):
        if isinstance(value, bool):
            raise CircuitError(f"{where}: parameter must be a number, got bool {value!r}")
        if not (math.isfinite(value.real) and math.isfinite(getattr(value, "imag", 0.0))):
            raise CircuitError(f"{where}: parameter is not finite ({value!r})")
        if not isinstance(value, numbers.Real):  # gate angles are real; a complex one makes a non-unitary gate
            if value.imag != 0:
                raise CircuitError(f"{where}: parameter must be real, got complex {value!r}")
            return float(value.real)
        return value
    if hasattr(value, "shape") and hasattr(value, "dtype"):  # numpy scalar / torch tensor
        if math.prod(value.shape) != 1:
            raise CircuitError(f"{where}: parameter must be a single number, got an array of shape "
                               f"{tuple(value.shape)}")
        return value
    raise CircuitError(f"{where}: parameter must be a number or Parameter, got {type(value).__name__}")
