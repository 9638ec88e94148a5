"""Shots from any circuit, dynamic ones included: ``tnq.sample``.

A circuit without mid-circuit operations is simulated once and its measured qubits sampled from the final state.
A dynamic circuit (mid-circuit measurement, reset, classically controlled operations) is run by branching: the
state is evolved up to a measurement, the exact probabilities of its two outcomes are computed, the shots still
running are split between them by a binomial draw, and each outcome that got shots continues on its projected,
renormalised state. Shots sharing a measurement history share one simulation, so k measurements cost at most
min(2^k, shots) branches. Measurements that nothing later depends on are not branched on: they are sampled, all
shots at once, from each branch's final state.

With a noise model (``tnq.noise``) the same brancher runs quantum trajectories: after a noisy gate each Kraus
operator K_i is another outcome, drawn with its exact probability ||K_i psi||^2 (a multinomial split of the shots;
the state is updated to K_i psi / ||K_i psi||), and readout errors flip recorded bits with their probabilities.
Pauli errors (depolarizing and Pauli channels) do not fork the state: each group of shots carries the Pauli product
drawn so far as a frame (``tnq.branching.Frames``), conjugated through the gates that map it to another Pauli
product (Clifford gates; diagonal gates for Z-type frames) and applied to a state of its own only where a gate does
not, or before a non-Pauli channel, a mid-circuit measurement or a reset on its qubits; at the end a frame's X part
flips its shots' measured bits. A Clifford circuit with Pauli noise and final measurements is one simulation.
``method="density_matrix"`` computes the exact distribution instead (``tnq.backends.density``).
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .backends import dense, mps
from .backends.options import check_options
from .branching import Frames, Step, branching_program, condition_holds
from .chunks import check_chunk_size, chunk_seeds, chunk_sizes, map_chunks
from .circuit import Circuit
from .circuit.gates import PAULI_MATRICES
from .compile import Gate, fuse
from .errors import SimulationError, UsageError
from .memory import check_budget
from .noise import NoiseModel, as_noise_model, pauli_basis, pauli_images
from .simulate import backend_settings, check_circuit, choose_method, simulate
from .state import State, check_shots, rng_from_seed, tally

BRANCH_OPTIONS = ("max_bond", "cutoff", "memory_budget", "progress")
"""The ``tnq.simulate`` options that apply to branching (dense and MPS backends)."""


def sample(circuit: Circuit, shots: int, seed: int | np.random.Generator | None = None, noise: Any = None,
           method: str = "auto", *, client: Any = None, chunk_size: int | None = None,
           **options: Any) -> dict[str, int]:
    """Run ``circuit`` ``shots`` times and count the classical outcomes, most common first.

    Character j of a key is classical bit j, over the registers in declaration order (a circuit without
    classical registers: its measured qubits in measurement order, or every qubit when none is measured).
    qiskit prints the same bits right to left (bit 0 last, registers separated by spaces): reverse its keys to
    compare. Mid-circuit measurements, resets and ``if``-conditioned operations run by branching on the dense
    (``method="dense"``) or MPS (``"mps"``) backend; ``"auto"`` picks one as ``tnq.simulate`` does. ``options``
    are ``tnq.simulate``'s (``max_bond``, ``cutoff``, ``memory_budget``...). ``seed``: None, an integer in
    [0, 2**32) or a numpy Generator; a seed makes the counts reproducible.

    ``noise``: a ``tnq.NoiseModel``, a qiskit-aer ``NoiseModel`` or a spec like ``"depolarizing=0.01,readout=0.02"``.
    Noisy circuits run as quantum trajectories on the dense or MPS backend, or exactly as a density matrix
    (``method="density_matrix"``, chosen by ``"auto"`` up to 12 qubits).

    Branching, trajectories and the draws from an MPS state run in chunks of ``chunk_size`` shots (default
    SHOT_CHUNK, TRAJECTORY_CHUNK with noise); ``client`` (a ``dask.distributed.Client``) runs the chunks on its
    workers, with the same counts as without it. One chunk draws from ``seed`` itself; several draw from seeds
    spawned from it (``tnq.chunks.chunk_seeds``), so the counts depend on ``seed`` and ``chunk_size`` only.
    A circuit without mid-circuit operations is simulated once; a dense state draws all its shots here at once,
    and ``client`` also takes a sliced contraction's slices, as in ``tnq.simulate``.
    """
    check_circuit(circuit, "sample")
    check_shots(shots)
    size = check_chunk_size(chunk_size)
    rng = rng_from_seed(seed)
    model = as_noise_model(noise)
    if model is not None:
        model.check(circuit)
    if method == "density_matrix" or model is not None and method == "auto" \
            and circuit.num_qubits <= DENSITY_AUTO_LIMIT and options.get("max_bond") is None:
        from .backends import density

        check_branch_options(options, "method='density_matrix'")
        return density.sample(circuit, int(shots), rng, model, **options)
    dynamic = circuit.is_dynamic or model is not None
    if dynamic and options.get("backend", "numpy") != "numpy":
        raise UsageError(f"sample: backend={options['backend']!r} is not available for circuits with mid-circuit "
                         "measurement, reset, classical control or noise; they run on backend='numpy'")
    if dynamic:
        options = {k: v for k, v in options.items() if k != "backend"}
    if not dynamic:
        backend_settings(options, "sample: ")  # refuses unknown options before simulating
        state = simulate(circuit, method, client=client, **options)
        return state_counts(circuit, state, int(shots), rng, client, size, options.get("progress", False))
    check_branch_options(options, "a dynamic circuit")
    if circuit.parameters:
        raise SimulationError(f"circuit has unbound parameters {circuit.parameters}; call circuit.bind(...) first")
    backend, _ = choose_method(circuit.num_qubits, method, max_bond=options.get("max_bond"))
    if backend == "contract":
        raise SimulationError("a dynamic circuit needs a state to branch on: use method='dense' or 'mps'")
    steps, deferred, num_bits = branching_program(circuit, model)
    job = _Shots(circuit.num_qubits, num_bits, backend, steps, deferred, model, options)
    size = size or (SHOT_CHUNK if model is None else TRAJECTORY_CHUNK)
    return tally(_chunked(_run_shots, job, int(shots), size, rng, client, options.get("progress", False)))


DENSITY_AUTO_LIMIT = 12
"""``method="auto"`` with a noise model: an exact density matrix up to this many qubits, trajectories above."""
SHOT_CHUNK = 65536
"""Shots per chunk of a dynamic circuit or of an MPS state: shots in one chunk share branches (k measurements cost
at most 2^k simulations per chunk), so chunks are large; an MPS draws 65536 shots of 40 qubits at bond 64 in
about 5 s of one core, a dense state a million shots of 20 qubits in one vectorised draw of under a second (so it is
never chunked)."""
TRAJECTORY_CHUNK = 1024
"""Shots per chunk with a noise model: trajectories through non-Clifford gates share little, so smaller chunks spread
them over workers (Pauli errors through Clifford gates share one state per chunk: a chunk costs one simulation)."""


def _chunked(draw: Any, job: Any, shots: int, size: int, rng: np.random.Generator, client: Any,
             progress: bool | None) -> np.ndarray:
    """The rows of ``draw(job, shots, rng)`` in chunks of ``size`` shots. One chunk draws from ``rng`` itself (as
    an unchunked run); several draw from generators spawned from ``rng`` (``chunk_seeds``), here or on
    ``client``'s workers, with the same rows either way."""
    sizes = chunk_sizes(shots, size)
    if len(sizes) <= 1:
        return draw(job, shots, rng)
    chunks = [(k, np.random.default_rng(s)) for k, s in zip(sizes, chunk_seeds(rng, len(sizes)))]
    return np.concatenate(map_chunks(draw, job, chunks, sizes, client, progress, "tnq sample", "shot"))


