"""Born model files from outside: every field of a crafted, damaged or random file is checked at load, and the
loader and ``tnq born sample`` either work or refuse in one line (a TnqError), never crash or change the file."""

from __future__ import annotations

import json
import math
from itertools import product
from pathlib import Path

import numpy as np
import pytest
from fuzzing import assert_cli_cleanly, assert_reads_cleanly, field_edits, mutations, random_bytes
from safetensors import safe_open
from safetensors.numpy import save

from tnq.born import BornError, MPSBornMachine, bars_and_stripes, random_strings
from tnq.born.persist import load_model
from tnq.cli.born import main  # ``tnq born``, without the other commands' imports

KEY = "tnq_born"


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> dict[str, Path]:
    """Two valid model files: a 4-site binary model and a 4-site model with a learned embedding (d=3 -> 2)."""
    folder = tmp_path_factory.mktemp("models")
    plain = MPSBornMachine(4, max_bond=4, n_sweeps=2, progress=False).fit(bars_and_stripes(2, 2))
    embedded = MPSBornMachine(4, d=3, embedding_dim=2, max_bond=4, n_sweeps=2, progress=False)
    embedded.fit(random_strings(60, 4, d=3, n_distinct=8, seed=1))
    plain.save(folder / "plain.safetensors")
    embedded.save(folder / "embedded.safetensors")
    return {"plain": folder / "plain.safetensors", "embedded": folder / "embedded.safetensors"}


def read(path: Path) -> tuple[dict[str, np.ndarray], str]:
    """The tensors and the JSON metadata text of a safetensors file (independent of tnq's reader)."""
    with safe_open(str(path), framework="numpy") as handle:
        return {name: handle.get_tensor(name) for name in handle.keys()}, handle.metadata()[KEY]


def rewrite(source: Path, target: Path, edit_meta=None, edit_tensors=None, text: str | None = None) -> Path:
    """Copy a model file with its metadata (as a dict, or replaced by ``text``) and tensors edited in place."""
    tensors, raw = read(source)
    if edit_tensors:
        edit_tensors(tensors)
    if text is None:
        meta = json.loads(raw)
        if edit_meta:
            edit_meta(meta)
        text = json.dumps(meta)
    target.write_bytes(save(tensors, metadata={KEY: text}))
    return target


def sane(model: MPSBornMachine) -> None:
    """A model the loader accepts is a normalised distribution over all strings, and samples inside the alphabet.
    Tolerance: each non-centre site may miss being an isometry by 100 * max(rows, cols) * eps of its dtype (the
    loader's bound); Z = |centre|^2 is then off by at most about twice their sum."""
    strings = np.array(list(product(range(model.d), repeat=model.n_sites)))
    tol = sum(200 * max(t.shape[0] * t.shape[1], t.shape[2]) * np.finfo(t.dtype).eps for t in model.mps_.tensors)
    assert math.isclose(model.prob(strings).sum(), 1.0, rel_tol=tol)
    assert model.sample(5, seed=0).max() < model.d


def set_in(*keys, value):
    def edit(meta: dict) -> None:
        target = meta
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value
    return edit


def drop(*keys):
    def edit(meta: dict) -> None:
        target = meta
        for key in keys[:-1]:
            target = target[key]
        del target[keys[-1]]
    return edit


def replace_site(k: int, make):
    def edit(tensors: dict) -> None:
        tensors[f"site_{k:05d}"] = make(tensors[f"site_{k:05d}"])
    return edit


def with_value(value: float, index=(0, 0, 0)):
    def make(t: np.ndarray) -> np.ndarray:
        t = t.copy()
        t[index] = value
        return t
    return make


