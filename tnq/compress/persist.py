"""Save and load a compressed model as ``model.safetensors`` + ``tnq_compress.json`` (+ the transformers
``config.json`` and tokenizer files) in one folder that rebuilds without the original checkpoint: the model is
built from its config, the compressed layers are recreated empty from their recorded shapes, and the weights are
loaded strictly. The folder also carries ``modeling_tnq_compressed.py`` (``remote_code.py`` plus the classes of
this model) and ``plan.py``; its ``config.json`` names them in ``auto_map`` under a ``model_type`` of their own, so
transformers loads the folder only with ``trust_remote_code=True``, and then rebuilds the compressed model without
tnq. ``load_compressed`` never runs them: it reads the JSON and safetensors files only. The folder is written into
a temporary sibling and renamed into place, so a failed save leaves no half-written model, and an existing folder
is replaced only when tnq compress wrote it, only after the new one is complete. Damaged files raise an MPOError
naming them. No pickle anywhere."""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..io import atomic_write_text
from ..mpo.errors import MPOError
from .methods import layer_kinds
from .models import LoadedModel, check_memory, load_tokenizer, model_kind, reading, set_module

FORMAT = "tnq-compressed-model"
VERSION = 1
MODELING = "modeling_tnq_compressed"  # the modeling file's module name in a saved folder
CONFIG_KEYS = ("tnq_compressed_layers", "tnq_removed_modules", "tnq_original_model_type", "auto_map")


def _method_of(module: nn.Module) -> Any:
    """The registered method class whose layers ``module`` is one of (None for other modules)."""
    return next((cls for cls in layer_kinds().values() if isinstance(module, cls.layer_type())), None)


def layer_spec(module: nn.Module) -> dict[str, Any]:
    """JSON description of a compressed layer, enough to recreate it empty."""
    method = _method_of(module)
    if method is None:
        raise MPOError(f"cannot describe a {type(module).__name__} layer for saving")
    return method.to_spec(module)


def compressed_layers(model: nn.Module) -> dict[str, dict[str, Any]]:
    """``layer_spec`` of every compressed layer of ``model``, those of an earlier compression included."""
    return {name: layer_spec(m) for name, m in model.named_modules() if _method_of(m) is not None}


def empty_layer(spec: dict[str, Any], dtype: torch.dtype) -> nn.Module:
    """An empty layer (to be filled by loading the weights) from its ``layer_spec``."""
    method = layer_kinds().get(spec.get("kind"))
    if method is None:
        raise MPOError(f"unknown compressed layer kind {spec.get('kind')!r}")
    return method.from_spec(spec, dtype)


COMPRESSED_FILES = ("config.json", "model.safetensors", "tnq_compress.json")  # in every folder tnq compress writes
DTYPES = ("float32", "float16", "bfloat16", "float64")


def check_replaceable(out: str | os.PathLike, overwrite: bool, option: str = "out") -> None:
    """Refuse (``MPOError`` naming ``option``) an existing ``out`` unless ``overwrite`` is given, and even then a
    non-empty folder that tnq compress did not write (one without ``COMPRESSED_FILES``), so that a mistyped path
    never wipes an unrelated folder."""
    out = Path(out)
    if not out.exists():
        return
    if not out.is_dir():
        raise MPOError(f"{option} {str(out)!r} exists and is not a folder")
    if not overwrite:
        raise MPOError(f"{option} folder {str(out)!r} already exists (pass overwrite / --overwrite to replace it)")
    missing = [name for name in COMPRESSED_FILES if not (out / name).is_file()]
    if missing and any(out.iterdir()):
        raise MPOError(f"{option} {str(out)!r} is not a folder tnq compress wrote (it has no {', '.join(missing)}), "
                       f"so it is not replaced: choose another folder, or empty this one yourself")


