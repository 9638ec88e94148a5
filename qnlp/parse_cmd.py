"""``qnlp parse FILE``: type every sentence of a text file with the offline pregroup parser and report the coverage.

    qnlp parse reviews.txt --json
    qnlp parse mc_train_data.txt --labelled --out diagrams/

A sentence is *parsed* when it reduces to ``--target``, a *fragment* when it reduces to another atomic type only
(e.g. a noun phrase, ``n``), and *failed* otherwise. Plain words are tagged offline (``qnlp.tagger``); ``word_TAG``
lines are typed by their tags. Bad lines (empty, not UTF-8, another script, too long) stop the command with one error
naming the file and line, or are counted and skipped with ``--skip-bad``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from qnlp.errors import LexiconError

FAILURES_SHOWN = 20
"""Failures listed in the text report (``--json`` lists them all)."""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``qnlp parse`` on the ``qnlp`` sub-command parsers."""
    parser = subparsers.add_parser(
        "parse", help="type the sentences of a file with the offline pregroup parser and report the coverage",
        description="Parse every line of FILE (one sentence per line, words separated by spaces; plain English or "
                    "word_TAG tokens) to the target type, and count the sentences parsed, typed as a fragment "
                    "(another atomic type, such as a noun phrase n) and failed.")
    parser.add_argument("file", metavar="FILE", help="UTF-8 text, one sentence per line")
    parser.add_argument("--target", default="s", help="sentence type (default: s)")
    parser.add_argument("--labelled", action="store_true",
                        help="each line starts with a label, as in 'qnlp train --data' files; the label is ignored")
    parser.add_argument("--lexicon", default=None, metavar="LEX.json",
                        help="JSON word -> POS tag or type string, used before the tagger for the words it has")
    parser.add_argument("--skip-bad", action="store_true",
                        help="count and skip empty lines, lines that are not UTF-8 text, words in another script "
                             "and sentences over the length limit, instead of stopping at the first")
    parser.add_argument("--out", default=None, metavar="DIR",
                        help="save each typed sentence's diagram (and its circuit) as DIR/line-N-diagram.png")
    parser.add_argument("--json", action="store_true", help="print the report as one JSON object")
    parser.set_defaults(func=run)
    return parser


def read_sentences(path: str | Path, labelled: bool = False,
                   skip_bad: bool = False) -> tuple[list[tuple[str, list[str]]], int]:
    """The ``(FILE:LINE, words)`` of each line and the number of bad lines skipped. A bad line (empty, not UTF-8,
    no words after the label, or words the tagger cannot read) raises LexiconError naming the file and line unless
    ``skip_bad``. A final full stop, question or exclamation mark is dropped, as the other commands do."""
    from qnlp.files import read_byte_lines
    from qnlp.parser import check_plain_words
    from qnlp.pipeline import tokens

    path = Path(path)
    lines = read_byte_lines(path, LexiconError)
    out, skipped = [], 0
    for number, raw in enumerate(lines, start=1):
        where = f"{path}:{number}"
        try:
            words = _words(raw, where, labelled)
            if not all("_" in w for w in words):
                check_plain_words(words)
        except LexiconError as exc:
            if not skip_bad:
                raise LexiconError(f"{where}: {exc}") from None
            skipped += 1
            continue
        out.append((where, tokens(" ".join(words))))
    if not out and not skipped:
        raise LexiconError(f"{path}: no sentences in the file")
    return out, skipped


def _words(raw: bytes, where: str, labelled: bool) -> list[str]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise LexiconError(f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at column {exc.start + 1})") from None
    words = text.split()
    if labelled and words:
        words = words[1:]
    if not words:
        raise LexiconError("empty line" if not text.strip() else "no sentence after the label")
    return words


def parse_file(sentences: list[tuple[str, list[str]]], target: str = "s",
               lexicon: Any = None) -> tuple[dict[str, Any], list[tuple[str, Any]]]:
    """Parse each sentence (fragments allowed); returns the report and the ``(FILE:LINE, diagram)`` of each
    sentence typed."""
    from qnlp.errors import NoParseError, UnknownWordError
    from qnlp.grammar import parse_type, type_string
    from qnlp.parser import parse_any

    target_type = parse_type(target)
    report: dict[str, Any] = {"sentences": len(sentences), "parsed": 0, "fragments": 0, "failed": 0, "failures": [],
                              "fragment_types": {}}
    diagrams = []
    tick = time.perf_counter()
    for where, words in sentences:
        try:
            diagram = parse_any(words, target, lexicon, fragments=True)
        except (NoParseError, UnknownWordError, LexiconError) as exc:
            report["failed"] += 1
            report["failures"].append({"line": where, "sentence": " ".join(words), "error": str(exc)})
            continue
        if diagram.cod == target_type:
            report["parsed"] += 1
        else:
            report["fragments"] += 1
            name = type_string(diagram.cod)
            report["fragment_types"][name] = report["fragment_types"].get(name, 0) + 1
        diagrams.append((where, diagram))
    seconds = time.perf_counter() - tick
    report["seconds"] = round(seconds, 3)
    report["sentences_per_second"] = round(len(sentences) / seconds, 1) if seconds > 0 else None
    return report, diagrams


def run(args: argparse.Namespace) -> int:
    """Run ``qnlp parse``: check the options and outputs, parse, save the drawings, print the report."""
    from qnlp.grammar import Lexicon, parse_type
    from tnq.io import check_output

    parse_type(args.target)  # a bad target type is an error before any work
    inputs = [args.file, *([args.lexicon] if args.lexicon else [])]
    out = check_output(args.out, option="--out", inputs=inputs, folder=True) if args.out else None
    lexicon = None
    if args.lexicon:
        from qnlp.commands import read_lexicon

        lexicon = Lexicon(read_lexicon(args.lexicon))
    sentences, skipped = read_sentences(args.file, args.labelled, args.skip_bad)
    report, diagrams = parse_file(sentences, args.target, lexicon)
    report["skipped"] = skipped
    if out is not None:
        from qnlp.draw import save_drawings

        out.mkdir(parents=True, exist_ok=True)
        for where, diagram in diagrams:
            line = where.rpartition(":")[2]
            save_drawings(diagram, out / f"line-{line}-diagram.png", out / f"line-{line}-circuit.png")
        report["saved"] = f"{out}: {len(diagrams)} diagrams"
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    typed = report["parsed"] + report["fragments"]
    print(f"{args.file}: {report['sentences']} sentences, {report['parsed']} parsed as {args.target}, "
          f"{report['fragments']} fragments {report['fragment_types'] or ''}, {report['failed']} failed, "
          f"{skipped} skipped; {100 * typed / max(report['sentences'], 1):.1f}% typed "
          f"({report['sentences_per_second']} sentences/s)")
    for failure in report["failures"][:FAILURES_SHOWN]:
        print(f"  {failure['line']}: failed: {failure['sentence']}")
    if report["failed"] > FAILURES_SHOWN:
        print(f"  ... and {report['failed'] - FAILURES_SHOWN} more (--json lists all)")
    if "saved" in report:
        print(f"saved {report['saved']}")
    return 0
