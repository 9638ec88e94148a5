"""Precomputed teacher states: the original's last hidden states through its output head reproduce its logits,
healing on them follows the same losses as healing with the live teacher, they are cached beside the samples
(computed once, refused for other samples or another model), and compress_model heals on whole windows with them."""

import copy

import pytest
import torch

transformers = pytest.importorskip("transformers")

from test_mpo_compress import _heal_setup, tiny_llama, tokens  # noqa: E402

import tnq.compress.pipeline as compress_module  # noqa: E402
import tnq.compress.samples as samples_module  # noqa: E402
from tnq.compress.heal import heal  # noqa: E402
from tnq.compress.options import from_names  # noqa: E402
from tnq.compress.pipeline import compress_model  # noqa: E402
from tnq.compress.samples import cached_sample_text, cached_teacher_states  # noqa: E402
from tnq.compress.teacher_states import output_head, teacher_log_probs, teacher_states  # noqa: E402
from tnq.mpo import MPOError  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_states_through_the_head_give_the_teachers_distribution():
    model, rows = tiny_llama(), tokens(256).reshape(4, 64)
    states = teacher_states(model, rows, batch_size=3, progress=False)
    assert states.shape == (4, 64, 64) and states.dtype == torch.bfloat16
    with torch.no_grad():
        expected = model(rows).logits[:, :-1].float().log_softmax(-1)
        got = teacher_log_probs(output_head(model), states)
    assert got.shape == expected.shape
    assert float((got.exp() - expected.exp()).abs().max()) < 2e-2  # bfloat16 states, float32 reference


def test_a_model_whose_logits_are_not_its_head_on_the_states_is_refused(monkeypatch):
    model = tiny_llama()
    other = torch.nn.Linear(64, 96, bias=False)
    monkeypatch.setattr(model, "get_output_embeddings", lambda: other)
    with pytest.raises(MPOError, match="not its output head applied to its last hidden state"):
        teacher_states(model, tokens(128).reshape(2, 64), progress=False)
    with pytest.raises(MPOError, match="2-D tensor of windows"):
        teacher_states(tiny_llama(), tokens(64), progress=False)


def test_healing_on_teacher_states_matches_the_live_teacher():
    student, modules, teacher, ids = _heal_setup()
    rows = ids[:2048].reshape(32, 64)
    states = teacher_states(teacher, rows, progress=False)
    kwargs = dict(steps=4, teacher=teacher, progress=False, precision="bfloat16", label_weight=0.0)  # KL alone
    names = {id(m): n for n, m in student.named_modules()}

    def run(states):
        twin = copy.deepcopy(student)
        return heal(twin, [twin.get_submodule(names[id(m)]) for m in modules], rows, teacher_states=states, **kwargs)

    live, cached = run(None), run(states)
    assert len(cached) == 4
    assert torch.allclose(torch.tensor(cached), torch.tensor(live), rtol=1e-3)  # same windows, same targets
    wrong = run(teacher_states(tiny_llama(seed=7), rows, progress=False))
    assert wrong[0] > 2 * cached[0]  # another teacher's states give other targets: the comparison above can fail


def test_heal_refuses_teacher_states_that_do_not_fit(tmp_path):
    student, modules, teacher, ids = _heal_setup()
    rows = ids[:512].reshape(8, 64)
    states = teacher_states(teacher, rows, progress=False)
    with pytest.raises(MPOError, match="2-D tensor of windows"):
        heal(student, modules, ids, steps=1, teacher=teacher, teacher_states=states, progress=False)
    with pytest.raises(MPOError, match="need the teacher too"):
        heal(student, modules, rows, steps=1, teacher_states=states, progress=False)
    with pytest.raises(MPOError, match=r"do not fit windows of shape \(7, 64\)"):
        heal(student, modules, rows[:7], steps=1, teacher=teacher, teacher_states=states, progress=False)
    checkpoint = tmp_path / "heal.safetensors"
    heal(student, modules, rows, steps=1, teacher=teacher, progress=False, checkpoint=checkpoint)
    with pytest.raises(MPOError, match="other teacher_states"):
        heal(student, modules, rows, steps=2, teacher=teacher, teacher_states=states, progress=False,
             checkpoint=checkpoint)


