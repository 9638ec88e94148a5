"""Encoder healing on sentences: padding and masks as sentence embeddings see them, a loss matching the embedding
cosine, equal-length calibration batches, and compress_model healing a tiny BERT on training sentences only."""

import copy

import numpy as np
import pytest
import torch

transformers = pytest.importorskip("transformers")

import tnq.compress.pipeline as compress_module  # noqa: E402
from tnq.compress.evaluate import encode_sentences, length_batches, mean_pool, pad_batch  # noqa: E402
from tnq.compress.heal import encoder_distillation_loss, heal  # noqa: E402
from tnq.compress.models import find_linears  # noqa: E402
from tnq.compress.options import from_names  # noqa: E402
from tnq.compress.pipeline import compress_model  # noqa: E402

WORDS = 60


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def tiny_bert(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    config = transformers.BertConfig(vocab_size=WORDS + 5, hidden_size=48, intermediate_size=96, num_hidden_layers=2,
                                     num_attention_heads=4, max_position_embeddings=160,
                                     initializer_range=0.2)
    return transformers.BertModel(config, add_pooling_layer=False).eval()


def tokenizer() -> object:
    """Word-level tokenizer with [CLS] ... [SEP] around each sentence, [PAD] = 0 and '.', like BERT's."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors

    vocab = {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, ".": 4, **{f"w{k}": k + 5 for k in range(WORDS)}}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2),
                                                                                                 ("[SEP]", 3)])
    return transformers.PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]",
                                                cls_token="[CLS]", sep_token="[SEP]")


def sentences(n: int, seed: int = 0) -> list[str]:
    """Sentences of 6-20 words with a repeated structure (word k tends to follow word k-1)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        start, length = rng.integers(0, WORDS), rng.integers(6, 21)
        words = (start + np.arange(length) + (rng.random(length) < 0.3) * rng.integers(0, WORDS, length)) % WORDS
        out.append(" ".join(f"w{w}" for w in words))
    return out


def test_padding_and_masks_leave_the_loss_of_each_sentence_unchanged():
    model, tok = tiny_bert(), tokenizer()
    seqs = encode_sentences(tok, sentences(5))
    assert all(s[0] == 2 and s[-1] == 3 for s in seqs) and len({len(s) for s in seqs}) > 1
    batch = pad_batch(seqs, pad_id=0)
    noise = torch.randn(1, 1, 48)
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
        single = [model(input_ids=s[None]).last_hidden_state for s in seqs]
        # padded rows reproduce each sentence's own (unpadded) hidden states and pooled embedding
        for row, (s, h) in enumerate(zip(seqs, single)):
            assert torch.allclose(hidden[row, :len(s)], h[0], atol=1e-5)
            assert torch.allclose(mean_pool(hidden, batch["attention_mask"])[row], h[0].mean(0), atol=1e-5)
        target = hidden + 0.1 * torch.randn_like(hidden)
        loss = encoder_distillation_loss(hidden, target, batch["attention_mask"])
        # whatever sits at padded positions does not count
        pad = (1 - batch["attention_mask"])[..., None]
        moved = encoder_distillation_loss(hidden + 5 * pad * noise, target - 3 * pad, batch["attention_mask"])
        assert float(loss) > 0 and float(moved) == pytest.approx(float(loss), rel=1e-5)
        # without the mask padding does count: the property above is not vacuous
        assert float(encoder_distillation_loss(hidden + 5 * pad * noise, target, None)) != pytest.approx(
            float(encoder_distillation_loss(hidden, target, None)), rel=1e-3)
        # identical embeddings: zero loss
        assert float(encoder_distillation_loss(hidden, hidden.clone(), batch["attention_mask"])) == pytest.approx(
            0.0, abs=1e-6)


def test_length_batches_are_unpadded_and_cover_the_first_sentences_within_the_token_limit():
    seqs = encode_sentences(tokenizer(), sentences(40))
    batches = length_batches(seqs, max_tokens=300, batch_tokens=64)
    got = sorted(tuple(row.tolist()) for b in batches for row in b["input_ids"])
    count = next(k for k in range(1, len(seqs) + 1) if sum(len(s) for s in seqs[:k]) >= 300)
    assert got == sorted(tuple(s.tolist()) for s in seqs[:count])
    for b in batches:
        assert bool(b["attention_mask"].all()) and b["input_ids"].numel() <= max(64, b["input_ids"].shape[1])


def test_sentence_healing_lowers_the_distillation_loss_on_held_out_sentences():
    teacher, tok = tiny_bert(), tokenizer()
    train, held_out = encode_sentences(tok, sentences(300, seed=1)), encode_sentences(tok, sentences(40, seed=2))
    student = compress_model(copy.deepcopy(teacher), **from_names(budget=0.3, method="svd", eval_tokens=None)).model
    batch = pad_batch(held_out)

    def loss() -> float:
        with torch.no_grad():
            return float(encoder_distillation_loss(student(**batch).last_hidden_state,
                                                   teacher(**batch).last_hidden_state, batch["attention_mask"]))

    before = loss()
    names = find_linears(teacher)
    losses = heal(student, [student.get_submodule(n) for n in names], train, steps=60, batch_size=8, lr=0.02,
                  teacher=teacher, progress=False, dropout=False)
    assert len(losses) == 60 and loss() < 0.6 * before
    assert all(p.requires_grad for p in teacher.parameters())  # flags restored
    with pytest.raises(Exception, match="empty list of sentences"):
        heal(student, [student.get_submodule(names[0])], [], steps=1, teacher=teacher)


def test_compress_model_heals_an_encoder_on_training_sentences_only(monkeypatch):
    tok = tokenizer()
    all_sentences = sentences(400, seed=3)
    ids = torch.as_tensor(tok(". ".join(all_sentences), add_special_tokens=False)["input_ids"])
    seen = {}
    real_heal = compress_module.heal

    def spy(model, modules, data, *args, **kwargs):
        seen["data"], seen["batch_size"] = data, kwargs["batch_size"]
        return real_heal(model, modules, data, *args, **kwargs)

    monkeypatch.setattr(compress_module, "heal", spy)
    eval_tokens = 1200
    report = compress_model(tiny_bert(), **from_names(budget=0.3, method="whitened-svd", tokenizer=tok, tokens=ids,
                            eval_tokens=eval_tokens, calibration_tokens=2000, heal_steps=40, heal_lr=0.02,
                            progress=False)).report
    assert report.quality_before == pytest.approx(1.0, abs=1e-5)
    assert report.quality_healed > report.quality_compressed and report.heal_steps == 40
    # healing got whole sentences with [CLS]/[SEP], batches of 16, none of them from the evaluation tokens
    data = seen["data"]
    assert isinstance(data, list) and seen["batch_size"] == 16
    assert all(int(s[0]) == 2 and int(s[-1]) == 3 for s in data)
    ends = np.cumsum([len(s.split()) + 1 for s in all_sentences])  # words and the '.' after each
    cut = int(np.searchsorted(ends, eval_tokens))  # sentence `cut` straddles the boundary
    healed_on = [tok.decode(s[1:-1].tolist()) for s in data]
    assert len(set(all_sentences)) == len(all_sentences)
    later = set(all_sentences[cut + 1:])
    assert all(h in later or h in all_sentences[cut] for h in healed_on)  # the straddling one's tail at most
    assert not set(healed_on) & set(all_sentences[:cut])
    assert len(healed_on) > 0.8 * (len(all_sentences) - cut)  # all but the shortest (under 21 characters)


def test_sensitivity_strength_moves_more_parameters_to_the_sensitive_block():
    model = tiny_bert()
    names = find_linears(model)
    profile = {n: (1.0 if ".layer.1." in n else 0.25) for n in names}

    def kept(strength: float) -> float:
        report = compress_model(copy.deepcopy(model), **from_names(budget=0.4, method="svd", sensitivity=profile,
                                sensitivity_strength=strength, eval_tokens=None)).report
        block1 = [r for r in report.layers if ".layer.1." in r.name]
        assert report.layer_params_after <= 0.4 * report.layer_params_before  # the budget holds
        return sum(r.params_after for r in block1) / sum(r.params_before for r in block1)

    uniform, mild, strong = kept(0.0), kept(0.5), kept(2.0)
    assert uniform == pytest.approx(0.4, abs=0.05) and uniform < mild < strong
