"""
The cell product as a Triton forward and backward kernel pair (imported only where Triton is used).

Per row b of the batch, M = Z2n^T Z1c (R x d, rank <= H) is formed tile by tile from the H x d and H x R operands,
with H padded to 16 (tl.dot's minimum), and never written to memory: the forward kernel contracts tanh(M) with h at
once, the backward kernel recomputes each tile. Accumulation in float32; ``tf32`` lets tl.dot use TF32 inputs.
H, d and R are compile-time constants: one compilation per cell shape, none per batch size.
"""

import torch as th
import triton
import triton.language as tl

BLOCK_R = 64  # rows of M per tile
BLOCK_D = 64  # columns of M per tile
BACKWARD_BLOCK_R = 32  # rows of M per tile in the backward pass (64 x 64 spills registers there, sm_90, 4 warps)
NUM_WARPS = 4


@triton.jit
def _tanh(x):
    # tanh through exp of a non-positive argument: no overflow, exact limits +-1
    e = tl.exp(-2.0 * tl.abs(x))
    t = (1.0 - e) / (1.0 + e)
    return tl.where(x < 0, -t, t)


@triton.jit
def _forward_kernel(
    z1_ptr, z2_ptr, h_ptr, y_ptr, n_heads: tl.constexpr, width: tl.constexpr, n_outputs: tl.constexpr,
    H_PAD: tl.constexpr, BLOCK_R: tl.constexpr, BLOCK_D: tl.constexpr, PRECISION: tl.constexpr,
):  # fmt: skip
    # program (b, tile of R): y[b, r] = sum_j tanh(M[r, j]) h[b, j], looping over tiles of d
    b = tl.program_id(0).to(tl.int64)
    offs_k = tl.arange(0, H_PAD)
    offs_r = tl.program_id(1) * BLOCK_R + tl.arange(0, BLOCK_R)
    mask_k, mask_r = offs_k < n_heads, offs_r < n_outputs
    z2_t = tl.load(
        z2_ptr + b * n_heads * n_outputs + offs_k[None, :] * n_outputs + offs_r[:, None],
        mask=mask_r[:, None] & mask_k[None, :],
        other=0.0,
    )  # (BLOCK_R, H_PAD)
    acc = tl.zeros((BLOCK_R,), dtype=tl.float32)
    for j0 in range(0, width, BLOCK_D):
        offs_j = j0 + tl.arange(0, BLOCK_D)
        mask_j = offs_j < width
        z1 = tl.load(
            z1_ptr + b * n_heads * width + offs_k[:, None] * width + offs_j[None, :],
            mask=mask_k[:, None] & mask_j[None, :],
            other=0.0,
        )  # (H_PAD, BLOCK_D)
        h = tl.load(h_ptr + b * width + offs_j, mask=mask_j, other=0.0)
        m = tl.dot(z2_t, z1, input_precision=PRECISION)  # (BLOCK_R, BLOCK_D)
        acc += tl.sum(_tanh(m) * h[None, :], axis=1)
    tl.store(y_ptr + b * n_outputs + offs_r, acc, mask=mask_r)


@triton.jit
def _backward_kernel(
    g_ptr, z1_ptr, z2_ptr, h_ptr, dz1_ptr, dz2_ptr, dh_ptr, n_heads: tl.constexpr, width: tl.constexpr,
    n_outputs: tl.constexpr, H_PAD: tl.constexpr, BLOCK_R: tl.constexpr, BLOCK_D: tl.constexpr,
    PRECISION: tl.constexpr, ATOMIC: tl.constexpr,
):  # fmt: skip
    # program (b, tile of d): dZ1c and dh of the tile summed over all of R in registers; dZ2n's share of the tile
    # added to memory (atomically when several tiles of d share a row: ATOMIC, dZ2n zeroed by the caller)
    b = tl.program_id(0).to(tl.int64)
    offs_k = tl.arange(0, H_PAD)
    offs_j = tl.program_id(1) * BLOCK_D + tl.arange(0, BLOCK_D)
    mask_k, mask_j = offs_k < n_heads, offs_j < width
    z1_offsets = b * n_heads * width + offs_k[:, None] * width + offs_j[None, :]
    z1 = tl.load(z1_ptr + z1_offsets, mask=mask_k[:, None] & mask_j[None, :], other=0.0)  # (H_PAD, BLOCK_D)
    h = tl.load(h_ptr + b * width + offs_j, mask=mask_j, other=0.0)
    acc_dz1 = tl.zeros((H_PAD, BLOCK_D), dtype=tl.float32)
    acc_dh = tl.zeros((BLOCK_D,), dtype=tl.float32)
    for r0 in range(0, n_outputs, BLOCK_R):
        offs_r = r0 + tl.arange(0, BLOCK_R)
        mask_r = offs_r < n_outputs
        z2_t = tl.load(
            z2_ptr + b * n_heads * n_outputs + offs_k[None, :] * n_outputs + offs_r[:, None],
            mask=mask_r[:, None] & mask_k[None, :],
            other=0.0,
        )  # (BLOCK_R, H_PAD)
        g = tl.load(g_ptr + b * n_outputs + offs_r, mask=mask_r, other=0.0)
        t = _tanh(tl.dot(z2_t, z1, input_precision=PRECISION))  # (BLOCK_R, BLOCK_D)
        acc_dh += tl.sum(t * g[:, None], axis=0)
        d_m = (1.0 - t * t) * g[:, None] * h[None, :]
        acc_dz1 += tl.dot(tl.trans(z2_t), d_m, input_precision=PRECISION)
        d_z2 = tl.dot(z1, tl.trans(d_m), input_precision=PRECISION)  # (H_PAD, BLOCK_R)
        dz2_ptrs = dz2_ptr + b * n_heads * n_outputs + offs_k[:, None] * n_outputs + offs_r[None, :]
        if ATOMIC:
            tl.atomic_add(dz2_ptrs, d_z2, mask=mask_k[:, None] & mask_r[None, :])
        else:
            tl.store(dz2_ptrs, d_z2, mask=mask_k[:, None] & mask_r[None, :])
    tl.store(dz1_ptr + z1_offsets, acc_dz1, mask=mask_k[:, None] & mask_j[None, :])
    tl.store(dh_ptr + b * width + offs_j, acc_dh, mask=mask_j)


