"""Truncated MPS simulation against the dense reference, with tolerances derived from the truncation
the MPS reports (``state.discarded_weights``) rather than picked by hand.

Derivation. The MPS keeps a normalised state in canonical form, so every SVD split is a Schmidt
decomposition of the whole state |phi> (the block being split holds the orthogonality centre). A
truncation that drops relative weight w_k projects onto the kept Schmidt vectors and renormalises:
|phi'> = P|phi> / sqrt(1 - w_k), with <phi|phi'> = sqrt(1 - w_k). Measure errors with the trace
distance of pure states, T(a, b) = sqrt(1 - |<a|b>|^2): it is a metric and unitarily invariant, and
T(phi, phi') = sqrt(w_k) exactly. Exact gates are unitaries applied to both the exact and the MPS
state, so by the triangle inequality over the whole run

    T(psi_exact, psi_mps) <= S := sum_k sqrt(w_k).

Consequences checked below (each + 1e-9 for floating point):
  * true fidelity F = |<psi_exact|psi_mps>|^2 = 1 - T^2 >= 1 - S^2;
  * phase-aligned distance min_a ||psi_exact - e^{ia} psi_mps|| = sqrt(2 - 2 sqrt(F))
    <= sqrt(2 - 2 sqrt(1 - S^2)) =: D (<= sqrt(2) S; ~ S for small S);
  * |<P>_exact - <P>_mps| = |tr(P (rho - sigma))| <= ||P||_op ||rho - sigma||_1 = 2 T <= 2 S for a Pauli
    string P, and <= 2 S sum_j |c_j| for a Hamiltonian sum_j c_j P_j;
  * |<b|psi_exact>| and |<b|psi_mps>| differ by at most D (|<b|.>| is 1-Lipschitz and phase-blind);
  * the reported estimate F_est = prod_k (1 - w_k) >= 1 - sum_k w_k >= 1 - S^2, and F_est <= 1, F <= 1,
    so both lie in [1 - S^2, 1] and |F - F_est| <= S^2.
"""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from refs import phase_aligned_distance, random_hamiltonian, random_pauli

import tnq

SEEDS = st.integers(min_value=0, max_value=2**32 - 1)
SLACK = 1e-9


def truncation_bound(state) -> float:
    """S = sum_k sqrt(w_k) over every truncating split of the run."""
    return float(np.sum(np.sqrt(np.asarray(state.discarded_weights, dtype=float))))


def distance_bound(s: float) -> float:
    return math.sqrt(2 - 2 * math.sqrt(1 - s * s)) if s < 1 else math.sqrt(2)


def hamiltonian_weight(text: str) -> float:
    return float(sum(abs(c) for c in tnq.Hamiltonian.parse(text).coeffs))


def check_against_exact(circuit: tnq.Circuit, state, rng: np.random.Generator) -> float:
    """Every bound of the module docstring for one truncated run; returns S."""
    n = circuit.num_qubits
    exact = tnq.simulate(circuit, method="dense")
    exact_vec = exact.statevector()
    mps_vec = state.statevector()
    s = truncation_bound(state)
    d = distance_bound(s)
    assert abs(np.linalg.norm(mps_vec) - 1) < 1e-10, "the MPS must stay normalised"
    fidelity = abs(np.vdot(exact_vec, mps_vec)) ** 2
    assert fidelity >= 1 - s * s - SLACK
    assert phase_aligned_distance(exact_vec, mps_vec) <= d + SLACK
    assert abs(fidelity - state.fidelity) <= s * s + SLACK
    assert state.fidelity == pytest.approx(float(np.prod([1 - w for w in state.discarded_weights])), rel=1e-12)
    assert 0 < state.fidelity <= 1
    bits = rng.integers(0, 2, size=(16, n))
    assert np.all(np.abs(np.abs(state.amplitudes(bits)) - np.abs(exact.amplitudes(bits))) <= d + SLACK)
    for _ in range(4):
        obs = random_pauli(rng, n)
        assert abs(state.expectation(obs) - exact.expectation(obs)) <= 2 * s + SLACK, obs
    h = random_hamiltonian(rng, n)
    assert abs(state.expectation(h) - exact.expectation(h)) <= 2 * s * hamiltonian_weight(h) + SLACK, h
    return s


@settings(max_examples=60)
@given(seed=SEEDS, n=st.integers(5, 9), max_bond=st.integers(2, 4), extra=st.integers(0, 30),
       local=st.booleans())
