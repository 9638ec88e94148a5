"""Lexicon-free readers (bag-of-words, word sequence, stairs, tree) and the pregroup reader, all returning
DisCoPy 1.2.2 ``discopy.grammar.pregroup`` diagrams with codomain ``s``.

The first four mirror lambeq 0.5's ``spiders_reader``, ``cups_reader``, ``stairs_reader`` and ``TreeReader``
(whose CCG parser needs a model download; here the tree is built from word order instead), so results can be
compared across syntax sensitivity. Stairs and tree readers take a ``box_name`` hook deciding how combining boxes are
named: one name everywhere (uniform parameter sharing) or one name per step / tree level (hierarchical sharing).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

from discopy.grammar.pregroup import Box, Cup, Diagram, Id, Spider, Ty, Word

from qnlp.errors import QnlpError
from qnlp.grammar import Lexicon, S
from qnlp.parser import parse_any

Sentence = str | Sequence[str]


def _words(sentence: Sentence, reader: str) -> list[str]:
    """Split a string on whitespace or accept a list of words; an empty sentence or a bad word is one clear error."""
    words = sentence.split() if isinstance(sentence, str) else list(sentence)
    if not words:
        raise QnlpError(f"{reader}: cannot read an empty sentence")
    for position, word in enumerate(words):
        if not isinstance(word, str) or not word or any(ch.isspace() for ch in word):
            raise QnlpError(f"{reader}: word {word!r} at position {position} must be a non-empty string without spaces")
    return words


class SpidersReader:
    """Bag of words: every word is a state of ``word_type``, merged by one spider (word order is ignored)."""

    def __init__(self, word_type: Ty = S):
        self.word_type = word_type

    def __call__(self, sentence: Sentence) -> Diagram:
        words = _words(sentence, "spiders_reader")
        boxes = Id(Ty()).tensor(*[Word(w, self.word_type) for w in words])
        return boxes >> Spider(len(words), 1, self.word_type)

    sentence2diagram = __call__


class CupsReader:
    """Word sequence: a ``START`` state, then each word a map ``s.r @ s`` joined to its left neighbour by a cup."""

    def __init__(self, word_type: Ty = S, start: str = "START"):
        self.word_type = word_type
        self.start = start

    def __call__(self, sentence: Sentence) -> Diagram:
        words = _words(sentence, "cups_reader")
        ty = self.word_type
        diagram = Word(self.start, ty) @ Id(Ty()).tensor(*[Word(w, ty.r @ ty) for w in words])
        while len(diagram.cod) > len(ty):
            diagram = diagram >> (Cup(ty, ty.r) @ Id(diagram.cod[2 * len(ty):]))
        return diagram

    sentence2diagram = __call__


StairName = Callable[[int], str]
TreeName = Callable[[int, int], str]


def uniform(name: str) -> Callable[..., str]:
    """A ``box_name`` hook giving every combining box the same name (parameters shared everywhere)."""
    return lambda *_: name


def per_step(prefix: str = "STAIR") -> StairName:
    """Stairs hook: one name per step (``STAIR_0`` combines words 0 and 1, ``STAIR_1`` adds word 2, ...)."""
    return lambda step: f"{prefix}_{step}"


def per_level(prefix: str = "layer") -> TreeName:
    """Tree hook: one name per tree level, as lambeq's ``TreeReaderMode.HEIGHT`` (``layer_1`` joins two words)."""
    return lambda level, _index: f"{prefix}_{level}"


class StairsReader:
    """RNN-like stairs: words are states of ``word_type``; a box ``word_type @ word_type -> word_type`` repeatedly
    combines the two left-most wires. ``box_name(step)`` names the box of step 0, 1, ... (default ``STAIR``)."""

    def __init__(self, word_type: Ty = S, box_name: StairName | None = None):
        self.word_type = word_type
        self.box_name = box_name or uniform("STAIR")

    def __call__(self, sentence: Sentence) -> Diagram:
        words = _words(sentence, "stairs_reader")
        ty = self.word_type
        diagram = Id(Ty()).tensor(*[Word(w, ty) for w in words])
        for step in range(len(words) - 1):
            box = Box(_checked_name(self.box_name(step), "box_name"), ty @ ty, ty)
            diagram = diagram >> (box @ Id(diagram.cod[2 * len(ty):]))
        return diagram

    sentence2diagram = __call__


