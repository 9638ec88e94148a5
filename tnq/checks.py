"""Number checks shared by the Python API and the command lines: one rule type, one message form
(``NAME must be ..., got VALUE``), raised as the caller's error class, so a setting the CLI refuses is refused
the same way from Python."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import TnqError

SEED_MAX = 2**32 - 1
"""Seeds are integers in [0, 2**32): what numpy's legacy seeding and torch's accept."""


@dataclass(frozen=True)
class Number:
    """A finite number (an integer with ``integer``) bounded inclusively by ``minimum`` / ``maximum`` and strictly
    by ``above`` / ``below``; ``optional`` also accepts None."""

    integer: bool = False
    minimum: float | None = None
    maximum: float | None = None
    above: float | None = None
    below: float | None = None
    optional: bool = False

    def bounds(self) -> str:
        """The bounds in words: '>= 1', 'in (0, 1]', '' when unbounded."""
        low = (f"[{_text(self.minimum)}" if self.minimum is not None else f"({_text(self.above)}"
               if self.above is not None else None)
        high = (f"{_text(self.maximum)}]" if self.maximum is not None else f"{_text(self.below)})"
                if self.below is not None else None)
        if low and high:
            return f"in {low}, {high}"
        if low:
            return f"{'>=' if low[0] == '[' else '>'} {low[1:]}"
        if high:
            return f"{'<=' if high[-1] == ']' else '<'} {high[:-1]}"
        return ""

    def describe(self) -> str:
        """What a valid value is, in words: 'None or an integer >= 1'."""
        kind = "an integer" if self.integer else "a finite number"
        text = " ".join(filter(None, (kind, self.bounds())))
        return f"None or {text}" if self.optional else text

    def problem(self, value: Any) -> str | None:
        """Why ``value`` breaks the rule (None when it does not)."""
        if value is None and self.optional:
            return None
        kinds = (int, np.integer) if self.integer else (int, float, np.integer, np.floating)
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, kinds) or not math.isfinite(value):
            return f"must be {self.describe()}"
        low = (self.minimum is not None and value < self.minimum) or (self.above is not None and value <= self.above)
        high = (self.maximum is not None and value > self.maximum) or (self.below is not None and value >= self.below)
        if low or high:
            return f"must be {self.bounds()}"
        return None

    def accepts(self, value: Any) -> bool:
        """Whether ``value`` keeps the rule (for fields read from files, whose messages are written by the reader)."""
        return self.problem(value) is None

    def check(self, name: str, value: Any, error: type[TnqError]) -> None:
        """Raise ``error`` naming ``name`` when ``value`` breaks the rule."""
        problem = self.problem(value)
        if problem:
            raise error(f"{name} {problem}, got {value!r}")


def _text(bound: float) -> str:
    """A bound as written: '4294967295', '0.5', '1e-12'."""
    return str(int(bound)) if float(bound).is_integer() and abs(bound) < 1e16 else f"{bound:g}"


SEED = Number(integer=True, minimum=0, maximum=SEED_MAX, optional=True)
"""A seed: None (random) or an integer in [0, 2**32)."""


def check_numbers(rules: Mapping[str, Number], error: type[TnqError], **values: Any) -> None:
    """Check each keyword value against the rule of the same name; the first breach raises ``error`` naming it."""
    for name, value in values.items():
        rules[name].check(name, value, error)
