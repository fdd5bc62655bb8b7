"""
The public entry of the fused cell product, ``tanh_product``, and the choice of implementation.

    y[..., r] = sum_j tanh(sum_k z2n[..., k, r] * z1c[..., k, j]) * h[..., j]

the part of every cell's ``tanh((M - rowmean(M)) / (rowstd(M) + 1e-6)) h`` left once Z1 is centred and Z2's columns
are scaled (see ``docs/kernels.md``).
"""

import logging
import os
import warnings
from typing import Literal

import torch as th

from sb3_arq.kernels.chunked import default_chunk_bytes
from sb3_arq.kernels.dense import dense_tanh_product
from sb3_arq.kernels.op import tanh_product_op

CellProduct = Literal["auto", "triton", "chunked", "dense"]
IMPLS = ("auto", "triton", "chunked", "dense")  # and None: the default of each device (see ``resolve_impl``)
TRITON_INTERPRET = os.environ.get("TRITON_INTERPRET", "0") == "1"  # Triton runs kernels on CPU tensors (tests)
logger = logging.getLogger(__name__)
_reported: set[str] = set()  # messages already logged or warned, each once per process
_triton_import_error: list[str] = []  # filled on the first check: [""] when Triton imports, else [the error]


def _triton_unusable(device: th.device, dtype: th.dtype) -> str:
    """Why the Triton kernels cannot run on tensors of this device and dtype; "" when they can."""
    if device.type != "cuda" and not TRITON_INTERPRET:
        return f"the tensors are on {device.type}, not CUDA"
    if dtype != th.float32:
        return f"the kernels take float32, got {dtype}"
    if not _triton_import_error:
        try:
            import triton  # noqa: F401

            _triton_import_error.append("")
        except ImportError as error:
            _triton_import_error.append(f"triton does not import ({error})")
    return _triton_import_error[0]


def _report_once(message: str, warn: bool) -> None:
    if message in _reported or th.compiler.is_compiling():
        return
    _reported.add(message)
    if warn:
        warnings.warn(message, stacklevel=3)
    else:
        logger.info(message)


def resolve_impl(impl: str | None, device: th.device, dtype: th.dtype, fits_one_chunk: bool = False) -> str:
    """
    The implementation that ``tanh_product`` uses for tensors of this device and dtype.

    ``None`` (the cells' default): ``"dense"`` on CUDA (the Triton kernels are an option there: docs/kernels.md); elsewhere
    ``"auto"``, i.e. ``"chunked"``, or ``"dense"`` for small problems (the chunked product's time and memory beside the
    dense one's: ``benchmarks/results/cell-product-memory-update-cpu.md``).

    ``"auto"``: ``"triton"`` on CUDA float32 tensors when Triton imports; else ``"chunked"``, or ``"dense"`` when the
    R x d matrices of all rows fit in one chunk (chunking would save no memory, and it recomputes M in the backward
    pass); the choice is logged once at INFO. ``"triton"`` where the kernels cannot run: ``"chunked"``, with a warning
    (once) saying why.

    :param impl: ``None``, ``"auto"``, ``"triton"``, ``"chunked"`` or ``"dense"``.
    :param device: Device of the tensors.
    :param dtype: Their dtype.
    :param fits_one_chunk: Whether the R x d matrices of all rows fit in one chunk's memory budget.
    :return: ``"triton"``, ``"chunked"`` or ``"dense"``.
    """
    if impl is None:
        impl = "dense" if device.type == "cuda" else "auto"
    if impl not in IMPLS:
        raise ValueError(f"cell product implementation must be one of {IMPLS} or None, got {impl!r}")
    if impl in ("chunked", "dense"):
        return impl
    unusable = _triton_unusable(device, dtype)
    if impl == "triton":
        if unusable:
            _report_once(f"cell_product='triton' cannot run here ({unusable}): using 'chunked' instead", warn=True)
            return "chunked"
        return "triton"
    if not unusable:
        choice, because = "triton", ""
    elif fits_one_chunk:
        choice, because = "dense", f" ({unusable}; all rows fit in one chunk)"
    else:
        choice, because = "chunked", f" ({unusable})"
    _report_once(f"cell_product='auto' uses {choice!r} on {device.type} {dtype}{because}", warn=False)
    return choice


