"""The ``tnq`` command line: numbers checked against qiskit's statevector and known answers, one-line
errors with exit code 2, the bond plot, and the tour (a smoke test of every pillar)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import tnq
from tnq import formatting as fmt
from tnq.cli.main import main

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
GHZ = EXAMPLES / "ghz_12.qasm"
BV = EXAMPLES / "bernstein_vazirani_16.qasm"
BV_SECRET = "101101110010011"
QFT = EXAMPLES / "qft_20.qasm"
QFT_INPUT = "10110011100011110001"


# --- independent reference: qiskit's own QASM reader and Statevector --------------------------------
def qiskit_statevector(path: Path) -> tuple[np.ndarray, int]:
    """Statevector of the QASM file computed by qiskit alone (little-endian), and its qubit count."""
    import qiskit.qasm2 as qasm2
    from qiskit.quantum_info import Statevector

    qc = qasm2.load(str(path), custom_instructions=qasm2.LEGACY_CUSTOM_INSTRUCTIONS)
    qc.remove_final_measurements()
    return Statevector(qc).data, qc.num_qubits


def qiskit_amplitude(sv: np.ndarray, bits: str) -> complex:
    return complex(sv[int(bits[::-1], 2)])  # tnq: character q is qubit q; qiskit: qubit q has weight 2^q


def qiskit_expectation(sv: np.ndarray, n: int, terms: list[tuple[float, dict[int, str]]]) -> float:
    from qiskit.quantum_info import SparsePauliOp, Statevector

    op = SparsePauliOp.from_sparse_list(
        [("".join(ops.values()), list(ops), coeff) for coeff, ops in terms], num_qubits=n)
    return float(np.real(Statevector(sv).expectation_value(op)))


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict:
    assert main(["simulate", *map(str, args), "--json", "--no-progress"]) == 0
    return json.loads(capsys.readouterr().out)


def run_error(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """Run a command that must fail; returns its single stderr line."""
    assert main([*map(str, args)]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("tnq: error: ") and "Traceback" not in captured.err
    return lines[0]


# --- simulate: numbers ----------------------------------------------------------------------------------
def test_bundled_bernstein_vazirani_json_matches_qiskit(capsys):
    ham = "0.5*Z0 Z2 + X15 - 0.25*Y3 Z14"
    result = run_json(capsys, BV, "--shots", 50, "--seed", 3, "--expect", "Z0", "--expect", ham,
                      "--amplitude", BV_SECRET + "1", "--amplitude", "0" * 16)
    sv, n = qiskit_statevector(BV)
    assert result["circuit"]["num_qubits"] == n == 16
    assert result["simulation"]["method"] == "dense" and "16 qubits" in result["simulation"]["reason"]
    # the circuit measures the 15 data qubits only: every shot must read the secret
    assert result["sampling"]["qubits"] == list(range(15))
    assert result["sampling"]["counts"] == {BV_SECRET: 50}
    values = [e["value"] for e in result["expectations"]]
    expected = [qiskit_expectation(sv, n, [(1.0, {0: "Z"})]),
                qiskit_expectation(sv, n, [(0.5, {0: "Z", 2: "Z"}), (1.0, {15: "X"}), (-0.25, {3: "Y", 14: "Z"})])]
    np.testing.assert_allclose(values, expected, atol=1e-12)
    for entry in result["amplitudes"]:
        ref = qiskit_amplitude(sv, entry["bitstring"])
        assert abs(complex(entry["real"], entry["imag"]) - ref) < 1e-12
        assert entry["probability"] == pytest.approx(abs(ref) ** 2, abs=1e-12)
    assert abs(result["amplitudes"][0]["probability"] - 0.5) < 1e-12  # data = secret, ancilla in |->


def test_random_circuit_mps_json_matches_qiskit(capsys, tmp_path):
    path = tmp_path / "random.qasm"
    path.write_text(tnq.random_circuit(12, 80, seed=3).to_qasm())
    rng = np.random.default_rng(0)
    bitstrings = ["".join(map(str, row)) for row in rng.integers(0, 2, size=(4, 12))]
    amp_args = [arg for b in bitstrings for arg in ("--amplitude", b)]
    result = run_json(capsys, path, "--method", "mps", "--expect", "Z0 X5 Y11", "--expect", "0.3*X1 + Z2 Z9",
                      *amp_args)
    sv, n = qiskit_statevector(path)
    sim = result["simulation"]
    assert sim["method"] == "mps" and sim["reason"] == "chosen by the user"
    assert len(sim["bond_dims"]) == n - 1 and sim["largest_bond"] == max(sim["bond_dims"])
    assert sim["fidelity_estimate"] == pytest.approx(1.0, abs=1e-12)  # no bond limit: nothing truncated
    expected = [qiskit_expectation(sv, n, [(1.0, {0: "Z", 5: "X", 11: "Y"})]),
                qiskit_expectation(sv, n, [(0.3, {1: "X"}), (1.0, {2: "Z", 9: "Z"})])]
    np.testing.assert_allclose([e["value"] for e in result["expectations"]], expected, atol=1e-10)
    got = [complex(a["real"], a["imag"]) for a in result["amplitudes"]]
    np.testing.assert_allclose(got, [qiskit_amplitude(sv, b) for b in bitstrings], atol=1e-10)
    assert "sampling" not in result  # nothing measured and no --shots: no sampling


def test_truncated_mps_reports_fidelity_below_one(capsys, tmp_path):
    path = tmp_path / "brick.qasm"
    path.write_text(tnq.brickwork(14, 10, seed=4).to_qasm())
    result = run_json(capsys, path, "--method", "mps", "--max-bond", 4, "--expect", "Z6 Z7", "--no-lightcone")
    sv, n = qiskit_statevector(path)
    sim = result["simulation"]
    assert sim["largest_bond"] == 4 and sim["max_bond"] == 4
    assert 0 < sim["fidelity_estimate"] < 0.99 and sim["discarded_weight"] > 0
    exact = qiskit_expectation(sv, n, [(1.0, {6: "Z", 7: "Z"})])
    assert abs(result["expectations"][0]["value"] - exact) > 1e-6  # truncation really changed the answer


def test_lightcone_expectation_matches_full_simulation(capsys, tmp_path):
    path = tmp_path / "brick24.qasm"
    path.write_text(tnq.brickwork(24, 6, seed=1).to_qasm())
    cone = run_json(capsys, path, "--expect", "Z0 Z1", "--expect", "X12")
    full = run_json(capsys, path, "--expect", "Z0 Z1", "--expect", "X12", "--no-lightcone", "--method", "mps")
    assert cone["simulation"] is None and full["simulation"]["method"] == "mps"
    for entry in cone["expectations"]:
        run = entry["run"]
        assert run["lightcone_qubits"] < 24 and run["lightcone_gates"] < run["gates_in_circuit"]
    np.testing.assert_allclose([e["value"] for e in cone["expectations"]],
                               [e["value"] for e in full["expectations"]], atol=1e-10)


def test_qft_example_amplitudes_match_the_formula(capsys):
    bits = ["0" * 20, "1" * 20, "01101001100101101001"]
    result = run_json(capsys, QFT, "--method", "mps", *[a for b in bits for a in ("--amplitude", b)])
    x = int(QFT_INPUT[::-1], 2)
    for entry in result["amplitudes"]:
        y = int(entry["bitstring"][::-1], 2)
        expected = np.exp(2j * np.pi * x * y / 2**20) / 2**10
        assert abs(complex(entry["real"], entry["imag"]) - expected) < 1e-12
    assert result["simulation"]["swaps_relabelled"] == 10 and result["simulation"]["largest_bond"] == 1


def test_measured_subset_is_sampled_in_measurement_order(capsys, tmp_path):
    path = tmp_path / "subset.qasm"
    path.write_text('OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[4];\ncreg c[2];\nx q[1];\nh q[2];\n'
                    "measure q[3] -> c[0];\nmeasure q[1] -> c[1];\n")
    result = run_json(capsys, path, "--seed", 1)
    assert result["sampling"]["shots"] == 1024  # default when the circuit measures
    assert result["sampling"]["qubits"] == [3, 1]
    assert result["sampling"]["counts"] == {"01": 1024}  # qubit 3 is 0, qubit 1 is 1, qubit 2 not sampled


def test_text_report(capsys):
    assert main(["simulate", str(GHZ), "--method", "mps", "--shots", "200", "--seed", "1",
                 "--expect", "Z0 Z11", "--amplitude", "1" * 12]) == 0
    out = capsys.readouterr().out
    assert "12 qubits, 12 gates (h 1, cx 11)" in out
    assert "method     mps (chosen by the user)" in out
    assert "largest bond 2" in out and "fidelity estimate 1" in out
    assert "<Z0 Z11> = 1" in out
    assert "0.7071067812" in out
    counted = {line.split()[0]: int(line.split()[1]) for line in out.splitlines()
               if line.strip().startswith(("000000000000", "111111111111"))}
    assert set(counted) == {"0" * 12, "1" * 12} and sum(counted.values()) == 200


def test_plot_bonds_writes_png(capsys, tmp_path):
    plot = tmp_path / "plots" / "bonds.png"
    result = run_json(capsys, GHZ, "--method", "mps", "--plot-bonds", plot, "--shots", 0)
    assert result["plot_bonds"] == str(plot)
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# --- simulate: errors -----------------------------------------------------------------------------------
MALFORMED = 'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[2];\nh q[0];\ncx q[0] q[1];\n'


VALID = MALFORMED.replace("q[0] q[1]", "q[0],q[1]")


@pytest.mark.parametrize("name, text, args, fragments", [
    ("malformed.qasm", MALFORMED, [], ["malformed.qasm", ":5", "line 5: cx q[0] q[1];"]),
    ("reset.qasm", 'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[2];\nreset q[0];\n', [], ["reset.qasm:4", "reset"]),
    ("ok.qasm", VALID, ["--expect", "Z0 Z7"], ["--expect 'Z0 Z7'", "qubit 7"]),
    ("ok.qasm", VALID, ["--amplitude", "011"], ["--amplitude '011'", "length 3"]),
    ("ok.qasm", VALID, ["--plot-bonds", "x.png"], ["--plot-bonds", "--method mps"]),
    ("ok.qasm", VALID, ["--expect", "1e400*Z0"], ["--expect '1e400*Z0'", "not finite"]),
    ("ok.qasm", VALID, ["--plot-bonds", "x.svgx", "--method", "mps"], ["--plot-bonds", ".svgx"]),
])  # bad numbers (--max-bond 0, --cutoff 2, --shots -3) are argparse's: tests/test_simulate_input.py
def test_bad_input_is_one_line_exit_2(capsys, tmp_path, name, text, args, fragments):
    path = tmp_path / name
    path.write_text(text)
    line = run_error(capsys, "simulate", path, *args)
    for fragment in fragments:
        assert fragment in line, line
    assert not (tmp_path / "x.png").exists()


def test_missing_file(capsys, tmp_path):
    line = run_error(capsys, "simulate", tmp_path / "nope.qasm")
    assert "nope.qasm" in line and "No such file" in line


def test_subprocess_error_has_no_traceback(tmp_path):
    path = tmp_path / "broken.qasm"
    path.write_text(MALFORMED)
    proc = subprocess.run([sys.executable, "-m", "tnq.cli", "simulate", str(path)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("tnq: error: ")
    assert "broken.qasm" in proc.stderr and "line 5" in proc.stderr and "Traceback" not in proc.stderr


# --- tour -----------------------------------------------------------------------------------------------
def test_tour_runs_and_checks_pass(capsys, tmp_path):
    start = time.perf_counter()
    assert main(["tour", "--out", str(tmp_path / "tour")]) == 0
    elapsed = time.perf_counter() - start
    out = capsys.readouterr().out
    assert "[FAIL]" not in out and out.count("[ok]") >= 6
    assert "checks passed" in out
    plots = sorted((tmp_path / "tour").glob("*.png"))
    assert len(plots) >= 2 and all(p.read_bytes()[:4] == b"\x89PNG" for p in plots)
    assert elapsed < 60, f"the tour must stay under a minute, took {elapsed:.1f} s"


def test_the_engine_imports_nothing_from_qnlp_and_the_tour_finds_its_section():
    """tnq is the engine: no module under tnq/ imports qnlp (read from the source, so a lazy import inside a
    function counts too); qnlp's tour section arrives through the ``tnq.tour`` entry point."""
    import ast

    import qnlp.tour
    import tnq.tour

    root = Path(tnq.__file__).parent
    offenders = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            offenders += [f"{path.relative_to(root)}:{node.lineno}" for name in names
                          if name.split(".")[0] == "qnlp"]
    assert offenders == []
    assert qnlp.tour.section in tnq.tour.plugin_sections()


def test_tour_exit_code_reports_a_failed_check(capsys, tmp_path, monkeypatch):
    import tnq.tour

    monkeypatch.setattr(tnq.tour, "SECTIONS", [lambda report, out: report.check("broken", False, "1 != 2")])
    monkeypatch.setattr(tnq.tour, "plugin_sections", lambda: [])
    assert main(["tour", "--out", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "[FAIL] broken: 1 != 2" in out and "FAILED: broken" in out


def test_qubit_ranges_format():
    assert fmt.qubit_ranges([0, 1, 2, 5, 7, 8]) == "0-2, 5, 7-8"
    assert fmt.qubit_ranges([3, 1]) == "3, 1"
    assert fmt.short_bits("01" * 40, 16) == "010101...010101 (80 bits)"
    assert fmt.short_bits("0110", 16) == "0110"
