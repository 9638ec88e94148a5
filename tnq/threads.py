"""BLAS thread control. Many small SVDs (an MPS sweep) run far faster on one BLAS thread: with
threads spinning on a busy machine they were measured 30x slower. Large factorisations keep the
library default."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from functools import lru_cache
from typing import Any


@lru_cache(maxsize=1)
def _controller() -> Any:
    """One scan of the loaded BLAS libraries (a fresh scan costs milliseconds per call)."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


@contextlib.contextmanager
def blas_threads(limit: int | None) -> Iterator[None]:
    """Limit BLAS to ``limit`` threads inside the block (``None``: leave the library default)."""
    if limit is None:
        yield
        return
    with _controller().limit(limits=limit, user_api="blas"):
        yield


def mps_blas_threads(max_bond: int | None, requested: int | str | None = "auto") -> int | None:
    """``auto``: one thread unless bonds may reach 512, where multi-threaded SVDs start to pay."""
    if requested != "auto":
        return requested  # type: ignore[return-value]
    return None if max_bond is not None and max_bond >= 512 else 1
