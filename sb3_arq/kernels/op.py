"""
The fused cell product as one PyTorch operator, ``torch.ops.sb3_arq.tanh_product``: it saves only its inputs and
recomputes M = Z2n^T Z1c in the backward pass (``torch.ops.sb3_arq.tanh_product_backward``). Registered with
``torch.library.custom_op``, a fake (meta) implementation and an autograd formula, so torch.compile traces through
it. Double backward is not supported.
"""

import torch as th

from sb3_arq.kernels.chunked import chunked_backward, chunked_forward

FUSED_IMPLS = ("chunked", "triton")


@th.library.custom_op("sb3_arq::tanh_product", mutates_args=())
def tanh_product_op(z1c: th.Tensor, z2n: th.Tensor, h: th.Tensor, impl: str, chunk_bytes: int, tf32: bool) -> th.Tensor:
    """
    y[b, r] = sum_j tanh(sum_k z2n[b, k, r] z1c[b, k, j]) h[b, j].

    :param z1c: Centred Z1, shape (B, H, d), contiguous.
    :param z2n: Scaled Z2, shape (B, H, R), contiguous.
    :param h: Activity, shape (B, d), contiguous.
    :param impl: ``"chunked"`` (PyTorch, any device and float dtype) or ``"triton"`` (float32).
    :param chunk_bytes: Memory budget of one chunk (``"chunked"`` only).
    :param tf32: TF32 inputs to the tile products (``"triton"`` only).
    :return: y, shape (B, R).
    """
    if impl == "triton":
        from sb3_arq.kernels.triton_product import triton_forward  # Triton only where it is used

        return triton_forward(z1c, z2n, h, tf32)
    return chunked_forward(z1c, z2n, h, chunk_bytes)


@tanh_product_op.register_fake
def _(z1c: th.Tensor, z2n: th.Tensor, h: th.Tensor, impl: str, chunk_bytes: int, tf32: bool) -> th.Tensor:
    return z1c.new_empty((z1c.shape[0], z2n.shape[-1]))


@th.library.custom_op("sb3_arq::tanh_product_backward", mutates_args=())
def tanh_product_backward_op(
    grad: th.Tensor, z1c: th.Tensor, z2n: th.Tensor, h: th.Tensor, impl: str, chunk_bytes: int, tf32: bool
) -> tuple[th.Tensor, th.Tensor, th.Tensor]:
    """
    Gradients of ``tanh_product`` with respect to z1c, z2n and h, M recomputed (see ``chunked_backward``).

    :param grad: dL/dy, shape (B, R), contiguous.
    :return: dL/dz1c, dL/dz2n, dL/dh.
    """
    if impl == "triton":
        from sb3_arq.kernels.triton_product import triton_backward

        return triton_backward(grad, z1c, z2n, h, tf32)
    return chunked_backward(grad, z1c, z2n, h, chunk_bytes)


@tanh_product_backward_op.register_fake
def _(grad, z1c, z2n, h, impl, chunk_bytes, tf32):
    return th.empty_like(z1c), th.empty_like(z2n), th.empty_like(h)


def _setup_context(ctx, inputs, output) -> None:
    z1c, z2n, h, ctx.impl, ctx.chunk_bytes, ctx.tf32 = inputs
    ctx.save_for_backward(z1c, z2n, h)


def _backward(ctx, grad: th.Tensor):
    z1c, z2n, h = ctx.saved_tensors
    d_z1c, d_z2n, d_h = tanh_product_backward_op(grad.contiguous(), z1c, z2n, h, ctx.impl, ctx.chunk_bytes, ctx.tf32)
    return d_z1c, d_z2n, d_h, None, None, None


tanh_product_op.register_autograd(_backward, setup_context=_setup_context)
