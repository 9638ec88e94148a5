"""Every gate in GATES against qiskit's matrix (converted to tnq's big-endian order), plus unitarity."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tnq.circuit.gates import GATES, is_diagonal, is_unitary, reverse_qubit_order

ANGLES = st.floats(min_value=-4 * math.pi, max_value=4 * math.pi, allow_nan=False, allow_infinity=False)


def qiskit_matrix(name: str, params: list[float]) -> np.ndarray:
    from qiskit.circuit.library import get_standard_gate_name_mapping
    from qiskit.quantum_info import Operator

    gate = get_standard_gate_name_mapping()[name]
    if params:
        gate = type(gate)(*params)
    return reverse_qubit_order(Operator(gate).data)


def test_every_gate_is_a_qiskit_standard_gate_with_the_same_shape():
    from qiskit.circuit.library import get_standard_gate_name_mapping

    mapping = get_standard_gate_name_mapping()
    for name, spec in GATES.items():
        assert name in mapping, name
        assert mapping[name].num_qubits == spec.num_qubits, name
        assert len(mapping[name].params) == spec.num_params, name


@pytest.mark.parametrize("name", sorted(GATES))
@settings(max_examples=8)
@given(data=st.data())
def test_gate_matches_qiskit_and_is_unitary(name, data):
    spec = GATES[name]
    params = [data.draw(ANGLES, label=f"param{i}") for i in range(spec.num_params)]
    ours = np.asarray(spec.matrix(*params))
    assert ours.shape == (2**spec.num_qubits,) * 2
    np.testing.assert_allclose(ours, qiskit_matrix(name, params), atol=1e-12)
    assert is_unitary(ours, atol=1e-12)
    if spec.diagonal:  # the flag lets lightcone drop the gate: it must never be a lie
        assert is_diagonal(ours)


def test_cx_uses_the_first_qubit_as_most_significant_control():
    cx = GATES["cx"].matrix()
    np.testing.assert_array_equal(cx, [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0]])
    # qiskit's own CX matrix is little-endian: converting gives back ours.
    np.testing.assert_array_equal(reverse_qubit_order(reverse_qubit_order(cx)), cx)
    assert not np.array_equal(reverse_qubit_order(cx), cx)


def test_reverse_qubit_order_is_an_involution_on_three_qubits():
    rng = np.random.default_rng(3)
    m = rng.normal(size=(8, 8)) + 1j * rng.normal(size=(8, 8))
    np.testing.assert_array_equal(reverse_qubit_order(reverse_qubit_order(m)), m)
    a, b, c = (rng.normal(size=(2, 2)) for _ in range(3))
    np.testing.assert_allclose(reverse_qubit_order(np.kron(np.kron(a, b), c)), np.kron(np.kron(c, b), a), atol=1e-14)


def test_gate_matrices_accept_torch_scalars_for_autodiff():
    torch = pytest.importorskip("torch")
    theta = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    m = GATES["ry"].matrix(theta)
    np.testing.assert_allclose(m.detach().numpy(), GATES["ry"].matrix(0.7), atol=1e-14)
    m[1, 0].real.backward()  # d sin(theta/2) / d theta = cos(theta/2) / 2
    assert abs(theta.grad.item() - math.cos(0.35) / 2) < 1e-12


def test_batched_parameters_give_a_stack_of_the_single_matrices() -> None:
    """Tensor parameters with a batch shape (one angle per gate) build every matrix at once; each slice must
    equal the matrix built from that slice's numbers, for every parameterised gate."""
    torch = pytest.importorskip("torch")
    from tnq.circuit.gates import GATES, gate_matrix

    angles = torch.tensor([0.3, 1.2, -0.7, 2.9], dtype=torch.float64)
    for name, spec in GATES.items():
        if spec.num_params == 0:
            continue
        params = [angles * (k + 1) - 0.1 * k for k in range(spec.num_params)]
        stack = gate_matrix(name, params)
        assert tuple(stack.shape) == (4, 2 ** spec.num_qubits, 2 ** spec.num_qubits), name
        for i in range(4):
            np.testing.assert_allclose(stack[i].numpy(), gate_matrix(name, [float(p[i]) for p in params]),
                                       atol=1e-12, err_msg=name)
