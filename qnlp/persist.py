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
    if meta is None or meta.get("format") != fmt:
        raise QnlpError(f"{path}: not a {fmt} file (format {None if meta is None else meta.get('format')!r})")
    return tensors, meta


def _classes(model: QuantumClassifier) -> list[Any]:
    return [c.item() if hasattr(c, "item") else c for c in model.classes_]


def save_model(model: QuantumClassifier, path: str | os.PathLike) -> None:
    model._fitted()
    config = getattr(model.compile, "config", None)
    if config is None:
        raise QnlpError("the classifier's compiler has no 'config', so the model could not be rebuilt from "
                        "a file; use qnlp.Pipeline as the compiler")
    meta = {"format": MODEL_FORMAT, "params": model.get_params(), "pipeline": config, "symbols": model.symbols_,
            "classes": _classes(model), "history": model.history_, "best_epoch": model.best_epoch_}
    _write(path, {"weights": model.weights_}, meta)


def load_model(path: str | os.PathLike, cls: type | None = None) -> QuantumClassifier:
    """A classifier saved by ``save_model``; ``cls`` (default QuantumClassifier) is the class to rebuild."""
    from qnlp.model import QuantumClassifier

    tensors, meta = _read(path, MODEL_FORMAT)
    cls = QuantumClassifier if cls is None else cls
    model = cls(_compiler_class(meta["pipeline"], path).from_config(meta["pipeline"]), **meta["params"])
    model.symbols_, model.classes_ = list(meta["symbols"]), np.asarray(meta["classes"])
    model.weights_ = tensors["weights"]
    if model.weights_.shape != (len(model.symbols_),):
        raise QnlpError(f"{path}: {model.weights_.shape[0]} weights for {len(model.symbols_)} symbols")
    model.history_, model.best_epoch_ = meta["history"], meta["best_epoch"]
    return model


def _compiler_class(config: dict[str, Any], path: str | os.PathLike) -> Any:
    """The class that rebuilds a compiler from its config: ``config["compiler"] = "qnlp.module:Class"`` (only
    qnlp's own classes, so a model file cannot make us import arbitrary code), else ``qnlp.Pipeline``."""
    import importlib

    from qnlp.pipeline import Pipeline

    name = config.get("compiler")
    if name is None:
        return Pipeline
    module, _, cls = str(name).partition(":")
    if not module.startswith("qnlp.") or not cls:
        raise QnlpError(f"{path}: compiler {name!r} is not a qnlp class ('qnlp.module:Class')")
    try:
        return getattr(importlib.import_module(module), cls)
    except (ImportError, AttributeError) as exc:
        raise QnlpError(f"{path}: cannot load compiler {name!r} ({exc})") from None


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


def load_checkpoint(model: QuantumClassifier, path: str | os.PathLike) -> tuple:
    """(theta, optimiser state, next epoch, (best loss, best theta), history), checked against the model."""
    tensors, meta = _read(path, CHECKPOINT_FORMAT)
    if meta["symbols"] != model.symbols_ or meta["classes"] != _classes(model):
        raise QnlpError(f"{path}: checkpoint was written for other data (its symbols or classes differ); "
                        "delete it or pass resume=False")
    if meta["params"]["optimizer"] != model.optimizer:
        raise QnlpError(f"{path}: checkpoint used optimizer {meta['params']['optimizer']!r}, not {model.optimizer!r}")
    state: dict[str, Any] = {}
    if meta.get("spsa_k") is not None:
        state["spsa_k"] = meta["spsa_k"]
    if meta.get("adam_groups") is not None and meta.get("adam_step") is not None:
        import torch

        state["adam"] = {"state": {0: {"step": torch.tensor(meta["adam_step"]),
                                       "exp_avg": torch.from_numpy(tensors["adam_exp_avg"]),
                                       "exp_avg_sq": torch.from_numpy(tensors["adam_exp_avg_sq"])}},
                         "param_groups": meta["adam_groups"]}
    model.best_epoch_ = meta["best_epoch"]
    best_rank = tuple(meta["best_rank"]) if meta["best_rank"] is not None else (np.inf, np.inf)
    return tensors["theta"], state, meta["epoch"], (best_rank, tensors["best_theta"]), list(meta["history"])
