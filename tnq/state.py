"""The result of a simulation: one interface over every backend.

Backends implement a few primitives on *wires* (their internal qubit order); this base class
translates qubits, validates bitstrings and observables, and offers amplitudes, probabilities,
expectations, sampling and counts.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import numpy as np

from .arrays import to_user
from .checks import SEED
from .errors import ObservableError, SimulationError
from .memory import check_budget
from .observables import Observable, as_hamiltonian, pauli_matrix

BitstringLike = "str | Sequence[int] | np.ndarray"


class State(ABC):
    """A simulated pure state of ``num_qubits`` qubits; ``info`` holds how it was obtained."""

    def __init__(self, num_qubits: int, wire_of: np.ndarray, info: dict[str, Any]) -> None:
        self.num_qubits = num_qubits
        self.wire_of = np.asarray(wire_of)
        self.info = info
        self.memory_budget: float | None = None  # bytes; set by simulate (None: 80% of free memory)
        self.rebinder: Any = None  # set by simulate(..., parameters=...): builds the state for new values

    def rebind(self, values: Any) -> State:
        """The same circuit's state for new parameter values (a mapping, or a vector in
        ``circuit.parameters`` order). Only for states from ``simulate(circuit, parameters=...)``: it reuses
        their lowering, and the contraction backend its network layout and tree."""
        if self.rebinder is None:
            raise SimulationError("rebind needs a state simulated with parameters=... (tnq.simulate(circuit, "
                                  "parameters=values)); bind the circuit and simulate it again instead")
        return self.rebinder(values)

    # --- backend primitives (wire order) ---------------------------------------------------------
    @abstractmethod
    def _amplitudes(self, wire_bits: np.ndarray) -> np.ndarray: ...

    @abstractmethod
    def _expect_pauli(self, wire_ops: dict[int, np.ndarray]) -> complex: ...

    @abstractmethod
    def _sample(self, shots: int, rng: np.random.Generator) -> np.ndarray: ...

    @abstractmethod
    def _sample_bytes(self, shots: int) -> int:
        """About the most memory ``_sample(shots)`` allocates at once, in bytes (checked before it runs)."""

    # --- public API ------------------------------------------------------------------------------
    def amplitudes(self, bitstrings: Any) -> np.ndarray:
        """``<b|psi>`` for each bitstring (strings like '0110', or an (m, n) array of 0/1), as a numpy array (a torch
        tensor only when it carries gradients)."""
        bits = as_bits(bitstrings, self.num_qubits)
        wire_bits = np.empty_like(bits)
        wire_bits[:, self.wire_of] = bits
        return to_user(self._amplitudes(wire_bits))

    def amplitude(self, bitstring: Any) -> complex:
        """``<b|psi>`` for one bitstring; character q is qubit q."""
        return complex(self.amplitudes([bitstring])[0])

    def probabilities(self, bitstrings: Any) -> np.ndarray:
        return np.abs(self.amplitudes(bitstrings)) ** 2

    def probability(self, bitstring: Any) -> float:
        return float(self.probabilities([bitstring])[0])

    def expectation(self, observable: Observable) -> float | complex:
        """``<psi|H|psi>`` for a Pauli string or Hamiltonian; real for Hermitian input."""
        h = as_hamiltonian(observable, self.num_qubits)
        total: Any = 0j
        for coeff, term in sorted(zip(h.coeffs, h.terms), key=lambda ct: min(ct[1].support, default=0)):
            ops = {int(self.wire_of[q]): pauli_matrix(p) for q, p in term.ops}
            total = total + coeff * self._expect_pauli(ops)
        total = to_user(total)
        hermitian = all(np.imag(c) == 0 for c in h.coeffs)
        if not isinstance(total, (complex, float, np.number, np.ndarray)):  # a torch tensor: keep the graph
            return total.real if hermitian else total
        return float(np.real(total)) if hermitian else complex(total)

    def sample(self, shots: int, seed: int | np.random.Generator | None = None,
               qubits: Sequence[int] | None = None) -> np.ndarray:
        """Exact samples from |psi|^2: an array (shots, len(qubits)) of 0/1, column j = qubits[j]. ``seed``: None
        (random), an integer in [0, 2**32) or a numpy Generator. Refused before anything is allocated when the
        samples would not fit the memory budget."""
        check_shots(shots)
        rng = rng_from_seed(seed)
        qubits = list(range(self.num_qubits)) if qubits is None else list(qubits)
        bad = [q for q in qubits if isinstance(q, (bool, np.bool_)) or not isinstance(q, (int, np.integer))
               or not 0 <= q < self.num_qubits]
        if bad:
            raise SimulationError(f"cannot sample qubit {bad[0]!r}: the state has {self.num_qubits} qubits "
                                  f"(0..{self.num_qubits - 1})")
        self.check_sample_budget(int(shots), len(qubits))
        wire_samples = self._sample(int(shots), rng)
        return wire_samples[:, self.wire_of[qubits]]

    def counts(self, shots: int, seed: int | np.random.Generator | None = None,
               qubits: Sequence[int] | None = None) -> dict[str, int]:
        """Histogram of sampled bitstrings (character j = qubits[j]), most common first (ties: first drawn
        first)."""
        return tally(self.sample(shots, seed, qubits))

    def check_sample_budget(self, shots: int, num_qubits: int, what: str | None = None) -> None:
        """Refuse (before allocating) drawing ``shots`` samples of ``num_qubits`` qubits at once when they would not
        fit the memory budget; ``what`` names the request in the message (default: the draw itself)."""
        # the backend's arrays, then the selected columns and what counts() needs to tally them
        needed = self._sample_bytes(shots) + shots * (3 * num_qubits + 32)
        check_budget(needed, self.memory_budget, what or f"sampling {shots} shots of {num_qubits} qubit(s)",
                     "draw fewer shots (seeded runs of fewer shots add up)")

    def __repr__(self) -> str:
        extras = ", ".join(f"{k}={v}" for k, v in self.info.items() if k in ("method", "max_bond", "fidelity"))
        return f"{type(self).__name__}({self.num_qubits} qubits, {extras})"


def tally(samples: np.ndarray) -> dict[str, int]:
    """Histogram of the rows of a (shots, k) 0/1 array as bitstrings, most common first (ties: first drawn first)."""
    if not len(samples):
        return {}
    if not samples.shape[1]:
        return {"": len(samples)}
    rows, first, counts = np.unique(samples, axis=0, return_index=True, return_counts=True)
    order = np.lexsort((first, -counts))  # by count, descending; ties in the order they were drawn
    return {"".join(map(str, rows[i])): int(counts[i]) for i in order}

def check_shots(shots: Any) -> None:
    """Refuse (SimulationError) a shot count that is not a non-negative integer."""
    if isinstance(shots, (bool, np.bool_)) or not isinstance(shots, (int, np.integer)) or shots < 0:
        raise SimulationError(f"shots must be a non-negative integer, got {shots!r}")


def rng_from_seed(seed: Any) -> np.random.Generator:
    """A numpy Generator from a seed that is None, an integer in [0, 2**32) or a Generator already."""
    if isinstance(seed, np.random.Generator):
        return seed
    if SEED.problem(seed):
        raise SimulationError(f"seed must be None, an integer in [0, 2**32) or a numpy Generator, got {seed!r}")
    return np.random.default_rng(seed)


def as_bits(bitstrings: Any, n: int) -> np.ndarray:
    """Validate bitstrings for an n-qubit state; return an (m, n) uint8 array."""
    if isinstance(bitstrings, str):
        bitstrings = [bitstrings]
    if isinstance(bitstrings, np.ndarray) and bitstrings.ndim == 2:
        bits = bitstrings
    else:
        rows = []
        for b in bitstrings:
            if isinstance(b, str):
                if set(b) - {"0", "1"}:
                    raise ObservableError(f"bitstring {b!r} may only contain '0' and '1'")
                rows.append([int(ch) for ch in b])
            elif isinstance(b, Sequence) or (isinstance(b, np.ndarray) and b.ndim == 1):
                rows.append(list(b))
            else:
                raise ObservableError(f"a bitstring must be a string like '0110' or a sequence of 0/1, "
                                      f"got {type(b).__name__} {b!r}")
        lengths = {len(r) for r in rows}
        if len(lengths) > 1:
            raise ObservableError(f"bitstrings of different lengths {sorted(lengths)}")
        bits = np.array(rows, dtype=np.int64).reshape(len(rows), -1)
    if bits.shape[1] != n:
        raise ObservableError(f"bitstring of length {bits.shape[1]} given for a {n}-qubit state")
    if bits.size and (bits.min() < 0 or bits.max() > 1):
        raise ObservableError("bitstrings may only contain 0 and 1")
    return bits.astype(np.uint8)
