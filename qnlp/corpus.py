"""Read labelled sentence files: ``<label> <sentence>`` per line, plain (lambeq MC/RP) or ``word_TAG`` tagged."""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from qnlp.errors import LexiconError
from qnlp.files import read_lines, read_text
from qnlp.grammar import split_tagged

_PUNCTUATION = {".", "?", "!"}
_LABEL = re.compile(r"[+-]?[0-9]{1,18}")  # an integer class label (int() would also take "1_0" or other digits)


@dataclass(frozen=True)
class Example:
    """One labelled sentence; ``tags`` is None for plain (untagged) text."""

    label: int
    words: tuple[str, ...]
    tags: tuple[str, ...] | None = None
    where: str | None = field(default=None, compare=False, repr=False)
    """``FILE:LINE`` of a sentence read from a file (None otherwise); not part of equality."""

    @property
    def sentence(self) -> str:
        return " ".join(self.words)

    @property
    def tagged(self) -> list[str]:
        """The ``word_TAG`` tokens (the tagged file format); needs tags."""
        if self.tags is None:
            raise LexiconError(f"sentence {self.sentence!r} has no POS tags")
        return [f"{w}_{t}" for w, t in zip(self.words, self.tags)]


def _read(path: str | os.PathLike, tagged: bool | None) -> list[Example]:
    path = Path(path)
    return _parse_lines(path, enumerate(read_lines(path, LexiconError), start=1), tagged)


def _is_tagged(lines: list[tuple[int, str]]) -> bool:
    tokens = [t for _, line in lines for t in line.strip().split()[1:] if t not in _PUNCTUATION]
    return bool(tokens) and all("_" in t.strip("_") for t in tokens)


def _parse_lines(path: Path, numbered: Iterable[tuple[int, str]], tagged: bool | None) -> list[Example]:
    """``label token token ...`` lines, each with its line number; ``tagged=None`` decides from the tokens. A file
    without any sentence is an error naming it."""
    lines = [(number, line) for number, line in numbered if line.strip()]
    if tagged is None:
        tagged = _is_tagged(lines)
    examples = []
    for number, line in lines:
        label_text, _, rest = line.strip().replace("\t", " ").partition(" ")
        tokens = [t for t in rest.split() if t not in _PUNCTUATION]
        if not _LABEL.fullmatch(label_text):
            raise LexiconError(f"{path}:{number}: label {label_text!r} is not an integer")
        if not tokens:
            raise LexiconError(f"{path}:{number}: no sentence after the label")
        where = f"{path}:{number}"
        if not tagged:
            examples.append(Example(int(label_text), tuple(tokens), where=where))
            continue
        try:
            pairs = [split_tagged(t) for t in tokens]
        except LexiconError as exc:
            raise LexiconError(f"{where}: {exc}") from None
        examples.append(Example(int(label_text), tuple(w for w, _ in pairs), tuple(t for _, t in pairs), where))
    if not examples:
        raise LexiconError(f"{path}: no labelled sentences in the file")
    return examples


def read_plain(path: str | os.PathLike) -> list[Example]:
    """Read ``label word word ... .`` lines; sentence-final punctuation tokens are dropped."""
    return _read(path, tagged=False)


def read_tagged(path: str | os.PathLike) -> list[Example]:
    """Read ``label word_TAG word_TAG ...`` lines (the tagged/ copies of the MC and RP data)."""
    return _read(path, tagged=True)


def format_tagged(examples: list[Example]) -> str:
    """The tagged file text for ``examples`` (inverse of ``read_tagged``)."""
    return "".join(f"{e.label} {' '.join(e.tagged)}\n" for e in examples)


def read_csv(path: str | os.PathLike, text_column: str = "sentence", label_column: str = "label") -> list[Example]:
    """Read a CSV (or ``.tsv``) file with a header row; sentences may be plain or ``word_TAG`` tagged."""
    import csv

    path = Path(path)
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    reader = csv.DictReader(io.StringIO(read_text(path, LexiconError), newline=""), delimiter=delimiter)
    lines = []
    try:
        missing = [c for c in (text_column, label_column) if c not in (reader.fieldnames or [])]
        if missing:
            raise LexiconError(f"{path}:1: no column(s) {missing}; the header has {reader.fieldnames}")
        for row in reader:  # a row's line number is that of its last line (a quoted field may span lines)
            lines.append((reader.line_num, f"{row[label_column] or ''} {row[text_column] or ''}"))
    except csv.Error as exc:
        raise LexiconError(f"{path}:{reader.line_num}: malformed CSV row ({exc})") from None
    return _parse_lines(path, lines, tagged=None)


def load_examples(path: str | os.PathLike, text_column: str = "sentence", label_column: str = "label") -> list[Example]:
    """Read a lambeq-format file (``label sentence`` lines) or a CSV/TSV file, plain or tagged: the file is read
    as tagged when every token is ``word_TAG``."""
    path = Path(path)
    if not path.is_file():
        raise LexiconError(f"{path}: no such data file")
    if path.suffix.lower() in (".csv", ".tsv"):
        return read_csv(path, text_column, label_column)
    return _read(path, tagged=None)
