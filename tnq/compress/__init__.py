"""LLM compression (``tnq compress``): a transformers model's linears replaced by compressed layers from the method
registry (``methods``: MPO, truncated and whitened SVD), calibrated, healed, evaluated and saved. The settings are
dataclasses (``options``); torch / transformers-backed names load on first use."""

from __future__ import annotations

from typing import Any

from .methods import METHODS, Method, get_method
from .options import Calibration, Evaluation, Healing, Output, Text, from_names

__all__ = ["METHODS", "Budget", "Calibration", "CompressResult", "CompressionReport", "Evaluation", "Healing",
           "LayerReport", "LoadedModel", "Method", "Output", "Text", "compress_model", "from_names", "get_method",
           "load_compressed", "load_model", "save_compressed"]

_LAZY = {"Budget": "budget", "compress_model": "pipeline", "CompressionReport": "report", "CompressResult": "report",
         "LayerReport": "report", "load_model": "models", "LoadedModel": "models", "load_compressed": "persist",
         "save_compressed": "persist"}


def __getattr__(name: str) -> Any:
    """torch / transformers-backed names load on first use, so the command line starts without torch."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
