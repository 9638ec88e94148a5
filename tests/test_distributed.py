"""Sweeps, batches and shots on a Dask cluster give what the serial runs give (tnq.distributed)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import tnq
from tnq.chunks import chunk_seeds
from tnq.contraction import TreeCache
from tnq.distributed import simulate_many, sweep
from tnq.errors import UsageError

distributed = pytest.importorskip("distributed")

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
N = 8
RING = " + ".join(f"Z{i} Z{(i + 1) % N}" for i in range(N))


@pytest.fixture(scope="module")
def client():
    """One cluster of two single-threaded worker processes for the module."""
    cluster = distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None)
    with cluster, distributed.Client(cluster) as dask_client:
        yield dask_client


def _qaoa_ring(p: int = 1) -> tnq.Circuit:
    gammas = [tnq.Parameter(f"g{k}") for k in range(p)]
    betas = [tnq.Parameter(f"b{k}") for k in range(p)]
    return tnq.qaoa([(i, (i + 1) % N) for i in range(N)], gammas, betas)


def _values(rows: int, columns: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-np.pi, np.pi, (rows, columns))


@pytest.mark.parametrize("method", ["dense", "mps", "contract"])
def test_sweep_on_cluster_equals_serial_and_bound_circuits(client, method):
    circuit = _qaoa_ring(2)
    values = _values(9, 4)
    serial = sweep(circuit, values, RING, method=method)
    assert np.abs(sweep(circuit, values, RING, client=client, method=method, chunk_size=3) - serial).max() <= 1e-12
    # independent reference: each row bound into the circuit and simulated from scratch (no rebind, no sweep)
    reference = [tnq.simulate(circuit.bind(dict(zip(circuit.parameters, row))), "dense").expectation(RING)
                 for row in values]
    # the same doubles through differently ordered gate products: rounding of a few hundred flops on |H| <= 8
    assert np.abs(serial - reference).max() <= 1e-11


def test_sweep_rows_come_back_in_order(client):
    circuit = _qaoa_ring(1)
    values = _values(11, 2, seed=1)
    order = np.random.default_rng(2).permutation(len(values))
    straight = sweep(circuit, values, RING, client=client, chunk_size=2)
    shuffled = sweep(circuit, values[order], RING, client=client, chunk_size=4)
    assert np.abs(shuffled - straight[order]).max() <= 1e-12
    assert len(set(np.round(straight, 9))) == len(values)  # distinct rows: a mix-up could not go unnoticed


def test_sweep_of_a_non_hermitian_observable_is_complex():
    circuit = _qaoa_ring(1)
    values = _values(3, 2, seed=4)
    observable = [(0.5j, "Z0 Z1"), (1.0, "X2")]
    result = sweep(circuit, values, observable, method="mps")
    assert result.dtype == np.complex128
    reference = [tnq.simulate(circuit.bind(dict(zip(circuit.parameters, row))), "dense").expectation(observable)
                 for row in values]
    assert np.abs(result - reference).max() <= 1e-12
    assert np.abs(result.imag).max() > 1e-3  # the imaginary part is really there


def test_sweep_refuses_bad_values_at_the_door():
    circuit = _qaoa_ring(1)
    values = _values(4, 2)
    values[2, 1] = np.nan
    with pytest.raises(UsageError, match=r"row 2, column 1 \(parameter 'g0'\) is not finite"):
        sweep(circuit, values, RING)
    with pytest.raises(UsageError, match=r"shape \(rows, 2\).*got shape \(4, 3\)"):
        sweep(circuit, np.zeros((4, 3)), RING)
    with pytest.raises(UsageError, match="no free parameters"):
        sweep(tnq.ghz(3), np.zeros((2, 1)), "Z0")
    with pytest.raises(UsageError, match="chunk_size"):
        sweep(circuit, np.zeros((2, 2)), RING, chunk_size=0)
    with pytest.raises(tnq.SimulationError, match="sweep row 0: .*memory budget"):
        sweep(circuit, np.zeros((2, 2)), RING, method="dense", memory_budget=64)
    single = tnq.Circuit(1)
    single.rx(tnq.Parameter("t"), 0)
    angles = np.linspace(0, np.pi, 5)
    assert np.allclose(sweep(single, angles, "Z0"), np.cos(angles), atol=1e-14)  # a 1-D sweep of one parameter
    assert sweep(circuit, np.zeros((0, 2)), RING).shape == (0,)


def test_sample_counts_identical_with_client(client):
    teleport = tnq.Circuit.from_qasm(EXAMPLES / "teleport.qasm")
    serial = tnq.sample(teleport, 1000, seed=5, chunk_size=128)
    assert tnq.sample(teleport, 1000, seed=5, chunk_size=128, client=client) == serial
    assert tnq.sample(teleport, 1000, seed=6, chunk_size=128) != serial  # the seed matters: the test can fail
    generators = np.random.default_rng(8), np.random.default_rng(8)
    assert tnq.sample(teleport, 500, seed=generators[0], chunk_size=128, client=client) == \
        tnq.sample(teleport, 500, seed=generators[1], chunk_size=128)
    noisy = dict(noise="depolarizing=0.02,readout=0.01", method="mps", chunk_size=100)
    trajectories = tnq.sample(teleport, 700, seed=9, **noisy)
    assert tnq.sample(teleport, 700, seed=9, client=client, **noisy) == trajectories
    assert sum(trajectories.values()) == 700


def test_mps_state_sampling_in_chunks_identical_with_client(client):
    circuit = tnq.brickwork(10, 4, seed=1)
    serial = tnq.sample(circuit, 900, seed=2, method="mps", chunk_size=256)
    assert tnq.sample(circuit, 900, seed=2, method="mps", chunk_size=256, client=client) == serial
    assert len(serial) > 100  # many outcomes: equal counts are no coincidence
    # one chunk draws from the seed itself, as State.counts does
    assert tnq.sample(circuit, 256, seed=2, method="mps", chunk_size=256) == \
        tnq.simulate(circuit, "mps").counts(256, seed=2)


def test_chunk_seeds_depend_on_seed_and_index_only():
    few, many = chunk_seeds(3, 2), chunk_seeds(3, 5)
    draw = [np.random.default_rng(s).integers(2**62) for s in many]
    assert [np.random.default_rng(s).integers(2**62) for s in few] == draw[:2]
    assert len(set(draw)) == 5
    assert chunk_seeds(np.random.default_rng(1), 1)[0].entropy == chunk_seeds(np.random.default_rng(1), 1)[0].entropy


def test_simulate_many_equals_serial_and_single_runs(client):
    circuits = [tnq.qaoa([(i, (i + 1) % N) for i in range(N)], [0.1 * k], [0.3]) for k in range(3)]
    circuits.append(tnq.Circuit.from_qasm(EXAMPLES / "teleport.qasm"))
    observable, shots = "Z0 Z1", 300
    counts = simulate_many(circuits, shots=shots, seed=4, client=client)
    assert counts == simulate_many(circuits, shots=shots, seed=4)
    seeds = chunk_seeds(4, len(circuits))
    assert counts == [tnq.sample(c, shots, seed=np.random.default_rng(s)) for c, s in zip(circuits, seeds)]
    both = simulate_many(circuits[:3], observable, shots, seed=4, client=client)
    assert [b[1] for b in both] == counts[:3]
    expected = [tnq.simulate(c, "dense").expectation(observable) for c in circuits[:3]]
    assert np.abs(np.array([b[0] for b in both]) - expected).max() <= 1e-12
    with pytest.raises(UsageError, match="observable= .*shots="):
        simulate_many(circuits)
    with pytest.raises(tnq.ObservableError, match="circuit 3: .*qubit 5"):
        simulate_many([*circuits[:3], tnq.ghz(2)], "Z5")


def test_contraction_slices_still_equal(client):
    circuit = tnq.grid_random(4, 4, 14, seed=4)
    state = tnq.simulate(circuit, "contract", cache=TreeCache())
    serial, peak = state.amplitude("1" * 16), state.last_report.peak_bytes
    sliced = tnq.simulate(circuit, "contract", cache=TreeCache(), memory_budget=peak // 2, client=client)
    value = sliced.amplitude("1" * 16)
    assert sliced.last_report.slices > 1
    assert abs(value - serial) <= 1e-12


def _kill_first_chunk(marker: str) -> None:
    """On a worker: the first sweep chunk to start (on any worker) ends its worker process."""
    import tnq.distributed as module

    original = module._expectations

    def killing(*args):
        try:
            os.close(os.open(marker, os.O_CREAT | os.O_EXCL))
        except FileExistsError:
            return original(*args)
        os._exit(1)

    module._expectations = killing


def test_killed_worker_is_replaced_and_the_sweep_unchanged(client, tmp_path):
    circuit = _qaoa_ring(1)
    values = _values(9, 2, seed=3)
    serial = sweep(circuit, values, RING)
    marker = tmp_path / "killed"
    client.run(_kill_first_chunk, str(marker))
    result = sweep(circuit, values, RING, client=client, chunk_size=2)
    assert marker.exists()  # a worker did die
    assert np.abs(result - serial).max() <= 1e-12
    client.wait_for_workers(2, timeout=60)
