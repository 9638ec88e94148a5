"""The compression-method registry and the settings dataclasses: the command line's options are generated from
the dataclasses and map back to the same values Python users build, ``tnq --help`` builds them without torch, and a
method added by one registry line is compressed, saved and loaded back through the registry alone."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass, fields
from typing import Any

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from torch import nn  # noqa: E402

from tnq.cli.main import build_parser  # noqa: E402
from tnq.compress import Calibration, Evaluation, Healing, Output, from_names, load_compressed  # noqa: E402
from tnq.compress.methods import REGISTRY, Method, layer_kinds, method_class  # noqa: E402
from tnq.compress.methods.base import dims, layer_report  # noqa: E402
from tnq.compress.methods.mpo import MPOMethod  # noqa: E402
from tnq.compress.options import GROUPS, setting_fields  # noqa: E402
from tnq.compress.pipeline import compress_model  # noqa: E402
from tnq.mpo import MPOError  # noqa: E402


def _settings(argv: list[str]) -> dict[str, Any]:
    from tnq.cli.compress import settings

    return settings(build_parser().parse_args(["compress", "model", *argv]))


def test_cli_defaults_are_the_dataclass_defaults_and_options_map_to_their_fields():
    assert _settings([]) == from_names("mpo")
    chosen = _settings(["--heal-minutes", "2", "--heal-steps", "7", "--no-distill", "--heal-samples", "5",
                        "--samples-cache", "s.safetensors", "--cores", "3", "--sites", "auto", "--eval-tokens", "0",
                        "--calibration", "sequential", "--sensitivity", "--out", "o", "--overwrite"])
    assert chosen["healing"] == Healing(steps=7, seconds=120.0, distill=False, sample_tokens=5,
                                        samples_cache="s.safetensors")
    assert chosen["method"] == MPOMethod(cores=3, sites="auto") and chosen["evaluation"].tokens is None
    assert chosen["calibration"] == Calibration(mode="sequential", sensitivity=True)
    assert chosen["output"] == Output(out="o", overwrite=True)
    assert type(_settings(["--method", "whitened-svd", "--cores", "3"])["method"]) is method_class("whitened-svd")


def test_every_setting_has_one_name_and_one_option():
    classes = [*GROUPS.values(), *map(method_class, REGISTRY)]
    settings = list({id(f): f for c in classes for f in setting_fields(c)}.values())  # inherited ones once
    names = [f.metadata["name"] for f in settings]
    flags = [f.metadata["option"].flag for f in settings if f.metadata["option"]]
    assert len(names) == len(set(names)) and len(flags) == len(set(flags))
    assert all(len(list(setting_fields(c))) == len(fields(c)) for c in classes)  # no field outside the scheme
    with pytest.raises(MPOError, match="unknown setting 'heal_rate'"):
        from_names(heal_rate=0.1)
    with pytest.raises(MPOError, match="heal_lr must be > 0"):
        Healing(lr=0.0)


def test_the_command_line_parser_builds_without_torch():
    code = "import sys; from tnq.cli.main import build_parser; build_parser(); print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == \
        "False\n"


class RoundedLinear(nn.Module):
    """A toy quantised layer: the weight rounded to multiples of ``step``."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None, step: float = 1 / 64) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.round(weight.detach() / step) * step)
        self.bias = None if bias is None else nn.Parameter(bias.detach().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.linear(x, self.weight, self.bias)


@dataclass(frozen=True)
class Rounded(Method):
    """What a quantisation method adds: one class, one registry line."""

    kind = "rounded"
    fits_inputs = False

    def fit(self, linear: nn.Linear, max_params: int, gram: Any = None) -> tuple[nn.Module, Any]:
        layer = RoundedLinear(linear.weight, linear.bias)
        return layer, layer_report(linear, layer, layer.weight.detach().double().numpy(), gram, [])

    @staticmethod
    def layer_type() -> type:
        return RoundedLinear

    @staticmethod
    def to_spec(module: nn.Module) -> dict[str, Any]:
        return {"kind": "rounded", "shape": list(module.weight.shape), "bias": module.bias is not None}

    @staticmethod
    def from_spec(spec: dict[str, Any], dtype: torch.dtype) -> nn.Module:
        return RoundedLinear(torch.zeros(spec["shape"], dtype=dtype), torch.zeros(spec["shape"][0], dtype=dtype)
                             if spec["bias"] else None)

    @staticmethod
    def spec_size(spec: dict[str, Any]) -> int | None:
        ok = dims(spec.get("shape"), 2) and isinstance(spec.get("bias"), bool)
        return spec["shape"][0] * (spec["shape"][1] + spec["bias"]) if ok else None


def test_a_method_registered_in_one_line_compresses_saves_and_loads_back(monkeypatch, tmp_path):
    from test_mpo_compress import tiny_llama, tokens

    monkeypatch.setitem(REGISTRY, "rounded", f"{__name__}:Rounded")
    assert layer_kinds()["rounded"] is Rounded and layer_kinds()["mpo"] is MPOMethod
    model, x = tiny_llama(), tokens(50)[None]
    with torch.no_grad():
        reference = model(x).logits
    result = compress_model(model, 0.5, "rounded", evaluation=Evaluation(tokens=None),
                            output=Output(out=tmp_path / "m"),
                            progress=False)
    assert result.report.method == "rounded" and all(s["kind"] == "rounded" for s in result.specs.values())
    back = load_compressed(tmp_path / "m").model
    assert isinstance(back.get_submodule("model.layers.0.mlp.down_proj"), RoundedLinear)
    with torch.no_grad():
        torch.testing.assert_close(back(x).logits, result.model(x).logits, rtol=1e-5, atol=1e-5)
        step_error = float((back(x).logits - reference).abs().max())
    assert 0 < step_error < 1.0  # rounded, not the original weights, and not far from them
