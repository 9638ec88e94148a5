"""qnlp's files from outside: sentence data (plain, tagged, CSV / TSV), lexicons, FASTA, protein CSV / TSV, label maps,
saved sentence and protein models and training checkpoints. Random bytes, seeded damage of valid files, damaged
JSON metadata and odd field values: every reader returns or raises a TnqError subclass (one line and exit code 2
in the CLI), never another exception, and never changes the file it reads."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from fuzzing import assert_cli_cleanly, assert_reads_cleanly, field_edits, mutations, random_bytes

pytest.importorskip("torch")
pytest.importorskip("discopy")

from safetensors import safe_open  # noqa: E402
from safetensors.numpy import save  # noqa: E402

from qnlp.cli import main, read_lexicon  # noqa: E402
from qnlp.corpus import load_examples, read_plain, read_tagged  # noqa: E402
from qnlp.model import (
    QuantumClassifier,  # noqa: E402
    load_checkpoint,  # noqa: E402
)
from qnlp.pipeline import Pipeline  # noqa: E402
from qnlp.protein.compile import ProteinCompiler  # noqa: E402
from qnlp.protein.diagrams import ProteinReader  # noqa: E402
from qnlp.protein.loaders import read_csv, read_fasta, read_label_map  # noqa: E402
from qnlp.protein.model import ProteinClassifier  # noqa: E402

KEY = "qnlp"
CHECKPOINT_KEY = "tnq_training"  # training checkpoints are tnq.training checkpoints
TAGGED = ("1 man_N cooks_TV tasty_ADJ meal_N\n0 woman_N debugs_TV useful_ADJ code_N\n"
          "1 chef_N bakes_TV sauce_N\n0 person_N runs_TV program_N .\n")
PLAIN = "1 man cooks tasty meal .\n0 woman debugs useful code .\n1 chef bakes sauce .\n0 person runs program .\n"
CSV = "label,sentence\n1,man_N cooks_TV meal_N\n0,\"woman_N debugs_TV\n code_N\"\n1,chef_N bakes_TV sauce_N\n"
LEXICON = '{"man": "N", "cooks": ["TV", "n.r @ s"], "meal": "n", "that": "RPRON_SUBJ"}\n'
FASTA = ">P1 membrane\nMKVLLA\nIVG\n>P2 soluble\nKKRDEQ\n; comment\n>P3 membrane\nLLIVFA*\n"
PROTEIN_CSV = "id,sequence,label\nA1,MKVLLA,membrane\nA2, KKRDE ,soluble\nA3,\"LLIV\",membrane\n"
LABEL_MAP = "P1,membrane\nP2,soluble\n\nP3,membrane\n"
SEQUENCES = ["MKVLLA", "KKRDEQ", "LLIVFA", "DEKRQN"]


def fuzz_text(valid: str, count: int, seed: int) -> list[bytes]:
    """Random bytes and seeded damage of a valid text file."""
    return random_bytes(count // 4, seed) + mutations(valid.encode(), count - count // 4, seed)


TEXT_READERS = {
    "tagged.txt": (TAGGED, [load_examples, read_tagged]),
    "plain.txt": (PLAIN, [load_examples, read_plain]),
    "data.csv": (CSV, [load_examples]),
    "data.tsv": (CSV.replace(",", "\t"), [load_examples]),
    "lexicon.json": (LEXICON, [read_lexicon]),
    "seqs.fa": (FASTA, [read_fasta, lambda p: read_fasta(p, "header"), lambda p: read_fasta(p, "header",
                                                                                          label_regex=r"(\w+)$")]),
    "seqs.csv": (PROTEIN_CSV, [read_csv, lambda p: read_csv(p, "sequence", "label", "id")]),
    "seqs.tsv": (PROTEIN_CSV.replace(",", "\t"), [lambda p: read_csv(p, 1, 2, header=False)]),
    "labels.csv": (LABEL_MAP, [read_label_map]),
}


@pytest.mark.parametrize("name", sorted(TEXT_READERS))
def test_fuzzed_text_files_read_cleanly(tmp_path, name):
    valid, readers = TEXT_READERS[name]
    path = tmp_path / name
    for reader in readers:
        path.write_text(valid)
        reader(path)  # the valid file itself reads
    for data in fuzz_text(valid, 40, seed=len(name)):
        for reader in readers:
            assert_reads_cleanly(reader, path, data)


# --- saved models and checkpoints ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> dict[str, object]:
    """A sentence model, a protein model and a sentence checkpoint (one epoch each), with the fitted classifier the
    checkpoint belongs to."""
    folder = tmp_path_factory.mktemp("models")
    sentences = [line.split(" ", 1)[1] for line in TAGGED.splitlines()]
    labels = [int(line[0]) for line in TAGGED.splitlines()]
    lexicon = {"man": "N", "cooks": "TV"}
    clf = QuantumClassifier(Pipeline(reader="pregroup", lexicon=lexicon), epochs=1, progress=False)
    clf.fit(sentences, labels, checkpoint=folder / "ck.safetensors")
    clf.save(folder / "sentence.safetensors")
    compiler = ProteinCompiler(ProteinReader("ptn", "hierarchical", alphabet="dayhoff6"), "controlled")
    protein = ProteinClassifier(compiler, epochs=1, progress=False).fit(SEQUENCES, ["a", "b", "a", "b"])
    protein.save(folder / "protein.safetensors")
    return {"sentence": folder / "sentence.safetensors", "protein": folder / "protein.safetensors",
            "checkpoint": folder / "ck.safetensors", "classifier": clf, "sentences": sentences, "labels": labels}


def read_model(path: Path, key: str = KEY) -> tuple[dict[str, np.ndarray], str]:
    """The tensors and JSON metadata text of a safetensors file (safetensors' own reader, not qnlp's)."""
    with safe_open(str(path), framework="numpy") as handle:
        return {name: handle.get_tensor(name) for name in handle.keys()}, handle.metadata()[key]


VALUES = [None, -1, 0, 1, 2.5, 2**64, float("nan"), float("inf"), "x", "", [], {}, True, [1, "a"], {"a": 1},
          ["s", "s"], "qnlp.protein.diagrams:ProteinReader"]


def metadata_edits(meta: dict, count: int, seed: int) -> list[str]:
    """``count`` metadata texts, each with one seeded field (top level, or one level down: the training settings,
    the compiler's config, a history record) set to a seeded odd value or removed."""
    paths = [(k,) for k in meta] + [(k, j) for k, v in meta.items() if isinstance(v, dict) for j in v]
    paths += [(k, 0) for k, v in meta.items() if isinstance(v, list) and v]
    reader = meta.get("pipeline", {}).get("reader")  # a protein model's reader config
    paths += [("pipeline", "reader", j) for j in reader] if isinstance(reader, dict) else []
    return field_edits(meta, paths, VALUES, count, seed)


def tensor_edits(tensors: dict[str, np.ndarray], raw: str, seed: int, key: str = KEY) -> list[bytes]:
    """Files with one tensor replaced: NaN / inf entries, the wrong length, the wrong dtype, or dropped."""
    rng = np.random.default_rng(seed)
    out = []
    for name in sorted(tensors):
        t = tensors[name]
        bad = [np.full_like(t, np.nan), np.where(np.arange(t.size) == 0, np.inf, t), t[:-1], t.astype(np.int64),
               np.stack([t, t]), -np.abs(t) - 1]
        for value in [bad[int(i)] for i in rng.permutation(len(bad))[:4]]:
            out.append(save({**tensors, name: np.ascontiguousarray(value)}, metadata={key: raw}))
        out.append(save({k: v for k, v in tensors.items() if k != name}, metadata={key: raw}))
    return out


def fuzz_cases(source: Path, seed: int, count: int, key: str = KEY) -> list[bytes]:
    """Random bytes, damaged copies of the file, damaged metadata text (the safetensors header rewritten around
    it, so the damage reaches qnlp's field checks), odd field values and odd tensors."""
    tensors, raw = read_model(source, key)
    texts = [m.decode("utf-8", errors="replace") for m in mutations(raw.encode(), count, seed)]
    texts += metadata_edits(json.loads(raw), 3 * count, seed)
    return (random_bytes(count // 4, seed) + mutations(source.read_bytes(), count, seed)
            + [save(tensors, metadata={key: text}) for text in texts] + tensor_edits(tensors, raw, seed, key))


@pytest.mark.parametrize("kind", ["sentence", "protein"])
def test_fuzzed_model_files_load_cleanly(saved, tmp_path, kind):
    """Whatever a loader accepts also predicts (or refuses the sentence in one error): the checks at load are
    complete, not just the parse."""
    load = QuantumClassifier.load if kind == "sentence" else ProteinClassifier.load
    items = saved["sentences"][:2] if kind == "sentence" else SEQUENCES[:2]
    accepted = 0

    def load_and_predict(path: Path) -> None:
        nonlocal accepted
        model = load(path)
        accepted += 1
        assert model.predict_proba(items).shape[0] == 2

    cases = fuzz_cases(saved[kind], seed=11 if kind == "sentence" else 12, count=25)
    for data in cases:
        assert_reads_cleanly(load_and_predict, tmp_path / "fuzz.safetensors", data)
    assert 0 < accepted < len(cases)  # damage was refused, and harmless edits (e.g. a history record) load


def test_fuzzed_checkpoints_resume_cleanly(saved, tmp_path):
    """A damaged checkpoint is refused with the way to start over, or gives a state training can use."""
    clf = saved["classifier"]
    circuits = clf.circuits(saved["sentences"])
    labels = np.searchsorted(clf.classes_, saved["labels"])
    refused = 0

    def resume(path: Path) -> None:
        nonlocal refused
        try:
            theta, state, epoch, _, _ = load_checkpoint(clf, path)
        except Exception as exc:
            refused += 1
            assert "--no-resume" in str(exc)
            raise
        step = clf._adam_step if clf.optimizer == "adam" else clf._spsa_step
        assert np.isfinite(step(theta, circuits, np.arange(len(circuits)), labels, state, epoch)[0]).all()

    for data in fuzz_cases(saved["checkpoint"], seed=13, count=25, key=CHECKPOINT_KEY):
        assert_reads_cleanly(resume, tmp_path / "ck.safetensors", data)
    assert refused > 0


# --- the command line ---------------------------------------------------------------------------------------------
def test_fuzzed_files_in_the_cli(saved, tmp_path, capsys):
    """``qnlp train`` / ``qnlp protein train`` / ``qnlp draw`` on damaged data, lexicon and FASTA files and odd
    sentences: exit 0 or 2, one line, no traceback, inputs unchanged."""
    data, lexicon, fasta = tmp_path / "train.txt", tmp_path / "lex.json", tmp_path / "seqs.fa"
    fast = ["--epochs", "1", "--no-progress", "--json"]
    codes = []

    def damaged(valid: str, seed: int) -> list[bytes]:
        """One random file and three seeded random mutations (past the fixed cases the text readers saw)."""
        return random_bytes(1, seed) + mutations(valid.encode(), 8, seed)[5:]

    for case in damaged(TAGGED, 21):
        data.write_bytes(case)
        codes.append(assert_cli_cleanly(main, ["train", "--data", str(data), "--reader", "spiders", *fast], capsys,
                                        [data]))
    data.write_text(TAGGED)
    for case in damaged(LEXICON, 22):
        lexicon.write_bytes(case)
        codes.append(assert_cli_cleanly(main, ["train", "--data", str(data), "--lexicon", str(lexicon), *fast],
                                        capsys, [data, lexicon]))
    many = "".join(f">P{i} {'ab'[i % 2]}\n{SEQUENCES[i % 4]}\n" for i in range(12))
    for case in damaged(many, 23):
        fasta.write_bytes(case)
        codes.append(assert_cli_cleanly(main, ["protein", "train", "--fasta", str(fasta), *fast], capsys, [fasta]))
    for sentence in ["\udcff\x00 _ __", "man_N " * 40, "a_ _b c__N"]:
        codes.append(assert_cli_cleanly(main, ["draw", sentence, "--out", str(tmp_path / "drawings")], capsys, []))
    model = saved["sentence"]  # a model file given as the checkpoint to resume from: refused, left as it is
    codes.append(assert_cli_cleanly(main, ["train", "--data", str(data), "--checkpoint", str(model), *fast], capsys,
                                    [data, model]))
    assert codes.count(2) >= 5
