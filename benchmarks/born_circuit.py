"""MPS -> circuit on the BAS 4x4 Born machine at Dmax 16: fidelity per layer with Ran's analytic layers alone and
with gate optimisation (Rudolph et al.'s protocol), checked with tnq's dense backend, and the KL divergence from
the data to the circuit's output distribution (exact and from sampled shots simulated by tnq).

    OPENBLAS_NUM_THREADS=1 python benchmarks/born_circuit.py [--layers 6] [--out benchmarks/out]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

import tnq  # noqa: E402
from tnq.born import MPSBornMachine, bars_and_stripes  # noqa: E402
from tnq.born.circuit import mps_to_circuit  # noqa: E402
from tnq.io import atomic_write_text  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=6)
    parser.add_argument("--iterations", type=int, default=100)
    parser.add_argument("--shots", type=int, default=200_000)
    parser.add_argument("--model", help="a saved BAS Dmax-16 model (default: train one, 4 sweeps)")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    X = bars_and_stripes(4, 4)
    if args.model:
        model = MPSBornMachine.load(args.model)
    else:
        model = MPSBornMachine(16, max_bond=16, n_sweeps=4, progress=False).fit(X)
    print(f"BAS 4x4 model: NLL {model.nll(X):.4f} (ln 30 = {np.log(30):.4f}), bonds {model.mps_.bond_dims}")
    start = time.perf_counter()
    result = mps_to_circuit(model.mps_, args.layers, optimise=True, iterations=args.iterations)
    seconds = time.perf_counter() - start
    psi = model.mps_.to_dense()
    psi = psi / np.linalg.norm(psi)
    state = tnq.simulate(result.circuit, method="dense")
    dense_fid = abs(np.vdot(psi, state.statevector())) ** 2
    patterns = ["".join(map(str, row)) for row in X]
    q_exact = state.probabilities(patterns)
    kl_exact = float(np.mean(np.log((1 / 30) / q_exact)))
    counts = state.counts(args.shots, seed=1)
    q_shots = np.array([counts.get(p, 0) for p in patterns]) / args.shots
    kl_shots = float(np.mean(np.log((1 / 30) / np.maximum(q_shots, 1 / args.shots))))
    print(f"{'layers':>6} {'Ran only':>9} {'optimised':>9}")
    for k, (a, o) in enumerate(zip(result.analytic_fidelities, result.fidelities, strict=True), start=1):
        print(f"{k:>6} {a:9.4f} {o:9.4f}")
    print(f"final circuit: {len(result.circuit)} two-qubit gates, depth {result.circuit.depth()}, {seconds:.1f} s")
    print(f"fidelity by tnq dense backend {dense_fid:.4f} (reported {result.fidelities[-1]:.4f}); target >= 0.98")
    print(f"KL(data || circuit) exact {kl_exact:.4f}, from {args.shots} shots {kl_shots:.4f}; "
          f"valid-pattern mass {q_exact.sum():.4f}; target KL <= 0.05")
    if args.out:
        from tnq.born.plots import plot_fidelity

        out = Path(args.out)
        plot_fidelity(result.fidelities, out / "bas_circuit_fidelity.png",
                      curves={"Ran analytic": result.analytic_fidelities, "Ran + optimisation": result.fidelities})
        atomic_write_text(out / "bas_circuit.qasm", result.circuit.to_qasm())
        atomic_write_text(out / "bas_circuit.json", json.dumps({
            "analytic": result.analytic_fidelities, "optimised": result.fidelities, "dense_fidelity": dense_fid,
            "kl_exact": kl_exact, "kl_shots": kl_shots, "seconds": seconds}, indent=1))


if __name__ == "__main__":
    main()
