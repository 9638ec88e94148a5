"""Save and load Born machines: one safetensors file with the site tensors, its metadata holding a JSON
description (hyperparameters, centre, training history). Written atomically; never pickled. Loading checks every
field, shape and number, so a damaged or hand-edited file is refused with one line naming the file and the field.
A training checkpoint (``tnq.training``) loads as the model of its last finished sweep; its states are checked the
same way."""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np

from ..checks import Number
from ..io import read_safetensors, write_safetensors
from ..tensornet import MPS
from ..training import checkpoint
from ..training.loop import BEST
from ..training.params import plain
from .errors import BornError
from .machine import INTEGER, MPSBornMachine
from .training import CHECKPOINT_KIND

FORMAT = "tnq.born.MPSBornMachine/1"
FIELDS = ("format", "params", "center", "history", "best_sweep", "smoothing")
HISTORY_KEYS = {"sweep", "train_nll", "max_bond", "val_nll"}


def save_model(model: MPSBornMachine, path: str | os.PathLike) -> None:
    """Write ``model`` (fitted) to ``path`` atomically: site tensors, embedding and a JSON description."""
    model._fitted()  # raises when there is nothing to save
    mps = model.mps_
    tensors = {f"site_{k:05d}": np.ascontiguousarray(t) for k, t in enumerate(mps.tensors)}
    if model.embedding_ is not None:
        tensors["embedding"] = np.ascontiguousarray(model.embedding_)
    meta = {"format": FORMAT, "params": plain(model.get_params(deep=False)), "center": mps.center,
            "history": model.history_, "best_sweep": model.best_sweep_, "smoothing": model.smoothing_}
    write_safetensors(path, tensors, "tnq_born", meta)


def load_model(path: str | os.PathLike) -> MPSBornMachine:
    """Read a model written by ``save_model`` (or the last sweep of a training checkpoint); BornError naming the file
    and the field for anything invalid."""
    tensors, meta = read_safetensors(path, "tnq_born", BornError, "model file")
    if meta is None:
        tensors, meta = _checkpoint_description(path, tensors)
    return _model(path, tensors, meta)


def _checkpoint_description(path: str | os.PathLike, tensors: dict[str, np.ndarray]) -> tuple[dict, dict]:
    """The tensors and model description of the last sweep in a Born machine's training checkpoint."""
    meta = read_safetensors(path, checkpoint.KEY, BornError, "model file", names=())[1]  # metadata only
    if meta is None:
        raise BornError(f"{path}: safetensors file has no tnq_born metadata; not a saved Born machine")
    checkpoint.check_kind(path, meta, CHECKPOINT_KIND, BornError)
    if not isinstance(meta.get("state"), dict):
        raise BornError(f"{path}: field 'state' of the checkpoint must be an object")
    state = meta["state"]
    description = {"format": FORMAT, "params": state.get("params"), "center": state.get("center"),
                   "history": meta.get("history"), "best_sweep": meta.get("best_epoch"), "smoothing": []}
    return {name: value for name, value in tensors.items() if not name.startswith(BEST)}, description


def model_from_state(where: str, tensors: dict[str, np.ndarray], meta: dict[str, Any]) -> MPSBornMachine:
    """A model holding a training state (``SweepEpochs.state``), checked as a model file is; errors name ``where``."""
    description = {"format": FORMAT, "params": meta.get("params"), "center": meta.get("center"), "history": [],
                   "best_sweep": None, "smoothing": []}
    model = _model(where, dict(tensors), description)
    step = meta.get("embedding_step")
    if step is not None and not Number(above=0).accepts(step):
        raise BornError(f"{where}: embedding_step: expected null or a positive number, got {step!r:.80}")
    model.embedding_step_ = step
    return model


def _model(path: str | os.PathLike, tensors: dict[str, np.ndarray], meta: Any) -> MPSBornMachine:
    """The model a description and its tensors make, every field checked."""
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        raise BornError(f"{path}: unsupported format {found!r:.80}, expected {FORMAT}")
    missing = [key for key in FIELDS if key not in meta and key != "smoothing"]
    unknown = sorted(set(meta) - set(FIELDS))
    if missing or unknown:
        raise BornError(f"{path}: " + (f"missing field {missing[0]!r}" if missing else f"unknown field {unknown[0]!r}"))
    params = meta["params"]
    if not isinstance(params, dict) or "n_sites" not in params:
        raise BornError(f"{path}: params: expected an object with n_sites and the other hyperparameters")
    unknown = sorted(set(params) - set(MPSBornMachine._param_names()))
    if unknown:
        raise BornError(f"{path}: params: unknown hyperparameter {unknown[0]!r}")
    try:
        model = MPSBornMachine(**params)
        model._validate_params()
    except BornError as exc:
        raise BornError(f"{path}: params: {exc}") from None
    model.embedding_ = _embedding(path, tensors.pop("embedding", None), model)
    model.mps_ = _mps(path, tensors, meta["center"], model)
    model.history_ = _history(path, meta["history"])
    best = meta["best_sweep"]
    if best is not None and not (INTEGER.accepts(best) and 1 <= best <= len(model.history_)):
        raise BornError(f"{path}: best_sweep: expected null or a sweep in [1, {len(model.history_)}], got {best!r}")
    model.best_sweep_ = best
    smoothing = meta.get("smoothing", [])
    if not (isinstance(smoothing, list) and all(Number(minimum=0, below=1).accepts(eps) for eps in smoothing)):
        raise BornError(f"{path}: smoothing: expected a list of strengths in [0, 1), got {smoothing!r:.80}")
    model.smoothing_ = [float(eps) for eps in smoothing]
    return model


