"""Sentence -> diagram -> circuit, as one configurable object: a reader (pregroup parser or a
lexicon-free reader), optional cup removal, an ansatz functor, and the translation to tnq. Its
``config`` is plain JSON, so a saved classifier rebuilds the same pipeline."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from qnlp.circuits import SentenceCircuit, from_discopy, from_functor
from qnlp.errors import QnlpError

READERS = ("pregroup", "spiders", "cups", "stairs", "tree")
FALLBACKS = READERS[1:]
"""Lexicon-free readers that can stand in for the pregroup parser on sentences it cannot type."""
ANSATZE = {"iqp": "IQPAnsatz", "sim14": "Sim14Ansatz", "sim15": "Sim15Ansatz",
           "strongly-entangling": "StronglyEntanglingAnsatz"}


def tokens(sentence: str) -> list[str]:
    """Whitespace tokens without a final full stop (lambeq's data files end sentences with ' .')."""
    words = sentence.split()
    return words[:-1] if len(words) > 1 and words[-1] in {".", "!", "?"} else words


class Pipeline:
    """Compile items to tnq sentence circuits. Items are strings (read with ``reader``; with the pregroup
    reader, ``word_TAG`` tokens are typed by their tag, plain words by ``lexicon`` where it has them and otherwise
    by the offline tagger, ``qnlp.parser.parse_plain``), DisCoPy pregroup diagrams, or DisCoPy quantum circuits
    (used as they are). With ``fallback`` (a lexicon-free reader), a sentence the pregroup parser cannot type is
    read by that reader instead of stopping the run; ``fallbacks`` lists those sentences."""

    def __init__(self, reader: str = "pregroup", ansatz: str = "iqp", qubits: Mapping[str, int] | None = None,
                 layers: int = 1, single_qubit_params: int = 3, remove_cups: bool = True, target: str = "s",
                 share: Mapping[str, str] | None = None, lexicon: Mapping[str, Any] | None = None,
                 fallback: str | None = None) -> None:
        if reader not in READERS:
            raise QnlpError(f"unknown reader {reader!r}; choose one of {', '.join(READERS)}")
        if fallback is not None and (reader != "pregroup" or fallback not in FALLBACKS):
            raise QnlpError(f"fallback {fallback!r}: the pregroup reader can fall back on one of "
                            f"{', '.join(FALLBACKS)}")
        if ansatz not in ANSATZE:
            raise QnlpError(f"unknown ansatz {ansatz!r}; choose one of {', '.join(ANSATZE)}")
        self.reader_name, self.ansatz_name = reader, ansatz
        self.qubits = dict(qubits or {"n": 1, "s": 1})
        self.layers, self.single_qubit_params = layers, single_qubit_params
        self.remove_cups, self.target = remove_cups, target
        self.share = dict(share or {})
        self.lexicon_entries = dict(lexicon or {})
        self.fallback = fallback
        self.fallbacks: list[str] = []
        """Sentences read by the fallback reader, each once, in the order met."""
        from qnlp import ansatz as ansatz_module

        cls = getattr(ansatz_module, ANSATZE[ansatz])
        self.ansatz = cls(self.qubits, n_layers=layers, n_single_qubit_params=single_qubit_params, share=self.share)
        self.reader = self._make_reader()
        self._images: dict[Any, Any] = {}

    def _make_reader(self) -> Any:
        from qnlp import readers
        from qnlp.grammar import Lexicon, parse_type

        word_type = parse_type(self.target)
        free = {"spiders": readers.SpidersReader, "cups": readers.CupsReader, "stairs": readers.StairsReader,
                "tree": readers.TreeReader}
        if self.reader_name == "pregroup":
            lexicon = Lexicon(self.lexicon_entries) if self.lexicon_entries else None
            fallback = free[self.fallback](word_type) if self.fallback else None
            return _PregroupOrTagged(lexicon, self.target, fallback, self.fallbacks)
        return free[self.reader_name](word_type)

    @property
    def config(self) -> dict[str, Any]:
        return {"reader": self.reader_name, "ansatz": self.ansatz_name, "qubits": self.qubits, "layers": self.layers,
                "single_qubit_params": self.single_qubit_params, "remove_cups": self.remove_cups,
                "target": self.target, "share": self.share, "lexicon": self.lexicon_entries,
                "fallback": self.fallback}

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
    """The pregroup parser: ``word_TAG`` tokens are typed by tag, a sentence whose words are all in the lexicon by
    the lexicon, any other plain sentence by the offline tagger (and the lexicon where it has the word). With a
    ``fallback`` reader, a sentence that does not parse is read by it and recorded in ``fallbacks``."""

    def __init__(self, lexicon: Any, target: str, fallback: Any = None, fallbacks: list[str] | None = None) -> None:
        self.lexicon, self.target = lexicon, target
        self.fallback, self.fallbacks = fallback, fallbacks if fallbacks is not None else []
        self._fell_back: set[str] = set()

    def __call__(self, words: list[str]) -> Any:
        from qnlp.errors import NoParseError, UnknownWordError

        try:
            return self._parse(words)
        except (NoParseError, UnknownWordError):
            if self.fallback is None:
                raise
            sentence = " ".join(words)
            if sentence not in self._fell_back:
                self._fell_back.add(sentence)
                self.fallbacks.append(sentence)
            return self.fallback(words)

    def _parse(self, words: list[str]) -> Any:
        from qnlp.parser import parse_any

        return parse_any(words, self.target, self.lexicon)


def fallback_counts(pipeline: Pipeline, splits: Mapping[str, list[str]]) -> dict[str, int]:
    """Read every sentence of ``splits`` (name -> sentences) once, so that parse errors surface before training,
    and count per split the sentences the fallback reader read: ``{"train_fallback": 3, ...}``."""
    for sentences in splits.values():
        for sentence in sentences:
            pipeline.diagram(sentence)
    return counted_fallbacks(pipeline, splits)


def counted_fallbacks(pipeline: Pipeline, splits: Mapping[str, list[str]]) -> dict[str, int]:
    """Per split, how many of its sentences the fallback reader has read so far (after they were compiled)."""
    fell_back = set(pipeline.fallbacks)
    return {f"{name}_fallback": sum(" ".join(tokens(s)) in fell_back for s in sentences)
            for name, sentences in splits.items()}
