"""GHZ-50, 1000 shots: tnq simulate + sample against qiskit-aer MPS with measurements (both
``mps_sample_measure_algorithm`` settings, the faster one counts) and quimb CircuitMPS.sample, in one
process. Goal (DESIGN.md): tnq/aer <= 0.5. Accuracy: total variation distance of the sampled histogram
to the exact one (1/2 on all-zeros and all-ones), so invalid bitstrings show up as error.

    python benchmarks/ghz_sampling.py [--quick] [--threads 1] [--shots 1000] [--json out.json]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
# isort: off
import common  # noqa: E402  (pins BLAS/OpenMP threads: must load before numpy)
# isort: on
import numpy as np  # noqa: E402
from common import CaseResult, Headline, Row  # noqa: E402

import tnq  # noqa: E402

QUBITS, SHOTS = 50, 1000
TNQ_SAMPLE, AER_BEST, QUIMB = "tnq simulate + sample", "aer (best algorithm)", "quimb CircuitMPS + sample"
AER_ALGORITHMS = ("mps_apply_measure", "mps_probabilities")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--qubits", type=int, default=QUBITS)
    parser.add_argument("--shots", type=int, default=SHOTS)


def ghz_tvd(counts: dict[str, int], n: int) -> tuple[float, float, int]:
    """(fraction of all-ones, total variation distance to the exact GHZ distribution, invalid shots)."""
    shots = sum(counts.values())
    ones, zeros = counts.get("1" * n, 0) / shots, counts.get("0" * n, 0) / shots
    invalid = shots - counts.get("1" * n, 0) - counts.get("0" * n, 0)
    return ones, 0.5 * (abs(ones - 0.5) + abs(zeros - 0.5) + invalid / shots), invalid


def as_counts(result: dict[str, int] | np.ndarray) -> dict[str, int]:
    """A histogram from counts or from a (shots, n) 0/1 array (converted outside the timed region)."""
    if isinstance(result, np.ndarray):
        return dict(Counter("".join(map(str, row)) for row in result))
    return result


def quimb_sampling(gates: list, n: int, shots: int, seed: int, cap: float) -> tuple[dict[str, int], str]:
    """quimb CircuitMPS + ``sample``; past ``cap`` seconds it stops and says how long all shots would take."""
    start = time.perf_counter()
    circ = common.quimb_mps(gates, n, None, 1e-16)
    counts: Counter[str] = Counter()
    for k, bits in enumerate(circ.sample(shots, seed=seed)):
        counts[bits] += 1
        if time.perf_counter() - start > cap and k + 1 < shots:
            rate = (time.perf_counter() - start) / (k + 1)
            raise common.CapExceeded(f"stopped at {k + 1}/{shots} shots ({cap:.0f} s cap): "
                                     f"~{rate * shots:.0f} s for all")
    return dict(counts), "python generator, one shot at a time"


def run(args: argparse.Namespace) -> CaseResult:
    n, shots = getattr(args, "qubits", QUBITS), getattr(args, "shots", SHOTS)
    circuit = tnq.ghz(n)

    def tnq_sample() -> tuple[np.ndarray, str]:
        return tnq.simulate(circuit, method="mps").sample(shots, seed=args.seed), "(shots, n) uint8 array"

    def tnq_counts() -> tuple[dict[str, int], str]:
        return tnq.simulate(circuit, method="mps").counts(shots, seed=args.seed), "dict, like aer's"

    def aer(algorithm: str):
        fn = common.aer_counts(circuit, shots, seed=args.seed, mps_sample_measure_algorithm=algorithm)
        return lambda: (fn(), "")

    jobs = {TNQ_SAMPLE: tnq_sample, "tnq simulate + counts": tnq_counts}
    jobs.update({f"aer {a}": aer(a) for a in AER_ALGORITHMS})
    gates = common.quimb_gates(circuit)
    jobs[QUIMB] = lambda: quimb_sampling(gates, n, shots, args.seed, args.cap)
    timings = common.measure_round_robin(jobs, args.repeats, args.cap)
    rows = []
    for name, t in timings.items():
        if isinstance(t, str):
            rows.append(Row(name, None, note=t))
            continue
        result, note = t.result
        ones, tvd, invalid = ghz_tvd(as_counts(result), n)
        rows.append(Row(name, t, ones, tvd, ref=None if name.startswith("aer") else AER_BEST,
                        note="; ".join(x for x in (note, f"invalid shots {invalid}") if x)))
    aer_rows = [r for r in rows if r.sim.startswith("aer")]
    best = min(aer_rows, key=lambda r: r.timing.best)
    rows.insert(rows.index(aer_rows[-1]) + 1, Row(AER_BEST, best.timing, best.value, best.error, note=f"= {best.sim}"))

    headlines = [Headline("tnq simulate+sample / best aer", TNQ_SAMPLE, [AER_BEST], 0.5)]
    notes = [f"aer algorithms tried: {', '.join(AER_ALGORITHMS)}; aer keys reversed to tnq order (qubit q = char q)"]
    return CaseResult("ghz_sampling", f"GHZ-{n}, {shots} shots", rows, headlines, notes)


if __name__ == "__main__":
    common.main(run, __doc__.splitlines()[0], add_arguments=add_arguments)