class TreeReader:
    """CNN-like tree from word order: at each level adjacent pairs are combined by a box ``t @ t -> t`` (an odd last
    node is carried up) until one wire is left. ``box_name(level, index)`` names the ``index``-th box of ``level``
    (level 1 combines words; default ``UNIBOX`` everywhere, lambeq's ``TreeReaderMode.NO_TYPE``)."""

    def __init__(self, word_type: Ty = S, box_name: TreeName | None = None):
        self.word_type = word_type
        self.box_name = box_name or uniform("UNIBOX")

    def __call__(self, sentence: Sentence) -> Diagram:
        words = _words(sentence, "tree_reader")
        ty = self.word_type
        diagram = Id(Ty()).tensor(*[Word(w, ty) for w in words])
        width, level = len(words), 1
        while width > 1:
            pairs = width // 2
            layer = Id(Ty()).tensor(*[Box(_checked_name(self.box_name(level, k), "box_name"), ty @ ty, ty)
                                      for k in range(pairs)])
            diagram = diagram >> (layer @ Id(ty ** (width % 2)))
            width, level = pairs + width % 2, level + 1
        return diagram

    sentence2diagram = __call__

    @staticmethod
    def shape(n_words: int) -> list[tuple[int, int, int]]:
        """The tree as ``(level, left, right)`` merges of node indices at that level (for building references)."""
        out, width, level = [], n_words, 1
        while width > 1:
            out += [(level, 2 * k, 2 * k + 1) for k in range(width // 2)]
            width, level = width // 2 + width % 2, level + 1
        return out


def _checked_name(name: object, hook: str) -> str:
    if not isinstance(name, str) or not name:
        raise QnlpError(f"{hook} hook returned {name!r}; it must return a non-empty box name")
    return name


class PregroupReader:
    """Syntax-aware reader: the offline pregroup parser as a reader object (``qnlp.parser.parse_any``): ``word_TAG``
    tokens are typed by their tags, a sentence whose words are all in ``lexicon`` by it, any other, plain English,
    is tagged offline and typed by its tags and the lexicon (``fragments`` lets it reduce to another atomic type)."""

    def __init__(self, lexicon: Lexicon | None = None, target: Ty | str = "s", fragments: bool = False):
        self.lexicon = lexicon
        self.target = target
        self.fragments = fragments

    def __call__(self, sentence: Sentence) -> Diagram:
        words = _words(sentence, "pregroup_reader")
        return parse_any(words, self.target, self.lexicon, self.fragments)

    sentence2diagram = __call__


spiders_reader = SpidersReader()
bag_of_words_reader = spiders_reader
cups_reader = CupsReader()
word_sequence_reader = cups_reader
stairs_reader = StairsReader()
tree_reader = TreeReader()


_CONVERTER = "_qnlp_lambeq_discopy_converter"


def _lambeq_converter() -> ModuleType:
    """lambeq's DisCoPy converter, loaded on its own: ``lambeq.backend.converters`` imports pytket first and fails
    without it, although the DisCoPy half needs nothing from pytket."""
    if _CONVERTER in sys.modules:
        return sys.modules[_CONVERTER]
    spec = importlib.util.find_spec("lambeq.backend")
    if spec is None or not spec.submodule_search_locations:
        raise QnlpError("lambeq is not installed: cannot convert lambeq diagrams")
    path = os.path.join(list(spec.submodule_search_locations)[0], "converters", "discopy.py")
    module_spec = importlib.util.spec_from_file_location(_CONVERTER, path)
    if module_spec is None or module_spec.loader is None:
        raise QnlpError(f"cannot load lambeq's DisCoPy converter from {path}")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[_CONVERTER] = module
    try:
        module_spec.loader.exec_module(module)
    except Exception:
        del sys.modules[_CONVERTER]
        raise
    return module


def from_lambeq(diagram: Any) -> Any:
    """Convert a lambeq 0.5 diagram (grammar, e.g. Bobcat parser output, or quantum circuit) to DisCoPy 1.2.2,
    as lambeq's ``to_discopy()`` does, but also without pytket installed."""
    if not hasattr(diagram, "boxes") or not type(diagram).__module__.startswith("lambeq."):
        raise QnlpError(f"from_lambeq expects a lambeq diagram, got {type(diagram).__name__}")
    return _lambeq_converter().to_discopy(diagram)


def to_lambeq(diagram: Any) -> Any:
    """Convert a DisCoPy 1.2.2 diagram or circuit to lambeq 0.5 (``Diagram.from_discopy`` without needing pytket)."""
    if not type(diagram).__module__.startswith("discopy."):
        raise QnlpError(f"to_lambeq expects a DisCoPy diagram, got {type(diagram).__name__}")
    return _lambeq_converter().from_discopy(diagram)
