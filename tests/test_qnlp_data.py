"""Bundled synthetic MC-like data and the labelled-sentence file readers (no ../shared needed)."""

from __future__ import annotations

import pytest

pytest.importorskip("discopy")

from discopy.grammar.pregroup import Ty  # noqa: E402

from qnlp import Lexicon, LexiconError, QnlpError, S, parse, parse_tagged, read_plain, read_tagged  # noqa: E402
from qnlp.corpus import format_tagged  # noqa: E402
from qnlp.data import FOOD, IT, VOCABULARY, generate_mc, write_mc  # noqa: E402


def test_generated_sentences_parse_and_carry_their_topic():
    examples = generate_mc(120, seed=5)
    assert len({e.words for e in examples}) == 120
    assert sum(e.label == FOOD for e in examples) == 60 and sum(e.label == IT for e in examples) == 60
    for e in examples:
        diagram = parse_tagged(e.tagged)
        assert diagram.cod == S and diagram.dom == Ty()
        obj = e.words[-1]
        assert obj in VOCABULARY["object"][e.label]  # the label follows the object's topic
        assert obj not in VOCABULARY["object"][1 - e.label]


def test_generation_is_reproducible_and_bounded():
    assert generate_mc(20, seed=1) == generate_mc(20, seed=1)
    assert generate_mc(20, seed=1) != generate_mc(20, seed=2)
    with pytest.raises(QnlpError, match="num must be in"):
        generate_mc(10_000)


def test_write_and_read_round_trip(tmp_path):
    path = tmp_path / "mc.txt"
    examples = write_mc(path, 16, seed=0)
    assert read_tagged(path) == examples
    assert path.read_text() == format_tagged(examples)
    lexicon = Lexicon.from_tagged(t for e in examples for t in e.tagged)
    for e in read_plain_like(tmp_path, examples):
        assert parse(e.words, lexicon).cod == S


def read_plain_like(tmp_path, examples):
    """Write the same sentences untagged with a final full stop, as lambeq's files are, and read them back."""
    path = tmp_path / "plain.txt"
    path.write_text("".join(f"{e.label}  {e.sentence} .\n" for e in examples))
    plain = read_plain(path)
    assert [(p.label, p.words) for p in plain] == [(e.label, e.words) for e in examples]
    return plain


def test_bad_lines_name_file_and_line(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text("1 man_N cooks_TV meal_N\nx man_N\n")
    with pytest.raises(LexiconError, match=r"bad.txt:2: label 'x'"):
        read_tagged(path)
    path.write_text("1 man_N cooks meal_N\n")
    with pytest.raises(LexiconError, match=r"bad.txt:1: .*'cooks'"):
        read_tagged(path)
