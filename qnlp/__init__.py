"""Quantum NLP front-end: text -> DisCoPy diagrams -> tnq circuits -> trained classifiers.

- ``parse`` / ``parse_tagged``: offline pregroup lexicon + CKY parser (no model download), and the lexicon-free
  readers (spiders, cups, stairs, tree) users know from lambeq;
- ``IQPAnsatz``, ``Sim14Ansatz``, ``Sim15Ansatz``, ``StronglyEntanglingAnsatz``: DisCoPy functors to circuits, with
  ``remove_cups`` to cut post-selected qubits;
- ``Pipeline`` (sentence -> tnq circuit) and ``QuantumClassifier`` (fit / predict / score), evaluated through
  tnq's contraction backend with torch autograd.
"""

from qnlp.ansatz import IQPAnsatz, Sim14Ansatz, Sim15Ansatz, StronglyEntanglingAnsatz, bind_circuit
from qnlp.corpus import Example, load_examples, read_csv, read_plain, read_tagged
from qnlp.errors import LexiconError, NoParseError, QnlpError, UnknownWordError
from qnlp.grammar import TAG_TYPES, Lexicon, N, S, parse_type
from qnlp.model import QuantumClassifier
from qnlp.parser import parse, parse_tagged, parse_types
from qnlp.pipeline import Pipeline
from qnlp.readers import (
    CupsReader,
    PregroupReader,
    SpidersReader,
    StairsReader,
    TreeReader,
    cups_reader,
    from_lambeq,
    spiders_reader,
    stairs_reader,
    to_lambeq,
    tree_reader,
)
from qnlp.rewrite import remove_cups

__all__ = [
    "IQPAnsatz", "Sim14Ansatz", "Sim15Ansatz", "StronglyEntanglingAnsatz", "bind_circuit",
    "Example", "load_examples", "read_csv", "read_plain", "read_tagged",
    "LexiconError", "NoParseError", "QnlpError", "UnknownWordError",
    "TAG_TYPES", "Lexicon", "N", "S", "parse_type",
    "QuantumClassifier", "Pipeline",
    "parse", "parse_tagged", "parse_types",
    "CupsReader", "PregroupReader", "SpidersReader", "StairsReader", "TreeReader", "cups_reader", "from_lambeq",
    "spiders_reader", "stairs_reader", "to_lambeq", "tree_reader",
    "remove_cups",
]
