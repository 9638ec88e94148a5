"""Save and load classifiers and training checkpoints: one safetensors file whose tensors are the word
parameters (and optimiser moments) and whose metadata is a JSON description. Written atomically; never
pickled. A model loads back without the training data: the JSON holds the compiler's config."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import numpy as np

from qnlp.errors import QnlpError
from tnq.io import read_safetensors, write_safetensors

if TYPE_CHECKING:
    from qnlp.model import QuantumClassifier

MODEL_FORMAT = "qnlp.QuantumClassifier/1"
CHECKPOINT_FORMAT = "qnlp.QuantumClassifier.checkpoint/1"


def _write(path: str | os.PathLike, tensors: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
    tensors = {k: np.ascontiguousarray(v, dtype=np.float64) for k, v in tensors.items()}
    write_safetensors(path, tensors, "qnlp", meta)


def _read(path: str | os.PathLike, fmt: str) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    tensors, meta = read_safetensors(path, "qnlp", QnlpError)
    if not isinstance(meta, dict) or meta.get("format") != fmt:
        found = meta.get("format") if isinstance(meta, dict) else None
        raise QnlpError(f"{path}: not a {fmt} file (format {found!r})")
    return tensors, meta


def _is_int(value: Any, minimum: int = 0) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


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
    "epoch": (_is_int, "an integer >= 0"),
    "best_rank": (lambda v: v is None or (isinstance(v, list) and len(v) == 2 and all(
        isinstance(x, (int, float)) and not isinstance(x, bool) and np.isfinite(x) for x in v)),
        "null or two finite numbers"),
    "spsa_k": (lambda v: v is None or _is_int(v), "null or an integer >= 0"),
    "adam_step": (lambda v: v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)
                                          and np.isfinite(v) and v >= 1 and float(v).is_integer()),
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
    meta = {"format": MODEL_FORMAT, "params": model.get_params(), "pipeline": config, "symbols": model.symbols_,
            "classes": _classes(model), "history": model.history_, "best_epoch": model.best_epoch_,
            "inputs": getattr(model, "inputs_", {})}
    _write(path, {"weights": model.weights_}, meta)


def load_model(path: str | os.PathLike, cls: type | None = None) -> QuantumClassifier:
    """A classifier saved by ``save_model``; ``cls`` (default QuantumClassifier) is the class to rebuild. Every
    field is checked: a damaged or foreign file is one error naming it."""
    from qnlp.model import QuantumClassifier

    tensors, meta = _read(path, MODEL_FORMAT)
    params, config, symbols, classes, history, best_epoch = _fields(
        path, meta, "params", "pipeline", "symbols", "classes", "history", "best_epoch")
    inputs = _fields(path, meta, "inputs")[0] if "inputs" in meta else {}  # files written before it: none
    weights = _vector(path, tensors, "weights", len(symbols))
    cls = QuantumClassifier if cls is None else cls
    try:  # the settings go through the constructors' own checks (QnlpError is a ValueError)
        model = cls(_compiler_class(config, path).from_config(config), **params)
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


def save_checkpoint(model: QuantumClassifier, path: str | os.PathLike, theta: np.ndarray, state: dict[str, Any],
                    epoch: int, best: tuple[tuple[float, float], np.ndarray]) -> None:
    tensors = {"theta": theta, "best_theta": best[1]}
    adam = state.get("adam")
    if adam is not None:
        slot = adam["state"].get(0, {})
        for key in ("exp_avg", "exp_avg_sq"):
            if key in slot:
                tensors[f"adam_{key}"] = slot[key].numpy()
    rank = [float(v) for v in best[0]] if np.isfinite(best[0][0]) else None
    meta = {"format": CHECKPOINT_FORMAT, "epoch": epoch, "best_rank": rank,
            "symbols": model.symbols_, "classes": _classes(model), "history": model.history_,
            "best_epoch": model.best_epoch_, "spsa_k": state.get("spsa_k"), "params": model.get_params(),
            "adam_step": float(adam["state"][0]["step"]) if adam is not None and 0 in adam["state"] else None,
            "adam_groups": adam["param_groups"] if adam is not None else None}
    _write(path, tensors, meta)


RESTART = "pass --no-resume to start over (Python: fit(..., resume=False)), delete it or choose another --checkpoint"
"""How to train from scratch when a checkpoint cannot be resumed (the end of every such error)."""


def load_checkpoint(model: QuantumClassifier, path: str | os.PathLike) -> tuple:
    """(theta, optimiser state, next epoch, (best loss, best theta), history), checked against the model; an
    error says how to start over instead."""
    try:
        return _restore(model, path)
    except QnlpError as exc:
        raise QnlpError(f"{exc}; {RESTART}") from None


def _restore(model: QuantumClassifier, path: str | os.PathLike) -> tuple:
    tensors, meta = _read(path, CHECKPOINT_FORMAT)
    symbols, classes, params, epoch, history, best_epoch, best_rank, spsa_k, adam_step, adam_groups = _fields(
        path, meta, "symbols", "classes", "params", "epoch", "history", "best_epoch", "best_rank", "spsa_k",
        "adam_step", "adam_groups")
    if symbols != model.symbols_ or classes != _classes(model):
        raise QnlpError(f"{path}: checkpoint was written for other data (its symbols or classes differ)")
    if params.get("optimizer") != model.optimizer:
        raise QnlpError(f"{path}: checkpoint used optimizer {params.get('optimizer')!r}, not {model.optimizer!r}")
    if len(history) != epoch:
        raise QnlpError(f"{path}: checkpoint at epoch {epoch} holds {len(history)} history records")
    size = len(symbols)
    theta, best_theta = _vector(path, tensors, "theta", size), _vector(path, tensors, "best_theta", size)
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
    model.best_epoch_ = best_epoch
    rank = tuple(best_rank) if best_rank is not None else (np.inf, np.inf)
    return theta, state, epoch, (rank, best_theta), list(history)


def _check_adam(path: str | os.PathLike, adam: dict[str, Any], size: int) -> None:
    """Load a copy of the saved Adam state into a probe optimiser and take one step, so that settings torch
    cannot use are one error naming the file, not a failure in the first training step."""
    import copy

    import torch

    probe = torch.zeros(size, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.Adam([probe])
    try:
        optimizer.load_state_dict(copy.deepcopy(adam))
        probe.grad = torch.zeros_like(probe)
        optimizer.step()
    except (TypeError, ValueError, KeyError, IndexError, RuntimeError) as exc:
        raise QnlpError(f"{path}: the saved Adam state cannot be used ({exc})") from None
