"""mps_to_circuit: Ran's analytic layers and gate optimisation, checked with tnq's dense backend."""

from __future__ import annotations

import numpy as np
import pytest

import tnq
from tnq.born import BornError, MPSBornMachine, bars_and_stripes
from tnq.born.circuit import complete_unitary, mps_to_circuit
from tnq.tensornet import MPS


def dense_fidelity(mps: MPS, circuit: tnq.Circuit) -> float:
    psi = mps.to_dense()
    psi = psi / np.linalg.norm(psi)
    out = tnq.simulate(circuit, method="dense").statevector()
    return abs(np.vdot(psi, out)) ** 2


def test_bond_two_mps_is_exact_with_one_analytic_layer():
    mps = MPS.random(6, 2, 2, seed=4)
    result = mps_to_circuit(mps, 1, optimise=False)
    assert result.fidelities[0] == pytest.approx(1.0, abs=1e-10)
    assert dense_fidelity(mps, result.circuit) == pytest.approx(1.0, abs=1e-10)
    assert result.circuit.count_ops() == {"unitary": 5}


def test_reported_fidelities_match_dense_backend_and_optimisation_helps():
    mps = MPS.random(7, 2, 6, seed=8)
    result = mps_to_circuit(mps, 2, iterations=60)
    assert dense_fidelity(mps, result.circuit) == pytest.approx(result.fidelities[-1], abs=1e-9)
    assert all(o >= a - 1e-9 for o, a in zip(result.fidelities, result.analytic_fidelities, strict=True))
    assert result.fidelities[1] > result.fidelities[0]
    analytic = mps_to_circuit(mps, 2, optimise=False)
    assert dense_fidelity(mps, analytic.circuit) == pytest.approx(analytic.fidelities[-1], abs=1e-9)
    assert analytic.fidelities == pytest.approx(result.analytic_fidelities)


def test_bas_born_machine_circuit_reproduces_the_data():
    model = MPSBornMachine(9, max_bond=8, n_sweeps=3, progress=False).fit(bars_and_stripes(3, 3))
    result = mps_to_circuit(model.mps_, 3, iterations=80)
    assert result.fidelities[-1] > 0.95
    state = tnq.simulate(result.circuit, method="dense")
    patterns = ["".join(map(str, row)) for row in bars_and_stripes(3, 3)]
    q = state.probabilities(patterns)
    kl = float(np.mean(np.log((1 / 14) / q)))
    assert kl < 0.1
    assert q.sum() == pytest.approx(result.fidelities[-1], abs=0.05)


def test_complete_unitary_keeps_columns():
    rng = np.random.default_rng(0)
    cols, _ = np.linalg.qr(rng.normal(size=(4, 2)) + 1j * rng.normal(size=(4, 2)))
    u = complete_unitary(cols, 4)
    assert np.allclose(u.conj().T @ u, np.eye(4), atol=1e-12)
    assert np.allclose(u[:, :2], cols, atol=1e-12)


def test_bad_inputs():
    with pytest.raises(BornError, match="physical dimension 2"):
        mps_to_circuit(MPS.random(4, 3, 2, seed=0), 1)
    with pytest.raises(BornError, match="n_layers"):
        mps_to_circuit(MPS.random(4, 2, 2, seed=0), 0)
    with pytest.raises(BornError, match="tnq.MPS"):
        mps_to_circuit(np.zeros((2, 2)), 1)
