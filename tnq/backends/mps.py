"""MPS backend: gates applied to a canonical MPS with truncated SVDs, non-adjacent gates routed
by swaps that are *not* undone (the qubit-to-site layout is tracked instead, like aer's lazy
reordering), so a circuit that keeps interacting far-apart qubits does not pay twice."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from ..arrays import NUMPY, NumpyArrays, host
from ..compile import Gate, permute_gate
from ..errors import SimulationError
from ..io import save_figure
from ..memory import budget_bytes, check_budget
from ..progress import progress_bar
from ..state import State
from ..tensornet import MPS
from ..tensornet.decompose import check_truncation
from ..tensornet.two_site import apply_two_site, operator_schmidt, reduced_pays
from ..threads import mps_blas_threads


class MPSState(State):
    """A circuit's output as a canonical MPS; ``site_of[w]`` is the MPS site holding wire w."""

    def __init__(self, mps: MPS, site_of: np.ndarray, wire_of: np.ndarray, info: dict[str, Any]) -> None:
        super().__init__(mps.num_sites, wire_of, info)
        self.mps = mps
        self.site_of = np.asarray(site_of)

    # --- facts users ask for ------------------------------------------------------------------
    @property
    def bond_dims(self) -> list[int]:
        """Bond dimensions between neighbouring MPS sites, left to right."""
        return self.mps.bond_dims

    @property
    def fidelity(self) -> float:
        """Estimated fidelity with the exact state: prod over truncations of (1 - discarded weight)."""
        return self.mps.fidelity_estimate

    @property
    def discarded_weights(self) -> list[float]:
        return list(self.mps.discarded)

    def qubit_sites(self) -> np.ndarray:
        """``qubit_sites()[q]``: the MPS site that holds qubit q."""
        return self.site_of[self.wire_of]

    # --- primitives ------------------------------------------------------------------------------
    def _amplitudes(self, wire_bits: np.ndarray) -> np.ndarray:
        site_bits = np.empty_like(wire_bits)
        site_bits[:, self.site_of] = wire_bits
        return host(self.mps.amplitudes(site_bits))

    def _expect_pauli(self, wire_ops: dict[int, np.ndarray]) -> complex:
        return self.mps.expectation_local({int(self.site_of[w]): op for w, op in wire_ops.items()})

    def _sample(self, shots: int, rng: np.random.Generator) -> np.ndarray:
        with self.mps.xp.threads(mps_blas_threads(self.info.get("max_bond"))):
            return self.mps.sample(shots, rng)[:, self.site_of]

    def _sample_bytes(self, shots: int) -> int:
        """Site by site, per shot: the output row and uniforms, the environment, the two-outcome amplitudes and
        their probabilities (complex, bond-sized), a few of each alive at once."""
        return shots * (9 * self.num_qubits + 128 * self.mps.max_bond + 64)

    def expectation(self, observable: Any) -> float | complex:
        with self.mps.xp.threads(mps_blas_threads(self.info.get("max_bond"))):
            return super().expectation(observable)

    # --- conversions -----------------------------------------------------------------------------
    def ordered_mps(self) -> MPS:
        """A copy of the MPS with qubit q on site q (exact adjacent swaps, no truncation)."""
        mps = self.mps.copy()
        holder = list(np.argsort(self.qubit_sites()))  # holder[site] = qubit there
        for i in range(len(holder)):  # bubble sort by adjacent swaps
            for j in range(len(holder) - 1 - i):
                if holder[j] > holder[j + 1]:
                    mps.swap_sites(j)
                    holder[j], holder[j + 1] = holder[j + 1], holder[j]
        return mps

    def statevector(self) -> np.ndarray:
        """Dense amplitudes in qubit order (small states only), as a numpy array."""
        return host(self.ordered_mps().to_dense())

    def to_quimb(self) -> Any:
        """A quimb ``MatrixProductState`` with qubit q on site q."""
        return self.ordered_mps().to_quimb()

    @classmethod
    def from_quimb(cls, mps: Any) -> MPSState:
        """Wrap a quimb ``MatrixProductState`` (site q = qubit q) to sample it, take expectations..."""
        inner = MPS.from_quimb(mps)
        identity = np.arange(inner.num_sites)
        return cls(inner, identity, identity.copy(), {"method": "mps", "max_bond": None, "fidelity": 1.0,
                                                      "reason": "converted from quimb"})

    def plot_bonds(self, path: str | None = None) -> Any:
        """Bar plot of the bond-dimension profile; saved to ``path`` when given."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(max(4, len(self.bond_dims) * 0.12), 3))
        ax.bar(range(1, len(self.bond_dims) + 1), self.bond_dims, color="tab:blue")
        ax.set_xlabel("bond (between sites k-1 and k)")
        ax.set_ylabel("bond dimension")
        ax.set_title(f"MPS bond profile, {self.num_qubits} qubits, fidelity ~ {self.fidelity:.4g}")
        fig.tight_layout()
        if path:
            save_figure(fig, path)
        plt.close(fig)
        return fig


_SWAP = np.eye(4, dtype=np.complex128)[[0, 2, 1, 3]]
LOOKAHEAD_DECAY = 0.9
"""Weight of a qubit's next interaction in routing decisions decays by this factor per gate."""


