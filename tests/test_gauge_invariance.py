"""Results that depend on the state alone: random bond gauges (unitary U U^dagger and invertible G G^-1) inserted
into an MPS change its tensors but not its state, so they must leave amplitudes, likelihoods, samples, Schmidt
spectra, truncations, Born training and compiled circuits unchanged. A result that moves with the gauge also moves
with the CPU's BLAS kernels (they change LAPACK's choices the same way), so these tests catch on any machine what
would otherwise only fail on some."""

from __future__ import annotations

from itertools import product

import numpy as np
import pytest

import tnq
from tnq.born import MPSBornMachine, bars_and_stripes, mps_to_circuit, random_strings
from tnq.born.training import spectral_embedding
from tnq.tensornet import MPS
from tnq.tensornet.decompose import canonical_basis, fixed_svd, truncated_svd
from tnq.tensornet.two_site import apply_two_site, operator_schmidt

EPS = np.finfo(float).eps


def all_strings(n: int, d: int = 2) -> np.ndarray:
    return np.array(list(product(range(d), repeat=n)), dtype=np.intp)


def random_unitary(n: int, rng: np.random.Generator, real: bool = False) -> np.ndarray:
    z = rng.normal(size=(n, n)) + (0 if real else 1j * rng.normal(size=(n, n)))
    q, r = np.linalg.qr(z)
    return q * np.sign(np.diag(r))


def gauged(mps: MPS, seed: int, unitary: bool, real: bool = False) -> tuple[MPS, float]:
    """The same state with X_k X_k^-1 inserted on every bond (X unitary, or a random invertible matrix), as an MPS of
    unknown gauge, and the rounding bound of quantities computed from it: each bond's product A X X^-1 B is exact to
    about bond * cond(X) * eps relative, and the n - 1 bonds add up."""
    rng = np.random.default_rng(seed)
    tensors = [np.asarray(t, dtype=float if real else complex) for t in mps.tensors]
    spread = 0.0
    for k in range(len(tensors) - 1):
        dim = tensors[k].shape[2]
        x = random_unitary(dim, rng, real) if unitary else rng.normal(size=(dim, dim)) + (
            0 if real else 1j * rng.normal(size=(dim, dim)))
        tensors[k] = np.tensordot(tensors[k], x, axes=(2, 0))
        tensors[k + 1] = np.tensordot(np.linalg.inv(x), tensors[k + 1], axes=(1, 0))
        spread += dim * np.linalg.cond(x)
    return MPS(tensors), 4 * EPS * spread  # 4: the products and sums of one site contraction, rounded once each


GAUGES = [(seed, unitary) for seed in (1, 2) for unitary in (True, False)]


# --- the state-level quantities of the engine ------------------------------------------------------------------
def schmidt_spectra(mps: MPS) -> list[np.ndarray]:
    """Singular values across every bond, from the canonical form (independent of the dense vector)."""
    out = []
    work = mps.copy()
    for k in range(mps.num_sites - 1):
        work.move_center(k)
        t = work.tensors[k]
        out.append(np.linalg.svd(t.reshape(-1, t.shape[2]), compute_uv=False))
    return out


@pytest.mark.parametrize("seed, unitary", GAUGES)
def test_state_level_quantities_do_not_depend_on_the_gauge(seed, unitary):
    mps = MPS.random(6, 2, 4, seed=3)
    other, bound = gauged(mps, seed, unitary)
    strings = all_strings(6)
    psi = mps.to_dense()
    np.testing.assert_allclose(other.amplitudes(strings), psi, atol=bound)
    log_abs, phase = other.log_amplitudes(strings)
    ref_abs, ref_phase = mps.log_amplitudes(strings)
    # ln|psi| moves by the relative error of psi: the bound over |psi| (at least 1e-3 here)
    np.testing.assert_allclose(log_abs, ref_abs, atol=bound / np.abs(psi).min())
    np.testing.assert_allclose(phase, ref_phase, atol=bound / np.abs(psi).min())
    assert other.norm() == pytest.approx(1.0, abs=bound)
    z = np.diag([1.0, -1.0])
    assert other.expectation_local({1: z, 4: z}) == pytest.approx(mps.expectation_local({1: z, 4: z}), abs=bound)
    fixed = {0: 1, 3: 0}
    np.testing.assert_allclose(other.project(fixed).to_dense(), mps.project(fixed).to_dense(), atol=bound)
    for a, b in zip(schmidt_spectra(other), schmidt_spectra(mps), strict=True):
        np.testing.assert_allclose(a[: len(b)], b, atol=bound)
        assert np.all(a[len(b):] <= bound)
    # same seed, same probabilities up to rounding: the same samples (a uniform would have to fall within the
    # bound of a cumulative probability to flip one, about 1e-10 for all of them together)
    np.testing.assert_array_equal(other.copy().sample(2000, 7), mps.copy().sample(2000, 7))
    np.testing.assert_array_equal(other.sample(500, 8, fixed=fixed), mps.sample(500, 8, fixed=fixed))


