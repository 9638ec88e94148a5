"""Noise models for ``tnq.sample``: quantum channels attached to gates, and readout errors on measurements.

Build one by hand::

    model = tnq.NoiseModel()
    model.add(tnq.noise.depolarizing(0.01, 2), gates=["cx"])           # after every cx
    model.add(tnq.noise.amplitude_damping(0.02), gates=["h", "x"], qubits=[0, 3])
    model.readout(0.02, 0.03)                                         # P(read 1 | 0), P(read 0 | 1), every qubit
    tnq.sample(circuit, 1000, noise=model)

or from a qiskit-aer ``NoiseModel`` (``tnq.NoiseModel.from_aer(model)``, or pass the aer model as ``noise=``),
a JSON file (``NoiseModel.from_json``) or a short spec like ``"depolarizing=0.01,readout=0.02"``
(``NoiseModel.from_spec``). A channel acts right after each gate it is attached to; its Kraus matrices are
big-endian in the gate's qubit order (row index bit 0, the most significant, is the gate's first qubit).
``qubits`` restricts a channel to those applications: for a 1-qubit channel a list of qubits, for a k-qubit one a
list of k-tuples (the gate's qubits in order). Channels attached to a gate on its exact qubits replace those
attached to the gate on any qubits (as in qiskit-aer); several at the same level act in the order added.

JSON format (every key but ``errors``/``readout`` entries' parameters optional)::

    {"errors": [{"channel": "depolarizing", "p": 0.01, "num_qubits": 2, "gates": ["cx"], "qubits": [[0, 1]]},
                {"channel": "pauli", "probabilities": {"X": 0.01, "Z": 0.02}, "gates": ["h"]},
                {"channel": "amplitude_damping", "gamma": 0.01, "gates": ["x"]},
                {"channel": "phase_damping", "lambda": 0.01, "gates": ["x"]},
                {"channel": "thermal_relaxation", "t1": 5e-5, "t2": 7e-5, "time": 5e-8, "gates": ["sx"]},
                {"channel": "kraus", "matrices": [[[[1, 0], [0, 0]], [[0, 0], [1, 0]]], ...], "gates": ["h"]}],
     "readout": [{"p01": 0.02, "p10": 0.03, "qubits": [0, 1]}]}

``gates`` left out means every gate with as many qubits as the channel; a Kraus matrix is a list of rows of
``[real, imaginary]`` pairs.
"""

from __future__ import annotations

import functools
import itertools
import json
import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .circuit import GATES
from .circuit.gates import PAULI_MATRICES, reverse_qubit_order
from .errors import NoiseError

_EPS = float(np.finfo(float).eps)


def _probability(value: Any, what: str) -> float:
    """``value`` as a float in [0, 1], or a NoiseError naming ``what``."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise NoiseError(f"{what} must be a number in [0, 1], got {value!r}") from None
    if isinstance(value, (bool, np.bool_)) or not math.isfinite(x) or not 0 <= x <= 1:
        raise NoiseError(f"{what} must be a finite number in [0, 1], got {value!r}")
    return x


def trace_tolerance(dim: int, count: int) -> float:
    """Tolerance on max|sum K^dagger K - I|: rounding of the sums (d + count terms per entry) plus that of Kraus
    matrices found by diagonalising a d^2 x d^2 Choi matrix of norm d (about d^3 eps), with a factor 16 of slack."""
    return 16 * (dim**3 + count) * _EPS


@dataclass(frozen=True, eq=False)
class Channel:
    """A completely positive trace-preserving map given by Kraus matrices (big-endian in its qubits)."""

    name: str
    kraus: tuple[np.ndarray, ...]
    probs: tuple[float, ...] | None = field(default=None)
    """For a mixed-unitary channel (every K^dagger K = p I): the weights p; then ``unitaries`` are K / sqrt(p)."""
    unitaries: tuple[np.ndarray, ...] | None = field(default=None)
    trivial: tuple[bool, ...] = field(default=())
    """For a mixed-unitary channel: whether each unitary is a phase times the identity (nothing to apply)."""

    @property
    def num_qubits(self) -> int:
        """How many qubits the channel acts on."""
        return int(round(math.log2(self.kraus[0].shape[0])))

    def apply(self, rho: np.ndarray) -> np.ndarray:
        """The channel applied to a density matrix of its own size: sum K rho K^dagger."""
        return sum(k @ rho @ k.conj().T for k in self.kraus)

    @functools.cached_property
    def pauli_codes(self) -> tuple[int, ...] | None:
        """For a mixed-unitary channel whose unitaries are all Pauli products up to a phase (depolarizing, Pauli
        channels): each one's code (``pauli_basis``); otherwise None."""
        if self.unitaries is None:
            return None
        codes = tuple(pauli_code(u) for u in self.unitaries)
        return None if min(codes) < 0 else codes


