"""Symbolic parameters: affine arithmetic, binding by name and by Parameter, and bound circuits equal
the same circuit written with numbers."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from refs import dense_statevector

import tnq
from tnq import Circuit, Parameter
from tnq.circuit.parameters import ParameterExpression

REALS = st.floats(min_value=-10, max_value=10, allow_nan=False, allow_infinity=False)


@settings(max_examples=60)
@given(a=REALS, b=REALS, k=REALS.filter(lambda x: abs(x) > 1e-3), t=REALS, u=REALS)
def test_affine_arithmetic_evaluates_like_numbers(a, b, k, t, u):
    x, y = Parameter("x"), Parameter("y")
    expressions = [
        (x + a, t + a), (a + x, a + t), (x - a, t - a), (a - x, a - t), (k * x, k * t), (x * k, t * k),
        (x / k, t / k), (-x, -t), (x + y, t + u), (x - y, t - u), (a * x + b * y - 3.0, a * t + b * u - 3.0),
        ((x + y) * k - y, (t + u) * k - u), (2 * (x - 0.5) / k, 2 * (t - 0.5) / k),
    ]
    for expr, expected in expressions:
        assert isinstance(expr, ParameterExpression)
        assert expr.bind({"x": t, "y": u}) == pytest.approx(expected, abs=1e-9)
        assert expr.bind({x: t, y: u}) == pytest.approx(expected, abs=1e-9)


def test_symbols_equality_and_cancellation():
    x, y = Parameter("x"), Parameter("y")
    assert (x + y).symbols == {"x", "y"}
    assert (x - x).symbols == frozenset()
    assert (x - x + 2).bind({}) == 2.0
    assert Parameter("x") == x and hash(Parameter("x")) == hash(x)
    assert x + y == y + x
    assert 2 * x != 3 * x
    with pytest.raises(TypeError):
        x * y  # not affine
    with pytest.raises(TypeError):
        x * "a"
    with pytest.raises(tnq.CircuitError, match="non-empty string name"):
        Parameter("")


def test_circuit_parameters_and_binding_by_name_or_parameter():
    t, u = Parameter("theta"), Parameter("phi")
    c = Circuit(3)
    c.h(0)
    c.rx(t, 0)
    c.cp(2 * u - t, 0, 1)
    c.u(t, u, 0.25, 2)
    c.rzz(u / 3, 1, 2)
    assert c.parameters == ["phi", "theta"]
    by_name = c.bind({"theta": 0.4, "phi": -1.3})
    by_param = c.bind({t: 0.4, u: -1.3})
    mixed = c.bind({t: 0.4, "phi": -1.3})
    assert by_name.parameters == by_param.parameters == mixed.parameters == []
    assert c.parameters == ["phi", "theta"]  # binding returns a copy
    numeric = Circuit(3)
    numeric.h(0)
    numeric.rx(0.4, 0)
    numeric.cp(2 * -1.3 - 0.4, 0, 1)
    numeric.u(0.4, -1.3, 0.25, 2)
    numeric.rzz(-1.3 / 3, 1, 2)
    expected = dense_statevector(numeric)
    for bound in (by_name, by_param, mixed):
        np.testing.assert_allclose(dense_statevector(bound), expected, atol=1e-12)
        np.testing.assert_allclose(tnq.simulate(bound, method="mps").statevector(), expected, atol=1e-10)


def test_partial_binding_keeps_the_rest_symbolic():
    t, u = Parameter("t"), Parameter("u")
    c = Circuit(1).rx(t, 0).ry(u, 0)
    with pytest.raises(tnq.CircuitError, match="'u'"):
        c.bind({"t": 0.1})


@settings(max_examples=30)
@given(values=st.lists(REALS, min_size=2, max_size=2))
def test_qaoa_with_symbols_equals_numeric_qaoa(values):
    gamma, beta = values
    edges = [(0, 1), (1, 2), (2, 3), (3, 0), (0, 2)]
    g, b = Parameter("g"), Parameter("b")
    symbolic = tnq.qaoa(edges, [g], [b])
    assert symbolic.parameters == ["b", "g"]
    np.testing.assert_allclose(dense_statevector(symbolic.bind({g: gamma, b: beta})),
                               dense_statevector(tnq.qaoa(edges, [gamma], [beta])), atol=1e-12)


def test_qaoa_matches_its_hamiltonian_definition():
    """|+>^n, exp(-i gamma C), exp(-i beta B) with C = sum_edges Z_a Z_b, B = sum_q X_q, built by matrices."""
    from scipy.linalg import expm

    edges, gamma, beta, n = [(0, 1), (1, 2), (0, 2)], 0.37, -0.81, 3
    z, x, eye = np.diag([1.0, -1.0]), np.array([[0.0, 1.0], [1.0, 0.0]]), np.eye(2)

    def on(ops):
        out = np.array([[1.0]])
        for q in range(n):
            out = np.kron(out, ops.get(q, eye))
        return out

    cost = sum(on({a: z, b: z}) for a, b in edges)
    mixer = sum(on({q: x}) for q in range(n))
    psi = np.full(2**n, 2 ** (-n / 2), dtype=complex)
    psi = expm(-1j * beta * mixer) @ (expm(-1j * gamma * cost) @ psi)
    np.testing.assert_allclose(dense_statevector(tnq.qaoa(edges, [gamma], [beta])), psi, atol=1e-12)


def test_torch_parameters_flow_through_bind():
    torch = pytest.importorskip("torch")
    theta = torch.tensor(0.3, dtype=torch.float64)
    c = Circuit(1).ry(2 * Parameter("t") + 0.1, 0)
    bound = c.bind({"t": theta})
    m = bound.ops[0].unitary()
    np.testing.assert_allclose(np.asarray(m.detach()), tnq.GATES["ry"].matrix(0.7), atol=1e-14)
    assert math.isclose(float(bound.ops[0].params[0]), 0.7)
