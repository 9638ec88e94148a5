"""Routing of long-range gates on the MPS backend (lazy layout, look-ahead, swaps fused into gates) against the
dense reference: exact runs equal the dense state, truncated runs keep the fidelity estimate within the bound the
recorded discarded weights imply, and the routing depends on sites only (relabelling the qubits changes nothing)."""

import math

import numpy as np
import pytest
from scipy.stats import unitary_group

import tnq
from tnq.backends import mps as mps_backend
from tnq.backends.mps import MPSState
from tnq.compile import fuse, lower
from tnq.tensornet import MPS


def _quantum_volume(n: int, layers: int, seed: int, one_qubit: bool = False) -> tnq.Circuit:
    """QV-style layers: a random perfect matching, a Haar-random SU(4) on each pair (all long-range in general);
    ``one_qubit`` adds a rotation and a 3-qubit gate between layers, so the router also meets 3-qubit routing."""
    rng = np.random.default_rng(seed)
    c = tnq.Circuit(n)
    for _ in range(layers):
        order = rng.permutation(n)
        for a, b in zip(order[0::2], order[1::2], strict=False):
            c.unitary(unitary_group.rvs(4, random_state=rng), [int(a), int(b)])
        if one_qubit:
            c.ry(float(rng.uniform(0, 6)), int(rng.integers(n)))
            c.ccx(*(int(q) for q in rng.choice(n, size=3, replace=False)))
    return c


@pytest.mark.parametrize(("n", "layers", "seed", "one_qubit"), [(12, 4, 0, False), (13, 3, 1, True),
                                                                (14, 3, 2, False), (16, 2, 3, True)])
def test_exact_routing_equals_the_dense_state(n, layers, seed, one_qubit):
    """Without truncation the routed MPS is the dense state (global phase included): the swaps (with the centre
    walking along a chain of them in either direction) and the exchanges fused into gates are exact, and the
    tracked layout puts every qubit back where it belongs.
    Both backends apply the same unitaries in double precision, a few hundred steps: 1e-10 is ~1e3 roundings."""
    c = _quantum_volume(n, layers, seed, one_qubit)
    state = tnq.simulate(c, method="mps", max_bond=None, cutoff=0.0)
    np.testing.assert_allclose(state.statevector(), tnq.simulate(c, method="dense").statevector(),
                               atol=1e-10, rtol=0)
    assert state.fidelity == 1.0
    assert state.info["routing_swaps"] > 0  # the pairs were far apart: the router did work


@pytest.mark.parametrize(("n", "layers", "seed", "max_bond"), [(12, 4, 4, 32), (14, 3, 5, 16), (16, 3, 6, 24)])
def test_truncated_fidelity_estimate_is_consistent_with_the_true_overlap(n, layers, seed, max_bond):
    """Each truncation moves the normalised state by a Fubini-Study angle theta_i with sin^2(theta_i) = w_i (its
    recorded discarded weight), and unitary gates keep angles, so by the triangle inequality the true angle is at
    most T = sum theta_i: |<exact|mps>|^2 >= cos^2(T). The estimate prod(1 - w_i) = prod cos^2(theta_i) also lies
    in [cos^2(T), 1], so the two differ by at most sin^2(T). A weight not recorded (or a truncated state not
    renormalised) breaks one of these."""
    c = _quantum_volume(n, layers, seed)
    state = tnq.simulate(c, method="mps", max_bond=max_bond)
    weights = np.array(state.discarded_weights)
    assert len(weights) > 0 and weights.max() > 1e-6  # the bond cap did truncate
    total = float(np.sum(np.arcsin(np.sqrt(weights))))
    assert total < math.pi / 2, "the bound would say nothing: lower the depth or raise the bond"
    exact = tnq.simulate(c, method="dense").statevector()
    psi = state.statevector()
    assert abs(np.linalg.norm(psi) - 1.0) < 1e-12
    overlap = abs(np.vdot(exact, psi)) ** 2
    slack = 1e-12  # rounding of the dense and MPS products
    assert overlap >= math.cos(total) ** 2 - slack
    assert abs(state.fidelity - float(np.prod(1.0 - weights))) < 1e-15
    assert abs(overlap - state.fidelity) <= math.sin(total) ** 2 + slack


def _run(gates, n, site_of, max_bond):
    """The MPS backend on lowered gates from |0..0> with wire w starting on site ``site_of[w]``."""
    initial = MPSState(MPS.product_state(n), np.array(site_of), np.arange(n), {})
    return mps_backend.run(gates, n, np.arange(n), max_bond=max_bond, cutoff=1e-16, progress=False, initial=initial)


@pytest.mark.parametrize(("max_bond", "one_qubit"), [(None, False), (6, True)])
def test_routing_is_invariant_under_qubit_relabelling(max_bond, one_qubit):
    """Relabel the circuit's qubits by a permutation p and start qubit p(q) where qubit q started: every routing
    decision (which qubit moves, the look-ahead, which ready gate runs next) reads sites, never labels, so
    the MPS is the same tensor for tensor, bit for bit, truncated or not, and the layouts correspond."""
    n = 14
    gates = fuse(lower(_quantum_volume(n, 3, 7, one_qubit)).gates)
    perm = np.random.default_rng(8).permutation(n)
    relabelled = [g.moved([int(perm[w]) for w in g.wires]) for g in gates]
    a = _run(gates, n, np.arange(n), max_bond)
    site_of = np.empty(n, dtype=int)
    site_of[perm] = np.arange(n)  # qubit perm[q] starts on site q
    b = _run(relabelled, n, site_of, max_bond)
    assert a.info["routing_swaps"] == b.info["routing_swaps"] > 0
    assert a.info["fused_swaps"] == b.info["fused_swaps"]
    np.testing.assert_array_equal(b.site_of[perm], a.site_of)
    for x, y in zip(a.mps.tensors, b.mps.tensors, strict=True):
        np.testing.assert_array_equal(x, y)
    assert a.mps.discarded == b.mps.discarded