def test_teacher_states_are_cached_beside_the_samples(tmp_path, monkeypatch):
    model, text, cache = tiny_llama(), tokens(600), tmp_path / "samples.safetensors"
    samples, _ = cached_sample_text(model, text, 128, cache, prompt_length=8, length=32, batch_size=4)
    states, computed = cached_teacher_states(model, samples, 32, cache)
    assert computed and states.shape == (4, 32, 64)
    assert torch.equal(states, teacher_states(model, samples.reshape(-1, 32), progress=False))
    calls = []
    monkeypatch.setattr(samples_module, "teacher_states", lambda *a, **k: calls.append(a))
    again, computed = cached_teacher_states(model, samples[:64], 32, cache)
    assert not computed and not calls and torch.equal(again, states[:2])
    again_samples, fresh = cached_sample_text(model, text, 128, cache, prompt_length=8, length=32, batch_size=4)
    assert not fresh and torch.equal(again_samples, samples)  # the states did not spoil the samples cache
    with pytest.raises(MPOError, match="does not hold these samples"):
        cached_teacher_states(model, samples.flip(0), 32, cache)
    other = tiny_llama(seed=5)
    with pytest.raises(MPOError, match="another model"):
        cached_teacher_states(other, samples, 32, cache)
    with pytest.raises(MPOError, match="not whole sequences of 32"):
        cached_teacher_states(model, samples[:40], 32, cache)


def test_compress_model_heals_on_windows_with_precomputed_states(tmp_path, monkeypatch):
    ids, seen, cache = tokens(3000), [], tmp_path / "samples.safetensors"
    monkeypatch.setattr(compress_module, "heal", lambda m, mods, train, steps, seconds, *a, **k:
                        seen.append((train, seconds, k["teacher_states"])) or [0.0])
    run = lambda: compress_model(tiny_llama(), **from_names(budget=0.5, method="svd", tokens=ids, eval_tokens=512,
                                                             # noqa: E731
                                 window=64, heal_seconds=3600.0, heal_sample_tokens=100, heal_samples_cache=cache,
                                 heal_teacher_states=True, progress=False)).report
    first = run()
    train, seconds, states = seen[0]
    real = (len(ids) - 512) // 64
    assert train.shape == (2 + real, 64) and states.shape == (2 + real, 64, 64)  # 128 sampled tokens, then text
    assert torch.equal(train[2:].reshape(-1), ids[512:512 + 64 * real])
    assert seconds < 3600.0 and first.times["teacher states"] > 0
    assert "teacher states precomputed" in first.format_text(per_layer=False)
    computed = []
    real_states = samples_module.teacher_states
    monkeypatch.setattr(samples_module, "teacher_states", lambda *a, **k: computed.append(a) or real_states(*a, **k))
    run()
    assert not computed and torch.equal(seen[1][2], states)  # the samples' states came from the cache
    with pytest.raises(MPOError, match="only causal LMs"):
        from test_mpo_compress import tiny_bert
        compress_model(tiny_bert(), **from_names(budget=0.5, method="svd", tokens=ids, heal_steps=1,
                                                 heal_teacher_states=True))
    with pytest.raises(MPOError, match="give heal_steps or heal_seconds, and distill"):
        compress_model(tiny_llama(), **from_names(budget=0.5, method="svd", tokens=ids, heal_steps=1,
                                                  heal_teacher_states=True,
                       distill=False))


def test_cli_heal_teacher_states(tmp_path, capsys):
    from test_mpo_compress import _model_dir

    from tnq.cli.main import main

    folder, text = _model_dir(tmp_path)
    cache = tmp_path / "samples.safetensors"
    args = ["compress", str(folder), "--budget", "0.5", "--text", str(text), "--eval-tokens", "512",
            "--eval-window", "128", "--heal-steps", "2", "--window", "64", "--no-progress", "--heal-samples", "128",
            "--samples-cache", str(cache), "--heal-teacher-states"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "teacher states precomputed" in out and "teacher states" in out.split("time:")[1]
    assert main(args[:-1]) == 0  # the cache with states still serves plain sampled-text healing
    assert "teacher states" not in capsys.readouterr().out
