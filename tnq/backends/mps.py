"""MPS backend: gates applied to a canonical MPS with truncated SVDs, non-adjacent gates routed
by swaps that are *not* undone (the qubit-to-site layout is tracked instead, like aer's lazy
reordering), so a circuit that keeps interacting far-apart qubits does not pay twice."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..compile import Gate, permute_gate
from ..io import save_figure
from ..errors import SimulationError
from ..progress import progress_bar
from ..state import State
from ..tensornet import MPS
from ..tensornet.decompose import check_truncation
from .memory import check_budget, default_budget


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
        return self.mps.amplitudes(site_bits)

    def _expect_pauli(self, wire_ops: dict[int, np.ndarray]) -> complex:
        return self.mps.expectation_local({int(self.site_of[w]): op for w, op in wire_ops.items()})

    def _sample(self, shots: int, rng: np.random.Generator) -> np.ndarray:
        return self.mps.sample(shots, rng)[:, self.site_of]

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
        """Dense amplitudes in qubit order (small states only)."""
        return self.ordered_mps().to_dense()

    def to_quimb(self) -> Any:
        """A quimb ``MatrixProductState`` with qubit q on site q."""
        return self.ordered_mps().to_quimb()

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


def run(gates: Sequence[Gate], num_wires: int, wire_of: np.ndarray, max_bond: int | None = None,
        cutoff: float = 1e-16, memory_budget: int | None = None, progress: bool | None = None,
        **_: Any) -> MPSState:
    """Apply ``gates`` to |0...0> as an MPS, routing non-adjacent gates by (lazy) swaps."""
    check_truncation(max_bond, cutoff)
    budget = default_budget() if memory_budget is None else memory_budget
    mps = MPS.product_state(num_wires)
    site_of = np.arange(num_wires)   # wire -> site
    wire_at = np.arange(num_wires)   # site -> wire
    swaps = 0

    def swap(site: int) -> None:
        nonlocal swaps
        mps.swap_sites(site, max_bond, cutoff)
        a, b = wire_at[site], wire_at[site + 1]
        wire_at[site], wire_at[site + 1] = b, a
        site_of[a], site_of[b] = site + 1, site
        swaps += 1

    for index, gate in enumerate(progress_bar(gates, progress, "tnq mps", unit="gate")):
        if len(gate.wires) == 1:
            mps.apply_one(int(site_of[gate.wires[0]]), gate.matrix)
            continue
        start = _route(mps, [int(site_of[w]) for w in gate.wires], swap)
        k = len(gate.wires)
        block_wires = list(wire_at[start:start + k])
        matrix = permute_gate(gate.matrix, [gate.wires.index(w) for w in block_wires])
        left, right = mps.tensors[start].shape[0], mps.tensors[start + k - 1].shape[2]
        needed = 4 * 16 * left * right * 2**k + 16 * 2 * sum(t.size for t in mps.tensors)
        if needed > budget:
            check_budget(needed, budget, f"gate {index} on wires {list(gate.wires)} (bond {left}x{right})",
                         "set max_bond to bound the MPS")
        mps.apply_gate(start, matrix, max_bond, cutoff)
    info = {"method": "mps", "max_bond": max_bond, "cutoff": cutoff, "gates_applied": len(gates),
            "routing_swaps": swaps, "fidelity": mps.fidelity_estimate,
            "largest_bond": mps.max_bond, "truncations": len(mps.discarded)}
    return MPSState(mps, site_of, wire_of, info)


def _route(mps: MPS, sites: list[int], swap: Any) -> int:
    """Swap sites until ``sites`` are contiguous; returns the block's first site.
    The site nearest the orthogonality centre stays put and the others move to it."""
    if len(sites) > 3:
        raise SimulationError(f"gates on more than 3 qubits are not supported by the MPS backend, got {len(sites)}")
    order = sorted(sites)
    center = mps.center if mps.center is not None else order[0]
    anchor = min(range(len(order)), key=lambda i: abs(order[i] - center))
    lo = hi = order[anchor]
    for s in order[anchor + 1:]:   # bring higher sites down, nearest first
        for p in range(s - 1, hi, -1):
            swap(p)
        hi += 1
    for s in reversed(order[:anchor]):  # bring lower sites up, nearest first
        for p in range(s, lo - 1):
            swap(p)
        lo -= 1
    return lo
