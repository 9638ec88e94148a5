"""Bars-and-Stripes 4x4 with the MPS Born machine, side by side with a plain numpy implementation of Han et al.'s
algorithm (benchmarks/born_reference.py) and the paper's figures.

    OPENBLAS_NUM_THREADS=1 python benchmarks/born_bas.py [--sweeps 30] [--out benchmarks/out]

Prints NLL after training for Dmax 2/4/8/16 (Han et al. PRX 2018: ~8.5 / 6.0 / 4.5 / ln 30), the sweep at which
Dmax 16 reaches ln 30 to 1e-3, the share of valid samples, and time per sweep of tnq versus the reference.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from born_reference import HanReference  # noqa: E402

from tnq.born import MPSBornMachine, bars_and_stripes, is_bars_and_stripes  # noqa: E402
from tnq.io import atomic_write_text  # noqa: E402

HAN = {2: 8.5, 4: 6.0, 8: 4.5, 16: float(np.log(30))}


def run(max_bond: int, sweeps: int, seed: int) -> dict:
    X = bars_and_stripes(4, 4)
    model = MPSBornMachine(16, max_bond=max_bond, n_sweeps=sweeps, seed=seed, progress=False)
    start = time.perf_counter()
    model.fit(X)
    tnq_time = (time.perf_counter() - start) / sweeps
    ref = HanReference(16, max_bond, seed=seed)
    ref.init_cumulants(X)
    ref_curve = []
    start = time.perf_counter()
    for _ in range(sweeps):
        ref.sweep()
        ref_curve.append(ref.nll(X))
    ref_time = (time.perf_counter() - start) / sweeps
    curve = [r["train_nll"] for r in model.history_]
    reached = next((i + 1 for i, v in enumerate(curve) if abs(v - np.log(30)) < 1e-3), None)
    samples = model.sample(10000, seed=seed)
    return {"max_bond": max_bond, "nll": curve[-1], "ref_nll": ref_curve[-1], "han": HAN[max_bond],
            "sweep_to_ln30": reached, "valid": float(is_bars_and_stripes(samples, 4, 4).mean()),
            "tnq_s_per_sweep": tnq_time, "ref_s_per_sweep": ref_time, "curve": curve, "ref_curve": ref_curve,
            "bonds": model.mps_.bond_dims, "model": model, "samples": samples[:40]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sweeps", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="folder for results.json, plots and the Dmax-16 model")
    args = parser.parse_args()
    rows = [run(d, args.sweeps, args.seed) for d in (2, 4, 8, 16)]
    print(f"BAS 4x4, 30 patterns, {args.sweeps} sweeps, lr 0.1, 10 steps per bond; ln 30 = {np.log(30):.4f}")
    print(f"{'Dmax':>4} {'NLL tnq':>9} {'NLL ref':>9} {'Han18':>7} {'valid':>7} {'ln30@sweep':>10} "
          f"{'tnq s/sweep':>12} {'ref s/sweep':>12} {'ratio':>6}")
    for r in rows:
        print(f"{r['max_bond']:>4} {r['nll']:9.4f} {r['ref_nll']:9.4f} {r['han']:7.3f} {r['valid']:7.2%} "
              f"{str(r['sweep_to_ln30']):>10} {r['tnq_s_per_sweep']:12.5f} {r['ref_s_per_sweep']:12.5f} "
              f"{r['tnq_s_per_sweep'] / r['ref_s_per_sweep']:6.2f}")
    if args.out:
        out = Path(args.out)
        from tnq.born.plots import plot_nll_curves, plot_samples

        plot_nll_curves({f"tnq D={r['max_bond']}": r["curve"] for r in rows}
                        | {f"ref D={r['max_bond']}": r["ref_curve"] for r in rows},
                        out / "bas_nll.png", reference=float(np.log(30)), title="BAS 4x4 NLL per sweep",
                        dashed=[f"ref D={r['max_bond']}" for r in rows])
        plot_samples(rows[-1]["samples"], (4, 4), out / "bas_samples.png", title="BAS samples, Dmax 16")
        rows[-1]["model"].save(out / "bas_d16.safetensors")
        clean = [{k: v for k, v in r.items() if k not in ("model", "samples")} for r in rows]
        atomic_write_text(out / "bas_results.json", json.dumps(clean, indent=1))


if __name__ == "__main__":
    main()
