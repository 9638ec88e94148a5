"""The MPO compression error type: bad matrices, factorisations or budgets, named with what and where."""

from __future__ import annotations

from ..errors import TnqError


class MPOError(TnqError, ValueError):
    """Invalid input to MPO compression: matrix shape or values, factors, bond/error/parameter budgets."""
