"""Classical baseline for protein classification: logistic regression (scikit-learn) on residue composition and
k-mer frequencies, so a quantum model's accuracy and parameter count can be read beside a cheap classical one.

Features of a sequence, for each k in ``k``: the frequency of every k-mer of alphabet tokens (counts / number of
k-mers; all zero when the sequence is shorter than k). k=1 is the composition. With ``aa20`` and k=(1, 2) that is
20 + 400 features; a grouped alphabet shrinks it (``dayhoff6``, k=(1, 2, 3): 6 + 36 + 216). With ``hydropathy=W``
three columns of the Kyte-Doolittle hydropathy plot over windows of W residues are added (``hydropathy_features``):
a classical model that sees local windows, as transmembrane segments are found.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Sequence

import numpy as np

from qnlp.protein.alphabet import Alphabet, get_alphabet
from qnlp.protein.errors import ProteinDataError
from qnlp.protein.sequences import SequenceSet
from qnlp.protein.windows import truncate
from tnq.checks import Number

FORMAT = "qnlp.protein.KmerBaseline/1"

KYTE_DOOLITTLE = dict(zip("ARNDCQEGHILKMFPSTWYV", (1.8, -4.5, -3.5, -3.5, 2.5, -3.5, -3.5, -0.4, -3.2, 4.5, 3.8, -3.9,
                                                    1.9, 2.8, -1.6, -0.8, -0.7, -0.9, -1.3, 4.2)))
"""Kyte & Doolittle (1982) hydropathy per residue (other letters count 0)."""

TRANSMEMBRANE_THRESHOLD = 1.6
"""A window of ~19 residues whose mean hydropathy exceeds this is a likely transmembrane segment (Kyte &
Doolittle)."""

HYDROPATHY_COLUMNS = ("hydropathy max", "hydropathy max in the first 40", "hydrophobic windows per 100")


def hydropathy_features(sequences: Sequence[str], window: int = 19, head: int = 40) -> np.ndarray:
    """(n, 3) Kyte-Doolittle hydropathy plot of each sequence: the largest window mean over the protein, the largest
    over its first ``head`` residues (a signal peptide), and the windows whose mean exceeds
    ``TRANSMEMBRANE_THRESHOLD`` per 100 windows (a window is the whole sequence when it is shorter)."""
    rows = np.zeros((len(sequences), len(HYDROPATHY_COLUMNS)))
    for row, sequence in enumerate(sequences):
        h = np.array([KYTE_DOOLITTLE.get(c, 0.0) for c in sequence.upper()]) if sequence else np.zeros(1)
        size = min(window, len(h))
        means = np.convolve(h, np.ones(size) / size, "valid")
        rows[row] = (means.max(), means[:max(head - size + 1, 1)].max(),
                     100 * (means > TRANSMEMBRANE_THRESHOLD).sum() / len(means))
    return rows


class KmerBaseline:
    """``fit`` / ``predict`` / ``predict_proba`` / ``score`` on residue strings (or a ``SequenceSet``).

    ``alphabet`` and ``unknown`` as in ``Alphabet.encode``; ``max_len`` / ``keep`` truncate each sequence first
    (to compare with a model that sees the same residues); ``C`` is the inverse L2 strength; features are
    standardised (mean 0, variance 1 on the training set) when ``standardize``; ``hydropathy`` (a window length)
    adds the hydropathy-plot columns."""

    def __init__(self, k: int | Sequence[int] = (1, 2), alphabet: str | Alphabet = "aa20", unknown: str = "error",
                 C: float = 1.0, max_len: int | None = None, keep: str = "both", standardize: bool = True,
                 max_iter: int = 5000, hydropathy: int | None = None) -> None:
        self.k = (k,) if isinstance(k, int) else tuple(k)
        if not self.k or any(not isinstance(x, int) or x < 1 for x in self.k) or len(set(self.k)) != len(self.k):
            raise ProteinDataError(f"k must be distinct positive integers, got {k!r}")
        self.alphabet = get_alphabet(alphabet)
        self.unknown = unknown
        self.vocabulary = self.alphabet.vocabulary(unknown)
        size = len(self.vocabulary) ** max(self.k)
        if size > 200_000:
            raise ProteinDataError(f"{len(self.vocabulary)}^{max(self.k)} = {size} k-mer features is too many; "
                                   f"use a smaller k or a grouped alphabet")
        if C <= 0:
            raise ProteinDataError(f"C must be positive, got {C}")
        self.C, self.max_len, self.keep = float(C), max_len, keep
        if max_len is not None:
            truncate("A", max_len, keep)  # validates max_len and keep now, not at fit time
        self.standardize, self.max_iter = standardize, max_iter
        Number(integer=True, minimum=1, optional=True).check("hydropathy (window length)", hydropathy,
                                                             ProteinDataError)
        self.hydropathy = hydropathy
        self._index = {token: i for i, token in enumerate(self.vocabulary)}
        self.coef_: np.ndarray | None = None
        self.intercept_ = self.mean_ = self.scale_ = self.classes_ = None
        self.label_names_: tuple[str, ...] = ()

    # --- features -----------------------------------------------------------------------------------
    @property
    def feature_names(self) -> list[str]:
        """``"k-mer"`` names in feature order, tokens joined by ``/`` for grouped alphabets (``"DENQ/HKR"``)."""
        sep = "" if all(len(t) == 1 for t in self.vocabulary) else "/"
        kmers = [sep.join(combo) for k in self.k for combo in itertools.product(self.vocabulary, repeat=k)]
        return kmers + (list(HYDROPATHY_COLUMNS) if self.hydropathy is not None else [])

    def features(self, sequences: Sequence[str], ids: Sequence[str] | None = None) -> np.ndarray:
        """(n, features) k-mer frequency matrix; residue errors name ``ids[i]``."""
        if isinstance(sequences, str):
            raise ProteinDataError("features: pass a list of sequences, not one string")
        encoded = self.alphabet.encode_many(sequences, ids, self.unknown)
        if self.max_len is not None:  # tokens, as ProteinReader truncates, so both models see the same residues
            encoded = [truncate(t, self.max_len, self.keep) for t in encoded]
        v = len(self.vocabulary)
        blocks = []
        for k in self.k:
            block = np.zeros((len(encoded), v ** k))
            for row, tokens in enumerate(encoded):
                if len(tokens) < k:
                    continue
                codes = np.array([self._index[t] for t in tokens], dtype=np.int64)
                kmers = np.zeros(len(codes) - k + 1, dtype=np.int64)
                for j in range(k):
                    kmers = kmers * v + codes[j:len(codes) - k + 1 + j]
                block[row] = np.bincount(kmers, minlength=v ** k) / len(kmers)
            blocks.append(block)
        if self.hydropathy is not None:
            kept = [truncate(s, self.max_len, self.keep) if self.max_len is not None else s for s in sequences]
            blocks.append(hydropathy_features(kept, self.hydropathy))
        return np.concatenate(blocks, axis=1)

    # --- model --------------------------------------------------------------------------------------
    def _data(self, sequences: Sequence[str] | SequenceSet, labels: Sequence[int] | np.ndarray | None,
              ) -> tuple[Sequence[str], Sequence[str] | None, np.ndarray | None]:
        if isinstance(sequences, SequenceSet):
            if labels is not None:
                raise ProteinDataError("pass either a SequenceSet or (sequences, labels), not both")
            return sequences.sequences, sequences.ids, sequences.labels
        labels_array = None if labels is None else np.asarray(labels)
        if labels_array is not None and len(labels_array) != len(sequences):
            raise ProteinDataError(f"{len(labels_array)} labels for {len(sequences)} sequences")
        return sequences, None, labels_array

    def fit(self, sequences: Sequence[str] | SequenceSet, labels: Sequence[int] | np.ndarray | None = None,
            ) -> KmerBaseline:
        """Train on ``sequences`` with integer ``labels`` (or a labelled SequenceSet, whose label names are kept).
        scikit-learn fits; the fitted numbers are then kept as plain arrays (``mean_``, ``scale_``, ``coef_``,
        ``intercept_``, ``classes_``), which prediction and ``save`` use."""
        from sklearn.linear_model import LogisticRegression
        from sklearn.preprocessing import StandardScaler

        seqs, ids, y = self._data(sequences, labels)
        if y is None:
            raise ProteinDataError("fit needs labels")
        y = np.asarray(y)
        if not np.issubdtype(y.dtype, np.integer):
            raise ProteinDataError(f"labels must be integers (class indices), got dtype {y.dtype}")
        if len(np.unique(y)) < 2:
            raise ProteinDataError(f"fit needs at least two classes, got labels {sorted(set(y.tolist()))}")
        x = self.features(seqs, ids)
        self.mean_, self.scale_ = np.zeros(x.shape[1]), np.ones(x.shape[1])
        if self.standardize:
            scaler = StandardScaler().fit(x)
            self.mean_, self.scale_ = scaler.mean_.copy(), scaler.scale_.copy()
        model = LogisticRegression(C=self.C, max_iter=self.max_iter).fit((x - self.mean_) / self.scale_, y)
        self.coef_, self.intercept_ = model.coef_.copy(), model.intercept_.copy()
        self.classes_ = model.classes_.astype(np.int64)
        self.label_names_ = sequences.label_names if isinstance(sequences, SequenceSet) else ()
        return self

    def _fitted(self) -> None:
        if self.coef_ is None:
            raise ProteinDataError("KmerBaseline is not fitted; call fit first")

    def decision_function(self, sequences: Sequence[str] | SequenceSet) -> np.ndarray:
        """Logits: (n,) for two classes (positive = ``classes_[1]``), (n, classes) otherwise."""
        self._fitted()
        seqs, ids, _ = self._data(sequences, None)
        z = ((self.features(seqs, ids) - self.mean_) / self.scale_) @ self.coef_.T + self.intercept_
        return z[:, 0] if z.shape[1] == 1 else z

    def predict_proba(self, sequences: Sequence[str] | SequenceSet) -> np.ndarray:
        """(n, classes) class probabilities, columns in ``classes_`` order (logistic / softmax of the logits)."""
        z = self.decision_function(sequences)
        if z.ndim == 1:
            p = 1.0 / (1.0 + np.exp(-z))
            return np.stack([1.0 - p, p], axis=1)
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    def predict(self, sequences: Sequence[str] | SequenceSet) -> np.ndarray:
        return self.classes_[np.argmax(self.predict_proba(sequences), axis=1)]

    def score(self, sequences: Sequence[str] | SequenceSet, labels: Sequence[int] | np.ndarray | None = None,
              ) -> float:
        """Accuracy on labelled data."""
        _, _, y = self._data(sequences, labels)
        if y is None:
            raise ProteinDataError("score needs labels")
        return float(np.mean(self.predict(sequences) == np.asarray(y)))

    @property
    def num_parameters(self) -> int:
        """Trained weights: logistic-regression coefficients plus intercepts (the standardisation's per-feature
        mean and scale are fitted statistics, not counted; see ``num_statistics``)."""
        self._fitted()
        return int(self.coef_.size + self.intercept_.size)

    @property
    def num_statistics(self) -> int:
        """Numbers the standardisation fitted (mean and scale per feature), 0 without standardisation."""
        self._fitted()
        return 2 * self.coef_.shape[1] if self.standardize else 0

    # --- persistence --------------------------------------------------------------------------------
    @property
    def config(self) -> dict:
        """The constructor arguments as JSON-ready values (a custom alphabet is stored by its groups)."""
        return {"k": list(self.k), "alphabet": {"name": self.alphabet.name, "groups": list(self.alphabet.groups),
                                                "reference": self.alphabet.reference},
                "unknown": self.unknown, "C": self.C, "max_len": self.max_len, "keep": self.keep,
                "standardize": self.standardize, "max_iter": self.max_iter, "hydropathy": self.hydropathy}

    def save(self, path: str | os.PathLike) -> None:
        """One safetensors file (weights and standardisation) whose metadata is the JSON config; atomic."""
        from qnlp.persist import write_description

        self._fitted()
        meta = {"format": FORMAT, "config": self.config, "classes": self.classes_.tolist(),
                "label_names": list(self.label_names_)}
        tensors = {"coef": self.coef_, "intercept": self.intercept_, "mean": self.mean_, "scale": self.scale_}
        write_description(path, tensors, meta)

    @classmethod
    def load(cls, path: str | os.PathLike) -> KmerBaseline:
        """A model written by ``save``; errors name the file."""
        from qnlp.persist import read_description

        try:
            tensors, meta = read_description(path, FORMAT)
            config = dict(meta["config"])
            a = config.pop("alphabet")
            model = cls(alphabet=Alphabet(a["name"], tuple(a["groups"]), a.get("reference", "")), **config)
            model.coef_, model.intercept_ = tensors["coef"], tensors["intercept"]
            model.mean_, model.scale_ = tensors["mean"], tensors["scale"]
            model.classes_ = np.asarray(meta["classes"], dtype=np.int64)
            model.label_names_ = tuple(meta["label_names"])
        except (KeyError, TypeError) as exc:
            raise ProteinDataError(f"{path}: incomplete {FORMAT} file (missing {exc})") from None
        if model.coef_.shape != (1 if len(model.classes_) == 2 else len(model.classes_), len(model.feature_names)):
            raise ProteinDataError(f"{path}: weights of shape {model.coef_.shape} do not fit the configured features")
        return model

    def __repr__(self) -> str:
        return (f"KmerBaseline(k={self.k}, alphabet={self.alphabet.name!r}, unknown={self.unknown!r}, C={self.C}, "
                f"max_len={self.max_len}, keep={self.keep!r}, hydropathy={self.hydropathy})")
