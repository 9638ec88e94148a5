"""``tnq tour``: a short guided run over every tnq pillar on bundled/offline data.

Each pillar is one function that prints a few lines and checks its results against an exact
reference (lightcone contraction, dense statevector, a known answer), so the tour doubles as a
smoke test: ``run_tour`` returns a Report whose ``passed`` is False if any check failed.
"""

from __future__ import annotations

import os
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

import numpy as np

from . import formatting as fmt

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
"""The repository's examples/ folder (present in a source checkout / editable install)."""
QFT_EXAMPLE = "qft_20.qasm"
QFT_EXAMPLE_INPUT = "10110011100011110001"
"""The basis state examples/qft_20.qasm prepares before its QFT (character q is qubit q)."""


WIDTH = 110
"""Report lines are wrapped to this many columns."""


class Report:
    """Collects the tour's lines and checks; prints as it goes so a slow step shows where it is."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout
        self.checks: list[tuple[str, bool]] = []

    def line(self, text: str = "") -> None:
        print(text, file=self.stream, flush=True)

    def section(self, title: str) -> None:
        self.line()
        self.line(f"== {title} ==")

    def check(self, label: str, ok: bool, detail: str) -> None:
        """One verified result: '[ok]' or '[FAIL]', a label and what was compared."""
        self.checks.append((label, bool(ok)))
        self.line(textwrap.fill(f"  [{'ok' if ok else 'FAIL'}] {label}: {detail}", WIDTH,
                                subsequent_indent=" " * 9, break_on_hyphens=False))

    def note(self, text: str) -> None:
        """A result shown for information (no exact reference to compare with)."""
        self.line(textwrap.fill(text, WIDTH, initial_indent=" " * 9, subsequent_indent=" " * 11,
                                break_on_hyphens=False))

    @property
    def passed(self) -> bool:
        return all(ok for _, ok in self.checks)


def timed(fn: Callable[[], object]) -> tuple[object, float]:
    """(fn's value, seconds it took)."""
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


# --- engine pillar -----------------------------------------------------------------------------------
def engine(report: Report, out: Path) -> None:
    """Circuits to states: sampling, expectations (MPS vs lightcone), relabelled swaps, QASM, dense vs MPS."""
    report.section("Engine: circuit simulation (dense statevector, MPS, lightcone)")
    _ghz_sampling(report)
    _brickwork_expectation(report, out)
    _qft_relabelled_swaps(report, out)
    _bernstein_vazirani(report)
    _bundled_qasm(report)
    _dense_matches_mps(report)


def _ghz_sampling(report: Report, n: int = 50, shots: int = 1000) -> None:
    import tnq

    state = tnq.simulate(tnq.ghz(n))
    counts, seconds = timed(lambda: state.counts(shots, seed=7))
    zeros, ones = counts.get("0" * n, 0), counts.get("1" * n, 0)
    ok = zeros + ones == shots and abs(zeros - shots / 2) < 0.1 * shots and state.info["largest_bond"] == 2
    report.check(f"GHZ-{n} sampling", ok,
                 f"{state.info['method']} ({state.info['reason']}), largest bond {state.info['largest_bond']}; "
                 f"{shots} shots in {fmt.seconds(seconds)}: 0^{n} x {zeros}, 1^{n} x {ones}, "
                 f"other x {shots - zeros - ones}")


def _brickwork_expectation(report: Report, out: Path, n: int = 40, depth: int = 12) -> None:
    import tnq

    circuit = tnq.brickwork(n, depth, seed=0)
    (exact, cone), cone_s = timed(lambda: tnq.expectation(circuit, "Z0 Z1", return_state=True))
    state, mps_s = timed(lambda: tnq.simulate(circuit, "mps", max_bond=64))
    value = state.expectation("Z0 Z1")
    report.check(f"brickwork {n}x{depth} <Z0 Z1>", abs(value - exact) < 1e-8,
                 f"MPS max_bond 64: {value:.10f} (largest bond {state.info['largest_bond']}, fidelity estimate "
                 f"{state.fidelity:.6f}, {fmt.seconds(mps_s)}) vs lightcone {exact:.10f} "
                 f"({cone.info['lightcone_qubits']} qubits, {cone.info['lightcone_gates']} of "
                 f"{cone.info['gates_in_circuit']} gates, {cone.info['method']}, {fmt.seconds(cone_s)})")
    small = tnq.simulate(circuit, "mps", max_bond=16)
    report.note(f"truncated to max_bond 16: fidelity estimate {small.fidelity:.4f}, "
                f"|error| of <Z0 Z1> {abs(small.expectation('Z0 Z1') - exact):.2e}")
    plot = out / f"brickwork{n}x{depth}_bonds.png"
    state.plot_bonds(plot)
    report.note(f"bond profile: {plot}")


def _qft_relabelled_swaps(report: Report, out: Path, n: int = 32) -> None:
    import tnq
    from tnq.circuit.builders import random_u3_layer

    circuit = tnq.Circuit(n, name=f"u3_qft_{n}")
    random_u3_layer(circuit, np.random.default_rng(1))
    circuit.compose(tnq.qft(n))
    state, mps_s = timed(lambda: tnq.simulate(circuit, "mps", max_bond=64))
    value = state.expectation("Z0")
    exact = tnq.expectation(circuit, "Z0")
    info = state.info
    report.check(f"random U3 + QFT-{n} <Z0>", abs(value - exact) < 1e-8,
                 f"MPS {value:.10f} vs lightcone {exact:.10f}; {circuit.count_ops()['swap']} SWAP gates relabelled "
                 f"(not simulated), {info['fused_swaps']} swaps fused into gate SVDs, {info['routing_swaps']} "
                 f"routing swaps, largest bond {info['largest_bond']}, {fmt.seconds(mps_s)}")
    plot = out / f"qft{n}_bonds.png"
    state.plot_bonds(plot)
    report.note(f"bond profile: {plot}")


def _bernstein_vazirani(report: Report, n: int = 140) -> None:
    import tnq

    secret = "".join(np.random.default_rng(2).choice(["0", "1"], size=n - 1))
    state, seconds = timed(lambda: tnq.simulate(tnq.bernstein_vazirani(secret)))
    counts = state.counts(16, seed=0, qubits=range(n - 1))
    hits = counts.get(secret, 0)
    report.check(f"Bernstein-Vazirani-{n}", hits == 16,
                 f"{state.info['method']}, largest bond {state.info['largest_bond']}, {fmt.seconds(seconds)}; "
                 f"{hits} of 16 shots read the {n - 1}-bit secret {fmt.short_bits(secret)}")


def _bundled_qasm(report: Report) -> None:
    import tnq

    path = EXAMPLES / QFT_EXAMPLE
    if not path.exists():
        report.note(f"examples/{QFT_EXAMPLE} not found (tnq installed without its source tree): skipped")
        return
    circuit = tnq.Circuit.from_qasm(path)
    state, seconds = timed(lambda: tnq.simulate(circuit, "mps"))
    n = circuit.num_qubits
    bits = np.random.default_rng(3).integers(0, 2, size=(256, n))
    x = int(QFT_EXAMPLE_INPUT[::-1], 2)                       # qiskit convention: qubit q has weight 2^q
    y = bits @ (1 << np.arange(n))
    expected = np.exp(2j * np.pi * ((x * y) % 2**n) / 2**n) / 2 ** (n / 2)
    error = float(np.abs(state.amplitudes(bits) - expected).max())
    report.check(f"examples/{QFT_EXAMPLE}", error < 1e-10,
                 f"{n} qubits, {sum(1 for _ in circuit.gates())} qelib1 gates, MPS largest bond "
                 f"{state.info['largest_bond']}, {fmt.seconds(seconds)}; 256 amplitudes match "
                 f"exp(2 pi i x y / 2^{n}) / 2^{n // 2} to {error:.1e}")


def _dense_matches_mps(report: Report, n: int = 10, num_gates: int = 150) -> None:
    import tnq

    circuit = tnq.random_circuit(n, num_gates, seed=11)
    dense = tnq.simulate(circuit, "dense").statevector()
    mps = tnq.simulate(circuit, "mps")
    psi = mps.statevector()
    fidelity = abs(np.vdot(dense, psi)) ** 2
    error = float(np.abs(dense - psi).max())
    report.check(f"dense reference vs MPS, random {n}-qubit circuit", error < 1e-10,
                 f"{num_gates} gates incl. 3-qubit and custom unitaries on any qubits: fidelity {fidelity:.12f}, "
                 f"max |amplitude difference| {error:.1e}, {mps.info['routing_swaps']} routing swaps")


# --- contraction pillar ------------------------------------------------------------------------------
def contraction(report: Report, out: Path) -> None:
    """Exact amplitudes of a 2D random circuit and a QAOA energy by tensor-network contraction."""
    report.section("Contraction: cotengra trees cached by network structure")
    _grid_amplitudes(report)
    _qaoa_energy(report)
    _parameter_sweep(report)


def _grid_amplitudes(report: Report, rows: int = 4, cols: int = 4, depth: int = 10) -> None:
    import tnq
    from tnq.contraction import TreeCache

    circuit = tnq.grid_random(rows, cols, depth, seed=5)
    n = rows * cols
    state = tnq.simulate(circuit, "contract", cache=TreeCache())
    bits = np.random.default_rng(4).integers(0, 2, size=(20, n))
    first, first_s = timed(lambda: state.amplitude(bits[0]))
    first_report = state.last_report
    rest, rest_s = timed(lambda: state.amplitudes(bits[1:]))
    dense = tnq.simulate(circuit, "dense").amplitudes(bits)
    error = float(np.abs(np.concatenate([[first], rest]) - dense).max())
    report.check(f"{rows}x{cols} grid depth {depth}, 20 amplitudes", error < 1e-10,
                 f"max |error| vs dense {error:.1e}; first {fmt.seconds(first_s)} ({first_report}); the next 19 reuse "
                 f"the cached tree: {fmt.seconds(rest_s / 19)} each")


def _qaoa_energy(report: Report, n: int = 60) -> None:
    import tnq

    edges = [(q, (q + 1) % n) for q in range(n)] + [(q, (q + 2) % n) for q in range(0, n, 3)]
    circuit = tnq.qaoa(edges, [0.4, 0.7], [0.6, 0.3], num_qubits=n)
    terms = [f"Z{a} Z{b}" for a, b in edges[:8]]
    value, seconds = timed(lambda: tnq.expectation(circuit, " + ".join(terms), method="contract"))
    exact = sum(tnq.expectation(circuit, term, method="dense") for term in terms)  # dense on each lightcone
    report.check(f"QAOA p=2 on a {n}-node graph, 8 ZZ terms", abs(value - exact) < 1e-8,
                 f"contraction on each term's lightcone {value:.10f} in {fmt.seconds(seconds)} vs dense "
                 f"statevectors of the lightcones {exact:.10f}")


def _parameter_sweep(report: Report, n: int = 40) -> None:
    import tnq
    from tnq.contraction import TreeCache

    g, b = tnq.Parameter("g"), tnq.Parameter("b")
    ring = tnq.qaoa([(q, (q + 1) % n) for q in range(n)], [g], [b])
    cache = TreeCache()
    state = tnq.simulate(ring, "contract", parameters={"g": 0.1, "b": 0.2}, cache=cache)
    state.amplitude("0" * n)
    searches = cache.misses
    grid = [(beta, gamma) for beta in (0.2, 0.5) for gamma in (0.3, 0.9)]  # values in ring.parameters order: b, g
    amps, seconds = timed(lambda: [state.rebind([beta, gamma]).amplitude("0" * n) for beta, gamma in grid])
    exact = [tnq.simulate(ring.bind({"b": beta, "g": gamma}), "mps").amplitude("0" * n) for beta, gamma in grid]
    error = float(np.abs(np.array(amps) - np.array(exact)).max())
    report.check(f"QAOA ring of {n} qubits, {len(grid)} new parameter values by state.rebind",
                 error < 1e-10 and cache.misses == searches,
                 f"max |error| vs exact MPS {error:.1e}; {fmt.seconds(seconds / len(grid))} per binding, "
                 f"{cache.misses - searches} new tree searches")


# --- Born machine pillar -------------------------------------------------------------------------------
def born_machine(report: Report, out: Path) -> None:
    """An MPS Born machine learns Bars-and-Stripes exactly and samples only valid patterns."""
    report.section("Born machine: MPS generative model (Han et al. 2018)")
    from tnq.born import MPSBornMachine, bars_and_stripes, is_bars_and_stripes

    data = bars_and_stripes(4, 4)
    model = MPSBornMachine(16, max_bond=16, n_sweeps=4, seed=0, progress=False)
    _, seconds = timed(lambda: model.fit(data))
    nll = model.nll(data)
    samples = model.sample(2000, seed=1)
    valid = float(np.mean([is_bars_and_stripes(row, 4, 4) for row in samples]))
    report.check("BAS 4x4, Dmax 16", abs(nll - np.log(len(data))) < 1e-3 and valid == 1.0,
                 f"NLL {nll:.4f} vs ln {len(data)} = {np.log(len(data)):.4f} after 4 sweeps "
                 f"({fmt.seconds(seconds)}); {valid:.1%} of 2000 exact samples are valid patterns")


# --- MPO compression pillar -----------------------------------------------------------------------------
def mpo_compression(report: Report, out: Path) -> None:
    """A weight matrix as an MPO (TT-matrix): exact at full bond, error shrinking with the bond."""
    report.section("MPO compression: weight matrices as tensor trains")
    from tnq.mpo import MPO

    rng = np.random.default_rng(6)
    # a 576 x 1536 matrix (SmolLM2's MLP shape) with decaying spectrum, like trained weights
    weight = (rng.normal(size=(576, 64)) * np.exp(-np.arange(64) / 12)) @ rng.normal(size=(64, 1536)) / 40
    weight += 0.001 * rng.normal(size=weight.shape)
    exact = MPO.from_matrix(weight, n_cores=3)
    rows = []
    for fraction in (0.5, 0.2, 0.05):
        mpo = MPO.from_matrix(weight, n_cores=3, max_params=int(fraction * weight.size))
        rows.append(f"{fraction:.0%} params -> rel. error {mpo.relative_error(weight):.3f} (bonds {mpo.bond_dims})")
    x = rng.normal(size=(8, 1536))
    error = float(np.abs(exact.matvec(x) - x @ weight.T).max())
    report.check("576x1536 matrix as a 3-core MPO", exact.relative_error(weight) < 1e-10 and error < 1e-9,
                 f"full bond: rel. error {exact.relative_error(weight):.1e}, matvec without rebuilding W "
                 f"matches x @ W^T to {error:.1e}; " + "; ".join(rows))


def _blas_threads() -> str:
    """The BLAS thread setting, which changes MPS timings several-fold on a shared machine."""
    names = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
    pinned = [f"{name}={os.environ[name]}" for name in names if name in os.environ]
    return ", ".join(pinned) if pinned else "not pinned, set OPENBLAS_NUM_THREADS=1 on a busy machine"


SECTIONS: list[Callable[[Report, Path], None]] = [engine, contraction, born_machine, mpo_compression]
"""The engine's pillars in order."""

ENTRY_POINTS = "tnq.tour"
"""Entry-point group under which packages built on tnq add tour sections (qnlp adds its QNLP pillar), so the
engine imports nothing above it."""


def plugin_sections() -> list[Callable[[Report, Path], None]]:
    """The tour sections installed packages register under ``ENTRY_POINTS``, by name."""
    from importlib.metadata import entry_points

    return [point.load() for point in sorted(entry_points(group=ENTRY_POINTS), key=lambda point: point.name)]


def run_tour(out_dir: str | Path = "tnq-tour-output", stream: TextIO | None = None) -> Report:
    """Run every pillar, printing a compact report; plots go to ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    report = Report(stream)
    start = time.perf_counter()
    report.line(f"tnq tour: every result below is checked against an exact reference; plots go to {out}/")
    report.line(f"BLAS threads: {_blas_threads()}; timings are wall-clock on this machine")
    for pillar in SECTIONS + plugin_sections():
        pillar(report, out)
    failed = [label for label, ok in report.checks if not ok]
    report.line()
    report.line(f"{len(report.checks) - len(failed)}/{len(report.checks)} checks passed in "
                f"{fmt.seconds(time.perf_counter() - start)}" + (f"; FAILED: {', '.join(failed)}" if failed else ""))
    return report
