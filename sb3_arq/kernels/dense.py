"""The dense cell product: plain PyTorch, the whole (R x d) matrix per row kept for the backward pass (the reference)."""

import math

import torch as th


def dense_tanh_product(z1c: th.Tensor, z2n: th.Tensor, h: th.Tensor) -> th.Tensor:
    """
    y[b, r] = sum_j tanh(sum_k z2n[b, k, r] z1c[b, k, j]) h[b, j], through autograd.

    tanh(m) = 2 sigmoid(2 m) - 1, so y = 2 sigmoid(2 Z2n^T Z1c) h - sum_j h[..., j]: exact up to float round-off (the
    absolute error of 2 sigmoid(2 m) - 1 is a few units of the last place of 1), and cheaper on CPU: under
    torch.compile, and in aten on some CPUs (docs/kernels.md). The contraction with h is a row-vector product h^T S^T
    (a matrix product, also for one row: a batched matrix-vector product is slower on CPU), with S held transposed
    (``sigmoid_2m_t``) so that its gradient comes back in its own layout. Autograd stores S, one R x d matrix per row,
    for the backward pass.

    :param z1c: Centred Z1, shape (B, H, d).
    :param z2n: Scaled Z2, shape (B, H, R).
    :param h: Activity, shape (B, d).
    :return: y, shape (B, R).
    """
    return 2 * th.bmm(h.unsqueeze(1), sigmoid_2m_t(z1c, z2n)).squeeze(1) - h.sum(dim=1, keepdim=True)


def sigmoid_2m_t(z1c: th.Tensor, z2n: th.Tensor) -> th.Tensor:
    """S^T with S = sigmoid(2 Z2n^T Z1c), shape (B, d, R), so that tanh(Z2n^T Z1c) = 2 S - 1."""
    return th.bmm(z1c.transpose(1, 2), 2 * z2n).sigmoid_()


def standardised_product_forward(z1c: th.Tensor, z2: th.Tensor, h: th.Tensor, eps: float) -> th.Tensor:
    """
    y = tanh((M - rowmean(M)) / (rowstd(M) + eps)) h without autograd (acting, and the update's targets): M = Z2^T Z1c
    is formed once and standardised in place. Z1c is centred, so every row of M is, and its population std is
    ||M_r|| / sqrt(d); the row's scale and the 2 of sigmoid(2 m) are one factor. Fewer operations than the Gram form
    that autograd goes through (``sb3_arq.arq.cells.tanh_standardised_product``), the same values up to float
    round-off.

    :param z1c: Centred Z1, shape (B, H, d).
    :param z2: Z2 (not scaled), shape (B, H, R).
    :param h: Activity, shape (B, d).
    :param eps: Added to each row's std.
    :return: y, shape (B, R).
    """
    root_width = math.sqrt(z1c.shape[2])
    m_t = th.bmm(z1c.transpose(1, 2), z2)  # (B, d, R): M transposed, as in ``sigmoid_2m_t``
    # ||M_r||, summed over d: a reduction over the middle axis (vector_norm is slow there on CPU, vecdot is not)
    scale = th.linalg.vecdot(m_t, m_t, dim=1).sqrt_().add_(eps * root_width).reciprocal_().mul_(2 * root_width)
    s_t = m_t.mul_(scale.unsqueeze(1)).sigmoid_()
    return th.bmm(h.unsqueeze(1), s_t).squeeze(1).mul_(2).sub_(h.sum(dim=1, keepdim=True))
