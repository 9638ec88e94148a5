"""Save and load Born machines: one safetensors file with the site tensors, its metadata holding a JSON
description (hyperparameters, centre, training history). Written atomically; never pickled."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..io import atomic_write_bytes
from ..tensornet import MPS
from .errors import BornError

if TYPE_CHECKING:
    from .machine import MPSBornMachine

FORMAT = "tnq.born.MPSBornMachine/1"


def save_model(model: MPSBornMachine, path: str | os.PathLike) -> None:
    from safetensors.numpy import save

    model._fitted()  # raises when there is nothing to save
    mps = model.mps_
    tensors = {f"site_{k:05d}": np.ascontiguousarray(t) for k, t in enumerate(mps.tensors)}
    if model.embedding_ is not None:
        tensors["embedding"] = np.ascontiguousarray(model.embedding_)
    meta = {"format": FORMAT, "params": model.get_params(), "center": mps.center,
            "history": model.history_, "best_sweep": model.best_sweep_, "smoothing": model.smoothing_}
    atomic_write_bytes(path, save(tensors, metadata={"tnq_born": json.dumps(meta)}))


def load_model(path: str | os.PathLike) -> MPSBornMachine:
    from safetensors import SafetensorError, safe_open

    from .machine import MPSBornMachine

    path = Path(path)
    if not path.is_file():
        raise BornError(f"{path}: no such model file")
    try:
        with safe_open(str(path), framework="numpy") as handle:
            raw = (handle.metadata() or {}).get("tnq_born")
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}
    except (SafetensorError, OSError, ValueError) as exc:
        raise BornError(f"{path}: not a readable safetensors file ({exc})") from None
    if raw is None:
        raise BornError(f"{path}: safetensors file has no tnq_born metadata; not a saved Born machine")
    try:
        meta = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise BornError(f"{path}: corrupt tnq_born metadata ({exc})") from None
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
