"""The front door. ``simulate`` returns a State; ``expectation`` evaluates observables on the
reverse lightcone only; ``amplitudes`` computes chosen amplitudes. ``method="auto"`` picks a
backend and records why in ``state.info["reason"]``."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .arrays import check_array_options
from .backends import contract, dense, mps
from .backends.options import check_options
from .circuit import Circuit
from .compile import Gate, build_matrices, compact, fuse, lightcone, lower
from .errors import SimulationError
from .observables import Hamiltonian, Observable, PauliString, as_hamiltonian
from .parametric import ParametricGates
from .state import State

log = logging.getLogger("tnq")

METHODS = ("auto", "dense", "mps", "contract")
DENSE_AUTO_LIMIT = 20
"""``auto`` uses the exact dense backend up to this many qubits (16 MiB of amplitudes)."""
EXACT_MPS_LOG2_BOND = 10
"""``auto`` trusts an MPS when a cut bound says bond 2^10 suffices for an exact state."""

_BACKENDS = {"dense": dense.run, "mps": mps.run, "contract": contract.run}


def mps_bond_bound_log2(gates: Sequence[Gate], num_wires: int) -> int:
    """log2 of an upper bound on the exact MPS bond: per cut, gates crossing it (each at most
    doubles the bond), capped by the qubits on the smaller side. Ignores lazy routing."""
    crossings = np.zeros(max(num_wires - 1, 0), dtype=int)
    for g in gates:
        if len(g.wires) > 1:
            crossings[min(g.wires):max(g.wires)] += 1
    cuts = np.arange(1, num_wires)
    return int(np.max(np.minimum(crossings, np.minimum(cuts, num_wires - cuts)), initial=0))


def choose_method(num_qubits: int, method: str, gates: Sequence[Gate] = (), max_bond: int | None = None,
                  need_state: bool = True) -> tuple[str, str]:
    """Resolve ``method`` to a backend name and a one-line reason.

    ``auto``: dense up to 20 qubits; otherwise MPS when the user bounds the bond, when a full state is
    needed (sampling), or when a cut bound says an exact MPS stays below bond 1024; else the
    contraction backend, which answers amplitude and expectation queries exactly.
    """
    if method not in METHODS:
        raise SimulationError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if method != "auto":
        return method, "chosen by the user"
    if num_qubits <= DENSE_AUTO_LIMIT:
        return "dense", f"{num_qubits} qubits <= {DENSE_AUTO_LIMIT}: exact statevector is cheap"
    if max_bond is not None:
        return "mps", f"{num_qubits} qubits and max_bond={max_bond} given: MPS with truncation"
    if need_state:
        return "mps", f"{num_qubits} qubits > {DENSE_AUTO_LIMIT}: MPS (a full state is needed)"
    bound = mps_bond_bound_log2(gates, num_qubits)
    if bound <= EXACT_MPS_LOG2_BOND:
        return "mps", f"{num_qubits} qubits, cut bound says an exact MPS needs bond <= 2^{bound}"
    return "contract", (f"{num_qubits} qubits, an exact MPS could need bond 2^{bound}: "
                        "tensor-network contraction is exact per query")


def check_circuit(circuit: Any, caller: str) -> None:
    if not isinstance(circuit, Circuit):
        raise SimulationError(f"{caller} expects a tnq.Circuit, got {type(circuit).__name__} "
                              "(read QASM with tnq.Circuit.from_qasm, qiskit with tnq.Circuit.from_qiskit)")


def _numeric(gates: Sequence[Gate], backend: str) -> list[Gate]:
    """Dense and MPS backends run on numpy; autodiff needs the contraction backend."""
    out = []
    for g in gates:
        if isinstance(g.matrix, np.ndarray):
            out.append(g)
        elif getattr(g.matrix, "requires_grad", False):
            raise SimulationError(f"gate on wires {list(g.wires)} has parameters that require gradients; "
                                  f"method={backend!r} runs on numpy: use method='contract' for autodiff")
        else:
            out.append(Gate(g.wires, np.asarray(g.matrix, dtype=np.complex128), source=g.source))
    return out


def _run_backend(backend: str, gates: list[Gate], num_wires: int, wire_of: np.ndarray, options: dict,
                 fuse_gates: bool = True) -> State:
    """Run ``gates`` on the backend ``backend`` (a method name); ``options["backend"]`` names the array library."""
    arrays = check_array_options(options.get("backend", "numpy"), options.get("device"),
                                 options.get("dtype", "complex128"))
    build_matrices(gates)
    if backend != "contract":
        gates = _numeric(gates, backend)
        gates = fuse(gates) if backend == "mps" and fuse_gates else gates
    state = _BACKENDS[backend](gates, num_wires, wire_of, **{**options, "arrays": arrays})
    state.info.update(backend=arrays.name, device=arrays.device, dtype=arrays.dtype_name)
    state.memory_budget = options.get("memory_budget")  # sampling checks it too
    return state


class _Rebinder:
    """Builds the state of one lowered circuit for given parameter values (``State.rebind``)."""

    def __init__(self, parametric: ParametricGates, backend: str, num_wires: int, wire_of: np.ndarray,
                 options: dict, fuse_gates: bool, info: dict[str, Any]) -> None:
        self.parametric, self.backend, self.num_wires, self.wire_of = parametric, backend, num_wires, wire_of
        self.options, self.fuse_gates = options, fuse_gates
        self.info = info  # what simulate found (method reason, gate counts): every rebound state reports it too

    def __call__(self, values: Any) -> State:
        start = time.perf_counter()
        gates = self.parametric.bind(values)
        state = _run_backend(self.backend, gates, self.num_wires, self.wire_of, self.options, self.fuse_gates)
        state.rebinder = self
        state.info.update(self.info, seconds=time.perf_counter() - start)
        return state


def simulate(circuit: Circuit, method: str = "auto", *, max_bond: int | None = None, cutoff: float = 1e-16,
             progress: bool | None = None, memory_budget: int | None = None, optimize: str | Any = "auto",
             search_time: float = 10.0, cache: Any = None, client: Any = None, fuse_gates: bool = True,
             parameters: Mapping[Any, Any] | Sequence[Any] | Any = None, backend: str = "numpy",
             device: str | None = None, dtype: str = "complex128") -> State:
    """Simulate ``circuit`` from |0...0> and return its final State.

    - ``parameters``: values for the circuit's free symbols (a mapping, or a vector in
      ``circuit.parameters`` order; torch tensors for autodiff). The state then offers
      ``state.rebind(new_values)``, which skips binding, lowering and (contraction) the tree search.

    - ``max_bond`` / ``cutoff`` (largest relative discarded weight per SVD) bound the MPS.
    - ``optimize`` ("auto", "greedy", "hyper" or a cotengra optimizer), ``search_time`` (seconds),
      ``cache`` (a TreeCache) and ``client`` (a dask.distributed Client) tune ``method="contract"``.
    - ``fuse_gates=False`` applies the MPS gates one by one (for checking the fusion pass).
    - ``memory_budget`` (bytes, default 80% of free memory) is checked before large allocations.
    - ``backend`` ("numpy" or "torch") is the array library the state's tensors live in, ``device`` the torch
      device ("cpu", "cuda", "cuda:1"...; numpy: "cpu" only) and ``dtype`` their precision ("complex128" or
      "complex64"). Not to be confused with ``method``, which picks the simulation algorithm. Results (amplitudes,
      expectations, samples, statevectors) come back as numpy whatever the array library.
    """
    check_circuit(circuit, "simulate")
    check_options(max_bond, cutoff, memory_budget, backend, device, dtype)
    options = dict(max_bond=max_bond, cutoff=cutoff, memory_budget=memory_budget, progress=progress,
                   optimize=optimize, search_time=search_time, cache=cache, client=client, backend=backend,
                   device=device, dtype=dtype)
    return _simulate_checked(circuit, method, options, fuse_gates, parameters)


def _simulate_checked(circuit: Circuit, method: str, options: dict, fuse_gates: bool, parameters: Any) -> State:
    """``simulate`` once its options are checked: choose the method, lower the circuit for it and run it."""
    start = time.perf_counter()
    chosen, reason = choose_method(circuit.num_qubits, method, max_bond=options["max_bond"])
    # The dense backend is the reference: it runs the gates exactly as written.
    lowered = lower(circuit, relabel_swaps=chosen != "dense", symbolic=parameters is not None)
    return _simulate_lowered(circuit, lowered, chosen, reason, options, fuse_gates, parameters, start)


def _simulate_lowered(circuit: Circuit, lowered: Any, chosen: str, reason: str, options: dict, fuse_gates: bool,
                      parameters: Any, start: float) -> State:
    """``simulate`` once the circuit is lowered for the method ``chosen`` and the options are checked."""
    swaps = sum(1 for op in circuit.gates() if op.name == "swap") if chosen != "dense" else 0
    info = dict(reason=reason, gates_in_circuit=len(lowered.gates), swaps_relabelled=swaps)
    if parameters is None:
        state = _run_backend(chosen, lowered.gates, circuit.num_qubits, lowered.wire_of, options, fuse_gates)
        state.info.update(info)
    else:
        state = _Rebinder(ParametricGates(lowered.gates, circuit.parameters), chosen, circuit.num_qubits,
                          lowered.wire_of, options, fuse_gates, info)(parameters)
    state.info["seconds"] = time.perf_counter() - start  # lowering included
    log.info("tnq.simulate: method=%s (%s)", chosen, reason)
    return state


def backend_defaults() -> dict[str, Any]:
    """The backend options and their defaults, read from ``simulate``'s signature (the one place they are set)."""
    import inspect

    return {name: p.default for name, p in inspect.signature(simulate).parameters.items()
            if p.kind is inspect.Parameter.KEYWORD_ONLY and name != "fuse_gates"}


