"""MPO (TT-matrix) compression against dense references: exact reconstruction, error and parameter budgets,
matvec in every contraction order vs the dense product, MPOLinear vs nn.Linear, gradients vs finite differences,
and one clear MPOError for bad input."""

from __future__ import annotations

import math
from itertools import product

import numpy as np
import pytest
import torch

from tnq.errors import TnqError
from tnq.mpo import MPO, MPOError, MPOLinear, factorize, merged_weights, plan_contraction
from tnq.mpo.mpo import Whitening, params_at_bond
from tnq.mpo.plan import Plan, _merge_cost, _sweep_cost, apply_cores
from tnq.mpo.remote_code import apply_operands, block_shapes, operands

RNG = np.random.default_rng(7)


def random_matrix(d_out: int, d_in: int, seed: int = 0, complex_: bool = False) -> np.ndarray:
    rng = np.random.default_rng(seed)
    W = rng.normal(size=(d_out, d_in))
    return W + 1j * rng.normal(size=(d_out, d_in)) if complex_ else W


def all_plans(n: int) -> list[Plan]:
    """Every grouping of n cores into contiguous blocks, both directions (the dense single block included)."""
    plans = []
    for mask in range(2 ** (n - 1)):
        bounds = [0, *[k + 1 for k in range(n - 1) if mask >> k & 1], n]
        for ltr in (True, False):
            plans.append(Plan(tuple(zip(bounds[:-1], bounds[1:])), ltr, 0.0))
    return plans


# --- factorize --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dim,n", [(576, 3), (1536, 3), (384, 3), (1536, 4), (360, 2), (97, 3), (1, 3), (64, 6)])
def test_factorize_is_the_most_balanced_factorisation(dim, n):
    factors = factorize(dim, n)
    assert len(factors) == n and math.prod(factors) == dim and factors == sorted(factors)
    divisors = [d for d in range(1, dim + 1) if dim % d == 0]
    target = math.log(dim) / n
    best = min(sum((math.log(f) - target) ** 2 for f in combo)  # brute force over ordered tuples
               for combo in product(divisors, repeat=n) if math.prod(combo) == dim)
    assert sum((math.log(f) - target) ** 2 for f in factors) == pytest.approx(best, abs=1e-12)


def test_factorize_known_values():
    assert factorize(576, 3) == [8, 8, 9]
    assert factorize(1536, 3) == [8, 12, 16]
    assert factorize(7, 3) == [1, 1, 7]


# --- decomposition ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape,n_cores,complex_", [((24, 30), 3, False), ((16, 16), 4, False), ((12, 20), 2, True),
                                                    ((7, 11), 2, False), ((6, 10), 1, False), ((30, 8), 3, True)])
def test_full_bond_reconstructs_exactly(shape, n_cores, complex_):
    W = random_matrix(*shape, complex_=complex_)
    mpo = MPO.from_matrix(W, n_cores=n_cores)
    assert len(mpo.cores) == n_cores and mpo.shape == shape
    np.testing.assert_allclose(mpo.to_matrix(), W, atol=1e-12)
    assert mpo.relative_error(W) < 1e-13 and mpo.discarded == 0.0


def test_user_factors_are_used_and_index_order_matches_reshape():
    W = random_matrix(12, 10)
    mpo = MPO.from_matrix(W, n_cores=2, out_factors=[3, 4], in_factors=(5, 2))
    assert mpo.out_factors == [3, 4] and mpo.in_factors == [5, 2]
    # independent rebuild: W[o1*4 + o2, i1*2 + i2] = sum_r A[o1, i1, r] B[r, o2, i2]
    a, b = mpo.cores[0][0], mpo.cores[1][..., 0]
    rebuilt = np.einsum("xir,ryj->xyij", a, b).reshape(12, 10)
    np.testing.assert_allclose(rebuilt, W, atol=1e-12)


