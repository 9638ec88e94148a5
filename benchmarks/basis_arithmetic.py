"""Basis-state arithmetic, tnq MPS against qiskit-aer MPS in one process: qiskit's ``HRSCumulativeMultiplier(k)``
(ripple-carry adders, 4k + 1 qubits; QASMBench's multiplier_n350 / n400 are this size) on a random basis-state
input, transpiled to u3 / cx / ccx / cu1, 100 shots, max_bond 64, one thread each. Prints each one's seconds
(best of ``--repeats``, round-robin), the tnq/aer ratio (below 1: tnq is faster), tnq's routing swaps and the
gates it applied in place on unentangled qubits, and checks that both return the one classical result.

    python benchmarks/basis_arithmetic.py [--k 30] [--repeats 3] [--shots 100] [--threads 1] [--no-aer]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
# isort: off
import common  # noqa: E402  (pins BLAS/OpenMP threads: must load before numpy)
# isort: on

import argparse  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402

import tnq  # noqa: E402


def multiplier(k: int, seed: int) -> tnq.Circuit:
    """HRSCumulativeMultiplier(k) on random input bits (the two k-bit factors), as u3 / cx / ccx / cu1 gates."""
    from qiskit import QuantumCircuit, transpile
    from qiskit.circuit.library import CDKMRippleCarryAdder, HRSCumulativeMultiplier

    block = HRSCumulativeMultiplier(k, adder=CDKMRippleCarryAdder(k, kind="half"))
    qc = QuantumCircuit(block.num_qubits)
    rng = np.random.default_rng(seed)
    for q in np.flatnonzero(rng.integers(0, 2, 2 * k)):
        qc.x(int(q))
    qc.compose(block, inplace=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        qc = transpile(qc, basis_gates=["u3", "cx", "ccx", "cu1", "h", "t", "tdg", "x"], optimization_level=0)
    return tnq.Circuit.from_qiskit(qc)


def main(argv: list[str] | None = None) -> int:
    """Build the multiplier, time tnq and aer on it and print the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=int, default=30, help="bits per factor: 4k + 1 qubits (default 30: 121)")
    parser.add_argument("--shots", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=common.THREADS, help="BLAS threads (read before numpy)")
    parser.add_argument("--no-aer", action="store_true", help="time tnq alone")
    args = parser.parse_args(argv)
    circuit = multiplier(args.k, args.seed)
    states: list[tnq.State] = []

    def tnq_run() -> dict[str, int]:
        state = tnq.simulate(circuit, method="mps", max_bond=64, progress=False)
        states.append(state)
        bits = state.sample(args.shots, seed=args.seed)
        keys, counts = np.unique(bits, axis=0, return_counts=True)
        return {"".join(map(str, key)): int(n) for key, n in zip(keys, counts)}

    jobs = {"tnq mps": tnq_run}
    if not args.no_aer:
        jobs["aer mps"] = common.aer_counts(circuit, args.shots, seed=args.seed, max_bond=64)
    start = time.perf_counter()
    timings = common.measure_round_robin(jobs, args.repeats)
    print(f"HRSCumulativeMultiplier({args.k}): {circuit.num_qubits} qubits, {len(list(circuit.gates()))} gates, "
          f"{args.shots} shots, max_bond 64, threads {common.THREADS}, {args.repeats} rounds "
          f"({time.perf_counter() - start:.0f} s in all)")
    info = states[-1].info
    print(f"  tnq: {info['routing_swaps']} routing swaps, {info['product_gates']} gates applied in place on "
          f"unentangled qubits, largest bond {info['largest_bond']}")
    results = {}
    for name, t in timings.items():
        if isinstance(t, str):
            print(f"  {name:8s} {t}")
            continue
        results[name] = t.result
        print(f"  {name:8s} best {t.best:.2f} s, median {t.median:.2f} s, outcomes {len(t.result)}")
    if len(results) == 2:
        same = results["tnq mps"] == results["aer mps"]
        print(f"  ratio tnq/aer {timings['tnq mps'].best / timings['aer mps'].best:.3f}; "
              f"same single outcome: {same and len(results['tnq mps']) == 1}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
