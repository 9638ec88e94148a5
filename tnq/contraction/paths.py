"""Contraction trees: cotengra search with a time budget, cached by network structure (in memory
and optionally on disk), sliced to a memory budget before anything is allocated."""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
import warnings
from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import Any

from ..checks import Number
from ..errors import SimulationError
from ..io import atomic_write_text
from ..memory import budget_bytes, format_bytes
from .network import Network
from .program import Program, tree_path
from .simplify import Plan, plan_merges, plan_structure

PRESETS = ("auto", "greedy", "hyper")
ITEMSIZE = 16  # complex128
GREEDY_ENOUGH_FLOPS = 10**6.5
"""``auto`` stops after the fast greedy search when the tree costs fewer multiply-adds than this
(a few milliseconds of contraction: a longer search cannot pay for itself)."""
SEARCH_REUSE = 300
"""``auto`` searches for at most this many times the estimated contraction time of its best tree so
far (trees are cached and reused by every query of the same structure), capped by ``search_time``."""
ASSUMED_FLOPS_PER_SECOND = 1e9
"""Conservative real FLOP/s used only to turn a tree's cost into an estimated contraction time."""
RECONF_SUBTREE = 8
"""Subtree size of cotengra's optimal subtree reconfiguration applied to each round's best tree."""
REFINE_SHARE = 0.3
"""Share of a hyper search's time spent refining its best tree (random subtree reconfiguration)."""
REFINE_BURST = 250
"""Subtrees reconfigured per refinement burst (a burst cannot be interrupted: this bounds the overshoot)."""
MINIMIZE = "combo"
"""Search objective: cotengra's flops + 64 x elements written. Transposes and copies of large
intermediates, not only multiply-adds, decide the time of a contraction: on a 6x7 depth-14 amplitude a
'combo' tree of the same flops ran 3x faster than a flops-only one (57% vs 17% of GEMM FLOP/s)."""


def tree_costs(tree: Any) -> dict[str, Any]:
    """Flops, width and peak bytes of a tree, computed once per tree (peak_size walks the whole tree, which
    costs milliseconds; a reused tree is asked on every query)."""
    costs = getattr(tree, "_tnq_costs", None)
    if costs is None:
        costs = {"flops": float(tree.contraction_cost()), "width": float(tree.contraction_width()),
                 "peak_bytes": int(tree.peak_size()) * ITEMSIZE}
        tree._tnq_costs = costs
    return costs


@dataclass
class TreeInfo:
    """A contraction tree and how it was obtained."""

    tree: Any
    search_seconds: float
    cache_hit: bool
    optimizer: str
    program: Program | None = None
    """The structural simplification and the tree compiled together over the *unsimplified* network
    (None for sliced trees, which run through cotengra on the simplified network)."""
    plan: Plan | None = None

    @property
    def flops(self) -> float:
        return tree_costs(self.tree)["flops"]

    @property
    def width(self) -> float:
        return tree_costs(self.tree)["width"]

    @property
    def peak_bytes(self) -> int:
        return tree_costs(self.tree)["peak_bytes"]

    @property
    def slices(self) -> int:
        return int(self.tree.nslices)


