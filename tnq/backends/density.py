"""Exact density-matrix simulation of noisy (and dynamic) circuits: the reference for trajectory sampling.

The state is a density matrix per classical record (the bits written by mid-circuit measurements so far), stored as
a 2n-axis tensor (row axes, then column axes, in qubit order) and weighted by the record's probability (its trace).
Gates act as U rho U^dagger, channels as sum K rho K^dagger, measurements split a record in two, resets fold the
|1> block onto |0>. Memory: 16 * 4^n bytes per record, so about 12 qubits at most.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..branching import branching_program, condition_holds
from ..circuit import Circuit
from ..errors import SimulationError
from ..memory import check_budget
from ..noise import NoiseModel, as_noise_model
from .dense import apply_matrix


def _two_sided(rho: np.ndarray, matrix: np.ndarray, wires: tuple[int, ...], n: int) -> np.ndarray:
    """K rho K^dagger for K on ``wires``."""
    out = apply_matrix(rho, matrix, wires)
    return apply_matrix(out, matrix.conj(), tuple(w + n for w in wires))


def _evolve(circuit: Circuit, model: NoiseModel | None, memory_budget: float | None
            ) -> tuple[dict[bytes, np.ndarray], dict[int, int], int]:
    """The unnormalised density matrix of each classical record at the end, the deferred measurements (bit ->
    qubit) and the number of classical bits."""
    if circuit.parameters:
        raise SimulationError(f"circuit has unbound parameters {circuit.parameters}; call circuit.bind(...) first")
    n = circuit.num_qubits
    steps, deferred, num_bits = branching_program(circuit, model)
    branching = sum(step.kind == "measure" for step in steps)
    check_budget(16 * 4**n * (3 + min(2**branching, 2**num_bits)), memory_budget,
                 f"a density matrix of {n} qubits", "use method='mps' or 'dense' (quantum trajectories)")
    rho = np.zeros((2,) * (2 * n), dtype=np.complex128)
    rho[(0,) * (2 * n)] = 1.0
    records = {bytes(num_bits): rho}

    def merge(into: dict[bytes, np.ndarray], key: bytes, part: np.ndarray) -> None:
        into[key] = into[key] + part if key in into else part

    for step in steps:
        new: dict[bytes, np.ndarray] = {}
        for key, rho in records.items():
            record = np.frombuffer(key, dtype=np.uint8)
            if not condition_holds(step.condition, record):
                merge(new, key, rho)
            elif step.kind == "gate":
                merge(new, key, _two_sided(rho, np.asarray(step.gate.matrix, dtype=np.complex128), step.gate.wires, n))
            elif step.kind == "noise":
                merge(new, key, sum(_two_sided(rho, k, step.gate.wires, n) for k in step.channel.kraus))
            else:
                q = step.qubit
                for bit in (0, 1):
                    part = np.zeros_like(rho)
                    index = [slice(None)] * (2 * n)
                    index[q], index[q + n] = bit, bit
                    target = list(index)
                    if step.kind == "reset":
                        target[q], target[q + n] = 0, 0
                    part[tuple(target)] = rho[tuple(index)]
                    if step.kind == "reset":
                        merge(new, key, part)
                        continue
                    flip = step.readout.flip(bit) if step.readout is not None else 0.0
                    for seen, weight in ((bit, 1 - flip), (1 - bit, flip)):
                        if weight > 0:
                            written = record.copy()
                            written[step.clbit] = seen
                            merge(new, written.tobytes(), weight * part)
        records = {k: r for k, r in new.items() if np.any(r)}
    return records, deferred, num_bits


def density_matrix(circuit: Circuit, noise: Any = None, memory_budget: float | None = None) -> np.ndarray:
    """The final density matrix (2^n x 2^n, index bit q from the left is qubit q) of a circuit without mid-circuit
    measurement, reset or classical control, under ``noise`` (terminal measurements are ignored)."""
    if circuit.is_dynamic:
        raise SimulationError("density_matrix needs a circuit without mid-circuit operations; use distribution")
    records, _, _ = _evolve(circuit, as_noise_model(noise), memory_budget)
    (rho,) = records.values()
    return rho.reshape(2**circuit.num_qubits, -1)


def distribution(circuit: Circuit, noise: Any = None, memory_budget: float | None = None) -> dict[str, float]:
    """The exact probability of each classical outcome (keys as ``tnq.sample``'s), readout errors included."""
    model = as_noise_model(noise)
    records, deferred, num_bits = _evolve(circuit, model, memory_budget)
    n = circuit.num_qubits
    bits = list(deferred)
    qubits = sorted(set(deferred.values()))
    out: dict[str, float] = {}
    for key, rho in records.items():
        diagonal = np.einsum("ii->i", rho.reshape(2**n, 2**n)).real.reshape((2,) * n)
        marginal = diagonal.sum(axis=tuple(q for q in range(n) if q not in qubits)) if n else diagonal
        table = np.zeros((2,) * len(bits))
        for index in np.ndindex(marginal.shape):  # a qubit measured into several bits fills each of them
            value = dict(zip(qubits, index, strict=True))
            table[tuple(value[deferred[b]] for b in bits)] += marginal[index]
        for axis, b in enumerate(bits):
            error = model.readout_error(deferred[b]) if model is not None else None
            if error is not None:
                table = np.moveaxis(np.tensordot(error.matrix, table, axes=([0], [axis])), 0, axis)
        record = np.frombuffer(key, dtype=np.uint8).copy()
        for index in zip(*np.nonzero(table > 0), strict=True) if bits else [()]:
            record[bits] = index
            text = "".join(map(str, record))
            out[text] = out.get(text, 0.0) + float(table[index] if bits else table)
    return out


def sample(circuit: Circuit, shots: int, rng: np.random.Generator, noise: NoiseModel | None = None,
           **options: Any) -> dict[str, int]:
    """``tnq.sample`` by the exact distribution: counts of a multinomial draw, most common first. ``options``:
    those of branching (``tnq.dynamic.BRANCH_OPTIONS``, checked by ``tnq.sample``); only ``memory_budget`` is used."""
    dist = distribution(circuit, noise, options.get("memory_budget"))
    keys = sorted(dist)
    probs = np.clip(np.array([dist[k] for k in keys]), 0.0, None)
    counts = rng.multinomial(shots, probs / probs.sum()) if keys else np.zeros(0, dtype=int)
    order = sorted((i for i in range(len(keys)) if counts[i]), key=lambda i: (-counts[i], keys[i]))
    return {keys[i]: int(counts[i]) for i in order}
