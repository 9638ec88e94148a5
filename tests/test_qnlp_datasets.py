"""Parse every sentence of lambeq's MC and RP data sets (read from ../shared; skipped when it is absent)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("discopy")

from discopy import tensor  # noqa: E402
from discopy.grammar.pregroup import Category, Ty, Word  # noqa: E402

from qnlp import Lexicon, N, NoParseError, S, parse, parse_tagged, read_plain, read_tagged  # noqa: E402

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "lambeq_mc_rp"
pytestmark = pytest.mark.skipif(not (DATA / "tagged").is_dir(), reason=f"lambeq MC/RP data not found at {DATA}")

MC = ["mc_train_data.txt", "mc_dev_data.txt", "mc_test_data.txt"]
RP = ["rp_train_data.txt", "rp_test_data.txt"]
SUBJECT_RELATIVE, OBJECT_RELATIVE = N.r @ N @ S.l @ N, N.r @ N @ N.l.l @ S.l


def _load(names):
    return [e for name in names for e in read_tagged(DATA / "tagged" / name)]


def test_dataset_sizes_and_plain_copies_agree():
    for name, size in zip(MC + RP, [70, 30, 30, 74, 31]):
        tagged, plain = read_tagged(DATA / "tagged" / name), read_plain(DATA / name)
        assert len(tagged) == len(plain) == size
        assert [(e.label, e.words) for e in tagged] == [(e.label, e.words) for e in plain]


def test_every_mc_sentence_parses_to_a_sentence():
    for example in _load(MC):
        diagram = parse_tagged(example.tagged)
        assert diagram.dom == Ty() and diagram.cod == S
        assert [b.name for b in diagram.boxes if isinstance(b, Word)] == list(example.words)
        verb = example.tags.index("TV")
        verb_first = [example.tagged[verb]] + example.tagged[:verb] + example.tagged[verb + 1:]
        with pytest.raises(NoParseError, match="to s"):
            parse_tagged(verb_first)


def test_every_rp_phrase_parses_to_a_noun_with_the_labelled_relative_pronoun():
    """RP label 1 = object relative ("device that astronomer use"), 0 = subject relative: the parser must pick the
    matching type of the ambiguous RPRON tag from word order alone."""
    examples = _load(RP)
    for example in examples:
        diagram = parse_tagged(example.tagged, target="n")
        assert diagram.dom == Ty() and diagram.cod == N
        that = diagram.boxes[example.tags.index("RPRON")]
        assert that.cod == (OBJECT_RELATIVE if example.label == 1 else SUBJECT_RELATIVE), example.sentence
        with pytest.raises(NoParseError, match="to s"):
            parse_tagged(example.tagged, target="s")
    assert {e.label for e in examples} == {0, 1}


def test_plain_text_with_a_lexicon_built_from_the_tags_gives_the_same_diagrams():
    """Words seen with several tags across the corpus (e.g. "that" with both relative types) stay ambiguous in the
    lexicon; parsing the untagged sentences must still recover the tagged parse."""
    lexicon = Lexicon.from_tagged(t for e in _load(MC + RP) for t in e.tagged)
    assert len(lexicon.types("that")) == 2
    for names, target in ((MC, "s"), (RP, "n")):
        for name in names:
            for plain, tagged in zip(read_plain(DATA / name), read_tagged(DATA / "tagged" / name)):
                assert parse(plain.words, lexicon, target) == parse_tagged(tagged.tagged, target)


def test_rp_diagram_semantics_match_einsum():
    """Contract a few RP diagrams as tensors and compare with the relative-clause einsum written by hand."""
    rng = np.random.default_rng(0)
    for example in _load(RP)[::15]:
        diagram = parse_tagged(example.tagged, target="n")
        arrays = {b: rng.normal(size=[{"n": 2, "s": 3}[o.name] for o in b.cod.inside]) for b in diagram.boxes[:4]}
        functor = tensor.Functor(ob={N: 2, S: 3}, ar=lambda b, a=arrays: a[b], dom=Category(), dtype=float)
        head, that, x, y = (arrays[b] for b in diagram.boxes[:4])
        if example.label == 1:  # head that subject verb
            reference = np.einsum("a,abce,f,fec->b", head, that, x, y)
        else:  # head that verb object
            reference = np.einsum("a,abec,ceg,g->b", head, that, x, y)
        np.testing.assert_allclose(np.asarray(functor(diagram).array), reference, atol=1e-12)
