"""Which sequence information lifts Cytoplasm vs Cell.membrane above the hydropathy plot? Fast classical probes:
logistic regression (standardised features, L2 at C) on candidate biology-driven feature families, stratified
5-fold cross-validation on the 460 labelled DeepLoc validation proteins, repeated with 3 fold seeds (mean ± std of
the 15 fold accuracies, the std of the 3 seed means, and the mean ± standard error of the 15 paired fold differences
against the hydropathy plot, LR at C = 1). Every configuration run is printed and, with --json,
appended to a JSON-lines log.

Feature families (all computed from the sequence alone):

- ``hyd``: the hydropathy plot of ``qnlp.protein.baseline.hydropathy_features`` (largest Kyte-Doolittle W=19
  window mean, largest in the first 40 residues, % windows > 1.6).
- ``tm``: transmembrane-segment counts: the number of separate runs of windows above a threshold (1.2, 1.6, 2.0) at
  window lengths 11, 15, 19, 21, and the largest window mean at each length.
- ``sp``: signal peptide: largest mean over windows of 8 in residues 1-30, K+R in residues 1-5, A-x-A before a
  small residue in residues 15-35.
- ``cterm``: C-terminal anchors: CAAX box (C at -4, aliphatic at -3 and -2), largest hydropathy window of 15 in the
  last 30 residues (GPI / tail anchors), K+R in the last 20 (polybasic), C in the last 10.
- ``myr``: N-myristoylation ``MG`` start (with S/T/A/C/N at position 6), C in residues 2-20 (palmitoylation).
- ``lipid``: lipid-anchor consensus motifs (myristoylation M-G-x-x-x-[STAGCN], CAAX, M-G then C), and any of them.
- ``charge``: fractions of K+R, D+E, net charge, and K+R / D+E in the 10 residues flanking the best TM window.
- ``amph``: amphipathic helices: the largest hydrophobic moment (Eisenberg scale, 100 degrees) over windows of 11
  and 18, overall and among non-transmembrane windows.
- ``len``: log length.
- ``aa``: aa20 composition; ``d2``: dayhoff6 2-mer composition (36); ``d1``: dayhoff6 composition.

    python benchmarks/protein_features.py [--sets hyd,hyd+tm,...] [--C 1 --C 0.1] [--model lr|svm|gb] [--json F]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
from protein_design import load  # noqa: E402

from qnlp.protein.alphabet import STANDARD, get_alphabet  # noqa: E402
from qnlp.protein.baseline import KYTE_DOOLITTLE, hydropathy_features  # noqa: E402

SEEDS = (0, 1, 2)


def _runs(mask: np.ndarray) -> int:
    """Number of separate runs of True in ``mask``."""
    m = np.concatenate([[False], mask, [False]]).astype(int)
    return int((np.diff(m) == 1).sum())


def _hydro(s: str) -> np.ndarray:
    return np.array([KYTE_DOOLITTLE.get(c, 0.0) for c in s])


def _window_means(h: np.ndarray, size: int) -> np.ndarray:
    size = min(size, len(h))
    return np.convolve(h, np.ones(size) / size, "valid")


def tm(s: str) -> list[float]:
    """TM segment counts and maxima at several window lengths and thresholds."""
    h, out = _hydro(s), []
    for size in (11, 15, 19, 21):
        means = _window_means(h, size)
        out.append(means.max())
        out += [np.log1p(_runs(means > t)) for t in (1.2, 1.6, 2.0)]
    return out


def sp(s: str) -> list[float]:
    """Signal-peptide features of the first 30 residues."""
    h = _hydro(s[:30])
    core = _window_means(h, 8).max()
    nplus = sum(c in "KR" for c in s[:5])
    axa = any(s[i] in "AGSCT" and s[i + 2] in "AGSCT" for i in range(14, min(35, len(s) - 2)))
    return [core, nplus, float(axa)]


def cterm(s: str) -> list[float]:
    """C-terminal anchor features: CAAX, tail hydrophobic window, polybasic tail, tail cysteines."""
    caax = float(len(s) >= 4 and s[-4] == "C" and s[-3] in "AVILMFT" and s[-2] in "AVILMFT")
    tail = _window_means(_hydro(s[-30:]), 15).max()
    return [caax, tail, sum(c in "KR" for c in s[-20:]) / 20, sum(c == "C" for c in s[-10:])]


def myr(s: str) -> list[float]:
    """N-myristoylation and N-terminal palmitoylation signals."""
    mg = float(s[:2] == "MG")
    return [mg, mg * float(len(s) > 5 and s[5] in "STACN"), sum(c == "C" for c in s[1:20])]


def lipid(s: str) -> list[float]:
    """Lipid-anchor consensus motifs: N-myristoylation M-G-x-x-x-[STAGCN], CAAX box, dual acylation (M-G then C
    within residues 3-10), and any of the three."""
    myristoyl = s[:2] == "MG" and len(s) > 5 and s[5] in "STAGCN"
    caax = len(s) >= 4 and s[-4] == "C" and s[-3] in "AVILMFT" and s[-2] in "AVILMFT"
    dual = s[:2] == "MG" and "C" in s[2:10]
    return [float(myristoyl), float(caax), float(dual), float(myristoyl or caax or dual)]


def charge(s: str) -> list[float]:
    """Global charge fractions and the positive-inside flank of the best TM window."""
    n = len(s)
    kr, de = sum(c in "KR" for c in s) / n, sum(c in "DE" for c in s) / n
    means = _window_means(_hydro(s), 19)
    j = int(means.argmax())
    flank = s[max(j - 10, 0):j] + s[j + 19:j + 29]
    return [kr, de, kr - de, sum(c in "KR" for c in flank), sum(c in "DE" for c in flank)]


# Eisenberg consensus hydrophobicity (1984), for the hydrophobic moment of amphipathic helices
EISENBERG = dict(zip("ARNDCQEGHILKMFPSTWYV", (0.62, -2.53, -0.78, -0.90, 0.29, -0.85, -0.74, 0.48, -0.40, 1.38, 1.06,
                                              -1.50, 0.64, 1.19, 0.12, -0.18, -0.05, 0.81, 0.26, 1.08)))


def amph(s: str) -> list[float]:
    """Amphipathic helices (peripheral membrane binding): the largest helical hydrophobic moment (100 degrees per
    residue) over windows of 11 and 18, overall and among windows that are not transmembrane (mean KD < 1.6)."""
    e = np.array([EISENBERG.get(c, 0.0) for c in s])
    kd = _hydro(s)
    out = []
    for size in (11, 18):
        size = min(size, len(e))
        angle = np.deg2rad(100.0) * np.arange(len(e))
        cs = np.convolve(e * np.cos(angle), np.ones(size), "valid")
        sn = np.convolve(e * np.sin(angle), np.ones(size), "valid")
        moment = np.hypot(cs, sn) / size
        soluble = _window_means(kd, size) < 1.6
        out += [moment.max(), moment[soluble].max() if soluble.any() else 0.0]
    return out


def composition(s: str, alphabet: str, k: int) -> list[float]:
    """k-mer composition (k = 1, 2) over an alphabet's classes (non-standard residues dropped)."""
    a = get_alphabet(alphabet)
    groups = a.tokens
    index = {r: i for i, g in enumerate(groups) for r in g}
    ids = [index[c] for c in s if c in index]
    g = len(groups)
    counts = np.zeros(g ** k)
    for i in range(len(ids) - k + 1):
        j = 0
        for t in ids[i:i + k]:
            j = j * g + t
        counts[j] += 1
    return list(counts / max(counts.sum(), 1))


