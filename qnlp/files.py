"""Text data files as the qnlp readers see them: UTF-8 (a leading BOM dropped, ``.gz`` decompressed), lines split
at ``\\n``, ``\\r\\n`` or ``\\r`` only (so line numbers match an editor's), and every failure one error naming the
file, and for a byte that is not UTF-8 its line and byte offset."""

from __future__ import annotations

import codecs
import gzip
import os
import zlib
from pathlib import Path

from qnlp.errors import QnlpError


def _read_bytes(p: Path, error: type[QnlpError]) -> bytes:
    """The bytes of ``p`` (``.gz`` decompressed); a missing, unreadable or corrupt file raises ``error``."""
    try:
        data = p.read_bytes()
        return gzip.decompress(data) if p.suffix.lower() == ".gz" else data
    except (OSError, EOFError, zlib.error) as exc:
        raise error(f"{p}: cannot read ({getattr(exc, 'strerror', None) or exc})") from None


def read_byte_lines(path: str | os.PathLike, error: type[QnlpError] = QnlpError) -> list[bytes]:
    """The lines of ``path`` undecoded (a leading BOM dropped, the final line end not a line of its own), for a
    reader that decodes, and may skip, line by line."""
    data = _read_bytes(Path(path), error)
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8):]
    lines = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
    if lines and not lines[-1].strip():
        lines.pop()
    return lines


def read_text(path: str | os.PathLike, error: type[QnlpError] = QnlpError) -> str:
    """The text of ``path``; a missing, unreadable, corrupt ``.gz`` or non-UTF-8 file raises ``error``."""
    p = Path(path)
    data = _read_bytes(p, error)
    skip = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    try:
        return data[skip:].decode("utf-8")
    except UnicodeDecodeError as exc:
        offset = skip + exc.start
        line = data.count(b"\n", 0, offset) + 1
        raise error(f"{p}:{line}: not UTF-8 text (byte 0x{data[offset]:02x} at byte offset {offset}"
                    f"{' of the decompressed data' if p.suffix.lower() == '.gz' else ''})") from None


def read_lines(path: str | os.PathLike, error: type[QnlpError] = QnlpError) -> list[str]:
    """The lines of ``read_text`` (line ``k`` of the file is item ``k - 1``)."""
    return read_text(path, error).replace("\r\n", "\n").replace("\r", "\n").split("\n")
