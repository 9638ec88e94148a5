"""tnq on torch (CPU) against tnq on numpy: the same kernels, two array libraries (``backend="torch"``).

Cases: 40-qubit brickwork (random U3 + CZ) depth 20 at max_bond 128 with <Z0 Z1>; a random U3 layer then the
32-qubit QFT at max_bond 64 with <Z0>; 1000 shots from a 50-qubit GHZ MPS. Runs are interleaved (numpy, torch,
numpy, torch...) so load on a shared machine hits both; the table gives the best wall time and the best process
CPU time of each (CPU time is steadier on a busy machine: one thread each) and torch/numpy ratios of both.
Both libraries run on one thread (``--threads``), and each result is checked against the other.

``--accuracy`` instead measures what ``dtype="complex64"`` costs in accuracy on a random-circuit suite (brickwork
and random 1-3 qubit gates, 20-30 qubits): the fidelity |<psi64|psi128>|^2 of the two MPS, the largest amplitude
difference over 256 random bitstrings (relative to the root-mean-square amplitude 2^(-n/2)), the difference of
the truncation fidelity estimates and of <Z0 Z1>, for numpy and torch.

    python benchmarks/torch_cpu.py [--quick] [--threads 1] [--repeats 3] [--json out.json] [--accuracy]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
# isort: off
import common  # noqa: E402  (pins BLAS/OpenMP threads: must load before numpy)
# isort: on
import numpy as np  # noqa: E402
from qft32 import u3_then_qft  # noqa: E402

import tnq  # noqa: E402
from tnq.arrays import host  # noqa: E402
from tnq.io import atomic_write_text  # noqa: E402

BACKENDS = ("numpy", "torch")


def cases(quick: bool, seed: int) -> dict[str, object]:
    """name -> job(backend) returning a result both backends must agree on."""
    qubits, depth, bond = (24, 10, 32) if quick else (40, 20, 128)
    brick = tnq.brickwork(qubits, depth, seed=seed)
    qft_n, qft_bond = (20, 32) if quick else (32, 64)
    qft = u3_then_qft(qft_n, seed)
    ghz_n, shots = (30, 1000) if quick else (50, 1000)
    ghz = tnq.ghz(ghz_n)

    def brickwork(backend: str) -> tuple[float, float]:
        state = tnq.simulate(brick, "mps", max_bond=bond, backend=backend, progress=False)
        return state.expectation("Z0 Z1"), state.fidelity

    def qft_case(backend: str) -> tuple[float, float]:
        state = tnq.simulate(qft, "mps", max_bond=qft_bond, backend=backend, progress=False)
        return state.expectation("Z0"), state.fidelity

    def ghz_case(backend: str) -> np.ndarray:
        return tnq.simulate(ghz, "mps", backend=backend, progress=False).sample(shots, seed=seed)

    return {f"brickwork-{qubits} depth {depth}, max_bond {bond}": brickwork,
            f"QFT-{qft_n} (U3 layer + QFT), max_bond {qft_bond}": qft_case,
            f"GHZ-{ghz_n} sampling, {shots} shots": ghz_case}


def agree(a: object, b: object) -> str:
    if isinstance(a, np.ndarray):
        return "same samples" if np.array_equal(a, b) else f"{int(np.sum(a != b))} sample bits differ"
    return f"max |difference| {max(abs(x - y) for x, y in zip(a, b)):.1e}"  # type: ignore[arg-type]


def accuracy(quick: bool, seed: int) -> list[dict[str, object]]:
    """complex64 against complex128, same circuit, same options, on numpy and torch."""
    suite = [("brickwork-20 depth 12", tnq.brickwork(20, 12, seed=seed), 128),
             ("brickwork-24 depth 16, max_bond 64", tnq.brickwork(24, 16, seed=seed), 64),
             ("brickwork-30 depth 20, max_bond 64", tnq.brickwork(30, 20, seed=seed), 64),
             ("random 1-3 qubit gates, 16 qubits, 300 gates", tnq.random_circuit(16, 300, seed=seed), 256),
             ("random 1-3 qubit gates, 20 qubits, 400 gates, max_bond 128", tnq.random_circuit(20, 400, seed=seed),
              128)]
    if quick:
        suite = [("brickwork-12 depth 8", tnq.brickwork(12, 8, seed=seed), 32)]
    rows = []
    for name, circuit, bond in suite:
        n = circuit.num_qubits
        bits = np.random.default_rng(seed).integers(0, 2, size=(256, n))
        ref = tnq.simulate(circuit, "mps", max_bond=bond, progress=False)
        amps = ref.amplitudes(bits)
        for backend in BACKENDS:
            low = tnq.simulate(circuit, "mps", max_bond=bond, backend=backend, dtype="complex64", progress=False)
            assert np.array_equal(low.site_of, ref.site_of)  # the same routing: the same site order
            widened = tnq.MPS([host(t).astype(np.complex128) for t in low.mps.tensors])
            fidelity = abs(ref.mps.overlap(widened)) ** 2 / (ref.mps.norm() * widened.norm()) ** 2
            row = {"case": name, "backend": backend, "qubits": n, "max_bond": bond, "fidelity_estimate": ref.fidelity,
                   "infidelity": 1 - fidelity,
                   "max_amplitude_error_rel": float(np.max(np.abs(low.amplitudes(bits) - amps)) * 2 ** (n / 2)),
                   "fidelity_estimate_difference": abs(low.fidelity - ref.fidelity),
                   "z0z1_difference": abs(low.expectation("Z0 Z1") - ref.expectation("Z0 Z1"))}
            rows.append(row)
            print(f"{name:<58} {backend:<6} fidelity estimate {ref.fidelity:.4f}  1 - |<psi64|psi128>|^2 "
                  f"{row['infidelity']:9.2e}   max |amp64 - amp128| "
                  f"* 2^(n/2) {row['max_amplitude_error_rel']:9.2e}   |fidelity estimate difference| "
                  f"{row['fidelity_estimate_difference']:9.2e}   |<Z0 Z1> difference| {row['z0z1_difference']:9.2e}",
                  flush=True)
    return rows


def main() -> int:
    parser_extra = "--accuracy" in sys.argv
    if parser_extra:
        sys.argv.remove("--accuracy")
    args = common.parse_args(__doc__.splitlines()[0])
    import torch

    torch.set_num_threads(args.threads)
    if parser_extra:
        rows = accuracy(args.quick, args.seed)
        if args.json:
            import json

            atomic_write_text(args.json, json.dumps({"accuracy": rows}, indent=2))
        return 0
    rows = []
    for name, job in cases(args.quick, args.seed).items():
        wall: dict[str, list[float]] = {b: [] for b in BACKENDS}
        cpu: dict[str, list[float]] = {b: [] for b in BACKENDS}
        results = {}
        for _ in range(args.repeats):
            for backend in BACKENDS:
                start, start_cpu = time.perf_counter(), time.process_time()
                results[backend] = job(backend)
                wall[backend].append(time.perf_counter() - start)
                cpu[backend].append(time.process_time() - start_cpu)
        row = {"case": name, "check": agree(results["numpy"], results["torch"])}
        for backend in BACKENDS:
            row[f"{backend}_wall_s"] = min(wall[backend])
            row[f"{backend}_cpu_s"] = min(cpu[backend])
        row["ratio_wall"] = row["torch_wall_s"] / row["numpy_wall_s"]
        row["ratio_cpu"] = row["torch_cpu_s"] / row["numpy_cpu_s"]
        rows.append(row)
        print(f"{name:<44} numpy {row['numpy_wall_s']:8.3f} s ({row['numpy_cpu_s']:8.3f} cpu)  torch "
              f"{row['torch_wall_s']:8.3f} s ({row['torch_cpu_s']:8.3f} cpu)  torch/numpy {row['ratio_wall']:.2f} "
              f"wall, {row['ratio_cpu']:.2f} cpu  [{row['check']}]", flush=True)
    if args.json:
        import json

        settings = {"threads": args.threads, "repeats": args.repeats, "quick": args.quick, "seed": args.seed,
                    "torch": torch.__version__, "numpy": np.__version__}
        atomic_write_text(args.json, json.dumps({"settings": settings, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