def check_branch_options(options: dict[str, Any], what: str) -> None:
    """Refuse options branching (and the density-matrix method) does not take, then check the values."""
    unknown = set(options) - set(BRANCH_OPTIONS)
    if unknown:
        raise SimulationError(f"sample: unknown option(s) {sorted(unknown)} for {what}; expected some of "
                              f"{sorted(BRANCH_OPTIONS)}")
    check_options(options.get("max_bond"), options.get("cutoff", 1e-16), options.get("memory_budget"))


@dataclass
class _Shots:
    """A dynamic circuit's branching program, run chunk by chunk (here or on Dask workers)."""

    num_qubits: int
    num_bits: int
    backend: str
    steps: list[Step]
    deferred: dict[int, int]
    model: NoiseModel | None
    options: dict[str, Any]


def _run_shots(job: _Shots, shots: int, rng: np.random.Generator) -> np.ndarray:
    """Rows of classical bits for one chunk of ``shots``."""
    rows = _Brancher(job.num_qubits, job.num_bits, job.backend, job.steps, job.deferred, rng, job.options).run(shots)
    return _misread(rows, job.deferred, job.model, rng)


def _misread(rows: np.ndarray, deferred: dict[int, int], model: NoiseModel | None,
             rng: np.random.Generator) -> np.ndarray:
    """Flip the deferred measurements' bits with their qubits' readout error probabilities (in place)."""
    for bit, qubit in deferred.items():
        error = model.readout_error(qubit) if model is not None else None
        if error is not None and len(rows):
            u = rng.random(len(rows))
            column = rows[:, bit]
            rows[:, bit] = np.where(column == 0, u < error.p01, u >= error.p10)
    return rows


