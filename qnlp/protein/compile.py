"""Residue sequence -> tnq sentence circuit, without building DisCoPy diagrams per sequence.

Going through DisCoPy (reader diagram, cup removal, ansatz functor, translation) costs ~0.15 s for a 12-residue
sequence and grows quadratically with length: DisCoPy re-checks every layer each time a box is tensored or
composed. A protein diagram is only residue states and combining boxes, so each distinct box (a residue word or a
combining box) is sent through the ansatz functor once, and a sequence's circuit is these images laid out by
``qnlp.circuits.from_layers`` following the stairs / tree shape of :class:`~qnlp.protein.diagrams.ProteinReader`. The
symbols are the ansatz's own (``KLM_s_0``, ``PTN_s@s_s_3``), and the result equals ``from_discopy(ansatz(
reader(sequence)))`` gate for gate (tests compare the probabilities).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from discopy.grammar.pregroup import Box, Word

from qnlp.ansatz import CircuitAnsatz
from qnlp.circuits import SentenceCircuit, from_layers
from qnlp.errors import QnlpError
from qnlp.protein.ansatz import ControlledAnsatz, MixtureAnsatz
from qnlp.protein.diagrams import START, ProteinReader
from qnlp.protein.errors import ProteinDataError
from qnlp.readers import TreeReader

PROTEIN_ANSATZE: dict[str, Callable[..., CircuitAnsatz]] = {
    "controlled": partial(ControlledAnsatz, mix=False), "controlled-mix": partial(ControlledAnsatz, mix=True),
    "mixture": MixtureAnsatz}
"""Protein ansätze by name. ``controlled``: every residue acts diagonally on one state (a composition model that
trains robustly); ``controlled-mix``: with a state ``Ry`` layer residue order matters, but training depends more on
the initialisation; ``mixture``: residues as general states on ``qubits`` qubits copied onto the state (a mixture of
``2^(qubits-1)`` composition models per class with ``readout="marginal"``)."""

COMPILER = "qnlp.protein.compile:ProteinCompiler"
"""The ``compiler`` entry of :attr:`ProteinCompiler.config`: which class rebuilds a saved model's compiler."""


