"""Save and load a compressed model as ``model.safetensors`` + ``tnq_compress.json`` (+ the transformers
``config.json`` and tokenizer files) in one folder that rebuilds without the original checkpoint: the model is
built from its config, the compressed layers are recreated empty from their recorded shapes, and the weights are
loaded strictly. The folder is written into a temporary sibling and renamed into place, so a failed save leaves
no half-written model. No pickle anywhere."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..io import atomic_write_text
from .baselines import LowRankLinear
from .errors import MPOError
from .linear import MPOLinear
from .models import LoadedModel, model_kind, set_module

FORMAT = "tnq-compressed-model"
VERSION = 1


def layer_spec(module: nn.Module) -> dict[str, Any]:
    """JSON description of a compressed layer, enough to recreate it empty."""
    if isinstance(module, MPOLinear):
        return {"kind": "mpo", "core_shapes": [list(c.shape) for c in module.cores], "bias": module.bias is not None,
                "allow_dense": module.allow_dense}
    if isinstance(module, LowRankLinear):
        return {"kind": "lowrank", "shape": [module.out_features, module.in_features], "rank": module.rank,
                "bias": module.bias is not None}
    raise MPOError(f"cannot describe a {type(module).__name__} layer for saving")


def empty_layer(spec: dict[str, Any], dtype: torch.dtype) -> nn.Module:
    if spec.get("kind") == "mpo":
        return MPOLinear.empty([tuple(s) for s in spec["core_shapes"]], bias=spec["bias"], dtype=dtype,
                               allow_dense=spec.get("allow_dense", False))
    if spec.get("kind") == "lowrank":
        d_out, d_in = spec["shape"]
        return LowRankLinear.empty(d_out, d_in, spec["rank"], spec["bias"], dtype)
    raise MPOError(f"unknown compressed layer kind {spec.get('kind')!r}")


def save_compressed(model: nn.Module, out: str | os.PathLike, layers: dict[str, dict[str, Any]],
                    tokenizer: Any = None, report: dict[str, Any] | None = None, overwrite: bool = False) -> Path:
    """Write the model into folder ``out`` atomically (temporary sibling folder, then rename). ``layers`` maps each
    compressed layer's name to ``layer_spec``. An existing ``out`` is replaced only with ``overwrite``."""
    from safetensors.torch import save_model

    out = Path(out)
    if out.exists() and not overwrite:
        raise MPOError(f"output folder {str(out)!r} already exists (pass overwrite / --overwrite to replace it)")
    if out.exists() and not out.is_dir():
        raise MPOError(f"output {str(out)!r} exists and is not a folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp"))
    try:
        config = getattr(model, "config", None)
        if config is None:
            raise MPOError(f"{type(model).__name__} has no transformers config: only transformers models can be saved")
        atomic_write_text(tmp / "config.json", config.to_json_string())
        save_model(model, str(tmp / "model.safetensors"))
        if tokenizer is not None:
            tokenizer.save_pretrained(str(tmp))
        meta = {"format": FORMAT, "version": VERSION, "model_class": type(model).__name__, "kind": model_kind(model),
                "dtype": str(next(model.parameters()).dtype).removeprefix("torch."), "layers": layers,
                "report": report or {}}
        atomic_write_text(tmp / "tnq_compress.json", json.dumps(meta, indent=1))
        _readable(tmp)
        if out.exists():
            old = out.with_name(f".{out.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(out, old)
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _readable(folder: Path) -> None:
    """Temporary files and folders are private (0600 / 0700); give the saved model the usual umask modes."""
    umask = os.umask(0)
    os.umask(umask)
    folder.chmod(0o777 & ~umask)
    for f in folder.iterdir():
        f.chmod(0o666 & ~umask)


def load_compressed(folder: str | os.PathLike) -> LoadedModel:
    """Rebuild a model saved by ``save_compressed`` from its folder alone."""
    import transformers
    from safetensors.torch import load_model

    folder = Path(folder)
    try:
        meta = json.loads((folder / "tnq_compress.json").read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise MPOError(f"{str(folder)!r} is not a tnq compressed model (tnq_compress.json: {exc})") from None
    if meta.get("format") != FORMAT:
        raise MPOError(f"{folder}/tnq_compress.json: format {meta.get('format')!r} is not {FORMAT!r}")
    config = transformers.AutoConfig.from_pretrained(folder, local_files_only=True)
    cls = getattr(transformers, meta["model_class"], None)
    if cls is None:
        raise MPOError(f"{folder}: transformers has no model class {meta['model_class']!r}")
    dtype = getattr(torch, meta.get("dtype", "float32"))
    model = cls._from_config(config, dtype=dtype) if hasattr(cls, "_from_config") else cls(config)
    for name, spec in meta["layers"].items():
        set_module(model, name, empty_layer(spec, dtype))
    missing, unexpected = load_model(model, str(folder / "model.safetensors"), strict=False)
    missing = [k for k in missing if not _tied(model, k)]
    if missing or unexpected:
        raise MPOError(f"{folder}/model.safetensors does not match the recorded layers: missing {missing[:5]}, "
                       f"unexpected {unexpected[:5]}")
    tokenizer = None
    if any((folder / f).exists() for f in ("tokenizer.json", "tokenizer_config.json")):
        tokenizer = transformers.AutoTokenizer.from_pretrained(folder, local_files_only=True)
    return LoadedModel(model.eval(), tokenizer, meta.get("kind", model_kind(model)), str(folder))


def _tied(model: nn.Module, key: str) -> bool:
    """A key missing from the file because its tensor is shared with a saved one (tied embeddings)."""
    tied = getattr(model, "_tied_weights_keys", None) or {}
    names = tied if isinstance(tied, (list, tuple, set)) else list(tied)
    return key in names or (key == "lm_head.weight" and getattr(model.config, "tie_word_embeddings", False))
