"""Sentence circuits evaluated through tnq against DisCoPy's own ``eval``; gradients against finite differences."""

from __future__ import annotations

import numpy as np
import pytest
import sympy
from discopy.quantum import gates as G
from discopy.quantum.circuit import Id, Swap, qubit

import qnlp
from qnlp.ansatz import IQPAnsatz, Sim14Ansatz, Sim15Ansatz, StronglyEntanglingAnsatz
from qnlp.circuits import from_discopy
from qnlp.errors import QnlpError
from qnlp.evaluate import CompiledBatch, amplitudes, probabilities

SENTENCES = ["man_N prepares_TV tasty_ADJ dinner_N", "skillful_ADJ woman_N runs_TV useful_ADJ software_N",
             "person_N bakes_TV meal_N"]


def _discopy_amplitudes(circuit, symbols, values) -> np.ndarray:
    bound = circuit.lambdify(*symbols)(*values) if symbols else circuit
    return np.asarray(bound.eval().array, dtype=complex).reshape(-1)


@pytest.mark.parametrize("ansatz", [IQPAnsatz, Sim14Ansatz, Sim15Ansatz, StronglyEntanglingAnsatz])
def test_sentence_amplitudes_match_discopy_eval(ansatz) -> None:
    make = ansatz({"n": 1, "s": 1}, n_layers=2)
    rng = np.random.default_rng(0)
    for sentence in SENTENCES:
        circuit = make(qnlp.parse_tagged(sentence))
        symbols = sorted(circuit.free_symbols, key=str)
        values = rng.uniform(-1, 1, len(symbols))
        ours = amplitudes([from_discopy(circuit)], {str(s): v for s, v in zip(symbols, values)})[0]
        np.testing.assert_allclose(ours, _discopy_amplitudes(circuit, symbols, values), atol=1e-10)


def _random_circuit(rng: np.random.Generator, width: int, depth: int, symbols: list) -> object:
    """Kets, gates (controlled at any distance and direction, swaps, symbolic rotations) and bras."""
    circuit = G.Ket(*rng.integers(0, 2, width))
    for _ in range(depth):
        kind = rng.integers(0, 6)
        if kind == 0:
            gate, size = [G.H, G.X, G.S, G.T, G.Y, G.Z][rng.integers(0, 6)], 1
        elif kind == 1:
            rot = [G.Rx, G.Ry, G.Rz][rng.integers(0, 3)]
            gate, size = rot(2 * rng.uniform(-1, 1) * symbols[rng.integers(0, len(symbols))] + rng.uniform()), 1
        elif kind == 2:
            gate, size = Swap(qubit, qubit), 2
        else:
            distance = int(rng.choice([d for d in range(-width + 1, width) if d != 0]))
            inner = [G.X, G.Z, G.Rz(symbols[rng.integers(0, len(symbols))]), G.Rx(rng.uniform())][rng.integers(0, 4)]
            gate, size = G.Controlled(inner, distance=distance), abs(distance) + 1
        if size > width:
            continue
        offset = int(rng.integers(0, width - size + 1))
        circuit = circuit >> Id(qubit ** offset) @ gate @ Id(qubit ** (width - size - offset))
    keep = int(rng.integers(1, 3))
    return circuit >> Id(qubit ** keep) @ G.Bra(*rng.integers(0, 2, width - keep)) @ G.Sqrt(2)


@pytest.mark.parametrize("seed", range(8))
def test_random_discopy_circuits_match_discopy_eval(seed: int) -> None:
    rng = np.random.default_rng(seed)
    symbols = list(sympy.symbols("a b c"))
    circuit = _random_circuit(rng, int(rng.integers(2, 5)), 14, symbols)
    values = rng.uniform(-1, 1, 3)
    ours = amplitudes([from_discopy(circuit)], dict(zip("abc", values)))[0]
    np.testing.assert_allclose(ours, _discopy_amplitudes(circuit, symbols, values), atol=1e-10)


