"""Speed of the plain-English parser (offline tagging + pregroup typing + reduction), on one core.

Sentences: the review-style test set (tests/data/review_sentences.txt), lambeq's plain MC sentences (when
../shared/datasets/lambeq_mc_rp is there) and longer sentences made by joining consecutive review sentences with
", and", ", but" or ", because" (17-25 words). For each length band it prints sentences/s for the whole
``parse_plain`` (with ``fragments=True``, as ``qnlp parse`` runs it) and for the parse alone (everything but
building the DisCoPy diagram object). CPU time of this process, best of ``--repeats`` runs; pin it to one core
(``taskset -c 0``).

    python benchmarks/parse_speed.py [--repeats 2] [--json out.json]
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import common  # noqa: F401  (pins BLAS threads)
from common import environment, parse_args

import qnlp.parser as parser
from qnlp.errors import NoParseError
from qnlp.pipeline import tokens
from tnq.io import atomic_write_text

ROOT = Path(__file__).resolve().parents[1]
REVIEWS = ROOT / "tests" / "data" / "review_sentences.txt"
MC = ROOT.parent / "shared" / "datasets" / "lambeq_mc_rp" / "mc_train_data.txt"
BANDS = ((1, 8), (9, 16), (17, 25))


def sentences() -> list[list[str]]:
    """Review sentences, MC sentences and pairs of review sentences joined into 17-25 words."""
    reviews = [tokens(line) for line in REVIEWS.read_text().splitlines() if line.strip()]
    out = list(reviews)
    if MC.is_file():
        out += [tokens(line.split(maxsplit=1)[1]) for line in MC.read_text().splitlines() if line.strip()]
    for conjunction in ("and", "but", "because"):
        for a, b in zip(reviews, reviews[1:] + reviews[:1]):
            joined = a + [",", conjunction] + b
            if 17 <= len(joined) <= 25:
                out.append(joined)
    return out


def rate(group: list[list[str]], diagram: bool, repeats: int) -> tuple[float, int]:
    """Best sentences/s over ``repeats`` runs, and how many were typed."""
    built = parser._checked
    if not diagram:
        parser._checked = lambda *args: None  # stop before the DisCoPy object
    try:
        best, typed = 0.0, 0
        for _ in range(repeats):
            typed, tick = 0, time.process_time()
            for words in group:
                try:
                    parser.parse_plain(words, fragments=True)
                    typed += 1
                except NoParseError:
                    pass
            best = max(best, len(group) / max(time.process_time() - tick, 1e-9))
        return best, typed
    finally:
        parser._checked = built


def run(args) -> dict:
    """Time every band; print and return the table."""
    data = sentences()
    parser.parse_plain("warm up the tagger")
    rows = []
    for low, high in BANDS:
        group = [s for s in data if low <= len(s) <= high]
        if not group:
            continue
        full, typed = rate(group, True, args.repeats)
        bare, _ = rate(group, False, args.repeats)
        rows.append({"words": f"{low}-{high}", "sentences": len(group), "typed": typed,
                     "sentences_per_second": round(full, 1), "without_diagram_object": round(bare, 1)})
        print(f"{low:>2}-{high:<2} words: {len(group):>4} sentences ({typed} typed)  {full:8.1f} sentences/s  "
              f"({bare:.1f}/s without building the DisCoPy diagram)")
    return {"environment": environment(), "rows": rows}


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    result = run(args)
    if args.json:
        atomic_write_text(args.json, json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
