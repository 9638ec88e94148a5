"""Protein data errors: each names the sequence id, residue position, or file line that went wrong."""

from __future__ import annotations

from qnlp.errors import QnlpError


class ProteinDataError(QnlpError):
    """A sequence file, column, label, alphabet or window setting is malformed."""


class UnknownResidueError(ProteinDataError):
    """A sequence holds a residue the alphabet does not accept; ``seq_id``, ``position`` (1-based), ``residue``."""

    def __init__(self, message: str, seq_id: str | None, position: int, residue: str) -> None:
        super().__init__(message)
        self.seq_id = seq_id
        self.position = position
        self.residue = residue
