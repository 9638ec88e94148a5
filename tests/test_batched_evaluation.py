"""tnq.batch_eval.ParametricBatch against independent references: every circuit bound and simulated on its own
with the dense backend (post-selected amplitudes read off the state vector), a long chain against its closed
form, other contraction trees, permutations of circuits and symbols, and finite-difference gradients."""

from __future__ import annotations

import numpy as np
import pytest

import tnq
from tnq.batch_eval import ParametricBatch, Postselected
from tnq.circuit import Circuit, Parameter
from tnq.contraction import TreeCache
from tnq.errors import CircuitError, TnqError

SYMBOLS = ["a", "b", "c", "d"]
ATOL = 1e-12
"""Amplitudes here are sums of a few hundred products of unit-size numbers: rounding stays near 1e-15."""


def _pattern(rng: np.random.Generator, n: int, depth: int) -> list[tuple]:
    """A random gate pattern on n qubits: (gate, qubits, parameter slots); each slot is symbolic (an affine form
    over SYMBOLS, coefficients drawn per circuit) or, one time in five, a plain number (drawn per circuit)."""
    kinds = [("h", 1, 0), ("ry", 1, 1), ("rx", 1, 1), ("rz", 1, 1), ("u3", 1, 3), ("cx", 2, 0), ("cry", 2, 1),
             ("crz", 2, 1), ("rzz", 2, 1), ("rxx", 2, 1), ("swap", 2, 0), ("cz", 2, 0), ("ccx", 3, 0)]
    pattern = []
    for _ in range(depth):
        name, k, p = kinds[rng.integers(len(kinds))]
        if k > n:
            continue
        qubits = tuple(int(q) for q in rng.permutation(n)[:k])
        pattern.append((name, qubits, tuple(bool(x) for x in rng.random(p) < 0.2)))
    return pattern


def _circuit(pattern: list[tuple], n: int, rng: np.random.Generator) -> Circuit:
    """The pattern with fresh affine parameters (some slots numeric) and one custom unitary."""
    c = Circuit(n)
    for name, qubits, slots in pattern:
        params = []
        for numeric in slots:
            if numeric:
                params.append(float(rng.uniform(-3, 3)))
            else:
                used = rng.choice(len(SYMBOLS), size=int(rng.integers(1, 3)), replace=False)
                expr = float(rng.uniform(-1, 1))
                for j in used:
                    expr = Parameter(SYMBOLS[j]) * float(rng.uniform(-2, 2)) + expr
                params.append(expr)
        getattr(c, name)(*params, *qubits)
    return c


def _reference(item: Postselected, values: np.ndarray) -> np.ndarray:
    """<fixed bits, o|psi> for every outcome o of the open qubits (open[0] most significant), from the dense
    state of the circuit bound to ``values``."""
    circuit = item.circuit.bind(dict(zip(SYMBOLS, values))) if item.circuit.parameters else item.circuit
    state = tnq.simulate(circuit, method="dense")
    n, k = circuit.num_qubits, len(item.open)
    bits = np.zeros((2 ** k, n), dtype=np.int64)
    for q, b in item.fixed.items():
        bits[:, q] = b
    for j, q in enumerate(item.open):
        bits[:, q] = (np.arange(2 ** k) >> (k - 1 - j)) & 1
    return np.asarray(state.amplitudes(bits))


def _items(seed: int = 0) -> list[Postselected]:
    """Circuits on 3-5 qubits with one open qubit: several share a pattern (stacked), others do not."""
    rng = np.random.default_rng(seed)
    items = []
    for group in range(4):
        n = int(rng.integers(3, 6))
        pattern = _pattern(rng, n, 14)
        fixed_qubits = rng.permutation(n)[:n - 1]
        open_qubit = [q for q in range(n) if q not in fixed_qubits]
        fixed = {int(q): int(rng.integers(0, 2)) for q in fixed_qubits}
        for _ in range(1 + group % 3):
            items.append(Postselected(_circuit(pattern, n, rng), fixed, open_qubit))
    return items


def test_amplitudes_equal_each_circuit_simulated_alone() -> None:
    items = _items()
    values = np.random.default_rng(1).uniform(-2, 2, len(SYMBOLS))
    batch = ParametricBatch(items, SYMBOLS, cache=TreeCache())
    assert len(batch._groups) < len(items)  # some circuits are contracted as one stack
    amps = batch.amplitudes(values)
    for item, row in zip(items, amps):
        np.testing.assert_allclose(row, _reference(item, values), atol=ATOL)
    probs = batch.probabilities(dict(zip(SYMBOLS, values)))
    expected = np.abs(amps) ** 2
    total = expected.sum(1, keepdims=True)  # zero where the post-selection cannot succeed: probabilities 0
    np.testing.assert_allclose(probs, np.divide(expected, total, out=np.zeros_like(expected), where=total > 0),
                               atol=1e-12)


