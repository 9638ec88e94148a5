"""MPOLinear forward vs nn.Linear forward at 50% of the weight's parameters, and the time to decompose a matrix.

    python benchmarks/mpo_speed.py [--threads 1] [--batch 512] [--repeats 20] [--json out.json]

Shapes (d_out x d_in): 576x1536 (SmolLM2 MLP down-projection) and 384x1536 (MiniLM MLP output). For each number of
cores the contraction plan picked by tnq.mpo is printed with the forward time and the ratio MPO / dense (> 1: the MPO
is slower), both without and with ``allow_dense`` (rebuilding W inside forward when that is cheaper). Timings are
round-robin (MPO and dense alternate) and report the best of ``--repeats``.
"""

from __future__ import annotations

import argparse
import os
import sys


def _threads(argv: list[str]) -> int:
    for i, arg in enumerate(argv):
        if arg.startswith("--threads="):
            return int(arg.split("=", 1)[1])
        if arg == "--threads" and i + 1 < len(argv):
            return int(argv[i + 1])
    return 1


THREADS = _threads(sys.argv[1:])
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = str(THREADS)  # before numpy / torch load

import json  # noqa: E402
import time  # noqa: E402
from functools import partial  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from tnq.io import atomic_write_text  # noqa: E402
from tnq.mpo import MPO, MPOLinear  # noqa: E402

SHAPES = [(576, 1536), (384, 1536)]


def best_times(jobs: dict[str, object], repeats: int) -> dict[str, float]:
    """Best wall time of each job, run round-robin so load spikes hit all alike (one warm-up round first)."""
    times: dict[str, list[float]] = {name: [] for name in jobs}
    for rep in range(repeats + 1):
        for name, job in jobs.items():
            start = time.perf_counter()
            job()
            if rep:
                times[name].append(time.perf_counter() - start)
    return {name: min(values) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=THREADS, help="BLAS/torch threads (read before imports)")
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--fraction", type=float, default=0.5, help="share of the weight's parameters kept")
    parser.add_argument("--json", type=str, default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    rows = []
    print(f"threads {args.threads}, batch {args.batch}, {args.fraction:.0%} of the parameters, best of {args.repeats}")
    print(f"{'shape':>10} {'cores':>5} {'bonds':>12} {'params':>8} {'plan':>22} {'dense ms':>9} {'mpo ms':>8} "
          f"{'ratio':>6} {'mpo+dense-ok ms':>16} {'ratio':>6}")
    for d_out, d_in in SHAPES:
        linear = torch.nn.Linear(d_in, d_out)
        x = torch.randn(args.batch, d_in)
        budget = int(args.fraction * d_out * d_in)
        for n_cores in (2, 3, 4):
            layer = MPOLinear.from_linear(linear, n_cores=n_cores, max_params=budget)
            fused = MPOLinear.from_linear(linear, n_cores=n_cores, max_params=budget, allow_dense=True)
            mpo = layer.to_mpo()
            with torch.no_grad():
                err = float((layer(x) - layer.to_linear()(x)).abs().max())
                t = best_times({"dense": partial(linear, x), "mpo": partial(layer, x), "fused": partial(fused, x)},
                               args.repeats)
            plan = mpo.plan(args.batch)
            plan_text = "+".join(f"{a}-{b - 1}" if b - a > 1 else str(a) for a, b in plan.groups)
            plan_text += " ltr" if plan.left_to_right else " rtl"
            row = dict(shape=[d_out, d_in], n_cores=n_cores, bond_dims=mpo.bond_dims, params=mpo.num_params,
                       plan=plan_text, dense_s=t["dense"], mpo_s=t["mpo"], ratio=t["mpo"] / t["dense"],
                       allow_dense_s=t["fused"], allow_dense_ratio=t["fused"] / t["dense"], max_abs_diff=err)
            rows.append(row)
            print(f"{d_out}x{d_in:<5} {n_cores:>5} {str(mpo.bond_dims):>12} {mpo.num_params:>8} {plan_text:>22} "
                  f"{1e3 * t['dense']:9.3f} {1e3 * t['mpo']:8.3f} {row['ratio']:6.2f} {1e3 * t['fused']:16.3f} "
                  f"{row['allow_dense_ratio']:6.2f}")
    W = np.random.default_rng(0).normal(size=(576, 1536))
    decompose = {}
    for n_cores in (2, 3, 4):
        start = time.perf_counter()
        MPO.from_matrix(W, n_cores=n_cores, max_params=int(args.fraction * W.size))
        decompose[n_cores] = time.perf_counter() - start
        print(f"decompose random 576x1536, {n_cores} cores, {args.fraction:.0%} params: "
              f"{decompose[n_cores]:.3f} s")
    if args.json:
        atomic_write_text(args.json, json.dumps(dict(threads=args.threads, batch=args.batch, rows=rows,
                                                     decompose_s=decompose), indent=2))


if __name__ == "__main__":
    main()
