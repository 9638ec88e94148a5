"""Engine MPS primitives (value_cutoff truncation, project, conditional sampling, log-amplitudes) against brute
force on the dense vector of small MPS."""

from __future__ import annotations

from itertools import product

import numpy as np
import pytest
from scipy.stats import chisquare

from tnq.errors import SimulationError
from tnq.tensornet import MPS, keep_count, tensor_train, truncated_svd
from tnq.tensornet.batch import step_left, step_right
from tnq.tensornet.decompose import product_svd


def all_strings(n: int, d: int = 2) -> np.ndarray:
    return np.array(list(product(range(d), repeat=n)), dtype=np.intp)


def matrix_with_spectrum(s: np.ndarray, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    u, _ = np.linalg.qr(rng.normal(size=(len(s), len(s))))
    v, _ = np.linalg.qr(rng.normal(size=(len(s), len(s))))
    return (u * s) @ v.T


# --- value_cutoff ---------------------------------------------------------------------------------------------
SPECTRUM = np.array([2.0, 1.0, 0.4, 0.18, 0.11, 0.022, 0.018, 0.002])  # no value on a tested threshold


@pytest.mark.parametrize("value_cutoff", [0.0, 0.005, 0.01, 0.05, 0.1, 0.6, 0.99])
def test_value_cutoff_keeps_exactly_the_values_above_the_threshold(value_cutoff):
    expected = int(np.sum(SPECTRUM >= value_cutoff * SPECTRUM[0]))
    keep, discarded = keep_count(SPECTRUM, None, 0.0, value_cutoff)
    assert keep == expected
    assert discarded == pytest.approx(np.sum(SPECTRUM[keep:] ** 2) / np.sum(SPECTRUM**2))
    t = truncated_svd(matrix_with_spectrum(SPECTRUM), value_cutoff=value_cutoff)
    np.testing.assert_allclose(t.S, SPECTRUM[:expected], rtol=1e-12)


def test_value_cutoff_combines_with_max_bond_and_cutoff_by_the_strictest():
    # the value rule alone keeps 6 (>= 0.02); with max_bond 4 or a stricter weight cutoff the smaller count wins
    assert keep_count(SPECTRUM, None, 0.0, 0.01)[0] == 6
    assert keep_count(SPECTRUM, 4, 0.0, 0.01)[0] == 4
    weight_only = keep_count(SPECTRUM, None, 0.002, 0.0)[0]
    assert keep_count(SPECTRUM, None, 0.002, 0.01)[0] == min(weight_only, 6)
    assert keep_count(SPECTRUM, None, 0.002, 0.3)[0] == 2
    assert keep_count(np.array([1.0, 1e-9]), None, 0.0, 0.999)[0] == 1  # never fewer than one


def test_value_cutoff_zero_changes_nothing():
    m = matrix_with_spectrum(SPECTRUM, seed=3)
    a, b = truncated_svd(m, 5, 1e-4), truncated_svd(m, 5, 1e-4, value_cutoff=0.0)
    assert len(a.S) == len(b.S) and a.discarded == b.discarded


def test_split_block_and_apply_gate_apply_value_cutoff():
    """A two-site block with a known Schmidt spectrum: the new bond has exactly the values above the threshold,
    the kept part is the best low-rank approximation, and the state stays normalised."""
    s = SPECTRUM / np.linalg.norm(SPECTRUM)
    block = matrix_with_spectrum(s, seed=5).reshape(1, 8, 8, 1)
    mps = MPS.product_state(2, d=8)
    weight = mps.split_block(0, block, None, 0.0, value_cutoff=0.05)
    assert mps.bond_dims == [int(np.sum(s >= 0.05 * s[0]))] == [5]
    assert weight == pytest.approx(np.sum(s[5:] ** 2), rel=1e-9)
    assert mps.norm() == pytest.approx(1.0)
    kept = np.sqrt(1 - weight)
    assert abs(np.vdot(block.reshape(-1), mps.to_dense())) == pytest.approx(kept, rel=1e-9)

    random = MPS.random(6, 2, 8, seed=1)
    gate = np.linalg.qr(np.random.default_rng(2).normal(size=(4, 4)) + 0j)[0]
    exact = random.copy()
    exact.apply_gate(2, gate)
    spectrum = np.linalg.svd(exact.to_dense().reshape(8, 8), compute_uv=False)
    for value_cutoff in (0.0, 0.3):
        trial = random.copy()
        trial.apply_gate(2, gate, value_cutoff=value_cutoff)
        assert trial.bond_dims[2] == max(1, int(np.sum(spectrum >= value_cutoff * spectrum[0] * (1 - 1e-12))))
    with pytest.raises(SimulationError, match="value_cutoff"):
        random.copy().apply_gate(2, gate, value_cutoff=1.5)


def test_product_svd_is_the_svd_of_the_product_and_truncates_before_forming_factors():
    """``product_svd(x, y)`` has the singular values of x @ y; ``factors()`` reconstructs it, ``factors(k)`` is the
    best rank-k approximation (error = the dropped singular values) with orthonormal columns / rows."""
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(40, 7)), rng.normal(size=(7, 30))
    product = product_svd(x, y)
    np.testing.assert_allclose(product.s, np.linalg.svd(x @ y, compute_uv=False)[:7], rtol=1e-10)
    left, s, right = product.factors()
    np.testing.assert_allclose((left * s) @ right, x @ y, atol=1e-10)
    left, s, right = product.factors(3)
    assert left.shape == (40, 3) and s.shape == (3,) and right.shape == (3, 30)
    np.testing.assert_allclose(left.T @ left, np.eye(3), atol=1e-12)
    np.testing.assert_allclose(right @ right.T, np.eye(3), atol=1e-12)
    error = np.linalg.norm(x @ y - (left * s) @ right)
    assert error == pytest.approx(np.sqrt(np.sum(product.s[3:] ** 2)), rel=1e-10)


