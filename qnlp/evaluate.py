"""Evaluate sentence circuits with tnq's batched parametric evaluation (``tnq.batch_eval.ParametricBatch``): the
gate matrices of all sentences are built at once from the parameter vector (one vectorised construction per gate
kind), sentences with one gate pattern are contracted as one stacked network along a cached tree, and the
post-selected amplitudes are normalised over the open output qubits. Differentiable when the parameters are a
torch tensor."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from qnlp.circuits import SentenceCircuit
from qnlp.errors import QnlpError
from tnq.batch_eval import ParametricBatch, Postselected
from tnq.contraction import TreeCache

DEFAULT_CACHE = TreeCache()
"""Trees of sentence shapes, shared by every model in the process (a shape is searched once)."""


class CompiledBatch(ParametricBatch):
    """Sentence circuits prepared for repeated evaluation with new parameter vectors (a ``ParametricBatch`` whose
    amplitudes include each sentence's constant scalar); ``circuits`` are the sentence circuits, ``cache`` keeps
    their trees (default: DEFAULT_CACHE) and ``optimize`` is one of ``tnq.batch_eval.PRESETS``."""

    def __init__(self, circuits: Sequence[SentenceCircuit], symbols: Sequence[str],
                 cache: TreeCache | None = None, optimize: str = "greedy") -> None:
        if not circuits:
            raise QnlpError("no circuits to evaluate")
        widths = {len(c.outputs) for c in circuits}
        if len(widths) != 1:
            raise QnlpError(f"circuits have different numbers of output qubits {sorted(widths)}; "
                            "evaluate each output type separately")
        known = set(symbols)
        for c in circuits:
            missing = [s for s in c.symbols if s not in known]
            if missing:
                raise QnlpError(f"no value for symbol(s) {missing[:5]}{' ...' if len(missing) > 5 else ''}")
        super().__init__([Postselected(c.circuit, c.postselect, c.outputs) for c in circuits], symbols,
                         optimize=optimize, cache=DEFAULT_CACHE if cache is None else cache)
        self.circuits = list(circuits)
        self._scalars = np.array([c.scalar for c in circuits], dtype=np.complex128)

    def amplitudes(self, theta: Any, subset: Sequence[int] | None = None) -> Any:
        """Post-selected output amplitudes, shape (len(circuits), 2**k), including each circuit's constant
        scalar; torch (differentiable) when ``theta`` is a torch tensor. ``subset``: only these circuits
        (rows in that order), e.g. a mini-batch: only their gate matrices are built (and backpropagated
        through)."""
        amps = super().amplitudes(theta, subset)
        scalars = self._scalars if subset is None else self._scalars[np.asarray(subset, dtype=np.int64)]
        if np.all(scalars == 1):
            return amps
        if isinstance(amps, np.ndarray):
            return amps * scalars[:, None]
        import torch

        return amps * torch.as_tensor(scalars)[:, None]

    def scaled_amplitudes(self, theta: Any, subset: Sequence[int] | None = None) -> tuple[Any, np.ndarray]:
        """``ParametricBatch.scaled_amplitudes`` (without the circuits' scalars) for a vector of ``symbols`` values."""
        if len(theta) != len(self.symbols):
            raise QnlpError(f"expected {len(self.symbols)} parameters, got {len(theta)}")
        return super().scaled_amplitudes(theta, subset)


def amplitudes(circuits: Sequence[SentenceCircuit], values: Mapping[str, Any], cache: TreeCache | None = None) -> Any:
    """Post-selected output amplitudes for parameter ``values`` by symbol name (numbers, or torch scalars
    for autograd); see ``CompiledBatch`` to evaluate the same circuits many times."""
    symbols = sorted({s for c in circuits for s in c.symbols})
    return CompiledBatch(circuits, symbols, cache).amplitudes(_vector(values, symbols))


def probabilities(circuits: Sequence[SentenceCircuit], values: Mapping[str, Any],
                  cache: TreeCache | None = None) -> Any:
    """Outcome probabilities of the output qubits given the post-selections, for ``values`` by symbol name."""
    symbols = sorted({s for c in circuits for s in c.symbols})
    return CompiledBatch(circuits, symbols, cache).probabilities(_vector(values, symbols))


def _vector(values: Mapping[str, Any], symbols: list[str]) -> Any:
    missing = [s for s in symbols if s not in values]
    if missing:
        raise QnlpError(f"no value for symbol(s) {missing[:5]}{' ...' if len(missing) > 5 else ''}")
    items = [values[s] for s in symbols]
    if any(hasattr(v, "requires_grad") for v in items):
        import torch

        return torch.stack([torch.as_tensor(v, dtype=torch.float64) for v in items]) if items else \
            torch.zeros(0, dtype=torch.float64)
    return np.array(items, dtype=np.float64)


__all__ = ["CompiledBatch", "DEFAULT_CACHE", "amplitudes", "probabilities"]
