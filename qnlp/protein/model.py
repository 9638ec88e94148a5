"""ProteinClassifier: the qnlp QuantumClassifier on residue strings (evaluated through tnq's contraction backend,
sequences of one length stacked into one network), saved / loaded with its
``qnlp.protein.compile.ProteinCompiler`` config so a model file rebuilds itself.

Items may also be ``WindowBag``s: a whole protein read as its sliding windows, whose window class probabilities are
pooled (``lse``) into the protein's, so ``fit`` trains the pooled protein probability (multiple-instance learning)
in the classifier's own loop. A protein's windows that give the same circuit output are evaluated once and weighted
by their multiplicity: identical windows always, and with a ``diagonal`` compiler (the mixture ansatz) windows with
equal word counts, whose output is the product of the word states' outcome probabilities."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from qnlp.circuits import SentenceCircuit
from qnlp.errors import QnlpError, located_error, place
from qnlp.model import QuantumClassifier
from qnlp.protein.compile import COMPILER, ProteinCompiler
from qnlp.protein.errors import ProteinDataError
from qnlp.protein.windows import lse_pool, window_starts


@dataclass(frozen=True)
class WindowBag:
    """One protein as the windows of ``size`` residue tokens every ``stride`` (``qnlp.protein.windows``), pooled
    with ``lse`` at ``temperature``; ``source`` / ``where`` name its file and line in error messages."""

    tokens: tuple[str, ...]
    size: int
    stride: int | None = None
    temperature: float = 1.0
    source: str | None = field(default=None, compare=False)
    where: str | None = field(default=None, compare=False)

    def __str__(self) -> str:
        return "".join(t if len(t) == 1 else f"[{t}]" for t in self.tokens)

    def windows(self) -> list[tuple[str, ...]]:
        """The window token tuples (unframed), in order."""
        return [self.tokens[s:s + self.size] for s in window_starts(len(self.tokens), self.size, self.stride)]


@dataclass
class BagCircuit:
    """A ``WindowBag`` ready to evaluate: its distinct windows, as the counts of each vocabulary word (``counts``,
    diagonal compilers) or as circuits, and how many windows each stands for (``weights``)."""

    symbols: list[str]
    outputs: Any
    weights: np.ndarray
    temperature: float
    counts: np.ndarray | None = None
    circuits: list[SentenceCircuit] | None = None


def window_counts(bag: WindowBag, vocabulary: Sequence[str], start: str | None) -> np.ndarray:
    """(windows, vocabulary) word counts of each window of ``bag`` (with one ``start`` word each, when given)."""
    index = {t: i for i, t in enumerate(vocabulary)}
    unknown = [t for t in bag.tokens if t not in index]
    if unknown:
        raise ProteinDataError(f"tokens {unknown[:4]} are not in the vocabulary {list(vocabulary)}")
    ids = np.array([index[t] for t in bag.tokens], dtype=np.int64)
    cumulative = np.zeros((len(ids) + 1, len(vocabulary)))
    cumulative[np.arange(1, len(ids) + 1), ids] = 1.0
    cumulative = np.cumsum(cumulative, axis=0)
    starts = np.array(window_starts(len(ids), bag.size, bag.stride))
    counts = cumulative[np.minimum(starts + bag.size, len(ids))] - cumulative[starts]
    if start is not None:
        counts[:, index[start]] += 1.0
    return counts


class ProteinClassifier(QuantumClassifier):
    """``QuantumClassifier(compile=ProteinCompiler(...), ...)`` that checks its compiler and loads its own files."""

    def _validate_params(self) -> None:
        """The classifier's checks, and a ProteinCompiler as the compiler."""
        if not isinstance(self.compile, ProteinCompiler):
            raise ProteinDataError(f"ProteinClassifier needs a ProteinCompiler, got {type(self.compile).__name__}")
        super()._validate_params()

    def circuits(self, X: Sequence[Any], cache: bool = True) -> list:
        """The circuit of each sequence (see ``QuantumClassifier.circuits``), or of each ``WindowBag``."""
        if isinstance(X, str):
            raise ProteinDataError("pass a list of sequences, not one string")
        bags = [isinstance(x, WindowBag) for x in X]
        if not any(bags):
            return super().circuits(X, cache)
        if not all(bags):
            raise ProteinDataError(f"{place(X, bags.index(False))}: items are WindowBags or sequences, not both")
        out = []
        for i, bag in enumerate(X):
            circuit = self._circuits.get(bag)
            if circuit is None:
                try:
                    circuit = self._bag_circuit(bag, cache)
                except QnlpError as exc:
                    raise located_error(exc, place(X, i)) from None
                if cache:
                    self._circuits[bag] = circuit
            out.append(circuit)
        return out

    def _word_circuits(self) -> list[SentenceCircuit]:
        """The circuit of every vocabulary word alone, compiled once."""
        key = BagCircuit  # a class is never an item: the key cannot clash with a sequence's
        if key not in self._circuits:
            self._circuits[key] = [self.compile.word_circuit(t) for t in self.compile.reader.vocabulary]
        return self._circuits[key]

    def _bag_circuit(self, bag: WindowBag, cache: bool) -> BagCircuit:
        """The protein's distinct windows with their multiplicities (counts for a diagonal compiler)."""
        from qnlp.protein.diagrams import START

        reader = self.compile.reader
        if self.compile.diagonal:
            counts, weights = np.unique(window_counts(bag, reader.vocabulary, START if reader.start else None),
                                        axis=0, return_counts=True)
            words = self._word_circuits()
            used = np.flatnonzero(counts.sum(0))
            symbols = sorted({s for j in used for s in words[j].symbols})
            return BagCircuit(symbols, words[0].outputs, weights.astype(float), bag.temperature, counts=counts)
        distinct: dict[tuple[str, ...], int] = {}
        for window in bag.windows():
            key = reader.framed(window)
            distinct[key] = distinct.get(key, 0) + 1
        circuits = super().circuits(list(distinct), cache)
        return BagCircuit(sorted({s for c in circuits for s in c.symbols}), circuits[0].outputs,
                          np.array(list(distinct.values()), dtype=float), bag.temperature, circuits=circuits)

    def _class_probs(self, circuits: list, theta: Any, subset: Any = None, cache: bool = True) -> Any:
        """Class probabilities of circuits, or of ``BagCircuit``s: their windows' pooled (``lse``)."""
        if not circuits or not isinstance(circuits[0], BagCircuit):
            return super()._class_probs(circuits, theta, subset, cache)
        import torch

        bags = list(circuits) if subset is None else [circuits[int(i)] for i in subset]
        owner = np.repeat(np.arange(len(bags)), [len(b.weights) for b in bags])
        weights = np.concatenate([b.weights for b in bags])
        if self.compile.diagonal:
            logp = self._diagonal_log_probs(np.concatenate([b.counts for b in bags]), theta)
        else:  # all windows in one order (compiled once), the subset's rows evaluated
            rows = None
            if subset is not None:
                ends = np.cumsum([len(b.weights) for b in circuits])
                rows = np.concatenate([np.arange(ends[i] - len(circuits[i].weights), ends[i])
                                       for i in np.asarray(subset, dtype=np.int64)])
            probs = super()._class_probs([c for b in circuits for c in b.circuits], theta, rows, cache)
            logp = torch.log(probs.clamp_min(1e-300)) if isinstance(probs, torch.Tensor) else \
                np.log(np.clip(probs, 1e-300, None))
        pooled = lse_pool(logp, owner, len(bags), weights, bags[0].temperature)
        return pooled.exp() if isinstance(pooled, torch.Tensor) else np.exp(pooled)

    def _diagonal_log_probs(self, counts: np.ndarray, theta: Any) -> Any:
        """Class log-probabilities of windows given by their word ``counts``: the log outcome probabilities of the
        word circuits (tnq contraction) weighted by the counts, read out as ``QuantumClassifier`` does."""
        import torch

        batch = self._compiled(self._word_circuits())
        word_probs = torch.as_tensor(batch.probabilities(self._values(batch, theta)))
        logp = self._readout(torch.as_tensor(counts, dtype=word_probs.dtype) @ torch.log(word_probs.clamp_min(1e-300)),
                             log=True)
        return logp if isinstance(theta, torch.Tensor) else logp.numpy()

    def set_windows(self, windows: int | None = None, stride: int | None = None, pool: str = "mean",
                    temperature: float = 1.0) -> None:
        """Declare, before ``fit``, the windows the model reads and how they are pooled: training checkpoints keep
        them (a resumed run with other windows or pooling is refused)."""
        self._declared_windows = window_settings(windows, stride, pool, temperature, "ProteinClassifier")

    def fit(self, X: Sequence[Any], y: Sequence[Any], *args: Any, **kwargs: Any) -> ProteinClassifier:
        """``QuantumClassifier.fit``; ``WindowBag`` items must agree with ``set_windows`` when it was called."""
        declared = getattr(self, "_declared_windows", None)
        bags = {(b.size, b.stride, float(b.temperature)) for b in X if isinstance(b, WindowBag)}
        if len(bags) > 1:
            raise ProteinDataError(f"WindowBags of one fit must share size, stride and temperature, got {bags}")
        self.windows_ = declared
        if bags:
            size, stride, temperature = bags.pop()
            self.windows_ = window_settings(size, stride, "lse", temperature, "WindowBag")
            if declared is not None and declared != self.windows_:
                raise ProteinDataError(f"the WindowBags read {self.windows_}, but set_windows declared {declared}")
        return super().fit(X, y, *args, **kwargs)

    def _loop(self, checkpoint: Any, resume: bool, select: bool) -> Any:
        """``QuantumClassifier``'s loop, its checkpoint settings holding the windows and pooling when known."""
        loop = super()._loop(checkpoint, resume, select)
        windows = getattr(self, "windows_", None)
        if windows is not None:
            loop.settings = {**loop.settings, "windows": windows}
        return loop

    def set_inputs(self, label_names: Sequence[str]) -> None:
        """Record (saved with the model) the class names in ``classes_`` order beside the windows the model read
        in ``fit`` (``set_windows`` or its WindowBags; none: whole sequences), so evaluation needs neither the
        training options nor the training data."""
        windows = getattr(self, "windows_", None) or {"windows": None, "stride": None, "pool": "mean"}
        self.inputs_ = check_inputs({"label_names": list(label_names), **windows}, len(self.classes_),
                                    "ProteinClassifier")

    @staticmethod
    def load(path: str | os.PathLike) -> ProteinClassifier:
        """A model written by ``save`` (or by ``qnlp protein train --out``)."""
        from qnlp.persist import load_model, read_description

        config = read_description(path)[1].get("pipeline")
        compiler = config.get("compiler") if isinstance(config, dict) else None
        if compiler != COMPILER:
            raise ProteinDataError(f"{path}: not a protein model (its compiler is {compiler!r}); "
                                   "load it with QuantumClassifier.load")
        model = load_model(path, ProteinClassifier)
        if model.inputs_:
            model.inputs_ = check_inputs(model.inputs_, len(model.classes_), f"{path}: field 'inputs'")
        return model


