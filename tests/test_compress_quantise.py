"""Quantisation in the compression registry: round-to-nearest against a numpy reference on the same grid, int4
packing, byte counts and byte budgets, the int8-factor combinations, healing of quantised layers, saving and
loading through the registry and in transformers alone (trust_remote_code)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from safetensors.torch import load_file, save_file  # noqa: E402
from test_compress_export import LOADER, _tolerance  # noqa: E402
from test_mpo_compress import tiny_bert, tiny_llama, tokens  # noqa: E402

from tnq.cli.main import build_parser  # noqa: E402
from tnq.compress import compress_model, from_names, load_compressed  # noqa: E402
from tnq.compress.budget import check_budget  # noqa: E402
from tnq.compress.methods import get_method, layer_kinds  # noqa: E402
from tnq.compress.methods.base import storage_bytes  # noqa: E402
from tnq.compress.methods.quantise import RoundToNearest, factor_params, quantise  # noqa: E402
from tnq.mpo import MPOError  # noqa: E402
from tnq.mpo.remote_code import (  # noqa: E402
    CompressedQuantLinear,
    CompressedQuantLowRankLinear,
    CompressedQuantMPOLinear,
    CompressedQuantPlusLowRankLinear,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

COMMON = dict(tokens=tokens(), eval_tokens=None, calibration_tokens=512, window=64, progress=False)


def reference_rtn(w: np.ndarray, bits: int, group: int) -> tuple[np.ndarray, np.ndarray]:
    """numpy round-to-nearest: groups of ``group`` consecutive values (row-major, the last one shorter), float16 scale
    max|x| / (2^(bits-1) - 1), values rounded half to even and clipped; returns (dequantised, per-value scale)."""
    top = 2 ** (bits - 1) - 1
    flat = np.zeros(-(-w.size // group) * group)
    flat[:w.size] = w.reshape(-1)
    groups = flat.reshape(-1, group)
    scale = (np.abs(groups).max(axis=1) / top).astype(np.float16).astype(np.float64)
    safe = np.where(scale > 0, scale, 1.0)[:, None]
    q = np.clip(np.rint(groups / safe), -top, top)
    return (q * scale[:, None]).reshape(-1)[:w.size].reshape(w.shape), np.repeat(scale, group)[:w.size].reshape(w.shape)


@pytest.mark.parametrize("bits, group", [(8, 40), (4, 40), (4, 32), (8, 64), (4, 7)])
def test_round_to_nearest_matches_numpy_on_the_same_grid(bits, group):
    rng = np.random.default_rng(bits * 100 + group)
    w = rng.standard_normal((24, 40)) * np.exp(rng.standard_normal((24, 1)))  # rows of very different scales
    w[3] = 0.0  # a zero group
    w[5, 7] = 50.0  # an outlier
    w = w.astype(np.float32).astype(np.float64)  # what the quantiser sees
    q = quantise(torch.as_tensor(w, dtype=torch.float32), bits, group)
    ours = q(torch.float64).numpy()
    expected, scale = reference_rtn(w, bits, group)
    # the product q * scale is formed in float32: one rounding of a value of size |w|
    assert np.allclose(ours, expected, rtol=2 * np.finfo(np.float32).eps, atol=0)
    # round-to-nearest: no value is further than half a step from its original (clamping at the group's max
    # costs at most (2^(bits-1) - 1) float16 rounding errors of the scale, far below half a step)
    assert np.all(np.abs(ours - w) <= scale / 2 + 2 * np.finfo(np.float32).eps * np.abs(w))
    assert np.all(ours[3] == 0.0) and ours[5, 7] == pytest.approx(50.0, rel=1e-3)
    wrong = reference_rtn(w, bits, group * 2 if 40 % (group * 2) == 0 else group + 1)[0]
    assert not np.allclose(ours, wrong, rtol=1e-6, atol=0)  # the comparison tells groupings apart


def test_int4_values_are_packed_two_per_byte_low_nibble_first():
    values = torch.tensor([[-7, 7, 0, 3, -1, 2, 5]], dtype=torch.float32)  # group max 7: scale exactly 1
    q = quantise(values, 4, 7)
    assert q.data.dtype == torch.uint8 and q.data.numel() == 4 and q.scales.tolist() == [1.0]
    nibbles = [v + 8 for v in [-7, 7, 0, 3, -1, 2, 5]] + [0]
    assert q.data.tolist() == [lo | hi << 4 for lo, hi in zip(nibbles[0::2], nibbles[1::2])]
    assert torch.equal(q(torch.float32), values)
    rng = torch.Generator().manual_seed(0)
    w = torch.randn(16, 32, generator=rng)
    eight, four = quantise(w, 8, 32), quantise(w, 4, 32)
    assert (eight.data.dtype, eight.data.numel(), four.data.numel()) == (torch.int8, 512, 256)


def test_quantising_weights_beyond_float16_is_refused():
    with pytest.raises(MPOError, match="float16"):
        quantise(torch.tensor([[1e9, 1.0]]), 8, 2)
    with pytest.raises(MPOError, match="bits must be 4 or 8"):
        RoundToNearest(bits=5)


@pytest.mark.parametrize("method, spec, values", [
    ("rtn", {"kind": "quant", "shape": [64, 128], "bits": 8, "group": 128, "bias": False}, 64 * 128 + 64),
    ("rtn", {"kind": "quant", "shape": [64, 128], "bits": 4, "group": 32, "bias": True}, 64 * 64 + 256 + 64),
    ("whitened-svd+int8", {"kind": "quant-lowrank", "shape": [64, 128], "rank": 10, "bits": 8, "group": 64,
                           "bias": False}, 1280 + 20 + 640 + 10),
    ("mpo+int8", {"kind": "quant-mpo", "core_shapes": [[1, 8, 16, 5], [5, 8, 8, 1]], "bits": 8, "group": 64,
                  "bias": False}, 640 + 10 + 320 + 5)])
def test_byte_counts_of_saved_layers(method, spec, values):
    cls = layer_kinds()[spec["kind"]]
    assert type(get_method(method)).kind == spec["kind"]
    assert cls.spec_size(spec) == values  # stored values: integers (int4: bytes) and float16 scales
    layer = cls.from_spec(spec, torch.float32)
    stored = sum(t.numel() for t in layer.state_dict().values())
    assert stored == values
    scales = sum(t.numel() for k, t in layer.state_dict().items() if k.endswith("scales"))
    bias = spec["bias"] * 64
    assert storage_bytes(layer) == values - bias + scales  # the scales take 2 bytes each; biases are not weights
    assert cls.spec_size({**spec, "bits": 3}) is None and cls.spec_size({**spec, "group": 0}) is None


@pytest.mark.parametrize("method, options, low", [
    ("whitened-svd", {}, 0.9), ("whitened-svd+int8", {}, 0.9), ("mpo+int8", {}, 0.6),
    ("rtn", {"bits": 4, "group": 32}, None), ("rtn", {}, None)])
def test_byte_budgets_hold_for_every_method(method, options, low):
    budget = 0.3
    report = compress_model(tiny_llama(), **from_names(method, budget=budget, budget_unit="bytes", **options,
                                                       **COMMON)).report
    before = report.layer_bytes_before
    assert before == 2 * report.layer_params_before and report.budget_unit == "bytes"
    assert report.layer_bytes_after == sum(r.bytes_after for r in report.layers)
    if low is None:  # quantisers have a fixed size: d_out x d_in x bits/8 plus 2 bytes per scale
        bits, group = options.get("bits", 8), options.get("group", 0)
        expected = sum(r.shape[0] * r.shape[1] * bits // 8 + 2 * r.shape[0] * (r.shape[1] // (group or r.shape[1]))
                       for r in report.layers)
        assert report.layer_bytes_after == expected
    else:
        assert low * budget * before <= report.layer_bytes_after <= budget * before
    assert "bytes in float16" in report.format_text()


def test_factor_params_fit_their_bytes():
    for max_bytes in (1000, 4096, 50_000):
        for tensors in (2, 3):
            n = factor_params(max_bytes, tensors)
            shares = [n // tensors + (i < n % tensors) for i in range(tensors)]
            assert sum(k + 2 * -(-k // 64) for k in shares) <= max_bytes < 33 / 32 * (n + 1) + 2 * tensors


def test_int8_factors_buy_a_larger_rank_and_a_lower_error_at_the_same_bytes():
    def errors(method):
        report = compress_model(tiny_llama(), **from_names(method, budget=0.3, budget_unit="bytes", **COMMON)).report
        return [r.chi[0] for r in report.layers], np.mean([r.activation_error for r in report.layers])

    (plain_ranks, plain), (int8_ranks, quantised) = errors("whitened-svd"), errors("whitened-svd+int8")
    assert all(q >= 1.8 * p for p, q in zip(plain_ranks, int8_ranks))
    assert quantised < plain


def test_quantised_layers_heal_in_float_and_come_back_quantised():
    kept = compress_model(tiny_llama(), **from_names("rtn", **COMMON))
    healed = compress_model(tiny_llama(), **from_names("rtn", heal_steps=3, heal_lr=0.05, **COMMON))
    name = "model.layers.0.mlp.down_proj"
    before, after = kept.model.get_submodule(name), healed.model.get_submodule(name)
    assert isinstance(after, CompressedQuantLinear) and healed.specs[name]["kind"] == "quant"
    assert not torch.equal(before.weight_q.data, after.weight_q.data)  # healing changed the stored integers
    assert healed.report.heal_steps == 3


EXPORTS = [("llama", "rtn", {"bits": 4, "group": 32}, CompressedQuantLinear),
           ("llama", "whitened-svd+int8", {}, CompressedQuantLowRankLinear),
           ("bert", "mpo+int8", {}, CompressedQuantMPOLinear),
           ("llama", "gptq", {"bits": 4, "group": 32}, CompressedQuantLinear),
           ("llama", "gptq+lowrank", {"bits": 4, "group": 64, "gptq_finer": False}, CompressedQuantPlusLowRankLinear),
           ("bert", "gptq+lowrank", {"bits": 4, "group": 48, "gptq_finer": False}, CompressedQuantPlusLowRankLinear)]


def test_quantised_folders_load_in_tnq_and_in_transformers_alone(tmp_path):
    """Every quantising method (round-to-nearest, GPTQ, int8 factors, GPTQ + low-rank) writes a folder that tnq
    loads exactly and transformers loads alone, with tnq blocked from import."""
    ids = tokens(48, seed=3)[None]
    save_file({"ids": ids}, str(tmp_path / "ids.safetensors"))
    jobs, cases = [], []
    for arch, method, options, layer_type in EXPORTS:
        folder = tmp_path / f"{arch}-{method}"
        original = tiny_llama() if arch == "llama" else tiny_bert()
        key = "logits" if arch == "llama" else "last_hidden_state"
        with torch.no_grad():
            before = original(ids)[key]
        compress_model(original, **from_names(method, budget=0.3, budget_unit="bytes", out=folder, **options,
                                              **COMMON))
        loaded = load_compressed(folder).model
        assert isinstance(loaded.get_submodule("model.layers.1.mlp.up_proj" if arch == "llama" else
                                               "encoder.layer.1.intermediate.dense"), layer_type)
        with torch.no_grad():
            ours, direct = loaded(ids)[key], original(ids)[key]
        assert torch.equal(ours, direct)  # the stored integers and scales are the model
        config = json.loads((folder / "config.json").read_text())
        assert all(s["kind"].startswith("quant") for s in config["tnq_compressed_layers"].values())
        result = tmp_path / f"{arch}-{method}.safetensors"
        jobs.append(dict(folder=str(folder), ids=str(tmp_path / "ids.safetensors"), key=key, result=str(result),
                         auto="AutoModelForCausalLM" if arch == "llama" else "AutoModel"))
        cases.append((ours, before, result, original.config))
    blocker = tmp_path / "no-tnq"
    (blocker / "tnq").mkdir(parents=True)
    (blocker / "tnq" / "__init__.py").write_text("raise ImportError('tnq is not installed here')\n")
    env = {**os.environ, "PYTHONPATH": str(blocker), "HF_MODULES_CACHE": str(tmp_path / "hf-modules"),
           "HF_HUB_OFFLINE": "1", "TRANSFORMERS_VERBOSITY": "error"}
    run = subprocess.run([sys.executable, "-c", LOADER, json.dumps(jobs)], cwd=tmp_path, env=env,
                         capture_output=True, stdin=subprocess.DEVNULL, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    for ours, before, result, config in cases:
        theirs = load_file(str(result))["out"]
        tol = _tolerance(ours, config.num_hidden_layers, config.hidden_size)
        assert torch.allclose(theirs, ours, rtol=0, atol=tol)
        assert float((before - ours).abs().max()) > 10 * tol  # quantised: not the original weights


def test_budget_unit_on_the_command_line_and_in_python():
    args = build_parser().parse_args(["compress", "m", "--method", "rtn", "--bits", "4", "--group", "64",
                                      "--budget-unit", "bytes", "--budget", "0.28"])
    assert (args.budget_unit, args.budget, args.bits, args.group) == ("bytes", 0.28, 4, 64)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["compress", "m", "--budget-unit", "bits"])
    with pytest.raises(MPOError, match="budget_unit must be one of params, bytes"):
        check_budget(0.5, "bits")
    with pytest.raises(MPOError, match="bytes in float16"):
        check_budget(1.5, "bytes")
    assert math.isclose(check_budget(0.28, "bytes"), 0.28)


def test_tnq_compress_quantises_from_the_command_line(tmp_path, capsys):
    from test_compress_input import _model_dir

    from tnq.cli.main import main

    folder, _ = _model_dir(tmp_path)
    out = tmp_path / "int4"
    argv = ["compress", str(folder), "--method", "rtn", "--bits", "4", "--group", "32", "--eval-tokens", "0",
            "--no-progress", "--json", "--out", str(out)]
    assert main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["layer_bytes_after"] / report["layer_bytes_before"] == pytest.approx((4 + 16 / 32) / 16)
    loaded = load_compressed(out).model
    assert all(isinstance(loaded.get_submodule(layer["name"]), CompressedQuantLinear) for layer in report["layers"])
    assert main([*argv[:5], "5", *argv[6:-2]]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "bits must be 4 or 8, got 5" in err
