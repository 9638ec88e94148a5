"""Ansätze against lambeq 0.5 (the reference, converted to DisCoPy) and against hand-built numpy matrices."""

import numpy as np
import pytest
import sympy
from discopy.quantum import gates
from discopy.quantum.circuit import Swap

from qnlp import Lexicon, N, QnlpError, S, parse
from qnlp.ansatz import (
    IQPAnsatz,
    Sim14Ansatz,
    Sim15Ansatz,
    StronglyEntanglingAnsatz,
    bind_circuit,
    box_label,
    circuit_symbols,
)
from qnlp.readers import cups_reader, from_lambeq, spiders_reader, stairs_reader, to_lambeq, tree_reader

lambeq = pytest.importorskip("lambeq")

LEXICON = Lexicon({"Alice": "N", "loves": "TV", "Bob": "N", "man": "N", "prepares": "TV", "tasty": "ADJ",
                   "meal": "N", "runs": "IV", "that": ["RPRON_OBJ", "RPRON_SUBJ"], "device": "N", "uses": "TV",
                   "astronomer": "N", "carries": "TV", "water": "N"})
ANSATZE = {"IQPAnsatz": IQPAnsatz, "Sim14Ansatz": Sim14Ansatz, "Sim15Ansatz": Sim15Ansatz,
           "StronglyEntanglingAnsatz": StronglyEntanglingAnsatz}
ALLOWED = (gates.Ket, gates.Bra, gates.Controlled, gates.Rx, gates.Ry, gates.Rz, gates.Scalar, Swap)
NAMED = {"H", "X", "Y", "Z", "S", "T"}


def diagrams():
    return {
        "svo": parse("Alice loves Bob", LEXICON),
        "adj": parse("man prepares tasty meal", LEXICON),
        "rp_obj": parse("device that astronomer uses", LEXICON, target="n"),
        "rp_subj": parse("device that carries water", LEXICON, target="n"),
        "stairs": stairs_reader("a b c"),
        "spiders": spiders_reader("a b c"),
        "cups": cups_reader("a b"),
        "tree": tree_reader("a b c"),
    }


def lambeq_symbols(circuit):
    names = set()
    for box in circuit.boxes:
        box = box.controlled if isinstance(box, gates.Controlled) else box
        phase = getattr(box, "phase", None)
        if hasattr(phase, "unscaled"):
            names.add(phase.name)
    return names


def compare_with_lambeq(name, ob, n_layers, diagram, rng, rewriter=None):
    """Our circuit against lambeq's, values bound by name: same symbols, same eval (bind_circuit is checked
    against DisCoPy's lambdify below; lambdify itself is slow)."""
    ours = ANSATZE[name](ob, n_layers=n_layers)
    ref = getattr(lambeq, name)({lambeq.AtomicType.NOUN: ob[N], lambeq.AtomicType.SENTENCE: ob[S]},
                                n_layers=n_layers)
    ldiagram = to_lambeq(diagram)
    if rewriter is not None:
        diagram, ldiagram = rewriter[0](diagram), rewriter[1](ldiagram)
    circuit = ours(diagram)
    reference = from_lambeq(ref(ldiagram))
    symbols = ours.symbols(circuit)
    assert {s.name for s in symbols} == lambeq_symbols(reference)
    values = rng.uniform(-1, 1, len(symbols))
    got = bind_circuit(circuit, {s.name: v for s, v in zip(symbols, values)}).eval().array
    want = bind_circuit(reference, {s.name: v for s, v in zip(symbols, values)}).eval().array
    np.testing.assert_allclose(got, want, atol=1e-10)
    assert np.abs(want).max() > 1e-6  # not a vacuous zero
    return circuit


ONE_QUBIT_CASES = [("IQPAnsatz", key) for key in ["svo", "adj", "rp_obj", "stairs", "spiders", "cups", "tree"]] + [
    (name, key) for name in ["Sim14Ansatz", "Sim15Ansatz", "StronglyEntanglingAnsatz"] for key in ["svo", "rp_obj"]]


@pytest.mark.parametrize("name,key", ONE_QUBIT_CASES)  # cups and spiders map the same under every ansatz
def test_one_qubit_types_match_lambeq(name, key):
    circuit = compare_with_lambeq(name, {N: 1, S: 1}, 1, diagrams()[key], np.random.default_rng(1))
    for box in circuit.boxes:  # the evaluator's contract: only plain gates
        assert isinstance(box, ALLOWED) or box.name in NAMED, box


