"""Tensor-network primitives: truncated factorisations and canonical MPS."""

from .decompose import Truncation, keep_count, svd, tensor_train, truncated_svd
from .mps import MPS

__all__ = ["MPS", "Truncation", "keep_count", "svd", "tensor_train", "truncated_svd"]
