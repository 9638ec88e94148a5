"""Protein data side: alphabets and the unknown-residue policy, FASTA/CSV loaders and their errors, the modlamp
sets (checked against modlamp's own CSV files read independently), splits, truncation, windows and pooling."""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qnlp.errors import QnlpError
from qnlp.protein.alphabet import ALPHABETS, STANDARD, Alphabet, get_alphabet
from qnlp.protein.errors import ProteinDataError, UnknownResidueError
from qnlp.protein.loaders import format_fasta, read_csv, read_fasta, read_label_map, write_csv, write_fasta
from qnlp.protein.sequences import SequenceSet
from qnlp.protein.windows import expand_windows, pool, sliding_windows, truncate, window_starts


# --- alphabets ------------------------------------------------------------------------------------
def test_builtin_alphabets_partition_the_twenty_residues():
    for name, alphabet in ALPHABETS.items():
        flat = "".join(alphabet.groups)
        assert sorted(flat) == sorted(STANDARD), name
        assert all(alphabet.token(r) in alphabet.groups and r in alphabet.token(r) for r in STANDARD)
    assert len(ALPHABETS["aa20"]) == 20 and len(ALPHABETS["dayhoff6"]) == 6 and len(ALPHABETS["conjoint7"]) == 7
    dayhoff = ALPHABETS["dayhoff6"]
    assert dayhoff.token("C") == "C"  # cysteine is a class of its own in Dayhoff's grouping
    assert len({dayhoff.token(r) for r in "ILMV"}) == 1 and dayhoff.token("I") != dayhoff.token("F")
    assert dayhoff.encode("MKC") == ("ILMV", "HKR", "C")


def test_custom_alphabet_must_be_a_partition():
    with pytest.raises(ProteinDataError, match="'A' is in both"):
        Alphabet.from_groups("bad", ["AC", "A" + STANDARD[2:]])
    with pytest.raises(ProteinDataError, match="in no group"):
        Alphabet.from_groups("bad", ["ACDE"])
    with pytest.raises(ProteinDataError, match="'X'"):
        Alphabet.from_groups("bad", [STANDARD, "X"])
    with pytest.raises(ProteinDataError, match="unknown alphabet 'nope'.*dayhoff6"):
        get_alphabet("nope")


def test_unknown_residues_error_names_sequence_and_position():
    aa20 = get_alphabet("aa20")
    assert aa20.encode("acdk") == ("A", "C", "D", "K")
    with pytest.raises(UnknownResidueError, match=r"'P1', position 3: non-standard residue 'X'") as info:
        aa20.encode("ACXD", seq_id="P1")
    assert (info.value.seq_id, info.value.position, info.value.residue) == ("P1", 3, "X")
    assert isinstance(info.value, QnlpError)
    with pytest.raises(UnknownResidueError, match=r"position 2: '1' is not an amino-acid code"):
        aa20.encode("A1", unknown="map")  # not a residue at all: no policy maps it
    with pytest.raises(UnknownResidueError, match=r"'\*' is a stop or gap symbol"):
        aa20.encode("AC*", seq_id="s", unknown="resolve")
    with pytest.raises(UnknownResidueError, match="'#4'"):
        aa20.encode_many(["A", "C", "D", "E", "AB"])
    with pytest.raises(ProteinDataError, match="policy 'drop'"):
        aa20.encode("A", unknown="drop")


def test_unknown_policies_map_resolve_skip():
    aa20, dayhoff, conjoint = ALPHABETS["aa20"], ALPHABETS["dayhoff6"], ALPHABETS["conjoint7"]
    seq = "AXBZUOJ"
    assert aa20.encode(seq, unknown="map") == ("A", "X", "X", "X", "X", "X", "X")
    assert aa20.encode(seq, unknown="skip") == ("A",)
    assert aa20.encode("A-C.D*", unknown="skip") == ("A", "C", "D")
    # resolve: U -> C, O -> K always; B (D/N), Z (E/Q), J (I/L) only when both readings share a class.
    assert aa20.encode(seq, unknown="resolve") == ("A", "X", "X", "X", "C", "K", "X")
    assert dayhoff.encode(seq, unknown="resolve") == ("AGPST", "X", "DENQ", "DENQ", "C", "HKR", "ILMV")
    assert conjoint.encode("BZJ", unknown="resolve") == ("X", "X", "ILFP")  # D/N and E/Q split in conjoint7
    assert aa20.vocabulary("map")[-1] == "X" and len(aa20.vocabulary("error")) == 20
    assert len(dayhoff.vocabulary("resolve")) == 7


