"""A circuit as a branching program: gates, noise channels, and the measurements and resets that split a run
into branches (``tnq.sample`` runs it on the dense and MPS backends, ``tnq.backends.density`` exactly), and the
Pauli frames that let shots differing by Pauli errors share a branch."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .circuit import Circuit, Operation
from .compile import Gate
from .noise import Channel, NoiseModel, Readout


@dataclass(frozen=True)
class Step:
    """One instruction of the branching program: a gate, or a measurement / reset of one qubit."""

    kind: str  # "gate", "noise", "measure" or "reset"
    qubit: int = -1
    clbit: int = -1
    gate: Gate | None = None
    condition: tuple[tuple[int, ...], int] | None = None
    channel: Channel | None = None  # a "noise" step: the channel, on ``gate.wires``
    readout: Readout | None = None  # a "measure" step: its readout error


def branching_program(circuit: Circuit, noise: NoiseModel | None = None) -> tuple[list[Step], dict[int, int], int]:
    """The circuit as steps, with the measurements that can wait for the end taken out: ``deferred`` maps a
    classical bit to the qubit whose final value it holds. A measurement waits when it is unconditioned, is the
    last to write its bit, no condition reads that bit afterwards and no later operation but a measurement or
    barrier touches its qubit. Also returns the number of classical bits (a circuit without registers: one per
    measured qubit, or per qubit when none is measured). With ``noise``, each gate is followed by "noise" steps
    (its channels) and each branched measurement carries its qubit's readout error."""
    ops = circuit.ops
    num_bits = circuit.num_clbits
    if not num_bits:  # terminal measurements (never followed by anything on their qubits) write virtual bits
        measured = circuit.measured_qubits or list(range(circuit.num_qubits))
        ops = [op for op in ops if op.name != "measure"]
        ops.append(Operation("measure", tuple(measured), clbits=tuple(range(len(measured)))))
        num_bits = len(measured)
    later_touched: set[int] = set()   # qubits acted on (not measured) after the current op
    later_read: set[int] = set()      # classical bits read by a condition after the current op
    later_written: set[int] = set()   # classical bits written after the current op
    deferred: dict[int, int] = {}
    steps: list[Step] = []
    for op in reversed(ops):
        if op.name == "barrier" or op.name == "id" and op.condition is None \
                and not (noise is not None and noise.channels("id", op.qubits)):
            continue
        if op.name == "measure":
            for q, c in reversed(list(zip(op.qubits, op.clbits, strict=True))):
                if op.condition is None and c not in later_written and c not in later_read \
                        and q not in later_touched:
                    deferred[c] = q
                else:
                    steps.append(Step("measure", q, c, condition=op.condition,
                                       readout=noise.readout_error(q) if noise is not None else None))
                later_written.add(c)
        elif op.name == "reset":
            steps.append(Step("reset", op.qubits[0], condition=op.condition))
            later_touched.add(op.qubits[0])
        else:
            gate = Gate(op.qubits, op=op)
            channels = noise.channels(op.name, op.qubits, _place(op)) if noise is not None else []
            steps.extend(Step("noise", gate=gate, condition=op.condition, channel=ch) for ch in reversed(channels))
            steps.append(Step("gate", gate=gate, condition=op.condition))
            later_touched.update(op.qubits)
        if op.condition is not None:
            later_read.update(op.condition[0])
    steps.reverse()
    return steps, deferred, num_bits


def _place(op: Operation) -> str:
    return f" on qubits {list(op.qubits)}" + (f" at {op.source}" if op.source else "")



def condition_holds(condition: tuple[tuple[int, ...], int] | None, record: np.ndarray) -> bool:
    """Whether the classical bits in ``record`` satisfy ``condition`` (bits[0] least significant)."""
    if condition is None:
        return True
    bits, value = condition
    return sum(int(record[b]) << i for i, b in enumerate(bits)) == value


class Frames:
    """The shots of one branch in groups: group g has ``counts[g]`` shots whose state is the branch's state with
    the Pauli product ``codes[g]`` (per qubit, ``tnq.noise.pauli_basis`` codes: 0 I, 1 X, 2 Z, 3 Y) applied to it.
    Pauli errors join a group's frame instead of forking the state; gates that map the frame to a Pauli product
    carry it along (Clifford gates, Z-type frames through diagonal gates), so shots that differ only by such
    errors share one simulation. A frame's X part flips the qubit's final measurement."""

    def __init__(self, codes: np.ndarray, counts: np.ndarray) -> None:
        self.codes = codes    # (groups, qubits) uint8
        self.counts = counts  # (groups,) int64, each > 0

    @classmethod
    def identity(cls, num_qubits: int, shots: int) -> Frames:
        """All ``shots`` in one group, without a frame."""
        return cls(np.zeros((1, num_qubits), dtype=np.uint8), np.array([shots], dtype=np.int64))

    @property
    def shots(self) -> int:
        """How many shots the groups hold."""
        return int(self.counts.sum())

    def on(self, wires: tuple[int, ...]) -> np.ndarray:
        """Each group's code for the Pauli product on ``wires`` (big-endian, as ``pauli_basis(len(wires))``)."""
        out = self.codes[:, wires[0]].astype(np.int64)
        for w in wires[1:]:
            out = out * 4 + self.codes[:, w]
        return out

    def set_on(self, wires: tuple[int, ...], codes: np.ndarray) -> None:
        """Write the per-group ``codes`` (big-endian over ``wires``) into the frames."""
        for j, w in enumerate(reversed(wires)):
            self.codes[:, w] = (codes >> (2 * j)) & 3

    def select(self, rows: np.ndarray, counts: np.ndarray | None = None) -> Frames:
        """The groups ``rows`` (a mask or indices) as new frames, with new ``counts`` when given."""
        return Frames(self.codes[rows], self.counts[rows] if counts is None else np.asarray(counts, dtype=np.int64))

    def split(self, draws: np.ndarray) -> list[tuple[int, Frames]]:
        """Per outcome k of a (groups, outcomes) array of shot counts: (k, the groups that drew k, with those
        counts), for the outcomes some group drew."""
        out = []
        for k in np.flatnonzero(draws.any(axis=0)).tolist():
            rows = np.flatnonzero(draws[:, k])
            out.append((k, self.select(rows, draws[rows, k])))
        return out

    def flips(self, qubits: list[int]) -> np.ndarray | None:
        """Per shot (groups in order, ``counts`` rows each), the frame's X part on ``qubits``, or None if none."""
        x = self.codes[:, qubits] & 1
        if not x.any():
            return None
        return np.repeat(x, self.counts, axis=0)
