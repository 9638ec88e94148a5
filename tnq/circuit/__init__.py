"""Circuit IR: gates, symbolic parameters, the Circuit container, builders and QASM/qiskit I/O."""

from .builders import bernstein_vazirani, brickwork, ghz, grid_random, qaoa, qft, random_circuit
from .circuit import Circuit, Operation
from .gates import GATES, GateSpec, gate_matrix
from .parameters import Parameter, ParameterExpression

__all__ = ["Circuit", "Operation", "GATES", "GateSpec", "gate_matrix", "Parameter",
           "ParameterExpression", "ghz", "qft", "brickwork", "grid_random", "qaoa",
           "bernstein_vazirani", "random_circuit"]
