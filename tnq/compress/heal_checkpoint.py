"""Healing checkpoints: the trained parameters, Adam's moments, the window sampler's state, the step, the elapsed
time and the losses in one safetensors file of the shared training format (``tnq.training.checkpoint``: JSON
metadata, written atomically), so that an interrupted or crashed healing run goes on where it stopped instead of
starting over. The file also records the healing settings, the text's digest and the parameters' names and shapes;
a checkpoint from other settings is refused, naming them."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..io import check_output
from ..mpo.errors import MPOError
from ..training import checkpoint as training

CHECKPOINT_KEY = training.KEY
KIND = "tnq.compress.heal"
"""The checkpoint kind in the shared training format (``tnq.training.checkpoint``)."""
MOMENTS = ("exp_avg", "exp_avg_sq")


class HealingInterrupted(MPOError):
    """Healing stopped by Ctrl-C or SIGTERM after its state was saved: the message says where and how to go on."""


class DeferredInterrupt:
    """While active (and ``enabled``, in the main thread), a first Ctrl-C (SIGINT) or SIGTERM only sets
    ``requested``, so the step in progress finishes and a consistent state can be saved; a second one interrupts
    at once. The previous handlers are restored on exit."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled and threading.current_thread() is threading.main_thread()
        self.requested = False
        self._previous: dict[int, Any] = {}

    def _handle(self, _signum: int, _frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self) -> DeferredInterrupt:
        if self.enabled:
            for number in self.SIGNALS:
                self._previous[number] = signal.signal(number, self._handle)
        return self

    def __exit__(self, *_exc: object) -> None:
        for number, previous in self._previous.items():
            signal.signal(number, previous)
        self._previous.clear()


def save_checkpoint(path: str | os.PathLike, named: Sequence[tuple[str, torch.nn.Parameter]],
                    optimizer: torch.optim.Optimizer, generator: torch.Generator, elapsed: float,
                    losses: Sequence[float], settings: dict[str, Any]) -> None:
    """Write everything ``load_checkpoint`` needs to continue after ``len(losses)`` steps and ``elapsed`` seconds."""
    tensors = {"generator": generator.get_state().numpy()}
    adam_steps = {}
    for name, p in named:
        tensors[f"param/{name}"] = _array(p)
        state = optimizer.state.get(p)
        if state:
            adam_steps[name] = float(state["step"])
            for key in MOMENTS:
                tensors[f"{key}/{name}"] = _array(state[key])
    training.save_checkpoint(path, kind=KIND, settings=settings, tensors=tensors,
                             meta={"step": len(losses), "elapsed": elapsed, "losses": list(losses),
                                   "adam_steps": adam_steps})


def load_checkpoint(path: str | os.PathLike, named: Sequence[tuple[str, torch.nn.Parameter]],
                    optimizer: torch.optim.Optimizer, generator: torch.Generator,
                    settings: dict[str, Any]) -> tuple[int, float, list[float]]:
    """Restore parameters, Adam state and the sampler from ``path`` after checking that it was written with the
    same ``settings`` (healing options, text, parameter names and shapes); returns (step, elapsed, losses)."""
    arrays, meta = training.read_checkpoint(path, kind=KIND, settings=settings, error=MPOError)
    with torch.no_grad():
        for name, p in named:
            p.copy_(torch.from_numpy(arrays[f"param/{name}"]))  # copy_ casts back to the parameter's dtype
    state = optimizer.state_dict()
    index = {name: i for i, (name, _) in enumerate(named)}
    dtypes = {name: p.dtype for name, p in named}
    state["state"] = {index[name]: {"step": torch.tensor(step),
                                    **{key: torch.from_numpy(arrays[f"{key}/{name}"]).to(dtypes[name])
                                       for key in MOMENTS}}
                      for name, step in meta["adam_steps"].items()}
    optimizer.load_state_dict(state)
    generator.set_state(torch.from_numpy(arrays["generator"]))
    return int(meta["step"]), float(meta["elapsed"]), [float(v) for v in meta["losses"]]


def _array(tensor: torch.Tensor) -> np.ndarray:
    """A numpy copy; half-precision tensors (which numpy lacks) widen to float32, exactly."""
    tensor = tensor.detach().cpu()
    if tensor.dtype in (torch.bfloat16, torch.float16):
        tensor = tensor.float()
    return np.ascontiguousarray(tensor.numpy())


def check_checkpoint_path(path: str | os.PathLike | None) -> None:
    """Before hours of work: one clear error when ``path`` could not be written later (``tnq.io.check_output``'s
    rule: a folder, or a place that cannot be written; a missing folder is created by the write)."""
    if path is not None:
        check_output(path, option="checkpoint")


def checkpoint_exists(path: str | os.PathLike | None) -> bool:
    return path is not None and Path(path).exists()
