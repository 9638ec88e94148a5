"""ProteinClassifier: the qnlp QuantumClassifier on residue strings (evaluated through tnq's contraction backend,
sequences of one length stacked into one network), saved / loaded with its
:class:`~qnlp.protein.compile.ProteinCompiler` config so a model file rebuilds itself."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from qnlp.model import QuantumClassifier
from qnlp.protein.compile import COMPILER, ProteinCompiler
from qnlp.protein.errors import ProteinDataError


class ProteinClassifier(QuantumClassifier):
    """``QuantumClassifier(compile=ProteinCompiler(...), ...)`` that checks its compiler and loads its own files."""

    def __init__(self, compile: ProteinCompiler, **options: Any) -> None:
        if not isinstance(compile, ProteinCompiler):
            raise ProteinDataError(f"ProteinClassifier needs a ProteinCompiler, got {type(compile).__name__}")
        super().__init__(compile, **options)

    def circuits(self, X: Sequence[Any]) -> list:
        if isinstance(X, str):
            raise ProteinDataError("pass a list of sequences, not one string")
        return super().circuits(X)

    def save(self, path: str | os.PathLike) -> None:
        """Safetensors weights + JSON (qnlp's model format; ``pipeline`` holds the ProteinCompiler config)."""
        from qnlp.persist import save_model

        save_model(self, path)

    @staticmethod
    def load(path: str | os.PathLike) -> ProteinClassifier:
        """A model written by :meth:`save` (or by ``qnlp protein train --out``)."""
        from qnlp.persist import MODEL_FORMAT, _read

        tensors, meta = _read(path, MODEL_FORMAT)
        config = meta.get("pipeline") or {}
        if config.get("compiler") != COMPILER:
            raise ProteinDataError(f"{path}: not a protein model (its compiler is {config.get('compiler')!r}); "
                                   "load it with QuantumClassifier.load")
        model = ProteinClassifier(ProteinCompiler.from_config(config), **meta["params"])
        model.symbols_, model.classes_ = list(meta["symbols"]), np.asarray(meta["classes"])
        model.weights_ = tensors["weights"]
        if model.weights_.shape != (len(model.symbols_),):
            raise ProteinDataError(f"{path}: {model.weights_.shape[0]} weights for {len(model.symbols_)} symbols")
        model.history_, model.best_epoch_ = meta["history"], meta["best_epoch"]
        return model
