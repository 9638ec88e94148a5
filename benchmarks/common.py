"""Shared plumbing for the engine benchmarks: BLAS/OpenMP thread pinning (done at import, before numpy
loads), interleaved repeated timing (round-robin, so load spikes on a shared machine hit every simulator
alike; tables give best and median, ratios use the best), peer adapters (qiskit-aer MPS, quimb
CircuitMPS), the result table and atomic JSON output. Every case runs tnq and its peers in one process
on the same circuit and prints tnq/peer.

Import this module before numpy: ``--threads N`` (default 1) is read from ``sys.argv`` here.
"""

from __future__ import annotations

import os
import sys

THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS",
               "NUMBA_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")


def _threads_from_argv(argv: list[str]) -> int:
    """``--threads N`` / ``--threads=N`` from the command line, default 1 (a bad value is left to argparse)."""
    for i, arg in enumerate(argv):
        value = arg.split("=", 1)[1] if arg.startswith("--threads=") else (
            argv[i + 1] if arg == "--threads" and i + 1 < len(argv) else None)
        if value is not None and value.isdigit() and int(value) > 0:
            return int(value)
    return 1


THREADS = _threads_from_argv(sys.argv[1:])
_NUMPY_WAS_LOADED = "numpy" in sys.modules
for _var in THREAD_VARS:
    os.environ[_var] = str(THREADS)

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from dataclasses import asdict, dataclass, field  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import threadpoolctl  # noqa: E402

import tnq  # noqa: E402
from tnq.io import atomic_write_text  # noqa: E402

# Also limits pools already loaded (if numpy was imported before this module the env vars came too late).
_LIMITS = threadpoolctl.threadpool_limits(limits=THREADS)

Z = np.diag([1.0, -1.0]).astype(np.complex128)


# --- command line ---------------------------------------------------------------------------------
def parse_args(description: str, argv: Sequence[str] | None = None,
               add_arguments: Callable[[argparse.ArgumentParser], None] | None = None) -> argparse.Namespace:
    """The options every case understands (run_all passes the same namespace to each case)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--threads", type=int, default=THREADS,
                        help="BLAS/OpenMP threads for tnq and every peer (default 1); read before numpy loads")
    parser.add_argument("--repeats", type=int, default=None, help="timed runs per simulator (>= 2; default 3, quick 2)")
    parser.add_argument("--quick", action="store_true", help="fast pass: 2 repeats, tight caps, skip slow extra rows")
    parser.add_argument("--cap", type=float, default=None,
                        help="seconds after which a slow peer (quimb) is stopped (default 60, quick 15)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random circuits and samplers")
    parser.add_argument("--json", type=str, default=None, help="write all rows and settings to this JSON file")
    if add_arguments is not None:
        add_arguments(parser)
    args = parser.parse_args(argv)
    if args.threads != THREADS:
        parser.error(f"--threads {args.threads} must be given on the command line (it is read before numpy loads)")
    args.repeats = args.repeats if args.repeats is not None else (2 if args.quick else 3)
    if args.repeats < 2:
        parser.error("--repeats must be at least 2 (every case is run at least twice)")
    args.cap = args.cap if args.cap is not None else (15.0 if args.quick else 60.0)
    return args


# --- timing ---------------------------------------------------------------------------------------
class CapExceeded(Exception):
    """A peer ran past the benchmark's time cap."""


@dataclass
class Timing:
    """Wall-clock seconds of each run of one callable, and its last result."""

    times: list[float]
    result: Any
    note: str = ""

    @property
    def best(self) -> float:
        return min(self.times)

    @property
    def median(self) -> float:
        return statistics.median(self.times)


