"""Readers against lambeq 0.5 (the reference): our DisCoPy diagrams equal lambeq's converted with to_discopy()."""

import pytest
from discopy.grammar.pregroup import Diagram, Ty

from qnlp import Lexicon, QnlpError, parse
from qnlp.readers import (
    CupsReader,
    PregroupReader,
    StairsReader,
    TreeReader,
    cups_reader,
    from_lambeq,
    per_level,
    per_step,
    spiders_reader,
    stairs_reader,
    to_lambeq,
    tree_reader,
    uniform,
)

lambeq = pytest.importorskip("lambeq")

SENTENCES = ["alice", "alice runs", "man prepares tasty meal", "a b c d e", "one two three four five six seven"]


@pytest.mark.parametrize("sentence", SENTENCES)
@pytest.mark.parametrize("name", ["spiders_reader", "cups_reader", "stairs_reader"])
def test_linear_readers_equal_lambeq(name, sentence):
    ours = {"spiders_reader": spiders_reader, "cups_reader": cups_reader, "stairs_reader": stairs_reader}[name]
    reference = from_lambeq(getattr(lambeq, name).sentence2diagram(sentence))
    diagram = ours(sentence)
    assert isinstance(diagram, Diagram)
    assert diagram == reference
    assert diagram.cod == Ty("s") and diagram.dom == Ty()
    assert ours(sentence.split()) == diagram  # a list of words reads the same


def _ccg_tree(words):
    """The same pairwise tree as TreeReader, as a hand-built CCG tree for lambeq's TreeReader.tree2diagram."""
    from lambeq.text2diagram.ccg_rule import CCGRule
    from lambeq.text2diagram.ccg_tree import CCGTree
    from lambeq.text2diagram.ccg_type import CCGType
    nodes = [CCGTree(w, rule=CCGRule.LEXICAL, biclosed_type=CCGType.SENTENCE) for w in words]
    while len(nodes) > 1:
        merged = [CCGTree(rule=CCGRule.FORWARD_APPLICATION, biclosed_type=CCGType.SENTENCE,
                          children=[nodes[i], nodes[i + 1]]) for i in range(0, len(nodes) - 1, 2)]
        nodes = merged + nodes[len(nodes) - len(nodes) % 2:]
    return nodes[0]


@pytest.mark.parametrize("sentence", SENTENCES)
def test_tree_reader_equals_lambeq_tree2diagram(sentence):
    from lambeq import TreeReader as LambeqTree
    from lambeq import TreeReaderMode
    tree = _ccg_tree(sentence.split())
    for mode, hook in [(TreeReaderMode.NO_TYPE, None), (TreeReaderMode.HEIGHT, per_level())]:
        reference = from_lambeq(LambeqTree.tree2diagram(tree, mode=mode))
        diagram = TreeReader(box_name=hook)(sentence)
        assert diagram.normal_form() == reference.normal_form()  # same morphism; layers may be interleaved


def test_tree_shape_by_hand():
    diagram = tree_reader("a b c d e")
    names = [box.name for box in diagram.boxes]
    assert names == ["a", "b", "c", "d", "e"] + ["UNIBOX"] * 4
    assert TreeReader.shape(5) == [(1, 0, 1), (1, 2, 3), (2, 0, 1), (3, 0, 1)]
    seen = []
    TreeReader(box_name=lambda level, k: seen.append((level, k)) or f"L{level}k{k}")("a b c d e")
    assert seen == [(1, 0), (1, 1), (2, 0), (3, 0)]


def test_naming_hooks():
    stairs = StairsReader(box_name=per_step())("a b c d")
    assert [b.name for b in stairs.boxes[4:]] == ["STAIR_0", "STAIR_1", "STAIR_2"]
    flat = StairsReader(box_name=uniform("RNN"))("a b c")
    assert {b.name for b in flat.boxes[3:]} == {"RNN"}
    with pytest.raises(QnlpError, match="box_name"):
        StairsReader(box_name=lambda step: "")("a b")


def test_word_type_parameter():
    p = Ty("p")
    diagram = CupsReader(word_type=p)("x y")
    assert diagram.cod == p
    assert StairsReader(word_type=p @ p)("x y z").cod == p @ p
    assert TreeReader(word_type=p)("x y z").cod == p


def test_bad_sentences():
    with pytest.raises(QnlpError, match="empty"):
        cups_reader("   ")
    with pytest.raises(QnlpError, match="position 1"):
        spiders_reader(["a", "b c"])


def test_pregroup_reader_and_lambeq_round_trip():
    lexicon = Lexicon({"Alice": "N", "loves": "TV", "Bob": "N"})
    diagram = PregroupReader(lexicon)("Alice loves Bob")
    assert diagram == parse("Alice loves Bob", lexicon)
    converted = to_lambeq(diagram)
    assert type(converted).__module__.startswith("lambeq.")
    assert from_lambeq(converted) == diagram
    with pytest.raises(QnlpError, match="lambeq diagram"):
        from_lambeq(diagram)
