"""MPS Born machines: generative models p(x) = |psi(x)|^2 trained by two-site sweeps (Han et al. 2018),
exact and conditional sampling, offline datasets, and compilation of a trained MPS to a circuit."""

from .circuit import CompiledCircuit, mps_to_circuit
from .data import check_data
from .datasets import (
    bars_and_stripes,
    digits,
    hilbert_order,
    is_bars_and_stripes,
    load_dataset,
    mnist,
    random_strings,
)
from .errors import BornError
from .machine import MPSBornMachine

__all__ = ["MPSBornMachine", "BornError", "check_data", "mps_to_circuit", "CompiledCircuit", "bars_and_stripes",
           "is_bars_and_stripes", "digits", "hilbert_order", "mnist", "random_strings", "load_dataset"]
