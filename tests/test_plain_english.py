"""Plain (untagged) English: the offline tagger, the Penn-tag pregroup lexicon, the incremental parser, fragments,
``qnlp parse`` (qnlp.parse_cmd), the training fallback and bad input."""

from __future__ import annotations

import argparse
import json
import random
from collections import Counter
from pathlib import Path

import pytest

pytest.importorskip("discopy")
pytest.importorskip("textblob")  # the tagger's data; never imported by qnlp

from discopy.grammar.pregroup import Cup, Ty, Word  # noqa: E402

import qnlp.parser as parser  # noqa: E402
from qnlp import parse_tagged, parse_types, read_plain, read_tagged  # noqa: E402
from qnlp.errors import LexiconError, NoParseError  # noqa: E402
from qnlp.grammar import Lexicon  # noqa: E402
from qnlp.parse_cmd import add_parser, read_sentences  # noqa: E402
from qnlp.parser import (  # noqa: E402
    MAX_PLAIN_WORDS,
    PLAIN_BEAM,
    _incremental,
    _reduce,
    _simples,
    parse_plain,
    plain_candidates,
)
from qnlp.pipeline import Pipeline, fallback_counts  # noqa: E402
from qnlp.tagger import tag  # noqa: E402

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "lambeq_mc_rp"
REVIEWS = Path(__file__).parent / "data" / "review_sentences.txt"

# Sentences written and hand-tagged (Penn Treebank tags) for this test; the tagger's lexicon never saw them.
GOLD = """the/DT old/JJ man/NN reads/VBZ a/DT long/JJ book/NN
she/PRP quickly/RB opened/VBD the/DT door/NN and/CC walked/VBD into/IN the/DT garden/NN
we/PRP will/MD visit/VB our/PRP$ friends/NNS in/IN the/DT spring/NN
the/DT children/NNS were/VBD playing/VBG near/IN the/DT river/NN
this/DT restaurant/NN serves/VBZ excellent/JJ food/NN at/IN reasonable/JJ prices/NNS
he/PRP did/VBD not/RB understand/VB the/DT question/NN
the/DT report/NN that/WDT the/DT committee/NN published/VBD was/VBD very/RB critical/JJ
my/PRP$ brother/NN has/VBZ lived/VBN in/IN three/CD different/JJ cities/NNS
the/DT new/JJ bridge/NN will/MD open/VB next/JJ year/NN
they/PRP found/VBD a/DT small/JJ cat/NN under/IN the/DT car/NN
the/DT teacher/NN gave/VBD the/DT students/NNS a/DT difficult/JJ test/NN
it/PRP is/VBZ raining/VBG again/RB
most/JJS people/NNS prefer/VBP coffee/NN to/TO tea/NN
the/DT museum/NN is/VBZ closed/VBN on/IN mondays/NNS
she/PRP can/MD speak/VB four/CD languages/NNS
the/DT company/NN hired/VBD two/CD engineers/NNS last/JJ month/NN
our/PRP$ neighbours/NNS own/VBP a/DT large/JJ dog/NN
the/DT weather/NN was/VBD cold/JJ and/CC wet/JJ
he/PRP always/RB arrives/VBZ early/RB
the/DT doctor/NN who/WP treated/VBD him/PRP is/VBZ famous/JJ
i/PRP have/VBP never/RB seen/VBN such/JJ a/DT beautiful/JJ sunset/NN
the/DT price/NN of/IN oil/NN rose/VBD sharply/RB
we/PRP should/MD leave/VB before/IN dark/NN
the/DT film/NN was/VBD boring/JJ but/CC the/DT music/NN was/VBD good/JJ
these/DT shoes/NNS are/VBP too/RB small/JJ for/IN me/PRP
the/DT farmer/NN sold/VBD his/PRP$ horses/NNS
everyone/NN enjoyed/VBD the/DT party/NN
the/DT students/NNS must/MD finish/VB their/PRP$ work/NN by/IN friday/NNP
a/DT strong/JJ wind/NN blew/VBD across/IN the/DT hills/NNS
she/PRP writes/VBZ letters/NNS to/TO her/PRP$ grandmother/NN every/DT week/NN"""


