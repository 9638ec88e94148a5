"""``tnq compress`` never loses work and refuses bad input in one line: outputs that would overwrite or sit inside
the input, or wipe a folder tnq compress did not write, are refused before the model loads; a replaced folder is
swapped only once the new one is complete; SIGTERM is as safe as Ctrl-C; damaged model files (safetensors, config,
GGUF, a compressed folder's files) raise a TnqError naming the file, checked by seeded fuzzing; bad numbers are
refused by argparse and by ``compress_model``."""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
from pathlib import Path

import pytest
import torch

transformers = pytest.importorskip("transformers")

from fuzzing import assert_cli_cleanly, assert_reads_cleanly, digest, mutations, random_bytes  # noqa: E402
from test_mpo_compress import _heal_setup, _model_dir, _tokenizer, tiny_llama, tokens  # noqa: E402

import tnq.compress.persist as persist_module  # noqa: E402
import tnq.compress.pipeline as compress_module  # noqa: E402
from tnq.cli.main import main, sigterm_as_interrupt  # noqa: E402
from tnq.compress.heal import heal  # noqa: E402
from tnq.compress.heal_checkpoint import HealingInterrupted  # noqa: E402
from tnq.compress.models import load_model  # noqa: E402
from tnq.compress.options import from_names  # noqa: E402
from tnq.compress.persist import load_compressed  # noqa: E402
from tnq.compress.pipeline import compress_model  # noqa: E402
from tnq.errors import TnqError, UsageError  # noqa: E402
from tnq.mpo import MPOError  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")

QUICK = ["--method", "svd", "--eval-tokens", "0", "--no-progress"]  # no text needed: a compression in ~0.1 s


@pytest.fixture(scope="module")
def stored(tmp_path_factory) -> dict[str, Path]:
    """A tiny model folder (+ text) and the folder tnq compress makes of it, written once for the module."""
    root = tmp_path_factory.mktemp("stored")
    folder, text = _model_dir(root)
    compressed = root / "compressed"
    compress_model(tiny_llama(), **from_names(budget=0.5, method="mpo", tokenizer=_tokenizer(), eval_tokens=None,
                                              out=compressed,
                   progress=False))
    return {"model": folder, "text": text, "compressed": compressed}


@pytest.fixture
def copies(stored, tmp_path) -> dict[str, Path]:
    """Copies of the stored folders that a test may damage."""
    return {key: (shutil.copytree if path.is_dir() else shutil.copy)(path, tmp_path / path.name)
            for key, path in stored.items()}


@pytest.fixture
def never_loads(monkeypatch):
    """Fail the test if compress_model gets as far as loading the model."""

    def refuse(*_args, **_kwargs):
        raise AssertionError("the model was loaded before the bad option was refused")

    monkeypatch.setattr(compress_module, "_as_loaded", refuse)


class _Keep:
    """capsys for ``assert_cli_cleanly`` that keeps what it read, so that a test can check the message too."""

    def __init__(self, capsys) -> None:
        self.capsys, self.err = capsys, ""

    def readouterr(self):
        captured = self.capsys.readouterr()
        self.err = captured.err
        return captured


def _run(argv: list[str], capsys, inputs: list[Path]) -> tuple[int, str]:
    """``tnq compress argv`` through ``assert_cli_cleanly`` (exit 0 or 2, no traceback, inputs unchanged):
    (exit code, what it wrote on stderr)."""
    keep = _Keep(capsys)
    code = assert_cli_cleanly(main, ["compress", *argv], keep, inputs)
    return code, keep.err


# --- outputs: never the input, never an unrelated folder, replaced only when complete ---------------------------
def test_an_out_that_is_holds_or_sits_in_the_input_is_refused_before_loading(copies, capsys, never_loads):
    model = copies["model"]
    (model.parent / "unrelated.txt").write_text("keep me")
    everything = [model.parent]
    for out, message in ((model, "is the input"), (model.parent, "contains the input"),
                         (model / "sub", "is inside the input")):
        code, err = _run([str(model), "--out", str(out), "--overwrite", *QUICK], capsys, everything)
        assert code == 2 and err.count("\n") == 1 and f"--out '{out}' {message}" in err
    compressed = copies["compressed"]  # a folder tnq compress wrote: --overwrite alone would allow replacing it
    code, err = _run([str(compressed), "--out", str(compressed), "--overwrite", *QUICK], capsys, [compressed])
    assert code == 2 and "is the input" in err
    with pytest.raises(UsageError, match="out .* is the input"):
        compress_model(str(model), **from_names(out=model, overwrite=True))


