"""Residue sequence -> tnq sentence circuit, without building DisCoPy diagrams per sequence.

Going through DisCoPy (reader diagram, cup removal, ansatz functor, translation) costs ~0.15 s for a 12-residue
sequence and grows quadratically with length: DisCoPy re-checks every layer each time a box is tensored or
composed. A protein diagram is only residue states and combining boxes, so each distinct box (a residue word or a
combining box) is sent through the ansatz functor once, and a sequence's circuit is these images laid out by
``qnlp.circuits.from_layers`` following the stairs / tree shape of ``qnlp.protein.diagrams.ProteinReader``. The
symbols are the ansatz's own (``KLM_s_0``, ``PTN_s@s_s_3``), and the result equals ``from_discopy(ansatz(
reader(sequence)))`` gate for gate (tests compare the probabilities).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any

import numpy as np
from discopy.grammar.pregroup import Box, Word

from qnlp.ansatz import MAX_BOX_PARAMETERS, MAX_TYPE_QUBITS, CircuitAnsatz
from qnlp.circuits import SentenceCircuit, from_layers
from qnlp.errors import QnlpError
from qnlp.protein.ansatz import ControlledAnsatz, MixtureAnsatz, real_state_angles
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

COORDINATES = ("angles", "log-weights")
"""What a protein classifier trains (see ``ProteinCompiler``)."""

COMPILER = "qnlp.protein.compile:ProteinCompiler"
"""The ``compiler`` entry of ``ProteinCompiler.config``: which class rebuilds a saved model's compiler."""


