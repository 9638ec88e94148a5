"""Streaming compression, for models larger than memory: the model is built with its parameters on torch's meta
device (no memory), and its blocks are read from the safetensors files, calibrated, compressed, evaluated and
written one at a time, so the peak is about one block, the parts outside the blocks (embeddings, head) and the
calibration and evaluation activations, not the whole model.

How: the inputs the model gives its first block are recorded (a hook stops the forward pass there), then each
block in turn is loaded, its linears' input Gram matrices are taken from the original model's activations (as in
independent calibration, so the result equals the in-memory pipeline's), its layers are replaced, the two
evaluation streams (original and compressed) and the calibration stream are passed through it, its weights are
written to a part file and it goes back to the meta device. Quality is measured by running the model with its
blocks replaced by the recorded outputs of the last block. The part files are joined into one
``model.safetensors`` at the end (``persist.join_safetensors``)."""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file
from torch import nn

from ..progress import progress_bar
from .models import (
    ModelError,
    blocks_name,
    check_fits_weights,
    load_tokenizer,
    model_kind,
    quiet_transformers,
    reading,
    set_module,
)
from .sequential import StopForward

INDEX = "model.safetensors.index.json"


@dataclass
class Checkpoint:
    """A transformers model folder whose weights are safetensors files, read one tensor at a time."""

    folder: Path
    config: Any
    files: dict[str, Path]
    """Tensor name -> the file holding it."""

    @classmethod
    def open(cls, source: str | Path) -> Checkpoint:
        """The checkpoint at ``source`` (a model folder or a ``.safetensors`` file beside its config.json); anything
        else raises ``ModelError`` saying what streaming needs."""
        from safetensors import safe_open
        from transformers import AutoConfig

        quiet_transformers()
        path = Path(source)
        folder = path.parent if path.is_file() else path
        if path.suffix.lower() == ".gguf" or (path.is_dir() and not (folder / "config.json").exists()):
            raise ModelError(f"streaming reads a transformers folder with safetensors weights; {str(path)!r} is not "
                             f"one (a GGUF file loads whole: save it with transformers' save_pretrained first)")
        if (folder / "tnq_compress.json").exists():
            raise ModelError(f"{str(folder)!r} was written by tnq compress: streaming reads an original model")
        if path.is_file():
            files = [path] if path.suffix.lower() == ".safetensors" else []
        elif (folder / "model.safetensors").exists():
            files = [folder / "model.safetensors"]
        elif (folder / INDEX).exists():
            with reading(folder / INDEX, "not a safetensors index"):
                names = json.loads((folder / INDEX).read_text())["weight_map"].values()
                files = sorted({folder / name for name in names})
        else:
            files = sorted(folder.glob("*.safetensors"))
        if not files:
            found = sorted(p.name for p in folder.iterdir())[:20]
            raise ModelError(f"streaming reads safetensors weights; {str(path)!r} has none (found: {', '.join(found)})")
        with reading(folder / "config.json", "not a transformers config"):
            config = AutoConfig.from_pretrained(folder, local_files_only=True)
        where: dict[str, Path] = {}
        for file in files:
            with reading(file, "not a readable safetensors file"), safe_open(str(file), framework="pt") as handle:
                where.update(dict.fromkeys(handle.keys(), file))
        return cls(folder, config, where)

    def key(self, name: str, prefix: str) -> str | None:
        """The stored name of the model's tensor ``name``: as it is, or with or without the base model's
        ``prefix`` (checkpoints of a base model and of a model with a head name their tensors differently)."""
        candidates = [name, f"{prefix}.{name}", name.removeprefix(f"{prefix}.")] if prefix else [name]
        return next((key for key in candidates if key in self.files), None)

    def load(self, module: nn.Module, prefix: str, base_prefix: str, dtype: torch.dtype,
             optional: bool = False) -> list[str]:
        """Fill ``module`` (named ``prefix`` in the model) with its stored tensors, converted to ``dtype`` where
        they are floating point. A tensor missing from the files raises ``ModelError`` naming it, unless
        ``optional``: then the names of the missing ones are returned (they stay on the meta device)."""
        from safetensors import safe_open

        state, missing = {}, []
        with ExitStack() as files:
            handles: dict[Path, Any] = {}
            for name in module.state_dict(keep_vars=True):
                full = f"{prefix}.{name}" if prefix else name
                key = self.key(full, base_prefix)
                if key is None:
                    if optional:
                        missing.append(name)
                        continue
                    raise ModelError(f"{self.folder}: the safetensors files have no tensor {full!r}")
                file = self.files[key]
                with reading(file, f"cannot read tensor {key!r}"):
                    if file not in handles:
                        handles[file] = files.enter_context(safe_open(str(file), framework="pt"))
                    tensor = handles[file].get_tensor(key)
                state[name] = tensor.to(dtype) if tensor.is_floating_point() else tensor
        with reading(self.folder, f"the stored tensors of {prefix or 'the model'} do not fit its architecture"):
            module.load_state_dict(state, strict=False, assign=True)
        for param in module.parameters():
            param.requires_grad_(False)
        return missing


