"""Compile an MPS into a circuit of two-qubit gates: Ran's analytic staircase layers (Phys. Rev. A 101, 032310,
2020), each followed by optimisation of all gates (the protocol of Rudolph et al., 2022).

Layer construction: truncate the residual state to bond dimension 2 in right-canonical form; each site tensor
B_k (alpha, s, beta) is an isometry |alpha>|0> -> sum B |s>|beta>, completed to a 4x4 unitary on qubits
(k, k+1); the last site's 2x2 unitary is folded into the last two-qubit gate. With layers L_1..L_K,
|psi> ~ L_1 ... L_K |0>, and the residual for layer K+1 is L_K^dag ... L_1^dag |psi> (engine MPS gates).

Optimisation: each gate in turn is replaced by the unitary maximising |<psi|C|0>| given its environment
(polar decomposition), sweeping forward through the circuit with cached backward states (dense, n <= 22).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..circuit import Circuit
from ..tensornet import MPS
from .errors import BornError

DENSE_LIMIT = 22
"""Gate optimisation keeps dense environments: at most this many qubits."""

Gate = tuple[int, np.ndarray]  # (first qubit k, 4x4 unitary on qubits k, k+1; k is the most significant bit)


@dataclass
class CompiledCircuit:
    """Result of ``mps_to_circuit``: the circuit, fidelity |<mps|circuit|0>|^2 per number of layers
    (after optimisation, and with Ran's analytic layers alone), and the gates layer by layer."""

    circuit: Circuit
    fidelities: list[float]
    analytic_fidelities: list[float]
    layers: list[list[Gate]] = field(repr=False)


def complete_unitary(columns: np.ndarray, n: int) -> np.ndarray:
    """An n x n unitary whose first ``columns.shape[1]`` columns (orthonormal up to round-off) are ``columns``;
    the rest span the orthogonal complement."""
    k = columns.shape[1]
    q, _ = np.linalg.qr(np.hstack([columns, np.eye(n, dtype=complex)]))
    q = q[:, :n]
    # QR keeps the span of the first k columns; restore their exact phases
    phases = np.sum(q[:, :k].conj() * columns, axis=0)
    q[:, :k] = q[:, :k] * (phases / np.abs(np.where(phases == 0, 1, phases)))
    return q


def _pad(t: np.ndarray, left: int, right: int) -> np.ndarray:
    out = np.zeros((left, t.shape[1], right), dtype=complex)
    out[: t.shape[0], :, : t.shape[2]] = t
    return out


def truncate_right_canonical(mps: MPS, max_bond: int) -> MPS:
    """A copy truncated to ``max_bond`` by a right-to-left sweep of ``split_block`` (centre ends at site 0)."""
    out = MPS([np.asarray(t, dtype=complex) for t in mps.tensors])
    out.canonicalize(out.num_sites - 1)
    out.normalize()
    for k in range(out.num_sites - 2, -1, -1):
        block = np.tensordot(out.tensors[k], out.tensors[k + 1], axes=(2, 0))
        out.split_block(k, block, max_bond, 0.0, absorb="left")
    out.normalize()
    return out


def analytic_layer(mps: MPS) -> list[Gate]:
    """Ran's staircase for the bond-2 approximation of ``mps``: gates in application order on (k, k+1)."""
    n = mps.num_sites
    b = truncate_right_canonical(mps, 2).tensors
    gates: list[Gate] = []
    for k in range(n - 1):
        t = _pad(b[k], 2 if k else 1, 2)  # (alpha, s, beta)
        cols = t.reshape(t.shape[0], 4).T  # column alpha: the state (s, beta) that |alpha>|0> maps to
        full = np.zeros((4, 4), dtype=complex)
        full[:, [0, 2][: cols.shape[1]]] = cols
        used = [0, 2][: cols.shape[1]]
        unitary = complete_unitary(full[:, used], 4)
        order = used + [c for c in range(4) if c not in used]
        gate = np.empty((4, 4), dtype=complex)
        gate[:, order] = unitary
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
    n = psi.ndim
    g = gate.reshape(2, 2, 2, 2)
    out = np.tensordot(g, psi, axes=([2, 3], [k, k + 1]))
    return np.moveaxis(out, [0, 1], [k, k + 1]) if n > 2 else out


def optimise_gates(target: np.ndarray, gates: list[Gate], iterations: int,
                   tol: float = 1e-10) -> tuple[list[Gate], float]:
    """Sweep polar-decomposition updates over ``gates`` (application order) to maximise |<target|C|0>|^2;
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
            rest = [a for a in range(n) if a not in (k, k + 1)]
            env = np.tensordot(f, backward[j].conj(), axes=(rest, rest)).reshape(4, 4)  # env[in, out]
            u, s, vh = np.linalg.svd(env)
            g = (u @ vh).conj().T  # maximises |Tr(g env)| = sum(s)
            gates[j] = (k, g)
            overlap = float(s.sum())
            f = _apply_dense(f, k, g)
        new = overlap**2
        if abs(new - fidelity) < tol:
            fidelity = new
            break
        fidelity = new
    return gates, fidelity


def mps_to_circuit(mps: MPS, n_layers: int, optimise: bool = True, iterations: int = 200) -> CompiledCircuit:
    """Encode a qubit MPS (d = 2) as ``n_layers`` staircase layers of two-qubit gates.

    Layers are added one at a time by Ran's analytic step; with ``optimise`` all gates are then optimised
    (up to ``iterations`` sweeps) before the next layer is added. Fidelities are reported per layer count.
    """
    if not isinstance(mps, MPS):
        raise BornError(f"mps_to_circuit expects a tnq.MPS, got {type(mps).__name__}")
    if any(t.shape[1] != 2 for t in mps.tensors):
        raise BornError("mps_to_circuit needs physical dimension 2 (qubits) at every site")
    if mps.num_sites < 2:
        raise BornError("mps_to_circuit needs at least two sites")
    if isinstance(n_layers, bool) or not isinstance(n_layers, (int, np.integer)) or n_layers < 1:
        raise BornError(f"n_layers must be a positive integer, got {n_layers!r}")
    if optimise and mps.num_sites > DENSE_LIMIT:
        raise BornError(f"gate optimisation is dense and limited to {DENSE_LIMIT} qubits; "
                        f"got {mps.num_sites} (use optimise=False)")
    target_mps = MPS([np.asarray(t, dtype=complex) for t in mps.tensors])
    target_mps.canonicalize(0)
    target_mps.normalize()
    dense = target_mps.to_dense().reshape((2,) * mps.num_sites) if optimise else None
    layers: list[list[Gate]] = []
    analytic: list[list[Gate]] = []
    fidelities, analytic_fids = [], []
    for _ in range(n_layers):
        for collection in ([analytic] + ([layers] if optimise else [])):
            residual = target_mps
            for layer in collection:  # L_K^dag ... L_1^dag |psi>
                residual = apply_gates_mps(residual, layer, dagger=True)
            collection.append(analytic_layer(residual))
        analytic_fids.append(circuit_fidelity(target_mps, analytic))
        if optimise:
            flat = [g for layer in reversed(layers) for g in layer]  # application order: L_K first
            flat, fid = optimise_gates(dense, flat, iterations)
            sizes = [len(layer) for layer in reversed(layers)]
            chunks, start = [], 0
            for size in sizes:
                chunks.append(flat[start:start + size])
                start += size
            layers = list(reversed(chunks))
            fidelities.append(circuit_fidelity(target_mps, layers))
        else:
            fidelities.append(analytic_fids[-1])
    final = layers if optimise else analytic
    circuit = Circuit(mps.num_sites, name=f"mps_to_circuit({n_layers} layers)")
    for layer in reversed(final):
        for k, g in layer:
            circuit.unitary(g, [k, k + 1])
    return CompiledCircuit(circuit, fidelities, analytic_fids, final)
