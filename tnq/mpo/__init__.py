"""MPO (TT-matrix) compression of weight matrices on the engine's TT-SVD: ``MPO`` (numpy) and ``MPOLinear``
(a torch ``nn.Linear`` replacement, imported lazily so that numpy users do not load torch)."""

from __future__ import annotations

from typing import Any

from .errors import MPOError
from .factorize import factorize
from .mpo import MPO
from .plan import Plan, plan_contraction

__all__ = ["MPO", "MPOError", "MPOLinear", "Plan", "factorize", "plan_contraction", "compress_model",
           "load_model", "load_compressed", "save_compressed", "LowRankLinear", "CompressionReport", "merged_weights"]

_LAZY = {"MPOLinear": "linear", "compress_model": "compress", "CompressionReport": "compress", "load_model": "models",
         "load_compressed": "persist", "save_compressed": "persist", "LowRankLinear": "baselines",
         "merged_weights": "linear"}


def __getattr__(name: str) -> Any:
    """torch / transformers-backed names load on first use, so numpy users do not import torch."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
