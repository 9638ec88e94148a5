"""Pauli strings and Hamiltonians (weighted sums of Pauli strings), parsed from short text.

Accepted text: ``"Z0 Z1"``, ``"X3*Z5"``, ``"0.5*Z0 Z1 + X2 - 0.25*Y1"``, or a dense label
``"XIZ"`` (character q is qubit q).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Union

import numpy as np

from .circuit.gates import PAULI_MATRICES
from .errors import ObservableError

_TOKEN = re.compile(r"^([IXYZ])(\d+)$")
_TERM_SPLIT = re.compile(r"(?<=[\dA-Za-z\s)])\s*([+-])\s*(?=[\d.IXYZ(])")


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
        pieces = _TERM_SPLIT.split(" " + text.strip())
        signs, bodies = ["+"] + pieces[1::2], pieces[0::2]
        terms, coeffs = [], []
        for sign, body in zip(signs, bodies):
            body = body.strip()
            if not body:
                raise ObservableError(f"empty term in Hamiltonian {text!r}")
            match = re.match(r"^\(?([0-9.eE+-]+j?)\)?\s*\*?\s*(.*)$", body)
            coeff: complex = 1.0
            if match and re.match(r"^[0-9.]", match.group(1)):
                try:
                    coeff = complex(match.group(1)) if "j" in match.group(1) else float(match.group(1))
                except ValueError:
                    raise ObservableError(f"bad coefficient {match.group(1)!r} in {text!r}") from None
                body = match.group(2)
            terms.append(PauliString.parse(body))
            coeffs.append(-coeff if sign == "-" else coeff)
        return cls(tuple(terms), tuple(coeffs))

    @property
    def support(self) -> tuple[int, ...]:
        return tuple(sorted({q for t in self.terms for q in t.support}))

    @property
    def is_diagonal(self) -> bool:
        return all(t.is_diagonal for t in self.terms)

    def __str__(self) -> str:
        return " + ".join(f"{c:g}*{t}" for c, t in zip(self.coeffs, self.terms))


Observable = Union[str, PauliString, Hamiltonian, Mapping[int, str], Iterable[tuple[complex, str]]]


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
                        tuple(c for c, _ in pairs))
    if num_qubits is not None:
        bad = [q for q in h.support if q >= num_qubits]
        if bad:
            raise ObservableError(f"observable {h} acts on qubit {bad[0]}, but the circuit has "
                                  f"{num_qubits} qubits (0..{num_qubits - 1})")
    return h


def pauli_matrix(label: str) -> np.ndarray:
    return PAULI_MATRICES[label]
