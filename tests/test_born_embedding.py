"""Learned token embeddings (measurement vectors) for alphabets larger than the physical dimension."""

from __future__ import annotations

from itertools import product

import numpy as np
import pytest
from refs import assert_directional_derivative

from tnq.born import BornError, MPSBornMachine, random_strings
from tnq.born.training import embedding_gradient, stiefel_step


@pytest.fixture(scope="module")
def trained() -> tuple[MPSBornMachine, np.ndarray]:
    X = random_strings(120, 4, d=5, n_distinct=10, seed=4)
    model = MPSBornMachine(4, d=5, embedding_dim=3, max_bond=6, n_sweeps=4, progress=False).fit(X)
    return model, X


def test_probabilities_sum_to_one_over_all_strings(trained):
    model, _ = trained
    strings = np.array(list(product(range(5), repeat=4)))
    p = model.prob(strings)
    assert p.sum() == pytest.approx(1.0, abs=1e-10)
    # brute force: amplitude = full contraction with e_{x_k} at each site, divided by the MPS norm
    E, tensors = model.embedding_, model.mps_.tensors
    psi = np.einsum("asb,bkc,cmd,dne,is,jk,lm,on->ijlo", *tensors, E, E, E, E).reshape(-1)
    assert np.allclose(p, psi**2 / model.mps_.norm() ** 2, atol=1e-12)
    assert np.allclose(E.T @ E, np.eye(3), atol=1e-12)


def test_training_learns_and_samples_stay_in_alphabet(trained):
    model, X = trained
    nlls = [r["train_nll"] for r in model.history_]
    assert nlls[-1] < nlls[0] and nlls[-1] < 4 * np.log(5) - 1.0
    s = model.sample(200, seed=1)
    assert s.shape == (200, 4) and s.max() <= 4
    given = model.sample(20, given={0: 2}, seed=2)
    assert (given[:, 0] == 2).all()


def test_embedding_gradient_matches_finite_differences(trained):
    model, X = trained
    unique, counts = np.unique(X, axis=0, return_counts=True)
    w = counts / counts.sum()
    E = model.embedding_
    mps = model.mps_.copy()
    mps.normalize()

    def nll(emb: np.ndarray) -> float:  # Z held fixed (it is, on the constraint surface)
        env = np.ones((len(unique), 1))
        for k, t in enumerate(mps.tensors):
            env = np.einsum("ml,lsr,ms->mr", env, t, emb[unique[:, k]])
        return float(-np.sum(w * np.log(env[:, 0] ** 2)))

    grad = embedding_gradient(mps, E, unique, w)
    assert_directional_derivative(nll, grad, E)
    stepped = stiefel_step(E, grad, 0.05)
    assert np.allclose(stepped.T @ stepped, np.eye(3), atol=1e-12)
    assert nll(stepped) < nll(E)


def test_save_load_with_embedding(tmp_path, trained):
    model, X = trained
    model.save(tmp_path / "emb.safetensors")
    loaded = MPSBornMachine.load(tmp_path / "emb.safetensors")
    assert np.allclose(loaded.embedding_, model.embedding_)
    assert np.allclose(loaded.log_prob(X), model.log_prob(X), atol=1e-12)


def test_bad_embedding_dim():
    with pytest.raises(BornError, match="embedding_dim"):
        MPSBornMachine(4, d=3, embedding_dim=4).fit(np.zeros((1, 4), dtype=int))  # fit checks the settings
