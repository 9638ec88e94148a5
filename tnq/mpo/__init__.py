"""MPO (TT-matrix) compression of weight matrices on the engine's TT-SVD: ``MPO`` (numpy) and ``MPOLinear``
(a torch ``nn.Linear`` replacement, imported lazily so that numpy users do not load torch)."""

from __future__ import annotations

from typing import Any

from .errors import MPOError
from .factorize import factorize
from .mpo import MPO
from .plan import Plan, plan_contraction

__all__ = ["MPO", "MPOError", "MPOLinear", "Plan", "factorize", "plan_contraction"]


def __getattr__(name: str) -> Any:
    if name == "MPOLinear":
        from .linear import MPOLinear

        return MPOLinear
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
