"""Array namespaces: the MPS, dense and contraction kernels run unchanged on numpy arrays or torch tensors.

A namespace offers the few operations whose spelling differs between the libraries (factorisations, axis
permutations, copies, creation on a device, transfers to the host, thread limits); everything else the kernels
write with operators and methods both libraries share (``@``, ``*``, ``.reshape``, ``.conj()``, slicing).
``namespace_of(array)`` picks the namespace of an existing array, ``namespace(backend, device, dtype)`` the one a
user asked for (validated by ``check_array_options``). The numpy namespace calls exactly what the kernels called
before (scipy's gesdd with a gesvd fallback, economic QR), so numpy results are bit-for-bit unchanged.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from functools import cache
from typing import Any

import numpy as np

from .errors import UsageError
from .threads import blas_threads

BACKENDS = ("numpy", "torch")
"""Array libraries the engine runs on (``backend=``)."""
DTYPES = ("complex128", "complex64")
"""Complex precisions of the state (``dtype=``); complex128 is the default."""


def is_torch(x: Any) -> bool:
    """Whether ``x`` is a torch object, such as a tensor (without importing torch)."""
    return type(x).__module__.startswith("torch")


def host(x: Any) -> np.ndarray:
    """A numpy copy (or view) of any array or tensor, brought to the CPU; gradients are not followed."""
    if isinstance(x, np.ndarray):
        return x
    if is_torch(x):
        return x.detach().cpu().numpy()
    return np.asarray(x)


class NumpyArrays:
    """numpy (CPU) arrays of one complex dtype; the engine's default."""

    name = "numpy"
    device = "cpu"
    uint8 = np.uint8

    def __init__(self, dtype: str = "complex128") -> None:
        self.dtype = np.dtype(dtype)
        self.dtype_name = self.dtype.name
        self.real_dtype = np.finfo(self.dtype).dtype
        self.tiny = 1e-300 if self.real_dtype == np.float64 else float(np.finfo(self.real_dtype).tiny)

    def __repr__(self) -> str:
        return f"NumpyArrays({self.dtype_name})"

    # --- creation and transfer ---------------------------------------------------------------------
    def cast(self, x: Any) -> np.ndarray:
        """``x`` in this namespace's complex dtype (no copy when it already is)."""
        return np.asarray(x, dtype=self.dtype)

    def asarray(self, x: Any) -> np.ndarray:
        """``x`` as an array of this namespace: its dtype kept, except complex128 data in a complex64 namespace."""
        x = np.asarray(x)
        return x.astype(self.dtype) if self.dtype == np.complex64 and x.dtype == np.complex128 else x

    def real(self, x: Any) -> np.ndarray:
        """Real data (uniforms, weights) as an array of this namespace."""
        return np.asarray(x)

    def index(self, x: Any) -> np.ndarray:
        """Integer indices for fancy indexing."""
        return np.asarray(x)

    def complex_of(self, x: np.ndarray) -> Any:
        """The complex dtype of products with ``x`` (environments of amplitudes and sampling)."""
        return np.result_type(x, np.complex128)

    def zeros(self, shape: Sequence[int], dtype: Any = None) -> np.ndarray:
        return np.zeros(shape, dtype=self.dtype if dtype is None else dtype)

    def ones(self, shape: Sequence[int], dtype: Any = None) -> np.ndarray:
        return np.ones(shape, dtype=self.dtype if dtype is None else dtype)

    def arange(self, n: int) -> np.ndarray:
        return np.arange(n)

    # --- linear algebra ----------------------------------------------------------------------------
    def svd(self, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Thin SVD by LAPACK gesdd, falling back to the slower but more robust gesvd."""
        import scipy.linalg  # here, not at the top: it takes ~0.3 s to import and a small run may never need it

        try:
            return scipy.linalg.svd(matrix, full_matrices=False, lapack_driver="gesdd", check_finite=False)
        except np.linalg.LinAlgError:
            return scipy.linalg.svd(matrix, full_matrices=False, lapack_driver="gesvd", check_finite=False)

    def qr(self, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Thin QR without numpy's per-call checks."""
        import scipy.linalg

        return scipy.linalg.qr(matrix, mode="economic", check_finite=False)

    # --- shape and reductions ----------------------------------------------------------------------
    def transpose(self, x: np.ndarray, axes: Sequence[int]) -> np.ndarray:
        return x.transpose(axes)

    def copy(self, x: np.ndarray) -> np.ndarray:
        return x.copy()

    def result_type(self, *arrays: np.ndarray) -> Any:
        """The dtype of a product of ``arrays``."""
        return np.result_type(*arrays)

    def tensordot(self, a: np.ndarray, b: np.ndarray, axes: Any) -> np.ndarray:
        return np.tensordot(a, b, axes=axes)

    def einsum(self, spec: str, *operands: np.ndarray, optimize: bool = False) -> np.ndarray:
        return np.einsum(spec, *operands, optimize=optimize)

    def moveaxis(self, x: np.ndarray, source: Sequence[int], destination: Sequence[int]) -> np.ndarray:
        return np.moveaxis(x, source, destination)

    def norm(self, x: np.ndarray, axis: int | None = None) -> Any:
        """The 2-norm of the flattened array, or of each slice along ``axis``."""
        return np.linalg.norm(x, axis=axis)

    def argmax(self, x: np.ndarray, axis: int) -> np.ndarray:
        return np.argmax(x, axis=axis)

    def max(self, x: np.ndarray, axis: int) -> np.ndarray:
        return x.max(axis=axis)

    def cumsum(self, x: np.ndarray, axis: int) -> np.ndarray:
        return np.cumsum(x, axis=axis)

    def where(self, condition: np.ndarray, a: Any, b: Any) -> np.ndarray:
        return np.where(condition, a, b)

    def sqrt(self, x: np.ndarray) -> np.ndarray:
        return np.sqrt(x)

    def clamp_min(self, x: np.ndarray, low: float) -> np.ndarray:
        return np.maximum(x, low)

    def clamp_max(self, x: np.ndarray, high: float) -> np.ndarray:
        return np.minimum(x, high)

    def to_int(self, x: np.ndarray) -> np.ndarray:
        return x.astype(np.intp)

    def vdot(self, a: np.ndarray, b: np.ndarray) -> Any:
        """sum(conj(a) * b) over all entries."""
        return np.vdot(a, b)

    def threads(self, limit: int | None) -> contextlib.AbstractContextManager[None]:
        """BLAS limited to ``limit`` threads inside the block (None: the library default)."""
        return blas_threads(limit)


class TorchArrays(NumpyArrays):
    """torch tensors of one complex dtype on one device (``cpu``, ``cuda``, ``cuda:1``...)."""

    name = "torch"

    def __init__(self, device: str = "cpu", dtype: str = "complex128") -> None:
        import torch

        self.torch = torch
        self.uint8 = torch.uint8
        self.device = str(torch.device(device))
        self.dtype = getattr(torch, str(dtype))
        self.dtype_name = str(dtype)
        self.real_dtype = self.dtype.to_real()
        self.tiny = 1e-300 if self.real_dtype == torch.float64 else float(torch.finfo(self.real_dtype).tiny)

    def __repr__(self) -> str:
        return f"TorchArrays({self.device}, {self.dtype_name})"

    def cast(self, x: Any) -> Any:
        if isinstance(x, np.ndarray) and not x.flags.writeable:  # torch would warn about sharing read-only memory
            x = np.array(x)
        return self.torch.as_tensor(x, dtype=self.dtype, device=self.device)

    def asarray(self, x: Any) -> Any:
        if is_torch(x) and x.dtype == self.dtype and str(x.device) == self.device:
            return x
        return self.cast(x)

    def real(self, x: Any) -> Any:
        return self.torch.as_tensor(x, dtype=self.real_dtype, device=self.device)

    def index(self, x: Any) -> Any:
        return self.torch.as_tensor(np.asarray(x, dtype=np.int64), device=self.device)

    def complex_of(self, x: Any) -> Any:
        return self.dtype

    def zeros(self, shape: Sequence[int], dtype: Any = None) -> Any:
        return self.torch.zeros(tuple(shape), dtype=self.dtype if dtype is None else dtype, device=self.device)

    def ones(self, shape: Sequence[int], dtype: Any = None) -> Any:
        return self.torch.ones(tuple(shape), dtype=self.dtype if dtype is None else dtype, device=self.device)

    def arange(self, n: int) -> Any:
        return self.torch.arange(n, device=self.device)

    def svd(self, matrix: Any) -> tuple[Any, Any, Any]:
        """Thin SVD by torch on the tensor's device; where it does not converge, LAPACK gesvd on the host."""
        try:
            return self.torch.linalg.svd(matrix, full_matrices=False)
        except self.torch.linalg.LinAlgError:
            if matrix.requires_grad:
                raise
            import scipy.linalg

            u, s, vh = scipy.linalg.svd(host(matrix), full_matrices=False, lapack_driver="gesvd",
                                        check_finite=False)
            return self.asarray(u), self.real(s), self.asarray(vh)

    def qr(self, matrix: Any) -> tuple[Any, Any]:
        return self.torch.linalg.qr(matrix, mode="reduced")

    def transpose(self, x: Any, axes: Sequence[int]) -> Any:
        return x.permute(tuple(axes))

    def copy(self, x: Any) -> Any:
        return x.clone()

    def result_type(self, *arrays: Any) -> Any:
        return self.dtype

    def tensordot(self, a: Any, b: Any, axes: Any) -> Any:
        if not isinstance(axes, int):
            axes = tuple([ax] if isinstance(ax, int) else list(ax) for ax in axes)
        return self.torch.tensordot(a, b, dims=axes)

    def einsum(self, spec: str, *operands: Any, optimize: bool = False) -> Any:
        return self.torch.einsum(spec, *operands)

    def moveaxis(self, x: Any, source: Sequence[int], destination: Sequence[int]) -> Any:
        return self.torch.movedim(x, tuple(source), tuple(destination))

    def norm(self, x: Any, axis: int | None = None) -> Any:
        return self.torch.linalg.vector_norm(x, dim=axis)

    def argmax(self, x: Any, axis: int) -> Any:
        return self.torch.argmax(x.to(self.torch.uint8) if x.dtype == self.torch.bool else x, dim=axis)

    def max(self, x: Any, axis: int) -> Any:
        return self.torch.amax(x, dim=axis)

    def cumsum(self, x: Any, axis: int) -> Any:
        return self.torch.cumsum(x, dim=axis)

    def where(self, condition: Any, a: Any, b: Any) -> Any:
        return self.torch.where(condition, a, b)

    def sqrt(self, x: Any) -> Any:
        return self.torch.sqrt(x)

    def clamp_min(self, x: Any, low: float) -> Any:
        return self.torch.clamp_min(x, low)

    def clamp_max(self, x: Any, high: float) -> Any:
        return self.torch.clamp_max(x, high)

    def to_int(self, x: Any) -> Any:
        return x.long()

    def vdot(self, a: Any, b: Any) -> Any:
        return self.torch.vdot(a.reshape(-1), b.reshape(-1))

    @contextlib.contextmanager
    def threads(self, limit: int | None) -> Iterator[None]:
        """torch's intra-op threads (and BLAS) limited to ``limit`` inside the block (None: unchanged)."""
        if limit is None or self.device != "cpu":
            yield
            return
        before = self.torch.get_num_threads()
        self.torch.set_num_threads(min(limit, before))
        try:
            with blas_threads(limit):
                yield
        finally:
            self.torch.set_num_threads(before)


@cache
def _cached(backend: str, device: str, dtype: str) -> NumpyArrays:
    return TorchArrays(device, dtype) if backend == "torch" else NumpyArrays(dtype)


def namespace(backend: str = "numpy", device: str | None = None, dtype: str = "complex128") -> NumpyArrays:
    """The namespace for validated options (see ``check_array_options``)."""
    return _cached(backend, device or "cpu", dtype)


NUMPY = namespace()
"""The default: numpy arrays, complex128."""


def namespace_of(x: Any) -> NumpyArrays:
    """The namespace an existing array or tensor lives in (its device and complex dtype)."""
    if isinstance(x, np.ndarray):
        return NUMPY if x.dtype != np.complex64 else namespace(dtype="complex64")
    if is_torch(x):
        return _torch_namespace(x.dtype, x.device)
    return NUMPY


@cache
def _torch_namespace(dtype: Any, device: Any) -> NumpyArrays:
    """``namespace_of`` for a torch dtype and device (cached on the objects: called for every kernel step)."""
    name = "complex64" if str(dtype) in ("torch.complex64", "torch.float32") else "complex128"
    return namespace("torch", str(device), name)


def _torch() -> Any:
    try:
        import torch
    except ImportError:
        raise UsageError("backend='torch' needs PyTorch, which is not installed (pip install torch); "
                         "or use backend='numpy'") from None
    return torch


def check_array_options(backend: Any = "numpy", device: Any = None, dtype: Any = "complex128") -> NumpyArrays:
    """Validate ``backend`` (numpy or torch), ``device`` (torch device names: cpu, cuda, cuda:1, mps) and ``dtype``
    (complex128 or complex64) with one clear UsageError naming the option; returns the namespace."""
    if not isinstance(backend, str) or backend not in BACKENDS:
        raise UsageError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    name = getattr(dtype, "name", None) or (dtype.__name__ if isinstance(dtype, type) else dtype)
    name = str(name).removeprefix("torch.") if name is not None else name
    if name not in DTYPES:
        raise UsageError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    if is_torch(device):  # a torch.device
        device = str(device)
    if device is not None and not isinstance(device, str):
        raise UsageError(f"device must be a string such as 'cpu' or 'cuda', got {device!r}")
    if backend == "numpy":
        if device not in (None, "cpu"):
            raise UsageError(f"device={device!r} needs backend='torch' (numpy runs on the CPU only)")
        return namespace("numpy", "cpu", name)
    torch = _torch()
    try:
        parsed = torch.device(device or "cpu")
    except (RuntimeError, ValueError):
        raise UsageError(f"device {device!r} is not a torch device name (cpu, cuda, cuda:1, mps...)") from None
    if parsed.type == "cuda":
        if not torch.cuda.is_available():
            raise UsageError(f"device={device!r}: torch sees no CUDA GPU on this machine (torch "
                             f"{torch.__version__}); use device='cpu'")
        if parsed.index is not None and parsed.index >= torch.cuda.device_count():
            raise UsageError(f"device={device!r}: torch sees only {torch.cuda.device_count()} CUDA GPU(s)")
        if parsed.index is None:  # name it as its tensors do ("cuda:0"): one namespace per physical device
            parsed = torch.device("cuda", torch.cuda.current_device())
    elif parsed.type == "mps":
        if not torch.backends.mps.is_available():
            raise UsageError(f"device={device!r}: the Apple MPS device is not available on this machine")
        if name == "complex128":
            raise UsageError(f"device={device!r} has no complex128 support: pass dtype='complex64'")
    elif parsed.type != "cpu":
        try:
            torch.empty(1, device=parsed)
        except (RuntimeError, ValueError) as exc:
            raise UsageError(f"device={device!r} cannot be used by torch: {str(exc).splitlines()[0]}") from None
    return namespace("torch", str(parsed), name)


def to_user(value: Any) -> Any:
    """Results for the user come back as numpy whatever the backend, except tensors that carry a gradient graph."""
    if is_torch(value) and not value.requires_grad:
        out = host(value)
        return out.item() if out.ndim == 0 else out
    return value


__all__ = ["BACKENDS", "DTYPES", "NUMPY", "NumpyArrays", "TorchArrays", "check_array_options", "host", "is_torch",
           "namespace", "namespace_of", "to_user"]
