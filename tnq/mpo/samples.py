"""Text sampled from the original causal LM, to heal on. Healing on a few tens of thousands of tokens of real text
memorises it (SmolLM2 at 50%: training-text perplexity 5.8, held-out 81); the original model's own continuations
of prompts drawn from that text are in-domain and unlimited (held-out 70.6 vs 91.1 for the same 300 GPU steps of
8 windows in a scratch sweep; 73.6 vs 81.3 after 15 CPU minutes, sampling included, in benchmarks/mpo_compress.py)."""

from __future__ import annotations

import torch
from torch import nn

from ..progress import progress_bar
from .errors import MPOError


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
