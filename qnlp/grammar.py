"""Pregroup lexicon: words and POS tags -> DisCoPy 1.2.2 pregroup types (no parser model, works offline)."""

from __future__ import annotations

import functools
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
    """Print a type the way ``parse_type`` reads it (``1`` for the unit)."""
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


# --- Plain English: Penn Treebank tags (from qnlp.tagger) and closed-class words -> pregroup types -------------------
# Only the basic types n (noun phrase) and s (sentence) are used, so the ansatz needs no new qubit counts. Each type
# comes with a cost; the parser minimises the summed cost of the chosen types (see qnlp.parser.parse_plain).

_ATTRIBUTIVE = N @ N.l  # determiner, adjective, noun in a compound, "not" / "only" before a noun phrase
_POSTNOMINAL = N.r @ N  # closes a noun phrase: "," or "." after it
_NOUN_PREP = N.r @ N @ N.l  # "film [about war]", possessive 's
_VP_PREP = _VERB_PHRASE.r @ _VERB_PHRASE @ N.l  # "cried [at the end]"
_S_PREP_AFTER = S.r @ S @ N.l  # "..., [in the end]"
_S_PREP_BEFORE = S @ S.l @ N.l  # "[in the end] it works"
_PRE_VP = _VERB_PHRASE @ _VERB_PHRASE.l  # n.r s s.l n: auxiliary, modal, "to", "not", pre-verbal adverb
_POST_VP = _VERB_PHRASE.r @ _VERB_PHRASE  # "works [well]"
_S_BEFORE = S @ S.l  # "[unfortunately] ...", complementizer "that", sentence-initial "but"
_S_AFTER = S.r @ S  # "... [too]", final "." / "!"
_S_COORD = S.r @ S @ S.l
_N_COORD = N.r @ N @ N.l
_VP_COORD = _VERB_PHRASE.r @ _VERB_PHRASE @ _VERB_PHRASE.l  # "is [funny and moving]"
_SUBORDINATE_AFTER = _S_COORD  # "it fails [because] ..."
_SUBORDINATE_BEFORE = S @ S.l @ S.l  # "[if] ..., ..."
_CLAUSE_COMPLEMENT = N.r @ S @ S.l  # "i think [it works]"
_DITRANSITIVE = N.r @ S @ N.l @ N.l

Typed = tuple[tuple[Ty, int], ...]  # (type, cost) pairs: 0 usual, 1 less usual, 2 rare
ALTERNATIVE_COST = 2
"""Added to the cost of a type that comes from a tag other than the tagger's (:data:`TAG_ALTERNATIVES`)."""

_NOUN: Typed = ((N, 0), (_ATTRIBUTIVE, 1))  # "film", "[horror] film"
_VERB: Typed = ((_TRANSITIVE, 0), (_INTRANSITIVE, 0), (_CLAUSE_COMPLEMENT, 1), (_DITRANSITIVE, 2))
_ADJECTIVE: Typed = ((_ATTRIBUTIVE, 0), (_INTRANSITIVE, 0), (N, 2))  # "a [good] film", "is [good]", "the [best]"
_ADVERB: Typed = ((_PRE_VP, 0), (_POST_VP, 0), (_ATTRIBUTIVE, 1), (_S_BEFORE, 1), (_S_AFTER, 1))
_PREPOSITION: Typed = ((_NOUN_PREP, 0), (_VP_PREP, 0), (_S_PREP_AFTER, 1), (_S_PREP_BEFORE, 1))
_CONJUNCTION: Typed = ((_S_COORD, 0), (_N_COORD, 0), (_VP_COORD, 0), (_S_BEFORE, 1))
_STOP: Typed = ((_S_AFTER, 0), (_POSTNOMINAL, 0))
_COMMA: Typed = ((_N_COORD, 0), (_S_AFTER, 0), (_S_BEFORE, 0), (_POSTNOMINAL, 1), (_S_COORD, 1), (_VP_COORD, 1))
_BRACKET: Typed = ((_POSTNOMINAL, 0), (_ATTRIBUTIVE, 0), (_S_AFTER, 0), (_S_BEFORE, 0))
_INFINITIVE = N @ S.l @ N  # "want [to] see it": the infinitive clause as an object
_RELATIVE: Typed = ((_SUBJECT_RELATIVE, 0), (_OBJECT_RELATIVE, 0))
_COPULA: Typed = ((_PRE_VP, 0), (_TRANSITIVE, 0), (_INTRANSITIVE, 1))  # "is [good]", "is [a film]", "there is"
_AUXILIARY: Typed = ((_PRE_VP, 0), (_TRANSITIVE, 1), (_INTRANSITIVE, 1))  # "has [seen]", "has [a plot]", "does"
_MODAL: Typed = ((_PRE_VP, 0),)
_NEGATION: Typed = ((_PRE_VP, 0), (_ATTRIBUTIVE, 2), (_S_BEFORE, 2))  # "does [not] work", "[not] a film"
_SUBORDINATOR: Typed = ((_SUBORDINATE_AFTER, 0), (_SUBORDINATE_BEFORE, 0), *((ty, c + 1) for ty, c in _PREPOSITION))

