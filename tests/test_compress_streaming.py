"""Streaming compression (``stream=True`` / ``--stream``) against the in-memory pipeline: the same settings give the
same saved model, the same quality figures and the same sizes, while at most one block is ever in memory; sharded
and bfloat16 checkpoints, encoders without a pooler, and one clear error for what streaming cannot do.

Tolerances: both paths run the same float32 operations on the same batches in the same order (the streamed blocks
receive exactly the arguments the model's forward pass gives them), so they agree to rounding; the margin 1e-5
(relative) only allows for BLAS reductions that split work differently between calls."""

from __future__ import annotations

import gc
import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import transformers
from safetensors.torch import load_file, save_file
from test_mpo_compress import VOCAB, _tokenizer, tiny_bert, tiny_llama, tokens

from tnq.cli.main import main
from tnq.compress.models import load_model
from tnq.compress.options import from_names
from tnq.compress.persist import join_safetensors
from tnq.compress.pipeline import compress_model
from tnq.compress.streaming import Checkpoint
from tnq.mpo import MPOError

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _llama(scale: float = 6.0, blocks: int = 3):
    """A tiny Llama whose block weights are large enough that compressing them changes its perplexity."""
    config = tiny_llama().config
    config.num_hidden_layers = blocks
    torch.manual_seed(0)
    model = transformers.LlamaForCausalLM(config).eval()
    with torch.no_grad():
        for name, param in model.model.layers.named_parameters():
            if "norm" not in name:
                param.mul_(scale)
    return model


def _source(tmp_path: Path, model, **save) -> tuple[Path, Path]:
    folder = tmp_path / "source"
    model.save_pretrained(folder, **save)
    _tokenizer().save_pretrained(folder)
    words = [f"w{int(t) % (VOCAB - 2)}" for t in tokens(5000)]
    text = tmp_path / "text.txt"
    text.write_text(". ".join(" ".join(words[i:i + 12]) for i in range(0, len(words), 12)))
    return folder, text


def _both(tmp_path: Path, source: Path, text: Path, method: str, **settings):
    results = {}
    for stream in (False, True):
        out = tmp_path / f"out-{stream}"
        results[stream] = (compress_model(str(source), **from_names(
            method, budget=0.5, text=str(text), out=str(out), stream=stream, eval_tokens=1024,
            calibration_tokens=1024, seed=0, **settings)).report, out)
    return results


