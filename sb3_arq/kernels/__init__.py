"""The fused cell product (``tanh_product``): the R x d matrix M recomputed in the backward pass, never stored."""

from sb3_arq.kernels.chunked import DEFAULT_CHUNK_BYTES
from sb3_arq.kernels.product import IMPLS, CellProduct, resolve_impl, tanh_product

__all__ = ["DEFAULT_CHUNK_BYTES", "IMPLS", "CellProduct", "resolve_impl", "tanh_product"]
