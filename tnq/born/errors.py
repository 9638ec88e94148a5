"""The Born machine's error type: bad data, options or files, named with what and where."""

from __future__ import annotations

from ..errors import TnqError


class BornError(TnqError, ValueError):
    """Invalid input to the Born machine: data shape or values, hyperparameters, a model file."""