def product_impl(impl: str | None, z1c: th.Tensor, n_rows: int, n_outputs: int, chunk_bytes: int) -> str:
    """
    ``resolve_impl`` for ``n_rows`` products of R = ``n_outputs`` rows with ``z1c``'s width, dtype and device: whether
    their R x d matrices all fit in one chunk of ``chunk_bytes`` is computed here.
    """
    fits_one_chunk = n_rows * n_outputs * z1c.shape[-1] * z1c.element_size() <= chunk_bytes
    return resolve_impl(impl, z1c.device, z1c.dtype, fits_one_chunk)


def _check_shapes(z1c: th.Tensor, z2n: th.Tensor, h: th.Tensor) -> None:
    for name, tensor, min_dim in (("z1c", z1c, 2), ("z2n", z2n, 2), ("h", h, 1)):
        if not isinstance(tensor, th.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(tensor).__name__}")
        if tensor.dim() < min_dim:
            raise ValueError(f"{name} needs at least {min_dim} dimensions, got shape {tuple(tensor.shape)}")
        if not tensor.is_floating_point() or tensor.dtype != z1c.dtype or tensor.device != z1c.device:
            raise TypeError(
                f"z1c, z2n and h must be floating point tensors of one dtype and device, got {name} as {tensor.dtype} "
                f"on {tensor.device} beside z1c as {z1c.dtype} on {z1c.device}"
            )
    if z2n.shape[-2] != z1c.shape[-2]:
        raise ValueError(
            f"z1c (..., H, d) and z2n (..., H, R) need the same H, got shapes {tuple(z1c.shape)} and {tuple(z2n.shape)}"
        )
    if h.shape[-1] != z1c.shape[-1]:
        raise ValueError(f"h (..., d) and z1c (..., H, d) need the same d, got shapes {tuple(h.shape)} and {tuple(z1c.shape)}")


def tanh_product(
    z1c: th.Tensor,
    z2n: th.Tensor,
    h: th.Tensor,
    impl: CellProduct | None = "auto",
    *,
    tf32: bool = False,
    chunk_bytes: int | None = None,
) -> th.Tensor:
    """
    y[..., r] = sum_j tanh(sum_k z2n[..., k, r] * z1c[..., k, j]) * h[..., j], differentiable in all three inputs.

    The fused implementations (``"chunked"``, ``"triton"``) save only the inputs for the backward pass and recompute
    M = Z2n^T Z1c there, never holding more than one chunk (chunked) or one tile (Triton) of M; ``"dense"`` is plain
    autograd, which keeps sigmoid(2M), an R x d matrix per row. Leading dimensions broadcast.

    :param z1c: Centred Z1, shape (..., H, d).
    :param z2n: Scaled Z2, shape (..., H, R).
    :param h: Activity, shape (..., d); leading dimensions broadcast with the others'.
    :param impl: ``None`` (per device), ``"auto"``, ``"triton"``, ``"chunked"`` or ``"dense"`` (see ``resolve_impl``).
    :param tf32: Triton only: TF32 inputs to the tile products (float32 accumulation), instead of exact float32.
    :param chunk_bytes: Chunked only: memory budget of one chunk of R x d matrices (at least one row per chunk);
        None: ``default_chunk_bytes(z1c.device)`` (16 MiB on CPU, 256 MiB on a GPU).
    :return: y, shape (broadcast leading dims..., R).
    """
    _check_shapes(z1c, z2n, h)
    if chunk_bytes is None:
        chunk_bytes = default_chunk_bytes(z1c.device)
    elif chunk_bytes < 1:
        raise ValueError(f"chunk_bytes must be a positive number of bytes (or None for the default), got {chunk_bytes}")
    (n_heads, width), n_outputs = z1c.shape[-2:], z2n.shape[-1]
    batch = z1c.shape[:-2]
    if z2n.shape[:-2] != batch or h.shape[:-1] != batch:
        batch = th.broadcast_shapes(batch, z2n.shape[:-2], h.shape[:-1])
    impl = product_impl(impl, z1c, batch.numel(), n_outputs, chunk_bytes)
    # expand/reshape stay outside the op: autograd sums the gradients of broadcast inputs back to their shapes
    flat = [
        z1c.expand(*batch, n_heads, width).reshape(-1, n_heads, width),
        z2n.expand(*batch, n_heads, n_outputs).reshape(-1, n_heads, n_outputs),
        h.expand(*batch, width).reshape(-1, width),
    ]
    if impl == "dense":
        return dense_tanh_product(*flat).reshape(*batch, n_outputs)
    return tanh_product_op(*(x.contiguous() for x in flat), impl, chunk_bytes, tf32).reshape(*batch, n_outputs)
