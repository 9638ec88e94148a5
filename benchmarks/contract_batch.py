"""1000 amplitudes of the 5x6 grid random circuit (CZ, depth 12): tnq ``state.amplitudes(bits)`` (contraction
backend, tree found once and reused) against separate quimb ``Circuit.amplitude`` calls sharing one cotengra
``ReusableHyperOptimizer``, so quimb also reuses its path. Goal (DESIGN.md): tnq >= 10x faster.

quimb spends ~0.1 s per call, so by default only its first ``--quimb-calls`` (50) are timed and the time is
scaled to the full batch: the table says so. Tree searches happen once, before timing, and are reported.

    python benchmarks/contract_batch.py [--quick] [--threads 1] [--count 1000] [--quimb-calls 50] [--json out.json]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
# isort: off
import common  # noqa: E402  (pins BLAS/OpenMP threads: must load before numpy)
# isort: on
import numpy as np  # noqa: E402
from common import Headline, Row, Timing  # noqa: E402
from contract_grid import (  # noqa: E402
    COLS,
    DEPTH,
    ROWS,
    ContractCaseResult,
    lg,
    quimb_circuit,
    quimb_optimizer,
    random_bits,
)

import tnq  # noqa: E402
from tnq.compile import lower  # noqa: E402
from tnq.contraction.paths import TreeCache  # noqa: E402

TNQ_AUTO, QUIMB = "tnq state.amplitudes(bits), auto", "quimb"
ONE_BY_ONE = "tnq state.amplitude(b) one by one, auto"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--search-time", type=float, default=10.0, help="seconds of tree search for tnq and quimb")
    parser.add_argument("--count", type=int, default=1000, help="amplitudes in the batch (default 1000)")
    parser.add_argument("--quimb-calls", type=int, default=50,
                        help="quimb calls actually timed; the time is scaled to --count (default 50)")


def run(args: argparse.Namespace) -> ContractCaseResult:
    search_time, count = getattr(args, "search_time", 10.0), getattr(args, "count", 1000)
    quimb_calls = min(getattr(args, "quimb_calls", 50), count)
    if args.quick:
        count, quimb_calls = min(count, 200), min(quimb_calls, 20)
    circuit = tnq.grid_random(ROWS, COLS, DEPTH, args.seed)
    n = circuit.num_qubits
    gates = lower(circuit).gates
    bits = random_bits(n, count, args.seed + 11)
    notes = []

    # searches happen once, before timing (reported); every timed job reuses its tree
    state = tnq.simulate(circuit, method="contract", optimize="auto", search_time=search_time, cache=TreeCache())
    state.amplitude(bits[0])
    for label, rep in (("single amplitude", state.reports[0]),):
        notes.append(f"tnq auto, {label}: tree 10^{lg(rep.flops):.2f} flops, width {rep.width:.0f}, search "
                     f"{rep.search_seconds:.2f} s ({rep.optimizer}), contraction {rep.contract_seconds:.4f} s")
    qc, opt = quimb_circuit(gates, n), quimb_optimizer(search_time)
    start = time.perf_counter()
    qc.amplitude(bits[0], optimize=opt)
    qtree = qc.amplitude_rehearse(bits[0], optimize=opt)["tree"]
    notes.append(f"quimb: tree 10^{lg(qtree.contraction_cost()):.2f} flops, width {qtree.contraction_width():.0f}, "
                 f"first call (simplify + serial kahypar/greedy search + contraction) "
                 f"{time.perf_counter() - start:.2f} s")

    state.amplitudes(bits[:64])  # compiles the stacked program (same tree) and runs its bitstring-free steps
    notes.append(f"tnq stacks {state._chunk(state._template(), count)} bitstrings per contraction along a batch "
                 "index (single-amplitude tree; steps no bitstring touches run once per state)")

    def one_by_one() -> np.ndarray:
        return np.array([state.amplitude(b) for b in bits[:quimb_calls]])

    jobs = {TNQ_AUTO: lambda: state.amplitudes(bits), ONE_BY_ONE: one_by_one,
            QUIMB: lambda: np.array([complex(qc.amplitude(b, optimize=opt)) for b in bits[:quimb_calls]])}
    timings = common.measure_round_robin(jobs, args.repeats)
    reference = timings[QUIMB].result
    scale = count / quimb_calls
    qname = f"quimb x{count} (extrapolated)" if scale != 1 else f"quimb x{count}"
    rows = []
    for name in (TNQ_AUTO, ONE_BY_ONE):
        t = timings[name]
        err = float(np.max(np.abs(t.result[:quimb_calls] - reference)))
        if err > 1e-12:
            raise RuntimeError(f"{name}: amplitudes differ from quimb's by {err:.1e}")
        calls = count if name == TNQ_AUTO else quimb_calls
        rows.append(Row(f"{name} ({calls})", Timing([x * count / calls for x in t.times], None),
                        float(np.abs(t.result[0])), err, ref=qname,
                        note=f"{min(t.times) / calls * 1e3:.2f} ms per amplitude (best)"
                             + ("" if calls == count else f"; EXTRAPOLATED from {calls} calls")))
    q = timings[QUIMB]
    rows.append(Row(qname, Timing([x * scale for x in q.times], None), float(np.abs(reference[0])), 0.0,
                    note=(f"EXTRAPOLATED: {quimb_calls} calls timed ({', '.join(f'{x:.2f}' for x in q.times)} s), "
                          f"x{scale:g}") if scale != 1 else "all calls timed"))
    if scale != 1:
        notes.append(f"quimb time is EXTRAPOLATED from {quimb_calls} timed calls to {count} (x{scale:g}); "
                     f"the |err| column compares the first {quimb_calls} amplitudes with quimb's")
    notes.append(f"quimb ReusableHyperOptimizer holds {len(list(opt._cache.keys()))} tree(s) (1 = every call hit)")
    headlines = [Headline(f"tnq state.amplitudes({count}) / quimb {count} calls (goal: 10x faster)",
                          f"{TNQ_AUTO} ({count})", [qname], goal=0.1),
                 Headline("tnq one by one / quimb (per amplitude)", f"{ONE_BY_ONE} ({quimb_calls})", [qname])]
    return ContractCaseResult("contract_batch", f"grid {ROWS}x{COLS} depth {DEPTH}: {count} amplitudes", rows,
                              headlines, notes)


if __name__ == "__main__":
    common.main(run, __doc__.splitlines()[0], add_arguments=add_arguments)