def measure_round_robin(jobs: dict[str, Callable[[], Any]], repeats: int,
                        cap: float | None = None) -> dict[str, Timing | str]:
    """Time several simulators on the same work, interleaved (round r runs every job once), so a
    load spike on a shared machine hits all of them rather than one. A job that raises CapExceeded
    maps to the reason; one whose single run exceeds ``cap`` is not repeated (said in its note)."""
    times: dict[str, list[float]] = {name: [] for name in jobs}
    results: dict[str, Any] = {}
    out: dict[str, Timing | str] = {}
    for _ in range(repeats):
        for name, fn in jobs.items():
            if name in out:
                continue
            start = time.perf_counter()
            try:
                results[name] = fn()
            except CapExceeded as stop:
                done = len(times[name])
                out[name] = Timing(times[name], results[name], f"{done} run(s), then {stop}") if done else str(stop)
                continue
            times[name].append(time.perf_counter() - start)
            if cap is not None and times[name][-1] > cap and len(times[name]) < repeats:
                why = f"{len(times[name])} run(s) only: one took {times[name][-1]:.1f} s > cap {cap:.0f} s"
                out[name] = Timing(times[name], results[name], why)
    return {name: out.get(name) or Timing(times[name], results.get(name)) for name in jobs}


# --- result rows ----------------------------------------------------------------------------------
@dataclass
class Row:
    """One simulator on one case. ``ref`` names the row whose best time is the ratio's denominator."""

    sim: str
    timing: Timing | None
    value: float | None = None
    error: float | None = None
    ref: str | None = None
    note: str = ""
    ratio: float | None = None

    def as_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if k != "timing"}
        if self.timing is not None:
            out.update(best_s=self.timing.best, median_s=self.timing.median, times_s=self.timing.times)
            out["note"] = "; ".join(x for x in (self.note, self.timing.note) if x)
        return out


def value_rows(timings: dict[str, Timing | str], exact: float, refs: dict[str, str]) -> list[Row]:
    """Rows for jobs returning ``(value, note)``, with |value - exact| as the error column."""
    rows = []
    for name, t in timings.items():
        if isinstance(t, str):
            rows.append(Row(name, None, note=t))
            continue
        value, note = t.result
        rows.append(Row(name, t, value, abs(value - exact), ref=refs.get(name), note=note))
    return rows


@dataclass
class Headline:
    """A goal from DESIGN.md: ``num`` row's best time over the best of the ``den`` rows (or seconds)."""

    label: str
    num: str
    den: Sequence[str] = ()
    goal: float = 1.0
    unit: str = "ratio"  # "ratio" (num/den) or "seconds" (num's best time)
    value: float | None = None
    met: bool | None = None
    accuracy: str = ""


@dataclass
class CaseResult:
    name: str
    title: str
    rows: list[Row]
    headlines: list[Headline]
    notes: list[str] = field(default_factory=list)

    def finish(self) -> CaseResult:
        """Fill ratios and headline values from the rows' best times."""
        by_name = {r.sim: r for r in self.rows}

        def best(name: str) -> float | None:
            row = by_name.get(name)
            return row.timing.best if row is not None and row.timing is not None else None

        for row in self.rows:
            if row.ref and best(row.sim) is not None and best(row.ref):
                row.ratio = best(row.sim) / best(row.ref)
        for h in self.headlines:
            num = best(h.num)
            if h.unit == "seconds":
                h.value = num
            else:
                dens = [best(d) for d in h.den if best(d)]
                h.value = num / min(dens) if num is not None and dens else None
            h.met = None if h.value is None else h.value <= h.goal
            errors = [(name, by_name[name].error) for name in [h.num, *h.den]
                      if name in by_name and by_name[name].error is not None]
            if len(errors) > 1:
                h.accuracy = "|err| " + ", ".join(f"{name} {e:.1e}" for name, e in errors)
        return self

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "title": self.title, "rows": [r.as_dict() for r in self.rows],
                "headlines": [asdict(h) for h in self.headlines], "notes": self.notes}


def _fmt(x: float | None, spec: str) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)


def print_case(result: CaseResult, repeats: int) -> None:
    """One table per case: best and median of the repeats, value, error against the exact value, ratio."""
    print(f"\n== {result.title}  [threads={THREADS}, best and median of {repeats} runs]")
    header = f"{'simulator':<50} {'best s':>9} {'median s':>9} {'value':>13} {'|err|':>9} {'ratio':>7}  vs / note"
    print(header)
    print("-" * len(header))
    for r in result.rows:
        t = r.timing
        ratio = f"{r.ratio:7.3f}" if r.ratio is not None else f"{'-':>7}"
        tail = ("vs " + r.ref if r.ref else "") + ("; " if r.ref and (r.note or (t and t.note)) else "")
        tail += "; ".join(x for x in (r.note, t.note if t else "") if x)
        print(f"{r.sim:<50} {_fmt(t.best if t else None, '9.4f'):>9} {_fmt(t.median if t else None, '9.4f'):>9} "
              f"{_fmt(r.value, '13.9f'):>13} {_fmt(r.error, '9.1e'):>9} {ratio}  {tail}")
    for h in result.headlines:
        print(f"GOAL {h.label}: {_fmt(h.value, '.3f')} (goal <= {h.goal:g}"
              f"{' s' if h.unit == 'seconds' else ''}) -> {'MET' if h.met else 'not met' if h.met is not None else '?'}"
              f"{'; ' + h.accuracy if h.accuracy else ''}")
    for note in result.notes:
        print(f"  note: {note}")


