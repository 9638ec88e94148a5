"""Error types: one clear message naming what went wrong and where, never a deep numpy traceback."""

from __future__ import annotations


class TnqError(Exception):
    """Base class of every error tnq raises on purpose."""


class CircuitError(TnqError, ValueError):
    """A circuit is malformed: unknown gate, qubit out of range, non-unitary matrix, bad parameter."""


class QasmError(TnqError, ValueError):
    """OpenQASM input could not be read; the message names the file, line and instruction."""


class ObservableError(TnqError, ValueError):
    """A Pauli string or Hamiltonian is malformed or does not fit the circuit."""


class SimulationError(TnqError, ValueError):
    """Simulation options are invalid (method, max_bond, cutoff) or a request exceeds a budget."""


class UsageError(TnqError, ValueError):
    """An option or path given by the user is invalid: an output that would overwrite an input, an unwritable
    folder, an unknown plot format, a non-finite number."""


class NoiseError(TnqError, ValueError):
    """A noise model is invalid: a channel that is not trace preserving, a probability outside [0, 1], a
    non-finite number, a channel whose qubit count does not match its gate, or an unsupported aer error."""
