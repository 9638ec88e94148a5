"""Protein sequences as sentences of residues (Kundu et al. 2024, arXiv 2403.06890).

Data side: residue alphabets with an explicit unknown-residue policy (alphabet), FASTA/CSV loaders (loaders), the
modlamp peptide sets (datasets), a labelled-sequence container with seeded stratified splits (sequences),
long-sequence truncation / windows / pooling (windows), a classical k-mer logistic-regression baseline (baseline),
and residue sequences as stairs (ptn) or tree (ctn) diagrams with uniform or hierarchical sharing (diagrams).
Quantum side (imported from their modules, they pull in torch): compile (ProteinCompiler: residues -> tnq circuits
without per-sequence DisCoPy work), ansatz (the
controlled combining box), model (ProteinClassifier, save / load) and cli (``qnlp protein train``).

    from qnlp.protein import load_modlamp, ProteinReader, KmerBaseline
    train, test = load_modlamp("AMPvsTM").split(0.25, seed=0)
    print(KmerBaseline(k=(1, 2)).fit(train).score(test))
    diagrams = ProteinReader("ptn", "hierarchical", alphabet="dayhoff6", max_len=16).read(train)
"""

from qnlp.protein.alphabet import ALPHABETS, STANDARD, UNKNOWN_TOKEN, Alphabet, get_alphabet
from qnlp.protein.baseline import KmerBaseline
from qnlp.protein.datasets import MODLAMP_SETS, load_modlamp
from qnlp.protein.diagrams import MODELS, SHARING, ProteinReader
from qnlp.protein.errors import ProteinDataError, UnknownResidueError
from qnlp.protein.loaders import format_fasta, read_csv, read_fasta, read_label_map, write_csv, write_fasta
from qnlp.protein.sequences import SequenceSet, encode_labels
from qnlp.protein.windows import expand_windows, pool, sliding_windows, truncate, window_starts

__all__ = [
    "ALPHABETS", "STANDARD", "UNKNOWN_TOKEN", "Alphabet", "get_alphabet",
    "KmerBaseline",
    "MODLAMP_SETS", "load_modlamp",
    "MODELS", "SHARING", "ProteinReader",
    "ProteinDataError", "UnknownResidueError",
    "format_fasta", "read_csv", "read_fasta", "read_label_map", "write_csv", "write_fasta",
    "SequenceSet", "encode_labels",
    "expand_windows", "pool", "sliding_windows", "truncate", "window_starts",
]
