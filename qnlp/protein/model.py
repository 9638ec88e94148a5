"""ProteinClassifier: the qnlp QuantumClassifier on residue strings (evaluated through tnq's contraction backend,
sequences of one length stacked into one network), saved / loaded with its
``qnlp.protein.compile.ProteinCompiler`` config so a model file rebuilds itself."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from qnlp.model import QuantumClassifier
from qnlp.protein.compile import COMPILER, ProteinCompiler
from qnlp.protein.errors import ProteinDataError


class ProteinClassifier(QuantumClassifier):
    """``QuantumClassifier(compile=ProteinCompiler(...), ...)`` that checks its compiler and loads its own files."""

    def _validate_params(self) -> None:
        """The classifier's checks, and a ProteinCompiler as the compiler."""
        if not isinstance(self.compile, ProteinCompiler):
            raise ProteinDataError(f"ProteinClassifier needs a ProteinCompiler, got {type(self.compile).__name__}")
        super()._validate_params()

    def circuits(self, X: Sequence[Any], cache: bool = True) -> list:
        """The circuit of each sequence (see ``QuantumClassifier.circuits``)."""
        if isinstance(X, str):
            raise ProteinDataError("pass a list of sequences, not one string")
        return super().circuits(X, cache)

    def set_inputs(self, label_names: Sequence[str], windows: int | None = None, stride: int | None = None,
                   pool: str = "mean") -> None:
        """Record (saved with the model) the class names in ``classes_`` order and the windows the model reads,
        so evaluation needs neither the training options nor the training data."""
        self.inputs_ = check_inputs({"label_names": list(label_names), "windows": windows, "stride": stride,
                                     "pool": pool}, len(self.classes_), "ProteinClassifier")

    @staticmethod
    def load(path: str | os.PathLike) -> ProteinClassifier:
        """A model written by ``save`` (or by ``qnlp protein train --out``)."""
        from qnlp.persist import load_model, read_description

        config = read_description(path)[1].get("pipeline")
        compiler = config.get("compiler") if isinstance(config, dict) else None
        if compiler != COMPILER:
            raise ProteinDataError(f"{path}: not a protein model (its compiler is {compiler!r}); "
                                   "load it with QuantumClassifier.load")
        model = load_model(path, ProteinClassifier)
        if model.inputs_:
            model.inputs_ = check_inputs(model.inputs_, len(model.classes_), f"{path}: field 'inputs'")
        return model


def check_inputs(inputs: dict[str, Any], classes: int, where: str) -> dict[str, Any]:
    """``inputs`` if it names ``classes`` distinct classes and valid windows, else an error naming ``where``."""
    from qnlp.protein.windows import POOLING

    names, windows, stride = inputs.get("label_names"), inputs.get("windows"), inputs.get("stride")
    if not (isinstance(names, list) and all(isinstance(n, str) and n for n in names) and len(names) == classes
            and len(set(names)) == classes):
        raise ProteinDataError(f"{where}: label_names must be {classes} distinct non-empty strings, got {names!r}")
    if windows is not None and (not isinstance(windows, int) or isinstance(windows, bool) or windows < 1):
        raise ProteinDataError(f"{where}: windows must be null or an integer >= 1, got {windows!r}")
    if stride is not None and (windows is None or not isinstance(stride, int) or isinstance(stride, bool)
                               or not 1 <= stride <= windows):
        raise ProteinDataError(f"{where}: stride must be null or an integer in 1..windows, got {stride!r}")
    if inputs.get("pool") not in POOLING:
        raise ProteinDataError(f"{where}: pool must be one of {POOLING}, got {inputs.get('pool')!r}")
    return {"label_names": names, "windows": windows, "stride": stride, "pool": inputs["pool"]}
