"""Save and load classifiers: one safetensors file whose tensors are the word parameters and whose metadata is a
JSON description. Written atomically; never pickled. A model loads back without the training data: the JSON holds
the compiler's config. Training checkpoints are ``tnq.training`` checkpoints; this module writes and checks the
classifier's state in them (parameters, optimiser moments, symbols and classes)."""

from __future__ import annotations

import copy
import os
from typing import TYPE_CHECKING, Any

import numpy as np

from qnlp.errors import QnlpError
from tnq.checks import Number
from tnq.io import read_safetensors, write_safetensors
from tnq.training.params import plain

if TYPE_CHECKING:
    from qnlp.model import QuantumClassifier

MODEL_FORMAT = "qnlp.QuantumClassifier/1"


def write_description(path: str | os.PathLike, tensors: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
    """Float64 ``tensors`` and the JSON description ``meta`` in one qnlp safetensors file, written atomically."""
    tensors = {k: np.ascontiguousarray(v, dtype=np.float64) for k, v in tensors.items()}
    write_safetensors(path, tensors, "qnlp", meta)


def read_description(path: str | os.PathLike, fmt: str = MODEL_FORMAT) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """(tensors, JSON description) of a qnlp file of format ``fmt``; anything else is an error naming the file."""
    tensors, meta = read_safetensors(path, "qnlp", QnlpError)
    if not isinstance(meta, dict) or meta.get("format") != fmt:
        found = meta.get("format") if isinstance(meta, dict) else None
        raise QnlpError(f"{path}: not a {fmt} file (format {found!r})")
    return tensors, meta




def _is_int(value: Any, minimum: int = 0) -> bool:
    """An integer >= minimum."""
    return Number(integer=True, minimum=minimum).accepts(value)


def _is_names(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) and v for v in value) and len(set(value)) == len(value)


