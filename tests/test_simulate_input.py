"""``tnq simulate`` and the engine refuse bad input before any work, in one line naming the place: undecodable or
empty QASM files, bad numbers (seed, shots, bond, cutoff, memory budget, non-finite coefficients), unwritable plot
paths, sampling over the memory budget; operations read from QASM keep their file and line for later errors; a
sliced contraction is announced with its cost and runs under a progress bar; ``--json`` is strict JSON."""

from __future__ import annotations

import json
import math
import re
import tracemalloc
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

import tnq
from tnq import Circuit, CircuitError, ObservableError, QasmError, SimulationError
from tnq.backends.contract import stacked_amplitude_tensor
from tnq.cli.main import main
from tnq.contraction.paths import TreeCache
from tnq.memory import budget_bytes, check_budget

HEADER = 'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[3];\ncreg c[3];\n'  # 4 lines
GHZ = Path(__file__).resolve().parents[1] / "examples" / "ghz_12.qasm"


def one_error_line(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    """Run ``tnq`` where it must refuse the input: exit code 2 and one ``tnq: error:`` line, no traceback."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tnq: error: ") and "Traceback" not in err, err
    return lines[0]


def write(tmp_path: Path, body: str, name: str = "c.qasm") -> Path:
    path = tmp_path / name
    path.write_text(HEADER + body)
    return path


# --- QASM files: encoding, emptiness ----------------------------------------------------------------
def test_non_utf8_qasm_names_the_file_line_and_byte(tmp_path, capsys):
    path = tmp_path / "latin1.qasm"
    path.write_bytes(HEADER.encode() + b"h q[0];\n// caf\xe9\n")  # byte 0xe9 on line 6, column 7
    offset = len(HEADER) + len("h q[0];\n// caf")
    for source in (path, str(path)):
        with pytest.raises(QasmError) as info:
            Circuit.from_qasm(source)
        assert str(info.value).startswith(f"{path}:6:7: not UTF-8") and f"offset {offset}" in str(info.value)
        assert "0xe9" in str(info.value)
    line = one_error_line(capsys, ["simulate", str(path)])
    assert f"{path}:6:7" in line


def test_utf8_with_a_byte_order_mark_reads_like_without(tmp_path):
    plain = write(tmp_path, "h q[0];\ncx q[0],q[1];\n")
    marked = tmp_path / "bom.qasm"
    marked.write_bytes(b"\xef\xbb\xbf" + plain.read_bytes())
    np.testing.assert_array_equal(tnq.simulate(Circuit.from_qasm(marked)).statevector(),
                                  tnq.simulate(Circuit.from_qasm(plain)).statevector())


@pytest.mark.parametrize("text, what", [
    ("", "empty QASM file"),
    ("  \n\n", "empty QASM file"),
    ('OPENQASM 2.0;\ninclude "qelib1.inc";\n', "declares no qubits"),
    ('OPENQASM 2.0;\ninclude "qelib1.inc";\ncreg c[2];\n', "declares no qubits"),
])
def test_empty_or_registerless_file_names_the_file(tmp_path, capsys, text, what):
    path = tmp_path / "empty.qasm"
    path.write_text(text)
    with pytest.raises(QasmError, match=what) as info:
        Circuit.from_qasm(path)
    assert str(info.value).startswith(f"{path}: ")
    assert one_error_line(capsys, ["simulate", str(path)]).startswith(f"tnq: error: {path}: ")


def test_huge_registers_are_refused_before_parsing(tmp_path):
    path = write(tmp_path, "qreg big[99999999];\nh big[0];\n")
    with pytest.raises(QasmError, match=rf"{path}:5: registers declare over 100000 bits"):
        Circuit.from_qasm(path)


# --- source lines of operations read from QASM ---------------------------------------------------------
def test_operations_keep_their_source_line():
    body = ("h q;\n"                          # line 5: one h per qubit
            "cx q[0],\n  q[1]; x q[2];\n"       # a statement over two lines, then another on line 7
            "gate pair(a) u, v { rx(a) u;\n cx u, v; }\n"  # a declaration: no instruction
            "pair(0.5) q[1], q[2]; // a comment; with a semicolon\n"  # line 10: expands to rx, cx
            "barrier q;\n"                      # line 11
            "measure q -> c;\n")                # line 12: one per qubit
    ops = Circuit.from_qasm(HEADER + body).ops
    expected = [(5, "h")] * 3 + [(6, "cx"), (7, "x"), (10, "rx"), (10, "cx"), (11, "barrier")] + [(12, "measure")] * 3
    assert [(op.source, op.name) for op in ops] == [(f"<string>:{line}", name) for line, name in expected]


def test_source_lines_of_a_long_random_circuit(tmp_path):
    """qiskit writes one instruction a line: operation k of the circuit is on line (header + k + 1)."""
    rng = np.random.default_rng(4)
    circuit = Circuit(6)
    for _ in range(200):
        spec = tnq.GATES[str(rng.choice(["h", "t", "rz", "u3", "cx", "cp", "rzz", "swap", "ccx", "cswap"]))]
        qubits = rng.choice(6, size=spec.num_qubits, replace=False).tolist()
        circuit.append(spec.name, qubits, rng.uniform(-3, 3, size=spec.num_params).tolist())
    text = circuit.to_qasm()
    first = text.split("\n").index(next(line for line in text.split("\n") if line.startswith("qreg"))) + 2
    path = tmp_path / "random.qasm"
    path.write_text(text)
    read = Circuit.from_qasm(path)
    assert [op.name for op in read.ops] == [op.name for op in circuit.ops]
    assert [op.source for op in read.ops] == [f"{path}:{first + k}" for k in range(len(read.ops))]


@pytest.mark.parametrize("body, line, what", [
    ("h q[0];\n\nrx(1e400) q[1];\n", 7, "parameter is not finite"),
    ("measure q[0] -> c[0];\nh q[1];\nif(c==9) x q[0];\n", 7, "does not fit register c"),
])
def test_conversion_errors_name_the_file_and_line(tmp_path, capsys, body, line, what):
    path = write(tmp_path, body)
    with pytest.raises(CircuitError, match=what) as info:
        Circuit.from_qasm(path)
    assert str(info.value).startswith(f"{path}:{line}: gate "), info.value
    assert "(operation" not in str(info.value)
    assert f"{path}:{line}:" in one_error_line(capsys, ["simulate", str(path)])


def test_errors_during_simulation_name_the_source_line(tmp_path):
    path = write(tmp_path, "h q[0];\nh q[1];\n\ncx q[1],q[2];\n")  # the first two-qubit gate is on line 8
    circuit = Circuit.from_qasm(path)
    with pytest.raises(SimulationError, match=rf"the gate at {path}:8 on wires \[1, 2\].*memory budget"):
        tnq.simulate(circuit, "mps", memory_budget=100)
    with pytest.raises(SimulationError, match=rf"the gate at {path}:8 .*memory budget"):
        tnq.simulate(circuit, "mps", memory_budget=100, fuse_gates=False)


def test_lowering_names_the_line_of_an_unbound_gate():
    circuit = Circuit(2)
    circuit.append("rx", [1], [tnq.Parameter("t")], source="made.qasm:3")
    with pytest.raises(CircuitError, match=r"made.qasm:3: gate rx on qubits \[1\] has unbound parameters \['t'\]"):
        circuit.ops[0].unitary()
    assert circuit.bind({"t": 0.1}).ops[0].source == "made.qasm:3"


# --- numbers: options and the Python API ---------------------------------------------------------------
@pytest.mark.parametrize("option, value, what", [
    ("--seed", "-3", "must be in [0, 4294967295]"),
    ("--seed", str(2**32), "must be in [0, 4294967295]"),
    ("--seed", "1.5", "expected an integer"),
    ("--shots", "-3", "must be >= 0"),
    ("--shots", "many", "expected an integer"),
    ("--max-bond", "0", "must be >= 1"),
    ("--cutoff", "nan", "must be a finite number in [0, 1)"),
    ("--cutoff", "inf", "must be a finite number in [0, 1)"),
    ("--cutoff", "1", "must be in [0, 1)"),
    ("--cutoff", "-0.1", "must be in [0, 1)"),
])
def test_bad_numbers_are_refused_by_the_parser(capsys, monkeypatch, option, value, what):
    monkeypatch.setattr(Circuit, "from_qasm", lambda *a: pytest.fail("the file was read"))
    with pytest.raises(SystemExit) as info:
        main(["simulate", str(GHZ), option, value])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1].startswith(f"tnq simulate: error: argument {option}: {what}, got "), err
    assert "Traceback" not in err


@pytest.mark.parametrize("method", ["dense", "mps", "contract"])
@pytest.mark.parametrize("seed", [-3, 2**32, 1.5, True, "1", [1, 2]])
def test_bad_seed_is_refused_by_the_api(method, seed):
    state = tnq.simulate(tnq.ghz(3), method)
    for call in (state.sample, state.counts):
        with pytest.raises(SimulationError, match=r"seed must be None, an integer in \[0, 2\*\*32\)"):
            call(10, seed=seed)


def test_good_seeds_reproduce():
    state = tnq.simulate(tnq.random_circuit(5, 30, seed=1), "mps")
    for seed in (0, 2**32 - 1, np.uint32(7)):
        np.testing.assert_array_equal(state.sample(50, seed=seed), state.sample(50, seed=int(seed)))
    np.testing.assert_array_equal(state.sample(50, seed=np.random.default_rng(3)), state.sample(50, seed=3))


@pytest.mark.parametrize("shots", [True, np.bool_(True), 2.0])
def test_bool_and_float_shots_are_refused(shots):
    with pytest.raises(SimulationError, match="shots must be a non-negative integer"):
        tnq.simulate(tnq.ghz(2)).sample(shots)


@pytest.mark.parametrize("qubits", [[0, 5], [-1], [0.5], ["a"]])
def test_bad_sample_qubits_are_named(qubits):
    with pytest.raises(SimulationError, match=r"cannot sample qubit .*: the state has 3 qubits \(0..2\)"):
        tnq.simulate(tnq.ghz(3)).counts(5, qubits=qubits)


@pytest.mark.parametrize("max_bond, cutoff, what", [(0, 1e-16, "max_bond"), (2.5, 1e-16, "max_bond"),
                                                    (None, math.nan, "cutoff"), (None, 1.0, "cutoff")])
def test_bad_truncation_is_refused_by_every_method(max_bond, cutoff, what):
    """Also where the backend ignores the option (contraction), so a typo is not silently dropped."""
    for method in ("dense", "mps", "contract"):
        with pytest.raises(SimulationError, match=what):
            tnq.simulate(tnq.ghz(3), method, max_bond=max_bond, cutoff=cutoff)


# --- memory budget ---------------------------------------------------------------------------------------
BAD_BUDGETS = [math.nan, math.inf, -math.inf, -5, -0.5, True, "1 GiB", np.float64("nan")]


@pytest.mark.parametrize("budget", BAD_BUDGETS, ids=repr)
def test_bad_memory_budget_is_refused_everywhere(budget):
    circuit = tnq.ghz(3)
    calls = [lambda m=m: tnq.simulate(circuit, m, memory_budget=budget) for m in ("auto", "dense", "mps", "contract")]
    calls += [lambda: tnq.expectation(circuit, "Z0", memory_budget=budget),
              lambda: tnq.expectation(circuit, "Z0", "contract", memory_budget=budget),
              lambda: tnq.amplitudes(circuit, ["000"], memory_budget=budget),
              lambda: stacked_amplitude_tensor([], 1, {}, [0], memory_budget=budget),
              lambda: check_budget(1, budget, "anything"),
              lambda: budget_bytes(budget)]
    for call in calls:
        with pytest.raises(SimulationError, match=r"memory_budget must be a finite number of bytes >= 0"):
            call()


def test_tree_cache_refuses_a_bad_budget():
    state = tnq.simulate(tnq.ghz(3), "contract")
    net = state._template().network()
    with pytest.raises(SimulationError, match="memory_budget"):
        TreeCache().get_tree(net, memory_budget=math.nan)


def test_zero_and_default_budgets_are_accepted():
    assert budget_bytes(None) > 0 and budget_bytes(0) == 0 and budget_bytes(np.int64(5)) == 5
    with pytest.raises(SimulationError, match="over the memory budget of 0 B"):
        tnq.simulate(tnq.ghz(3), "dense", memory_budget=0)


# --- sampling within the memory budget -----------------------------------------------------------------
@pytest.mark.parametrize("method", ["dense", "mps", "contract"])
def test_sampling_over_the_budget_is_refused_before_allocating(method):
    """A million shots need over 100 MiB: refused against a 1 MiB budget with nothing allocated. (Few enough shots
    that a regression fails the test instead of exhausting the machine's memory.)"""
    state = tnq.simulate(tnq.ghz(4), method, memory_budget=2**20)
    state.counts(4, seed=0)  # the contraction backend searches its tree here, outside the measured call
    tracemalloc.start()
    try:
        with pytest.raises(SimulationError, match=r"sampling 1000000 shots of 4 qubit\(s\) needs about .* "
                                                  r"over the memory budget of 1 MiB; draw fewer shots"):
            state.counts(10**6, seed=0)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2**20


def test_cli_refuses_too_many_shots(capsys, monkeypatch):
    monkeypatch.setattr("tnq.memory.default_budget", lambda: 16 * 2**20)  # as if 20 MiB were free
    line = one_error_line(capsys, ["simulate", str(GHZ), "--shots", str(2 * 10**6), "--method", "mps"])
    assert "sampling 2000000 shots of 12 qubit(s)" in line and "over the memory budget of 16 MiB" in line


@pytest.mark.parametrize("method, circuit", [
    ("dense", tnq.random_circuit(10, 60, seed=1)),
    ("mps", tnq.brickwork(12, 6, seed=2)),
    ("contract", tnq.random_circuit(8, 30, seed=3)),
])
def test_sampling_estimate_bounds_what_sampling_allocates(method, circuit):
    """The estimate checked against the budget is an upper bound of what counts() really allocates (numpy's
    allocations, as tracemalloc sees them), and not a wild one."""
    state = tnq.simulate(circuit, method)
    state.counts(4, seed=0)
    shots = 20_000
    estimate = state._sample_bytes(shots) + shots * (3 * circuit.num_qubits + 32)  # what sample() checks
    tracemalloc.start()
    try:
        state.counts(shots, seed=1)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak <= estimate <= 5 * peak, (peak, estimate)


@pytest.mark.parametrize("method", ["dense", "mps"])
@pytest.mark.parametrize("qubits", [None, [2, 0], []])
def test_counts_tally_the_samples(method, qubits):
    """counts() against a plain Counter over the same seeded samples: same keys, numbers and order (most common
    first, ties in the order first drawn)."""
    state = tnq.simulate(tnq.random_circuit(4, 20, seed=5), method)
    samples = state.sample(3000, seed=9, qubits=qubits)
    expected = Counter("".join(map(str, row)) for row in samples).most_common()
    assert list(state.counts(3000, seed=9, qubits=qubits).items()) == expected
    assert state.counts(0, qubits=qubits) == {}


# --- observables and JSON --------------------------------------------------------------------------------
@pytest.mark.parametrize("text, coefficient, term", [
    ("1e400*Z0 + Z1", "1e400", "Z0"),
    ("Z0 - 2e308*X1", "2e308", "X1"),
    ("0.5*Z0 + (1e400j)*Y2", "(1e400j)", "Y2"),
])
def test_non_finite_coefficients_are_refused(capsys, text, coefficient, term):
    with pytest.raises(ObservableError, match=rf"coefficient {re.escape(coefficient)} of term '{term}' in .* is not "
                                              "finite"):
        tnq.expectation(tnq.ghz(3), text)
    line = one_error_line(capsys, ["simulate", str(GHZ), "--expect", text, "--json"])
    assert f"--expect '{text}'" in line and "not finite" in line


@pytest.mark.parametrize("coefficient", [math.nan, math.inf, complex(0, math.inf)])
def test_non_finite_coefficients_in_pairs_are_refused(coefficient):
    with pytest.raises(ObservableError, match="of term 'Z0 X1' is not finite"):
        tnq.simulate(tnq.ghz(3)).expectation([(1.0, "Z2"), (coefficient, "Z0 X1")])


def test_json_output_is_strict(capsys):
    """A sum of finite terms can still overflow: --json refuses to write Infinity; the text report shows it."""
    text = "1e308*Z0 Z11 + 1e308*Z1 Z2"  # <Z0 Z11> = <Z1 Z2> = 1 on GHZ
    line = one_error_line(capsys, ["simulate", str(GHZ), "--expect", text, "--json", "--shots", "0"])
    assert "--json" in line and "expectations[0].value = inf" in line
    assert main(["simulate", str(GHZ), "--expect", text, "--shots", "0"]) == 0
    assert f"<{text}> = inf" in capsys.readouterr().out

    def refuse(name: str) -> None:
        raise AssertionError(f"non-standard JSON constant {name}")

    assert main(["simulate", str(GHZ), "--json", "--shots", "5", "--seed", "1", "--expect", "Z0"]) == 0
    result = json.loads(capsys.readouterr().out, parse_constant=refuse)
    assert result["expectations"][0]["value"] == 0.0 and sum(result["sampling"]["counts"].values()) == 5


# --- plot path ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("plot, what", [("bonds.xyz", "unsupported file type .xyz"),
                                        ("INPUT", "is the input"),
                                        ("folder", "is a folder")])
