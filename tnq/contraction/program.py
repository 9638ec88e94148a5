"""A contraction tree compiled once into a flat program of batched matrix products.

Every pairwise step of the tree becomes ``(batch, left, contracted) @ (batch, contracted, right)``
with its permutations and shapes worked out ahead of time, so running it costs one reshape/matmul
per step (no per-step index bookkeeping) and hyperedges become the batch axis of a BLAS batched
product instead of a slow ``einsum``. Operand layouts are chosen to avoid copies: an operand whose
axes are already ``(contracted, kept)`` is passed transposed rather than permuted.

``Program.fold`` precomputes the steps that do not depend on chosen inputs (e.g. everything a
bitstring does not touch) once, and returns a function that runs only the rest: repeated
queries that change a few tensors pay only for the part of the tree they affect.
Works for numpy arrays and torch tensors (autograd flows through every step).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..arrays import is_torch


@dataclass(frozen=True)
class Leaf:
    """Input ``position`` goes to ``slot``; ``reduce`` is an einsum equation summing indices no
    other tensor has (or taking a diagonal) before the first step, or None."""

    position: int
    slot: int
    reduce: str | None


@dataclass(frozen=True)
class Step:
    """``out = view(a) @ view(b)`` then reshaped to ``out_shape`` (one axis per index)."""

    a: int
    b: int
    out: int
    perm_a: tuple[int, ...] | None  # None: no permutation needed
    shape_a: tuple[int, ...]
    swap_a: bool                    # shape_a is (batch, contracted, left): pass it transposed
    perm_b: tuple[int, ...] | None
    shape_b: tuple[int, ...]
    swap_b: bool                    # shape_b is (batch, right, contracted): pass it transposed
    outer: bool                     # nothing contracted: a broadcast product is faster than matmul
    out_shape: tuple[int, ...]
    cost: int                       # multiply-adds


def _letter(k: int) -> str:
    return chr(ord("a") + k) if k < 26 else chr(ord("A") + k - 26)


def tree_path(tree: Any, leaf_ids: Sequence[int], first_id: int) -> list[tuple[int, int]]:
    """The merges of a cotengra ``tree`` as SSA pairs: its input k is id ``leaf_ids[k]`` and its
    merges create ids ``first_id``, ``first_id + 1``, ..."""
    ids: dict[Any, int] = {}
    path = []
    for parent, left, right in tree.traverse():
        pair = []
        for node in (left, right):
            if node not in ids:
                ids[node] = leaf_ids[tree.node_to_input(node)]
            pair.append(ids[node])
        ids[parent] = first_id + len(path)
        path.append((pair[0], pair[1]))
    return path


def _is_identity(perm: Sequence[int]) -> bool:
    return all(i == p for i, p in enumerate(perm))


class Program:
    """Pairwise merges ``path`` (SSA ids: inputs are 0..N-1, merge k creates id N+k) over a network's
    ``inputs``, compiled to matrix products; call it on the arrays. ``path`` must end in one tensor."""

    def __init__(self, inputs: Sequence[Sequence[str]], output: Sequence[str], size_dict: dict[str, int],
                 path: Sequence[tuple[int, int]]) -> None:
        self.num_inputs = n = len(inputs)
        self.output = tuple(output)
        self.path = tuple((int(a), int(b)) for a, b in path)
        live = Counter(i for inds in inputs for i in set(inds))  # index -> tensors holding it (inputs, then results)
        out_set = set(output)
        inds: dict[int, tuple[str, ...]] = {}
        self.leaves: list[Leaf] = []
        for position, raw in enumerate(inputs):
            raw = tuple(raw)
            keep = tuple(i for i in dict.fromkeys(raw) if i in out_set or live[i] > 1)
            reduce = None
            if keep != raw:
                letters = {i: _letter(k) for k, i in enumerate(dict.fromkeys(raw))}
                reduce = "".join(letters[i] for i in raw) + "->" + "".join(letters[i] for i in keep)
            self.leaves.append(Leaf(position, position, reduce))
            inds[position] = keep
        self.steps: list[Step] = []
        self._step_inputs: list[frozenset[int]] | None = None
        alive = set(range(n))
        out = n - 1
        for a, b in path:
            out += 1
            # a pair's index survives when it is an output or another live tensor still holds it: linear in the
            # pair's indices (counting every index under the subtree made long chains quadratic)
            held = dict.fromkeys(inds[a], 1)
            for i in inds[b]:
                held[i] = held.get(i, 0) + 1
            keep = {i for i, k in held.items() if i in out_set or live[i] > k}
            for i, k in held.items():
                live[i] += (i in keep) - k
            step, inds[out] = _compile_step(a, b, out, inds[a], inds[b], keep, size_dict)
            self.steps.append(step)
            alive -= {a, b}
            alive.add(out)
        if len(alive) != 1:
            raise ValueError(f"contraction path leaves {len(alive)} tensors, expected 1")
        self.num_slots = out + 1
        self.root = root = alive.pop()
        root_inds = inds[root]
        missing = [i for i in self.output if i not in root_inds]
        if missing:
            raise ValueError(f"output indices {missing} are not produced by the path")
        perm = tuple(root_inds.index(i) for i in self.output)
        self.final_perm = None if _is_identity(perm) else perm
        self._folds: dict[frozenset[int], tuple[list[int], list[int]]] = {}
        self.cost = sum(step.cost for step in self.steps)
        """Multiply-adds of all steps."""

    @property
    def step_inputs(self) -> list[frozenset[int]]:
        """The input positions under each step's result, computed on first use (``fold``, ``variable_cost``):
        the sets of a long chain's steps hold quadratically many entries."""
        if self._step_inputs is None:
            under: dict[int, frozenset[int]] = {k: frozenset({k}) for k in range(self.num_inputs)}
            for step in self.steps:
                under[step.out] = under[step.a] | under[step.b]
            self._step_inputs = [under[step.out] for step in self.steps]
        return self._step_inputs

    def variable_cost(self, variable: Sequence[int]) -> int:
        """Multiply-adds of the steps that depend on the inputs at positions ``variable``."""
        key = frozenset(variable)
        return sum(step.cost for step, under in zip(self.steps, self.step_inputs) if under & key)

    # --- running --------------------------------------------------------------------------------
    def __call__(self, arrays: Sequence[Any]) -> Any:
        values: list[Any] = [None] * self.num_slots
        for lf in self.leaves:
            values[lf.slot] = _reduce(arrays[lf.position], lf.reduce)
        return self._finish(self._run(values, range(len(self.steps))))

    def _run(self, values: list[Any], order: Sequence[int]) -> list[Any]:
        steps = self.steps
        for k in order:
            s = steps[k]
            x = values[s.a]
            y = values[s.b]
            values[s.a] = values[s.b] = None  # free intermediates as soon as they are used
            values[s.out] = _product(s, x, y)
        return values

    def _finish(self, values: list[Any]) -> Any:
        value = values[self.root]
        if self.final_perm is not None:
            value = _permute(value, self.final_perm)
        return value

    def fold(self, arrays: Sequence[Any], variable: Sequence[int]) -> Callable[[dict[int, Any]], Any]:
        """Run every step that does not depend on the inputs at positions ``variable`` now, and return
        ``finish(new)`` that, given ``{position: array}`` for those inputs, runs only the remaining steps."""
        key = frozenset(variable)
        plan = self._folds.get(key)
        if plan is None:
            depends = [bool(under & key) for under in self.step_inputs]
            plan = self._folds[key] = ([k for k, d in enumerate(depends) if not d],
                                       [k for k, d in enumerate(depends) if d])
        constant_steps, variable_steps = plan
        values: list[Any] = [None] * self.num_slots
        var_leaves = []
        for lf in self.leaves:
            if lf.position in key:
                var_leaves.append(lf)
            else:
                values[lf.slot] = _reduce(arrays[lf.position], lf.reduce)
        values = self._run(values, constant_steps)
        frozen = [(slot, v) for slot, v in enumerate(values) if v is not None]

        def finish(new: dict[int, Any]) -> Any:
            vals: list[Any] = [None] * self.num_slots
            for slot, v in frozen:
                vals[slot] = v
            for lf in var_leaves:
                vals[lf.slot] = _reduce(new[lf.position], lf.reduce)
            return self._finish(self._run(vals, variable_steps))

        return finish