META_CASES = [
    (set_in("center", value=99), "center: expected null or a site in"),
    (set_in("center", value=-1), "center"),
    (set_in("center", value="1"), "center"),
    (set_in("center", value=True), "center"),
    (set_in("center", value=0), "center 0: site 1 is not right-orthonormal"),
    (drop("params"), "missing field 'params'"),
    (set_in("params", value=[4, 2]), "params: expected an object"),
    (drop("params", "n_sites"), "params: expected an object with n_sites"),
    (set_in("params", "bogus", value=1), "unknown hyperparameter 'bogus'"),
    (set_in("params", "n_sites", value=10**12), "4 site tensors for n_sites=1000000000000"),
    (set_in("params", "n_sites", value=3), "4 site tensors for n_sites=3"),
    (set_in("params", "d", value=3), r"site 0: shape \(1, 2, \d+\) does not fit; expected \(1, 3"),
    (set_in("params", "max_bond", value=-5), "params: max_bond"),
    (set_in("params", "cutoff", value=float("nan")), "params: cutoff"),
    (set_in("params", "learning_rate", value=float("inf")), "params: learning_rate"),
    (set_in("params", "embedding_lr", value="fast"), "params: embedding_lr"),
    (set_in("params", "n_steps", value=2.5), "params: n_steps"),
    (set_in("params", "seed", value=-3), "params: seed"),
    (set_in("params", "embedding_dim", value=2), "embedding tensor and embedding_dim disagree"),
    (set_in("format", value="tnq.born.MPSBornMachine/9"), "unsupported format"),
    (set_in("extra", value=1), "unknown field 'extra'"),
    (set_in("history", value="sweeps"), "history: expected a list"),
    (set_in("history", 0, "sweep", value=7), "history record 0: sweep 7 is not 1"),
    (set_in("history", 1, "train_nll", value=float("nan")), "history record 1: an NLL is not a number"),
    (set_in("history", 0, "max_bond", value=-1), "history record 0: max_bond"),
    (set_in("history", 0, value=[1, 2.0, 3]), "history record 0: expected keys"),
    (set_in("best_sweep", value=99), "best_sweep"),
    (set_in("smoothing", value="ab"), "smoothing"),
    (set_in("smoothing", value=[2.0]), "smoothing"),
]


@pytest.mark.parametrize("edit, message", META_CASES)
def test_crafted_metadata_is_refused_naming_file_and_field(saved, tmp_path, edit, message):
    path = rewrite(saved["plain"], tmp_path / "crafted.safetensors", edit_meta=edit)
    with pytest.raises(BornError, match=message) as info:
        load_model(path)
    assert str(info.value).startswith(f"{path}: ")


def zeros_like_site(t: np.ndarray) -> np.ndarray:
    return np.zeros_like(t)


TENSOR_CASES = [
    (lambda ts: ts.pop("site_00002"), "3 site tensors for n_sites=4"),
    (lambda ts: ts.update(site_00009=ts.pop("site_00002")), "unexpected tensor 'site_00009'"),
    (replace_site(1, lambda t: np.ones((t.shape[0] + 1, 2, t.shape[2]))), "site 1: shape .*bonds must chain"),
    (replace_site(3, lambda t: np.ones((t.shape[0], 2, 2))), r"site 3: shape .* expected \(\d+, 2, 1\)"),
    (replace_site(0, lambda t: np.ones((1, 3, t.shape[2]))), "site 0: shape .* physical dimension 2"),
    (replace_site(2, lambda t: t[:, :, 0]), "site 2: shape"),
    (replace_site(2, lambda t: np.zeros((t.shape[0], 2, 0))), "site 2: shape"),
    (replace_site(2, lambda t: t.astype(np.int64)), "site 2: dtype int64"),
    (replace_site(2, lambda t: t.astype(np.complex64)), "site 2: dtype complex64"),
    (replace_site(2, with_value(np.nan)), "site 2: holds non-finite values"),
    (replace_site(0, with_value(-np.inf)), "site 0: holds non-finite values"),
    (replace_site(0, with_value(7.0)), "site 0 is not left-orthonormal"),
]


@pytest.mark.parametrize("edit, message", TENSOR_CASES)
def test_crafted_tensors_are_refused_naming_file_and_site(saved, tmp_path, edit, message):
    path = rewrite(saved["plain"], tmp_path / "crafted.safetensors", edit_tensors=edit)
    with pytest.raises(BornError, match=message) as info:
        load_model(path)
    assert str(info.value).startswith(f"{path}: ")


def test_zero_norm_state_is_refused(saved, tmp_path):
    center = json.loads(read(saved["plain"])[1])["center"]
    path = rewrite(saved["plain"], tmp_path / "zero.safetensors", edit_tensors=replace_site(center, zeros_like_site))
    with pytest.raises(BornError, match="norm 0.0"):
        load_model(path)

    def all_zero(tensors: dict) -> None:  # no canonical form claimed: the norm is a full contraction
        for name in tensors:
            tensors[name] = np.zeros_like(tensors[name])
    path = rewrite(saved["plain"], tmp_path / "zero2.safetensors", edit_meta=set_in("center", value=None),
                   edit_tensors=all_zero)
    with pytest.raises(BornError, match="norm 0.0"):
        load_model(path)


def test_embedding_is_checked(saved, tmp_path):
    def edit(make):
        def apply(tensors: dict) -> None:
            tensors["embedding"] = make(tensors["embedding"])
        return apply

    for make, message in ((lambda e: e[:, :1], "embedding: shape"), (with_value(np.nan, (0, 0)), "non-finite"),
                          (lambda e: 2 * e, "not orthonormal"), (lambda e: e.astype(np.float32).astype(np.int32),
                                                                  "dtype int32")):
        path = rewrite(saved["embedded"], tmp_path / "emb.safetensors", edit_tensors=edit(make))
        with pytest.raises(BornError, match=message):
            load_model(path)
    path = rewrite(saved["embedded"], tmp_path / "emb.safetensors", edit_tensors=lambda ts: ts.pop("embedding"))
    with pytest.raises(BornError, match="embedding tensor and embedding_dim disagree"):
        load_model(path)


