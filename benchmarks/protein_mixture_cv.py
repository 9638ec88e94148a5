"""An exact numpy/torch emulation of the protein mixture model (``ansatz="mixture"``, 3 qubits, START state,
marginal readout), used to choose its training schedule, penalty and trained coordinates (the circuit's angles or
each residue's log-weights, ProteinCompiler(coordinates=...)) by 5-fold cross-validation on each seed's training
part, and as an independent reference for the tnq-trained model.

The emulation is the model's closed form: residue ``r`` has real amplitudes phi_r(s) over the 8 hidden states
(qnlp.protein.ansatz.real_state: per qubit t a uniformly controlled Ry whose effective angle for control pattern x is
0.25 + sum_i (-1)^(x . gray(i)) alpha_i), and P(s | sequence) is proportional to prod_r phi_r(s)^2; the class is the
first qubit of s. ``--check`` compares it with tnq's contraction on random angles.

    python benchmarks/protein_mixture_cv.py --check
    python benchmarks/protein_mixture_cv.py --seeds 5            # CV over the grid, then test accuracy
    python benchmarks/protein_mixture_cv.py --seeds 5 --no-cv    # the ptn-u-x3s schedule only, test accuracy
"""

from __future__ import annotations

import argparse
import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from qnlp.protein.datasets import load_modlamp  # noqa: E402

QUBITS = 3
CHOSEN = {"lr": 0.02, "epochs": 100, "wd": 0.003, "batch": 32, "decay": 0.98}  # benchmarks/protein_quantum.py x3s
GRID = [{"lr": 0.01, "epochs": 60, "wd": 0.003, "batch": 16, "decay": 1.0},
        {"lr": 0.01, "epochs": 100, "wd": 0.003, "batch": 16, "decay": 1.0},
        {"lr": 0.03, "epochs": 100, "wd": 0.003, "batch": 64, "decay": 1.0},
        {"lr": 0.03, "epochs": 60, "wd": 0.003, "batch": 64, "decay": 0.97},
        CHOSEN,
        *[{"lr": lr, "epochs": 100, "wd": wd, "batch": 32, "decay": 0.98, "coords": "log-weights"}
          for lr in (0.02, 0.05) for wd in (0.001, 0.003)]]


def _signs(t: int) -> torch.Tensor:
    """(-1)^(x . gray(i)) for control patterns x (qubit 0 most significant) and Gray-code steps i."""
    gray = [i ^ (i >> 1) for i in range(2 ** t)]
    return torch.tensor([[(-1) ** sum(((x >> (t - 1 - b)) & 1) * ((g >> b) & 1) for b in range(t)) for g in gray]
                         for x in range(2 ** t)], dtype=torch.float64)


SIGNS = [_signs(t) for t in range(QUBITS)]


def log_weights(alpha: torch.Tensor) -> torch.Tensor:
    """log phi_r(s)^2 for every residue r (rows of ``alpha``, 2^q - 1 angles each) and hidden state s."""
    out, k = torch.zeros(alpha.shape[0], 1, dtype=torch.float64), 0
    for t in range(QUBITS):
        beta = 0.25 + alpha[:, k:k + 2 ** t] @ SIGNS[t].T
        k += 2 ** t
        pair = torch.stack([torch.cos(np.pi * beta) ** 2, torch.sin(np.pi * beta) ** 2], 2).clamp_min(1e-300).log()
        out = (out.unsqueeze(2) + pair).reshape(alpha.shape[0], -1)
    return out


def softmax_log_weights(coords: torch.Tensor) -> torch.Tensor:
    """log phi_r(s)^2 in log-weight coordinates: a softmax over s of (0, coords_r)."""
    return torch.cat([torch.zeros(coords.shape[0], 1, dtype=coords.dtype), coords], 1).log_softmax(1)


COORDS = {"angles": log_weights, "log-weights": softmax_log_weights}
"""The model's trained coordinates (ProteinCompiler(coordinates=...)) -> log phi_r(s)^2."""


def class_log_probs(alpha: torch.Tensor, counts: torch.Tensor, coords: str = "angles") -> torch.Tensor:
    scores = counts @ COORDS[coords](alpha)
    scores = scores - torch.logsumexp(scores, 1, keepdim=True)
    return torch.logsumexp(scores.reshape(len(counts), 2, -1), 2)