# --- gauge-fixed decompositions -----------------------------------------------------------------------------------
def matrix_with_spectrum(s: np.ndarray, rows: int, cols: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (random_unitary(rows, rng)[:, : len(s)] * s) @ random_unitary(cols, rng)[: len(s)]


SPECTRUM = np.array([2.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.1])  # two clusters of equal values


def test_fixed_svd_depends_only_on_the_matrix_times_its_adjoint():
    """A unitary change of basis of the columns rotates LAPACK's vectors inside each cluster (and flips phases);
    ``fixed_svd``'s left vectors stay, the product stays exact and the values are the singular values."""
    m = matrix_with_spectrum(SPECTRUM, 9, 7, seed=1)
    u0, s0, vh0 = fixed_svd(m)
    np.testing.assert_allclose((u0 * s0) @ vh0, m, atol=20 * EPS)
    np.testing.assert_allclose(u0.conj().T @ u0, np.eye(7), atol=20 * EPS)
    np.testing.assert_allclose(s0, SPECTRUM, atol=20 * EPS)
    moved = 0.0
    for seed in range(4):
        w = random_unitary(7, np.random.default_rng(seed + 10))
        u, s, vh = fixed_svd(m @ w)
        np.testing.assert_allclose(u, u0, atol=1e-13)  # cluster gaps are O(1): the error stays at rounding
        np.testing.assert_allclose((u * s) @ vh, m @ w, atol=20 * EPS)
        moved = max(moved, np.abs(np.linalg.svd(m @ w)[0][:, 1:4] - u0[:, 1:4]).max())
        # a truncation to 2 cuts the cluster 1, 1, 1: the same kept vector in every basis
        np.testing.assert_allclose(truncated_svd(m @ w, max_bond=2).U, u0[:, :2], atol=1e-13)
    assert moved > 0.1  # the control: LAPACK's own vectors do move


def test_fixed_svd_keeps_real_matrices_real():
    m = matrix_with_spectrum(SPECTRUM, 9, 7, seed=2).real
    u, s, vh = fixed_svd(m)
    assert u.dtype == np.float64 and vh.dtype == np.float64
    np.testing.assert_allclose((u * s) @ vh, m, atol=20 * EPS)


def test_canonical_basis_depends_only_on_the_span():
    rng = np.random.default_rng(4)
    span = random_unitary(7, rng)[:, :3]
    first = canonical_basis(span, 3)
    np.testing.assert_allclose(first.conj().T @ first, np.eye(3), atol=20 * EPS)
    np.testing.assert_allclose(first @ first.conj().T, span @ span.conj().T, atol=20 * EPS)  # the same span
    for seed in range(3):
        rotated = span @ random_unitary(3, np.random.default_rng(seed))
        np.testing.assert_allclose(canonical_basis(rotated, 3), first, atol=1e-13)


@pytest.mark.parametrize("absorb", ["right", "left"])
def test_split_block_truncates_a_degenerate_spectrum_the_same_way_in_every_basis(absorb):
    """A block whose Schmidt values 1, 1, 1 are cut by max_bond = 2: the kept cores depend only on the side that
    becomes orthonormal, so a unitary on the other side (the one that takes the singular values) changes nothing,
    and the discarded weight is exactly the dropped third of the cluster."""
    s = np.array([1.0, 1.0, 1.0, 0.5]) / np.sqrt(3.25)
    block = matrix_with_spectrum(s, 4, 4, seed=5).reshape(2, 2, 2, 2)
    cores, states = [], []
    for seed in range(4):
        w = random_unitary(2, np.random.default_rng(seed))
        b = np.einsum("lstr,rq->lstq", block, w) if absorb == "right" else np.einsum("pl,lstr->pstr", w, block)
        mps = MPS([np.zeros((2, 2, 2)), np.zeros((2, 2, 2))])
        weight = mps.split_block(0, b, 2, 0.0, absorb)
        assert weight == pytest.approx((s[2] ** 2 + s[3] ** 2) / np.sum(s**2), rel=1e-13)
        kept = np.tensordot(mps.tensors[0], mps.tensors[1], axes=(2, 0))
        # undo the basis change: the truncated block itself must be the same
        inverse = w.conj().T
        states.append(np.einsum("lstr,rq->lstq", kept, inverse) if absorb == "right"
                      else np.einsum("pl,lstr->pstr", inverse, kept))
        cores.append(mps.tensors[0] if absorb == "right" else mps.tensors[1])
    for state in states[1:]:  # the kept state (LAPACK alone keeps a different pair of the three each time)
        np.testing.assert_allclose(state, states[0], atol=1e-13)
    for core in cores[1:]:  # and the orthonormal core itself, phases included
        np.testing.assert_allclose(core, cores[0], atol=1e-13)
    assert np.linalg.norm(states[0]) == pytest.approx(1.0, rel=1e-13)


@pytest.mark.parametrize("absorb", ["right", "left"])
def test_two_site_gate_truncates_a_degenerate_spectrum_the_same_way_in_every_basis(absorb):
    """The simulator's two-site update (``apply_two_site``) on a 4-site state whose middle bond has four equal
    Schmidt values, truncated to two: a unitary gauge on the outer bond of the side that takes the singular values
    leaves the truncated state as it is."""
    rng = np.random.default_rng(6)
    ends = [random_unitary(2, rng).reshape(1, 2, 2), random_unitary(2, rng).reshape(2, 2, 1)]  # orthonormal ends
    left_orth, right_orth = random_unitary(4, rng).reshape(2, 2, 4), random_unitary(4, rng).reshape(4, 2, 2)
    l_op, r_op = operator_schmidt(np.kron(random_unitary(2, rng), random_unitary(2, rng)))
    states = []
    for seed in range(4):
        w = random_unitary(2, np.random.default_rng(seed))
        if absorb == "right":  # centre on site 2 (values 1/2 there), gauge on bond 2-3
            tensors = [ends[0], left_orth, np.tensordot(right_orth / 2, w, axes=(2, 0)),
                       np.tensordot(w.conj().T, ends[1], axes=(1, 0))]
        else:  # centre on site 1, gauge on bond 0-1
            tensors = [np.tensordot(ends[0], w, axes=(2, 0)), np.tensordot(w.conj().T, left_orth / 2, axes=(1, 0)),
                       right_orth, ends[1]]
        mps = MPS(tensors, center=2 if absorb == "right" else 1)
        assert schmidt_spectra(mps)[1] == pytest.approx([0.5] * 4)
        weight = apply_two_site(mps, 1, l_op, r_op, 2, 0.0, 0.0, absorb)
        assert weight == pytest.approx(0.5, rel=1e-13) and mps.bond_dims[1] == 2
        states.append(mps.to_dense())
    for state in states[1:]:
        np.testing.assert_allclose(state, states[0], atol=1e-13)
    assert np.linalg.norm(states[0]) == pytest.approx(1.0, rel=1e-13)


# --- compiling a Born machine into a circuit ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def bas_mps() -> MPS:
    """The bars-and-stripes 3x3 state: symmetric, so its Schmidt values come in clusters of equal values."""
    return MPSBornMachine(9, max_bond=8, n_sweeps=3, progress=False).fit(bars_and_stripes(3, 3)).mps_


def test_compiled_circuit_is_the_same_for_every_gauge(bas_mps):
    """Tolerance: the gauged states equal the original to rounding (the ``gauged`` bound, ~1e-13). Every step of the
    compiler is a continuous function of the state: canonical vectors inside clusters of equal singular values
    (apart from that, gaps are O(0.1) relative), negligible directions dropped, no arbitrary choice in the sweeps.
    So the analytic fidelities move by about (splits = layers * sites) * bound / gap < 1e-10. The optimised
    fidelity sits at a stationary point of the sweeps, flat to first order, where the gates' rounding differences
    (~1e-6, along flat directions) change it only to second order (~1e-11): 1e-8 lies above both and far below the
    spread a gauge-dependent compiler shows (0.89 to 1.00 on this state)."""
    reference = mps_to_circuit(bas_mps, 3, iterations=80)
    for seed, unitary in GAUGES:
        other, bound = gauged(bas_mps, seed, unitary)
        assert bound < 1e-12
        result = mps_to_circuit(other, 3, iterations=80)
        np.testing.assert_allclose(result.analytic_fidelities, reference.analytic_fidelities, atol=1e-10)
        np.testing.assert_allclose(result.fidelities, reference.fidelities, atol=1e-8)
    assert reference.fidelities[-1] >= 0.95  # so every gauge reaches it
    out = tnq.simulate(result.circuit, method="dense").statevector()
    psi = bas_mps.to_dense() / np.linalg.norm(bas_mps.to_dense())
    assert abs(np.vdot(psi, out)) ** 2 == pytest.approx(reference.fidelities[-1], abs=1e-8)


def test_compiled_circuit_of_a_generic_state_is_the_same_for_every_gauge():
    mps = MPS.random(7, 2, 6, seed=8)
    reference = mps_to_circuit(mps, 2, iterations=40, restarts=1)
    for seed, unitary in GAUGES[:2]:
        result = mps_to_circuit(gauged(mps, seed, unitary)[0], 2, iterations=40, restarts=1)
        np.testing.assert_allclose(result.analytic_fidelities, reference.analytic_fidelities, atol=1e-10)
        np.testing.assert_allclose(result.fidelities, reference.fidelities, atol=1e-8)


# --- Born training ----------------------------------------------------------------------------------------------
def test_born_training_depends_on_the_initial_state_not_its_gauge():
    """Han's two-site updates are covariant (orthonormal environments, canonical splits): training from any gauge
    of the same initial state gives the same model. Tolerance: the gauge's rounding bound, grown by the sweeps'
    gradient steps (10 steps of a contraction per bond, 2 sweeps of 8 bonds) to well below 1e-9."""
    X = bars_and_stripes(3, 3)
    start = MPSBornMachine(9, max_bond=4, n_sweeps=2, init_bond=3, progress=False)._init_mps()
    strings = all_strings(9)
    probs = []
    for seed in range(3):
        model = MPSBornMachine(9, max_bond=4, n_sweeps=2, progress=False)
        model.mps_ = gauged(start, seed, True, real=True)[0] if seed else start.copy()
        probs.append(model.fit(X).prob(strings))
    for p in probs[1:]:
        np.testing.assert_allclose(p, probs[0], atol=1e-9)


@pytest.mark.parametrize("n_batches", [1, 3])
def test_born_training_does_not_depend_on_the_order_of_the_samples(n_batches):
    X = random_strings(120, 7, n_distinct=20, seed=2)
    order = np.random.default_rng(0).permutation(len(X))
    strings = all_strings(7)
    a = MPSBornMachine(7, max_bond=4, n_sweeps=2, n_batches=n_batches, progress=False).fit(X)
    b = MPSBornMachine(7, max_bond=4, n_sweeps=2, n_batches=n_batches, progress=False).fit(X[order])
    np.testing.assert_array_equal(a.prob(strings), b.prob(strings))


def test_spectral_embedding_does_not_depend_on_the_order_of_the_context():
    """Data symmetric under a cyclic relabelling of the 5 symbols gives pairs of equal singular values in the
    symbol-context matrix; reversing the strings swaps its [next | previous] column blocks (a column permutation,
    so the same left singular spaces). The embedding must come out the same, not a rotation inside a pair."""
    rng = np.random.default_rng(3)
    base = rng.integers(0, 5, size=(6, 6))
    X = np.unique(np.vstack([np.roll((base + c) % 5, s, axis=1) for c in range(5) for s in range(6)]), axis=0)
    w = np.full(len(X), 1 / len(X))
    forward = spectral_embedding(X, w, 5, 3, np.random.default_rng(1))
    backward = spectral_embedding(X[:, ::-1], w, 5, 3, np.random.default_rng(1))
    np.testing.assert_allclose(forward.T @ forward, np.eye(3), atol=20 * EPS)
    np.testing.assert_allclose(backward, forward, atol=1e-12)
