"""Activation-weighted ALS fit of MPO cores (tnq.mpo.als): monotone loss, exact local solves (against a dense
least-squares reference), the whitened-SVD optimum when the two sites split the matrix into low-rank factors, and
exactness at full bond."""

from __future__ import annotations

import numpy as np
import pytest

from tnq.mpo import MPO, MPOError
from tnq.mpo.als import _left_env, _move_left, _right_env, als_fit, weighted_loss


def _problem(seed: int, d_out: int = 12, d_in: int = 18, outliers: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """A weight matrix and an input Gram matrix with correlated, badly scaled channels (not Kronecker)."""
    rng = np.random.default_rng(seed)
    W = rng.normal(size=(d_out, d_in))
    X = rng.normal(size=(400, d_in)) @ rng.normal(size=(d_in, d_in))
    if outliers:
        X[:, rng.choice(d_in, 2, replace=False)] *= 20.0
    return W, X.T @ X


def _whitened_optimum(W: np.ndarray, gram: np.ndarray, rank: int) -> float:
    """min over rank-r M of tr((W - M) C (W - M)^T) = sum of the dropped squared singular values of W C^(1/2)."""
    w, V = np.linalg.eigh(gram)
    s = np.linalg.svd(W @ (V * np.sqrt(np.maximum(w, 0))) @ V.T, compute_uv=False)
    return float(np.sum(s[rank:] ** 2))


@pytest.mark.parametrize("n_cores,seed", [(2, 0), (3, 1), (4, 2)])
def test_loss_never_increases_and_drops(n_cores, seed):
    W, gram = _problem(seed, 16, 24)
    start = MPO.from_matrix(W, n_cores=n_cores, max_bond=3)
    fitted, losses = als_fit(start, W, gram, sweeps=3, cg_iters=4)
    assert len(losses) == 1 + 3 * (2 * n_cores - 2) + 1
    assert all(b <= a * (1 + 1e-10) for a, b in zip(losses, losses[1:]))
    assert losses[-1] < 0.8 * losses[0]
    assert fitted.core_shapes == start.core_shapes
    assert weighted_loss(W, fitted.to_matrix(), gram) == pytest.approx(losses[-1], rel=1e-9)


def test_one_core_update_is_the_exact_local_least_squares_solution():
    W, gram = _problem(3)
    mpo = MPO.from_matrix(W, n_cores=3, max_bond=3, out_factors=[2, 3, 2], in_factors=[3, 2, 3])
    # reference: the map core_0 -> (M S) as an explicit matrix over a basis of core-0 entries, solved by lstsq
    cores = [c.copy() for c in mpo.cores]
    for k in range(len(cores) - 1, 0, -1):
        _move_left(cores, k)
    S = np.linalg.cholesky(gram)
    shape = cores[0].shape
    columns = []
    for e in np.eye(int(np.prod(shape))):
        columns.append((MPO([e.reshape(shape), *cores[1:]]).to_matrix() @ S).ravel())
    A = np.stack(columns, axis=1)
    x, *_ = np.linalg.lstsq(A, (W @ S).ravel(), rcond=None)
    best = float(np.sum((A @ x - (W @ S).ravel()) ** 2))
    _, losses = als_fit(MPO(cores), W, gram, sweeps=1, cg_iters=200, tol=1e-13)
    assert losses[1] == pytest.approx(best, rel=1e-7)  # the first update solves core 0 exactly


def test_environments_rebuild_the_matrix():
    W, _ = _problem(4)
    mpo = MPO.from_matrix(W, n_cores=3, out_factors=[2, 3, 2], in_factors=[3, 2, 3], max_bond=4)
    from tnq.mpo.als import _build

    for k in range(3):
        M = _build(_left_env(mpo.cores, k), mpo.cores[k], _right_env(mpo.cores, k))
        np.testing.assert_allclose(M, mpo.to_matrix(), atol=1e-12)


@pytest.mark.parametrize("rank", [1, 3, 6])
def test_two_sites_as_low_rank_factors_reach_the_whitened_svd_optimum(rank):
    # sites (d_out, 1) x (1, d_in): the MPO is U V with bond = rank, so the optimum is SVD-LLM's error
    W, gram = _problem(5 + rank)
    d_out, d_in = W.shape
    start = MPO.from_matrix(W, n_cores=2, max_bond=rank, out_factors=[d_out, 1], in_factors=[1, d_in])
    fitted, losses = als_fit(start, W, gram, sweeps=60, cg_iters=3)
    optimum = _whitened_optimum(W, gram, rank)
    assert losses[0] > 1.05 * optimum  # the plain-SVD start is not optimal for the weighted loss
    assert losses[-1] == pytest.approx(optimum, rel=1e-4)


def test_whitened_svd_baseline_matches_the_fitted_two_site_mpo():
    import torch

    from tnq.compress.fit import activation_error
    from tnq.compress.methods.low_rank import svd_linear

    W, gram = _problem(9)
    rank = 4
    linear = torch.nn.Linear(W.shape[1], W.shape[0], bias=False, dtype=torch.float64)
    with torch.no_grad():
        linear.weight.copy_(torch.as_tensor(W))
    low = svd_linear(linear, rank * sum(W.shape), gram).weight_matrix().detach().numpy()
    start = MPO.from_matrix(W, n_cores=2, max_bond=rank, out_factors=[W.shape[0], 1], in_factors=[1, W.shape[1]])
    fitted, _ = als_fit(start, W, gram, sweeps=60, cg_iters=3)
    assert activation_error(W, fitted.to_matrix(), gram) == pytest.approx(activation_error(W, low, gram), rel=1e-4)


@pytest.mark.parametrize("n_cores", [2, 3])
def test_full_bond_fit_is_exact_from_any_start(n_cores):
    W, gram = _problem(10, 8, 12)
    rng = np.random.default_rng(0)
    start = MPO.from_matrix(rng.normal(size=W.shape), n_cores=n_cores)  # full bonds, wrong matrix
    fitted, losses = als_fit(start, W, gram, sweeps=2, cg_iters=300, tol=1e-14)
    assert losses[-1] < 1e-12 * losses[0]
    np.testing.assert_allclose(fitted.to_matrix(), W, atol=1e-6)


def test_zero_sweeps_returns_the_start_and_bad_input_is_one_clear_error():
    W, gram = _problem(11)
    mpo = MPO.from_matrix(W, n_cores=3, max_bond=2)
    same, losses = als_fit(mpo, W, gram, sweeps=0)
    np.testing.assert_allclose(same.to_matrix(), mpo.to_matrix())
    assert losses == [pytest.approx(weighted_loss(W, mpo.to_matrix(), gram))]
    with pytest.raises(MPOError, match="matrix shape"):
        als_fit(mpo, W.T, gram)
    with pytest.raises(MPOError, match="gram must be"):
        als_fit(mpo, W, gram[:-1, :-1])
    with pytest.raises(MPOError, match="sweeps"):
        als_fit(mpo, W, gram, sweeps=-1)


def test_site_candidates_multiply_out_and_auto_includes_low_rank():
    from tnq.compress.fit import site_candidates

    for d_out, d_in in [(12, 18), (7, 9), (576, 1536)]:
        cands = site_candidates(d_out, d_in, 3, "auto")
        assert ([d_out, 1], [1, d_in]) in cands
        assert all(np.prod(o) == d_out and np.prod(i) == d_in and len(o) == len(i) for o, i in cands)
        assert site_candidates(d_out, d_in, 3) == [cands[0]]
    with pytest.raises(MPOError, match="sites must be"):
        site_candidates(4, 4, 2, "best")


def test_auto_sites_are_never_worse_than_whitened_svd_and_find_kronecker_structure():
    import torch

    from tnq.compress.fit import activation_error, fit_layer
    from tnq.compress.methods.low_rank import svd_linear

    rng = np.random.default_rng(12)
    _, gram = _problem(12, 12, 18)
    W = np.kron(rng.normal(size=(3, 3)), rng.normal(size=(4, 6)))  # (12, 18), Kronecker rank 1, matrix rank 12
    budget = 40  # rank 1 for low-rank factors; bond 1 on the balanced (3, 4) x (3, 6) sites needs 33
    linear = torch.nn.Linear(18, 12, bias=False, dtype=torch.float64)
    with torch.no_grad():
        linear.weight.copy_(torch.as_tensor(W))
    low = svd_linear(linear, budget, gram).weight_matrix().detach().numpy()
    auto = fit_layer(W, gram, budget, 2, "auto", sweeps=2)
    assert auto.num_params <= budget
    assert activation_error(W, low, gram) > 0.3
    assert activation_error(W, auto.to_matrix(), gram) < 1e-6  # the (6, 2) x (2, 9) sites hold W exactly
    for seed in range(3):
        W, gram = _problem(20 + seed)
        linear = torch.nn.Linear(W.shape[1], W.shape[0], bias=False, dtype=torch.float64)
        with torch.no_grad():
            linear.weight.copy_(torch.as_tensor(W))
        low = svd_linear(linear, 90, gram).weight_matrix().detach().numpy()
        auto = fit_layer(W, gram, 90, 3, "auto", sweeps=1)
        assert auto.num_params <= 90
        assert activation_error(W, auto.to_matrix(), gram) <= activation_error(W, low, gram) * (1 + 1e-6)


def test_fitted_mpo_is_balanced_in_the_whitened_metric_and_its_rank_factors_are_whitened_svds():
    """``fit_layer`` balances its MPO in the metric it truncated in; for the low-rank sites (d_out, 1) x (1, d_in)
    the cores are then exactly whitened SVD's two factors, so healing both starts from the same parameters."""
    import torch

    from tnq.compress.fit import fit_layer, input_whitening, whitened_mpo
    from tnq.compress.methods.low_rank import svd_linear

    W, gram = _problem(30)
    for n_cores, sites in ((2, "balanced"), (3, "balanced"), (2, "auto")):
        mpo = fit_layer(W, gram, 90, n_cores, sites, sweeps=1)
        whitened = MPO([np.einsum("loir,ij->lojr", c, S)
                        for c, S in zip(mpo.cores, input_whitening(gram, mpo.in_factors).factors)])
        assert whitened.imbalance() < 1e-6
        assert mpo.imbalance() > 1e-3  # not balanced in the plain metric: the whitening matters
    linear = torch.nn.Linear(18, 12, bias=False, dtype=torch.float64)
    with torch.no_grad():
        linear.weight.copy_(torch.as_tensor(W))
    svd = svd_linear(linear, 90, gram)
    rank = svd.rank
    low = whitened_mpo(W, gram, 2, 90, [12, 1], [1, 18])
    before = low.to_matrix()
    low.balance(whitening=input_whitening(gram, [1, 18]))
    np.testing.assert_allclose(low.to_matrix(), before, atol=1e-10)
    second, first = low.cores[0].reshape(12, rank), low.cores[1].reshape(rank, 18)
    signs = np.sign(np.sum(second * svd.second.detach().numpy(), axis=0))
    np.testing.assert_allclose(second * signs, svd.second.detach().numpy(), rtol=1e-5)  # damping differs ~1e-7
    np.testing.assert_allclose(first * signs[:, None], svd.first.detach().numpy(), rtol=1e-5)
    with pytest.raises(MPOError, match="whitening"):
        low.balance(whitening=[np.eye(18)])
    with pytest.raises(MPOError, match="singular"):
        low.balance(whitening=[np.eye(1), np.zeros((18, 18))])


def test_site_margin_keeps_a_layer_low_rank_unless_the_mpo_gains_enough():
    """``choose_fit`` takes the balanced MPO only when its activation error is below ``site_margin`` times the
    low-rank candidate's; ``fit_layer`` follows it, and a margin outside (0, 1] is one MPOError."""
    from tnq.compress.fit import choose_fit, fit_candidates, fit_layer

    rng = np.random.default_rng(12)
    _, gram = _problem(12, 12, 18)
    W = np.kron(rng.normal(size=(3, 3)), rng.normal(size=(4, 6))) + 0.05 * rng.normal(size=(12, 18))
    fits = fit_candidates(W, gram, 40, 2, "auto", sweeps=2)
    assert [f.low_rank for f in fits] == [False, True]
    mpo_fit, low_fit = fits
    ratio = mpo_fit.error / low_fit.error
    assert 0 < ratio < 0.5  # near-Kronecker W: the (6, 2) x (2, 9) sites are far better than rank 1
    assert choose_fit(fits) is mpo_fit and choose_fit(fits, ratio * 1.01) is mpo_fit
    assert choose_fit(fits, ratio * 0.99) is low_fit
    kept = fit_layer(W, gram, 40, 2, "auto", sweeps=2, site_margin=ratio * 0.99)
    assert kept.out_factors == [12, 1] and kept.in_factors == [1, 18]
    np.testing.assert_allclose(kept.to_matrix(), low_fit.mpo.to_matrix(), atol=1e-10)
    for margin in (0.0, -1.0, 1.01):
        with pytest.raises(MPOError, match="site_margin must be in"):
            choose_fit(fits, margin)
