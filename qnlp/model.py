"""A sentence classifier whose forward pass is tnq's cached contraction of the sentence circuits.

scikit-learn style: ``fit / predict / predict_proba / score``. ``fit`` trains the word parameters with
torch autograd and Adam (``optimizer="adam"``) or with SPSA (``optimizer="spsa"``, two loss evaluations
per step, usable with finite ``shots``), keeps the parameters with the best dev score (early stopping),
and with ``checkpoint=PATH`` saves after every epoch and resumes from that file.

Regularisation and schedule options (all off by default): ``weight_decay`` (an L2 penalty on the angles added to
the training loss), ``lr_decay`` (the Adam learning rate is multiplied by it every epoch), ``label_smoothing``
(targets ``1 - eps`` / ``eps / (k - 1)``) and ``readout="marginal"`` (class ``c`` is outcome ``c`` of the first
``ceil(log2 k)`` output qubits, the others traced out, instead of outcome ``c`` of all output qubits).
``selection="loss"`` keeps the epoch with the lowest dev loss instead of the best dev accuracy (a small dev set
saturates its accuracy early).

The trained vector need not be the circuits' own angles: a compiler with a ``symbol_values(names, coords)`` method
maps the trained coordinates to symbol values before every evaluation (the protein mixture ansatz trains
log-weights this way); weight decay then acts on the coordinates.
"""

from __future__ import annotations

import os
import time
import zlib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from qnlp.circuits import SentenceCircuit
from qnlp.errors import QnlpError, located_error, place, source
from qnlp.evaluate import CompiledBatch
from tnq.arrays import is_torch
from tnq.checks import SEED_MAX, Number, check_numbers
from tnq.training import Estimator, Loop

Compiler = Callable[[Any], SentenceCircuit]
"""Turns one input item (a sentence, a diagram, a circuit) into a tnq sentence circuit."""

READOUTS = ("outcomes", "marginal")
"""How output-qubit probabilities become class probabilities (see the module docstring)."""

SPSA_DEFAULTS = {"a": 0.2, "c": 0.06, "A": 10.0, "alpha": 0.602, "gamma": 0.101}
"""SPSA gains: step ``a / (k + 1 + A) ** alpha``, perturbation ``c / (k + 1) ** gamma`` at iteration ``k``."""

NUMBERS: dict[str, Number] = {
    "learning_rate": Number(above=0.0),
    "epochs": Number(integer=True, minimum=0),
    "batch_size": Number(integer=True, minimum=1, optional=True),
    "patience": Number(integer=True, minimum=1, optional=True),
    "shots": Number(integer=True, minimum=1, optional=True),
    "init_scale": Number(minimum=0.0),
    "seed": Number(integer=True, minimum=0, maximum=SEED_MAX),
    "weight_decay": Number(minimum=0.0),
    "lr_decay": Number(above=0.0, maximum=1.0),
    "label_smoothing": Number(minimum=0.0, below=0.5),
}
"""The classifier's numeric settings; the command lines' option types are made from the same rules."""

SPSA_GAINS = {"a": Number(above=0.0), "c": Number(above=0.0), "A": Number(minimum=0.0),
              "alpha": Number(minimum=0.0), "gamma": Number(minimum=0.0)}
"""The rule of each SPSA gain (``a`` and ``c`` scale the steps and the perturbations: zero would stall or divide)."""


def _checked_spsa(spsa: Any) -> dict[str, float]:
    """The SPSA gains given (a dict of names of ``SPSA_GAINS``, each a finite number within its rule)."""
    if spsa is None:
        return {}
    if not isinstance(spsa, dict):
        raise QnlpError(f"spsa must be a dict of gains {sorted(SPSA_GAINS)}, got {spsa!r}")
    for name, value in spsa.items():
        if name not in SPSA_GAINS:
            raise QnlpError(f"spsa: unknown gain {name!r}; the gains are {sorted(SPSA_GAINS)}")
        SPSA_GAINS[name].check(f"spsa[{name!r}]", value, QnlpError)
    return dict(spsa)


def training_classes(y: Sequence[Any], X: Sequence[Any] | None = None) -> np.ndarray:
    """The sorted classes of training labels ``y``; fewer than two is an error naming the file ``X`` was read
    from (items that carry their place, see ``qnlp.errors.located``), else the parameter ``y``."""
    classes = np.unique(np.asarray(y))
    if len(classes) < 2:
        found = f"only the label {classes[0].item()!r}" if len(classes) else "no labels"
        raise QnlpError(f"{source(X, 'y')}: the training data has {found}; a classifier needs at least two classes")
    return classes


