"""
The chunked cell product in PyTorch: rows in chunks sized to a memory budget, the R x d matrix recomputed in the
backward pass. The CPU path of ``tanh_product`` and the oracle of the Triton kernels.
"""

import torch as th

from sb3_arq.kernels.dense import sigmoid_2m_t

# Memory budget of one chunk's R x d matrices (the backward pass holds one such buffer at a time). On CPU, 16 MiB was
# the fastest budget with 2 threads, 0.88x the dense path's time (1 MiB: 1.66x, many small multi-threaded ops); with
# 1 thread 1 MiB was (0.49x; 16 MiB: 0.91x): benchmarks/results/cell-product-memory-cpu*.md. On a GPU larger chunks
# keep the kernel launches few.
CPU_CHUNK_BYTES = 16 * 2**20
GPU_CHUNK_BYTES = 256 * 2**20


def default_chunk_bytes(device: th.device) -> int:
    """The chunk budget for tensors on ``device``: ``CPU_CHUNK_BYTES`` on CPU, ``GPU_CHUNK_BYTES`` elsewhere."""
    return CPU_CHUNK_BYTES if device.type == "cpu" else GPU_CHUNK_BYTES


def rows_per_chunk(n_rows: int, n_outputs: int, width: int, itemsize: int, chunk_bytes: int) -> int:
    """
    How many rows of the row batch one chunk holds: as many R x d matrices as fit in ``chunk_bytes``, at least one.

    :param n_rows: Rows in the batch (B).
    :param n_outputs: R, the rows of M per batch row.
    :param width: d.
    :param itemsize: Bytes per element.
    :param chunk_bytes: The memory budget of one chunk.
    :return: Rows per chunk, in [1, max(n_rows, 1)].
    """
    return max(1, min(n_rows, chunk_bytes // max(1, n_outputs * width * itemsize)))


def _chunks(z1c: th.Tensor, z2n: th.Tensor, chunk_bytes: int):
    n_rows, _, width = z1c.shape
    step = rows_per_chunk(n_rows, z2n.shape[-1], width, z1c.element_size(), chunk_bytes)
    for start in range(0, n_rows, step):
        yield slice(start, start + step)


def chunked_forward(z1c: th.Tensor, z2n: th.Tensor, h: th.Tensor, chunk_bytes: int) -> th.Tensor:
    """
    y = tanh(Z2n^T Z1c) h = 2 sigmoid(2 Z2n^T Z1c) h - sum_j h_j, one chunk of rows at a time.

    :param z1c: Centred Z1, shape (B, H, d).
    :param z2n: Scaled Z2, shape (B, H, R).
    :param h: Activity, shape (B, d).
    :param chunk_bytes: Memory budget of one chunk's R x d matrices.
    :return: y, shape (B, R).
    """
    y = z1c.new_empty((z1c.shape[0], z2n.shape[-1]))
    for rows in _chunks(z1c, z2n, chunk_bytes):
        s_t = sigmoid_2m_t(z1c[rows], z2n[rows])  # (b, d, R)
        y[rows] = 2 * th.bmm(h[rows].unsqueeze(1), s_t).squeeze(1) - h[rows].sum(dim=1, keepdim=True)
    return y


def chunked_backward(
    grad: th.Tensor, z1c: th.Tensor, z2n: th.Tensor, h: th.Tensor, chunk_bytes: int
) -> tuple[th.Tensor, th.Tensor, th.Tensor]:
    """
    Gradients of y = tanh(M) h, M = Z2n^T Z1c, with M recomputed chunk by chunk. With T = tanh(M) and g = dL/dy:
    dM = (1 - T^2) * g h^T, dh = T^T g, dZ2n = Z1c dM^T, dZ1c = Z2n dM; through S = sigmoid(2M) (T = 2S - 1, see
    ``sb3_arq.kernels.dense``): 1 - T^2 = 4 S (1 - S) and dh = 2 S^T g - sum_r g.

    :param grad: dL/dy, shape (B, R).
    :param z1c: Centred Z1, shape (B, H, d).
    :param z2n: Scaled Z2, shape (B, H, R).
    :param h: Activity, shape (B, d).
    :param chunk_bytes: Memory budget of one chunk's R x d matrices.
    :return: dL/dZ1c, dL/dZ2n, dL/dh, shaped as the inputs.
    """
    d_z1c, d_z2n, d_h = th.empty_like(z1c), th.empty_like(z2n), th.empty_like(h)
    for rows in _chunks(z1c, z2n, chunk_bytes):
        g = grad[rows]  # (b, R)
        s_t = sigmoid_2m_t(z1c[rows], z2n[rows])  # (b, d, R)
        d_h[rows] = 2 * th.bmm(g.unsqueeze(1), s_t.transpose(1, 2)).squeeze(1) - g.sum(dim=1, keepdim=True)
        d_m_t = th.addcmul(s_t, s_t, s_t, value=-1.0).mul_(4 * g.unsqueeze(1)).mul_(h[rows].unsqueeze(-1))  # dM^T
        d_z2n[rows] = th.bmm(z1c[rows], d_m_t)
        d_z1c[rows] = th.bmm(z2n[rows], d_m_t.transpose(1, 2))
    return d_z1c, d_z2n, d_h