@contextmanager
def parameters_on_meta() -> Iterator[None]:
    """Modules built inside get their parameters on the meta device (no memory) and their buffers as usual (so
    computed buffers such as rotary frequencies stay real)."""
    register = nn.Module.register_parameter

    def on_meta(module: nn.Module, name: str, param: nn.Parameter | None) -> None:
        register(module, name, param)
        if param is not None:
            module._parameters[name] = nn.Parameter(param.to("meta"), requires_grad=param.requires_grad)

    nn.Module.register_parameter = on_meta  # type: ignore[method-assign]
    try:
        yield
    finally:
        nn.Module.register_parameter = register  # type: ignore[method-assign]


def empty_model(checkpoint: Checkpoint, check: Callable[[nn.Module], None] | None = None) -> nn.Module:
    """The checkpoint's architecture with every parameter on the meta device, in the checkpoint's dtype. ``check``
    first sees a skeleton built wholly on the meta device, to refuse a model that would not fit before any of its
    parameters is allocated (building the model allocates each parameter for a moment)."""
    from transformers import AutoModel, AutoModelForCausalLM

    config = checkpoint.config
    causal = any(a.endswith("ForCausalLM") for a in (config.architectures or []))
    dtype = getattr(config, "dtype", None)
    dtype = getattr(torch, dtype) if isinstance(dtype, str) else dtype
    dtype = dtype if isinstance(dtype, torch.dtype) and dtype.is_floating_point else torch.float32
    auto = AutoModelForCausalLM if causal else AutoModel
    with reading(checkpoint.folder / "config.json", "does not build a model"):
        if check is not None:
            with torch.device("meta"):
                skeleton = auto.from_config(config, dtype=dtype)
            check(skeleton)
        with parameters_on_meta():
            model = auto.from_config(config, dtype=dtype)
    return model.eval()


def _bytes(module: nn.Module) -> int:
    """Bytes of a module's parameters and buffers, each tensor once (tied weights are one)."""
    tensors = {id(t): t for t in (*module.parameters(), *module.buffers())}
    return sum(t.numel() * t.element_size() for t in tensors.values())


def check_memory(skeleton: nn.Module, checkpoint: Checkpoint, tokens: int, window: int) -> None:
    """Refuse, naming the config, a model whose streaming would not fit the memory budget (80% of the free memory):
    the parts outside the blocks, the largest block three times over (the original, its compressed layers and the
    fitting's work), the activations of ``tokens`` tokens in three streams and the logits of one ``window``-token
    window; or one that describes far more than its safetensors files hold (a damaged config)."""
    from ..memory import default_budget, format_bytes

    lists = [m for m in skeleton.modules() if isinstance(m, nn.ModuleList)]
    blocks = max(lists, key=_bytes, default=nn.ModuleList())
    total, largest = _bytes(skeleton), max((_bytes(b) for b in blocks), default=0)
    config, item = checkpoint.config, 4
    hidden, vocab = getattr(config, "hidden_size", 0) or 0, getattr(config, "vocab_size", 0) or 0
    needed = total - _bytes(blocks) + 3 * largest + 3 * item * hidden * tokens + 2 * item * window * vocab
    budget, where = default_budget(), checkpoint.folder / "config.json"
    if needed > budget:
        raise ModelError(f"{where}: streaming this model needs about {format_bytes(needed)} (the parts outside its "
                         f"blocks, its largest block, the activations), over the memory budget of "
                         f"{format_bytes(budget)} (80% of the free memory); use fewer evaluation or calibration "
                         f"tokens")
    check_fits_weights(total, list(checkpoint.files.values()), where)