# --- FASTA ----------------------------------------------------------------------------------------
FASTA = """\
; a comment line
>P1 membrane
MKV LLA
acd
>P2 cytoplasm extra words here cytoplasm

GGHK
>P3 membrane
W
"""


def test_read_fasta_header_labels(tmp_path: Path):
    path = tmp_path / "x.fasta"
    path.write_text(FASTA)
    data = read_fasta(path, "header")
    assert data.ids == ("P1", "P2", "P3")
    assert data.sequences == ("MKVLLAACD", "GGHK", "W")
    assert data.label_names == ("cytoplasm", "membrane") and data.labels.tolist() == [1, 0, 1]
    ordered = read_fasta(path, "header", classes=["membrane", "cytoplasm"])
    assert ordered.labels.tolist() == [0, 1, 0]
    by_field = read_fasta(path, "header", label_field=1)
    assert by_field.label_names == ("cytoplasm", "membrane")
    by_regex = read_fasta(path, "header", label_regex=r"^\S+ (?P<label>\w+)")
    assert by_regex.labels.tolist() == [1, 0, 1]
    assert read_fasta(path).labels is None
    gz = tmp_path / "x.fasta.gz"
    gz.write_bytes(gzip.compress(FASTA.encode()))
    assert read_fasta(gz, "header").sequences == data.sequences


def test_read_fasta_separator_and_mapping(tmp_path: Path):
    path = tmp_path / "sp.fa"
    path.write_text(">sp|Q1|A_HUMAN|1\nMKV\n>sp|Q2|B_HUMAN|0\nLLA\n")
    data = read_fasta(path, "header", field_sep="|", label_field=3)
    assert data.ids == ("sp|Q1|A_HUMAN|1", "sp|Q2|B_HUMAN|0") and data.labels.tolist() == [1, 0]
    mapping_file = tmp_path / "labels.tsv"
    mapping_file.write_text("id\tlocation\nsp|Q1|A_HUMAN|1\tmembrane\nsp|Q2|B_HUMAN|0\tcytoplasm\n")
    mapping = read_label_map(mapping_file, "id", "location", header=True)
    mapped = read_fasta(path, mapping)
    assert mapped.label_names == ("cytoplasm", "membrane") and mapped.labels.tolist() == [1, 0]
    with pytest.raises(ProteinDataError, match=r"sp\.fa:3: record 'sp\|Q2\|B_HUMAN\|0': id not in the label map"):
        read_fasta(path, {"sp|Q1|A_HUMAN|1": "membrane"})


def test_deeploc_location_labels_match_their_class(tmp_path: Path):
    """DeepLoc headers carry a location and its membrane annotation (``Cell.membrane-M``): with --classes they
    match the class they start with (the longest), exact names first; other locations are refused or skipped."""
    path = tmp_path / "loc.fa"
    path.write_text(">P1 Cell.membrane-M test\nMKV\n>P2 Cytoplasm-S test\nLLA\n>P3 Cytoplasm-Nucleus-U test\nGGA\n"
                    ">P4 Nucleus-U test\nAAA\n>P5 Cytoplasm test\nKKK\n")
    options = dict(label_field=1, field_sep=" ", classes=["Cytoplasm", "Cell.membrane"])
    data = read_fasta(path, "header", skip_unlabelled=True, **options)
    assert data.ids == ("P1", "P2", "P3", "P5") and data.labels.tolist() == [1, 0, 0, 0] and data.skipped == 1
    with pytest.raises(ProteinDataError, match=r"loc\.fa:7: record 'P4': label 'Nucleus-U' is not one of the classes"):
        read_fasta(path, "header", **options)
    longer = read_fasta(path, "header", skip_unlabelled=True, label_field=1, field_sep=" ",
                        classes=["Cytoplasm", "Cytoplasm-Nucleus"])
    assert longer.ids == ("P2", "P3", "P5") and longer.labels.tolist() == [0, 1, 0]  # the longest class wins


