"""Random 20-40 qubit circuits: the MPS backend against qiskit-aer's MPS and against exact lightcone values,
exact and under truncation, with tolerances derived from the truncation the MPS reports.

Error budget (used by every comparison here). Every truncation of the MPS happens at the orthogonality
centre (the backend moves it into the block first), so it maps the normalised state phi to P phi / ||P phi||,
P projecting on the kept Schmidt vectors, and the reported relative discarded weight is w = 1 - ||P phi||^2.
Then <phi|phi'> = sqrt(1 - w) is real and ||phi - phi'||^2 = 2 - 2 sqrt(1 - w). Gates are unitary, so each
truncation's error is carried unchanged in norm to the end, and by the triangle inequality

    ||psi_mps - psi_exact|| <= delta = sum_k sqrt(2 - 2 sqrt(1 - w_k))      (~ sum_k sqrt(w_k)).

The product fidelity ``state.fidelity`` = prod (1 - w_k) is only an estimate (the errors of successive
truncations can add coherently), so ``delta`` is used rather than sqrt(1 - F). Hence, global phase included
(a truncation does not rotate the phase):
- amplitudes: |<b|psi_mps> - <b|psi_exact>| <= ||psi_mps - psi_exact|| <= delta;
- an observable O: |<O>_mps - <O>_exact| = |<psi_mps|O|psi_mps - psi_exact> + <psi_mps - psi_exact|O|psi_exact>|
  <= 2 ||O|| delta (||O|| = 1 for a Pauli string).
Floating point adds a floor: each step (a gate, a routing swap, an SVD/QR) is backward stable, with an error
of about D * u in norm, u the unit roundoff and D the larger side of the matrix factorised (Householder
QR/SVD: worst-case constant ~ m * n, observed ~ sqrt(m * n) ~ D); unitary steps carry the errors unchanged, so
they add up over the steps.

aer (qiskit-aer 0.18) as the reference:
- ``save_amplitudes`` reads the wrong basis states once a non-adjacent gate has made aer reorder its qubits
  internally (Qiskit/qiskit-aer #2235), and ``save_expectation_value`` is wrong when some qubits are idle unless
  ``enable_truncation=False`` (Qiskit/qiskit-aer #2442). So aer gets the circuit with every long-range gate
  written as explicit adjacent swaps (it then never reorders; checked against qiskit's statevector below) and
  runs with ``enable_truncation=False``.
- Its own SVD (a Golub-Kahan iteration, src/simulators/matrix_product_state/svd.cpp) treats a bidiagonal
  off-diagonal below eps = 1e-10 * max(|b_k| + |c_k|) <= 2e-10 (normalised block) as zero; at most D of them per
  SVD, in distinct entries, so each SVD is exact for a block perturbed by <= 2e-10 sqrt(D) in norm, D <= 2 *
  2 * 2^MAX_LOG2_BOND (aer's bonds are the qubit-order ones, bounded by the cap, times 2 while a swap chain has
  moved one qubit). It also drops Schmidt values below 1e-8 (weight 1e-16): for random angles the exact states
  have none in (0, 1e-8) and the numerically zero ones are dropped harmlessly. Observed: ~1e-11, well inside.
- ``mps_lapack=True`` (LAPACK's SVD, ~1e-15) is not used: aer's bundled OpenBLAS crashed (segfault in zgesvd)
  on some of these circuits.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, note, settings
from hypothesis import strategies as st
from refs import aer_index, random_pauli

import tnq
from tnq.circuit.builders import random_u3_layer

SEEDS = st.integers(min_value=0, max_value=2**32 - 1)
UNIT_ROUNDOFF = np.finfo(float).eps / 2
EXACT_CUTOFF = 1e-28
"""Our "exact" runs drop Schmidt values of weight <= 1e-28 per SVD: that removes the numerical zeros (weight
~u^2 ~ 1e-32; with cutoff 0 they are kept and inflate the bonds up to 4x), and delta counts what it costs."""
MAX_LOG2_BOND = 6
"""The random circuits leave out any gate that could push an exact bond past 2^6 (keeps aer and us fast)."""
ONE_QUBIT = ("rx", "ry", "rz", "u3", "h", "sx", "t", "p")
TWO_QUBIT = ("cx", "cz", "cp", "swap")
LOG2_OPERATOR_RANK = {"cx": 1, "cz": 1, "cp": 1, "swap": 2}  # each crossing multiplies a bond by at most 2^this
AER_SVD_ERROR = 2e-10 * math.sqrt(2 * 2 * 2**MAX_LOG2_BOND) + math.sqrt(EXACT_CUTOFF)
"""Norm error of one of aer's SVDs on a normalised block (module docstring), plus what its truncation threshold
(set to EXACT_CUTOFF) may drop."""


def _random_gate(c: tnq.Circuit, rng: np.random.Generator, names: tuple[str, ...], qubits: list[int]) -> None:
    name = str(rng.choice(names))
    c.append(name, qubits, list(rng.uniform(-math.pi, math.pi, tnq.circuit.gates.GATES[name].num_params)))


def random_layered_circuit(n: int, depth: int, long_range: int, seed: int, long_range_first: bool = False
                           ) -> tnq.Circuit:
    """A Haar-like U3 layer (so local expectations are generic, not 0 or 1), then per layer: a random one-qubit
    gate on each qubit with probability 3/4 and a brick of random CX/CZ/CP/SWAP on alternate neighbours in random
    orientation. ``long_range`` gates between qubits >= 3 apart go into random layers (all into layer 0 with
    ``long_range_first``, which keeps the lightcone of a local observable within 2 + 2 depth + long_range
    qubits). A two-qubit gate that could raise some cut's exact bond above 2^MAX_LOG2_BOND is left out."""
    rng = np.random.default_rng(seed)
    c = tnq.Circuit(n)
    load = np.zeros(n - 1, dtype=int)  # log2 bound on the exact bond of cut q | q+1
    room = np.minimum(np.arange(1, n), np.arange(n - 1, 0, -1))  # ...which is never above the smaller side
    layers = rng.integers(0, 1 if long_range_first else depth, size=long_range)
    random_u3_layer(c, rng)

    def two_qubit(a: int, b: int) -> None:
        name = str(rng.choice(TWO_QUBIT))
        lo, hi = min(a, b), max(a, b)
        cost = LOG2_OPERATOR_RANK[name]
        if np.all(np.minimum(load[lo:hi] + cost, room[lo:hi]) <= MAX_LOG2_BOND):
            load[lo:hi] = np.minimum(load[lo:hi] + cost, room[lo:hi])
            _random_gate(c, rng, (name,), [a, b])

    for layer in range(depth):
        for q in range(n):
            if rng.random() < 0.75:
                _random_gate(c, rng, ONE_QUBIT, [q])
        for _ in range(int(np.count_nonzero(layers == layer))):
            a = int(rng.integers(0, n - 3))
            b = int(rng.integers(a + 3, n))
            two_qubit(*((a, b) if rng.random() < 0.5 else (b, a)))
        for q in range(layer % 2, n - 1, 2):
            two_qubit(*((q, q + 1) if rng.random() < 0.5 else (q + 1, q)))
    return c