def block_list(model: nn.Module, names: Sequence[str]) -> tuple[str, nn.ModuleList]:
    """The name and the ModuleList of the numbered blocks holding the linears ``names``; ``ModelError`` when some
    lie outside them (streaming compresses block by block)."""
    heads = {name: blocks_name(name) for name in names}
    outside = [n for n, head in heads.items() if head is None]
    if outside:
        raise ModelError(f"streaming compresses the layers inside the model's numbered blocks; {outside[0]!r} is "
                         f"not in one: choose other layers or compress without streaming")
    if len(set(heads.values())) > 1:
        raise ModelError(f"streaming compresses one list of blocks; the layers chosen lie in "
                         f"{', '.join(sorted(set(heads.values())))}: choose the layers of one")
    head = heads[names[0]]
    blocks = model.get_submodule(head)
    if not isinstance(blocks, nn.ModuleList):
        raise ModelError(f"{head!r} of {type(model).__name__} is not a list of blocks")
    return head, blocks


def initialise(model: nn.Module, missing: Sequence[str]) -> None:
    """Tie the model's weights, then give the tensors outside the blocks that the checkpoint lacks (a head or a
    pooler the original was saved without) transformers' initial values, as ``from_pretrained`` does."""
    model.tie_weights()
    tensors = dict(model.named_parameters(remove_duplicate=False))
    owners = {name.rpartition(".")[0] for name in missing if name in tensors and tensors[name].is_meta}
    for owner in sorted(owners):
        module = model.get_submodule(owner)
        module.to_empty(device="cpu", recurse=False)
        model._init_weights(module)
        for param in module.parameters(recurse=False):
            param.requires_grad_(False)


@dataclass
class BlockInputs:
    """What a block is called with for one batch: the hidden states and the model's other arguments."""

    hidden: torch.Tensor
    args: tuple[Any, ...]
    kwargs: dict[str, Any]

    def run(self, block: nn.Module) -> Any:
        return block(self.hidden, *self.args, **self.kwargs)

    def after(self, output: Any) -> BlockInputs:
        """The next block's inputs: this block's ``output`` with the same other arguments."""
        return BlockInputs(output[0] if isinstance(output, tuple) else output, self.args, self.kwargs)


