"""CKY pregroup parser: find a reduction of the word types to a target type and return the DisCoPy diagram.

Each chart cell (i, j) holds every residual type the words i..j-1 can reduce to (for every choice of word types),
with one back-pointer per residual. Two adjacent residuals A, B combine by contracting the last k simple types of A
against the first k of B (x @ x.r -> 1, x.l @ x -> 1, so any z with z+1, iterated adjoints included), for every
feasible k: these are exactly the planar (non-crossing) reductions. A sound pruning drops residuals whose leftover
types can neither be matched outside the span nor be part of the target.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Sequence
from operator import itemgetter

import discopy
from discopy.grammar.pregroup import Cup, Diagram, Ty, Word
from discopy.rigid import Layer, Ob

from qnlp.errors import LexiconError, NoParseError, UnknownWordError
from qnlp.grammar import ALTERNATIVE_COST, Lexicon, parse_type, plain_types, split_tagged, type_string

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
                 greedy: bool = False, costs: Sequence[Sequence[int]] | None = None):
        self.candidates = [[_simples(ty) for ty in types] for types in candidates]
        costs = costs if costs is not None else [range(len(types)) for types in candidates]  # default: the rank
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
        self.cells: dict[tuple[int, int], dict[Residual, tuple]] = {}  # residual -> (cost, back-pointer)
        for i, types in enumerate(self.candidates):
            cell: dict[Residual, tuple] = {}
            for c, (ty, cost) in enumerate(zip(types, costs[i])):
                for residual, (cups, positions) in _word_reductions(ty).items():
                    if (residual not in cell or cost < cell[residual][0]) and self._feasible(residual, i, i + 1):
                        cell[residual] = (cost, ("leaf", c, cups, positions))
            self.cells[i, i + 1] = self._cap(cell)
        for width in range(2, n + 1):
            for i in range(n - width + 1):
                self.cells[i, i + width] = self._fill(i, i + width)

    def _fill(self, i: int, j: int) -> dict[Residual, tuple]:
        """Every residual of words i..j-1 with its cheapest derivation (the first found among equally cheap ones,
        in a fixed order: split point, then the left and right cells' order, then more contractions first)."""
        cell: dict[Residual, tuple] = {}
        rejected: set[Residual] = set()
        for m in range(i + 1, j):
            right_cell = self.cells[m, j]
            for left, (left_cost, _) in self.cells[i, m].items():
                for right, (right_cost, _) in right_cell.items():
                    cost = left_cost + right_cost
                    kmax = 0
                    while kmax < min(len(left), len(right)) and _contracts(left[-1 - kmax], right[kmax]):
                        kmax += 1
                    for k in range(kmax, kmax - 1 if self.greedy else -1, -1):
                        residual = left[:len(left) - k] + right[k:]
                        if residual in rejected:
                            continue
                        found = cell.get(residual)
                        if found is not None:
                            if cost < found[0]:
                                cell[residual] = (cost, ("split", m, left, right, k))
                        elif self._feasible(residual, i, j):
                            cell[residual] = (cost, ("split", m, left, right, k))
                        else:
                            rejected.add(residual)
        return self._cap(cell)

    def _cap(self, cell: dict[Residual, tuple]) -> dict[Residual, tuple]:
        if self.cell_cap is None or len(cell) <= self.cell_cap:
            return cell
        keep = sorted(cell, key=lambda r: (cell[r][0], len(r)))[:self.cell_cap]  # stable: ties keep cell order
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
        pointer = self.cells[i, j][residual][1]
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
    """Words side by side, then rounds of cups: each round closes, left to right, every cup whose ends are now
    adjacent. The layers are built directly: composing diagrams one box at a time is quadratic in DisCoPy."""
    boxes, offsets, width = [], [], 0
    for word, ty in zip(words, types):
        boxes.append(_word_box(word, ty))
        offsets.append(width)
        width += len(ty)
    obs = [ob for ty in types for ob in ty.inside]
    codes = [code for ty in types for code in _coded(ty)]
    wires = list(enumerate(zip(obs, codes)))  # (position, (object, code)) of the wires not yet capped
    partner = {a: b for a, b in cups} | {b: a for a, b in cups}
    while any(pos in partner for pos, _ in wires):
        kept, t = [], 0
        while t < len(wires):
            pos, wire = wires[t]
            if t + 1 < len(wires) and partner.get(pos) == wires[t + 1][0]:
                boxes.append(_cup_box(wire, wires[t + 1][1]))
                offsets.append(len(kept))
                t += 2
            else:
                kept.append(wires[t])
                t += 1
        if len(kept) == len(wires):  # cannot happen for a planar matching; guards against an endless loop
            raise AssertionError("internal error: crossing cups in a pregroup derivation")
        wires = kept
    layers, cod, names = [], (), ()  # the wires between layers, as Ob objects and their strings
    for box, offset in zip(boxes, offsets):
        dom = box.dom.inside
        if cod[offset:offset + len(dom)] != dom:
            raise AssertionError(f"internal error: {box} does not fit the wires {cod} at offset {offset}")
        end = offset + len(dom)
        layers.append(_layer(cod[:offset], names[:offset], box, cod[end:], names[end:]))
        cod = cod[:offset] + box.cod.inside + cod[end:]
        names = names[:offset] + _strings(box.cod.inside) + names[end:]
    return Diagram(tuple(layers), Ty(), _ty(cod, names))


_FAST = discopy.__version__ == "1.2.2"
"""Build types and layers without DisCoPy's per-object checks (which make a wide diagram quadratic): the objects
are those DisCoPy 1.2.2's constructors make, attribute for attribute (tests compare them); other versions use the
constructors."""


_BOXES: dict[tuple, Word | Cup] = {}  # (word, codes) -> Word; (code, code) -> Cup


def _word_box(word: str, ty: Ty) -> Word:
    """``Word(word, ty)``, remembered (keyed by the type's integer codes, which are cheap to hash)."""
    key = word, _coded(ty)
    box = _BOXES.get(key)
    if box is None:
        if len(_BOXES) >= 8192:
            _BOXES.clear()
        box = _BOXES[key] = Word(word, ty)
    return box


def _cup_box(left: tuple[Ob, int], right: tuple[Ob, int]) -> Cup:
    """``Cup(Ty(left), Ty(right))`` of two wires (object, code), remembered."""
    key = left[1], right[1]
    box = _BOXES.get(key)
    if box is None:
        box = _BOXES[key] = Cup(Ty(left[0]), Ty(right[0]))
    return box


def _strings(obs: tuple[Ob, ...]) -> tuple[str, ...]:
    return tuple(map(str, obs))


def _ty(obs: tuple[Ob, ...], names: tuple[str, ...]) -> Ty:
    """``Ty(*obs)``, given the strings of ``obs``."""
    if not _FAST:
        return Ty(*obs)
    ty = Ty.__new__(Ty)
    ty.inside, ty.name = obs, " @ ".join(names) or "Ty()"
    return ty


def _layer(left: tuple[Ob, ...], left_names: tuple[str, ...], box: Word | Cup, right: tuple[Ob, ...],
           right_names: tuple[str, ...]) -> Layer:
    """``Layer(Ty(*left), box, Ty(*right))``, given the strings of the objects."""
    left_ty, right_ty = _ty(left, left_names), _ty(right, right_names)
    if not _FAST:
        return Layer(left_ty, box, right_ty)
    layer = Layer.__new__(Layer)
    dom_names, cod_names = _strings(box.dom.inside), _strings(box.cod.inside)
    layer.boxes_or_types = (left_ty, box, right_ty)
    layer.name = " @ ".join(left_names + (str(box),) + right_names)
    layer.data, layer.is_dagger = None, False
    layer.dom = _ty(left + box.dom.inside + right, left_names + dom_names + right_names)
    layer.cod = _ty(left + box.cod.inside + right, left_names + cod_names + right_names)
    layer.inside = (layer,)
    return layer


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


PLAIN_BEAM = 32
"""Prefix states (stacks of uncontracted types) kept per word by the plain-text parser."""

Derivation = tuple[int, list[int], list[tuple[int, int]]]  # cost, chosen candidate per word, cups


def _incremental(candidates: Sequence[Sequence[Ty]], costs: Sequence[Sequence[int]], goals: Sequence[Residual],
                 beam: int = PLAIN_BEAM) -> dict[Residual, Derivation]:
    """Left-to-right pregroup parsing. The states after word j are residuals of words 0..j-1 (the stack of types
    not yet contracted), each with its cheapest derivation; adding a word contracts the last k types of a state
    against the first k of the word's type, for every feasible k. By associativity of planar contraction this
    reaches every residual the CKY chart reaches. A state is kept only while it can still end as one of ``goals``
    (:func:`_open`), and only ``beam`` states survive each word: lowest cost plus number of types still to contract
    first, then lowest cost (ties in the order found, which the sentence fixes); so the time is linear in the
    length. Returns the cheapest derivation kept of each goal reached.

    Simple types are coded as integers (:func:`_codes`: contraction is ``right == left + 1``) and a new residual is
    tested with :func:`_open` only when it ranks high enough to enter the beam."""
    coded = [[_coded(ty) for ty in types] for types in candidates]
    coded_goals = [_codes(goal) for goal in goals]
    counts: list[Counter] = [Counter()]
    for types in reversed(coded):  # counts[j]: how often words j.. can have each simple type, at most
        counts.append(counts[-1] + _most(tuple(types)))
    later = [_supply(count) for count in reversed(counts)]
    rank_scale = 1 + sum(max(word_costs) for word_costs in costs)  # rank (cost + length, cost) as one integer
    states: dict[tuple[int, ...], tuple] = {(): (0, None, -1, 0)}  # residual -> (cost, previous residual, choice, k)
    history = []
    for j, types in enumerate(coded):
        step: dict[tuple[int, ...], tuple] = {}  # residual -> (rank, cost, previous residual, choice, k, residual)
        setdefault = step.setdefault
        word = [(c, ty, ty[0] if ty else -1, len(ty), costs[j][c]) for c, ty in enumerate(types)]  # codes are > 0
        for residual, entry in states.items():
            cost, n = entry[0], len(residual)
            last = residual[-1] + 1 if residual else -2  # the code that contracts with the last type
            for c, ty, first, length, word_cost in word:
                total = cost + word_cost
                if first != last:  # no contraction: the usual case
                    new = residual + ty
                    value = ((total + n + length) * rank_scale + total, total, residual, c, 0, new)
                    found = setdefault(new, value)
                    if found is not value and total < found[1]:
                        step[new] = value
                    continue
                kmax, most = 1, min(n, length)
                while kmax < most and residual[n - 1 - kmax] + 1 == ty[kmax]:
                    kmax += 1
                for k in range(kmax, -1, -1):
                    new = residual[:n - k] + ty[k:]
                    value = ((total + n + length - 2 * k) * rank_scale + total, total, residual, c, k, new)
                    found = setdefault(new, value)
                    if found is not value and total < found[1]:
                        step[new] = value
        states = {}
        for value in sorted(step.values(), key=_RANK):  # stable: ties keep the order found
            new = value[5]
            if _open(new, coded_goals, later[j + 1]):
                states[new] = value[1:5]
                if len(states) == beam:
                    break
        history.append(states)
    found = {}
    for goal, code in zip(goals, coded_goals):
        if code in states:
            found[goal] = _unwind(history, code, candidates)
    return found


@functools.lru_cache(maxsize=1024)
def _most(types: tuple[tuple[int, ...], ...]) -> Counter:
    """How often one word with these candidate (coded) types can have each simple type, at most."""
    most: Counter = Counter()
    for ty in types:
        most |= Counter(ty)
    return most


_RANK = itemgetter(0)
_CODE_SPAN = 1 << 16
_BASIC_CODES: dict[str, int] = {}


def _codes(residual: Residual) -> tuple[int, ...]:
    """Integer codes of simple types such that x^(z) x^(z+1) contract exactly when the codes are c and c + 1."""
    out = []
    for name, z in residual:
        if not -_CODE_SPAN // 2 < z < _CODE_SPAN // 2:
            raise LexiconError(f"pregroup type {name} with {abs(z)} adjoints has too many to parse")
        base = _BASIC_CODES.setdefault(name, len(_BASIC_CODES) * _CODE_SPAN + _CODE_SPAN // 2)
        out.append(base + z)
    return tuple(out)


_CODED: dict[int, tuple[Ty, tuple[int, ...]]] = {}  # id(type) -> (type, codes); holding the type keeps its id unique


def _coded(ty: Ty) -> tuple[int, ...]:
    """:func:`_codes` of a type, remembered: the lexicon gives the same type objects again and again."""
    found = _CODED.get(id(ty))
    if found is not None and found[0] is ty:
        return found[1]
    if len(_CODED) >= 4096:
        _CODED.clear()
    codes = _codes(_simples(ty))
    _CODED[id(ty)] = ty, codes
    return codes


_Supply = tuple[frozenset[int], dict[int, int], int]


def _supply(counts: Counter) -> _Supply:
    """The codes that later words can contract (their right adjoint, code + 1, occurs there), how often at most,
    and the least of those numbers (for :func:`_open`)."""
    supply = {code - 1: count for code, count in counts.items()}
    return frozenset(supply), supply, min(supply.values(), default=0)


def _unwind(history: list[dict[tuple[int, ...], tuple]], goal: tuple[int, ...],
            candidates: Sequence[Sequence[Ty]]) -> Derivation:
    """The cost, choices and cups of the derivation of ``goal`` kept in ``history``."""
    choices, ks, residual = [], [], goal
    for states in reversed(history):
        _, previous, c, k = states[residual]
        choices.append(c)
        ks.append(k)
        residual = previous
    choices.reverse()
    ks.reverse()
    stack: list[int] = []  # positions of the types not yet contracted
    cups, position = [], 0
    for w, (c, k) in enumerate(zip(choices, ks)):
        length = len(candidates[w][c])
        cups += [(stack.pop(), position + t) for t in range(k)]
        stack += range(position + k, position + length)
        position += length
    return history[-1][goal][0], choices, cups


def _open(residual: tuple[int, ...], goals: Sequence[tuple[int, ...]], later: _Supply) -> bool:
    """Can a prefix with this (coded) residual still end as one of ``goals``: its longest common start with a goal,
    then types that later words can contract (each needs its right adjoint, code + 1, as often as the later words
    can have it)? The goal sharing the longest start leaves the fewest types to contract, so it alone is checked."""
    start = 0
    for goal in goals:
        if residual[:1] == goal[:1]:  # usually the goals are single types: this settles it
            t = 1
            while t < len(goal) and t < len(residual) and residual[t] == goal[t]:
                t += 1
            if t > start:
                start = t
    rest = residual[start:]
    contractible, supply, least = later
    if not contractible.issuperset(rest):
        return False
    if len(rest) > least:  # else no code can be needed more often than it is supplied
        for code in set(rest):
            if rest.count(code) > supply[code]:
                return False
    return True


def _checked(words: Sequence[str], chosen: Sequence[Ty], cups: list[tuple[int, int]], target: Ty) -> Diagram:
    diagram = _diagram(words, chosen, cups)
    if diagram.cod != target or diagram.dom != Ty():  # DisCoPy re-derives the types: an independent check
        raise AssertionError(f"internal error: parse of {words!r} has type {diagram.dom} -> {diagram.cod}")
    return diagram


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
    found = _reduce(words, candidates, target_ty)
    if found is not None:
        return found[0]
    partials = _closest(words, candidates)
    raise NoParseError(_no_parse_message(words, target_ty, partials), target_ty, partials)


def _reduce(words: Sequence[str], candidates: Sequence[Sequence[Ty]], target: Ty,
            costs: Sequence[Sequence[int]] | None = None) -> tuple[Diagram, int] | None:
    """The cheapest parse of ``words`` to ``target`` and its cost (a type costs ``costs``, by default its rank among
    its word's candidates), or None when there is none."""
    goal = _simples(target)
    chart = _Chart(candidates, goal, costs=costs)
    if goal not in chart.cells[0, len(words)]:
        return None
    cost = chart.cells[0, len(words)][goal][0]
    choices, cups, _ = chart.derivation(0, len(words), goal)
    return _checked(words, [candidates[w][c] for w, c in enumerate(choices)], cups, target), cost


def _closest(words: Sequence[str], candidates: Sequence[Sequence[Ty]]) -> list[str]:
    loose = _Chart(candidates, None, cell_cap=_DIAGNOSTIC_CELL_CAP, greedy=True)
    best = sorted(loose.cells[0, len(words)], key=len)[:_PARTIALS_SHOWN]
    return [_describe(words, loose, r) for r in best]


def _no_parse_message(words: Sequence[str], target: Ty, partials: list[str]) -> str:
    return (f"no pregroup reduction of {' '.join(words)!r} to {type_string(target)}; closest reductions "
            "leave: " + "; ".join(f"[{p}]" for p in partials))


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


MAX_PLAIN_WORDS = 60
"""Longest plain sentence ``parse_plain`` takes (the chart is cubic in the length)."""

ATOMIC_TYPES = ("s", "n")
FRAGMENT_COST = 2
"""Added to the cost of a parse at another atomic type than the target: a fragment wins only when cheaper."""
"""The basic types of the plain-English lexicon: fragments are tried at these, in this order, after the target."""


def check_plain_words(words: Sequence[str]) -> None:
    """Refuse what the tagger cannot read: no words, too many, or a word with control characters or letters of a
    script other than Latin (one error naming the word and its position)."""
    from qnlp.tagger import check_text

    if not words:
        raise LexiconError("empty sentence")
    if len(words) > MAX_PLAIN_WORDS:
        raise LexiconError(f"sentence of {len(words)} words is longer than the {MAX_PLAIN_WORDS}-word limit of the "
                           "plain-text parser; split it")
    for position, word in enumerate(words):
        problem = check_text(word)
        if problem is not None:
            raise LexiconError(f"word {word!r} at position {position}: {problem}")


def plain_candidates(words: Sequence[str], tags: Sequence[str], lexicon: Lexicon | None = None,
                     alternatives: bool = False) -> tuple[list[list[Ty]], list[list[int]]]:
    """Candidate types of tagged plain words and their costs: a word of ``lexicon`` takes its types from there
    (costing their rank), the others from their tag (``qnlp.grammar.plain_types``)."""
    types, costs = [], []
    for position, (word, tag) in enumerate(zip(words, tags)):
        if lexicon is not None and word in lexicon:
            typed = [(ty, rank) for rank, ty in enumerate(lexicon.types(word))]
        else:
            typed = list(plain_types(word, tag, alternatives))
        if not typed:
            raise UnknownWordError(f"word {word!r} at position {position} (tagged {tag}) has no pregroup type",
                                   word, position)
        types.append([ty for ty, _ in typed])
        costs.append([cost for _, cost in typed])
    return types, costs


def parse_plain(sentence: str | Sequence[str], target: Ty | str = "s", lexicon: Lexicon | None = None,
                fragments: bool = False) -> Diagram:
    """Parse untagged English (tokens split on whitespace): tag it offline (``qnlp.tagger``), type each word by
    its tag (or by ``lexicon`` where it has the word) and return the cheapest parse to ``target``.

    The parse minimises the summed cost of the chosen types (:data:`qnlp.grammar.PENN_TYPES`); among equally cheap
    parses the chart keeps the first found, in an order fixed by the sentence alone. The tagger's tags are tried
    first; the tags commonly confused with them (:data:`qnlp.grammar.TAG_ALTERNATIVES`, each type at
    :data:`qnlp.grammar.ALTERNATIVE_COST` more) are added when that finds no parse or only one costing at least
    ``ALTERNATIVE_COST`` (which a parse with another tag could beat). With ``fragments``, a sentence without a parse
    at ``target`` is parsed the same way at each other atomic type of :data:`ATOMIC_TYPES` (a fragment: the
    diagram's codomain says which). Raises NoParseError when nothing parses.
    """
    from qnlp.tagger import tag

    words = _tokens(sentence)
    check_plain_words(words)
    target_ty = _as_type(target)
    tags = tag(words)
    goals = [target_ty] + ([ty for ty in map(Ty, ATOMIC_TYPES) if ty != target_ty] if fragments else [])
    extra = {_simples(goal): FRAGMENT_COST * (rank > 0) for rank, goal in enumerate(goals)}
    best = None  # (cost with the fragment cost, goal, derivation, candidate types)
    for alternatives in (False, True):
        if best is not None and best[0] < ALTERNATIVE_COST:
            break
        types, costs = plain_candidates(words, tags, lexicon, alternatives)
        for goal, derivation in _incremental(types, costs, list(extra)).items():  # goals in order: ties keep the first
            if best is None or derivation[0] + extra[goal] < best[0]:
                best = derivation[0] + extra[goal], goal, derivation, types
    if best is not None:
        _, goal, (_, choices, cups), types = best
        return _checked(words, [types[w][c] for w, c in enumerate(choices)], cups, Ty(*_obs(goal)))
    tagged = " ".join(f"{w}_{t}" for w, t in zip(words, tags))
    also = f" or a fragment ({', '.join(map(type_string, goals[1:]))})" if len(goals) > 1 else ""
    raise NoParseError(f"no pregroup reduction of {' '.join(words)!r} (tagged {tagged}) to "
                       f"{type_string(target_ty)}{also}", target_ty, [])


def parse_any(sentence: str | Sequence[str], target: Ty | str = "s", lexicon: Lexicon | None = None,
              fragments: bool = False) -> Diagram:
    """The one choice of parser for any sentence: ``word_TAG`` tokens by their tags (``parse_tagged``), a sentence
    whose words are all in ``lexicon`` by the lexicon (``parse``; not with ``fragments``), any other as plain English
    (``parse_plain``, with the lexicon where it has the word)."""
    words = _tokens(sentence)
    if words and all("_" in w for w in words):
        return parse_tagged(words, target, lexicon)
    if not fragments and lexicon is not None and words and all(w in lexicon for w in words):
        return parse(words, lexicon, target)
    return parse_plain(words, target, lexicon, fragments)
