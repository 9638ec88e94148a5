"""Dynamic circuits (mid-circuit measurement, reset, classical control) through ``tnq.sample``: against an exact
enumeration of measurement histories written here, against qiskit-aer, dense against MPS, and their I/O.

Statistical bound. For a distribution p over K outcomes and its empirical estimate p_N from N shots,
P(||p_N - p||_1 >= eps) <= (2^K - 2) exp(-N eps^2 / 2) (Weissman et al. 2003, the L1 deviation inequality). With
a false-alarm rate delta per comparison, eps(N, K, delta) = sqrt(2 (K ln 2 + ln(1 / delta)) / N). Two empirical
distributions of the same p (tnq and aer, or dense and MPS) are within 2 eps(N, K, delta / 2) of each other by
the triangle inequality. K is the support of the exact distribution (an outcome outside it fails at once), and
delta = 1e-9, so a correct simulator fails one of these checks about once in a billion runs; a wrong one that
moves the distribution by more than the bound (a few percent at these shot counts) fails.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tnq
from tnq import Circuit
from tnq.dynamic import _Brancher

DELTA = 1e-9


def eps(shots: int, support: int, delta: float = DELTA) -> float:
    """The L1 radius that an empirical distribution of ``shots`` shots leaves with probability <= delta."""
    return math.sqrt(2 * (support * math.log(2) + math.log(1 / delta)) / shots)


def l1(counts: dict[str, int], probs: dict[str, float]) -> float:
    shots = sum(counts.values())
    keys = set(counts) | set(probs)
    return sum(abs(counts.get(k, 0) / shots - probs.get(k, 0.0)) for k in keys)


def l1_counts(a: dict[str, int], b: dict[str, int]) -> float:
    na, nb = sum(a.values()), sum(b.values())
    return sum(abs(a.get(k, 0) / na - b.get(k, 0) / nb) for k in set(a) | set(b))


# --- an exact reference, independent of tnq's branching ---------------------------------------------------
def exact_distribution(circuit: Circuit) -> dict[str, float]:
    """Outcome probabilities over the classical bits, by enumerating every measurement history of a plain
    statevector (every measurement branches, including terminal ones; nothing is sampled)."""
    n, nbits = circuit.num_qubits, circuit.num_clbits
    out: dict[str, float] = {}

    def apply(psi: np.ndarray, matrix: np.ndarray, qubits: tuple[int, ...]) -> np.ndarray:
        k = len(qubits)
        rest = [q for q in range(n) if q not in qubits]
        t = np.transpose(psi, list(qubits) + rest).reshape(2**k, -1)
        t = (matrix @ t).reshape((2,) * n)
        return np.transpose(t, np.argsort(list(qubits) + rest))

    def walk(position: int, psi: np.ndarray, weight: float, bits: tuple[int, ...]) -> None:
        if weight < 1e-14:
            return
        for index in range(position, len(circuit.ops)):
            op = circuit.ops[index]
            if op.condition is not None:
                cbits, value = op.condition
                if sum(bits[b] << i for i, b in enumerate(cbits)) != value:
                    continue
            if op.name == "barrier":
                continue
            if op.name in ("measure", "reset"):
                q = op.qubits[0]
                assert len(op.qubits) == 1
                for outcome in (0, 1):
                    projected = np.array(psi)
                    np.moveaxis(projected, q, 0)[1 - outcome] = 0
                    p = float(np.sum(np.abs(projected) ** 2))
                    if p < 1e-14:
                        continue
                    projected /= math.sqrt(p)
                    new_bits = list(bits)
                    if op.name == "measure":
                        new_bits[op.clbits[0]] = outcome
                    elif outcome:
                        projected = apply(projected, np.array([[0, 1], [1, 0]]), (q,))
                    walk(index + 1, projected, weight * p, tuple(new_bits))
                return
            psi = apply(psi, np.asarray(op.unitary()), op.qubits)
        key = "".join(map(str, bits))
        out[key] = out.get(key, 0.0) + weight

    psi0 = np.zeros((2,) * n, dtype=complex)
    psi0[(0,) * n] = 1
    walk(0, psi0, 1.0, (0,) * nbits)
    return out


def aer_counts(circuit: Circuit, shots: int, seed: int) -> dict[str, int]:
    """qiskit-aer's statevector counts, keys turned to tnq's order (classical bit 0 first)."""
    from qiskit_aer import AerSimulator

    # aer 0.18's qubit truncation fails to load some if_test circuits ("unordered_map::at"): keep every qubit
    simulator = AerSimulator(method="statevector", enable_truncation=False)
    result = simulator.run(circuit.to_qiskit(), shots=shots, seed_simulator=seed).result()
    assert result.success, result.status
    return {key.replace(" ", "")[::-1]: value for key, value in result.get_counts().items()}


def check_against_exact(counts: dict[str, int], exact: dict[str, float]) -> None:
    support = {k for k, p in exact.items() if p > 1e-12}
    assert set(counts) <= support, (counts, exact)
    shots = sum(counts.values())
    assert l1(counts, exact) <= eps(shots, len(support)), (counts, exact)


# --- small named circuits ---------------------------------------------------------------------------------
HEADER = 'OPENQASM 2.0;\ninclude "qelib1.inc";\n'
TELEPORT = "examples/teleport.qasm"
CHAIN = HEADER + """qreg q[4];
creg c[3];
h q[0];
measure q[0] -> c[0];
if(c==1) h q[1];
measure q[1] -> c[1];
if(c==3) x q[2];
if(c==2) ry(0.7) q[2];
cx q[2],q[3];
measure q[3] -> c[2];
"""
RESET = HEADER + """qreg q[3];
creg c[3];
ry(1.2) q[0];
cx q[0],q[1];
measure q[0] -> c[0];
reset q[0];
ry(0.4) q[0];
cx q[0],q[2];
reset q[1];
h q[1];
measure q[0] -> c[1];
measure q[1] -> c[2];
"""
CC_STYLE = HEADER + """qreg q[5];
creg c0[2];
creg c1[2];
h q[0];
h q[1];
measure q[0] -> c0[0];
measure q[1] -> c0[1];
if(c0==0) x q[2];
if(c0==3) x q[3];
if(c0==1) rx(0.9) q[4];
measure q[2] -> c1[0];
measure q[3] -> c1[1];
"""
NAMED = {"teleport": TELEPORT, "chain": CHAIN, "reset": RESET, "cc_style": CC_STYLE}


def _example() -> str:
    from pathlib import Path

    return str(Path(__file__).resolve().parents[1] / TELEPORT)


def read(name: str) -> Circuit:
    return Circuit.from_qasm(_example() if name == "teleport" else NAMED[name])


@pytest.fixture(scope="module", params=list(NAMED))
def named(request: pytest.FixtureRequest) -> Circuit:
    return read(request.param)


def test_teleportation_is_exact():
    """The teleported qubit reads 1 with probability sin(0.55)^2 whatever the two corrections were."""
    exact = exact_distribution(Circuit.from_qasm(_example()))
    for key, p in exact.items():
        assert p == pytest.approx((math.sin(0.55) ** 2 if key[2] == "1" else math.cos(0.55) ** 2) / 4, abs=1e-12)


@pytest.mark.parametrize("method", ["dense", "mps"])
def test_named_circuits_match_the_exact_distribution_and_aer(named, method):
    shots = 20000
    exact = exact_distribution(named)
    counts = tnq.sample(named, shots, seed=7, method=method)
    assert sum(counts.values()) == shots
    check_against_exact(counts, exact)
    reference = aer_counts(named, shots, seed=11)
    support = sum(1 for p in exact.values() if p > 1e-12)
    assert l1_counts(counts, reference) <= 2 * eps(shots, support, DELTA / 2), (counts, reference)


def test_seeds_reproduce_and_shots_share_branches(monkeypatch):
    c = Circuit.from_qasm(CHAIN)
    assert tnq.sample(c, 500, seed=3) == tnq.sample(c, 500, seed=3)
    assert tnq.sample(c, 0, seed=3) == {}
    # ten mid-circuit measurements, each followed by gates on its qubit: at most shots - 1 branch copies
    ladder = Circuit(2, num_clbits=10)
    for k in range(10):
        ladder.h(0).measure(0, clbits=[k]).cx(0, 1)
    copies = []
    original = _Brancher._copy
    monkeypatch.setattr(_Brancher, "_copy", staticmethod(lambda state: copies.append(1) or original(state)))
    counts = tnq.sample(ladder, 5, seed=1)
    assert sum(counts.values()) == 5 and len(copies) <= 4


def test_static_circuits_keep_the_one_simulation_path():
    c = Circuit.from_qasm(HEADER + "qreg q[4];\ncreg c[2];\nx q[1];\nh q[2];\nmeasure q[3] -> c[0];\n"
                          "measure q[1] -> c[1];\n")
    assert not c.is_dynamic
    assert tnq.sample(c, 100, seed=1) == {"01": 100}
    ghz = tnq.ghz(5).measure()
    assert tnq.sample(ghz, 300, seed=4) == tnq.simulate(ghz).counts(300, seed=4)


def test_reset_returns_to_zero_and_builders():
    c = Circuit(2, num_clbits=2)
    c.h(0).cx(0, 1).reset(0).measure(0, clbits=[0]).x(1).c_if(1, 0).measure(1, clbits=[1])
    assert c.ops[4].condition == ((1,), 0)
    counts = tnq.sample(c, 2000, seed=5, method="mps")
    check_against_exact(counts, {"00": 0.5, "01": 0.5})
    assert set(counts) == {"00", "01"}  # qubit 0 always reads 0 after the reset
    c = Circuit(1, num_clbits=1).x(0).reset(0).measure(0, clbits=[0])
    assert tnq.sample(c, 50, seed=0) == {"0": 50}
    # no classical registers: keys are the terminally measured qubits, in measurement order
    c = Circuit(3).h(0).cx(0, 1).reset(0).x(2).measure(1, 0)
    check_against_exact(tnq.sample(c, 2000, seed=6), {"00": 0.5, "10": 0.5})


# --- random dynamic circuits -----------------------------------------------------------------------------
@st.composite
def dynamic_circuits(draw: st.DrawFn) -> Circuit:
    n = draw(st.integers(4, 8))
    sizes = draw(st.lists(st.integers(1, 2), min_size=1, max_size=2))
    c = Circuit(n)
    for index, size in enumerate(sizes):
        c.add_creg(f"r{index}", size)
    branching = 0
    for _ in range(draw(st.integers(6, 16))):
        kind = draw(st.sampled_from(["1q", "1q", "2q", "2q", "measure", "reset", "if"]))
        q = draw(st.integers(0, n - 1))
        if kind in ("measure", "reset") and branching >= 5:
            kind = "1q"
        if kind == "1q":
            gate = draw(st.sampled_from(["h", "rx", "ry", "t", "sx"]))
            c.append(gate, [q], [draw(st.floats(-3, 3))] if gate in ("rx", "ry") else [])
        elif kind == "2q":
            other = draw(st.integers(0, n - 1).filter(lambda p, q=q: p != q))
            gate = draw(st.sampled_from(["cx", "cz", "rzz"]))
            params = [draw(st.floats(-3, 3))] if gate == "rzz" else []
            c.append(gate, [q, other], params)
        elif kind == "measure":
            c.measure(q, clbits=[draw(st.integers(0, c.num_clbits - 1))])
            branching += 1
        elif kind == "reset":
            c.reset(q)
            branching += 1
        else:
            register = draw(st.integers(0, len(sizes) - 1))
            if draw(st.booleans()):
                target: str | int = f"r{register}"
                value = draw(st.integers(0, 2 ** sizes[register] - 1))
            else:
                target, value = draw(st.integers(0, c.num_clbits - 1)), draw(st.integers(0, 1))
            gate = draw(st.sampled_from(["x", "h", "ry"]))
            c.append(gate, [q], [draw(st.floats(-3, 3))] if gate == "ry" else [], condition=(target, value))
    for q in draw(st.lists(st.integers(0, n - 1), max_size=3, unique=True)):  # a few terminal measurements
        c.measure(q, clbits=[draw(st.integers(0, c.num_clbits - 1))])
    return c


@settings(max_examples=30)
@given(dynamic_circuits(), st.integers(0, 2**32 - 1))
def test_random_dynamic_circuits_dense_mps_exact_and_aer(circuit, seed):
    shots = 4000
    exact = exact_distribution(circuit)
    support = sum(1 for p in exact.values() if p > 1e-12)
    assert sum(exact.values()) == pytest.approx(1.0, abs=1e-9)
    dense_counts = tnq.sample(circuit, shots, seed=seed, method="dense")
    mps_counts = tnq.sample(circuit, shots, seed=seed, method="mps")
    check_against_exact(dense_counts, exact)
    check_against_exact(mps_counts, exact)
    assert l1_counts(dense_counts, mps_counts) <= 2 * eps(shots, support, DELTA / 2)
    reference = aer_counts(circuit, shots, seed=seed % 1000)
    assert l1_counts(dense_counts, reference) <= 2 * eps(shots, support, DELTA / 2), (dense_counts, reference)


# --- I/O ----------------------------------------------------------------------------------------------
def _shape(circuit: Circuit) -> list[tuple]:
    return [(op.name, op.qubits, op.clbits, op.condition, tuple(float(p) for p in op.params)) for op in circuit.ops]


@pytest.mark.parametrize("name", list(NAMED))
def test_qasm_and_qiskit_round_trips(name):
    c = read(name)
    again = Circuit.from_qasm(c.to_qasm())
    assert again.cregs == c.cregs and _shape(again) == _shape(c)
    back = Circuit.from_qiskit(c.to_qiskit())
    assert back.cregs == c.cregs and _shape(back) == _shape(c)


def test_qiskit_if_test_on_a_bit_and_a_register():
    from qiskit import ClassicalRegister, QuantumCircuit, QuantumRegister

    qr, cr = QuantumRegister(2, "q"), ClassicalRegister(2, "m")
    qc = QuantumCircuit(qr, cr)
    qc.h(0)
    qc.measure(0, cr[1])
    with qc.if_test((cr[1], 1)):
        qc.x(1)
    with qc.if_test((cr, 2)):
        qc.reset(0)
    c = Circuit.from_qiskit(qc)
    assert c.cregs == [("m", 2)]
    assert [(op.name, op.condition) for op in c.ops] == [("h", None), ("measure", None), ("x", ((1,), 1)),
                                                         ("reset", ((0, 1), 2))]
    assert c.ops[1].clbits == (1,)


def test_cli_samples_a_dynamic_circuit(capsys):
    from tnq.cli.main import main

    assert main(["simulate", _example(), "--shots", "400", "--seed", "2", "--json"]) == 0
    import json

    result = json.loads(capsys.readouterr().out)
    assert result["sampling"]["clbits"] == ["c0[0]", "c1[0]", "c2[0]"]
    assert result["sampling"]["counts"] == tnq.sample(Circuit.from_qasm(_example()), 400, seed=2)
    assert main(["simulate", _example(), "--amplitude", "000"]) == 2
    assert "teleport.qasm:17" in capsys.readouterr().err
