"""Compile an MPS into a circuit of two-qubit gates: Ran's analytic staircase layers (Phys. Rev. A 101, 032310,
2020), each followed by optimisation of all gates (the protocol of Rudolph et al., 2022).

Layer construction: truncate the residual state to bond dimension 2 in right-canonical form; each site tensor
B_k (alpha, s, beta) is an isometry |alpha>|0> -> sum B |s>|beta>, completed to a 4x4 unitary on qubits
(k, k+1); the last site's 2x2 unitary is folded into the last two-qubit gate. With layers L_1..L_K,
|psi> ~ L_1 ... L_K |0>, and the residual for layer K+1 is L_K^dag ... L_1^dag |psi> (engine MPS gates).

Optimisation: each gate in turn is replaced by the unitary maximising ``|<psi|C|0>|`` given its environment
(polar decomposition), sweeping forward through the circuit with cached backward states (dense, n <= 22).

The result depends on the state only, not on the MPS's gauge or the CPU's BLAS kernels: the truncation fixes its
singular vectors canonically (also inside clusters of equal Schmidt values, which symmetric data sets produce),
gate completions are canonical, and where an environment leaves part of a gate free the sweep keeps the current one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..checks import Number, check_numbers
from ..circuit import Circuit
from ..tensornet import MPS
from ..tensornet.decompose import canonical_basis
from .errors import BornError

DENSE_LIMIT = 22
"""Gate optimisation keeps dense environments: at most this many qubits."""

_COMPILE_RULES = {"n_layers": Number(integer=True, minimum=1), "restarts": Number(integer=True, minimum=0)}
"""The number settings of ``mps_to_circuit``."""

Gate = tuple[int, np.ndarray]  # (first qubit k, 4x4 unitary on qubits k, k+1; k is the most significant bit)


@dataclass
class CompiledCircuit:
    """Result of ``mps_to_circuit``: the circuit, fidelity ``|<mps|circuit|0>|^2`` per number of layers
    (after optimisation, and with Ran's analytic layers alone), and the gates layer by layer."""

    circuit: Circuit
    fidelities: list[float]
    analytic_fidelities: list[float]
    layers: list[list[Gate]] = field(repr=False)


def complete_unitary(columns: np.ndarray, n: int) -> np.ndarray:
    """An n x n unitary whose first ``columns.shape[1]`` columns (orthonormal up to round-off) are ``columns``;
    the rest are the ``canonical_basis`` of their orthogonal complement, fixed by ``columns`` alone."""
    k = columns.shape[1]
    complement = np.eye(n, dtype=complex) - columns @ columns.conj().T  # its own square root: a projector
    return np.hstack([columns, canonical_basis(complement, n - k)])


def _pad(t: np.ndarray, left: int, right: int) -> np.ndarray:
    out = np.zeros((left, t.shape[1], right), dtype=complex)
    out[: t.shape[0], :, : t.shape[2]] = t
    return out


NEGLIGIBLE = 1e-7
"""The analytic step drops singular values below this times the largest (weight < 1e-14, far below any fidelity
the sweeps resolve): their vectors are set by rounding, and as gate columns they would steer the later layers."""


def truncate_right_canonical(mps: MPS, max_bond: int) -> MPS:
    """A copy truncated to ``max_bond`` by a right-to-left sweep of ``split_block`` (centre ends at site 0). The
    sweep starts at the last site, so each split sees its right-hand bond in the basis the previous split fixed, and
    ``split_block``'s canonical vectors make the result depend on the state alone."""
    out = MPS([np.asarray(t, dtype=complex) for t in mps.tensors])
    out.canonicalize(out.num_sites - 1)
    out.normalize()
    for k in range(out.num_sites - 2, -1, -1):
        block = np.tensordot(out.tensors[k], out.tensors[k + 1], axes=(2, 0))
        out.split_block(k, block, max_bond, 0.0, absorb="left", value_cutoff=NEGLIGIBLE)
    out.normalize()
    return out


def analytic_layer(mps: MPS) -> list[Gate]:
    """Ran's staircase for the bond-2 approximation of ``mps``: gates in application order on (k, k+1)."""
    n = mps.num_sites
    b = truncate_right_canonical(mps, 2).tensors
    gates: list[Gate] = []
    for k in range(n - 1):
        t = _pad(b[k], b[k].shape[0], 2)  # (alpha, s, beta), beta padded to the bond qubit
        used = [0, 2][: t.shape[0]]  # |alpha>|0> is input 2 alpha; it maps to the state (s, beta) in row alpha
        gate = np.empty((4, 4), dtype=complex)
        gate[:, used + [c for c in range(4) if c not in used]] = complete_unitary(t.reshape(t.shape[0], 4).T, 4)
        gates.append((k, gate))
    last = _pad(b[n - 1], 2, 1)[:, :, 0].T  # (s, alpha): maps the bond qubit to the last physical qubit
    last = complete_unitary(last[:, : b[n - 1].shape[0]], 2) if b[n - 1].shape[0] < 2 else last
    k, g = gates[-1]
    gates[-1] = (k, np.kron(np.eye(2), last) @ g)
    return gates


def apply_gates_mps(mps: MPS, gates: list[Gate], dagger: bool = False) -> MPS:
    """Apply gates (or their adjoints in reverse order) to a copy of ``mps`` exactly with the engine."""
    out = mps.copy()
    seq = [(k, g.conj().T) for k, g in reversed(gates)] if dagger else gates
    for k, g in seq:
        out.apply_gate(k, g)
    return out


def circuit_fidelity(target: MPS, layers: list[list[Gate]]) -> float:
    """|<target|L_1 ... L_K|0>|^2 / |target|^2, by engine MPS gate application."""
    state = MPS.product_state(target.num_sites)
    for layer in reversed(layers):
        state = apply_gates_mps(state, layer)
    return abs(target.overlap(state)) ** 2 / (target.norm() ** 2 * state.norm() ** 2)


def _apply_dense(psi: np.ndarray, k: int, gate: np.ndarray) -> np.ndarray:
    """A 4x4 gate on qubits (k, k+1) of a dense state tensor of shape (2,)*n."""
    return np.matmul(gate, psi.reshape(2**k, 4, -1)).reshape(psi.shape)


def _environment(forward: np.ndarray, backward: np.ndarray, k: int) -> np.ndarray:
    """env[in, out] = sum over the other qubits of forward[.., in, ..] conj(backward[.., out, ..])."""
    f = forward.reshape(2**k, 4, -1).transpose(1, 0, 2).reshape(4, -1)
    b = backward.reshape(2**k, 4, -1).transpose(1, 0, 2).reshape(4, -1)
    return f @ b.conj().T


RANK_TOL = 1e-12
"""Singular values of a gate's environment below this times the largest are zero: the environment has no say there."""


def best_unitary(env: np.ndarray, current: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The unitary g maximising Re Tr(g env) = sum(s) (the polar factor of env^H) and env's singular values s.
    Where env is rank deficient every completion is a maximiser; the one closest to ``current`` is taken
    (the polar factor of ``current`` between the null spaces), so the choice is not left to LAPACK's rounding."""
    u, s, vh = np.linalg.svd(env)
    rank = int(np.count_nonzero(s > RANK_TOL * s[0])) if s[0] > 0 else 0
    g = vh[:rank].conj().T @ u[:, :rank].conj().T
    if rank < len(s):
        out_null = np.eye(len(s)) - vh[:rank].conj().T @ vh[:rank]
        in_null = np.eye(len(s)) - u[:, :rank] @ u[:, :rank].conj().T
        a, _, bh = np.linalg.svd(out_null @ current @ in_null)
        g = g + a[:, :len(s) - rank] @ bh[:len(s) - rank]
    return g, s


def optimise_gates(target: np.ndarray, gates: list[Gate], iterations: int,
                   tol: float = 1e-10) -> tuple[list[Gate], float]:
    """Sweep polar-decomposition updates over ``gates`` (application order) to maximise ``|<target|C|0>|^2``;
    ``target`` is a normalised dense state tensor of shape (2,)*n. Returns (gates, fidelity)."""
    n = target.ndim
    gates = [(k, g.copy()) for k, g in gates]
    zero = np.zeros((2,) * n, dtype=complex)
    zero[(0,) * n] = 1.0
    fidelity = 0.0
    for _ in range(iterations):
        backward = [None] * len(gates)  # backward[j] = G_{j+1}^dag ... G_L^dag |target>
        b = target
        for j in range(len(gates) - 1, -1, -1):
            backward[j] = b
            k, g = gates[j]
            b = _apply_dense(b, k, g.conj().T)
        f = zero
        overlap = 0.0
        for j, (k, g) in enumerate(gates):
            g, s = best_unitary(_environment(f, backward[j], k), g)
            gates[j] = (k, g)
            overlap = float(s.sum())
            f = _apply_dense(f, k, g)
        new = overlap**2
        if abs(new - fidelity) < tol:
            fidelity = new
            break
        fidelity = new
    return gates, fidelity


RESTART_ANGLE = 0.1
"""Restarts turn every start gate by exp(i RESTART_ANGLE H), H a fixed pseudo-random Hermitian matrix (unit entries)."""

RESTART_SEED = 20220310
"""Seed of those rotations: restarts are deterministic, the same for every gauge of the state and every CPU."""

RESTART_MARGIN = 1e-9
"""A later run replaces the best one only if it is better by more than this, so rounding cannot pick the run."""


def _perturbed(gates: list[Gate], rng: np.random.Generator) -> list[Gate]:
    """Each gate turned by a small fixed-seed unitary on its input, to leave a stationary point of the sweeps."""
    import scipy.linalg  # here: only restarts need it, and it costs ~0.3 s at every tnq born start-up

    out = []
    for k, g in gates:
        h = rng.normal(size=(4, 4)) + 1j * rng.normal(size=(4, 4))
        out.append((k, g @ scipy.linalg.expm(0.5j * RESTART_ANGLE * (h + h.conj().T))))
    return out


def _staircase(target: MPS, n_layers: int,
               refine: Callable[[list[Gate], int], list[Gate]] | None = None) -> tuple[list[list[Gate]], list[float]]:
    """Add Ran's analytic layers one at a time (each from the residual L_K^dag ... L_1^dag |target>); after each,
    ``refine(gates in application order, layer index)`` may replace all gates. Returns layers and fidelities."""
    layers: list[list[Gate]] = []
    fidelities = []
    for index in range(n_layers):
        residual = target
        for layer in layers:
            residual = apply_gates_mps(residual, layer, dagger=True)
        layers.append(analytic_layer(residual))
        if refine is not None:
            flat = refine([g for layer in reversed(layers) for g in layer], index)  # L_K first
            sizes = [len(layer) for layer in reversed(layers)]
            chunks, start = [], 0
            for size in sizes:
                chunks.append(flat[start:start + size])
                start += size
            layers = list(reversed(chunks))
        fidelities.append(circuit_fidelity(target, layers))
    return layers, fidelities


def mps_to_circuit(mps: MPS, n_layers: int, optimise: bool = True, iterations: int = 200,
                   restarts: int = 3) -> CompiledCircuit:
    """Encode a qubit MPS (d = 2) as ``n_layers`` staircase layers of two-qubit gates.

    Layers are added one at a time by Ran's analytic step; with ``optimise`` all gates are then optimised
    (up to ``iterations`` sweeps) before the next layer is added. Fidelities are reported per layer count.
    The result depends on the state alone, not on the gauge of ``mps`` or on the CPU's rounding: the analytic
    layers come from a canonical form fixed by the state (``MPS.split_block``, ``complete_unitary``) and the sweeps
    make no arbitrary choice (``best_unitary``). The sweeps stop at the nearest local optimum, and symmetric states
    (data sets like bars and stripes) start them on a stationary point; so ``restarts`` more runs start every
    optimisation from fixed-seed small rotations of the gates, and the run with the best final fidelity is kept
    (each run costs about as much as the first).
    """
    if not isinstance(mps, MPS):
        raise BornError(f"mps_to_circuit expects a tnq.MPS, got {type(mps).__name__}")
    if any(t.shape[1] != 2 for t in mps.tensors):
        raise BornError("mps_to_circuit needs physical dimension 2 (qubits) at every site")
    if mps.num_sites < 2:
        raise BornError("mps_to_circuit needs at least two sites")
    check_numbers(_COMPILE_RULES, BornError, n_layers=n_layers, restarts=restarts)
    if optimise and mps.num_sites > DENSE_LIMIT:
        raise BornError(f"gate optimisation is dense and limited to {DENSE_LIMIT} qubits; "
                        f"got {mps.num_sites} (use optimise=False)")
    target_mps = MPS([np.asarray(t, dtype=complex) for t in mps.tensors])
    target_mps.canonicalize(0)
    target_mps.normalize()
    analytic, analytic_fids = _staircase(target_mps, n_layers)
    final, fidelities = analytic, analytic_fids
    if optimise:
        dense = target_mps.to_dense().reshape((2,) * mps.num_sites)
        best: tuple[list[list[Gate]], list[float]] | None = None
        for run in range(restarts + 1):
            def refine(flat: list[Gate], index: int, run: int = run) -> list[Gate]:
                if run:
                    flat = _perturbed(flat, np.random.default_rng([RESTART_SEED, run, index]))
                return optimise_gates(dense, flat, iterations)[0]

            layers, fids = _staircase(target_mps, n_layers, refine)
            if best is None or fids[-1] > best[1][-1] + RESTART_MARGIN:
                best = (layers, fids)
        final, fidelities = best
    circuit = Circuit(mps.num_sites, name=f"mps_to_circuit({n_layers} layers)")
    for layer in reversed(final):
        for k, g in layer:
            circuit.unitary(g, [k, k + 1])
    return CompiledCircuit(circuit, fidelities, analytic_fids, final)
