"""Read labelled sentence files: ``<label> <sentence>`` per line, plain (lambeq MC/RP) or ``word_TAG`` tagged."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from qnlp.errors import LexiconError
from qnlp.grammar import split_tagged

_PUNCTUATION = {".", "?", "!"}


@dataclass(frozen=True)
class Example:
    """One labelled sentence; ``tags`` is None for plain (untagged) text."""

    label: int
    words: tuple[str, ...]
    tags: tuple[str, ...] | None = None

    @property
    def sentence(self) -> str:
        return " ".join(self.words)

    @property
    def tagged(self) -> list[str]:
        """The ``word_TAG`` tokens (the tagged file format); needs tags."""
        if self.tags is None:
            raise LexiconError(f"sentence {self.sentence!r} has no POS tags")
        return [f"{w}_{t}" for w, t in zip(self.words, self.tags)]


def _read(path: str | os.PathLike, tagged: bool) -> list[Example]:
    path = Path(path)
    examples = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        label_text, _, rest = line.strip().partition(" ")
        tokens = [t for t in rest.split() if t not in _PUNCTUATION]
        try:
            label = int(label_text)
        except ValueError:
            raise LexiconError(f"{path}:{number}: label {label_text!r} is not an integer") from None
        if not tokens:
            raise LexiconError(f"{path}:{number}: no sentence after the label")
        if not tagged:
            examples.append(Example(label, tuple(tokens)))
            continue
        try:
            pairs = [split_tagged(t) for t in tokens]
        except LexiconError as exc:
            raise LexiconError(f"{path}:{number}: {exc}") from None
        examples.append(Example(label, tuple(w for w, _ in pairs), tuple(t for _, t in pairs)))
    return examples


def read_plain(path: str | os.PathLike) -> list[Example]:
    """Read ``label word word ... .`` lines; sentence-final punctuation tokens are dropped."""
    return _read(path, tagged=False)


def read_tagged(path: str | os.PathLike) -> list[Example]:
    """Read ``label word_TAG word_TAG ...`` lines (the tagged/ copies of the MC and RP data)."""
    return _read(path, tagged=True)


def format_tagged(examples: list[Example]) -> str:
    """The tagged file text for ``examples`` (inverse of :func:`read_tagged`)."""
    return "".join(f"{e.label} {' '.join(e.tagged)}\n" for e in examples)
