"""Load a transformers model offline (a model folder, a safetensors file beside its config.json, a GGUF file, or a
folder saved by ``tnq compress``) and find its attention and MLP linear layers, with one clear error listing what
was found when the architecture or a requested layer name is not recognised."""

from __future__ import annotations

import fnmatch
import itertools
import re
import struct
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from safetensors import SafetensorError
from torch import nn

from ..errors import TnqError
from ..mpo.errors import MPOError

ROLES = ("attention", "mlp")
_BLOCK = re.compile(r"(?:^|\.)(?:layers|layer|h|blocks|block)\.(\d+)(?:\.|$)")
_ATTENTION = {"attention", "self_attn", "attn", "self_attention", "cross_attn", "crossattention"}
_MLP = {"mlp", "intermediate", "output", "ffn", "feed_forward", "feedforward", "fc1", "fc2"}
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")  # files transformers reads weights from

try:  # huggingface_hub's config validation (transformers 5)
    from huggingface_hub.errors import StrictDataclassError
except ImportError:  # older versions do not validate
    StrictDataclassError = ValueError  # type: ignore[assignment,misc]

# What transformers, huggingface_hub, safetensors, gguf and torch raise on a damaged file or a config that builds no
# model (a string where a size belongs, a negative or zero size, a missing key, a truncated record).
READ_ERRORS = (OSError, ValueError, TypeError, KeyError, IndexError, AttributeError, RuntimeError, ArithmeticError,
               AssertionError, struct.error, SafetensorError, StrictDataclassError)


class ModelError(MPOError):
    """A model could not be loaded or does not have the layers asked for (the message lists what was found)."""


@dataclass
class LoadedModel:
    """A model in eval mode, its tokenizer (None when the source has none) and ``kind``: 'causal-lm' or 'encoder'."""

    model: nn.Module
    tokenizer: Any
    kind: str
    source: str


def model_kind(model: nn.Module) -> str:
    """'causal-lm' for models with a language-model head (``...ForCausalLM``), else 'encoder'."""
    return "causal-lm" if type(model).__name__.endswith("ForCausalLM") else "encoder"


def quiet_transformers() -> None:
    """Silence transformers' logging and progress bars (tnq reports problems itself, as one clear error)."""
    from transformers.utils import logging

    logging.set_verbosity_error()
    logging.disable_progress_bar()


def load_model(source: str | Path) -> LoadedModel:
    """Load ``source`` offline: a ``.gguf`` file, a ``.safetensors`` file (config.json beside it), a transformers
    model folder or a folder written by ``tnq compress`` (which rebuilds without the original checkpoint). A
    missing, damaged or oversized model raises ``ModelError`` naming the file."""
    path = Path(source)
    if not path.exists():
        raise ModelError(f"model {str(source)!r} does not exist (expected a model folder, a .safetensors or a "
                         f".gguf file)")
    quiet_transformers()
    if path.is_dir() and (path / "tnq_compress.json").exists():
        from .persist import load_compressed

        return load_compressed(path)
    if path.is_file() and path.suffix.lower() == ".gguf":
        return _load_gguf(path)
    folder = path.parent if path.is_file() else path
    if path.is_file() and path.suffix.lower() != ".safetensors":
        raise ModelError(f"model file {str(path)!r} is neither .safetensors nor .gguf")
    if not (folder / "config.json").exists():
        ggufs = sorted(folder.glob("*.gguf"))
        if path.is_dir() and len(ggufs) == 1:
            return _load_gguf(ggufs[0])
        found = sorted(p.name for p in folder.iterdir())[:20]
        raise ModelError(f"model folder {str(folder)!r} has no config.json (found: {', '.join(found) or 'nothing'})")
    from transformers import AutoConfig, AutoModel, AutoModelForCausalLM

    with reading(folder / "config.json", "not a transformers config"):
        config = AutoConfig.from_pretrained(folder, local_files_only=True)
        causal = any(a.endswith("ForCausalLM") for a in (config.architectures or []))
    auto = AutoModelForCausalLM if causal else AutoModel
    files = [path] if path.is_file() else [f for f in folder.iterdir() if f.suffix in WEIGHT_SUFFIXES]
    check_memory(config, lambda: auto.from_config(config), folder / "config.json", files)
    weights = files[0] if len(files) == 1 else folder
    with reading(weights, "cannot load the model's weights"):
        if path.is_file():
            from safetensors.torch import load_file

            with reading(folder / "config.json", "does not build a model"):
                model = auto.from_config(config)
            state = load_file(str(path))
            prefix = getattr(model, "base_model_prefix", "")
            missing, unexpected = model.load_state_dict(state, strict=False)
            if unexpected and prefix and all(not k.startswith(prefix + ".") for k in state):
                missing, unexpected = getattr(model, prefix).load_state_dict(state, strict=False)
            if unexpected:
                raise ModelError(f"{path.name}: weights {unexpected[:5]} do not belong to a {type(model).__name__}")
            model.tie_weights()
        else:
            model = auto.from_pretrained(folder, local_files_only=True)
    return LoadedModel(model.eval(), load_tokenizer(folder), model_kind(model), str(path))