def first_block_inputs(model: nn.Module, block: nn.Module, batches: Sequence[Any], causal: bool) -> list[BlockInputs]:
    """The inputs ``model`` gives ``block`` (its first) for each batch, without running any block."""
    recorded: list[BlockInputs] = []

    def record(_module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        recorded.append(BlockInputs(args[0], args[1:], kwargs))
        raise StopForward

    handle = block.register_forward_pre_hook(record, with_kwargs=True)
    try:
        with torch.no_grad():
            for batch in batches:
                inputs = dict(batch) if isinstance(batch, dict) else {"input_ids": batch}
                try:
                    model(**inputs, **({"use_cache": False} if causal else {}))
                except StopForward:
                    continue
                raise ModelError(f"{type(model).__name__}'s forward pass never reached its first block")
    finally:
        handle.remove()
    return recorded


class _Recorded(nn.Module):
    """Stands in for all the blocks: returns the last block's recorded outputs, one per call, in order."""

    def __init__(self, outputs: Sequence[Any]) -> None:
        super().__init__()
        self.outputs = iter(outputs)

    def forward(self, *_args: Any, **_kwargs: Any) -> Any:
        return next(self.outputs)


@contextmanager
def blocks_replaced(model: nn.Module, head: str, stand_ins: Sequence[nn.Module] = ()) -> Iterator[nn.Module]:
    """``model`` with its list of blocks ``head`` replaced for a while by ``stand_ins`` (none: to load, size and
    save the rest; ``_Recorded``: to run the head on the last block's recorded outputs)."""
    blocks = model.get_submodule(head)
    set_module(model, head, nn.ModuleList(stand_ins))
    try:
        yield model
    finally:
        set_module(model, head, blocks)


def unique_state(module: nn.Module) -> dict[str, torch.Tensor]:
    """``module``'s state with tensors shared under several names (tied embeddings) kept once, contiguous."""
    seen: set[int] = set()
    state = {}
    for name, tensor in module.state_dict().items():
        if tensor.data_ptr() not in seen:
            seen.add(tensor.data_ptr())
            state[name] = tensor.contiguous()
    return state


def compress_streaming(source: str | Path, job_factory: Callable[[Any], Any], calibration: Any, evaluation: Any,
                       output: Any) -> Any:
    """Compress the model at ``source`` block by block into ``output.out`` (see the module docstring);
    ``job_factory(loaded)`` builds the pipeline's job for the model with its parameters on the meta device. Returns
    ``CompressResult`` with that model, its blocks on the meta device (load the saved folder to use it)."""
    from .budget import allocate
    from .evaluate import sentence_batches, windows
    from .models import LoadedModel
    from .persist import check_replaceable, compressed_layers, join_safetensors, save_compressed
    from .pipeline import eval_sentences, json_safe, read_text
    from .report import CompressResult, model_size, peak_memory

    clock = time.perf_counter()
    checkpoint = Checkpoint.open(source)
    tokens = (evaluation.tokens or 0) + calibration.tokens
    model = empty_model(checkpoint, lambda skeleton: check_memory(skeleton, checkpoint, tokens, evaluation.window))
    kind, tokenizer = model_kind(model), load_tokenizer(checkpoint.folder)
    job = job_factory(LoadedModel(model, tokenizer, kind, str(source)))
    report = job.report
    head, blocks = block_list(model, job.names)
    dtype, base = next(model.parameters()).dtype, getattr(model, "base_model_prefix", "")
    with blocks_replaced(model, head):
        initialise(model, checkpoint.load(model, "", base, dtype, optional=True))
    with blocks_replaced(model, head):
        rest = model_size(model)
    job.timed("load", clock)

    read_text(job, evaluation)
    causal, eval_ids = kind == "causal-lm", job.eval_ids
    evaluate = eval_ids is not None and len(eval_ids) > 1
    sentences = eval_sentences(tokenizer, eval_ids) if evaluate and not causal else []
    eval_batches = (windows(eval_ids, evaluation.window) if causal else sentence_batches(tokenizer, sentences)
                    ) if evaluate else []
    calib_batches = job.calib if job.method.needs_gram else []
    streams = Streams.start(model, blocks[0], eval_batches, calib_batches, causal)
    sizes = {n: job.size(model.get_submodule(n)) for n in job.names}
    targets = allocate(sizes, report.budget, job.profile, strength=job.calibration.sensitivity_strength)
    out = Path(output.out)
    check_replaceable(out, output.overwrite)
    out.parent.mkdir(parents=True, exist_ok=True)
    parts = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".parts"))
    before, after = list(rest), list(rest)
    timings: dict[Any, Any] = {}
    try:
        clock = time.perf_counter()
        for index in progress_bar(range(len(blocks)), job.progress, f"compress block by block ({report.method})"):
            block, prefix = blocks[index], f"{head}.{index}"
            checkpoint.load(block, prefix, base, dtype)
            before = [a + b for a, b in zip(before, model_size(block))]
            with torch.no_grad():
                streams.compress(job, block, [n for n in job.names if n.startswith(f"{prefix}.")], targets, timings)
            after = [a + b for a, b in zip(after, model_size(block))]
            save_file(prefixed(unique_state(block), prefix), str(parts / f"{index:05d}.safetensors"))
            release(block)
        job.timed("stream blocks (load, calibrate, decompose, run, save)", clock)
        report.params_before, report.bytes_before = before
        report.params_after, report.bytes_after = after
        report.layer_params_after = sum(r.params_after for r in report.layers)
        report.layer_bytes_after = sum(r.bytes_after for r in report.layers)
        report.streamed = True
        if evaluate:
            clock = time.perf_counter()
            streams.evaluate(model, head, report, eval_ids, evaluation.window, tokenizer, sentences, job.progress)
            job.timed("evaluate original and compressed", clock)
        with blocks_replaced(model, head):
            save_file(unique_state(model), str(parts / "rest.safetensors"))
        clock = time.perf_counter()
        report.output, report.peak_memory = str(out), peak_memory()
        save_compressed(model, out, compressed_layers(model), tokenizer, json_safe(report.to_dict()),
                        output.overwrite, write_weights=lambda path: join_safetensors(sorted(parts.iterdir()), path))
        job.timed("save", clock)
    finally:
        shutil.rmtree(parts, ignore_errors=True)
    return CompressResult(model, tokenizer, report, job.specs)