def environment() -> dict[str, Any]:
    """Settings that change the timings: threads, thread pools actually loaded, versions, machine load."""
    import qiskit
    import qiskit_aer
    import quimb

    pools = [{"api": p["internal_api"], "threads": p["num_threads"], "lib": os.path.basename(p["filepath"])}
             for p in threadpoolctl.threadpool_info()]
    return {"threads": THREADS, "env": {v: os.environ.get(v) for v in THREAD_VARS}, "thread_pools": pools,
            "numpy_loaded_before_pinning": _NUMPY_WAS_LOADED, "cpu_count": os.cpu_count(),
            "load_average": os.getloadavg(), "python": platform.python_version(),
            "versions": {"tnq": tnq.__version__, "numpy": np.__version__, "qiskit": qiskit.__version__,
                         "qiskit_aer": qiskit_aer.__version__, "quimb": quimb.__version__}}


def print_environment() -> None:
    env = environment()
    pools = ", ".join(f"{p['api']}:{p['lib']}={p['threads']}" for p in env["thread_pools"])
    print(f"threads={env['threads']} (OPENBLAS/OMP/MKL/NUMBA_NUM_THREADS={env['threads']}, aer max_parallel_threads="
          f"{env['threads']}); pools: {pools}; load avg {env['load_average'][0]:.2f} on {env['cpu_count']} cores")
    if env["numpy_loaded_before_pinning"]:
        print("warning: numpy was imported before benchmarks.common; limits set with threadpoolctl instead")


def write_json(path: str | None, results: Sequence[CaseResult], args: argparse.Namespace) -> None:
    if not path:
        return
    payload = {"environment": environment(), "args": {k: v for k, v in vars(args).items()},
               "cases": [r.as_dict() for r in results]}
    atomic_write_text(path, json.dumps(payload, indent=2, default=float) + "\n")
    print(f"wrote {path}")


def main(run: Callable[[argparse.Namespace], CaseResult], description: str, argv: Sequence[str] | None = None,
         add_arguments: Callable[[argparse.ArgumentParser], None] | None = None) -> CaseResult:
    """Entry point shared by the case scripts."""
    args = parse_args(description, argv, add_arguments)
    print_environment()
    result = run(args).finish()
    print_case(result, args.repeats)
    write_json(args.json, [result], args)
    return result


# --- qiskit-aer -----------------------------------------------------------------------------------
def aer_simulator(max_bond: int | None = None, cutoff: float = 1e-16, **options: Any) -> Any:
    """An MPS AerSimulator pinned to THREADS threads."""
    from qiskit_aer import AerSimulator

    if max_bond is not None:
        options["matrix_product_state_max_bond_dimension"] = max_bond
    return AerSimulator(method="matrix_product_state", matrix_product_state_truncation_threshold=cutoff,
                        max_parallel_threads=THREADS, mps_omp_threads=THREADS, **options)


def idle_qubits(circuit: tnq.Circuit) -> list[int]:
    """Qubits no gate touches (where aer's save_expectation_value goes wrong, qiskit-aer #2442)."""
    touched = {q for op in circuit.gates() for q in op.qubits}
    return [q for q in range(circuit.num_qubits) if q not in touched]