def test_tagging_accuracy_on_held_out_gold_tags():
    """Measured: 190/204 tags exact (0.931), 197/204 right in the first two letters (noun / verb / adjective /
    adverb ..., 0.966; what the lexicon mostly uses). Thresholds: 6 errors below each."""
    exact = coarse = total = 0
    for line in GOLD.splitlines():
        words, gold = zip(*(token.rsplit("/", 1) for token in line.split()))
        for want, got in zip(gold, tag(list(words))):
            total, exact, coarse = total + 1, exact + (want == got), coarse + (want[:2] == got[:2])
    assert total == 204
    assert exact >= 184 and coarse >= 191


N, S = Ty("n"), Ty("s")
ATTR, TV, IV, PRE_VP, POST_VP = "n @ n.l", "n.r @ s @ n.l", "n.r @ s", "n.r @ s @ s.l @ n", "s.r @ n.r.r @ n.r @ s"

# One sentence per construction, with the type of each word checked by hand.
CONSTRUCTIONS = {
    "determiners and adjectives": ("the old man reads a long book", [ATTR, ATTR, "n", TV, ATTR, ATTR, "n"], S),
    "adverb before the verb": ("she quickly reads the book", ["n", PRE_VP, TV, ATTR, "n"], S),
    "adverb after the verb": ("the film ends quickly", [ATTR, "n", IV, POST_VP], S),
    "prepositional phrase on a noun": ("the man in the car sleeps", [ATTR, "n", "n.r @ n @ n.l", ATTR, "n", IV], S),
    "prepositional phrase on a verb": ("i cried at the end", ["n", IV, "s.r @ n.r.r @ n.r @ s @ n.l", ATTR, "n"], S),
    "auxiliary and negation": ("the film does not work", [ATTR, "n", PRE_VP, PRE_VP, IV], S),
    "contracted negation": ("the film is n't bad", [ATTR, "n", PRE_VP, PRE_VP, IV], S),
    "sentence conjunction": ("the cast is great and the music is wonderful",
                             [ATTR, "n", PRE_VP, IV, "s.r @ s @ s.l", ATTR, "n", PRE_VP, IV], S),
    "subject relative clause": ("the man who reads books sleeps",
                                [ATTR, "n", "n.r @ n @ s.l @ n", TV, "n", IV], S),
    "object relative clause": ("the book that the man reads is long",
                               [ATTR, "n", "n.r @ n @ n.l.l @ s.l", ATTR, "n", TV, PRE_VP, IV], S),
    "copula with an adjective": ("the film is good", [ATTR, "n", PRE_VP, IV], S),
    "copula with a noun phrase": ("the film is a triumph", [ATTR, "n", TV, ATTR, "n"], S),
    "possessive": ("the director 's film is long", [ATTR, "n", "n.r @ n @ n.l", "n", PRE_VP, IV], S),
    "comma before a conjunction": ("the plot is thin , but the cast is great",
                                   [ATTR, "n", PRE_VP, IV, "s.r @ s", "s.r @ s @ s.l", ATTR, "n", PRE_VP, IV], S),
    "noun phrase fragment": ("a film about war", [ATTR, "n", "n.r @ n @ n.l", "n"], N),
}


@pytest.mark.parametrize("name", list(CONSTRUCTIONS))
def test_construction(name):
    """The parser's types are the hand-checked ones; they reduce to the codomain in the CKY chart too (an
    independent algorithm), and the diagram's cups close every other wire."""
    sentence, types, cod = CONSTRUCTIONS[name]
    diagram = parse_plain(sentence, fragments=True)
    words = sentence.split()
    assert [str(box.cod) for box in diagram.boxes[:len(words)]] == types
    assert [box.name for box in diagram.boxes[:len(words)]] == words
    assert diagram.dom == Ty() and diagram.cod == cod
    assert parse_types(words, [[t] for t in types], cod).cod == cod
    width, cups = _typed_widths(diagram)
    assert width - 2 * cups == len(cod)


def test_fragments_only_when_asked():
    """Without fragments the parse must reach the target, here only through tags the tagger did not give ("film"
    as a verb); with fragments the cheaper noun phrase wins."""
    assert parse_plain("a film about war").cod == S
    assert parse_plain("a film about war", fragments=True).cod == N
    assert parse_plain("a film about war", target="n").cod == N
    with pytest.raises(NoParseError, match="no pregroup reduction of 'of of' .*tagged of_IN of_IN"):
        parse_plain("of of", fragments=True)


