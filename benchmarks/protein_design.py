"""Design study for the default protein localisation model (Cytoplasm vs Cell.membrane, DeepLoc 1.0): windowed
quantum mixture models pooled along the chain, measured by stratified 5-fold cross-validation on the labelled
DeepLoc validation proteins and, trained on all of them, on setHARD.

The quantum model, as qnlp builds it: every window of ``window`` consecutive residues is a stairs (``ptn``) diagram
``START r_1 ... r_W`` read by ``ProteinReader(model="ptn", start=True, alphabet=A, unknown="map")``, its words sent
by ``ProteinCompiler(ansatz="mixture", qubits=q, coordinates="log-weights")`` to real states on ``q`` qubits copied
onto the state wire and post-selected, so the window's state is ``P(s) ∝ exp(b(s) + sum_r w_r(s))`` over the
``2^q`` basis states ``s`` (a product of experts); the class is the first qubit (``readout="marginal"``): a
mixture of ``2^(q-1)`` log-linear window experts per class. ``positions=P > 1`` gives each of P equal segments of
the window its own residue words (words ``token@segment``: a position-specific scoring matrix). The window class
probabilities are pooled per protein (``mean`` probability, ``max``, ``lse`` = soft maximum of the window logits
at temperature T, ``noisyor``) and the pooled probability is trained end to end (multiple-instance learning: a
membrane protein needs one membrane-like window, not all of them). ``nterm=N`` / ``cterm=C`` add a window on the
first N / last C residues read with their own words per position (alphabet ``ends``: signal peptides, myristoylation,
CAAX boxes, anchors), pooled with the others (``combine="pool"``) or adding their odds to the pooled odds
(``combine="odds"``); ``restarts=R`` keeps the best of R initialisations by training loss. ``mean=A`` adds a second
channel of windows read over alphabet A with their own words, whose window logits are averaged over the protein
(qnlp's ``geomean`` pooling, a learned composition score; closed form exact for q = 1; A may be groups such as
``KR/DE``, the rest of the residues one more group) and whose odds multiply the
first channel's.

This file evaluates that model in torch by its closed form (sums of log-weights over sliding windows by cumulative
sums; exact, no sampling). ``--check`` compares that closed form with qnlp's own circuits (ProteinCompiler, tnq
contraction) on random parameters (``positions=1``), so the figures are those of the model qnlp builds.

    python benchmarks/protein_design.py --stage baselines|pooling|alphabet|structure|ends|odds|channels|all
        [--folds 5] [--repeats 1] [--hard]
        [--config window=19,pool=lse,alphabet=hydro3 ...] [--json out.json] [--check]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import asdict, dataclass, replace

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from qnlp.protein.alphabet import STANDARD, Alphabet, get_alphabet  # noqa: E402
from qnlp.protein.baseline import hydropathy_features  # noqa: E402
from qnlp.protein.loaders import read_fasta  # noqa: E402
from qnlp.protein.sequences import SequenceSet  # noqa: E402
from tnq.io import atomic_write_text  # noqa: E402

DATA = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "datasets", "deeploc")
CLASSES = ("Cytoplasm", "Cell.membrane")
LABEL_REGEX = r"(?P<label>Cytoplasm|Cell\.membrane)-"
POOLS = ("mean", "max", "lse", "noisyor")

@dataclass(frozen=True)
class Design:
    """One candidate model: alphabet, window length, qubits per word, position segments, N-terminal window,
    pooling (and its temperature), and the training schedule (full-batch Adam, L2 on the log-weights)."""

    alphabet: str = "hydro3"
    window: int = 19
    qubits: int = 1
    positions: int = 1
    nterm: int = 0
    cterm: int = 0
    ends: str = "aa20"
    combine: str = "pool"
    pool: str = "lse"
    temperature: float = 1.0
    epochs: int = 150
    lr: float = 0.05
    l2: float = 1e-3
    init: float = 0.1
    restarts: int = 1
    mean: str = ""  # alphabet of a second window channel, its window logits averaged (composition), odds multiplied

    @property
    def name(self) -> str:
        pool = f"lse{self.temperature:g}" if self.pool == "lse" else self.pool
        ends = f"-n{self.nterm}c{self.cterm}{self.ends}{'' if self.combine == 'pool' else '+odds'}" \
            if self.nterm or self.cterm else ""
        return (f"{self.alphabet}-w{self.window}-q{self.qubits}-p{self.positions}{ends}-{pool}"
                + (f"+mean{self.mean}" if self.mean else "")
                + f"-e{self.epochs}-l2{self.l2:g}" + (f"-r{self.restarts}" if self.restarts > 1 else ""))

    def words(self) -> int:
        """Residue words of the alphabet (``X`` for non-standard residues included)."""
        return len(get_alphabet(self.alphabet).vocabulary("map"))

    def parameters(self) -> int:
        """Trained log-weights: ``2^q - 1`` per word (per position segment), START, and the end windows' words
        (one set per residue position) and START words."""
        per_word = 2 ** self.qubits - 1
        end_words = len(get_alphabet(self.ends).vocabulary("map"))
        ends = sum((n * end_words + 1) * per_word for n in (self.nterm, self.cterm) if n)
        mean = (len(mean_alphabet(self.mean).vocabulary("map")) + 1) * per_word if self.mean else 0
        return self.words() * self.positions * per_word + per_word + ends + mean


def mean_alphabet(name: str) -> Alphabet:
    """A built-in alphabet, or groups written ``KR/DE``: those groups and one more of the remaining residues."""
    if "/" not in name:
        return get_alphabet(name)
    groups = name.upper().split("/")
    rest = "".join(r for r in STANDARD if not any(r in g for g in groups))
    return Alphabet.from_groups(name, groups + ([rest] if rest else []))


# --- data --------------------------------------------------------------------------------------------------------
def load(name: str) -> SequenceSet:
    """Cytoplasm (0) / Cell.membrane (1) proteins of a DeepLoc file, others skipped (as the CLI's label regex)."""
    return read_fasta(os.path.join(DATA, name), "header", label_regex=LABEL_REGEX, classes=CLASSES,
                      skip_unlabelled=True)


@dataclass
class Encoded:
    """Every window of every protein as word counts per position segment (``counts``: windows x segments*words;
    a protein shorter than the window is one window), the protein each window belongs to (``owner``), and the
    words (``ends`` alphabet, one-hot per position) of each protein's first ``nterm`` (``heads``) and last ``cterm``
    residues (``tails``)."""

    counts: torch.Tensor
    owner: torch.Tensor
    heads: torch.Tensor
    tails: torch.Tensor
    count: int
    weight: torch.Tensor  # how many windows of the protein have these counts (identical rows merged)
    means: torch.Tensor | None = None  # (proteins, words): mean window word counts over the ``mean`` alphabet


def encode(sequences: list[str], design: Design) -> Encoded:
    """Window word counts (alphabet with non-standard residues mapped to ``X``) by cumulative sums of one-hot words."""
    alphabet = get_alphabet(design.alphabet)
    vocabulary = alphabet.vocabulary("map")
    index = {t: i for i, t in enumerate(vocabulary)}
    bounds = np.round(np.linspace(0, design.window, design.positions + 1)).astype(int)
    end_alphabet = get_alphabet(design.ends)
    end_index = {t: i for i, t in enumerate(end_alphabet.vocabulary("map"))}
    counts, owner, heads, tails, means = [], [], [], [], []
    second = mean_alphabet(design.mean) if design.mean else None
    for i, sequence in enumerate(sequences):
        if second is not None:  # mean over windows of their word counts (exact, by cumulative sums)
            mean_index = {t: j for j, t in enumerate(second.vocabulary("map"))}
            ids = [mean_index[t] for t in second.encode(sequence, f"#{i}", "map")]
            hot = np.zeros((len(ids) + 1, len(mean_index)))
            hot[np.arange(1, len(ids) + 1), ids] = 1
            cum = hot.cumsum(0)
            first = np.arange(max(len(ids) - design.window, 0) + 1)
            means.append((cum[np.minimum(first + design.window, len(ids))] - cum[first]).mean(0))
        words = np.array([index[t] for t in alphabet.encode(sequence, f"#{i}", "map")])
        one_hot = np.zeros((len(words) + 1, len(vocabulary)), dtype=np.float32)
        one_hot[np.arange(1, len(words) + 1), words] = 1
        cum = one_hot.cumsum(0)
        starts = np.arange(max(len(words) - design.window, 0) + 1)
        ends = np.minimum(starts[:, None] + bounds[None], len(words))  # (windows, segments + 1)
        counts.append(np.concatenate([cum[ends[:, p + 1]] - cum[ends[:, p]] for p in range(design.positions)], 1))
        owner.append(np.full(len(starts), i))
        end_words = [end_index[t] for t in end_alphabet.encode(sequence, f"#{i}", "map")]
        heads.append(_one_hot(end_words[:design.nterm], design.nterm, len(end_index)))
        tails.append(_one_hot(end_words[::-1][:design.cterm], design.cterm, len(end_index)))
    # windows of one protein with equal counts have equal logits: keep one row each, with its multiplicity
    rows, weight = np.unique(np.concatenate([np.concatenate(owner)[:, None], np.concatenate(counts)], 1), axis=0,
                             return_counts=True)
    return Encoded(torch.as_tensor(rows[:, 1:], dtype=torch.float64), torch.as_tensor(rows[:, 0].astype(np.int64)),
                   torch.as_tensor(np.array(heads), dtype=torch.float64),
                   torch.as_tensor(np.array(tails), dtype=torch.float64), len(sequences),
                   torch.as_tensor(weight, dtype=torch.float64),
                   torch.as_tensor(np.array(means)) if means else None)


def _one_hot(words: list[int], positions: int, size: int) -> np.ndarray:
    """Flattened (positions x size) one-hot rows of ``words`` (positions past the end stay zero)."""
    out = np.zeros((positions, size), dtype=np.float32)
    out[np.arange(len(words)), words] = 1
    return out.reshape(-1)


# --- model -------------------------------------------------------------------------------------------------------
class WindowMixture(torch.nn.Module):
    """The closed form of the windowed mixture circuit: per window, basis-state log-weights ``b + sum_r w_r``
    (state 0's weights fixed at 0), class logit = logsumexp over states with first qubit 1 minus over states with
    first qubit 0; window logits pooled per protein."""

    def __init__(self, design: Design, seed: int) -> None:
        super().__init__()
        self.design = design
        gen = torch.Generator().manual_seed(seed)
        k = 2 ** design.qubits - 1
        words = design.words()

        def weights(*shape: int) -> torch.nn.Parameter:
            return torch.nn.Parameter(torch.randn(*shape, generator=gen, dtype=torch.float64) * design.init)

        self.w = weights(design.positions, words, k)
        self.start = weights(k)
        end_words = len(get_alphabet(design.ends).vocabulary("map"))
        self.ends = torch.nn.ParameterList()
        for n in (design.nterm, design.cterm):
            if n:  # "odds": an end window starts as weak evidence (odds e^-4), the pooled windows decide at first
                start = weights(k)
                if design.combine == "odds":
                    start.data[-1] -= 4.0
                self.ends.extend([weights(n * end_words, k), start])
        if design.mean and design.qubits != 1:
            raise ValueError("mean=A: the closed form (averaged window logits linear in the counts) needs qubits=1")
        if design.mean:
            self.mean_w = weights(len(mean_alphabet(design.mean).vocabulary("map")), k)
            self.mean_start = weights(k)

    def _class_logit(self, states: torch.Tensor) -> torch.Tensor:
        """logsumexp of the basis-state log-weights with first qubit 1 minus those with first qubit 0."""
        states = torch.cat([torch.zeros(*states.shape[:-1], 1, dtype=states.dtype), states], -1)
        half = states.shape[-1] // 2
        return torch.logsumexp(states[..., half:], -1) - torch.logsumexp(states[..., :half], -1)

    def window_logits(self, data: Encoded) -> torch.Tensor:
        """Class logit of every window."""
        return self._class_logit(self.start + data.counts @ self.w.reshape(-1, self.w.shape[-1]))

    def end_logits(self, data: Encoded) -> list[torch.Tensor]:
        """Class logit of each protein's N-terminal and C-terminal windows (those the design has)."""
        ends = [x for x, n in ((data.heads, self.design.nterm), (data.tails, self.design.cterm)) if n]
        return [self._class_logit(start + x @ w) for x, w, start in zip(ends, self.ends[::2], self.ends[1::2])]

    def forward(self, data: Encoded) -> torch.Tensor:
        """Pooled log-probabilities ``(proteins, 2)`` of Cytoplasm / Cell.membrane. ``combine="pool"``: the end
        windows are pooled with the others; ``"odds"``: the odds of the pooled windows and of each end window add
        (membrane if any of them says so)."""
        z, ends = self.window_logits(data), self.end_logits(data)
        owner, weight = data.owner, data.weight
        if self.design.combine == "pool":
            for end in ends:
                z = torch.cat([z, end])
                owner = torch.cat([owner, torch.arange(data.count)])
                weight = torch.cat([weight, torch.ones(data.count, dtype=weight.dtype)])
            ends = []
        n = torch.zeros(data.count, dtype=z.dtype).index_add(0, owner, weight)
        pool = self.design.pool
        if pool == "mean":
            p = torch.zeros(data.count, dtype=z.dtype).index_add(0, owner, weight * torch.sigmoid(z)) / n
            p = p.clamp(1e-12, 1 - 1e-12)
            return torch.stack([torch.log1p(-p), torch.log(p)], 1)
        if pool == "noisyor":  # -log P(no window positive) = sum softplus(z)
            s = torch.zeros(data.count, dtype=z.dtype).index_add(0, owner, weight * torch.nn.functional.softplus(z))
            return torch.stack([-s, torch.log(-torch.expm1(-s).clamp_min(1e-300))], 1)
        if pool == "max":
            logit = torch.full((data.count,), -torch.inf, dtype=z.dtype).scatter_reduce(0, owner, z, "amax")
        else:  # lse: T * log mean exp(z / T)
            t = self.design.temperature
            top = torch.full((data.count,), -torch.inf, dtype=z.dtype).scatter_reduce(
                0, owner, z.detach() / t, "amax")
            total = torch.zeros(data.count, dtype=z.dtype).index_add(0, owner, weight * torch.exp(z / t - top[owner]))
            logit = t * (top + torch.log(total / n))
        if ends:
            logit = torch.logsumexp(torch.stack([logit, *ends]), 0)
        if self.design.mean:  # the mean of the second channel's window logits: its windows' normalised geometric mean
            logit = logit + self._class_logit(self.mean_start + data.means @ self.mean_w)
        return torch.stack([-torch.nn.functional.softplus(logit), -torch.nn.functional.softplus(-logit)], 1)


def fit(design: Design, sequences: list[str], labels: np.ndarray, seed: int = 0) -> WindowMixture:
    """Full-batch Adam on the pooled cross-entropy plus ``l2`` times the squared log-weights; with ``restarts``
    > 1, that many initialisations, keeping the one with the lowest final training objective."""
    data = encode(sequences, design)
    y = torch.as_tensor(np.array(labels))
    best, best_loss = None, np.inf
    for restart in range(design.restarts):
        model = WindowMixture(design, seed + 1000 * restart)
        optimiser = torch.optim.Adam(model.parameters(), lr=design.lr)
        for _ in range(design.epochs):
            optimiser.zero_grad()
            loss = torch.nn.functional.nll_loss(model(data), y) + design.l2 * sum(
                (p ** 2).sum() for p in model.parameters())
            loss.backward()
            optimiser.step()
        if loss.item() < best_loss:
            best, best_loss = model, loss.item()
    return best


def predict_proba(model: WindowMixture, sequences: list[str]) -> np.ndarray:
    """P(Cell.membrane) of each protein."""
    with torch.no_grad():
        return torch.exp(model(encode(sequences, model.design))[:, 1]).numpy()


# --- classical references ----------------------------------------------------------------------------------------
def classical(name: str, train: SequenceSet, test: SequenceSet) -> tuple[np.ndarray, int]:
    """P(Cell.membrane) on ``test`` of a classical reference trained on ``train``, and its parameter count."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if name == "composition-lr":
        from qnlp.protein.baseline import KmerBaseline

        model = KmerBaseline(k=1, unknown="map").fit(train)
        return model.predict_proba(list(test.sequences))[:, 1], model.num_parameters
    if name == "hydropathy-max-lr":  # the largest window only: the hydropathy-plot rule with a learned threshold
        columns = [0]
    elif name == "hydropathy-lr":
        columns = [0, 1, 2]
    else:
        raise ValueError(name)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    model.fit(hydropathy_features(list(train.sequences))[:, columns], train.labels)
    return model.predict_proba(hydropathy_features(list(test.sequences))[:, columns])[:, 1], len(columns) + 1


# --- evaluation --------------------------------------------------------------------------------------------------
def folds(data: SequenceSet, k: int, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified k-fold split (scikit-learn, shuffled with ``seed``)."""
    from sklearn.model_selection import StratifiedKFold

    return list(StratifiedKFold(k, shuffle=True, random_state=seed).split(np.zeros(len(data)), data.labels))


def evaluate(design: Design | str, data: SequenceSet, splits: list, hard: SequenceSet | None) -> dict:
    """Cross-validated accuracy (mean, std, per fold), training seconds per fold, parameters, and the setHARD
    accuracy of the model trained on all of ``data``."""
    accs, seconds, params = [], [], 0
    for i, (tr, te) in enumerate(splits):
        train, test = data.subset(tr), data.subset(te)
        start = time.perf_counter()
        if isinstance(design, Design):
            model = fit(design, list(train.sequences), train.labels, seed=i)
            seconds.append(time.perf_counter() - start)
            probs, params = predict_proba(model, list(test.sequences)), design.parameters()
        else:
            probs, params = classical(design, train, test)
            seconds.append(time.perf_counter() - start)
        accs.append(float(np.mean((probs >= 0.5) == test.labels)))
    row = {"config": design.name if isinstance(design, Design) else design,
           "design": asdict(design) if isinstance(design, Design) else None, "params": params,
           "cv_mean": float(np.mean(accs)), "cv_std": float(np.std(accs)), "folds": accs,
           "train_s": float(np.mean(seconds))}
    if hard is not None:
        start = time.perf_counter()
        if isinstance(design, Design):
            model = fit(design, list(data.sequences), data.labels)
            probs = predict_proba(model, list(hard.sequences))
        else:
            probs = classical(design, data, hard)[0]
        row["hard"] = float(np.mean((probs >= 0.5) == hard.labels))
        row["full_train_s"] = time.perf_counter() - start
    return row


def check_against_qnlp(qubits: int = 2, alphabet: str = "hydro3", window: int = 7, seed: int = 0) -> float:
    """Largest difference between the closed form's window class probabilities and those of qnlp's circuits
    (ProteinCompiler mixture ansatz in log-weight coordinates, START word, marginal readout, tnq contraction)
    for random log-weights on a few random windows."""
    from qnlp.evaluate import CompiledBatch
    from qnlp.protein.compile import ProteinCompiler
    from qnlp.protein.diagrams import START, ProteinReader

    design = Design(alphabet=alphabet, window=window, qubits=qubits, init=1.0)
    model = WindowMixture(design, seed)
    reader = ProteinReader(model="ptn", sharing="uniform", alphabet=alphabet, unknown="map", start=True)
    compiler = ProteinCompiler(reader, ansatz="mixture", qubits=qubits, coordinates="log-weights")
    vocabulary = get_alphabet(alphabet).vocabulary("map")
    rng = np.random.default_rng(seed)
    sequences = ["".join(rng.choice(list("ACDEFGHIKLMNPQRSTVWYX"), window)) for _ in range(6)]
    encoded = encode(sequences, design)
    with torch.no_grad():
        ours = torch.sigmoid(model.window_logits(encoded)).numpy()
    circuits = [compiler(reader.tokens(s)) for s in sequences]
    batch = CompiledBatch(circuits, sorted({n for c in circuits for n in c.symbols}))
    table = {f"{word}__s_{i}": v for word, row in zip(vocabulary, model.w[0].detach().numpy())
             for i, v in enumerate(row)}
    table.update({f"{START}__s_{i}": v for i, v in enumerate(model.start.detach().numpy())})
    coords = np.array([table[n] for n in batch.symbols])
    probs = np.asarray(batch.probabilities(compiler.symbol_values(batch.symbols, coords)))
    theirs = probs.reshape(len(sequences), 2, -1).sum(-1)
    theirs = theirs[:, 1] / theirs.sum(1)
    return float(np.abs(ours - theirs).max())


def check_mean_channel(alphabet: str = "dayhoff6", window: int = 7, length: int = 30, seed: int = 0) -> float:
    """Largest difference between the closed form of the ``mean`` channel (the window logits averaged over a
    protein, from its mean window word counts) and qnlp's own route: every window's circuit contracted by tnq, the
    window probabilities pooled by ``qnlp.protein.windows.pool(how="geomean")`` (normalised geometric mean)."""
    from qnlp.evaluate import CompiledBatch
    from qnlp.protein.compile import ProteinCompiler
    from qnlp.protein.diagrams import START, ProteinReader
    from qnlp.protein.windows import pool, sliding_windows

    design = Design(alphabet="hydro3", window=window, mean=alphabet, init=1.0)
    model = WindowMixture(design, seed)
    reader = ProteinReader(model="ptn", sharing="uniform", alphabet=alphabet, unknown="map", start=True)
    compiler = ProteinCompiler(reader, ansatz="mixture", qubits=1, coordinates="log-weights")
    rng = np.random.default_rng(seed)
    proteins = ["".join(rng.choice(list("ACDEFGHIKLMNPQRSTVWYX"), n)) for n in (length, length + 11, window)]
    with torch.no_grad():
        ours = torch.sigmoid(model._class_logit(model.mean_start + encode(proteins, design).means @ model.mean_w))
    circuits, owner = [], []
    for i, protein in enumerate(proteins):
        for piece in sliding_windows(protein, window, 1):
            circuits.append(compiler(reader.tokens(piece)))
            owner.append(i)
    batch = CompiledBatch(circuits, sorted({n for c in circuits for n in c.symbols}))
    table = {f"{word}__s_0": float(v) for word, v in zip(get_alphabet(alphabet).vocabulary("map"),
                                                         model.mean_w.detach().numpy()[:, 0])}
    table[f"{START}__s_0"] = float(model.mean_start.detach().numpy()[0])
    probs = np.asarray(batch.probabilities(compiler.symbol_values(batch.symbols,
                                                                  np.array([table[n] for n in batch.symbols]))))
    probs = probs.reshape(len(circuits), 2, -1).sum(-1)
    theirs = pool(probs / probs.sum(1, keepdims=True), np.array(owner), len(proteins), "geomean")[:, 1]
    return float(np.abs(ours.numpy() - theirs).max())


# --- the stages of the study ---------------------------------------------------------------------------------------
BASE = Design()
STAGES: dict[str, list[Design | str]] = {
    "baselines": ["composition-lr", "hydropathy-max-lr", "hydropathy-lr"],
    "pooling": [replace(BASE, window=w, pool=p) for w in (9, 15, 19, 21) for p in ("mean", "max", "lse")]
    + [replace(BASE, pool="noisyor"), replace(BASE, pool="lse", temperature=0.3),
       replace(BASE, pool="lse", temperature=3.0)],
    "alphabet": [replace(BASE, alphabet=a) for a in ("aa20", "dayhoff6", "conjoint7")],
    "structure": [replace(BASE, nterm=40, ends="hydro3"), replace(BASE, positions=3),
                  replace(BASE, qubits=2, init=0.5), replace(BASE, qubits=3, init=0.5),
                  replace(BASE, alphabet="aa20", qubits=2, init=0.5)],
    # N- / C-terminal windows with per-position aa20 words (myristoylation / signal peptides; CAAX, GPI, anchors)
    "ends": [replace(BASE, alphabet="dayhoff6", nterm=10, cterm=6), replace(BASE, nterm=10, cterm=6),
             replace(BASE, alphabet="dayhoff6", cterm=6), replace(BASE, alphabet="dayhoff6", nterm=10),
             replace(BASE, alphabet="dayhoff6", nterm=10, cterm=6, ends="dayhoff6")],
    # end windows whose odds add to the pooled windows' odds (restarts: one start in five gets stuck)
    "odds": [replace(BASE, alphabet="dayhoff6", nterm=6, cterm=4, combine="odds", restarts=r, l2=l2)
             for r in (1, 3) for l2 in (1e-3, 3e-3)]
    + [replace(BASE, alphabet="dayhoff6", nterm=6, cterm=4, combine="odds", ends="dayhoff6", l2=3e-3, restarts=3),
       replace(BASE, alphabet="dayhoff6", nterm=10, cterm=6, combine="odds", l2=3e-3, restarts=3),
       replace(BASE, nterm=6, cterm=4, combine="odds", restarts=3)],
    # a second window channel, its window logits averaged (geomean pooling: composition), odds multiplied with
    # the soft-max pooled channel's (run with --repeats 3)
    "channels": [replace(BASE, alphabet="dayhoff6"), replace(BASE, alphabet="dayhoff6", mean="dayhoff6"),
                 replace(BASE, alphabet="dayhoff6", mean="dayhoff6", epochs=400),
                 replace(BASE, alphabet="dayhoff6", mean="aa20", l2=0.01),
                 replace(BASE, alphabet="dayhoff6", mean="KR/DE"),
                 replace(BASE, alphabet="dayhoff6", mean="KR/DE", l2=0.01),
                 replace(BASE, alphabet="dayhoff6", mean="dayhoff6", l2=0.01),
                 replace(BASE, alphabet="dayhoff6", mean="dayhoff6", nterm=6, cterm=4, combine="odds", l2=3e-3,
                         restarts=3)],
}


def parse_config(text: str) -> Design:
    """``key=value,...`` over :class:`Design`'s fields (e.g. ``window=15,pool=max,alphabet=aa20``)."""
    fields = {}
    for item in text.split(","):
        key, _, value = item.partition("=")
        default = getattr(BASE, key)
        fields[key] = type(default)(value)
    return replace(BASE, **fields)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", action="append", default=[], choices=[*STAGES, "all"])
    parser.add_argument("--config", action="append", default=[], help="a Design as key=value,... (repeatable)")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=1,
                        help="repeat the k folds with fold seeds 0..R-1 (mean ± std over all R*k folds)")
    parser.add_argument("--hard", action="store_true", help="also train on all 460 and evaluate on setHARD")
    parser.add_argument("--check", action="store_true", help="compare the closed form with qnlp's circuits")
    parser.add_argument("--json", default=None, help="append rows to this JSON-lines file")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.check:
        for q in (1, 2, 3):
            print(f"closed form vs qnlp circuits, {q} qubit(s): max |difference| {check_against_qnlp(q):.2e}")
        print(f"mean channel vs qnlp circuits pooled by geomean: max |difference| {check_mean_channel():.2e}")
    data = load("deeploc_our_val_set.fasta")
    hard = load("setHARD.fasta") if args.hard else None
    print(f"{data.summary()}" + (f"; setHARD {hard.summary()}" if hard is not None else ""), flush=True)
    splits = [split for seed in range(args.repeats) for split in folds(data, args.folds, seed)]
    stages = list(STAGES) if "all" in args.stage else args.stage
    todo = [d for s in stages for d in STAGES[s]] + [parse_config(c) for c in args.config]
    print(f"{'config':<46} {'params':>6} {'cv acc':>14} {'train s':>8} {'setHARD':>8}", flush=True)
    for design in todo:
        row = evaluate(design, data, splits, hard)
        print(f"{row['config']:<46} {row['params']:>6} {row['cv_mean']:>7.3f} ± {row['cv_std']:.3f} "
              f"{row['train_s']:>8.1f} {row.get('hard', float('nan')):>8.3f}", flush=True)
        if args.json:
            old = open(args.json).read() if os.path.exists(args.json) else ""
            atomic_write_text(args.json, old + json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
