"""Contraction trees: cotengra search with a time budget, cached by network structure (in memory
and optionally on disk), sliced to a memory budget before anything is allocated."""

from __future__ import annotations

import math
import os
import time
import warnings
from dataclasses import dataclass
from typing import Any

from ..backends.memory import default_budget, format_bytes
from ..errors import SimulationError
from .network import Network
from .simplify import Plan, plan_merges

PRESETS = ("auto", "greedy", "hyper")
ITEMSIZE = 16  # complex128
GREEDY_ENOUGH_FLOPS = 1e8
"""``auto`` stops after the fast greedy search when the tree costs fewer flops than this."""


@dataclass
class TreeInfo:
    """A contraction tree and how it was obtained."""

    tree: Any
    search_seconds: float
    cache_hit: bool
    optimizer: str

    @property
    def flops(self) -> float:
        return float(self.tree.contraction_cost())

    @property
    def width(self) -> float:
        return float(self.tree.contraction_width())

    @property
    def peak_bytes(self) -> int:
        return int(self.tree.peak_size()) * ITEMSIZE

    @property
    def slices(self) -> int:
        return int(self.tree.nslices)


class TreeCache:
    """Trees keyed by network structure and search settings (sliced per memory budget on demand);
    hyper-optimised trees are optionally persisted on disk by cotengra."""

    def __init__(self, directory: str | os.PathLike | None = None) -> None:
        self.directory = None if directory is None else str(directory)
        self._trees: dict[Any, Any] = {}
        self._plans: dict[Any, Plan] = {}
        self._optimizers: dict[Any, Any] = {}
        self.hits = self.misses = 0

    def clear(self) -> None:
        self._trees.clear()
        self._plans.clear()
        self.hits = self.misses = 0

    def get_plan(self, net: Network) -> Plan:
        """The structural simplification plan for this network's structure (computed once)."""
        key = net.structure_key()
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = plan_merges(net)
        return plan

    def __len__(self) -> int:
        return len(self._trees)

    def get_tree(self, net: Network, optimize: str | Any = "auto", search_time: float = 10.0,
                 memory_budget: int | None = None) -> TreeInfo:
        """The cached tree for this network's structure, searching (and slicing) on a miss."""
        budget = default_budget() if memory_budget is None else memory_budget
        key = (net.structure_key(), optimize if isinstance(optimize, str) else id(optimize), search_time)
        entry = self._trees.get(key)
        start = time.perf_counter()
        if entry is None:
            self.misses += 1
            tree, name = self._search(net, optimize, search_time)
            entry = self._trees[key] = {"tree": tree, "name": name, "peak": int(tree.peak_size()) * ITEMSIZE,
                                        "sliced": {}}
            hit = False
        else:
            self.hits += 1
            hit = True
        tree = entry["tree"]
        if entry["peak"] > budget:  # slice once per budget, then reuse
            if budget not in entry["sliced"]:
                entry["sliced"][budget] = fit_to_budget(tree, budget)
            tree = entry["sliced"][budget]
        return TreeInfo(tree, 0.0 if hit else time.perf_counter() - start, hit, entry["name"])

    def _search(self, net: Network, optimize: str | Any, search_time: float) -> tuple[Any, str]:
        with warnings.catch_warnings():  # disconnected networks: cotengra completes the path itself
            warnings.filterwarnings("ignore", message="Path was not complete")
            return self._search_trees(net, optimize, search_time)

    def _search_trees(self, net: Network, optimize: str | Any, search_time: float) -> tuple[Any, str]:
        import cotengra as ctg

        if not isinstance(optimize, str):
            return ctg.array_contract_tree(net.inputs, net.output, net.size_dict, optimize=optimize), "custom"
        if optimize not in PRESETS:
            raise SimulationError(f"unknown optimize preset {optimize!r}; choose one of {', '.join(PRESETS)} "
                                  "or pass a cotengra optimizer")
        tree = ctg.array_contract_tree(net.inputs, net.output, net.size_dict,
                                       optimize=self._optimizer("greedy", search_time))
        if optimize == "greedy" or (optimize == "auto" and tree.contraction_cost() < GREEDY_ENOUGH_FLOPS):
            return tree, "greedy"
        hyper = ctg.array_contract_tree(net.inputs, net.output, net.size_dict,
                                        optimize=self._optimizer("hyper", search_time))
        return (hyper, "hyper") if hyper.contraction_cost() < tree.contraction_cost() else (tree, "greedy")

    def _optimizer(self, kind: str, search_time: float) -> Any:
        """A fresh optimizer per search: cotengra optimizers remember their best path, which is only
        valid for the network they last saw. Only the on-disk ReusableHyperOptimizer is shared."""
        import cotengra as ctg

        if kind == "greedy":
            return ctg.RandomGreedyOptimizer(max_repeats=256)
        opts = {"methods": ["kahypar", "greedy"], "max_time": search_time, "max_repeats": 10**6, "parallel": True}
        if self.directory is None:
            return ctg.HyperOptimizer(**opts)
        key = (kind, search_time)
        if key not in self._optimizers:
            self._optimizers[key] = ctg.ReusableHyperOptimizer(
                directory=os.path.join(self.directory, f"{kind}-{search_time:g}"), **opts)
        return self._optimizers[key]


MAX_SLICES = 2**20


def fit_to_budget(tree: Any, budget: int) -> Any:
    """Slice ``tree`` until its peak memory fits ``budget`` bytes, or raise a clear error naming the
    estimated size and flops. Inputs stay in memory however the tree is sliced, so they bound what
    slicing can achieve; the slice count is capped too."""
    peak = int(tree.peak_size()) * ITEMSIZE
    if peak <= budget:
        return tree
    inputs = ITEMSIZE * sum(math.prod(tree.size_dict[i] for i in term) for term in tree.inputs)
    target = (budget - inputs) // (4 * ITEMSIZE)
    sliced = tree
    while target >= 1:
        sliced = tree.slice(target_size=target)
        peak = int(sliced.peak_size()) * ITEMSIZE
        if peak <= budget or sliced.nslices > MAX_SLICES:
            break
        target //= 2
    if peak <= budget and sliced.nslices <= MAX_SLICES:
        return sliced
    raise SimulationError(
        f"contraction does not fit the memory budget of {format_bytes(budget)} even when sliced: unsliced peak "
        f"{format_bytes(int(tree.peak_size()) * ITEMSIZE)} (inputs alone {format_bytes(inputs)}), "
        f"10^{math.log10(max(tree.contraction_cost(), 1)):.1f} flops; raise memory_budget, use method='mps', "
        "or ask for less (a lightcone, fewer amplitudes)")


MAX_SLICES = 2**20
"""Beyond this many slices the per-slice overhead dominates: refuse instead."""


DEFAULT_CACHE = TreeCache(os.environ.get("TNQ_TREE_CACHE"))
"""Process-wide tree cache; set TNQ_TREE_CACHE=DIR to persist hyper-optimised trees on disk."""