def test_overwrite_replaces_only_folders_tnq_compress_wrote(copies, tmp_path, capsys):
    model, out = copies["model"], tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("a typo must not wipe this")
    code, err = _run([str(model), "--out", str(out), "--overwrite", *QUICK], capsys, [out])
    assert code == 2 and err.count("\n") == 1
    assert "is not a folder tnq compress wrote (it has no config.json, model.safetensors, tnq_compress.json)" in err
    (out / "notes.txt").unlink()  # an empty folder is replaced
    assert _run([str(model), "--out", str(out), "--overwrite", *QUICK], capsys, [model])[0] == 0
    first = digest(out)
    code, err = _run([str(model), "--out", str(out), *QUICK], capsys, [out])
    assert code == 2 and "already exists (pass overwrite / --overwrite to replace it)" in err
    assert _run([str(model), "--out", str(out), "--overwrite", "--budget", "0.3", *QUICK], capsys, [model])[0] == 0
    assert digest(out) != first and load_compressed(out).model is not None  # a folder tnq compress wrote: replaced
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_a_failed_save_keeps_the_folder_it_was_to_replace(tmp_path, monkeypatch):
    import safetensors.torch

    out = tmp_path / "out"
    compress_model(tiny_llama(), **from_names(budget=0.5, method="svd", eval_tokens=None, out=out))
    before = digest(out)

    def disk_full(*_args, **_kwargs):
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(safetensors.torch, "save_model", disk_full)
        with pytest.raises(OSError, match="No space left"):
            compress_model(tiny_llama(1), **from_names(budget=0.3, method="svd", eval_tokens=None, out=out,
                                                       overwrite=True))
    assert digest(out) == before
    real_replace = os.replace

    def fail_the_swap(src, dst):  # the new folder is complete, renaming it into place fails
        if Path(dst) == out and Path(src).name.endswith(".tmp"):
            raise OSError(5, "Input/output error")
        return real_replace(src, dst)

    monkeypatch.setattr(persist_module.os, "replace", fail_the_swap)
    with pytest.raises(OSError, match="Input/output error"):
        compress_model(tiny_llama(1), **from_names(budget=0.3, method="svd", eval_tokens=None, out=out, overwrite=True))
    assert digest(out) == before and [p.name for p in tmp_path.iterdir()] == ["out"]  # no temporary leftovers


def test_recompressing_a_compressed_model_saves_a_folder_that_loads(copies, tmp_path):
    out = tmp_path / "again"
    result = compress_model(str(copies["compressed"]), **from_names(budget=0.5, method="svd", layers="lm_head",
                                                                    eval_tokens=None,
                            out=out))
    back = load_model(out)
    x = tokens(40)[None]
    with torch.no_grad():
        torch.testing.assert_close(back.model(x).logits, result.model(x).logits, rtol=1e-5, atol=1e-5)


def test_bad_output_paths_are_refused_before_the_model_loads(copies, tmp_path, capsys, never_loads):
    model, text = copies["model"], copies["text"]
    afile = tmp_path / "afile"
    afile.write_text("x")
    base = [str(model), "--text", str(text), "--no-progress"]
    healing = ["--heal-steps", "2"]
    cases = [
        (["--sensitivity", "--plot", str(tmp_path / "s.xyz")], "--plot '", "unsupported file type .xyz"),
        (["--sensitivity", "--plot", str(afile / "s.png")], "--plot '", "is a file, not a folder"),
        (["--sensitivity", "--plot", str(text)], "--plot '", "is the input"),
        (["--plot", str(tmp_path / "s.png")], "sensitivity plot needs the sensitivity profile"),
        (["--out", str(afile)], "--out '", "is a file; give a folder"),
        (["--out", str(tmp_path / "o"), *healing, "--heal-checkpoint", str(tmp_path / "o" / "h.safetensors")],
         "--heal-checkpoint '", "is inside --out"),
        ([*healing, "--heal-checkpoint", str(tmp_path / "h.safetensors"), "--heal-samples", "64", "--samples-cache",
          str(tmp_path / "h.safetensors")], "--heal-checkpoint and --samples-cache name the same file"),
        ([*healing, "--heal-checkpoint", str(model / "h.safetensors")], "--heal-checkpoint '", "is inside the input"),
        ([*healing, "--heal-checkpoint", str(afile / "h.safetensors")], "--heal-checkpoint '",
         "is a file, not a folder"),
    ]
    for argv, *messages in cases:
        code, err = _run(base + argv, capsys, [model, text])
        assert code == 2 and err.count("\n") == 1 and all(m in err for m in messages), (argv, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["afile", *(p.name for p in copies.values())])