def _typed_widths(diagram) -> tuple[int, int]:
    words = [box for box in diagram.boxes if isinstance(box, Word)]
    cups = [box for box in diagram.boxes if isinstance(box, Cup)]
    assert len(words) + len(cups) == len(diagram.boxes)
    return sum(len(w.cod) for w in words), len(cups)


def test_review_coverage_and_every_codomain():
    """Every typed review sentence is a diagram from the unit to s or n whose cups close all other wires."""
    sentences, skipped = read_sentences(REVIEWS)
    assert len(sentences) == 100 and skipped == 0
    typed = 0
    for _, words in sentences:
        try:
            diagram = parse_plain(words, fragments=True)
        except NoParseError:
            continue
        typed += 1
        assert diagram.dom == Ty() and diagram.cod in (S, N)
        width, cups = _typed_widths(diagram)
        assert width - 2 * cups == 1
    assert typed >= 95  # measured 99 of 100


def test_incremental_parser_matches_the_chart_on_random_types():
    """The left-to-right parser (with a beam wide enough to keep every state) finds the same cheapest cost as the
    CKY chart, and a parse exactly when the chart does."""
    rng = random.Random(0)
    pool = [N, S, N @ N.l, N.r @ S, N.r @ S @ N.l, N.r @ N @ N.l, S @ S.l, S.r @ S, N.r @ S @ S.l @ N,
            N.r @ N @ N.l.l @ S.l, N.l, N.r]
    parsed = 0
    for _ in range(300):
        words = [f"w{i}" for i in range(rng.randint(1, 6))]
        candidates = [rng.sample(pool, rng.randint(1, 3)) for _ in words]
        costs = [[rng.randint(0, 3) for _ in types] for types in candidates]
        for target in (S, N):
            chart = _reduce(words, candidates, target, costs)
            found = _incremental(candidates, costs, [_simples(target)], beam=10**6).get(_simples(target))
            assert (chart is None) == (found is None)
            if chart is not None:
                parsed += 1
                assert chart[1] == found[0]
    assert parsed > 25


def _reference_incremental(candidates, costs, goals, beam):
    """The beam search of :func:`qnlp.parser._incremental` written plainly (simple types as (name, z) pairs, every
    new stack tested before ranking, one sort key tuple): the fast version must keep exactly the same states."""
    simples = [[_simples(ty) for ty in types] for types in candidates]
    later = [Counter()]
    for types in reversed(simples):
        most = Counter()
        for ty in types:
            most |= Counter(ty)
        later.append(later[-1] + most)
    later.reverse()

    def still_open(residual, supply):
        start = max(next((t for t, (a, b) in enumerate(zip(goal, residual)) if a != b), min(len(goal), len(residual)))
                    for goal in goals)
        needed = Counter((name, z + 1) for name, z in residual[start:])
        return all(supply[partner] >= count for partner, count in needed.items())

    states, history = {(): (0, None, -1, 0)}, []
    for j, types in enumerate(simples):
        step, closed = {}, set()
        for residual, (cost, *_) in states.items():
            for c, ty in enumerate(types):
                total, kmax = cost + costs[j][c], 0
                while kmax < min(len(residual), len(ty)) and residual[-1 - kmax][0] == ty[kmax][0] \
                        and ty[kmax][1] == residual[-1 - kmax][1] + 1:
                    kmax += 1
                for k in range(kmax, -1, -1):
                    new = residual[:len(residual) - k] + ty[k:]
                    if new in step:
                        if total < step[new][0]:
                            step[new] = (total, residual, c, k)
                    elif new not in closed:
                        if still_open(new, later[j + 1]):
                            step[new] = (total, residual, c, k)
                        else:
                            closed.add(new)
        states = dict(sorted(step.items(), key=lambda item: (item[1][0] + len(item[0]), item[1][0]))[:beam])
        history.append(states)
    found = {}
    for goal in goals:
        if goal in states:
            choices, ks, residual = [], [], goal
            for kept in reversed(history):
                _, residual, c, k = kept[residual]
                choices.append(c)
                ks.append(k)
            found[goal] = (states[goal][0], choices[::-1], ks[::-1])
    return found


