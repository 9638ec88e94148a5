"""Running a contraction tree: serially, slice by slice on Dask, with a report of what it cost."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..arrays import NUMPY, NumpyArrays, is_torch, namespace
from ..progress import progress_bar
from .network import Network
from .paths import ASSUMED_FLOPS_PER_SECOND, TreeInfo
from .simplify import apply_plan

REAL_FLOPS_PER_COMPLEX_MAC = 8


@dataclass
class ContractionReport:
    """What one contraction cost: tree size, search vs contraction time, achieved throughput."""

    flops: float          # scalar multiply-adds of the tree (cotengra's contraction cost)
    width: float          # log2 of the largest intermediate
    peak_bytes: int
    slices: int
    search_seconds: float
    contract_seconds: float
    cache_hit: bool
    optimizer: str
    num_tensors: int

    @property
    def flops_per_second(self) -> float:
        """Achieved real FLOP/s (a complex multiply-add counts 8 real flops)."""
        return REAL_FLOPS_PER_COMPLEX_MAC * self.flops / max(self.contract_seconds, 1e-12)

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "flops_per_second": self.flops_per_second}

    def __str__(self) -> str:
        return (f"{self.num_tensors} tensors, 10^{np.log10(max(self.flops, 1)):.2f} flops, width {self.width:.1f}, "
                f"peak {self.peak_bytes / 2**20:.1f} MiB, {self.slices} slice(s), search {self.search_seconds:.3f} s "
                f"({'cached' if self.cache_hit else self.optimizer}), contraction {self.contract_seconds:.4f} s, "
                f"{self.flops_per_second / 1e9:.2f} GFLOP/s")


def unify_arrays(arrays: list[Any], xp: NumpyArrays = NUMPY) -> list[Any]:
    """The arrays in the namespace ``xp`` (library, device, complex dtype). Under numpy, torch tensors among them
    (parameters for autograd) make all of them torch tensors on the first tensor's device."""
    if xp.name == "numpy":
        tensor = next((a for a in arrays if is_torch(a)), None)
        if tensor is None:
            return arrays if xp.dtype == np.complex128 else [xp.cast(a) for a in arrays]
        xp = namespace("torch", str(tensor.device), xp.dtype.name)
    return [xp.asarray(a) for a in arrays]


def _contract_slice(tree: Any, arrays: list[Any], i: int) -> Any:
    return tree.contract_slice(arrays, i)


def estimated_seconds(flops: float) -> float:
    """A conservative contraction time for ``flops`` multiply-adds (ASSUMED_FLOPS_PER_SECOND real FLOP/s)."""
    return REAL_FLOPS_PER_COMPLEX_MAC * flops / ASSUMED_FLOPS_PER_SECOND


def contract(net: Network, info: TreeInfo, client: Any = None, progress: bool | None = None,
             xp: NumpyArrays = NUMPY) -> tuple[Any, ContractionReport]:
    """Contract ``net`` with the tree in ``info``; slices go to a ``dask.distributed.Client`` if given, else
    run one by one under a progress bar (``progress``: None shows it once the slices take over two seconds).
    With ``info.program`` (TreeCache.get_program) ``net`` is the unsimplified network and the compiled
    program runs on it; with only ``info.plan`` it is simplified first; otherwise ``net`` is taken as
    the network the tree was found for. ``xp`` (``tnq.arrays``): the library, device and dtype it runs in."""
    start = time.perf_counter()
    if info.program is not None:
        value = info.program(unify_arrays(net.arrays, xp))
        return value, contraction_report(net, info, time.perf_counter() - start)
    if info.plan is not None:
        net = apply_plan(net, info.plan)
    arrays = unify_arrays(net.arrays, xp)
    tree = info.tree
    if client is not None and tree.nslices > 1:
        shared = client.scatter(arrays, broadcast=True)
        futures = client.map(_contract_slice, [tree] * tree.nslices, [shared] * tree.nslices, range(tree.nslices))
        value = tree.gather_slices(client.gather(futures))
    elif tree.nslices > 1:
        slices = (tree.contract_slice(arrays, i) for i in range(tree.nslices))
        value = tree.gather_slices(progress_bar(slices, progress, "tnq contract", unit="slice", total=tree.nslices))
    else:
        value = tree.contract(arrays)
    return value, contraction_report(net, info, time.perf_counter() - start)


def contraction_report(net: Network, info: TreeInfo, elapsed: float) -> ContractionReport:
    return ContractionReport(info.flops, info.width, info.peak_bytes, info.slices, info.search_seconds,
                             elapsed, info.cache_hit, info.optimizer, len(net.inputs))