@contextmanager
def reading(path: Path, what: str) -> Iterator[None]:
    """Turn the errors of reading ``path`` (``READ_ERRORS``) into one ``ModelError`` naming it: '<path>: <what>
    (<the reader's message>)'. TnqErrors pass unchanged."""
    try:
        yield
    except TnqError:
        raise
    except READ_ERRORS as exc:
        detail = " ".join(str(exc).split())[:300] or type(exc).__name__
        raise ModelError(f"{path}: {what} ({detail})") from None


def check_fits_weights(needed: float, weights: Sequence[Path], where: Path, ratio: float = 4.0,
                       at_least: str = "") -> None:
    """Refuse, naming ``where`` (the config), a model whose tensors need more than ``ratio`` times the size of the
    ``weights`` files they are read from, plus 64 MiB: a damaged config may describe terabytes, or a model its
    weights do not fill. No files: no limit."""
    from ..memory import format_bytes

    stored = sum(f.stat().st_size for f in set(weights))
    if stored and needed > ratio * stored + 2**26:
        raise ModelError(f"{where}: the model it describes needs {at_least}{format_bytes(needed)}, far more than its "
                         f"weights ({format_bytes(stored)}): the config does not fit them")


def check_memory(config: Any, build: Callable[[], nn.Module], where: Path, weights: Sequence[Path] = (),
                 ratio: float = 4.0, replaced: Mapping[str, int] | None = None) -> None:
    """Refuse, naming ``where`` (the config), a model that would not fit, before allocating it: ``build()`` runs on
    torch's meta device (no memory); the model's parameters and buffers must fit the memory budget (80% of the
    free memory) and take at most ``ratio`` times the size of the ``weights`` files they are read from, plus
    64 MiB: a damaged config may describe terabytes, or a model its weights do not fill. ``replaced``: layers the
    loader then swaps for compressed ones, with their parameter counts. A model that does not build on the meta
    device is left to the real build to report."""
    import torch

    from ..memory import default_budget, format_bytes

    budget = default_budget()

    def check_budget(needed: float, at_least: str = "") -> None:
        if needed > budget:
            raise ModelError(f"{where}: the model it describes needs {at_least}{format_bytes(needed)}, over the "
                             f"memory budget of {format_bytes(budget)} (80% of the free memory)")

    sizes = [getattr(config, key, None) for key in ("vocab_size", "hidden_size", "num_hidden_layers")]
    if all(isinstance(n, int) and n > 0 for n in sizes):  # before building: a config may ask for a million layers
        vocab, hidden, blocks = sizes
        least = 2 * (vocab * hidden + blocks * hidden * hidden)  # embeddings and a matrix per block, 16-bit
        check_budget(least, "at least ")
        if replaced is None:  # compressed blocks may be far smaller than hidden x hidden
            check_fits_weights(least, weights, where, ratio, "at least ")
    try:
        with torch.device("meta"):
            skeleton = build()
    except TnqError:
        raise
    except Exception:  # noqa: BLE001 - the real build raises it again, as a ModelError naming the file
        return
    tensors = list(itertools.chain(skeleton.parameters(), skeleton.buffers()))
    needed = sum(t.numel() * t.element_size() for t in tensors)
    check_budget(needed)  # the peak: the dense model is built before layers are swapped
    modules, item = dict(skeleton.named_modules()), tensors[0].element_size() if tensors else 4
    for name, params in (replaced or {}).items():
        if name in modules:
            needed += item * (params - sum(p.numel() for p in modules[name].parameters()))
    check_fits_weights(needed, weights, where, ratio)