@pytest.mark.parametrize("text, label_from, kwargs, message", [
    ("MKV\n>P1 a\nMKV\n", None, {}, r"f\.fa:1: sequence data before the first '>' header"),
    (">P1 a\nMKV\n>\nMKV\n", None, {}, r"f\.fa:3: empty FASTA header"),
    (">P1 a\n>P2 b\nMKV\n", None, {}, r"f\.fa:1: record 'P1' has no sequence"),
    (">P1 a\nMKV\n>P1 b\nLLA\n", None, {}, r"f\.fa:3: record id 'P1' repeats the record at line 1"),
    (">P1 a\nMKV\n>P2 b\nLL3A\n", None, {}, r"f\.fa:4: record 'P2', column 3: '3' is not an amino-acid code"),
    (">P1 a\nMKV\n>P2\nLLA\n", "header", {}, r"f\.fa:3: record 'P2': header 'P2' has no label after the id"),
    (">P1 loc=a\nMKV\n>P2 b\nLLA\n", "header", {"label_regex": "loc=(\\w+)"},
     r"f\.fa:3: record 'P2': header 'P2 b' does not match label regex"),
    (">P1 a\nMKV\n", "header", {"label_field": 5}, r"f\.fa:1: record 'P1': header 'P1 a' has 2 fields"),
    (">P1 a\nMKV\n", "header", {"classes": ["b", "c"]}, r"f\.fa:1: record 'P1': label 'a' is not one of"),
    ("", None, {}, r"f\.fa: no FASTA records"),
])
def test_malformed_fasta_names_file_line_and_record(tmp_path: Path, text, label_from, kwargs, message):
    path = tmp_path / "f.fa"
    path.write_text(text)
    with pytest.raises(ProteinDataError, match=message):
        read_fasta(path, label_from, **kwargs)


def test_unreadable_files_give_one_clear_error(tmp_path: Path):
    with pytest.raises(ProteinDataError, match="missing.fa: cannot read"):
        read_fasta(tmp_path / "missing.fa")
    binary = tmp_path / "b.fa"
    binary.write_bytes(b">P1\n\xff\xfe\n")
    with pytest.raises(ProteinDataError, match=r"b.fa:2: not UTF-8 text \(byte 0xff at byte offset 4\)"):
        read_fasta(binary)


# --- CSV ------------------------------------------------------------------------------------------
def test_read_csv_columns_by_name_and_index(tmp_path: Path):
    path = tmp_path / "d.csv"
    path.write_text("name,seq,loc\nA1,mkvl,membrane\n\nA2, GGHK ,cytoplasm\n")
    data = read_csv(path, "seq", "loc", "name")
    assert data.ids == ("A1", "A2") and data.sequences == ("MKVL", "GGHK") and data.labels.tolist() == [1, 0]
    anonymous = read_csv(path, "seq", "loc")
    assert anonymous.ids == ("d.csv:2", "d.csv:4")
    tsv = tmp_path / "d.tsv"
    tsv.write_text("MKVL\t1\nGGHK\t0\n")
    by_index = read_csv(tsv, 0, 1, header=False)
    assert by_index.sequences == ("MKVL", "GGHK") and by_index.labels.tolist() == [1, 0]
    assert by_index.label_names == ("0", "1")
    assert read_csv(path, "seq", None).labels is None


@pytest.mark.parametrize("text, args, kwargs, message", [
    ("seq,label\nMKV,1\n", ("sequence",), {}, r"d\.csv:1: no sequence column 'sequence'; header columns are"),
    ("sequence,label\nMKV,1\nLLA\n", (), {}, r"d\.csv:3: row has 1 fields, the label column is field 2"),
    ("sequence,label\nMKV,1\n,0\n", (), {}, r"d\.csv:3: record 'd\.csv:3': empty sequence"),
    ("sequence,label\nMKV,1\nMK?,0\n", (), {}, r"d\.csv:3: record 'd\.csv:3', column 3: '\?'"),
    ("sequence,label,id\nMKV,1,a\nLLA,0,a\n", (), {"id_column": "id"}, r"d\.csv:3: record 'a': id repeats .* line 2"),
    ("sequence,label\nMKV,1\nLLA,\n", (), {}, r"d\.csv:3: record 'd\.csv:3': empty label"),
    ("sequence,label\n", (), {}, r"d\.csv: no records after the header"),
    ("MKV,1\n", ("sequence",), {"header": False}, r"is a name, but header=False"),
])
def test_malformed_csv_names_file_line_and_record(tmp_path: Path, text, args, kwargs, message):
    path = tmp_path / "d.csv"
    path.write_text(text)
    with pytest.raises(ProteinDataError, match=message):
        read_csv(path, *args, **kwargs)