def test_tensor_train_value_cutoff():
    s = SPECTRUM / np.linalg.norm(SPECTRUM)
    tensor = matrix_with_spectrum(s, seed=7).reshape(2, 4, 4, 2)
    cores, _ = tensor_train(tensor, value_cutoff=0.1)
    assert cores[1].shape[2] == int(np.sum(s >= 0.1 * s[0]))  # the middle split sees the full spectrum


# --- project and conditional sampling --------------------------------------------------------------------------
@pytest.mark.parametrize("fixed", [{0: 1}, {5: 0}, {1: 1, 4: 0}, {0: 0, 1: 1, 2: 0}, {0: 1, 2: 0, 5: 1},
                                   {1: 0, 2: 1, 3: 0, 4: 1, 5: 0}])
def test_project_gives_the_conditional_amplitudes(fixed):
    mps = MPS.random(6, 2, 4, seed=11)
    psi = mps.to_dense().reshape((2,) * 6)
    projected = mps.project(fixed)
    free = [k for k in range(6) if k not in fixed]
    assert projected.num_sites == len(free)
    index = tuple(fixed[k] if k in fixed else slice(None) for k in range(6))
    expected = psi[index].reshape(-1)
    np.testing.assert_allclose(projected.to_dense(), expected, atol=1e-12)
    assert projected.norm() ** 2 == pytest.approx(np.sum(np.abs(expected) ** 2), rel=1e-10)
    assert projected.center == 0 and mps.num_sites == 6  # canonical, and the original is untouched
    np.testing.assert_allclose(mps.to_dense(), psi.reshape(-1), atol=0)


def test_project_with_qudits_and_the_probability_of_the_condition():
    mps = MPS.random(5, 3, 5, seed=4)
    p = np.abs(mps.to_dense().reshape((3,) * 5)) ** 2
    assert mps.project({1: 2, 3: 0}).norm() ** 2 == pytest.approx(p[:, 2, :, 0, :].sum(), rel=1e-10)


def test_project_rejects_bad_conditions():
    mps = MPS.random(3, 2, 2, seed=0)
    with pytest.raises(SimulationError, match="site 3"):
        mps.project({3: 0})
    with pytest.raises(SimulationError, match="value 2"):
        mps.project({0: 2})
    with pytest.raises(SimulationError, match="every site"):
        mps.project({0: 0, 1: 0, 2: 1})
    with pytest.raises(SimulationError, match="mapping"):
        mps.project([0, 1])


