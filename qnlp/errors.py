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