def save_compressed(model: nn.Module, out: str | os.PathLike, layers: dict[str, dict[str, Any]],
                    tokenizer: Any = None, report: dict[str, Any] | None = None, overwrite: bool = False,
                    write_weights: Callable[[Path], None] | None = None) -> Path:
    """Write the model into folder ``out`` atomically (temporary sibling folder, then rename). ``layers`` maps each
    compressed layer's name to ``layer_spec``. An existing ``out`` is replaced only with ``overwrite`` and only
    when tnq compress wrote it (``check_replaceable``), after the new folder is complete. ``write_weights(path)``
    writes ``model.safetensors`` when the model's weights are not all in memory (streaming compression; the
    default saves ``model``'s)."""
    from safetensors.torch import save_model

    out = Path(out)
    check_replaceable(out, overwrite)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp"))
    try:
        config = getattr(model, "config", None)
        if config is None:
            raise MPOError(f"{type(model).__name__} has no transformers config: only transformers models can be saved")
        removed = removed_modules(model)
        atomic_write_text(tmp / "config.json", exported_config(model, layers, removed))
        write_modeling(model, tmp)
        if write_weights is None:
            save_model(model, str(tmp / "model.safetensors"))
        else:
            write_weights(tmp / "model.safetensors")
        if tokenizer is not None:
            tokenizer.save_pretrained(str(tmp))
        meta = {"format": FORMAT, "version": VERSION, "model_class": type(model).__name__, "kind": model_kind(model),
                "dtype": str(next(model.parameters()).dtype).removeprefix("torch."), "layers": layers,
                "removed": removed, "report": report or {}}
        atomic_write_text(tmp / "tnq_compress.json", json.dumps(meta, indent=1))
        _readable(tmp)
        _swap_in(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def join_safetensors(parts: list[Path], out: Path, chunk: int = 1 << 24) -> None:
    """Write the tensors of the safetensors files ``parts`` into one file ``out``, copying their bytes a chunk at
    a time (never a whole tensor in memory); a name in two parts raises ``MPOError``. Tensors are laid out by
    decreasing element size, so every tensor starts at a multiple of its element size."""
    import struct

    size = {"F64": 8, "I64": 8, "U64": 8, "F32": 4, "I32": 4, "U32": 4, "F16": 2, "BF16": 2, "I16": 2, "U16": 2}
    entries = []
    for part in parts:
        with open(part, "rb") as handle:
            length = struct.unpack("<Q", handle.read(8))[0]
            header = json.loads(handle.read(length))
        for name, info in header.items():
            if name != "__metadata__":
                start, end = info["data_offsets"]
                entries.append((-size.get(info["dtype"], 1), name, info, part, 8 + length + start, end - start))
    names = [e[1] for e in entries]
    if len(set(names)) != len(names):
        raise MPOError(f"tensor {next(n for n in names if names.count(n) > 1)!r} is in two parts of the model")
    entries.sort(key=lambda e: (e[0], e[1]))
    header, offset = {}, 0
    for _, name, info, _, _, nbytes in entries:
        header[name] = {"dtype": info["dtype"], "shape": info["shape"], "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)
    with open(out, "wb") as target:
        target.write(struct.pack("<Q", len(encoded)) + encoded)
        for _, _, _, part, start, nbytes in entries:
            with open(part, "rb") as source:
                source.seek(start)
                while nbytes:
                    block = source.read(min(chunk, nbytes))
                    target.write(block)
                    nbytes -= len(block)


def removed_modules(model: nn.Module) -> list[str]:
    """Submodules that ``model``'s class builds from its config but ``model`` lacks (e.g. a BERT built without its
    pooler), outermost only; none when the class does not rebuild from the config alone."""
    try:
        with torch.device("meta"):
            fresh = type(model)._from_config(model.config)
    except (AttributeError, TypeError, ValueError, RuntimeError):
        return []
    present = dict(model.named_modules())
    removed: list[str] = []
    for name, _ in fresh.named_modules():
        if name and name not in present and not any(name.startswith(f"{r}.") for r in removed):
            removed.append(name)
    return removed


def exported_config(model: nn.Module, layers: dict[str, dict[str, Any]], removed: list[str]) -> str:
    """``config.json`` of the saved folder: the model's config, its compressed layers and removed modules, and the
    ``auto_map`` / ``model_type`` / ``architectures`` of the classes in ``modeling_tnq_compressed.py``, so that
    transformers never loads the folder as the original architecture. A compressed layer whose weight was tied to
    another (a tied output head) is saved untied."""
    config = json.loads(model.config.to_json_string())
    if any(_tied(model, f"{name}.weight") for name in layers):
        config["tie_word_embeddings"] = False
    auto = "AutoModelForCausalLM" if model_kind(model) == "causal-lm" else "AutoModel"
    config.update(tnq_original_model_type=config.get("model_type"), model_type=_model_type(model),
                  architectures=["TnqCompressedModel"], tnq_compressed_layers=layers, tnq_removed_modules=removed,
                  auto_map={"AutoConfig": f"{MODELING}.TnqCompressedConfig", auto: f"{MODELING}.TnqCompressedModel"})
    return json.dumps(config, indent=2, sort_keys=True) + "\n"


def _model_type(model: nn.Module) -> str:
    return f"tnq_compressed_{model.config.model_type}"


def write_modeling(model: nn.Module, folder: Path) -> None:
    """``modeling_tnq_compressed.py`` (``remote_code.py`` and the two classes of this model) and ``plan.py``."""
    from ..mpo import plan, remote_code

    config_cls, model_cls = type(model.config), type(model)
    tail = f"""

from {config_cls.__module__} import {config_cls.__name__}  # noqa: E402
from {model_cls.__module__} import {model_cls.__name__}  # noqa: E402


class TnqCompressedConfig(CompressedConfigMixin, {config_cls.__name__}):
    model_type = "{_model_type(model)}"


class TnqCompressedModel(CompressedModelMixin, {model_cls.__name__}):
    config_class = TnqCompressedConfig
"""
    atomic_write_text(folder / f"{MODELING}.py", Path(remote_code.__file__).read_text() + tail)
    atomic_write_text(folder / "plan.py", Path(plan.__file__).read_text())


def _swap_in(new: Path, out: Path) -> None:
    """Rename the complete folder ``new`` to ``out``. An existing ``out`` is first renamed aside, put back if the
    second rename fails, and deleted only once ``new`` is in place: a failure never loses both."""
    if not out.exists():
        os.replace(new, out)
        return
    old = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".old"))
    os.replace(out, old)  # onto the empty folder just made: a fresh name no earlier run left behind
    try:
        os.replace(new, out)
    except BaseException:
        os.replace(old, out)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _readable(folder: Path) -> None:
    """Temporary files and folders are private (0600 / 0700); give the saved model the usual umask modes."""
    umask = os.umask(0)
    os.umask(umask)
    folder.chmod(0o777 & ~umask)
    for f in folder.iterdir():
        f.chmod(0o666 & ~umask)


