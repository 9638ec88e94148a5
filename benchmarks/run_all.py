"""Run every engine benchmark in one process (same thread setting for all) and print one summary table
of the goals from DESIGN.md.

    python benchmarks/run_all.py [--quick] [--threads 1] [--repeats 3] [--only brickwork40,qft32] [--json out.json]
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

import brickwork40  # noqa: E402
import ghz_sampling  # noqa: E402
import large_low_entanglement  # noqa: E402
import qft32  # noqa: E402

CASES = {"brickwork40": brickwork40, "qft32": qft32, "ghz_sampling": ghz_sampling,
         "large_low_entanglement": large_low_entanglement}
CASES["contract_grid"] = __import__("contract_grid")
CASES["contract_batch"] = __import__("contract_batch")
CASES["contract_flops"] = __import__("contract_flops")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--only", type=str, default=None, help=f"comma-separated subset of {', '.join(CASES)}")


def main(argv: list[str] | None = None) -> list[common.CaseResult]:
    args = common.parse_args(__doc__.splitlines()[0], argv, add_arguments)
    names = list(CASES) if args.only is None else [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = [s for s in names if s not in CASES]
    if unknown:
        raise SystemExit(f"run_all: unknown case(s) {unknown}; choose from {', '.join(CASES)}")
    common.print_environment()
    results = []
    for name in names:
        start = time.perf_counter()
        result = CASES[name].run(args).finish()
        common.print_case(result, args.repeats)
        print(f"  ({name} took {time.perf_counter() - start:.1f} s in all)")
        results.append(result)
    print(f"\n== summary  [threads={common.THREADS}, best of {args.repeats} runs, {'quick' if args.quick else 'full'}]")
    header = f"{'case':<24} {'goal':<50} {'value':>8} {'target':>8}  status"
    print(header)
    print("-" * len(header))
    for result in results:
        for h in result.headlines:
            value = "-" if h.value is None else f"{h.value:.3f}"
            target = f"<={h.goal:g}" + (" s" if h.unit == "seconds" else "")
            status = "MET" if h.met else "not met" if h.met is not None else "?"
            print(f"{result.name:<24} {h.label:<50} {value:>8} {target:>8}  {status}")
    common.write_json(args.json, results, args)
    return results


if __name__ == "__main__":
    main()
