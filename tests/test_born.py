"""MPS Born machine: likelihoods, gradients and samples checked against brute-force enumeration of |psi|^2."""

from __future__ import annotations

from itertools import product

import numpy as np
import pytest
from refs import assert_directional_derivative
from scipy.stats import chisquare

from tnq.born import BornError, MPSBornMachine, bars_and_stripes, is_bars_and_stripes, random_strings
from tnq.born.training import SweepTrainer
from tnq.errors import TnqError
from tnq.tensornet import MPS


def all_strings(n: int, d: int = 2) -> np.ndarray:
    return np.array(list(product(range(d), repeat=n)), dtype=np.intp)


def brute_probs(model: MPSBornMachine) -> np.ndarray:
    """|psi|^2 / Z over all d^n strings in lexicographic order (site 0 most significant), from the dense vector."""
    psi = model.mps_.to_dense()
    p = np.abs(psi) ** 2
    return p / p.sum()


@pytest.fixture(scope="module")
def bas3() -> MPSBornMachine:
    return MPSBornMachine(9, max_bond=8, n_sweeps=4, progress=False).fit(bars_and_stripes(3, 3))


@pytest.fixture(scope="module")
def small() -> tuple[MPSBornMachine, np.ndarray]:
    """A 6-site model trained briefly on random data: a generic, non-uniform distribution."""
    X = random_strings(200, 6, n_distinct=25, seed=3)
    return MPSBornMachine(6, max_bond=3, n_sweeps=2, seed=5, progress=False).fit(X), X


def test_bas_reaches_log_of_pattern_count(bas3):
    patterns = bars_and_stripes(3, 3)
    assert len(patterns) == 14
    assert bas3.nll(patterns) == pytest.approx(np.log(14), abs=1e-3)
    p = brute_probs(bas3)
    valid = is_bars_and_stripes(all_strings(9), 3, 3)
    assert p[valid].sum() == pytest.approx(1.0, abs=1e-3)
    assert np.allclose(p[valid], 1 / 14, atol=1e-3)


def test_log_prob_matches_brute_force(small):
    model, X = small
    strings = all_strings(6)
    p = brute_probs(model)
    assert np.allclose(np.exp(model.log_prob(strings)), p, rtol=1e-9, atol=1e-14)
    assert np.exp(model.log_prob(strings)).sum() == pytest.approx(1.0, abs=1e-10)
    index = X @ (2 ** np.arange(5, -1, -1))
    assert model.nll(X) == pytest.approx(-np.mean(np.log(p[index])), rel=1e-10)
    assert model.score(X) == pytest.approx(-model.nll(X))


def test_nll_decreases_with_training_and_beats_random_init():
    X = random_strings(300, 8, n_distinct=12, seed=1)
    model = MPSBornMachine(8, max_bond=8, n_sweeps=3, progress=False).fit(X)
    nlls = [r["train_nll"] for r in model.history_]
    assert nlls[-1] < nlls[0] + 1e-9
    assert nlls[-1] < 8 * np.log(2) - 2.0  # far below the uniform distribution
    # the empirical entropy is the floor of the training NLL
    _, counts = np.unique(X, axis=0, return_counts=True)
    entropy = -np.sum(counts / 300 * np.log(counts / 300))
    assert nlls[-1] >= entropy - 1e-9


def test_gradient_matches_finite_differences(small):
    model, X = small
    mps = model.mps_.copy()
    unique, counts = np.unique(X, axis=0, return_counts=True)
    trainer = SweepTrainer(mps, unique, counts / counts.sum(), None, 0.0, 0.1, 1)
    k = mps.center  # bond (k, k+1) has both environments ready
    a, b = mps.tensors[k], mps.tensors[k + 1]
    dl, d, dr = a.shape[0], 2, b.shape[2]
    merged = np.tensordot(a, b, axes=(2, 0)).reshape(dl, -1)
    merged /= np.linalg.norm(merged)

    def nll(flat: np.ndarray) -> float:  # brute force: substitute the merged tensor into the dense state
        block = flat.reshape(dl, d, d, dr)
        left = np.ones((1, 1))
        for t in mps.tensors[:k]:
            left = np.tensordot(left, t, axes=(-1, 0))
        psi = np.tensordot(left, block, axes=(-1, 0))
        for t in mps.tensors[k + 2:]:
            psi = np.tensordot(psi, t, axes=(-1, 0))
        p = np.abs(psi.reshape(-1)) ** 2
        p /= p.sum()
        index = X @ (2 ** np.arange(5, -1, -1))
        return float(-np.mean(np.log(p[index])))

    grad = trainer.gradient(k, merged)
    assert_directional_derivative(nll, grad, merged)