def _corpus() -> list[list[str]]:
    """Review sentences, every plain MC/RP sentence (when the data is there) and review sentences joined in pairs
    (17-30 words), as tokens."""
    reviews = [words for _, words in read_sentences(REVIEWS)[0]]
    out = reviews + [a + [",", "and"] + b for a, b in zip(reviews, reviews[1:] + reviews[:1])]
    for name in ("mc_train_data.txt", "mc_dev_data.txt", "mc_test_data.txt", "rp_train_data.txt", "rp_test_data.txt"):
        if (DATA / name).is_file():
            out += [item.words for item in read_plain(DATA / name)]
    return out


def test_fast_search_keeps_the_states_of_the_plain_search():
    """On every corpus sentence (with the tagger's tags and with the alternatives) and on random types with many
    ties with narrow beams (ties at the cut), the integer-coded search returns the cost, types and contractions
    of the plain search."""
    goals = [_simples(S), _simples(N)]
    cases = []
    for words in _corpus():
        tags = tag(words)
        cases += [(*plain_candidates(words, tags, None, alternatives), PLAIN_BEAM) for alternatives in (False, True)]
    rng = random.Random(2)  # random types with costs 0 or 1: many equally cheap derivations
    pool = [N, S, N @ N.l, N.r @ S, N.r @ S @ N.l, N.r @ N @ N.l, S @ S.l, S.r @ S, N.r @ S @ S.l @ N, N.l, N.r]
    for _ in range(150):
        candidates = [rng.sample(pool, rng.randint(1, 4)) for _ in range(rng.randint(2, 12))]
        cases.append((candidates, [[rng.randint(0, 1) for _ in types] for types in candidates], rng.randint(2, 8)))
    compared = 0
    for candidates, costs, beam in cases:
        fast = _incremental(candidates, costs, goals, beam)
        plain = _reference_incremental(candidates, costs, goals, beam)
        assert fast.keys() == plain.keys(), candidates
        for goal, (cost, choices, cups) in fast.items():
            assert (cost, choices) == plain[goal][:2], candidates
            ks = [sum(1 for _, b in cups if _starts(candidates, choices, w) <= b < _starts(candidates, choices, w + 1))
                  for w in range(len(candidates))]
            assert ks == plain[goal][2], candidates
            compared += 1
    assert compared > 400


def _starts(candidates, choices, w) -> int:
    """Position of the first wire of word ``w`` (the number of cups ending in a word is its k)."""
    return sum(len(candidates[v][c]) for v, c in enumerate(choices[:w]))


def _same_object(a, b, seen=None) -> bool:
    """Same class and, attribute for attribute, the same values (DisCoPy objects compared recursively)."""
    seen = set() if seen is None else seen
    if (id(a), id(b)) in seen:
        return True
    seen.add((id(a), id(b)))
    if type(a) is not type(b):
        return False
    if isinstance(a, tuple | list):
        return len(a) == len(b) and all(_same_object(x, y, seen) for x, y in zip(a, b))
    if type(a).__module__.startswith("discopy."):
        return vars(a).keys() == vars(b).keys() and all(_same_object(vars(a)[k], vars(b)[k], seen) for k in vars(a))
    return a == b


def test_diagrams_built_directly_are_those_of_discopys_constructors(monkeypatch):
    """The diagram's types and layers made without DisCoPy's constructors are, attribute for attribute, the ones
    its constructors make (the plain parser and the tagged chart parser, on every corpus sentence)."""
    assert parser._FAST  # DisCoPy 1.2.2, which the project pins
    sentences = [words for words in _corpus()[:200] if _parses(words)]  # the review sentences, alone and joined
    fast = [parse_plain(words, fragments=True) for words in sentences]
    fast.append(parse_tagged("skillful_ADJ man_N prepares_TV sauce_N"))
    monkeypatch.setattr(parser, "_FAST", False)
    slow = [parse_plain(words, fragments=True) for words in sentences]
    slow.append(parse_tagged("skillful_ADJ man_N prepares_TV sauce_N"))
    assert len(sentences) > 190
    for one, other in zip(fast, slow):
        assert one == other and repr(one) == repr(other) and str(one) == str(other)
        assert _same_object(one, other), repr(one)


