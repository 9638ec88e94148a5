"""Speed as a budget: every form a compressed layer can run in (MPO core by core, fused into two factors, the whole
matrix; low-rank factors or their product) computes the product of the dense merged matrix; the kept merged
blocks follow the weights when they change and are never used where gradients are needed; forms are chosen by the
rule ``--max-slowdown`` states (timings faked, so the choice is deterministic); the choice is saved and both
loaders use it; ``--max-slowdown`` refuses bad values in one line (exit 2)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from test_mpo_compress import tiny_llama, tokens  # noqa: E402

from tnq.cli.main import main  # noqa: E402
from tnq.compress import Evaluation, compress_model, from_names, load_compressed  # noqa: E402
from tnq.compress import speed as speed_module  # noqa: E402
from tnq.compress.report import CompressionReport  # noqa: E402
from tnq.compress.speed import ModelSpeed, candidate_forms, time_layer  # noqa: E402
from tnq.mpo import MPO, LowRankLinear, MPOError, MPOLinear  # noqa: E402
from tnq.mpo.plan import MPO_FORMS, _merge_cost, _sweep_cost, plan_contraction, valid_forms  # noqa: E402
from tnq.mpo.remote_code import CompressedLowRankLinear, CompressedMPOLinear, form_at  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")
EPS = float(np.finfo(np.float64).eps)


def _mpo_layer(n_cores: int | str, seed: int, bias: bool = True) -> MPOLinear:
    """An MPOLinear (float64) of uneven factors, every bond kept at 3, random cores and bias ("low-rank": the two
    sites 24 x 1 | 1 x 60, a rank-3 factorisation)."""
    rng = np.random.default_rng(seed)
    W = rng.normal(size=(24, 60))
    outs = {2: [4, 6], 3: [2, 3, 4], 4: [2, 2, 3, 2], "low-rank": [24, 1]}[n_cores]
    ins = {2: [10, 6], 3: [5, 4, 3], 4: [3, 2, 5, 2], "low-rank": [1, 60]}[n_cores]
    mpo = MPO.from_matrix(W, n_cores=len(outs), max_bond=3, out_factors=outs, in_factors=ins)
    return MPOLinear(mpo, rng.normal(size=24) if bias else None, dtype=torch.float64, allow_dense=True)


def _tolerance(x: torch.Tensor, cores: list[torch.Tensor]) -> torch.Tensor:
    """float64 rounding of a product computed in any grouping: each output sums d_in x (bond products) terms, so
    its error is below (number of multiplications along a path) x eps x the sum of |terms|, bounded by
    |x| @ |W|-of-absolute-cores."""
    abs_w = MPO([c.detach().abs().numpy() for c in cores]).to_matrix()
    steps = 2 * len(cores) + math.ceil(math.log2(x.shape[-1] * max(c.shape[3] for c in cores) + 1))
    return steps * EPS * (x.abs() @ torch.as_tensor(abs_w).T)


@pytest.mark.parametrize("n_cores", [2, 3, 4, "low-rank"])
@pytest.mark.parametrize("rows", [1, 7])
def test_every_form_computes_the_dense_merged_product(n_cores, rows):
    layer = _mpo_layer(n_cores, seed=len(str(n_cores)))
    cores = list(layer.cores)
    W = torch.as_tensor(layer.to_mpo().to_matrix())
    x = torch.as_tensor(np.random.default_rng(rows).normal(size=(2, rows, 60)))
    expected = x @ W.T + layer.bias.detach()
    tol = _tolerance(x, cores) + 4 * EPS * layer.bias.detach().abs()
    remote = CompressedMPOLinear([tuple(c.shape) for c in cores], True, True).double()
    remote.load_state_dict(layer.state_dict())
    with torch.no_grad():
        for form in [*MPO_FORMS, None]:
            layer.forms = remote.forms = None if form is None else [[1, form]]
            ours = layer(x)
            assert torch.all((ours - expected).abs() <= tol), form
            assert torch.equal(remote(x), ours), form  # the saved modeling code runs the same arithmetic


def test_the_two_site_low_rank_mpo_runs_as_two_matrix_products(monkeypatch):
    """Its cores are the factors of a rank-chi product: the sweep runs them as two matrix products, never the
    general contraction (whose permutes cost more than the product at one row)."""
    from tnq.mpo import remote_code

    layer = _mpo_layer("low-rank", seed=1)
    x = torch.as_tensor(np.random.default_rng(0).normal(size=(1, 60)))
    expected = layer(x)
    monkeypatch.setattr(remote_code, "apply_operands", lambda *args: pytest.fail("general contraction used"))
    layer.derived.clear()
    with torch.no_grad():
        layer.forms = [[1, "cores"]]
        assert torch.equal(layer(x), expected)
    assert torch.allclose(expected, x @ torch.as_tensor(layer.to_mpo().to_matrix()).T + layer.bias, rtol=1e-12)


def test_low_rank_forms_compute_the_product_of_the_factors():
    rng = np.random.default_rng(5)
    first, second = (torch.as_tensor(rng.normal(size=s)) for s in ((4, 30), (20, 4)))
    bias = torch.as_tensor(rng.normal(size=20))
    layer = LowRankLinear(first, second, bias)
    remote = CompressedLowRankLinear((20, 30), 4, True).double()
    remote.load_state_dict(layer.state_dict())
    x = torch.as_tensor(rng.normal(size=(3, 5, 30)))
    expected = x @ (second @ first).T + bias
    tol = (3 + math.ceil(math.log2(30 * 4))) * EPS * ((x.abs() @ first.abs().T) @ second.abs().T + bias.abs())
    with torch.no_grad():
        for form in ("factors", "dense", None):
            layer.forms = remote.forms = None if form is None else [[1, form]]
            assert torch.all((layer(x) - expected).abs() <= tol), form
            assert torch.equal(remote(x), layer(x)), form


def test_kept_blocks_follow_changed_weights_and_gradients_bypass_them():
    layer = _mpo_layer(3, seed=11)
    layer.forms = [[1, "dense"], [16, "factors"]]
    x = torch.as_tensor(np.random.default_rng(0).normal(size=(2, 60)))

    def reference() -> torch.Tensor:
        return x @ torch.as_tensor(layer.to_mpo().to_matrix()).T + layer.bias.detach()

    with torch.no_grad():
        before = layer(x)
        torch.testing.assert_close(before, reference(), rtol=0, atol=1e-12)
        layer.cores[1].mul_(2.0)  # in place, as an optimiser step
        torch.testing.assert_close(layer(x), reference(), rtol=0, atol=1e-12)
        assert not torch.allclose(layer(x), before)
    state = {k: v.clone() for k, v in layer.state_dict().items()}
    state["cores.0"].mul_(-1.0)
    layer.load_state_dict(state)
    with torch.no_grad():
        torch.testing.assert_close(layer(x), reference(), rtol=0, atol=1e-12)
    # with gradients the cores are contracted afresh: the gradient of a core is that of the dense product
    out = layer(x).sum()
    out.backward()
    core = layer.cores[0]
    numeric = torch.zeros_like(core)
    step = 1e-6
    for index in [(0, 1, 2, 0), (0, 0, 4, 1)]:
        with torch.no_grad():
            core[index] += step
            up = float(reference().sum())
            core[index] -= 2 * step
            down = float(reference().sum())
            core[index] += step
        numeric[index] = (up - down) / (2 * step)
        assert abs(float(core.grad[index]) - float(numeric[index])) < 1e-6 * (1 + abs(float(numeric[index])))
    # an optimiser step (the fused Adam does not mark parameters changed) after a forward pass with gradients
    optimiser = torch.optim.Adam(layer.parameters(), lr=0.1, **({"fused": True} if _fused_adam() else {}))
    optimiser.step()
    with torch.no_grad():
        torch.testing.assert_close(layer(x), reference(), rtol=0, atol=1e-12)


def _fused_adam() -> bool:
    try:
        torch.optim.Adam([torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))], fused=True)
        return True
    except (RuntimeError, TypeError, ValueError):
        return False


def test_blocks_kept_under_autocast_stay_in_the_parameters_dtype():
    layer = _mpo_layer(2, seed=3).float()
    layer.forms = [[1, "dense"]]
    x = torch.randn(3, 60)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        assert layer(x).dtype == torch.bfloat16
    with torch.no_grad():
        y = layer(x)
    assert y.dtype == torch.float32
    eps32 = float(torch.finfo(torch.float32).eps)
    cores = [c.detach().double() for c in layer.cores]
    W = torch.as_tensor(MPO([c.numpy() for c in cores]).to_matrix())  # in float64: near exact for float32 cores
    tol = (_tolerance(x.double(), cores) + 4 * EPS * layer.bias.detach().double().abs()) * (eps32 / EPS)
    assert torch.all((y.double() - (x.double() @ W.T + layer.bias.detach().double())).abs() <= tol)


def test_plan_with_kept_blocks_costs_no_merging_and_blocks_fixes_the_grouping():
    shapes = ((1, 8, 8, 64), (64, 8, 12, 72), (72, 9, 16, 1))
    for rows in (1, 512):
        plan = plan_contraction(shapes, rows, cached=True)
        merged = [_merge_cost(shapes[a:b])[0] for a, b in plan.groups]
        assert plan.cost == pytest.approx(_sweep_cost(merged, rows, plan.left_to_right))
        assert plan.cost <= plan_contraction(shapes, rows).cost
        assert len(plan_contraction(shapes, rows, cached=True, blocks=2).groups) == 2
        assert plan_contraction(shapes, rows, True, True, 1).groups == ((0, 3),)
    # at one row with the blocks kept the whole matrix (1536 x 576) is cheaper than any chain of blocks here
    assert plan_contraction(shapes, 1, True, True).groups == ((0, 3),)


def test_form_at_picks_the_nearest_row_count_by_ratio():
    forms = [[1, "dense"], [1024, "cores"]]
    assert [form_at(forms, r) for r in (0, 1, 31, 32, 33, 5000)] == ["dense", "dense", "dense", "dense", "cores",
                                                                       "cores"]
    assert form_at(None, 5) is None
    assert valid_forms([[1, "dense"], [1024, "cores"]], MPO_FORMS) and valid_forms(None, MPO_FORMS)
    for bad in ([], [[1, "fast"]], [[0, "dense"]], [[4, "dense"], [2, "cores"]], [[1.0, "dense"]], [[1]], "dense"):
        assert not valid_forms(bad, MPO_FORMS), bad


@pytest.mark.parametrize("max_slowdown, expected", [(1.0, ["factors", "dense"]), (1.5, ["cores", "factors"]),
                                                    (0.5, ["dense", "dense"])])
def test_forms_are_the_most_compact_within_the_slowdown_else_the_fastest(monkeypatch, max_slowdown, expected):
    layer = _mpo_layer(3, seed=2)
    dense = torch.nn.Linear(60, 24, dtype=torch.float64)
    # faked seconds per call by (rows, form): at 1 row cores 1.4x, factors 0.9x, dense 0.8x the dense layer; at
    # 1024 rows cores 3x, factors 1.2x, dense 0.95x
    fake = {(1, "cores"): 1.4, (1, "factors"): 0.9, (1, "dense"): 0.8,
            (1024, "cores"): 3.0, (1024, "factors"): 1.2, (1024, "dense"): 0.95}

    def fake_round_robin(runs, repeats=5, stop=math.inf):
        rows = runs["dense layer"].args[0].shape[0]
        assert all(run.func.forms == [[rows, name]] for name, run in runs.items() if name != "dense layer")
        return {name: 1.0 if name == "dense layer" else fake[(rows, name)] for name in runs}

    monkeypatch.setattr(speed_module, "round_robin", fake_round_robin)
    monkeypatch.setattr(speed_module, "_modelled", lambda *_: 1.0)  # time every form
    speed = time_layer(layer, dense, max_slowdown)
    assert [f for _, f in speed.forms] == expected and layer.forms == speed.forms
    assert speed.ratio(1) == fake[(1, expected[0])] and speed.dense_seconds == {1: 1.0, 1024: 1.0}
    assert candidate_forms(layer) == MPO_FORMS and candidate_forms(torch.nn.Linear(2, 2)) == ()
    assert candidate_forms(_mpo_layer(2, seed=2)) == ("cores", "dense")


def test_the_report_says_clearly_when_the_model_is_slower_than_allowed():
    report = CompressionReport("m", "mpo", 0.5, "causal-lm")
    report.speed = ModelSpeed(1024, 1.0, 1.1, 0.01, 0.009, max_slowdown=1.0, noise=0.02).to_dict()
    assert not report.speed["ok"] and "SLOWER than the max slowdown 1" in report.format_text()
    report.speed = ModelSpeed(1024, 1.0, 0.9, 0.01, 0.01, max_slowdown=1.0).to_dict()
    assert report.speed["ok"] and "within the max slowdown 1" in report.format_text()
    assert report.speed["prefill_tokens_per_s_after"] == pytest.approx(1024 / 0.9)


@pytest.mark.parametrize("method, options", [("mpo", {}), ("whitened-svd", {}), ("rtn", {"bits": 4, "group": 32}),
                                             ("gptq+lowrank", {"bits": 4, "group": 64, "gptq_finer": False})])
def test_forms_are_timed_saved_and_used_by_both_loaders(method, options, tmp_path):
    out = tmp_path / method
    result = compress_model(tiny_llama(), **from_names(method, budget=0.5, tokens=tokens(), eval_tokens=None,
                                                       calibration_tokens=512, window=64, out=out, progress=False,
                                                       **options))
    report = result.report
    assert report.speed is not None and set(report.speed) >= {"prefill_ratio", "decode_ratio", "ok", "max_slowdown"}
    assert report.times["speed"] > 0 and "speed: prefill" in report.format_text()
    saved = json.loads((out / "config.json").read_text())["tnq_compressed_layers"]
    loaded = load_compressed(out).model
    for layer in report.layers:
        assert [rows for rows, _ in layer.forms] == [1, 1024]
        assert [row[0] for row in layer.latency] == [1, 1024] and all(t > 0 for row in layer.latency for t in row[1:])
        assert saved[layer.name]["forms"] == layer.forms == result.specs[layer.name]["forms"]
        assert loaded.get_submodule(layer.name).forms == layer.forms
    ids = tokens(40, seed=4)[None]
    with torch.no_grad():
        assert torch.equal(loaded(ids).logits, result.model(ids).logits)


@pytest.mark.parametrize("kind", ["quant", "quant-lowrank", "quant-mpo", "quant+lowrank"])
def test_quantised_layers_kept_dense_compute_their_dequantised_product(kind):
    """A quantised layer in the ``dense`` form (its whole weight kept between calls) gives the ``dequantise`` form's
    output to float32 rounding (bounded by eps times the sum of |x| |W| over the inputs, times a few roundings per
    product), and rebuilds the kept weight when its integers change."""
    from tnq.mpo.plan import QUANT_FORMS
    from tnq.mpo.remote_code import compressed_layer

    spec = {"kind": kind, "bias": True, "bits": 4, "group": 16, "shape": [24, 32], "rank": 5, "factor_bits": 8,
            "factor_group": 16, "core_shapes": [[1, 4, 8, 6], [6, 6, 4, 1]]}
    generator = torch.Generator().manual_seed(1)
    layer = compressed_layer(spec)
    for buffer in layer.buffers():
        buffer.copy_(torch.randint(-100, 100, buffer.shape, generator=generator).to(buffer.dtype)
                     if buffer.dtype != torch.float16 else torch.rand(buffer.shape, generator=generator).half())
    torch.nn.init.normal_(layer.bias, generator=generator)
    assert candidate_forms(layer) == QUANT_FORMS
    x = torch.randn(7, 32, generator=generator)
    with torch.no_grad():
        layer.forms = [[1, "dequantise"]]
        expected = layer(x)
        layer.forms = [[1, "dense"]]
        kept = layer(x)
        weight = layer.weight(torch.float32)
        bound = 8 * torch.finfo(torch.float32).eps * (x.abs() @ weight.abs().T + 1) * 32
        assert torch.all((kept - expected).abs() <= bound)
        assert layer.derived.values  # the weight is kept ...
        for buffer in layer.buffers():
            if buffer.dtype == torch.float16:
                buffer.mul_(2)  # ... and follows the scales when they change
        changed = layer(x)
        layer.forms = [[1, "dequantise"]]
        assert not torch.allclose(changed, kept) and torch.all((changed - layer(x)).abs() <= 4 * bound)


def test_a_model_slower_than_allowed_is_reported_and_warned(monkeypatch):
    slow = ModelSpeed(1024, 1.0, 1.5, 0.01, 0.02, max_slowdown=1.0)
    monkeypatch.setattr(speed_module, "compare_models", lambda *args, **kwargs: slow)
    with pytest.warns(speed_module.SlowdownWarning, match="SLOWER than the max slowdown 1"):
        result = compress_model(tiny_llama(), **from_names("svd", budget=0.5, eval_tokens=None, progress=False))
    assert result.report.speed == slow.to_dict() and "SLOWER" in result.report.format_text()


def test_max_slowdown_zero_times_nothing():
    result = compress_model(tiny_llama(), **from_names("whitened-svd", budget=0.5, tokens=tokens(), eval_tokens=None,
                                                       calibration_tokens=512, window=64, max_slowdown=None,
                                                       progress=False))
    assert result.report.speed is None and "speed" not in result.report.times
    assert all(layer.forms is None and layer.latency is None for layer in result.report.layers)
    assert "forms" not in next(iter(result.specs.values()))


@pytest.mark.parametrize("value, message", [("-1", "must be >= 0"), ("nan", "must be a finite number"),
                                            ("fast", "expected a number")])
def test_cli_refuses_a_bad_max_slowdown_in_one_line(value, message, capsys, tmp_path):
    with pytest.raises(SystemExit) as refused:
        main(["compress", str(tmp_path), "--max-slowdown", value])
    err = capsys.readouterr().err
    assert refused.value.code == 2 and err.count("\n") == 1 and f"argument --max-slowdown: {message}" in err


def test_max_slowdown_settings():
    from tnq.cli.compress import settings
    from tnq.cli.main import build_parser

    assert Evaluation().max_slowdown == 1.0
    parse = build_parser().parse_args
    assert settings(parse(["compress", "m", "--max-slowdown", "0"]))["evaluation"].max_slowdown is None
    assert settings(parse(["compress", "m", "--max-slowdown", "1.5"]))["evaluation"].max_slowdown == 1.5
    for bad in (0, -1.0, math.inf, "1"):
        with pytest.raises(MPOError, match="max_slowdown must be "):
            Evaluation(max_slowdown=bad)


@pytest.mark.parametrize("change", [{"forms": [[1, "warp"]]}, {"forms": [[1, "dense"]], "allow_dense": False},
                                    {"forms": [[8, "cores"], [1, "dense"]]}])
def test_a_saved_layer_with_malformed_forms_is_refused_naming_it(tmp_path, change):
    out = tmp_path / "model"
    compress_model(tiny_llama(), **from_names("mpo", budget=0.5, eval_tokens=None, out=out, max_slowdown=None,
                                              progress=False))
    meta = json.loads((out / "tnq_compress.json").read_text())
    name = next(iter(meta["layers"]))
    meta["layers"][name].update(change)
    (out / "tnq_compress.json").write_text(json.dumps(meta))
    with pytest.raises(MPOError, match=f"layer '{name}' has a malformed description"):
        load_compressed(out)


def test_round_robin_times_each_run_in_turn_and_drops_hopeless_ones():
    import time

    calls = {"fast": 0, "slow": 0}

    def run(name: str, seconds: float) -> None:
        calls[name] += 1
        time.sleep(seconds)

    from functools import partial

    best = speed_module.round_robin({"fast": partial(run, "fast", 0.0), "slow": partial(run, "slow", 0.005)},
                                    repeats=4, stop=2.0)
    assert best["slow"] >= 0.005 > best["fast"]
    assert calls == {"fast": 5, "slow": 2}  # a warm-up call each, then the slow run is dropped after one round
