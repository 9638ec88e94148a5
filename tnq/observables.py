"""Pauli strings and Hamiltonians (weighted sums of Pauli strings), parsed from short text.

Accepted text: ``"Z0 Z1"``, ``"X3*Z5"``, ``"0.5*Z0 Z1 + X2 - 0.25*Y1"``, or a dense label
``"XIZ"`` (character q is qubit q).
"""

from __future__ import annotations

import cmath
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from .circuit.gates import PAULI_MATRICES
from .errors import ObservableError

_TOKEN = re.compile(r"^([IXYZ])(\d+)$")
_COEFF = re.compile(r"^(\([^()]*\)|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?j?)\s*\*?\s*(.*)$")


@dataclass(frozen=True)
class PauliString:
    """A tensor product of single-qubit Paulis, ``ops[q]`` in {X, Y, Z}; identity elsewhere."""

    ops: tuple[tuple[int, str], ...]

    @classmethod
    def from_dict(cls, ops: Mapping[int, str]) -> PauliString:
        items = []
        for q, p in ops.items():
            p = str(p).upper()
            if p not in PAULI_MATRICES:
                raise ObservableError(f"qubit {q}: {p!r} is not a Pauli (I, X, Y, Z)")
            if not isinstance(q, (int, np.integer)) or q < 0:
                raise ObservableError(f"Pauli on {q!r}: qubit must be a non-negative integer")
            if p != "I":
                items.append((int(q), p))
        return cls(tuple(sorted(items)))

    @classmethod
    def parse(cls, text: str) -> PauliString:
        text = text.strip()
        if text and set(text) <= set("IXYZ") and not any(ch.isdigit() for ch in text):
            return cls.from_dict(dict(enumerate(text)))
        ops: dict[int, str] = {}
        for token in filter(None, re.split(r"[\s*]+", text)):
            match = _TOKEN.match(token.upper())
            if not match:
                raise ObservableError(f"cannot read Pauli term {token!r} in {text!r}: expected e.g. "
                                      "'Z0', 'X12' or a dense label like 'XIZ'")
            q = int(match.group(2))
            if q in ops:
                raise ObservableError(f"qubit {q} appears twice in Pauli string {text!r}")
            ops[q] = match.group(1)
        return cls.from_dict(ops)

    @property
    def support(self) -> tuple[int, ...]:
        return tuple(q for q, _ in self.ops)

    @property
    def is_diagonal(self) -> bool:
        return all(p == "Z" for _, p in self.ops)

    def as_dict(self) -> dict[int, str]:
        return dict(self.ops)

    def __str__(self) -> str:
        return " ".join(f"{p}{q}" for q, p in self.ops) or "I"


@dataclass(frozen=True)
class Hamiltonian:
    """``sum_k coeffs[k] * terms[k]`` over Pauli strings."""

    terms: tuple[PauliString, ...]
    coeffs: tuple[complex, ...]

    @classmethod
    def parse(cls, text: str) -> Hamiltonian:
        terms, coeffs = [], []
        for sign, body in _split_terms(text):
            coeff: complex = 1.0
            match = _COEFF.match(body)
            if match:
                number = match.group(1).strip("()").replace(" ", "")
                try:
                    coeff = complex(number) if "j" in number else float(number)
                except ValueError:
                    raise ObservableError(f"bad coefficient {match.group(1)!r} in {text!r}") from None
                body = match.group(2)
            terms.append(PauliString.parse(body))
            coeffs.append(sign * _finite(coeff, f"term {body!r} in {text!r}", match.group(1) if match else None))
        return cls(tuple(terms), tuple(coeffs))

    @property
    def support(self) -> tuple[int, ...]:
        return tuple(sorted({q for t in self.terms for q in t.support}))

    @property
    def is_diagonal(self) -> bool:
        return all(t.is_diagonal for t in self.terms)

    def __str__(self) -> str:
        return " + ".join(f"{c:g}*{t}" for c, t in zip(self.coeffs, self.terms))


def _finite(coeff: complex, where: str, written: str | None = None) -> complex:
    """``coeff`` if it is a finite number; else an ObservableError naming the term (1e400 reads as inf)."""
    shown = written if written is not None else repr(coeff)
    try:  # a torch coefficient is checked without its autograd graph
        finite = cmath.isfinite(complex(coeff.detach() if hasattr(coeff, "detach") else coeff))
    except (TypeError, ValueError):
        raise ObservableError(f"coefficient {shown} of {where} is not a number") from None
    if not finite:
        raise ObservableError(f"coefficient {shown} of {where} is not finite")
    return coeff


def _split_terms(text: str) -> list[tuple[float, str]]:
    """Split ``"0.5*Z0 Z1 - 1e-3*X2 + (1+2j)*Y0"`` into (sign, body) pairs at top-level + and -,
    leaving signs inside parentheses and number exponents (``1e-3``) alone."""
    pieces: list[tuple[float, str]] = []
    sign, body, depth = 1.0, "", 0
    for i, ch in enumerate(text):
        depth += (ch == "(") - (ch == ")")
        if depth < 0:
            raise ObservableError(f"unbalanced ')' in Hamiltonian {text!r}")
        exponent = i >= 2 and text[i - 1] in "eE" and (text[i - 2].isdigit() or text[i - 2] == ".")
        if ch in "+-" and depth == 0 and not exponent:
            if body.strip():
                pieces.append((sign, body.strip()))
                sign, body = 1.0, ""
            sign = -sign if ch == "-" else sign
            continue
        body += ch
    if depth:
        raise ObservableError(f"unbalanced '(' in Hamiltonian {text!r}")
    if not body.strip():
        raise ObservableError(f"empty term in Hamiltonian {text!r}")
    pieces.append((sign, body.strip()))
    return pieces


Observable = str | PauliString | Hamiltonian | Mapping[int, str] | Iterable[tuple[complex, str]]


def as_hamiltonian(observable: Observable, num_qubits: int | None = None) -> Hamiltonian:
    """Normalise any accepted observable form to a Hamiltonian, checking qubits fit the circuit."""
    if isinstance(observable, Hamiltonian):
        h = observable
    elif isinstance(observable, PauliString):
        h = Hamiltonian((observable,), (1.0,))
    elif isinstance(observable, str):
        h = Hamiltonian.parse(observable)
    elif isinstance(observable, Mapping):
        h = Hamiltonian((PauliString.from_dict(observable),), (1.0,))
    else:
        pairs = list(observable)
        h = Hamiltonian(tuple(t if isinstance(t, PauliString) else PauliString.parse(t) for _, t in pairs),
                        tuple(_finite(c, f"term {str(t)!r}") for c, t in pairs))
    if num_qubits is not None:
        bad = [q for q in h.support if q >= num_qubits]
        if bad:
            raise ObservableError(f"observable {h} acts on qubit {bad[0]}, but the circuit has "
                                  f"{num_qubits} qubits (0..{num_qubits - 1})")
    return h


def pauli_matrix(label: str) -> np.ndarray:
    return PAULI_MATRICES[label]
