"""Progress bars that appear only when a run is slow (tqdm's ``delay``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def progress_bar(items: Iterable[Any], progress: bool | None, desc: str, unit: str = "it",
                 total: int | None = None) -> Iterable[Any]:
    """``progress=None`` shows a bar after two seconds, ``True`` at once, ``False`` never."""
    if progress is False:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, desc=desc, unit=unit, total=total, delay=0 if progress else 2.0,
                leave=False, mininterval=0.5)
