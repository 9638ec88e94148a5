"""GPTQ and GPTQ + low-rank in the compression registry: GPTQ against closed forms (a diagonal Hessian gives
round-to-nearest exactly; a direct implementation of its sequential rule, each column rounded after the columns
not yet rounded took their least-squares optimum given those already rounded; a brute-force search on a 2x3
layer), its output error against round-to-nearest's over seeds, the packed format and its round trip through
healing, byte budgets of the low-rank term, saving and loading in tnq and in transformers alone, and bad options."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from test_mpo_compress import tiny_llama, tokens  # noqa: E402

from tnq.cli.main import build_parser  # noqa: E402
from tnq.compress import compress_model, from_names  # noqa: E402
from tnq.compress.methods import get_method, layer_kinds  # noqa: E402
from tnq.compress.methods.base import storage_bytes  # noqa: E402
from tnq.compress.methods.gptq import FACTOR_FORMS, GPTQ, GPTQLowRank, gptq_quantise, lowrank_bytes  # noqa: E402
from tnq.compress.methods.quantise import quantise  # noqa: E402
from tnq.mpo import MPOError  # noqa: E402
from tnq.mpo.remote_code import CompressedQuantLinear, CompressedQuantPlusLowRankLinear  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")

COMMON = dict(tokens=tokens(), eval_tokens=None, calibration_tokens=512, window=64, progress=False)


def correlated(seed: int, n: int = 256, d: int = 12) -> np.ndarray:
    """``n`` input rows of dimension ``d`` with strongly correlated features (what makes GPTQ differ from RTN)."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)) @ rng.standard_normal((d, d)) + 0.1 * rng.standard_normal((n, d))


def rtn_steps(W: np.ndarray, bits: int, group: int) -> np.ndarray:
    """Round-to-nearest's float16 scale of each value (groups of ``group`` consecutive values, row-major)."""
    flat = np.pad(W.reshape(-1), (0, -W.size % group)).reshape(-1, group)
    scales = (np.abs(flat).max(axis=1) / (2 ** (bits - 1) - 1)).astype(np.float16).astype(np.float64)
    return np.repeat(scales, group)[:W.size].reshape(W.shape)


def reference_gptq(W: np.ndarray, gram: np.ndarray, bits: int, group: int, damp: float, act_order: bool = False
                   ) -> tuple[np.ndarray, np.ndarray]:
    """GPTQ's rule written directly, O(d_in^4): with columns F rounded, the rest take their least-squares optimum
    M_R = W_R + (W_F - Q_F) H_FR H_RR^-1 (H the damped Gram matrix), and the next column is M's, rounded. In
    natural order with groups dividing d_in, a group's scales come from M's columns of the group when its first
    column is reached; otherwise they are round-to-nearest's. ``act_order``: columns taken by decreasing diagonal
    of ``gram``. Returns (integers, per-value scale)."""
    d_out, d_in = W.shape
    top = 2 ** (bits - 1) - 1
    H = gram + damp * np.mean(np.diag(gram)) * np.eye(d_in)
    order = np.argsort(-np.diag(gram), kind="stable") if act_order else np.arange(d_in)
    dynamic = d_in % group == 0 and not act_order
    step = np.zeros_like(W) if dynamic else rtn_steps(W, bits, group)
    Q = np.zeros_like(W)
    for k, j in enumerate(order):
        F, R = order[:k], order[k:]
        M = W[:, R] + (W[:, F] - Q[:, F] * step[:, F]) @ H[np.ix_(F, R)] @ np.linalg.inv(H[np.ix_(R, R)])
        if dynamic and j % group == 0:
            scale = (np.abs(M[:, :group]).max(axis=1) / top).astype(np.float16).astype(np.float64)
            step[:, j:j + group] = scale[:, None]
        safe = np.where(step[:, j] > 0, step[:, j], 1.0)
        Q[:, j] = np.clip(np.rint(M[:, 0] / safe), -top, top)
    return Q, step