def aer_z_expectation(circuit: tnq.Circuit, qubits: Sequence[int], truncation: bool = True,
                      **sim_options: Any) -> Callable[[], float]:
    """A callable returning aer's <Z_q1 Z_q2 ...> on ``circuit`` (qiskit circuit from tnq's to_qiskit).

    ``truncation`` is aer's ``enable_truncation`` (its own causal-cone pruning, on by default). With idle
    qubits that pruning gives wrong expectations (#2442), so it is then switched off."""
    from qiskit.quantum_info import Pauli

    if idle_qubits(circuit):
        truncation = False
    qc = circuit.to_qiskit()
    qc.save_expectation_value(Pauli("Z" * len(qubits)), list(qubits), label="exp")
    sim = aer_simulator(enable_truncation=truncation, **sim_options)

    def run() -> float:
        result = sim.run(qc, shots=1).result()
        if not result.success:
            raise RuntimeError(f"aer failed: {result.status}")
        return float(np.real(result.data()["exp"]))

    return run


def aer_counts(circuit: tnq.Circuit, shots: int, qubits: Sequence[int] | None = None, seed: int = 0,
               **sim_options: Any) -> Callable[[], dict[str, int]]:
    """A callable sampling ``qubits`` (default all) with aer; keys are in tnq order (character j = qubits[j]),
    i.e. aer's little-endian keys reversed."""
    from qiskit import ClassicalRegister

    qubits = list(range(circuit.num_qubits)) if qubits is None else list(qubits)
    qc = circuit.to_qiskit()
    creg = ClassicalRegister(len(qubits), "meas")
    qc.add_register(creg)
    qc.measure(qubits, creg)
    sim = aer_simulator(**sim_options)

    def run() -> dict[str, int]:
        result = sim.run(qc, shots=shots, seed_simulator=seed).result()
        if not result.success:
            raise RuntimeError(f"aer failed: {result.status}")
        return {key.replace(" ", "")[::-1]: n for key, n in result.get_counts().items()}

    return run


def verify_aer_z(circuit: tnq.Circuit, qubits: Sequence[int], tol: float = 1e-8) -> str:
    """Check aer's expectation path (both truncation settings) against tnq's dense statevector on a
    small circuit of the case's family; raises when they disagree."""
    exact = tnq.simulate(circuit, method="dense").expectation(" ".join(f"Z{q}" for q in qubits))
    errors = [abs(aer_z_expectation(circuit, qubits, truncation=t)() - exact) for t in (True, False)]
    if max(errors) > tol:
        raise RuntimeError(f"aer expectation check failed on {circuit.name}: errors {errors} vs dense {exact}")
    return f"aer <Z> path checked on {circuit.num_qubits}-qubit {circuit.name} against dense: err {max(errors):.1e}"


# --- quimb ----------------------------------------------------------------------------------------
def quimb_gates(circuit: tnq.Circuit) -> list[tuple[np.ndarray, tuple[int, ...]]]:
    """(matrix, qubits) per gate; quimb's raw-array gates are big-endian in the listed qubits, as tnq's."""
    return [(np.asarray(op.unitary(), dtype=np.complex128), tuple(op.qubits)) for op in circuit.gates()]


def quimb_mps(gates: Sequence[tuple[np.ndarray, tuple[int, ...]]], n: int, max_bond: int | None, cutoff: float,
              cap: float | None = None) -> Any:
    """quimb ``CircuitMPS`` after applying ``gates``; raises CapExceeded past ``cap`` seconds."""
    import quimb.tensor as qtn

    start = time.perf_counter()
    circ = qtn.CircuitMPS(n, max_bond=max_bond, cutoff=cutoff)
    for k, (matrix, qubits) in enumerate(gates):
        circ.apply_gate(matrix, *qubits)
        if cap is not None and time.perf_counter() - start > cap:
            raise CapExceeded(f"stopped after {k + 1}/{len(gates)} gates at {cap:.0f} s cap")
    return circ


def quimb_exact_z(gates: Sequence[tuple[np.ndarray, tuple[int, ...]]], n: int, qubits: Sequence[int]) -> float:
    """Exact <Z..> by quimb's tensor-network contraction of the observable's lightcone."""
    import quimb.tensor as qtn

    circ = qtn.Circuit(n)
    for matrix, q in gates:
        circ.apply_gate(matrix, *q)
    op = Z
    for _ in qubits[1:]:
        op = np.kron(op, Z)
    where = tuple(qubits) if len(qubits) > 1 else qubits[0]
    return float(np.real(circ.local_expectation(op, where, optimize="auto-hq")))
