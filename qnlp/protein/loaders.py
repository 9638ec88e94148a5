"""Read and write labelled protein sequences: FASTA (label from the header or an id -> label mapping) and CSV/TSV
(sequence and label columns). Every error names the file, the line and the record; ``.gz`` files are read too.

Sequences are upper-cased with whitespace removed; any letter, and ``* - .``, pass here (the alphabet's
``unknown`` policy decides about non-standard residues later), while digits or other symbols are errors.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from qnlp.files import read_lines
from qnlp.protein.alphabet import NON_RESIDUES
from qnlp.protein.errors import ProteinDataError
from qnlp.protein.sequences import SequenceSet, class_of, encode_labels

Column = str | int


def _check_residues(text: str, place: str, offset: int = 0) -> str:
    """``text`` upper-cased without whitespace; a character that is no residue code raises naming its column."""
    for column, char in enumerate(text, start=1 + offset):
        if char.isspace() or (char.isascii() and char.isalpha()) or char in NON_RESIDUES:
            continue
        raise ProteinDataError(f"{place}, column {column}: {char!r} is not an amino-acid code")
    return "".join(text.split()).upper()


# --- FASTA ----------------------------------------------------------------------------------------
def _header_label(header: str, place: str, label_regex: re.Pattern[str] | None, label_field: int,
                  field_sep: str | None, missing_ok: bool = False) -> str | None:
    """The header's label; ``missing_ok``: None when the header gives none (instead of an error)."""
    if label_regex is not None:
        match = label_regex.search(header)
        if match is None:
            if missing_ok:
                return None
            raise ProteinDataError(f"{place}: header {header!r} does not match label regex {label_regex.pattern!r}")
        if "label" in label_regex.groupindex:
            return match.group("label")
        return match.group(1) if label_regex.groups else match.group(0)
    fields = header.split(field_sep)
    if missing_ok and ((field_sep is None and len(fields) < 2) or not -len(fields) <= label_field < len(fields)):
        return None
    if field_sep is None and len(fields) < 2:
        raise ProteinDataError(f"{place}: header {header!r} has no label after the id (expected '>ID LABEL', "
                               f"or give label_regex / label_field / field_sep)")
    try:
        return fields[label_field].strip()
    except IndexError:
        raise ProteinDataError(f"{place}: header {header!r} has {len(fields)} fields split by "
                               f"{field_sep or 'whitespace'!r}, no field {label_field}") from None


def read_fasta(path: str | os.PathLike, label_from: str | Mapping[str, str] | None = None, *,
               label_regex: str | None = None, label_field: int = -1, field_sep: str | None = None,
               classes: Sequence[str] | None = None, skip_unlabelled: bool = False) -> SequenceSet:
    """Read a FASTA file; the id is the header's first word.

    ``label_from``: None (unlabelled), ``"header"`` (the label is in the header: by default its last
    whitespace-separated field, ``>P12345 membrane``; or field ``label_field`` split by ``field_sep``, e.g.
    ``field_sep="|"``; or the named group ``label`` / first group / whole match of ``label_regex``), or a mapping
    id -> label (see ``read_label_map``). ``classes`` fixes the label order (``classes[0]`` -> 0).
    ``skip_unlabelled``: drop the records that get no label (or one outside ``classes``) instead of refusing
    them; the result's ``skipped`` counts them."""
    p = Path(path)
    records: list[tuple[str, str, int, list[str]]] = []
    for number, line in enumerate(read_lines(p, ProteinDataError), start=1):
        text = line.strip()
        if not text or text.startswith(";"):
            continue
        if text.startswith(">"):
            header = text[1:].strip()
            if not header:
                raise ProteinDataError(f"{p}:{number}: empty FASTA header (no sequence id)")
            records.append((header.split()[0], header, number, []))
            continue
        if not records:
            raise ProteinDataError(f"{p}:{number}: sequence data before the first '>' header")
        records[-1][3].append(_check_residues(line, f"{p}:{number}: record {records[-1][0]!r}"))
    if not records:
        raise ProteinDataError(f"{p}: no FASTA records (no line starts with '>')")
    first_line: dict[str, int] = {}
    for seq_id, _, number, chunks in records:
        if not "".join(chunks):
            raise ProteinDataError(f"{p}:{number}: record {seq_id!r} has no sequence")
        if seq_id in first_line:
            raise ProteinDataError(f"{p}:{number}: record id {seq_id!r} repeats the record at line "
                                   f"{first_line[seq_id]}")
        first_line[seq_id] = number
    ids = [r[0] for r in records]
    sequences = ["".join(r[3]) for r in records]
    places = [f"{p}:{r[2]}: record {r[0]!r}" for r in records]
    lines = [r[2] for r in records]
    if label_from is None:
        return SequenceSet(ids, sequences, None, (), str(p), lines)
    if isinstance(label_from, str):
        if label_from != "header":
            raise ProteinDataError(f"label_from must be 'header', a mapping id -> label, or None; got {label_from!r}")
        try:
            pattern = re.compile(label_regex) if label_regex is not None else None
        except re.error as exc:
            raise ProteinDataError(f"label_regex {label_regex!r} is not a regular expression ({exc})") from None
        raw = [_header_label(r[1], place, pattern, label_field, field_sep, True) for r, place in zip(records, places)]

        def explain(i: int) -> None:  # the reason record i has no label
            _header_label(records[i][1], places[i], pattern, label_field, field_sep)
    elif isinstance(label_from, Mapping):
        raw = [str(label_from[seq_id]) if seq_id in label_from else None for seq_id in ids]

        def explain(i: int) -> None:
            raise ProteinDataError(f"{places[i]}: id not in the label mapping ({len(label_from)} ids)")
    else:
        raise ProteinDataError(f"label_from must be 'header', a mapping id -> label, or None; got {label_from!r}")
    return _labelled(SequenceSet(ids, sequences, None, (), str(p), lines), raw, places, classes, skip_unlabelled,
                     explain)