def _is_classes(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and len(set(map(repr, value))) == len(value) and (
        all(_is_int(v, -2**63) for v in value) or all(isinstance(v, str) for v in value))


_CHECKS: dict[str, tuple[Any, str]] = {
    "params": (lambda v: isinstance(v, dict), "an object"),
    "inputs": (lambda v: isinstance(v, dict), "an object"),
    "pipeline": (lambda v: isinstance(v, dict), "an object"),
    "symbols": (_is_names, "a list of distinct symbol names"),
    "classes": (_is_classes, "a non-empty list of distinct labels, all integers or all strings"),
    "history": (lambda v: isinstance(v, list) and all(isinstance(r, dict) for r in v), "a list of objects"),
    "best_epoch": (lambda v: v is None or _is_int(v), "null or an integer >= 0"),
    "spsa_k": (lambda v: v is None or _is_int(v), "null or an integer >= 0"),
    "adam_step": (lambda v: v is None or (Number(minimum=1).accepts(v) and float(v).is_integer()),
                  "null or a whole number >= 1"),
    "adam_groups": (lambda v: v is None or isinstance(v, list), "null or a list"),
}


def _fields(path: str | os.PathLike, meta: dict[str, Any], *names: str) -> list[Any]:
    """The values of ``names`` in a file's JSON description, each checked (``_CHECKS``); a missing or malformed
    one is an error naming the file and the field."""
    out = []
    for name in names:
        valid, want = _CHECKS[name]
        if name not in meta or not valid(meta[name]):
            got = repr(meta[name])[:80] if name in meta else "nothing"
            raise QnlpError(f"{path}: field {name!r} of the description must be {want}, got {got}")
        out.append(meta[name])
    return out


def _vector(path: str | os.PathLike, tensors: dict[str, np.ndarray], name: str, size: int) -> np.ndarray:
    """Tensor ``name``: ``size`` finite floats (as float64); anything else is an error naming the file."""
    value = tensors.get(name)
    if value is None:
        raise QnlpError(f"{path}: no tensor {name!r}")
    if value.shape != (size,) or not np.issubdtype(value.dtype, np.floating) or not np.isfinite(value).all():
        raise QnlpError(f"{path}: tensor {name!r} must hold {size} finite floats (one per symbol), got shape "
                        f"{value.shape} of {value.dtype}{'' if np.isfinite(value).all() else ' with inf or nan'}")
    return value.astype(np.float64)


def _classes(model: QuantumClassifier) -> list[Any]:
    return [c.item() if hasattr(c, "item") else c for c in model.classes_]


def save_model(model: QuantumClassifier, path: str | os.PathLike) -> None:
    """Write ``model`` (weights, settings, compiler config, classes, history, ``inputs_``) to ``path`` atomically."""
    model._fitted()
    config = getattr(model.compile, "config", None)
    if config is None:
        raise QnlpError("the classifier's compiler has no 'config', so the model could not be rebuilt from "
                        "a file; use qnlp.Pipeline as the compiler")
    meta = {"format": MODEL_FORMAT, "params": _params(model), "pipeline": config, "symbols": model.symbols_,
            "classes": _classes(model), "history": model.history_, "best_epoch": model.best_epoch_,
            "inputs": getattr(model, "inputs_", {})}
    write_description(path, {"weights": model.weights_}, meta)


def load_model(path: str | os.PathLike, cls: type) -> QuantumClassifier:
    """A classifier saved by ``save_model``, rebuilt as ``cls`` (QuantumClassifier or a subclass). Every field is
    checked: a damaged or foreign file is one error naming it."""
    tensors, meta = read_description(path)
    params, config, symbols, classes, history, best_epoch = _fields(
        path, meta, "params", "pipeline", "symbols", "classes", "history", "best_epoch")
    inputs = _fields(path, meta, "inputs")[0] if "inputs" in meta else {}  # files written before it: none
    weights = _vector(path, tensors, "weights", len(symbols))
    try:  # the settings go through the classifier's own checks (QnlpError is a ValueError)
        model = cls(_compiler_class(config, path).from_config(config), **params)
        model._validate_params()
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise QnlpError(f"{path}: the saved settings do not rebuild a classifier ({exc})") from None
    model.symbols_, model.classes_, model.weights_ = list(symbols), np.asarray(classes), weights
    model.history_, model.best_epoch_, model.inputs_ = history, best_epoch, inputs
    return model


COMPILERS = ("qnlp.pipeline:Pipeline", "qnlp.protein.compile:ProteinCompiler")
"""The classes a model file may name as its compiler (``config["compiler"]``; none: ``qnlp.Pipeline``)."""


def _compiler_class(config: dict[str, Any], path: str | os.PathLike) -> Any:
    """The class that rebuilds a compiler from its config: one of ``COMPILERS`` (so a model file cannot make us
    import arbitrary code, nor rebuild something that is not a compiler), else ``qnlp.Pipeline``."""
    import importlib

    name = config.get("compiler", COMPILERS[0])
    if name not in COMPILERS:
        raise QnlpError(f"{path}: compiler {name!r} is not one of {', '.join(COMPILERS)}")
    module, _, cls = name.partition(":")
    return getattr(importlib.import_module(module), cls)


def _params(model: QuantumClassifier) -> dict[str, Any]:
    """The classifier's parameters as JSON values (the compiler is saved apart, as its config)."""
    return {name: value for name, value in plain(model.get_params(deep=False)).items() if name != "compile"}


def training_state(model: QuantumClassifier, theta: np.ndarray,
                   state: dict[str, Any]) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """A training state as checkpoint tensors and JSON (copies): the parameters ``theta``, Adam's moments or the
    SPSA step count of ``state``, and the symbols and classes they belong to."""
    tensors = {"theta": np.array(theta, dtype=np.float64)}
    adam = state.get("adam")
    slot = adam["state"].get(0, {}) if adam is not None else {}
    for key in ("exp_avg", "exp_avg_sq"):
        if key in slot:
            tensors[f"adam_{key}"] = slot[key].numpy().astype(np.float64)  # a copy: Adam updates them in place
    meta = {"symbols": list(model.symbols_), "classes": _classes(model), "spsa_k": state.get("spsa_k"),
            "adam_step": float(slot["step"]) if "step" in slot else None,
            "adam_groups": copy.deepcopy(adam["param_groups"]) if adam is not None else None}
    return tensors, meta


RESTART = "pass --no-resume to start over (Python: fit(..., resume=False)), delete it or choose another --checkpoint"
"""How to train from scratch when a checkpoint cannot be resumed (the end of every such error)."""


def restore_state(model: QuantumClassifier, path: str, tensors: dict[str, np.ndarray],
                  meta: dict[str, Any]) -> tuple[np.ndarray, dict[str, Any]]:
    """(theta, optimiser state) of a state written by ``training_state``, checked against the model: the same
    symbols and classes, finite parameters, an Adam state torch can use. Errors name ``path``."""
    symbols, classes, spsa_k, adam_step, adam_groups = _fields(
        path, meta, "symbols", "classes", "spsa_k", "adam_step", "adam_groups")
    if symbols != model.symbols_ or classes != _classes(model):
        raise QnlpError(f"{path}: checkpoint was written for other data (its symbols or classes differ)")
    size = len(symbols)
    theta = _vector(path, tensors, "theta", size)
    state: dict[str, Any] = {}
    if spsa_k is not None:
        state["spsa_k"] = spsa_k
    if adam_groups is not None and adam_step is not None:
        import torch

        squares = _vector(path, tensors, "adam_exp_avg_sq", size)
        if (squares < 0).any():
            raise QnlpError(f"{path}: tensor 'adam_exp_avg_sq' holds negative values")
        state["adam"] = {"state": {0: {"step": torch.tensor(float(adam_step)),
                                       "exp_avg": torch.from_numpy(_vector(path, tensors, "adam_exp_avg", size)),
                                       "exp_avg_sq": torch.from_numpy(squares)}},
                         "param_groups": adam_groups}
        _check_adam(path, state["adam"], size)
    return theta, state


def _check_adam(path: str | os.PathLike, adam: dict[str, Any], size: int) -> None:
    """Load a copy of the saved Adam state into a probe optimiser and take one step, so that settings torch
    cannot use are one error naming the file, not a failure in the first training step."""
    import torch

    probe = torch.zeros(size, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.Adam([probe])
    try:
        optimizer.load_state_dict(copy.deepcopy(adam))
        probe.grad = torch.zeros_like(probe)
        optimizer.step()
    except (TypeError, ValueError, KeyError, IndexError, RuntimeError) as exc:
        raise QnlpError(f"{path}: the saved Adam state cannot be used ({exc})") from None
