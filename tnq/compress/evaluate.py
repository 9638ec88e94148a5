"""Quality measures for compressed models: causal-LM perplexity on text in fixed windows, and the cosine between
an encoder's mean-pooled sentence embeddings and the original model's."""

from __future__ import annotations

import hashlib
import math
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..mpo.errors import MPOError
from ..progress import progress_bar


def gensim_test_data() -> Path:
    """The folder of text corpora gensim ships with its tests (offline data: no download)."""
    import gensim

    return Path(gensim.__path__[0]) / "test" / "test_data"


def default_text_path() -> Path:
    """gensim's bundled ``lee_background.cor`` (plain English news text), the default evaluation text."""
    return gensim_test_data() / "lee_background.cor"


WIKI_SAMPLE = "gensim-wiki"


def gensim_wiki_text() -> str:
    """Plain text of the ~100 Wikipedia articles in gensim's test data (a shortened enwiki dump; markup stripped by
    gensim's ``filter_wiki``, redirects dropped): ~0.7M SmolLM2 tokens of general English, more text to heal on
    than the evaluation corpus leaves."""
    import bz2

    from gensim.corpora.wikicorpus import extract_pages, filter_wiki

    with bz2.open(gensim_test_data() / "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2") as dump:
        pages = [filter_wiki(page[1]) for page in extract_pages(dump)]
    text = "\n\n".join(p.strip() for p in pages if p.strip() and not p.lstrip().lower().startswith("#redirect"))
    text = re.sub(r"'{2,}", "", text)  # bold / italic quotes
    text = re.sub(r"^=+\s*(.*?)\s*=+\s*$", r"\1", text, flags=re.M)  # == headings ==
    return re.sub(r"\n{3,}", "\n\n", text)


