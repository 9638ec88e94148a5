"""The compiled contraction program (batched matmul steps, folding of constant steps), the bitstring
template behind amplitude queries (one by one and stacked in batches) and the tree search / on-disk
tree cache, each against an independent reference (numpy einsum, the dense statevector)."""

from __future__ import annotations

import numpy as np
import pytest

import tnq
from tnq.backends.contract import BATCH_MIN
from tnq.contraction import TreeCache
from tnq.contraction.network import Network
from tnq.contraction.paths import search_rounds
from tnq.contraction.program import Program, tree_path


def _random_network(seed: int) -> Network:
    """Random tensors over a few indices of sizes 1-3: hyperedges (an index on 3+ tensors), output
    indices, indices on a single tensor (summed before any step) and a scalar tensor."""
    rng = np.random.default_rng(seed)
    names = [f"i{k}" for k in range(9)]
    sizes = {i: int(rng.integers(1, 4)) for i in names}
    net = Network()
    for _ in range(int(rng.integers(4, 8))):
        inds = list(rng.choice(names, size=int(rng.integers(1, 4)), replace=False))
        shape = [sizes[i] for i in inds]
        net.add(inds, rng.standard_normal(shape) + 1j * rng.standard_normal(shape))
    net.add((), np.array(0.5 - 0.25j))
    used = sorted({i for inds in net.inputs for i in inds})
    net.output = tuple(rng.choice(used, size=min(2, len(used)), replace=False))
    return net


def _einsum_reference(net: Network) -> np.ndarray:
    letters = {i: chr(ord("a") + k) for k, i in enumerate(sorted(net.size_dict))}
    eq = ",".join("".join(letters[i] for i in inds) for inds in net.inputs) + "->" + \
        "".join(letters[i] for i in net.output)
    return np.einsum(eq, *net.arrays)


def _program(net: Network) -> Program:
    import cotengra as ctg

    tree = ctg.array_contract_tree(net.inputs, net.output, net.size_dict, optimize="greedy")
    return Program(net.inputs, net.output, net.size_dict, tree_path(tree, range(len(net.inputs)), len(net.inputs)))


@pytest.mark.parametrize("seed", range(12))
def test_program_matches_einsum_and_folding_matches_full_run(seed: int) -> None:
    net = _random_network(seed)
    program = _program(net)
    expected = _einsum_reference(net)
    np.testing.assert_allclose(program(net.arrays), expected, atol=1e-10)
    rng = np.random.default_rng(100 + seed)
    variable = [int(k) for k in rng.choice(len(net.arrays), size=2, replace=False)]
    finish = program.fold(net.arrays, variable)
    np.testing.assert_allclose(finish({k: net.arrays[k] for k in variable}), expected, atol=1e-10)
    changed = {k: rng.standard_normal(np.shape(net.arrays[k])) + 0j for k in variable}
    other = Network(net.inputs, [changed.get(k, a) for k, a in enumerate(net.arrays)], net.output, net.size_dict)
    np.testing.assert_allclose(finish(changed), _einsum_reference(other), atol=1e-10)


def test_program_gradients_match_torch_einsum() -> None:
    torch = pytest.importorskip("torch")
    net = _random_network(3)
    program = _program(net)
    a = [torch.tensor(x, requires_grad=True) for x in net.arrays]
    b = [torch.tensor(x, requires_grad=True) for x in net.arrays]
    letters = {i: chr(ord("a") + k) for k, i in enumerate(sorted(net.size_dict))}
    eq = ",".join("".join(letters[i] for i in inds) for inds in net.inputs) + "->" + \
        "".join(letters[i] for i in net.output)
    program(a).abs().pow(2).sum().backward()
    torch.einsum(eq, *b).abs().pow(2).sum().backward()
    for x, y in zip(a, b):
        np.testing.assert_allclose(x.grad.numpy(), y.grad.numpy(), atol=1e-10)


def _odd_circuit(n: int, seed: int) -> tnq.Circuit:
    """Random gates plus the cases the bitstring template must handle: a wire with no gate at all, a
    wire that only sees diagonal gates (its |0> index is a hyperedge reaching the output) and trailing
    one-qubit gates (the output row is not a basis vector)."""
    c = tnq.random_circuit(n - 2, 30, seed=seed)
    out = tnq.Circuit(n)
    for op in c.gates():
        out.append(op.name, op.qubits, op.params, matrix=op.matrix, label=op.label)
    out.cz(n - 2, 0).cp(0.4, 1, n - 2).rz(0.3, n - 2)  # wire n-2: diagonal gates only; wire n-1 untouched
    out.ry(0.7, 1).sx(0)
    return out