def test_sampling_frequencies_chi_square(small):
    model, _ = small
    p = brute_probs(model)
    samples = model.sample(40000, seed=11)
    assert samples.shape == (40000, 6)
    index = samples.astype(np.intp) @ (2 ** np.arange(5, -1, -1))
    observed = np.bincount(index, minlength=64)
    keep = p * 40000 > 5
    expected = p[keep] / p[keep].sum() * observed[keep].sum()
    assert chisquare(observed[keep], expected).pvalue > 1e-3
    assert observed[~keep].sum() <= max(40, 3 * 40000 * p[~keep].sum())


def test_conditional_sampling_chi_square(small):
    model, _ = small
    given = {1: 1, 4: 0}
    strings = all_strings(6)
    p = brute_probs(model)
    mask = (strings[:, 1] == 1) & (strings[:, 4] == 0)
    cond = np.where(mask, p, 0.0) / p[mask].sum()
    samples = model.sample(30000, given=given, seed=2)
    assert (samples[:, 1] == 1).all() and (samples[:, 4] == 0).all()
    index = samples.astype(np.intp) @ (2 ** np.arange(5, -1, -1))
    observed = np.bincount(index, minlength=64)
    keep = cond * 30000 > 5
    expected = cond[keep] / cond[keep].sum() * observed[keep].sum()
    assert chisquare(observed[keep], expected).pvalue > 1e-3
    assert model.log_prob_given(given) == pytest.approx(np.log(p[mask].sum()), rel=1e-9)
    assert model.log_prob_given({-1: 1}) == pytest.approx(np.log(p[strings[:, 5] == 1].sum()), rel=1e-9)


def test_inpainting_bas_completes_valid_patterns(bas3):
    # the top row 1,1,1 and a 0 below it: only the horizontal stripes 111/0xx... remain valid
    samples = bas3.sample(500, given={0: 1, 1: 1, 2: 1, 3: 0}, seed=4)
    assert is_bars_and_stripes(samples, 3, 3).all()
    assert (samples[:, :3] == 1).all() and (samples[:, 3:6] == 0).all()
    assert bas3.log_prob_given({0: 1, 1: 0, 3: 0, 4: 1}) < np.log(1e-6)  # no valid image starts 10/01
    zero = MPSBornMachine(3)
    zero.mps_ = MPS.product_state(3)  # |000>: site 0 is never 1
    with pytest.raises(BornError, match="zero probability"):
        zero.sample(5, given={0: 1})


def test_save_load_roundtrip(tmp_path, small):
    model, X = small
    path = tmp_path / "model.safetensors"
    model.save(path)
    loaded = MPSBornMachine.load(path)
    assert loaded.get_params() == model.get_params()
    assert loaded.history_ == model.history_
    assert np.allclose(loaded.log_prob(all_strings(6)), model.log_prob(all_strings(6)), atol=1e-12)
    assert np.array_equal(loaded.sample(50, seed=3), model.sample(50, seed=3))
    (tmp_path / "junk.safetensors").write_bytes(b"not a model")
    with pytest.raises(BornError, match="junk.safetensors"):
        MPSBornMachine.load(tmp_path / "junk.safetensors")
    with pytest.raises(BornError, match="no such model file"):
        MPSBornMachine.load(tmp_path / "missing.safetensors")


def test_checkpoint_resume_equals_uninterrupted_run(tmp_path):
    X = bars_and_stripes(3, 3)
    full = MPSBornMachine(9, max_bond=4, n_sweeps=4, progress=False).fit(X)
    ckpt = tmp_path / "ckpt.safetensors"
    MPSBornMachine(9, max_bond=4, n_sweeps=2, progress=False).fit(X, checkpoint=ckpt)
    resumed = MPSBornMachine(9, max_bond=4, n_sweeps=4, progress=False).fit(X, checkpoint=ckpt, resume=True)
    assert len(resumed.history_) == 4
    assert [r["train_nll"] for r in resumed.history_] == pytest.approx([r["train_nll"] for r in full.history_])
    assert resumed.nll(X) == pytest.approx(full.nll(X), abs=1e-9)


def test_early_stopping_keeps_best_validation_model():
    data = random_strings(400, 10, n_distinct=200, seed=7)
    train, val = data[:120], data[120:]
    model = MPSBornMachine(10, max_bond=16, n_sweeps=12, patience=1, progress=False).fit(train, X_val=val)
    vals = [r["val_nll"] for r in model.history_]
    assert model.nll(val) == pytest.approx(min(vals), abs=1e-9)
    assert model.best_sweep_ == int(np.argmin(vals)) + 1


