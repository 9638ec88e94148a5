"""simulate(circuit, parameters=...) and State.rebind: every backend against binding the circuit and
simulating it from scratch; the compiled affine angles, the reuse of the contraction tree, autograd
through a rebinding, and the errors for bad values."""

from __future__ import annotations

import math

import numpy as np
import pytest

import tnq
from tnq.circuit.gates import GATES
from tnq.circuit.parameters import Parameter
from tnq.contraction import TreeCache
from tnq.errors import CircuitError, SimulationError


def symbolic_random_circuit(n: int, num_gates: int, seed: int) -> tuple[tnq.Circuit, list[Parameter]]:
    """Random gates of every parametrised kind; each angle an affine expression of a few shared symbols
    (or a plain number), plus custom unitaries and fixed gates."""
    rng = np.random.default_rng(seed)
    symbols = [Parameter(f"s{k}") for k in range(5)]
    names = [g for g, spec in GATES.items() if spec.num_qubits <= min(3, n)] + ["unitary"]
    c = tnq.Circuit(n)
    for _ in range(num_gates):
        name = str(rng.choice(names))
        k = GATES[name].num_qubits if name != "unitary" else 1
        qubits = [int(q) for q in rng.choice(n, size=k, replace=False)]
        if name == "unitary":
            q, _ = np.linalg.qr(rng.normal(size=(2, 2)) + 1j * rng.normal(size=(2, 2)))
            c.unitary(q, qubits)
            continue
        params = []
        for _ in range(GATES[name].num_params):
            kind = rng.integers(3)
            a, b = symbols[rng.integers(5)], symbols[rng.integers(5)]
            params.append(float(rng.uniform(-3, 3)) if kind == 0 else
                          a if kind == 1 else 0.5 * a - 2 * b + 0.25)
        c.append(name, qubits, params)
    return c, symbols


@pytest.mark.parametrize("method", ["dense", "mps", "contract"])
@pytest.mark.parametrize("seed", range(4))
def test_rebind_equals_binding_and_simulating(method: str, seed: int) -> None:
    n = 5
    circuit, symbols = symbolic_random_circuit(n, 40, seed)
    rng = np.random.default_rng(100 + seed)
    bits = rng.integers(0, 2, size=(6, n))
    first = dict(zip(symbols, rng.uniform(-3, 3, 5)))
    state = tnq.simulate(circuit, method, parameters=first, cache=TreeCache())
    reference = tnq.simulate(circuit.bind(first), "dense")
    np.testing.assert_allclose(state.amplitudes(bits), reference.amplitudes(bits), atol=1e-10)
    for _ in range(2):
        values = rng.uniform(-3, 3, 5)  # a vector, in circuit.parameters order
        rebound = state.rebind(values)
        expected = tnq.simulate(circuit.bind(dict(zip(circuit.parameters, values))), "dense")
        np.testing.assert_allclose(rebound.amplitudes(bits), expected.amplitudes(bits), atol=1e-10)
        assert abs(rebound.expectation("Z0 X1") - expected.expectation("Z0 X1")) < 1e-10
        assert rebound.info["reason"] == state.info["reason"]  # rebound states report how they were simulated
        assert rebound.info["gates_in_circuit"] == state.info["gates_in_circuit"]


@pytest.mark.parametrize("method", ["auto", "dense", "mps", "contract"])
@pytest.mark.parametrize("lightcone", [True, False])
def test_expectation_and_amplitudes_take_parameters_like_simulate(method: str, lightcone: bool) -> None:
    """The query front doors accept ``parameters=`` as ``simulate`` does (a mapping or a vector), on the lightcone
    path too, and give what binding the circuit first gives."""
    n = 5
    circuit, symbols = symbolic_random_circuit(n, 40, 7)
    rng = np.random.default_rng(8)
    values = rng.uniform(-3, 3, 5)
    bound = circuit.bind(dict(zip(circuit.parameters, values)))
    reference = tnq.simulate(bound, "dense")
    for observable in ("Z0 Z3", "X1 Y2 + 0.5*Z4"):
        expected = reference.expectation(observable)
        for given in (dict(zip(circuit.parameters, values)), values):
            value = tnq.expectation(circuit, observable, method, use_lightcone=lightcone, parameters=given)
            assert abs(value - expected) < 1e-10, (observable, type(given).__name__)
    bits = rng.integers(0, 2, size=(4, n))
    np.testing.assert_allclose(tnq.amplitudes(circuit, bits, method, parameters=values),
                               reference.amplitudes(bits), atol=1e-10)