def test_valid_files_and_harmless_edits_still_load(saved, tmp_path):
    for path in saved.values():
        sane(load_model(path))
    # a model saved without the optional smoothing field, or with a float32 copy of its tensors, is fine
    path = rewrite(saved["plain"], tmp_path / "old.safetensors", edit_meta=drop("smoothing"))
    sane(load_model(path))

    def to_float32(tensors: dict) -> None:
        for name in tensors:
            tensors[name] = tensors[name].astype(np.float32)
    sane(load_model(rewrite(saved["embedded"], tmp_path / "f32.safetensors", edit_tensors=to_float32)))


def test_cli_sample_refuses_non_finite_model_in_one_line(saved, tmp_path, capsys):
    path = rewrite(saved["plain"], tmp_path / "nan.safetensors", edit_tensors=replace_site(1, with_value(np.nan)))
    assert main(["sample", str(path), "-n", "3"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.strip() == f"tnq born: error: {path}: site 1: holds non-finite values (NaN or inf)"


# --- fuzzing -------------------------------------------------------------------------------------------------------
VALUES = [None, -1, 0, 1, 3, 99, 2**64, -0.5, 0.5, 1e308, float("nan"), float("inf"), "x", "", [], {}, True,
          [1, 2], {"a": 1}]


def metadata_edits(meta: dict, count: int, seed: int) -> list[str]:
    """``count`` metadata texts, each with one seeded field (top level, hyperparameter, history entry) set to a
    seeded odd value or removed."""
    paths = ([(k,) for k in meta] + [("params", k) for k in meta["params"]]
             + [("history", i, k) for i, r in enumerate(meta["history"]) for k in r] + [("history", 0)])
    return field_edits(meta, paths, VALUES, count, seed)


def tensor_edits(tensors: dict[str, np.ndarray], raw: str, count: int, seed: int) -> list[bytes]:
    """``count`` files with one seeded entry of one tensor scaled by a seeded odd factor (0, -1, 3, 1e-300, 1e300)
    or replaced by NaN / inf: each is either still a valid model (the centre tensor) or must be refused."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        edited = {name: t.copy() for name, t in tensors.items()}
        t = edited[sorted(edited)[int(rng.integers(len(edited)))]]
        index = tuple(int(rng.integers(n)) for n in t.shape)
        factor = [0.0, -1.0, 3.0, 1e-300, 1e300, np.nan, np.inf][int(rng.integers(7))]
        t[index] = factor if not np.isfinite(factor) else t[index] * factor
        out.append(save(edited, metadata={KEY: raw}))
    return out


def fuzz_cases(source: Path, seed: int) -> list[bytes]:
    """Random bytes, damaged copies of the file, damaged metadata text, odd field values and odd tensor entries, as
    file contents."""
    valid = source.read_bytes()
    tensors, raw = read(source)
    texts = [m.decode("utf-8", errors="replace") for m in mutations(raw.encode(), 30, seed)]
    texts += metadata_edits(json.loads(raw), 40, seed)
    return (random_bytes(10, seed) + mutations(valid, 30, seed)
            + [save(tensors, metadata={KEY: text}) for text in texts] + tensor_edits(tensors, raw, 20, seed))


@pytest.mark.parametrize("name, seed", [("plain", 0), ("embedded", 1)])
def test_fuzzed_model_files_load_cleanly(saved, tmp_path, name, seed):
    cases = fuzz_cases(saved[name], seed)
    accepted = 0

    def load_and_check(path: Path) -> None:
        nonlocal accepted
        sane(load_model(path))  # whatever the loader accepts is a proper distribution
        accepted += 1

    for data in cases:
        assert_reads_cleanly(load_and_check, tmp_path / "fuzz.safetensors", data)
    assert accepted < len(cases)  # the damage was seen; and some cases (e.g. the centre tensor's bytes) load


@pytest.mark.parametrize("name, seed", [("plain", 2), ("embedded", 3)])
def test_fuzzed_model_files_in_cli_sample(saved, tmp_path, capsys, name, seed):
    path = tmp_path / "fuzz.safetensors"
    codes = []
    for data in fuzz_cases(saved[name], seed)[::2]:
        path.write_bytes(data)
        codes.append(assert_cli_cleanly(main, ["sample", str(path), "-n", "3", "--seed", "1"], capsys,
                                        [path]))
    assert 2 in codes