def backend_settings(options: Mapping[str, Any], where: str = "") -> dict[str, Any]:
    """``simulate``'s backend options: ``options`` over the defaults; an unknown one is a SimulationError naming it
    (after ``where``, e.g. 'sample: ')."""
    full = backend_defaults()
    unknown = set(options) - set(full)
    if unknown:
        raise SimulationError(f"{where}unknown option(s) {sorted(unknown)}; expected some of {sorted(full)}")
    return {**full, **options}


def checked_settings(options: Mapping[str, Any], where: str = "") -> tuple[dict[str, Any], bool, Any]:
    """``simulate``'s keyword options over their defaults, checked once (an unknown name or a bad value is one
    SimulationError, after ``where``); returns (backend settings, fuse_gates, parameters)."""
    options = dict(options)
    fuse_gates = options.pop("fuse_gates", True)
    settings = backend_settings(options, where)
    parameters = settings.pop("parameters")
    check_options(settings["max_bond"], settings["cutoff"], settings["memory_budget"], settings["backend"],
                  settings["device"], settings["dtype"])
    return settings, fuse_gates, parameters


def amplitudes(circuit: Circuit, bitstrings: Any, method: str = "auto", **options: Any) -> Any:
    """``<b|psi>`` for each bitstring, choosing the backend as ``auto`` would for a query (no full state).
    Options are those of ``simulate``."""
    check_circuit(circuit, "amplitudes")
    settings, fuse_gates, parameters = checked_settings(options, "amplitudes: ")
    start = time.perf_counter()
    lowered = lower(circuit, symbolic=parameters is not None)
    backend, reason = choose_method(circuit.num_qubits, method, lowered.gates, settings["max_bond"],
                                    need_state=False)
    if backend == "dense":  # the reference runs the gates as written: swaps are not relabelled
        lowered = lower(circuit, relabel_swaps=False, symbolic=parameters is not None)
    state = _simulate_lowered(circuit, lowered, backend, reason, settings, fuse_gates, parameters, start)
    return state.amplitudes(bitstrings)


