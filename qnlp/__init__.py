"""Quantum NLP front-end: text -> DisCoPy diagrams -> tnq circuits (see the QNLP issue).

So far: an offline pregroup lexicon and CKY parser (no lambeq model download), data readers and a synthetic
MC-like data set.
"""

from qnlp.corpus import Example, read_plain, read_tagged
from qnlp.errors import LexiconError, NoParseError, QnlpError, UnknownWordError
from qnlp.grammar import TAG_TYPES, Lexicon, N, S, parse_type
from qnlp.parser import parse, parse_tagged, parse_types

__all__ = [
    "Example", "read_plain", "read_tagged",
    "LexiconError", "NoParseError", "QnlpError", "UnknownWordError",
    "TAG_TYPES", "Lexicon", "N", "S", "parse_type",
    "parse", "parse_tagged", "parse_types",
]