def adjacent_only(qc: Any) -> Any:
    """The same qiskit circuit with every gate on far-apart qubits a, b written as swaps that bring b next to
    a, the gate, and the swaps undone: aer then never reorders its qubits (see the module docstring)."""
    from qiskit import QuantumCircuit

    out = QuantumCircuit(qc.num_qubits)
    for inst in qc.data:
        qubits = [qc.find_bit(q).index for q in inst.qubits]
        if len(qubits) == 2 and abs(qubits[0] - qubits[1]) > 1:
            a, b = qubits
            step = 1 if a > b else -1  # b walks towards a
            chain = [(p, p + step) for p in range(b, a - step, step)]
            for pair in chain:
                out.swap(*pair)
            out.append(inst.operation, [a, a - step])
            for pair in reversed(chain):
                out.swap(*pair)
        else:
            out.append(inst.operation, qubits)
    return out


def aer_reference(c: tnq.Circuit, bitstrings: list[str], paulis: list[str]) -> tuple[np.ndarray, list[float], float]:
    """aer's exact MPS amplitudes of ``bitstrings`` and expectations of ``paulis`` (tnq's "X3 Z17" form), and a
    bound on the norm error of aer's state (its SVDs: module docstring)."""
    from qiskit import transpile
    from qiskit.quantum_info import Pauli
    from qiskit_aer import AerSimulator

    sim = AerSimulator(method="matrix_product_state", matrix_product_state_truncation_threshold=EXACT_CUTOFF,
                       enable_truncation=False)
    qc = adjacent_only(c.to_qiskit())
    error = AER_SVD_ERROR * sum(1 for inst in qc.data if len(inst.qubits) == 2)  # one SVD per two-qubit gate
    qc.save_amplitudes([aer_index(b) for b in bitstrings], label="amps")
    for k, pauli in enumerate(paulis):
        ops = [(token[0], int(token[1:])) for token in pauli.split()]
        label = "".join(p for p, _ in reversed(ops))  # qiskit labels: the last character acts on qubits[0]
        qc.save_expectation_value(Pauli(label), [q for _, q in ops], label=f"pauli{k}")
    data = sim.run(transpile(qc, sim, optimization_level=0)).result().data(0)
    return np.asarray(data["amps"]), [float(np.real(data[f"pauli{k}"])) for k in range(len(paulis))], error