def test_larger_alphabet_is_normalised_and_learns():
    X = random_strings(150, 4, d=3, n_distinct=6, seed=2)
    model = MPSBornMachine(4, d=3, max_bond=9, n_sweeps=4, progress=False).fit(X)
    strings = all_strings(4, 3)
    assert np.exp(model.log_prob(strings)).sum() == pytest.approx(1.0, abs=1e-10)
    assert np.allclose(np.exp(model.log_prob(strings)), brute_probs(model), atol=1e-12)
    _, counts = np.unique(X, axis=0, return_counts=True)
    entropy = -np.sum(counts / 150 * np.log(counts / 150))
    assert model.nll(X) == pytest.approx(entropy, abs=0.05)
    assert model.sample(100, seed=0).max() <= 2


@pytest.mark.parametrize("bad, message", [
    (np.array([[0, 1, 2, 0, 1, 0]]), "out of range"),
    (np.array([[0, 1, 0, 1]]), "6 sites"),
    (np.array([[0, 1, np.nan, 0, 1, 0]]), "non-finite"),
    (np.array([[0, 1, 0.5, 0, 1, 0]]), "non-integer"),
    ([[0, 1], [0, 1, 1]], "2-D|lengths"),
    (np.array([["a"] * 6]), "numbers"),
])
def test_bad_data_gets_clear_error(small, bad, message):
    model, _ = small
    with pytest.raises(BornError, match=message):
        model.log_prob(bad)
    with pytest.raises(TnqError):
        MPSBornMachine(6, progress=False).fit(bad)


def test_bad_options_and_unfitted_model():
    with pytest.raises(BornError, match="n_sites"):
        MPSBornMachine(1).fit(np.zeros((1, 5), dtype=int))  # fit checks the settings
    with pytest.raises(BornError, match="max_bond"):
        MPSBornMachine(5, max_bond=0).fit(np.zeros((1, 5), dtype=int))  # fit checks the settings
    with pytest.raises(BornError, match="cutoff"):
        MPSBornMachine(5, cutoff=2.0).fit(np.zeros((1, 5), dtype=int))  # fit checks the settings
    with pytest.raises(BornError, match="learning_rate"):
        MPSBornMachine(5, learning_rate=-1).fit(np.zeros((1, 5), dtype=int))  # fit checks the settings
    with pytest.raises(BornError, match="not fitted"):
        MPSBornMachine(5).sample(3)
    model = MPSBornMachine(4, progress=False).fit(random_strings(20, 4))
    with pytest.raises(BornError, match="site 7"):
        model.sample(2, given={7: 1})
    with pytest.raises(BornError, match="value 2"):
        model.sample(2, given={0: 2})


def test_sample_space_steps_equal_tensor_space_steps():
    X = random_strings(40, 7, n_distinct=15, seed=9)
    unique, counts = np.unique(X, axis=0, return_counts=True)
    results = []
    for kernel in (True, False):
        model = MPSBornMachine(7, max_bond=6, n_sweeps=1, progress=False).fit(X)
        trainer = SweepTrainer(model.mps_, unique, counts / counts.sum(), 6, 0.0, 0.1, 10, kernel=kernel)
        trainer.sweep()
        trainer.sweep()
        results.append(model.prob(all_strings(7)))
    assert np.allclose(results[0], results[1], rtol=1e-6, atol=1e-9)


def test_smoothing_is_normalised_and_selected_on_validation(small):
    model, X = small
    copy = MPSBornMachine(6, max_bond=3, progress=False)
    copy.mps_ = model.mps_.copy()
    strings = all_strings(6)
    before = copy.prob(strings)
    copy.smooth(0.1)
    after = copy.prob(strings)
    assert after.sum() == pytest.approx(1.0, abs=1e-10)
    # brute force: psi'(x) = sum_y prod_k S[x_k, y_k] psi(y) with S = [[1, .1], [.1, 1]]
    S = np.array([[1.0, 0.1], [0.1, 1.0]])
    psi = model.mps_.to_dense().reshape((2,) * 6)
    for k in range(6):
        psi = np.moveaxis(np.tensordot(S, psi, axes=(1, k)), 0, k)
    expected = np.abs(psi.reshape(-1)) ** 2
    assert np.allclose(after, expected / expected.sum(), atol=1e-12)
    assert not np.allclose(before, after)
    chooser = MPSBornMachine(6, max_bond=3, progress=False)
    chooser.mps_ = model.mps_.copy()
    best = chooser.select_smoothing(X, grid=(0.0, 0.05, 0.3))
    nlls = []
    for eps in (0.0, 0.05, 0.3):
        trial = MPSBornMachine(6, progress=False)
        trial.mps_ = model.mps_.copy()
        nlls.append(trial.smooth(eps).nll(X))
    assert best == (0.0, 0.05, 0.3)[int(np.argmin(nlls))]
    assert chooser.smoothing_ == [best]


