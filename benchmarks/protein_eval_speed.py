"""Protein evaluation speed: proteins per second of the quantum classifier's evaluation path (compile each protein
to its circuit, contract 32 proteins at a time as ``qnlp protein evaluate`` does) on DeepLoc validation proteins,
with the default cheap contraction trees (cotengra greedy, ``optimize="greedy"``) and, with ``--compare``, the
structural pre-pass and tree search used before (``optimize="auto"``); the two must agree to 1e-10.

Parameters are fixed pseudo-random values per symbol name (training does not change the cost of evaluation).
Times are process CPU seconds (one BLAS thread): on a shared machine they stay close to what an idle one takes,
where wall-clock seconds grow with the load.

    python benchmarks/protein_eval_speed.py [--proteins 50] [--model ptn] [--ansatz controlled] [--qubits 1]
        [--windows W] [--compare] [--json out.json]

Measured on the first 50 proteins (median 624 residues, longest 1,840; 2-core machine, CPU seconds), default
ptn / controlled model: before (each protein through the structural pre-pass and ``auto`` search) compile 11.9 s +
evaluate 139.0 s = 0.33 proteins/s, and 21 of the 50 came out as 0 / 0 (amplitudes below 1e-308); now compile
2.0 s + evaluate 12.8 s = 3.4 proteins/s, all 50 with probabilities, the 29 others equal to 3e-15. With windows
of 30 residues (``--windows 30``): before 10.7 s + 0.8 s = 4.4 proteins/s, now 1.5 s + 0.9 s = 21 proteins/s.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import zlib
from pathlib import Path

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

from qnlp.evaluate import CompiledBatch  # noqa: E402
from qnlp.protein.compile import PROTEIN_ANSATZE, ProteinCompiler  # noqa: E402
from qnlp.protein.diagrams import MODELS, ProteinReader  # noqa: E402
from qnlp.protein.loaders import read_fasta  # noqa: E402
from qnlp.protein.windows import pool  # noqa: E402
from tnq.contraction import TreeCache  # noqa: E402
from tnq.io import atomic_write_text  # noqa: E402

DEEPLOC = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "deeploc" / "deeploc_our_val_set.fasta"
CHUNK = 32
"""Proteins compiled and evaluated at a time (``qnlp protein evaluate``'s EVAL_BATCH)."""


def symbol_values(names: list[str], seed: int) -> np.ndarray:
    """A fixed value in [-1, 1] per symbol name (the same in every chunk, like a trained model's weights)."""
    return np.array([np.random.default_rng([seed, zlib.crc32(n.encode())]).uniform(-1, 1) for n in names])


def evaluate(compiler: ProteinCompiler, sequences: list[str], windows: int | None, optimize: str,
             seed: int) -> tuple[np.ndarray, float, float]:
    """Class-0/1 probabilities per protein, and the CPU seconds spent compiling and evaluating."""
    compile_s = evaluate_s = 0.0
    cache = TreeCache()  # trees found during this run only
    parts = []
    for start in range(0, len(sequences), CHUNK):
        chunk = sequences[start:start + CHUNK]
        tick = time.process_time()
        if windows is None:
            items, owner = chunk, np.arange(len(chunk))
        else:
            items, owner = compiler.reader.window_tokens(chunk, windows)
        circuits = [compiler(item) for item in items]
        symbols = sorted({s for c in circuits for s in c.symbols})
        middle = time.process_time()
        probs = CompiledBatch(circuits, symbols, cache, optimize).probabilities(symbol_values(symbols, seed))
        probs = probs.reshape(len(items), 2, -1).sum(2)
        parts.append(pool(probs, owner, len(chunk), "mean"))
        compile_s += middle - tick
        evaluate_s += time.process_time() - middle
    return np.concatenate(parts), compile_s, evaluate_s


def main() -> None:
    """Print proteins/s for each tree mode and their largest probability difference."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fasta", default=str(DEEPLOC), help="DeepLoc-style FASTA (default: the validation set)")
    parser.add_argument("--proteins", type=int, default=50, help="first N Cytoplasm / Cell.membrane proteins")
    parser.add_argument("--model", choices=MODELS, default="ptn")
    parser.add_argument("--ansatz", choices=sorted(PROTEIN_ANSATZE), default="controlled")
    parser.add_argument("--qubits", type=int, default=1)
    parser.add_argument("--windows", type=int, default=None, help="evaluate windows of W residues, mean-pooled")
    parser.add_argument("--compare", action="store_true", help="also time optimize='auto' (slow: seconds/protein)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None, help="write the figures to this JSON file")
    args = parser.parse_args()
    data = read_fasta(args.fasta, "header", label_regex=r"(?P<label>Cytoplasm|Cell\.membrane)-",
                      classes=["Cytoplasm", "Cell.membrane"], skip_unlabelled=True)
    sequences = data.sequences[:args.proteins]
    lengths = np.array([len(s) for s in sequences])
    print(f"{len(sequences)} proteins from {args.fasta}: median {int(np.median(lengths))} residues, "
          f"longest {lengths.max()}; {args.model} {args.ansatz} qubits={args.qubits} windows={args.windows}")
    compiler = ProteinCompiler(ProteinReader(model=args.model, unknown="map"), args.ansatz, args.qubits)
    rows, results = {}, {}
    for optimize in ("greedy", "auto") if args.compare else ("greedy",):
        probs, compile_s, evaluate_s = evaluate(compiler, sequences, args.windows, optimize, args.seed)
        results[optimize] = probs
        rows[optimize] = {"compile_cpu_seconds": round(compile_s, 3), "evaluate_cpu_seconds": round(evaluate_s, 3),
                          "proteins_per_second": round(len(sequences) / (compile_s + evaluate_s), 2),
                          "evaluated_per_second": round(len(sequences) / evaluate_s, 2)}
        print(f"optimize={optimize:6s}: compile {compile_s:7.2f} CPU s, evaluate {evaluate_s:7.2f} CPU s -> "
              f"{rows[optimize]['proteins_per_second']:.2f} proteins/s "
              f"({rows[optimize]['evaluated_per_second']:.2f}/s evaluation alone)")
    if args.compare:
        difference = float(np.abs(results["greedy"] - results["auto"]).max())
        rows["max_probability_difference"] = difference
        print(f"largest probability difference greedy vs auto: {difference:.2e} (must be <= 1e-10)")
    if args.json:
        atomic_write_text(args.json, json.dumps({"settings": vars(args), "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
