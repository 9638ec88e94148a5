"""The MPO (TT-matrix) method: each weight becomes a chain of cores (``tnq.mpo.MPOLinear``), from a TT-SVD in the
input-whitened metric, optionally fitted to the calibration inputs by ALS (``fit.py``), with the site
factorisation balanced or chosen per layer."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from ...checks import Number
from ...mpo.plan import MPO_FORMS, valid_forms
from ..options import SITES, Option, setting
from .base import Method, dims, layer_report, with_saved_forms

if TYPE_CHECKING:
    import numpy as np
    import torch
    from torch import nn

    from ..report import LayerReport


@dataclass(frozen=True)
class MPOMethod(Method):
    """MPO layers of ``cores`` cores; ``fit_steps`` ALS sweeps of ``fit_iters`` CG iterations per core update fit
    them to the calibration inputs; ``sites='auto'`` (the default) keeps a multi-site MPO only where its error is
    below ``site_margin`` times the two-site low-rank one's (see ``fit.choose_fit``)."""

    kind = "mpo"
    layer = "tnq.mpo.linear:MPOLinear"

    cores: int = setting(2, "n_cores", Option(
        "--cores", "MPO cores per layer (default: 2; 3-core MPOs had higher activation errors on SmolLM2)"),
        rule=Number(integer=True, minimum=1))
    fit_steps: int = setting(0, "fit_steps", Option(
        "--fit-steps", "activation-aware MPO fit: ALS sweeps over each layer's cores, minimising ||(W - M) X|| "
        "on the calibration text (default: 0 = off; 1 is usually enough)", "N"), rule=Number(integer=True, minimum=0))
    fit_iters: int = setting(10, "fit_iters", Option(
        "--fit-iters", "conjugate-gradient iterations per core update of the fit (default: 10)", "N"),
        rule=Number(integer=True, minimum=1))
    sites: str = setting("auto", "sites", Option(
        "--sites", "MPO site factorisation: auto = per layer the better (by activation error, or weight error "
        "without calibration) of the balanced MPO and the two-site one (d_out x 1 | 1 x d_in), whose two "
        "factors are also the MPO that runs faster than the dense layer below half its size; balanced = "
        "always the balanced MPO, which at half the parameters runs no faster than the dense layer "
        "(default: auto)"), choices=SITES)
    site_margin: float = setting(1.0, "site_margin", Option(
        "--site-margin", "with --sites auto: keep the balanced MPO only when its activation error is below M times "
        "the low-rank one's (default: 1 = the lower error wins; e.g. 0.95 keeps only MPOs at least "
        "5%% better: low-rank layers heal faster, see benchmarks/mpo_compress.py)", "M"),
        rule=Number(above=0, maximum=1))

    @property
    def needs_gram(self) -> bool:
        return self.fit_steps > 0

    @property
    def fitted(self) -> bool:
        return self.fit_steps > 0

    def for_probe(self) -> MPOMethod:
        return replace(self, fit_steps=0)

    def fit(self, linear: nn.Linear, max_params: int, gram: np.ndarray | None = None) -> tuple[nn.Module, LayerReport]:
        import torch

        from ...mpo.linear import MPOLinear
        from ..fit import choose_fit, fit_candidates

        W = linear.weight.detach().cpu().to(torch.float64).numpy()
        bias = None if linear.bias is None else linear.bias.detach().cpu()
        fits = fit_candidates(W, gram, max_params, self.cores, self.sites, self.fit_steps, self.fit_iters)
        best = choose_fit(fits, self.site_margin)
        mpo = best.mpo.balance(whitening=best.whitening)
        layer = MPOLinear(mpo, bias, dtype=linear.weight.dtype, allow_dense=True)
        report = layer_report(linear, layer, mpo.to_matrix(), gram, mpo.bond_dims)
        report.sites = best.sites
        report.site_errors = {f.sites: f.error for f in fits} if len(fits) > 1 else None
        return layer, report

    @staticmethod
    def to_spec(module: nn.Module) -> dict[str, Any]:
        return with_saved_forms(module, {"kind": "mpo", "core_shapes": [list(c.shape) for c in module.cores],
                                         "bias": module.bias is not None, "allow_dense": module.allow_dense})

    @staticmethod
    def from_spec(spec: dict[str, Any], dtype: torch.dtype) -> nn.Module:
        from ...mpo.linear import MPOLinear

        layer = MPOLinear.empty([tuple(s) for s in spec["core_shapes"]], bias=spec["bias"], dtype=dtype,
                                allow_dense=spec.get("allow_dense", False))
        layer.forms = spec.get("forms")
        return layer

    @staticmethod
    def spec_size(spec: dict[str, Any]) -> int | None:
        shapes = spec.get("core_shapes")
        if not (isinstance(shapes, list) and shapes and all(dims(s, 4) for s in shapes)
                and isinstance(spec.get("bias"), bool)):
            return None
        dense = spec.get("allow_dense", False) is True or len(shapes) == 1
        if not valid_forms(spec.get("forms"), [f for f in MPO_FORMS if f != "dense" or dense]):
            return None
        return sum(math.prod(s) for s in shapes) + spec["bias"] * math.prod(s[1] for s in shapes)