def truncation_error(state: tnq.State) -> float:
    """delta: a bound on ||psi_mps - psi_exact|| from the discarded weights the MPS reports (module docstring)."""
    # 2 - 2 sqrt(1 - w) = 2 w / (1 + sqrt(1 - w)), without the cancellation for tiny w
    return float(sum(math.sqrt(2.0 * w / (1.0 + math.sqrt(1.0 - w))) for w in state.discarded_weights))


def mps_steps(state: tnq.State) -> int:
    """Factorisations and products behind an MPS result: gates, routing swaps, one sweep for the query."""
    return state.info["gates_in_circuit"] + state.info["routing_swaps"] + state.num_qubits


def float_floor(steps: int, largest_bond: int) -> float:
    """Rounding bound on a state's norm error: ~D u per step, D = 2 * bond the larger side of a factorised block."""
    return steps * 2 * largest_bond * UNIT_ROUNDOFF


def _query(c: tnq.Circuit, state: tnq.State, rng: np.random.Generator) -> tuple[list[str], list[str]]:
    """Bitstrings (all zeros, random, and likely ones sampled from ``state``) and Pauli strings (random ones on up
    to 3 qubits anywhere, a neighbouring ZZ and the two end qubits) to compare."""
    n = c.num_qubits
    bits = ["0" * n] + ["".join(map(str, r)) for r in rng.integers(0, 2, size=(2, n))]
    bits += ["".join(map(str, r)) for r in state.sample(5, seed=rng)]
    i = int(rng.integers(0, n - 1))
    paulis = [random_pauli(rng, n) for _ in range(3)] + [f"Z{i} Z{i + 1}", f"{rng.choice(list('XYZ'))}0 "
                                                         f"{rng.choice(list('XYZ'))}{n - 1}"]
    return bits, paulis