def load_compressed(folder: str | os.PathLike) -> LoadedModel:
    """Rebuild a model saved by ``save_compressed`` from its folder alone; a missing or damaged file raises
    ``MPOError`` naming it."""
    import transformers
    from safetensors import safe_open
    from safetensors.torch import load_model

    folder = Path(folder)
    described, weights = folder / "tnq_compress.json", folder / "model.safetensors"
    try:
        meta = json.loads(described.read_text())
    except (OSError, ValueError) as exc:  # ValueError: not JSON, not UTF-8
        raise MPOError(f"{str(folder)!r} is not a tnq compressed model ({described.name}: {exc})") from None
    layers = _check_meta(meta, described)
    cls = getattr(transformers, meta["model_class"], None)
    if not (isinstance(cls, type) and issubclass(cls, transformers.PreTrainedModel)):
        raise MPOError(f"{described}: transformers has no model class {meta['model_class']!r}")
    config = _original_config(folder / "config.json", cls)
    with reading(weights, "not a readable safetensors file"), safe_open(str(weights), framework="pt") as handle:
        stored = sum(math.prod(handle.get_slice(key).get_shape()) for key in handle.keys())
    needed = sum(layers.values())
    if needed > stored:
        raise MPOError(f"{described}: the compressed layers it records need {needed:,} parameters, but "
                       f"{weights.name} holds only {stored:,}")
    dtype = getattr(torch, meta.get("dtype", "float32"))

    def build() -> nn.Module:
        return cls._from_config(config, dtype=dtype) if hasattr(cls, "_from_config") else cls(config)

    check_memory(config, build, folder / "config.json", [weights], replaced=layers)
    with reading(folder / "config.json", f"does not build a {cls.__name__}"):
        model = build()
    for name, spec in meta["layers"].items():
        if not isinstance(_submodule(model, name), nn.Linear):
            raise MPOError(f"{described}: {name!r} is not a linear layer of a {cls.__name__}")
        try:
            set_module(model, name, empty_layer(spec, dtype))
        except MPOError as exc:
            raise MPOError(f"{described}: layer {name!r}: {exc}") from None
    for name in meta.get("removed", []):
        if _submodule(model, name) is None:
            raise MPOError(f"{described}: removed module {name!r} is not a submodule of a {cls.__name__}")
        set_module(model, name, None)
    with reading(weights, "cannot load the weights"):
        missing, unexpected = load_model(model, str(weights), strict=False)
    missing = [k for k in missing if not _tied(model, k)]
    if missing or unexpected:
        raise MPOError(f"{weights} does not match the recorded layers: missing {missing[:5]}, "
                       f"unexpected {unexpected[:5]}")
    return LoadedModel(model.eval(), load_tokenizer(folder), meta.get("kind", model_kind(model)), str(folder))


