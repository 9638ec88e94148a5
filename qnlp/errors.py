"""QNLP error types: one clear message naming the word, position or file line that went wrong."""

from __future__ import annotations

from tnq.errors import TnqError


class QnlpError(TnqError, ValueError):
    """Base class of every error the qnlp package raises on purpose."""


class LexiconError(QnlpError):
    """A lexicon entry, POS tag, type string or data-file line is malformed."""


class UnknownWordError(QnlpError):
    """A sentence holds a word the lexicon has no type for; ``word`` and ``position`` say which."""

    def __init__(self, message: str, word: str, position: int) -> None:
        super().__init__(message)
        self.word = word
        self.position = position


class NoParseError(QnlpError):
    """No pregroup reduction of the sentence reaches the target type; ``partials`` holds the closest ones."""

    def __init__(self, message: str, target: object, partials: list[str]) -> None:
        super().__init__(message)
        self.target = target
        self.partials = partials


class LocatedText(str):
    """A text item (a sentence) that remembers where it was read: ``source`` (the file) and ``where``
    (``FILE:LINE``), for error messages; otherwise the plain string."""

    source: str
    where: str

    def __new__(cls, text: str, source: str, where: str) -> LocatedText:
        item = super().__new__(cls, text)
        item.source, item.where = source, where
        return item


class LocatedTokens(tuple):
    """A token tuple (a residue sequence or window) that remembers where it was read, as ``LocatedText``."""

    source: str
    where: str

    def __new__(cls, tokens: tuple, source: str, where: str) -> LocatedTokens:
        item = super().__new__(cls, tokens)
        item.source, item.where = source, where
        return item


def located(item: str | tuple, source: str, where: str) -> LocatedText | LocatedTokens:
    """``item`` (a string or a tuple) carrying its ``source`` file and ``where`` (``FILE:LINE``) for errors."""
    return LocatedText(item, source, where) if isinstance(item, str) else LocatedTokens(item, source, where)


def place(items: object, index: int) -> str:
    """Where ``items[index]`` came from: its ``FILE:LINE`` when it was read from a file, else ``item INDEX``."""
    try:
        return getattr(items[index], "where", None) or f"item {index}"  # type: ignore[index]
    except (TypeError, IndexError, KeyError):
        return f"item {index}"


def located_error(exc: QnlpError, where: str) -> QnlpError:
    """``exc`` with ``where`` prefixed to its message: same type and fields (a NoParseError keeps its partials)."""
    located = type(exc).__new__(type(exc))
    located.__dict__.update(exc.__dict__)
    located.args = (f"{where}: {exc}",)
    return located


def source(items: object, default: str) -> str:
    """The file ``items`` were read from (that of the first item), or ``default`` when they were not."""
    try:
        return getattr(items[0], "source", None) or default  # type: ignore[index]
    except (TypeError, IndexError, KeyError):
        return default