def chi_square_pvalue(samples: np.ndarray, p: np.ndarray, d: int = 2) -> float:
    n = samples.shape[1]
    index = samples.astype(np.intp) @ (d ** np.arange(n - 1, -1, -1))
    observed = np.bincount(index, minlength=len(p))
    keep = p * len(samples) > 5
    assert observed[~keep].sum() <= max(20, 4 * len(samples) * p[~keep].sum())
    expected = p[keep] / p[keep].sum() * observed[keep].sum()
    return float(chisquare(observed[keep], expected).pvalue)


@pytest.mark.parametrize("fixed", [{2: 1}, {0: 1, 4: 0}, {5: 1, 3: 1}])
def test_conditional_samples_follow_the_conditional_distribution(fixed):
    mps = MPS.random(6, 2, 4, seed=21)
    strings = all_strings(6)
    p = np.abs(mps.to_dense()) ** 2
    mask = np.all([strings[:, k] == v for k, v in fixed.items()], axis=0)
    cond = np.where(mask, p, 0.0) / p[mask].sum()
    samples = mps.sample(40000, np.random.default_rng(3), fixed=fixed)
    assert samples.shape == (40000, 6) and samples.dtype == np.uint8
    assert all((samples[:, k] == v).all() for k, v in fixed.items())
    assert chi_square_pvalue(samples, cond) > 1e-3
    # the unconditioned sampler on the same state as a control
    assert chi_square_pvalue(mps.sample(40000, np.random.default_rng(4)), p) > 1e-3


def test_conditional_sampling_of_qutrits():
    mps = MPS.random(4, 3, 4, seed=8)
    strings = all_strings(4, 3)
    p = np.abs(mps.to_dense()) ** 2
    mask = strings[:, 2] == 2
    cond = np.where(mask, p, 0.0) / p[mask].sum()
    assert chi_square_pvalue(mps.sample(30000, 5, fixed={2: 2}), cond, d=3) > 1e-3


def test_conditional_sampling_edge_cases():
    mps = MPS.random(4, 2, 3, seed=2)
    before = [t.copy() for t in mps.tensors]
    full = {0: 1, 1: 0, 2: 1, 3: 1}
    np.testing.assert_array_equal(mps.sample(3, 0, fixed=full), [[1, 0, 1, 1]] * 3)
    assert all(np.array_equal(a, b) for a, b in zip(before, mps.tensors, strict=True))  # fixed: no gauge change
    zero = MPS.product_state(3)  # |000>
    with pytest.raises(SimulationError, match="zero probability"):
        zero.sample(5, 0, fixed={1: 1})
    with pytest.raises(SimulationError, match="zero probability"):
        zero.sample(5, 0, fixed={0: 0, 1: 1, 2: 0})
    assert zero.sample(4, 0, fixed={}).shape == (4, 3)


def test_sample_changes_only_the_gauge():
    mps = MPS.random(5, 2, 4, seed=6)
    mps.move_center(3)
    psi = mps.to_dense()
    mps.sample(10, 0)
    assert mps.center == 0
    np.testing.assert_allclose(mps.to_dense(), psi, atol=1e-12)


# --- amplitudes and log-amplitudes -----------------------------------------------------------------------------
@pytest.mark.parametrize("d, dtype", [(2, np.complex128), (2, np.float64), (3, np.complex128), (20, np.float64)])
def test_amplitudes_and_log_amplitudes_match_the_dense_vector(d, dtype):
    n = 5 if d < 20 else 3
    mps = MPS.random(n, d, 6, seed=9, dtype=dtype)
    strings = all_strings(n, d)
    psi = mps.to_dense()
    np.testing.assert_allclose(mps.amplitudes(strings), psi, atol=1e-14)
    log_abs, phase = mps.log_amplitudes(strings)
    np.testing.assert_allclose(log_abs, np.log(np.abs(psi)), rtol=1e-10)
    np.testing.assert_allclose(np.exp(log_abs) * phase, psi, atol=1e-14)
    assert phase.dtype == np.dtype(dtype)
    if dtype == np.float64:
        np.testing.assert_array_equal(phase, np.sign(psi))