PENN_TYPES: dict[str, Typed] = {
    "NN": _NOUN, "NNS": _NOUN, "NNP": _NOUN, "NNPS": _NOUN, "PRP": ((N, 0),), "EX": ((N, 0),), "FW": _NOUN,
    "SYM": ((N, 0),), "WP": ((N, 0),), "CD": ((N, 0), (_ATTRIBUTIVE, 0)),
    "DT": ((_ATTRIBUTIVE, 0), (N, 1)), "PDT": ((_ATTRIBUTIVE, 0),), "PRP$": ((_ATTRIBUTIVE, 0),),
    "WP$": ((_ATTRIBUTIVE, 0),), "POS": ((_NOUN_PREP, 0),),
    "JJ": _ADJECTIVE, "JJR": _ADJECTIVE, "JJS": _ADJECTIVE,
    "VB": _VERB, "VBP": _VERB, "VBZ": _VERB, "VBD": _VERB,
    "VBN": (*_VERB[:2], (_ATTRIBUTIVE, 1), *_VERB[2:]), "VBG": (*_VERB[:2], (_ATTRIBUTIVE, 1), (N, 1), *_VERB[2:]),
    "MD": _MODAL, "TO": ((_INFINITIVE, 0), (_PRE_VP, 1), *((ty, c + 1) for ty, c in _PREPOSITION)),
    "RB": _ADVERB, "RBR": _ADVERB, "RBS": _ADVERB,
    "WRB": ((_S_BEFORE, 0), (_SUBORDINATE_AFTER, 0), (_SUBORDINATE_BEFORE, 0)),
    "RP": ((_POST_VP, 0), *((ty, c + 1) for ty, c in _PREPOSITION)), "IN": _PREPOSITION, "CC": _CONJUNCTION,
    "UH": ((_S_BEFORE, 0), (N, 0)), "WDT": _RELATIVE,
    ".": _STOP, ",": _COMMA, ":": ((_S_COORD, 0), (_N_COORD, 0), (_POSTNOMINAL, 1), (_S_AFTER, 1)),
    "(": _BRACKET, ")": _BRACKET, "``": _BRACKET, "''": _BRACKET, "$": ((_ATTRIBUTIVE, 0), (N, 0)),
    "#": ((_ATTRIBUTIVE, 0),),
}
"""Pregroup types of each Penn Treebank tag with their costs."""

WORD_TYPES: dict[str, Typed] = {
    **dict.fromkeys(("who", "which"), _RELATIVE),
    "that": (*_RELATIVE, (_S_BEFORE, 1), (_ATTRIBUTIVE, 2), (N, 2)),
    "whom": ((_OBJECT_RELATIVE, 0),),
    **dict.fromkeys(("is", "was", "are", "were", "be", "been", "being", "am", "'re", "'m"), _COPULA),
    "'s": ((_NOUN_PREP, 0), *_COPULA),
    **dict.fromkeys(("has", "have", "had", "having", "'ve", "do", "does", "did"), _AUXILIARY),
    **dict.fromkeys(("will", "would", "can", "could", "may", "might", "shall", "should", "must", "'ll", "'d", "ca",
                     "wo"), _MODAL),
    **dict.fromkeys(("not", "n't", "never"), _NEGATION),
    "but": ((_S_COORD, 0), (_S_BEFORE, 1), (_VP_COORD, 1), (_N_COORD, 2)),
    **dict.fromkeys(("because", "although", "though", "if", "unless", "while", "whereas", "since", "when",
                     "whether", "until", "once"), _SUBORDINATOR),
}
"""Closed-class words whose types do not depend on their tag: relative pronouns, copulas, auxiliaries, modals,
negation and subordinating conjunctions."""

TAG_ALTERNATIVES: dict[str, tuple[str, ...]] = {
    "NN": ("VB", "JJ"), "NNS": ("VBZ",), "NNP": ("NN", "JJ"), "NNPS": ("NNS",), "VB": ("NN",), "VBP": ("NN",),
    "VBZ": ("NNS",), "VBD": ("VBN",), "VBN": ("VBD", "JJ"), "VBG": ("NN", "JJ"), "JJ": ("NN", "VB", "RB"),
    "RB": ("JJ", "IN"), "IN": ("RB", "WDT"), "RP": ("RB",), "DT": ("RB",), "CD": ("NN",), "WDT": ("IN",),
}
"""Tags the tagger is often wrong between: tried, after the tagged one, when a sentence does not parse."""


NOUN_SUFFIXES = ("ist", "ian", "ment", "tion", "sion", "ness", "ity", "ship", "man", "ism", "ence", "ance", "ics",
                 "ogy", "hood")
"""Derivational endings of nouns that are rarely verbs: a noun so ending costs 2 more as a verb."""


def plain_types(word: str, tag: str, alternatives: bool = False) -> Typed:
    """(type, cost) candidates of a tagged plain word (closed-class words by the word itself, others by tag);
    with ``alternatives`` the types of commonly confused tags follow, at :data:`ALTERNATIVE_COST` more."""
    return _plain_types(word.lower(), tag, alternatives)


@functools.lru_cache(maxsize=8192)
def _plain_types(key: str, tag: str, alternatives: bool) -> Typed:
    if key in WORD_TYPES:
        return WORD_TYPES[key]
    typed = list(PENN_TYPES.get(tag, ()))
    if alternatives:
        for other in TAG_ALTERNATIVES.get(tag, ()):
            extra = ALTERNATIVE_COST + (2 if tag.startswith("NN") and other.startswith("VB")
                                        and key.endswith(NOUN_SUFFIXES) else 0)
            seen = {ty for ty, _ in typed}
            typed += [(ty, cost + extra) for ty, cost in PENN_TYPES[other] if ty not in seen]
    return tuple(typed)
