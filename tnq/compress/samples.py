"""Text sampled from the original causal LM, to heal on. Healing on a few tens of thousands of tokens of real text
memorises it (SmolLM2 at 50%: training-text perplexity 5.8, held-out 81); the original model's own continuations
of prompts drawn from that text are in-domain and unlimited (held-out 70.6 vs 91.1 for the same 300 GPU steps of
8 windows in a scratch sweep; 73.6 vs 81.3 after 15 CPU minutes, sampling included, in benchmarks/mpo_compress.py;
72.05 with the samples cached and the full 15 minutes healing)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import torch
from torch import nn

from ..io import read_safetensors, write_safetensors
from ..mpo.errors import MPOError
from ..progress import progress_bar
from .evaluate import text_digest
from .teacher_states import teacher_states

CACHE_KEY = "tnq_samples"
STATES = "teacher_states"  # the original model's last hidden states over the samples, bfloat16 bits


def sample_text(model: nn.Module, text: torch.Tensor, tokens: int, prompt_length: int = 32, length: int = 256,
                batch_size: int = 64, seed: int = 0, progress: bool | None = None) -> torch.Tensor:
    """About ``tokens`` tokens (whole sequences, at least ``tokens``) of ``model``'s own text: sequences of
    ``length`` tokens, each a random ``prompt_length``-token slice of ``text`` (1-D token ids) continued by
    sampling at temperature 1 (no top-k / top-p: the model's distribution itself), ``batch_size`` sequences at a
    time. Returns the sequences concatenated as one 1-D tensor (a token stream for ``heal``)."""
    if tokens < 1:
        raise MPOError(f"sample_text: tokens must be >= 1, got {tokens}")
    if not 0 < prompt_length < length:
        raise MPOError(f"sample_text: need 0 < prompt_length < length, got {prompt_length} and {length}")
    text = torch.as_tensor(text).reshape(-1).long()
    if len(text) <= prompt_length:
        raise MPOError(f"sample_text: need more than {prompt_length} tokens of text to draw prompts from, "
                       f"got {len(text)}")
    if not hasattr(model, "generate"):
        raise MPOError(f"sample_text: {type(model).__name__} cannot generate text (a causal LM is needed)")
    gen = torch.Generator().manual_seed(seed)
    count = -(-tokens // length)  # sequences
    sequences = []
    was_training = model.training
    model.eval()
    try:
        for first in progress_bar(range(0, count, batch_size), progress, "sampling text", unit="batch"):
            n = min(batch_size, count - first)
            starts = torch.randint(0, len(text) - prompt_length, (n,), generator=gen).tolist()
            prompts = torch.stack([text[s:s + prompt_length] for s in starts])
            with torch.no_grad(), torch.random.fork_rng(devices=[]):  # generate draws from the global generator
                torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=gen)))
                out = model.generate(input_ids=prompts, attention_mask=torch.ones_like(prompts), do_sample=True,
                                     max_new_tokens=length - prompt_length, min_new_tokens=length - prompt_length,
                                     top_k=0, top_p=1.0, temperature=1.0)
            sequences.append(out.reshape(-1))
    finally:
        model.train(was_training)
    return torch.cat(sequences)


def cached_sample_text(model: nn.Module, text: torch.Tensor, tokens: int, cache: str | os.PathLike | None,
                       prompt_length: int = 32, length: int = 256, batch_size: int = 64, seed: int = 0,
                       progress: bool | None = None) -> tuple[torch.Tensor, bool]:
    """``sample_text`` once per model, text and settings: (samples, whether they were sampled now). ``cache`` is a
    safetensors file of earlier samples whose metadata records a fingerprint of the model's weights and of the
    prompt text and the settings; when they match and it holds enough whole sequences, its first ones are reused
    (compressing at several budgets or with several methods samples once), otherwise sampling runs and the file is
    written atomically. A cache from another model, text or settings is refused, not overwritten. ``cache=None``:
    plain ``sample_text``."""
    if cache is None:
        return sample_text(model, text, tokens, prompt_length, length, batch_size, seed, progress), True
    text = torch.as_tensor(text).reshape(-1).long()
    cache = Path(cache)
    wanted = {"model": weights_fingerprint(model), "text": text_digest(text), "prompt_length": prompt_length,
              "length": length, "batch_size": batch_size, "seed": seed}
    if cache.exists():
        arrays, meta = read_safetensors(cache, CACHE_KEY, MPOError, "samples cache", names=["tokens"])  # not states
        if meta is None or "tokens" not in arrays:
            raise MPOError(f"{cache}: not a tnq samples cache (no {CACHE_KEY!r} metadata); give another path")
        differ = [k for k in wanted if meta.get(k) != wanted[k]]
        if differ:
            raise MPOError(f"{cache}: samples cache made with another {', '.join(differ)} "
                           f"(cached {', '.join(f'{k}={meta.get(k)!r}' for k in differ)}); give another path "
                           "or delete it")
        stored = torch.from_numpy(arrays["tokens"]).long()
        need = -(-tokens // length) * length
        if tokens >= 1 and len(stored) >= need:
            return stored[:need], False
    samples = sample_text(model, text, tokens, prompt_length, length, batch_size, seed, progress)
    write_safetensors(cache, {"tokens": samples.numpy()}, CACHE_KEY, dict(wanted, tokens=len(samples)))
    return samples, True


def cached_teacher_states(model: nn.Module, samples: torch.Tensor, length: int, cache: str | os.PathLike | None,
                          progress: bool | None = None) -> tuple[torch.Tensor, bool]:
    """``model``'s last hidden states over ``samples`` cut into ``length``-token sequences
    (``teacher_states.teacher_states``): (states, whether computed now). With ``cache`` (the samples cache these
    samples came from) they are kept in that file beside the tokens and read back by later runs; a file whose
    tokens or model differ is refused, not overwritten."""
    samples = torch.as_tensor(samples).reshape(-1).long()
    if length < 2 or len(samples) % length:
        raise MPOError(f"teacher states: {len(samples)} sampled tokens are not whole sequences of {length}")
    rows = samples.reshape(-1, length)
    if cache is None:
        return teacher_states(model, rows, progress=progress), True
    arrays, meta = read_safetensors(cache, CACHE_KEY, MPOError, "samples cache")
    stored = torch.from_numpy(arrays["tokens"]).long() if meta is not None and "tokens" in arrays else None
    if stored is None or len(stored) < len(samples) or not torch.equal(stored[:len(samples)], samples):
        raise MPOError(f"{cache}: this samples cache does not hold these samples; give the cache they came from")
    if meta.get("model") != weights_fingerprint(model):
        raise MPOError(f"{cache}: samples cache made with another model; give another path or delete it")
    if STATES in arrays and meta.get("states_length") == length and len(arrays[STATES]) >= len(rows):
        return torch.from_numpy(arrays[STATES][:len(rows)]).view(torch.bfloat16), False
    states = teacher_states(model, rows, progress=progress)
    arrays[STATES] = states.view(torch.int16).numpy()  # bfloat16 bits: numpy has no bfloat16
    write_safetensors(cache, arrays, CACHE_KEY, dict(meta, states_length=length))
    return states, True


def weights_fingerprint(model: nn.Module) -> str:
    """SHA-256 over the names, shapes and bytes of ``model``'s parameters and buffers (which model sampled)."""
    digest = hashlib.sha256()
    for name, tensor in list(model.named_parameters()) + list(model.named_buffers()):
        digest.update(f"{name}{tuple(tensor.shape)}{tensor.dtype}".encode())
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()