def test_error_is_monotone_in_bond_and_equals_the_discarded_weight():
    W = random_matrix(24, 36, seed=3)
    errors = []
    for chi in range(1, 40):
        mpo = MPO.from_matrix(W, n_cores=3, max_bond=chi)
        assert max(mpo.bond_dims) <= chi
        err = mpo.relative_error(W)
        assert err == pytest.approx(math.sqrt(mpo.discarded), abs=1e-10)  # TT-SVD errors are orthogonal
        errors.append(err)
    assert all(b <= a + 1e-12 for a, b in zip(errors, errors[1:]))
    assert errors[0] > 0.5 and errors[-1] < 1e-12


@pytest.mark.parametrize("eps", [0.0, 0.05, 0.2, 0.5, 0.9])
def test_rel_error_budget_is_respected(eps):
    W = random_matrix(32, 27, seed=4)
    mpo = MPO.from_matrix(W, n_cores=3, rel_error=eps)
    assert mpo.relative_error(W) <= eps + 1e-12
    if eps >= 0.2:
        assert mpo.num_params < MPO.from_matrix(W, n_cores=3).num_params  # the budget actually truncates
        assert mpo.relative_error(W) > 0.8 * eps  # and is mostly used (unused budget passes to later SVDs)


@pytest.mark.parametrize("budget", [40, 200, 500, 1000, 3000, 100_000])
def test_parameter_budget_is_respected_and_the_bond_is_the_largest_that_fits(budget):
    W = random_matrix(24, 36, seed=5)
    mpo = MPO.from_matrix(W, n_cores=3, max_params=budget)
    assert mpo.num_params <= budget
    chi = max(mpo.bond_dims)
    if params_at_bond(mpo.out_factors, mpo.in_factors, chi + 1) > params_at_bond(mpo.out_factors, mpo.in_factors, chi):
        bigger = MPO.from_matrix(W, n_cores=3, max_bond=chi + 1)
        assert bigger.num_params > budget


def test_budgets_combine_tightest_wins():
    W = random_matrix(24, 36, seed=6)
    a = MPO.from_matrix(W, max_params=3000, max_bond=5)
    assert max(a.bond_dims) == 5
    b = MPO.from_matrix(W, max_params=300, max_bond=50)
    assert b.num_params <= 300


@pytest.mark.parametrize("n_cores", [2, 3, 4])
def test_balance_keeps_the_matrix_and_balances_every_bond(n_cores):
    W = random_matrix(24, 36, seed=8)
    mpo = MPO.from_matrix(W, n_cores=n_cores, max_bond=5)
    before, bonds = mpo.to_matrix(), mpo.bond_dims
    assert mpo.imbalance() > 1.0  # TT-SVD leaves the spectrum in the last core
    mpo.balance()
    assert mpo.imbalance() < 1e-8
    assert mpo.bond_dims == bonds
    np.testing.assert_allclose(mpo.to_matrix(), before, atol=1e-12)


def test_balanced_rank_factorisation_is_the_svd_split():
    """Sites (d_out, 1) x (1, d_in) make a rank-chi factorisation; balanced, its cores are U sqrt(s), sqrt(s) V^T."""
    W = random_matrix(20, 30, seed=9)
    mpo = MPO.from_matrix(W, n_cores=2, max_bond=4, out_factors=[20, 1], in_factors=[1, 30]).balance()
    U, s, Vh = np.linalg.svd(W)
    first, second = mpo.cores[0].reshape(20, 4), mpo.cores[1].reshape(4, 30)
    signs = np.sign(np.sum(first * U[:, :4], axis=0))
    np.testing.assert_allclose(first * signs, U[:, :4] * np.sqrt(s[:4]), atol=1e-10)
    np.testing.assert_allclose(second * signs[:, None], np.sqrt(s[:4])[:, None] * Vh[:4], atol=1e-10)


