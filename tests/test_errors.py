"""Bad input gets one clear tnq error naming what is wrong and where, never a deep numpy traceback."""

import math

import numpy as np
import pytest

import tnq
from tnq import Circuit, CircuitError, ObservableError, Parameter, QasmError, SimulationError, TnqError

HEADER = 'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[2];\ncreg c[2];\n'  # 4 lines


# --- QASM --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("body, line, what", [
    ("h q[0]\ncx q[0],q[1];\n", 6, "needed ';'"),        # the parser notices on the next line
    ("h q[0];\nfoo q[0];\n", 6, "'foo' is not defined"),
    ("h q[0];\ncx q[0],q[5];\n", 6, "out-of-range"),
    ("h q[0];\nrx(0.1, 0.2) q[0];\n", 6, "rx"),
])
def test_malformed_qasm_names_the_line(body, line, what):
    with pytest.raises(QasmError) as info:
        Circuit.from_qasm(HEADER + body)
    message = str(info.value)
    assert f"<string>:{line}" in message and f"line {line}" in message, message
    assert what in message


def test_malformed_qasm_file_names_the_file_and_line(tmp_path):
    path = tmp_path / "broken.qasm"
    path.write_text(HEADER + "h q[0];\nx q[0]\n")
    with pytest.raises(QasmError) as info:
        Circuit.from_qasm(str(path))
    assert str(path) in str(info.value) and ":6" in str(info.value)


@pytest.mark.parametrize("statement, what", [
    ("opaque magic q;", "opaque"),
])
def test_unsupported_qasm_statements_name_the_line(statement, what):
    text = HEADER + "h q[0];\n" + statement + "\nh q[1];\n"
    with pytest.raises(QasmError) as info:
        Circuit.from_qasm(text)
    message = str(info.value)
    assert "<string>:6" in message and what in message and statement.rstrip(";") in message


def test_if_and_reset_are_read_with_their_lines():
    c = Circuit.from_qasm(HEADER + "h q[0];\nmeasure q[0] -> c[0];\nif(c==1) x q[1];\nreset q[0];\n")
    assert [(op.name, op.source) for op in c.ops][1:] == [("measure", "<string>:6"), ("x", "<string>:7"),
                                                           ("reset", "<string>:8")]
    assert c.ops[2].condition == ((0, 1), 1) and c.is_dynamic


@pytest.mark.parametrize("statement, what", [
    ("if(c==4) x q[1];", "condition value 4 does not fit register c (2 bit(s)): expected 0..3"),
    ("if(d==1) x q[1];", "'d' is not defined"),
    ("measure q[0] -> c[2];", "out-of-range"),
])
def test_bad_classical_control_names_the_line(statement, what):
    with pytest.raises(QasmError if "fit" not in what else CircuitError) as info:
        Circuit.from_qasm(HEADER + "h q[0];\n" + statement + "\n")
    assert "<string>:6" in str(info.value) and what in str(info.value)


def test_dynamic_circuit_has_no_single_state():
    c = Circuit(2, num_clbits=1).h(0).measure(0, clbits=[0]).x(1).c_if(0, 1)
    with pytest.raises(CircuitError, match=r"gate x on qubits \[1\].*no single final state; sample it with tnq.sample"):
        tnq.simulate(c)
    with pytest.raises(CircuitError, match="classical bit 1 is out of range"):
        c.measure(1, clbits=[1])
    with pytest.raises(CircuitError, match="condition on no classical register named 'd'"):
        c.h(0).c_if("d", 1)
    with pytest.raises(CircuitError, match="say which bits receive the outcomes"):
        c.measure(1)


def test_missing_qasm_file(tmp_path):
    missing = tmp_path / "nowhere" / "missing.qasm"
    for source in (str(missing), missing):
        with pytest.raises(QasmError) as info:
            Circuit.from_qasm(source)
        assert str(missing) in str(info.value) and "cannot read" in str(info.value)


def test_qiskit_loops_and_non_affine_parameters_are_refused():
    from qiskit import QuantumCircuit
    from qiskit.circuit import Parameter as QiskitParameter

    qc = QuantumCircuit(2, 1)
    qc.h(0)
    with qc.for_loop(range(2)):
        qc.x(1)
    with pytest.raises(QasmError, match=r"instruction 1 \(for_loop on qubits \[1\]\): for_loop is not supported"):
        Circuit.from_qiskit(qc)
    qc = QuantumCircuit(2, 1)
    qc.measure(0, 0)
    with qc.if_test((qc.clbits[0], 1)) as orelse:
        qc.x(1)
    with orelse:
        qc.z(1)
    with pytest.raises(QasmError, match=r"instruction 1 .*an if with an else branch"):
        Circuit.from_qiskit(qc)
    a = QiskitParameter("a")
    qc = QuantumCircuit(1)
    qc.rx(a * a, 0)
    with pytest.raises(CircuitError, match="instruction 0.*not affine"):
        Circuit.from_qiskit(qc)


