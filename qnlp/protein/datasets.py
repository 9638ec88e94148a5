"""Labelled peptide sets shipped inside the PyPI package ``modlamp`` (read from its data folder, no network).

========================  ======  ==========================  ===========================================
name                      size    classes (0, 1)              notes
========================  ======  ==========================  ===========================================
``AMPvsTM``               412     TM, AMP (206 each)          antimicrobial peptides vs transmembrane
                                                              helices; length 8-56 (median 21)
``AMPvsUniProt``          5200    UniProt, AMP (2600 each)    558 repeated sequences, 22 with both labels:
                                                              use ``dedupe=True`` before splitting
``ACPvsTM``               826     TM, ACP (413 each)          anticancer peptides vs transmembrane
``ACPvsRandom``           826     Random, ACP (413 each)      anticancer vs random-scrambled peptides
========================  ======  ==========================  ===========================================

AMPvsTM is the small, localisation-flavoured binary task (membrane segments against soluble peptides) the tests
and the baseline benchmark use. Sources: modlAMP, Müller, Gabernet, Hiss & Schneider (2017), Bioinformatics
33:2753; AMPvsTM compiled in Schneider et al. (2016), Mol. Inf. doi:10.1002/minf.201600011.
"""

from __future__ import annotations

from qnlp.protein.errors import ProteinDataError
from qnlp.protein.sequences import SequenceSet

MODLAMP_SETS = {"AMPvsTM": "load_AMPvsTM", "AMPvsUniProt": "load_AMPvsUniProt", "ACPvsTM": "load_ACPvsTM",
                "ACPvsRandom": "load_ACPvsRandom"}


def load_modlamp(name: str = "AMPvsTM", dedupe: bool = False) -> SequenceSet:
    """One of modlamp's labelled sets; ids are ``NAME_i`` (i = row in modlamp's file), label names as modlamp's
    ``target_names``. ``dedupe`` drops repeated sequences (see ``SequenceSet.dedupe``)."""
    if name not in MODLAMP_SETS:
        raise ProteinDataError(f"unknown modlamp set {name!r}; choose one of {', '.join(MODLAMP_SETS)}")
    try:
        from modlamp import datasets
    except ImportError:
        raise ProteinDataError("the modlamp data sets need the PyPI package 'modlamp' (pip install modlamp)") from None
    bunch = getattr(datasets, MODLAMP_SETS[name])()
    sequences = [str(s).strip().upper() for s in bunch.sequences]
    ids = [f"{name}_{i}" for i in range(len(sequences))]
    names = tuple(str(n).strip() for n in bunch.target_names)
    data = SequenceSet(ids, sequences, bunch.target.astype("int64"), names, f"modlamp:{name}")
    return data.dedupe() if dedupe else data