# --- matvec -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("n_cores", [2, 3, 4])
def test_every_contraction_order_equals_the_dense_product(n_cores):
    W = random_matrix(16, 24, seed=n_cores)
    mpo = MPO.from_matrix(W, n_cores=n_cores, max_bond=5)
    dense = mpo.to_matrix()
    x = RNG.normal(size=(9, 24))
    for plan in all_plans(n_cores):
        y = apply_cores(mpo.cores, x, plan, np.einsum)
        np.testing.assert_allclose(y, x @ dense.T, atol=1e-11, err_msg=str(plan))


@pytest.mark.parametrize("n_cores", [2, 3, 4])
def test_torch_contraction_equals_the_dense_product_in_every_order(n_cores):
    """``remote_code``'s merged blocks (``operands``) applied by ``apply_operands`` (MPOLinear's and the saved
    modeling file's forward) against the numpy dense product, for uneven factors and a batch of 1 and of 9; also the
    cores of a low-rank pair (out | in)."""
    W = random_matrix(18, 40, seed=n_cores)
    cases = [MPO.from_matrix(W, n_cores=n_cores, max_bond=5, out_factors=factorize(18, n_cores)[::-1]),
             MPO.from_matrix(W, n_cores=2, max_bond=4, out_factors=[18, 1], in_factors=[1, 40])]
    for mpo in cases:
        cores = [torch.as_tensor(c) for c in mpo.cores]
        for batch in (1, 9):
            x = RNG.normal(size=(batch, 40))
            for plan in all_plans(len(cores)):
                blocks = block_shapes([tuple(c.shape) for c in cores], plan)
                y = apply_operands(torch.as_tensor(x), blocks, operands(cores, plan), plan.left_to_right).numpy()
                np.testing.assert_allclose(y, x @ mpo.to_matrix().T, atol=1e-11, err_msg=str(plan))


@pytest.mark.parametrize("lead", [(), (1,), (7,), (2, 3, 4), (0,)])
def test_matvec_numpy_and_torch_batched(lead):
    W = random_matrix(18, 20, seed=9, complex_=True)
    mpo = MPO.from_matrix(W, n_cores=3, max_bond=4)
    dense = mpo.to_matrix()
    x = RNG.normal(size=(*lead, 20))
    expected = x @ dense.T
    y = mpo @ x
    assert y.shape == (*lead, 18)
    np.testing.assert_allclose(y, expected, atol=1e-11)
    real = MPO([c.real for c in mpo.cores])
    xt = torch.as_tensor(x)
    yt = real.matvec(xt)
    assert isinstance(yt, torch.Tensor) and yt.shape == (*lead, 18)
    np.testing.assert_allclose(yt.numpy(), x @ real.to_matrix().T, atol=1e-11)


def test_plan_prefers_the_cheaper_order():
    # (1, 1, 64, 2) (2, 64, 1, 1): core by core costs ~B*(128 + 128) multiply-adds; the dense block B*4096.
    plan = plan_contraction(((1, 1, 64, 2), (2, 64, 1, 1)), 512, allow_dense=True)
    assert plan.groups == ((0, 1), (1, 2))
    # 576 x 1536 at 50% parameters: sweeping core by core passes the 64 x 72 bonds through a 96 x 108 state
    # (~48M multiply-adds per vector); merging cores 0-1 and going right to left costs ~5M per vector.
    shapes = ((1, 8, 8, 64), (64, 8, 12, 72), (72, 9, 16, 1))
    plan = plan_contraction(shapes, 512)
    assert plan.groups == ((0, 2), (2, 3)) and not plan.left_to_right
    assert 512 * 4.9e6 < plan.cost < 512 * 5.1e6
    # the chosen plan is the cheapest of every grouping and direction under the cost model
    costs = []
    for p in all_plans(3)[2:]:  # the first two are the dense single block
        merged = [_merge_cost(shapes[a:b]) for a, b in p.groups]
        costs.append(sum(m[1] for m in merged) + _sweep_cost([m[0] for m in merged], 512, p.left_to_right))
    assert plan.cost == pytest.approx(min(costs))
    # the single (dense) block is used only when allowed
    assert plan_contraction(((1, 4, 4, 2), (2, 4, 4, 1)), 1000).groups == ((0, 1), (1, 2))


