"""Offline pregroup parser: hand-built diagrams, tensor semantics vs einsum, brute-force reduction search, errors."""

from __future__ import annotations

import functools
import random

import numpy as np
import pytest

pytest.importorskip("discopy")

from discopy import tensor  # noqa: E402
from discopy.grammar.pregroup import Category, Cup, Ty, Word  # noqa: E402

from qnlp import (  # noqa: E402
    TAG_TYPES,
    Lexicon,
    LexiconError,
    N,
    NoParseError,
    S,
    UnknownWordError,
    parse,
    parse_tagged,
    parse_type,
    parse_types,
)

n, s = N, S


def evaluate(diagram, arrays):
    """Contract a pregroup diagram with DisCoPy's tensor functor (n -> 2, s -> 3)."""
    functor = tensor.Functor(ob={n: 2, s: 3}, ar=lambda box: arrays[box], dom=Category(), dtype=float)
    return np.asarray(functor(diagram).array)


def random_arrays(diagram, seed=0):
    rng = np.random.default_rng(seed)
    dims = {"n": 2, "s": 3}
    return {box: rng.normal(size=[dims[ob.name] for ob in box.cod.inside]) for box in diagram.boxes
            if isinstance(box, Word)}


def test_transitive_sentence_matches_hand_built_diagram():
    man, cooks, meal = Word("man", n), Word("cooks", n.r @ s @ n.l), Word("meal", n)
    expected = man @ cooks @ meal >> Cup(n, n.r) @ s @ Cup(n.l, n)
    assert parse_tagged("man_N cooks_TV meal_N") == expected


def test_adjectives_match_hand_built_diagram():
    skillful, man, prepares = Word("skillful", n @ n.l), Word("man", n), Word("prepares", n.r @ s @ n.l)
    tasty, sauce = Word("tasty", n @ n.l), Word("sauce", n)
    words = skillful @ man @ prepares @ tasty @ sauce
    expected = words >> n @ Cup(n.l, n) @ n.r @ s @ Cup(n.l, n) @ Cup(n.l, n) >> Cup(n, n.r) @ s
    diagram = parse_tagged("skillful_ADJ man_N prepares_TV tasty_ADJ sauce_N")
    assert diagram == expected
    assert diagram.dom == Ty() and diagram.cod == s


def test_object_relative_clause_matches_hand_built_diagram():
    org, that = Word("organization", n), Word("that", n.r @ n @ n.l.l @ s.l)
    fleet, destroy = Word("fleet", n), Word("destroy", n.r @ s @ n.l)
    expected = (org @ that @ fleet @ destroy
                >> Cup(n, n.r) @ n @ n.l.l @ s.l @ Cup(n, n.r) @ s @ n.l
                >> n @ n.l.l @ Cup(s.l, s) @ n.l
                >> n @ Cup(n.l.l, n.l))  # iterated adjoint: n.l.l @ n.l -> 1
    assert parse_tagged("organization_N that_RPRON fleet_N destroy_V", target="n") == expected


def test_tensor_semantics_match_einsum():
    """The parsed diagram, evaluated as tensors, equals the textbook contraction written with einsum."""
    d = parse_tagged("skillful_ADJ man_N prepares_TV tasty_ADJ sauce_N")
    a = random_arrays(d, seed=1)
    adj1, man, prep, adj2, sauce = (a[b] for b in d.boxes[:5])
    reference = np.einsum("ij,j,isk,kl,l->s", adj1, man, prep, adj2, sauce)
    np.testing.assert_allclose(evaluate(d, a), reference, atol=1e-12)

    d = parse_tagged("device_N that_RPRON carry_V water_N", target="n")  # subject relative
    a = random_arrays(d, seed=2)
    dev, that, carry, water = (a[b] for b in d.boxes[:4])
    np.testing.assert_allclose(evaluate(d, a), np.einsum("a,abec,ceg,g->b", dev, that, carry, water), atol=1e-12)

    d = parse_tagged("device_N that_RPRON astronomer_N use_V", target="n")  # object relative
    a = random_arrays(d, seed=3)
    dev, that, astro, use = (a[b] for b in d.boxes[:4])
    np.testing.assert_allclose(evaluate(d, a), np.einsum("a,abce,f,fec->b", dev, that, astro, use), atol=1e-12)


