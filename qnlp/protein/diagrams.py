"""Residue sequences as DisCoPy diagrams (Kundu et al. 2024, arXiv 2403.06890): residues are words, combined
along the chain by stairs (``ptn``, RNN-like: one box folds in the next residue) or by a balanced binary tree
(``ctn``, CNN-like: adjacent pairs merged level by level), through ``qnlp.readers``' StairsReader / TreeReader.

Parameter sharing is the readers' ``box_name`` hook: ``uniform`` gives every combining box one name (one set of
parameters); ``hierarchical`` gives one name per tree level (ctn) or per step along the chain (ptn), or, with
``position_classes=c``, per c equal segments of the chain so that sequences of any length share the same c boxes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from discopy.grammar.pregroup import Diagram, Ty

from qnlp.grammar import S
from qnlp.protein.alphabet import Alphabet, get_alphabet
from qnlp.protein.errors import ProteinDataError
from qnlp.protein.sequences import SequenceSet
from qnlp.protein.windows import KEEP, expand_windows, truncate
from qnlp.readers import StairsReader, TreeReader, per_level, per_step, uniform

MODELS = ("ptn", "ctn")
START = "START"
"""The learned start word of a reader with ``start=True``."""
SHARING = ("uniform", "hierarchical")


@dataclass(frozen=True)
class ProteinReader:
    """Residue string -> pregroup diagram with codomain ``word_type``.

    ``alphabet`` / ``unknown``: residue tokens (see ``qnlp.protein.alphabet.Alphabet``); ``max_len`` / ``keep``:
    truncation of the token sequence (``both`` keeps the two ends); ``prefix``: combining-box name stem (default
    ``PTN`` / ``CTN``), box names are ``PREFIX`` (uniform), ``PREFIX_<step or class>`` (ptn) or ``PREFIX_<level>``
    (ctn, level 1 joins residues). ``start``: every sequence (and window) begins with a learned ``START`` state, a
    bias shared by all sequences (with the mixture ansatz: the prior weight of each expert)."""

    model: str = "ptn"
    sharing: str = "uniform"
    alphabet: str | Alphabet = "aa20"
    unknown: str = "error"
    max_len: int | None = None
    keep: str = "both"
    position_classes: int | None = None
    prefix: str | None = None
    word_type: Ty = S
    start: bool = False

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise ProteinDataError(f"model must be one of {MODELS}, got {self.model!r}")
        if self.sharing not in SHARING:
            raise ProteinDataError(f"sharing must be one of {SHARING}, got {self.sharing!r}")
        object.__setattr__(self, "alphabet", get_alphabet(self.alphabet))
        self.alphabet.vocabulary(self.unknown)  # validates the policy
        if self.keep not in KEEP:
            raise ProteinDataError(f"keep must be one of {KEEP}, got {self.keep!r}")
        if self.max_len is not None:
            truncate("A", self.max_len, self.keep)  # validates max_len
        if self.position_classes is not None:
            if self.model != "ptn" or self.sharing != "hierarchical":
                raise ProteinDataError("position_classes applies to model='ptn' with sharing='hierarchical' only")
            if not isinstance(self.position_classes, int) or self.position_classes < 1:
                raise ProteinDataError(f"position_classes must be a positive integer, got {self.position_classes!r}")
        if self.prefix is None:
            object.__setattr__(self, "prefix", self.model.upper())
        elif not self.prefix or any(c.isspace() for c in self.prefix):
            raise ProteinDataError(f"prefix must be a non-empty name without spaces, got {self.prefix!r}")

    @property
    def config(self) -> dict:
        """JSON-ready settings (alphabet by its groups, word type as text) for saving beside a trained model."""
        return {"model": self.model, "sharing": self.sharing,
                "alphabet": {"name": self.alphabet.name, "groups": list(self.alphabet.groups),
                             "reference": self.alphabet.reference},
                "unknown": self.unknown, "max_len": self.max_len, "keep": self.keep,
                "position_classes": self.position_classes, "prefix": self.prefix, "word_type": str(self.word_type),
                "start": self.start}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> ProteinReader:
        """The reader ``config`` describes."""
        from qnlp.grammar import parse_type

        settings = dict(config)
        try:
            a = settings.pop("alphabet")
            alphabet = get_alphabet(a) if isinstance(a, str) else Alphabet(a["name"], tuple(a["groups"]),
                                                                           a.get("reference", ""))
            word_type = parse_type(settings.pop("word_type", "s"))
            return cls(alphabet=alphabet, word_type=word_type, **settings)
        except (KeyError, TypeError) as exc:
            raise ProteinDataError(f"bad ProteinReader config {dict(config)!r}: {exc}") from None

    @property
    def vocabulary(self) -> tuple[str, ...]:
        """Every word (residue token, and ``START`` with ``start``) a diagram can hold."""
        return self.alphabet.vocabulary(self.unknown) + ((START,) if self.start else ())

    def framed(self, residues: Sequence[str]) -> tuple[str, ...]:
        """The words of a diagram over ``residues``: ``START`` first when the reader has ``start``."""
        return (START, *residues) if self.start else tuple(residues)

    def tokens(self, sequence: str, seq_id: str | None = None, framed: bool = True) -> tuple[str, ...]:
        """The residue tokens of ``sequence``, truncated to ``max_len`` (``framed``: with ``START`` when the reader
        has one); an empty result is an error."""
        tokens = self.alphabet.encode(sequence, seq_id, self.unknown)
        if not tokens:
            raise ProteinDataError(f"sequence {seq_id!r} has no residues left to read")
        tokens = tokens if self.max_len is None else truncate(tokens, self.max_len, self.keep)
        return self.framed(tokens) if framed else tokens

    def _hook(self, length: int):  # noqa: ANN202 - a readers box_name hook
        if self.sharing == "uniform":
            return uniform(self.prefix)
        if self.model == "ctn":
            return per_level(self.prefix)
        if self.position_classes is None:
            return per_step(self.prefix)
        classes, steps = self.position_classes, max(length - 1, 1)
        return lambda step: f"{self.prefix}_{step * classes // steps}"

    def box_names(self, length: int) -> list[str]:
        """The combining-box names, in diagram order, of a sequence of ``length`` tokens."""
        hook = self._hook(length)
        if self.model == "ptn":
            return [hook(step) for step in range(length - 1)]
        return [hook(level, left // 2) for level, left, _ in TreeReader.shape(length)]

    def diagram(self, tokens: Sequence[str]) -> Diagram:
        """The diagram of an already tokenised (and truncated) sequence."""
        if not tokens:
            raise ProteinDataError("cannot read an empty token sequence")
        reader_class = StairsReader if self.model == "ptn" else TreeReader
        return reader_class(self.word_type, box_name=self._hook(len(tokens)))(list(tokens))

    def __call__(self, sequence: str, seq_id: str | None = None) -> Diagram:
        return self.diagram(self.tokens(sequence, seq_id))

    def read(self, data: SequenceSet | Sequence[str]) -> list[Diagram]:
        """One diagram per sequence (errors name the record id)."""
        if isinstance(data, str):
            raise ProteinDataError("read: pass a list of sequences or a SequenceSet, not one string")
        ids = data.ids if isinstance(data, SequenceSet) else [f"#{i}" for i in range(len(data))]
        sequences = data.sequences if isinstance(data, SequenceSet) else data
        return [self(s, i) for s, i in zip(sequences, ids)]

    def window_tokens(self, data: SequenceSet | Sequence[str], size: int, stride: int | None = None,
                      ends_only: bool = False) -> tuple[list[tuple[str, ...]], np.ndarray]:
        """The words of sliding windows of ``size`` residues over each whole sequence (``max_len`` is not applied;
        ``ends_only``: the first and last window only; each window framed by ``framed``) and ``owner[j]``, the
        sequence of window ``j``, for ``qnlp.protein.windows.pool``."""
        if isinstance(data, str):
            raise ProteinDataError("windows: pass a list of sequences or a SequenceSet, not one string")
        ids = data.ids if isinstance(data, SequenceSet) else [f"#{i}" for i in range(len(data))]
        sequences = data.sequences if isinstance(data, SequenceSet) else data
        whole = replace(self, max_len=None)
        encoded = [whole.tokens(sequence, seq_id, framed=False) for sequence, seq_id in zip(sequences, ids)]
        windows, owner = expand_windows(encoded, size, stride, ends_only)
        return [self.framed(w) for w in windows], owner

    def read_windows(self, data: SequenceSet | Sequence[str], size: int, stride: int | None = None,
                     ends_only: bool = False) -> tuple[list[Diagram], np.ndarray]:
        """Diagrams of ``window_tokens`` and the sequence each window came from."""
        windows, owner = self.window_tokens(data, size, stride, ends_only)
        return [self.diagram(w) for w in windows], owner
