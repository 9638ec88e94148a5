"""``tnq compress`` on tiny randomly initialised transformers models (no download): layer discovery and its errors,
SVD / whitened-SVD baselines against Eckart-Young optima, Gram collection against captured inputs, activation-aware
MPO fitting, budgets, perplexity against the model's own loss, healing, save/load round trips (no original needed,
atomic on failure) and the CLI."""

from __future__ import annotations

import copy
import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

transformers = pytest.importorskip("transformers")

from tnq.cli.main import main  # noqa: E402
from tnq.compress.budget import allocate  # noqa: E402
from tnq.compress.evaluate import perplexity  # noqa: E402
from tnq.compress.fit import activation_error, collect_grams, whitened_mpo  # noqa: E402
from tnq.compress.heal import heal  # noqa: E402
from tnq.compress.methods.low_rank import svd_linear  # noqa: E402
from tnq.compress.models import (  # noqa: E402
    ModelError,
    find_linears,
    layer_role,
    linear_layers,
    load_model,
    set_module,
)
from tnq.compress.options import from_names  # noqa: E402
from tnq.compress.persist import load_compressed  # noqa: E402
from tnq.compress.pipeline import compress_model  # noqa: E402
from tnq.compress.report import model_size  # noqa: E402
from tnq.compress.sequential import compress_sequentially, corrected_target  # noqa: E402
from tnq.errors import TnqError  # noqa: E402
from tnq.mpo import MPOError  # noqa: E402
from tnq.mpo.als import als_fit  # noqa: E402
from tnq.mpo.linear import LowRankLinear, MPOLinear  # noqa: E402

VOCAB = 96