def integers(q) -> np.ndarray:
    """The stored integers of a quantised tensor (dequantised values over their scales)."""
    scales = q.scales.to(torch.float64).repeat_interleave(q.group)[:q(torch.float64).numel()]
    values = q(torch.float64).reshape(-1) / torch.where(scales > 0, scales, 1.0)
    return torch.round(values).reshape(q.tensor_shape).numpy()


@pytest.mark.parametrize("bits, group, act_order", [(4, 4, False), (8, 4, False), (4, 12, False), (4, 5, False),
                                                    (8, 7, False), (4, 4, True), (8, 5, True)])
def test_gptq_with_a_diagonal_hessian_is_round_to_nearest(bits, group, act_order):
    rng = np.random.default_rng(bits + group)
    W = torch.as_tensor(rng.standard_normal((6, 12)) * np.exp(rng.standard_normal((6, 1))))
    gram = np.diag(rng.uniform(0.5, 3.0, 12))  # no correlation between inputs: nothing to compensate
    ours, rtn = gptq_quantise(W, gram, bits, group, block=4, act_order=act_order), quantise(W, bits, group)
    assert torch.equal(ours.data, rtn.data) and torch.equal(ours.scales, rtn.scales)


@pytest.mark.parametrize("bits, group, block, act_order", [
    (4, 4, 4, False), (4, 4, 128, False), (8, 6, 4, False), (4, 12, 5, False), (4, 5, 4, False), (8, 7, 3, False),
    (4, 4, 4, True), (4, 4, 128, True), (8, 6, 5, True), (4, 5, 3, True)])
def test_gptq_matches_its_rule_written_directly(bits, group, block, act_order):
    rng = np.random.default_rng(10 * bits + group)
    W = rng.standard_normal((6, 12))
    X = correlated(group) * rng.uniform(0.2, 3.0, 12)  # input energies differ: act order is not input order
    gram = X.T @ X
    q = gptq_quantise(torch.as_tensor(W), gram, bits, group, damp=0.01, block=block, act_order=act_order)
    values, step = reference_gptq(W, gram, bits, group, 0.01, act_order)
    assert np.array_equal(integers(q), values)
    assert np.array_equal(q(torch.float64).numpy(), (values * step).astype(np.float32))
    assert not np.array_equal(values, integers(quantise(torch.as_tensor(W), bits, group)))  # not RTN here


def test_gptq_on_a_2x3_layer_against_brute_force():
    """Each row is independent: its loss is a quadratic form in the row's error. Brute force over the whole grid
    finds the optimum (GPTQ is greedy, so no better); with the first two columns fixed at GPTQ's choice, GPTQ's
    last column is the exact optimum (a one-dimensional quadratic, minimised by rounding its minimiser)."""
    bits, top = 4, 7
    W = np.array([[0.91, -0.37, 0.52], [-0.18, 0.66, 0.29]])
    X = correlated(3, n=64, d=3)
    gram, damp = X.T @ X, 0.01
    H = gram + damp * np.mean(np.diag(gram)) * np.eye(3)
    q = gptq_quantise(torch.as_tensor(W), gram, bits, 3, damp=damp)
    values, dequantised = integers(q), q(torch.float64).numpy()
    grid = range(-top, top + 1)
    for r in range(2):
        step = float(q.scales[r])

        def loss(row, r=r, step=step):
            delta = W[r] - np.asarray(row, dtype=np.float64) * step
            return float(delta @ H @ delta)

        best = min(loss(c) for c in itertools.product(grid, repeat=3))
        ours = float((W[r] - dequantised[r]) @ H @ (W[r] - dequantised[r]))
        rtn = loss(np.clip(np.rint(W[r] / step), -top, top))
        assert best <= ours * (1 + 1e-6) and ours <= rtn * (1 + 1e-6)
        last = min(grid, key=lambda v, r=r: loss([values[r, 0], values[r, 1], v]))
        assert values[r, 2] == last


