"""Where tnq's contraction backend spends a cached repeat and a batch (5x6 grid, depth 12), and what-if
measurements of changes tried by monkeypatching or pre/post-processing in this script (tnq is not edited):

- breakdown of one cached amplitude: bind + lower, ket network, amplitude network, basis absorption, tree
  lookup, contraction; and of the contraction itself (numpy kernels vs Python per step, by cProfile);
- cotengra ``contract`` options: ``implementation="cotengra"`` / ``"autoray"``, ``autojit=True``;
- structural rank simplification of the network before the search (merge two tensors when the result is no
  larger than the larger of them): tensors, flops, search and contraction time;
- the share of the tree that depends on the bitstring (the rest could be contracted once per batch).

    python benchmarks/contract_profile.py [--threads 1] [--loops 30] [--search-time 10] [--skip-hyper]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import sys
import time
from collections import defaultdict
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
from tnq.contract.execute import contract  # noqa: E402
from tnq.contract.network import CircuitNetwork, Network, absorb_basis_vectors, amplitude_network  # noqa: E402
from tnq.contract.paths import TreeCache  # noqa: E402
from tnq.contract.simplify import apply_plan, plan_merges  # noqa: E402


def median_time(fn: Callable[[], Any], loops: int) -> float:
    times = []
    for _ in range(loops):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bits_array(bits: str) -> np.ndarray:
    return np.array([int(b) for b in bits])


# --- structural rank simplification (what-if) ---------------------------------------------------------
# --- bitstring-independent parts of the network (what-if) ---------------------------------------------
def independent_groups(tree: Any, changing: set[int]) -> list[list[int]]:
    """The largest subtrees of ``tree`` none of whose leaves change with the bitstring: each can be contracted
    once per batch into one intermediate (no larger than the tree's width)."""
    depends: dict[Any, bool] = {}
    for parent, left, right in tree.traverse():
        for node in (left, right):
            if node not in depends:
                depends[node] = tree.is_leaf(node) and tree.node_to_input(node) in changing
        depends[parent] = depends[left] or depends[right]
    return [sorted(tree.get_subgraph(node)) for parent, left, right in tree.traverse() if depends[parent]
            for node in (left, right) if not depends[node]]


def precontract_independent(net: Network, changing: set[int], tree: Any,
                            optimize: Any = "auto") -> tuple[Network, Callable]:
    """Contract each bitstring-independent subtree of ``tree`` once; returns the reduced network (intermediates
    first, then the changing tensors) and a function mapping a new bitstring's network to its reduced one."""
    import cotengra as ctg

    groups = independent_groups(tree, changing)
    outside_count: dict[str, int] = defaultdict(int)
    for inds in net.inputs:
        for i in set(inds):
            outside_count[i] += 1
    reduced = Network(output=net.output)
    for group in groups:
        inside: dict[str, int] = defaultdict(int)
        for k in group:
            for i in set(net.inputs[k]):
                inside[i] += 1
        keep = tuple(i for i in inside if i in net.output or outside_count[i] > inside[i])
        if len(group) == 1:
            reduced.add(net.inputs[group[0]], net.arrays[group[0]])
            continue
        value = ctg.array_contract([net.arrays[k] for k in group], [net.inputs[k] for k in group], keep,
                                   optimize=optimize)
        reduced.add(keep, value)
    fixed = len(reduced.inputs)
    for k in sorted(changing):
        reduced.add(net.inputs[k], net.arrays[k])

    def rebind(new: Network) -> Network:
        out = Network(list(reduced.inputs), list(reduced.arrays), reduced.output, reduced.size_dict)
        out.arrays[fixed:] = [new.arrays[k] for k in sorted(changing)]
        return out

    return reduced, rebind


def changing_tensors(a: Network, b: Network) -> set[int]:
    """Input tensors whose values differ between two networks of the same structure."""
    if a.inputs != b.inputs:
        raise RuntimeError("the two networks differ in structure")
    return {k for k, (x, y) in enumerate(zip(a.arrays, b.arrays)) if x.shape != y.shape or not np.array_equal(x, y)}


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
    raw = amplitude_network(ket, n, b)
    net = absorb_basis_vectors(raw)
    info = state.cache.get_tree(net, state.optimize, state.search_time, state.memory_budget)
    parts = {
        "bind + lower (new parameters only)": lambda: lower(bind_random(pcircuit, params, args.seed)),
        "ket network: CircuitNetwork(gates) (new parameters only)": lambda: CircuitNetwork(state.gates, n),
        "amplitude_network(ket, bits)": lambda: amplitude_network(ket, n, b),
        "absorb_basis_vectors(net)": lambda: absorb_basis_vectors(raw),
        "tree lookup: cache.get_tree (structure key hash)": lambda: state.cache.get_tree(
            net, state.optimize, state.search_time, state.memory_budget),
        "contraction: tree.contract(arrays)": lambda: contract(net, info),
        "= state.amplitude(new bits), total": lambda: state.amplitude(bits[2]),
        "= simulate(new parameters).amplitude, total": lambda: tnq.simulate(
            bind_random(pcircuit, params, args.seed), method="contract", optimize="auto", search_time=search_time,
            cache=state.cache).amplitude(bits[2]),
    }
    print(f"\n== breakdown of one cached amplitude, median of {loops} calls [threads={common.THREADS}]")
    for name, fn in parts.items():
        print(f"  {name:<60} {median_time(fn, loops) * 1e3:8.2f} ms")
    numpy_s, python_s, steps = contraction_split(info.tree, net.arrays, loops)
    print(f"  contraction under cProfile: numpy {numpy_s * 1e3:.2f} ms, other Python {python_s * 1e3:.2f} ms over "
          f"{steps} pairwise steps ({python_s / steps * 1e6:.1f} us/step outside numpy; cProfile inflates both)")

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

    # 3. structural rank simplification before the search
    print("\n== structural rank simplification before the tree search (what-if)")
    print(f"  {'network':<44} {'tensors':>7} {'log10 flops':>11} {'width':>5} {'search s':>8} "
          f"{'simplify ms':>11} {'contract ms':>11}  |diff|")
    base_ms = median_time(lambda: contract(net, info), loops) * 1e3
    print(f"  {'tnq as is, auto':<44} {len(net.inputs):7d} {lg(info.flops):11.2f} {info.width:5.0f} "
          f"{rep.search_seconds:8.2f} {0.0:11.2f} {base_ms:11.2f}")
    for growth in (1.0, 2.0):
        start = time.perf_counter()
        plan = plan_merges(net, growth)
        plan_s = time.perf_counter() - start
        small = apply_plan(net, plan)
        simplify_ms = median_time(lambda: apply_plan(net, plan), loops) * 1e3  # noqa: B023
        presets = [("auto", "auto")] + ([] if args.skip_hyper else [("serial hyper", None)])
        for label, preset in presets:
            optimize = preset if preset is not None else serial_hyper(search_time)
            cache = TreeCache()
            start = time.perf_counter()
            sinfo = cache.get_tree(small, optimize, search_time)
            search_s = time.perf_counter() - start
            value = contract(small, sinfo)[0]
            ms = median_time(lambda: contract(small, sinfo), loops) * 1e3  # noqa: B023
            print(f"  {f'rank-simplified (growth {growth:g}), {label}':<44} {len(small.inputs):7d} "
                  f"{lg(sinfo.flops):11.2f} {sinfo.width:5.0f} {search_s:8.2f} {simplify_ms:11.2f} {ms:11.2f}  "
                  f"{abs(value - ref):.1e}  (plan {plan_s * 1e3:.0f} ms, once per structure)")

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

    # 3c. how much of the tree does not depend on the bitstring (could be contracted once per batch)
    changing = changing_tensors(absorb_basis_vectors(amplitude_network(ket, n, np.zeros(n, int))),
                                absorb_basis_vectors(amplitude_network(ket, n, np.ones(n, int))))
    tree, depends = info.tree, {}
    total = dep_flops = dep_steps = 0
    for parent, left, right in tree.traverse():
        for node in (left, right):
            if node not in depends:
                depends[node] = tree.is_leaf(node) and tree.node_to_input(node) in changing
        depends[parent] = depends[left] or depends[right]
        flops = float(tree.get_flops(parent))
        total += flops
        if depends[parent]:
            dep_flops += flops
            dep_steps += 1
    reduced, _ = precontract_independent(net, changing, tree)
    rinfo = TreeCache().get_tree(reduced, "auto", search_time)
    value = contract(reduced, rinfo)[0]
    ms = median_time(lambda: contract(reduced, rinfo), loops) * 1e3
    print(f"\n== bitstring dependence of the auto tree: {len(changing)} of {len(net.inputs)} input tensors change "
          f"with the bitstring; {dep_steps} of {len(tree.get_path())} steps and {dep_flops / total:.1%} of the "
          f"flops depend on them. Independent subtrees contracted once: {len(reduced.inputs)} tensors left, tree "
          f"10^{lg(rinfo.flops):.2f} flops, {ms:.2f} ms per amplitude, |diff| {abs(value - ref):.1e}")


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