def test_ambiguous_words_take_the_type_that_parses():
    lexicon = Lexicon({"man": "N", "cooks": "V", "meal": "N", "that": "RPRON", "chef": "N"})
    # V is transitive first, intransitive second: each is chosen where it fits
    assert parse("man cooks meal", lexicon).boxes[1].cod == n.r @ s @ n.l
    assert parse("man cooks", lexicon).boxes[1].cod == n.r @ s
    # RPRON is subject relative first, object relative second
    assert parse("chef that cooks meal", lexicon, target="n").boxes[1].cod == n.r @ n @ s.l @ n
    assert parse("meal that chef cooks", lexicon, target="n").boxes[1].cod == n.r @ n @ n.l.l @ s.l


def test_not_greedy_leftmost_cups():
    """s @ n.l | n | n.r @ n: cupping the leftmost pair (n.l, n) first strands n.r; the parser must not."""
    lexicon = Lexicon({"x": "s @ n.l", "y": "n", "z": "n.r @ n"})
    x, y, z = Word("x", s @ n.l), Word("y", n), Word("z", n.r @ n)
    assert parse("x y z", lexicon) == x @ y @ z >> s @ n.l @ Cup(n, n.r) @ n >> s @ Cup(n.l, n)


@pytest.mark.parametrize("order", ["man_N meal_N cooks_TV", "cooks_TV man_N meal_N", "man_N tasty_ADJ cooks_TV meal_N",
                                   "meal_N tasty_ADJ"])
def test_ungrammatical_orders_are_rejected(order):
    with pytest.raises(NoParseError) as info:
        parse_tagged(order)
    assert "to s" in str(info.value) and info.value.target == s
    assert info.value.partials  # the closest reductions are reported


def test_no_parse_reports_closest_reduction_with_words():
    with pytest.raises(NoParseError) as info:
        parse_tagged("man_N meal_N cooks_TV")
    assert info.value.partials[0] == "man: n | cooks: s @ n.l"


def test_relative_clause_is_a_noun_phrase_not_a_sentence():
    with pytest.raises(NoParseError, match="to s"):
        parse_tagged("organization_N that_RPRON fleet_N destroy_V")


def test_unknown_word_names_word_and_position():
    lexicon = Lexicon({"man": "N", "cooks": "TV"})
    with pytest.raises(UnknownWordError, match="'meal' at position 2") as info:
        parse("man cooks meal", lexicon)
    assert (info.value.word, info.value.position) == ("meal", 2)


def test_bad_tags_and_types_are_clear_errors():
    with pytest.raises(LexiconError, match="position 1: unknown POS tag 'XYZ'"):
        parse_tagged("man_N cooks_XYZ")
    with pytest.raises(LexiconError, match="word_TAG"):
        parse_tagged("man_N cooks")
    with pytest.raises(LexiconError, match="neither a known tag"):
        Lexicon({"man": "n.q"})
    with pytest.raises(LexiconError, match="candidate type lists"):
        parse_types(["a", "b"], [[n]])


def test_parse_type_round_trip_and_tag_table():
    for types in TAG_TYPES.values():
        for ty in types:
            assert parse_type(str(ty)) == ty
    assert parse_type("n.l.l @ s.r.r") == n.l.l @ s.r.r
    assert parse_type("1") == Ty()
    assert TAG_TYPES["ADV"][0] == n.r @ s @ s.l @ n


# ---- brute force reference: does some choice of types reduce to the target by adjacent contractions? ----

@functools.cache
def _reduces_to(seq: tuple, target: tuple) -> bool:
    if seq == target:
        return True
    for i in range(len(seq) - 1):
        (a, za), (b, zb) = seq[i], seq[i + 1]
        if a == b and zb == za + 1 and _reduces_to(seq[:i] + seq[i + 2:], target):
            return True
    return False


def _flat(ty: Ty) -> tuple:
    return tuple((ob.name, ob.z) for ob in ty.inside)


def _random_type(rng: random.Random) -> Ty:
    ty = Ty()
    for _ in range(rng.randint(1, 3)):
        simple = Ty(rng.choice("ns"))
        for _ in range(abs(z := rng.randint(-2, 2))):
            simple = simple.l if z < 0 else simple.r
        ty = ty @ simple
    return ty