def exact_and_truncated(c: tnq.Circuit, cut: int) -> tuple[tnq.State, tnq.State]:
    """Our exact run, and one whose bond limit is ``cut`` eighths of the exact largest bond (at least 1) below it,
    so it has to truncate, yet mildly enough that delta mostly stays below 1 (a bound that says something)."""
    exact = tnq.simulate(c, method="mps", cutoff=EXACT_CUTOFF)
    bond = exact.info["largest_bond"]
    truncated = tnq.simulate(c, method="mps", max_bond=max(1, bond - max(1, cut * bond // 8)))
    if bond > 1:  # the exact state has Schmidt values beyond the limit: some must go
        assert max(truncated.discarded_weights) > EXACT_CUTOFF
    return exact, truncated


@settings(max_examples=15)
@given(seed=SEEDS, n=st.integers(20, 40), depth=st.integers(2, 12), long_range=st.integers(0, 4),
       cut=st.integers(1, 3))
def test_mps_matches_aer_exactly_and_within_its_reported_truncation(seed, n, depth, long_range, cut):
    """Amplitudes (global phase included) and Pauli expectations against aer's MPS: our exact run within rounding
    and aer's SVD error, our truncated run within its reported delta on top."""
    c = random_layered_circuit(n, depth, long_range, seed)
    exact, truncated = exact_and_truncated(c, cut)
    bits, paulis = _query(c, exact, np.random.default_rng(seed))
    aer_amps, aer_paulis, aer_error = aer_reference(c, bits, paulis)
    bond = exact.info["largest_bond"]
    for state, name in ((exact, "exact"), (truncated, f"max_bond={truncated.info['max_bond']}")):
        delta = truncation_error(state)
        tolerance = delta + float_floor(mps_steps(state), bond) + aer_error
        note(f"{name}: {n} qubits, {len(c)} ops, bond {bond}, {len(state.discarded_weights)} truncations, "
             f"delta {delta:.3g}, fidelity estimate {state.fidelity:.6g}, tolerance {tolerance:.3g}")
        if state is exact:  # aer's SVD bounds the precision of this check (seen: ~1e-11; dense cones: below)
            assert tolerance < 1e-5
        amps = state.amplitudes(bits)
        assert np.abs(aer_amps).max() > 2 ** (-n / 2)  # not a comparison of zeros only
        errors = np.abs(amps - aer_amps)
        assert errors.max() <= tolerance, (name, bits[int(errors.argmax())], amps, aer_amps)
        errors = np.abs([state.expectation(p) for p in paulis] - np.array(aer_paulis))
        assert errors.max() <= 2 * min(tolerance, 1.0), (name, paulis[int(errors.argmax())], errors, aer_paulis)


@settings(max_examples=15)
@given(seed=SEEDS, n=st.integers(20, 40), depth=st.integers(2, 6), long_range=st.integers(0, 3),
       cut=st.integers(1, 3), data=st.data())
def test_mps_matches_exact_lightcone_values(seed, n, depth, long_range, cut, data):
    """Local observables on (i, i+1): the exact value from the dense backend on the observable's reverse
    lightcone (at most 2 + 2 depth + long_range <= 17 qubits) against the full MPS, exact and truncated."""
    c = random_layered_circuit(n, depth, long_range, seed, long_range_first=True)
    i = data.draw(st.integers(0, n - 2), label="i")
    obs = f"{data.draw(st.sampled_from('XYZ'))}{i} {data.draw(st.sampled_from('XYZ'))}{i + 1}"
    obs = data.draw(st.sampled_from([f"Z{i} Z{i + 1}", obs]), label="observable")
    value, cone = tnq.expectation(c, obs, method="dense", return_state=True)
    assert cone.info["lightcone_qubits"] <= 2 + 2 * depth + long_range
    dense_floor = 4 * cone.info["lightcone_gates"] * UNIT_ROUNDOFF  # one 4x4 product per amplitude and gate
    exact, truncated = exact_and_truncated(c, cut)
    for state in (exact, truncated):
        delta = truncation_error(state)
        tolerance = delta + float_floor(mps_steps(state), exact.info["largest_bond"]) + dense_floor
        note(f"{obs}: cone of {cone.info['lightcone_qubits']} qubits, max_bond {state.info['max_bond']}, "
             f"delta {delta:.3g}, exact {value:.6f}, mps {state.expectation(obs):.6f}")
        if state is exact:
            assert tolerance < 1e-9
        assert abs(state.expectation(obs) - value) <= 2 * min(tolerance, 1.0), (obs, state.info["max_bond"])


def test_adjacent_only_aer_reference_matches_qiskit_statevector():
    """The reference itself: aer on the adjacent-swap rewrite equals qiskit's statevector on 12 qubits with
    long-range gates and idle qubits (where plain aer gets amplitudes and expectations wrong)."""
    from qiskit.quantum_info import Pauli, Statevector

    c = random_layered_circuit(12, 5, 4, seed=7)
    c.cx(0, 11)
    c.swap(2, 9)
    idle = tnq.Circuit(14).compose(c)  # qubits 12, 13 idle
    sv = Statevector(idle.to_qiskit())
    rng = np.random.default_rng(0)
    bits = ["".join(map(str, r)) for r in rng.integers(0, 2, size=(6, 14))]
    paulis = ["X0 Z11", "Y3 Z7 X10", "Z5", "Z13 X2"]
    amps, values, aer_error = aer_reference(idle, bits, paulis)
    np.testing.assert_allclose(amps, sv.data[[aer_index(b) for b in bits]], atol=aer_error, rtol=0)
    for pauli, value in zip(paulis, values, strict=True):
        ops = [(token[0], int(token[1:])) for token in pauli.split()]
        expected = sv.expectation_value(Pauli("".join(p for p, _ in reversed(ops))), [q for _, q in ops])
        assert value == pytest.approx(expected.real, abs=2 * aer_error), pauli


def test_truncation_bound_is_needed_and_holds():
    """A fixed 30-qubit case where a bond limit of 12 (exact: 16) moves the values far beyond the rounding floor (so
    the tests above would fail if the reported discarded weights were missing or too small), yet within 2 delta,
    and delta is small enough to say something."""
    c = random_layered_circuit(30, 6, 2, seed=4)
    exact, truncated = exact_and_truncated(c, 2)
    assert (exact.info["largest_bond"], truncated.info["max_bond"]) == (16, 12)
    paulis = [f"Z{i} Z{i + 1}" for i in range(0, 29, 3)] + ["X0 Y29", "Z14"]
    _, reference, aer_error = aer_reference(c, ["0" * 30], paulis)
    errors = np.abs([truncated.expectation(p) for p in paulis] - np.array(reference))
    delta = truncation_error(truncated)
    floor = float_floor(mps_steps(truncated), 16) + aer_error
    assert errors.max() > 100 * floor
    assert errors.max() <= 2 * delta + 2 * floor
    assert delta < 0.5


def test_contract_backend_keeps_the_global_phase():
    """Minimised from random circuits: a diagonal gate run on a wire still in |0> (after only the control slot of
    a CX) is a pure phase; the contraction backend once dropped it with the |0> input (answered 1, not
    exp(-i/2))."""
    c = tnq.Circuit(2)
    c.cx(0, 1)
    c.rz(1.0, 0)
    c.cx(1, 0)
    expected = np.exp(-0.5j)
    for method in ("contract", "dense", "mps"):
        assert tnq.simulate(c, method=method).amplitude("00") == pytest.approx(expected, abs=1e-12)


@settings(max_examples=15)
@given(seed=SEEDS, n=st.integers(4, 10), depth=st.integers(1, 6))
def test_contract_amplitudes_equal_the_statevector_with_phases(seed, n, depth):
    """Circuits with no initial U3 layer (wires meet two-qubit gates and diagonal runs while still |0>): every
    amplitude of the contraction backend equals the dense statevector's, global phase included; both are exact,
    so the floor is rounding over the gates (~1e-13 here)."""
    rng = np.random.default_rng(seed)
    c = tnq.Circuit(n)
    for _ in range(depth):
        for q in range(n):
            if rng.random() < 0.5:
                _random_gate(c, rng, ("rz", "p", "t", "rx", "u3"), [q])
        for q in range(int(rng.integers(2)), n - 1, 2):
            pair = [q, q + 1] if rng.random() < 0.5 else [q + 1, q]
            _random_gate(c, rng, TWO_QUBIT, pair)
    dense = tnq.simulate(c, method="dense").statevector()
    bits = ["".join(map(str, rng.integers(0, 2, n))) for _ in range(6)] + ["0" * n]
    index = [int(b, 2) for b in bits]
    note(f"{c.num_qubits} qubits, {len(c.ops)} gates")
    np.testing.assert_allclose(tnq.amplitudes(c, bits, method="contract"), dense[index], atol=1e-12)
