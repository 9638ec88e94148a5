"""Offline part-of-speech tagging of plain English (Penn Treebank tags), with no model download.

The model is the lexical half of Brill's rule-based tagger (Brill 1992, v1.14, trained on the Brown corpus and the
Penn Treebank) as the ``textblob`` package ships it (``textblob/en/en-lexicon.txt`` and ``en-morphology.txt``; MIT,
the data from the BSD-licensed ``pattern`` library). The files are read from the installed package, which is never
imported (importing it would load NLTK). Known words get the lexicon's most frequent tag; unknown words NN (NNP when
capitalised, CD for numbers) refined by Brill's lexical rules. Brill's contextual rules are left out, as TextBlob
does: on lower-cased text they lowered accuracy, and the parser resolves the remaining ambiguity instead, trying the
tags a word is often confused with when the sentence does not parse (``qnlp.grammar.TAG_ALTERNATIVES``).
"""

from __future__ import annotations

import functools
import importlib.util
import re
import unicodedata
from collections.abc import Sequence
from pathlib import Path

from qnlp.errors import QnlpError

_NUMBER = re.compile(r"^[0-9\-,.:/%$]+$")
_LEXICAL_COMMANDS = ("char", "haspref", "hassuf", "addpref", "addsuf", "deletepref", "deletesuf", "goodleft",
                     "goodright")
_PUNCTUATION_TAGS = {".": ".", "!": ".", "?": ".", ",": ",", ";": ":", ":": ":", "--": ":", "-": ":", "...": ":",
                     "(": "(", ")": ")", "``": "``", "''": "''", '"': "''", "'": "''"}


def _data_folder() -> Path:
    spec = importlib.util.find_spec("textblob")
    if spec is None or not spec.submodule_search_locations:
        raise QnlpError("tagging plain text needs the 'textblob' package (its English tagger data): "
                        "pip install textblob, or give word_TAG tokens or a --lexicon")
    return Path(list(spec.submodule_search_locations)[0]) / "en"


def _rules(path: Path) -> list[list[str]]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise QnlpError(f"cannot read the tagger data {path}: {exc.strerror or exc}") from None
    return [line.split() for line in lines if line.strip() and not line.startswith(";;;")]


class BrillTagger:
    """Brill's transformation-based tagger over a lexicon, lexical (unknown-word) rules and contextual rules."""

    def __init__(self, lexicon: dict[str, str], lexical: list[list[str]]):
        self.lexicon = lexicon
        self.lexical = [self._lexical_rule(rule) for rule in lexical]

    @staticmethod
    def _lexical_rule(rule: list[str]) -> tuple[str | None, str, str, str]:
        """(required current tag or None, command, argument, new tag) from ``NN s fhassuf 1 NNS x`` or
        ``ly hassuf 2 RB x``."""
        if len(rule) > 2 and rule[2].lower().lstrip("f") in _LEXICAL_COMMANDS and rule[2].lower().startswith("f"):
            return rule[0], rule[2].lower()[1:], rule[1], rule[-2]
        return None, rule[1].lower(), rule[0], rule[-2]

    def _known(self, word: str) -> str | None:
        """The lexicon's tag, also for a capitalised sentence start or lower-cased text ("i", "paris")."""
        tag = self.lexicon.get(word)
        if tag is None:
            tag = self.lexicon.get(word.lower() if word[:1].isupper() else word.capitalize())
        return tag

    def _unknown(self, word: str, previous: str | None, following: str | None) -> str:
        if word in _PUNCTUATION_TAGS:
            return _PUNCTUATION_TAGS[word]
        if _NUMBER.match(word):
            return "CD"
        if word.istitle():
            return "NNP"
        tag = "NN"
        for required, command, x, new in self.lexical:
            if required is not None and tag != required:
                continue
            if ((command == "char" and x in word) or (command == "haspref" and word.startswith(x))
                    or (command == "hassuf" and word.endswith(x))
                    or (command == "addpref" and x + word in self.lexicon)
                    or (command == "addsuf" and word + x in self.lexicon)
                    or (command == "deletepref" and word.startswith(x) and word[len(x):] in self.lexicon)
                    or (command == "deletesuf" and word.endswith(x) and word[:-len(x)] in self.lexicon)
                    or (command == "goodleft" and x == following)
                    or (command == "goodright" and x == previous)):
                tag = new
        return tag

    def tag(self, words: Sequence[str]) -> list[str]:
        """Penn Treebank tags of ``words`` (already tokenised)."""
        tags = [self._known(w) for w in words]
        for i, word in enumerate(words):
            if tags[i] is None:
                tags[i] = self._unknown(word, words[i - 1] if i else None,
                                        words[i + 1] if i + 1 < len(words) else None)
        return tags


@functools.lru_cache(maxsize=1)
def default_tagger() -> BrillTagger:
    """The English tagger, loaded once from the installed ``textblob`` package's data files."""
    folder = _data_folder()
    lexicon = {r[0]: r[1] for r in _rules(folder / "en-lexicon.txt") if len(r) >= 2}
    return BrillTagger(lexicon, _rules(folder / "en-morphology.txt"))


def check_text(word: str) -> str | None:
    """Why ``word`` cannot be tagged (control characters, or letters of a script other than Latin), or None."""
    for ch in word:
        category = unicodedata.category(ch)
        if category[0] == "C":
            return f"control or unassigned character U+{ord(ch):04X}"
        if category[0] == "L" and not unicodedata.name(ch, "").startswith("LATIN"):
            return f"character {ch!r} (U+{ord(ch):04X}) is not in the Latin script the English tagger knows"
    return None


def tag(words: Sequence[str]) -> list[str]:
    """Penn Treebank tags of tokenised English ``words`` with the default (offline) tagger."""
    return default_tagger().tag(words)