def test_batched_gradients_match_finite_differences() -> None:
    torch = pytest.importorskip("torch")
    make = IQPAnsatz({"n": 1, "s": 1}, n_layers=1)
    circuits = [from_discopy(make(qnlp.parse_tagged(s))) for s in SENTENCES]
    symbols = sorted({s for c in circuits for s in c.symbols})
    batch = CompiledBatch(circuits, symbols)
    values = np.random.default_rng(3).uniform(-1, 1, len(symbols))

    def loss(theta):
        return batch.probabilities(theta)[:, 1].sum()

    theta = torch.tensor(values, requires_grad=True)
    loss(theta).backward()
    eps = 1e-6
    numeric = [(loss(values + eps * e) - loss(values - eps * e)) / (2 * eps) for e in np.eye(len(values))]
    np.testing.assert_allclose(theta.grad.numpy(), numeric, atol=1e-6)
    np.testing.assert_allclose(batch.probabilities(values).sum(1), 1.0, atol=1e-9)


def test_mismatched_outputs_and_missing_values_are_clear_errors() -> None:
    one = from_discopy(G.Ket(0) >> G.H)
    two = from_discopy(G.Ket(0, 0) >> G.CX)
    with pytest.raises(QnlpError, match="different numbers of output qubits"):
        probabilities([one, two], {})
    rot = from_discopy(G.Ket(0) >> G.Rx(sympy.Symbol("w")))
    with pytest.raises(QnlpError, match="no value for symbol"):
        amplitudes([rot], {})
    with pytest.raises(QnlpError, match="domain must be empty"):
        from_discopy(G.H)
    with pytest.raises(QnlpError, match="only pure qubit gates"):
        from_discopy(G.Ket(0) >> G.Measure())


def _mixed_circuits() -> tuple[list, list[str]]:
    """Random circuits with one output qubit (different gate kinds and patterns) and protein chains of several
    lengths (several stacked groups sharing one parameter set)."""
    from qnlp.protein.compile import ProteinCompiler
    from qnlp.protein.diagrams import ProteinReader

    symbols = list(sympy.symbols("a b c"))
    randoms = []
    for seed in range(40):
        c = from_discopy(_random_circuit(np.random.default_rng(seed), 3, 10, symbols))
        if len(c.outputs) == 1 and c.symbols:
            randoms.append(c)
    compiler = ProteinCompiler(ProteinReader("ptn", "uniform"), "controlled-mix")
    proteins = [compiler(s) for s in ["KLAK", "GIGK", "LLKKAL", "AKLW", "WWKKLLAG", "GIGKFL"]]
    circuits = randoms[:6] + proteins
    return circuits, sorted({s for c in circuits for s in c.symbols})


def test_subset_equals_rows_of_full_evaluation_and_gradients_agree() -> None:
    torch = pytest.importorskip("torch")
    circuits, symbols = _mixed_circuits()
    batch = CompiledBatch(circuits, symbols)
    values = np.random.default_rng(5).uniform(-1, 1, len(symbols))
    full = batch.amplitudes(values)
    n = len(circuits)
    for subset in ([n - 1, 0, 7], [6, 8, 10], [2], list(range(n))[::-1], [9, 9, 3]):
        np.testing.assert_allclose(batch.amplitudes(values, subset=subset), full[subset], atol=1e-12)
        weights = torch.tensor(np.random.default_rng(len(subset)).uniform(0.5, 1.5, len(subset)))
        a = torch.tensor(values, requires_grad=True)
        (batch.probabilities(a, subset=subset)[:, 1] * weights).sum().backward()
        b = torch.tensor(values, requires_grad=True)
        (batch.probabilities(b)[subset][:, 1] * weights).sum().backward()
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), atol=1e-10)
    # a subset of one group only builds that group's gates: fewer rows than the full stack of its kind
    kinds, rows = batch.parametric.kinds, batch.kind_rows([n - 1])
    assert any(r is not None for r in rows)
    assert sum(len(k.positions) if r is None else len(r) for k, r in zip(kinds, rows)) < \
        sum(len(k.positions) for k in kinds)