class ProteinCompiler:
    """Compile residue strings to tnq sentence circuits for ``qnlp.model.QuantumClassifier``.

    ``reader``: a ``ProteinReader`` (or its ``config``); ``ansatz``: a name of ``qnlp.pipeline.ANSATZE`` or
    of :data:`PROTEIN_ANSATZE`;
    ``qubits``: qubits per residue wire; ``layers`` / ``single_qubit_params``: as in the ansatz; ``word_layers``:
    ansatz layers for multi-qubit residue states (default ``layers``); ``coordinates``: what the classifier trains,
    the circuit's ``angles`` or, for the ``mixture`` ansatz, each residue's ``log-weights`` (its ``2^q - 1``
    log-probabilities relative to state 0, mapped to angles by ``qnlp.protein.ansatz.real_state_angles``)."""

    def __init__(self, reader: ProteinReader | Mapping[str, Any] | None = None, ansatz: str = "sim14",
                 qubits: int = 1, layers: int = 1, single_qubit_params: int = 3,
                 word_layers: int | None = None, coordinates: str = "angles") -> None:
        from qnlp import ansatz as ansatz_module
        from qnlp.pipeline import ANSATZE

        if reader is None:
            reader = ProteinReader()
        elif not isinstance(reader, ProteinReader):
            reader = ProteinReader.from_config(reader)
        if ansatz not in ANSATZE and ansatz not in PROTEIN_ANSATZE:
            raise ProteinDataError(f"unknown ansatz {ansatz!r}; choose one of "
                                   f"{', '.join([*ANSATZE, *PROTEIN_ANSATZE])}")
        most = MAX_BOX_PARAMETERS
        for name, value, low, high in (("qubits", qubits, 1, MAX_TYPE_QUBITS), ("layers", layers, 1, most),
                                       ("single_qubit_params", single_qubit_params, 0, most),
                                       ("word_layers", 1 if word_layers is None else word_layers, 1, most)):
            if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
                raise ProteinDataError(f"{name} must be an integer in {low}..{high}, got {value!r}")
        if coordinates not in COORDINATES:
            raise ProteinDataError(f"coordinates must be one of {COORDINATES}, got {coordinates!r}")
        if coordinates == "log-weights" and ansatz != "mixture":
            raise ProteinDataError(f"coordinates='log-weights' are the mixture ansatz's residue states; ansatz "
                                   f"{ansatz!r} trains its angles")
        self.reader, self.ansatz_name, self.qubits, self.coordinates = reader, ansatz, qubits, coordinates
        self.layers, self.single_qubit_params = layers, single_qubit_params
        self.word_layers = layers if word_layers is None else word_layers
        cls = PROTEIN_ANSATZE[ansatz] if ansatz in PROTEIN_ANSATZE else getattr(ansatz_module, ANSATZE[ansatz])
        ty = reader.word_type
        self._word_ansatz = cls({ob.name: qubits for ob in ty.inside}, n_layers=self.word_layers,
                                n_single_qubit_params=single_qubit_params)
        self.ansatz = cls({ob.name: qubits for ob in ty.inside}, n_layers=layers,
                          n_single_qubit_params=single_qubit_params)
        self._images: dict[tuple[str, bool], Any] = {}
        self._read: dict[int, Any] = {}  # what each image reads as (qnlp.circuits.from_layers's memo)

    @property
    def config(self) -> dict[str, Any]:
        """Plain JSON that ``from_config`` turns back into this compiler (saved with a trained model)."""
        return {"compiler": COMPILER, "reader": self.reader.config, "ansatz": self.ansatz_name,
                "qubits": self.qubits, "layers": self.layers, "single_qubit_params": self.single_qubit_params,
                "word_layers": self.word_layers, "coordinates": self.coordinates}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> ProteinCompiler:
        settings = {k: v for k, v in config.items() if k != "compiler"}
        try:
            return cls(**settings)
        except TypeError as exc:
            raise ProteinDataError(f"bad ProteinCompiler config: {exc}") from None

    # --- parameters -----------------------------------------------------------------------------
    def symbol_values(self, names: Sequence[str], coords: Any) -> Any:
        """The circuit's symbol values (in ``names`` order) from the trained coordinates ``coords`` (same order):
        ``coords`` themselves, or with ``coordinates="log-weights"`` each residue's log-weights mapped to its
        angles. Numpy in, numpy out; torch tensors keep their gradient."""
        if self.coordinates == "angles":
            return coords
        import torch

        rows, order = self._word_rows(tuple(names))
        values = coords if isinstance(coords, torch.Tensor) else torch.as_tensor(np.asarray(coords, dtype=float))
        weights = values[torch.as_tensor(rows)]
        weights = torch.cat([torch.zeros(len(rows), 1, dtype=weights.dtype), weights], 1)
        angles = real_state_angles(weights).reshape(-1)[torch.as_tensor(order)]
        return angles if isinstance(coords, torch.Tensor) else angles.numpy()

    @functools.lru_cache(maxsize=64)  # noqa: B019 - a compiler lives as long as its model
    def _word_rows(self, names: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
        """Positions in ``names`` of each residue's symbols ``{word}_0 .. {word}_{k-1}`` (rows), and the
        permutation taking the flattened rows back to ``names`` order."""
        size = 2 ** self.qubits - 1
        words: dict[str, dict[int, int]] = {}
        for position, name in enumerate(names):
            word, _, index = name.rpartition("_")
            if not word or not index.isdigit() or int(index) >= size:
                raise ProteinDataError(f"symbol {name!r} is not a residue-state angle <word>_<0..{size - 1}>")
            words.setdefault(word, {})[int(index)] = position
        incomplete = [w for w, found in words.items() if len(found) != size]
        if incomplete:
            raise ProteinDataError(f"residue(s) {incomplete[:4]} do not have all {size} angles among the symbols")
        rows = np.array([[found[i] for i in range(size)] for found in words.values()], dtype=np.int64)
        return rows, np.argsort(rows.reshape(-1))

    # --- boxes ----------------------------------------------------------------------------------
    def _image(self, key: tuple[str, bool]) -> Any:
        """The ansatz functor's circuit for a residue word (word ansatz) or a combining box (``key``: its name and
        whether it combines), built once per box: a sequence's boxes repeat, and building a DisCoPy box costs
        about a millisecond."""
        image = self._images.get(key)
        if image is None:
            name, combining = key
            ty = self.reader.word_type
            box = Box(name, ty @ ty, ty) if combining else Word(name, ty)
            image = self._images[key] = (self.ansatz if combining else self._word_ansatz).functor(box)
        return image

    # --- compile --------------------------------------------------------------------------------
    @property
    def diagonal(self) -> bool:
        """Whether a sequence's output depends only on how often each word occurs in it: with the ``mixture``
        ansatz every combining box (stairs or tree, any sharing: it has no parameters) multiplies basis amplitude
        ``s`` of one state by amplitude ``s`` of the other, so the output amplitudes are the elementwise product
        of the word states' amplitudes, in any order."""
        return self.ansatz_name == "mixture"

    def word_circuit(self, token: str) -> SentenceCircuit:
        """The circuit of one word's state alone (no ``START`` framing): with a ``diagonal`` compiler, a sequence's
        output probabilities are proportional to the product over its words of these circuits' probabilities."""
        if token not in self.reader.vocabulary:
            raise ProteinDataError(f"token {token!r} is not in the vocabulary {list(self.reader.vocabulary)}")
        return from_layers([((token, False), 0)], self._image, self._read)

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
        return from_layers((((name, combining), offset * self.qubits)
                            for name, combining, offset in self.layers_of(tokens)), self._image, self._read)