class _Layout:
    """Which MPS site holds which wire, plus the look-ahead used to route lazily."""

    def __init__(self, gates: Sequence[Gate], num_wires: int, site_of: np.ndarray | None = None) -> None:
        self.gates = gates
        self.site_of = np.arange(num_wires) if site_of is None else np.array(site_of)  # wire -> site
        self.wire_at = np.argsort(self.site_of)  # site -> wire
        self.next_use: list[dict[int, int | None] | None] = [None] * len(gates)
        upcoming: dict[int, int] = {}
        for i in range(len(gates) - 1, -1, -1):  # index of each wire's next multi-qubit gate
            wires = gates[i].wires
            if len(wires) > 1:
                self.next_use[i] = {w: upcoming.get(w) for w in wires}
                for w in wires:
                    upcoming[w] = i

    def exchange(self, site: int) -> None:
        a, b = self.wire_at[site], self.wire_at[site + 1]
        self.wire_at[site], self.wire_at[site + 1] = b, a
        self.site_of[a], self.site_of[b] = site + 1, site

    def cost(self, index: int, moved: dict[int, int]) -> float:
        """Look-ahead cost of gate ``index``'s wires sitting at ``moved`` (wire -> hypothetical site):
        the extra distance to each wire's next partners, weighted by how soon that gate comes."""
        total = 0.0
        for wire, nxt in (self.next_use[index] or {}).items():
            if nxt is None:
                continue
            here = moved.get(wire, self.site_of[wire])
            partners = [w for w in self.gates[nxt].wires if w != wire]
            gap = sum(abs(here - moved.get(p, self.site_of[p])) for p in partners) - len(partners)
            total += gap * LOOKAHEAD_DECAY ** (nxt - index)
        return total


def run(gates: Sequence[Gate], num_wires: int, wire_of: np.ndarray, max_bond: int | None = None,
        cutoff: float = 1e-16, memory_budget: int | None = None, progress: bool | None = None,
        blas: int | str | None = "auto", initial: MPSState | None = None, arrays: NumpyArrays = NUMPY,
        **_: Any) -> MPSState:
    """Apply ``gates`` to |0...0> as an MPS (or to ``initial``'s MPS, which is updated in place, keeping its
    layout and truncation record).

    Routing is lazy: a far-apart pair is brought together by swaps that are not undone, and after
    every two-qubit gate the pair is also exchanged (fused into the same SVD, so for free) when
    that brings the qubits closer to their next partners, which turns QFT-like circuits into
    nearest-neighbour sweeps. ``blas`` limits BLAS threads for the sweep (see tnq.threads). ``arrays``
    (``tnq.arrays.namespace``) holds the tensors: numpy, or torch on a device, in a complex dtype.
    """
    check_truncation(max_bond, cutoff)
    with arrays.threads(mps_blas_threads(max_bond, blas)):
        return _run(gates, num_wires, wire_of, max_bond, cutoff, memory_budget, progress, initial, arrays)


def _run(gates: Sequence[Gate], num_wires: int, wire_of: np.ndarray, max_bond: int | None, cutoff: float,
         memory_budget: int | None, progress: bool | None, initial: MPSState | None = None,
         arrays: NumpyArrays = NUMPY) -> MPSState:
    budget = budget_bytes(memory_budget)
    mps = MPS.product_state(num_wires, arrays=arrays) if initial is None else initial.mps
    layout = _Layout(gates, num_wires, None if initial is None else initial.site_of)
    swaps = fused_swaps = product_gates = 0

    def swap(site: int, leftward: bool = False) -> None:
        """Exchange sites (site, site+1); ``leftward``: the next swap is further left, so the centre goes there
        (a chain of swaps then walks the centre along with it instead of a QR step back per swap)."""
        nonlocal swaps
        mps.swap_sites(site, max_bond, cutoff, "left" if leftward else "right")
        layout.exchange(site)
        swaps += 1

    order = _schedule_near_center(gates, layout, mps)
    for index in progress_bar(order, progress, "tnq mps", unit="gate", total=len(gates)):
        gate = gates[index]
        if len(gate.wires) == 1:
            mps.apply_one(int(layout.site_of[gate.wires[0]]), gate.matrix)
            continue
        if mps.apply_to_product([int(layout.site_of[w]) for w in gate.wires], gate.matrix, cutoff):
            product_gates += 1  # unentangled qubits that stay so: no routing
            continue
        if len(gate.wires) == 2:
            start = _route_pair(layout, index, gate, swap)
        else:
            start = _route(mps, [int(layout.site_of[w]) for w in gate.wires], swap)
        k = len(gate.wires)
        block_wires = list(layout.wire_at[start:start + k])
        matrix = permute_gate(gate.matrix, [gate.wires.index(w) for w in block_wires])
        if k == 2:
            a, b = block_wires
            stay = layout.cost(index, {})
            exchanged = layout.cost(index, {a: start + 1, b: start})
            if exchanged < stay - 1e-12:
                matrix = _SWAP @ matrix
                layout.exchange(start)
                fused_swaps += 1
        left, right = mps.tensors[start].shape[0], mps.tensors[start + k - 1].shape[2]
        needed = 6 * 16 * left * right * 2**k  # block, its SVD factors and LAPACK workspace
        if needed > budget:
            what = f"the gate at {gate.source}" if gate.source else f"gate {index}"
            check_budget(needed, budget, f"{what} on wires {list(gate.wires)} (bond {left}x{right})",
                         "set max_bond to bound the MPS")
        _apply(mps, start, matrix, max_bond, cutoff)
    info = {"method": "mps", "max_bond": max_bond, "cutoff": cutoff, "gates_applied": len(gates),
            "routing_swaps": swaps, "fused_swaps": fused_swaps, "product_gates": product_gates,
            "fidelity": mps.fidelity_estimate,
            "largest_bond": mps.max_bond, "truncations": len(mps.discarded)}
    return MPSState(mps, layout.site_of, wire_of, info)