def split_text(ids: torch.Tensor, eval_tokens: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """(evaluation, training) token ids: the first ``eval_tokens`` (at most half the text) and the rest."""
    ids = torch.as_tensor(ids).reshape(-1).long()
    n_eval = min(eval_tokens or 0, len(ids) // 2)
    return ids[:n_eval], ids[n_eval:]


def text_digest(ids: torch.Tensor | Sequence[torch.Tensor]) -> str:
    """SHA-256 of a text's token ids as int64: a token stream's bytes, or for a list of tokenized sentences each
    one's length and bytes (which text a checkpoint or a samples cache was made from)."""
    digest = hashlib.sha256()
    for part in [ids] if isinstance(ids, torch.Tensor) else ids:
        array = np.ascontiguousarray(torch.as_tensor(part).reshape(-1).long().numpy())
        if not isinstance(ids, torch.Tensor):
            digest.update(str(len(array)).encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def tokenize_text(tokenizer: Any, path: str | os.PathLike | None = None) -> torch.Tensor:
    """All token ids of a text file (default: ``default_text_path()``; ``WIKI_SAMPLE``: ``gensim_wiki_text()``) as
    one 1-D tensor."""
    if tokenizer is None:
        raise MPOError("the model has no tokenizer: cannot tokenize text for calibration, healing or evaluation")
    if path == WIKI_SAMPLE:
        text = gensim_wiki_text()
    else:
        path = Path(path) if path is not None else default_text_path()
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            raise MPOError(f"text file {str(path)!r} cannot be read ({exc.strerror or exc})") from None
    ids = tokenizer(text, return_tensors="pt", add_special_tokens=False).input_ids[0]
    if ids.numel() < 2:
        raise MPOError(f"text file {str(path)!r} has fewer than 2 tokens")
    return ids


def windows(ids: torch.Tensor, length: int, max_tokens: int | None = None) -> list[torch.Tensor]:
    """Consecutive non-overlapping windows (1, length) of ``ids`` (the last may be shorter), within ``max_tokens``."""
    ids = ids[:max_tokens] if max_tokens else ids
    return [ids[s:s + length][None] for s in range(0, len(ids), length) if len(ids[s:s + length]) > 1]


def perplexity(model: nn.Module, ids: torch.Tensor, window: int = 512, max_tokens: int | None = 16384,
               progress: bool | None = None) -> float:
    """exp(mean next-token NLL) over the first ``max_tokens`` of ``ids`` in non-overlapping ``window``-token
    windows (every window predicts its tokens 2..window)."""
    total, count = 0.0, 0
    model.eval()
    with torch.no_grad():
        for chunk in progress_bar(windows(ids, window, max_tokens), progress, "perplexity"):
            logits = model(chunk).logits[0, :-1].float()
            total += float(nn.functional.cross_entropy(logits, chunk[0, 1:], reduction="sum"))
            count += chunk.shape[1] - 1
    if count == 0:
        raise MPOError("perplexity: no windows of at least 2 tokens to evaluate")
    return math.exp(total / count)


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``hidden`` (batch, length, dim) over the positions where ``mask`` (batch, length) is 1."""
    weights = mask[..., None].to(hidden.dtype)
    return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1)


def sentence_batches(tokenizer: Any, sentences: list[str], batch_size: int = 32) -> list[dict[str, torch.Tensor]]:
    """The padded model inputs ``sentence_embeddings`` feeds the model, in order."""
    pad_id = getattr(tokenizer, "pad_token_id", None) or 0
    return [pad_batch(encode_sentences(tokenizer, sentences[s:s + batch_size]), pad_id)
            for s in range(0, len(sentences), batch_size)]


def sentence_embeddings(model: nn.Module, tokenizer: Any, sentences: list[str], batch_size: int = 32) -> torch.Tensor:
    """Mean-pooled last hidden states over real tokens (sentence-transformers pooling), L2-normalised."""
    out = []
    model.eval()
    with torch.no_grad():
        for enc in sentence_batches(tokenizer, sentences, batch_size):
            hidden = model(**enc).last_hidden_state
            out.append(nn.functional.normalize(mean_pool(hidden, enc["attention_mask"]), dim=-1))
    return torch.cat(out)


def encode_sentences(tokenizer: Any, sentences: list[str], max_length: int = 128) -> list[torch.Tensor]:
    """Each sentence's token ids (special tokens, truncation to ``max_length``), unpadded: what
    ``sentence_embeddings`` pads and feeds to the model, and what encoders calibrate and heal on."""
    if tokenizer is None:
        raise MPOError("the model has no tokenizer: cannot tokenize sentences")
    return [torch.as_tensor(ids, dtype=torch.long) for ids in
            tokenizer(sentences, truncation=True, max_length=max_length)["input_ids"]]


def pad_batch(sequences: list[torch.Tensor], pad_id: int = 0) -> dict[str, torch.Tensor]:
    """Right-padded ``input_ids`` and the matching ``attention_mask`` of 1-D token sequences."""
    length = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), length), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), length), dtype=torch.long)
    for row, seq in enumerate(sequences):
        ids[row, :len(seq)] = seq
        mask[row, :len(seq)] = 1
    return {"input_ids": ids, "attention_mask": mask}


def length_batches(sequences: list[torch.Tensor], max_tokens: int | None = None,
                   batch_tokens: int = 2048) -> list[dict[str, torch.Tensor]]:
    """Unpadded batches of the first sequences within ``max_tokens`` tokens, grouped by equal length (so no
    padding enters calibration statistics), each of at most about ``batch_tokens`` tokens."""
    chosen, total = [], 0
    for seq in sequences:
        if max_tokens and total >= max_tokens:
            break
        chosen.append(seq)
        total += len(seq)
    by_length: dict[int, list[torch.Tensor]] = {}
    for seq in chosen:
        by_length.setdefault(len(seq), []).append(seq)
    batches = []
    for length, group in sorted(by_length.items()):
        per = max(1, batch_tokens // length)
        for s in range(0, len(group), per):
            ids = torch.stack(group[s:s + per])
            batches.append({"input_ids": ids, "attention_mask": torch.ones_like(ids)})
    return batches


def embedding_cosine(model: nn.Module, reference: torch.Tensor, tokenizer: Any, sentences: list[str]) -> float:
    """Mean cosine between the model's sentence embeddings and ``reference`` (embeddings of the original)."""
    return float((sentence_embeddings(model, tokenizer, sentences) * reference).sum(-1).mean())


def split_sentences(text: str, min_chars: int = 21) -> list[str]:
    """``text`` split into sentences at line ends and '. ', dropping fragments shorter than ``min_chars``."""
    return [s.strip() for line in text.splitlines() for s in line.split(". ") if len(s.strip()) >= min_chars]


def read_sentences(path: str | os.PathLike | None = None, limit: int | None = None) -> list[str]:
    """Non-empty lines of a text file (default ``lee_background.cor``) split into sentences at '. '."""
    path = Path(path) if path is not None else default_text_path()
    parts = split_sentences(path.read_text(encoding="utf-8", errors="replace"))
    return parts[:limit] if limit else parts
