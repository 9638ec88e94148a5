"""Noise models (tnq.noise) and noisy sampling: channels against closed forms, the exact density matrix against
qiskit-aer's, trajectories (dense and MPS) against the exact distribution within the L1 bound of test_dynamic, a
noisy 20-qubit GHZ against aer's MPS, and every validation error.

The density-matrix comparison is exact arithmetic on both sides (a few hundred products of unit-norm matrices):
rounding stays near 1e-14, so 1e-10 leaves four orders of margin while any wrong channel, qubit order or
composition moves entries by about the noise strength (>= 1e-2 here)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from fuzzing import assert_reads_cleanly, field_edits, mutations
from test_dynamic import NAMED, eps, exact_distribution, l1, l1_counts, read

import tnq
from tnq import noise
from tnq.backends import density
from tnq.cli.main import main
from tnq.noise import NoiseError, NoiseModel

aer_noise = pytest.importorskip("qiskit_aer.noise")


def _dm(rho_in: np.ndarray, channel: noise.Channel) -> np.ndarray:
    return channel.apply(np.asarray(rho_in, dtype=np.complex128))


# --- channel algebra ------------------------------------------------------------------------------------------
def test_channels_match_closed_forms():
    zero, one = np.diag([1.0, 0.0]), np.diag([0.0, 1.0])
    plus = np.full((2, 2), 0.5)
    p, g, lam = 0.3, 0.2, 0.4
    assert np.allclose(_dm(zero, noise.depolarizing(p)), np.diag([1 - p / 2, p / 2]), atol=1e-15)
    zz = np.zeros((4, 4))
    zz[0, 0] = 1
    assert np.allclose(_dm(zz, noise.depolarizing(p, 2)), (1 - p) * zz + p * np.eye(4) / 4, atol=1e-15)
    assert np.allclose(_dm(one, noise.amplitude_damping(g)), np.diag([g, 1 - g]), atol=1e-15)
    assert np.allclose(_dm(plus, noise.phase_damping(lam)), [[0.5, 0.5 * math.sqrt(1 - lam)],
                                                            [0.5 * math.sqrt(1 - lam), 0.5]], atol=1e-15)
    assert np.allclose(_dm(zero, noise.pauli({"X": 0.25, "Y": 0.05})), np.diag([0.7, 0.3]), atol=1e-15)
    t1, t2, time = 50.0, 70.0, 9.0  # populations relax as exp(-t/T1), coherences as exp(-t/T2)
    rho = np.array([[0.3, 0.2 + 0.1j], [0.2 - 0.1j, 0.7]])
    out = _dm(rho, noise.thermal_relaxation(t1, t2, time))
    decay = math.exp(-time / t1)
    assert out[1, 1] == pytest.approx(0.7 * decay, abs=1e-14)
    assert out[0, 1] == pytest.approx((0.2 + 0.1j) * math.exp(-time / t2), abs=1e-14)
    # mixed-unitary channels are recognised (trajectories then need no state-dependent weights)
    assert noise.depolarizing(p, 2).probs is not None and noise.amplitude_damping(g).probs is None


def test_thermal_relaxation_matches_aer():
    from qiskit.quantum_info import Kraus, SuperOp

    ours = SuperOp(Kraus(list(noise.thermal_relaxation(40.0, 55.0, 7.0).kraus))).data
    theirs = SuperOp(aer_noise.thermal_relaxation_error(40.0, 55.0, 7.0)).data
    assert np.max(np.abs(ours - theirs)) < 1e-12


# --- exact density matrix against aer ---------------------------------------------------------------------------
def _aer_model():
    nm = aer_noise.NoiseModel()
    nm.add_all_qubit_quantum_error(aer_noise.depolarizing_error(0.02, 1), ["h", "rx"])
    nm.add_all_qubit_quantum_error(aer_noise.thermal_relaxation_error(50, 70, 3), ["sx"])
    nm.add_all_qubit_quantum_error(aer_noise.amplitude_damping_error(0.05), ["x"])
    nm.add_all_qubit_quantum_error(aer_noise.phase_damping_error(0.05), ["rz"])
    nm.add_all_qubit_quantum_error(aer_noise.thermal_relaxation_error(50, 60, 8), ["id"])  # idling noise
    nm.add_all_qubit_quantum_error(aer_noise.depolarizing_error(0.03, 2), ["cx"])
    # asymmetric two-qubit errors pin down qiskit's little-endian order inside the Kraus matrices
    nm.add_quantum_error(aer_noise.pauli_error([("XI", 0.1), ("II", 0.9)]), ["cx"], [0, 1])
    nm.add_all_qubit_quantum_error(
        aer_noise.thermal_relaxation_error(50, 70, 5).tensor(aer_noise.amplitude_damping_error(0.1)), ["cz"])
    return nm


def _random_circuit(n: int, layers: int, seed: int) -> tnq.Circuit:
    rng = np.random.default_rng(seed)
    c = tnq.Circuit(n)
    for _ in range(layers):
        for q in range(n):
            name = rng.choice(["h", "x", "sx", "rz", "rx", "id"])
            if name in ("rz", "rx"):
                getattr(c, name)(float(rng.uniform(0, 2 * np.pi)), q)
            else:
                getattr(c, name)(q)
        for _ in range(n // 2):
            a, b = (int(x) for x in rng.choice(n, size=2, replace=False))
            getattr(c, str(rng.choice(["cx", "cz"])))(a, b)
    c.cx(0, 1)
    return c


def _aer_density_matrix(circuit: tnq.Circuit, model) -> np.ndarray:
    from qiskit_aer import AerSimulator

    qc = circuit.to_qiskit()
    qc.save_density_matrix()
    data = np.asarray(AerSimulator(method="density_matrix", noise_model=model).run(qc).result().data()[
        "density_matrix"])
    n = circuit.num_qubits
    axes = list(range(n - 1, -1, -1))
    return data.reshape((2,) * (2 * n)).transpose(axes + [n + a for a in axes]).reshape(2**n, 2**n)


@pytest.mark.parametrize("n, seed", [(3, 0), (6, 1), (7, 2)])
def test_density_matrix_matches_aer(n, seed):
    circuit = _random_circuit(n, 3, seed)
    model = _aer_model()
    ours = density.density_matrix(circuit, model)  # the aer model is converted on the way
    assert np.max(np.abs(ours - _aer_density_matrix(circuit, model))) < 1e-10
    assert np.trace(ours).real == pytest.approx(1, abs=1e-12)


def test_noise_free_density_matches_the_exact_enumeration():
    for name in NAMED:
        circuit = read(name)
        ours, exact = density.distribution(circuit), exact_distribution(circuit)
        assert set(ours) >= {k for k, v in exact.items() if v > 1e-13}
        assert max(abs(ours.get(k, 0) - exact.get(k, 0)) for k in set(ours) | set(exact)) < 1e-12


def test_readout_error_closed_form():
    c = tnq.Circuit(2).x(0).measure(0, 1)
    model = NoiseModel().readout(0.1, 0.3, qubits=[0]).readout(0.2, 0.05, qubits=[1])
    dist = density.distribution(c, model)
    expected = {"00": 0.3 * 0.8, "01": 0.3 * 0.2, "10": 0.7 * 0.8, "11": 0.7 * 0.2}
    assert dist == pytest.approx(expected, abs=1e-15)


def test_mid_circuit_readout_error_feeds_the_condition():
    # q0 is 1; its reading (misread as 0 with probability 0.3) decides whether q1 flips: c1 copies c0
    circuit = tnq.Circuit.from_qasm('OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[2];\ncreg c[2];\nx q[0];\n'
                                    'measure q[0] -> c[0];\nif(c==1) x q[1];\nmeasure q[1] -> c[1];\n')
    model = NoiseModel().readout(0.1, 0.3, qubits=[0])
    assert density.distribution(circuit, model) == pytest.approx({"11": 0.7, "00": 0.3}, abs=1e-15)
    for method in ("dense", "mps"):
        counts = tnq.sample(circuit, 2000, seed=2, noise=model, method=method)
        assert set(counts) <= {"11", "00"} and l1(counts, {"11": 0.7, "00": 0.3}) < eps(2000, 2)


# --- trajectories against the exact distribution ----------------------------------------------------------------
def _noisy_dynamic() -> tuple[tnq.Circuit, NoiseModel]:
    circuit = read("reset")  # mid-circuit measurement and resets
    model = NoiseModel()
    model.add(noise.depolarizing(0.05, 2))  # on cx (0, 2); cx (0, 1) gets the specific channel below instead
    model.add(noise.amplitude_damping(0.1), ["ry"])
    model.add(noise.thermal_relaxation(30.0, 40.0, 4.0), ["h"], [1])
    model.add(noise.kraus([np.kron(a, b) for a in noise.amplitude_damping(0.2).kraus
                           for b in noise.phase_damping(0.3).kraus]), ["cx"], [(0, 1)])
    model.readout(0.03, 0.08)
    return circuit, model


@pytest.mark.parametrize("method", ["dense", "mps"])
def test_trajectories_match_the_density_matrix(method):
    shots = 4000
    for circuit, model in [_noisy_dynamic(), (_random_circuit(5, 2, 3), NoiseModel.from_aer(_aer_model())
                                              .readout(0.02, 0.04))]:
        exact = density.distribution(circuit, model)
        counts = tnq.sample(circuit, shots, seed=7, noise=model, method=method)
        support = sum(v > 0 for v in exact.values())
        assert set(counts) <= set(exact)
        assert l1(counts, exact) < eps(shots, support)
        exact_counts = tnq.sample(circuit, shots, seed=7, noise=model)  # auto: density matrix, a multinomial draw
        assert l1(exact_counts, exact) < eps(shots, support)


def test_noisy_ghz20_trajectories_match_aer_mps():
    from qiskit_aer import AerSimulator

    n, shots = 20, 3000
    circuit = tnq.ghz(n)
    circuit.measure(*range(n))
    nm = aer_noise.NoiseModel()
    nm.add_all_qubit_quantum_error(aer_noise.depolarizing_error(0.02, 1), ["h"])
    nm.add_all_qubit_quantum_error(aer_noise.depolarizing_error(0.02, 2), ["cx"])
    nm.add_all_qubit_readout_error(aer_noise.ReadoutError([[0.97, 0.03], [0.05, 0.95]]))
    ours = tnq.sample(circuit, shots, seed=3, noise=nm, method="mps")
    aer = AerSimulator(method="matrix_product_state", noise_model=nm, seed_simulator=3)
    theirs = {k[::-1]: v for k, v in aer.run(circuit.to_qiskit(), shots=shots).result().get_counts().items()}

    # compare the Hamming-weight distributions (n + 1 outcomes): a function of the outcome can only shrink L1
    def weights(counts: dict[str, int]) -> dict[str, int]:
        out: dict[str, int] = {}
        for key, k in counts.items():
            out[str(key.count("1"))] = out.get(str(key.count("1")), 0) + k
        return out

    assert l1_counts(weights(ours), weights(theirs)) < 2 * eps(shots, n + 1, 0.5e-9)
    # and the weight of the two GHZ outcomes, where the noise shows most
    top = sum(ours.get(k, 0) for k in ("0" * n, "1" * n)) / shots
    assert top == pytest.approx(sum(theirs.get(k, 0) for k in ("0" * n, "1" * n)) / shots,
                                abs=2 * eps(shots, 2, 0.5e-9))


def test_noise_free_keeps_the_fast_path_and_seeds_reproduce():
    circuit, model = _noisy_dynamic()
    a = tnq.sample(circuit, 300, seed=5, noise=model, method="mps")
    assert a == tnq.sample(circuit, 300, seed=5, noise=model, method="mps")
    c = tnq.ghz(3)
    assert tnq.sample(c, 100, seed=1) == tnq.sample(c, 100, seed=1, noise=None)


# --- validation -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("make, match", [
    (lambda: noise.kraus([np.eye(2), np.eye(2)]), "not trace preserving"),
    (lambda: noise.kraus([np.diag([1.0, 1.0 - 1e-9])]), "not trace preserving"),
    (lambda: noise.depolarizing(1.5), r"in \[0, 1\]"),
    (lambda: noise.amplitude_damping(float("nan")), "finite"),
    (lambda: noise.kraus([np.array([[np.inf, 0], [0, 1]])]), "non-finite"),
    (lambda: noise.pauli({"X": 0.7, "Z": 0.6}), "sum to"),
    (lambda: noise.thermal_relaxation(10.0, 30.0, 1.0), "t2 <= 2 t1"),
    (lambda: NoiseModel().readout(-0.1), "readout p01"),
    (lambda: NoiseModel().add(noise.depolarizing(0.1), ["cx"]), "acts on 1 qubit"),
    (lambda: NoiseModel().add(noise.depolarizing(0.1, 2), ["h"], [(0, 1)]), "acts on 2 qubit"),
    (lambda: NoiseModel().add(noise.depolarizing(0.1), ["measure"]), "not supported"),
    (lambda: NoiseModel.from_spec("depolarizing=0.1,loss=2"), "expected depolarizing"),
    (lambda: NoiseModel.from_dict({"errors": [{"channel": "kraus", "matrices": [[[[1, 0], [0, 0]],
                                                                                  [[0, 0], [0.5, 0]]]],
                                                "gates": ["h"]}]}), r"errors\[0\].*not trace preserving"),
    (lambda: NoiseModel.from_dict({"errors": [{"channel": "warp", "gates": ["h"]}]}), "unknown channel"),
])
def test_validation_errors(make, match):
    with pytest.raises(NoiseError, match=match):
        make()


def test_channel_arity_checked_against_custom_gates_and_unused_gates_warn():
    c = tnq.Circuit(2).unitary(np.eye(4), [0, 1])
    model = NoiseModel().add(noise.depolarizing(0.1), ["unitary"])
    with pytest.raises(NoiseError, match="gate 'unitary' on qubits"):
        tnq.sample(c, 10, seed=1, noise=model)
    with pytest.warns(UserWarning, match=r"\['cz'\]"):
        tnq.sample(tnq.ghz(2), 10, seed=1, noise=NoiseModel().add(noise.depolarizing(0.1, 2), ["cx", "cz"]))


def test_aer_non_local_and_correlated_readout_refused():
    nm = aer_noise.NoiseModel()
    nm.add_readout_error(aer_noise.ReadoutError([[0.9, 0.1, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]),
                         [0, 1])
    with pytest.raises(NoiseError, match="correlated readout"):
        NoiseModel.from_aer(nm)


def test_density_matrix_refuses_over_the_budget():
    with pytest.raises(tnq.SimulationError, match="density matrix of 14 qubits"):
        tnq.sample(tnq.ghz(14), 10, noise="depolarizing=0.01", method="density_matrix", memory_budget=2**20)


VALID_JSON = {"errors": [{"channel": "depolarizing", "p": 0.05, "num_qubits": 2, "gates": ["cx"], "qubits": [[0, 1]]},
                         {"channel": "pauli", "probabilities": {"X": 0.01, "Z": 0.02}, "gates": ["h"]},
                         {"channel": "thermal_relaxation", "t1": 5e-5, "t2": 7e-5, "time": 5e-8, "gates": ["x"]},
                         {"channel": "kraus", "matrices": [[[[1, 0], [0, 0]], [[0, 0], [1, 0]]]], "gates": ["h"]}],
              "readout": [{"p01": 0.02, "p10": 0.04, "qubits": [0]}]}


def test_json_reader_fuzz(tmp_path):
    valid = json.dumps(VALID_JSON).encode()
    NoiseModel.from_json(_write(tmp_path / "ok.json", valid))
    paths = [("errors", 0, "p"), ("errors", 0, "qubits"), ("errors", 0, "gates"), ("errors", 1, "probabilities"),
             ("errors", 2, "t2"), ("errors", 3, "matrices"), ("errors", 0, "channel"), ("readout", 0, "p10"),
             ("readout", 0, "qubits"), ("errors", 1), ("readout",)]
    values = [None, -1, 2, 1e400, "x", [], [[0, 1, 2]], {}, [[[["a", 0]]]], True, 0.5]
    cases = mutations(valid, 30, seed=3) + [t.encode() for t in field_edits(VALID_JSON, paths, values, 40, seed=4)]
    for i, data in enumerate(cases):
        assert_reads_cleanly(NoiseModel.from_json, tmp_path / f"case{i}.json", data)


def _write(path, data: bytes):
    path.write_bytes(data)
    return path


# --- command line -----------------------------------------------------------------------------------------------
def test_cli_noise_spec_and_json(tmp_path, capsys):
    qasm = tmp_path / "ghz.qasm"
    qasm.write_text(tnq.ghz(3).measure(0, 1, 2).to_qasm())
    spec = tmp_path / "noise.json"
    spec.write_text(json.dumps({"errors": [{"channel": "depolarizing", "p": 0.05, "num_qubits": 2,
                                            "gates": ["cx"]}],
                                "readout": [{"p01": 0.02, "p10": 0.04}]}))
    model = NoiseModel.from_json(spec)
    exact = density.distribution(tnq.Circuit.from_qasm(qasm), model)
    for noise_arg, method in ((str(spec), "mps"), ("depolarizing=0.05,readout=0.02", "auto")):
        assert main(["simulate", str(qasm), "--noise", noise_arg, "--shots", "2000", "--seed", "1", "--json",
                     "--method", method]) == 0
        out = json.loads(capsys.readouterr().out)
        assert out["simulation"]["method"] == ("mps" if method == "mps" else "density_matrix")
        if method == "mps":
            counts = out["sampling"]["counts"]
            assert l1(counts, exact) < eps(2000, sum(v > 0 for v in exact.values()))
    for bad in ("depolarizing=2", str(tmp_path / "missing.json")):
        assert main(["simulate", str(qasm), "--noise", bad, "--shots", "10"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "--noise" in err and "Traceback" not in err
