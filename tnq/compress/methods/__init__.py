"""The compression-method registry: method name -> ``Method`` class (``base.py``), one file per method. Adding a
method is one new file and one line here; saving and loading find its layers through ``layer_kinds``. Imports
nothing heavy (the command line lists the methods and their options without torch)."""

from __future__ import annotations

import importlib
from typing import Any

from ...mpo.errors import MPOError
from .base import Method

REGISTRY = {
    "mpo": ".mpo:MPOMethod",
    "svd": ".low_rank:TruncatedSVD",
    "whitened-svd": ".low_rank:WhitenedSVD",
    "rtn": ".quantise:RoundToNearest",
    "gptq": ".gptq:GPTQ",
    "gptq+lowrank": ".gptq:GPTQLowRank",
    "whitened-svd+int8": ".quantise:Int8WhitenedSVD",
    "mpo+int8": ".quantise:Int8MPO",
}
"""Method name -> ``module:class`` (a module name starting with a dot is in this package)."""

METHODS = tuple(REGISTRY)
"""The registered names (the registry as the module was loaded)."""


def method_class(name: str) -> type[Method]:
    """The ``Method`` class registered as ``name``."""
    if name not in REGISTRY:
        raise MPOError(f"unknown method {name!r}; choose from {', '.join(REGISTRY)}")
    module, cls = REGISTRY[name].split(":")
    return getattr(importlib.import_module(module, __name__), cls)


def get_method(method: Any) -> Method:
    """A ``Method`` from its registered name (default settings) or as given."""
    if isinstance(method, Method):
        return method
    if not isinstance(method, str):
        raise MPOError(f"method must be a method name or a Method, got {type(method).__name__}")
    return method_class(method)()


def method_name(method: Method) -> str:
    """The registered name of ``method``'s class (its class name when it is not registered)."""
    return next((name for name in REGISTRY if type(method) is method_class(name)), type(method).__name__)


def layer_kinds() -> dict[str, type[Method]]:
    """Saved layer kind -> the method class that describes and rebuilds such layers."""
    return {cls.kind: cls for cls in map(method_class, REGISTRY)}


__all__ = ["METHODS", "REGISTRY", "Method", "get_method", "layer_kinds", "method_class", "method_name"]
