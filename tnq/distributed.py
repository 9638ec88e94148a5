"""Many simulations at once, serially or on a Dask cluster: parameter sweeps (``sweep``), batches of circuits
(``simulate_many``), and the chunk and seed helpers that make ``tnq.sample``'s counts the same wherever its
shots run.

Work is cut into chunks whose results do not depend on where they run: a sweep's rows are independent, and each
chunk of shots draws from its own seed, spawned from the user's (numpy ``SeedSequence.spawn``). With
``client=None`` the chunks run one after the other in this process; with a ``dask.distributed.Client`` each
chunk is one task, the shared part (the lowered circuit, its contraction trees) is sent once, and the results
come back in order. A worker lost mid-run is replaced by Dask and its chunks run again, with the same result.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .chunks import check_chunk_size, chunk_seeds, chunk_sizes, map_chunks
from .circuit import Circuit
from .compile import lower
from .contraction import paths
from .errors import TnqError, UsageError
from .observables import Hamiltonian, Observable, as_hamiltonian
from .simulate import check_circuit, choose_method, expectation, simulate
from .state import check_shots

TASKS_PER_THREAD = 4
"""A sweep on a cluster is cut into about this many chunks per worker thread (a slow row then delays less)."""


# --- sweeps --------------------------------------------------------------------------------------------------
def sweep_values(values: Any, parameters: Sequence[str]) -> np.ndarray:
    """``values`` as a (rows, len(parameters)) float array, refusing a wrong shape or a non-finite entry with one
    line naming its row and column. A 1-D array is one column when the circuit has a single parameter."""
    if not parameters:
        raise UsageError("sweep: the circuit has no free parameters (tnq.Parameter); use tnq.expectation instead")
    names = f"{len(parameters)} per row, in circuit.parameters order {list(parameters)[:4]}" \
            f"{'...' if len(parameters) > 4 else ''}"
    try:
        grid = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"sweep: values must be a 2-D array of real numbers ({names}): {exc}") from None
    if grid.ndim == 1 and len(parameters) == 1:
        grid = grid[:, None]
    if grid.ndim != 2 or grid.shape[1] != len(parameters):
        raise UsageError(f"sweep: values must have shape (rows, {len(parameters)}) ({names}), "
                         f"got shape {grid.shape}")
    bad = np.argwhere(~np.isfinite(grid))
    if len(bad):
        row, col = (int(k) for k in bad[0])
        raise UsageError(f"sweep: values row {row}, column {col} (parameter {parameters[col]!r}) is not finite "
                         f"({grid[row, col]})")
    return grid


@dataclass
class _Rows:
    """What every chunk of a sweep shares: the state builder of the lowered circuit and the observable."""

    rebinder: Callable[[np.ndarray], Any]
    observable: Hamiltonian


def _expectations(job: _Rows, rows: np.ndarray, first: int, dtype: Any) -> np.ndarray:
    """Expectation values for a chunk of rows (row ``first`` onwards); an error names its row."""
    out = np.empty(len(rows), dtype=dtype)
    for k, row in enumerate(rows):
        try:
            out[k] = job.rebinder(row).expectation(job.observable)
        except TnqError as exc:
            raise type(exc)(f"sweep row {first + k}: {exc}") from None
    return out


def sweep(circuit: Circuit, values: Any, observable: Observable, client: Any = None, method: str = "auto",
          progress: bool | None = None, chunk_size: int | None = None, **options: Any) -> np.ndarray:
    """Expectation values of ``observable`` for every row of ``values`` (a binding of ``circuit.parameters``, in
    that order), as a float array (complex for non-Hermitian coefficients).

    The circuit is lowered once (and, for ``method="contract"``, its trees searched once): row 0 runs here, the
    others through ``State.rebind``. ``client`` (a ``dask.distributed.Client``): rows go to its workers in chunks
    of ``chunk_size`` (default: about four chunks per worker thread), the lowered circuit sent once; the values
    equal the serial ones. ``method="auto"`` picks a backend as ``tnq.amplitudes`` does (no full state needed);
    ``options`` are ``tnq.simulate``'s (``max_bond``, ``cutoff``, ``memory_budget``, ``optimize``...).
    """
    check_circuit(circuit, "sweep")
    grid = sweep_values(values, circuit.parameters)
    h = as_hamiltonian(observable, circuit.num_qubits)
    size = check_chunk_size(chunk_size)
    if "client" in options or "parameters" in options:
        raise UsageError("sweep: pass the Dask client as client= (rows run on its workers; each row's simulation "
                         "runs in one process) and the values as values=")
    dtype = np.float64 if all(np.imag(c) == 0 for c in h.coeffs) else np.complex128
    if method == "auto":
        method, _ = choose_method(circuit.num_qubits, method, lower(circuit, symbolic=True).gates,
                                  options.get("max_bond"), need_state=False)
    if client is not None and method == "contract" and options.get("cache") is None:
        options["cache"] = paths.TreeCache()  # holds just this circuit's trees, found by row 0, sent with it
    out = np.empty(len(grid), dtype=dtype)
    if not len(grid):
        return out
    try:
        first = simulate(circuit, method, parameters=grid[0], **{**options, "progress": False})
        out[0] = first.expectation(h)
    except TnqError as exc:
        raise type(exc)(f"sweep row 0: {exc}") from None
    rest = grid[1:]
    if client is None:
        sizes = [1] * len(rest)
    else:
        threads = max(sum(client.nthreads().values()), 1)
        sizes = chunk_sizes(len(rest), size or max(1, math.ceil(len(rest) / (TASKS_PER_THREAD * threads))))
    starts = np.cumsum([0, *sizes])
    chunks = [(rest[a:b], 1 + a, dtype) for a, b in zip(starts[:-1], starts[1:])]
    parts = map_chunks(_expectations, _Rows(first.rebinder, h), chunks, sizes, client, progress,
                       "tnq sweep", "binding")
    if parts:
        out[1:] = np.concatenate(parts)
    return out


# --- batches of circuits -------------------------------------------------------------------------------------
@dataclass
class _Batch:
    """What every circuit of a ``simulate_many`` batch is asked."""

    observable: Observable | None
    shots: int | None
    method: str
    noise: Any
    options: dict[str, Any]


def _one_circuit(batch: _Batch, index: int, circuit: Circuit, seed: np.random.SeedSequence | None) -> Any:
    """The answers for one circuit of a batch; an error names the circuit."""
    from .dynamic import sample

    try:
        value = None if batch.observable is None else \
            expectation(circuit, batch.observable, batch.method, **batch.options)
        counts = None if batch.shots is None else \
            sample(circuit, batch.shots, np.random.default_rng(seed), batch.noise, batch.method, **batch.options)
    except TnqError as exc:
        raise type(exc)(f"circuit {index}: {exc}") from None
    if batch.observable is None:
        return counts
    return value if batch.shots is None else (value, counts)


def simulate_many(circuits: Sequence[Circuit], observable: Observable | None = None, shots: int | None = None, *,
                  seed: int | np.random.Generator | None = None, noise: Any = None, client: Any = None,
                  method: str = "auto", progress: bool | None = None, **options: Any) -> list[Any]:
    """Simulate a batch of circuits and return, per circuit in order, the expectation value of ``observable``
    (a float; as ``tnq.expectation``, on the observable's lightcone), the counts of ``shots`` shots (a dict, as
    ``tnq.sample``), or ``(value, counts)`` when both are asked. States are not returned: they may be large.

    ``client``: one Dask task per circuit. Circuit i samples with seed ``chunk_seeds(seed, len(circuits))[i]``
    (as a Generator), so the counts do not depend on the client. ``noise`` (shots only) and ``options`` are
    ``tnq.sample``'s / ``tnq.simulate``'s.
    """
    circuits = list(circuits)
    for i, circuit in enumerate(circuits):
        if not isinstance(circuit, Circuit):
            raise UsageError(f"simulate_many: circuit {i} is a {type(circuit).__name__}, not a tnq.Circuit")
        if observable is not None:
            try:
                as_hamiltonian(observable, circuit.num_qubits)
            except TnqError as exc:
                raise type(exc)(f"circuit {i}: {exc}") from None
    if observable is None and shots is None:
        raise UsageError("simulate_many: ask for observable= (expectation values) and/or shots= (counts)")
    if shots is not None:
        check_shots(shots)
        shots = int(shots)
    elif noise is not None:
        raise UsageError("simulate_many: noise= applies to shots; expectation values are noiseless")
    if "client" in options:
        raise UsageError("simulate_many: pass the Dask client as client= (each circuit runs in one process)")
    seeds = chunk_seeds(seed, len(circuits)) if shots is not None else [None] * len(circuits)
    batch = _Batch(observable, shots, method, noise, {**options, "progress": False})
    chunks = [(i, c, s) for i, (c, s) in enumerate(zip(circuits, seeds))]
    return map_chunks(_one_circuit, batch, chunks, [1] * len(chunks), client, progress, "tnq simulate_many",
                      "circuit")

