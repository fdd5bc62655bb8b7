"""The dense cell product: plain PyTorch, the whole (R x d) matrix per row kept for the backward pass (the reference)."""

import torch as th


def dense_tanh_product(z1c: th.Tensor, z2n: th.Tensor, h: th.Tensor) -> th.Tensor:
    """
    y[..., r] = sum_j tanh(sum_k z2n[..., k, r] z1c[..., k, j]) h[..., j], through autograd.

    Autograd stores tanh(Z2n^T Z1c), one R x d matrix per row, for the backward pass.

    :param z1c: Centred Z1, shape (..., H, d).
    :param z2n: Scaled Z2, shape (..., H, R).
    :param h: Activity, shape broadcastable to (..., d).
    :return: y, shape (..., R).
    """
    return (th.tanh(z2n.transpose(-1, -2) @ z1c) @ h.unsqueeze(-1)).squeeze(-1)
