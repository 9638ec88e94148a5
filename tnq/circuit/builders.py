"""Builders for the standard benchmark families: GHZ, QFT, brickwork, 2D grid, QAOA, BV, random."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from ..errors import CircuitError
from .circuit import Circuit
from .gates import GATES


def _rng(seed: int | np.random.Generator | None) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def ghz(n: int) -> Circuit:
    """(|0...0> + |1...1>)/sqrt(2) by a CNOT chain."""
    c = Circuit(n, name=f"ghz_{n}")
    c.h(0)
    for q in range(n - 1):
        c.cx(q, q + 1)
    return c


def qft(n: int, swaps: bool = True, inverse: bool = False) -> Circuit:
    """Quantum Fourier transform (qiskit's convention), with the final bit-reversal swaps if asked."""
    c = Circuit(n, name=f"qft_{n}")
    sign = -1.0 if inverse else 1.0
    for j in reversed(range(n)):
        c.h(j)
        for k in reversed(range(j)):
            c.cp(sign * math.pi / 2 ** (j - k), k, j)
    if swaps:
        for q in range(n // 2):
            c.swap(q, n - 1 - q)
    if inverse:
        inv = Circuit(n, name=f"iqft_{n}")
        ops = [op for op in c.ops]
        for op in reversed(ops):
            inv.append(op.name, op.qubits, op.params)
        return inv
    return c


def random_u3_layer(circuit: Circuit, rng: np.random.Generator, qubits: Iterable[int] | None = None) -> None:
    """Append a Haar-like random single-qubit U3 on each qubit."""
    for q in qubits if qubits is not None else range(circuit.num_qubits):
        theta = math.acos(1 - 2 * rng.random())
        phi, lam = rng.uniform(0, 2 * math.pi, size=2)
        circuit.u3(theta, phi, lam, q)


def brickwork(n: int, depth: int, seed: int | None = 0, entangler: str = "cz") -> Circuit:
    """1D random brickwork: per layer, random U3 on all qubits then ``entangler`` on alternating pairs."""
    if entangler not in GATES or GATES[entangler].num_qubits != 2 or GATES[entangler].num_params:
        raise CircuitError(f"brickwork entangler must be a fixed 2-qubit gate, got {entangler!r}")
    rng, c = _rng(seed), Circuit(n, name=f"brickwork_{n}x{depth}")
    for layer in range(depth):
        random_u3_layer(c, rng)
        for q in range(layer % 2, n - 1, 2):
            c.append(entangler, (q, q + 1))
    return c


def grid_random(rows: int, cols: int, depth: int, seed: int | None = 0) -> Circuit:
    """Sycamore-style 2D random circuit: H layer, then per cycle random sqrt(X|Y|W) and CZ on one of
    four edge patterns (cycled ABCDCDAB). Qubit ``r * cols + c`` sits at row r, column c."""
    rng, n = _rng(seed), rows * cols
    c = Circuit(n, name=f"grid_{rows}x{cols}x{depth}")
    index = lambda r, k: r * cols + k  # noqa: E731
    patterns = {
        "A": [(index(r, k), index(r, k + 1)) for r in range(rows) for k in range(0, cols - 1, 2)],
        "B": [(index(r, k), index(r, k + 1)) for r in range(rows) for k in range(1, cols - 1, 2)],
        "C": [(index(r, k), index(r + 1, k)) for r in range(0, rows - 1, 2) for k in range(cols)],
        "D": [(index(r, k), index(r + 1, k)) for r in range(1, rows - 1, 2) for k in range(cols)],
    }
    sqrt_w = np.array([[1, -np.sqrt(1j)], [np.sqrt(-1j), 1]]) / np.sqrt(2)
    singles = ["sx", "sy", "sw"]
    last = [None] * n
    for q in range(n):
        c.h(q)
    for cycle in range(depth):
        for q in range(n):
            choice = rng.choice([s for s in singles if s != last[q]])
            last[q] = choice
            if choice == "sx":
                c.sx(q)
            elif choice == "sy":
                c.ry(math.pi / 2, q)
            else:
                c.unitary(sqrt_w, q, label="sqrt_w")
        for a, b in patterns["ABCDCDAB"[cycle % 8]]:
            c.cz(a, b)
    return c


def qaoa(edges: Sequence[tuple[int, int]] | Any, gammas: Sequence[Any], betas: Sequence[Any],
         num_qubits: int | None = None, weights: Sequence[float] | None = None) -> Circuit:
    """MaxCut QAOA: |+>^n, then per layer exp(-i gamma w Z_a Z_b) on edges and exp(-i beta X) mixers.
    ``edges`` may be a list of pairs or a networkx graph; angles may be symbols."""
    if hasattr(edges, "edges"):
        edges = list(edges.edges())
    edges = [tuple(int(v) for v in e) for e in edges]
    if len(gammas) != len(betas):
        raise CircuitError(f"qaoa: {len(gammas)} gammas but {len(betas)} betas")
    n = num_qubits if num_qubits is not None else 1 + max(max(e) for e in edges)
    weights = list(weights) if weights is not None else [1.0] * len(edges)
    c = Circuit(n, name=f"qaoa_{n}_p{len(gammas)}")
    for q in range(n):
        c.h(q)
    for gamma, beta in zip(gammas, betas):
        for (a, b), w in zip(edges, weights):
            c.rzz(2 * w * gamma, a, b)
        for q in range(n):
            c.rx(2 * beta, q)
    return c


def bernstein_vazirani(secret: str) -> Circuit:
    """Bernstein-Vazirani on ``len(secret) + 1`` qubits; measuring qubits 0..n-1 gives ``secret``."""
    if not secret or set(secret) - {"0", "1"}:
        raise CircuitError(f"bernstein_vazirani: secret must be a non-empty bitstring, got {secret!r}")
    n = len(secret)
    c = Circuit(n + 1, name=f"bv_{n + 1}")
    c.x(n)
    for q in range(n + 1):
        c.h(q)
    for q, bit in enumerate(secret):
        if bit == "1":
            c.cx(q, n)
    for q in range(n):
        c.h(q)
    return c


def random_circuit(n: int, num_gates: int, seed: int | None = 0, max_arity: int = 3,
                   local: bool = False) -> Circuit:
    """A random circuit over the whole gate set (and custom unitaries), for tests.
    ``local`` restricts multi-qubit gates to neighbouring qubits."""
    rng, c = _rng(seed), Circuit(n, name=f"random_{n}_{num_gates}")
    names = [g for g, s in GATES.items() if s.num_qubits <= min(max_arity, n)] + ["unitary"]
    for _ in range(num_gates):
        name = str(rng.choice(names))
        k = GATES[name].num_qubits if name != "unitary" else int(rng.integers(1, min(2, n) + 1))
        if local:
            start = int(rng.integers(0, n - k + 1))
            qubits = list(range(start, start + k))
            rng.shuffle(qubits)
        else:
            qubits = list(rng.choice(n, size=k, replace=False))
        if name == "unitary":
            z = rng.normal(size=(2**k, 2**k)) + 1j * rng.normal(size=(2**k, 2**k))
            q, r = np.linalg.qr(z)
            c.unitary(q * (np.diag(r) / np.abs(np.diag(r))), qubits)
        else:
            c.append(name, qubits, list(rng.uniform(-2 * math.pi, 2 * math.pi, GATES[name].num_params)))
    return c