def test_parser_agrees_with_brute_force_search():
    rng = random.Random(7)
    found = 0
    for case in range(400):
        num_words = rng.randint(1, 4)
        candidates = [[_random_type(rng) for _ in range(rng.randint(1, 2))] for _ in range(num_words)]
        if case % 2:  # half the time offer a reducible choice: n @ n.l, n, ..., n, n.r @ s
            if num_words == 1:
                candidates[0].append(s)
            else:
                candidates[0].append(n @ n.l)
                candidates[-1].append(n.r @ s)
                for middle in candidates[1:-1]:
                    middle.append(n)
        target = s
        words = [f"w{i}" for i in range(num_words)]
        choices = [[]]
        for types in candidates:
            choices = [c + [t] for c in choices for t in types]
        expected = any(_reduces_to(sum((_flat(t) for t in c), ()), _flat(target)) for c in choices)
        try:
            diagram = parse_types(words, candidates, target)
        except NoParseError:
            assert not expected, (candidates, case)
            continue
        assert expected, (candidates, case)
        found += 1
        assert diagram.cod == target and diagram.dom == Ty()
        chosen = [box.cod for box in diagram.boxes[:num_words]]
        assert all(t in c for t, c in zip(chosen, candidates))
        assert _reduces_to(sum((_flat(t) for t in chosen), ()), _flat(target))
    assert found > 50


def _planted(rng: random.Random, target: Ty, num_pairs: int) -> list[Ty]:
    """Grow a reducible sequence by inserting contractible pairs x^(z) x^(z+1) anywhere, then cut it into words."""
    flat = list(target.inside)
    for _ in range(num_pairs):
        simple = Ty(rng.choice("ns"))
        for _ in range(abs(z := rng.randint(-2, 1))):
            simple = simple.l if z < 0 else simple.r
        at = rng.randint(0, len(flat))
        flat[at:at] = [simple.inside[0], simple.r.inside[0]]
    cuts = sorted(rng.sample(range(1, len(flat)), rng.randint(1, min(5, len(flat) - 1))))
    return [Ty(*flat[a:b]) for a, b in zip([0, *cuts], [*cuts, len(flat)])]


def test_parser_agrees_with_brute_force_on_planted_sentences():
    """Longer sentences built to reduce (plus a distractor type per word, plus shuffled word orders)."""
    rng = random.Random(3)
    outcomes = []
    for _ in range(150):
        target = rng.choice([s, n, n @ s])
        candidates = [[ty] for ty in _planted(rng, target, rng.randint(2, 5))]
        for types in candidates:
            if rng.random() < 0.5:
                types.insert(rng.randint(0, 1), _random_type(rng))
        if rng.random() < 0.5:
            rng.shuffle(candidates)
        choices = [[]]
        for types in candidates:
            choices = [c + [t] for c in choices for t in types]
        expected = any(_reduces_to(sum((_flat(t) for t in c), ()), _flat(target)) for c in choices)
        try:
            diagram = parse_types([f"w{i}" for i in range(len(candidates))], candidates, target)
        except NoParseError:
            assert not expected, (candidates, target)
            outcomes.append(False)
            continue
        assert expected, (candidates, target)
        assert diagram.cod == target
        outcomes.append(True)
    assert 30 < sum(outcomes) < len(outcomes) - 10  # both outcomes well represented


def test_parse_any_chooses_the_parser_by_the_tokens():
    """Tagged tokens go to the tag parser, an all-lexicon sentence to the lexicon, anything else to the plain-English
    parser (with the lexicon for the words it has): each equals the parser it names."""
    from qnlp.parser import parse_any, parse_plain

    lexicon = Lexicon({"man": "N", "cooks": "TV", "meal": "N"})
    assert parse_any("man_N cooks_TV meal_N") == parse_tagged("man_N cooks_TV meal_N")
    assert parse_any("man cooks meal", lexicon=lexicon) == parse("man cooks meal", lexicon)
    plain = "the man cooks a meal"
    assert parse_any(plain, lexicon=lexicon) == parse_plain(plain, "s", lexicon)
    with pytest.raises(UnknownWordError):
        parse("the man cooks a meal", lexicon)  # so the plain parser, not the lexicon, typed it
