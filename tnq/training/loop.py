"""The one training loop of every tnq / qnlp trainer (Born machines, sentence and protein classifiers).

A trainer implements the small ``Trainer`` protocol: ``run_epoch(epoch) -> record`` (one epoch of training;
its history record, a dict of JSON numbers), ``score(record)`` (the selection score, lower is better: a number or
a tuple compared component by component; None when there is nothing to select on), and ``state()`` /
``load_state(tensors, meta, where)`` (its whole training state as numpy arrays plus JSON, copied).

``Loop`` runs ``run_epoch`` for the remaining epochs with these rules:

- **Selection.** An epoch *improves* when its score is lower than the best so far by more than ``min_delta`` in
  the first component that differs by more than ``min_delta`` (a tie in one component passes to the next). With
  ``select`` the best epoch's state is kept and restored at the end (unless it is the last one).
- **Patience.** With ``select`` and ``patience=P``, training stops once P epochs in a row have not improved
  (``P=1`` stops at the first epoch that does not improve); ``patience=None`` never stops early.
- **Checkpoint.** With ``checkpoint``, the state, the best state, the history and these counters are written after
  every epoch (atomically: an interrupted write leaves the previous file whole), in the format of
  ``tnq.training.checkpoint``, with the run's ``settings``. With ``resume`` (the default) an existing checkpoint
  is continued; one made by another kind of trainer or with other settings is refused, naming the setting.
- **Interrupts.** Ctrl-C (and SIGTERM, which ``tnq.cli.main.run_command`` turns into KeyboardInterrupt) stop the
  epoch in progress; the checkpoint holds the last finished epoch, and ``explain_interrupt`` turns the
  interrupt into one line saying so.
- **Progress.** A bar (``tnq.progress``: after two seconds by default) with the epoch count and the ETA.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ..checks import Number
from ..errors import TnqError
from ..io import check_output
from ..progress import progress_bar
from .checkpoint import CheckpointError, read_checkpoint, save_checkpoint

BEST = "best/"
"""Prefix of the best state's tensors in a checkpoint (the current state's are stored under their own names)."""

CURRENT = "current"
"""The checkpoint's ``best`` field when the best epoch is the last one saved: its state is stored once."""

State = tuple[dict[str, np.ndarray], dict[str, Any]]
"""A trainer's state: numpy arrays and a JSON object."""


class Trainer(Protocol):
    """What the loop needs from a trainer."""

    def run_epoch(self, epoch: int) -> dict[str, Any]:
        """Train epoch ``epoch`` (0-based); return its history record."""

    def score(self, record: dict[str, Any]) -> float | Sequence[float] | None:
        """The record's selection score (lower is better), or None to select nothing."""

    def state(self) -> State:
        """The whole training state (copies), to checkpoint or to keep as the best one."""

    def load_state(self, tensors: dict[str, np.ndarray], meta: dict[str, Any], where: str) -> None:
        """Check and restore a state from ``state()``; errors name ``where`` (a file)."""


@dataclass
class Progress:
    """Where a run stands: epochs done, their records and the best epoch (1-based), its score and state."""

    epoch: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    best_epoch: int | None = None
    best_score: tuple[float, ...] | None = None
    best_state: State | None = None
    stale: int = 0
    """Epochs in a row without improvement."""


def improves(score: Sequence[float], best: Sequence[float] | None, min_delta: float = 0.0) -> bool:
    """The selection rule (see the module docstring); ``best=None``: every component +inf."""
    for new, old in zip(score, best if best is not None else [math.inf] * len(score)):
        if new < old - min_delta:
            return True
        if new > old + min_delta:
            return False
    return False