def kraus(matrices: Iterable[Any], name: str = "kraus") -> Channel:
    """A channel from Kraus matrices (2^k x 2^k, big-endian); checks sum K^dagger K = I to ``trace_tolerance``."""
    try:
        ops = tuple(np.asarray(m, dtype=np.complex128) for m in matrices)
    except (TypeError, ValueError) as exc:
        raise NoiseError(f"channel {name!r}: Kraus matrices must be complex square matrices ({exc})") from None
    if not ops:
        raise NoiseError(f"channel {name!r} has no Kraus matrices")
    dim = ops[0].shape[0] if ops[0].ndim == 2 else 0
    if dim < 2 or dim & (dim - 1) or any(k.shape != (dim, dim) for k in ops):
        raise NoiseError(f"channel {name!r}: Kraus matrices must all be 2^k x 2^k with k >= 1, got shapes "
                         f"{[k.shape for k in ops]}")
    if not all(np.isfinite(k).all() for k in ops):
        raise NoiseError(f"channel {name!r}: Kraus matrices contain non-finite numbers")
    gram = [k.conj().T @ k for k in ops]
    tol = trace_tolerance(dim, len(ops))
    error = float(np.max(np.abs(sum(gram) - np.eye(dim))))
    if error > tol:
        raise NoiseError(f"channel {name!r} is not trace preserving: max|sum K^dagger K - I| = {error:.3g} "
                         f"> {tol:.3g}")
    weights = [float(np.trace(g).real) / dim for g in gram]
    if all(np.max(np.abs(g - w * np.eye(dim))) <= tol for g, w in zip(gram, weights, strict=True)):
        keep = [i for i, w in enumerate(weights) if w > 0]
        total = sum(weights[i] for i in keep)
        unitaries = tuple(ops[i] / math.sqrt(weights[i]) for i in keep)
        trivial = tuple(bool(np.max(np.abs(u - u[0, 0] * np.eye(dim))) <= tol) for u in unitaries)
        return Channel(name, ops, tuple(weights[i] / total for i in keep), unitaries, trivial)
    return Channel(name, ops)


def pauli(probabilities: Mapping[str, float], name: str = "pauli") -> Channel:
    """A Pauli channel: Pauli string P (like ``"X"`` or ``"XZ"``, big-endian) with probability p; the identity
    takes the rest."""
    if not probabilities:
        raise NoiseError(f"channel {name!r} needs at least one Pauli probability")
    labels = list(probabilities)
    k = len(labels[0])
    if not all(isinstance(s, str) and len(s) == k and set(s) <= set("IXYZ") for s in labels) or not k:
        raise NoiseError(f"channel {name!r}: Pauli labels must be strings of I, X, Y, Z of one length, got {labels}")
    probs = {s: _probability(p, f"channel {name!r} probability of {s}") for s, p in probabilities.items()}
    rest = 1 - sum(p for s, p in probs.items() if set(s) != {"I"})
    if rest < -k * _EPS * len(probs):
        raise NoiseError(f"channel {name!r}: Pauli probabilities sum to {1 - rest:.6g} > 1")
    probs = {s: p for s, p in probs.items() if set(s) != {"I"}}
    probs["I" * k] = max(rest, 0.0)
    return kraus([math.sqrt(p) * _pauli_matrix(s) for s, p in probs.items() if p > 0], name)