def test_absurd_adjoint_orders_are_refused():
    """Integer codes hold adjoint orders below 2**15: beyond that, one clear error rather than a wrong parse."""
    deep = Ty("n")
    for _ in range(1 << 15):
        deep = deep.l
    with pytest.raises(LexiconError, match="too many"):
        parse_plain(["w"], "n", lexicon=Lexicon({"w": deep}))


def test_ambiguity_is_resolved_the_same_whatever_the_order():
    """Parsing in another order, with a lexicon given in another order, gives the same diagrams."""
    sentences = [words for _, words in read_sentences(REVIEWS)[0]][:30]
    first = {" ".join(w): parse_plain(w, fragments=True) for w in sentences if _parses(w)}
    shuffled = list(first)
    random.Random(1).shuffle(shuffled)
    assert all(parse_plain(s, fragments=True) == first[s] for s in shuffled)
    entries = {"film": "N", "good": ["n.r @ s", "n @ n.l"], "is": ["n.r @ s @ s.l @ n", "n.r @ s @ n.l"]}
    reversed_entries = {word: entries[word] for word in reversed(entries)}
    one, two = Lexicon(entries), Lexicon(reversed_entries)
    assert parse_plain("the film is good", lexicon=one) == parse_plain("the film is good", lexicon=two)


def _parses(words) -> bool:
    try:
        parse_plain(words, fragments=True)
        return True
    except NoParseError:
        return False


@pytest.mark.skipif(not (DATA / "tagged").is_dir(), reason=f"lambeq MC/RP data not found at {DATA}")
def test_plain_mc_parses_as_the_tagged_copy():
    """Every plain MC sentence gets the diagram of its hand-tagged copy (so it trains the same); RP mostly does
    (a relative clause of two nouns-or-verbs is ambiguous without agreement: measured 97 of 105)."""
    for name in ("mc_train_data.txt", "mc_dev_data.txt", "mc_test_data.txt"):
        for plain, tagged in zip(read_plain(DATA / name), read_tagged(DATA / "tagged" / name)):
            assert parse_plain(plain.words) == parse_tagged(tagged.tagged)
    same = total = 0
    for name in ("rp_train_data.txt", "rp_test_data.txt"):
        for plain, tagged in zip(read_plain(DATA / name), read_tagged(DATA / "tagged" / name)):
            total += 1
            same += parse_plain(plain.words, "n") == parse_tagged(tagged.tagged, "n")
    assert total == 105 and same >= 94


def _parse_main(argv) -> int:
    """``qnlp parse`` as the qnlp CLI runs it (the command is registered here until qnlp.cli wires it)."""
    from tnq.cli import options
    from tnq.cli.main import run_command

    parser = options.OneLineParser(prog="qnlp")
    add_parser(parser.add_subparsers(dest="command", required=True))
    return run_command(parser.parse_args(argv), "qnlp")


def _run_parse(argv, capsys) -> tuple[int, str, str]:
    code = _parse_main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_parse_command_json(tmp_path, capsys):
    text = tmp_path / "reviews.txt"
    text.write_text("the acting is superb .\na charming little comedy\nthe cast does what it can with a weak script\n")
    code, out, _ = _run_parse(["parse", str(text), "--json"], capsys)
    report = json.loads(out)
    assert code == 0
    assert {k: report[k] for k in ("sentences", "parsed", "fragments", "failed", "skipped")} == \
        {"sentences": 3, "parsed": 1, "fragments": 1, "failed": 1, "skipped": 0}
    assert report["fragment_types"] == {"n": 1}
    assert report["failures"][0]["line"] == f"{text}:3" and "no pregroup reduction" in report["failures"][0]["error"]


def test_parse_command_saves_diagrams(tmp_path, capsys):
    text = tmp_path / "one.txt"
    text.write_text("1 man_N prepares_TV meal_N\n")
    code, out, _ = _run_parse(["parse", str(text), "--labelled", "--out", str(tmp_path / "d")], capsys)
    assert code == 0 and "1 parsed as s" in out
    assert (tmp_path / "d" / "line-1-diagram.png").stat().st_size > 0


