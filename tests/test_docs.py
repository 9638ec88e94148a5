"""The README and the docs pages stay in step with the code: every ``tnq`` / ``qnlp`` command they show names a real
subcommand and only options its ``--help`` lists (parsed by the real argparse parsers, never run), the README stays
a front page that starts with the set-up commands CI runs, the site's navigation matches ``docs/``, and no
user-facing text mentions issue numbers."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import re
import shlex
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"
# Pages whose commands are checked besides the README's (the other pages belong to their features' own tests).
CHECKED_PAGES = ["index.md", "simulation.md", "born.md", "qnlp.md", "proteins.md", "benchmarks.md"]
SETUP_RUN = "pip install torch==2.13.0 && pip install -e . && tnq tour"
SETUP_TEST = 'pip install torch==2.13.0 && pip install -e ".[test]" && python -m pytest tests -q'
ISSUE_NUMBER = re.compile(r"\bissues?\b\s*#?\d|#\d+\b|\bissue\b", re.IGNORECASE)


def fenced_blocks(text: str) -> list[tuple[str, str]]:
    """(language, body) of every fenced code block, in order."""
    blocks = re.findall(r"^[ \t]*```(\w*)\n(.*?)^[ \t]*```", text, flags=re.MULTILINE | re.DOTALL)
    return [(lang, textwrap.dedent(body)) for lang, body in blocks]


def shell_commands(body: str) -> Iterator[list[str]]:
    """The commands of a bash block as argument lists: continuation lines joined, comments dropped, ``&&`` chains
    split."""
    for line in body.replace("\\\n", " ").splitlines():
        words = shlex.split(line, comments=True)
        command: list[str] = []
        for word in words + ["&&"]:
            if word in ("&&", ";", "||"):
                if command:
                    yield command
                command = []
            else:
                command.append(word)


def parsers() -> dict[str, argparse.ArgumentParser]:
    """The real ``tnq`` and ``qnlp`` argument parsers."""
    from qnlp.cli import build_parser as qnlp_parser
    from tnq.cli.main import build_parser as tnq_parser

    return {"tnq": tnq_parser(), "qnlp": qnlp_parser()}


def subcommand(parser: argparse.ArgumentParser, argv: list[str]) -> tuple[argparse.ArgumentParser, list[str]]:
    """Descend through the subcommands named at the front of ``argv``: the innermost parser and the words naming it."""
    path: list[str] = []
    for word in argv:
        choices = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not choices or word not in choices[0].choices:
            break
        parser = choices[0].choices[word]
        path.append(word)
    return parser, path


def option_names(parser: argparse.ArgumentParser) -> set[str]:
    """Every option string the parser defines (what its ``--help`` lists)."""
    return {name for action in parser._actions for name in action.option_strings}


def problems(argv: list[str], parser: argparse.ArgumentParser) -> list[str]:
    """Why ``argv`` (without the program name) is not a valid command line for ``parser``; empty when it is."""
    inner, path = subcommand(parser, argv)
    if any(isinstance(a, argparse._SubParsersAction) for a in inner._actions):
        return [f"no subcommand of {inner.prog!r} in {argv[len(path):][:1]}"]
    known = option_names(inner)
    found = [f"{inner.prog} has no option {word.split('=')[0]}" for word in argv[len(path):]
             if word.startswith("-") and len(word) > 1 and not word[1].isdigit() and word.split("=")[0] not in known]
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
        try:
            parser.parse_args(argv)
        except SystemExit as exc:
            if exc.code:
                found.append(stderr.getvalue().strip() or f"exit code {exc.code}")
    return found


def documented_commands(programs: tuple[str, ...] = ("tnq", "qnlp"),
                        inline: bool = False) -> list[tuple[str, list[str]]]:
    """(where, argv) of every command of ``programs`` in a bash block of the README and the checked pages (and, with
    ``inline``, in inline code such as table cells)."""
    out = []
    for path in [README] + [DOCS / name for name in CHECKED_PAGES]:
        text = path.read_text()
        bodies = [body for lang, body in fenced_blocks(text) if lang in ("bash", "sh", "shell")]
        if inline:
            bodies += [span for span in re.findall(r"`([^`\n]+)`", text) if span.split(" ")[0] in programs]
        for body in bodies:
            for argv in shell_commands(body):
                if argv[0] in programs:
                    out.append((f"{path.relative_to(ROOT)}: {shlex.join(argv)}", argv))
    return out


def help_texts(parser: argparse.ArgumentParser) -> Iterator[tuple[str, str]]:
    """(prog, --help text) of a parser and of all its subcommands."""
    yield parser.prog, parser.format_help()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from help_texts(sub)


def test_documented_commands_parse() -> None:
    """Every command the README and the pages show names a real subcommand and only options its --help lists, with
    values its parser accepts; a misspelt option, a removed subcommand or a bad choice is caught."""
    commands = documented_commands()
    programs = {argv[0] for _, argv in commands}
    assert programs == {"tnq", "qnlp"}, programs
    assert len(commands) >= 20
    by_name = parsers()
    failures = [f"{where}: {'; '.join(found)}" for where, argv in commands
                if (found := problems(argv[1:], by_name[argv[0]]))]
    assert not failures, "\n".join(failures)


def test_documented_benchmark_commands_name_their_options() -> None:
    """Every ``python benchmarks/X.py`` command shown names an existing script, and each of its options is one the
    script defines (found as ``"--option"`` in its source or a benchmarks/ module it imports; the scripts are not
    run, they load large models)."""
    commands = [(where, argv) for where, argv in documented_commands(("python",), inline=True)
                if len(argv) > 1 and argv[1].startswith("benchmarks/")]
    assert len(commands) >= 15
    failures = []
    for where, argv in commands:
        script = ROOT / argv[1]
        if not script.is_file():
            failures.append(f"{where}: no script {argv[1]}")
            continue
        source = script.read_text()
        for name in re.findall(r"^(?:from|import) (\w+)", source, flags=re.MULTILINE):  # its sibling helpers too
            helper = ROOT / "benchmarks" / f"{name}.py"
            source += helper.read_text() if helper.is_file() else ""
        failures += [f"{where}: {argv[1]} has no option {word}" for word in argv[2:]
                     if word.startswith("--") and f'"{word.split("=")[0]}"' not in source]
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("argv, expected", [
    (["simulate", "x.qasm", "--max-bnd", "4"], "has no option --max-bnd"),  # argparse itself would take --max-b
    (["simulate", "x.qasm", "--max-b", "4"], "has no option --max-b"),
    (["simulate", "x.qasm", "--method", "tebd"], "invalid choice"),
    (["simulat", "x.qasm"], "no subcommand"),
    (["born"], "no subcommand"),
])
def test_the_checker_catches_bad_commands(argv: list[str], expected: str) -> None:
    """The checker above fails on what it must catch (a check that cannot fail checks nothing)."""
    found = problems(argv, parsers()["tnq"])
    assert any(expected in problem for problem in found), found


def test_shell_commands_split_like_a_shell() -> None:
    """Continuation lines join, comments drop, quoted '#' and '&&' chains are handled."""
    body = 'tnq simulate a.qasm --expect "Z0 Z1" \\\n    --json   # note\npip install x && qnlp draw "a # b"\n'
    assert list(shell_commands(body)) == [
        ["tnq", "simulate", "a.qasm", "--expect", "Z0 Z1", "--json"], ["pip", "install", "x"],
        ["qnlp", "draw", "a # b"]]


def test_readme_is_a_front_page_starting_with_the_setup_commands() -> None:
    """At most 250 lines; its first two code blocks are exactly the two set-up commands, and those are the
    install and test steps CI runs."""
    text = README.read_text()
    assert len(text.splitlines()) <= 250
    blocks = fenced_blocks(text)
    assert [body.strip() for _, body in blocks[:2]] == [SETUP_RUN, SETUP_TEST]
    assert all(lang == "bash" for lang, _ in blocks[:2])

    ci_lines = {line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()}
    for step in SETUP_TEST.split(" && "):
        assert step in ci_lines, f".ci/run does not run the README's step {step!r}"
    assert SETUP_RUN.split(" && ")[0] in ci_lines  # the same torch pin
    assert not problems(SETUP_RUN.split(" && ")[-1].split()[1:], parsers()["tnq"])


def test_readme_links_point_to_pages() -> None:
    """Every relative link of the README names a file of the repository."""
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", README.read_text())
    local = [link for link in links if "://" not in link]
    assert local
    missing = [link for link in local if not (ROOT / link).exists()]
    assert not missing, missing


def test_site_navigation_matches_the_docs_folder() -> None:
    """Every page of docs/ is in mkdocs.yml's nav and every nav entry is a page, so the strict build in CI neither
    misses a page nor points at a missing one."""
    yaml = pytest.importorskip("yaml")
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())

    def pages(entries: list) -> Iterator[str]:
        for entry in entries:
            value = next(iter(entry.values())) if isinstance(entry, dict) else entry
            yield from pages(value) if isinstance(value, list) else [value]

    nav = list(pages(config["nav"]))
    assert len(nav) == len(set(nav))
    assert sorted(nav) == sorted(p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md"))


def test_api_reference_names_exist() -> None:
    """Every object the API page documents (``::: dotted.name``) can be imported, so a renamed or moved function is
    caught here as well as by the strict site build."""
    names = re.findall(r"^::: ([\w.]+)", (DOCS / "api.md").read_text(), flags=re.MULTILINE)
    assert len(names) >= 15
    missing = []
    for name in names:
        parts = name.split(".")
        for cut in range(len(parts), 0, -1):
            try:
                obj = importlib.import_module(".".join(parts[:cut]))
                break
            except ImportError:
                continue
        try:
            for attribute in parts[cut:]:
                obj = getattr(obj, attribute)
        except AttributeError:
            missing.append(name)
    assert not missing, missing


def test_no_issue_numbers_in_user_facing_text() -> None:
    """The README, the docs pages and every --help text speak of the product, not of its issue tracker."""
    texts = [(str(p.relative_to(ROOT)), p.read_text()) for p in [README, *sorted(DOCS.rglob("*.md"))]]
    for parser in parsers().values():
        texts += [(f"{prog} --help", text) for prog, text in help_texts(parser)]
    assert len(texts) > 15
    found = [f"{where}: {m.group(0)!r}" for where, text in texts for m in ISSUE_NUMBER.finditer(text)]
    assert not found, found