class _LeastRecentlyUsed(OrderedDict):
    """A dict that keeps at most ``size`` entries, dropping the least recently read or written one."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def get(self, key: Any, default: Any = None) -> Any:
        if key not in self:
            return default
        self.move_to_end(key)
        return self[key]

    def __setitem__(self, key: Any, value: Any) -> None:
        super().__setitem__(key, value)
        self.move_to_end(key)
        while len(self) > self.size:
            self.popitem(last=False)

    def __reduce__(self) -> tuple:
        """Pickles with its size (a TreeCache travels to Dask workers with a sweep)."""
        return type(self), (self.size,), None, None, iter(self.items())


class TreeCache:
    """Trees keyed by network structure and search settings (sliced per memory budget on demand), at most
    ``max_entries`` structures, least recently used dropped first, so memory stays bounded over many shapes (one
    per protein length, say); with a ``directory`` every searched tree is also persisted there (its path as JSON)."""

    def __init__(self, directory: str | os.PathLike | None = None, max_entries: int = 1024) -> None:
        Number(integer=True, minimum=1).check("max_entries", max_entries, SimulationError)
        self.directory = None if directory is None else str(directory)
        self._trees: dict[Any, Any] = _LeastRecentlyUsed(max_entries)
        self._plans: dict[Any, Plan] = _LeastRecentlyUsed(max_entries)
        self._programs: dict[Any, Any] = _LeastRecentlyUsed(max_entries)
        self.hits = self.misses = 0

    def clear(self) -> None:
        self._trees.clear()
        self._plans.clear()
        self._programs.clear()
        self.hits = self.misses = 0

    def get_program(self, net: Network, optimize: str | Any = "auto", search_time: float = 10.0,
                    memory_budget: int | None = None) -> TreeInfo:
        """The tree for ``net``'s simplified structure with ``program`` set: simplification merges and
        tree compiled into one Program that runs on ``net``'s own (unsimplified) arrays. Cached by
        structure; a sliced tree (over the memory budget) comes back with ``program=None`` and ``plan``
        set, to be contracted with cotengra on ``apply_plan(net, plan)``."""
        raw_key = net.structure_key()
        opt_key = optimize if isinstance(optimize, str) else id(optimize)
        known = self._programs.get((raw_key, opt_key, search_time, memory_budget))
        if known is not None:  # the whole lookup for a structure seen before: one dictionary hit
            self.hits += 1
            return replace(known, cache_hit=True, search_seconds=0.0)
        plan = self._plans.get(raw_key)
        if plan is None:
            plan = self._plans[raw_key] = plan_merges(net)
        small = plan_structure(net, plan)
        info = self.get_tree(small, optimize, search_time, memory_budget)
        if info.slices > 1:
            info = replace(info, plan=plan)
        else:
            path = [(k, j) for k, j, _, _ in plan.steps]
            path += tree_path(info.tree, plan.final, len(net.inputs) + len(plan.steps))
            info = replace(info, program=Program(net.inputs, net.output, net.size_dict, path), plan=plan)
        self._programs[(raw_key, opt_key, search_time, memory_budget)] = info
        return info

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
        budget = budget_bytes(memory_budget)
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
        stored = self._disk_path(net, optimize, search_time)
        if stored is not None and os.path.exists(stored):
            with open(stored) as f:
                path = json.load(f)["path"]
            return ctg.ContractionTree.from_path(net.inputs, net.output, net.size_dict, path=path), "on disk"
        tree, name = search_rounds(net, optimize, search_time)
        if stored is not None:
            atomic_write_text(stored, json.dumps({"optimize": optimize, "search_time": search_time,
                                                  "flops": _cost(tree), "path": [list(p) for p in tree.get_path()]}))
        return tree, name

    def _disk_path(self, net: Network, optimize: str, search_time: float) -> str | None:
        """File of a persisted tree (its contraction path, as JSON) for this structure and preset."""
        if self.directory is None:
            return None
        digest = hashlib.sha256(repr((net.structure_key(), optimize, search_time)).encode()).hexdigest()[:32]
        return os.path.join(self.directory, f"tree-{digest}.json")


def _cost(tree: Any) -> float:
    return float(tree.contraction_cost())


def _score(tree: Any) -> float:
    """What the search minimises (MINIMIZE)."""
    return float(tree.combo_cost()) if MINIMIZE == "combo" else _cost(tree)


def search_rounds(net: Network, optimize: str, search_time: float) -> tuple[Any, str]:
    """Fast random-greedy tree; then (``hyper``, or ``auto`` when the tree is costly enough to matter)
    rounds of short cotengra hyper searches without per-trial refinement (alternating greedy rounds of 32
    trials and kahypar rounds of 3), each round's best refined by subtree reconfiguration, keeping the
    tree of least MINIMIZE cost; the last REFINE_SHARE of the time refines that tree by reconfiguring
    random subtrees. Refining winners instead of every trial is what makes < 10 s enough for a 5x6
    depth-12 grid amplitude (10^6.5-6.6 vs 10^7.5 for greedy, on a loaded 2-core machine). ``hyper``
    uses all of ``search_time``; ``auto`` stops after SEARCH_REUSE times the estimated contraction time.
    Rounds use cotengra's optuna sampler, which is not seeded: trees may differ from run to run."""
    import cotengra as ctg

    start = time.perf_counter()
    best = ctg.array_contract_tree(net.inputs, net.output, net.size_dict,
                                   optimize=ctg.RandomGreedyOptimizer(max_repeats=64, seed=0, parallel=False))
    if optimize == "greedy" or (optimize == "auto" and _cost(best) < GREEDY_ENOUGH_FLOPS) or len(net.inputs) < 3:
        return best, "greedy"
    name, rounds = "greedy", 0

    def budget() -> float:
        if optimize == "hyper":
            return search_time
        return min(search_time, SEARCH_REUSE * 8 * _cost(best) / ASSUMED_FLOPS_PER_SECOND)

    reserve = 1.2  # seconds kept for a round's refinement and wrap-up; grows with the measured refinement time
    trial = {"greedy": 0.0, "kahypar": 0.0}  # longest seconds per trial seen (a trial cannot be interrupted)

    def rounds_left() -> float:  # the last REFINE_SHARE of the budget goes to refining the best tree
        return budget() * (1 - REFINE_SHARE) - (time.perf_counter() - start)

    while (left := rounds_left()) > reserve + 0.3:
        method, repeats = ("kahypar", 3) if rounds % 2 == 1 else ("greedy", 32)
        if left - reserve < 1.5 * trial[method]:
            method, repeats = "greedy", 32
            if left - reserve < 1.5 * trial[method]:
                break
        opt = ctg.HyperOptimizer(methods=[method], max_repeats=repeats, max_time=left - reserve, parallel=False,
                                 minimize=MINIMIZE, reconf_opts=None, simulated_annealing_opts=None,
                                 on_trial_error="ignore")
        round_start = time.perf_counter()
        try:
            tree = ctg.array_contract_tree(net.inputs, net.output, net.size_dict, optimize=opt)
            refine = time.perf_counter()
            trial[method] = max(trial[method], (refine - round_start) / max(len(opt.scores), 1))
            tree = tree.subtree_reconfigure(subtree_size=RECONF_SUBTREE, minimize=MINIMIZE)
            reserve = max(reserve, 1.5 * (time.perf_counter() - refine) + 0.2)
        except Exception:  # a failed trial (e.g. kahypar on a degenerate graph) just ends the round
            tree = None
            trial[method] = max(trial[method], time.perf_counter() - round_start)
        rounds += 1
        if tree is not None and _score(tree) < _score(best):
            best, name = tree, f"hyper ({rounds} rounds)"
    # refinement: reconfigure randomly chosen subtrees of the best tree, in short bursts until the budget is spent
    # (on 5x6 depth-12 grids this took trees from 10^6.9-7.1 to 10^6.5 flops in ~2 s)
    burst, seed = 0.0, 0
    while budget() - (time.perf_counter() - start) > 1.5 * burst + 0.2:
        burst_start = time.perf_counter()
        tree = best.subtree_reconfigure(subtree_size=RECONF_SUBTREE, subtree_search="random", select="random",
                                        maxiter=REFINE_BURST, minimize=MINIMIZE, seed=seed)
        burst, seed = max(burst, time.perf_counter() - burst_start), seed + 1
        if _score(tree) < _score(best):
            best, name = tree, f"hyper ({rounds} rounds, refined)"
    return best, name


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