def _compile_step(a: int, b: int, out: int, ia: tuple[str, ...], ib: tuple[str, ...], keep: set[str],
                  size_dict: dict[str, int]) -> tuple[Step, tuple[str, ...]]:
    sa, sb = set(ia), set(ib)
    big, small = (ia, ib) if math.prod(size_dict[i] for i in ia) >= math.prod(size_dict[i] for i in ib) else (ib, ia)
    batch = [i for i in big if i in sa and i in sb and i in keep]
    contracted = [i for i in big if i in sa and i in sb and i not in keep]
    left = [i for i in ia if i not in sb]
    right = [i for i in ib if i not in sa]

    def size(group: list[str]) -> int:
        return math.prod(size_dict[i] for i in group)

    nb, nl, nk, nr = size(batch), size(left), size(contracted), size(right)
    lead: tuple[int, ...] = (nb,) if batch else ()

    def layout(inds: tuple[str, ...], normal: list[str], swapped: list[str], normal_shape: tuple[int, ...],
               swapped_shape: tuple[int, ...]) -> tuple[tuple[int, ...] | None, tuple[int, ...], bool]:
        if list(inds) == swapped and list(inds) != normal:
            return None, swapped_shape, True
        perm = tuple(inds.index(i) for i in normal)
        return (None if _is_identity(perm) else perm), normal_shape, False

    perm_a, shape_a, swap_a = layout(ia, batch + left + contracted, batch + contracted + left,
                                     lead + (nl, nk), lead + (nk, nl))
    perm_b, shape_b, swap_b = layout(ib, batch + contracted + right, batch + right + contracted,
                                     lead + (nk, nr), lead + (nr, nk))
    out_inds = tuple(batch + left + right)
    step = Step(a, b, out, perm_a, shape_a, swap_a, perm_b, shape_b, swap_b, nk == 1,
                tuple(size_dict[i] for i in out_inds), nb * nl * nk * nr)
    return step, out_inds


def _permute(x: Any, perm: tuple[int, ...]) -> Any:
    return x.permute(perm) if is_torch(x) else x.transpose(perm)


def _reduce(x: Any, eq: str | None) -> Any:
    if eq is None:
        return x
    if is_torch(x):
        import torch

        return torch.einsum(eq, x)
    import numpy as np

    return np.einsum(eq, x)


def _product(s: Step, x: Any, y: Any) -> Any:
    if s.perm_a is not None:
        x = _permute(x, s.perm_a)
    x = x.reshape(s.shape_a)
    if s.swap_a:
        x = x.transpose(-1, -2) if is_torch(x) else x.swapaxes(-1, -2)
    if s.perm_b is not None:
        y = _permute(y, s.perm_b)
    y = y.reshape(s.shape_b)
    if s.swap_b:
        y = y.transpose(-1, -2) if is_torch(y) else y.swapaxes(-1, -2)
    z = x * y if s.outer else x @ y
    return z.reshape(s.out_shape)
