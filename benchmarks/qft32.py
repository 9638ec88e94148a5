"""32 qubits, a random U3 layer then the QFT with its final bit-reversal swaps, <Z0>: tnq (full-state MPS
and lightcone) against qiskit-aer MPS and quimb CircuitMPS in one process. Goal (DESIGN.md): tnq/aer <= 1.0.

tnq relabels the final SWAPs classically. aer gets the literal circuit (its default, and in full runs
also with enable_truncation=False) and, as its best case, the swap-free circuit with the observable
moved to where the swaps would have put it. quimb only gets the swap-free form: its CircuitMPS is
wrong after SWAPs (DESIGN.md) and slow; it runs under a time cap.

    python benchmarks/qft32.py [--quick] [--threads 1] [--max-bond 64] [--json out.json]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
# isort: off
import common  # noqa: E402  (pins BLAS/OpenMP threads: must load before numpy)
# isort: on
import numpy as np  # noqa: E402
from common import CaseResult, Headline  # noqa: E402

import tnq  # noqa: E402
from tnq.circuit.builders import random_u3_layer  # noqa: E402

QUBITS = 32
TNQ_FULL, TNQ_CONE = "tnq full-state (simulate + expectation)", "tnq lightcone (tnq.expectation)"
AER_DEFAULT, AER_DEFAULT_PLAIN = "aer (default)", "aer (default), swaps relabelled"
AER_FULL, AER_FULL_PLAIN = "aer full-state", "aer full-state, swaps relabelled"
QUIMB = "quimb CircuitMPS, swaps relabelled"
LAPACK = ", mps_lapack=True"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--max-bond", type=int, default=64, help="bond cap for every MPS simulator (default 64)")
    parser.add_argument("--qubits", type=int, default=QUBITS)


def u3_then_qft(n: int, seed: int, swaps: bool = True) -> tnq.Circuit:
    """A random product state, then ``tnq.qft(n, swaps)``."""
    circuit = tnq.Circuit(n, name=f"u3_qft_{n}")
    random_u3_layer(circuit, np.random.default_rng(seed))
    return circuit.compose(tnq.qft(n, swaps=swaps))


def run(args: argparse.Namespace) -> CaseResult:
    n, max_bond, cutoff = getattr(args, "qubits", QUBITS), getattr(args, "max_bond", 64), 1e-16
    circuit = u3_then_qft(n, args.seed)
    plain = u3_then_qft(n, args.seed, swaps=False)
    moved = n - 1  # the bit reversal takes qubit 0's content to qubit n-1
    notes = [common.verify_aer_z(u3_then_qft(8, args.seed), [0]),
             common.verify_aer_z(u3_then_qft(8, args.seed, swaps=False), [7])]

    plain_gates = common.quimb_gates(plain)
    exact = common.quimb_exact_z(plain_gates, n, [moved])
    tnq_dense = tnq.expectation(circuit, "Z0", method="dense")
    notes.append(f"exact {exact:.12f} from quimb Circuit.local_expectation on the swap-free circuit (Z{moved}); "
                 f"tnq dense lightcone on the literal circuit differs by {abs(tnq_dense - exact):.1e}")

    def tnq_full() -> tuple[float, str]:
        state = tnq.simulate(circuit, method="mps", max_bond=max_bond, cutoff=cutoff)
        return state.expectation("Z0"), (f"bond {state.info['largest_bond']}, fused swaps "
                                         f"{state.info['fused_swaps']}, routing swaps {state.info['routing_swaps']}")

    def tnq_cone() -> tuple[float, str]:
        value, state = tnq.expectation(circuit, "Z0", method="mps", max_bond=max_bond, cutoff=cutoff,
                                       return_state=True)
        return value, f"{state.info['lightcone_qubits']} qubits, {state.info['lightcone_gates']} gates"

    def aer(circ: tnq.Circuit, qubit: int, truncation: bool, why: str, lapack: bool = False):
        fn = common.aer_z_expectation(circ, [qubit], truncation=truncation, max_bond=max_bond, cutoff=cutoff,
                                      mps_lapack=lapack)
        return lambda: (fn(), why)

    def quimb() -> tuple[float, str]:
        circ = common.quimb_mps(plain_gates, n, max_bond, cutoff, cap=args.cap)
        value = float(np.real(circ.local_expectation(common.Z, moved, normalized=True)))
        return value, f"swap-free circuit, <Z{moved}>, normalized=True"

    jobs = {TNQ_FULL: tnq_full, TNQ_CONE: tnq_cone,
            AER_DEFAULT: aer(circuit, 0, True, "literal circuit, enable_truncation=True"),
            AER_DEFAULT_PLAIN: aer(plain, moved, True, f"swap-free circuit, <Z{moved}>"),
            AER_FULL_PLAIN: aer(plain, moved, False, f"swap-free circuit, <Z{moved}>, enable_truncation=False"),
            AER_FULL_PLAIN + LAPACK: aer(plain, moved, False, "as above, LAPACK SVD", lapack=True),
            QUIMB: quimb}
    if args.quick:
        notes.append("quick: skipped aer full-state on the literal circuit (several seconds per run)")
    else:
        jobs[AER_FULL] = aer(circuit, 0, False, "literal circuit, enable_truncation=False")
    refs = {TNQ_FULL: AER_FULL_PLAIN, TNQ_CONE: AER_DEFAULT, QUIMB: AER_FULL_PLAIN}
    rows = common.value_rows(common.measure_round_robin(jobs, args.repeats, args.cap), exact, refs)
    headlines = [Headline("lightcone  tnq.expectation / best aer default", TNQ_CONE, [AER_DEFAULT, AER_DEFAULT_PLAIN]),
                 Headline("full state tnq.simulate / best aer full-state", TNQ_FULL,
                          [AER_FULL, AER_FULL_PLAIN, AER_FULL_PLAIN + LAPACK])]
    return CaseResult("qft32", f"U3 layer + QFT {n}q (final swaps), max_bond {max_bond}, <Z0>", rows, headlines,
                      notes)


if __name__ == "__main__":
    common.main(run, __doc__.splitlines()[0], add_arguments=add_arguments)
