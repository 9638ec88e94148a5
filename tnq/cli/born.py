"""``tnq born``: train, sample from, evaluate and compile MPS Born machines from the command line.

    tnq born train --data bas4 --max-bond 16 --out bas.safetensors
    tnq born sample bas.safetensors -n 8 --given 0=1,1=1 --shape 4x4
    tnq born eval bas.safetensors --data bas4
    tnq born compile bas.safetensors --layers 4 --qasm bas.qasm
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import UsageError
from ..io import check_output, check_plot
from . import options

PLOT_SAMPLES = 100
"""``sample --plot`` draws at most this many samples (one small image each)."""


def _given(text: str) -> dict[int, int]:
    """Parse ``site=value,site=value``."""
    out = {}
    for item in filter(None, text.split(",")):
        try:
            site, value = item.split("=")
            out[int(site)] = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"--given expects site=value pairs like 0=1,5=0, got {item!r}") from None
    return out


def _shape(text: str) -> tuple[int, int]:
    try:
        rows, cols = (int(v) for v in text.lower().split("x"))
    except ValueError:
        rows = cols = 0
    if rows < 1 or cols < 1:
        raise argparse.ArgumentTypeError(f"--shape expects ROWSxCOLS of positive integers like 4x4, got {text!r}")
    return rows, cols


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``born`` command (with its train/sample/eval/compile subcommands) to an argparse subparsers object."""
    born = subparsers.add_parser("born", help="MPS Born machines: train, sample, eval, compile",
                                 description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_subcommands(born)
    return born


def add_subcommands(born: argparse.ArgumentParser) -> None:
    """The train / sample / eval / compile subcommands, on ``born`` (``tnq born``) or a stand-alone parser."""
    sub = born.add_subparsers(dest="born_command", required=True)

    train = sub.add_parser("train", help="train a Born machine on a dataset")
    train.add_argument("--data", required=True, help="basN, basRxC, digits, mnist, mnistN or random:LENGTH:COUNT")
    train.add_argument("--max-bond", type=options.positive, default=16)
    train.add_argument("--cutoff", type=options.real(0.0, below=1.0), default=1e-7,
                       help="largest relative discarded weight per split, in [0, 1)")
    train.add_argument("--lr", type=options.real(above=0.0, below=1.0), default=0.1,
                       help="learning rate (step on the merged tensor), in (0, 1)")
    train.add_argument("--steps", type=options.positive, default=10, help="gradient steps per bond visit")
    train.add_argument("--sweeps", type=options.positive, default=4)
    train.add_argument("--batches", type=options.positive, default=1,
                       help="minibatches per bond visit (1 = full batch)")
    train.add_argument("--patience", type=options.count, default=2,
                       help="sweeps without improvement tolerated before stopping early (validation on 10%% of the "
                            "training data, for datasets with a test split)")
    train.add_argument("--order", choices=("row", "hilbert"), default="row",
                       help="pixel order along the chain for square power-of-two images")
    train.add_argument("--smooth", action="store_true",
                       help="after training, pick an amplitude-smoothing strength on the held-out data")
    train.add_argument("--seed", type=options.seed, default=0)
    train.add_argument("--out", help="save the trained model here (.safetensors)")
    train.add_argument("--checkpoint", help="save after every sweep here (.safetensors); with --resume continue "
                                             "from it (an interrupted run keeps its last finished sweep there)")
    train.add_argument("--resume", action="store_true")
    train.add_argument("--plot", help="write the NLL curve here (png/pdf)")

    sample = sub.add_parser("sample", help="draw exact samples from a saved model")
    sample.add_argument("model")
    sample.add_argument("-n", "--shots", type=options.count, default=10)
    sample.add_argument("--given", type=_given, default={}, help="condition, e.g. 0=1,3=0 (inpainting)")
    sample.add_argument("--seed", type=options.seed, default=None)
    sample.add_argument("--shape", type=_shape, help="print / plot samples as ROWSxCOLS images")
    sample.add_argument("--plot", help=f"write a grid of the first {PLOT_SAMPLES} samples here (needs --shape)")

    evaluate = sub.add_parser("eval", help="NLL of a dataset under a saved model")
    evaluate.add_argument("model")
    evaluate.add_argument("--data", required=True)
    evaluate.add_argument("--seed", type=options.seed, default=0, help="seed of the train/test split")

    compile_ = sub.add_parser("compile", help="turn a saved binary model into a circuit (mps_to_circuit)")
    compile_.add_argument("model")
    compile_.add_argument("--layers", type=options.positive, default=4)
    compile_.add_argument("--no-optimise", action="store_true", help="analytic layers only")
    compile_.add_argument("--iterations", type=options.count, default=200, help="gate-optimisation sweeps")
    compile_.add_argument("--restarts", type=options.count, default=3,
                          help="extra optimisation runs from fixed-seed perturbed gates, best kept (each costs about "
                               "as much as the first; 0 = one run; default: 3)")
    compile_.add_argument("--qasm", help="write the circuit as OpenQASM 2 here")
    compile_.add_argument("--plot", help="write fidelity per layer here")
    born.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Dispatch a parsed ``tnq born ...`` command (errors, Ctrl-C and SIGTERM are reported by ``run_command``)."""
    return {"train": _train, "sample": _sample, "eval": _eval, "compile": _compile}[args.born_command](args)


def _train(args: argparse.Namespace) -> int:
    from ..born import BornError, MPSBornMachine, hilbert_order, is_bars_and_stripes, load_dataset
    from ..training import explain_interrupt

    if args.checkpoint:
        check_output(args.checkpoint, option="--checkpoint", suffixes=("safetensors",))
        if not args.resume and Path(args.checkpoint).exists():
            raise UsageError(f"--checkpoint {args.checkpoint!r} exists: add --resume to continue from it, or delete "
                            f"it to start over")
    elif args.resume:
        raise UsageError("--resume needs --checkpoint FILE to continue from")
    if args.out:  # the checkpoint holds the last sweep, --out the kept one: two files
        check_output(args.out, option="--out", suffixes=("safetensors",),
                     inputs=[args.checkpoint] if args.checkpoint else [])
    check_plot(args.plot)
    train, test, info = load_dataset(args.data, seed=args.seed)
    if args.order == "hilbert":
        side = info.get("shape", [0, 1])
        if side[0] != side[1]:
            raise BornError(f"--order hilbert needs square images; {args.data} is not")
        order = hilbert_order(side[0])
        train, test = train[:, order], None if test is None else test[:, order]
    val = None
    if test is not None:  # hold out 10% of the training data for early stopping and smoothing
        perm = np.random.default_rng(args.seed + 1).permutation(len(train))
        val, train = train[perm[: len(train) // 10]], train[perm[len(train) // 10:]]
    model = MPSBornMachine(train.shape[1], max_bond=args.max_bond, cutoff=args.cutoff, learning_rate=args.lr,
                           n_steps=args.steps, n_sweeps=args.sweeps, patience=args.patience,
                           n_batches=args.batches, seed=args.seed, progress=None)
    with explain_interrupt(args.checkpoint, "sweep", "run again with --resume to continue"):  # Ctrl-C or SIGTERM
        model.fit(train, X_val=val, checkpoint=args.checkpoint, resume=args.resume)
    print(f"data {args.data}: {len(train)} train" + (f", {len(val)} validation, {len(test)} test" if test is not None
                                                      else "") + f" samples, {train.shape[1]} sites")
    print(f"{'sweep':>5} {'train NLL':>10}" + (f" {'val NLL':>10}" if val is not None else "") + f" {'max bond':>8}")
    for r in model.history_:
        print(f"{r['sweep']:>5} {r['train_nll']:10.4f}" + (f" {r['val_nll']:10.4f}" if "val_nll" in r else "")
              + f" {r['max_bond']:>8}")
    if args.smooth:
        eps = model.select_smoothing(val if val is not None else train)
        print(f"smoothing eps {eps:.2f}")
    if test is not None:
        print(f"kept sweep {model.best_sweep_}: test NLL {model.nll(test):.4f}")
    if args.data.startswith("bas"):
        rows, cols = info["shape"]
        valid = is_bars_and_stripes(model.sample(10000, seed=args.seed), rows, cols).mean()
        print(f"floor ln {len(train)} = {np.log(len(train)):.4f}; valid samples {valid:.2%}")
    if args.out:
        model.save(args.out)
        print(f"saved {args.out}")
    if args.plot:
        from ..born.plots import plot_nll_curves

        curves = {"train": [r["train_nll"] for r in model.history_]}
        if test is not None:
            curves["test"] = [r["val_nll"] for r in model.history_]
        plot_nll_curves(curves, args.plot, title=f"{args.data}, Dmax {args.max_bond}")
    return 0


def _sample(args: argparse.Namespace) -> int:
    from ..born import MPSBornMachine

    if args.plot:
        if not args.shape:
            raise UsageError("--plot needs --shape ROWSxCOLS")
        if args.shots == 0:
            raise UsageError("--plot needs at least one sample (-n 1 or more)")
        check_plot(args.plot, inputs=[args.model])
    model = MPSBornMachine.load(args.model)
    if args.shape and args.shape[0] * args.shape[1] != model.n_sites:
        raise UsageError(f"--shape {args.shape[0]}x{args.shape[1]} does not fit {model.n_sites} sites")
    samples = model.sample(args.shots, given=args.given or None, seed=args.seed)
    symbols = "0123456789abcdefghijklmnopqrstuvwxyz"
    for row in samples:
        text = "".join(symbols[v] if v < len(symbols) else "?" for v in row)
        if args.shape:
            cols = args.shape[1]
            print("\n".join(text[r * cols:(r + 1) * cols] for r in range(args.shape[0])) + "\n")
        else:
            print(text)
    if args.plot:
        from ..born.plots import plot_samples

        shown = samples[:PLOT_SAMPLES]
        title = f"{len(shown)} samples" if len(shown) == len(samples) else f"{len(shown)} of {len(samples)} samples"
        plot_samples(shown, args.shape, args.plot, title=title)
    return 0


def _eval(args: argparse.Namespace) -> int:
    from ..born import MPSBornMachine, load_dataset

    model = MPSBornMachine.load(args.model)
    train, test, _ = load_dataset(args.data, seed=args.seed)
    print(f"train NLL {model.nll(train):.4f}")
    if test is not None:
        print(f"test NLL {model.nll(test):.4f}")
    return 0


def _compile(args: argparse.Namespace) -> int:
    from ..born import MPSBornMachine
    from ..born.circuit import mps_to_circuit
    from ..io import atomic_write_text

    if args.qasm:
        check_output(args.qasm, option="--qasm", suffixes=("qasm",), inputs=[args.model])
    check_plot(args.plot, inputs=[args.model])
    model = MPSBornMachine.load(args.model)
    result = mps_to_circuit(model.mps_, args.layers, optimise=not args.no_optimise, iterations=args.iterations,
                            restarts=args.restarts)
    for k, (ran, opt) in enumerate(zip(result.analytic_fidelities, result.fidelities, strict=True), start=1):
        print(f"layers {k}: analytic fidelity {ran:.4f}, optimised {opt:.4f}")
    circuit = result.circuit
    print(f"circuit: {circuit.num_qubits} qubits, {len(circuit)} operations, depth {circuit.depth()}")
    if args.qasm:
        atomic_write_text(args.qasm, result.circuit.to_qasm())
    if args.plot:
        from ..born.plots import plot_fidelity

        plot_fidelity(result.fidelities, args.plot,
                      curves={"analytic (Ran)": result.analytic_fidelities, "optimised": result.fidelities})
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Stand-alone entry point (``python -m tnq.cli.born train ...``) until the main CLI registers ``born``."""
    parser = options.OneLineParser(prog="tnq born", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_subcommands(parser)
    from .main import run_command

    return run_command(parser.parse_args(argv), "tnq born")


if __name__ == "__main__":
    raise SystemExit(main())