def test_writers_round_trip(tmp_path: Path):
    data = SequenceSet(("a", "b", "c"), ("M" * 130, "GG", "KLW"), np.array([1, 0, 1]), ("cyto", "memb"), "t")
    write_fasta(tmp_path / "o.fa", data)
    back = read_fasta(tmp_path / "o.fa", "header", classes=data.label_names)
    assert back.ids == data.ids and back.sequences == data.sequences and back.labels.tolist() == [1, 0, 1]
    assert max(len(line) for line in format_fasta(data).splitlines()) == 60
    write_csv(tmp_path / "o.csv", data)
    back = read_csv(tmp_path / "o.csv", id_column="id", classes=data.label_names)
    assert back.ids == data.ids and back.sequences == data.sequences and back.labels.tolist() == [1, 0, 1]
    with pytest.raises(ProteinDataError, match="label 'a b'"):
        format_fasta(SequenceSet(("x",), ("M",), np.array([0]), ("a b",)))


# --- containers and data sets ---------------------------------------------------------------------
def test_sequence_set_checks_and_split():
    with pytest.raises(ProteinDataError, match="id 'a' appears twice"):
        SequenceSet(("a", "a"), ("M", "K"), None)
    with pytest.raises(ProteinDataError, match="labels must index"):
        SequenceSet(("a", "b"), ("M", "K"), np.array([0, 2]), ("x", "y"))
    labels = np.array([0] * 30 + [1] * 10)
    data = SequenceSet([f"s{i}" for i in range(40)], ["M"] * 40, labels, ("n", "p"))
    train, test = data.split(0.25, seed=3)
    assert sorted(train.ids + test.ids, key=lambda s: int(s[1:])) == list(data.ids)
    assert not set(train.ids) & set(test.ids)
    assert test.class_counts() == {"n": 8, "p": 2}  # round(0.25 * 30) = 8, round(0.25 * 10) = 2
    assert data.split(0.25, seed=3)[1].ids == test.ids and data.split(0.25, seed=4)[1].ids != test.ids
    assert data.subset([2, 1]).ids == ("s2", "s1")


def _modlamp_csv(name: str) -> tuple[list[str], list[int], list[str]]:
    """modlamp's data file parsed here with the csv module: (sequences, labels, class names)."""
    import modlamp

    path = Path(modlamp.__file__).parent / "data" / name
    with open(path) as handle:
        rows = list(csv.reader(handle))
    return [r[0].strip() for r in rows[1:]], [int(r[1]) for r in rows[1:]], [c.strip() for c in rows[0][2:]]


def test_modlamp_sets_match_their_files():
    pytest.importorskip("modlamp")
    from qnlp.protein.datasets import load_modlamp

    data = load_modlamp("AMPvsTM")
    sequences, labels, names = _modlamp_csv("AMPvsTMset.csv")
    assert len(data) == 412 and data.class_counts() == {"TM": 206, "AMP": 206}
    assert list(data.sequences) == sequences and data.labels.tolist() == labels and list(data.label_names) == names
    assert data.ids[0] == "AMPvsTM_0"
    ALPHABETS["aa20"].encode_many(data.sequences, data.ids)  # every residue is standard
    big = load_modlamp("AMPvsUniProt", dedupe=True)
    sequences, labels, _ = _modlamp_csv("AMPvsUniProt.csv")
    seen: dict[str, set[int]] = {}
    for s, y in zip(sequences, labels):
        seen.setdefault(s, set()).add(y)
    assert len(big) == sum(len(v) == 1 for v in seen.values()) and len(set(big.sequences)) == len(big)
    with pytest.raises(ProteinDataError, match="unknown modlamp set 'AMP'"):
        load_modlamp("AMP")


