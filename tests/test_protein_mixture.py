"""MixtureAnsatz: residue states reach every real state (checked with DisCoPy's own tensor evaluation), and a
chain's output distribution is the normalised product of its residues' squared amplitudes (tnq contraction)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("discopy")

from discopy.grammar.pregroup import Box, Ty, Word  # noqa: E402

from qnlp.ansatz import bind_circuit  # noqa: E402
from qnlp.errors import QnlpError  # noqa: E402
from qnlp.evaluate import CompiledBatch  # noqa: E402
from qnlp.protein.ansatz import MixtureAnsatz, gray_code_controls, real_state, real_state_angles  # noqa: E402
from qnlp.protein.compile import ProteinCompiler  # noqa: E402
from qnlp.protein.diagrams import ProteinReader  # noqa: E402


def _angles_for(psi: np.ndarray) -> np.ndarray:
    """Angles of :func:`real_state` that prepare the real unit vector ``psi`` (qubit 0 most significant), computed
    independently: per level the effective ``Ry`` angle of each control pattern, then the Gray-code sign system."""
    n = int(np.log2(psi.size))
    angles = []
    for t in range(n):
        blocks = psi.reshape(2 ** t, 2, -1)  # prefix x (qubits 0..t-1), qubit t, rest
        if t < n - 1:
            norms = np.linalg.norm(blocks, axis=2)
            beta = np.arctan2(norms[:, 1], norms[:, 0]) / np.pi  # Ry(p)|0> = (cos pi p, sin pi p)
        else:
            beta = np.arctan2(blocks[:, 1, 0], blocks[:, 0, 0]) / np.pi
        gray = [i ^ (i >> 1) for i in range(2 ** t)]
        # controls are qubits 0..t-1; gray bit b is control qubit b; prefix x has qubit b at bit t-1-b
        signs = np.array([[(-1) ** sum(((x >> (t - 1 - b)) & 1) * ((g >> b) & 1) for b in range(t)) for g in gray]
                          for x in range(2 ** t)], dtype=float)
        angles += list(np.linalg.solve(signs, beta - 0.25))
    return np.array(angles)


@pytest.mark.parametrize("n", [1, 2, 3])
def test_real_state_prepares_any_real_state(n):
    from discopy.quantum.gates import Ket

    rng = np.random.default_rng(n)
    for _ in range(3):
        psi = rng.normal(size=2 ** n)
        psi /= np.linalg.norm(psi)
        circuit = Ket(*[0] * n) >> real_state(n, list(_angles_for(psi)))
        np.testing.assert_allclose(np.asarray(circuit.eval().array).reshape(-1), psi, atol=1e-10)
    uniform = (Ket(*[0] * n) >> real_state(n, [0.0] * (2 ** n - 1))).eval().array
    np.testing.assert_allclose(np.abs(np.asarray(uniform).reshape(-1)), 2 ** (-n / 2), atol=1e-12)


def test_gray_code_controls_flip_each_control_an_even_number_of_times():
    for k in range(1, 5):
        controls = gray_code_controls(k)
        assert len(controls) == 2 ** k and all(controls.count(c) % 2 == 0 for c in range(k))


@pytest.mark.parametrize("model,qubits,start", [("ptn", 2, False), ("ptn", 3, True), ("ctn", 3, True)])
def test_chain_distribution_is_the_product_of_residue_distributions(model, qubits, start):
    compiler = ProteinCompiler(ProteinReader(model, "uniform", start=start), "mixture", qubits=qubits)
    sequences = ["MKLLVAG", "KWKLFKK", "GA"]
    circuits = [compiler(s) for s in sequences]
    symbols = sorted({s for c in circuits for s in c.symbols})
    theta = np.random.default_rng(4).uniform(-1, 1, len(symbols))
    probs = CompiledBatch(circuits, symbols).probabilities(theta)
    values = dict(zip(symbols, theta))
    ty = compiler.reader.word_type
    for sequence, p in zip(sequences, probs):
        expected = np.ones(2 ** qubits)
        for residue in compiler.reader.framed(sequence):
            state = bind_circuit(compiler._word_ansatz.functor(Word(residue, ty)), values).eval().array
            expected *= np.abs(np.asarray(state).reshape(-1)) ** 2
        np.testing.assert_allclose(p, expected / expected.sum(), atol=1e-10)
    assert probs[0] @ probs[1] < 0.999  # the residue distributions differ: a check that can fail


def test_mixture_ansatz_refuses_other_box_shapes():
    ansatz = MixtureAnsatz({"s": 2}, n_layers=1)
    s = Ty("s")
    with pytest.raises(QnlpError, match="from 2 to 2 qubits"):
        ansatz.box_circuit(Box("f", s, s))
    with pytest.raises(QnlpError, match="takes 3 angles"):
        real_state(2, [0.1])


def test_start_word_frames_sequences_windows_and_token_tuples():
    reader = ProteinReader("ptn", "uniform", start=True, max_len=4)
    assert reader.tokens("KLAKLAK") == ("START", "K", "L", "A", "K")
    assert reader.tokens("KLAKLAK", framed=False) == ("K", "L", "A", "K")
    assert reader.vocabulary[-1] == "START" and "START" not in ProteinReader().vocabulary
    assert ProteinReader.from_config(reader.config) == reader
    diagrams, owner = reader.read_windows(["KLAKLAKGG"], 3)
    assert [d.boxes[0].name for d in diagrams] == ["START"] * 3 and list(owner) == [0, 0, 0]
    compiler = ProteinCompiler(reader, "mixture", qubits=2)
    from_text, from_tokens = compiler("KLAKLAK"), compiler(reader.tokens("KLAKLAK"))
    assert from_text.symbols == from_tokens.symbols and any(s.startswith("START_") for s in from_text.symbols)
    assert from_text.circuit.num_qubits == from_tokens.circuit.num_qubits == 2 * 5
    with pytest.raises(Exception, match="no residues after START"):
        compiler(("START",))
    with pytest.raises(Exception, match="START may only open a token sequence, found at position 2"):
        compiler(("K", "L", "START", "A"))
    assert reader.window_tokens(["KLAKLAKGG"], 3)[0] == [("START", "K", "L", "A"), ("START", "K", "L", "A"),
                                                          ("START", "K", "G", "G")]


def test_mixture_model_with_start_saves_and_reloads(tmp_path):
    from qnlp.protein.model import ProteinClassifier

    compiler = ProteinCompiler(ProteinReader("ptn", "uniform", start=True), "mixture", qubits=2)
    clf = ProteinClassifier(compiler, readout="marginal", epochs=3, learning_rate=0.05, progress=False, seed=1)
    train = ["KKRKLAK", "LLVVAIL", "KRKKGAK", "AILVLLA", "RKKLKKW", "VLAIVLG"]
    clf.fit(train, [1, 0, 1, 0, 1, 0])
    assert clf.n_parameters == 9 * 3  # 8 residues seen and START, 3 angles each; the copy box has none
    clf.save(tmp_path / "m.safetensors")
    again = ProteinClassifier.load(tmp_path / "m.safetensors")
    assert again.compile.reader.start and again.compile.ansatz_name == "mixture"
    np.testing.assert_allclose(again.predict_proba(train), clf.predict_proba(train), atol=1e-12)


@pytest.mark.parametrize("n", [1, 2, 3])
def test_real_state_angles_prepare_the_softmax_distribution(n):
    from discopy.quantum.gates import Ket

    weights = np.random.default_rng(n).normal(scale=3.0, size=(3, 2 ** n))
    angles = real_state_angles(weights)
    assert angles.shape == (3, 2 ** n - 1)
    for w, a in zip(weights, angles):
        amplitudes = np.asarray((Ket(*[0] * n) >> real_state(n, list(a))).eval().array).reshape(-1).real
        np.testing.assert_allclose(amplitudes, np.sqrt(np.exp(w) / np.exp(w).sum()), atol=1e-10)
    np.testing.assert_allclose(real_state_angles(np.zeros(2 ** n)), 0.0, atol=1e-15)  # uniform = zero angles
    with pytest.raises(QnlpError, match="2\\^q log-weights"):
        real_state_angles(np.zeros(3))


def test_real_state_angles_gradient_matches_finite_differences():
    import torch

    weights = torch.tensor(np.random.default_rng(0).normal(size=(2, 8)), requires_grad=True)
    assert torch.autograd.gradcheck(real_state_angles, (weights,))


def test_log_weight_coordinates_give_the_log_linear_mixture():
    """Trained coordinates w (per residue, state 0 fixed at 0): P(s) is proportional to prod_r softmax(0, w_r)(s),
    computed here without any angle; the tnq contraction of the mapped circuit must agree."""
    import torch

    compiler = ProteinCompiler(ProteinReader("ptn", "uniform", start=True), "mixture", qubits=3,
                               coordinates="log-weights")
    sequences = ["MKLLVAG", "KWKLFKK"]
    circuits = [compiler(s) for s in sequences]
    symbols = sorted({s for c in circuits for s in c.symbols})
    coords = np.random.default_rng(5).normal(scale=2.0, size=len(symbols))
    probs = CompiledBatch(circuits, symbols).probabilities(compiler.symbol_values(symbols, coords))
    weights = dict(zip(symbols, coords))
    for sequence, p in zip(sequences, probs):
        log_p = np.zeros(8)
        for residue in compiler.reader.framed(sequence):
            w = np.array([0.0] + [weights[f"{residue}__s_{i}"] for i in range(7)])
            log_p += w - np.log(np.exp(w).sum())
        np.testing.assert_allclose(p, np.exp(log_p) / np.exp(log_p).sum(), atol=1e-10)
    as_torch = compiler.symbol_values(symbols, torch.tensor(coords))
    np.testing.assert_allclose(as_torch.numpy(), compiler.symbol_values(symbols, coords), atol=1e-14)
    with pytest.raises(Exception, match="not a residue-state angle"):
        compiler.symbol_values(["K_s_9"], np.zeros(1))


def test_log_weight_model_trains_saves_and_reloads(tmp_path):
    from qnlp.protein.model import ProteinClassifier

    compiler = ProteinCompiler(ProteinReader("ptn", "uniform"), "mixture", qubits=2, coordinates="log-weights")
    clf = ProteinClassifier(compiler, readout="marginal", epochs=15, learning_rate=0.1, progress=False, seed=1)
    train = ["KKRKLAK", "LLVVAIL", "KRKKGAK", "AILVLLA", "RKKLKKW", "VLAIVLG"]
    labels = [1, 0, 1, 0, 1, 0]
    clf.fit(train, labels)
    assert clf.history_[-1]["train_loss"] < clf.history_[0]["train_loss"] and clf.score(train, labels) == 1.0
    clf.save(tmp_path / "m.safetensors")
    again = ProteinClassifier.load(tmp_path / "m.safetensors")
    assert again.compile.coordinates == "log-weights"
    np.testing.assert_allclose(again.predict_proba(train), clf.predict_proba(train), atol=1e-12)
    with pytest.raises(Exception, match="coordinates must be one of"):
        ProteinCompiler(ProteinReader(), "mixture", qubits=2, coordinates="logits")
