"""mps_to_circuit: Ran's analytic layers and gate optimisation, checked with tnq's dense backend."""

from __future__ import annotations

import numpy as np
import pytest

import tnq
from tnq.born import BornError, MPSBornMachine, bars_and_stripes
from tnq.born.circuit import best_unitary, complete_unitary, mps_to_circuit
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


def test_restarts_keep_the_best_run_and_bas_escapes_its_stationary_start():
    """Without restarts the sweeps stay on the symmetric analytic start of bars and stripes (a stationary point);
    the fixed-seed restarts leave it, and the kept run is never worse than the unperturbed one."""
    model = MPSBornMachine(9, max_bond=8, n_sweeps=3, progress=False).fit(bars_and_stripes(3, 3))
    plain = mps_to_circuit(model.mps_, 2, iterations=40, restarts=0)
    assert plain.fidelities[-1] == pytest.approx(plain.analytic_fidelities[-1], abs=1e-9)  # stuck
    best = mps_to_circuit(model.mps_, 2, iterations=40, restarts=2)
    assert best.fidelities[-1] > plain.fidelities[-1] + 0.05
    assert best.analytic_fidelities == plain.analytic_fidelities
    assert dense_fidelity(model.mps_, best.circuit) == pytest.approx(best.fidelities[-1], abs=1e-9)


def test_product_states_and_bond_one_cuts_compile_to_unitary_gates():
    local = [np.array([1, 1j]), np.array([0.3, 1]), np.array([1, 0]), np.array([0, 1]), np.array([1, -1])]
    for mps in (MPS.product_state(4), MPS.product_state(5, local),
                MPS(MPS.random(3, 2, 2, seed=1).tensors + MPS.random(3, 2, 2, seed=2).tensors)):
        result = mps_to_circuit(mps, 1, optimise=False)
        assert result.fidelities[0] == pytest.approx(1.0, abs=1e-12)
        assert dense_fidelity(mps, result.circuit) == pytest.approx(1.0, abs=1e-12)
        for _, gate in result.layers[0]:
            np.testing.assert_allclose(gate.conj().T @ gate, np.eye(4), atol=1e-13)


def test_best_unitary_is_the_polar_factor_and_keeps_the_current_gate_where_the_environment_is_blind():
    rng = np.random.default_rng(1)
    current = np.linalg.qr(rng.normal(size=(4, 4)) + 1j * rng.normal(size=(4, 4)))[0]
    env = rng.normal(size=(4, 4)) + 1j * rng.normal(size=(4, 4))
    g, s = best_unitary(env, current)
    np.testing.assert_allclose(g.conj().T @ g, np.eye(4), atol=1e-13)
    assert np.trace(g @ env) == pytest.approx(s.sum(), abs=1e-12)  # the maximum of Re Tr(g env)
    np.testing.assert_allclose(best_unitary(env, np.eye(4))[0], g, atol=1e-12)  # full rank: current plays no part
    # rank 2: every completion is optimal; the chosen one is closest to the current gate (the polar factor of
    # current between the null spaces), so it equals current where current already maps null space to null space
    u, _, vh = np.linalg.svd(env)
    env2 = (u[:, :2] * [2.0, 1.0]) @ vh[:2]
    target = vh[:2].conj().T @ u[:, :2].conj().T  # the optimal part
    w = np.linalg.qr(rng.normal(size=(2, 2)) + 1j * rng.normal(size=(2, 2)))[0]
    current = target + vh[2:].conj().T @ w @ u[:, 2:].conj().T
    g2, _ = best_unitary(env2, current)
    np.testing.assert_allclose(g2, current, atol=1e-12)
    for seed in range(3):  # any other gate: still unitary and optimal
        other = np.linalg.qr(np.random.default_rng(seed).normal(size=(4, 4)) + 0j)[0]
        g3, s3 = best_unitary(env2, other)
        np.testing.assert_allclose(g3.conj().T @ g3, np.eye(4), atol=1e-12)
        assert np.trace(g3 @ env2).real == pytest.approx(3.0, abs=1e-12)


def test_complete_unitary_keeps_columns():
    rng = np.random.default_rng(0)
    cols, _ = np.linalg.qr(rng.normal(size=(4, 2)) + 1j * rng.normal(size=(4, 2)))
    u = complete_unitary(cols, 4)
    assert np.allclose(u.conj().T @ u, np.eye(4), atol=1e-12)
    assert np.allclose(u[:, :2], cols, atol=1e-12)
    # the completion depends on the columns' span only: a rotation of the given columns leaves it in place
    w = np.linalg.qr(rng.normal(size=(2, 2)) + 1j * rng.normal(size=(2, 2)))[0]
    np.testing.assert_allclose(complete_unitary(cols @ w, 4)[:, 2:], u[:, 2:], atol=1e-13)


def test_bad_inputs():
    with pytest.raises(BornError, match="physical dimension 2"):
        mps_to_circuit(MPS.random(4, 3, 2, seed=0), 1)
    with pytest.raises(BornError, match="n_layers"):
        mps_to_circuit(MPS.random(4, 2, 2, seed=0), 0)
    with pytest.raises(BornError, match="tnq.MPS"):
        mps_to_circuit(np.zeros((2, 2)), 1)
    with pytest.raises(BornError, match="restarts"):
        mps_to_circuit(MPS.random(4, 2, 2, seed=0), 1, restarts=-1)