def test_han_value_cutoff_bond_rule():
    """Han's per-value rule is the engine's ``value_cutoff`` (tests/test_tensornet.py checks it in detail)."""
    from tnq.tensornet import truncated_svd

    u, _ = np.linalg.qr(np.random.default_rng(0).normal(size=(8, 8)))
    v, _ = np.linalg.qr(np.random.default_rng(1).normal(size=(8, 8)))
    s = np.array([1.0, 0.5, 0.2, 0.09, 0.05, 0.011, 0.009, 0.001])
    matrix = (u * s) @ v.T
    assert len(truncated_svd(matrix, None, 0.0, value_cutoff=0.01).S) == 6
    assert len(truncated_svd(matrix, None, 0.0, value_cutoff=0.1).S) == 3
    assert len(truncated_svd(matrix, 4, 0.0, value_cutoff=0.01).S) == 4
    model = MPSBornMachine(9, max_bond=16, value_cutoff=0.3, n_sweeps=2, progress=False).fit(bars_and_stripes(3, 3))
    free = MPSBornMachine(9, max_bond=16, n_sweeps=2, progress=False).fit(bars_and_stripes(3, 3))
    assert sum(model.mps_.bond_dims) < sum(free.mps_.bond_dims)


def test_large_alphabet_paths_agree():
    """Alphabets with more than 16 symbol pairs use grouped products; the result must not depend on the path."""
    import tnq.born.training as training

    X = random_strings(80, 5, d=6, n_distinct=30, seed=5)
    probs = []
    for pairs in (16, 10_000):
        training.SMALL_PAIRS, saved = pairs, training.SMALL_PAIRS
        try:
            model = MPSBornMachine(5, d=6, max_bond=8, n_sweeps=2, progress=False)
            model.fit(X)
        finally:
            training.SMALL_PAIRS = saved
        probs.append(model.prob(X))
    assert np.allclose(probs[0], probs[1], rtol=1e-8)


@pytest.mark.parametrize("option, value", [
    ("seed", -3), ("seed", 2**32), ("seed", 1.5), ("seed", True), ("max_bond", 0), ("cutoff", float("nan")),
    ("cutoff", 1.0), ("value_cutoff", -0.1), ("learning_rate", float("inf")), ("learning_rate", 0.0),
    ("learning_rate", np.float32(1.5)), ("n_steps", 0), ("n_sweeps", 2.0), ("n_batches", -1), ("init_bond", 0),
    ("patience", -1), ("patience", True), ("embedding_lr", float("nan")), ("embedding_lr", "0.1"),
    ("embedding_lr", 0), ("embedding_steps", -1), ("d", 1), ("n_sites", np.int64(1)),
])
def test_estimator_refuses_what_the_cli_refuses(option, value):
    """The same bounds as the command-line options, with a BornError naming the parameter (checked by fit, where
    scikit-learn estimators validate)."""
    params = {"n_sites": 4, option: value}
    with pytest.raises(BornError, match=option.split()[0]):
        MPSBornMachine(**params).fit(np.zeros((1, 4), dtype=int))


def test_fit_and_sample_arguments_are_checked(tmp_path, small):
    model, X = small
    with pytest.raises(BornError, match="n_sweeps"):
        MPSBornMachine(6, progress=False).fit(X, n_sweeps=0)
    with pytest.raises(TnqError, match="checkpoint .* is a file, not a folder"):
        (tmp_path / "file").write_text("")
        MPSBornMachine(6, progress=False).fit(X, checkpoint=tmp_path / "file" / "c.safetensors")
    with pytest.raises(TnqError, match="checkpoint .*: unsupported file type .pt; use one of .safetensors"):
        MPSBornMachine(6, progress=False).fit(X, checkpoint=tmp_path / "c.pt")  # checkpoints are safetensors
    assert not (tmp_path / "c.pt").exists()
    with pytest.raises(BornError, match="seed"):
        model.sample(3, seed=-3)
    with pytest.raises(BornError, match="over the memory budget"):
        model.sample(10**15)
    assert model.sample(3, seed=np.random.default_rng(2)).shape == (3, 6)
    assert model.sample(3, seed=np.uint32(7)).shape == (3, 6)
    ckpt = tmp_path / "ckpt.safetensors"
    MPSBornMachine(4, n_sweeps=1, progress=False).fit(X[:, :4], checkpoint=ckpt)
    with pytest.raises(BornError, match="ckpt.safetensors: checkpoint has n_sites=4, d=2, embedding_dim=None; "
                                        "this model has n_sites=6"):
        MPSBornMachine(6, progress=False).fit(X, checkpoint=ckpt, resume=True)
