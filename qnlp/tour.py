"""qnlp's section of ``tnq tour`` (registered under the ``tnq.tour`` entry-point group): offline parsing, functors
to circuits checked against DisCoPy, and small sentence and protein classifiers trained on tnq."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tnq import formatting as fmt
from tnq.tour import Report, timed


def section(report: Report, out: Path) -> None:
    """Parse offline, map diagrams to circuits with an ansatz functor, train a sentence classifier on tnq."""
    report.section("QNLP: offline pregroup parsing, DisCoPy functors to circuits, a classifier trained on tnq")
    _qnlp_parsing(report)
    _qnlp_circuit_vs_discopy(report)
    _qnlp_classifier(report, out)
    _protein_classifier(report)


def _protein_classifier(report: Report) -> None:
    """Residues as words: a PTN (stairs) classifier on synthetic hydrophobic vs charged peptides."""
    from qnlp.protein import ProteinReader
    from qnlp.protein.compile import ProteinCompiler
    from qnlp.protein.model import ProteinClassifier

    rng = np.random.default_rng(0)
    hydrophobic, charged = "AILMFVWG", "KRDEHNQS"

    def peptide(label: int) -> str:
        pool = hydrophobic if label else charged
        return "".join(rng.choice(list(pool if rng.random() < 0.7 else hydrophobic + charged))
                       for _ in range(int(rng.integers(8, 16))))

    labels = [int(v) for v in rng.integers(0, 2, 80)]
    peptides = [peptide(v) for v in labels]
    clf = ProteinClassifier(ProteinCompiler(ProteinReader("ptn", "uniform"), "controlled"), epochs=15,
                            learning_rate=0.03, batch_size=16, init_scale=0.1, seed=0, progress=False)
    _, seconds = timed(lambda: clf.fit(peptides[:60], labels[:60]))
    accuracy = clf.score(peptides[60:], labels[60:])
    report.check("protein PTN classifier (residues as words)", accuracy >= 0.8,  # chance is 0.5
                 f"synthetic hydrophobic vs charged peptides of 8-15 residues: {clf.n_parameters} parameters, "
                 f"test accuracy {accuracy:.2f} on 20 held-out peptides ({fmt.seconds(seconds)}); real peptides: "
                 "qnlp protein train --modlamp AMPvsTM --preset peptides")


def _qnlp_circuit_vs_discopy(report: Report) -> None:
    from qnlp import IQPAnsatz, bind_circuit, parse_tagged, remove_cups
    from qnlp.circuits import from_discopy
    from qnlp.evaluate import amplitudes

    ansatz = IQPAnsatz({"n": 1, "s": 1}, n_layers=2)
    circuit = ansatz(remove_cups(parse_tagged("skillful_ADJ woman_N cooks_TV tasty_ADJ dinner_N")))
    values = {s.name: v for s, v in zip(ansatz.symbols(circuit), np.random.default_rng(2).uniform(-1, 1, 99))}
    translated = from_discopy(circuit)
    ours = amplitudes([translated], values)[0]
    reference = np.asarray(bind_circuit(circuit, values).eval().array, dtype=complex).reshape(-1)
    error = float(np.abs(ours - reference).max())
    report.check("sentence circuit through tnq vs DisCoPy eval", error < 1e-10,
                 f"IQP, 2 layers, cups removed: {translated.circuit.num_qubits} qubits, "
                 f"{len(translated.postselect)} post-selected; max |amplitude difference| {error:.1e}")


def _qnlp_classifier(report: Report, out: Path) -> None:
    from qnlp import Pipeline, QuantumClassifier
    from qnlp.data import generate_mc
    from qnlp.plots import plot_learning_curve

    examples = generate_mc(72, seed=4)
    texts, labels = [" ".join(e.tagged) for e in examples], [e.label for e in examples]
    clf = QuantumClassifier(Pipeline(reader="pregroup", ansatz="iqp"), epochs=40, learning_rate=0.1, seed=0,
                            progress=False)
    _, seconds = timed(lambda: clf.fit(texts[:40], labels[:40], texts[40:52], labels[40:52]))
    accuracy = clf.score(texts[52:], labels[52:])
    plot_learning_curve(clf.history_, out / "qnlp_learning_curve.png", title="synthetic MC, IQP ansatz")
    report.check("sentence classifier on synthetic MC data", accuracy >= 0.75,  # chance is 0.5
                 f"{clf.n_parameters} parameters, Adam through torch autograd on tnq contractions: test accuracy "
                 f"{accuracy:.2f} on 20 held-out sentences after {len(clf.history_)} epochs "
                 f"({fmt.seconds(seconds)}); learning curve in qnlp_learning_curve.png")


def _qnlp_parsing(report: Report) -> None:
    """Offline pregroup parsing: sentences reduce to the sentence type s, word order matters."""
    from qnlp import NoParseError, parse_tagged

    sentence = "skillful_ADJ chef_N prepares_TV tasty_ADJ meal_N"
    diagram = parse_tagged(sentence, target="s")
    phrase = parse_tagged("device_N that_RPRON programmer_N uses_TV", target="n")
    try:
        parse_tagged("prepares_TV skillful_ADJ chef_N tasty_ADJ meal_N", target="s")
        rejected = False
    except NoParseError:
        rejected = True
    report.check("pregroup CKY parser", str(diagram.cod) == "s" and str(phrase.cod) == "n" and rejected,
                 f"'{' '.join(w.split('_')[0] for w in sentence.split())}' -> {diagram.cod}; an object relative "
                 f"clause -> {phrase.cod}; verb-first word order rejected: {rejected}")