# --- circuits ----------------------------------------------------------------------------------------
def test_qubit_out_of_range():
    with pytest.raises(CircuitError, match=r"gate cx: qubit 3 is out of range for a 3-qubit circuit \(valid: 0..2\)"):
        Circuit(3).cx(0, 3)
    with pytest.raises(CircuitError, match="qubit -1 is out of range"):
        Circuit(3).h(-1)
    with pytest.raises(CircuitError, match="qubit index must be an integer, got 0.5"):
        Circuit(3).h(0.5)


def test_repeated_qubit():
    with pytest.raises(CircuitError, match=r"gate ccx: repeated qubit in \[0, 1, 0\]"):
        Circuit(3).ccx(0, 1, 0)


def test_non_unitary_matrix():
    with pytest.raises(CircuitError, match=r"gate unitary on qubits \[1\] \(operation 1\): matrix is not unitary"):
        Circuit(2).h(0).unitary([[1, 1], [0, 1]], [1])


def test_wrong_matrix_shape():
    with pytest.raises(CircuitError, match=r"qubits \[0, 1\].*must be 4x4, got shape \(2, 2\)"):
        Circuit(2).unitary(np.eye(2), [0, 1])
    with pytest.raises(CircuitError, match="NaN or infinite"):
        Circuit(1).unitary([[math.nan, 0], [0, 1]], [0])
    with pytest.raises(CircuitError, match="not numeric"):
        Circuit(1).unitary("abc", [0])


@pytest.mark.parametrize("value", [math.nan, math.inf, np.float64("nan")])
def test_nan_or_infinite_parameter(value):
    with pytest.raises(CircuitError, match=r"gate rx on qubits \[1\] \(operation 0\): parameter is not finite"):
        Circuit(2).rx(value, 1)
    c = Circuit(2).rx(Parameter("t"), 1)
    with pytest.raises(CircuitError, match=r"bind: gate rx on qubits \[1\]: parameter is not finite"):
        c.bind({"t": value})


def test_complex_parameter_is_refused_when_the_gate_is_added():
    with pytest.raises(CircuitError, match=r"gate ry on qubits \[0\].*must be real"):
        Circuit(1).ry(0.3 + 0.1j, 0)
    np.testing.assert_allclose(tnq.simulate(Circuit(1).ry(0.3 + 0j, 0)).statevector(),
                               tnq.simulate(Circuit(1).ry(0.3, 0)).statevector())


def test_wrong_arity_unknown_gate_and_bad_arguments():
    with pytest.raises(CircuitError, match="h takes 0 parameter\\(s\\) then 1 qubit\\(s\\), got 2"):
        Circuit(2).h(0, 1)
    with pytest.raises(CircuitError, match="unknown gate 'foo'"):
        Circuit(2).append("foo", [0])
    with pytest.raises(CircuitError, match="parameter must be a number or Parameter, got str"):
        Circuit(1).rx("0.3", 0)
    with pytest.raises(CircuitError, match="num_qubits must be a positive integer"):
        Circuit(0)
    with pytest.raises(CircuitError, match="already measured"):
        Circuit(1).measure(0).h(0)


def test_compose_checks_sizes():
    with pytest.raises(CircuitError, match="3-qubit circuit does not fit in 2 qubits"):
        Circuit(2).compose(Circuit(3))
    with pytest.raises(CircuitError, match="3 qubits need 3 targets, got 2"):
        Circuit(4).compose(Circuit(3), qubits=[0, 1])


def test_unbound_parameter_at_simulate_names_it():
    c = Circuit(2)
    c.h(0)
    c.crz(2 * Parameter("theta") + 1, 0, 1)
    for call in (lambda: tnq.simulate(c, method="dense"), lambda: tnq.simulate(c, method="mps"),
                 lambda: tnq.expectation(c, "Z1"), lambda: c.to_qasm()):
        with pytest.raises(CircuitError, match="theta"):
            call()
    with pytest.raises(CircuitError, match="no value bound for parameter 'theta'"):
        c.bind({"phi": 1.0})


