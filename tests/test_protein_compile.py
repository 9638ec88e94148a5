"""ProteinCompiler (pieces wired without DisCoPy) against the DisCoPy path (reader -> ansatz functor ->
from_discopy), both evaluated through tnq's contraction (CompiledBatch)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("discopy")

from qnlp.evaluate import CompiledBatch  # noqa: E402
from qnlp.protein.compile import ProteinCompiler  # noqa: E402
from qnlp.protein.diagrams import ProteinReader  # noqa: E402
from qnlp.protein.errors import ProteinDataError  # noqa: E402

SEQUENCES = ["M", "MK", "GLFDIVKK", "KWKLFKKIPKFLHLAKKF", "LLVVAIIGGLLAVVFC"]
CASES = [("ptn", "uniform", "sim14", 1), ("ptn", "hierarchical", "iqp", 2), ("ctn", "uniform", "controlled", 1),
         ("ctn", "hierarchical", "sim15", 1), ("ptn", "uniform", "controlled-mix", 2),
         ("ptn", "uniform", "controlled", 3)]  # the 3-qubit mixture of benchmarks/protein_quantum.py ptn-u-q3m


def _theta(circuits, seed=0):
    symbols = sorted({s for c in circuits for s in c.symbols})
    return symbols, np.random.default_rng(seed).uniform(-np.pi, np.pi, len(symbols))


@pytest.mark.parametrize("model,sharing,ansatz,qubits", CASES)
def test_compiler_equals_discopy_path(model, sharing, ansatz, qubits):
    from qnlp.circuits import from_discopy

    reader = ProteinReader(model, sharing, alphabet="dayhoff6", max_len=12)
    compiler = ProteinCompiler(reader, ansatz, qubits=qubits, layers=1)
    fast = [compiler(s) for s in SEQUENCES]
    from discopy.quantum.circuit import Functor

    def ar(box):  # residue words through the word ansatz, combining boxes through the box ansatz
        return compiler._word_ansatz._ar(box) if len(box.dom) == 0 else compiler.ansatz._ar(box)
    functor = Functor(ob=compiler.ansatz.functor.ob, ar=ar, dom=compiler.ansatz.functor.dom)
    slow = [from_discopy(functor(reader(s))) for s in SEQUENCES]
    if not ansatz.startswith("controlled"):  # the ansatz alone is the same functor
        slow_plain = [from_discopy(compiler.ansatz(reader(s))) for s in SEQUENCES]
        assert [c.symbols for c in slow_plain] == [c.symbols for c in slow]
    for a, b in zip(fast, slow):
        assert a.symbols == b.symbols
        assert a.postselect == b.postselect and a.outputs == b.outputs
    symbols, theta = _theta(fast)
    np.testing.assert_allclose(CompiledBatch(fast, symbols).probabilities(theta),
                               CompiledBatch(slow, symbols).probabilities(theta), atol=1e-12)


def test_controlled_ansatz_without_mixing_ignores_residue_order():
    """Without the Ry layer every residue acts diagonally on the state: only the composition matters (after the
    first residue, which prepares the state)."""
    from qnlp.protein.ansatz import ControlledAnsatz

    compiler = ProteinCompiler(ProteinReader("ptn", "uniform"), "controlled")
    compiler.ansatz = ControlledAnsatz({"s": 1}, n_layers=1, mix=False)
    circuits = [compiler(s) for s in ("MKLLVAG", "MGAVLLK", "MKLGVAL")]
    symbols, theta = _theta(circuits, seed=2)
    probs = CompiledBatch(circuits, symbols).probabilities(theta)
    np.testing.assert_allclose(probs[0], probs[1], atol=1e-12)
    np.testing.assert_allclose(probs[0], probs[2], atol=1e-12)
    compiler.ansatz = ControlledAnsatz({"s": 1}, n_layers=1, mix=True)
    compiler._images.clear()
    mixed = [compiler(s) for s in ("MKLLVAG", "MGAVLLK")]
    symbols, theta = _theta(mixed, seed=2)
    probs = CompiledBatch(mixed, symbols).probabilities(theta)
    assert np.abs(probs[0] - probs[1]).max() > 1e-3


def test_tokens_windows_and_config_round_trip():
    reader = ProteinReader("ctn", "hierarchical", alphabet="hydro3", max_len=6)
    compiler = ProteinCompiler(reader, "iqp", qubits=2, layers=2)
    again = ProteinCompiler.from_config(compiler.config)
    assert again.config == compiler.config
    a, b = compiler("MKLLVAGKR"), again(reader.tokens("MKLLVAGKR"))
    symbols, theta = _theta([a])
    np.testing.assert_allclose(CompiledBatch([a], symbols).probabilities(theta),
                               CompiledBatch([b], symbols).probabilities(theta))


def test_bad_input_is_one_clear_error():
    with pytest.raises(ProteinDataError, match="unknown ansatz"):
        ProteinCompiler(ProteinReader(), "nope")
    with pytest.raises(ProteinDataError, match="qubits"):
        ProteinCompiler(ProteinReader(), qubits=0)
    compiler = ProteinCompiler(ProteinReader(alphabet="dayhoff6"))
    with pytest.raises(ProteinDataError, match="vocabulary"):
        compiler(("M", "K"))
    with pytest.raises(ProteinDataError, match="position 3"):
        compiler("MK1")