def _labelled(data: SequenceSet, raw: Sequence[str | None], places: Sequence[str], classes: Sequence[str] | None,
              skip_unlabelled: bool, explain: Callable[[int], None] | None = None) -> SequenceSet:
    """``data`` with the labels ``raw`` (None: the record gave none); ``skip_unlabelled`` drops the records without
    a label in ``classes`` (any non-empty label without ``classes``) and counts them in ``skipped``; otherwise the
    first such record is an error naming it (``explain(i)`` raises the reason record ``i`` has no label)."""
    wanted = None if classes is None else [str(c) for c in classes]
    keep = [i for i, label in enumerate(raw) if label is not None and label.strip()
            and (wanted is None or class_of(label, wanted) is not None)]
    if not skip_unlabelled and len(keep) < len(raw):
        i = min(set(range(len(raw))) - set(keep))
        if raw[i] is None and explain is not None:
            explain(i)
        if raw[i] is None:  # e.g. an optional regex group that took no part in the match
            raise ProteinDataError(f"{places[i]}: no label (--skip-unlabelled skips such records)")
        encode_labels([raw[i]], [places[i]], classes, data.source)  # raises, naming the record and its label
    if not keep:
        raise ProteinDataError(f"{data.source}: none of the {len(raw)} records has a label"
                                   + (f" in the classes {list(classes)}" if classes is not None else ""))
    labels, names = encode_labels([raw[i] for i in keep], [places[i] for i in keep], classes, data.source)
    return SequenceSet([data.ids[i] for i in keep], [data.sequences[i] for i in keep], labels, names, data.source,
                       [data.lines[i] for i in keep], skipped=len(raw) - len(keep))


# --- CSV / TSV ------------------------------------------------------------------------------------
def _table(path: Path, delimiter: str | None, header: bool) -> tuple[list[str] | None, list[tuple[int, list[str]]]]:
    """(header names or None, [(line number, fields)]) of a delimited file, blank lines dropped."""
    if delimiter is None:
        suffixes = [s.lower() for s in path.suffixes if s.lower() != ".gz"]
        delimiter = "\t" if suffixes and suffixes[-1] in (".tsv", ".tab") else ","
    rows: list[tuple[int, list[str]]] = []
    for number, line in enumerate(read_lines(path, ProteinDataError), start=1):
        if not line.strip():
            continue
        try:
            fields = next(csv.reader([line], delimiter=delimiter))
        except csv.Error as exc:
            raise ProteinDataError(f"{path}:{number}: malformed row ({exc})") from None
        rows.append((number, [f.strip() for f in fields]))
    if not rows:
        raise ProteinDataError(f"{path}: empty file")
    if header:
        return rows[0][1], rows[1:]
    return None, rows


def _column(path: Path, names: list[str] | None, column: Column, role: str) -> int:
    if isinstance(column, int) and not isinstance(column, bool):
        if column < 0:
            raise ProteinDataError(f"{path}: {role} column index must be >= 0, got {column}")
        return column
    if names is None:
        raise ProteinDataError(f"{path}: {role} column {column!r} is a name, but header=False; give an index")
    if column not in names:
        raise ProteinDataError(f"{path}:1: no {role} column {column!r}; header columns are {names}")
    return names.index(column)


def _field(path: Path, number: int, fields: list[str], index: int, role: str) -> str:
    if index >= len(fields):
        raise ProteinDataError(f"{path}:{number}: row has {len(fields)} fields, the {role} column is field "
                               f"{index + 1}")
    return fields[index]