def fit(counts: torch.Tensor, labels: torch.Tensor, cfg: dict, seed: int) -> torch.Tensor:
    """Adam on mini-batches, as QuantumClassifier trains (mean NLL + wd * sum of squared coordinates)."""
    alpha = torch.tensor(np.random.default_rng(seed).uniform(-0.1, 0.1, (counts.shape[1], 2 ** QUBITS - 1)),
                         requires_grad=True)
    opt = torch.optim.Adam([alpha], lr=cfg["lr"])
    for epoch in range(cfg["epochs"]):
        for group in opt.param_groups:
            group["lr"] = cfg["lr"] * cfg["decay"] ** epoch
        order = np.random.default_rng([seed, epoch]).permutation(len(labels))
        for b in range(0, len(order), cfg["batch"]):
            idx = order[b:b + cfg["batch"]]
            loss = torch.nn.functional.nll_loss(class_log_probs(alpha, counts[idx], cfg.get("coords", "angles")),
                                              labels[idx])
            opt.zero_grad()
            (loss + cfg["wd"] * (alpha ** 2).sum()).backward()
            opt.step()
    return alpha.detach()


def accuracy(alpha: torch.Tensor, counts: torch.Tensor, labels, coords: str = "angles") -> float:
    return float((class_log_probs(alpha, counts, coords).argmax(1).numpy() == np.asarray(labels)).mean())


def check() -> None:
    from qnlp.evaluate import CompiledBatch
    from qnlp.protein.compile import ProteinCompiler
    from qnlp.protein.diagrams import ProteinReader

    compiler = ProteinCompiler(ProteinReader("ptn", "uniform", start=True), "mixture", qubits=QUBITS)
    sequences = ["KLAKLAKW", "GLLVVAIIL", "MKWK"]
    circuits = [compiler(s) for s in sequences]
    symbols = sorted({s for c in circuits for s in c.symbols})
    theta = np.random.default_rng(0).uniform(-0.4, 0.4, len(symbols))
    vocabulary = compiler.reader.vocabulary
    alpha = torch.zeros(len(vocabulary), 2 ** QUBITS - 1, dtype=torch.float64)
    for name, value in zip(symbols, theta):
        alpha[vocabulary.index(name.split("_")[0]), int(name.rsplit("_", 1)[1])] = value
    counts = torch.tensor([[compiler.reader.framed(s).count(v) for v in vocabulary] for s in sequences],
                          dtype=torch.float64)
    tnq_probs = CompiledBatch(circuits, symbols).probabilities(theta).reshape(len(sequences), 2, -1).sum(2)
    emulated = class_log_probs(alpha, counts).exp().numpy()
    print("tnq      ", np.round(tnq_probs[:, 1], 10))
    print("emulation", np.round(emulated[:, 1], 10))
    print(f"max difference {np.abs(tnq_probs - emulated).max():.2e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--no-cv", action="store_true", help="train the chosen schedule only")
    parser.add_argument("--check", action="store_true", help="compare the emulation with tnq and stop")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.check:
        return check()
    data = load_modlamp("AMPvsTM", dedupe=True)
    vocabulary = sorted({r for s in data.sequences for r in s})

    def counts(sequences) -> torch.Tensor:  # residue counts and the START word (count 1)
        return torch.tensor([[s.count(r) for r in vocabulary] + [1] for s in sequences], dtype=torch.float64)

    splits = []
    for seed in range(args.seeds):
        train, test = data.split(0.25, seed=seed)
        splits.append((counts(train.sequences), torch.tensor(train.labels), counts(test.sequences), test.labels))
    cfg = CHOSEN
    if not args.no_cv:  # one schedule for all seeds: the best mean 5-fold CV accuracy over the training parts
        scores = np.zeros((len(GRID), args.seeds))
        for seed, (X, y, _, _) in enumerate(splits):
            folds = np.random.default_rng(seed).permutation(len(y)) % 5
            for c, candidate in enumerate(GRID):
                coords = candidate.get("coords", "angles")
                scores[c, seed] = np.mean([accuracy(fit(X[folds != f], y[folds != f], candidate, seed),
                                                    X[folds == f], y[folds == f], coords) for f in range(5)])
            print(f"seed {seed}: CV accuracy per schedule " + " ".join(f"{a:.3f}" for a in scores[:, seed]),
                  flush=True)
        for candidate, row in zip(GRID, scores):
            print(f"  {candidate}: mean CV {row.mean():.4f}")
        cfg = GRID[int(np.argmax(scores.mean(1)))]
    print(f"schedule: {cfg}")
    tests = []
    for seed, (X, y, X_test, y_test) in enumerate(splits):
        alpha = fit(X, y, cfg, seed)
        coords = cfg.get("coords", "angles")
        tests.append(accuracy(alpha, X_test, y_test, coords))
        print(f"seed {seed}: test {tests[-1]:.3f} train {accuracy(alpha, X, y, coords):.3f}", flush=True)
    print(f"test accuracy mean over {args.seeds} seeds: {np.mean(tests):.3f}")


if __name__ == "__main__":
    main()