def test_plot_path_is_checked_before_any_work(tmp_path, capsys, monkeypatch, plot, what):
    import tnq.cli.simulate_cmd as cmd

    monkeypatch.setattr(cmd, "simulate", lambda *a, **k: pytest.fail("simulated before checking --plot-bonds"))
    qasm = tmp_path / "ghz.qasm"
    qasm.write_bytes(GHZ.read_bytes())
    (tmp_path / "folder").mkdir()
    target = str(qasm) if plot == "INPUT" else str(tmp_path / plot)
    line = one_error_line(capsys, ["simulate", str(qasm), "--method", "mps", "--plot-bonds", target])
    assert "--plot-bonds" in line and what in line
    assert qasm.read_bytes() == GHZ.read_bytes()


def test_plot_formats_are_ones_matplotlib_writes():
    from matplotlib.figure import Figure

    from tnq.io import PLOT_FORMATS

    supported = Figure().canvas.get_supported_filetypes()
    assert set(PLOT_FORMATS) <= set(supported), set(PLOT_FORMATS) - set(supported)


# --- sliced contractions: announced, with a progress bar ---------------------------------------------------
@pytest.fixture(scope="module")
def grid() -> tuple[tnq.Circuit, complex, int]:
    """A circuit whose amplitude contraction slices under half its unsliced peak; the dense amplitude."""
    circuit = tnq.grid_random(4, 4, 14, seed=2)
    state = tnq.simulate(circuit, "contract", cache=TreeCache())
    state.amplitude("0" * 16)
    assert state.last_report.slices == 1
    return circuit, tnq.simulate(circuit, "dense").amplitude("0" * 16), state.last_report.peak_bytes


