"""Achieved FLOP/s of tnq's contraction backend on a large contraction (one amplitude of a 2D grid random
circuit, default 6x7 depth 14, ~10^9.4-10.4 complex multiply-adds) as a fraction of numpy's complex128 GEMM FLOP/s
measured in the same process (2048x2048 @ 2048x2048, 8 n^3 real flops). Goal: >= 30% of GEMM.

ContractionReport.flops_per_second counts 8 real flops per complex multiply-add of the tree. The tree search
runs once before timing and is reported; each timed run is a pure contraction of the cached tree.

    python benchmarks/contract_flops.py [--threads 1] [--rows 6 --cols 7 --depth 14] [--optimize auto] [--json out.json]
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
from contract_grid import ContractCaseResult, lg, random_bits, tnq_network  # noqa: E402

import tnq  # noqa: E402
from tnq.compile import lower  # noqa: E402
from tnq.contraction.execute import REAL_FLOPS_PER_COMPLEX_MAC, contract  # noqa: E402
from tnq.contraction.paths import TreeCache  # noqa: E402
from tnq.contraction.simplify import apply_plan  # noqa: E402
from tnq.errors import SimulationError  # noqa: E402

GEMM_N = 2048
GOAL_FRACTION = 0.3


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rows", type=int, default=6)
    parser.add_argument("--cols", type=int, default=7)
    parser.add_argument("--depth", type=int, default=14)
    parser.add_argument("--optimize", type=str, default="auto", help="tnq preset: auto, greedy or hyper")
    parser.add_argument("--search-time", type=float, default=10.0)
    parser.add_argument("--gemm-n", type=int, default=GEMM_N, help="GEMM size of the reference (default 2048)")
    parser.add_argument("--skip-whatif", action="store_true",
                        help="skip the cotengra minimize='combo'/'write' hyper searches (slow on a loaded machine)")


def gemm(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a, b = (rng.standard_normal((n, n)) + 1j * rng.standard_normal((n, n)) for _ in range(2))
    return a, b


def kernel_profile(program: object, arrays: list, top: int = 4) -> str:
    """One contraction under cProfile: the functions with the most own time (matmul vs permutations)."""
    import cProfile
    import pstats

    prof = cProfile.Profile()
    prof.enable()
    program(arrays)  # type: ignore[operator]
    prof.disable()
    stats = pstats.Stats(prof).stats  # type: ignore[attr-defined]
    total = sum(v[2] for v in stats.values())
    items = sorted(stats.items(), key=lambda kv: -kv[1][2])[:top]
    return "where the default contraction spends its time: " + ", ".join(
        f"{name} {v[2]:.2f} s ({v[2] / total:.0%}, {v[1]} calls)" for (_, _, name), v in items)


def run(args: argparse.Namespace) -> ContractCaseResult:
    rows_, cols, depth = getattr(args, "rows", 6), getattr(args, "cols", 7), getattr(args, "depth", 14)
    optimize, search_time = getattr(args, "optimize", "auto"), getattr(args, "search_time", 10.0)
    n_gemm = getattr(args, "gemm_n", GEMM_N)
    if args.quick:
        depth = min(depth, 12)
    circuit = tnq.grid_random(rows_, cols, depth, args.seed)
    n = circuit.num_qubits
    bits = random_bits(n, 1, args.seed + 5)[0]
    net = tnq_network(lower(circuit).gates, n, bits)
    start = time.perf_counter()
    info = TreeCache().get_program(net, optimize, search_time)
    search = time.perf_counter() - start
    notes = [f"grid {rows_}x{cols} depth {depth}, amplitude of {bits}: {len(net.inputs)} tensors, tree "
             f"10^{lg(info.flops):.2f} flops (multiply-adds), width {info.width:.0f}, peak "
             f"{info.peak_bytes / 2**20:.0f} MiB, {info.slices} slice(s); search {search:.2f} s ({info.optimizer})"]

    a, b = gemm(n_gemm, args.seed)
    reports = []

    def tnq_job() -> complex:
        value, report = contract(net, info)
        reports.append(report)
        return complex(value)

    bmm = "same tree, cotengra's contract(implementation='cotengra')"
    simplified = apply_plan(net, info.plan)
    jobs = {"tnq contraction (cached tree)": tnq_job, f"numpy complex128 GEMM {n_gemm}^2": lambda: a @ b,
            bmm: lambda: complex(info.tree.contract(simplified.arrays, implementation="cotengra"))}
    # what-if: the same kahypar+greedy hyper search minimising cotengra's 'combo' (flops + memory writes) or
    # 'write' instead of flops: trees with fewer large transposes run closer to GEMM speed
    other = {}
    for minimize in () if args.quick or getattr(args, "skip_whatif", False) else ("combo", "write"):
        import cotengra as ctg

        opt = ctg.HyperOptimizer(methods=["kahypar", "greedy"], max_time=search_time, max_repeats=10**6,
                                 parallel=False, minimize=minimize)
        start = time.perf_counter()
        try:
            other[minimize] = (TreeCache().get_program(net, opt, search_time), time.perf_counter() - start)
        except SimulationError as exc:  # a search can end on a useless tree on this loaded machine: say so
            notes.append(f"what-if minimize='{minimize}': search ended on an unusable tree ({exc})")
            continue
        jobs[f"what-if: hyper search minimize='{minimize}'"] = (
            lambda i: lambda: complex(contract(net, i)[0]))(other[minimize][0])
    timings = common.measure_round_robin(jobs, args.repeats)
    t_tnq, t_gemm = timings["tnq contraction (cached tree)"], timings[f"numpy complex128 GEMM {n_gemm}^2"]
    tnq_rate = REAL_FLOPS_PER_COMPLEX_MAC * info.flops / t_tnq.best
    gemm_rate = 8 * n_gemm**3 / t_gemm.best
    fraction = tnq_rate / gemm_rate
    amp = t_tnq.result
    rows = [Row("tnq contraction (cached tree)", Timing(t_tnq.times, None), abs(amp),
                note=f"{tnq_rate / 1e9:.2f} GFLOP/s best (ContractionReport: "
                     f"{max(r.flops_per_second for r in reports) / 1e9:.2f}); {fraction:.1%} of GEMM"),
            Row(f"numpy complex128 GEMM {n_gemm}^2", Timing(t_gemm.times, None),
                note=f"{gemm_rate / 1e9:.2f} GFLOP/s best (8 n^3 real flops)")]
    notes.append(f"tnq {tnq_rate / 1e9:.2f} GFLOP/s vs numpy zgemm {gemm_rate / 1e9:.2f} GFLOP/s -> {fraction:.1%} "
                 f"(goal >= {GOAL_FRACTION:.0%}); amplitude {amp:.6e}, |amp|^2 2^n = {abs(amp) ** 2 * 2**n:.3f} "
                 f"(Porter-Thomas: O(1)); the |err| column compares the what-if trees' amplitudes with tnq's")
    t_bmm = timings[bmm]
    bmm_rate = REAL_FLOPS_PER_COMPLEX_MAC * info.flops / t_bmm.best
    rows.append(Row(bmm, Timing(t_bmm.times, None), abs(t_bmm.result), abs(t_bmm.result - amp),
                    note=f"{bmm_rate / 1e9:.2f} GFLOP/s best; {bmm_rate / gemm_rate:.1%} of GEMM (cotengra's own "
                         "executor on tnq's simplified network, for comparison with tnq's compiled program)"))
    for minimize, (minfo, msearch) in other.items():
        name = f"what-if: hyper search minimize='{minimize}'"
        t = timings[name]
        rate = REAL_FLOPS_PER_COMPLEX_MAC * minfo.flops / t.best
        rows.append(Row(name, Timing(t.times, None), abs(t.result), abs(t.result - amp),
                        note=f"tree 10^{lg(minfo.flops):.2f} flops, width {minfo.width:.0f}, serial search "
                             f"{msearch:.1f} s; {rate / 1e9:.2f} GFLOP/s, {rate / gemm_rate:.1%} of GEMM; "
                             f"time vs tnq today {t.best / t_tnq.best:.2f}x"))
    notes.append(kernel_profile(info.program, net.arrays))
    fixed = [Headline(f"GEMM FLOP/s / tnq FLOP/s (goal: tnq >= {GOAL_FRACTION:.0%} of GEMM)", "",
                      goal=1 / GOAL_FRACTION, value=1 / fraction)]
    return ContractCaseResult("contract_flops", f"FLOP/s: grid {rows_}x{cols} depth {depth} amplitude vs numpy GEMM",
                              rows, [], notes, fixed=fixed)


if __name__ == "__main__":
    common.main(run, __doc__.splitlines()[0], add_arguments=add_arguments)
