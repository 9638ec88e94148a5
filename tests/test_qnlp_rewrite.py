"""Cup removal: same circuit value as with the cups (exact, no scalar), as lambeq's RemoveCupsRewriter, and fewer
post-selections; the circuit transpose against numpy; and the drawings."""

import numpy as np
import pytest
from discopy.grammar.pregroup import Cup
from discopy.quantum import gates
from discopy.quantum.circuit import Circuit, qubit
from discopy.quantum.gates import SWAP

from qnlp import Lexicon, N, QnlpError, S, parse
from qnlp.ansatz import IQPAnsatz, Sim14Ansatz, Sim15Ansatz, StronglyEntanglingAnsatz, bind_circuit
from qnlp.draw import save_drawings
from qnlp.readers import cups_reader, from_lambeq, stairs_reader, to_lambeq
from qnlp.rewrite import RemoveCupsRewriter, TransposedState, remove_cups, transpose_circuit

lambeq = pytest.importorskip("lambeq")

LEXICON = Lexicon({"Alice": "N", "loves": "TV", "Bob": "N", "man": "N", "prepares": "TV", "tasty": "ADJ",
                   "meal": "N", "that": ["RPRON_OBJ", "RPRON_SUBJ"], "device": "N", "uses": "TV",
                   "astronomer": "N", "carries": "TV", "water": "N", "skillful": "ADJ"})
SENTENCES = {
    "svo": ("Alice loves Bob", "s"),
    "adj": ("skillful man prepares tasty meal", "s"),
    "rp_obj": ("device that astronomer uses", "n"),
    "rp_subj": ("device that carries water", "n"),
}
ANSATZE = {"IQPAnsatz": IQPAnsatz, "Sim14Ansatz": Sim14Ansatz, "Sim15Ansatz": Sim15Ansatz,
           "StronglyEntanglingAnsatz": StronglyEntanglingAnsatz}


def diagram_of(key):
    if key == "cups":
        return cups_reader("a b c")
    sentence, target = SENTENCES[key]
    return parse(sentence, LEXICON, target=target)


def bras(circuit):
    """Number of post-selected qubits."""
    return sum(len(box.dom) for box in circuit.boxes if isinstance(box, gates.Bra))


CASES = [("Sim14Ansatz", key, 1) for key in ["svo", "adj", "rp_obj", "rp_subj", "cups"]] + [
    ("IQPAnsatz", "rp_obj", 1), ("StronglyEntanglingAnsatz", "adj", 1), ("Sim15Ansatz", "svo", 2)]


@pytest.mark.parametrize("name,key,noun_qubits", CASES)
def test_remove_cups_keeps_value_and_matches_lambeq(name, key, noun_qubits):
    diagram = diagram_of(key)
    ob = {N: noun_qubits, S: 1}
    ansatz = ANSATZE[name](ob, n_layers=1)
    rewritten = remove_cups(diagram)
    assert (rewritten.dom, rewritten.cod) == (diagram.dom, diagram.cod)
    assert sum(isinstance(b, Cup) for b in rewritten.boxes) < sum(isinstance(b, Cup) for b in diagram.boxes)
    before, after = ansatz(diagram), ansatz(rewritten)
    symbols = ansatz.symbols(before)
    assert ansatz.symbols(after) == symbols  # every word is still there
    values = {s.name: v for s, v in zip(symbols, np.random.default_rng(4).uniform(-1, 1, len(symbols)))}
    want = bind_circuit(before, values).eval().array
    got = bind_circuit(after, values).eval().array
    np.testing.assert_allclose(got, want, atol=1e-10)  # exact: the cup is <00| + <11|, no scalar to drop
    assert np.abs(want).max() > 1e-6
    ref_ansatz = getattr(lambeq, name)({lambeq.AtomicType.NOUN: noun_qubits, lambeq.AtomicType.SENTENCE: 1},
                                       n_layers=1)
    reference = from_lambeq(ref_ansatz(lambeq.RemoveCupsRewriter()(to_lambeq(diagram))))
    np.testing.assert_allclose(bind_circuit(reference, values).eval().array, got, atol=1e-10)
    assert bras(after) < bras(before)
    assert bras(after) <= bras(reference)  # nested cups are compressed fully (lambeq merges pairs only)


def test_rewritten_shapes():
    svo = remove_cups(diagram_of("svo"))
    states = [b for b in svo.boxes if isinstance(b, TransposedState)]
    assert [b.name for b in states] == ["Aliceᵀ", "Bobᵀ"]
    assert [str(b.dom) for b in states] == ["n.r", "n.l"]
    assert not any(isinstance(b, Cup) for b in svo.boxes)
    assert RemoveCupsRewriter()(diagram_of("svo")) == svo
    stairs = stairs_reader("a b c")  # nothing to remove
    assert remove_cups(stairs).normal_form() == stairs.normal_form()
    with pytest.raises(QnlpError, match="pregroup"):
        remove_cups(IQPAnsatz({N: 1, S: 1}, n_layers=1)(diagram_of("svo")))


def test_transpose_circuit_by_hand():
    """transpose_circuit against numpy: the array with dom and cod swapped and each side's wires mirrored."""
    circuit = (gates.Ket(0, 1) @ qubit >> gates.Ry(0.3) @ gates.Controlled(gates.Rx(0.2), distance=-1)
               >> gates.Controlled(gates.X, distance=2) >> SWAP @ gates.Y >> gates.S @ gates.CZ
               >> gates.T @ gates.H @ gates.Rz(0.45) >> gates.CRz(0.7) @ qubit >> gates.Sqrt(2) @ qubit @ gates.Bra(1)
               @ qubit)
    array = circuit.eval().array
    a, b = len(circuit.dom), len(circuit.cod)
    order = [a + b - 1 - j for j in range(b)] + [a - 1 - i for i in range(a)]
    transposed = transpose_circuit(circuit)
    assert isinstance(transposed, Circuit)
    assert (len(transposed.dom), len(transposed.cod)) == (b, a)
    np.testing.assert_allclose(transposed.eval().array, array.transpose(order), atol=1e-12)
    with pytest.raises(QnlpError, match="cannot transpose"):
        transpose_circuit(gates.Controlled(gates.Y))


def test_save_drawings(tmp_path):
    diagram = diagram_of("svo")
    circuit = save_drawings(diagram, tmp_path / "diagram.png", tmp_path / "circuit.png")
    for name in ("diagram.png", "circuit.png"):
        data = (tmp_path / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 1000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["circuit.png", "diagram.png"]  # no temporary files left
    assert circuit.free_symbols  # the circuit drawn is the ansatz circuit of the sentence
    save_drawings(diagram, tmp_path / "d.svg", tmp_path / "c.pdf", ansatz=Sim15Ansatz({N: 1, S: 1}, 1), rewrite=True)
    assert (tmp_path / "d.svg").read_bytes().lstrip().startswith(b"<?xml")
    assert (tmp_path / "c.pdf").read_bytes()[:4] == b"%PDF"
    with pytest.raises(QnlpError, match="does not exist"):
        save_drawings(diagram, tmp_path / "missing" / "d.png", tmp_path / "c.png")
    with pytest.raises(QnlpError, match="pregroup"):
        save_drawings("Alice loves Bob", tmp_path / "d.png", tmp_path / "c.png")
