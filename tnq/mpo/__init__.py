"""MPO (TT-matrix) mathematics on the engine's TT-SVD: ``MPO`` (numpy), activation-weighted ALS (``als``), the
contraction plans (``plan``) and the torch layers ``MPOLinear`` / ``LowRankLinear`` (imported lazily so that numpy
users do not load torch). The LLM compression tool built on them is ``tnq.compress``."""

from __future__ import annotations

from typing import Any

from .errors import MPOError
from .factorize import factorize
from .mpo import MPO
from .plan import Plan, plan_contraction

__all__ = ["MPO", "LowRankLinear", "MPOError", "MPOLinear", "Plan", "factorize", "merged_weights", "plan_contraction"]

_LAZY = {"MPOLinear": "linear", "LowRankLinear": "linear", "merged_weights": "linear"}


def __getattr__(name: str) -> Any:
    """torch-backed names load on first use, so numpy users do not import torch."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