def test_rebind_keeps_the_contraction_tree_and_follows_structure_changes() -> None:
    """New values reuse the cached tree; a value that makes a one-qubit run diagonal (angle 0) changes the
    network's layout, and the amplitudes stay right either way."""
    theta, phi = Parameter("theta"), Parameter("phi")
    c = tnq.Circuit(4)
    for q in range(4):
        c.h(q)
    for layer in range(3):
        for q in range(3):
            c.cz(q, q + 1)
        for q in range(4):
            c.rx(theta * (q + 1), q)
            c.rz(phi + layer, q)
    cache = TreeCache()
    state = tnq.simulate(c, "contract", parameters={"theta": 0.3, "phi": 0.1}, cache=cache)
    state.amplitude("0101")
    misses = cache.misses
    for values in ([0.7, -1.2], [1.1, 0.4]):
        amp = state.rebind(values).amplitude("0110")
        exact = tnq.simulate(c.bind(dict(zip(c.parameters, values))), "dense").amplitude("0110")
        assert abs(amp - exact) < 1e-12
    assert cache.misses == misses  # same structure: the tree was reused
    amp = state.rebind({"phi": 0.2, "theta": 0.0}).amplitude("0110")  # rx(0): runs become diagonal
    assert abs(amp - tnq.simulate(c.bind({"phi": 0.2, "theta": 0.0}), "dense").amplitude("0110")) < 1e-12


def test_rebind_is_differentiable_with_torch_values() -> None:
    torch = pytest.importorskip("torch")
    circuit, _ = symbolic_random_circuit(4, 30, seed=7)
    base = np.random.default_rng(1).uniform(-2, 2, 5)
    state = tnq.simulate(circuit, "contract", parameters=base, cache=TreeCache())
    values = torch.tensor(base, dtype=torch.float64, requires_grad=True)
    prob = (state.rebind(values).amplitudes(["0110"]).abs() ** 2).sum()
    prob.backward()

    def p(v: np.ndarray) -> float:
        return tnq.simulate(circuit.bind(dict(zip(circuit.parameters, v))), "dense").probability("0110")

    eps = 1e-6
    numeric = [(p(base + eps * e) - p(base - eps * e)) / (2 * eps) for e in np.eye(5)]
    np.testing.assert_allclose(values.grad.numpy(), numeric, atol=1e-7)


def test_bad_values_name_the_parameter() -> None:
    theta = Parameter("theta")
    c = tnq.Circuit(2)
    c.rx(theta, 0)
    c.ry(2 * Parameter("phi"), 1)
    with pytest.raises(CircuitError, match="phi"):
        tnq.simulate(c, "dense", parameters={"theta": 0.1})
    state = tnq.simulate(c, "dense", parameters={theta: 0.1, "phi": 0.2})
    with pytest.raises(CircuitError, match="expected 2 parameter values"):
        state.rebind([0.1, 0.2, 0.3])
    with pytest.raises(CircuitError, match="'theta' is not finite"):
        state.rebind([0.2, math.nan])  # circuit.parameters order: phi, theta
    with pytest.raises(SimulationError, match="parameters="):
        tnq.simulate(c.bind({"theta": 0.1, "phi": 0.2}), "dense").rebind([0.1, 0.2])
    with pytest.raises(CircuitError, match="unbound parameters"):
        tnq.simulate(c, "dense")