# --- MPOLinear --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("bias", [True, False])
def test_mpolinear_equals_the_dense_linear(bias):
    torch.manual_seed(0)
    linear = torch.nn.Linear(30, 24, bias=bias, dtype=torch.float64)
    exact = MPOLinear.from_linear(linear, n_cores=3)
    x = torch.randn(5, 2, 30, dtype=torch.float64)
    torch.testing.assert_close(exact(x), linear(x), atol=1e-12, rtol=0)
    small = MPOLinear.from_linear(linear, n_cores=3, max_bond=3)
    assert small.num_params < sum(p.numel() for p in linear.parameters())
    torch.testing.assert_close(small(x), small.to_linear()(x), atol=1e-12, rtol=0)
    dense = torch.nn.Linear(30, 24, bias=bias, dtype=torch.float64)
    with torch.no_grad():
        dense.weight.copy_(torch.as_tensor(small.to_mpo().to_matrix()))
        if bias:
            dense.bias.copy_(linear.bias)
    torch.testing.assert_close(small(x), dense(x), atol=1e-12, rtol=0)


def test_mpolinear_keeps_float32_and_allow_dense_gives_the_same_result():
    torch.manual_seed(1)
    linear = torch.nn.Linear(20, 12)
    a = MPOLinear.from_linear(linear, max_bond=4)
    b = MPOLinear.from_linear(linear, max_bond=4, allow_dense=True)
    x = torch.randn(64, 20)
    assert a(x).dtype == torch.float32
    torch.testing.assert_close(a(x), b(x), atol=1e-5, rtol=1e-5)


def test_merged_weights_runs_the_rebuilt_matrix_and_drops_it_on_exit():
    torch.manual_seed(3)
    model = torch.nn.Sequential(MPOLinear.from_linear(torch.nn.Linear(30, 24, dtype=torch.float64), n_cores=3,
                                                      max_bond=3), torch.nn.Tanh())
    layer = model[0]
    x = torch.randn(2, 30, dtype=torch.float64)
    expected = torch.tanh(x @ torch.as_tensor(layer.to_mpo().to_matrix()).T + layer.bias)
    with merged_weights(model) as same:
        assert same is model and layer.merged is not None and not layer.merged.requires_grad
        torch.testing.assert_close(model(x), expected, atol=1e-12, rtol=0)
    assert layer.merged is None
    with pytest.raises(RuntimeError), merged_weights(model):
        raise RuntimeError("interrupted")
    assert layer.merged is None
    torch.testing.assert_close(model(x), expected, atol=1e-12, rtol=0)


def test_mpolinear_gradients_match_finite_differences():
    torch.manual_seed(2)
    linear = torch.nn.Linear(12, 8, dtype=torch.float64)
    layer = MPOLinear.from_linear(linear, n_cores=3, max_bond=3)
    names = [name for name, _ in layer.named_parameters()]
    params = tuple(p.detach().clone().requires_grad_(True) for p in layer.parameters())
    x = torch.randn(3, 12, dtype=torch.float64, requires_grad=True)

    def f(x, *ps):
        return torch.func.functional_call(layer, dict(zip(names, ps)), (x,))

    assert torch.autograd.gradcheck(f, (x, *params), eps=1e-6, atol=1e-8)


def test_mpolinear_trains():
    torch.manual_seed(3)
    target = torch.nn.Linear(16, 16, dtype=torch.float64)
    layer = MPOLinear.from_linear(torch.nn.Linear(16, 16, dtype=torch.float64), n_cores=2, max_bond=16)
    opt = torch.optim.Adam(layer.parameters(), lr=0.02)
    x = torch.randn(256, 16, dtype=torch.float64)
    losses = []
    for _ in range(150):
        loss = (layer(x) - target(x).detach()).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.01 * losses[0]


