"""Fuzzing the QASM reader: random bytes and seeded mutations of the bundled examples, read from a file and from a
string and, for a few, through ``tnq simulate``. Each must parse or raise a TnqError (one line, exit code 2), never
another exception, and never change the file it reads."""

from __future__ import annotations

from pathlib import Path

import pytest
from fuzzing import assert_cli_cleanly, assert_reads_cleanly, mutations, random_bytes

from tnq import Circuit, TnqError
from tnq.cli.main import main

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "examples").glob("*.qasm"))
CASES = 40
"""Mutations per example file (the first five are fixed: empty, random, cut in half, not UTF-8 at the start and
at the end)."""
CLI_CASES = 2
"""Mutations per example that parse, and as many that do not, run through ``tnq simulate`` (with cheap options:
a bounded MPS and a few shots)."""


def _cases(path: Path) -> list[bytes]:
    """Seeded mutations of an example, then the same with every byte made ASCII: those decode, so they reach the
    parser and the conversion to a Circuit more often than raw byte flips."""
    raw = mutations(path.read_bytes(), CASES, seed=len(path.name))
    return raw + [bytes(b & 0x7F for b in data) for data in raw]


def _parses(data: bytes) -> bool:
    """Whether a file of these bytes reads as a circuit."""
    try:
        Circuit.from_qasm(data.decode("utf-8"))
    except (TnqError, UnicodeDecodeError):
        return False
    return True


def _from_text(data: bytes) -> None:
    """``Circuit.from_qasm`` on the bytes as a string (undecodable bytes replaced): a circuit or a TnqError."""
    text = data.decode("utf-8", errors="replace")
    try:
        Circuit.from_qasm(text)
    except TnqError:
        pass
    except Exception as exc:  # noqa: BLE001 - the point of the test: name the input that escaped
        raise AssertionError(f"{type(exc).__name__}: {exc} on text {text[:200]!r}") from exc


def test_examples_are_found_and_read():
    assert len(EXAMPLES) >= 3
    for path in EXAMPLES:
        assert Circuit.from_qasm(path).num_qubits > 1


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_mutated_examples_parse_or_raise_a_tnq_error(path, tmp_path):
    for index, data in enumerate(_cases(path)):
        assert_reads_cleanly(Circuit.from_qasm, tmp_path / f"case{index}.qasm", data)
        assert_reads_cleanly(lambda p: Circuit.from_qasm(str(p)), tmp_path / f"case{index}.qasm", data)
        _from_text(data)


def test_random_bytes_parse_or_raise_a_tnq_error(tmp_path):
    for index, data in enumerate(random_bytes(30, seed=5)):
        assert_reads_cleanly(Circuit.from_qasm, tmp_path / f"random{index}.qasm", data)
        _from_text(data)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_mutated_examples_through_the_cli(path, tmp_path, capsys):
    cases = _cases(path)
    parses = [_parses(data) for data in cases]
    good = [data for data, ok in zip(cases, parses) if ok][:CLI_CASES]
    bad = [data for data, ok in zip(cases, parses) if not ok][:CLI_CASES]
    codes = []
    for index, data in enumerate(good + bad):
        file = tmp_path / f"case{index}.qasm"
        file.write_bytes(data)
        argv = ["simulate", str(file), "--method", "mps", "--max-bond", "4", "--shots", "8", "--seed", "1",
                "--no-progress"]
        codes.append(assert_cli_cleanly(main, argv, capsys, [file]))
    assert codes == [0] * len(good) + [2] * len(bad)


def test_damaged_files_name_the_file(tmp_path):
    """The fixed damaged cases (empty, random bytes, not UTF-8 at the start or the end) name the file read."""
    empty, noise, _, bom_like, tail = mutations(EXAMPLES[0].read_bytes(), 5, seed=0)
    for index, data in enumerate([empty, noise, bom_like, tail]):
        file = tmp_path / f"broken{index}.qasm"
        file.write_bytes(data)
        with pytest.raises(TnqError) as info:
            Circuit.from_qasm(file)
        assert str(info.value).startswith(f"{file}:"), info.value
