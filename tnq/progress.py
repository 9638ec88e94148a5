"""Progress bars that appear only when a run is slow (tqdm's ``delay``)."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

NOTE_SECONDS = 5.0
"""Work expected to take longer than this is announced on stderr before it starts (unless progress is off)."""


def progress_bar(items: Iterable[Any], progress: bool | None, desc: str, unit: str = "it",
                 total: int | None = None) -> Iterable[Any]:
    """``progress=None`` shows a bar after two seconds, ``True`` at once, ``False`` never."""
    if progress is False:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, desc=desc, unit=unit, total=total, delay=0 if progress else 2.0,
                leave=False, mininterval=0.5)


def announce(message: str, progress: bool | None, expected_seconds: float) -> None:
    """Say on stderr what long work is about to run and how long it should take: always with ``progress=True``,
    with None when ``expected_seconds`` exceeds NOTE_SECONDS, never with False."""
    if progress or (progress is None and expected_seconds > NOTE_SECONDS):
        print(message, file=sys.stderr, flush=True)
