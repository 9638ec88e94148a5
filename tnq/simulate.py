"""The front door: ``simulate`` returns a State; ``expectation`` evaluates observables on the
reverse lightcone only. ``method="auto"`` picks a backend and records why in ``state.info``."""

from __future__ import annotations

import logging
import time
from typing import Any

from .backends import dense, mps
from .circuit import Circuit
from .compile import compact, fuse, lightcone, lower
from .errors import SimulationError
from .observables import Hamiltonian, Observable, PauliString, as_hamiltonian
from .state import State

log = logging.getLogger("tnq")

METHODS = ("auto", "dense", "mps")
DENSE_AUTO_LIMIT = 20
"""``auto`` uses the exact dense backend up to this many qubits (16 MiB of amplitudes)."""

_BACKENDS = {"dense": dense.run, "mps": mps.run}


def choose_method(num_qubits: int, method: str) -> tuple[str, str]:
    """Resolve ``method`` to a backend name and a one-line reason."""
    if method not in METHODS:
        raise SimulationError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if method != "auto":
        return method, "chosen by the user"
    if num_qubits <= DENSE_AUTO_LIMIT:
        return "dense", f"{num_qubits} qubits <= {DENSE_AUTO_LIMIT}: exact statevector is cheap"
    return "mps", f"{num_qubits} qubits > {DENSE_AUTO_LIMIT}: MPS with truncation"


def simulate(circuit: Circuit, method: str = "auto", *, max_bond: int | None = None,
             cutoff: float = 1e-16, progress: bool | None = None, memory_budget: int | None = None,
             fuse_gates: bool = True) -> State:
    """Simulate ``circuit`` from |0...0> and return its final State.

    ``max_bond`` and ``cutoff`` (largest relative discarded weight per SVD) bound the MPS;
    ``memory_budget`` (bytes, default 80% of free memory) is checked before large allocations.
    """
    if not isinstance(circuit, Circuit):
        raise SimulationError(f"simulate expects a tnq.Circuit, got {type(circuit).__name__}")
    backend, reason = choose_method(circuit.num_qubits, method)
    start = time.perf_counter()
    # The dense backend is the reference: it runs the gates exactly as written.
    reference = backend == "dense"
    lowered = lower(circuit, relabel_swaps=not reference)
    gates = fuse(lowered.gates) if fuse_gates and not reference else lowered.gates
    state = _BACKENDS[backend](gates, circuit.num_qubits, lowered.wire_of, max_bond=max_bond,
                               cutoff=cutoff, memory_budget=memory_budget, progress=progress)
    state.info.update(reason=reason, seconds=time.perf_counter() - start, gates_in_circuit=len(lowered.gates))
    log.info("tnq.simulate: method=%s (%s)", backend, reason)
    return state


def expectation(circuit: Circuit, observable: Observable, method: str = "auto", *,
                use_lightcone: bool = True, max_bond: int | None = None, cutoff: float = 1e-16,
                progress: bool | None = None, memory_budget: int | None = None,
                return_state: bool = False) -> Any:
    """<psi|H|psi> for a Pauli string or Hamiltonian, simulating only the gates in the observable's
    reverse lightcone (and dropping trailing diagonal gates for Z-type observables).

    Returns a float (complex for non-Hermitian coefficients), or ``(value, state)`` with
    ``return_state`` (the state of the lightcone sub-circuit, whose ``info`` says what ran).
    """
    h = as_hamiltonian(observable, circuit.num_qubits)
    if not use_lightcone:
        state = simulate(circuit, method, max_bond=max_bond, cutoff=cutoff, progress=progress,
                         memory_budget=memory_budget)
        value = state.expectation(h)
        return (value, state) if return_state else value
    start = time.perf_counter()
    lowered = lower(circuit)
    support = [int(lowered.wire_of[q]) for q in h.support]
    cone = lightcone(lowered.gates, support, h.is_diagonal)
    gates, index = compact(cone, support)
    backend, reason = choose_method(len(index), method)
    import numpy as np

    state = _BACKENDS[backend](fuse(gates), len(index), np.arange(len(index)), max_bond=max_bond,
                               cutoff=cutoff, memory_budget=memory_budget, progress=progress)
    mapped = Hamiltonian(
        tuple(PauliString(tuple(sorted((index[int(lowered.wire_of[q])], p) for q, p in t.ops)))
              for t in h.terms), h.coeffs)
    value = state.expectation(mapped)
    state.info.update(reason=reason, lightcone_qubits=len(index), lightcone_gates=len(cone),
                      gates_in_circuit=len(lowered.gates), seconds=time.perf_counter() - start)
    log.info("tnq.expectation: lightcone of %d qubits, %d/%d gates, method=%s (%s)",
             len(index), len(cone), len(lowered.gates), backend, reason)
    return (value, state) if return_state else value
