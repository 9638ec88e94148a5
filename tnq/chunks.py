"""Work cut into chunks with their own seeds, run here or one Dask task per chunk (``tnq.sweep``, ``tnq.sample``):
the chunks depend on the work and the seed only, never on the number of workers, so results are the same either way."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from .errors import UsageError
from .progress import progress_bar
from .state import rng_from_seed


def chunk_sizes(total: int, size: int) -> list[int]:
    """``total`` items in chunks of ``size`` (the last one shorter): ``[size, ..., total % size]``."""
    return [min(size, total - start) for start in range(0, total, size)]


def chunk_seeds(seed: int | np.random.Generator | None, count: int) -> list[np.random.SeedSequence]:
    """Independent seeds for chunks 0..count-1, spawned from ``seed`` (None: fresh entropy; an integer in
    [0, 2**32); a numpy Generator, which is advanced). Chunk i's seed depends on ``seed`` and i only."""
    if isinstance(seed, np.random.Generator):
        root = np.random.SeedSequence(seed.integers(0, 2**63, size=4).tolist())
    else:
        rng_from_seed(seed)  # refuses a bad seed with the usual message
        root = np.random.SeedSequence(seed)
    return root.spawn(count)


def check_chunk_size(chunk_size: Any, what: str = "chunk_size") -> int | None:
    """None, or a positive integer (refused with a UsageError otherwise)."""
    if chunk_size is None:
        return None
    if isinstance(chunk_size, (bool, np.bool_)) or not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1:
        raise UsageError(f"{what} must be None or an integer >= 1, got {chunk_size!r}")
    return int(chunk_size)


def _identity(value: Any) -> Any:
    return value


def map_chunks(function: Callable[..., Any], shared: Any, chunks: Sequence[tuple[Any, ...]], sizes: Sequence[int],
               client: Any = None, progress: bool | None = None, desc: str = "tnq", unit: str = "it") -> list[Any]:
    """``[function(shared, *chunk) for chunk in chunks]``: here one by one, or one Dask task per chunk on
    ``client``, with ``shared`` sent once (to the scheduler, then worker to worker; recomputed if a worker holding
    it dies). The progress bar counts ``sizes[i]`` units per finished chunk. Unfinished tasks are cancelled if
    anything fails or the caller is interrupted."""
    out: list[Any] = [None] * len(chunks)
    if not chunks:
        return out

    def finished() -> Iterator[None]:
        if client is None:
            for i, args in enumerate(chunks):
                out[i] = function(shared, *args)
                yield from range(sizes[i])
            return
        from distributed import as_completed

        job = client.submit(_identity, shared, pure=False)
        futures = [client.submit(function, job, *args, pure=False) for args in chunks]
        index = {future.key: i for i, future in enumerate(futures)}
        try:
            for future in as_completed(futures):
                i = index[future.key]
                out[i] = future.result()
                yield from range(sizes[i])
        finally:
            client.cancel([*futures, job])

    for _ in progress_bar(finished(), progress, desc, unit=unit, total=sum(sizes)):
        pass
    return out