# --- SIGTERM ----------------------------------------------------------------------------------------------------
def _signal_at(model, number: int, step: int):
    """Send signal ``number`` to this process during the forward pass of healing step ``step`` (0-based)."""
    calls = {"n": 0}

    def hook(*_):
        calls["n"] += 1
        if calls["n"] == step + 1:
            signal.raise_signal(number)

    return model.model.embed_tokens.register_forward_hook(hook)


@pytest.fixture
def sigterm_ignored():
    """A do-nothing SIGTERM handler for the test (restored after): code that failed to handle SIGTERM would
    otherwise let it end the test run instead of failing the test."""

    def ignore(*_):
        return None

    previous = signal.signal(signal.SIGTERM, ignore)
    yield ignore
    signal.signal(signal.SIGTERM, previous)


def test_sigterm_during_healing_saves_the_checkpoint_like_ctrl_c(tmp_path):
    from tnq.compress.heal_checkpoint import CHECKPOINT_KEY
    from tnq.io import read_safetensors

    options = dict(steps=8, window=32, progress=False)
    student, modules, teacher, ids = _heal_setup()
    checkpoint = tmp_path / "heal.safetensors"
    sentinel = {number: (lambda *_: None) for number in (signal.SIGINT, signal.SIGTERM)}
    previous = {number: signal.signal(number, handler) for number, handler in sentinel.items()}
    try:
        handle = _signal_at(student, signal.SIGTERM, 2)
        with pytest.raises(HealingInterrupted, match=r"after 3 steps; its state is saved in .*heal\.safetensors"):
            heal(student, modules, ids, teacher=teacher, checkpoint=checkpoint, **options)
        handle.remove()
        assert {n: signal.getsignal(n) for n in sentinel} == sentinel  # both handlers restored
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    _, meta = read_safetensors(checkpoint, CHECKPOINT_KEY, MPOError)
    assert meta["step"] == 3
    assert len(heal(student, modules, ids, teacher=teacher, checkpoint=checkpoint, **options)) == 8  # goes on


def test_sigterm_in_the_cli_saves_healing_and_removes_half_written_output(copies, tmp_path, capsys, monkeypatch,
                                                                          sigterm_ignored):
    import safetensors.torch

    import tnq.compress.heal as heal_module

    model, text = copies["model"], copies["text"]
    checkpoint, out = tmp_path / "heal.safetensors", tmp_path / "out"
    real_loss, calls = heal_module._loss, {"n": 0}

    def terminated_at_step_two(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            signal.raise_signal(signal.SIGTERM)
        return real_loss(*args, **kwargs)

    argv = [str(model), "--text", str(text), "--method", "svd", "--eval-tokens", "512", "--eval-window", "128",
            "--window", "64", "--heal-steps", "6", "--heal-checkpoint", str(checkpoint), "--no-progress"]
    monkeypatch.setattr(heal_module, "_loss", terminated_at_step_two)
    code, err = _run(argv, capsys, [model, text])
    assert code == 2 and err.count("\n") == 1 and "healing interrupted after 2 steps; its state is saved" in err
    assert checkpoint.is_file() and signal.getsignal(signal.SIGTERM) is sigterm_ignored
    monkeypatch.setattr(heal_module, "_loss", real_loss)

    def terminated(*_args, **_kwargs):
        signal.raise_signal(signal.SIGTERM)

    monkeypatch.setattr(safetensors.torch, "save_model", terminated)  # SIGTERM while the output is written
    assert main(["compress", *argv, "--out", str(out)]) == 128 + signal.SIGTERM
    assert capsys.readouterr().err == "tnq: terminated\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["heal.safetensors", model.name, text.name,
                                                                 copies["compressed"].name])


