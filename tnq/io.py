"""Atomic file writes: a failed run never leaves a half-written file behind."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
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
    except (SafetensorError, OSError, ValueError, TypeError, AttributeError) as exc:
        # TypeError / AttributeError: dtypes numpy cannot hold (bf16, fp8) in a well-formed header
        raise error(f"{path}: not a readable safetensors file ({type(exc).__name__}: {exc})") from None
    try:
        return tensors, (json.loads(raw) if raw is not None else None)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, over-long integers, absurd nesting
        raise error(f"{path}: corrupt {key} metadata ({type(exc).__name__}: {str(exc)[:200]})") from None


# Formats matplotlib writes with its default backends (tests check this against matplotlib's own list); kept
# static so an output path is checked before matplotlib is imported and before any work starts.
PLOT_FORMATS = ("png", "pdf", "svg", "svgz", "eps", "ps", "jpg", "jpeg", "tif", "tiff", "webp", "pgf")


def check_output(path: str | os.PathLike, *, option: str, inputs: Sequence[str | os.PathLike] = (),
                 suffixes: Sequence[str] | None = None, folder: bool = False) -> Path:
    """Refuse, before any work starts, an output that would lose data or fail at the end: ``path`` equal to one of
    ``inputs``, inside one, or (for a ``folder`` output, which is replaced whole) containing one; a suffix not in
    ``suffixes``; a place that cannot be written. Raises ``UsageError`` naming ``option``; returns the path."""
    from .errors import UsageError

    out = Path(path)
    target = out.expanduser().resolve()
    for given in inputs:
        source = Path(given).expanduser().resolve()
        if target == source:
            raise UsageError(f"{option} {str(out)!r} is the input {str(given)!r}: choose another path")
        if source in target.parents:
            raise UsageError(f"{option} {str(out)!r} is inside the input {str(given)!r}: choose another path")
        if target in source.parents:
            raise UsageError(f"{option} {str(out)!r} contains the input {str(given)!r}: choose another path")
    if suffixes is not None:
        suffix = out.suffix.lower().lstrip(".")
        if suffix not in suffixes:
            raise UsageError(f"{option} {str(out)!r}: unsupported file type {('.' + suffix) if suffix else '(none)'}"
                             f"; use one of {', '.join('.' + s for s in suffixes)}")
    if not folder and target.is_dir():
        raise UsageError(f"{option} {str(out)!r} is a folder; give a file name")
    if folder and target.exists() and not target.is_dir():
        raise UsageError(f"{option} {str(out)!r} is a file; give a folder")
    parent = target if folder and target.is_dir() else target.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise UsageError(f"{option} {str(out)!r}: {str(parent)!r} is a file, not a folder")
    try:  # a real probe: permission bits say nothing for root or on a read-only file system
        with tempfile.TemporaryFile(dir=parent):
            pass
    except OSError as exc:
        raise UsageError(f"{option} {str(out)!r}: cannot write in {str(parent)!r} ({exc.strerror or exc})") from None
    return out


def check_plot(path: str | os.PathLike | None, option: str = "--plot",
               inputs: Sequence[str | os.PathLike] = ()) -> None:
    """``check_output`` for a matplotlib figure: the suffix must be a format matplotlib writes; None passes."""
    if path is not None:  # no suffix: save_figure writes PNG
        check_output(path, option=option, inputs=inputs, suffixes=PLOT_FORMATS if Path(path).suffix else None)


def check_distinct(outputs: Mapping[str, str | os.PathLike | None]) -> None:
    """Refuse two outputs (option name -> path; None skipped) that name the same file: the second would overwrite
    the first."""
    from .errors import UsageError

    seen: dict[Path, str] = {}
    for option, path in outputs.items():
        if path is None:
            continue
        target = Path(path).expanduser().resolve()
        if target in seen:
            raise UsageError(f"{seen[target]} and {option} name the same file {str(path)!r}: choose different paths")
        seen[target] = option
