"""Learning curves of a classifier's training history (loss and accuracy per epoch), written atomically."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from tnq.io import save_figure


def plot_learning_curve(history: Sequence[Mapping[str, float]], path: str | os.PathLike,
                        title: str = "training") -> None:
    """Loss (left) and accuracy (right) per epoch, train and dev when present."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [h["epoch"] for h in history]
    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(8, 3.2))
    for split in ("train", "dev"):
        if history and f"{split}_loss" in history[0]:
            loss_ax.plot(epochs, [h[f"{split}_loss"] for h in history], label=split)
            acc_ax.plot(epochs, [h[f"{split}_acc"] for h in history], label=split)
    loss_ax.set_xlabel("epoch")
    loss_ax.set_ylabel("cross-entropy")
    acc_ax.set_xlabel("epoch")
    acc_ax.set_ylabel("accuracy")
    acc_ax.set_ylim(0, 1.02)
    for ax in (loss_ax, acc_ax):
        ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)