PAULI_TOLERANCE = 1e-12
"""A matrix counts as a Pauli product P (up to a phase) when |tr(P^dagger M)|^2 / d^2 >= 1 - this: the part it
drops then has norm below 1e-6 (exact Clifford gates and Pauli errors sit at rounding level, about 1e-16)."""


@functools.cache
def pauli_basis(k: int) -> np.ndarray:
    """The 4^k Pauli products on k qubits, (4^k, 2^k, 2^k). Index = sum_j c_j 4^(k-1-j) over the qubits j
    (big-endian, like gate matrices), with per-qubit code c = x + 2 z: 0 = I, 1 = X, 2 = Z, 3 = Y, so that the
    code of a product of Paulis is the XOR of their codes (phases dropped)."""
    singles = [PAULI_MATRICES[c] for c in "IXZY"]
    out = []
    for digits in itertools.product(range(4), repeat=k):
        full = np.eye(1, dtype=np.complex128)
        for d in digits:
            full = np.kron(full, singles[d])
        out.append(full)
    return np.array(out)


def _pauli_weights(matrices: np.ndarray, k: int) -> np.ndarray:
    """|tr(P^dagger M)|^2 / d^2 for each of a stack of d x d matrices M (rows) and each Pauli product P."""
    basis = pauli_basis(k)
    d = 2**k
    return np.abs(np.einsum("qij,mij->mq", basis.conj(), matrices) / d) ** 2


def _best_code(weights: np.ndarray) -> np.ndarray:
    best = np.argmax(weights, axis=1)
    return np.where(1 - weights[np.arange(len(best)), best] <= PAULI_TOLERANCE, best, -1)


def pauli_code(unitary: np.ndarray) -> int:
    """The code (``pauli_basis``) of the Pauli product that ``unitary`` is up to a phase, or -1."""
    k = int(round(math.log2(unitary.shape[0])))
    return int(_best_code(_pauli_weights(np.asarray(unitary)[None], k))[0])


def pauli_images(unitary: np.ndarray) -> np.ndarray:
    """For each Pauli product P (by code), the code of U P U^dagger when that is a Pauli product up to a phase
    (always, for a Clifford U; Z-type P for a diagonal U), else -1: a Pauli P before U is the same as
    U P U^dagger after it."""
    u = np.asarray(unitary, dtype=np.complex128)
    k = int(round(math.log2(u.shape[0])))
    return _best_code(_pauli_weights(u @ pauli_basis(k) @ u.conj().T, k))


def _pauli_matrix(label: str) -> np.ndarray:
    out = np.eye(1)
    for c in label:
        out = np.kron(out, PAULI_MATRICES[c])
    return out


def depolarizing(p: float, num_qubits: int = 1) -> Channel:
    """rho -> (1 - p) rho + p I / 2^k on k qubits (qiskit-aer's ``depolarizing_error(p, k)``), p in [0, 1]."""
    p = _probability(p, "depolarizing probability")
    if num_qubits not in (1, 2, 3):
        raise NoiseError(f"depolarizing channels act on 1 to 3 qubits, got {num_qubits}")
    labels = ["".join(s) for s in itertools.product("IXYZ", repeat=num_qubits)][1:]
    return pauli({s: p / 4**num_qubits for s in labels}, f"depolarizing({p:g})")


def amplitude_damping(gamma: float) -> Channel:
    """Decay |1> -> |0> with probability ``gamma``."""
    g = _probability(gamma, "amplitude damping gamma")
    return kraus([np.array([[1, 0], [0, math.sqrt(1 - g)]]), np.array([[0, math.sqrt(g)], [0, 0]])],
                 f"amplitude_damping({g:g})")


def phase_damping(lam: float) -> Channel:
    """Loss of coherence: the off-diagonal entries shrink by sqrt(1 - ``lam``)."""
    g = _probability(lam, "phase damping lambda")
    return kraus([np.array([[1, 0], [0, math.sqrt(1 - g)]]), np.array([[0, 0], [0, math.sqrt(g)]])],
                 f"phase_damping({g:g})")