def tiny_llama(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    config = transformers.LlamaConfig(vocab_size=VOCAB, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                                      tie_word_embeddings=True)
    return transformers.LlamaForCausalLM(config).eval()


def tiny_bert(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    config = transformers.BertConfig(vocab_size=VOCAB, hidden_size=48, intermediate_size=96, num_hidden_layers=2,
                                     num_attention_heads=4, max_position_embeddings=128)
    return transformers.BertModel(config, add_pooling_layer=False).eval()


def tokens(n: int = 4000, seed: int = 1) -> torch.Tensor:
    """A Markov-ish token stream (repeated patterns, so the inputs are not white noise)."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, VOCAB, size=40)
    seq = np.concatenate([np.roll(base, rng.integers(0, 5)) for _ in range(n // 40 + 1)])[:n]
    noise = rng.random(n) < 0.2
    seq[noise] = rng.integers(0, VOCAB, size=int(noise.sum()))
    return torch.as_tensor(seq, dtype=torch.long)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


# --- finding layers -------------------------------------------------------------------------------------------
def test_find_linears_by_role_and_pattern():
    model = tiny_llama()
    both = find_linears(model)
    assert len(both) == 14 and "lm_head" not in both
    attention = find_linears(model, "attention")
    assert attention == [f"model.layers.{b}.self_attn.{p}_proj" for b in range(2) for p in "qkvo"]
    assert find_linears(model, ["mlp"]) == [f"model.layers.{b}.mlp.{p}_proj" for b in range(2)
                                            for p in ("gate", "up", "down")]
    assert find_linears(model, "model.layers.1.*") == [n for n in both if ".layers.1." in n]
    bert = find_linears(tiny_bert())
    assert {layer_role(n) for n in bert} == {"attention", "mlp"} and len(bert) == 12
    assert layer_role("encoder.layer.0.attention.output.dense") == "attention"
    assert layer_role("encoder.layer.0.output.dense") == "mlp"


def test_unknown_layers_and_architectures_give_one_clear_error():
    with pytest.raises(ModelError, match=r"matches no linear layer.*model\.layers\.0\.self_attn\.q_proj"):
        find_linears(tiny_llama(), "model.layers.*.attn.wq")
    odd = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2))
    with pytest.raises(ModelError, match=r"unknown architecture Sequential.*linears found: 0, 2"):
        find_linears(odd)
    with pytest.raises(ModelError, match="no torch.nn.Linear"):
        find_linears(nn.Sequential(nn.ReLU()))
    with pytest.raises(TnqError, match="does not exist"):
        load_model("/nonexistent/model/dir")


# --- baselines ------------------------------------------------------------------------------------------------
def test_truncated_svd_baseline_reaches_the_eckart_young_error():
    linear = nn.Linear(40, 30).double()
    W = linear.weight.detach().numpy()
    low = svd_linear(linear, max_params=10 * 70)
    assert isinstance(low, LowRankLinear) and low.rank == 10 and low.first.numel() + low.second.numel() <= 700
    s = np.linalg.svd(W, compute_uv=False)
    error = np.linalg.norm(W - low.weight_matrix().detach().numpy())
    assert error == pytest.approx(math.sqrt((s[10:] ** 2).sum()), rel=1e-10)
    x = torch.randn(5, 40, dtype=torch.float64)
    torch.testing.assert_close(low(x), x @ low.weight_matrix().T + linear.bias)


def test_whitened_svd_is_optimal_for_the_activation_error():
    rng = np.random.default_rng(3)
    linear = nn.Linear(24, 16).double()
    W = linear.weight.detach().numpy()
    X = rng.normal(size=(200, 24)) * rng.uniform(0.05, 3.0, size=24)  # anisotropic inputs
    gram = X.T @ X
    rank = 5
    white = svd_linear(linear, rank * 40, gram).weight_matrix().detach().numpy()
    plain = svd_linear(linear, rank * 40).weight_matrix().detach().numpy()
    s = np.linalg.svd(W @ X.T, compute_uv=False)  # best rank-5 M X^T is the truncation of W X^T
    optimum = math.sqrt((s[rank:] ** 2).sum())
    assert np.linalg.norm((W - white) @ X.T) == pytest.approx(optimum, rel=1e-4)
    assert np.linalg.norm((W - plain) @ X.T) > 1.05 * optimum
    assert activation_error(W, white, gram) == pytest.approx(optimum / np.linalg.norm(W @ X.T), rel=1e-4)


# --- calibration and fitting ----------------------------------------------------------------------------------
def test_collect_grams_matches_captured_inputs():
    model = tiny_llama()
    names = find_linears(model)
    batches = [tokens(64, seed=s)[None] for s in range(3)]
    captured: dict[str, list[torch.Tensor]] = {n: [] for n in names}
    hooks = [model.get_submodule(n).register_forward_pre_hook(
        lambda _m, inp, n=n: captured[n].append(inp[0].detach().reshape(-1, inp[0].shape[-1]).double()))
        for n in names]
    with torch.no_grad():
        for b in batches:
            model(b)
    for h in hooks:
        h.remove()
    grams = collect_grams(model, names, batches, progress=False)
    for n in names:
        X = torch.cat(captured[n]).numpy()
        np.testing.assert_allclose(grams[n], X.T @ X, rtol=1e-6, atol=1e-6)


def test_corrected_target_is_the_sequential_least_squares_fit():
    rng = np.random.default_rng(11)
    W = rng.normal(size=(6, 10))
    X_o = rng.normal(size=(80, 10)) * rng.uniform(0.2, 2.0, size=10)
    X_c = X_o + 0.3 * rng.normal(size=X_o.shape)  # the inputs after upstream compression
    gram, cross = X_c.T @ X_c, X_o.T @ X_c
    target, _ = corrected_target(W, gram, cross, ridge=0.0)
    np.testing.assert_allclose(target, np.linalg.lstsq(X_c, X_o @ W.T, rcond=None)[0].T, rtol=1e-8)
    same, _ = corrected_target(W, X_o.T @ X_o, X_o.T @ X_o, ridge=0.3)
    np.testing.assert_allclose(same, W, rtol=1e-8)  # unchanged inputs: nothing to correct

    ridge = 0.3 * np.mean(np.diag(gram))

    def objective(M: np.ndarray) -> float:
        return np.linalg.norm(X_o @ W.T - X_c @ M.T) ** 2 + ridge * np.linalg.norm(W - M) ** 2

    target, combined = corrected_target(W, gram, cross, ridge=0.3)
    M1, M2 = rng.normal(size=W.shape), rng.normal(size=W.shape)
    quadratic = [np.trace((target - M) @ combined @ (target - M).T) for M in (M1, M2)]
    # the objective is ||(W* - M) S||^2 plus a constant: differences between two candidates agree
    assert objective(M1) - objective(M2) == pytest.approx(quadratic[0] - quadratic[1], rel=1e-8)


def test_sequential_calibration_goes_in_forward_order_and_sees_the_replaced_layers():
    model = tiny_llama()
    names = find_linears(model)
    batches = [tokens(64, seed=s)[None] for s in range(3)]
    calls: list[tuple[str, np.ndarray]] = []

    def keep(name: str, linear: nn.Linear, gram: np.ndarray) -> None:  # put back the original: X_c = X_o
        calls.append((name, linear.weight.detach().numpy().copy()))

    compress_sequentially(model, names, batches, keep, ridge=0.0, progress=False)
    assert [n for n, _ in calls] == [f"model.layers.{b}.{r}" for b in range(2) for r in (
        "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
        "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj")]
    for name, target in calls:
        np.testing.assert_allclose(target, model.get_submodule(name).weight.detach().numpy(), atol=1e-4)

    seen: dict[str, np.ndarray] = {}

    def halve_first(name: str, linear: nn.Linear, gram: np.ndarray) -> None:  # a crude "compression" of layer 0
        seen[name] = gram
        if name == "model.layers.0.mlp.down_proj":
            set_module(model, name, nn.Linear(linear.in_features, linear.out_features, bias=False))
            model.get_submodule(name).weight.data = 0.5 * linear.weight.data

    grams = collect_grams(model, names, batches, progress=False)
    compress_sequentially(model, names, batches, halve_first, ridge=0.0, progress=False)
    upstream = "model.layers.0.mlp.down_proj"
    np.testing.assert_allclose(seen[upstream], grams[upstream], rtol=1e-4)  # before the change: the same inputs
    later = "model.layers.1.self_attn.q_proj"
    assert np.linalg.norm(seen[later] - grams[later]) > 1e-3 * np.linalg.norm(grams[later])  # after: it sees it


def test_sequential_calibration_skips_the_stages_it_leaves_unchanged():
    model = tiny_llama()
    names = find_linears(model)
    batches = [tokens(64, seed=s)[None] for s in range(3)]
    passes = [0]
    model.model.embed_tokens.register_forward_pre_hook(lambda *_: passes.__setitem__(0, passes[0] + 1))

    def run(unchanged: set[str]) -> dict[str, np.ndarray | None]:
        seen: dict[str, np.ndarray | None] = {}

        def keep(name: str, linear: nn.Linear, gram: np.ndarray | None) -> None:
            seen[name] = gram
            if gram is None:  # a skipped stage hands over the layer itself, uncorrected
                assert linear is model.get_submodule(name)

        passes[0] = 0
        compress_sequentially(model, names, batches, keep, progress=False, unchanged=unchanged.__contains__)
        return seen

    everything = run(set())
    assert passes[0] == 3 + 8 * 3  # one recording pass per batch, then 8 stages (q/k/v, o, gate/up, down) x 2
    attention = {f"model.layers.0.self_attn.{r}_proj" for r in "qkv"}
    skipped = run(attention)
    assert passes[0] == 3 + 7 * 3
    assert all(skipped[n] is None for n in attention)
    for name in set(names) - attention:
        np.testing.assert_allclose(skipped[name], everything[name], rtol=1e-6)
    partly = run({"model.layers.0.self_attn.k_proj"})  # q and v change: their stage (k's too) is still fitted
    assert passes[0] == 3 + 8 * 3 and partly["model.layers.0.self_attn.k_proj"] is not None


def test_sequential_calibration_lowers_the_output_error_of_the_compressed_model(monkeypatch):
    ids = tokens()
    kwargs = dict(budget=0.4, method="whitened-svd", tokens=ids, eval_tokens=512, eval_window=128,
                  calibration_tokens=1024, window=64, progress=False)
    original = tiny_llama()
    probe = ids[512:1536].reshape(-1, 64)
    with torch.no_grad():
        reference = torch.log_softmax(original(probe).logits, -1)

    def kl(model: nn.Module) -> float:
        with torch.no_grad():
            logp = torch.log_softmax(model(probe).logits, -1)
        return float((reference.exp() * (reference - logp)).sum(-1).mean())

    independent = compress_model(tiny_llama(), **from_names(calibration="independent", **kwargs))
    sequential = compress_model(tiny_llama(), **from_names(calibration="sequential", **kwargs))
    assert sequential.report.layer_params_after == independent.report.layer_params_after
    assert sequential.report.calibration == "sequential" and "sequential calibration" in sequential.report.format_text()
    assert kl(sequential.model) < 0.9 * kl(independent.model)
    monkeypatch.setattr("tnq.compress.sequential.default_budget", lambda: 10_000)
    with pytest.raises(MPOError, match="over the memory budget .* use fewer calibration tokens"):
        compress_model(tiny_llama(), **from_names(calibration="sequential", **kwargs))
    with pytest.raises(MPOError, match="calibration must be one of"):
        compress_model(tiny_llama(), **from_names(calibration="greedy", **kwargs))
    with pytest.raises(MPOError, match="method 'whitened-svd' or 'mpo'"):
        compress_model(tiny_llama(), **from_names(**{**kwargs, "method": "svd"}, calibration="sequential"))


def test_whitened_mpo_is_exact_at_full_budget_and_fitting_lowers_the_activation_error():
    rng = np.random.default_rng(5)
    W = rng.normal(size=(24, 36))
    X = rng.normal(size=(300, 36)) @ rng.normal(size=(36, 36)) * 0.3
    gram = X.T @ X
    np.testing.assert_allclose(whitened_mpo(W, gram, 3, W.size * 10).to_matrix(), W, atol=1e-9)
    plain = whitened_mpo(W, None, 3, W.size // 3)
    white = whitened_mpo(W, gram, 3, W.size // 3)
    assert white.num_params <= W.size // 3
    assert activation_error(W, white.to_matrix(), gram) < activation_error(W, plain.to_matrix(), gram)
    fitted, losses = als_fit(white, W, gram, sweeps=2, cg_iters=20)
    before, after = activation_error(W, white.to_matrix(), gram), activation_error(W, fitted.to_matrix(), gram)
    assert fitted.core_shapes == white.core_shapes  # same parameter count
    assert after < 0.9 * before and after ** 2 == pytest.approx(losses[-1] / losses[0] * before ** 2, rel=1e-6)


# --- budgets --------------------------------------------------------------------------------------------------
def test_allocate_keeps_the_total_and_favours_sensitive_layers():
    sizes = {"a": 1000, "b": 4000, "c": 2000}
    uniform = allocate(sizes, 0.5)
    assert uniform == {"a": 500, "b": 2000, "c": 1000}
    shaped = allocate(sizes, 0.5, {"a": 9.0, "b": 1.0, "c": 1.0})
    assert sum(shaped.values()) == pytest.approx(3500, abs=3)
    assert shaped["a"] / 1000 > 0.5 > shaped["b"] / 4000
    with pytest.raises(MPOError, match="budget"):
        allocate(sizes, 1.5)


def test_a_profile_shifts_parameters_and_keeps_the_most_sensitive_layer_dense():
    model = tiny_llama()
    names = find_linears(model)
    profile = {n: 1.0 for n in names} | {names[0]: 1e4}
    result = compress_model(model, **from_names(budget=0.5, method="svd", sensitivity=profile, eval_tokens=None))
    assert isinstance(result.model.get_submodule(names[0]), nn.Linear) and names[0] not in result.specs
    report = result.report
    assert report.layers[0].params_after == report.layers[0].params_before and report.layers[0].chi == []
    assert all(isinstance(result.model.get_submodule(n), LowRankLinear) for n in names[1:])
    assert report.layer_params_after <= 0.5 * report.layer_params_before


def test_heal_dense_also_trains_the_layers_kept_dense():
    names = find_linears(tiny_llama())
    profile = {n: 1.0 for n in names} | {names[0]: 1e4}
    ids = tokens(3000)
    before = tiny_llama().get_submodule(names[0]).weight.detach().clone()
    for heal_dense in (False, True):
        result = compress_model(tiny_llama(), **from_names(budget=0.5, method="svd", sensitivity=profile, tokens=ids,
                                eval_tokens=512, window=64, heal_steps=3, heal_dense=heal_dense, progress=False))
        kept = result.model.get_submodule(names[0])
        assert isinstance(kept, nn.Linear) and result.report.heal_dense_layers == int(heal_dense)
        assert torch.equal(kept.weight, before) != heal_dense  # trained only with heal_dense
    assert "1 dense layer trained too" in result.report.format_text(per_layer=False)


# --- the pipeline ---------------------------------------------------------------------------------------------
def reference_perplexity(model: nn.Module, ids: torch.Tensor, window: int) -> float:
    total = count = 0.0
    with torch.no_grad():
        for s in range(0, len(ids), window):
            chunk = ids[s:s + window][None]
            if chunk.shape[1] > 1:
                total += float(model(chunk, labels=chunk).loss) * (chunk.shape[1] - 1)
                count += chunk.shape[1] - 1
    return math.exp(total / count)


def test_perplexity_matches_the_models_own_loss():
    model, ids = tiny_llama(), tokens(700)
    assert perplexity(model, ids, 128, None, progress=False) == pytest.approx(reference_perplexity(model, ids, 128),
                                                                             rel=1e-5)


@pytest.mark.parametrize("method", ["mpo", "svd", "whitened-svd"])
def test_compress_save_and_reload_without_the_original(tmp_path, method):
    model, ids = tiny_llama(), tokens()
    original = copy.deepcopy(model)
    out = tmp_path / "compressed"
    result = compress_model(model, **from_names(budget=0.5, method=method, tokens=ids, eval_tokens=512, eval_window=128,
                            calibration_tokens=512, window=64, fit_steps=5, out=out, progress=False))
    report = result.report
    assert len(report.layers) == 14
    assert report.layer_params_after <= 0.5 * report.layer_params_before
    assert report.layer_params_after >= 0.4 * report.layer_params_before
    assert report.params_before == model_size(original)[0] and report.params_after == model_size(result.model)[0]
    assert report.quality_before == pytest.approx(reference_perplexity(original, ids[:512], 128), rel=1e-5)
    assert report.quality_compressed == pytest.approx(reference_perplexity(result.model, ids[:512], 128), rel=1e-5)
    for r in report.layers:  # activation-aware methods may grow directions the inputs never use (o_proj sees v)
        assert 0 <= (r.error if method == "svd" else r.activation_error) < 1
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "model.safetensors", "modeling_tnq_compressed.py",
                                                     "plan.py", "tnq_compress.json"]
    assert not list(tmp_path.glob(".*"))  # no temporary leftovers
    del original
    back = load_model(out)  # rebuilt from the folder alone
    kind = MPOLinear if method == "mpo" else LowRankLinear
    assert isinstance(back.model.get_submodule("model.layers.1.mlp.down_proj"), kind)
    x = ids[:50][None]
    with torch.no_grad():
        torch.testing.assert_close(back.model(x).logits, result.model(x).logits, rtol=1e-5, atol=1e-5)


def test_auto_sites_mpo_is_per_layer_no_worse_than_whitened_svd_and_reloads(tmp_path):
    ids = tokens()
    kwargs = dict(budget=0.5, tokens=ids, eval_tokens=512, eval_window=128, calibration_tokens=512, window=64,
                  progress=False)
    white = compress_model(tiny_llama(), **from_names(method="whitened-svd", **kwargs)).report
    auto = compress_model(tiny_llama(), **from_names(method="mpo", sites="auto", fit_steps=1, out=tmp_path / "m",
                                                     **kwargs))
    assert auto.report.layer_params_after <= 0.5 * auto.report.layer_params_before
    for a, w in zip(auto.report.layers, white.layers):
        assert a.name == w.name and a.sites is not None
        assert a.activation_error <= w.activation_error * (1 + 1e-3) + 1e-6
        assert a.site_errors is not None and a.sites in a.site_errors and len(a.site_errors) == 2
        assert min(a.site_errors.values()) == pytest.approx(a.activation_error, rel=1e-4, abs=1e-7)
    kept = sum(a.sites != f"{a.shape[0]}x1 | 1x{a.shape[1]}" for a in auto.report.layers)
    assert f"sites auto: {kept} of {len(auto.report.layers)} layers kept a multi-site MPO" in auto.report.format_text()
    # a margin so small that no MPO can beat it: every layer keeps the low-rank sites, i.e. whitened SVD's matrix
    low = compress_model(tiny_llama(), **from_names(method="mpo", sites="auto", site_margin=1e-9, fit_steps=1,
                                                    **kwargs)).report
    assert f"sites auto: 0 of {len(low.layers)} layers kept a multi-site MPO, {len(low.layers)} the low" in \
        low.format_text()
    for a, w in zip(low.layers, white.layers):
        assert a.sites.endswith("x1 | 1x" + str(a.shape[1])) and a.sites.startswith(str(a.shape[0]) + "x")
        assert a.activation_error == pytest.approx(w.activation_error, rel=1e-4, abs=1e-7)
    with pytest.raises(MPOError, match=r"site_margin must be in \(0, 1\], got 1.5"):
        compress_model(tiny_llama(), **from_names(method="mpo", sites="auto", site_margin=1.5, **kwargs))
    with pytest.raises(MPOError, match="sites must be"):
        compress_model(tiny_llama(), **from_names(method="mpo", sites="best", **kwargs))
    with pytest.raises(MPOError, match="heal_batch_size must be >= 1, got 0"):
        compress_model(tiny_llama(), **from_names(method="svd", heal_steps=2, heal_batch_size=0, **kwargs))
    with pytest.raises(MPOError, match="sensitivity_strength must be >= 0"):
        compress_model(tiny_llama(), **from_names(method="svd", sensitivity=True, sensitivity_strength=-1.0, **kwargs))
    back = load_model(tmp_path / "m")
    x = ids[:50][None]
    with torch.no_grad():
        torch.testing.assert_close(back.model(x).logits, auto.model(x).logits, rtol=1e-5, atol=1e-5)


def test_a_failed_save_leaves_nothing_behind(tmp_path, monkeypatch):
    import safetensors.torch

    def broken(*_args, **_kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(safetensors.torch, "save_model", broken)
    with pytest.raises(OSError, match="disk full"):
        compress_model(tiny_llama(), **from_names(budget=0.5, method="svd", eval_tokens=None, out=tmp_path / "m"))
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "m").mkdir()
    with pytest.raises(MPOError, match="already exists"):
        compress_model(tiny_llama(), **from_names(budget=0.5, method="svd", eval_tokens=None, out=tmp_path / "m"))


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_healing_by_distillation_brings_the_model_back_towards_the_original(precision):
    teacher, ids = tiny_llama(), tokens()
    student = compress_model(copy.deepcopy(teacher), **from_names(budget=0.3, method="mpo", eval_tokens=None)).model
    names = find_linears(teacher)

    def kl() -> float:
        with torch.no_grad():
            x = ids[:256][None]
            p, q = teacher(x).logits.log_softmax(-1), student(x).logits.log_softmax(-1)
            return float((p.exp() * (p - q)).sum(-1).mean())

    before = kl()
    losses = heal(student, [student.get_submodule(n) for n in names], ids[256:], steps=40, window=64, lr=0.05,
                  teacher=teacher, progress=False, precision=precision)
    assert len(losses) == 40 and kl() < 0.7 * before
    assert all(p.requires_grad for p in teacher.parameters())  # flags restored
    assert all(p.dtype == torch.float32 for p in student.parameters())  # autocast leaves the parameters float32


def test_healing_loss_mixes_distillation_and_next_token_loss():
    from tnq.compress.heal import _loss

    teacher, ids = tiny_llama(0), tokens()
    student = tiny_llama(1)
    batch = {"input_ids": ids[:64][None]}
    with torch.no_grad():
        parts = [float(_loss(student, batch, teacher, label_weight=w)) for w in (0.0, 1.0, 0.3)]
        own = float(student(batch["input_ids"], labels=batch["input_ids"]).loss)
        p = teacher(batch["input_ids"]).logits[:, :-1].log_softmax(-1)
        q = student(batch["input_ids"]).logits[:, :-1].log_softmax(-1)
        kl = float((p.exp() * (p - q)).sum(-1).mean())
    assert parts[0] == pytest.approx(kl, rel=1e-5) and parts[1] == pytest.approx(own, rel=1e-5)
    assert parts[2] == pytest.approx(0.7 * parts[0] + 0.3 * parts[1], rel=1e-5)
    model = tiny_llama()
    with pytest.raises(MPOError, match="label_weight must be in"):
        heal(model, [model.get_submodule("model.layers.0.mlp.up_proj")], ids, steps=1, window=64, label_weight=1.5)
    with pytest.raises(MPOError, match="precision must be one of"):
        heal(model, [model.get_submodule("model.layers.0.mlp.up_proj")], ids, steps=1, window=64, precision="fp8")
    with pytest.raises(MPOError, match="heal_label_weight must be in"):
        compress_model(model, **from_names(budget=0.5, method="svd", eval_tokens=None, heal_label_weight=-0.1))
    with pytest.raises(MPOError, match="heal_precision must be one of"):
        compress_model(model, **from_names(budget=0.5, method="svd", eval_tokens=None, heal_precision="float16"))


def _is_slice_of(part: torch.Tensor, text: torch.Tensor) -> bool:
    return any(torch.equal(text[s:s + len(part)], part) for s in range(len(text) - len(part) + 1))


def test_sampled_text_follows_the_model_and_its_prompts_come_from_the_text():
    from tnq.compress.samples import sample_text

    model, text = tiny_llama(), tokens(600)
    with torch.no_grad():  # larger embeddings (tied to the head): a peaked next-token distribution to sample from
        model.model.embed_tokens.weight.mul_(30)
    sampled = sample_text(model, text, tokens=300, prompt_length=8, length=32, batch_size=4, seed=3)
    assert sampled.shape == (320,) and int(sampled.min()) >= 0 and int(sampled.max()) < VOCAB
    sequences = sampled.reshape(-1, 32)
    assert all(_is_slice_of(seq[:8], text) for seq in sequences)
    assert torch.equal(sampled, sample_text(model, text, 300, 8, 32, 4, seed=3))
    assert not torch.equal(sampled, sample_text(model, text, 300, 8, 32, 4, seed=4))

    def continuation_nll(seqs: torch.Tensor) -> float:
        with torch.no_grad():
            logits = model(seqs).logits[:, 7:-1]
            return float(nn.functional.cross_entropy(logits.reshape(-1, VOCAB), seqs[:, 8:].reshape(-1)))

    uniform = torch.cat([sequences[:, :8], torch.randint(0, VOCAB, (len(sequences), 24))], 1)
    assert continuation_nll(sequences) < 0.5 * continuation_nll(uniform)  # drawn from the model, not at random


def test_sample_text_refuses_bad_input():
    from tnq.compress.samples import sample_text

    model, text = tiny_llama(), tokens(100)
    with pytest.raises(MPOError, match="tokens must be >= 1"):
        sample_text(model, text, 0)
    with pytest.raises(MPOError, match="prompt_length < length"):
        sample_text(model, text, 10, prompt_length=32, length=32)
    with pytest.raises(MPOError, match="need more than 32 tokens"):
        sample_text(model, text[:20], 10)
    with pytest.raises(MPOError, match="cannot generate"):
        sample_text(tiny_bert(), text, 10)


def test_samples_cache_reuses_matching_samples_and_refuses_others(tmp_path, monkeypatch):
    import tnq.compress.samples as samples_module
    from tnq.compress.samples import cached_sample_text

    model, text, cache = tiny_llama(), tokens(600), tmp_path / "samples.safetensors"
    first, fresh = cached_sample_text(model, text, 100, cache, prompt_length=8, length=32, batch_size=4, seed=3)
    assert fresh and cache.is_file() and len(first) == 128
    assert torch.equal(first, samples_module.sample_text(model, text, 100, 8, 32, 4, seed=3))
    calls = []
    monkeypatch.setattr(samples_module, "sample_text", lambda *a, **k: calls.append(a) or first)
    again, fresh = cached_sample_text(model, text, 64, cache, prompt_length=8, length=32, batch_size=4, seed=3)
    assert not fresh and not calls and torch.equal(again, first[:64])  # fewer tokens: the cached prefix
    _, fresh = cached_sample_text(model, text, 200, cache, prompt_length=8, length=32, batch_size=4, seed=3)
    assert fresh and len(calls) == 1  # more than cached: sampled again
    with pytest.raises(MPOError, match="another seed"):
        cached_sample_text(model, text, 64, cache, prompt_length=8, length=32, batch_size=4, seed=4)
    with pytest.raises(MPOError, match="another text"):
        cached_sample_text(model, tokens(600, seed=9), 64, cache, prompt_length=8, length=32, batch_size=4, seed=3)
    other = tiny_llama()
    with torch.no_grad():
        other.model.norm.weight.add_(1e-3)
    with pytest.raises(MPOError, match="another model"):
        cached_sample_text(other, text, 64, cache, prompt_length=8, length=32, batch_size=4, seed=3)
    assert len(calls) == 1 and cache.is_file()  # refused caches are left as they were
    (tmp_path / "junk.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(MPOError, match="junk.safetensors"):
        cached_sample_text(model, text, 64, tmp_path / "junk.safetensors", prompt_length=8, length=32)


def test_compress_model_with_a_samples_cache_samples_once(tmp_path, monkeypatch):
    import tnq.compress.pipeline as compress_module

    ids, seen, cache = tokens(3000), [], tmp_path / "samples.safetensors"
    monkeypatch.setattr(compress_module, "heal", lambda m, mods, train, steps, seconds, *a, **k:
                        seen.append((train, seconds)) or [0.0])
    run = lambda: compress_model(tiny_llama(), **from_names(budget=0.5, method="svd", tokens=ids, eval_tokens=512,
                                                             # noqa: E731
                                 window=64, heal_seconds=3600.0, heal_sample_tokens=100, heal_samples_cache=cache,
                                 progress=False)).report
    first, second = run(), run()
    assert "sample text" in first.times and not first.heal_samples_cached and seen[0][1] < 3600.0
    assert second.heal_samples_cached and "sample text" not in second.times and seen[1][1] == 3600.0
    assert torch.equal(seen[0][0], seen[1][0]) and second.heal_sample_tokens == 128
    assert "128 sampled tokens (cached)" in second.format_text(per_layer=False)
    with pytest.raises(MPOError, match="give heal_sample_tokens too"):
        compress_model(tiny_llama(), **from_names(budget=0.5, method="svd", tokens=ids, heal_steps=1,
                                                  heal_samples_cache=cache))


def test_heal_sample_tokens_heal_on_sampled_then_training_text(monkeypatch):
    import tnq.compress.pipeline as compress_module

    ids, seen = tokens(3000), {}

    def fake_heal(model, modules, train, steps, seconds, *args, **kwargs):
        seen["train"], seen["seconds"] = train, seconds
        return [0.0]

    monkeypatch.setattr(compress_module, "heal", fake_heal)
    report = compress_model(tiny_llama(), **from_names(budget=0.5, method="svd", tokens=ids, eval_tokens=512, window=64,
                            heal_seconds=3600.0, heal_sample_tokens=100, progress=False)).report
    assert report.heal_sample_tokens == 128 and "sample text" in report.times
    assert seen["train"][128:].tolist() == ids[512:].tolist()
    assert all(_is_slice_of(seq[:32], ids[512:]) for seq in seen["train"][:128].reshape(-1, 64))
    assert seen["seconds"] == pytest.approx(3600.0 - report.times["sample text"])  # sampling is healing time
    assert "128 sampled tokens" in report.format_text(per_layer=False)
    with pytest.raises(MPOError, match="only causal LMs sample text"):
        compress_model(tiny_bert(), **from_names(budget=0.5, method="svd", tokenizer=_tokenizer(), tokens=ids,
                                                 heal_steps=1,
                       heal_sample_tokens=100))
    with pytest.raises(MPOError, match="give heal_steps or heal_seconds"):
        compress_model(tiny_llama(), **from_names(budget=0.5, method="svd", tokens=ids, heal_sample_tokens=100))


def test_sensitivity_profile_plot_and_encoder_cosine(tmp_path):
    model, ids = tiny_bert(), tokens()
    tokenizer = _tokenizer()
    plot = tmp_path / "sens.png"
    result = compress_model(model, **from_names(budget=0.5, tokenizer=tokenizer, tokens=ids, eval_tokens=600,
                            calibration_tokens=256, window=64, sensitivity=True, plot=plot, progress=False))
    report = result.report
    assert report.metric == "embedding cosine" and report.quality_before == pytest.approx(1.0, abs=1e-5)
    assert -1 <= report.quality_compressed < 0.99999
    assert all(r.sensitivity is not None for r in report.layers) and plot.stat().st_size > 1000


# --- command line ---------------------------------------------------------------------------------------------
def _tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {"[UNK]": 0, "[PAD]": 1, **{f"w{k}": k + 2 for k in range(VOCAB - 2)}}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    return transformers.PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]")


def _model_dir(tmp_path: Path) -> tuple[Path, Path]:
    folder = tmp_path / "tiny"
    tiny_llama().save_pretrained(folder)
    _tokenizer().save_pretrained(folder)
    text = tmp_path / "text.txt"
    text.write_text(" ".join(f"w{int(t) % (VOCAB - 2)}" for t in tokens(3000)))
    return folder, text


def test_cli_compresses_saves_and_reloads(tmp_path, capsys):
    folder, text = _model_dir(tmp_path)
    out = tmp_path / "out"
    code = main(["compress", str(folder), "--budget", "0.5", "--text", str(text), "--eval-tokens", "512",
                 "--eval-window", "128", "--heal-steps", "3", "--window", "64", "--out", str(out), "--no-progress",
                 "--heal-batch", "2", "--sensitivity", "--sensitivity-strength", "1", "--heal-label-weight", "0.3",
                 "--heal-precision", "bfloat16", "--heal-samples", "64", "--heal-dense", "--samples-cache",
                 str(tmp_path / "samples.safetensors"), "--calibration", "sequential", "--sequential-ridge", "0.2"])
    printed = capsys.readouterr().out
    assert code == 0 and "perplexity: original" in printed and "model.layers.1.mlp.down_proj" in printed
    assert "method mpo, sequential calibration" in printed
    assert "3 steps, 64 sampled tokens" in printed and (tmp_path / "samples.safetensors").is_file()
    loaded = load_compressed(out)
    assert loaded.tokenizer is not None and list(linear_layers(loaded.model)) == ["lm_head"]
    code = main(["compress", str(out), "--budget", "0.5", "--layers", "lm_head", "--method", "svd",
                 "--eval-tokens", "0", "--text", str(text), "--json"])
    assert code == 0 and '"method": "svd"' in capsys.readouterr().out


def test_cli_errors_are_one_line(tmp_path, capsys):
    folder, _ = _model_dir(tmp_path)
    assert main(["compress", str(tmp_path / "missing"), "--budget", "0.5"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["compress", str(folder), "--layers", "decoder.*.wq", "--eval-tokens", "0"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "matches no linear layer" in err and "q_proj" in err
    for argv, message in (
            (["--heal-steps", "1", "--heal-batch", "0"], "argument --heal-batch: must be >= 1, got 0"),
            (["--sites", "auto", "--site-margin", "2"], "argument --site-margin: must be in (0, 1], got 2")):
        with pytest.raises(SystemExit) as refused:  # argparse refuses bad numbers itself
            main(["compress", str(folder), *argv, "--eval-tokens", "0"])
        err = capsys.readouterr().err
        assert refused.value.code == 2 and err.count("\n") == 1 and message in err


def test_extra_text_is_added_to_the_training_tokens_only(tmp_path, monkeypatch):
    import tnq.compress.pipeline as compress_module

    ids, seen = tokens(3000), {}
    extra = tmp_path / "extra.txt"
    extra.write_text(" ".join(f"w{k % (VOCAB - 2)}" for k in range(700)))

    def fake_heal(model, modules, train, *args, **kwargs):
        seen["train"] = train
        return [0.0]

    monkeypatch.setattr(compress_module, "heal", fake_heal)
    compress_model(tiny_llama(), **from_names(budget=0.5, method="svd", tokenizer=_tokenizer(), tokens=ids,
                                              extra_text=extra,
                   eval_tokens=512, heal_steps=1, progress=False))
    extra_ids = _tokenizer()(extra.read_text(), add_special_tokens=False).input_ids
    assert seen["train"].tolist() == ids[512:].tolist() + extra_ids
    with pytest.raises(MPOError, match="cannot be read"):
        compress_model(tiny_llama(), **from_names(budget=0.5, method="svd", tokenizer=_tokenizer(), tokens=ids,
                       extra_text=tmp_path / "missing.txt", eval_tokens=512, heal_steps=1))


def test_gensim_wiki_sample_is_plain_text():
    from tnq.compress.evaluate import gensim_wiki_text

    text = gensim_wiki_text()
    assert len(text) > 1_000_000 and "Anarchism is a political philosophy" in text
    assert "'''" not in text and "==" not in text and "#REDIRECT" not in text.upper()


def _heal_setup(seed: int = 0):
    """A compressed tiny model, its teacher and text, ready for ``heal``."""
    teacher = tiny_llama(seed)
    student = compress_model(copy.deepcopy(teacher), **from_names(budget=0.4, method="mpo", eval_tokens=None)).model
    modules = [student.get_submodule(n) for n in find_linears(teacher)]
    return student, modules, teacher, tokens(3000)


def _trained(modules) -> list[torch.Tensor]:
    return [p.detach().clone() for m in modules for p in m.parameters()]


def _interrupt_at(model, step: int):
    """Send Ctrl-C (SIGINT) to this process during the forward pass of healing step ``step`` (0-based)."""
    import signal

    calls = {"n": 0}

    def hook(*_):
        calls["n"] += 1
        if calls["n"] == step + 1:
            signal.raise_signal(signal.SIGINT)

    return model.model.embed_tokens.register_forward_hook(hook)


def test_healing_interrupted_by_ctrl_c_resumes_to_the_same_result(tmp_path):
    from tnq.compress.heal_checkpoint import HealingInterrupted

    options = dict(steps=12, window=32, lr=0.02, progress=False, label_weight=0.5)
    straight, modules, teacher, ids = _heal_setup()
    expected = heal(straight, modules, ids, teacher=teacher, **options)
    expected_params = _trained(modules)

    student, modules, teacher, ids = _heal_setup()
    checkpoint = tmp_path / "heal.safetensors"
    handle = _interrupt_at(student, 5)
    with pytest.raises(HealingInterrupted, match=r"after 6 steps; its state is saved in .*heal\.safetensors"):
        heal(student, modules, ids, teacher=teacher, checkpoint=checkpoint, **options)
    handle.remove()
    assert checkpoint.is_file()
    resumed, modules, teacher, ids = _heal_setup()  # a fresh process: the same compression, untrained
    losses = heal(resumed, modules, ids, teacher=teacher, checkpoint=checkpoint, **options)
    assert len(losses) == 12 and np.allclose(losses, expected, rtol=1e-5, atol=1e-6)
    for got, want in zip(_trained(modules), expected_params):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    # the finished checkpoint: calling again trains nothing more, returns the same losses, leaves the file as it was
    again, modules, teacher, ids = _heal_setup()
    finished = checkpoint.read_bytes()
    assert heal(again, modules, ids, teacher=teacher, checkpoint=checkpoint, **options) == losses
    assert checkpoint.read_bytes() == finished
    for got, want in zip(_trained(modules), expected_params):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)


def test_healing_checkpoint_is_saved_as_it_goes_and_survives_a_crash(tmp_path, monkeypatch):
    import tnq.compress.heal as heal_module
    from tnq.compress.heal_checkpoint import CHECKPOINT_KEY
    from tnq.io import read_safetensors

    student, modules, teacher, ids = _heal_setup()
    real_loss, calls = heal_module._loss, {"n": 0}

    def crashing_loss(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 5:
            raise RuntimeError("out of memory")
        return real_loss(*args, **kwargs)

    monkeypatch.setattr(heal_module, "_loss", crashing_loss)
    checkpoint = tmp_path / "heal.safetensors"
    with pytest.raises(RuntimeError, match="out of memory"):
        heal(student, modules, ids, steps=10, window=32, teacher=teacher, progress=False, checkpoint=checkpoint,
             checkpoint_seconds=0.0)
    _, meta = read_safetensors(checkpoint, CHECKPOINT_KEY, MPOError)
    assert meta["step"] == 4 and len(meta["losses"]) == 4  # the four finished steps are kept
    monkeypatch.setattr(heal_module, "_loss", real_loss)
    assert len(heal(student, modules, ids, steps=10, window=32, teacher=teacher, progress=False,
                    checkpoint=checkpoint)) == 10


def test_healing_checkpoint_from_other_settings_is_refused(tmp_path):
    student, modules, teacher, ids = _heal_setup()
    checkpoint = tmp_path / "heal.safetensors"
    heal(student, modules, ids, steps=2, window=32, teacher=teacher, progress=False, checkpoint=checkpoint)
    before = checkpoint.read_bytes()
    with pytest.raises(MPOError, match=r"other lr \(checkpoint: lr=0.003; now: lr=0.01\)"):
        heal(student, modules, ids, steps=4, window=32, lr=0.01, teacher=teacher, progress=False,
             checkpoint=checkpoint)
    with pytest.raises(MPOError, match="other text"):
        heal(student, modules, ids[:-1], steps=4, window=32, teacher=teacher, progress=False, checkpoint=checkpoint)
    with pytest.raises(MPOError, match="other parameters"):
        heal(student, modules[:3], ids, steps=4, window=32, teacher=teacher, progress=False, checkpoint=checkpoint)
    assert checkpoint.read_bytes() == before  # refused, not overwritten
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(MPOError, match="junk.safetensors: not a readable safetensors file"):
        heal(student, modules, ids, steps=4, window=32, teacher=teacher, progress=False, checkpoint=junk)
    # a longer budget on the same checkpoint goes on from step 2
    assert len(heal(student, modules, ids, steps=4, window=32, teacher=teacher, progress=False,
                    checkpoint=checkpoint)) == 4


def test_cli_heal_checkpoint(tmp_path, capsys):
    folder, text = _model_dir(tmp_path)
    checkpoint = tmp_path / "heal.safetensors"
    args = ["compress", str(folder), "--budget", "0.5", "--text", str(text), "--eval-tokens", "512",
            "--eval-window", "128", "--heal-steps", "3", "--window", "64", "--no-progress",
            "--heal-checkpoint", str(checkpoint)]
    assert main(args) == 0 and checkpoint.is_file()
    first = capsys.readouterr().out
    assert main(args) == 0  # resumed from the finished checkpoint: the same healed model
    second = capsys.readouterr().out
    healed = [line for line in first.splitlines() if line.startswith("perplexity")]
    assert healed and healed == [line for line in second.splitlines() if line.startswith("perplexity")]
    with pytest.raises(MPOError, match="give heal_steps or heal_seconds too"):
        compress_model(tiny_llama(), **from_names(budget=0.5, method="svd", tokens=tokens(),
                                                  heal_checkpoint=checkpoint))
    # a path that could not be written is refused before any work, not after healing; a missing folder is made
    (tmp_path / "empty").mkdir()
    for bad, message in ((tmp_path / "empty", "is a folder; give a file name"),
                         (checkpoint / "heal.safetensors", "is a file, not a folder")):
        assert main(args[:-1] + [str(bad)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and re.search(message, err) and "decompose" not in err
    assert main(args[:-1] + [str(tmp_path / "new" / "heal.safetensors")]) == 0
    assert (tmp_path / "new" / "heal.safetensors").is_file()
