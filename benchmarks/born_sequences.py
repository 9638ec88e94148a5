"""Sequences over a 20-letter alphabet (protein-like) with learned token embeddings (Hou et al. 2023) versus
one-hot symbols, at equal bond dimension.

Data: strings of length 12 from a Markov chain whose letters fall into 5 families (known exact entropy, the NLL
floor), 3000 train / 1000 test. The one-hot model has physical dimension 20 at every site; the embedded models have
physical dimension p and a learned 20 x p measurement matrix shared by all sites.

    OPENBLAS_NUM_THREADS=1 python benchmarks/born_sequences.py
"""

from __future__ import annotations

import argparse
import os
import time

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

from tnq.born import MPSBornMachine  # noqa: E402


def markov_chain(vocab: int, length: int, n: int, seed: int, classes: int = 5) -> tuple[np.ndarray, float]:
    """Letters fall into ``classes`` groups (like amino-acid families); the next letter's group depends on the
    current group (2 likely successors), the letter within a group has fixed frequencies. Returns samples and the
    exact entropy (nats per string), the NLL floor."""
    rng = np.random.default_rng(seed)
    group = np.arange(vocab) % classes
    freq = np.empty(vocab)
    for c in range(classes):
        freq[group == c] = rng.dirichlet(np.ones(np.count_nonzero(group == c)) * 2)
    class_trans = np.full((classes, classes), 0.05 / classes)
    for c in range(classes):
        class_trans[c, rng.choice(classes, 2, replace=False)] += rng.dirichlet(np.ones(2)) * 0.95
    class_trans /= class_trans.sum(1, keepdims=True)
    trans = class_trans[group][:, group] * freq[None, :]
    start = np.full(vocab, 1 / vocab)
    X = np.empty((n, length), dtype=np.intp)
    X[:, 0] = rng.choice(vocab, n, p=start)
    for k in range(1, length):
        cum = np.cumsum(trans[X[:, k - 1]], axis=1)
        X[:, k] = np.minimum((cum < rng.random(n)[:, None]).sum(1), vocab - 1)
    row_entropy = -np.sum(trans * np.log(trans), axis=1)
    marginal, entropy = start, float(np.log(vocab))
    for _ in range(1, length):
        entropy += float(marginal @ row_entropy)
        marginal = marginal @ trans
    return X, entropy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-bond", type=int, default=16)
    parser.add_argument("--sweeps", type=int, default=8)
    args = parser.parse_args()
    X, entropy = markov_chain(20, 12, 4000, seed=0)
    train, test = X[:3000], X[3000:]
    print(f"Markov sequences: vocab 20, length 12; exact entropy {entropy:.3f} nats, uniform {12 * np.log(20):.3f}")
    print(f"{'model':<22} {'params':>8} {'train NLL':>10} {'test NLL':>9} {'s':>6}")
    for p in (None, 5, 8):
        model = MPSBornMachine(12, d=20, embedding_dim=p, max_bond=args.max_bond, n_sweeps=args.sweeps,
                               learning_rate=0.05, n_steps=5, patience=1, progress=False)
        start = time.perf_counter()
        model.fit(train, X_val=test[:500])
        seconds = time.perf_counter() - start
        params = sum(t.size for t in model.mps_.tensors) + (0 if p is None else model.embedding_.size)
        label = "one-hot (d=20)" if p is None else f"embedding p={p}"
        print(f"{label:<22} {params:>8} {model.nll(train):10.3f} {model.nll(test[500:]):9.3f} {seconds:6.1f}")


if __name__ == "__main__":
    main()
