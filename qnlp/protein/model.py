"""ProteinClassifier: the qnlp QuantumClassifier on residue strings (evaluated through tnq's contraction backend,
sequences of one length stacked into one network), saved / loaded with its
:class:`~qnlp.protein.compile.ProteinCompiler` config so a model file rebuilds itself."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

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

    @staticmethod
    def load(path: str | os.PathLike) -> ProteinClassifier:
        """A model written by :meth:`save` (or by ``qnlp protein train --out``)."""
        from qnlp.persist import MODEL_FORMAT, _read, load_model

        config = _read(path, MODEL_FORMAT)[1].get("pipeline")
        compiler = config.get("compiler") if isinstance(config, dict) else None
        if compiler != COMPILER:
            raise ProteinDataError(f"{path}: not a protein model (its compiler is {compiler!r}); "
                                   "load it with QuantumClassifier.load")
        return load_model(path, ProteinClassifier)