def _same_state(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sorted(sa) == sorted(sb)
    for key in sa:
        x, y = sa[key].double(), sb[key].double()
        assert torch.allclose(x, y, rtol=1e-5, atol=1e-5 * float(x.abs().max() or 1)), key


@pytest.mark.parametrize("method", ["whitened-svd", "mpo", "gptq", "rtn"])
def test_streaming_gives_the_in_memory_result(tmp_path, method):
    source, text = _source(tmp_path, _llama())
    results = _both(tmp_path, source, text, method, max_slowdown=None)
    (memory, memory_out), (streamed, streamed_out) = results[False], results[True]
    assert streamed.streamed and not memory.streamed
    assert streamed.quality_before == pytest.approx(memory.quality_before, rel=1e-5)
    assert streamed.quality_compressed == pytest.approx(memory.quality_compressed, rel=1e-5)
    assert abs(memory.quality_compressed - memory.quality_before) > 1e-3  # compression mattered: a real check
    for key in ("params_before", "bytes_before", "params_after", "bytes_after", "layer_params_after",
                "layer_bytes_after"):
        assert getattr(streamed, key) == getattr(memory, key), key
    assert [r.name for r in streamed.layers] == [r.name for r in memory.layers]
    for a, b in zip(memory.layers, streamed.layers):
        assert (a.params_after, a.chi) == (b.params_after, b.chi)
        assert (b.activation_error is None) == (a.activation_error is None)
        if a.activation_error is not None:
            assert b.activation_error == pytest.approx(a.activation_error, rel=1e-4, abs=1e-7)
    _same_state(load_model(memory_out).model, load_model(streamed_out).model)
    assert streamed.peak_memory and memory.peak_memory


@pytest.mark.filterwarnings("ignore::tnq.compress.speed.SlowdownWarning")
def test_streaming_reads_sharded_bfloat16_checkpoints_and_chooses_forms(tmp_path):
    source, text = _source(tmp_path, _llama().to(torch.bfloat16), max_shard_size="40KB")
    assert (source / "model.safetensors.index.json").exists() and len(list(source.glob("*.safetensors"))) > 2
    results = _both(tmp_path, source, text, "whitened-svd")
    (memory, memory_out), (streamed, streamed_out) = results[False], results[True]
    loaded = load_model(streamed_out).model
    assert next(loaded.parameters()).dtype == torch.bfloat16
    _same_state(load_model(memory_out).model, loaded)
    assert all(r.forms for r in streamed.layers)  # each layer's form still timed
    assert streamed.speed is None and memory.speed is not None  # the whole model is never there to time


def test_streaming_an_encoder_saved_without_its_pooler(tmp_path):
    source, text = _source(tmp_path, tiny_bert())
    results = _both(tmp_path, source, text, "mpo", max_slowdown=None)
    (memory, memory_out), (streamed, streamed_out) = results[False], results[True]
    assert streamed.quality_before == pytest.approx(1.0) and memory.quality_before == pytest.approx(1.0)
    assert streamed.quality_compressed == pytest.approx(memory.quality_compressed, rel=1e-5)
    assert streamed.quality_compressed < 0.99999
    a, b = load_model(memory_out).model, load_model(streamed_out).model
    blocks = {k for k in a.state_dict() if ".layer." in k}
    for key in blocks:
        assert torch.allclose(a.state_dict()[key], b.state_dict()[key], rtol=1e-5, atol=1e-6), key


def _live_tensor_bytes() -> int:
    """Bytes of every tensor storage Python can reach (each storage once), meta tensors excluded."""
    seen, total = set(), 0
    with warnings.catch_warnings():  # isinstance on some of torch's deprecated objects warns
        warnings.simplefilter("ignore")
        tensors = [obj for obj in gc.get_objects() if isinstance(obj, torch.Tensor) and not obj.is_meta]
    for obj in tensors:
        storage = obj.untyped_storage()
        if storage.data_ptr() not in seen:
            seen.add(storage.data_ptr())
            total += storage.nbytes()
    return total


@pytest.mark.parametrize("method", ["whitened-svd", "mpo"])
def test_one_block_at_a_time_and_nothing_kept_from_the_blocks_done(tmp_path, monkeypatch, method):
    """When a block is loaded, every other block is on the meta device, and the memory Python can reach is the
    same at the second and third block: nothing of a finished block (its weights, its compressed layers, what they
    keep for inference) stays behind."""
    import tnq.compress.streaming as streaming

    source, text = _source(tmp_path, _llama())
    seen: list[tuple[int, int]] = []
    load, empty = Checkpoint.load, streaming.empty_model
    models = []

    def watched(self, module, prefix, *args, **kwargs):
        if prefix:
            real = sum(not all(p.is_meta for p in block.parameters()) for block in models[0].model.layers)
            seen.append((real, _live_tensor_bytes()))
        return load(self, module, prefix, *args, **kwargs)

    monkeypatch.setattr(Checkpoint, "load", watched)
    monkeypatch.setattr(streaming, "empty_model", lambda *args: models.append(empty(*args)) or models[0])
    compress_model(str(source), **from_names(method, budget=0.5, text=str(text), out=str(tmp_path / "o"),
                                             stream=True, eval_tokens=512, calibration_tokens=512))
    assert [real for real, _ in seen] == [0, 0, 0]
    assert seen[2][1] == seen[1][1]


def test_join_safetensors_keeps_every_tensor_and_refuses_duplicates(tmp_path):
    rng = np.random.default_rng(0)
    parts = {
        "a": {"odd.bf16": torch.randn(3, 5).to(torch.bfloat16), "int8": torch.tensor(rng.integers(-9, 9, 7),
                                                                                     dtype=torch.int8)},
        "b": {"f32": torch.randn(4, 3), "f64": torch.randn(5, dtype=torch.float64)},
        "c": {"f16": torch.randn(1, 9).to(torch.float16), "i64": torch.arange(3)},
    }
    paths = []
    for name, tensors in parts.items():
        paths.append(tmp_path / f"{name}.safetensors")
        save_file(tensors, str(paths[-1]))
    join_safetensors(paths, tmp_path / "all.safetensors", chunk=5)
    joined = load_file(str(tmp_path / "all.safetensors"))
    expected = {k: v for tensors in parts.values() for k, v in tensors.items()}
    assert sorted(joined) == sorted(expected)
    for key, tensor in expected.items():
        assert joined[key].dtype == tensor.dtype and torch.equal(joined[key], tensor), key
    save_file({"f32": torch.zeros(2)}, str(tmp_path / "dup.safetensors"))
    with pytest.raises(MPOError, match="'f32' is in two parts"):
        join_safetensors([paths[1], tmp_path / "dup.safetensors"], tmp_path / "bad.safetensors")


@pytest.mark.parametrize("settings, message", [
    ({"heal_steps": 2}, "cannot do healing"),
    ({"calibration": "sequential"}, "cannot do sequential calibration"),
    ({"sensitivity": True}, "cannot do a measured sensitivity profile"),
    ({"out": None}, "give an output folder"),
])
def test_streaming_refuses_what_needs_the_whole_model(tmp_path, settings, message):
    source, text = _source(tmp_path, tiny_llama())
    values = {"budget": 0.5, "text": str(text), "out": str(tmp_path / "o"), "stream": True, **settings}
    with pytest.raises(MPOError, match=message):
        compress_model(str(source), **from_names("whitened-svd", **values))
    assert not (tmp_path / "o").exists()


def test_streaming_needs_safetensors_of_an_original_model(tmp_path, capsys):
    source, text = _source(tmp_path, tiny_llama())
    pickled = tmp_path / "pickled"
    pickled.mkdir()
    (pickled / "config.json").write_text((source / "config.json").read_text())
    (pickled / "pytorch_model.bin").write_bytes(b"not read")
    compressed = tmp_path / "compressed"
    main(["compress", str(source), "--budget", "0.5", "--text", str(text), "--out", str(compressed),
          "--max-slowdown", "0", "--eval-tokens", "0"])
    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(b"GGUF")
    for model, message in ((pickled, "has none"), (compressed, "written by tnq compress"), (gguf, "GGUF")):
        capsys.readouterr()
        code = main(["compress", str(model), "--stream", "--text", str(text), "--out", str(tmp_path / "o")])
        err = capsys.readouterr().err
        assert code == 2 and message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("change, message", [
    ({"intermediate_size": 10**6}, "far more than its weights"),
    ({"vocab_size": 10**9}, "over the memory budget"),
])
def test_streaming_refuses_a_model_that_would_not_fit_before_allocating_it(tmp_path, capsys, monkeypatch, change,
                                                                         message):
    import tnq.compress.streaming as streaming

    source, text = _source(tmp_path, tiny_llama())
    config = json.loads((source / "config.json").read_text())
    (source / "config.json").write_text(json.dumps({**config, **change}))
    monkeypatch.setattr(streaming, "parameters_on_meta", lambda: pytest.fail("the model was built"))
    capsys.readouterr()
    code = main(["compress", str(source), "--stream", "--text", str(text), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and message in err and "config.json" in err and len(err.strip().splitlines()) == 1


def test_cli_stream_reports_its_peak_memory(tmp_path, capsys):
    source, text = _source(tmp_path, _llama())
    code = main(["compress", str(source), "--stream", "--budget", "0.5", "--text", str(text), "--method",
                 "whitened-svd", "--out", str(tmp_path / "o"), "--eval-tokens", "512", "--max-slowdown", "0",
                 "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["streamed"] and report["peak_memory"] > 0
    assert load_model(tmp_path / "o").kind == "causal-lm"
