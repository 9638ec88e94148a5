"""Figures for Born machines: NLL per sweep, grids of samples, circuit fidelity per layer (written atomically)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np

from ..io import save_figure


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_nll_curves(curves: Mapping[str, Sequence[float]], path: str | os.PathLike,
                    reference: float | None = None, title: str = "NLL per sweep", dashed: Sequence[str] = ()) -> None:
    """One line per label (NLL after each sweep; labels in ``dashed`` drawn dashed); ``reference`` draws a
    horizontal floor, e.g. ln 30."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for label, values in curves.items():
        ax.plot(np.arange(1, len(values) + 1), values, marker="" if label in dashed else ".", label=label,
                linestyle="--" if label in dashed else "-")
    if reference is not None:
        ax.axhline(reference, color="k", linestyle="--", linewidth=0.8, label=f"floor {reference:.4f}")
    ax.set_xlabel("sweep")
    ax.set_ylabel("NLL (nats)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)


def plot_samples(samples: np.ndarray, shape: Sequence[int], path: str | os.PathLike, columns: int = 10,
                 title: str = "samples") -> None:
    """A grid of samples drawn as images of ``shape`` (rows, cols)."""
    plt = _pyplot()
    samples = np.asarray(samples)
    rows = int(np.ceil(len(samples) / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(columns * 0.8, rows * 0.8 + 0.4), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < len(samples):
            ax.imshow(samples[i].reshape(shape), cmap="gray_r", vmin=0, vmax=max(1, samples.max()))
    fig.suptitle(title, fontsize=9)
    save_figure(fig, path)
    plt.close(fig)


def plot_fidelity(fidelities: Sequence[float], path: str | os.PathLike,
                  curves: Mapping[str, Sequence[float]] | None = None) -> None:
    """Fidelity of the compiled circuit against the number of layers (several labelled curves allowed)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for label, values in (curves or {"fidelity": fidelities}).items():
        ax.plot(np.arange(1, len(values) + 1), values, marker="o", label=label)
    ax.set_xlabel("layers")
    ax.set_ylabel("fidelity |<mps|circuit>|^2")
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)