@pytest.mark.parametrize("name,ob,layers,key", [(name, {N: 2, S: 1}, 1, "svo") for name in ANSATZE] + [
    (name, {N: 1, S: 2}, 2, "svo") for name in ["Sim14Ansatz", "StronglyEntanglingAnsatz"]])
def test_wider_types_and_layers_match_lambeq(name, ob, layers, key):
    compare_with_lambeq(name, ob, layers, diagrams()[key], np.random.default_rng(2))


def _crz(theta):
    return np.diag([1, 1, np.exp(-1j * np.pi * theta), np.exp(1j * np.pi * theta)])


def _ry(theta):  # DisCoPy: Ry(t) = exp(-i pi t Y), like Rz(t) = diag(exp(-i pi t), exp(i pi t))
    c, s = np.cos(np.pi * theta), np.sin(np.pi * theta)
    return np.array([[c, -s], [s, c]])


def test_iqp_word_state_by_hand():
    """A word of type n @ n with 2 layers: H H, CRz, H H, CRz, H H on |00>, with DisCoPy's Rz convention."""
    word = parse("w", Lexicon({"w": "n @ n"}), target="n @ n")
    circuit = IQPAnsatz({N: 1}, n_layers=2)(word)
    assert [s.name for s in circuit_symbols(circuit)] == ["w__n@n_0", "w__n@n_1"]
    a, b = 0.3, -0.55
    hh = np.kron(*[np.array([[1, 1], [1, -1]]) / np.sqrt(2)] * 2)
    state = hh @ _crz(b) @ hh @ _crz(a) @ hh @ np.array([1, 0, 0, 0])
    got = circuit.lambdify(*circuit_symbols(circuit))(a, b).eval().array.reshape(-1)
    np.testing.assert_allclose(got, state, atol=1e-12)


def test_sim15_word_state_by_hand():
    """Sim15 on 2 qubits: Ry Ry, CX(0->1)·CX(1->0) ring, Ry Ry, then CX(0->1), CX(1->0)."""
    word = parse("w", Lexicon({"w": "n @ n"}), target="n @ n")
    circuit = Sim15Ansatz({N: 1}, n_layers=1)(word)
    t = [0.1, 0.7, -0.4, 0.25]
    cx01 = np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0]])
    cx10 = np.array([[1, 0, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0], [0, 1, 0, 0]])
    # ring 1: i=0 -> target (0-1)%2=1: CX(0,1); i=1 -> target 0: CX(1,0). ring 2: i=2: src 0 -> 1; i=1: src 1 -> 0
    state = np.kron(_ry(t[0]), _ry(t[1])) @ np.array([1, 0, 0, 0])
    state = cx10 @ cx01 @ state
    state = cx10 @ cx01 @ np.kron(_ry(t[2]), _ry(t[3])) @ state
    got = circuit.lambdify(*circuit_symbols(circuit))(*t).eval().array.reshape(-1)
    np.testing.assert_allclose(got, state, atol=1e-12)


def test_wide_spider_is_a_copy_tensor_by_hand():
    """lambeq has no multi-qubit spiders: check the 2-qubit-per-s bag of words spider against a numpy delta."""
    circuit = IQPAnsatz({S: 2}, n_layers=1).functor(spiders_reader("a b c").boxes[-1])
    delta = np.zeros((4,) * 4)
    for i in range(4):
        delta[i, i, i, i] = 1
    np.testing.assert_allclose(circuit.eval().array.reshape((4,) * 4), delta, atol=1e-12)


def test_one_qubit_word_rotations_and_labels():
    word = parse("Alice", LEXICON, target="n")
    circuit = IQPAnsatz({N: 1, S: 1}, n_layers=1, n_single_qubit_params=2)(word)
    assert [type(b).__name__ for b in circuit.boxes] == ["Ket", "Rx", "Rz"]
    assert [s.name for s in circuit_symbols(circuit)] == ["Alice__n_0", "Alice__n_1"]
    strong = StronglyEntanglingAnsatz({N: 1, S: 1}, n_layers=1)(word)
    assert [type(b).__name__ for b in strong.boxes] == ["Ket", "Rz", "Ry", "Rz"]
    assert box_label(diagrams()["svo"].boxes[1]) == "loves__n.r@s@n.l"


