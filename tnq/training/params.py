"""Estimator parameters in the scikit-learn mould: ``get_params`` / ``set_params`` read the constructor's signature
(no hand-kept list), so ``sklearn.base.clone``, ``GridSearchCV`` and ``cross_val_score`` work; the constructor
stores its arguments as given and ``fit`` validates them."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np


def plain(value: Any) -> Any:
    """``value`` with numpy scalars, arrays and tuples turned into JSON's Python types (for files and comparisons)."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


class Estimator:
    """Mixin: parameters are the constructor's keyword arguments, stored under their own names."""

    estimator_type: ClassVar[str | None] = None
    """scikit-learn's estimator type ("classifier", "density_estimator", ...), for its tags."""

    @classmethod
    def _param_names(cls) -> list[str]:
        """The constructor's parameter names (a subclass constructor's ``**kwargs`` stand for its parent's)."""
        names: list[str] = []
        for klass in cls.__mro__:
            init = klass.__dict__.get("__init__")
            if init is None:
                continue
            parameters = list(inspect.signature(init).parameters.values())[1:]
            names += [p.name for p in parameters if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
                      and p.name not in names]
            if not any(p.kind == p.VAR_KEYWORD for p in parameters):
                break
        return names

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor's parameters and their values (``deep``: also ``name__param`` of nested estimators)."""
        out = {}
        for name in self._param_names():
            value = getattr(self, name)
            if deep and hasattr(value, "get_params") and not isinstance(value, type):
                out.update((f"{name}__{k}", v) for k, v in value.get_params().items())
            out[name] = value
        return out

    def set_params(self, **params: Any) -> Estimator:
        """Set parameters by name (``name__param`` for a nested estimator's); checked by the next ``fit``."""
        names = self._param_names()
        nested: dict[str, dict[str, Any]] = {}
        for key, value in params.items():
            name, sep, sub = key.partition("__")
            if name not in names:
                raise ValueError(f"invalid parameter {name!r} for {type(self).__name__}; its parameters are "
                                 f"{sorted(names)}")
            if sep:
                nested.setdefault(name, {})[sub] = value
            else:
                setattr(self, name, value)
        for name, sub in nested.items():
            getattr(self, name).set_params(**sub)
        return self

    def __sklearn_tags__(self) -> Any:
        """scikit-learn (>= 1.6) asks estimators that do not derive from its BaseEstimator for their tags."""
        from sklearn.utils import ClassifierTags, Tags, TargetTags

        classifier = self.estimator_type == "classifier"
        return Tags(estimator_type=self.estimator_type, target_tags=TargetTags(required=classifier),
                    classifier_tags=ClassifierTags() if classifier else None)

    @property
    def _estimator_type(self) -> str | None:
        """The estimator type as scikit-learn before 1.6 reads it."""
        return self.estimator_type