def expectation(circuit: Circuit, observable: Observable, method: str = "auto", *,
                use_lightcone: bool = True, return_state: bool = False, **options: Any) -> Any:
    """``<psi|H|psi>`` for a Pauli string or Hamiltonian, simulating only the gates in the observable's
    reverse lightcone (and dropping trailing diagonal gates for Z-type observables).

    Options are those of ``simulate``. Returns a float (complex for non-Hermitian coefficients; a torch
    tensor under autodiff), or ``(value, state)`` with ``return_state``.
    """
    check_circuit(circuit, "expectation")
    h = as_hamiltonian(observable, circuit.num_qubits)
    settings, fuse_gates, parameters = checked_settings(options, "expectation: ")
    if not use_lightcone or method == "contract":  # the contraction backend takes lightcones per term
        state = _simulate_checked(circuit, method, settings, fuse_gates, parameters)
        value = state.expectation(h)
        return (value, state) if return_state else value
    start = time.perf_counter()
    lowered = lower(circuit, symbolic=parameters is not None)
    bound = lowered.gates if parameters is None else ParametricGates(lowered.gates, circuit.parameters).bind(parameters)
    support = [int(lowered.wire_of[q]) for q in h.support]
    diagonal = [int(lowered.wire_of[q]) for q in h.support
                if all(t.as_dict().get(q, "Z") == "Z" for t in h.terms)]
    cone = lightcone(bound, support, diagonal)
    gates, index = compact(cone, support or [0])  # an identity-only observable still needs one wire
    backend, reason = choose_method(len(index), method, gates, settings["max_bond"], need_state=False)
    state = _run_backend(backend, gates, len(index), np.arange(len(index)), settings, fuse_gates)
    mapped = Hamiltonian(
        tuple(PauliString(tuple(sorted((index[int(lowered.wire_of[q])], p) for q, p in t.ops)))
              for t in h.terms), h.coeffs)
    value = state.expectation(mapped)
    state.info.update(reason=reason, lightcone_qubits=len(index), lightcone_gates=len(cone),
                      gates_in_circuit=len(lowered.gates), seconds=time.perf_counter() - start)
    log.info("tnq.expectation: lightcone of %d qubits, %d/%d gates, method=%s (%s)",
             len(index), len(cone), len(lowered.gates), backend, reason)
    return (value, state) if return_state else value