def _is_real(value: Any) -> bool:
    """A JSON number that is not NaN (an NLL may be +inf when a sample has probability zero)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isnan(value)


def _check_array(path: str | os.PathLike, name: str, array: np.ndarray) -> None:
    """A real floating-point array with only finite entries."""
    if array.dtype.kind != "f":
        raise BornError(f"{path}: {name}: dtype {array.dtype} is not a real floating-point type")
    if not np.isfinite(array).all():
        raise BornError(f"{path}: {name}: holds non-finite values (NaN or inf)")


def _isometry_error(matrix: np.ndarray) -> float:
    """max |M^T M - I| for a matrix whose columns should be orthonormal; inf when it has more columns than rows
    (so the Gram matrix is never larger than ``matrix`` itself)."""
    rows, cols = matrix.shape
    if cols > rows:
        return math.inf
    with np.errstate(over="ignore", invalid="ignore"):  # huge entries: inf or NaN, refused all the same
        error = float(np.max(np.abs(matrix.T @ matrix - np.eye(cols))))
    return error if not math.isnan(error) else math.inf


def _isometry_tolerance(matrix: np.ndarray) -> float:
    """Orthonormality lost to rounding by the QR / SVD factors that write these tensors: a few units of
    ``max(rows, cols) * eps`` (Higham, Accuracy and Stability, Thm 19.4); 100x that leaves room for any BLAS."""
    return 100.0 * max(matrix.shape) * float(np.finfo(matrix.dtype).eps)


def _embedding(path: str | os.PathLike, embedding: np.ndarray | None, model: MPSBornMachine) -> np.ndarray | None:
    """The embedding tensor: present exactly when ``embedding_dim`` is set, (d, embedding_dim), orthonormal columns."""
    if (embedding is None) != (model.embedding_dim is None):
        raise BornError(f"{path}: embedding tensor and embedding_dim disagree")
    if embedding is None:
        return None
    if embedding.shape != (model.d, model.embedding_dim):
        raise BornError(f"{path}: embedding: shape {embedding.shape}, expected (d, embedding_dim) = "
                        f"{(model.d, model.embedding_dim)}")
    _check_array(path, "embedding", embedding)
    if _isometry_error(embedding) > _isometry_tolerance(embedding):
        raise BornError(f"{path}: embedding: columns are not orthonormal (a learned embedding always is)")
    return embedding


def _mps(path: str | os.PathLike, tensors: dict[str, np.ndarray], center: Any, model: MPSBornMachine) -> MPS:
    """The site tensors as an MPS: named site_00000.., chained bonds, the model's physical dimension, finite,
    in the canonical form ``center`` claims, with a finite non-zero norm."""
    n = model.n_sites
    if len(tensors) != n:
        raise BornError(f"{path}: {len(tensors)} site tensors for n_sites={n}")
    names = [f"site_{k:05d}" for k in range(n)]
    extra = sorted(set(tensors) - set(names))
    if extra:
        raise BornError(f"{path}: unexpected tensor {extra[0]!r}; site tensors are named site_00000, site_00001, ...")
    if center is not None and not (INTEGER.accepts(center) and 0 <= center < n):
        raise BornError(f"{path}: center: expected null or a site in [0, {n}), got {center!r}")
    phys = model.embedding_dim or model.d
    sites = [tensors[name] for name in names]
    for k, t in enumerate(sites):
        left = 1 if k == 0 else sites[k - 1].shape[2]  # the sites before k passed this check
        expected = f"({left}, {phys}, {'1' if k == n - 1 else 'right bond >= 1'})"
        if t.ndim != 3 or 0 in t.shape or t.shape[:2] != (left, phys) or (k == n - 1 and t.shape[2] != 1):
            raise BornError(f"{path}: site {k}: shape {t.shape} does not fit; expected {expected} "
                            f"(bonds must chain, physical dimension {phys})")
        _check_array(path, f"site {k}", t)
    if center is not None:
        for k, t in enumerate(sites):
            if k == center:
                continue
            matrix = t.reshape(-1, t.shape[2]) if k < center else t.reshape(t.shape[0], -1).T
            if _isometry_error(matrix) > _isometry_tolerance(matrix):
                side = "left" if k < center else "right"
                raise BornError(f"{path}: center {center}: site {k} is not {side}-orthonormal, so the file's "
                                f"canonical form is wrong")
    mps = MPS(sites, center=center)
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):  # an overflowing norm is refused below
        norm = mps.norm()
    if not (math.isfinite(norm) and norm > 0):
        raise BornError(f"{path}: the state has norm {norm}; a Born machine needs a finite, non-zero norm")
    return mps


def _history(path: str | os.PathLike, history: Any) -> list[dict[str, Any]]:
    """One record per finished sweep, numbered 1, 2, ...: NLLs (not NaN) and the largest bond after it."""
    if not isinstance(history, list):
        raise BornError(f"{path}: history: expected a list of sweep records, got {type(history).__name__}")
    for i, record in enumerate(history):
        problem = None
        if not isinstance(record, dict) or not {"sweep", "train_nll", "max_bond"} <= set(record) <= HISTORY_KEYS:
            problem = f"expected keys sweep, train_nll, max_bond (and val_nll), got {record!r:.80}"
        elif not INTEGER.accepts(record["sweep"]) or record["sweep"] != i + 1:
            problem = f"sweep {record['sweep']!r} is not {i + 1}"
        elif not (INTEGER.accepts(record["max_bond"]) and record["max_bond"] >= 1):
            problem = f"max_bond {record['max_bond']!r} is not a positive integer"
        elif not all(_is_real(record[key]) for key in ("train_nll", "val_nll") if key in record):
            problem = "an NLL is not a number"
        if problem:
            raise BornError(f"{path}: history record {i}: {problem}")
    return history