@pytest.mark.parametrize("act_order", [False, True])
def test_gptq_has_a_lower_output_error_than_round_to_nearest(act_order):
    """Over 30 seeds of correlated inputs: were GPTQ no better than RTN, winning 25 or more would have chance
    below 2e-4."""
    wins = 0
    for seed in range(30):
        X = correlated(seed, d=32)
        W = torch.as_tensor(np.random.default_rng(100 + seed).standard_normal((16, 32)))
        q = gptq_quantise(W, X.T @ X, 4, 8, act_order=act_order)(torch.float64)
        r = quantise(W, 4, 8)(torch.float64)
        errors = [np.linalg.norm(X @ (W - M).numpy().T) for M in (q, r)]
        wins += errors[0] < errors[1]
    assert wins >= 25


def test_gptq_layers_are_round_to_nearest_layers_and_survive_healing_unchanged():
    result = compress_model(tiny_llama(), **from_names("gptq", bits=4, group=32, **COMMON))
    name = "model.layers.0.mlp.down_proj"
    layer, method = result.model.get_submodule(name), get_method(GPTQ(bits=4, group=32))
    spec = {k: v for k, v in result.specs[name].items() if k != "forms"}  # forms: as timed on this machine
    assert isinstance(layer, CompressedQuantLinear) and spec == {
        "kind": "quant", "shape": [64, 128], "bits": 4, "group": 32, "bias": False}
    again = method.finish(method.to_float(layer))  # healing with no step: the same integers and scales
    assert all(torch.equal(a, b) for a, b in zip(layer.state_dict().values(), again.state_dict().values()))
    rtn = compress_model(tiny_llama(), **from_names("rtn", bits=4, group=32, **COMMON))
    assert result.report.layer_bytes_after == rtn.report.layer_bytes_after
    assert all(r.activation_error is not None for r in result.report.layers)
    healed = compress_model(tiny_llama(), **from_names("gptq", bits=4, group=32, heal_steps=6, heal_lr=0.05,
                                                       **COMMON))
    after = healed.model.get_submodule(name)
    assert not torch.equal(after.weight_q.data, layer.weight_q.data)  # healing moved integers
    assert torch.equal(after.weight_q.scales, layer.weight_q.scales)  # on the grid GPTQ chose


def test_the_low_rank_term_fills_the_byte_budget_and_lowers_the_error():
    budget = 0.4
    plain = compress_model(tiny_llama(), **from_names("gptq", bits=4, group=64, **COMMON))
    fixed = compress_model(tiny_llama(), **from_names("gptq+lowrank", bits=4, group=64, gptq_finer=False,
                                                      budget=budget, budget_unit="bytes", **COMMON))
    auto = compress_model(tiny_llama(), **from_names("gptq+lowrank", bits=4, group=64, budget=budget,
                                                     gptq_finer=True, budget_unit="bytes", **COMMON))
    forms = set()
    for p, f, a in zip(plain.report.layers, fixed.report.layers, auto.report.layers):
        (d_out, d_in), rank, layer = f.shape, f.chi[0], fixed.model.get_submodule(f.name)
        assert isinstance(layer, CompressedQuantPlusLowRankLinear) and layer.weight_q.group == 64
        form = (layer.first.bits, layer.first.group)
        forms.add(form)
        limit = int(budget * 2 * d_out * d_in)
        assert f.bytes_after <= limit < f.bytes_after + lowrank_bytes(d_out, d_in, rank + 1, *form) - lowrank_bytes(
            d_out, d_in, rank, *form)  # the largest rank that fits
        assert f.activation_error < p.activation_error  # the low-rank term removes part of GPTQ's error
        assert a.activation_error <= f.activation_error and a.bytes_after <= limit  # the best of the candidates
    assert fixed.report.layer_bytes_after <= budget * fixed.report.layer_bytes_before
    assert forms <= set(FACTOR_FORMS)