def test_log_amplitudes_of_a_200_site_chain_where_amplitudes_underflow():
    """A product state of (0.01, 1)/norm at every site hidden behind random orthogonal gauges on bonds of dimension
    3: |<x|psi>| = 0.01^(#zeros) / norm^n, which underflows for the all-zero string (1e-400), yet its logarithm
    comes out exact."""
    n = 200
    local = np.array([0.01, 1.0]) / np.hypot(0.01, 1.0)
    core = np.zeros((3, 2, 3))
    core[0, :, 0] = local
    rng = np.random.default_rng(0)
    gauges = [np.eye(3)[:1].T] + [np.linalg.qr(rng.normal(size=(3, 3)))[0] for _ in range(n - 1)] + [np.eye(3)[:1].T]
    mps = MPS([np.einsum("ab,bpc,cd->apd", gauges[k].T, core, gauges[k + 1]) for k in range(n)])
    assert mps.bond_dims == [3] * (n - 1)
    bits = rng.integers(0, 2, size=(50, n))
    bits[0] = 0
    bits[1] = 1
    expected = (n - bits.sum(axis=1)) * np.log(0.01) + n * np.log(local[1])
    log_abs, phase = mps.log_amplitudes(bits)
    # Rounding bound, absolute (the all-ones value is -0.01, so a relative tolerance would be meaningless there).
    # Each site adds ln(norm_k) with at most 10 roundings of relative size eps in norm_k: 2 building the gauged
    # tensor (a product of three numbers: the core is rank one, so no sums), 3 in the 3-term product env @ tensor
    # (its terms share one sign, so no cancellation), 3 in the row norm, 1 in the normalising division, 1 in the
    # log; and summing n terms of one sign costs at most n eps |sum|. Together: n eps (10 + |expected|).
    eps = np.finfo(float).eps
    bound = n * eps * (10 + np.abs(expected))
    assert np.all(np.abs(log_abs - expected) <= bound)
    np.testing.assert_array_equal(phase, 1.0)  # a real MPS with positive amplitudes: the sign is +1
    assert mps.amplitudes(bits[:1])[0] == 0.0 and expected[0] < np.log(np.finfo(float).tiny)  # an underflow
    plain = mps.amplitudes(bits[1:])  # where the plain product does not underflow the two agree
    # exp(log_abs) is off by the bound above (relative); the plain product by 5 roundings per site (2 + 3)
    assert np.all(np.abs(np.exp(log_abs[1:]) * phase[1:] - plain) <= (bound[1:] + 5 * n * eps) * np.abs(plain))


def test_log_amplitudes_of_zero_amplitudes():
    zero = MPS.product_state(3)  # |000>
    log_abs, phase = zero.log_amplitudes(np.array([[0, 0, 0], [0, 1, 0]]))
    assert log_abs[0] == pytest.approx(0.0) and log_abs[1] == -np.inf
    assert phase[0] == pytest.approx(1.0) and phase[1] == 0


def test_amplitudes_reject_bad_bits():
    mps = MPS.random(3, 2, 2, seed=0)
    with pytest.raises(SimulationError, match="shape"):
        mps.amplitudes(np.zeros((2, 4), dtype=int))
    with pytest.raises(SimulationError, match=r"bits\[1, 2\] = 2"):
        mps.log_amplitudes(np.array([[0, 0, 0], [0, 1, 2]]))
    with pytest.raises(SimulationError, match="integers"):
        mps.amplitudes(np.zeros((1, 3)))


@pytest.mark.parametrize("d", [2, 40])
def test_batch_steps_match_explicit_products(d):
    """Both code paths of step_right / step_left (one product over all symbols, or gathered matrices)."""
    rng = np.random.default_rng(1)
    tensor = rng.normal(size=(3, d, 4))
    symbols = rng.integers(0, d, size=7)
    env_l, env_r = rng.normal(size=(7, 3)), rng.normal(size=(7, 4))
    right = step_right(env_l, tensor, symbols)
    left = step_left(env_r, tensor, symbols)
    for s in range(7):
        np.testing.assert_allclose(right[s], env_l[s] @ tensor[:, symbols[s], :], atol=1e-13)
        np.testing.assert_allclose(left[s], tensor[:, symbols[s], :] @ env_r[s], atol=1e-13)


def test_random_positive():
    mps = MPS.random(6, 3, 4, seed=1, dtype=np.float64, positive=True)
    assert mps.norm() == pytest.approx(1.0) and mps.max_bond == 4
    psi = mps.to_dense()
    assert psi.dtype == np.float64
    assert np.all(np.abs(psi) > 0) and (np.all(psi > 0) or np.all(psi < 0))  # a positive state, up to a sign
