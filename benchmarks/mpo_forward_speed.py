"""Forward speed of a compressed model against the original, in one process with pinned threads: a random 4-block
Llama (hidden 512) compressed at --budget with whitened SVD and with MPO (and int4 round-to-nearest with group-32
scales; ``--methods``), each saved and reloaded with
``tnq.compress.load_compressed`` and (rows "... hf") with transformers alone (``trust_remote_code=True``: the
folder's modeling code); prefill (4 x 256 tokens) and greedy generation (128 tokens) timed round-robin, best of
--repeats, with the time ratio compressed / original (< 1: faster) and the share of parameters kept; "original
copy" (the same weights in a second model) shows how far two identical models' times differ here. Each compressed
layer runs in the forms ``tnq compress --max-slowdown`` (default 1) chose by timing on this machine; the forms
chosen (per row count: 1 row / 1024 rows) are listed. ``--max-slowdown 0`` compresses without timing (forms by
multiply-adds).

    python benchmarks/mpo_forward_speed.py [--threads 1] [--budget 0.5] [--repeats 5] [--max-slowdown 1]
        [--json out.json]

Measured (2-core AMD EPYC, 1 thread, --repeats 7 --methods mpo): original copy 1.01 / 1.04 (prefill / generation
time ratio), mpo 0.75 / 0.86, mpo loaded by transformers alone 0.75 / 0.88 (23 layers chose the two-site MPO, run
as two matrix products; 5 the balanced MPO, run as its rebuilt matrix). With --sites balanced everywhere (the
earlier default) the MPO ran at 0.98-1.08 / 0.82-1.05: a balanced two-core MPO at half the parameters costs 8-17x
the dense layer's multiply-adds core by core, so it can only run as the rebuilt matrix.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402  (pins BLAS/OpenMP threads: must load before numpy)
import torch  # noqa: E402
import transformers  # noqa: E402

from tnq.compress import compress_model, from_names, load_compressed  # noqa: E402
from tnq.compress.report import model_size  # noqa: E402
from tnq.io import atomic_write_text  # noqa: E402

VOCAB = 2048
METHOD_OPTIONS = {"rtn": {"bits": 4, "group": 32}, "gptq": {"bits": 4, "group": 32}}
"""Options of the quantising methods (the others take the budget alone)."""


def random_llama(seed: int = 0) -> torch.nn.Module:
    """4 blocks, hidden 512, MLP 1376, 8 heads, tied embeddings: random weights, no download."""
    torch.manual_seed(seed)
    config = transformers.LlamaConfig(vocab_size=VOCAB, hidden_size=512, intermediate_size=1376, num_hidden_layers=4,
                                      num_attention_heads=8, num_key_value_heads=8, max_position_embeddings=1024,
                                      tie_word_embeddings=True)
    return transformers.LlamaForCausalLM(config).eval()


def prefill(model: torch.nn.Module, ids: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(ids, use_cache=False).logits


def generate(model: torch.nn.Module, prompt: torch.Tensor, new: int) -> torch.Tensor:
    with torch.no_grad():
        return model.generate(prompt, max_new_tokens=new, min_new_tokens=new, do_sample=False, pad_token_id=0)


def forms(model: torch.nn.Module) -> str:
    """The forms the compressed layers run in, counted: 'dense/dense x16, factors/dense x12'."""
    counts: dict[str, int] = {}
    for module in model.modules():
        if getattr(module, "forms", None):
            key = "/".join(form for _, form in module.forms)
            counts[key] = counts.get(key, 0) + 1
    if not any(hasattr(module, "forms") for module in model.modules()):
        return "-"
    return ", ".join(f"{k} x{v}" for k, v in sorted(counts.items())) or "by multiply-adds"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=common.THREADS, help="BLAS/torch threads (read before imports)")
    parser.add_argument("--budget", type=float, default=0.5)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--new-tokens", type=int, default=128, help="greedy generation length (0: skip)")
    parser.add_argument("--max-slowdown", type=float, default=1.0, help="tnq compress's --max-slowdown (0: no timing)")
    parser.add_argument("--methods", default="whitened-svd,mpo,rtn",
                        help="comma-separated methods (rtn: int4 with group-32 scales)")
    parser.add_argument("--json", type=str, default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(1)
    text = torch.randint(0, VOCAB, (8192,), generator=gen)
    ids = torch.randint(0, VOCAB, (4, 256), generator=gen)
    prompt = ids[:1, :16]
    models = {"original": random_llama(), "original copy": random_llama()}
    size = model_size(models["original"])[0]
    with tempfile.TemporaryDirectory() as tmp:
        for method in args.methods.split(","):
            out = Path(tmp) / method
            compress_model(random_llama(), **from_names(method, budget=args.budget, tokens=text,
                                                        calibration_tokens=4096, window=256, eval_tokens=None, out=out,
                                                        max_slowdown=args.max_slowdown or None, progress=False,
                                                        **METHOD_OPTIONS.get(method, {})))
            models[method] = load_compressed(out).model
            auto = transformers.AutoModelForCausalLM
            models[f"{method} hf"] = auto.from_pretrained(out, trust_remote_code=True).eval()
    params = {name: model_size(m)[0] / size for name, m in models.items()}
    jobs = {name: partial(prefill, m, ids) for name, m in models.items()}
    if args.new_tokens:
        jobs.update({f"{name} generate": partial(generate, m, prompt, args.new_tokens) for name, m in models.items()})
    timings = common.measure_round_robin(jobs, args.repeats + 1)
    best = {name: min(t.times[1:]) for name, t in timings.items()}  # the first round warms up
    rows = []
    print(f"threads {args.threads}, budget {args.budget}, prefill 4 x 256 tokens, generate {args.new_tokens} tokens, "
          f"best of {args.repeats}")
    print(f"{'model':>14} {'params':>7} {'prefill s':>10} {'ratio':>6} {'gen tok/s':>10} {'ratio':>6}  "
          f"forms (1 row/1024)")
    for name, kept in params.items():
        row = dict(model=name, params=kept, prefill_s=best[name], prefill_ratio=best[name] / best["original"],
                   generate_tokens_per_s=float("nan"), generate_time_ratio=float("nan"), forms=forms(models[name]))
        if args.new_tokens:
            row["generate_tokens_per_s"] = args.new_tokens / best[f"{name} generate"]
            row["generate_time_ratio"] = best[f"{name} generate"] / best["original generate"]
        rows.append(row)
        print(f"{name:>14} {kept:7.3f} {row['prefill_s']:10.4f} {row['prefill_ratio']:6.2f} "
              f"{row['generate_tokens_per_s']:10.1f} {row['generate_time_ratio']:6.2f}  {row['forms']}")
    if args.json:
        atomic_write_text(args.json, json.dumps(dict(threads=args.threads, budget=args.budget,
                                                     max_slowdown=args.max_slowdown, rows=rows), indent=2))


if __name__ == "__main__":
    main()
