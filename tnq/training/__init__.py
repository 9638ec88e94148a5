"""One training protocol for every tnq / qnlp trainer: the epoch loop (patience, best-epoch selection, progress
bar, per-epoch checkpoint, resume), one checkpoint format (safetensors + JSON, refusing other settings) and
scikit-learn style parameters (``get_params`` / ``set_params`` from the constructor's signature)."""

from .checkpoint import CheckpointError, read_checkpoint, save_checkpoint
from .loop import Loop, Progress, Trainer, explain_interrupt, improves, interrupt_note
from .params import Estimator

__all__ = ["CheckpointError", "read_checkpoint", "save_checkpoint", "Loop", "Progress", "Trainer", "explain_interrupt",
           "improves", "interrupt_note", "Estimator"]
