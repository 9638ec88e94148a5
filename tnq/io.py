"""Atomic file writes: a failed run never leaves a half-written file behind."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, fsync, then rename over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual permissions
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def save_figure(fig: object, path: str | os.PathLike, dpi: int = 120) -> None:
    """Save a matplotlib figure atomically; the format follows the file suffix (default png)."""
    import io

    suffix = Path(path).suffix.lstrip(".") or "png"
    buffer = io.BytesIO()
    fig.savefig(buffer, format=suffix, dpi=dpi)  # type: ignore[attr-defined]
    atomic_write_bytes(path, buffer.getvalue())


def write_safetensors(path: str | os.PathLike, tensors: dict, key: str, meta: dict) -> None:
    """Numpy arrays in one safetensors file whose metadata entry ``key`` holds ``meta`` as JSON; atomic."""
    import json

    from safetensors.numpy import save

    atomic_write_bytes(path, save(tensors, metadata={key: json.dumps(meta)}))


def read_safetensors(path: str | os.PathLike, key: str, error: type[Exception],
                     what: str = "file", names: Sequence[str] | None = None) -> tuple[dict, dict | None]:
    """(arrays, metadata entry ``key`` parsed from JSON, or None when absent) of a safetensors file: all its
    arrays, or only those of ``names`` it holds (the others are not read); a missing, unreadable or corrupt file
    raises ``error`` naming the path. Never unpickles anything."""
    import json

    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if not path.is_file():
        raise error(f"{path}: no such {what}")
    try:
        with safe_open(str(path), framework="numpy") as handle:
            raw = (handle.metadata() or {}).get(key)
            tensors = {name: handle.get_tensor(name) for name in handle.keys() if names is None or name in names}
    except (SafetensorError, OSError, ValueError) as exc:
        raise error(f"{path}: not a readable safetensors file ({exc})") from None
    try:
        return tensors, (json.loads(raw) if raw is not None else None)
    except json.JSONDecodeError as exc:
        raise error(f"{path}: corrupt {key} metadata ({exc})") from None
