"""``tnq`` command line entry point: argument parsing, dispatch, and one-line errors (exit code 2).

Commands import their heavy dependencies (qiskit's QASM parser, matplotlib) only when they run,
so ``tnq --help`` stays fast.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from .. import __version__
from ..errors import TnqError
from ..simulate import METHODS
from . import options
from .simulate_cmd import add_array_arguments

DEFAULT_TOUR_OUT = "tnq-tour-output"


def build_parser() -> argparse.ArgumentParser:
    """The ``tnq`` parser with its subcommands; each subparser sets ``func``."""
    parser = options.OneLineParser(
        prog="tnq", description="Tensor-network quantum circuit simulation and its applications.")
    parser.add_argument("--version", action="version", version=f"tnq {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sim = commands.add_parser(
        "simulate", help="simulate an OpenQASM 2 file",
        description="Simulate an OpenQASM 2 circuit from |0...0>. Bitstrings: character q is qubit q; counts: "
                    "character j is classical bit j (registers in declaration order). Circuits with mid-circuit "
                    "measurement, reset or if(creg==k) are sampled shot by shot (branching on each outcome).")
    sim.add_argument("file", metavar="FILE.qasm", help="OpenQASM 2 file (qelib1.inc gates)")
    sim.add_argument("--method", choices=METHODS + ("density_matrix",), default="auto",
                     help="backend; auto picks one by circuit size and says why; density_matrix: exact shots of a "
                          "noisy circuit (up to ~12 qubits) (default: auto)")
    sim.add_argument("--max-bond", type=options.positive, default=None, metavar="N",
                     help="largest MPS bond dimension kept (default: no limit)")
    sim.add_argument("--cutoff", type=options.real(0.0, below=1.0), default=1e-16, metavar="X",
                     help="largest relative weight discarded per MPS truncation, in [0, 1) (default: 1e-16)")
    sim.add_argument("--shots", type=options.count, default=None, metavar="N",
                     help="shots to count over the classical bits (the measured qubits, or all qubits, when the "
                          "circuit declares no creg); default: 1024 when the circuit measures, else 0")
    sim.add_argument("--seed", type=options.seed, default=None, metavar="S",
                     help="sampling seed, in [0, 2**32) (default: random)")
    sim.add_argument("--expect", action="append", default=[], metavar="OBS",
                     help="expectation value of a Pauli string ('Z0 Z1') or Hamiltonian ('0.5*Z0 Z1 + X2'); "
                          "repeatable")
    sim.add_argument("--amplitude", action="append", default=[], metavar="BITS",
                     help="amplitude <BITS|psi>, character q is qubit q; repeatable")
    sim.add_argument("--lightcone", action=argparse.BooleanOptionalAction, default=True,
                     help="when only expectations are asked for, simulate just each observable's reverse "
                          "lightcone (default: on)")
    sim.add_argument("--plot-bonds", metavar="OUT.png", default=None,
                     help="save the MPS bond-dimension profile as an image (MPS only)")
    sim.add_argument("--noise", default=None, metavar="SPEC|FILE.json",
                     help="sample with noise: 'depolarizing=P,readout=Q' (depolarizing after every gate, readout "
                          "error on every measured qubit) or a JSON noise model (format: help(tnq.noise)); "
                          "exact density matrix up to 12 qubits, quantum trajectories above")
    sim.add_argument("--json", action="store_true", help="print every result as one JSON object")
    sim.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                     help="progress bar on stderr (default: only when a run takes over 2 s)")
    add_array_arguments(sim)
    sim.set_defaults(func=_simulate)

    tour = commands.add_parser(
        "tour", help="a one-minute tour of what tnq does, on bundled data",
        description="Run a short tour of every tnq pillar on bundled/offline data, checking each result "
                    "against an exact reference; exits 1 if any check fails.")
    tour.add_argument("--out", default=DEFAULT_TOUR_OUT, metavar="DIR",
                      help=f"folder for the tour's plots (default: ./{DEFAULT_TOUR_OUT})")
    tour.set_defaults(func=_tour)

    from . import born  # more commands live in their own modules and register themselves

    born.register(commands)
    from . import compress

    compress.register(commands)
    return parser


def _simulate(args: argparse.Namespace) -> int:
    from .simulate_cmd import format_text, run_simulate, strict_json

    result = run_simulate(args)
    if args.json:
        print(strict_json(result))
    else:
        print(format_text(result))
    return 0


def _tour(args: argparse.Namespace) -> int:
    from ..tour import run_tour

    report = run_tour(args.out)
    return 0 if report.passed else 1


def one_line(message: str) -> str:
    """Collapse a (possibly multi-line) error message into one line."""
    return "; ".join(part.strip() for part in str(message).splitlines() if part.strip())


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the program is when it arrives, so it unwinds exactly like Ctrl-C."""


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """While active (in the main thread), SIGTERM raises ``Terminated``: the same clean-up as Ctrl-C runs
    (half-written files removed, checkpoints kept whole). The previous handler is restored afterwards."""
    if threading.current_thread() is not threading.main_thread():  # handlers can only be set there
        yield
        return

    def handle(_signum: int, _frame: Any) -> None:
        raise Terminated

    previous = signal.signal(signal.SIGTERM, handle)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


def run_command(args: argparse.Namespace, prog: str) -> int:
    """Run a parsed command (shared by the ``tnq`` and ``qnlp`` commands): errors in the input become one line on
    stderr and exit code 2; Ctrl-C and SIGTERM stop it the same safe way, with one line (the interrupt's message,
    e.g. what was kept) and exit code 130 or 143."""
    try:
        with sigterm_as_interrupt():
            return args.func(args)
    except TnqError as exc:
        print(f"{prog}: error: {one_line(str(exc))}", file=sys.stderr)
    except BrokenPipeError:  # output piped into `head` and the like: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except OSError as exc:  # an output path that cannot be written
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"{prog}: error: {where}{exc.strerror or exc}", file=sys.stderr)
    except KeyboardInterrupt as exc:
        kind = "terminated" if isinstance(exc, Terminated) else "interrupted"
        print(f"{prog}: {kind}{': ' + str(exc) if str(exc) else ''}", file=sys.stderr)
        return 128 + (signal.SIGTERM if isinstance(exc, Terminated) else signal.SIGINT)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``tnq`` command line; returns the exit code (2 for errors in the input)."""
    return run_command(build_parser().parse_args(argv), "tnq")


if __name__ == "__main__":
    raise SystemExit(main())
