"""cProfile of tnq alone on the benchmark circuits, to see where its time goes (no peers run).

    python benchmarks/profile_tnq.py [--case brickwork-full|brickwork-cone|qft-full|qft-cone|ghz50|bv140]
                                     [--loops 5] [--top 25] [--threads 1]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
# isort: off
import common  # noqa: E402  (pins BLAS/OpenMP threads: must load before numpy)
# isort: on
import numpy as np  # noqa: E402
from qft32 import u3_then_qft  # noqa: E402

import tnq  # noqa: E402


def cases(seed: int) -> dict[str, Callable[[], object]]:
    brick = tnq.brickwork(40, 12, seed=seed)
    qft = u3_then_qft(32, seed)
    ghz = tnq.ghz(50)
    secret = "".join(map(str, np.random.default_rng(seed).integers(0, 2, 139)))
    bv = tnq.bernstein_vazirani(secret)
    return {
        "brickwork-full": lambda: tnq.simulate(brick, method="mps", max_bond=64).expectation("Z0 Z1"),
        "brickwork-cone": lambda: tnq.expectation(brick, "Z0 Z1", method="mps", max_bond=64),
        "qft-full": lambda: tnq.simulate(qft, method="mps", max_bond=64).expectation("Z0"),
        "qft-cone": lambda: tnq.expectation(qft, "Z0", method="mps", max_bond=64),
        "ghz50": lambda: tnq.simulate(ghz, method="mps").sample(1000, seed=seed),
        "bv140": lambda: tnq.simulate(bv, method="mps").sample(1000, seed=seed, qubits=range(139)),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", default="brickwork-full", help="one of the cases, or 'all'")
    parser.add_argument("--loops", type=int, default=5, help="profiled calls (after one warm-up call)")
    parser.add_argument("--top", type=int, default=25, help="rows of each listing")
    parser.add_argument("--threads", type=int, default=common.THREADS)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    table = cases(args.seed)
    names = list(table) if args.case == "all" else [args.case]
    for name in names:
        if name not in table:
            raise SystemExit(f"unknown case {name!r}; choose from {', '.join(table)} or all")
        fn = table[name]
        fn()  # warm-up: imports, caches
        start = time.perf_counter()
        for _ in range(args.loops):
            fn()
        plain = (time.perf_counter() - start) / args.loops
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(args.loops):
            fn()
        profiler.disable()
        print(f"\n===== {name}: {plain * 1e3:.1f} ms per call unprofiled (mean of {args.loops}), "
              f"threads={common.THREADS}")
        stats = pstats.Stats(profiler).strip_dirs()
        stats.sort_stats("tottime").print_stats(args.top)
        stats.sort_stats("cumulative").print_stats(args.top)


if __name__ == "__main__":
    main()