def test_sigterm_as_interrupt_raises_keyboard_interrupt_and_restores_the_handler(sigterm_ignored):
    with pytest.raises(KeyboardInterrupt), sigterm_as_interrupt():
        signal.raise_signal(signal.SIGTERM)
    assert signal.getsignal(signal.SIGTERM) is sigterm_ignored


# --- numbers ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("option, value, message", [
    ("--budget", "nan", "must be a finite number"), ("--budget", "0", "must be in (0, 1]"),
    ("--budget", "1.5", "must be in (0, 1]"), ("--heal-lr", "0", "must be > 0"),
    ("--heal-lr", "inf", "must be a finite number"), ("--seed", "-3", "must be in [0, 4294967295]"),
    ("--seed", str(2**32), "must be in [0, 4294967295]"), ("--heal-minutes", "-1", "must be >= 0"),
    ("--heal-minutes", "nan", "must be a finite number"), ("--eval-tokens", "-5", "must be >= 0"),
    ("--calibration-tokens", "0", "must be >= 1"), ("--heal-samples", "-1", "must be >= 0"),
    ("--site-margin", "0", "must be in (0, 1]"), ("--window", "1", "must be >= 2"),
    ("--heal-label-weight", "1.5", "must be in [0, 1]"), ("--sequential-ridge", "-1", "must be >= 0"),
    ("--sensitivity-strength", "inf", "must be a finite number"), ("--cores", "0", "must be >= 1"),
    ("--threads", "0", "must be >= 1"), ("--fit-steps", "1.5", "expected an integer"),
    ("--heal-hidden-weight", "x", "expected a number"),
])
def test_cli_refuses_bad_numbers_in_one_line(option, value, message, capsys, tmp_path):
    with pytest.raises(SystemExit) as refused:
        main(["compress", str(tmp_path), option, value])
    err = capsys.readouterr().err
    assert refused.value.code == 2 and err.count("\n") == 1 and f"argument {option}: {message}" in err


@pytest.mark.parametrize("name, value, message", [
    ("budget", math.nan, "budget must be a fraction"), ("heal_lr", 0.0, "heal_lr must be > 0, got 0.0"),
    ("heal_lr", math.nan, "heal_lr must be a finite number > 0"),
    ("seed", -3, "seed must be in [0, 4294967295], got -3"),
    ("heal_seconds", math.inf, "heal_seconds must be None or a finite number >= 0"),
    ("eval_tokens", -5, "eval_tokens must be >= 0"), ("calibration_tokens", 0, "calibration_tokens must be >= 1"),
    ("fit_steps", 1.5, "fit_steps must be an integer >= 0"), ("window", 1, "window must be >= 2"),
    ("heal_label_weight", math.nan, "heal_label_weight must be a finite number in [0, 1]"),
    ("sequential_ridge", math.inf, "sequential_ridge must be a finite number >= 0"),
    ("site_margin", math.nan, "site_margin must be a finite number in (0, 1]"),
    ("heal_batch_size", True, "heal_batch_size must be None or an integer >= 1"),
    ("n_cores", 0, "n_cores must be >= 1"),
    ("heal_sample_tokens", -1, "heal_sample_tokens must be >= 0"), ("heal_hidden_weight", "1", "a finite number"),
])
def test_compress_model_refuses_bad_numbers_naming_the_parameter(name, value, message):
    with pytest.raises(MPOError) as refused:  # a model that does not exist: refused before loading
        compress_model("/nonexistent/model", **from_names(**{name: value}))
    assert message in str(refused.value)


# --- damaged model files ----------------------------------------------------------------------------------------
def _fuzz(read, path: Path, cases: int, seed: int) -> None:
    """Seeded mutations of ``path``'s bytes and random bytes, each read by ``read(path)``; restores ``path``."""
    valid = path.read_bytes()
    try:
        for data in mutations(valid, cases, seed) + random_bytes(3, seed, max_len=64):
            assert_reads_cleanly(read, path, data)
    finally:
        path.write_bytes(valid)


@pytest.mark.parametrize("name, whole", [("model.safetensors", True), ("model.safetensors", False),
                                         ("config.json", True), ("tokenizer.json", True)])
def test_model_folder_files_fuzzed_never_escape_the_loader(copies, name, whole):
    """Read through the folder (``whole``) or, for the weights, the .safetensors file itself."""
    _fuzz(lambda p: load_model(p.parent if whole else p), copies["model"] / name, 14, seed=len(name) + whole)