@pytest.mark.parametrize("content, message", [
    (b"a good film\n\nthe end\n", ":2: empty line"),
    (b"a good film\nthe \xff end\n", ":2: not UTF-8 text"),
    ("a good film\n\u0444\u0438\u043b\u044c\u043c good\n".encode(), ":2: word"),
    (("word " * (MAX_PLAIN_WORDS + 1) + "\n").encode(), f":1: sentence of {MAX_PLAIN_WORDS + 1} words"),
])
def test_bad_lines_are_one_error_or_a_counted_skip(tmp_path, capsys, content, message):
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    code, _, err = _run_parse(["parse", str(path)], capsys)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1 and str(path) in err
    code, out, _ = _run_parse(["parse", str(path), "--skip-bad", "--json"], capsys)
    assert code == 0 and json.loads(out)["skipped"] == 1
    assert path.read_bytes() == content


def test_other_scripts_and_control_characters_are_refused():
    with pytest.raises(LexiconError, match="not in the Latin script"):
        parse_plain("a \u4e2d\u6587 film")
    with pytest.raises(LexiconError, match="control"):
        parse_plain("a fi\x07lm")
    with pytest.raises(LexiconError, match="empty sentence"):
        parse_plain([])


def test_train_fallback_counts_each_split_once(tmp_path, capsys):
    """``qnlp train --fallback``: the sentence the parser cannot type is read by the fallback, counted per split."""
    import json

    from qnlp.cli import main

    data = tmp_path / "reviews.txt"
    data.write_text("1 the acting is superb\n0 the cast does what it can with a weak script\n"
                    "1 the music is wonderful\n0 the plot is dull\n")
    argv = ["train", "--data", str(data), "--test", str(data), "--reader", "pregroup", "--epochs", "1",
            "--no-progress", "--json"]
    assert main(argv + ["--fallback", "spiders"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["train_fallback"] == 1 and result["test_fallback"] == 1
    assert main(argv) == 2 and "weak script" in capsys.readouterr().err  # without it: one error naming the sentence


def test_fallback_reads_what_the_parser_cannot_and_counts_it():
    sentences = ["the acting is superb", "the cast does what it can with a weak script", "the music is wonderful"]
    with pytest.raises(NoParseError):
        Pipeline(reader="pregroup").diagram(sentences[1])
    pipeline = Pipeline(reader="pregroup", fallback="spiders")
    counts = fallback_counts(pipeline, {"train": sentences, "test": sentences[1:2]})
    assert counts == {"train_fallback": 1, "test_fallback": 1}
    assert pipeline.fallbacks == [sentences[1]]
    assert pipeline.diagram(sentences[0]).cod == S
    assert Pipeline.from_config(pipeline.config).fallback == "spiders"
    with pytest.raises(Exception, match="fall back"):
        Pipeline(reader="spiders", fallback="cups")


def test_plain_training_file_errors_name_file_and_line(tmp_path, capsys):
    from qnlp.cli import main

    data = tmp_path / "train.txt"
    data.write_text("1 man cooks meal .\n0 man \u0444\u0438\u043b\u044c\u043c program .\n")
    assert main(["train", "--data", str(data), "--epochs", "1", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert f"{data}:2" in err and "Latin script" in err and len(err.strip().splitlines()) == 1


def test_argparse_registration():
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    args = parser.parse_args(["parse", "f.txt", "--target", "n", "--json"])
    assert (args.file, args.target, args.json, args.out) == ("f.txt", "n", True, None)


def test_pregroup_reader_takes_plain_english():
    from qnlp.readers import PregroupReader

    assert PregroupReader()("the film is good") == parse_plain("the film is good")
    assert PregroupReader(fragments=True)("a good film").cod == N
    lexicon = Lexicon({"film": "N", "rocks": "IV"})
    assert PregroupReader(lexicon)("film rocks") == parse_types(["film", "rocks"], [[N], [N.r @ S]])


def test_fuzzed_sentence_files_read_and_parse_cleanly(tmp_path, capsys):
    """Damaged review files: ``qnlp parse`` (with and without --skip-bad) exits 0 or 2 with one message, never a
    traceback, and leaves the file as it was."""
    from fuzzing import assert_cli_cleanly, mutations

    path = tmp_path / "reviews.txt"
    valid = "\n".join(REVIEWS.read_text().splitlines()[:6]).encode()

    for data in mutations(valid, 24, seed=7):
        path.write_bytes(data)
        assert_cli_cleanly(_parse_main, ["parse", str(path), "--json"], capsys, [path])
        assert_cli_cleanly(_parse_main, ["parse", str(path), "--skip-bad"], capsys, [path])
