"""A folder written by ``tnq compress`` loads in plain transformers (``trust_remote_code=True``) without tnq and
gives the same outputs as ``tnq.compress.load_compressed``; without ``trust_remote_code`` it does not load at all
(never as the original architecture with the compressed weights ignored); folders of the earlier format still load
in tnq."""

from __future__ import annotations

import ast
import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

transformers = pytest.importorskip("transformers")

from safetensors.torch import load_file, save_file  # noqa: E402
from test_mpo_compress import tiny_bert, tiny_llama, tokens  # noqa: E402

from tnq.compress import compress_model, from_names, load_compressed  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")

CASES = [("llama", "whitened-svd"), ("llama", "mpo"), ("bert", "whitened-svd"), ("bert", "mpo")]

# Run in a subprocess where ``import tnq`` fails, from a folder outside the repository: loads each folder with
# transformers alone, saves its outputs on the given ids, and records what loading without trust_remote_code does.
LOADER = textwrap.dedent("""
    import json, sys
    import torch, transformers
    from safetensors.torch import load_file, save_file
    try:
        import tnq
        sys.exit("tnq is importable")
    except ImportError:
        pass
    jobs, results = json.loads(sys.argv[1]), {}
    for job in jobs:
        auto = getattr(transformers, job["auto"])
        ids = load_file(job["ids"])["ids"]
        model = auto.from_pretrained(job["folder"], trust_remote_code=True).eval()
        with torch.no_grad():
            out = model(ids)
        save_file({"out": out[job["key"]].contiguous()}, job["result"])
        try:
            auto.from_pretrained(job["folder"])
            results[job["folder"]] = "loaded " + type(model).__name__
        except Exception as exc:
            results[job["folder"]] = "refused: " + type(exc).__name__ + ": " + str(exc)[:1000]
    print("RESULTS " + json.dumps(results))
""")


def _tolerance(reference: torch.Tensor, depth: int, width: int) -> float:
    """float32 rounding of two evaluations of the same network that may order their sums differently: per block,
    a few matrix products whose rounding grows like sqrt(width) eps, about 4 such stages per block and one for the
    head, relative to the output's scale."""
    eps = torch.finfo(torch.float32).eps
    return 4 * (4 * depth + 1) * math.sqrt(width) * eps * float(reference.abs().max())


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Each case compressed and saved; the outputs of tnq's loader and of transformers alone on the same ids."""
    root = tmp_path_factory.mktemp("export")
    ids = tokens(48, seed=3)[None]
    save_file({"ids": ids}, str(root / "ids.safetensors"))
    jobs, cases = [], {}
    for arch, method in CASES:
        folder = root / f"{arch}-{method}"
        original = tiny_llama() if arch == "llama" else tiny_bert()
        with torch.no_grad():
            key = "logits" if arch == "llama" else "last_hidden_state"
            before = original(ids)[key]
        layers = ["attention", "mlp", "lm_head"] if (arch, method) == ("llama", "whitened-svd") else "attention,mlp"
        compress_model(original, **from_names(budget=0.5, method=method, layers=layers, tokens=tokens(),
                                              eval_tokens=None,
                       calibration_tokens=512, window=64, out=folder, progress=False))  # lm_head: tied, then not
        with torch.no_grad():
            ours = load_compressed(folder).model(ids)[key]
        result = root / f"{arch}-{method}.safetensors"
        jobs.append(dict(folder=str(folder), ids=str(root / "ids.safetensors"), key=key, result=str(result),
                         auto="AutoModelForCausalLM" if arch == "llama" else "AutoModel"))
        cases[(arch, method)] = dict(folder=folder, before=before, ours=ours, result=result, config=original.config)
    blocker = root / "no-tnq"
    (blocker / "tnq").mkdir(parents=True)
    (blocker / "tnq" / "__init__.py").write_text("raise ImportError('tnq is not installed here')\n")
    env = {**os.environ, "PYTHONPATH": str(blocker), "HF_MODULES_CACHE": str(root / "hf-modules"),
           "HF_HUB_OFFLINE": "1", "TRANSFORMERS_VERBOSITY": "error"}
    run = subprocess.run([sys.executable, "-c", LOADER, json.dumps(jobs)], cwd=root, env=env, capture_output=True,
                         stdin=subprocess.DEVNULL, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    plain = json.loads(run.stdout.rpartition("RESULTS ")[2])  # after transformers' prompt, answered by EOF: no
    for case in cases.values():
        case["theirs"] = load_file(str(case["result"]))["out"]
        case["plain"] = plain[str(case["folder"])]
    return cases


@pytest.mark.parametrize("arch, method", CASES)
def test_transformers_alone_rebuilds_the_compressed_model(exported, arch, method):
    case = exported[(arch, method)]
    config = case["config"]
    tol = _tolerance(case["ours"], config.num_hidden_layers, config.hidden_size)
    assert torch.allclose(case["theirs"], case["ours"], rtol=0, atol=tol)
    # the check can fail: the original architecture's outputs are far outside it
    assert float((case["before"] - case["ours"]).abs().max()) > 100 * tol


@pytest.mark.parametrize("arch, method", CASES)
def test_without_trust_remote_code_the_folder_does_not_load_as_the_original(exported, arch, method):
    case = exported[(arch, method)]
    assert case["plain"].startswith("refused:") and "custom code" in case["plain"]
    config = json.loads((case["folder"] / "config.json").read_text())
    assert config["model_type"].startswith("tnq_compressed_") and config["architectures"] == ["TnqCompressedModel"]
    assert set(config["auto_map"]) == {"AutoConfig", "AutoModelForCausalLM" if arch == "llama" else "AutoModel"}
    # each layer's timed forms are saved, so the modeling code runs the forms tnq's loader runs
    assert all(spec["forms"] for spec in config["tnq_compressed_layers"].values())
    if (arch, method) == ("llama", "whitened-svd"):  # the tied output head, compressed, is saved untied
        assert "lm_head" in config["tnq_compressed_layers"] and config["tie_word_embeddings"] is False


def test_the_modeling_code_imports_only_torch_transformers_and_its_plan(exported):
    folder = exported[("llama", "mpo")]["folder"]
    allowed = {"__future__", "math", "collections", "functools", "typing", "torch", "transformers"}
    for name in ("modeling_tnq_compressed.py", "plan.py"):
        tree = ast.parse((folder / name).read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                assert {a.name.split(".")[0] for a in node.names} <= allowed, name
            elif isinstance(node, ast.ImportFrom):
                assert node.level == 1 and node.module == "plan" or node.module.split(".")[0] in allowed, name
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                assert node.func.id not in ("open", "exec", "eval", "__import__"), name


def test_a_folder_of_the_earlier_format_still_loads(exported, tmp_path):
    case = exported[("bert", "mpo")]
    old = tmp_path / "old"
    old.mkdir()
    for f in ("model.safetensors", "tnq_compress.json"):
        (old / f).write_bytes((case["folder"] / f).read_bytes())
    (old / "config.json").write_text(case["config"].to_json_string())  # the original's config, as tnq wrote it
    ids = tokens(48, seed=3)[None]
    with torch.no_grad():
        out = load_compressed(old).model(ids).last_hidden_state
    assert torch.equal(out, case["ours"])
    assert not any(Path(old).glob("*.py"))
