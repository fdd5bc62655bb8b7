"""The fused cell product (``tanh_product``): the R x d matrix M recomputed in the backward pass, never stored."""

from sb3_arq.kernels.chunked import default_chunk_bytes
from sb3_arq.kernels.product import IMPLS, CellProduct, product_impl, resolve_impl, tanh_product

__all__ = ["IMPLS", "CellProduct", "default_chunk_bytes", "product_impl", "resolve_impl", "tanh_product"]
