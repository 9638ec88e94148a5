"""What ``compress_model`` reports: ``LayerReport`` per replaced layer and ``CompressionReport`` (sizes, quality
before / after, times), with its text form and sensitivity plot; ``CompressResult`` bundles it with the model."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import Any

from torch import nn

from .budget import groups_by_block
from .fit import low_rank_sites


@dataclass
class LayerReport:
    """One replaced layer: shape, parameters, chi (MPO bond dimensions or the SVD rank) and relative errors."""

    name: str
    shape: tuple[int, int]
    params_before: int
    params_after: int
    chi: list[int]
    error: float
    """||W - M||_F / ||W||_F"""
    activation_error: float | None = None
    """||(W - M) X|| / ||W X|| on the calibration inputs (None without calibration)."""
    sensitivity: float | None = None
    sites: str | None = None
    """MPO site factorisation, e.g. '24x24 | 24x24' (out x in per site); None for low-rank layers."""
    site_errors: dict[str, float] | None = None
    """With ``sites='auto'``: the error (as ``activation_error``, else ``error``) of every factorisation tried."""
    bytes_after: int | None = None
    """Bytes of the layer's weights as shipped: float16 values, or quantised values and their scales."""
    forms: list[list[Any]] | None = None
    """[rows, form] pairs: the form the layer runs in for calls of about that many input rows (timed)."""
    latency: list[list[float]] | None = None
    """[rows, seconds per call in the chosen form, seconds of the dense layer it replaced] (timed)."""

    def speed_text(self) -> str:
        """The chosen forms and their time relative to the dense layer, e.g. 'dense 1.02 / factors 0.55'."""
        if not self.latency:
            return ""
        forms = dict(map(tuple, self.forms or []))
        return " / ".join(f"{forms.get(rows, 'as is')} {seconds / dense:.2f}" for rows, seconds, dense in self.latency)