def state_counts(circuit: Circuit, state: State, shots: int, seed: int | np.random.Generator | None,
                 client: Any = None, chunk_size: int | None = None, progress: bool | None = False) -> dict[str, int]:
    """``tnq.sample``'s counts for a circuit without mid-circuit operations, from its simulated final ``state``.
    An MPS state draws in chunks of ``chunk_size`` (default SHOT_CHUNK) shots, on ``client``'s workers if given."""
    rng = rng_from_seed(seed)
    size = (chunk_size or SHOT_CHUNK) if isinstance(state, mps.MPSState) else max(shots, 1)
    if shots > size:  # each chunk is drawn at once: refuse before the first one when a chunk would not fit
        state.check_sample_budget(size, circuit.num_clbits or len(circuit.measured_qubits or range(state.num_qubits)),
                                  f"sampling {shots} shots of {state.num_qubits} qubit(s), {size} at a time,")
    return tally(_chunked(_state_rows, (circuit, state), shots, size, rng, client, progress))


def _state_rows(job: tuple[Circuit, State], shots: int, rng: np.random.Generator) -> np.ndarray:
    """Rows of classical bits for ``shots`` shots of a circuit (without mid-circuit operations) from its state."""
    circuit, state = job
    if not circuit.num_clbits:
        return state.sample(shots, rng, circuit.measured_qubits or None)
    deferred = {}
    for op in circuit.ops:  # the last measurement writing a bit gives its value
        if op.name == "measure":
            deferred.update(zip(op.clbits, op.qubits))
    return _fill(state, shots, rng, np.zeros(circuit.num_clbits, dtype=np.uint8), deferred)


def _fill(state: State, shots: int, rng: np.random.Generator, record: np.ndarray,
          deferred: dict[int, int]) -> np.ndarray:
    """``shots`` rows of classical bits: ``record`` where the branch fixed them, and the deferred bits
    (bit -> qubit) sampled from ``state``."""
    rows = np.repeat(record[None, :], shots, axis=0)
    if deferred and shots:
        bits = list(deferred)
        rows[:, bits] = state.sample(shots, rng, [deferred[b] for b in bits])
    return rows


@functools.cache
def _pauli_pairs(k: int) -> list[tuple[tuple[np.ndarray, ...], np.ndarray]]:
    """Every k-qubit Pauli product: its single-qubit factors and its full matrix (``noise.pauli_basis``, in its
    order; built once per k)."""
    singles = [PAULI_MATRICES[c] for c in "IXZY"]  # pauli_basis's per-qubit codes 0..3
    return [(tuple(singles[d] for d in digits), full)
            for digits, full in zip(itertools.product(range(4), repeat=k), pauli_basis(k), strict=True)]


