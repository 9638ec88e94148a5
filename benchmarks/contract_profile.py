"""Where tnq's contraction backend spends a cached repeat and a batch (5x6 grid, depth 12), and what-if
measurements of changes tried by monkeypatching or pre/post-processing in this script (tnq is not edited):

- breakdown of one cached amplitude: bind + lower, ket network, bitstring template, program lookup, folding
  of the bitstring-free steps, the compiled contraction; cotengra's executor on the same tree by cProfile;
- cotengra ``contract`` options on tnq's simplified network and tree (for comparison with tnq's program);
- one-qubit gates fused into two-qubit gates before building the network.

    python benchmarks/contract_profile.py [--threads 1] [--loops 30] [--search-time 10] [--skip-hyper]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
# isort: off
import common  # noqa: E402  (pins BLAS/OpenMP threads: must load before numpy)
# isort: on
import numpy as np  # noqa: E402
from contract_grid import COLS, DEPTH, ROWS, bind_random, lg, parametrised, random_bits, serial_hyper  # noqa: E402

import tnq  # noqa: E402
from tnq.compile import fuse, lower  # noqa: E402
from tnq.contraction.execute import contract  # noqa: E402
from tnq.contraction.network import (  # noqa: E402
    BasisTemplate,
    CircuitNetwork,
    absorb_basis_vectors,
    amplitude_network,
)
from tnq.contraction.paths import TreeCache  # noqa: E402
from tnq.contraction.simplify import apply_plan  # noqa: E402


def median_time(fn: Callable[[], Any], loops: int) -> float:
    times = []
    for _ in range(loops):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bits_array(bits: str) -> np.ndarray:
    return np.array([int(b) for b in bits])


# --- the profile --------------------------------------------------------------------------------------
def contraction_split(tree: Any, arrays: list[Any], loops: int, **kwargs: Any) -> tuple[float, float, int]:
    """cProfile of ``tree.contract``: seconds per call in numpy functions (kernels plus their wrappers) and
    in everything else (cotengra/autoray Python per step), and the number of pairwise steps."""
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(loops):
        tree.contract(arrays, **kwargs)
    prof.disable()
    stats = pstats.Stats(prof).stats  # type: ignore[attr-defined]
    numpy_s = total = 0.0
    for (filename, _, name), (_, _, tottime, _, _) in stats.items():
        total += tottime
        if "numpy" in filename or "numpy" in name or "method 'reshape'" in name or "method 'transpose'" in name:
            numpy_s += tottime
    return numpy_s / loops, (total - numpy_s) / loops, len(tree.get_path())


def run(args: argparse.Namespace) -> None:
    loops, search_time = args.loops, args.search_time
    circuit = tnq.grid_random(ROWS, COLS, DEPTH, args.seed)
    n = circuit.num_qubits
    pcircuit, params = parametrised(circuit)
    bits = random_bits(n, 200, args.seed + 3)
    state = tnq.simulate(circuit, method="contract", optimize="auto", search_time=search_time, cache=TreeCache())
    state.amplitude(bits[0])
    rep = state.reports[0]
    print(f"tnq auto tree: 10^{lg(rep.flops):.2f} flops, width {rep.width:.0f}, {rep.num_tensors} tensors, "
          f"search {rep.search_seconds:.2f} s ({rep.optimizer})")

    # 1. breakdown of a cached amplitude (new bitstring; new parameters)
    ket = CircuitNetwork(state.gates, n)
    b = bits_array(bits[1])
    template = BasisTemplate(ket, n)
    full = template.network(b)
    pinfo = state.cache.get_program(full, state.optimize, state.search_time, state.memory_budget)
    parts = {
        "bind + lower (new parameters only)": lambda: lower(bind_random(pcircuit, params, args.seed)),
        "ket network: CircuitNetwork(gates) (new parameters only)": lambda: CircuitNetwork(state.gates, n),
        "bitstring template: BasisTemplate(ket) (new parameters only)": lambda: BasisTemplate(ket, n),
        "tree + program lookup: cache.get_program (structure key)": lambda: state.cache.get_program(
            full, state.optimize, state.search_time, state.memory_budget),
        "fold: steps no bitstring touches (new parameters only)": lambda: pinfo.program.fold(
            full.arrays, template.variable),
        "variable arrays of a new bitstring": lambda: template.variable_arrays(b),
        "contraction: compiled program, all steps": lambda: pinfo.program(full.arrays),
        "= state.amplitude(new bits), total": lambda: state.amplitude(bits[2]),
        "= simulate(new parameters).amplitude, total": lambda: tnq.simulate(
            bind_random(pcircuit, params, args.seed), method="contract", optimize="auto", search_time=search_time,
            cache=state.cache).amplitude(bits[2]),
    }
    print(f"\n== breakdown of one cached amplitude, median of {loops} calls [threads={common.THREADS}]")
    for name, fn in parts.items():
        print(f"  {name:<60} {median_time(fn, loops) * 1e3:8.2f} ms")
    # the sections below compare cotengra's executor and other networks on the simplified network and tree
    net = apply_plan(full, pinfo.plan)
    info = pinfo
    numpy_s, python_s, steps = contraction_split(info.tree, net.arrays, loops)
    print(f"  cotengra's executor on the same tree under cProfile: numpy {numpy_s * 1e3:.2f} ms, other Python "
          f"{python_s * 1e3:.2f} ms over {steps} pairwise steps ({python_s / steps * 1e6:.1f} us/step outside numpy)")

    # 2. cotengra contract options
    print(f"\n== cotengra ContractionTree.contract options, same tree and arrays (median of {loops})")
    ref = info.tree.contract(net.arrays)
    for label, kwargs in (("default (implementation=None)", {}), ("implementation='cotengra'",
                                                                   {"implementation": "cotengra"}),
                          ("implementation='autoray'", {"implementation": "autoray"}), ("autojit=True",
                                                                                         {"autojit": True}),
                          ("prefer_einsum=True", {"prefer_einsum": True})):
        try:
            value = info.tree.contract(net.arrays, **kwargs)
            t = median_time(lambda: info.tree.contract(net.arrays, **kwargs), loops)  # noqa: B023
            print(f"  {label:<32} {t * 1e3:8.2f} ms   |diff| {abs(value - ref):.1e}")
        except Exception as exc:  # report and go on: an option may not apply to numpy
            print(f"  {label:<32} failed: {type(exc).__name__}: {exc}")

    # 3b. one-qubit gates folded into the CZs (tnq.compile.fuse) before building the network
    print("\n== one-qubit gates folded into two-qubit gates (tnq.compile.fuse) before the network (what-if)")
    fused = fuse(state.gates)
    fnet = absorb_basis_vectors(amplitude_network(CircuitNetwork(fused, n), n, b))
    for label, preset in [("auto", "auto")] + ([] if args.skip_hyper else [("serial hyper", None)]):
        optimize = preset if preset is not None else serial_hyper(search_time)
        start = time.perf_counter()
        finfo = TreeCache().get_tree(fnet, optimize, search_time)
        search_s = time.perf_counter() - start
        value = contract(fnet, finfo)[0]
        ms = median_time(lambda: contract(fnet, finfo), loops) * 1e3  # noqa: B023
        print(f"  {f'fused ({len(fused)} gates), {label}':<44} {len(fnet.inputs):7d} {lg(finfo.flops):11.2f} "
              f"{finfo.width:5.0f} {search_s:8.2f} {'-':>11} {ms:11.2f}  {abs(value - ref):.1e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=common.THREADS)
    parser.add_argument("--loops", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--search-time", type=float, default=10.0)
    parser.add_argument("--skip-hyper", action="store_true", help="skip the 10 s searches on simplified networks")
    args = parser.parse_args()
    common.print_environment()
    run(args)


if __name__ == "__main__":
    main()
