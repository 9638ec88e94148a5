"""Save and load Born machines: one safetensors file with the site tensors, its metadata holding a JSON
description (hyperparameters, centre, training history). Written atomically; never pickled."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import numpy as np

from ..io import read_safetensors, write_safetensors
from ..tensornet import MPS
from .errors import BornError

if TYPE_CHECKING:
    from .machine import MPSBornMachine

FORMAT = "tnq.born.MPSBornMachine/1"


def save_model(model: MPSBornMachine, path: str | os.PathLike) -> None:
    model._fitted()  # raises when there is nothing to save
    mps = model.mps_
    tensors = {f"site_{k:05d}": np.ascontiguousarray(t) for k, t in enumerate(mps.tensors)}
    if model.embedding_ is not None:
        tensors["embedding"] = np.ascontiguousarray(model.embedding_)
    meta = {"format": FORMAT, "params": model.get_params(), "center": mps.center,
            "history": model.history_, "best_sweep": model.best_sweep_, "smoothing": model.smoothing_}
    write_safetensors(path, tensors, "tnq_born", meta)


def load_model(path: str | os.PathLike) -> MPSBornMachine:
    from .machine import MPSBornMachine

    tensors, meta = read_safetensors(path, "tnq_born", BornError, "model file")
    if meta is None:
        raise BornError(f"{path}: safetensors file has no tnq_born metadata; not a saved Born machine")
    if meta.get("format") != FORMAT:
        raise BornError(f"{path}: unsupported format {meta.get('format')!r}, expected {FORMAT}")
    model = MPSBornMachine(**meta["params"])
    model.embedding_ = tensors.pop("embedding", None)
    if (model.embedding_ is None) != (model.embedding_dim is None):
        raise BornError(f"{path}: embedding tensor and embedding_dim disagree")
    sites = [tensors[key] for key in sorted(tensors)]
    if len(sites) != model.n_sites:
        raise BornError(f"{path}: {len(sites)} site tensors for n_sites={model.n_sites}")
    model.mps_ = MPS(sites, center=meta["center"])
    model.history_ = meta["history"]
    model.best_sweep_ = meta["best_sweep"]
    model.smoothing_ = list(meta.get("smoothing", []))
    return model