@dataclass
class Streams:
    """The activations that flow through the blocks: the evaluation batches through the original blocks and
    through the compressed ones, and the calibration batches through the original ones (independent calibration:
    each layer is fitted to the original model's inputs); ``last_*``: the last block's outputs."""

    original: list[BlockInputs]
    compressed: list[BlockInputs]
    calibration: list[BlockInputs]
    last_original: list[Any] = field(default_factory=list)
    last_compressed: list[Any] = field(default_factory=list)

    @classmethod
    def start(cls, model: nn.Module, first: nn.Module, evaluation: Sequence[Any], calibration: Sequence[Any],
              causal: bool) -> Streams:
        inputs = first_block_inputs(model, first, [*evaluation, *calibration], causal)
        return cls(inputs[:len(evaluation)], inputs[:len(evaluation)], inputs[len(evaluation):])

    def compress(self, job: Any, block: nn.Module, names: Sequence[str], targets: dict[str, int],
                 timings: dict[Any, Any]) -> None:
        """Pass the streams through ``block`` (loaded) and replace its layers ``names`` (full names) by the
        pipeline's rule, their forms chosen by timing when the job has a slowdown limit."""
        from .fit import collect_grams
        from .pipeline import record_forms, replace_layer
        from .speed import choose_forms

        passed: list[BlockInputs] = []

        def run(inputs: BlockInputs) -> None:
            passed.append(inputs.after(inputs.run(block)))

        model = job.net
        grams = {}
        if names and self.calibration:
            grams = collect_grams(model, names, self.calibration, run=run)
        else:
            for inputs in self.calibration:
                run(inputs)
        self.calibration = passed
        outputs = [inputs.run(block) for inputs in self.original]
        for name in names:
            job.report.layers.append(replace_layer(job, name, model.get_submodule(name), targets[name],
                                                   grams.get(name), name in grams))
        if job.replaced:
            record_forms(job, choose_forms(model, job.replaced, job.max_slowdown, measured=timings))
            job.replaced.clear()
        compressed = [inputs.run(block) for inputs in self.compressed]
        self.last_original, self.last_compressed = outputs, compressed
        self.original = [inputs.after(o) for inputs, o in zip(self.original, outputs)]
        self.compressed = [inputs.after(o) for inputs, o in zip(self.compressed, compressed)]

    def evaluate(self, model: nn.Module, head: str, report: Any, eval_ids: torch.Tensor, window: int, tokenizer: Any,
                 sentences: list[str], progress: bool | None) -> None:
        """The original's and the compressed model's quality, as the in-memory pipeline measures them, from the
        last block's outputs."""
        from .evaluate import embedding_cosine, perplexity, sentence_embeddings

        if model_kind(model) == "causal-lm":
            with blocks_replaced(model, head, [_Recorded(self.last_original)]) as net:
                report.quality_before = perplexity(net, eval_ids, window, None, progress)
            with blocks_replaced(model, head, [_Recorded(self.last_compressed)]) as net:
                report.quality_compressed = perplexity(net, eval_ids, window, None, progress)
            return
        with blocks_replaced(model, head, [_Recorded(self.last_original)]) as net:
            reference = sentence_embeddings(net, tokenizer, sentences)
        with blocks_replaced(model, head, [_Recorded(self.last_compressed)]) as net:
            report.quality_compressed = embedding_cosine(net, reference, tokenizer, sentences)
        report.quality_before = float((reference * reference).sum(-1).mean())  # the original against itself


def release(block: nn.Module) -> None:
    """Free a block's memory: forget what its layers keep for inference (which holds their tensors), then move it
    to the meta device."""
    from ..mpo.remote_code import Derived

    for module in block.modules():
        if isinstance(getattr(module, "derived", None), Derived):
            module.derived.clear()
    block.to("meta")


def prefixed(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """``state`` with its names under ``prefix``."""
    return {f"{prefix}.{name}": tensor for name, tensor in state.items()}


__all__ = ["Checkpoint", "compress_streaming", "empty_model", "parameters_on_meta"]
