"""SequenceSet: labelled protein sequences (ids, sequences, integer labels with their names), with subsets,
stratified seeded splits and de-duplication, so every loader and model speaks one container."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from qnlp.protein.errors import ProteinDataError


@dataclass(frozen=True)
class SequenceSet:
    """``labels[i]`` indexes ``label_names``; ``labels`` is None for unlabelled data (e.g. sequences to predict).
    ``lines[i]``: the line of record ``i`` in the file ``source`` (empty when the records were not read from a file),
    for error messages (``place``). ``skipped``: records of the file left out for having no label (see
    ``skip_unlabelled`` of the readers)."""

    ids: tuple[str, ...]
    sequences: tuple[str, ...]
    labels: np.ndarray | None
    label_names: tuple[str, ...] = ()
    source: str = ""
    lines: tuple[int, ...] = ()
    skipped: int = 0
    _index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "ids", tuple(self.ids))
        object.__setattr__(self, "sequences", tuple(self.sequences))
        object.__setattr__(self, "lines", tuple(int(n) for n in self.lines))
        if self.lines and len(self.lines) != len(self.ids):
            raise ProteinDataError(f"{self.source or 'SequenceSet'}: {len(self.lines)} line numbers for "
                                   f"{len(self.ids)} records")
        if len(self.ids) != len(self.sequences):
            raise ProteinDataError(f"{self.source or 'SequenceSet'}: {len(self.ids)} ids for "
                                   f"{len(self.sequences)} sequences")
        if self.labels is not None:
            labels = np.asarray(self.labels)
            if labels.shape != (len(self.ids),) or not np.issubdtype(labels.dtype, np.integer):
                raise ProteinDataError(f"{self.source or 'SequenceSet'}: labels must be {len(self.ids)} integers, "
                                       f"got shape {labels.shape} dtype {labels.dtype}")
            if len(labels) and (labels.min() < 0 or labels.max() >= len(self.label_names)):
                raise ProteinDataError(f"{self.source or 'SequenceSet'}: labels must index label_names "
                                       f"{self.label_names}, got values {sorted(set(labels.tolist()))}")
            labels = labels.astype(np.int64)
            labels.setflags(write=False)
            object.__setattr__(self, "labels", labels)
        index: dict[str, int] = {}
        for i, name in enumerate(self.ids):
            if name in index:
                raise ProteinDataError(f"{self.source or 'SequenceSet'}: id {name!r} appears twice "
                                       f"(records {index[name]} and {i})")
            index[name] = i
        object.__setattr__(self, "_index", index)

    def __len__(self) -> int:
        return len(self.ids)

    def index(self, seq_id: str) -> int:
        """Position of the record with id ``seq_id``."""
        try:
            return self._index[seq_id]
        except KeyError:
            raise ProteinDataError(f"{self.source or 'SequenceSet'}: no record with id {seq_id!r}") from None

    def place(self, i: int) -> str:
        """Where record ``i`` comes from: ``FILE:LINE: record 'ID'`` (``SOURCE: record 'ID'`` without lines)."""
        line = f":{self.lines[i]}" if self.lines else ""
        return f"{self.source or 'SequenceSet'}{line}: record {self.ids[i]!r}"

    @property
    def lengths(self) -> np.ndarray:
        return np.array([len(s) for s in self.sequences], dtype=np.int64)

    def class_counts(self) -> dict[str, int]:
        """Records per label name (empty for unlabelled data)."""
        if self.labels is None:
            return {}
        counts = np.bincount(self.labels, minlength=len(self.label_names))
        return {name: int(c) for name, c in zip(self.label_names, counts)}

    def subset(self, indices: Sequence[int] | np.ndarray) -> SequenceSet:
        """The records at ``indices``, in that order, with the same label names."""
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        if len(idx) and (idx.min() < 0 or idx.max() >= len(self)):
            raise ProteinDataError(f"{self.source or 'SequenceSet'}: subset index out of range 0..{len(self) - 1}")
        labels = None if self.labels is None else self.labels[idx]
        return SequenceSet(tuple(self.ids[i] for i in idx), tuple(self.sequences[i] for i in idx), labels,
                           self.label_names, self.source, tuple(self.lines[i] for i in idx) if self.lines else ())

    def split(self, test_fraction: float = 0.25, seed: int = 0) -> tuple[SequenceSet, SequenceSet]:
        """Stratified random split: each class gives round(test_fraction * count) records (at least one when it
        has two or more) to the test set. Both parts keep the original record order; ``seed`` fixes the draw."""
        if self.labels is None:
            raise ProteinDataError(f"{self.source or 'SequenceSet'}: cannot stratify unlabelled data")
        if not 0.0 < test_fraction < 1.0:
            raise ProteinDataError(f"test_fraction must be in (0, 1), got {test_fraction}")
        rng = np.random.default_rng(seed)
        test: list[int] = []
        for label in range(len(self.label_names)):
            members = np.flatnonzero(self.labels == label)
            take = int(round(test_fraction * len(members)))
            if len(members) >= 2:
                take = min(max(take, 1), len(members) - 1)
            test.extend(rng.permutation(members)[:take].tolist())
        mask = np.zeros(len(self), dtype=bool)
        mask[test] = True
        return self.subset(np.flatnonzero(~mask)), self.subset(np.flatnonzero(mask))

    def dedupe(self) -> SequenceSet:
        """Keep the first record of each distinct sequence; drop every copy of a sequence seen with two different
        labels (it cannot be classified, and copies across a split would leak test data into training)."""
        first: dict[str, int] = {}
        conflicting: set[str] = set()
        for i, seq in enumerate(self.sequences):
            if seq not in first:
                first[seq] = i
            elif self.labels is not None and self.labels[i] != self.labels[first[seq]]:
                conflicting.add(seq)
        keep = sorted(i for seq, i in first.items() if seq not in conflicting)
        return dataclasses.replace(self.subset(keep), skipped=self.skipped)

    def summary(self) -> str:
        """One line: size, classes and length statistics."""
        lengths = self.lengths
        stats = (f"length min {lengths.min()} median {np.median(lengths):g} max {lengths.max()}"
                 if len(lengths) else "empty")
        classes = ", ".join(f"{k}: {v}" for k, v in self.class_counts().items()) or "unlabelled"
        skipped = f"; {self.skipped} unlabelled records skipped" if self.skipped else ""
        return f"{self.source or 'sequences'}: {len(self)} records ({classes}); {stats}{skipped}"


def class_of(label: str, classes: Sequence[str]) -> str | None:
    """The class a label names: itself when it is one of ``classes``, else the longest class it starts with
    followed by ``-`` (DeepLoc writes ``Cell.membrane-M``, ``Cytoplasm-S``, ``Cytoplasm-Nucleus-U``: a location
    and its membrane annotation), else None."""
    label = label.strip()
    if label in classes:
        return label
    prefixes = [c for c in classes if label.startswith(f"{c}-")]
    return max(prefixes, key=len) if prefixes else None


def encode_labels(raw: Sequence[str], where: Sequence[str], classes: Sequence[str] | None = None,
                  source: str = "") -> tuple[np.ndarray, tuple[str, ...]]:
    """Integer labels for label strings. With ``classes`` the order is the user's (``classes[0]`` -> 0), a label
    is matched by ``class_of`` and any other label is an error naming ``where[i]``; otherwise integer-looking labels
    keep their numeric order ("0" -> 0, "1" -> 1) and other labels are sorted."""
    raw = [r.strip() for r in raw]
    if classes is not None:
        names = tuple(str(c) for c in classes)
        if len(set(names)) != len(names):
            raise ProteinDataError(f"{source}: classes {names} repeat a name")
        lookup = {name: i for i, name in enumerate(names)}
        matched = [class_of(label, names) for label in raw]
        for label, name, place in zip(raw, matched, where):
            if name is None:
                raise ProteinDataError(f"{place}: label {label!r} is not one of the classes {names}")
        raw = matched
    else:
        for label, place in zip(raw, where):
            if not label:
                raise ProteinDataError(f"{place}: empty label")
        distinct = set(raw)
        try:
            names = tuple(sorted(distinct, key=lambda s: (int(s), s)))
        except ValueError:
            names = tuple(sorted(distinct))
        lookup = {name: i for i, name in enumerate(names)}
    return np.array([lookup[label] for label in raw], dtype=np.int64), names
