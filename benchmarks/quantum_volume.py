"""Quantum volume on the MPS backend: QASMBench-style QV circuits (random SU(4) on random pairs, written as u3 + cx
through qiskit), ``tnq.simulate(c, method="mps", max_bond=64)`` with threads pinned. Prints wall and CPU time (on a
shared machine CPU time is the fairer figure), the fidelity estimate, routing swaps per two-qubit block and CPU time
per two-site step; ``--profile`` adds a cProfile summary.

    python benchmarks/quantum_volume.py [--n 100] [--layers K] [--max-bond 64] [--quick] [--profile] [--threads 1]

``--layers K`` runs a K-layer prefix (QuantumVolume(n, depth=K)); the default is the full depth n. ``--quick``: 30
qubits, 4 layers.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
# isort: off
import common  # noqa: E402,F401  (pins BLAS/OpenMP threads: must load before numpy)
# isort: on

import tnq  # noqa: E402


def quantum_volume(n: int, layers: int, seed: int) -> tnq.Circuit:
    """QuantumVolume(n, depth=layers, seed) decomposed to u3 + cx (as QASMBench's QV files are written)."""
    from qiskit import transpile
    from qiskit.circuit.library import QuantumVolume

    qc = transpile(QuantumVolume(n, depth=layers, seed=seed).decompose(), basis_gates=["u3", "cx"],
                   optimization_level=0)
    return tnq.Circuit.from_qiskit(qc)


def main(argv: list[str] | None = None) -> int:
    """Build, simulate and report one QV circuit."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100, help="qubits (default 100)")
    parser.add_argument("--layers", type=int, default=None, help="run a prefix of this many layers (default n)")
    parser.add_argument("--max-bond", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=common.THREADS, help="BLAS threads (read before numpy)")
    parser.add_argument("--quick", action="store_true", help="30 qubits, 4 layers")
    parser.add_argument("--profile", action="store_true", help="print the 25 costliest functions (cProfile)")
    args = parser.parse_args(argv)
    n, layers = (30, 4) if args.quick else (args.n, args.layers if args.layers is not None else args.n)
    circuit = quantum_volume(n, layers, args.seed)
    profiler = cProfile.Profile() if args.profile else None
    start, cpu = time.perf_counter(), time.process_time()
    if profiler is not None:
        profiler.enable()
    state = tnq.simulate(circuit, method="mps", max_bond=args.max_bond, progress=False)
    if profiler is not None:
        profiler.disable()
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    info = state.info
    blocks = n // 2 * layers
    steps = blocks + info["routing_swaps"]
    print(f"QV n={n} layers={layers} seed={args.seed} max_bond={args.max_bond} threads={common.THREADS}")
    print(f"  time {seconds:.2f} s wall, {cpu:.2f} s CPU; fidelity estimate {info['fidelity']:.6g}, "
          f"largest bond {info['largest_bond']}")
    print(f"  {blocks} SU(4) blocks, {info['routing_swaps']} routing swaps ({info['routing_swaps'] / blocks:.2f} "
          f"per block), {info['fused_swaps']} fused into gates")
    print(f"  {steps} two-site steps, {1e3 * cpu / steps:.3f} ms CPU per step")
    if profiler is not None:
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
