"""Contraction backend against the dense reference: amplitudes, batches, marginals, expectations,
sampling, slicing, Dask, tree caching and torch autodiff."""

from __future__ import annotations

import numpy as np
import pytest

import tnq
from tnq.contraction import TreeCache
from tnq.errors import SimulationError


def _marginal_reference(state: tnq.State, qubits: list[int]) -> np.ndarray:
    probs = np.abs(state.statevector().reshape((2,) * state.num_qubits)) ** 2
    other = tuple(q for q in range(state.num_qubits) if q not in qubits)
    return np.moveaxis(probs.sum(axis=other), np.argsort(np.argsort(qubits)), range(len(qubits))) \
        if other else probs.transpose(qubits)


@pytest.mark.parametrize("seed", range(8))
def test_contract_matches_dense_on_random_circuits(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(3, 8))
    circuit = tnq.random_circuit(n, 50, seed=seed)
    dense = tnq.simulate(circuit, "dense")
    state = tnq.simulate(circuit, "contract", cache=TreeCache())
    bits = rng.integers(0, 2, size=(5, n))
    np.testing.assert_allclose(state.amplitudes(bits), dense.amplitudes(bits), atol=1e-10)
    one = "".join(map(str, bits[0]))
    assert abs(state.amplitude(one) - dense.amplitude(one)) < 1e-10
    hamiltonian = f"Z0 X{n - 1} + 0.5*Y1 - 0.25*X0 Z2"
    assert abs(state.expectation(hamiltonian) - dense.expectation(hamiltonian)) < 1e-10
    qubits = [int(q) for q in rng.choice(n, size=2, replace=False)]
    np.testing.assert_allclose(state.marginal(qubits), _marginal_reference(dense, qubits), atol=1e-10)


def test_lightcone_expectation_on_40_qubits_matches_dense_lightcone() -> None:
    circuit = tnq.brickwork(40, 8, seed=3)
    exact = tnq.expectation(circuit, "Z0 Z1", method="dense")  # dense on the 10-qubit lightcone
    value = tnq.expectation(circuit, "Z0 Z1", method="contract", cache=TreeCache())
    assert abs(value - exact) < 1e-10


def test_sampling_through_marginal_matches_dense_distribution() -> None:
    from scipy.stats import chisquare

    circuit = tnq.random_circuit(5, 40, seed=11)
    dense = tnq.simulate(circuit, "dense")
    state = tnq.simulate(circuit, "contract", cache=TreeCache())
    samples = state.sample(20000, seed=5)
    index = samples @ (1 << np.arange(4, -1, -1))
    observed = np.bincount(index, minlength=32)
    expected = np.abs(dense.statevector()) ** 2 * len(samples)
    keep = expected > 5
    stat = chisquare(observed[keep], expected[keep] * observed[keep].sum() / expected[keep].sum())
    assert stat.pvalue > 1e-3


def test_cache_hit_skips_search_and_gives_identical_results() -> None:
    cache = TreeCache()
    circuit = tnq.grid_random(3, 3, 6, seed=1)
    state = tnq.simulate(circuit, "contract", cache=cache)
    first = state.amplitude("010101010")
    assert cache.misses == 1 and cache.hits == 0
    again = state.amplitude("010101010")
    other = state.amplitude("111000111")  # a new bitstring has the same structure: the state reuses its tree
    assert cache.misses == 1
    assert first == again
    assert state.last_report.cache_hit and state.last_report.search_seconds == 0.0
    assert abs(other - tnq.simulate(circuit, "dense").amplitude("111000111")) < 1e-10
    fresh = tnq.simulate(circuit, "contract", cache=cache)  # a new state of the same circuit: a cache hit
    assert fresh.amplitude("111000111") == other
    assert cache.misses == 1 and cache.hits == 1


def test_new_parameters_reuse_the_tree() -> None:
    theta = tnq.Parameter("t")
    circuit = tnq.qaoa([(0, 1), (1, 2), (2, 3), (3, 0)], [theta], [theta * 0.5])
    cache = TreeCache()
    values = []
    for t in (0.1, 0.7, 1.3):
        bound = circuit.bind({"t": t})
        values.append(tnq.expectation(bound, "Z0 Z2", method="contract", cache=cache))
        assert abs(values[-1] - tnq.expectation(bound, "Z0 Z2", method="dense")) < 1e-10
    assert cache.misses == 1 and cache.hits == 2


def _unsliced_peak(circuit: tnq.Circuit, bits: str) -> tuple[complex, int]:
    state = tnq.simulate(circuit, "contract", cache=TreeCache())
    value = state.amplitude(bits)
    assert state.last_report.slices == 1
    return value, state.last_report.peak_bytes