def test_symbols_are_shared_across_sentences_by_word():
    ansatz = IQPAnsatz({N: 1, S: 1}, n_layers=1)
    one = {s.name for s in ansatz.symbols(parse("Alice loves Bob", LEXICON))}
    two = {s.name for s in ansatz.symbols(parse("Bob loves Alice", LEXICON))}
    assert one == two
    assert ansatz.symbols(parse("Bob loves Alice", LEXICON)) == sorted(ansatz.symbols(parse("Bob loves Alice",
                                                                                            LEXICON)), key=str)


def test_rp_that_shares_one_symbol_set():
    subj, obj = diagrams()["rp_subj"], diagrams()["rp_obj"]
    plain = IQPAnsatz({N: 1, S: 1}, n_layers=1)
    that_subj = {s.name for s in plain.symbols(subj) if s.name.startswith("that")}
    that_obj = {s.name for s in plain.symbols(obj) if s.name.startswith("that")}
    assert that_subj and that_obj and not that_subj & that_obj  # the type leaks into the names
    shared = IQPAnsatz({N: 1, S: 1}, n_layers=1, share={"that": "that"})
    names_subj = {s.name for s in shared.symbols(subj) if s.name.startswith("that")}
    names_obj = {s.name for s in shared.symbols(obj) if s.name.startswith("that")}
    assert names_subj == names_obj == {"that_0", "that_1", "that_2"}
    # same value as the unshared circuit with each "that__type_i" given the value of "that_i"
    rng = np.random.default_rng(3)
    for diagram in (subj, obj):
        circuit, reference = shared(diagram), plain(diagram)
        values = {s.name: v for s, v in zip(shared.symbols(circuit), rng.uniform(-1, 1, 20))}
        renamed = {s.name: values["that_" + s.name.rsplit("_", 1)[1]] if s.name.startswith("that") else values[s.name]
                   for s in plain.symbols(reference)}
        np.testing.assert_allclose(bind_circuit(circuit, values).eval().array,
                                   bind_circuit(reference, renamed).eval().array, atol=1e-12)
    by_label = IQPAnsatz({N: 1, S: 1}, n_layers=1, share={"that__n.r@n@s.l@n": "that__n.r@n@n.l.l@s.l"})
    assert {s.name for s in by_label.symbols(subj) if s.name.startswith("that")} == that_obj


def test_ob_map_accepts_names_and_lambeq_types():
    diagram = diagrams()["svo"]
    a = IQPAnsatz({"n": 1, "s": 1}, n_layers=1)(diagram)
    b = IQPAnsatz({lambeq.AtomicType.NOUN: 1, lambeq.AtomicType.SENTENCE: 1}, n_layers=1)(diagram)
    assert a == b == IQPAnsatz({N: 1, S: 1}, n_layers=1)(diagram)


def test_bad_input():
    with pytest.raises(QnlpError, match="'s'"):
        IQPAnsatz({N: 1}, n_layers=1)(diagrams()["svo"])
    with pytest.raises(QnlpError, match="n_layers"):
        IQPAnsatz({N: 1}, n_layers=-1)
    with pytest.raises(QnlpError, match="ob_map"):
        IQPAnsatz({N @ N: 1}, n_layers=1)
    with pytest.raises(QnlpError, match="ranges"):
        StronglyEntanglingAnsatz({N: 1}, n_layers=2, ranges=[1])
    with pytest.raises(QnlpError, match="pregroup"):
        IQPAnsatz({N: 1}, n_layers=1)("Alice")
    with pytest.raises(QnlpError, match="no value"):
        bind_circuit(IQPAnsatz({N: 1, S: 1}, n_layers=1)(diagrams()["svo"]), {})


def test_bind_circuit_matches_lambdify():
    circuit = Sim14Ansatz({N: 1, S: 2}, n_layers=1)(diagrams()["svo"])
    symbols = circuit_symbols(circuit)
    values = np.linspace(-0.9, 0.8, len(symbols))
    bound = bind_circuit(circuit, {s.name: v for s, v in zip(symbols, values)})
    assert not bound.free_symbols and isinstance(symbols[0], sympy.Symbol)
    np.testing.assert_allclose(bound.eval().array, circuit.lambdify(*symbols)(*values).eval().array, atol=1e-12)