def test_sliced_contraction_is_announced_and_shows_progress(grid, capsys):
    circuit, reference, peak = grid
    state = tnq.simulate(circuit, "contract", cache=TreeCache(), memory_budget=peak // 2, progress=True)
    value = state.amplitude("0" * 16)
    assert abs(value - reference) < 1e-12
    plan, report = state.info["contraction"], state.last_report
    assert plan["slices"] == report.slices > 1 and plan["peak_bytes"] == report.peak_bytes <= peak // 2
    assert plan["flops"] == report.flops and plan["estimated_seconds"] > 0
    err = capsys.readouterr().err
    assert f"tnq: contraction sliced into {report.slices} slices to fit the memory budget" in err
    assert f"/{report.slices} [" in err and "slice" in err  # tqdm's bar over the slices


def test_quick_sliced_contraction_stays_quiet(grid, capsys, monkeypatch):
    circuit, reference, peak = grid
    for progress in (None, False):
        state = tnq.simulate(circuit, "contract", cache=TreeCache(), memory_budget=peak // 2, progress=progress)
        assert abs(state.amplitude("0" * 16) - reference) < 1e-12
    assert capsys.readouterr().err == ""
    monkeypatch.setattr("tnq.progress.NOTE_SECONDS", 0.0)  # as if it were long: announced without asking
    tnq.simulate(circuit, "contract", cache=TreeCache(), memory_budget=peak // 2).amplitude("0" * 16)
    assert "sliced into" in capsys.readouterr().err


def test_cli_reports_the_contractions(capsys):
    assert main(["simulate", str(GHZ), "--method", "contract", "--amplitude", "1" * 12, "--shots", "0",
                 "--json"]) == 0
    sim = json.loads(capsys.readouterr().out)["simulation"]
    assert sim["contractions"]["count"] == 1 and sim["contractions"]["max_slices"] == 1
    assert main(["simulate", str(GHZ), "--method", "contract", "--amplitude", "1" * 12, "--shots", "0"]) == 0
    assert "1 contraction(s) of 10^" in capsys.readouterr().out


def test_amplitudes_lower_the_circuit_once_and_name_unknown_options(monkeypatch):
    """``tnq.amplitudes`` lowers the circuit once to choose its method and simulates that lowering (the values
    equal the statevector's), and an unknown option is one SimulationError naming it."""
    import sys

    simulate_module = sys.modules["tnq.simulate"]  # the module (``tnq.simulate`` is the function)
    circuit = tnq.ghz(30)
    calls = []
    real = simulate_module.lower
    monkeypatch.setattr(simulate_module, "lower", lambda *a, **k: calls.append(1) or real(*a, **k))
    values = tnq.amplitudes(circuit, ["0" * 30, "1" * 30, "01" * 15], method="mps", max_bond=4)
    assert len(calls) == 1
    np.testing.assert_allclose(values, [2 ** -0.5, 2 ** -0.5, 0], atol=1e-12)
    with pytest.raises(tnq.SimulationError, match=r"unknown option\(s\) \['bond'\]"):
        tnq.amplitudes(circuit, ["0" * 30], method="mps", bond=4)
