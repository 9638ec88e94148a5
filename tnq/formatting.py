"""Small text formatters shared by the CLI commands and the tour (pure functions, no heavy imports)."""

from __future__ import annotations

from collections.abc import Sequence


def seconds(value: float) -> str:
    """'0.012 s', '3.4 s', '2 min 5 s': readable at every scale."""
    if value < 10:
        return f"{value:.3g} s"
    if value < 120:
        return f"{value:.1f} s"
    return f"{int(value // 60)} min {value % 60:.0f} s"


def short_bits(bits: str, width: int = 32) -> str:
    """A bitstring, abbreviated in the middle when longer than ``width`` ('0000...0000 (140 bits)')."""
    if len(bits) <= width:
        return bits
    half = (width - 3) // 2
    return f"{bits[:half]}...{bits[-half:]} ({len(bits)} bits)"


def qubit_ranges(qubits: Sequence[int]) -> str:
    """'0-11', '0-3, 7, 9-10': a compact list of qubit indices, order kept."""
    parts: list[str] = []
    start = prev = None
    for q in qubits:
        if prev is not None and q == prev + 1:
            prev = q
            continue
        if start is not None:
            parts.append(str(start) if start == prev else f"{start}-{prev}")
        start = prev = q
    if start is not None:
        parts.append(str(start) if start == prev else f"{start}-{prev}")
    return ", ".join(parts) or "none"


def number(value: complex | float) -> str:
    """A real value as '%.10g'; a complex one as 'a+bj' (both parts to 6 significant digits)."""
    value = complex(value)
    if value.imag == 0:
        return f"{value.real:.10g}"
    return f"{value.real:.6g}{value.imag:+.6g}j"