def test_sliced_contraction_equals_unsliced() -> None:
    circuit = tnq.grid_random(4, 4, 14, seed=2)
    reference, peak = _unsliced_peak(circuit, "0" * 16)
    state = tnq.simulate(circuit, "contract", cache=TreeCache(), memory_budget=peak // 2)
    value = state.amplitude("0" * 16)
    assert state.last_report.slices > 1
    assert state.last_report.peak_bytes <= peak // 2
    assert abs(value - reference) < 1e-12


def test_over_budget_contraction_is_refused_before_allocation() -> None:
    circuit = tnq.grid_random(3, 3, 6, seed=0)
    state = tnq.simulate(circuit, "contract", cache=TreeCache(), memory_budget=16)
    with pytest.raises(SimulationError, match="memory budget"):
        state.amplitude("0" * 9)


def test_dask_slices_equal_serial() -> None:
    distributed = pytest.importorskip("dask.distributed")
    circuit = tnq.grid_random(4, 4, 14, seed=4)
    serial, peak = _unsliced_peak(circuit, "1" * 16)
    with distributed.Client(processes=False, n_workers=1, threads_per_worker=2, dashboard_address=None) as client:
        state = tnq.simulate(circuit, "contract", cache=TreeCache(), memory_budget=peak // 2, client=client)
        value = state.amplitude("1" * 16)
        assert state.last_report.slices > 1
    assert abs(value - serial) < 1e-12


def test_torch_autodiff_matches_finite_differences_and_parameter_shift() -> None:
    torch = pytest.importorskip("torch")
    a, b = tnq.Parameter("a"), tnq.Parameter("b")
    circuit = tnq.Circuit(3)
    circuit.h(0).rx(a, 0).cx(0, 1).ry(2 * b, 1).cz(1, 2).rz(a + b, 2).h(2).crx(a, 2, 0)
    observable = "Z0 X2 + Y1 + 0.5*X0 X1"
    point = {"a": 0.3, "b": -0.7}
    params = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in point.items()}
    value = tnq.expectation(circuit.bind(params), observable, method="contract", cache=TreeCache())
    value.backward()
    grad = {k: p.grad.item() for k, p in params.items()}

    def f(**kw: float) -> float:
        return tnq.expectation(circuit.bind({**point, **kw}), observable, method="dense")

    eps = 1e-6
    for name in point:
        fd = (f(**{name: point[name] + eps}) - f(**{name: point[name] - eps})) / (2 * eps)
        assert abs(grad[name] - fd) < 1e-6
    # parameter shift on a circuit where b enters one RY rotation only (coefficient 2 -> shifts of pi/4)
    single = tnq.Circuit(2).h(0).cx(0, 1).ry(b, 1).h(1)
    tb = torch.tensor(0.4, dtype=torch.float64, requires_grad=True)
    tnq.expectation(single.bind({"b": tb}), "Z0 X1", method="contract", cache=TreeCache()).backward()
    shift = (tnq.expectation(single.bind({"b": 0.4 + np.pi / 2}), "Z0 X1", method="dense")
             - tnq.expectation(single.bind({"b": 0.4 - np.pi / 2}), "Z0 X1", method="dense")) / 2
    assert abs(tb.grad.item() - shift) < 1e-10


def test_mps_and_dense_refuse_gradients_with_a_clear_error() -> None:
    torch = pytest.importorskip("torch")
    circuit = tnq.Circuit(2).rx(tnq.Parameter("a"), 0).cx(0, 1)
    bound = circuit.bind({"a": torch.tensor(0.2, dtype=torch.float64, requires_grad=True)})
    with pytest.raises(SimulationError, match="contract"):
        tnq.simulate(bound, "mps")


def test_auto_chooses_contract_for_2d_amplitudes_and_says_why() -> None:
    circuit = tnq.grid_random(5, 5, 10, seed=0)
    from tnq.compile import lower
    from tnq.simulate import choose_method

    method, reason = choose_method(25, "auto", lower(circuit).gates, need_state=False)
    assert method == "contract" and "bond" in reason
    assert choose_method(25, "auto")[0] == "mps"  # a full state (sampling) still goes to MPS


def test_contract_sampling_refuses_large_states() -> None:
    state = tnq.simulate(tnq.ghz(30), "contract", cache=TreeCache())
    assert abs(state.amplitude("1" * 30) - 2**-0.5) < 1e-12
    with pytest.raises(SimulationError, match="mps"):
        state.sample(10)