def test_gptq_plus_low_rank_round_trips_its_float_form():
    result = compress_model(tiny_llama(), **from_names("gptq+lowrank", bits=4, group=64, gptq_finer=False,
                                                       budget=0.4, budget_unit="bytes", **COMMON))
    layer, method = result.model.get_submodule("model.layers.1.self_attn.o_proj"), GPTQLowRank(bits=4, group=64)
    again = method.finish(method.to_float(layer))
    assert all(torch.equal(a, b) for a, b in zip(layer.state_dict().values(), again.state_dict().values()))
    spec = result.specs["model.layers.1.self_attn.o_proj"]
    assert spec["kind"] == "quant+lowrank" and (spec["factor_bits"], spec["factor_group"]) in FACTOR_FORMS
    cls = layer_kinds()["quant+lowrank"]
    empty = cls.from_spec(spec, torch.float32)
    assert cls.spec_size(spec) == sum(t.numel() for t in empty.state_dict().values())
    assert storage_bytes(empty) == storage_bytes(layer)
    assert cls.spec_size({**spec, "factor_bits": 3}) is None and cls.spec_size({**spec, "rank": 0}) is None
    healed = compress_model(tiny_llama(), **from_names("gptq+lowrank", bits=4, group=64, gptq_finer=False,
                                                       budget=0.4, budget_unit="bytes", heal_steps=2, **COMMON))
    assert healed.report.heal_steps == 2 and healed.specs == result.specs  # healed in float, stored as before
    assert isinstance(healed.model.get_submodule("model.layers.1.self_attn.o_proj"), CompressedQuantPlusLowRankLinear)


def test_gptq_with_sequential_calibration():
    result = compress_model(tiny_llama(), **from_names("gptq", bits=4, group=32, calibration="sequential", **COMMON))
    assert all(s["kind"] == "quant" for s in result.specs.values()) and len(result.specs) == 14


def test_bad_gptq_options_are_refused_clearly(capsys):
    with pytest.raises(MPOError, match="bits must be 4 or 8, got 5"):
        GPTQ(bits=5)
    with pytest.raises(MPOError, match="gptq_damp must be > 0"):
        GPTQ(damp=0.0)
    with pytest.raises(MPOError, match="gptq_order must be one of act, natural, got 'reverse'"):
        GPTQ(order="reverse")
    linear = torch.nn.Linear(8, 4)
    with pytest.raises(MPOError, match="gptq needs calibration inputs"):
        GPTQ().fit(linear, 32)
    with pytest.raises(MPOError, match=r"gptq\+lowrank needs calibration inputs"):
        GPTQLowRank().fit(linear, 32)
    with pytest.raises(MPOError, match="the input Gram matrix is 6x6, the layer has 8 inputs"):
        GPTQ().fit(linear, 32, np.eye(6))
    with pytest.raises(MPOError, match="finite square matrix"):
        GPTQ().fit(linear, 32, np.full((8, 8), np.nan))
    with pytest.raises(MPOError, match="gptq needs calibration inputs"):
        compress_model(tiny_llama(), **from_names("gptq", **{**COMMON, "tokens": torch.tensor([5])}))  # no text
    args = build_parser().parse_args(["compress", "m", "--method", "gptq+lowrank", "--gptq-damp", "0.1",
                                      "--gptq-finer-groups", "--bits", "4"])
    assert (args.gptq_damp, args.gptq_finer, args.bits) == (0.1, True, 4)
    assert get_method("gptq+lowrank") == GPTQLowRank(finer=False, order="act", damp=0.1)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["compress", "m", "--method", "gptq", "--gptq-damp", "0"])
    assert "--gptq-damp" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        build_parser().parse_args(["compress", "m", "--method", "gptq", "--gptq-order", "reverse"])
    assert "--gptq-order" in capsys.readouterr().err