def _load_gguf(path: Path) -> LoadedModel:
    """GGUF through transformers' reader (tensors de-quantised to float32), without needing ``accelerate``."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer
    from transformers.modeling_gguf_pytorch_utils import load_gguf_checkpoint

    with reading(path, "not a GGUF model transformers can read"):
        config = AutoConfig.from_pretrained(path.parent, gguf_file=path.name, local_files_only=True)
    check_memory(config, lambda: AutoModelForCausalLM.from_config(config), path, [path], ratio=16.0)  # de-quantised
    with reading(path, "not a GGUF model transformers can read"):
        model = AutoModelForCausalLM.from_config(config)
        tensors = load_gguf_checkpoint(str(path), return_tensors=True, model_to_load=model)["tensors"]
        _, unexpected = model.load_state_dict(tensors, strict=False)
        if unexpected:
            raise ModelError(f"{path.name}: tensors {unexpected[:5]} do not fit a {type(model).__name__}")
        model.tie_weights()
        tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name, local_files_only=True)
    return LoadedModel(model.eval(), tokenizer, model_kind(model), str(path))


def load_tokenizer(folder: Path) -> Any:
    """The tokenizer saved in ``folder`` (None when it holds no tokenizer files); damaged files raise
    ``ModelError``."""
    files = [f for f in ("tokenizer.json", "tokenizer_config.json", "vocab.txt") if (folder / f).exists()]
    if not files:
        return None
    from transformers import AutoTokenizer

    try:
        # never the folder's code, and no prompt asking for it (an exported folder's config.json has an auto_map)
        return AutoTokenizer.from_pretrained(folder, local_files_only=True, trust_remote_code=False)
    except Exception as exc:  # noqa: BLE001 - the tokenizers library raises plain Exceptions on damaged files
        raise ModelError(f"{folder}: the tokenizer ({', '.join(files)}) cannot be read "
                         f"({' '.join(str(exc).split())[:300] or type(exc).__name__})") from None


def layer_role(name: str) -> str | None:
    """'attention' or 'mlp' for a linear inside a numbered block (``layers.3.self_attn.q_proj``,
    ``encoder.layer.0.intermediate.dense``), None for anything else (heads, poolers, embeddings)."""
    match = _BLOCK.search(name)
    if match is None:
        return None
    parts = name[match.end():].split(".")
    if any(p in _ATTENTION for p in parts):
        return "attention"
    if any(p in _MLP for p in parts):
        return "mlp"
    return None


def block_index(name: str) -> int | None:
    """The block number in a layer name (``model.layers.12.mlp.up_proj`` -> 12), None outside blocks."""
    match = _BLOCK.search(name)
    return None if match is None else int(match.group(1))


def blocks_name(name: str) -> str | None:
    """The name of the list of blocks a layer lies in (``model.layers.12.mlp.up_proj`` -> ``model.layers``), None
    outside blocks."""
    match = _BLOCK.search(name)
    return None if match is None else name[:match.start(1) - 1]


def linear_layers(model: nn.Module) -> dict[str, nn.Linear]:
    """Every ``nn.Linear`` of the model by dotted name (tied duplicates once)."""
    return {name: m for name, m in model.named_modules() if isinstance(m, nn.Linear)}


def _abbreviate(names: Sequence[str], limit: int = 12) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "") if names else "none"


def find_linears(model: nn.Module, layers: str | Sequence[str] = ROLES) -> list[str]:
    """Names of the linears to compress. ``layers`` holds roles ('attention', 'mlp', 'all' = both) and/or
    layer names or glob patterns ('model.layers.*.mlp.*'); each must match something, else one error lists the
    linears found."""
    items = [s.strip() for s in (layers.split(",") if isinstance(layers, str) else layers) if s.strip()]
    if not items:
        raise ModelError("no layers requested: give roles (attention, mlp, all) or layer names / glob patterns")
    found = linear_layers(model)
    if not found:
        kinds = sorted({type(m).__name__ for m in model.modules()})[:15]
        raise ModelError(f"{type(model).__name__} has no torch.nn.Linear layers to compress "
                         f"(module types found: {', '.join(kinds)})")
    roles = {name: layer_role(name) for name in found}
    chosen: list[str] = []
    for item in items:
        wanted = ROLES if item == "all" else (item,) if item in ROLES else None
        if wanted is not None:
            hits = [n for n in found if roles[n] in wanted]
            if not hits:
                blocks = [n for n in found if block_index(n) is not None]
                raise ModelError(
                    f"unknown architecture {type(model).__name__}: no {item} linears recognised inside numbered "
                    f"blocks; linears found: {_abbreviate(blocks or list(found))}. Name the layers explicitly "
                    f"(layer names or glob patterns)")
        else:
            hits = [n for n in found if n == item or fnmatch.fnmatchcase(n, item)]
            if not hits:
                raise ModelError(f"layer {item!r} matches no linear layer of {type(model).__name__}; linears found: "
                                 f"{_abbreviate(list(found))}")
        chosen.extend(h for h in hits if h not in chosen)
    order = {name: k for k, name in enumerate(found)}
    return sorted(chosen, key=order.__getitem__)


def get_module(model: nn.Module, name: str) -> nn.Module:
    return model.get_submodule(name)


def set_module(model: nn.Module, name: str, module: nn.Module) -> None:
    """Replace the submodule at dotted ``name``."""
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, module)