def _original_config(path: Path, cls: type) -> Any:
    """The original architecture's config from ``config.json`` (as written by ``exported_config``, or by an
    earlier tnq that kept the original's), without running the folder's modeling code."""
    with reading(path, "not a transformers config"):
        values = json.loads(path.read_text())
        if not isinstance(values, dict):
            raise ValueError(f"a JSON {type(values).__name__}, not an object")
        for key in CONFIG_KEYS:
            values.pop(key, None)
        values.update(model_type=cls.config_class.model_type, architectures=[cls.__name__])
        return cls.config_class.from_dict(values)


def _submodule(model: nn.Module, name: str) -> nn.Module | None:
    try:
        return model.get_submodule(name)
    except AttributeError:
        return None


def _check_meta(meta: Any, path: Path) -> dict[str, int]:
    """Check the structure of ``tnq_compress.json`` (read from ``path``); returns each recorded layer's number of
    parameters."""
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        raise MPOError(f"{path}: format {found!r} is not {FORMAT!r}")
    if not isinstance(meta.get("model_class"), str):
        raise MPOError(f"{path}: no model_class recorded")
    if meta.get("kind", "causal-lm") not in ("causal-lm", "encoder"):
        raise MPOError(f"{path}: kind {meta.get('kind')!r} is neither 'causal-lm' nor 'encoder'")
    if meta.get("dtype", "float32") not in DTYPES:
        raise MPOError(f"{path}: dtype {meta.get('dtype')!r} is not one of {', '.join(DTYPES)}")
    if not isinstance(meta.get("layers"), dict):
        raise MPOError(f"{path}: no layers recorded")
    removed = meta.get("removed", [])
    if not (isinstance(removed, list) and all(isinstance(name, str) and name for name in removed)):
        raise MPOError(f"{path}: removed modules {json.dumps(removed)[:200]} are not a list of module names")
    return {name: _spec_size(name, spec, path) for name, spec in meta["layers"].items()}


def _spec_size(name: str, spec: Any, path: Path) -> int:
    """Parameters of the layer ``spec`` describes; ``MPOError`` naming ``path`` and the layer when it is
    malformed."""
    method = layer_kinds().get(spec.get("kind")) if isinstance(spec, dict) else None
    size = None if method is None else method.spec_size(spec)
    if size is None:
        raise MPOError(f"{path}: layer {name!r} has a malformed description {json.dumps(spec)[:200]}")
    return size


def _tied(model: nn.Module, key: str) -> bool:
    """A key missing from the file because its tensor is shared with a saved one (tied embeddings)."""
    tied = getattr(model, "_tied_weights_keys", None) or {}
    names = tied if isinstance(tied, (list, tuple, set)) else list(tied)
    return key in names or (key == "lm_head.weight" and getattr(model.config, "tie_word_embeddings", False))