def _block(size: int, largest: int) -> int:
    """The tile edge for an axis of ``size``: a power of two in [16, largest] (16 is tl.dot's minimum)."""
    return max(16, min(largest, triton.next_power_of_2(size)))


def _padded_heads(n_heads: int) -> int:
    """H padded to a power of two of at least 16 (the zero heads add nothing to M)."""
    return max(16, triton.next_power_of_2(n_heads))


def _precision(tf32: bool) -> str:
    return "tf32" if tf32 else "ieee"


def triton_forward(z1c: th.Tensor, z2n: th.Tensor, h: th.Tensor, tf32: bool = False) -> th.Tensor:
    """
    y = tanh(Z2n^T Z1c) h by the forward kernel.

    :param z1c: Centred Z1, shape (B, H, d), float32, contiguous.
    :param z2n: Scaled Z2, shape (B, H, R), float32, contiguous.
    :param h: Activity, shape (B, d), float32, contiguous.
    :param tf32: Let tl.dot round its inputs to TF32.
    :return: y, shape (B, R).
    """
    n_rows, n_heads, width = z1c.shape
    n_outputs = z2n.shape[-1]
    y = z1c.new_empty((n_rows, n_outputs))
    if y.numel() == 0:
        return y
    block_r, block_d = _block(n_outputs, BLOCK_R), _block(width, BLOCK_D)
    grid = (n_rows, triton.cdiv(n_outputs, block_r))
    _forward_kernel[grid](
        z1c, z2n, h, y, n_heads, width, n_outputs,
        H_PAD=_padded_heads(n_heads), BLOCK_R=block_r, BLOCK_D=block_d,
        PRECISION=_precision(tf32), num_warps=NUM_WARPS,
    )  # fmt: skip
    return y


def triton_backward(
    grad: th.Tensor, z1c: th.Tensor, z2n: th.Tensor, h: th.Tensor, tf32: bool = False
) -> tuple[th.Tensor, th.Tensor, th.Tensor]:
    """
    Gradients of y = tanh(Z2n^T Z1c) h by the backward kernel, which recomputes M tile by tile.

    :param grad: dL/dy, shape (B, R), float32, contiguous.
    :param z1c: Centred Z1, shape (B, H, d), float32, contiguous.
    :param z2n: Scaled Z2, shape (B, H, R), float32, contiguous.
    :param h: Activity, shape (B, d), float32, contiguous.
    :param tf32: Let tl.dot round its inputs to TF32.
    :return: dL/dZ1c, dL/dZ2n, dL/dh, shaped as the inputs.
    """
    n_rows, n_heads, width = z1c.shape
    n_outputs = z2n.shape[-1]
    block_r, block_d = _block(n_outputs, BACKWARD_BLOCK_R), _block(width, BLOCK_D)
    n_width_tiles = triton.cdiv(width, block_d)
    d_z1c, d_h = th.empty_like(z1c), th.empty_like(h)
    d_z2n = th.zeros_like(z2n) if n_width_tiles > 1 else th.empty_like(z2n)
    if z1c.numel() == 0 or n_outputs == 0:
        return d_z1c.zero_(), d_z2n.zero_(), d_h.zero_()
    _backward_kernel[(n_rows, n_width_tiles)](
        grad, z1c, z2n, h, d_z1c, d_z2n, d_h, n_heads, width, n_outputs,
        H_PAD=_padded_heads(n_heads), BLOCK_R=block_r, BLOCK_D=block_d,
        PRECISION=_precision(tf32), ATOMIC=n_width_tiles > 1, num_warps=NUM_WARPS,
    )  # fmt: skip
    return d_z1c, d_z2n, d_h