# --- windows --------------------------------------------------------------------------------------
def test_truncate_keeps_head_tail_or_both_ends():
    seq = "ABCDEFGHIJ"
    assert truncate(seq, 4, "head") == "ABCD" and truncate(seq, 4, "tail") == "GHIJ"
    assert truncate(seq, 5, "both") == "ABCIJ" and truncate(seq, 4) == "ABIJ"
    assert truncate(tuple(seq), 3) == ("A", "B", "J") and truncate("AB", 5) == "AB"
    with pytest.raises(ProteinDataError, match="keep must be one of"):
        truncate(seq, 3, "middle")
    with pytest.raises(ProteinDataError, match="max_len must be a positive integer"):
        truncate(seq, 0)


@settings(max_examples=60, deadline=None)
@given(length=st.integers(1, 40), size=st.integers(1, 12), data=st.data())
def test_windows_cover_every_residue(length, size, data):
    stride = data.draw(st.integers(1, size))
    seq = tuple(range(length))
    windows = sliding_windows(seq, size, stride)
    starts = window_starts(length, size, stride)
    covered = set()
    for start, window in zip(starts, windows):
        assert window == seq[start:start + size] and len(window) == min(size, length)
        covered.update(window)
    assert covered == set(seq) and starts == sorted(set(starts)) and starts[-1] + min(size, length) == length
    # truncation keeps exactly the first ceil(m/2) and last floor(m/2) positions (brute force over indices)
    expected = seq if length <= size else tuple(i for i in seq if i < (size + 1) // 2 or i >= length - size // 2)
    assert truncate(seq, size, "both") == expected
    assert truncate(seq, size, "head") == seq[:size] and truncate(seq, size, "tail") == seq[max(0, length - size):]


def test_end_windows():
    assert sliding_windows("ABCDEFGHIJ", 4, ends_only=True) == ["ABCD", "GHIJ"]
    assert sliding_windows("ABCD", 4, ends_only=True) == ["ABCD"]
    windows, owner = expand_windows(["ABCDEFGHIJ", "AB", "ABCDE"], 4, ends_only=True)
    assert windows == ["ABCD", "GHIJ", "AB", "ABCD", "BCDE"] and owner.tolist() == [0, 0, 1, 2, 2]


def test_window_errors():
    with pytest.raises(ProteinDataError, match="stride must be an integer in 1..size=4"):
        window_starts(10, 4, 5)
    with pytest.raises(ProteinDataError, match="sequence 1 is empty"):
        expand_windows(["AB", ""], 2)


def test_pool_matches_a_loop():
    rng = np.random.default_rng(0)
    sequences = ["A" * n for n in (3, 10, 7, 25)]
    windows, owner = expand_windows(sequences, 5, 2)
    assert [w for w, o in zip(windows, owner) if o == 0] == ["AAA"]
    p = rng.random(len(windows))
    probs = rng.dirichlet(np.ones(3), size=len(windows))
    for i in range(len(sequences)):
        mine = owner == i
        assert np.isclose(pool(p, owner, how="mean")[i], p[mine].mean())
        assert np.isclose(pool(p, owner, how="max")[i], p[mine].max())
        assert np.isclose(pool(p, owner, how="vote")[i], np.mean(p[mine] >= 0.5))
        geo = np.exp(np.log(p[mine]).mean()), np.exp(np.log(1 - p[mine]).mean())
        assert np.isclose(pool(p, owner, how="geomean")[i], geo[0] / sum(geo))
        assert np.allclose(pool(probs, owner)[i], probs[mine].mean(0))
        votes = np.bincount(probs[mine].argmax(1), minlength=3) / mine.sum()
        assert np.allclose(pool(probs, owner, how="vote")[i], votes)
        top = probs[mine].max(0)
        assert np.allclose(pool(probs, owner, how="max")[i], top / top.sum())
    with pytest.raises(ProteinDataError, match="sequence 1 has no windows"):
        pool(np.array([0.5, 0.5]), np.array([0, 2]))
    with pytest.raises(ProteinDataError, match="do not match"):
        pool(np.array([0.5]), np.array([0, 1]))