@pytest.mark.parametrize("seed", range(3))
def test_stacked_batch_equals_one_by_one_equals_dense(seed: int) -> None:
    n = 7
    circuit = _odd_circuit(n, seed)
    rng = np.random.default_rng(seed)
    bits = rng.integers(0, 2, size=(BATCH_MIN + 13, n))  # above the batch threshold, not a whole chunk
    bits[:, n - 1] = rng.integers(0, 2, size=len(bits))
    dense = tnq.simulate(circuit, "dense").amplitudes(bits)
    state = tnq.simulate(circuit, "contract", cache=TreeCache())
    batch = state.amplitudes(bits)
    one_by_one = np.array([state.amplitude("".join(map(str, row))) for row in bits])
    np.testing.assert_allclose(batch, dense, atol=1e-10)
    np.testing.assert_allclose(one_by_one, dense, atol=1e-10)
    assert np.abs(dense).max() > 1e-3  # not all zero: the comparison can fail


def test_open_wires_on_diagonal_only_and_untouched_wires_match_dense() -> None:
    n = 6
    circuit = _odd_circuit(n, 4)
    state = tnq.simulate(circuit, "contract", cache=TreeCache())
    psi = tnq.simulate(circuit, "dense").statevector().reshape((2,) * n)
    fixed = {0: 1, 2: 0, 3: 1}
    value = state.amplitude_tensor(fixed, [n - 2, n - 1, 1])  # diagonal-only wire, untouched wire, a normal one
    expected = np.transpose(psi[1, :, 0, 1, :, :], (1, 2, 0))
    np.testing.assert_allclose(value, expected, atol=1e-10)


def test_batched_amplitudes_with_torch_parameters_have_gradients() -> None:
    torch = pytest.importorskip("torch")
    theta = tnq.Parameter("t")
    circuit = tnq.Circuit(5).h(0).rx(theta, 1).cx(0, 2).cz(1, 2).ry(theta * 0.5, 3).cx(3, 4).rz(theta, 4).h(2)
    bits = np.random.default_rng(0).integers(0, 2, size=(BATCH_MIN + 3, 5))
    t = torch.tensor(0.8, dtype=torch.float64, requires_grad=True)
    amps = tnq.simulate(circuit.bind({"t": t}), "contract", cache=TreeCache()).amplitudes(bits)
    loss = (amps.abs() ** 2).sum()
    loss.backward()
    ref = tnq.simulate(circuit.bind({"t": 0.8}), "dense").amplitudes(bits)
    np.testing.assert_allclose(amps.detach().numpy(), ref, atol=1e-10)

    def f(x: float) -> float:
        return float(np.sum(np.abs(tnq.simulate(circuit.bind({"t": x}), "dense").amplitudes(bits)) ** 2))

    assert abs(t.grad.item() - (f(0.8 + 1e-6) - f(0.8 - 1e-6)) / 2e-6) < 1e-6


def test_hyper_rounds_never_return_a_worse_tree_than_greedy() -> None:
    circuit = tnq.grid_random(3, 4, 8, seed=1)
    state = tnq.simulate(circuit, "contract", cache=TreeCache())
    net = state._template().network()
    greedy, _ = search_rounds(net, "greedy", 1.0)
    hyper, name = search_rounds(net, "hyper", 1.5)
    assert hyper.contraction_cost() <= greedy.contraction_cost()
    assert name == "greedy" or name.startswith("hyper")


def test_trees_persist_on_disk_and_are_reused(tmp_path) -> None:
    circuit = tnq.grid_random(3, 3, 6, seed=2)
    first = tnq.simulate(circuit, "contract", cache=TreeCache(tmp_path)).amplitude("101010101")
    files = list(tmp_path.glob("tree-*.json"))
    assert len(files) == 1
    state = tnq.simulate(circuit, "contract", cache=TreeCache(tmp_path))  # a new process would start like this
    assert state.amplitude("101010101") == pytest.approx(first, abs=1e-14)
    assert state.reports[0].optimizer == "on disk"
    assert abs(first - tnq.simulate(circuit, "dense").amplitude("101010101")) < 1e-10


def test_tree_cache_is_bounded_and_drops_the_least_recently_used_structure():
    """Memory stays flat over many shapes: with room for two structures, a third evicts the one used least
    recently (its next lookup searches again) while the recently used one is still a hit."""
    from tnq.contraction.network import Network

    def chain(n: int) -> Network:  # a trace of n matrices: a different structure for each n
        net = Network()
        for k in range(n):
            net.add((f"i{k}", f"i{(k + 1) % n}"), np.eye(2))
        return net

    cache = TreeCache(max_entries=2)
    for n in (3, 4, 3):  # 3 is now the most recent
        cache.get_tree(chain(n), "greedy")
    assert cache.misses == 2
    cache.get_tree(chain(5), "greedy")  # evicts 4
    assert len(cache) == 2 and cache.misses == 3
    assert cache.get_tree(chain(3), "greedy").cache_hit and cache.misses == 3
    assert not cache.get_tree(chain(4), "greedy").cache_hit and cache.misses == 4
    with pytest.raises(tnq.SimulationError, match="max_entries"):
        TreeCache(max_entries=0)
