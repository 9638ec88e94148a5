"""Post-selected amplitude tensors (some qubits fixed, the rest open) and their stacked form (circuits of one gate
pattern in one network), against the dense reference; gradients of the stacked form against finite differences."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import tnq
from tnq.backends.contract import stacked_amplitude_tensor
from tnq.circuit.gates import gate_matrix
from tnq.compile import Gate
from tnq.contraction import TreeCache
from tnq.errors import SimulationError


def _dense_slice(circuit: tnq.Circuit, fixed: dict[int, int], open_qubits: list[int]) -> np.ndarray:
    n = circuit.num_qubits
    psi = tnq.simulate(circuit, "dense").statevector().reshape((2,) * n)
    index = tuple(fixed.get(q, slice(None)) for q in range(n))
    remaining = [q for q in range(n) if q not in fixed]
    return np.transpose(psi[index], [remaining.index(q) for q in open_qubits])


@pytest.mark.parametrize("seed", range(6))
def test_amplitude_tensor_matches_dense_slice(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(3, 7))
    circuit = tnq.random_circuit(n, 40, seed=seed)  # includes SWAPs, so the qubit relabelling is exercised
    qubits = rng.permutation(n)
    k = int(rng.integers(1, n))
    open_qubits = [int(q) for q in qubits[:k]]
    fixed = {int(q): int(rng.integers(0, 2)) for q in qubits[k:]}
    state = tnq.simulate(circuit, "contract", cache=TreeCache())
    np.testing.assert_allclose(state.amplitude_tensor(fixed, open_qubits), _dense_slice(circuit, fixed, open_qubits),
                               atol=1e-10)


def _shape_circuit(angles: np.ndarray | list) -> tnq.Circuit:
    c = tnq.Circuit(4)
    c.h(0)
    c.rx(angles[0], 1)
    c.cx(0, 1)
    c.crz(angles[1], 1, 2)
    c.ry(angles[2], 3)
    c.cx(2, 3)
    c.rz(angles[0], 3)
    return c


def _stacked_gates(angles: Any) -> list[Gate]:
    """The gates of ``_shape_circuit`` for a stack of angle rows (angles[:, k]), numpy or torch."""
    return [Gate((0,), gate_matrix("h")), Gate((1,), gate_matrix("rx", [angles[:, 0]])),
            Gate((0, 1), gate_matrix("cx")), Gate((1, 2), gate_matrix("crz", [angles[:, 1]])),
            Gate((3,), gate_matrix("ry", [angles[:, 2]])), Gate((2, 3), gate_matrix("cx")),
            Gate((3,), gate_matrix("rz", [angles[:, 0]]))]


def test_stacks_of_one_shape_match_one_by_one_and_share_one_tree() -> None:
    rng = np.random.default_rng(5)
    cache = TreeCache()
    fixed, open_wires = {1: 0, 3: 1}, [2, 0]
    for _ in range(2):  # two stacks of the same gate pattern, new angles each time
        angles = rng.uniform(0.1, 3.0, size=(6, 3))
        batch = stacked_amplitude_tensor(_stacked_gates(angles), 4, fixed, open_wires, cache=cache)
        assert batch.shape == (6, 2, 2)
        for row, values in zip(batch, angles):
            np.testing.assert_allclose(row, _dense_slice(_shape_circuit(values), fixed, open_wires), atol=1e-10)
    assert len(cache) == 1  # one tree per shape, not per stack or per circuit


def test_batched_gradients_match_finite_differences() -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    values = rng.uniform(0.2, 2.5, size=(3, 3))

    def loss(theta: torch.Tensor) -> torch.Tensor:
        amps = stacked_amplitude_tensor(_stacked_gates(theta), 4, {1: 0, 3: 0}, [0, 2])
        probs = amps.abs() ** 2
        return (probs[:, 1, 0] / probs.sum(dim=(1, 2))).sum()

    theta = torch.tensor(values, dtype=torch.float64, requires_grad=True)
    loss(theta).backward()
    eps = 1e-6
    numeric = np.zeros_like(values)
    for idx in np.ndindex(values.shape):
        up, down = values.copy(), values.copy()
        up[idx] += eps
        down[idx] -= eps
        numeric[idx] = (loss(torch.tensor(up)).item() - loss(torch.tensor(down)).item()) / (2 * eps)
    np.testing.assert_allclose(theta.grad.numpy(), numeric, atol=1e-6)


def test_amplitude_tensor_rejects_qubits_neither_fixed_nor_open() -> None:
    state = tnq.simulate(tnq.ghz(3), "contract")
    with pytest.raises(SimulationError, match="either fixed or open"):
        state.amplitude_tensor({0: 0}, [1])
    with pytest.raises(SimulationError, match="0 or 1"):
        state.amplitude_tensor({0: 2, 1: 0}, [2])


def test_stacked_amplitude_tensor_equals_each_circuit_alone() -> None:
    """Gates with a leading batch axis (one matrix per circuit) build one network for the whole stack; each slice
    of the result must equal that circuit's dense amplitudes, also where only some gates are stacked."""
    rng = np.random.default_rng(9)
    angles = rng.uniform(0.1, 3.0, size=(5, 3))
    circuits = [_shape_circuit(row) for row in angles]
    stacked = _stacked_gates(angles)
    fixed, open_wires = {1: 0, 3: 1}, [2, 0]
    result = stacked_amplitude_tensor(stacked, 4, fixed, open_wires, cache=TreeCache())
    assert result.shape == (5, 2, 2)
    for row, circuit in zip(result, circuits):
        np.testing.assert_allclose(row, _dense_slice(circuit, fixed, open_wires), atol=1e-10)
    with pytest.raises(SimulationError, match="either fixed or open"):
        stacked_amplitude_tensor(stacked, 4, {1: 0}, open_wires)
