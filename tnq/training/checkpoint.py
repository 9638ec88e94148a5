"""One checkpoint format for every trainer: a safetensors file of numpy arrays whose metadata entry ``KEY`` is a JSON
object with the format, the trainer's ``kind``, the ``settings`` the run was started with and the trainer's own
fields. Written atomically (a crash or Ctrl-C while writing leaves the previous checkpoint whole); never pickled.
Reading refuses another format, another kind of trainer and other settings, naming the setting that differs.

    save_checkpoint(path, kind="tnq.born", settings={"learning_rate": 0.1}, tensors={"w": w}, meta={"epoch": 3})
    tensors, meta = read_checkpoint(path, kind="tnq.born", settings={"learning_rate": 0.1})
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..errors import TnqError
from ..io import read_safetensors, write_safetensors
from .params import plain

KEY = "tnq_training"
"""The safetensors metadata entry holding the JSON description."""
FORMAT = "tnq.training.checkpoint/1"
RESERVED = ("format", "kind", "settings")
"""Metadata fields the format itself writes; a trainer's ``meta`` may not use them."""


class CheckpointError(TnqError, ValueError):
    """A checkpoint cannot be read or resumed: damaged, of another format or kind, or made with other settings."""


def save_checkpoint(path: str | os.PathLike, *, kind: str, settings: Mapping[str, Any],
                    tensors: Mapping[str, np.ndarray], meta: Mapping[str, Any]) -> None:
    """Write ``tensors`` and the JSON ``meta`` (with the format, ``kind`` and ``settings``) to ``path`` atomically."""
    clash = sorted(set(RESERVED) & set(meta))
    if clash:
        raise ValueError(f"checkpoint meta may not use the reserved field {clash[0]!r}")
    arrays = {name: np.ascontiguousarray(value) for name, value in tensors.items()}
    write_safetensors(path, arrays, KEY, {"format": FORMAT, "kind": kind, "settings": plain(settings),
                                          **plain(meta)})


def read_checkpoint(path: str | os.PathLike, *, kind: str, settings: Mapping[str, Any],
                    error: type[Exception] = CheckpointError,
                    defaults: Mapping[str, Any] | None = None) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """(tensors, meta) of a checkpoint written by ``save_checkpoint`` for ``kind`` with the same ``settings``; a
    setting the file lacks takes its value in ``defaults`` (settings added after the file was written). Anything
    else raises ``error`` naming the file (and the settings that differ)."""
    tensors, meta = read_safetensors(path, KEY, error, "checkpoint")
    check_kind(path, meta, kind, error)
    saved = meta.get("settings")
    if not isinstance(saved, dict):
        raise error(f"{path}: field 'settings' of the checkpoint must be an object")
    differ = differing(saved, settings, defaults)
    if differ:
        shown = ", ".join(f"{name}={saved.get(name, (defaults or {}).get(name))!r:.60}" for name in differ)
        now = ", ".join(f"{name}={plain(settings[name])!r:.60}" for name in differ)
        raise error(f"{path}: checkpoint made with other {', '.join(differ)} (checkpoint: {shown}; now: {now})")
    return tensors, meta


def check_kind(path: str | os.PathLike, meta: Any, kind: str, error: type[Exception] = CheckpointError) -> None:
    """Raise ``error`` naming ``path`` unless ``meta`` is the metadata of a training checkpoint of ``kind``."""
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else None
        raise error(f"{path}: not a tnq training checkpoint (format {found!r:.60}, expected {FORMAT})")
    if meta.get("kind") != kind:
        raise error(f"{path}: a checkpoint of {meta.get('kind')!r:.60}, not of {kind}")


def differing(saved: Mapping[str, Any], settings: Mapping[str, Any],
              defaults: Mapping[str, Any] | None = None) -> list[str]:
    """The names of ``settings`` whose value differs from the one in ``saved`` (or, missing there, in ``defaults``;
    a setting in neither differs). Values compare as JSON: a tuple equals a list, a numpy scalar its number."""
    defaults = defaults or {}
    missing = object()
    out = []
    for name, value in settings.items():
        old = saved.get(name, defaults.get(name, missing))
        if old is missing or old != plain(value):
            out.append(name)
    return out
