"""Protein diagrams (ptn stairs / ctn tree, uniform / hierarchical sharing): evaluated with random tensors through a
DisCoPy tensor functor and compared with the same network folded by hand in numpy (RNN fold, pairwise tree)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("discopy")

from discopy import tensor  # noqa: E402
from discopy.grammar.pregroup import Category  # noqa: E402

from qnlp.grammar import S  # noqa: E402
from qnlp.protein.diagrams import ProteinReader  # noqa: E402
from qnlp.protein.errors import ProteinDataError, UnknownResidueError  # noqa: E402
from qnlp.protein.sequences import SequenceSet  # noqa: E402
from qnlp.protein.windows import pool  # noqa: E402

DIM = 3


def _arrays(seed: int = 0):
    """Random word vectors and combining matrices (DIM*DIM -> DIM) keyed by box name, created on first use."""
    rng = np.random.default_rng(seed)
    store: dict[str, np.ndarray] = {}

    def get(name: str, shape: tuple[int, ...]) -> np.ndarray:
        if name not in store:
            store[name] = rng.normal(size=shape)
        return store[name]
    return get


def _evaluate(diagram, get) -> np.ndarray:
    def ar(box):
        return get(box.name, (DIM,) if len(box.dom) == 0 else (DIM, DIM, DIM))
    functor = tensor.Functor(ob={S: DIM}, ar=ar, dom=Category(), dtype=float)
    return np.asarray(functor(diagram).array)


def _stairs(tokens, names, get) -> np.ndarray:
    state = get(tokens[0], (DIM,))
    for token, name in zip(tokens[1:], names):
        state = np.einsum("a,b,abc->c", state, get(token, (DIM,)), get(name, (DIM, DIM, DIM)))
    return state


def _tree(tokens, level_name, get) -> np.ndarray:
    nodes, level = [get(t, (DIM,)) for t in tokens], 1
    while len(nodes) > 1:
        merged = [np.einsum("a,b,abc->c", nodes[i], nodes[i + 1], get(level_name(level), (DIM, DIM, DIM)))
                  for i in range(0, len(nodes) - 1, 2)]
        nodes, level = merged + nodes[len(nodes) - len(nodes) % 2:], level + 1
    return nodes[0]


@pytest.mark.parametrize("sequence", ["M", "MK", "MKVLLACDW", "GLFDIVKKVVGAL"])
def test_ptn_is_an_rnn_fold(sequence):
    get = _arrays()
    tokens = list(sequence)
    uniform = ProteinReader("ptn", "uniform")
    assert np.allclose(_evaluate(uniform(sequence), get), _stairs(tokens, ["PTN"] * len(tokens), get))
    steps = ProteinReader("ptn", "hierarchical")
    assert np.allclose(_evaluate(steps(sequence), get), _stairs(tokens, [f"PTN_{i}" for i in range(99)], get))
    classes = ProteinReader("ptn", "hierarchical", position_classes=3)
    names = classes.box_names(len(tokens))
    assert np.allclose(_evaluate(classes(sequence), get), _stairs(tokens, names, get))
    if len(tokens) >= 4:  # every class used, in order, and the chain split evenly
        assert sorted(set(names)) == names[:1] + sorted(set(names))[1:] == ["PTN_0", "PTN_1", "PTN_2"]
        counts = [names.count(f"PTN_{c}") for c in range(3)]
        assert max(counts) - min(counts) <= 1


@pytest.mark.parametrize("sequence", ["M", "MK", "MKV", "MKVLLACDW", "GLFDIVKKVVGALGSL"])
def test_ctn_is_a_pairwise_tree(sequence):
    get = _arrays(1)
    tokens = list(sequence)
    flat = ProteinReader("ctn", "uniform")
    assert np.allclose(_evaluate(flat(sequence), get), _tree(tokens, lambda _: "CTN", get))
    levels = ProteinReader("ctn", "hierarchical")
    assert np.allclose(_evaluate(levels(sequence), get), _tree(tokens, lambda lvl: f"CTN_{lvl}", get))
    expected_levels = int(np.ceil(np.log2(len(tokens)))) if len(tokens) > 1 else 0
    assert len(set(levels.box_names(len(tokens)))) == expected_levels


def test_alphabet_truncation_and_unknowns():
    reader = ProteinReader("ptn", alphabet="dayhoff6", max_len=4, keep="both", unknown="resolve")
    assert reader.tokens("MKCAUBW") == ("ILMV", "HKR", "DENQ", "FWY")  # M K ... B W (B -> DENQ in dayhoff6)
    words = [b.name for b in reader("MKCAUBW").boxes[:4]]
    assert words == ["ILMV", "HKR", "DENQ", "FWY"] and "X" in reader.vocabulary
    with pytest.raises(UnknownResidueError, match="'P9', position 2"):
        ProteinReader()("MXK", "P9")
    with pytest.raises(ProteinDataError, match="no residues left"):
        ProteinReader(unknown="skip")("XX", "P1")
    with pytest.raises(ProteinDataError, match="model must be one of"):
        ProteinReader("rnn")
    with pytest.raises(ProteinDataError, match="position_classes applies to model='ptn'"):
        ProteinReader("ctn", "hierarchical", position_classes=2)


def test_config_round_trip():
    import json

    from qnlp.protein.alphabet import Alphabet

    custom = Alphabet.from_groups("mine", ["AVLIMC", "FWYH", "STNQ", "KR", "DE", "GP"])
    for reader in (ProteinReader("ptn", "hierarchical", alphabet=custom, max_len=8, position_classes=2),
                   ProteinReader("ctn", alphabet="conjoint7", unknown="map", keep="head")):
        back = ProteinReader.from_config(json.loads(json.dumps(reader.config)))
        assert back == reader and back("MKVLLACDWGGH") == reader("MKVLLACDWGGH")
    with pytest.raises(ProteinDataError, match="bad ProteinReader config"):
        ProteinReader.from_config({"model": "ptn"})


def test_read_and_windows():
    data = SequenceSet(("a", "b"), ("MKVLLACDWG", "GGH"), np.array([1, 0]), ("n", "p"))
    reader = ProteinReader("ctn", "hierarchical", max_len=6)
    diagrams = reader.read(data)
    assert [len([b for b in d.boxes if not b.name.startswith("CTN")]) for d in diagrams] == [6, 3]
    windows, owner = ProteinReader("ptn").read_windows(data, size=4, stride=3)
    assert owner.tolist() == [0, 0, 0, 1]  # starts 0, 3, 6 cover 10 residues; the short one is one window
    assert [[b.name for b in d.boxes[:4]] for d in windows[:3]] == [list("MKVL"), list("LLAC"), list("CDWG")]
    ends, owner_ends = ProteinReader("ptn").read_windows(data, size=4, ends_only=True)
    assert owner_ends.tolist() == [0, 0, 1]
    assert [[b.name for b in d.boxes[:4]] for d in ends[:2]] == [list("MKVL"), list("CDWG")]
    get = _arrays(2)
    scores = np.array([_evaluate(d, get)[0] ** 2 / np.sum(_evaluate(d, get) ** 2) for d in windows])
    assert pool(scores, owner).shape == (2,)
