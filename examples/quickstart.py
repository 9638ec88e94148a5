"""tnq quickstart: build circuits, simulate them, and read out samples, expectations and amplitudes.

Run from the repository root with ``python examples/quickstart.py`` (a few seconds on a laptop).
Bitstrings follow tnq's convention: character q is qubit q.
"""

from pathlib import Path

import numpy as np
from scipy.optimize import minimize

import tnq

# 1. A 50-qubit GHZ state. method="auto" picks the MPS backend above 20 qubits and says why.
state = tnq.simulate(tnq.ghz(50))
print("GHZ-50:", state.info["method"], "-", state.info["reason"])
counts = state.counts(1000, seed=1)
print("  1000 shots:", ", ".join(f"{bits[:3]}...{bits[-3:]} x {n}" for bits, n in counts.items()))

# 2. <Z0 Z1> on a 40-qubit random brickwork circuit: a bond-limited MPS against the exact value,
#    which tnq.expectation gets by simulating only the observable's reverse lightcone.
circuit = tnq.brickwork(40, depth=12, seed=0)
mps = tnq.simulate(circuit, method="mps", max_bond=32)
exact = tnq.expectation(circuit, "Z0 Z1")
print(f"brickwork 40x12: MPS(max_bond=32) <Z0 Z1> = {mps.expectation('Z0 Z1'):.6f}, "
      f"fidelity estimate {mps.fidelity:.4f}, largest bond {max(mps.bond_dims)}; lightcone exact = {exact:.6f}")

# 3. QAOA for MaxCut on an 8-node ring with symbolic angles: bind, evaluate a Hamiltonian, optimise.
#    For p=1 on a ring the best expected cut is 3/4 of the edges, i.e. 6 of 8.
edges = [(k, (k + 1) % 8) for k in range(8)]
ansatz = tnq.qaoa(edges, [tnq.Parameter("gamma")], [tnq.Parameter("beta")])
cost = " + ".join(f"0.5*Z{a} Z{b}" for a, b in edges)   # cut size = 4 - <cost>


def expected_cut(angles: np.ndarray) -> float:
    return 4 - tnq.expectation(ansatz.bind({"gamma": angles[0], "beta": angles[1]}), cost)


result = minimize(lambda a: -expected_cut(a), x0=[0.5, 0.3], method="Nelder-Mead", options={"xatol": 1e-6})
print(f"QAOA p=1 ring-8: expected cut {expected_cut(result.x):.6f} at gamma={result.x[0]:.4f}, "
      f"beta={result.x[1]:.4f} (theory: 6)")

# 4. OpenQASM 2 in: a 20-qubit QFT written in qelib1 gates; its SWAPs are relabelled, not simulated.
qft = tnq.Circuit.from_qasm(Path(__file__).with_name("qft_20.qasm"))
out = tnq.simulate(qft, method="mps")
print(f"qft_20.qasm: {qft}; largest bond {max(out.bond_dims)}; "
      f"<00000000000000000000|psi> = {out.amplitude('0' * 20):.6f}")
