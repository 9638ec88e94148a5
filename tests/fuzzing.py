"""Fuzzing helpers shared by the reader fuzz tests: random bytes and seeded random mutations of a valid file, and
the one contract every reader keeps: it returns, or raises a ``TnqError`` subclass (the CLI turns those into one
line and exit code 2), and it never changes the file it reads."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from tnq.errors import TnqError


def mutations(valid: bytes, count: int, seed: int) -> list[bytes]:
    """``count`` damaged versions of ``valid``: a few fixed cases (empty, random bytes, cut in half, not UTF-8),
    then seeded random byte flips, truncations, insertions, deletions and duplicated slices."""
    rng = np.random.default_rng(seed)
    cases = [b"", random_bytes(1, seed)[0], valid[: len(valid) // 2], b"\xff\xfe\x00" + valid, valid + b"\x80\xc3"]
    while len(cases) < count:
        data = bytearray(valid)
        for _ in range(int(rng.integers(1, 4))):
            kind = int(rng.integers(5))
            at = int(rng.integers(len(data) + 1))
            if kind == 0 and data:  # flip bytes
                for i in rng.integers(len(data), size=int(rng.integers(1, 8))):
                    data[int(i)] = int(rng.integers(256))
            elif kind == 1:  # truncate
                del data[at:]
            elif kind == 2:  # insert random bytes
                data[at:at] = rng.integers(256, size=int(rng.integers(1, 32)), dtype=np.uint8).tobytes()
            elif kind == 3:  # delete a slice
                del data[at:at + int(rng.integers(1, 64))]
            else:  # duplicate a slice
                data[at:at] = data[at:at + int(rng.integers(1, 64))]
        cases.append(bytes(data))
    return cases[:count]


def random_bytes(count: int, seed: int, max_len: int = 512) -> list[bytes]:
    """``count`` seeded strings of random bytes, 1 to ``max_len`` long."""
    rng = np.random.default_rng(seed + 1_000_003)
    return [rng.integers(256, size=int(rng.integers(1, max_len + 1)), dtype=np.uint8).tobytes()
            for _ in range(count)]


def digest(path: Path) -> str:
    """SHA-256 of a file, or of every file under a folder (names included)."""
    h = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        h.update(str(file.relative_to(path) if path.is_dir() else file.name).encode())
        h.update(file.read_bytes())
    return h.hexdigest()


def assert_reads_cleanly(read: Callable[[Path], object], path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` and call ``read(path)``: it must return or raise a ``TnqError``, never another
    exception, and ``path`` must be unchanged afterwards."""
    path.write_bytes(data)
    before = digest(path)
    try:
        read(path)
    except TnqError:
        pass
    except Exception as exc:  # noqa: BLE001 - the point of the test: name the input that escaped
        raise AssertionError(f"{type(exc).__name__}: {exc} on input {data[:200]!r}"
                             f"{'...' if len(data) > 200 else ''}") from exc
    assert digest(path) == before, f"the reader changed its input {path}"


def assert_cli_cleanly(main: Callable[[list[str]], int], argv: list[str], capsys, inputs: list[Path]) -> int:
    """Run a CLI ``main(argv)``: exit code 0 or 2 (argparse's SystemExit included), no traceback on stderr, and
    every path in ``inputs`` unchanged. Returns the exit code."""
    before = [digest(p) for p in inputs]
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 2
    err = capsys.readouterr().err
    assert code in (0, 2), f"exit code {code} for {argv}: {err}"
    assert "Traceback" not in err, err
    if code == 2:
        assert err.strip(), f"exit 2 without a message for {argv}"
    assert [digest(p) for p in inputs] == before, f"{argv} changed an input"
    return code


def field_edits(meta: dict, paths: list[tuple], values: list, count: int, seed: int) -> list[str]:
    """``count`` JSON texts of ``meta``, each with the field at one seeded path of ``paths`` (keys and list
    indices) set to a seeded one of ``values`` or, one time in ten where it sits in a dict, removed."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        edited = json.loads(json.dumps(meta))
        path = paths[int(rng.integers(len(paths)))]
        target = edited
        for key in path[:-1]:
            target = target[key]
        if rng.random() < 0.1 and isinstance(target, dict):
            del target[path[-1]]
        else:
            target[path[-1]] = values[int(rng.integers(len(values)))]
        out.append(json.dumps(edited))
    return out