def check_labels(y: Sequence[Any], classes: np.ndarray, X: Sequence[Any] | None = None) -> None:
    """Every label of ``y`` must be one of the training ``classes``; the error names the first other one's place."""
    y = np.asarray(y)
    unknown = ~np.isin(y, classes)
    if unknown.any():
        i = int(np.argmax(unknown))
        raise QnlpError(f"{place(X, i)}: label {y[i].item()!r} does not occur in the training data "
                        f"(classes {classes.tolist()})")


class QuantumClassifier(Estimator):
    """Classify items by the output-qubit distribution of their circuits (class c = outcome c).

    scikit-learn's rules: the constructor stores its arguments (``get_params`` / ``set_params`` / ``clone`` see
    them) and ``fit`` checks them."""

    estimator_type = "classifier"

    def __init__(self, compile: Compiler, *, optimizer: str = "adam", learning_rate: float = 0.1,
                 epochs: int = 100, batch_size: int | None = None, patience: int | None = 20,
                 spsa: dict[str, float] | None = None, shots: int | None = None, init_scale: float = 1.0,
                 unknown_words: str = "error", seed: int = 0, progress: bool | None = None,
                 weight_decay: float = 0.0, lr_decay: float = 1.0, label_smoothing: float = 0.0,
                 readout: str = "outcomes", selection: str = "accuracy") -> None:
        self.compile = compile
        self.optimizer, self.learning_rate, self.epochs = optimizer, learning_rate, epochs
        self.batch_size, self.patience, self.spsa, self.shots = batch_size, patience, spsa, shots
        self.init_scale, self.unknown_words, self.seed, self.progress = init_scale, unknown_words, seed, progress
        self.weight_decay, self.lr_decay, self.label_smoothing = weight_decay, lr_decay, label_smoothing
        self.readout, self.selection = readout, selection
        self.symbols_: list[str] = []
        self.weights_: np.ndarray | None = None
        self.classes_: np.ndarray | None = None
        self.history_: list[dict[str, float]] = []
        self.best_epoch_: int | None = None
        self.inputs_: dict[str, Any] = {}
        """How raw inputs become items (e.g. a protein model's class names and windows); saved with the model."""
        self._circuits: dict[Any, SentenceCircuit] = {}
        self._batches: dict[Any, CompiledBatch] = {}

    def _validate_params(self) -> None:
        """Refuse (QnlpError naming it) a setting that breaks its rule; ``fit`` and ``load`` call this."""
        if self.optimizer not in ("adam", "spsa"):
            raise QnlpError(f"optimizer must be 'adam' or 'spsa', got {self.optimizer!r}")
        if self.unknown_words not in ("error", "random", "zero"):
            raise QnlpError(f"unknown_words must be 'error', 'random' or 'zero', got {self.unknown_words!r}")
        if self.shots is not None and self.optimizer != "spsa":
            raise QnlpError("shots need optimizer='spsa' (sampled losses have no autograd gradient)")
        if self.readout not in READOUTS:
            raise QnlpError(f"readout must be one of {READOUTS}, got {self.readout!r}")
        if self.selection not in ("accuracy", "loss"):
            raise QnlpError(f"selection must be 'accuracy' or 'loss', got {self.selection!r}")
        check_numbers(NUMBERS, QnlpError, **{name: getattr(self, name) for name in NUMBERS})
        _checked_spsa(self.spsa)
        if self.optimizer == "spsa" and (self.weight_decay or self.lr_decay != 1 or self.label_smoothing):
            raise QnlpError("weight_decay, lr_decay and label_smoothing apply to optimizer='adam' only")

    def set_params(self, **params: Any) -> QuantumClassifier:
        """Set parameters by name (checked by the next ``fit``); a new compiler drops the circuits compiled so far."""
        super().set_params(**params)
        if any(name.partition("__")[0] == "compile" for name in params):
            self._circuits.clear()
            self._batches.clear()
        return self

    @property
    def spsa_gains(self) -> dict[str, float]:
        """The SPSA gains in use: ``SPSA_DEFAULTS`` updated by ``spsa``."""
        return {**SPSA_DEFAULTS, **(self.spsa or {})}

    # --- data ------------------------------------------------------------------------------------
    def circuits(self, X: Sequence[Any], cache: bool = True) -> list[SentenceCircuit]:
        """The circuit of each item, compiled once per distinct item and cached (``cache=False``: compiled afresh
        and not kept, so evaluating a stream of items holds no more than one batch of circuits)."""
        out = []
        for i, item in enumerate(X):
            key = item if isinstance(item, (str, tuple)) else id(item)
            circuit = self._circuits.get(key)
            if circuit is None:
                try:
                    circuit = self.compile(item)
                except QnlpError as exc:
                    raise located_error(exc, f"{place(X, i)} ({str(item)[:60]!r})") from None
                if cache:
                    self._circuits[key] = circuit
            out.append(circuit)
        return out

    def _labels(self, y: Sequence[Any], X: Sequence[Any], fitting: bool) -> np.ndarray:
        if fitting:
            self.classes_ = training_classes(y, X)
        check_labels(y, self.classes_, X)
        return np.searchsorted(self.classes_, np.asarray(y))

    # --- forward ---------------------------------------------------------------------------------
    def _compiled(self, circuits: list[SentenceCircuit], cache: bool = True) -> CompiledBatch:
        key = (tuple(id(c) for c in circuits), tuple(self.symbols_))
        if key in self._batches:
            return self._batches[key]
        known = set(self.symbols_)
        unseen = sorted({s for c in circuits for s in c.symbols if s not in known})
        batch = CompiledBatch(circuits, self.symbols_ + unseen)
        if cache:
            self._batches[key] = batch
        return batch

    def _unseen_values(self, names: Sequence[str]) -> np.ndarray:
        """Parameters of words never seen in training (``unknown_words``): zero, or a random draw fixed by
        the seed and the symbol's name (the same value every time, like an untrained lambeq weight)."""
        if self.unknown_words == "zero":
            return np.zeros(len(names))
        return np.array([np.random.default_rng([self.seed, zlib.crc32(n.encode())]).uniform(
            -self.init_scale, self.init_scale) for n in names])

    def _class_probs(self, circuits: list[SentenceCircuit], theta: Any, subset: Any = None,
                     cache: bool = True) -> Any:
        batch = self._compiled(circuits, cache)
        return self._readout(batch.probabilities(self._values(batch, theta), subset=subset))

    def _values(self, batch: CompiledBatch, theta: Any) -> Any:
        """The values of ``batch``'s symbols: the trained ``theta`` (numpy or torch), then those of unseen words,
        mapped by the compiler when it trains other coordinates (``symbol_values``)."""
        unseen = batch.symbols[len(self.symbols_):]
        if unseen:
            extra = self._unseen_values(unseen)
            if is_torch(theta):
                import torch

                theta = torch.cat([theta, torch.as_tensor(extra, dtype=theta.dtype)])
            else:
                theta = np.concatenate([np.asarray(theta), extra])
        to_values = getattr(self.compile, "symbol_values", None)
        return theta if to_values is None else to_values(batch.symbols, theta)

    def _readout(self, outcomes: Any, log: bool = False) -> Any:
        """Class probabilities from outcome probabilities (log-probabilities of both with ``log``, torch): with
        ``readout="marginal"`` the first ceil(log2 k) output qubits' outcome, the others traced out; then the first
        k outcomes, renormalised."""
        k = len(self.classes_)
        if outcomes.shape[1] < k:
            raise QnlpError(f"{len(self.classes_)} classes but the circuits have only {outcomes.shape[1]} outcomes")
        if self.readout == "marginal":
            import torch

            kept = 2 ** max(int(np.ceil(np.log2(k))), 0)
            grouped = outcomes.reshape(outcomes.shape[0], kept, -1)
            outcomes = torch.logsumexp(grouped, -1) if log else grouped.sum(-1)
        outcomes = outcomes[:, :k]
        if log:
            import torch

            return torch.log_softmax(outcomes, -1)
        return outcomes / outcomes.sum(-1, keepdims=True) if isinstance(outcomes, np.ndarray) else \
            outcomes / outcomes.sum(-1, keepdim=True)

    def check_symbols(self, circuits: list[SentenceCircuit], X: Sequence[Any], known: set[str] | None = None) -> None:
        """With ``unknown_words="error"``, refuse circuits with parameters outside ``known`` (default: the trained
        symbols), naming the first such item's place."""
        if self.unknown_words != "error":
            return
        known = set(self.symbols_) if known is None else known
        for i, c in enumerate(circuits):
            missing = [s for s in c.symbols if s not in known]
            if missing:
                raise QnlpError(f"{place(X, i)} ({str(X[i])[:60]!r}) uses parameters never seen in training: "
                                f"{missing[:4]} (unknown words? unknown_words='random' or 'zero' gives them "
                                "fixed values)")

    def _check_outcomes(self, circuits: list[SentenceCircuit], X: Sequence[Any]) -> None:
        """Each circuit needs an outcome per class (``2 ** output qubits >= classes``); the error names the item."""
        k = len(self.classes_)
        for i, c in enumerate(circuits):
            if 2 ** len(c.outputs) < k:
                raise QnlpError(f"{place(X, i)} ({str(X[i])[:60]!r}): {k} classes {self.classes_.tolist()} but its "
                                f"circuit has {len(c.outputs)} output qubit(s), {2 ** len(c.outputs)} outcome(s); "
                                "give its output type more qubits (--qubits)")

    def predict_proba(self, X: Sequence[Any], batch_size: int | None = None) -> np.ndarray:
        """Class probabilities, shape (len(X), n_classes), columns in ``classes_`` order. ``batch_size``: compile
        and evaluate that many items at a time, keeping none of their circuits (memory flat in ``len(X)``)."""
        self._fitted()
        if batch_size is None:
            circuits = self.circuits(X)
            self.check_symbols(circuits, X)
            return np.asarray(self._class_probs(circuits, self.weights_))
        NUMBERS["batch_size"].check("batch_size", batch_size, QnlpError)
        parts = []
        for start in range(0, len(X), batch_size):
            items = X[start:start + batch_size]
            circuits = self.circuits(items, cache=False)
            self.check_symbols(circuits, items)
            parts.append(np.asarray(self._class_probs(circuits, self.weights_, cache=False)))
        return np.concatenate(parts) if parts else np.zeros((0, len(self.classes_)))

    def predict(self, X: Sequence[Any], batch_size: int | None = None) -> np.ndarray:
        """The most probable class of each item (``batch_size`` as in ``predict_proba``)."""
        return self.classes_[np.argmax(self.predict_proba(X, batch_size), axis=1)]

    def score(self, X: Sequence[Any], y: Sequence[Any]) -> float:
        """Accuracy."""
        return float(np.mean(self.predict(X) == np.asarray(y)))

    def _fitted(self) -> None:
        if self.weights_ is None:
            raise QnlpError("this classifier is not fitted yet: call fit first")

    # --- training --------------------------------------------------------------------------------
    def fit(self, X: Sequence[Any], y: Sequence[Any], X_dev: Sequence[Any] | None = None,
            y_dev: Sequence[Any] | None = None, checkpoint: str | os.PathLike | None = None,
            resume: bool = True) -> QuantumClassifier:
        """Train on (X, y); with a dev set, keep the epoch with the best dev accuracy (ties: lower dev loss; or
        the lowest dev loss with ``selection="loss"``) and stop once ``patience`` epochs in a row have not improved
        (the rule of ``tnq.training.loop``). ``checkpoint`` is written after every epoch and, when ``resume``
        and the file exists, training continues from it (refused if made with other settings or data)."""
        self._validate_params()
        if len(X) != len(y) or len(X) == 0:
            raise QnlpError(f"X and y must be non-empty and of equal length (got {len(X)} and {len(y)})")
        if X_dev is not None and (y_dev is None or len(X_dev) != len(y_dev) or len(X_dev) == 0):
            raise QnlpError(f"X_dev and y_dev must be non-empty and of equal length (got {len(X_dev)} and "
                            f"{None if y_dev is None else len(y_dev)}); X_dev=None trains without a dev set")
        labels = self._labels(y, X, fitting=True)
        circuits = self.circuits(X)
        self.symbols_ = sorted({s for c in circuits for s in c.symbols})
        self._check_outcomes(circuits, X)
        dev = None
        if X_dev is not None:
            dev = (self.circuits(X_dev), self._labels(y_dev, X_dev, fitting=False))
            self.check_symbols(dev[0], X_dev)
            self._check_outcomes(dev[0], X_dev)
        theta = np.random.default_rng(self.seed).uniform(-self.init_scale, self.init_scale, len(self.symbols_))
        trainer = EpochTrainer(self, circuits, labels, dev, theta)
        progress = self._loop(checkpoint, resume, select=dev is not None).run(trainer)
        self.history_, self.best_epoch_, self.weights_ = progress.history, progress.best_epoch, trainer.theta
        return self

    def _loop(self, checkpoint: str | os.PathLike | None, resume: bool, select: bool) -> Loop:
        """The training loop with this classifier's epochs, patience and checkpoint settings."""
        from qnlp.persist import RESTART

        settings = {name: value for name, value in self.get_params(deep=False).items() if name not in UNCHECKED}
        settings["compile"] = getattr(self.compile, "config", None)
        return Loop(epochs=self.epochs, patience=self.patience, select=select, checkpoint=checkpoint, resume=resume,
                    kind=CHECKPOINT_KIND, settings=settings, error=QnlpError, restart=RESTART,
                    progress=self.progress, desc="training", unit="epoch", postfix=("train_loss", "dev_acc"))

    def _adam_step(self, theta: np.ndarray, circuits: list[SentenceCircuit], idx: np.ndarray, labels: np.ndarray,
                   state: dict[str, Any], epoch: int) -> tuple[np.ndarray, float]:
        import torch

        t = torch.tensor(theta, dtype=torch.float64, requires_grad=True)
        opt = torch.optim.Adam([t], lr=self.learning_rate)
        if "adam" in state:
            opt.load_state_dict(state["adam"])
        for group in opt.param_groups:  # the epoch's learning rate (lr_decay), not the one saved in the state
            group["lr"] = state.get("lr", self.learning_rate)
        probs = self._class_probs(circuits, t, idx)
        logp = torch.log(probs + 1e-12)
        k = probs.shape[1]
        eps = self.label_smoothing
        target = torch.full_like(probs, eps / max(k - 1, 1))
        target[torch.arange(len(labels)), torch.as_tensor(labels)] = 1.0 - eps
        nll = -(target * logp).sum(1).mean()
        loss = nll + self.weight_decay * (t ** 2).sum() if self.weight_decay else nll
        opt.zero_grad()
        loss.backward()
        opt.step()
        state["adam"] = opt.state_dict()
        return t.detach().numpy().copy(), float(nll.detach())

    def _spsa_step(self, theta: np.ndarray, circuits: list[SentenceCircuit], idx: np.ndarray, labels: np.ndarray,
                   state: dict[str, Any], epoch: int) -> tuple[np.ndarray, float]:
        k = state.get("spsa_k", 0)
        p = self.spsa_gains
        a_k = p["a"] / (k + 1 + p["A"]) ** p["alpha"]
        c_k = p["c"] / (k + 1) ** p["gamma"]
        rng = np.random.default_rng([self.seed, epoch, k])
        delta = rng.choice([-1.0, 1.0], size=theta.shape)
        plus = self._sampled_loss(circuits, idx, labels, theta + c_k * delta, rng)
        minus = self._sampled_loss(circuits, idx, labels, theta - c_k * delta, rng)
        state["spsa_k"] = k + 1
        return theta - a_k * (plus - minus) / (2 * c_k) * delta, (plus + minus) / 2

    def _sampled_loss(self, circuits: list[SentenceCircuit], idx: np.ndarray, labels: np.ndarray,
                      theta: np.ndarray, rng: np.random.Generator) -> float:
        probs = np.asarray(self._class_probs(circuits, theta, idx))
        if self.shots is not None:  # estimate each distribution from a finite number of shots
            probs = np.stack([rng.multinomial(self.shots, p / p.sum()) for p in probs]) / self.shots
        return _cross_entropy(probs, labels)

    # --- persistence -----------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> None:
        """Safetensors weights + JSON description (the compiler's ``config`` must say how to rebuild it)."""
        from qnlp.persist import save_model

        save_model(self, path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> QuantumClassifier:
        """A classifier saved by ``save``; every field is checked (one error naming the file)."""
        from qnlp.persist import load_model

        return load_model(path, cls)

    @property
    def n_parameters(self) -> int:
        return len(self.symbols_)


CHECKPOINT_KIND = "qnlp.QuantumClassifier"
"""The classifiers' kind in training checkpoints (``tnq.training``)."""

UNCHECKED = ("compile", "epochs", "patience", "progress")
"""Parameters a run may change when it resumes a checkpoint (the others must equal the checkpoint's)."""


class EpochTrainer:
    """A classifier's side of the training protocol (``tnq.training.Trainer``): one epoch of mini-batch steps
    over the training circuits, the dev score, and the state (parameters and optimiser moments)."""

    def __init__(self, clf: QuantumClassifier, circuits: list[SentenceCircuit] | None, labels: np.ndarray | None,
                 dev: tuple[list[SentenceCircuit], np.ndarray] | None, theta: np.ndarray | None) -> None:
        self.clf, self.circuits, self.labels, self.dev = clf, circuits, labels, dev
        self.theta, self.optimizer_state = theta, {}

    def run_epoch(self, epoch: int) -> dict[str, Any]:
        """Shuffled mini-batches of Adam or SPSA steps; the record holds the train loss / accuracy (and dev)."""
        clf, circuits, labels = self.clf, self.circuits, self.labels
        tick = time.perf_counter()
        order = np.random.default_rng([clf.seed, epoch]).permutation(len(circuits))
        self.optimizer_state["lr"] = clf.learning_rate * clf.lr_decay ** epoch
        step = clf._adam_step if clf.optimizer == "adam" else clf._spsa_step
        size = clf.batch_size or len(circuits)
        losses = []
        for b in range(0, len(order), size):
            idx = order[b:b + size]
            self.theta, loss = step(self.theta, circuits, idx, labels[idx], self.optimizer_state, epoch)
            losses.append(loss * len(idx))
        record = {"epoch": epoch + 1, "train_loss": float(np.sum(losses) / len(order)),
                  "seconds": time.perf_counter() - tick}
        probs = np.asarray(clf._class_probs(circuits, self.theta))
        record["train_acc"] = float(np.mean(probs.argmax(1) == labels))
        if self.dev is not None:
            dev_probs = np.asarray(clf._class_probs(self.dev[0], self.theta))
            record["dev_loss"] = _cross_entropy(dev_probs, self.dev[1])
            record["dev_acc"] = float(np.mean(dev_probs.argmax(1) == self.dev[1]))
        return record

    def score(self, record: dict[str, Any]) -> tuple[float, float] | None:
        """Best dev accuracy, ties broken by the lower dev loss (``selection="loss"``: the other way round)."""
        if "dev_loss" not in record:
            return None
        if self.clf.selection == "accuracy":
            return -record["dev_acc"], record["dev_loss"]
        return record["dev_loss"], -record["dev_acc"]

    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Parameters and optimiser state, copied (see ``qnlp.persist.training_state``)."""
        from qnlp.persist import training_state

        return training_state(self.clf, self.theta, self.optimizer_state)

    def load_state(self, tensors: dict[str, np.ndarray], meta: dict[str, Any], where: str) -> None:
        """Check a state against the classifier (its symbols and classes) and continue from it."""
        from qnlp.persist import restore_state

        self.theta, self.optimizer_state = restore_state(self.clf, where, tensors, meta)


def classification_metrics(y_true: Sequence[Any], y_pred: Sequence[Any], classes: Sequence[Any],
                           names: Sequence[str] | None = None) -> dict[str, Any]:
    """Accuracy, confusion matrix (``confusion[i][j]``: items of class ``classes[i]`` predicted as ``classes[j]``)
    and per-class precision / recall / support (keyed by ``names``, default ``str(class)``; a class never
    predicted has precision 0, one never present recall 0), for the ``qnlp evaluate`` commands."""
    classes = list(classes)
    names = [str(c) for c in classes] if names is None else list(names)
    index = {c: i for i, c in enumerate(classes)}
    confusion = np.zeros((len(classes), len(classes)), dtype=np.int64)
    for true, pred in zip(np.asarray(y_true).tolist(), np.asarray(y_pred).tolist(), strict=True):
        confusion[index[true], index[pred]] += 1
    hits, predicted, support = np.diag(confusion), confusion.sum(0), confusion.sum(1)
    total = int(confusion.sum())
    return {"accuracy": float(hits.sum() / total) if total else 0.0, "sequences": total,
            "classes": names, "confusion": confusion.tolist(),
            "per_class": {name: {"precision": float(hits[i] / predicted[i]) if predicted[i] else 0.0,
                                 "recall": float(hits[i] / support[i]) if support[i] else 0.0,
                                 "support": int(support[i])} for i, name in enumerate(names)}}


def _cross_entropy(probs: np.ndarray, labels: np.ndarray) -> float:
    return float(-np.mean(np.log(probs[np.arange(len(labels)), labels] + 1e-12)))


def load_checkpoint(model: QuantumClassifier, path: str | os.PathLike) -> tuple:
    """(theta, optimiser state, next epoch, (best score, best theta), history) of a training checkpoint, checked
    against the model's settings, symbols and classes; an error says how to start over instead."""
    trainer = EpochTrainer(model, None, None, None, None)
    progress = model._loop(path, resume=True, select=True).restore(trainer)
    best = progress.best_state[0]["theta"] if progress.best_state is not None else trainer.theta.copy()
    return trainer.theta, trainer.optimizer_state, progress.epoch, (progress.best_score, best), progress.history