def thermal_relaxation(t1: float, t2: float, time: float) -> Channel:
    """Relaxation to |0> over a gate of duration ``time``: populations decay as exp(-time/t1), coherences as
    exp(-time/t2) (needs 0 < t2 <= 2 t1; same units for all three)."""
    values = {"t1": t1, "t2": t2, "time": time}
    for key, value in values.items():
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)) \
                or not math.isfinite(value) or value < 0 or (key != "time" and value == 0):
            raise NoiseError(f"thermal relaxation {key} must be a finite number > 0 (time >= 0), got {value!r}")
    if t2 > 2 * t1:
        raise NoiseError(f"thermal relaxation needs t2 <= 2 t1, got t1={t1!r}, t2={t2!r}")
    gamma = -math.expm1(-time / t1)
    lam = -math.expm1(-2 * time / t2 + time / t1)  # pure dephasing on top of the damping's own
    ops = [a @ b for a in amplitude_damping(gamma).kraus for b in phase_damping(lam).kraus]
    return kraus(ops, f"thermal_relaxation(t1={t1:g}, t2={t2:g}, time={time:g})")


@dataclass(frozen=True)
class Readout:
    """A readout error: ``p01`` = P(read 1 | qubit 0), ``p10`` = P(read 0 | qubit 1)."""

    p01: float
    p10: float

    def flip(self, bit: int) -> float:
        """The probability that a measured ``bit`` is recorded as its opposite."""
        return self.p01 if bit == 0 else self.p10

    @property
    def matrix(self) -> np.ndarray:
        """Row: the true value, column: the recorded one."""
        return np.array([[1 - self.p01, self.p01], [self.p10, 1 - self.p10]])


@dataclass(frozen=True)
class _Entry:
    channel: Channel
    gates: frozenset[str] | None
    qubits: frozenset[tuple[int, ...]] | None


