"""CKY pregroup parser: find a reduction of the word types to a target type and return the DisCoPy diagram.

Each chart cell (i, j) holds every residual type the words i..j-1 can reduce to (for every choice of word types),
with one back-pointer per residual. Two adjacent residuals A, B combine by contracting the last k simple types of A
against the first k of B (x @ x.r -> 1, x.l @ x -> 1, so any z with z+1, iterated adjoints included), for every
feasible k: these are exactly the planar (non-crossing) reductions. A sound pruning drops residuals whose leftover
types can neither be matched outside the span nor be part of the target.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from discopy.grammar.pregroup import Cup, Diagram, Id, Ty, Word
from discopy.rigid import Ob

from qnlp.errors import LexiconError, NoParseError, UnknownWordError
from qnlp.grammar import Lexicon, parse_type, split_tagged, type_string

Simple = tuple[str, int]  # (basic type name, adjoint order z): n.l.l is ("n", -2)
Residual = tuple[Simple, ...]

_DIAGNOSTIC_CELL_CAP = 32  # residuals kept per cell when re-running the chart unpruned to explain a failure
_PARTIALS_SHOWN = 3


def _simples(ty: Ty) -> Residual:
    return tuple((ob.name, ob.z) for ob in ty.inside)


def _contracts(left: Simple, right: Simple) -> bool:
    """x^(z) x^(z+1) -> 1: covers a @ a.r, a.l @ a and iterated adjoints such as n.l.l @ n.l."""
    return left[0] == right[0] and right[1] == left[1] + 1


def _as_type(ty: Ty | str) -> Ty:
    return parse_type(ty) if isinstance(ty, str) else ty


class _Chart:
    """The CKY chart over words with candidate types, optionally pruned against a target."""

    def __init__(self, candidates: Sequence[Sequence[Ty]], target: Residual | None, cell_cap: int | None = None,
                 greedy: bool = False):
        self.candidates = [[_simples(ty) for ty in types] for types in candidates]
        self.target = target
        self.cell_cap = cell_cap
        self.greedy = greedy  # contract as much as possible at each junction (fast, incomplete: diagnostics only)
        n = len(candidates)
        # basic types available strictly left of / from each word boundary, for the pruning test
        self.left_avail = [set()]
        for types in self.candidates:
            self.left_avail.append(self.left_avail[-1] | {s for ty in types for s in ty})
        self.right_avail = [set()]
        for types in reversed(self.candidates):
            self.right_avail.append(self.right_avail[-1] | {s for ty in types for s in ty})
        self.right_avail.reverse()
        if target is not None:  # every contiguous piece of the target, the empty one included
            self.target_pieces = {target[a:b] for a in range(len(target) + 1) for b in range(a, len(target) + 1)}
        self.cells: dict[tuple[int, int], dict[Residual, tuple]] = {}
        for i, types in enumerate(self.candidates):
            cell: dict[Residual, tuple] = {}
            for c, ty in enumerate(types):
                for residual, (cups, positions) in _word_reductions(ty).items():
                    if residual not in cell and self._feasible(residual, i, i + 1):
                        cell[residual] = ("leaf", c, cups, positions)
            self.cells[i, i + 1] = self._cap(cell)
        for width in range(2, n + 1):
            for i in range(n - width + 1):
                self.cells[i, i + width] = self._fill(i, i + width)

    def _fill(self, i: int, j: int) -> dict[Residual, tuple]:
        cell: dict[Residual, tuple] = {}
        rejected: set[Residual] = set()
        for m in range(i + 1, j):
            for left in self.cells[i, m]:
                for right in self.cells[m, j]:
                    kmax = 0
                    while kmax < min(len(left), len(right)) and _contracts(left[-1 - kmax], right[kmax]):
                        kmax += 1
                    for k in range(kmax, kmax - 1 if self.greedy else -1, -1):
                        residual = left[:len(left) - k] + right[k:]
                        if residual in cell or residual in rejected:
                            continue
                        if self._feasible(residual, i, j):
                            cell[residual] = ("split", m, left, right, k)
                        else:
                            rejected.add(residual)
        return self._cap(cell)

    def _cap(self, cell: dict[Residual, tuple]) -> dict[Residual, tuple]:
        if self.cell_cap is None or len(cell) <= self.cell_cap:
            return cell
        keep = sorted(cell, key=len)[:self.cell_cap]
        return {r: cell[r] for r in keep}

    def _feasible(self, residual: Residual, i: int, j: int) -> bool:
        """Can ``residual`` (of words i..j-1) split as L + T + R: L matched leftwards, T a piece of the target,
        R matched rightwards? Elements under a cup cannot reach the output, which forces this shape."""
        if self.target is None:
            return True
        left_ok = self.left_avail[i]
        right_ok = self.right_avail[j]
        p = 0
        while p < len(residual) and (residual[p][0], residual[p][1] - 1) in left_ok:
            p += 1
        q = len(residual)
        while q > 0 and (residual[q - 1][0], residual[q - 1][1] + 1) in right_ok:
            q -= 1
        longest = len(self.target)
        return any(residual[a:b] in self.target_pieces
                   for a in range(p + 1) for b in range(max(a, q), min(a + longest, len(residual)) + 1))

    def derivation(self, i: int, j: int, residual: Residual) -> tuple[list[int], list[tuple[int, int]], list[int]]:
        """Unfold back-pointers: (chosen type index per word, cups as pairs of span-local wire positions,
        positions of the residual's wires)."""
        pointer = self.cells[i, j][residual]
        if pointer[0] == "leaf":
            _, c, cups, positions = pointer
            return [c], list(cups), list(positions)
        _, m, left, right, k = pointer
        choices_l, cups_l, pos_l = self.derivation(i, m, left)
        choices_r, cups_r, pos_r = self.derivation(m, j, right)
        shift = sum(len(self.candidates[w][c]) for w, c in zip(range(i, m), choices_l))
        pos_r = [p + shift for p in pos_r]
        cups = cups_l + [(a + shift, b + shift) for a, b in cups_r]
        cups += [(pos_l[len(pos_l) - 1 - t], pos_r[t]) for t in range(k)]
        return choices_l + choices_r, cups, pos_l[:len(pos_l) - k] + pos_r[k:]


@functools.lru_cache(maxsize=1024)
def _word_reductions(ty: Residual) -> dict[Residual, tuple[tuple[tuple[int, int], ...], tuple[int, ...]]]:
    """Every residual one word type reduces to on its own (itself first; ``s @ s.l @ s`` also gives ``s``),
    with its internal cups and the positions of the wires left; lexical types are normally irreducible."""
    if len(ty) < 2:
        return {ty: ((), tuple(range(len(ty))))}
    chart = _Chart([[Ty(ob)] for ob in _obs(ty)], None)
    out = {ty: ((), tuple(range(len(ty))))}
    for residual in sorted(chart.cells[0, len(ty)], key=len, reverse=True):
        if residual not in out:
            _, cups, positions = chart.derivation(0, len(ty), residual)
            out[residual] = (tuple(cups), tuple(positions))
    return out


def _obs(ty: Residual) -> list[Ob]:
    return [Ob(name, z=z) for name, z in ty]


def _diagram(words: Sequence[str], types: Sequence[Ty], cups: list[tuple[int, int]]) -> Diagram:
    """Words side by side, then rounds of cups: each round closes every cup whose ends are now adjacent."""
    diagram = Id(Ty()).tensor(*[Word(w, ty) for w, ty in zip(words, types)])
    flat = [ty[k:k + 1] for ty in types for k in range(len(ty))]
    wires = list(enumerate(flat))
    partner = {a: b for a, b in cups} | {b: a for a, b in cups}
    while any(pos in partner for pos, _ in wires):
        layer, kept, t = Id(Ty()), [], 0
        while t < len(wires):
            pos, ty = wires[t]
            if t + 1 < len(wires) and partner.get(pos) == wires[t + 1][0]:
                layer, t = layer @ Cup(ty, wires[t + 1][1]), t + 2
            else:
                layer, t = layer @ Id(ty), t + 1
                kept.append((pos, ty))
        if len(kept) == len(wires):  # cannot happen for a planar matching; guards against an endless loop
            raise AssertionError("internal error: crossing cups in a pregroup derivation")
        diagram, wires = diagram >> layer, kept
    return diagram


def _describe(words: Sequence[str], chart: _Chart, residual: Residual) -> str:
    """Say which word each leftover simple type comes from, e.g. ``man: n | prepares: n.r @ s @ n.l``."""
    choices, _, positions = chart.derivation(0, len(words), residual)
    owner = [w for w, c in enumerate(choices) for _ in chart.candidates[w][c]]
    flat = [s for w, c in enumerate(choices) for s in chart.candidates[w][c]]
    groups: list[tuple[int, list[Simple]]] = []
    for p in positions:
        if groups and groups[-1][0] == owner[p]:
            groups[-1][1].append(flat[p])
        else:
            groups.append((owner[p], [flat[p]]))
    parts = [f"{words[w]}: {' @ '.join(_simple_string(s) for s in simples)}" for w, simples in groups]
    return " | ".join(parts) if parts else "1"


def _simple_string(simple: Simple) -> str:
    name, z = simple
    return name + (".l" * -z if z < 0 else ".r" * z)


def parse_types(words: Sequence[str], candidates: Sequence[Sequence[Ty | str]], target: Ty | str = "s") -> Diagram:
    """Parse words whose candidate types (``Ty`` or type strings) are given; return the diagram ``words >> cups``
    with codomain ``target``. When several parses exist one is returned, the same every time.

    Raises NoParseError naming the target and the closest reductions found when no type choice reduces to it.
    """
    target_ty = _as_type(target)
    if len(words) != len(candidates):
        raise LexiconError(f"{len(words)} words but {len(candidates)} candidate type lists")
    candidates = [[_as_type(ty) for ty in types] for types in candidates]
    if not words:
        raise NoParseError(f"cannot parse an empty sentence to {type_string(target_ty)}", target_ty, [])
    for position, (word, types) in enumerate(zip(words, candidates)):
        if not types:
            raise UnknownWordError(f"word {word!r} at position {position} has no pregroup type", word, position)
    goal = _simples(target_ty)
    chart = _Chart(candidates, goal)
    if goal in chart.cells[0, len(words)]:
        choices, cups, _ = chart.derivation(0, len(words), goal)
        chosen = [candidates[w][c] for w, c in enumerate(choices)]
        diagram = _diagram(words, chosen, cups)
        if diagram.cod != target_ty or diagram.dom != Ty():  # DisCoPy re-derives the types: an independent check
            raise AssertionError(f"internal error: parse of {words!r} has type {diagram.dom} -> {diagram.cod}")
        return diagram
    loose = _Chart(candidates, None, cell_cap=_DIAGNOSTIC_CELL_CAP, greedy=True)
    best = sorted(loose.cells[0, len(words)], key=len)[:_PARTIALS_SHOWN]
    partials = [_describe(words, loose, r) for r in best]
    sentence = " ".join(words)
    raise NoParseError(
        f"no pregroup reduction of {sentence!r} to {type_string(target_ty)}; closest reductions leave: "
        + "; ".join(f"[{p}]" for p in partials), target_ty, partials)


def _tokens(sentence: str | Sequence[str]) -> list[str]:
    return sentence.split() if isinstance(sentence, str) else list(sentence)


def parse(sentence: str | Sequence[str], lexicon: Lexicon, target: Ty | str = "s") -> Diagram:
    """Parse a sentence (a string split on whitespace, or a list of words) with the types of ``lexicon``."""
    words = _tokens(sentence)
    for position, word in enumerate(words):
        if word not in lexicon:
            raise UnknownWordError(f"unknown word {word!r} at position {position} of {' '.join(words)!r}; "
                                   "add it to the lexicon", word, position)
    return parse_types(words, [lexicon.types(w) for w in words], target)


def parse_tagged(sentence: str | Sequence[str], target: Ty | str = "s", lexicon: Lexicon | None = None) -> Diagram:
    """Parse ``word_TAG`` tokens (``"man_N prepares_TV meal_N"``), typing each word by its tag."""
    lexicon = lexicon if lexicon is not None else Lexicon()
    words, candidates = [], []
    for position, token in enumerate(_tokens(sentence)):
        try:
            word, tag = split_tagged(token)
            candidates.append(lexicon.tag_types(tag, token))
        except LexiconError as exc:
            raise LexiconError(f"position {position}: {exc}") from None
        words.append(word)
    return parse_types(words, candidates, target)