# --- simulation options ---------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["auto", "dense", "mps"])
@pytest.mark.parametrize("max_bond", [-1, 0, 2.5, True])
def test_bad_max_bond(method, max_bond):
    with pytest.raises(SimulationError, match="max_bond must be a positive integer or None"):
        tnq.simulate(tnq.ghz(3), method=method, max_bond=max_bond)


@pytest.mark.parametrize("method", ["dense", "mps"])
@pytest.mark.parametrize("cutoff", [-0.1, 1.0, 2.0, math.nan, "small"])
def test_bad_cutoff(method, cutoff):
    with pytest.raises(SimulationError, match=r"cutoff must be a number in \[0, 1\)"):
        tnq.simulate(tnq.ghz(3), method=method, cutoff=cutoff)


def test_bad_options_through_expectation():
    with pytest.raises(SimulationError, match="max_bond"):
        tnq.expectation(tnq.ghz(3), "Z0", method="mps", max_bond=-2)
    with pytest.raises(SimulationError, match="unknown method 'qpu'"):
        tnq.expectation(tnq.ghz(3), "Z0", method="qpu")


def test_unknown_method():
    with pytest.raises(SimulationError, match="unknown method 'exact'; choose one of auto, dense, mps"):
        tnq.simulate(tnq.ghz(3), method="exact")


def test_simulate_and_expectation_need_a_circuit():
    with pytest.raises(SimulationError, match="expects a tnq.Circuit, got str"):
        tnq.simulate("h q[0];")
    with pytest.raises(TnqError):
        tnq.expectation("h q[0];", "Z0")


# --- observables, bitstrings, shots ------------------------------------------------------------------
@pytest.mark.parametrize("method", ["dense", "mps"])
def test_observable_beyond_the_circuit(method):
    c = tnq.ghz(3)
    with pytest.raises(ObservableError, match=r"acts on qubit 5, but the circuit has 3 qubits \(0..2\)"):
        tnq.expectation(c, "Z0 Z5", method=method)
    with pytest.raises(ObservableError, match="acts on qubit 3"):
        tnq.simulate(c, method=method).expectation("0.5*X3")


@pytest.mark.parametrize("text, what", [
    ("Q0", "cannot read Pauli term 'Q0'"),
    ("Z0 Z0", "qubit 0 appears twice"),
    ("Z0 +", "empty term"),
    ("", "empty term"),
    ("(0.5*Z0", "unbalanced"),
    ("(abc)*Z0", "bad coefficient"),
])
def test_malformed_observable(text, what):
    with pytest.raises(ObservableError, match=what.replace("(", r"\(").replace(")", r"\)")):
        tnq.expectation(tnq.ghz(3), text)


@pytest.mark.parametrize("method", ["dense", "mps"])
def test_bad_bitstrings(method):
    state = tnq.simulate(tnq.ghz(3), method=method)
    with pytest.raises(ObservableError, match="bitstring '012' may only contain '0' and '1'"):
        state.amplitude("012")
    with pytest.raises(ObservableError, match="bitstring of length 2 given for a 3-qubit state"):
        state.amplitude("01")
    with pytest.raises(ObservableError, match="may only contain 0 and 1"):
        state.amplitudes([[0, 2, 1]])
    with pytest.raises(ObservableError, match="different lengths"):
        state.amplitudes(["010", "01"])
    with pytest.raises(ObservableError, match="a bitstring must be a string"):
        state.amplitude(5)


@pytest.mark.parametrize("method", ["dense", "mps"])
@pytest.mark.parametrize("shots", [-1, 1.5, "10", None])
def test_bad_shots(method, shots):
    state = tnq.simulate(tnq.ghz(3), method=method)
    with pytest.raises(SimulationError, match="shots must be a non-negative integer"):
        state.sample(shots)
    with pytest.raises(SimulationError, match="shots must be a non-negative integer"):
        state.counts(shots)


def test_bad_sample_qubits():
    state = tnq.simulate(tnq.ghz(3), method="mps")
    with pytest.raises(SimulationError, match="cannot sample qubit 3: the state has 3 qubits"):
        state.sample(10, qubits=[0, 3])


def test_memory_budget_is_checked_before_allocating():
    with pytest.raises(SimulationError, match="dense statevector of 30 qubits needs about 48 GiB"):
        tnq.simulate(Circuit(30), method="dense", memory_budget=2**30)


def test_every_error_is_a_tnq_error_and_a_value_error():
    for cls in (CircuitError, QasmError, ObservableError, SimulationError):
        assert issubclass(cls, TnqError) and issubclass(cls, ValueError)