def _apply(mps: MPS, start: int, matrix: np.ndarray, max_bond: int | None, cutoff: float) -> None:
    """Two-site gates of low operator rank go through the QR-reduced SVD while it is smaller than
    the plain block; everything else through ``MPS.apply_gate``."""
    if matrix.shape[0] == 4:
        chi_l, chi_m, chi_r = mps.tensors[start].shape[0], mps.tensors[start].shape[2], mps.tensors[start + 1].shape[2]
        left, right = operator_schmidt(matrix)
        if reduced_pays(left.shape[0], chi_l, chi_m, chi_r):
            absorb = "left" if mps.center is not None and mps.center > start + 1 else "right"
            mps.move_center(min(max(mps.center if mps.center is not None else start, start), start + 1))
            apply_two_site(mps, start, left, right, max_bond, cutoff, 0.0, absorb)
            return
    mps.apply_gate(start, matrix, max_bond, cutoff)


def _schedule_near_center(gates: Sequence[Gate], layout: _Layout, mps: MPS) -> Iterator[int]:
    """Gate indices in a valid order (each wire keeps its gate order) that, among the gates ready
    to run, always picks the one nearest the orthogonality centre: fewer QR moves per layer."""
    queues: dict[int, deque[int]] = {}
    for i, g in enumerate(gates):
        for w in g.wires:
            queues.setdefault(w, deque()).append(i)
    waiting = [len(g.wires) for g in gates]  # wires on which gate i is not yet at the front
    ready: set[int] = set()
    for queue in queues.values():
        head = queue[0]
        waiting[head] -= 1
        if waiting[head] == 0:
            ready.add(head)
    while ready:
        center = mps.center if mps.center is not None else 0
        best = min(ready, key=lambda i: (min(abs(int(layout.site_of[w]) - center) for w in gates[i].wires), i))
        ready.discard(best)
        yield best
        for w in gates[best].wires:
            queue = queues[w]
            queue.popleft()
            if queue:
                head = queue[0]
                waiting[head] -= 1
                if waiting[head] == 0:
                    ready.add(head)


def _route_pair(layout: _Layout, index: int, gate: Gate, swap: Any) -> int:
    """Bring a two-qubit gate's sites together, moving whichever qubit the look-ahead prefers;
    returns the left site of the adjacent pair."""
    a, b = gate.wires
    sa, sb = int(layout.site_of[a]), int(layout.site_of[b])
    lo, hi = min(sa, sb), max(sa, sb)
    if hi - lo == 1:
        return lo
    w_lo, w_hi = (a, b) if sa < sb else (b, a)
    move_hi_down = layout.cost(index, {w_hi: lo + 1})
    move_lo_up = layout.cost(index, {w_lo: hi - 1})
    if move_hi_down <= move_lo_up:
        for p in range(hi - 1, lo, -1):
            swap(p, leftward=True)
        return lo
    for p in range(lo, hi - 1):
        swap(p)
    return hi - 1


def _route(mps: MPS, sites: list[int], swap: Any) -> int:
    """Swap sites until a 3-qubit gate's ``sites`` are contiguous; returns the block's first site.
    The site nearest the orthogonality centre stays put and the others move to it."""
    if len(sites) > 3:
        raise SimulationError(f"gates on more than 3 qubits are not supported by the MPS backend, got {len(sites)}")
    order = sorted(sites)
    center = mps.center if mps.center is not None else order[0]
    anchor = min(range(len(order)), key=lambda i: abs(order[i] - center))
    lo = hi = order[anchor]
    for s in order[anchor + 1:]:   # bring higher sites down, nearest first
        for p in range(s - 1, hi, -1):
            swap(p, leftward=True)
        hi += 1
    for s in reversed(order[:anchor]):  # bring lower sites up, nearest first
        for p in range(s, lo - 1):
            swap(p)
        lo -= 1
    return lo