@dataclass
class Loop:
    """Epochs, patience, best-epoch selection, progress bar, per-epoch checkpoint and resume (module docstring)."""

    epochs: int
    patience: int | None = None
    select: bool = True
    min_delta: float = 0.0
    checkpoint: str | os.PathLike | None = None
    resume: bool = True
    kind: str = "trainer"
    """Names the trainer in the checkpoint: a checkpoint of another kind is refused."""
    settings: Mapping[str, Any] = field(default_factory=dict)
    """The settings a checkpoint must have been made with to be resumed (JSON values)."""
    error: type[Exception] = CheckpointError
    restart: str | None = None
    """Appended to every error resuming the checkpoint: how to start over instead."""
    progress: bool | None = None
    desc: str = "training"
    unit: str = "epoch"
    postfix: Sequence[str] = ()
    """Record keys shown beside the bar."""

    def run(self, trainer: Trainer, start: Progress | None = None) -> Progress:
        """Train up to ``epochs`` epochs in total, from ``start`` (default: nothing done) or the checkpoint."""
        progress = start if start is not None else Progress()
        if self.checkpoint is not None:  # a checkpoint that cannot be written fails now, not after an epoch
            check_output(self.checkpoint, option="checkpoint", suffixes=("safetensors",))
            if self.resume and Path(self.checkpoint).exists():
                progress = self.restore(trainer)
        remaining = range(progress.epoch, self.epochs)
        bar = progress_bar(remaining, self.progress, self.desc, unit=self.unit, total=len(remaining))
        try:
            for epoch in bar:
                record = trainer.run_epoch(epoch)
                self._select(trainer, progress, record, epoch + 1)
                progress.history.append(record)
                progress.epoch = epoch + 1
                if self.postfix and hasattr(bar, "set_postfix"):
                    bar.set_postfix({k: round(record[k], 4) for k in self.postfix if k in record}, refresh=False)
                if self.checkpoint is not None:
                    self._save(trainer, progress)
                if self.select and self.patience is not None and progress.stale >= self.patience:
                    break
        finally:  # clear the bar also on Ctrl-C or an error, so their message starts a clean line
            if hasattr(bar, "close"):
                bar.close()
        if self.select and progress.best_state is not None and progress.best_epoch != progress.epoch:
            trainer.load_state(*progress.best_state, "the best epoch's state")
        return progress

    def _select(self, trainer: Trainer, progress: Progress, record: dict[str, Any], epoch: int) -> None:
        score = trainer.score(record)
        if score is None:
            return
        score = tuple(float(v) for v in np.atleast_1d(score))
        if improves(score, progress.best_score, self.min_delta):
            progress.best_score, progress.best_epoch, progress.stale = score, epoch, 0
            if self.select:
                progress.best_state = trainer.state()
        else:
            progress.stale += 1

    def _save(self, trainer: Trainer, progress: Progress) -> None:
        current_is_best = progress.best_state is not None and progress.best_epoch == progress.epoch
        tensors, meta = progress.best_state if current_is_best else trainer.state()  # one copy when they are equal
        tensors = dict(tensors)
        best_meta: Any = CURRENT if current_is_best else None
        if progress.best_state is not None and not current_is_best:
            best_tensors, best_meta = progress.best_state
            tensors.update((BEST + name, value) for name, value in best_tensors.items())
        score = list(progress.best_score) if progress.best_score is not None else None
        save_checkpoint(self.checkpoint, kind=self.kind, settings=self.settings, tensors=tensors,
                        meta={"epoch": progress.epoch, "history": progress.history, "best_epoch": progress.best_epoch,
                              "best_score": score, "stale": progress.stale, "state": meta, "best": best_meta})

    def restore(self, trainer: Trainer) -> Progress:
        """The progress saved in the checkpoint, with the trainer's state (and best state) restored from it."""
        path = self.checkpoint
        try:
            tensors, meta = read_checkpoint(path, kind=self.kind, settings=self.settings, error=self.error)
            progress = _progress(path, meta, self.error)
            if isinstance(meta["best"], dict):  # restored first so that loading it checks it; the current state follows
                best = {name[len(BEST):]: value for name, value in tensors.items() if name.startswith(BEST)}
                trainer.load_state(best, meta["best"], f"{path} (best state)")
                progress.best_state = trainer.state()
            current = {name: value for name, value in tensors.items() if not name.startswith(BEST)}
            trainer.load_state(current, meta["state"], str(path))
            if meta["best"] == CURRENT:
                progress.best_state = trainer.state()
        except TnqError as exc:
            if self.restart is None:
                raise
            raise self.error(f"{exc}; {self.restart}") from None
        return progress


def _is_count(value: Any, maximum: float | None = None) -> bool:
    """An integer in [0, maximum]."""
    return Number(integer=True, minimum=0, maximum=maximum).accepts(value)


def _progress(path: str | os.PathLike, meta: dict[str, Any], error: type[Exception]) -> Progress:
    """The loop's fields of a checkpoint, each checked; a missing or malformed one is an error naming it."""
    epoch = meta.get("epoch")
    checks = {
        "epoch": (lambda v: _is_count(v), "an integer >= 0"),
        "history": (lambda v: isinstance(v, list) and len(v) == epoch and all(isinstance(r, dict) for r in v),
                    f"a list of {epoch} objects (one per finished epoch)"),
        "best_epoch": (lambda v: v is None or (_is_count(v, epoch) and v >= 1), f"null or an integer in [1, {epoch}]"),
        "best_score": (lambda v: v is None or (isinstance(v, list) and len(v) > 0 and all(
            isinstance(x, (int, float)) and not isinstance(x, bool) and not math.isnan(x) for x in v)),
                       "null or a list of numbers"),
        "stale": (lambda v: _is_count(v, epoch), f"an integer in [0, {epoch}]"),
        "state": (lambda v: isinstance(v, dict), "an object"),
        "best": (lambda v: v is None or v == CURRENT or isinstance(v, dict), f"null, {CURRENT!r} or an object"),
    }
    for name, (valid, want) in checks.items():
        if name not in meta or not valid(meta[name]):
            got = f"{meta[name]!r:.80}" if name in meta else "nothing"
            raise error(f"{path}: field {name!r} of the checkpoint must be {want}, got {got}")
    score = meta["best_score"]
    return Progress(epoch=epoch, history=meta["history"], best_epoch=meta["best_epoch"],
                    best_score=tuple(float(v) for v in score) if score is not None else None, stale=meta["stale"])


def interrupt_note(checkpoint: str | os.PathLike | None, unit: str, resume_hint: str) -> str:
    """What an interrupted run kept: the last finished ``unit`` in ``checkpoint`` (and ``resume_hint``), or
    nothing."""
    if checkpoint is None:
        return f"nothing saved (--checkpoint FILE keeps every finished {unit})"
    if Path(checkpoint).is_file():
        return f"{checkpoint} holds the last finished {unit}; {resume_hint}"
    return f"no {unit} had finished; nothing saved"


@contextmanager
def explain_interrupt(checkpoint: str | os.PathLike | None, unit: str, resume_hint: str) -> Iterator[None]:
    """Re-raise Ctrl-C / SIGTERM (same type) with ``interrupt_note`` as its message, for the command lines."""
    try:
        yield
    except KeyboardInterrupt as exc:
        raise type(exc)(interrupt_note(checkpoint, unit, resume_hint)) from None