def test_several_open_qubits_and_swaps_follow_the_open_order() -> None:
    rng = np.random.default_rng(7)
    pattern = _pattern(rng, 5, 20) + [("swap", (0, 4), ())]
    items = [Postselected(_circuit(pattern, 5, rng), {1: 0, 3: 1}, [4, 0, 2]) for _ in range(3)]
    values = rng.uniform(-2, 2, len(SYMBOLS))
    amps = ParametricBatch(items, SYMBOLS, cache=TreeCache()).amplitudes(values)
    assert amps.shape == (3, 8)
    for item, row in zip(items, amps):
        np.testing.assert_allclose(row, _reference(item, values), atol=ATOL)


def test_results_do_not_depend_on_order_tree_or_subset() -> None:
    items = _items(2)
    rng = np.random.default_rng(3)
    values = rng.uniform(-2, 2, len(SYMBOLS))
    full = ParametricBatch(items, SYMBOLS, cache=TreeCache()).amplitudes(values)
    # other trees (structural simplification, then cotengra's searches)
    auto = ParametricBatch(items, SYMBOLS, optimize="auto", cache=TreeCache()).amplitudes(values)
    np.testing.assert_allclose(auto, full, atol=ATOL)
    # circuits and symbols permuted: the same rows, permuted
    order, names = rng.permutation(len(items)), rng.permutation(len(SYMBOLS))
    permuted = ParametricBatch([items[i] for i in order], [SYMBOLS[j] for j in names], cache=TreeCache())
    np.testing.assert_allclose(permuted.amplitudes(values[names]), full[order], atol=ATOL)
    # subsets (repeats, any order) are the matching rows, and build only the gates they use
    batch = ParametricBatch(items, SYMBOLS, cache=TreeCache())
    for subset in ([len(items) - 1, 0, 3], [2, 2], list(range(len(items)))[::-1]):
        np.testing.assert_allclose(batch.amplitudes(values, subset=subset), full[subset], atol=ATOL)
    rows = batch.kind_rows([0])
    assert sum(len(k.positions) if r is None else len(r) for k, r in zip(batch.parametric.kinds, rows)) < \
        sum(len(k.positions) for k in batch.parametric.kinds)


def test_long_chain_matches_its_closed_form() -> None:
    """A 'residue chain': qubit 0 in ry(x)|0>, then cry(theta_r) from qubit 0 onto fresh qubit r, post-selected
    on <0|. Amplitudes: (cos(x/2), sin(x/2) prod_r cos(theta_r/2)), at a length where dense simulation is out of
    reach and the old structural pre-pass took seconds."""
    length = 400
    rng = np.random.default_rng(4)
    coefs = rng.uniform(-0.5, 0.5, (length, 2))
    c = Circuit(length + 1)
    c.ry(Parameter("a") * 0.7 + 0.3, 0)
    for r in range(length):
        c.cry(Parameter("b") * coefs[r, 0] + Parameter("c") * coefs[r, 1], 0, r + 1)
    item = Postselected(c, {q: 0 for q in range(1, length + 1)}, [0])
    values = rng.uniform(-1, 1, len(SYMBOLS))
    amps = ParametricBatch([item, item], SYMBOLS, cache=TreeCache()).amplitudes(values)
    x = 0.7 * values[0] + 0.3
    theta = coefs @ values[1:3]
    expected = np.array([np.cos(x / 2), np.sin(x / 2) * np.prod(np.cos(theta / 2))])
    np.testing.assert_allclose(amps, [expected, expected], rtol=1e-12, atol=0)


