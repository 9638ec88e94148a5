"""The shared input/output checks: outputs refused before any work, safetensors readers that never escape with a
non-tnq exception, and the CLI's number types."""

import argparse
import json
import struct

import numpy as np
import pytest
from safetensors.numpy import save

from tnq.cli import options
from tnq.errors import TnqError, UsageError
from tnq.io import PLOT_FORMATS, check_output, check_plot, read_safetensors


def test_output_equal_to_inside_or_containing_the_input_is_refused(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    (model / "weights.bin").write_bytes(b"x")
    for out, word in ((model, "is the input"), (model / "sub", "is inside the input"),
                      (tmp_path, "contains the input")):
        with pytest.raises(UsageError, match=word) as info:
            check_output(out, option="--out", inputs=[model], folder=True)
        assert "--out" in str(info.value)
    data = tmp_path / "data.txt"
    data.write_text("x")
    with pytest.raises(UsageError, match="is the input"):
        check_output(tmp_path / "." / "data.txt", option="--out", inputs=[data])
    assert check_output(tmp_path / "other" / "m.safetensors", option="--out", inputs=[model, data]).name == \
        "m.safetensors"


def test_output_that_cannot_be_written_is_refused(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(UsageError, match="is a file, not a folder"):
        check_output(blocker / "sub" / "m.safetensors", option="--out")
    with pytest.raises(UsageError, match="is a folder"):
        check_output(tmp_path, option="--out")
    with pytest.raises(UsageError, match="is a file; give a folder"):
        check_output(blocker, option="--out", folder=True)
    assert not (tmp_path / "sub").exists()  # checking creates nothing


def test_plot_formats_are_the_ones_matplotlib_writes(tmp_path):
    from matplotlib.figure import Figure

    supported = Figure().canvas.get_supported_filetypes()
    assert set(PLOT_FORMATS) <= set(supported)
    with pytest.raises(UsageError, match=r"--plot-bonds .*\.xyz"):
        check_plot(tmp_path / "b.xyz", "--plot-bonds")
    for name in ("a.png", "a.PDF", "a"):  # no suffix: save_figure writes PNG
        check_plot(tmp_path / name)
    check_plot(None)


def _with_header(header: dict, payload: bytes) -> bytes:
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + payload


@pytest.mark.parametrize("metadata", ["[" * 100_000, "1" * 5000, "{not json", '"unterminated'])
def test_corrupt_metadata_is_a_tnq_error(tmp_path, metadata):
    path = tmp_path / "m.safetensors"
    path.write_bytes(save({"a": np.zeros(2)}, metadata={"meta": metadata}))
    with pytest.raises(TnqError, match="corrupt meta metadata"):
        read_safetensors(path, "meta", TnqError)


@pytest.mark.parametrize("data", [
    b"", b"\x00" * 3, b"\xff" * 16,
    _with_header({"a": {"dtype": "BF16", "shape": [2], "data_offsets": [0, 4]}}, b"\x00" * 4),
    _with_header({"a": {"dtype": "F64", "shape": [4], "data_offsets": [0, 8]}}, b"\x00" * 8),
    _with_header({"a": {"dtype": "NOPE", "shape": [1], "data_offsets": [0, 8]}}, b"\x00" * 8),
])
def test_damaged_safetensors_is_a_tnq_error_naming_the_file(tmp_path, data):
    path = tmp_path / "m.safetensors"
    path.write_bytes(data)
    with pytest.raises(TnqError) as info:
        read_safetensors(path, "meta", TnqError)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("parse, text", [
    (options.seed, "-3"), (options.seed, str(2**32)), (options.seed, "1.5"), (options.count, "-1"),
    (options.positive, "0"), (options.positive_real, "nan"), (options.positive_real, "inf"),
    (options.positive_real, "0"), (options.fraction, "1.5"), (options.fraction, "0"), (options.real(0, 1), "-inf"),
    (options.real(below=1.0), "1"), (options.integer(maximum=3), "4"),
])
def test_option_types_refuse_bad_numbers(parse, text):
    with pytest.raises(argparse.ArgumentTypeError):
        parse(text)


def test_option_types_accept_good_numbers():
    assert options.seed("0") == 0 and options.seed(str(2**32 - 1)) == 2**32 - 1
    assert options.fraction("1") == 1.0 and options.positive_real("1e-3") == 1e-3
    assert options.count("0") == 0 and options.real(below=1.0)("0.5") == 0.5


def test_a_bad_option_is_one_line_and_exit_2_in_subcommands_too(capsys):
    parser = options.OneLineParser(prog="prog")
    sub = parser.add_subparsers(dest="command", required=True).add_parser("run")
    sub.add_argument("--seed", type=options.seed)
    for argv, message in (
            (["run", "--seed", "-3"], "prog run: error: argument --seed: must be in [0, 4294967295], got -3"),
            (["walk"], "prog: error: argument command: invalid choice")):
        with pytest.raises(SystemExit) as info:
            parser.parse_args(argv)
        assert info.value.code == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith(message), err