def test_truncated_mps_is_within_the_bound_its_discarded_weights_give(seed, n, max_bond, extra, local):
    # A brickwork of depth n makes the exact bond exceed max_bond, so truncation must happen;
    # random extra gates add 3-qubit gates, custom unitaries and non-local routing (which truncates too).
    max_bond = min(max_bond, 2 ** (n // 2) - 1)  # below the largest exact bond
    c = tnq.brickwork(n, n, seed=seed)
    c.compose(tnq.random_circuit(n, extra, seed=seed, local=local))
    state = tnq.simulate(c, method="mps", max_bond=max_bond, cutoff=0.0)
    assert max(state.bond_dims) <= max_bond
    assert len(state.discarded_weights) > 0 and max(state.discarded_weights) > 1e-6, "truncation must happen"
    assert state.fidelity < 1
    check_against_exact(c, state, np.random.default_rng(seed))


@settings(max_examples=25)
@given(seed=SEEDS, n=st.integers(6, 9), cutoff=st.sampled_from([1e-4, 1e-3, 1e-2]))
def test_cutoff_truncation_is_within_its_bound(seed, n, cutoff):
    c = tnq.brickwork(n, n + 2, seed=seed)
    state = tnq.simulate(c, method="mps", max_bond=None, cutoff=cutoff)
    assert len(state.discarded_weights) > 0 and max(state.discarded_weights) > 0
    assert max(state.discarded_weights) <= cutoff  # each split drops at most `cutoff` relative weight
    check_against_exact(c, state, np.random.default_rng(seed))


def test_truncation_bounds_on_fixed_cases_with_three_qubit_gates():
    """Fixed circuits where 3-qubit gates themselves must be truncated (two SVDs per gate)."""
    for seed in range(4):
        rng = np.random.default_rng(seed)
        n = 7
        c = tnq.Circuit(n)
        for _ in range(25):
            for q in range(n):
                c.u3(*rng.uniform(0, 6, 3), q)
            qubits = [int(q) for q in rng.choice(n, size=3, replace=False)]
            c.ccx(*qubits)
            c.cry(float(rng.uniform(0, 6)), qubits[0], qubits[2])
        state = tnq.simulate(c, method="mps", max_bond=3, cutoff=0.0)
        assert max(state.discarded_weights) > 1e-6
        check_against_exact(c, state, rng)


def test_single_truncation_fidelity_estimate_is_exact():
    """With exactly one truncating split the estimate is not just a bound: F = 1 - w exactly."""
    rng = np.random.default_rng(2)
    c = tnq.Circuit(4)
    for q in range(4):
        c.u3(*rng.uniform(0, 6, 3), q)
    c.cz(0, 1)
    c.cz(2, 3)
    c.cz(1, 2)  # the centre bond is now 2, the outer bonds are at most 2 forever (one qubit outside)
    for q in range(4):
        c.u3(*rng.uniform(0, 6, 3), q)
    z = rng.normal(size=(4, 4)) + 1j * rng.normal(size=(4, 4))
    c.unitary(np.linalg.qr(z)[0], [1, 2])  # generic: would raise the centre bond to 4
    state = tnq.simulate(c, method="mps", max_bond=2, cutoff=0.0)
    weights = [w for w in state.discarded_weights if w > 0]
    assert len(weights) == 1 and weights[0] > 1e-4
    fidelity = abs(np.vdot(tnq.simulate(c, method="dense").statevector(), state.statevector())) ** 2
    assert fidelity == pytest.approx(1 - weights[0], abs=1e-12)
    assert state.fidelity == pytest.approx(1 - weights[0], abs=1e-15)


def test_mps_apply_gate_reports_the_weight_it_drops():
    """tnq.MPS directly: one truncated two-site gate on a random MPS drops exactly the weight it reports."""
    mps = tnq.MPS.random(6, 2, 4, seed=3)
    before = mps.to_dense()
    rng = np.random.default_rng(4)
    u = np.linalg.qr(rng.normal(size=(4, 4)) + 1j * rng.normal(size=(4, 4)))[0]
    exact = (before.reshape(4, 4, 4).transpose(1, 0, 2).reshape(4, 16))
    exact = (u @ exact).reshape(4, 4, 4).transpose(1, 0, 2).reshape(-1)
    weight = mps.apply_gate(2, u, max_bond=2, cutoff=0.0)
    assert weight > 1e-4 and len(mps.discarded) == 1 and mps.discarded[0] == pytest.approx(weight, rel=1e-12)
    after = mps.to_dense()
    assert np.linalg.norm(after) == pytest.approx(1.0, abs=1e-12)
    assert abs(np.vdot(exact, after)) ** 2 == pytest.approx(1 - weight, abs=1e-12)
    assert mps.bond_dims[2] == 2


def test_expectation_with_truncation_respects_the_bound():
    """tnq.expectation(..., method='mps', max_bond=...) on the lightcone: the returned state carries the
    truncation record of the run that produced the value."""
    c = tnq.brickwork(10, 10, seed=3)
    exact = tnq.simulate(c, method="dense")
    for obs in ["Z4 Z5", "X0", "0.5*Z2 Z3 - 0.25*Y7"]:
        value, state = tnq.expectation(c, obs, method="mps", max_bond=3, return_state=True)
        s = truncation_bound(state)
        assert s > 0
        assert abs(value - exact.expectation(obs)) <= 2 * s * hamiltonian_weight(obs) + SLACK