def window_settings(windows: int | None, stride: int | None, pool: str, temperature: float,
                    where: str) -> dict[str, Any]:
    """The checked windows / stride / pool (/ temperature, for ``lse``) of ``check_inputs``, without class names."""
    checked = check_inputs({"label_names": ["-"], "windows": windows, "stride": stride, "pool": pool,
                            "temperature": temperature}, 1, where)
    return {k: v for k, v in checked.items() if k != "label_names"}


def check_inputs(inputs: dict[str, Any], classes: int, where: str) -> dict[str, Any]:
    """``inputs`` if it names ``classes`` distinct classes and valid windows, else an error naming ``where``."""
    from qnlp.protein.windows import POOLING

    names, windows, stride = inputs.get("label_names"), inputs.get("windows"), inputs.get("stride")
    if not (isinstance(names, list) and all(isinstance(n, str) and n for n in names) and len(names) == classes
            and len(set(names)) == classes):
        raise ProteinDataError(f"{where}: label_names must be {classes} distinct non-empty strings, got {names!r}")
    if windows is not None and (not isinstance(windows, int) or isinstance(windows, bool) or windows < 1):
        raise ProteinDataError(f"{where}: windows must be null or an integer >= 1, got {windows!r}")
    if stride is not None and (windows is None or not isinstance(stride, int) or isinstance(stride, bool)
                               or not 1 <= stride <= windows):
        raise ProteinDataError(f"{where}: stride must be null or an integer in 1..windows, got {stride!r}")
    if inputs.get("pool") not in POOLING:
        raise ProteinDataError(f"{where}: pool must be one of {POOLING}, got {inputs.get('pool')!r}")
    temperature = inputs.get("temperature", 1.0)  # files written before lse pooling: none
    if isinstance(temperature, bool) or not isinstance(temperature, int | float) or not (
            np.isfinite(temperature) and temperature > 0):
        raise ProteinDataError(f"{where}: temperature must be a finite number > 0, got {temperature!r}")
    checked = {"label_names": names, "windows": windows, "stride": stride, "pool": inputs["pool"]}
    return {**checked, "temperature": float(temperature)} if checked["pool"] == "lse" else checked