# --- bad input --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("call,match", [
    (lambda: MPO.from_matrix(np.ones(8)), "2-D"),
    (lambda: MPO.from_matrix(np.ones((2, 3, 4))), "2-D"),
    (lambda: MPO.from_matrix(np.ones((0, 4))), "empty"),
    (lambda: MPO.from_matrix(np.array([[1.0, np.nan], [0, 1]])), r"NaN.*\(0, 1\)"),
    (lambda: MPO.from_matrix(np.array([["a", "b"]])), "real or complex"),
    (lambda: MPO.from_matrix(np.ones((12, 8)), n_cores=2, out_factors=[3, 5]), "multiply to 15"),
    (lambda: MPO.from_matrix(np.ones((12, 8)), n_cores=2, in_factors=[8]), "2 positive integers"),
    (lambda: MPO.from_matrix(np.ones((12, 8)), n_cores=2, in_factors=[-2, -4]), "positive integers"),
    (lambda: MPO.from_matrix(np.ones((12, 8)), max_bond=-1), "max_bond"),
    (lambda: MPO.from_matrix(np.ones((12, 8)), max_bond=2.5), "max_bond"),
    (lambda: MPO.from_matrix(np.ones((12, 8)), rel_error=1.5), "rel_error"),
    (lambda: MPO.from_matrix(np.ones((12, 8)), max_params=0), "max_params"),
    (lambda: MPO.from_matrix(np.ones((12, 8)), max_params=5), "smallest MPO"),
    (lambda: MPO.from_matrix(np.ones((12, 8)), n_cores=0), "n_cores"),
    (lambda: MPO.from_matrix(np.ones((12, 8))) @ np.ones(7), "last axis 8"),
    (lambda: MPO([np.ones((1, 2, 2, 3)), np.ones((2, 2, 2, 1))]), "does not chain"),
    (lambda: MPOLinear.from_linear(torch.nn.Conv1d(2, 2, 1)), "nn.Linear"),
    (lambda: MPOLinear.from_linear(torch.nn.Linear(8, 4))(torch.ones(3, 5)), "last axis 8"),
    (lambda: factorize(12, 0), "n must be"),
])
def test_bad_input_raises_one_clear_error(call, match):
    with pytest.raises(MPOError, match=match) as info:
        call()
    assert isinstance(info.value, TnqError)


def test_whitening_carries_its_inverses_and_refuses_bad_matrices():
    """``Whitening.of`` inverts once (balance and the activation-aware fit reuse the inverses); balancing with a
    Whitening or with the bare matrices gives the same cores."""
    rng = np.random.default_rng(2)
    factors = [np.tril(rng.normal(size=(n, n))) + 3 * np.eye(n) for n in (4, 6)]
    metric = Whitening.of(factors)
    assert metric.sides == [4, 6]
    for S, inverse in zip(metric.factors, metric.inverses):
        np.testing.assert_allclose(S @ inverse, np.eye(len(S)), atol=1e-12)
    W = rng.normal(size=(6, 24))
    a = MPO.from_matrix(W, n_cores=2, out_factors=[2, 3], in_factors=[4, 6]).balance(whitening=metric)
    b = MPO.from_matrix(W, n_cores=2, out_factors=[2, 3], in_factors=[4, 6]).balance(whitening=factors)
    for x, y in zip(a.cores, b.cores):
        np.testing.assert_allclose(x, y, atol=1e-12)
    np.testing.assert_allclose(a.to_matrix(), W, atol=1e-10)
    with pytest.raises(MPOError, match="square"):
        Whitening.of([np.ones((2, 3))])
    with pytest.raises(MPOError, match="singular"):
        Whitening.of([np.zeros((2, 2))])
