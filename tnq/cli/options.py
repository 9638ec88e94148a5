"""argparse value types shared by the ``tnq`` and ``qnlp`` commands: a bad number is refused by argparse itself,
with one line naming the option and exit code 2, before any work starts. The rules are ``tnq.checks.Number``s,
the same the Python API applies."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import NoReturn

from ..checks import SEED_MAX, Number


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line, ``prog: error: message (see prog --help)``, and exit code 2;
    its subcommands' parsers are of the same class."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


class DefaultsHelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Adds ``(default: ...)`` to an option's help unless the help already says its default."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        return text if "default" in text else super()._get_help_string(action)


def of(rule: Number) -> Callable[[str], float]:
    """The argparse type of a ``Number`` rule: parses the text, then refuses what the rule refuses."""

    def parse(text: str) -> float:
        try:
            value: float = int(text) if rule.integer else float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {'an integer' if rule.integer else 'a number'}, "
                                             f"got {text!r}") from None
        problem = rule.problem(value)
        if problem:
            raise argparse.ArgumentTypeError(f"{problem}, got {text}")
        return value

    return parse


def integer(minimum: int | None = None, maximum: int | None = None) -> Callable[[str], int]:
    """An integer type bounded by ``minimum`` / ``maximum`` (inclusive)."""
    return of(Number(integer=True, minimum=minimum, maximum=maximum))  # type: ignore[return-value]


def real(minimum: float | None = None, maximum: float | None = None, *, above: float | None = None,
         below: float | None = None) -> Callable[[str], float]:
    """A finite float type (nan and inf refused), bounded inclusively by ``minimum`` / ``maximum`` and strictly by
    ``above`` / ``below``."""
    return of(Number(minimum=minimum, maximum=maximum, above=above, below=below))


seed = integer(0, SEED_MAX)
"""A random seed: an integer in [0, 2**32)."""

count = integer(0)
"""A count that may be zero (shots, epochs, steps)."""

positive = integer(1)
"""A count of at least one (bond dimension, layers, batch size)."""

positive_real = real(above=0.0)
"""A finite number > 0 (learning rate, minutes)."""

fraction = real(above=0.0, maximum=1.0)
"""A finite number in (0, 1] (a budget)."""