class _Brancher:
    """Runs the steps depth first; the branch with fewer shots goes first, so at most log2(shots) + 1 states
    wait at once."""

    def __init__(self, num_qubits: int, num_bits: int, backend: str, steps: list[Step], deferred: dict[int, int],
                 rng: np.random.Generator, options: dict[str, Any]) -> None:
        self.n, self.backend, self.steps, self.deferred, self.rng = num_qubits, backend, steps, deferred, rng
        self.num_clbits = num_bits
        self.options = {"max_bond": options.get("max_bond"), "cutoff": options.get("cutoff", 1e-16),
                        "memory_budget": options.get("memory_budget"), "progress": False}
        self.wires = np.arange(self.n)
        self._images: dict[int, np.ndarray] = {}  # step position -> its gate's Pauli images (pauli_images)

    def run(self, shots: int) -> np.ndarray:
        """Rows of classical bits, one per shot."""
        if not shots:
            return np.zeros((0, self.num_clbits), dtype=np.uint8)
        if self.backend == "dense":
            waiting = int(math.log2(max(shots, 1))) + 3  # states alive at once: waiting branches, current, copy
            check_budget(waiting * 16 * 2**self.n, self.options["memory_budget"],
                         f"branching a dense statevector of {self.n} qubits", "use method='mps'")
        start = self._start()
        stack = [(0, start, Frames.identity(self.n, shots), np.zeros(self.num_clbits, dtype=np.uint8), [])]
        out = []
        while stack:
            position, state, frames, record, segment = stack.pop()
            out.append(self._branch(position, state, frames, record, stack, segment))
        return np.concatenate(out) if out else np.zeros((0, self.num_clbits), dtype=np.uint8)

    def _start(self) -> State:
        if self.backend == "dense":
            return dense.run([], self.n, self.wires, **self.options)
        return mps.run([], self.n, self.wires, **self.options)

    def _branch(self, position: int, state: State, frames: Frames, record: np.ndarray, stack: list,
                segment: list[Gate]) -> np.ndarray:
        """Run one branch until it ends (returning its rows), pushing the branches it splits off on the way."""
        segment = list(segment)  # gates still to apply to ``state``
        while position < len(self.steps):
            step = self.steps[position]
            position += 1
            if not condition_holds(step.condition, record):
                continue
            if step.kind == "gate":
                state, frames, segment = self._gate(step, position, state, frames, record, stack, segment)
                continue
            if step.kind == "noise":
                state, frames, segment = self._noise(step, position, state, frames, record, stack, segment)
                continue
            # a Z on the qubit only changes the phase of the projected state, and a reset forgets any Pauli there;
            # an X flips the outcome: those groups get it applied, on a state of their own
            frames.codes[:, step.qubit] &= 1 if step.kind == "measure" else 0
            state, frames, segment = self._clear((step.qubit,), position - 1, state, frames, record, stack, segment)
            state = self._apply(state, segment)
            segment = []
            p1 = self._probability_one(state, step.qubit)
            ones = self.rng.binomial(frames.counts, p1)
            outcomes = [(b, b, k) for b, k in ((0, frames.counts - ones), (1, ones)) if k.any()]  # true, recorded
            if step.readout is not None:  # a misread keeps the projected state but records the other bit
                flips = [self.rng.binomial(k, step.readout.flip(b)) for b, _, k in outcomes]
                outcomes = [o for (b, _, k), f in zip(outcomes, flips, strict=True)
                            for o in ((b, b, k - f), (b, 1 - b, f)) if o[2].any()]
            parts = [(bit, seen, frames.select(k > 0, k[k > 0])) for bit, seen, k in outcomes]
            parts.sort(key=lambda o: -o[2].shots)  # the larger branches wait; the smallest runs first
            for bit, seen, part in parts[:-1]:
                other = self._copy(state)
                self._project(other, step.qubit, bit, step.kind == "reset")
                stack.append((position, other, part, self._record(record, step, seen), []))
            bit, seen, frames = parts[-1]
            self._project(state, step.qubit, bit, step.kind == "reset")
            record = self._record(record, step, seen)
        state = self._apply(state, segment)
        rows = _fill(state, frames.shots, self.rng, record, self.deferred)
        bits = list(self.deferred)
        flips = frames.flips([self.deferred[b] for b in bits]) if bits else None
        if flips is not None:  # a Pauli frame's X part flips the final measurement of its qubit
            rows[:, bits] ^= flips
        return rows

    def _split(self, parts: list[tuple[Frames, list[Gate], np.ndarray | None]], resume: int, wires: tuple[int, ...],
               state: State, record: np.ndarray, stack: list,
               segment: list[Gate]) -> tuple[State, Frames, list[Gate]]:
        """Give each part (its groups, gates to apply, a Kraus matrix to apply or None) its own state: all but the
        smallest wait on the stack on copies, resuming at step ``resume``; the smallest continues on ``state``."""
        parts.sort(key=lambda part: -part[0].shots)
        if len(parts) > 1 and segment:
            state = self._apply(state, segment)
            segment = []
        for frames, gates, matrix in parts[:-1]:
            other = self._copy(state)
            if matrix is not None:
                other = self._kraus(other, matrix, wires)
            stack.append((resume, other, frames, record, gates))
        frames, gates, matrix = parts[-1]
        if matrix is not None:
            state = self._kraus(self._apply(state, segment), matrix, wires)
            segment = []
        return state, frames, segment + gates

    def _clear(self, wires: tuple[int, ...], resume: int, state: State, frames: Frames, record: np.ndarray,
               stack: list, segment: list[Gate]) -> tuple[State, Frames, list[Gate]]:
        """Make every frame the identity on ``wires`` by applying its Pauli there: groups with the same Pauli share
        a state (the others wait on the stack, resuming at step ``resume``)."""
        codes = frames.on(wires)
        if not codes.any():
            return state, frames, segment
        frames.set_on(wires, np.zeros_like(codes))
        basis = pauli_basis(len(wires))
        parts = [(frames.select(codes == c), [] if c == 0 else [Gate(wires, basis[c])], None)
                 for c in np.unique(codes).tolist()]
        return self._split(parts, resume, wires, state, record, stack, segment)

    def _gate(self, step: Step, position: int, state: State, frames: Frames, record: np.ndarray, stack: list,
              segment: list[Gate]) -> tuple[State, Frames, list[Gate]]:
        """Queue a gate. Frames it maps to Pauli products are carried through it; the groups whose frame it does
        not map get their Pauli applied before it, on a state of their own."""
        wires = step.gate.wires
        codes = frames.on(wires)
        if not codes.any():
            segment.append(step.gate)
            return state, frames, segment
        images = self._images.get(position)
        if images is None:
            images = self._images[position] = pauli_images(np.asarray(step.gate.matrix, dtype=np.complex128))
        mapped = images[codes]
        stuck = mapped < 0
        if not stuck.any():
            frames.set_on(wires, mapped)
            segment.append(step.gate)
            return state, frames, segment
        frames.set_on(wires, np.where(stuck, 0, mapped))
        basis = pauli_basis(len(wires))
        parts = [(frames.select(~stuck), [step.gate], None)] if not stuck.all() else []
        parts += [(frames.select(codes == c), [Gate(wires, basis[c]), step.gate], None)
                  for c in np.unique(codes[stuck]).tolist()]
        return self._split(parts, position, wires, state, record, stack, segment)

    def _noise(self, step: Step, position: int, state: State, frames: Frames, record: np.ndarray, stack: list,
               segment: list[Gate]) -> tuple[State, Frames, list[Gate]]:
        """Draw an operator of the channel per shot. A Pauli channel's draws join the shots' frames (no new state);
        other mixed-unitary channels' weights do not depend on the state, and their unitaries join the pending
        gates; general Kraus channels are drawn with their weights on the state, frames cleared on their wires
        first. Shots that drew the same operator share a state: the smallest such part continues, the others
        wait on the stack."""
        channel, wires = step.channel, step.gate.wires
        codes = channel.pauli_codes
        if codes is not None:
            draws = self.rng.multinomial(frames.counts, channel.probs)
            parts = []
            for k, part in frames.split(draws):
                if codes[k]:
                    part.set_on(wires, part.on(wires) ^ codes[k])
                parts.append(part)
            frames = parts[0] if len(parts) == 1 else Frames(np.concatenate([p.codes for p in parts]),
                                                              np.concatenate([p.counts for p in parts]))
            return state, frames, segment
        state, frames, segment = self._clear(wires, position - 1, state, frames, record, stack, segment)
        if channel.probs is not None:
            probs = channel.probs
        else:
            state = self._apply(state, segment)
            segment = []
            probs = self._kraus_probabilities(state, channel.kraus, wires)
        draws = self.rng.multinomial(frames.counts, probs)
        if channel.probs is not None:
            parts = [(part, [] if channel.trivial[k] else [Gate(wires, channel.unitaries[k])], None)
                     for k, part in frames.split(draws)]
        else:
            parts = [(part, [], channel.kraus[k] / np.sqrt(probs[k])) for k, part in frames.split(draws)]
        return self._split(parts, position, wires, state, record, stack, segment)

    def _kraus_probabilities(self, state: State, ops: tuple[np.ndarray, ...], wires: tuple[int, ...]) -> np.ndarray:
        """||K psi||^2 / ||psi||^2 for each Kraus matrix K on ``wires``."""
        if isinstance(state, dense.DenseState):
            norm = float(np.vdot(state.tensor, state.tensor).real)
            weights = [float(np.linalg.norm(dense.apply_matrix(state.tensor, k, wires)) ** 2) / norm for k in ops]
        elif len(wires) == 1:
            site = int(state.site_of[wires[0]])
            state.mps.move_center(site)  # the centre tensor carries the norm
            t = state.mps.tensors[site]
            weights = [float(np.linalg.norm(np.matmul(k, t)) ** 2) for k in ops]
            total = float(np.linalg.norm(t) ** 2)
            weights = [w / total for w in weights]
        else:  # the wires' reduced density matrix from its Pauli expansion, then tr(K rho K^dagger)
            sites = [int(state.site_of[w]) for w in wires]
            rho = sum(state.mps.expectation_local(dict(zip(sites, factors, strict=True))) * full
                      for factors, full in _pauli_pairs(len(wires))) / 2 ** len(wires)
            weights = [float(np.trace(k @ rho @ k.conj().T).real) for k in ops]
        probs = np.clip(np.array(weights), 0.0, None)
        return probs / probs.sum()

    def _kraus(self, state: State, matrix: np.ndarray, wires: tuple[int, ...]) -> State:
        """Apply a (non-unitary, normalised for this state) Kraus matrix and renormalise."""
        if isinstance(state, dense.DenseState):
            state.tensor = dense.apply_matrix(state.tensor, matrix, wires)
            state.tensor /= np.linalg.norm(state.tensor)
            return state
        if len(wires) == 1:  # at the centre (moved there by _kraus_probabilities): the canonical form holds
            site = int(state.site_of[wires[0]])
            state.mps.move_center(site)
            state.mps.apply_one(site, matrix)
        else:
            state = self._apply(state, [Gate(wires, matrix)])
        state.mps.normalize()
        return state

    @staticmethod
    def _record(record: np.ndarray, step: Step, bit: int) -> np.ndarray:
        if step.kind != "measure":
            return record
        record = record.copy()
        record[step.clbit] = bit
        return record

    def _apply(self, state: State, gates: list[Gate]) -> State:
        if not gates:
            return state
        numeric = [Gate(g.wires, np.asarray(g.matrix, dtype=np.complex128), source=g.source) for g in gates]
        if self.backend == "dense":
            psi = state.tensor
            for g in numeric:
                psi = dense.apply_matrix(psi, g.matrix, g.wires)
            state.tensor = psi
            return state
        return mps.run(fuse(numeric), self.n, self.wires, initial=state, **self.options)

    @staticmethod
    def _copy(state: State) -> State:
        if isinstance(state, dense.DenseState):
            return dense.DenseState(state.tensor.copy(), state.wire_of, dict(state.info))
        return mps.MPSState(state.mps.copy(), state.site_of.copy(), state.wire_of, dict(state.info))

    @staticmethod
    def _probability_one(state: State, qubit: int) -> float:
        """The exact probability that measuring ``qubit`` gives 1 (the state need not be normalised)."""
        if isinstance(state, dense.DenseState):
            t = np.moveaxis(state.tensor, qubit, 0)
            w0, w1 = float(np.vdot(t[0], t[0]).real), float(np.vdot(t[1], t[1]).real)
        else:
            site = int(state.site_of[qubit])
            state.mps.move_center(site)  # canonical about the site: its tensor carries the whole norm
            t = state.mps.tensors[site]
            w0, w1 = float(np.vdot(t[:, 0], t[:, 0]).real), float(np.vdot(t[:, 1], t[:, 1]).real)
        return min(max(w1 / (w0 + w1), 0.0), 1.0)

    @staticmethod
    def _project(state: State, qubit: int, bit: int, reset: bool) -> None:
        """Project ``qubit`` on ``bit`` and renormalise; a reset then flips a 1 back to 0."""
        if isinstance(state, dense.DenseState):
            t = np.moveaxis(state.tensor, qubit, 0)  # a view: writes go to the state
            t[1 - bit] = 0
            t[bit] /= np.linalg.norm(t[bit])
            if reset and bit:
                t[0], t[1] = t[1].copy(), 0
            return
        site = int(state.site_of[qubit])  # the centre is at this site (moved there by _probability_one)
        t = state.mps.tensors[site].copy()
        t[:, 1 - bit] = 0
        t[:, bit] /= np.linalg.norm(t[:, bit])  # the other tensors are isometries: this renormalises the state
        if reset and bit:
            t = np.matmul(PAULI_MATRICES["X"], t)
        state.mps.tensors[site] = t
