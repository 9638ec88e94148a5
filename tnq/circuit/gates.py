"""The gate set: each gate's name, arity, parameter count, matrix and whether it is diagonal.

Matrix convention (used everywhere in tnq): for a gate on qubits ``(a, b, ...)`` the first listed
qubit is the most significant bit of the matrix index, so ``cx(0, 1)`` has control 0 and the
textbook matrix ``[[1,0,0,0],[0,1,0,0],[0,0,0,1],[0,0,1,0]]``.

Matrix functions accept plain numbers (fast numpy path) or array-library scalars such as torch
tensors (dispatched through autoray), so training code can differentiate through gate matrices.
"""

from __future__ import annotations

import cmath
import math
import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

_SQRT1_2 = 1 / math.sqrt(2)


# --- scalar helpers that work for numbers and for tensors -----------------------------------------
def _is_number(x: Any) -> bool:
    return isinstance(x, numbers.Number)


def _cos(x: Any) -> Any:
    return math.cos(x) if _is_number(x) else _do("cos", x)


def _sin(x: Any) -> Any:
    return math.sin(x) if _is_number(x) else _do("sin", x)


def _expi(x: Any) -> Any:
    """exp(i x) for real x."""
    return cmath.exp(1j * x) if _is_number(x) else _do("exp", 1j * x)


def _scale(factor: Any, matrix: Any) -> Any:
    """factor * matrix, where a batched factor (shape ``batch``) scales each matrix of a stack."""
    return factor * matrix if _is_number(factor) or not getattr(factor, "ndim", 0) else factor[..., None, None] * matrix


def _do(fn: str, *args: Any) -> Any:
    from autoray import do

    return do(fn, *args)


def matrix_from_rows(rows: Sequence[Sequence[Any]]) -> Any:
    """Assemble a complex matrix from entries that may be numbers or tensors of one library. Tensor
    entries of shape ``batch`` (e.g. one angle per gate of a batch) give a stack of matrices of shape
    ``batch + (d, d)``; number entries are broadcast."""
    flat = [x for row in rows for x in row]
    ref = next((x for x in flat if not _is_number(x)), None)
    if ref is None:
        return np.array(rows, dtype=np.complex128)
    from autoray import astype, do, infer_backend

    backend = infer_backend(ref)
    batch = tuple(getattr(ref, "shape", ()))

    def entry(x: Any) -> Any:
        t = do("full", batch, complex(x), like=backend) if _is_number(x) else x
        return astype(t, "complex128")

    return do("stack", [do("stack", [entry(x) for x in row], axis=-1) for row in rows], axis=-2)


def controlled(u: Any) -> Any:
    """Block-diagonal ``diag(I, U)``: U applied when the first (control) qubit is 1 (``u`` may be a
    stack of matrices, shape ``batch + (d, d)``)."""
    if isinstance(u, np.ndarray):
        d = u.shape[-1]
        out = np.broadcast_to(np.eye(2 * d, dtype=np.complex128), u.shape[:-2] + (2 * d, 2 * d)).copy()
        out[..., d:, d:] = u
        return out
    d = u.shape[-1]
    rows = [[(1.0 if i == j else 0.0) for j in range(2 * d)] for i in range(d)]
    rows += [[0.0] * d + [u[..., i, j] for j in range(d)] for i in range(d)]
    return matrix_from_rows(rows)


# --- matrices ---------------------------------------------------------------------------------------
def u3_matrix(theta: Any, phi: Any, lam: Any) -> Any:
    c, s = _cos(theta / 2), _sin(theta / 2)
    return matrix_from_rows([[c, -_expi(lam) * s], [_expi(phi) * s, _expi(phi + lam) * c]])


def rx_matrix(theta: Any) -> Any:
    c, s = _cos(theta / 2), _sin(theta / 2)
    return matrix_from_rows([[c, -1j * s], [-1j * s, c]])


def ry_matrix(theta: Any) -> Any:
    c, s = _cos(theta / 2), _sin(theta / 2)
    return matrix_from_rows([[c, -s], [s, c]])


def rz_matrix(theta: Any) -> Any:
    return matrix_from_rows([[_expi(-theta / 2), 0.0], [0.0, _expi(theta / 2)]])


def phase_matrix(lam: Any) -> Any:
    return matrix_from_rows([[1.0, 0.0], [0.0, _expi(lam)]])


def _pauli_rotation(pauli: np.ndarray) -> Callable[[Any], Any]:
    """exp(-i theta/2 P) for a two-qubit Pauli product P."""

    def matrix(theta: Any) -> Any:
        c, s = _cos(theta / 2), _sin(theta / 2)
        rows = [[c * (i == j) - 1j * s * pauli[i, j] for j in range(4)] for i in range(4)]
        return matrix_from_rows(rows)

    return matrix


_I2 = np.eye(2, dtype=complex)
_X = np.array([[0, 1], [1, 0]], dtype=complex)
_Y = np.array([[0, -1j], [1j, 0]], dtype=complex)
_Z = np.array([[1, 0], [0, -1]], dtype=complex)
_H = np.array([[1, 1], [1, -1]], dtype=complex) * _SQRT1_2
_S = np.diag([1, 1j])
_T = np.diag([1, cmath.exp(1j * math.pi / 4)])
_SX = 0.5 * np.array([[1 + 1j, 1 - 1j], [1 - 1j, 1 + 1j]])
_SWAP = np.eye(4, dtype=complex)[[0, 2, 1, 3]]
_ISWAP = np.array([[1, 0, 0, 0], [0, 0, 1j, 0], [0, 1j, 0, 0], [0, 0, 0, 1]], dtype=complex)
PAULI_MATRICES = {"I": _I2, "X": _X, "Y": _Y, "Z": _Z}


