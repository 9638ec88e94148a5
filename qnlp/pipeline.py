"""Sentence -> diagram -> circuit, as one configurable object: a reader (pregroup parser or a
lexicon-free reader), optional cup removal, an ansatz functor, and the translation to tnq. Its
``config`` is plain JSON, so a saved classifier rebuilds the same pipeline."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from qnlp.circuits import SentenceCircuit, from_discopy, from_functor
from qnlp.errors import QnlpError

READERS = ("pregroup", "spiders", "cups", "stairs", "tree")
ANSATZE = {"iqp": "IQPAnsatz", "sim14": "Sim14Ansatz", "sim15": "Sim15Ansatz",
           "strongly-entangling": "StronglyEntanglingAnsatz"}


def tokens(sentence: str) -> list[str]:
    """Whitespace tokens without a final full stop (lambeq's data files end sentences with ' .')."""
    words = sentence.split()
    return words[:-1] if len(words) > 1 and words[-1] in {".", "!", "?"} else words


class Pipeline:
    """Compile items to tnq sentence circuits. Items are strings (read with ``reader``; with the pregroup
    reader, ``word_TAG`` tokens are typed by their tag, plain words through ``lexicon``), DisCoPy pregroup
    diagrams, or DisCoPy quantum circuits (used as they are)."""

    def __init__(self, reader: str = "pregroup", ansatz: str = "iqp", qubits: Mapping[str, int] | None = None,
                 layers: int = 1, single_qubit_params: int = 3, remove_cups: bool = True, target: str = "s",
                 share: Mapping[str, str] | None = None, lexicon: Mapping[str, Any] | None = None) -> None:
        if reader not in READERS:
            raise QnlpError(f"unknown reader {reader!r}; choose one of {', '.join(READERS)}")
        if ansatz not in ANSATZE:
            raise QnlpError(f"unknown ansatz {ansatz!r}; choose one of {', '.join(ANSATZE)}")
        self.reader_name, self.ansatz_name = reader, ansatz
        self.qubits = dict(qubits or {"n": 1, "s": 1})
        self.layers, self.single_qubit_params = layers, single_qubit_params
        self.remove_cups, self.target = remove_cups, target
        self.share = dict(share or {})
        self.lexicon_entries = dict(lexicon or {})
        from qnlp import ansatz as ansatz_module

        cls = getattr(ansatz_module, ANSATZE[ansatz])
        self.ansatz = cls(self.qubits, n_layers=layers, n_single_qubit_params=single_qubit_params, share=self.share)
        self.reader = self._make_reader()
        self._images: dict[Any, Any] = {}

    def _make_reader(self) -> Any:
        from qnlp import readers
        from qnlp.grammar import Lexicon, parse_type

        if self.reader_name == "pregroup":
            lexicon = Lexicon(self.lexicon_entries) if self.lexicon_entries else None
            return _PregroupOrTagged(lexicon, self.target)
        word_type = parse_type(self.target)
        return {"spiders": readers.SpidersReader, "cups": readers.CupsReader, "stairs": readers.StairsReader,
                "tree": readers.TreeReader}[self.reader_name](word_type)

    @property
    def config(self) -> dict[str, Any]:
        return {"reader": self.reader_name, "ansatz": self.ansatz_name, "qubits": self.qubits, "layers": self.layers,
                "single_qubit_params": self.single_qubit_params, "remove_cups": self.remove_cups,
                "target": self.target, "share": self.share, "lexicon": self.lexicon_entries}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Pipeline:
        return cls(**{k: v for k, v in config.items() if k != "compiler"})

    def diagram(self, item: Any) -> Any:
        """The pregroup diagram of an item (after cup removal when enabled)."""
        from discopy.grammar import pregroup

        diagram = self.reader(tokens(item)) if isinstance(item, str) else item
        if not isinstance(diagram, pregroup.Diagram):
            raise QnlpError(f"expected a sentence or a pregroup diagram, got {type(item).__name__}")
        if self.remove_cups:
            from qnlp.rewrite import remove_cups

            diagram = remove_cups(diagram)
        return diagram

    def circuit(self, item: Any) -> Any:
        """The DisCoPy quantum circuit of an item."""
        from discopy.quantum.circuit import Circuit

        return item if isinstance(item, Circuit) else self.ansatz(self.diagram(item))

    def __call__(self, item: Any) -> SentenceCircuit:
        from discopy.quantum.circuit import Circuit

        if isinstance(item, Circuit):
            return from_discopy(item)
        diagram = self.diagram(item)
        self.ansatz.check(diagram)
        return from_functor(diagram, self._box_circuit, self.ansatz.ob_size)

    def _box_circuit(self, box: Any) -> Any:
        """The ansatz functor's image of one box, cached (words and cups repeat across sentences)."""
        image = self._images.get(box)
        if image is None:
            image = self._images[box] = self.ansatz.functor(box)
        return image


class _PregroupOrTagged:
    """The pregroup parser: ``word_TAG`` tokens are typed by tag, plain words by the lexicon."""

    def __init__(self, lexicon: Any, target: str) -> None:
        self.lexicon, self.target = lexicon, target

    def __call__(self, words: list[str]) -> Any:
        from qnlp.parser import parse, parse_tagged

        if all("_" in w for w in words):
            return parse_tagged(words, self.target, self.lexicon)
        if self.lexicon is None:
            raise QnlpError(f"sentence {' '.join(words)!r} is not POS-tagged (word_TAG) and no lexicon was given; "
                            "tag it, pass a lexicon, or use a lexicon-free reader (spiders, cups, stairs, tree)")
        return parse(words, self.lexicon, self.target)
