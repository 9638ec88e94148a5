"""``tnq simulate``: run one QASM file and report method, state facts, expectations, amplitudes, counts.

``run_simulate`` returns a JSON-ready dict (what ``--json`` prints); ``format_text`` renders it for people.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from .. import formatting as fmt
from ..arrays import BACKENDS, DTYPES, check_array_options
from ..circuit import Circuit, Operation
from ..compile import DYNAMIC_WHAT
from ..dynamic import DENSITY_AUTO_LIMIT, sample, state_counts
from ..errors import SimulationError, TnqError, UsageError
from ..io import check_plot
from ..noise import NoiseModel
from ..observables import Hamiltonian, as_hamiltonian
from ..simulate import choose_method, expectation, simulate
from ..state import State, as_bits
from ..tensornet.decompose import check_truncation

DEFAULT_SHOTS = 1024
"""Shots drawn when the circuit measures and ``--shots`` is not given (qiskit's default)."""
TOP_COUNTS = 10
"""How many of the most frequent outcomes the text report lists."""

T = TypeVar("T")


def _for_option(option: str, value: str, check: Callable[[], T]) -> T:
    """Run ``check``; a TnqError it raises is re-raised naming the command-line option it came from."""
    try:
        return check()
    except TnqError as exc:
        raise type(exc)(f"{option} {value!r}: {exc}") from None


def add_array_arguments(parser: argparse.ArgumentParser) -> None:
    """``--backend``, ``--device`` and ``--dtype``: the array library, device and precision of the simulation."""
    parser.add_argument("--backend", choices=BACKENDS, default="numpy",
                        help="array library the MPS, dense and contraction backends run on (default numpy; torch "
                             "runs on --device)")
    parser.add_argument("--device", default=None, metavar="DEVICE",
                        help="torch device: cpu, cuda, cuda:1, mps (default cpu; needs --backend torch)")
    parser.add_argument("--dtype", choices=DTYPES, default="complex128",
                        help="complex precision of the state (default complex128; complex64 is faster on GPUs, "
                             "about 1e-6 accurate)")


def _array_options(args: argparse.Namespace) -> dict[str, Any]:
    """The validated ``--backend/--device/--dtype`` as ``tnq.simulate`` keywords (one line naming the option)."""
    chosen = {"backend": getattr(args, "backend", "numpy"), "device": getattr(args, "device", None),
              "dtype": getattr(args, "dtype", "complex128")}
    try:
        check_array_options(**chosen)
    except UsageError as exc:
        option = "--device" if chosen["device"] is not None and "device" in str(exc) else "--backend"
        raise UsageError(f"{option}: {exc}") from None
    return chosen


def run_simulate(args: argparse.Namespace) -> dict[str, Any]:
    """Simulate ``args.file`` as the options ask; every option is validated before any heavy work."""
    start = time.perf_counter()
    check_plot(args.plot_bonds, "--plot-bonds", inputs=[args.file])
    circuit = Circuit.from_qasm(Path(args.file))
    timings = {"load": time.perf_counter() - start}
    n = circuit.num_qubits
    observables = [_for_option("--expect", text, lambda t=text: as_hamiltonian(t, n)) for text in args.expect]
    for bits in args.amplitude:
        _for_option("--amplitude", bits, lambda b=bits: as_bits([b], n))
    check_truncation(args.max_bond, args.cutoff)  # also when the chosen backend would ignore them
    arrays = _array_options(args)
    measured = circuit.measured_qubits
    shots = args.shots if args.shots is not None else (DEFAULT_SHOTS if measured else 0)
    noise = _noise_model(args.noise) if getattr(args, "noise", None) else None
    dynamic = circuit.dynamic_operation()
    if arrays != {"backend": "numpy", "device": None, "dtype": "complex128"} and (
            noise is not None or args.method == "density_matrix" or dynamic is not None):
        raise UsageError("--backend/--device/--dtype apply to circuits without noise or mid-circuit operations; "
                         "drop them for this run (noisy and dynamic circuits run on numpy, complex128)")
    if noise is not None or args.method == "density_matrix":
        return _run_noisy(args, circuit, noise, dynamic, shots, start, timings)
    backend, reason = choose_method(n, args.method, max_bond=args.max_bond)
    if dynamic is not None:
        return _run_dynamic(args, circuit, dynamic, shots, backend, reason, start, timings)
    if args.plot_bonds and backend != "mps":
        raise SimulationError(f"--plot-bonds needs the MPS backend, but method {args.method!r} runs {backend} "
                              f"({reason}); pass --method mps")

    result: dict[str, Any] = {"file": str(args.file), "circuit": _describe_circuit(circuit),
                              "method_requested": args.method, "simulation": None}
    lightcone_only = bool(observables) and args.lightcone and not shots and not args.amplitude \
        and not args.plot_bonds
    if lightcone_only:
        tick = time.perf_counter()
        result["expectations"] = [_lightcone_expectation(circuit, text, h, args, arrays)
                                  for text, h in zip(args.expect, observables, strict=True)]
        timings["expectations"] = time.perf_counter() - tick
    else:
        state = simulate(circuit, args.method, max_bond=args.max_bond, cutoff=args.cutoff, progress=args.progress,
                         **arrays)
        timings["simulate"] = state.info["seconds"]
        result["simulation"] = _describe_state(state, circuit)
        tick = time.perf_counter()
        result["expectations"] = [_value_entry(text, h, state.expectation(h))
                                  for text, h in zip(args.expect, observables, strict=True)]
        result["amplitudes"] = [_amplitude_entry(bits, state.amplitude(bits)) for bits in args.amplitude]
        timings["expectations"] = time.perf_counter() - tick
        if shots:
            tick = time.perf_counter()
            result["sampling"] = _sampling(circuit, shots, args.seed, state_counts(circuit, state, shots, args.seed))
            timings["sampling"] = time.perf_counter() - tick
        if getattr(state, "reports", None):  # contraction backend: what its queries cost
            result["simulation"]["contractions"] = _contractions(state)
        if args.plot_bonds:
            state.plot_bonds(args.plot_bonds)
            result["plot_bonds"] = str(args.plot_bonds)
    timings["total"] = time.perf_counter() - start
    result["timings"] = timings
    return result


def _noise_model(text: str) -> NoiseModel:
    """``--noise``: a JSON file (a name ending in .json) or a spec like ``depolarizing=0.01,readout=0.02``."""
    if text.lower().endswith(".json"):
        return _for_option("--noise", text, lambda: NoiseModel.from_json(text))
    return _for_option("--noise", text, lambda: NoiseModel.from_spec(text))


def _run_noisy(args: argparse.Namespace, circuit: Circuit, noise: NoiseModel | None, dynamic: Operation | None,
               shots: int, start: float, timings: dict[str, float]) -> dict[str, Any]:
    """Shots under a noise model (or by the exact density matrix): only --shots applies."""
    why = "--noise" if noise is not None else "--method density_matrix"
    asked = [option for option, given in (("--expect", args.expect), ("--amplitude", args.amplitude),
                                          ("--plot-bonds", args.plot_bonds)) if given]
    if asked:
        raise UsageError(f"{asked[0]} needs a pure final state, which {why} does not give; only --shots N applies")
    if not shots:
        raise UsageError(f"{why} samples the circuit: pass --shots N")
    if args.method == "contract":
        raise UsageError("--method contract cannot run noisy circuits; use --method dense, mps, density_matrix "
                         "or auto")
    result: dict[str, Any] = {"file": str(args.file), "circuit": _describe_circuit(circuit),
                              "method_requested": args.method, "simulation": None}
    tick = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        counts = sample(circuit, shots, seed=args.seed, noise=noise, method=args.method, max_bond=args.max_bond,
                        cutoff=args.cutoff, progress=args.progress)
    for w in caught:
        print(f"tnq simulate: warning: {w.message}", file=sys.stderr)
    timings["sampling"] = time.perf_counter() - tick
    exact = args.method == "density_matrix" or args.method == "auto" and args.max_bond is None \
        and circuit.num_qubits <= DENSITY_AUTO_LIMIT
    method = "density_matrix" if exact else choose_method(circuit.num_qubits, args.method,
                                                          max_bond=args.max_bond)[0]
    what = "exact density matrix" if exact else "quantum trajectories (shots sharing a history share a state)"
    result["simulation"] = {"method": method, "reason": f"{why}: {what}", "seconds": timings["sampling"],
                            "fidelity_estimate": None, "noise": what,
                            "branching": dynamic.where if dynamic is not None else None}
    result["expectations"], result["amplitudes"] = [], []
    result["sampling"] = _sampling(circuit, shots, args.seed, counts)
    timings["total"] = time.perf_counter() - start
    result["timings"] = timings
    return result


def _run_dynamic(args: argparse.Namespace, circuit: Circuit, dynamic: Operation, shots: int, backend: str,
                 reason: str, start: float, timings: dict[str, float]) -> dict[str, Any]:
    """A circuit with mid-circuit measurement, reset or classical control: shots by branching, nothing else."""
    asked = [option for option, given in (("--expect", args.expect), ("--amplitude", args.amplitude),
                                          ("--plot-bonds", args.plot_bonds)) if given]
    if asked:
        raise UsageError(f"{asked[0]} needs the circuit's final state, but {dynamic.where} is {DYNAMIC_WHAT}, so "
                         "there is one state per measurement history; only --shots N applies")
    if not shots:
        raise UsageError(f"{dynamic.where} is {DYNAMIC_WHAT}, so the circuit has no single final state to report; "
                         "pass --shots N to sample it")
    if backend == "contract":
        raise UsageError(f"--method contract cannot branch on mid-circuit measurements ({dynamic.where}); "
                         "use --method dense, mps or auto")
    result: dict[str, Any] = {"file": str(args.file), "circuit": _describe_circuit(circuit),
                              "method_requested": args.method, "simulation": None}
    tick = time.perf_counter()
    counts = sample(circuit, shots, seed=args.seed, method=backend, max_bond=args.max_bond, cutoff=args.cutoff,
                    progress=args.progress)
    timings["sampling"] = time.perf_counter() - tick
    result["simulation"] = {"method": backend, "reason": reason, "seconds": timings["sampling"],
                            "fidelity_estimate": None, "branching": f"{dynamic.where}"}
    result["expectations"], result["amplitudes"] = [], []
    result["sampling"] = _sampling(circuit, shots, args.seed, counts)
    timings["total"] = time.perf_counter() - start
    result["timings"] = timings
    return result


def _sampling(circuit: Circuit, shots: int, seed: int | None, counts: dict[str, int]) -> dict[str, Any]:
    """The JSON entry of the counts: keys are classical bits (``clbits``) when the circuit has registers."""
    out: dict[str, Any] = {"shots": shots, "seed": seed,
                           "qubits": circuit.measured_qubits or list(range(circuit.num_qubits))}
    if circuit.num_clbits:
        out["clbits"] = [f"{name}[{i}]" for name, size in circuit.cregs for i in range(size)]
    out["counts"] = counts
    return out


def _describe_circuit(circuit: Circuit) -> dict[str, Any]:
    gates = sum(1 for _ in circuit.gates())
    return {"num_qubits": circuit.num_qubits, "num_gates": gates, "depth": circuit.depth(),
            "gate_counts": circuit.count_ops(), "measured_qubits": circuit.measured_qubits}


def _describe_state(state: State, circuit: Circuit) -> dict[str, Any]:
    """Method, reason and the facts that tell how trustworthy the state is (fidelity, bonds)."""
    info = state.info
    out: dict[str, Any] = {"method": info["method"], "reason": info["reason"], "seconds": info["seconds"],
                           "fidelity_estimate": _fidelity(info)}
    out.update({key: info[key] for key in ("backend", "device", "dtype") if key in info})
    if info["method"] == "mps":
        out.update(max_bond=info["max_bond"], cutoff=info["cutoff"], largest_bond=int(info["largest_bond"]),
                   bond_dims=[int(b) for b in state.bond_dims], truncations=int(info["truncations"]),
                   discarded_weight=float(sum(state.discarded_weights)),
                   swaps_relabelled=circuit.count_ops().get("swap", 0),
                   routing_swaps=int(info["routing_swaps"]), fused_swaps=int(info["fused_swaps"]),
                   product_gates=int(info.get("product_gates", 0)))
    return out


def _fidelity(info: dict[str, Any]) -> float | None:
    """The backend's fidelity estimate (1 for exact backends), None where it gives none."""
    return float(info["fidelity"]) if "fidelity" in info else None


def _value_entry(text: str, h: Hamiltonian, value: complex | float) -> dict[str, Any]:
    entry: dict[str, Any] = {"observable": text, "parsed": str(h), "value": float(complex(value).real)}
    if complex(value).imag != 0:
        entry["imag"] = float(complex(value).imag)
    return entry


def _lightcone_expectation(circuit: Circuit, text: str, h: Hamiltonian, args: argparse.Namespace,
                           arrays: dict[str, Any]) -> dict[str, Any]:
    """One observable through ``tnq.expectation``; ``run`` records the backend and, when the
    lightcone was taken, how many qubits and gates it kept."""
    value, state = expectation(circuit, h, args.method, use_lightcone=True, max_bond=args.max_bond,
                               cutoff=args.cutoff, progress=args.progress, return_state=True, **arrays)
    entry = _value_entry(text, h, value)
    info = state.info
    run = {"method": info["method"], "reason": info["reason"], "seconds": info["seconds"],
           "fidelity_estimate": _fidelity(info)}
    if "lightcone_qubits" in info:
        run.update(lightcone_qubits=int(info["lightcone_qubits"]), lightcone_gates=int(info["lightcone_gates"]),
                   gates_in_circuit=int(info["gates_in_circuit"]))
    if info["method"] == "mps":
        run["largest_bond"] = int(info["largest_bond"])
    if getattr(state, "reports", None):
        run["contractions"] = _contractions(state)
    entry["run"] = run
    return entry


def _contractions(state: Any) -> dict[str, Any]:
    """What a contraction state's queries cost: how many contractions, the most slices one took, flops, seconds."""
    reports = state.reports
    return {"count": len(reports), "max_slices": max(r.slices for r in reports),
            "flops": float(sum(r.flops for r in reports)), "peak_bytes": max(r.peak_bytes for r in reports),
            "search_seconds": sum(r.search_seconds for r in reports),
            "contract_seconds": sum(r.contract_seconds for r in reports)}


def strict_json(result: dict[str, Any]) -> str:
    """``result`` as strict JSON; a value JSON cannot hold (inf, nan) is an error naming where it is."""
    where = _non_finite(result)
    if where is not None:
        raise UsageError(f"--json: the result {where} is not finite, which JSON cannot represent; run without "
                         "--json to see it")
    return json.dumps(result, indent=2, allow_nan=False)


def _non_finite(value: Any, path: str = "") -> str | None:
    """The path (``expectations[0].value``) of the first inf or nan in a JSON-ready value, or None."""
    if isinstance(value, float):
        return None if math.isfinite(value) else f"{path} = {value}"
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        found = _non_finite(item, f"{path}.{key}".lstrip(".") if isinstance(key, str) else f"{path}[{key}]")
        if found is not None:
            return found
    return None


def _amplitude_entry(bits: str, amplitude: complex) -> dict[str, Any]:
    return {"bitstring": bits, "real": amplitude.real, "imag": amplitude.imag, "probability": abs(amplitude) ** 2}


# --- text report ---------------------------------------------------------------------------------
def format_text(result: dict[str, Any]) -> str:
    """A short human-readable report of ``run_simulate``'s result."""
    c = result["circuit"]
    counts = ", ".join(f"{name} {k}" for name, k in c["gate_counts"].items() if name not in ("measure", "barrier"))
    measured = c["measured_qubits"]
    lines = [f"circuit    {result['file']}: {c['num_qubits']} qubits, {c['num_gates']} gates ({counts}), "
             f"depth {c['depth']}" + (f", measures qubits {fmt.qubit_ranges(measured)}" if measured else "")]
    sim = result["simulation"]
    if sim is not None:
        lines.append(f"method     {sim['method']} ({sim['reason']})")
        lines.append(f"state      {_state_line(sim)}")
    for e in result.get("expectations", []):
        value = complex(e["value"], e.get("imag", 0.0))
        line = f"<{e['observable']}> = {fmt.number(value)}"
        if "run" in e:
            line += f"   [{_run_note(e['run'], c['num_qubits'])}]"
        lines.append(f"expect     {line}")
    for a in result.get("amplitudes", []):
        lines.append(f"amplitude  <{fmt.short_bits(a['bitstring'])}|psi> = {fmt.number(complex(a['real'], a['imag']))}"
                     f"   (probability {a['probability']:.6g})")
    sampling = result.get("sampling")
    if sampling:
        lines += _counts_lines(sampling)
    if result.get("plot_bonds"):
        lines.append(f"plot       bond profile saved to {result['plot_bonds']}")
    lines.append("timings    " + ", ".join(f"{k} {fmt.seconds(v)}" for k, v in result["timings"].items()))
    return "\n".join(lines)


def _run_note(run: dict[str, Any], num_qubits: int) -> str:
    """How one expectation was computed: lightcone size, backend and why, MPS facts, time."""
    parts = []
    if "lightcone_qubits" in run:
        parts.append(f"lightcone: {run['lightcone_qubits']} of {num_qubits} qubits, {run['lightcone_gates']} of "
                     f"{run['gates_in_circuit']} gates")
    parts.append(f"{run['method']} ({run['reason']})")
    if run["method"] == "mps":
        parts.append(f"largest bond {run['largest_bond']}, fidelity ~ {run['fidelity_estimate']:.6g}")
    if "contractions" in run:
        parts.append(_contractions_note(run["contractions"]))
    parts.append(fmt.seconds(run["seconds"]))
    return "; ".join(parts)


def _state_line(sim: dict[str, Any]) -> str:
    if sim.get("noise") is not None:
        return f"{sim['method']}, {sim['noise']}, {fmt.seconds(sim['seconds'])}"
    if sim.get("branching"):
        return (f"{sim['method']}, branching on each mid-circuit measurement and reset (the first dynamic "
                f"operation: {sim['branching']}), {fmt.seconds(sim['seconds'])}")
    if sim["method"] == "dense":
        return f"exact statevector, {fmt.seconds(sim['seconds'])}"
    if sim["method"] != "mps":
        note = f", {_contractions_note(sim['contractions'])}" if "contractions" in sim else ""
        return f"{sim['method']}, {fmt.seconds(sim['seconds'])}{note}"
    limit = f"max_bond {sim['max_bond']}" if sim["max_bond"] else "no bond limit"
    return (f"MPS ({limit}, cutoff {sim['cutoff']:g}): largest bond {sim['largest_bond']}, "
            f"fidelity estimate {sim['fidelity_estimate']:.6g} after {sim['truncations']} truncations; "
            f"{sim['swaps_relabelled']} SWAP gates relabelled, {sim['routing_swaps']} routing swaps, "
            f"{sim['fused_swaps']} swaps fused into gates, {sim['product_gates']} gates on unentangled qubits "
            f"applied in place; {fmt.seconds(sim['seconds'])}")


def _contractions_note(c: dict[str, Any]) -> str:
    slices = f", up to {c['max_slices']} slices" if c["max_slices"] > 1 else ""
    return (f"{c['count']} contraction(s) of 10^{math.log10(max(c['flops'], 1)):.1f} flops{slices}, "
            f"search {fmt.seconds(c['search_seconds'])}, contraction {fmt.seconds(c['contract_seconds'])}")


def _counts_lines(sampling: dict[str, Any]) -> list[str]:
    counts, shots = sampling["counts"], sampling["shots"]
    seed = f", seed {sampling['seed']}" if sampling["seed"] is not None else ""
    if "clbits" in sampling:
        bits = sampling["clbits"]
        what = f"classical bits {bits[0]}..{bits[-1]}" if len(bits) > 1 else f"classical bit {bits[0]}"
        lines = [f"counts     {shots} shots of {what}{seed}: {len(counts)} distinct outcome(s); character j of a "
                 "key is classical bit j (qiskit prints them reversed)"]
    else:
        lines = [f"counts     {shots} shots of qubits {fmt.qubit_ranges(sampling['qubits'])}{seed}: "
                 f"{len(counts)} distinct outcome(s); character j of a key is qubit qubits[j]"]
    for bits, k in list(counts.items())[:TOP_COUNTS]:
        lines.append(f"           {fmt.short_bits(bits, 48)}  {k:>6}  ({k / shots:.3f})")
    if len(counts) > TOP_COUNTS:
        lines.append(f"           ... {len(counts) - TOP_COUNTS} more (use --json for all)")
    return lines