@dataclass
class CompressionReport:
    """Everything ``tnq compress`` prints: sizes, per-layer results, quality before/after and times (seconds)."""

    source: str
    method: str
    budget: float
    kind: str
    params_before: int = 0
    params_after: int = 0
    bytes_before: int = 0
    bytes_after: int = 0
    layer_params_before: int = 0
    layer_params_after: int = 0
    layer_bytes_before: int = 0
    """The chosen layers' weights in float16."""
    layer_bytes_after: int = 0
    budget_unit: str = "params"
    metric: str = "perplexity"
    calibration: str = "independent"
    """'sequential': layers fitted in forward order to corrected targets (see sequential.py)."""
    quality_before: float | None = None
    quality_compressed: float | None = None
    quality_healed: float | None = None
    heal_steps: int = 0
    heal_sample_tokens: int = 0
    heal_samples_cached: bool = False
    heal_dense_layers: int = 0
    heal_teacher_states: bool = False
    heal_losses: list[float] = field(default_factory=list)
    layers: list[LayerReport] = field(default_factory=list)
    times: dict[str, float] = field(default_factory=dict)
    speed: dict[str, Any] | None = None
    """The model's forward pass against the original's (``speed.ModelSpeed.to_dict``), when timed."""
    output: str | None = None
    streamed: bool = False
    """Compressed block by block from the safetensors files (``streaming.py``), never whole in memory."""
    peak_memory: int | None = None
    """Peak resident memory of the process (bytes), measured before saving."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def speed_text(self) -> str:
        """The model's speed before and after, and whether it is within the slowdown allowed."""
        s = self.speed
        if not s:
            return ""
        verdict = ("within" if s["ok"] else "SLOWER than") + f" the max slowdown {s['max_slowdown']:g}"
        if s.get("noise", 0) > 0.2:
            verdict += " (the timings are unreliable: the machine was busy)"
        return (f"speed: prefill ({s['prefill_tokens']} tokens) {s['prefill_tokens_per_s_before']:,.0f} -> "
                f"{s['prefill_tokens_per_s_after']:,.0f} tokens/s, one-token decode "
                f"{s['decode_tokens_per_s_before']:,.1f} -> {s['decode_tokens_per_s_after']:,.1f} calls/s; time "
                f"x{s['prefill_ratio']:.2f} and x{s['decode_ratio']:.2f} the original's (timing jitter "
                f"{s.get('noise', 0):.0%}): {verdict}")

    def format_text(self, per_layer: bool = True) -> str:
        """Readable summary (and one line per layer)."""
        calibrated = ", sequential calibration" if self.calibration == "sequential" else ""
        lines = [f"{self.source}: {self.kind}, method {self.method}{calibrated}, budget {self.budget:g} of "
                 f"{len(self.layers)} layers' {'bytes in float16' if self.budget_unit == 'bytes' else 'parameters'}",
                 f"parameters {self.params_before:,} -> {self.params_after:,} "
                 f"({self.params_after / max(self.params_before, 1):.1%}); compressed layers "
                 f"{self.layer_params_before:,} -> {self.layer_params_after:,} "
                 f"({self.layer_params_after / max(self.layer_params_before, 1):.1%})",
                 f"bytes {self.bytes_before:,} -> {self.bytes_after:,}; compressed layers at float16 "
                 f"{self.layer_bytes_before:,} -> {self.layer_bytes_after:,} "
                 f"({self.layer_bytes_after / max(self.layer_bytes_before, 1):.1%})"]
        cached = " (cached)" if self.heal_samples_cached else ""
        sampled = f", {self.heal_sample_tokens:,} sampled tokens{cached}" if self.heal_sample_tokens else ""
        n_dense = self.heal_dense_layers
        dense = f", {n_dense} dense layer{'s' * (n_dense != 1)} trained too" if n_dense else ""
        dense += ", teacher states precomputed" if self.heal_teacher_states else ""
        quality = [("original", self.quality_before), ("compressed", self.quality_compressed),
                   (f"healed ({self.heal_steps} steps{sampled}{dense})", self.quality_healed)]
        lines.append(f"{self.metric}: " + ", ".join(f"{k} {v:.4g}" for k, v in quality if v is not None))
        lines.append("time: " + ", ".join(f"{k} {v:.1f} s" for k, v in self.times.items()))
        if self.speed:
            lines.append(self.speed_text())
        if self.peak_memory:
            how = "streamed block by block, " if self.streamed else ""
            lines.append(f"memory: {how}peak resident {self.peak_memory / 2**20:,.0f} MiB; the original in float32: "
                         f"{4 * self.params_before / 2**20:,.0f} MiB")
        auto = [r for r in self.layers if r.site_errors]
        if auto:
            gains = [1 - r.site_errors[r.sites] / r.site_errors[low_rank_sites(*r.shape)] for r in auto
                     if r.sites != low_rank_sites(*r.shape)]
            what = "activation error" if any(r.activation_error is not None for r in auto) else "weight error"
            span = f" ({what} {min(gains):.1%} to {max(gains):.1%} below low-rank)" if gains else ""
            lines.append(f"sites auto: {len(gains)} of {len(auto)} layers kept a multi-site MPO{span}, "
                         f"{len(auto) - len(gains)} the low-rank sites")
        if per_layer:
            timed = any(r.latency for r in self.layers)
            lines.append(f"{'layer':<44} {'shape':>11} {'params':>9} {'bytes':>10} {'chi':>12} {'error':>7} "
                         f"{'act.err':>7}" + ("  form and time / dense (1 row / more)" if timed else ""))
            for r in self.layers:
                act = "" if r.activation_error is None else f"{r.activation_error:.3f}"
                size = "" if r.bytes_after is None else f"{r.bytes_after:,}"
                chi = ",".join(map(str, r.chi)) or ("dense" if r.params_after == r.params_before else "-")
                lines.append(f"{r.name:<44} {r.shape[0]:>5}x{r.shape[1]:<5} {r.params_after:>9,} {size:>10} "
                             f"{chi:>12} {r.error:7.3f} {act:>7}" + (f"  {r.speed_text()}" if timed else ""))
        if self.output:
            lines.append(f"saved {self.output}")
        return "\n".join(lines)

    def plot_sensitivity(self, path: str | os.PathLike) -> None:
        """Bar chart of the per-block sensitivity (loss increase) and the parameter fraction each block kept."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from ..io import save_figure

        groups = groups_by_block([r.name for r in self.layers])
        by_name = {r.name: r for r in self.layers}
        labels = list(groups)
        sens = [by_name[m[0]].sensitivity or 0.0 for m in groups.values()]
        kept = [sum(by_name[n].params_after for n in m) / sum(by_name[n].params_before for n in m)
                for m in groups.values()]
        fig, (a, b) = plt.subplots(2, 1, figsize=(max(6, 0.3 * len(labels)), 5), sharex=True)
        a.bar(range(len(labels)), sens, color="tab:red")
        a.set_ylabel("loss increase")
        a.set_title(f"layer sensitivity ({self.method} at {self.budget:g} of parameters, one block at a time)")
        b.bar(range(len(labels)), kept, color="tab:blue")
        b.set_ylabel("parameters kept")
        b.set_xticks(range(len(labels)), [lab.replace("block ", "") for lab in labels], fontsize=7)
        b.set_xlabel("block")
        fig.tight_layout()
        save_figure(fig, path)
        plt.close(fig)


@dataclass
class CompressResult:
    model: nn.Module
    tokenizer: Any
    report: CompressionReport
    specs: dict[str, dict[str, Any]]


def peak_memory() -> int | None:
    """The process's peak resident memory in bytes so far (None where the platform does not say)."""
    try:
        import resource
    except ImportError:  # Windows
        return None
    import sys

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # bytes on macOS, KiB on Linux


def model_size(model: nn.Module) -> tuple[int, int]:
    """(parameters, bytes) counting shared (tied) tensors once; bytes include quantised values and their scales."""
    from ..mpo.remote_code import QuantisedTensor

    seen: set[int] = set()
    params = nbytes = 0
    for m in model.modules():
        if isinstance(m, QuantisedTensor):
            nbytes += sum(b.numel() * b.element_size() for b in m.buffers())
    for p in model.parameters():
        if p.data_ptr() in seen:
            continue
        seen.add(p.data_ptr())
        params += p.numel()
        nbytes += p.numel() * p.element_size()
    return params, nbytes