@pytest.mark.parametrize("name", ["model.safetensors", "tnq_compress.json", "config.json"])
def test_compressed_folder_files_fuzzed_never_escape_the_loader(copies, name):
    _fuzz(lambda p: load_compressed(p.parent), copies["compressed"] / name, 16, seed=len(name) + 100)


def _tiny_gguf(path: Path) -> None:
    """A minimal llama GGUF (embeddings only; the other weights start random) that transformers reads."""
    gguf = pytest.importorskip("gguf")
    import numpy as np

    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_block_count(2)
    writer.add_context_length(64)
    writer.add_embedding_length(16)
    writer.add_feed_forward_length(32)
    writer.add_head_count(2)
    writer.add_head_count_kv(2)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_vocab_size(8)
    writer.add_tokenizer_model("llama")
    writer.add_token_list([f"t{i}" for i in range(8)])
    writer.add_token_scores([0.0] * 8)
    writer.add_token_types([1] * 8)
    writer.add_tensor("token_embd.weight", np.arange(128, dtype=np.float32).reshape(8, 16))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def test_gguf_fuzzed_never_escapes_the_loader(tmp_path):
    path = tmp_path / "tiny.gguf"
    _tiny_gguf(path)
    loaded = load_model(path)
    torch.testing.assert_close(loaded.model.get_input_embeddings().weight,
                               torch.arange(128, dtype=torch.float32).reshape(8, 16))
    _fuzz(load_model, path, 20, seed=11)


def _edit_json(path: Path, edit) -> None:
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


def test_damaged_files_name_the_file_and_absurd_sizes_are_refused_before_allocating(copies):
    folder, compressed = copies["model"], copies["compressed"]
    weights = folder / "model.safetensors"
    valid = weights.read_bytes()
    weights.write_bytes(valid[:len(valid) // 2])
    for source in (folder, weights):
        with pytest.raises(TnqError, match=f"{weights}: cannot load the model's weights"):
            load_model(source)
    weights.write_bytes(valid)
    config = folder / "config.json"
    original = config.read_text()
    for edit, message in ((lambda c: c.update(vocab_size=10**12), "over the memory budget"),
                          (lambda c: c.update(intermediate_size=100_000), "the model it describes needs"),
                          (lambda c: c.update(hidden_size="x"), None)):  # refused by the config or by the weights
        _edit_json(config, edit)
        with pytest.raises(TnqError, match=message) as refused:
            load_model(folder)
        assert str(config if message else folder) in str(refused.value)
        config.write_text(original)
    described = compressed / "tnq_compress.json"
    layer = "model.layers.0.mlp.up_proj"
    for edit, message in ((lambda m: m.update(dtype="nn"), "dtype 'nn' is not one of"),
                          (lambda m: m.update(model_class="pipeline"), "no model class 'pipeline'"),
                          (lambda m: m["layers"][layer].update(core_shapes=[[1, 8, 8, 10**9], [10**9, 16, 16, 1]]),
                           "the compressed layers it records need"),
                          (lambda m: m["layers"][layer].update(core_shapes="x"), "has a malformed description"),
                          (lambda m: m["layers"].update({"model.nothing": m["layers"][layer]}),
                           "'model.nothing' is not a linear layer"),
                          (lambda m: m.update(layers=[]), "no layers recorded")):
        before = described.read_text()
        _edit_json(described, edit)
        with pytest.raises(MPOError, match=message) as refused:
            load_compressed(compressed)
        assert str(described) in str(refused.value)
        described.write_text(before)
    (compressed / "model.safetensors").write_bytes(b"\x08" + bytes(20))
    with pytest.raises(MPOError, match="compressed/model.safetensors: not a readable safetensors file"):
        load_compressed(compressed)


def test_cli_on_a_corrupted_model_is_one_line(copies, capsys):
    folder = copies["model"]
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    argv = ["compress", str(folder), *QUICK, "--out", str(folder.parent / "out")]
    assert assert_cli_cleanly(main, argv, capsys, [folder]) == 2
    assert not (folder.parent / "out").exists()
    broken = copies["compressed"] / "tnq_compress.json"
    broken.write_bytes(b"\xff\xfe{")
    assert assert_cli_cleanly(main, ["compress", str(broken.parent), *QUICK], capsys, [broken.parent]) == 2
