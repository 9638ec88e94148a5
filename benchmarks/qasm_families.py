"""Large QASMBench-style circuits, tnq against qiskit-aer's MPS in one process: one circuit per family QASMBench's
large set has (built here with qiskit's library or by hand, at similar sizes; QASMBench's own files are not
used), written to OpenQASM 2 and read back as a user's file would be, then sampled with ``max_bond=64``, 100
shots, one thread each. Prints per family the qubits and gates, each simulator's seconds (best of ``--repeats``,
round-robin), the tnq/aer ratio (below 1: tnq is faster), tnq's largest bond and fidelity estimate, and whether
it stayed within the 60 s a circuit of QASMBench's is given. QV_n100 is left out (about 10 minutes here, see
docs/simulation.md); ``--full`` adds the 349-qubit multiplier (16 s).

    python benchmarks/qasm_families.py [--repeats 1] [--threads 1] [--only NAME,...] [--full]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
# isort: off
import common  # noqa: E402  (pins BLAS/OpenMP threads: must load before numpy)
# isort: on

import argparse  # noqa: E402
import warnings  # noqa: E402
from collections.abc import Callable  # noqa: E402

import numpy as np  # noqa: E402

import tnq  # noqa: E402

SHOTS, MAX_BOND, LIMIT = 100, 64, 60.0


def _qasm(qc) -> str:
    """A qiskit circuit as OpenQASM 2 in qelib1 gates, measuring every qubit at the end."""
    from qiskit import qasm2, transpile

    if qc.num_clbits == 0:
        qc.measure_all()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        qc = transpile(qc, basis_gates=["u3", "u2", "u1", "cx", "ccx", "cu1", "h", "x", "rz", "ry", "cz", "swap",
                                        "cswap", "t", "tdg", "s", "sdg", "measure", "reset"], optimization_level=0)
    return qasm2.dumps(qc)


def _basis_input(qc, qubits: int, seed: int) -> None:
    for q in np.flatnonzero(np.random.default_rng(seed).integers(0, 2, qubits)):
        qc.x(int(q))


def adder(k: int = 216) -> str:
    """Ripple-carry adder of two k-bit numbers on a random basis input (QASMBench adder_n433: 2k + 2 qubits)."""
    from qiskit import QuantumCircuit
    from qiskit.circuit.library import CDKMRippleCarryAdder

    block = CDKMRippleCarryAdder(k, kind="full")
    qc = QuantumCircuit(block.num_qubits)
    _basis_input(qc, 2 * k + 1, 1)
    return _qasm(qc.compose(block))


def multiplier(k: int = 30) -> str:
    """HRS cumulative multiplier of two k-bit numbers on a random basis input (4k + 1 qubits)."""
    from qiskit import QuantumCircuit
    from qiskit.circuit.library import CDKMRippleCarryAdder, HRSCumulativeMultiplier

    block = HRSCumulativeMultiplier(k, adder=CDKMRippleCarryAdder(k, kind="half"))
    qc = QuantumCircuit(block.num_qubits)
    _basis_input(qc, 2 * k, 2)
    return _qasm(qc.compose(block))


def qft(n: int = 320) -> str:
    """The QFT of a random basis state (QASMBench qft_n320)."""
    from qiskit import QuantumCircuit
    from qiskit.circuit.library import QFT

    qc = QuantumCircuit(n)
    _basis_input(qc, n, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return _qasm(qc.compose(QFT(n)))


def ghz(n: int = 255) -> str:
    return _qasm(tnq.ghz(n).to_qiskit())


def bernstein_vazirani(n: int = 280) -> str:
    secret = "".join(map(str, np.random.default_rng(4).integers(0, 2, n - 1)))
    return _qasm(tnq.bernstein_vazirani(secret).to_qiskit())


def w_state(n: int = 380) -> str:
    """The W state by a cascade of controlled rotations (QASMBench wstate_n380)."""
    from qiskit import QuantumCircuit

    qc = QuantumCircuit(n)
    qc.x(0)
    for k in range(n - 1):
        qc.cry(2 * np.arccos(np.sqrt(1.0 / (n - k))), k, k + 1)
        qc.cx(k + 1, k)
    return _qasm(qc)


def ising(n: int = 420, steps: int = 5) -> str:
    """Trotterised transverse-field Ising chain from |+...+> (QASMBench ising_n420)."""
    from qiskit import QuantumCircuit

    rng = np.random.default_rng(5)
    qc = QuantumCircuit(n)
    qc.h(range(n))
    for _ in range(steps):
        for q in range(n - 1):
            qc.cx(q, q + 1)
            qc.rz(float(rng.uniform(0, 1)), q + 1)
            qc.cx(q, q + 1)
        qc.rx(0.3, range(n))
    return _qasm(qc)


def swap_test(n: int = 361) -> str:
    """A swap test of two (n - 1) / 2-qubit product states through one ancilla (QASMBench swap_test_n361)."""
    from qiskit import QuantumCircuit

    half = (n - 1) // 2
    qc = QuantumCircuit(n)
    for q in range(1, n):
        qc.ry(0.01 * q, q)
    qc.h(0)
    for i in range(half):
        qc.cswap(0, 1 + i, 1 + half + i)
    qc.h(0)
    return _qasm(qc)


def hardware_efficient(n: int = 395, reps: int = 2) -> str:
    """ry layers and a cz ladder with random angles (QASMBench qugan_n395 / dnn style)."""
    from qiskit import QuantumCircuit

    rng = np.random.default_rng(6)
    qc = QuantumCircuit(n)
    for _ in range(reps + 1):
        for q in range(n):
            qc.ry(float(rng.uniform(0, np.pi)), q)
        for q in range(n - 1):
            qc.cz(q, q + 1)
    return _qasm(qc)


def quantum_volume(n: int = 32) -> str:
    """QuantumVolume(n) decomposed to u3 + cx (QASMBench QV_n32)."""
    from qiskit.circuit.library import QuantumVolume

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return _qasm(QuantumVolume(n, seed=7).decompose())


def counterfeit_coin(n: int = 301) -> str:
    """QASMBench cc_n301's dynamic pattern: a mid-circuit measurement and if(c==0) corrections."""
    from dynamic_circuits import counterfeit_coin as build

    return build(n, false_coin=n // 3)


FAMILIES: dict[str, Callable[[], str]] = {
    "adder_n434": adder, "multiplier_n121": multiplier, "qft_n320": qft, "ghz_n255": ghz,
    "bv_n280": bernstein_vazirani, "wstate_n380": w_state, "ising_n420": ising, "swap_test_n361": swap_test,
    "hwe_n395": hardware_efficient, "QV_n32": quantum_volume, "cc_n301": counterfeit_coin,
}


def main(argv: list[str] | None = None) -> int:
    """Build every family, time tnq and aer on each, print one row per family."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--threads", type=int, default=common.THREADS, help="BLAS threads (read before numpy)")
    parser.add_argument("--only", default="", help="comma-separated family names")
    parser.add_argument("--full", action="store_true", help="add the 349-qubit multiplier")
    args = parser.parse_args(argv)
    from qiskit import qasm2

    families = dict(FAMILIES)
    if args.full:
        families["multiplier_n349"] = lambda: multiplier(87)
    if args.only:
        families = {name: families[name] for name in args.only.split(",")}
    print(f"{'family':16s} {'qubits':>6s} {'gates':>7s} {'tnq s':>7s} {'aer s':>7s} {'tnq/aer':>7s} "
          f"{'bond':>4s} {'fidelity':>9s}  within {LIMIT:.0f} s")
    within, aer = 0, common.aer_simulator(max_bond=MAX_BOND)
    for name, build in families.items():
        text = build()
        states: list[tnq.State] = []

        def run_tnq(text: str = text, states: list = states) -> dict[str, int]:
            circuit = tnq.Circuit.from_qasm(text)
            if circuit.is_dynamic:
                return tnq.sample(circuit, SHOTS, seed=0, method="mps", max_bond=MAX_BOND)
            state = tnq.simulate(circuit, method="mps", max_bond=MAX_BOND, progress=False)
            states.append(state)
            return state.counts(SHOTS, seed=0)

        def run_aer(text: str = text) -> dict[str, int]:
            return aer.run(qasm2.loads(text, custom_instructions=qasm2.LEGACY_CUSTOM_INSTRUCTIONS),
                           shots=SHOTS, seed_simulator=0).result().get_counts()

        timings = common.measure_round_robin({"tnq": run_tnq, "aer": run_aer}, args.repeats, cap=LIMIT)
        circuit = tnq.Circuit.from_qasm(text)
        t, a = timings["tnq"], timings["aer"]
        tnq_s = t.best if not isinstance(t, str) else float("nan")
        aer_s = a.best if not isinstance(a, str) else float("nan")
        info = states[-1].info if states else {}
        ok = tnq_s <= LIMIT
        within += ok
        print(f"{name:16s} {circuit.num_qubits:6d} {len(list(circuit.gates())):7d} {tnq_s:7.2f} {aer_s:7.2f} "
              f"{tnq_s / aer_s:7.2f} {info.get('largest_bond', '-')!s:>4s} "
              f"{info.get('fidelity', float('nan')):9.3g}  {'yes' if ok else 'NO'}")
    print(f"{within} of {len(families)} families within {LIMIT:.0f} s (max_bond {MAX_BOND}, {SHOTS} shots, "
          f"{common.THREADS} thread(s))")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
