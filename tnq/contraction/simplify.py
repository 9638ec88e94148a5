"""Structural simplification: merge neighbouring tensors when the result is no larger than the
bigger of the two (quimb's rank simplification, decided on the structure alone).

The plan depends only on index names and sizes, so it is cached with the tree and replayed on
new arrays (new bitstrings, new parameters, torch tensors). Fewer, larger tensors mean fewer
Python-level steps per contraction and a smaller problem for the tree search.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .network import Network


@dataclass(frozen=True)
class Plan:
    """Pairwise merges ``(k, j, new, kept_indices)`` and the tensors left at the end."""

    steps: tuple[tuple[int, int, int, tuple[str, ...]], ...]
    final: tuple[int, ...]


def plan_merges(net: Network, growth: float = 1.0) -> Plan:
    """Greedily merge each tensor with the neighbour giving the smallest result, while that result
    is at most ``growth`` times the bigger input; indices shared only by the pair (not output) are summed.

    Passes over the tensors smallest first, each looking only at tensors whose neighbourhood changed. Two tensors
    linked only through output or size-1 indices (e.g. the parameter-batch index every parametric gate carries)
    can merge without growth only when one of them is "flexible" (a dangling index to sum, or nothing but such
    indices), so only flexible tensors are looked up through those indices: planning a network with such a hyperedge
    is no longer quadratic in its size, and the merges are the same as a full scan's (``growth > 1`` scans all)."""
    tensors = {k: tuple(inds) for k, inds in enumerate(net.inputs)}
    where: dict[str, set[int]] = defaultdict(set)
    for k, inds in tensors.items():
        for i in inds:
            where[i].add(k)
    out, steps, nxt = set(net.output), [], len(tensors)

    def size(inds: Sequence[str]) -> int:
        return math.prod(net.size_dict[i] for i in inds)

    def linking(i: str) -> bool:
        """An index whose sharing lets a merge shrink the result: summed (not output) and of size > 1."""
        return i not in out and net.size_dict[i] > 1

    def flexible(k: int) -> bool:
        """Whether ``k`` may merge without growth with a tensor it shares no linking index with: it has a dangling
        linking index (summed by any merge; dangling stays dangling) or no linking index at all."""
        inds = tensors[k]
        return growth > 1 or any(linking(i) and len(where[i]) == 1 for i in inds) or not any(map(linking, inds))

    flexible_at: dict[str, set[int]] = defaultdict(set)  # non-linking index -> flexible tensors holding it

    def register(k: int) -> None:
        if flexible(k):
            for i in tensors[k]:
                if not linking(i):
                    flexible_at[i].add(k)

    for k in list(tensors):
        register(k)

    dirty = set(tensors)  # tensors whose neighbourhood changed since they were last examined
    while dirty:
        for k in sorted(tensors, key=lambda k: len(tensors[k])):  # the order of a full pass over all tensors
            if k not in dirty:
                continue  # unchanged since it last found no merge: it finds none now
            dirty.discard(k)
            if not tensors[k]:
                continue
            scan_all = flexible(k)
            candidates = {j for i in tensors[k] for j in (where[i] if scan_all or linking(i) else flexible_at[i])}
            best = None
            for j in sorted(candidates - {k}):
                a, b = tensors[k], tensors[j]
                keep = tuple(i for i in dict.fromkeys(a + b) if i in out or where[i] - {k, j})
                s = size(keep)
                if s <= growth * max(size(a), size(b)) and (best is None or s < best[0]):
                    best = (s, j, keep)
            if best is None:
                continue
            _, j, keep = best
            for i in set(tensors[k] + tensors[j]):
                where[i] -= {k, j}
                if i in keep:
                    where[i].add(nxt)
                if not linking(i):
                    flexible_at[i] -= {k, j}
            steps.append((k, j, nxt, keep))
            tensors[nxt] = keep
            del tensors[k], tensors[j]
            register(nxt)
            dirty.discard(j)
            dirty.update(n for i in keep for n in where[i])  # the new tensor and its neighbours
            nxt += 1
    return Plan(tuple(steps), tuple(tensors))


def apply_plan(net: Network, plan: Plan) -> Network:
    """Carry out the merges on ``net``'s arrays (numpy or torch) and return the smaller network."""
    from autoray import do

    arrays: dict[int, Any] = dict(enumerate(net.arrays))
    inds: dict[int, tuple[str, ...]] = dict(enumerate(net.inputs))
    for k, j, new, keep in plan.steps:
        a, b = inds.pop(k), inds.pop(j)
        number = {i: n for n, i in enumerate(dict.fromkeys(a + b))}
        arrays[new] = do("einsum", arrays.pop(k), [number[i] for i in a], arrays.pop(j),
                         [number[i] for i in b], [number[i] for i in keep])
        inds[new] = keep
    out = Network(output=net.output)
    for k in plan.final:
        out.add(inds[k], arrays[k])
    return out


def plan_structure(net: Network, plan: Plan) -> Network:
    """The index structure ``apply_plan`` would produce (no arrays): enough to search a tree."""
    inds: dict[int, tuple[str, ...]] = dict(enumerate(net.inputs))
    for k, j, new, keep in plan.steps:
        del inds[k], inds[j]
        inds[new] = keep
    used = {i for k in plan.final for i in inds[k]} | set(net.output)
    return Network(inputs=[inds[k] for k in plan.final], output=net.output,
                   size_dict={i: d for i, d in net.size_dict.items() if i in used})
