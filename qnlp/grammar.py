"""Pregroup lexicon: words and POS tags -> DisCoPy 1.2.2 pregroup types (no parser model, works offline)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

from discopy.grammar.pregroup import Ty

from qnlp.errors import LexiconError

N = Ty("n")
S = Ty("s")

_TRANSITIVE = N.r @ S @ N.l
_INTRANSITIVE = N.r @ S
_SUBJECT_RELATIVE = N.r @ N @ S.l @ N  # "device that [carries water]"
_OBJECT_RELATIVE = N.r @ N @ N.l.l @ S.l  # "device that [astronomer uses]"
_VERB_PHRASE = N.r @ S

# Standard pregroup assignments (Lambek; lambeq's pregroup conventions). A tag with several types is ambiguous:
# the parser picks whichever type lets the sentence reduce, preferring the earlier one.
TAG_TYPES: dict[str, tuple[Ty, ...]] = {
    "N": (N,),
    "PN": (N,),
    "PRON": (N,),
    "ADJ": (N @ N.l,),
    "DET": (N @ N.l,),
    "TV": (_TRANSITIVE,),
    "IV": (_INTRANSITIVE,),
    "V": (_TRANSITIVE, _INTRANSITIVE),  # arity unknown (the RP data tags transitive verbs as V)
    "DTV": (N.r @ S @ N.l @ N.l,),
    "RPRON": (_SUBJECT_RELATIVE, _OBJECT_RELATIVE),
    "RPRON_SUBJ": (_SUBJECT_RELATIVE,),
    "RPRON_OBJ": (_OBJECT_RELATIVE,),
    "PREP": (N.r @ N @ N.l, S.r @ S @ N.l),  # noun-phrase or sentence attachment
    "ADV": (_VERB_PHRASE @ _VERB_PHRASE.l, S.r @ S),  # before the verb, or after the sentence
    "CONJ": (S.r @ S @ S.l, N.r @ N @ N.l),
}

_SIMPLE = re.compile(r"^([A-Za-z][A-Za-z0-9_]*)((?:\.[lr])*)$")


def parse_type(text: str) -> Ty:
    """Read a pregroup type written as DisCoPy prints it, e.g. ``"n.r @ s @ n.l.l"``; ``"1"`` is the unit."""
    text = text.strip()
    if text in ("1", "Ty()"):
        return Ty()
    result = Ty()
    for part in text.split("@"):
        match = _SIMPLE.match(part.strip())
        if match is None:
            raise LexiconError(f"bad pregroup type {text!r}: {part.strip()!r} is not a basic type with .l/.r adjoints")
        simple = Ty(match.group(1))
        for adjoint in match.group(2).split(".")[1:]:
            simple = simple.l if adjoint == "l" else simple.r
        result = result @ simple
    return result


def type_string(ty: Ty) -> str:
    """Print a type the way :func:`parse_type` reads it (``1`` for the unit)."""
    return str(ty) if len(ty) else "1"


Entry = str | Ty | Sequence[str | Ty]


class Lexicon:
    """Map each word to one or more pregroup types, given as POS tags (``"TV"``), type strings or ``Ty`` objects.

    ``Lexicon({"man": "N", "cooks": "TV", "that": ["RPRON_SUBJ", "n.r @ n @ n.l.l @ s.l"]})``; a word given
    several times collects all its types (duplicates dropped, first-given first).
    """

    def __init__(self, entries: Mapping[str, Entry] | None = None, tags: Mapping[str, Sequence[Ty]] | None = None):
        self.tags: dict[str, tuple[Ty, ...]] = dict(TAG_TYPES if tags is None else tags)
        self._types: dict[str, list[Ty]] = {}
        for word, entry in (entries or {}).items():
            self.add(word, entry)

    def resolve(self, entry: Entry, word: str = "?") -> tuple[Ty, ...]:
        """Types meant by one entry: a tag name, a type string, a ``Ty``, or a list of those."""
        if isinstance(entry, Ty):
            return (entry,)
        if isinstance(entry, str):
            if entry in self.tags:
                return tuple(self.tags[entry])
            try:
                return (parse_type(entry),)
            except LexiconError as exc:
                known = ", ".join(sorted(self.tags))
                raise LexiconError(f"word {word!r}: {entry!r} is neither a known tag ({known}) nor a type ({exc})") \
                    from None
        if isinstance(entry, Sequence) and entry:
            return tuple(ty for item in entry for ty in self.resolve(item, word))
        raise LexiconError(f"word {word!r}: lexicon entry {entry!r} must be a tag, a type string, a Ty or a list")

    def add(self, word: str, entry: Entry) -> None:
        """Give ``word`` the types of ``entry`` in addition to those it has."""
        if not isinstance(word, str) or not word or any(ch.isspace() for ch in word):
            raise LexiconError(f"lexicon word {word!r} must be a non-empty string without spaces")
        types = self._types.setdefault(word, [])
        for ty in self.resolve(entry, word):
            if ty not in types:
                types.append(ty)

    def types(self, word: str) -> tuple[Ty, ...]:
        """The candidate types of ``word``, preferred first; empty when the word is unknown."""
        return tuple(self._types.get(word, ()))

    def __contains__(self, word: object) -> bool:
        return word in self._types

    def __len__(self) -> int:
        return len(self._types)

    @property
    def words(self) -> list[str]:
        return list(self._types)

    @classmethod
    def from_tagged(cls, tokens: Iterable[str], tags: Mapping[str, Sequence[Ty]] | None = None) -> Lexicon:
        """Build a lexicon from ``word_TAG`` tokens (the tagged dataset format); repeated words collect tags."""
        lexicon = cls(tags=tags)
        for token in tokens:
            word, tag = split_tagged(token)
            lexicon.add(word, lexicon.tag_types(tag, token))
        return lexicon

    def tag_types(self, tag: str, where: str = "") -> tuple[Ty, ...]:
        """The types of one POS tag; a clear error names the unknown tag (and ``where`` it was found)."""
        if tag not in self.tags:
            at = f" in {where!r}" if where else ""
            raise LexiconError(f"unknown POS tag {tag!r}{at}; known tags: {', '.join(sorted(self.tags))}")
        return self.tags[tag]


def split_tagged(token: str) -> tuple[str, str]:
    """Split ``"prepares_TV"`` into ``("prepares", "TV")`` at the last underscore."""
    word, sep, tag = token.rpartition("_")
    if not sep or not word or not tag:
        raise LexiconError(f"token {token!r} is not of the form word_TAG")
    return word, tag
