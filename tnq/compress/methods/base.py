"""``Method``: what a compression method provides to ``compress_model`` and to saving / loading. Subclasses are
frozen dataclasses whose ``setting`` fields are the method's own options; like ``options.py`` this module imports
nothing heavy, and methods import torch only where they use it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from ..options import Settings

if TYPE_CHECKING:
    import numpy as np
    import torch
    from torch import nn

    from ..report import LayerReport


FLOAT_BYTES = 2
"""Bytes per float weight in byte budgets and reports: sizes are compared with the model in float16."""


def storage_bytes(module: nn.Module) -> int:
    """Bytes of a layer's weights as shipped: float parameters at ``FLOAT_BYTES`` each (biases excluded), quantised
    values and their scales (buffers) at their own size."""
    floats = sum(p.numel() for name, p in module.named_parameters() if not name.endswith("bias"))
    return FLOAT_BYTES * floats + sum(b.numel() * b.element_size() for b in module.buffers())


@dataclass(frozen=True)
class Method(Settings):
    """A way to replace one ``nn.Linear`` within a parameter budget. ``kind`` names the saved layer kind (several
    methods may share one: plain and whitened SVD both save ``lowrank`` layers)."""

    kind: ClassVar[str]
    fits_inputs: ClassVar[bool] = True
    """Whether the method can be fitted to calibration inputs (required by sequential calibration)."""

    @property
    def needs_gram(self) -> bool:
        """Whether ``fit`` needs the layer's input Gram matrix (then calibration text is required)."""
        return False

    @property
    def fitted(self) -> bool:
        """Whether the layers are optimised on the calibration inputs beyond a decomposition (named in times)."""
        return False

    def for_probe(self) -> Method:
        """The cheaper variant that sensitivity probes compress with (the method itself by default)."""
        return self

    def fit(self, linear: nn.Linear, max_params: int, gram: np.ndarray | None = None) -> tuple[nn.Module, LayerReport]:
        """The replacement of ``linear`` within ``max_params`` weight parameters (``gram``: X X^T of its inputs)
        and its report (name filled in by the caller)."""
        raise NotImplementedError

    def params_for_bytes(self, shape: tuple[int, int], max_bytes: int) -> int:
        """The ``max_params`` that keeps a layer of ``shape`` within ``max_bytes`` (float16 weights: 2 bytes each)."""
        return max(1, max_bytes // FLOAT_BYTES)

    def to_float(self, module: nn.Module) -> nn.Module:
        """The trainable float form of one of this method's layers (healing trains it; the layer itself by
        default)."""
        return module

    def finish(self, module: nn.Module) -> nn.Module:
        """One of this method's layers again from its ``to_float`` form after healing (as it is by default)."""
        return module

    layer: ClassVar[str]
    """Where the module class of this method's layers lives, ``"module:Class"`` (imported on first use: the
    classes need torch)."""

    @classmethod
    def layer_type(cls) -> type:
        """The module class of this method's layers."""
        import importlib

        module, name = cls.layer.split(":")
        return getattr(importlib.import_module(module), name)

    @staticmethod
    def to_spec(module: nn.Module) -> dict[str, Any]:
        """JSON description of one of this method's layers, enough to recreate it empty (``kind`` included)."""
        raise NotImplementedError

    @staticmethod
    def from_spec(spec: dict[str, Any], dtype: torch.dtype) -> nn.Module:
        """An empty layer (filled by loading the weights) from ``to_spec``'s description."""
        raise NotImplementedError

    @staticmethod
    def spec_size(spec: dict[str, Any]) -> int | None:
        """Values stored for the layer ``spec`` describes (parameters, or quantised values and their scales); None
        when the description is malformed."""
        raise NotImplementedError


def dims(value: Any, n: int) -> bool:
    """``value`` is a list of ``n`` positive integers (a shape in a layer description)."""
    return isinstance(value, list) and len(value) == n and all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 1 for d in value)


def with_saved_forms(module: nn.Module, spec: dict[str, Any]) -> dict[str, Any]:
    """``spec`` with the forms ``module`` was timed to run in ([rows, form] pairs), when it has them."""
    forms = getattr(module, "forms", None)
    return spec if forms is None else {**spec, "forms": [list(f) for f in forms]}


def layer_report(linear: nn.Linear, layer: nn.Module, M: np.ndarray, gram: np.ndarray | None, chi: list[int],
                 ) -> LayerReport:
    """The report of ``layer`` (weight matrix ``M``) replacing ``linear``: sizes, chi and relative errors."""
    import numpy as np
    import torch

    from ..fit import activation_error
    from ..report import LayerReport

    W = linear.weight.detach().cpu().to(torch.float64).numpy()
    bias = 0 if linear.bias is None else linear.bias.numel()
    norm = float(np.linalg.norm(W)) or 1.0
    return LayerReport("", (W.shape[0], W.shape[1]), linear.weight.numel(),
                       sum(p.numel() for p in layer.parameters()) - bias, chi, float(np.linalg.norm(W - M)) / norm,
                       None if gram is None else activation_error(W, M, gram))
