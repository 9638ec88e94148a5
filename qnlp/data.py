"""Synthetic MC-like data (food = 1 vs IT = 0), shipped so the project can train and test without ../shared.

Sentences follow lambeq's MC patterns ``[ADJ] N TV [ADJ] N`` ("skillful chef prepares tasty meal"); the topic
decides the verb, object and object adjective, while subjects and the verb "prepares" are shared by both topics.
"""

from __future__ import annotations

import itertools
import os

import numpy as np

from qnlp.corpus import Example, format_tagged
from qnlp.errors import QnlpError

FOOD, IT = 1, 0

VOCABULARY: dict[str, dict[int | None, tuple[str, ...]]] = {
    "subject": {None: ("man", "woman", "person", "chef")},
    "subject_adj": {None: ("skillful",)},
    "verb": {FOOD: ("cooks", "bakes", "prepares"), IT: ("debugs", "runs", "prepares")},
    "object": {FOOD: ("meal", "sauce", "dinner", "soup"), IT: ("program", "software", "application", "code")},
    "object_adj": {FOOD: ("tasty", "fresh"), IT: ("useful", "robust")},
}


def _sentences(label: int) -> list[Example]:
    """Every sentence of one topic, in a fixed order."""
    subjects = [((), ())] + [((a,), ("ADJ",)) for a in VOCABULARY["subject_adj"][None]]
    objects_adj = [((), ())] + [((a,), ("ADJ",)) for a in VOCABULARY["object_adj"][label]]
    out = []
    for (sa, sat), subj, verb, (oa, oat), obj in itertools.product(
            subjects, VOCABULARY["subject"][None], VOCABULARY["verb"][label], objects_adj,
            VOCABULARY["object"][label]):
        words = (*sa, subj, verb, *oa, obj)
        tags = (*sat, "N", "TV", *oat, "N")
        out.append(Example(label, words, tags))
    return out


def generate_mc(num: int, seed: int = 0) -> list[Example]:
    """``num`` distinct tagged sentences, half food (label 1) and half IT (label 0) (food gets the odd one),
    drawn without replacement and shuffled with ``seed``."""
    food, it = _sentences(FOOD), _sentences(IT)
    num_food, num_it = num - num // 2, num // 2
    if num < 1 or num_food > len(food) or num_it > len(it):
        raise QnlpError(f"generate_mc: num must be in 1..{2 * min(len(food), len(it))}, got {num}")
    rng = np.random.default_rng(seed)
    picked = [food[i] for i in rng.choice(len(food), num_food, replace=False)]
    picked += [it[i] for i in rng.choice(len(it), num_it, replace=False)]
    return [picked[i] for i in rng.permutation(len(picked))]


def write_mc(path: str | os.PathLike, num: int, seed: int = 0) -> list[Example]:
    """Write ``generate_mc(num, seed)`` atomically in the tagged file format; return the examples."""
    from tnq.io import atomic_write_text

    examples = generate_mc(num, seed)
    atomic_write_text(path, format_tagged(examples))
    return examples