class ProteinCompiler:
    """Compile residue strings to tnq sentence circuits for :class:`qnlp.model.QuantumClassifier`.

    ``reader``: a :class:`ProteinReader` (or its ``config``); ``ansatz``: a name of ``qnlp.pipeline.ANSATZE`` or
    of :data:`PROTEIN_ANSATZE`;
    ``qubits``: qubits per residue wire; ``layers`` / ``single_qubit_params``: as in the ansatz; ``word_layers``:
    ansatz layers for multi-qubit residue states (default ``layers``)."""

    def __init__(self, reader: ProteinReader | Mapping[str, Any] | None = None, ansatz: str = "sim14",
                 qubits: int = 1, layers: int = 1, single_qubit_params: int = 3,
                 word_layers: int | None = None) -> None:
        from qnlp import ansatz as ansatz_module
        from qnlp.pipeline import ANSATZE

        if reader is None:
            reader = ProteinReader()
        elif not isinstance(reader, ProteinReader):
            reader = ProteinReader.from_config(reader)
        if ansatz not in ANSATZE and ansatz not in PROTEIN_ANSATZE:
            raise ProteinDataError(f"unknown ansatz {ansatz!r}; choose one of "
                                   f"{', '.join([*ANSATZE, *PROTEIN_ANSATZE])}")
        for name, value, low in (("qubits", qubits, 1), ("layers", layers, 1),
                                 ("single_qubit_params", single_qubit_params, 0),
                                 ("word_layers", 1 if word_layers is None else word_layers, 1)):
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ProteinDataError(f"{name} must be an integer >= {low}, got {value!r}")
        self.reader, self.ansatz_name, self.qubits = reader, ansatz, qubits
        self.layers, self.single_qubit_params = layers, single_qubit_params
        self.word_layers = layers if word_layers is None else word_layers
        cls = PROTEIN_ANSATZE[ansatz] if ansatz in PROTEIN_ANSATZE else getattr(ansatz_module, ANSATZE[ansatz])
        ty = reader.word_type
        self._word_ansatz = cls({ob.name: qubits for ob in ty.inside}, n_layers=self.word_layers,
                                n_single_qubit_params=single_qubit_params)
        self.ansatz = cls({ob.name: qubits for ob in ty.inside}, n_layers=layers,
                          n_single_qubit_params=single_qubit_params)
        self._images: dict[tuple[str, bool], Any] = {}

    @property
    def config(self) -> dict[str, Any]:
        """Plain JSON that :meth:`from_config` turns back into this compiler (saved with a trained model)."""
        return {"compiler": COMPILER, "reader": self.reader.config, "ansatz": self.ansatz_name,
                "qubits": self.qubits, "layers": self.layers, "single_qubit_params": self.single_qubit_params,
                "word_layers": self.word_layers}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> ProteinCompiler:
        settings = {k: v for k, v in config.items() if k != "compiler"}
        try:
            return cls(**settings)
        except TypeError as exc:
            raise ProteinDataError(f"bad ProteinCompiler config: {exc}") from None

    # --- boxes ----------------------------------------------------------------------------------
    def _image(self, box: Any) -> Any:
        """The ansatz functor's circuit for a residue word (word ansatz) or a combining box, once per box."""
        key = (box.name, len(box.dom) > 0)
        if key not in self._images:
            self._images[key] = (self.ansatz if key[1] else self._word_ansatz).functor(box)
        return self._images[key]

    # --- compile --------------------------------------------------------------------------------
    def layers_of(self, tokens: tuple[str, ...]) -> list[tuple[str, bool, int]]:
        """The sequence's boxes as ``(name, combining, offset)`` in diagram order, offsets in residue wires: all
        residue states left to right, then the combining boxes of the stairs / tree."""
        out = [(t, False, i) for i, t in enumerate(tokens)]
        names = self.reader.box_names(len(tokens))
        if self.reader.model == "ptn":
            return out + [(name, True, 0) for name in names]
        # ctn: merges of one level act on adjacent pairs left to right; merged node k sits at wire offset k
        return out + [(name, True, left // 2) for name, (_, left, _) in zip(names, TreeReader.shape(len(tokens)))]

    def __call__(self, item: Any) -> SentenceCircuit:
        """The circuit of a residue string (or of a tuple of already encoded tokens)."""
        if isinstance(item, tuple):
            tokens = item
            if not tokens:
                raise ProteinDataError("cannot compile an empty token sequence")
            unknown = [t for t in tokens if t not in self.reader.vocabulary]
            if unknown:
                raise ProteinDataError(f"tokens {unknown[:4]} are not in the {self.reader.alphabet.name} "
                                       f"vocabulary {list(self.reader.vocabulary)}")
            if START in tokens[1:]:
                raise ProteinDataError(f"START may only open a token sequence, found at position "
                                       f"{tokens.index(START, 1)}")
            if self.reader.start and tokens[0] == START:
                tokens = tokens[1:]  # framed by reader.tokens already: truncate the residues, frame again
                if not tokens:
                    raise ProteinDataError("cannot compile a token sequence with no residues after START")
            if self.reader.max_len is not None:
                from qnlp.protein.windows import truncate

                tokens = truncate(tokens, self.reader.max_len, self.reader.keep)
            tokens = self.reader.framed(tokens)
        elif isinstance(item, str):
            tokens = self.reader.tokens(item)
        else:
            raise QnlpError(f"ProteinCompiler compiles residue strings or token tuples, got {type(item).__name__}")
        ty = self.reader.word_type
        boxes = [(Box(name, ty @ ty, ty) if combining else Word(name, ty), offset * self.qubits)
                 for name, combining, offset in self.layers_of(tokens)]
        return from_layers(boxes, self._image)