class NoiseModel:
    """Channels after gates and readout errors on measurements, for ``tnq.sample(..., noise=model)``."""

    def __init__(self) -> None:
        self._entries: list[_Entry] = []
        self._readout: dict[int | None, Readout] = {}

    def add(self, channel: Channel, gates: Sequence[str] | str | None = None,
            qubits: Sequence[int | Sequence[int]] | None = None) -> NoiseModel:
        """Apply ``channel`` after each of ``gates`` (None: every gate of the channel's arity), on ``qubits`` only
        when given (see the module docs); returns the model."""
        if not isinstance(channel, Channel):
            raise NoiseError(f"add expects a tnq.noise channel, got {type(channel).__name__}")
        k = channel.num_qubits
        names = None if gates is None else frozenset([gates] if isinstance(gates, str) else gates)
        for g in names or ():
            if g in ("measure", "reset", "barrier"):
                raise NoiseError(f"channel {channel.name!r}: noise on {g!r} is not supported (use readout errors "
                                 "for measurements)")
            spec = GATES.get(g)
            if spec is not None and spec.num_qubits != k:
                raise NoiseError(f"channel {channel.name!r} acts on {k} qubit(s) but gate {g!r} on "
                                 f"{spec.num_qubits}")
        sites = None
        if qubits is not None:
            sites = frozenset((int(q),) if isinstance(q, (int, np.integer)) else tuple(int(x) for x in q)
                              for q in qubits)
            bad = [s for s in sites if len(s) != k or min(s) < 0]
            if bad:
                raise NoiseError(f"channel {channel.name!r} acts on {k} qubit(s); qubits {sorted(bad)} do not fit")
        self._entries.append(_Entry(channel, names, sites))
        return self

    def readout(self, p01: float, p10: float | None = None, qubits: Sequence[int] | None = None) -> NoiseModel:
        """Readout error on ``qubits`` (None: every qubit): read 1 from a 0 with probability ``p01``, 0 from a 1
        with ``p10`` (default: ``p01``); returns the model."""
        error = Readout(_probability(p01, "readout p01"), _probability(p01 if p10 is None else p10, "readout p10"))
        for q in [None] if qubits is None else qubits:
            self._readout[None if q is None else int(q)] = error
        return self

    # --- what the simulators ask -----------------------------------------------------------------------
    def channels(self, name: str, qubits: tuple[int, ...], where: str = "") -> list[Channel]:
        """The channels that follow gate ``name`` on ``qubits``, in order."""
        specific = [e for e in self._entries if e.qubits is not None and qubits in e.qubits
                    and (e.gates is None or name in e.gates)]
        chosen = specific or [e for e in self._entries if e.qubits is None and (e.gates is None and
                                                                                   e.channel.num_qubits == len(qubits)
                                                                                   or e.gates and name in e.gates)]
        for e in chosen:
            if e.channel.num_qubits != len(qubits):
                raise NoiseError(f"channel {e.channel.name!r} acts on {e.channel.num_qubits} qubit(s) but gate "
                                 f"{name!r}{where} on {len(qubits)}")
        return [e.channel for e in chosen]

    def readout_error(self, qubit: int) -> Readout | None:
        """The readout error of ``qubit``, or None."""
        return self._readout.get(qubit, self._readout.get(None))

    def check(self, circuit: Any) -> None:
        """Warn about channels attached to gates the circuit does not use, or to qubits it does not have."""
        used = {op.name for op in circuit.ops}
        unused = sorted({g for e in self._entries for g in (e.gates or ()) if g not in used})
        if unused:
            warnings.warn(f"noise model has errors on gate(s) {unused} that the circuit does not use", stacklevel=3)
        n = circuit.num_qubits
        outside = sorted({q for e in self._entries for s in (e.qubits or ()) for q in s if q >= n}
                         | {q for q in self._readout if q is not None and q >= n})
        if outside:
            warnings.warn(f"noise model names qubit(s) {outside}, outside the circuit's {n}", stacklevel=3)

    @property
    def has_readout(self) -> bool:
        """Whether any readout error is set."""
        return bool(self._readout)

    # --- other sources -----------------------------------------------------------------------------------
    @classmethod
    def from_spec(cls, text: str) -> NoiseModel:
        """``"depolarizing=0.01,readout=0.02"``: depolarizing with that p after every 1- and 2-qubit gate, and a
        symmetric readout error on every qubit (either part may be left out)."""
        model = cls()
        for part in filter(None, (p.strip() for p in str(text).split(","))):
            key, sep, value = part.partition("=")
            key = key.strip()
            if not sep or key not in ("depolarizing", "readout"):
                raise NoiseError(f"noise spec {part!r}: expected depolarizing=P or readout=P")
            if key == "readout":
                model.readout(_probability(value.strip(), f"noise spec {key}"))
            else:
                p = _probability(value.strip(), f"noise spec {key}")
                for k in (1, 2, 3):
                    model.add(depolarizing(p, k))
        return model

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "noise model") -> NoiseModel:
        """A model from the JSON structure described in the module docs; errors name ``where`` and the entry."""
        if not isinstance(data, Mapping) or set(data) - {"errors", "readout"}:
            raise NoiseError(f"{where}: expected an object with keys 'errors' and/or 'readout'")
        model = cls()
        for i, entry in enumerate(_list(data.get("errors", []), f"{where}: errors")):
            at = f"{where}: errors[{i}]"
            if not isinstance(entry, Mapping):
                raise NoiseError(f"{at}: expected an object")
            params = {k: v for k, v in entry.items() if k not in ("channel", "gates", "qubits")}
            try:
                channel = _channel_from_json(str(entry.get("channel")), params)
                model.add(channel, entry.get("gates"), entry.get("qubits"))
            except NoiseError as exc:
                raise NoiseError(f"{at}: {exc}") from None
            except (TypeError, ValueError) as exc:
                raise NoiseError(f"{at}: {exc}") from None
        for i, entry in enumerate(_list(data.get("readout", []), f"{where}: readout")):
            at = f"{where}: readout[{i}]"
            if not isinstance(entry, Mapping) or set(entry) - {"p01", "p10", "qubits"} or "p01" not in entry:
                raise NoiseError(f"{at}: expected an object with p01, optional p10 and qubits")
            try:
                model.readout(entry["p01"], entry.get("p10"), entry.get("qubits"))
            except (NoiseError, TypeError, ValueError) as exc:
                raise NoiseError(f"{at}: {exc}") from None
        return model

    @classmethod
    def from_json(cls, path: str | Path) -> NoiseModel:
        """A model from a JSON file (format in the module docs)."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise NoiseError(f"{path}: cannot read the noise model ({exc.__class__.__name__}: {exc})") from None
        except json.JSONDecodeError as exc:
            raise NoiseError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from None
        return cls.from_dict(data, str(path))

    @classmethod
    def from_aer(cls, aer_model: Any) -> NoiseModel:
        """Convert a qiskit-aer ``NoiseModel``: its quantum errors (via their Kraus form) per gate and qubits, and
        its single-qubit readout errors. Non-local and multi-qubit readout errors are refused."""
        from qiskit.quantum_info import Kraus

        def channel(error: Any, label: str) -> Channel:
            try:  # a mixture of unitary circuits stays one: its trajectories need no state-dependent weights
                from qiskit.quantum_info import Operator

                ops = [reverse_qubit_order(Operator(c).data) for c in error.circuits]  # aer: little-endian
                return kraus([math.sqrt(max(float(p), 0.0)) * u for p, u in zip(error.probabilities, ops,
                                                                                strict=True)], label)
            except Exception:  # noqa: BLE001 - circuits with resets or Kraus instructions: the general form
                pass
            return kraus([reverse_qubit_order(k) for k in Kraus(error).data], label)

        if getattr(aer_model, "_nonlocal_quantum_errors", None):
            raise NoiseError(f"aer noise model: non-local errors on {sorted(aer_model._nonlocal_quantum_errors)} "
                             "are not supported")
        model = cls()
        for gate, error in aer_model._default_quantum_errors.items():
            model.add(channel(error, f"aer error on {gate}"), [gate])
        for gate, errors in aer_model._local_quantum_errors.items():
            for qubits, error in errors.items():
                model.add(channel(error, f"aer error on {gate} {list(qubits)}"), [gate], [tuple(qubits)])
        readouts = ([(None, aer_model._default_readout_error)] if aer_model._default_readout_error else []) \
            + list(aer_model._local_readout_errors.items())
        for qubits, error in readouts:
            if error.number_of_qubits != 1:
                raise NoiseError(f"aer noise model: correlated readout error on {error.number_of_qubits} qubits "
                                 "is not supported")
            probs = np.asarray(error.probabilities)
            model.readout(probs[0, 1], probs[1, 0], None if qubits is None else list(qubits))
        return model


def _list(value: Any, what: str) -> list:
    if not isinstance(value, list):
        raise NoiseError(f"{what} must be a list")
    return value


def _channel_from_json(name: str, params: dict[str, Any]) -> Channel:
    makers = {"depolarizing": (depolarizing, {"p", "num_qubits"}), "pauli": (pauli, {"probabilities"}),
              "amplitude_damping": (amplitude_damping, {"gamma"}), "phase_damping": (phase_damping, {"lambda"}),
              "thermal_relaxation": (thermal_relaxation, {"t1", "t2", "time"}), "kraus": (None, {"matrices"})}
    if name not in makers:
        raise NoiseError(f"unknown channel {name!r}; expected one of {sorted(makers)}")
    make, allowed = makers[name]
    if set(params) - allowed:
        raise NoiseError(f"channel {name!r}: unexpected key(s) {sorted(set(params) - allowed)}")
    if name == "kraus":
        try:
            matrices = [np.asarray(m, dtype=float) @ np.array([1, 1j]) for m in params.get("matrices", [])]
        except (TypeError, ValueError):
            raise NoiseError("channel 'kraus': matrices must be lists of rows of [real, imaginary] pairs") from None
        return kraus(matrices)
    if name == "phase_damping":
        params = {"lam": params.get("lambda")}
    return make(**params)


def as_noise_model(noise: Any) -> NoiseModel | None:
    """``noise`` as a NoiseModel: None, a NoiseModel, a qiskit-aer NoiseModel, or a spec string."""
    if noise is None or isinstance(noise, NoiseModel):
        return noise
    if isinstance(noise, str):
        return NoiseModel.from_spec(noise)
    if type(noise).__name__ == "NoiseModel" and hasattr(noise, "_default_quantum_errors"):
        return NoiseModel.from_aer(noise)
    raise NoiseError(f"noise must be a tnq.NoiseModel, a qiskit-aer NoiseModel or a spec string, "
                     f"got {type(noise).__name__}")
