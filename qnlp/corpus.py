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
    return _parse_lines(path, path.read_text().splitlines(), tagged, first_line=1)


def _is_tagged(lines: list[str]) -> bool:
    tokens = [t for line in lines for t in line.strip().split()[1:] if t not in _PUNCTUATION]
    return bool(tokens) and all("_" in t.strip("_") for t in tokens)


def _parse_lines(path: Path, lines: list[str], tagged: bool | None, first_line: int) -> list[Example]:
    """``label token token ...`` lines; ``tagged=None`` decides from the tokens."""
    if tagged is None:
        tagged = _is_tagged(lines)
    examples = []
    for number, line in enumerate(lines, start=first_line):
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


def read_csv(path: str | os.PathLike, text_column: str = "sentence", label_column: str = "label") -> list[Example]:
    """Read a CSV (or ``.tsv``) file with a header row; sentences may be plain or ``word_TAG`` tagged."""
    import csv

    path = Path(path)
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle, delimiter=delimiter)
        missing = [c for c in (text_column, label_column) if c not in (reader.fieldnames or [])]
        if missing:
            raise LexiconError(f"{path}: no column(s) {missing}; the header has {reader.fieldnames}")
        lines = [f"{row[label_column]} {row[text_column]}" for row in reader]
    return _parse_lines(path, lines, tagged=None, first_line=2)


def load_examples(path: str | os.PathLike, text_column: str = "sentence", label_column: str = "label") -> list[Example]:
    """Read a lambeq-format file (``label sentence`` lines) or a CSV/TSV file, plain or tagged: the file is read
    as tagged when every token is ``word_TAG``."""
    path = Path(path)
    if not path.is_file():
        raise LexiconError(f"{path}: no such data file")
    if path.suffix.lower() in (".csv", ".tsv"):
        return read_csv(path, text_column, label_column)
    return _parse_lines(path, path.read_text(encoding="utf-8").splitlines(), tagged=None, first_line=1)
