"""Pauli frames in noisy sampling (tnq.branching.Frames): the Pauli algebra they rest on against brute-force matrix
products, trajectories that carry Pauli errors as frames against the exact density matrix (dense and MPS, with
Clifford, diagonal and generic gates, mid-circuit measurement, reset, conditions, non-Pauli channels and readout
error), and the sharing itself: a Clifford circuit with Pauli noise and terminal measurements runs as one state.

Statistical bound: as in test_dynamic (L1 deviation inequality, false-alarm rate 1e-9 per comparison)."""

from __future__ import annotations

import numpy as np
import pytest
from test_dynamic import eps, l1

import tnq
from tnq import noise
from tnq.backends import density
from tnq.circuit import GATES
from tnq.dynamic import _Brancher
from tnq.noise import NoiseModel, pauli_basis, pauli_code, pauli_images


def _unitary(name: str, *params: float) -> np.ndarray:
    return np.asarray(GATES[name].matrix(*params) if params else GATES[name].matrix(), dtype=np.complex128)


def _phase_equal(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether a = c b for some unit complex c (entrywise, to rounding)."""
    i = np.unravel_index(np.argmax(np.abs(b)), b.shape)
    c = a[i] / b[i]
    return bool(abs(abs(c) - 1) < 1e-12 and np.allclose(a, c * b, atol=1e-12, rtol=0))


# --- the algebra -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("k", [1, 2, 3])
def test_codes_multiply_by_xor(k):
    basis = pauli_basis(k)
    assert basis.shape == (4**k, 2**k, 2**k)
    for a in range(4**k):
        for b in range(4**k):
            assert _phase_equal(basis[a] @ basis[b], basis[a ^ b])
    x, z = np.array([[0, 1], [1, 0]]), np.diag([1, -1])
    assert _phase_equal(basis[1], np.kron(np.eye(2 ** (k - 1)), x))  # code 1: X on the last qubit
    assert _phase_equal(basis[2 * 4 ** (k - 1)], np.kron(z, np.eye(2 ** (k - 1))))  # Z on the first qubit


GATE_CASES = [("h", ()), ("s", ()), ("sdg", ()), ("x", ()), ("y", ()), ("z", ()), ("sx", ()), ("t", ()),
              ("rz", (0.3,)), ("rx", (0.7,)), ("u3", (0.4, 1.1, -0.6)), ("cx", ()), ("cz", ()), ("swap", ()),
              ("cp", (0.5,)), ("ccx", ())]
CLIFFORD = {"h", "s", "sdg", "x", "y", "z", "sx", "cx", "cz", "swap"}


@pytest.mark.parametrize("name, params", GATE_CASES)
def test_pauli_images_against_matrix_products(name, params):
    u = _unitary(name, *params)
    k = int(np.log2(u.shape[0]))
    basis = pauli_basis(k)
    images = pauli_images(u)
    for p in range(4**k):
        conjugated = u @ basis[p] @ u.conj().T
        if images[p] >= 0:
            assert _phase_equal(conjugated, basis[images[p]]), (name, p)
        else:  # no Pauli product matches it
            assert not any(_phase_equal(conjugated, b) for b in basis), (name, p)
    mapped = set(np.flatnonzero(images >= 0).tolist())
    if name in CLIFFORD:
        assert mapped == set(range(4**k))
    elif name in ("t", "rz", "cp"):  # diagonal: exactly the Z-type products (codes of only 0 and 2 digits)
        assert mapped == {c for c in range(4**k) if all((c >> (2 * j)) & 1 == 0 for j in range(k))}
    elif name == "rx":  # commutes with X only
        assert mapped == {0, 1}
    elif name == "u3":  # generic: the identity only
        assert mapped == {0}
    assert sorted(images[images >= 0].tolist()) == sorted(set(images[images >= 0].tolist()))  # a bijection


def test_channel_pauli_codes():
    dep = noise.depolarizing(0.1, 2)
    assert dep.pauli_codes is not None and len(dep.pauli_codes) == 16
    for code, u in zip(dep.pauli_codes, dep.unitaries, strict=True):
        assert _phase_equal(u, pauli_basis(2)[code])
    assert noise.pauli({"XZ": 0.2}).pauli_codes is not None
    assert noise.amplitude_damping(0.1).pauli_codes is None
    h = _unitary("h")
    assert noise.kraus([np.sqrt(0.8) * np.eye(2), np.sqrt(0.2) * h]).pauli_codes is None  # mixed-unitary, not Pauli
    assert pauli_code(h) == -1 and pauli_code(1j * _unitary("y")) == 3


# --- trajectories with frames against the exact distribution -------------------------------------------------
def _mixed_circuit() -> tnq.Circuit:
    """Clifford, diagonal non-Clifford and generic gates, a Toffoli, a mid-circuit measurement feeding a condition,
    a reset, and terminal measurements."""
    c = tnq.Circuit.from_qasm("""OPENQASM 2.0;
include "qelib1.inc";
qreg q[5];
creg m[1];
creg c[5];
h q[0];
cx q[0],q[1];
cx q[1],q[2];
t q[2];
cz q[2],q[3];
rx(0.7) q[3];
s q[1];
ccx q[0],q[1],q[4];
measure q[1] -> m[0];
if(m==1) x q[3];
reset q[0];
h q[0];
cx q[0],q[4];
rz(0.4) q[4];
cx q[3],q[2];
measure q[0] -> c[0];
measure q[1] -> c[1];
measure q[2] -> c[2];
measure q[3] -> c[3];
measure q[4] -> c[4];
""")
    return c


def _model(with_kraus: bool) -> NoiseModel:
    model = NoiseModel()
    model.add(noise.depolarizing(0.15, 1), ["h", "s", "t", "rx", "rz", "x"])
    model.add(noise.depolarizing(0.12, 2), ["cx", "cz"])
    model.add(noise.pauli({"ZX": 0.1, "YI": 0.05}), ["cx"], [(1, 2)])
    model.add(noise.pauli({"XIZ": 0.1, "IYI": 0.1}), ["ccx"])
    if with_kraus:
        model.add(noise.kraus([np.sqrt(0.85) * np.eye(2), np.sqrt(0.15) * _unitary("h")]), ["t"])
        model.add(noise.amplitude_damping(0.2), ["rx"])
    model.readout(0.03, 0.06)
    return model


@pytest.mark.parametrize("method", ["dense", "mps"])
@pytest.mark.parametrize("with_kraus", [False, True])
def test_frames_match_the_density_matrix(method, with_kraus):
    circuit, model = _mixed_circuit(), _model(with_kraus)
    shots = 6000
    exact = density.distribution(circuit, model)
    counts = tnq.sample(circuit, shots, seed=11, noise=model, method=method)
    support = sum(v > 1e-15 for v in exact.values())
    assert sum(counts.values()) == shots and set(counts) <= {k for k, v in exact.items() if v > 0}
    assert l1(counts, exact) < eps(shots, support)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_noisy_circuits_match_the_density_matrix(seed):
    rng = np.random.default_rng(seed)
    n = 4
    c = tnq.Circuit(n)
    for _ in range(4):
        for q in range(n):
            name = str(rng.choice(["h", "s", "t", "sx", "rz", "u3"]))
            if name == "rz":
                c.rz(float(rng.uniform(0, 2 * np.pi)), q)
            elif name == "u3":
                c.u3(*(float(x) for x in rng.uniform(0, 2 * np.pi, 3)), q)
            else:
                getattr(c, name)(q)
        for _ in range(2):
            a, b = (int(x) for x in rng.choice(n, size=2, replace=False))
            getattr(c, str(rng.choice(["cx", "cz", "swap"])))(a, b)
    c.measure(*range(n))
    model = NoiseModel().add(noise.depolarizing(0.1, 1)).add(noise.depolarizing(0.1, 2)).readout(0.02)
    shots = 4000
    exact = density.distribution(c, model)
    counts = tnq.sample(c, shots, seed=seed, noise=model, method="mps")
    assert l1(counts, exact) < eps(shots, sum(v > 1e-15 for v in exact.values()))


# --- the sharing -----------------------------------------------------------------------------------------------
def _count_copies(monkeypatch) -> list[int]:
    copies: list[int] = []
    original = _Brancher._copy
    monkeypatch.setattr(_Brancher, "_copy", staticmethod(lambda state: copies.append(1) or original(state)))
    return copies


def test_clifford_circuit_with_pauli_noise_runs_as_one_state(monkeypatch):
    n, shots = 8, 4000
    ghz = tnq.ghz(n)
    ghz.measure(*range(n))
    model = NoiseModel().add(noise.depolarizing(0.05, 1)).add(noise.depolarizing(0.05, 2)).readout(0.02, 0.04)
    copies = _count_copies(monkeypatch)
    counts = tnq.sample(ghz, shots, seed=3, noise=model, method="mps")
    assert copies == []  # every error rode along as a frame: no state was forked
    exact = density.distribution(ghz, model)
    assert l1(counts, exact) < eps(shots, sum(v > 1e-15 for v in exact.values()))
    assert len(counts) > 20  # the noise shows: many outcomes besides the two GHZ ones
    assert counts == tnq.sample(ghz, shots, seed=3, noise=model, method="mps")
    assert counts != tnq.sample(ghz, shots, seed=4, noise=model, method="mps")
    # a generic gate after the errors must fork them (the counter sees forks when there are some)
    forked = tnq.ghz(n).u3(0.3, 0.2, 0.1, 0)
    forked.measure(*range(n))
    tnq.sample(forked, 200, seed=3, noise=model, method="mps")
    assert copies


def test_errors_through_a_generic_gate_fork_per_pauli(monkeypatch):
    # X errors on q0 only (from the h); the u3 maps none of X, Y, Z to a Pauli: one fork per distinct Pauli drawn
    c = tnq.Circuit(2).h(0).u3(0.3, 0.2, 0.1, 0).cx(0, 1)
    c.measure(0, 1)
    model = NoiseModel().add(noise.pauli({"X": 0.2, "Z": 0.1}), ["h"])
    copies = _count_copies(monkeypatch)
    shots = 3000
    counts = tnq.sample(c, shots, seed=5, noise=model, method="dense", chunk_size=shots)
    assert len(copies) == 2  # identity, X and Z groups (one chunk): three states
    exact = density.distribution(c, model)
    assert l1(counts, exact) < eps(shots, sum(v > 1e-15 for v in exact.values()))


@pytest.mark.parametrize("method", ["dense", "mps"])
def test_frames_at_mid_circuit_measurement_and_reset(method):
    # strong Pauli errors right before a measurement feeding a condition, and before a reset: an X flips the
    # reading (and so the conditioned gate), a Z must change nothing, a reset forgets either
    circuit = tnq.Circuit.from_qasm("""OPENQASM 2.0;
include "qelib1.inc";
qreg q[3];
creg c[3];
x q[0];
measure q[0] -> c[0];
if(c==1) x q[1];
x q[2];
reset q[2];
measure q[1] -> c[1];
measure q[2] -> c[2];
""")
    model = NoiseModel().add(noise.pauli({"X": 0.3, "Z": 0.2}), ["x"], [0, 2])
    exact = density.distribution(circuit, model)
    assert exact == pytest.approx({"110": 0.7, "000": 0.3}, abs=1e-12)  # q0 read 1 unless its X error fired
    shots = 3000
    counts = tnq.sample(circuit, shots, seed=2, noise=model, method=method)
    assert set(counts) <= set(exact) and l1(counts, exact) < eps(shots, 2)