def read_csv(path: str | os.PathLike, sequence_column: Column = "sequence", label_column: Column | None = "label",
             id_column: Column | None = None, *, delimiter: str | None = None, header: bool = True,
             classes: Sequence[str] | None = None, skip_unlabelled: bool = False) -> SequenceSet:
    """Read sequences (and labels) from a delimited file; columns by header name or 0-based index.

    The delimiter is a tab for ``.tsv``/``.tab`` and a comma otherwise unless given. Without ``id_column`` a record's
    id is ``FILE:LINE``. ``label_column=None`` reads unlabelled sequences. ``skip_unlabelled``: as in
    ``read_fasta`` (an empty label or one outside ``classes`` drops the row)."""
    p = Path(path)
    names, rows = _table(p, delimiter, header)
    seq_index = _column(p, names, sequence_column, "sequence")
    label_index = None if label_column is None else _column(p, names, label_column, "label")
    id_index = None if id_column is None else _column(p, names, id_column, "id")
    ids, sequences, raw, places, lines = [], [], [], [], []
    seen: dict[str, int] = {}
    for number, fields in rows:
        seq_id = f"{p.name}:{number}" if id_index is None else _field(p, number, fields, id_index, "id")
        place = f"{p}:{number}: record {seq_id!r}"
        if not seq_id:
            raise ProteinDataError(f"{p}:{number}: empty id")
        if seq_id in seen:
            raise ProteinDataError(f"{place}: id repeats the record at line {seen[seq_id]}")
        seen[seq_id] = number
        sequence = _check_residues(_field(p, number, fields, seq_index, "sequence"), place)
        if not sequence:
            raise ProteinDataError(f"{place}: empty sequence")
        if label_index is not None:
            raw.append(_field(p, number, fields, label_index, "label"))
        ids.append(seq_id)
        sequences.append(sequence)
        places.append(place)
        lines.append(number)
    if not ids:
        raise ProteinDataError(f"{p}: no records after the header")
    if label_index is None:
        return SequenceSet(ids, sequences, None, (), str(p), lines)
    return _labelled(SequenceSet(ids, sequences, None, (), str(p), lines), raw, places, classes, skip_unlabelled)


def read_label_map(path: str | os.PathLike, id_column: Column = 0, label_column: Column = 1, *,
                   delimiter: str | None = None, header: bool = False) -> dict[str, str]:
    """An id -> label mapping from a two-column (or wider) delimited file, for ``read_fasta(label_from=...)``."""
    p = Path(path)
    names, rows = _table(p, delimiter, header)
    id_index, label_index = _column(p, names, id_column, "id"), _column(p, names, label_column, "label")
    mapping: dict[str, str] = {}
    lines: dict[str, int] = {}
    for number, fields in rows:
        seq_id = _field(p, number, fields, id_index, "id")
        label = _field(p, number, fields, label_index, "label")
        if seq_id in mapping and mapping[seq_id] != label:
            raise ProteinDataError(f"{p}:{number}: id {seq_id!r} gets label {label!r}, but line {lines[seq_id]} "
                                   f"gave {mapping[seq_id]!r}")
        mapping[seq_id], lines[seq_id] = label, number
    return mapping


# --- writers --------------------------------------------------------------------------------------
def format_fasta(data: SequenceSet, width: int = 60) -> str:
    """FASTA text with ``>ID LABEL`` headers (``>ID`` for unlabelled data), readable by ``read_fasta(p, "header")``."""
    out = []
    for i, (seq_id, sequence) in enumerate(zip(data.ids, data.sequences)):
        if not seq_id or any(c.isspace() for c in seq_id):
            raise ProteinDataError(f"record {i}: id {seq_id!r} is empty or holds whitespace; FASTA ids cannot")
        header = seq_id
        if data.labels is not None:
            label = data.label_names[data.labels[i]]
            if not label or any(c.isspace() for c in label):
                raise ProteinDataError(f"record {seq_id!r}: label {label!r} is empty or holds whitespace")
            header += " " + label
        lines = [sequence[k:k + width] for k in range(0, len(sequence), width)] if width > 0 else [sequence]
        out.append(">" + header + "\n" + "\n".join(lines) + "\n")
    return "".join(out)


def write_fasta(path: str | os.PathLike, data: SequenceSet, width: int = 60) -> None:
    """Write ``format_fasta`` atomically."""
    from tnq.io import atomic_write_text

    atomic_write_text(path, format_fasta(data, width))


def write_csv(path: str | os.PathLike, data: SequenceSet) -> None:
    """Write ``id,sequence[,label]`` rows (with that header) atomically; readable by
    ``read_csv(p, id_column="id")``."""
    import io

    from tnq.io import atomic_write_text

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["id", "sequence"] + (["label"] if data.labels is not None else []))
    for i, (seq_id, sequence) in enumerate(zip(data.ids, data.sequences)):
        row = [seq_id, sequence]
        if data.labels is not None:
            row.append(data.label_names[data.labels[i]])
        writer.writerow(row)
    atomic_write_text(path, buffer.getvalue())