FAMILIES = {
    "hyd": None,
    "tm": tm, "sp": sp, "cterm": cterm, "myr": myr, "charge": charge, "lipid": lipid,
    "amph": amph,
    "len": lambda s: [np.log(len(s))],
    "aa": lambda s: composition(s, "aa20", 1),
    "d1": lambda s: composition(s, "dayhoff6", 1),
    "d2": lambda s: composition(s, "dayhoff6", 2),
    "h2": lambda s: composition(s, "hydro3", 2),
}
assert len(STANDARD) == 20


def features(sequences: list[str], families: list[str]) -> np.ndarray:
    """The columns of the named families, side by side."""
    blocks = []
    for f in families:
        if f == "hyd":
            blocks.append(hydropathy_features(sequences))
        else:
            blocks.append(np.array([FAMILIES[f](s) for s in sequences], dtype=float))
    return np.hstack(blocks)


def classifier(C: float, model: str, seed: int = 0) -> object:
    """The probe classifier: standardised logistic regression, RBF SVM or gradient boosting."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if model == "svm":
        from sklearn.svm import SVC
        return make_pipeline(StandardScaler(), SVC(C=C))
    if model == "gb":
        from sklearn.ensemble import HistGradientBoostingClassifier
        return HistGradientBoostingClassifier(max_iter=200, learning_rate=0.05, random_state=seed)
    return make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=5000))


def hard_accuracy(X: np.ndarray, y: np.ndarray, X_hard: np.ndarray, y_hard: np.ndarray, C: float,
                  model: str) -> float:
    """Accuracy on setHARD of the probe trained on all of (X, y)."""
    return float(np.mean(classifier(C, model).fit(X, y).predict(X_hard) == y_hard))


def cross_validate(X: np.ndarray, y: np.ndarray, C: float, model: str = "lr") -> tuple[list[float], list[float]]:
    """Fold accuracies over 3 seeds of stratified 5-fold CV, and the 3 seed means."""
    from sklearn.model_selection import StratifiedKFold

    accs, means = [], []
    for seed in SEEDS:
        fold = []
        for tr, te in StratifiedKFold(5, shuffle=True, random_state=seed).split(X, y):
            clf = classifier(C, model, seed)
            clf.fit(X[tr], y[tr])
            fold.append(float(np.mean(clf.predict(X[te]) == y[te])))
        accs += fold
        means.append(float(np.mean(fold)))
    return accs, means


DEFAULT_SETS = ("hyd", "hyd+tm", "hyd+sp", "hyd+cterm", "hyd+myr", "hyd+charge", "hyd+len", "hyd+d1", "hyd+d2",
                "hyd+aa", "hyd+tm+sp+cterm+myr", "hyd+tm+sp+cterm+myr+charge+len", "hyd+tm+charge+d2",
                "hyd+tm+sp+cterm+myr+charge+len+d2", "hyd+tm+sp+cterm+myr+charge+len+aa", "tm", "d2", "aa",
                "hyd+h2", "hyd+tm+aa+d2", "hyd+lipid", "hyd+charge+lipid", "hyd+amph", "hyd+charge+amph",
                "hyd+tm+sp+cterm+myr+charge+len+amph", "hyd+charge+d1", "hyd+charge+cterm+myr", "hyd+charge+d1+cterm",
                "hyd+tm+sp+cterm+myr+charge+len+aa+d2")


def main() -> None:
    """Run the probes and print one line per configuration."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default=",".join(DEFAULT_SETS), help="comma-separated family+family sets")
    parser.add_argument("--C", type=float, action="append", default=None, help="LR inverse L2 (repeatable)")
    parser.add_argument("--model", choices=("lr", "gb", "svm"), default="lr",
                        help="gb: gradient boosting, svm: RBF support vector machine (non-linear upper bounds)")
    parser.add_argument("--hard", action="store_true", help="also train on all 460 and score setHARD")
    parser.add_argument("--json", default=None, help="append rows to this JSON-lines file")
    args = parser.parse_args()
    data = load("deeploc_our_val_set.fasta")
    sequences, y = list(data.sequences), np.asarray(data.labels)
    cache: dict[str, np.ndarray] = {}
    hard = load("setHARD.fasta") if args.hard else None
    reference = None  # fold accuracies of the hydropathy plot (LR, C = 1): paired differences against it
    for name in args.sets.split(","):
        fams = name.split("+")
        for f in fams:
            if f not in cache:
                cache[f] = features(sequences, [f])
        X = np.hstack([cache[f] for f in fams])
        for C in args.C or [1.0]:
            start = time.perf_counter()
            accs, means = cross_validate(X, y, C, args.model)
            if reference is None:
                reference = accs if (name, C, args.model) == ("hyd", 1.0, "lr") else \
                    cross_validate(features(sequences, ["hyd"]), y, 1.0, "lr")[0]
            diff = np.array(accs) - np.array(reference)
            row = {"features": name, "model": args.model, "C": C, "columns": X.shape[1],
                   "params": X.shape[1] + 1, "cv_mean": float(np.mean(accs)), "cv_std": float(np.std(accs)),
                   "seed_std": float(np.std(means)), "paired_diff": float(diff.mean()),
                   "paired_se": float(diff.std() / np.sqrt(len(diff))), "seconds": time.perf_counter() - start}
            if hard is not None:
                row["hard"] = hard_accuracy(X, y, features(list(hard.sequences), fams), np.asarray(hard.labels), C,
                                            args.model)
            print(f"{name:45s} {args.model} C={C:<5g} cols={X.shape[1]:4d} CV {row['cv_mean']:.3f} ± "
                  f"{row['cv_std']:.3f} (seeds ± {row['seed_std']:.3f}); vs hyd {row['paired_diff']:+.3f} ± "
                  f"{row['paired_se']:.3f}" + (f"; setHARD {row['hard']:.3f}" if "hard" in row else ""), flush=True)
            if args.json:
                with open(args.json, "a") as fh:
                    fh.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