def test_chains_past_the_float_range_keep_their_probabilities() -> None:
    """2500 residues, each in ry(phi_r)|0> (|phi_r| < pi/2) then cry(theta_r) from qubit 0, post-selected on <0|:
    amplitudes cos(x/2) prod cos(phi_r/2) and sin(x/2) prod cos((theta_r + phi_r)/2), about 1e-330: 0 in float64.
    Their logarithms and the probabilities come from the closed form, summed in log space."""
    length = 2500
    rng = np.random.default_rng(8)
    phi_coef, theta_coef = rng.uniform(1.45, 1.56, length), rng.uniform(-0.3, 0.3, length)
    c = Circuit(length + 1)
    c.ry(Parameter("a") + 0.2, 0)
    for r in range(length):
        c.ry(Parameter("b") * phi_coef[r], r + 1)
        c.cry(Parameter("c") * theta_coef[r], 0, r + 1)
    batch = ParametricBatch([Postselected(c, {q: 0 for q in range(1, length + 1)}, [0])], SYMBOLS, cache=TreeCache())
    values = np.array([0.3, 1.0, 0.8, 0.0])
    x, phi, theta = values[0] + 0.2, phi_coef * values[1], theta_coef * values[2]
    logs = np.array([np.log(np.cos(x / 2)) + np.log(np.cos(phi / 2)).sum(),
                     np.log(np.sin(x / 2)) + np.log(np.abs(np.cos((theta + phi) / 2))).sum()])
    assert logs.max() < np.log(np.finfo(float).tiny)  # beyond float64: plain amplitudes are 0
    assert not np.any(batch.amplitudes(values))
    mantissas, log_scales = batch.scaled_amplitudes(values)
    np.testing.assert_allclose(np.log(np.abs(mantissas[0])) + log_scales[0], logs, rtol=1e-12)
    expected = np.exp(2 * (logs - logs.max()))
    np.testing.assert_allclose(batch.probabilities(values)[0], expected / expected.sum(), rtol=1e-9)


def test_torch_gradients_match_finite_differences() -> None:
    torch = pytest.importorskip("torch")
    items = _items(5)
    batch = ParametricBatch(items, SYMBOLS, cache=TreeCache())
    values = np.random.default_rng(6).uniform(-2, 2, len(SYMBOLS))
    weights = np.random.default_rng(7).uniform(0.5, 1.5, len(items))
    # rows whose post-selection (nearly) cannot succeed hold normalised rounding noise: left out of the loss
    weights[(np.abs(batch.amplitudes(values)) ** 2).sum(1) < 1e-6] = 0
    assert np.count_nonzero(weights) >= 4

    def loss(theta):
        return (batch.probabilities(theta)[:, 0] * (torch.as_tensor(weights) if hasattr(theta, "grad")
                                                    else weights)).sum()

    theta = torch.tensor(values, requires_grad=True)
    value = loss(theta)
    value.backward()
    assert abs(value.item() - loss(values)) < 1e-12
    eps = 1e-6  # central differences: error ~ eps^2 * third derivative (order 1) + rounding 1e-16 / eps
    numeric = [(loss(values + eps * e) - loss(values - eps * e)) / (2 * eps) for e in np.eye(len(values))]
    np.testing.assert_allclose(theta.grad.numpy(), numeric, atol=1e-8)


def test_bad_inputs_are_one_clear_error() -> None:
    c = Circuit(2)
    c.ry(Parameter("a"), 0)
    c.cx(0, 1)
    good = Postselected(c, {1: 0}, [0])
    cases = [
        (lambda: ParametricBatch([], SYMBOLS), "no circuits"),
        (lambda: ParametricBatch([Postselected(c, {1: 0}, [])], SYMBOLS), "either fixed or open"),
        (lambda: ParametricBatch([Postselected(c, {1: 2}, [0])], SYMBOLS), "0 or 1"),
        (lambda: ParametricBatch([good, Postselected(c, {}, [0, 1])], SYMBOLS), "different numbers of open"),
        (lambda: ParametricBatch([good], ["b"]), r"parameter\(s\) \['a'\]"),
        (lambda: ParametricBatch([good], SYMBOLS, optimize="best"), "unknown optimize"),
        (lambda: ParametricBatch([good], SYMBOLS).amplitudes([0.1, 0.2]), "expected 4 parameter values"),
        (lambda: ParametricBatch([good], SYMBOLS).amplitudes([0.1, np.nan, 0, 0]), "not finite"),
        (lambda: ParametricBatch([good], SYMBOLS).amplitudes({"a": 1.0}), "no value bound"),
        (lambda: ParametricBatch([good], SYMBOLS).amplitudes(np.zeros(4), subset=[1]), "circuit 1 does not exist"),
        (lambda: ParametricBatch([good], SYMBOLS, memory_budget=-1), "budget"),
        (lambda: ParametricBatch(_items(0), SYMBOLS, memory_budget=1024, cache=TreeCache()).amplitudes(np.ones(4)),
         "does not fit the memory budget of 1 KiB"),
    ]
    for make, message in cases:
        with pytest.raises(TnqError, match=message):
            make()
    assert issubclass(CircuitError, TnqError)
