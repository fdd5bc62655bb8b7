"""The dense cell product: plain PyTorch, the whole (R x d) matrix per row kept for the backward pass (the reference)."""

import torch as th


def dense_tanh_product(z1c: th.Tensor, z2n: th.Tensor, h: th.Tensor) -> th.Tensor:
    """
    y[b, r] = sum_j tanh(sum_k z2n[b, k, r] z1c[b, k, j]) h[b, j], through autograd.

    tanh(m) = 2 sigmoid(2 m) - 1, so y = 2 sigmoid(2 Z2n^T Z1c) h - sum_j h[..., j]: exact up to float round-off (the
    absolute error of 2 sigmoid(2 m) - 1 is a few units of the last place of 1), and several times cheaper on CPU,
    where aten's sigmoid is vectorised and its tanh is not (docs/kernels.md). The contraction with h is a row-vector
    product h^T S^T (a matrix product, also for one row: a batched matrix-vector product is slower on CPU).
    Autograd stores sigmoid(2 Z2n^T Z1c), one R x d matrix per row, for the backward pass.

    :param z1c: Centred Z1, shape (B, H, d).
    :param z2n: Scaled Z2, shape (B, H, R).
    :param h: Activity, shape (B, d).
    :return: y, shape (B, R).
    """
    s = sigmoid_2m(z1c, z2n)
    return 2 * th.bmm(h.unsqueeze(1), s.transpose(1, 2)).squeeze(1) - h.sum(dim=1, keepdim=True)


def sigmoid_2m(z1c: th.Tensor, z2n: th.Tensor) -> th.Tensor:
    """S = sigmoid(2 Z2n^T Z1c), shape (B, R, d), so that tanh(Z2n^T Z1c) = 2 S - 1 (the 2 is the product's alpha)."""
    n_rows, width, n_outputs = z1c.shape[0], z1c.shape[2], z2n.shape[2]
    unused = z1c.new_zeros(()).expand(n_rows, n_outputs, width)  # baddbmm's input, ignored with beta=0
    return th.baddbmm(unused, z2n.transpose(1, 2), z1c, beta=0.0, alpha=2.0).sigmoid_()