@dataclass(frozen=True)
class GateSpec:
    """Static facts about one gate name."""

    name: str
    num_qubits: int
    num_params: int
    matrix: Callable[..., Any]
    diagonal: bool = False


def _const(m: np.ndarray) -> Callable[[], np.ndarray]:
    m = np.ascontiguousarray(m, dtype=np.complex128)
    m.setflags(write=False)
    return lambda: m


_SPECS = [
    GateSpec("id", 1, 0, _const(_I2), True),
    GateSpec("h", 1, 0, _const(_H)),
    GateSpec("x", 1, 0, _const(_X)),
    GateSpec("y", 1, 0, _const(_Y)),
    GateSpec("z", 1, 0, _const(_Z), True),
    GateSpec("s", 1, 0, _const(_S), True),
    GateSpec("sdg", 1, 0, _const(_S.conj()), True),
    GateSpec("t", 1, 0, _const(_T), True),
    GateSpec("tdg", 1, 0, _const(_T.conj()), True),
    GateSpec("sx", 1, 0, _const(_SX)),
    GateSpec("sxdg", 1, 0, _const(_SX.conj().T)),
    GateSpec("rx", 1, 1, rx_matrix),
    GateSpec("ry", 1, 1, ry_matrix),
    GateSpec("rz", 1, 1, rz_matrix, True),
    GateSpec("p", 1, 1, phase_matrix, True),
    GateSpec("u1", 1, 1, phase_matrix, True),
    GateSpec("u2", 1, 2, lambda phi, lam: u3_matrix(math.pi / 2, phi, lam)),
    GateSpec("u3", 1, 3, u3_matrix),
    GateSpec("u", 1, 3, u3_matrix),
    GateSpec("cx", 2, 0, _const(controlled(_X))),
    GateSpec("cy", 2, 0, _const(controlled(_Y))),
    GateSpec("cz", 2, 0, _const(controlled(_Z)), True),
    GateSpec("ch", 2, 0, _const(controlled(_H))),
    GateSpec("csx", 2, 0, _const(controlled(_SX))),
    GateSpec("swap", 2, 0, _const(_SWAP)),
    GateSpec("iswap", 2, 0, _const(_ISWAP)),
    GateSpec("crx", 2, 1, lambda t: controlled(rx_matrix(t))),
    GateSpec("cry", 2, 1, lambda t: controlled(ry_matrix(t))),
    GateSpec("crz", 2, 1, lambda t: controlled(rz_matrix(t)), True),
    GateSpec("cp", 2, 1, lambda lam: controlled(phase_matrix(lam)), True),
    GateSpec("cu1", 2, 1, lambda lam: controlled(phase_matrix(lam)), True),
    GateSpec("cu3", 2, 3, lambda t, p, lam: controlled(u3_matrix(t, p, lam))),
    GateSpec("cu", 2, 4, lambda t, p, lam, g: controlled(_scale(_expi(g), u3_matrix(t, p, lam)))),
    GateSpec("rxx", 2, 1, _pauli_rotation(np.kron(_X, _X))),
    GateSpec("ryy", 2, 1, _pauli_rotation(np.kron(_Y, _Y))),
    GateSpec("rzz", 2, 1, _pauli_rotation(np.kron(_Z, _Z)), True),
    GateSpec("rzx", 2, 1, _pauli_rotation(np.kron(_Z, _X))),
    GateSpec("ccx", 3, 0, _const(controlled(controlled(_X)))),
    GateSpec("ccz", 3, 0, _const(controlled(controlled(_Z))), True),
    GateSpec("cswap", 3, 0, _const(controlled(_SWAP))),
]

GATES: dict[str, GateSpec] = {spec.name: spec for spec in _SPECS}
"""Every named gate tnq knows, by lower-case name."""


def gate_matrix(name: str, params: Sequence[Any] = ()) -> Any:
    """The matrix of gate ``name`` at numeric ``params`` (numbers or tensors)."""
    return GATES[name].matrix(*params)


def is_unitary(matrix: np.ndarray, atol: float = 1e-8) -> bool:
    """True when ``matrix`` is square and ``U^dagger U = I`` to ``atol``."""
    m = np.asarray(matrix)
    return (m.ndim == 2 and m.shape[0] == m.shape[1]
            and np.allclose(m.conj().T @ m, np.eye(m.shape[0]), atol=atol))


def numeric_values(array: Any) -> np.ndarray:
    """The values of a numpy array or torch tensor as numpy, detached from autograd."""
    if isinstance(array, np.ndarray):
        return array
    detach = getattr(array, "detach", None)
    return np.asarray(detach().resolve_conj().cpu().numpy() if detach else array)


def is_diagonal(matrix: Any, atol: float = 1e-12) -> bool:
    """True when every off-diagonal entry of a numeric matrix is below ``atol``."""
    m = numeric_values(matrix)
    return bool(np.all(np.abs(m - np.diag(np.diag(m))) <= atol))


def reverse_qubit_order(matrix: np.ndarray) -> np.ndarray:
    """Convert a k-qubit matrix between big-endian (tnq) and little-endian (qiskit) order."""
    m = np.asarray(matrix)
    k = int(round(math.log2(m.shape[0])))
    axes = list(range(k))[::-1]
    t = m.reshape((2,) * (2 * k)).transpose(axes + [k + a for a in axes])
    return t.reshape(m.shape)
