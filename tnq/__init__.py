"""tnq: tensor-network simulation of quantum circuits (dense reference, MPS), with QNLP on top.

Quick start::

    import tnq
    c = tnq.ghz(50)
    state = tnq.simulate(c, method="mps", max_bond=64)
    state.counts(1000)
    tnq.sample(tnq.Circuit.from_qasm("examples/teleport.qasm"), 1000, seed=1)  # any circuit, dynamic too
    tnq.expectation(tnq.brickwork(40, 12), "Z0 Z1", method="mps", max_bond=64)
    tnq.sample(c, 1000, noise="depolarizing=0.01,readout=0.02", max_bond=64)  # noisy: quantum trajectories
"""

from . import noise
from .backends.contract import ContractState
from .backends.dense import DenseState
from .backends.mps import MPSState
from .circuit import (
    GATES,
    Circuit,
    Operation,
    Parameter,
    bernstein_vazirani,
    brickwork,
    ghz,
    grid_random,
    qaoa,
    qft,
    random_circuit,
)
from .distributed import simulate_many, sweep
from .dynamic import sample
from .errors import CircuitError, NoiseError, ObservableError, QasmError, SimulationError, TnqError, UsageError
from .noise import NoiseModel
from .observables import Hamiltonian, PauliString
from .simulate import amplitudes, expectation, simulate
from .state import State
from .tensornet import MPS

__version__ = "0.1.0"

__all__ = [
    "Circuit", "Operation", "Parameter", "GATES",
    "simulate", "sample", "sweep", "simulate_many", "noise", "NoiseModel", "expectation", "amplitudes",
    "State", "DenseState", "MPSState", "ContractState", "MPS", "PauliString", "Hamiltonian",
    "ghz", "qft", "brickwork", "grid_random", "qaoa", "bernstein_vazirani", "random_circuit",
    "TnqError", "CircuitError", "QasmError", "ObservableError", "SimulationError", "UsageError", "NoiseError",
]
