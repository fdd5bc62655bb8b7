"""
The cells: layers that each make their own Q estimate (docs/algorithm.md, "1. The cell" and "6. Variants").

One function per step of the cell's equations, and two registries that everything else reads: ``GOODNESS`` (name ->
the function that turns y into Q, with its bound) and ``CELLS`` (cell type -> action conditioning -> class). Adding
a goodness or a cell variant touches this file, its naive reference in ``sb3_arq/naive.py`` and docs/algorithm.md. A
setting that every cell shares is a field of ``CellSpec`` and the ``ARQPolicy`` keyword argument of the same name.
"""

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch as th
from torch import nn
from torch.nn import functional as F

from sb3_arq.kernels import IMPLS, default_chunk_bytes, product_impl, tanh_product
from sb3_arq.kernels.dense import standardised_product_forward

ROW_STD_EPS = 1e-6  # added outside the square root of the row variance of M
LAYER_NORM_EPS = 1e-6  # added inside the square root of LayerNorm's variance
# Standard deviation of a standard normal truncated to [-2, 2]: sqrt(1 - 4 phi(2) / (2 Phi(2) - 1))
TRUNCATED_NORMAL_STD = 0.87962566103423978


def action_codes(n_actions: int, encoding: Literal["onehot", "binary"]) -> th.Tensor:
    """
    The action code e(a) of every action, one row per action (docs/algorithm.md, "9. Environments and action codes").

    ``onehot``: e(a) = one-hot(a). ``binary``: the k-bit +-1 code of 2^k actions, e(a)_j = +1 if bit j of a is set,
    else -1, with j = 0 the least significant bit.

    :param n_actions: Number of discrete actions.
    :param encoding: ``"onehot"`` or ``"binary"`` (needs a power of two).
    :return: float32 tensor of shape (n_actions, code size).
    """
    if encoding == "onehot":
        return th.eye(n_actions)
    if encoding == "binary":
        n_bits = n_actions.bit_length() - 1
        if n_actions < 2 or 2**n_bits != n_actions:
            raise ValueError(f"action_encoding='binary' needs a power-of-two number of actions (>= 2), got {n_actions}")
        bits = (th.arange(n_actions)[:, None] >> th.arange(n_bits)[None, :]) & 1
        return (2 * bits - 1).float()
    raise ValueError(f"action_encoding must be 'onehot' or 'binary', got {encoding!r}")


def lecun_normal_(weight: th.Tensor) -> th.Tensor:
    """
    The reference code's initialisation of every weight matrix (flax's ``lecun_normal``): a normal truncated at two
    standard deviations, scaled so that its variance is 1 / fan_in (fan_in = the input width, ``weight.shape[1]``).
    """
    std = 1.0 / math.sqrt(weight.shape[1]) / TRUNCATED_NORMAL_STD
    return nn.init.trunc_normal_(weight, mean=0.0, std=std, a=-2.0 * std, b=2.0 * std)


def safe_sqrt(x: th.Tensor) -> th.Tensor:
    """
    sqrt(x) for x > 0, 0 for x <= 0 (a round-off below zero included) with a zero (not NaN) gradient there, so that a
    dead cell does not poison its weights: relu's backward selects (it does not multiply) the infinite slope of sqrt
    at 0 away. NaN stays NaN (a broken input is not hidden).
    """
    return x.relu().sqrt()


def goodness_std(y: th.Tensor) -> th.Tensor:
    """The centred root mean square of y over its last axis (the reference code's goodness, every published run)."""
    return safe_sqrt(y.var(dim=-1, correction=0))


def goodness_rms(y: th.Tensor) -> th.Tensor:
    """The root mean square of y over its last axis (the paper's wording)."""
    return safe_sqrt(y.square().mean(dim=-1))


def goodness_msq(y: th.Tensor) -> th.Tensor:
    """The mean square of y over its last axis (the paper's "ARQ-MS" ablation)."""
    return y.square().mean(dim=-1)


@dataclass(frozen=True)
class Goodness:
    """
    A goodness g: y (..., d) -> Q (...,), always >= 0, and the largest Q it gives when every |y_i| <= b (the bound of
    ``LocalCell.q_bound``, b = ||h||_1).

    :param function: y -> Q.
    :param bound: b -> the largest Q.
    """

    function: Callable[[th.Tensor], th.Tensor]
    bound: Callable[[th.Tensor], th.Tensor]

    def __call__(self, y: th.Tensor) -> th.Tensor:
        return self.function(y)


GOODNESS: dict[str, Goodness] = {
    "std": Goodness(goodness_std, bound=lambda b: b),
    "rms": Goodness(goodness_rms, bound=lambda b: b),
    "msq": Goodness(goodness_msq, bound=th.square),
}


def tanh_standardised_product(z1: th.Tensor, z2: th.Tensor, h: th.Tensor, cell_product: str | None = None) -> th.Tensor:
    """
    y = tanh((M - rowmean(M)) / (rowstd(M) + 1e-6)) h with M = Z2^T Z1, row statistics over Z1's feature axis.

    Centring Z1's features centres every row of M, and the row variance is z2_i^T G z2_i with G the H x H Gram
    matrix of the centred Z1 over d, so M is formed once, already standardised (docs/algorithm.md, "1. The cell").
    Without autograd and with the dense product, M is standardised in place instead
    (``sb3_arq.kernels.dense.standardised_product_forward``: fewer operations, the same values).

    :param z1: Z1, shape (..., H, d).
    :param z2: Z2, shape (..., H, R): one row of M per column.
    :param h: Activity, shape broadcastable to (..., d).
    :param cell_product: How tanh(Z2n^T Z1c) h is computed (``sb3_arq.kernels.tanh_product``): "dense" (plain
        autograd, keeps an R x d matrix per row), "chunked" or "triton" (M recomputed in the backward pass), "auto",
        or None (the device's default, see ``sb3_arq.kernels.resolve_impl``).
    :return: y, shape (..., R).
    """
    z1 = z1 - z1.mean(dim=-1, keepdim=True)
    batch, (n_heads, width), n_outputs = z1.shape[:-2], z1.shape[-2:], z2.shape[-1]
    h = h.expand(*batch, width)
    if not th.is_grad_enabled():
        if product_impl(cell_product, z1, batch.numel(), n_outputs, default_chunk_bytes(z1.device)) == "dense":
            flat = z1.reshape(-1, n_heads, width), z2.reshape(-1, n_heads, n_outputs), h.reshape(-1, width)
            return standardised_product_forward(*flat, ROW_STD_EPS).reshape(*batch, n_outputs)
    gram = z1 @ z1.transpose(-1, -2)
    row_var = th.linalg.vecdot(gram @ z2, z2, dim=-2) / width
    z2 = z2 / (safe_sqrt(row_var) + ROW_STD_EPS).unsqueeze(-2)
    return tanh_product(z1, z2, h, cell_product)


@functools.cache
def compiled_tanh_standardised_product():
    """``tanh_standardised_product`` through torch.compile (one compiled function shared by every cell)."""
    return th.compile(tanh_standardised_product, dynamic=True)


@dataclass(frozen=True)
class CellSpec:
    """
    The settings every cell of a stack shares, by the names of ``ARQPolicy``'s keyword arguments.

    :param n_heads: Number of heads H (the rank of M).
    :param goodness: The goodness g that turns y into Q, a key of ``GOODNESS``.
    :param compile_cells: Compute y through torch.compile (see ``compiled_tanh_standardised_product``).
    :param cell_product: Implementation of the d x d product, see ``tanh_standardised_product``.
    """

    n_heads: int
    goodness: str = "std"
    compile_cells: bool = False
    cell_product: str | None = None

    def __post_init__(self) -> None:
        if not (isinstance(self.n_heads, int) and self.n_heads > 0):
            raise ValueError(f"n_heads must be a positive int, got {self.n_heads!r}")
        if self.goodness not in GOODNESS:
            raise ValueError(f"goodness must be one of {list(GOODNESS)}, got {self.goodness!r}")
        if self.cell_product is not None and self.cell_product not in IMPLS:
            raise ValueError(f"cell_product must be one of {list(IMPLS)} or None, got {self.cell_product!r}")


class LocalCell(nn.Module):
    """
    What every cell shares: the action-free activity h = LayerNorm(ReLU(W_h X + b_h)) that the other cells receive,
    the two head projections W_1, W_2 (their shapes are the subclass's, ``projection_sizes``), and the reference code's
    initialisation. A cell is trained alone, on its own TD error (docs/algorithm.md, "4. Learning rule"); its
    optimizer is the policy's (``ARQPolicy.optimizer``). Every cell class takes the same arguments.

    :param input_dim: Size of the cell's input X.
    :param features_dim: Width d.
    :param codes: Action codes e(a), shape (n_actions, code size) (see ``action_codes``); only cells conditioned at
        the input read them, the others use their count.
    :param spec: The settings of the cell (heads, goodness, product).
    """

    nonnegative_q = True  # Q is a goodness, >= 0

    def __init__(self, input_dim: int, features_dim: int, codes: th.Tensor, spec: CellSpec):
        super().__init__()
        self.input_dim = input_dim
        self.features_dim = features_dim
        self.n_actions = len(codes)
        self.spec = spec
        self.register_buffer("codes", codes.float(), persistent=False)
        # e(a) = one-hot(a): W_e e(a) is column a of W_e, no product needed (``ARQCell``)
        self.onehot_codes = th.equal(self.codes, th.eye(self.n_actions))
        self.hidden = nn.Linear(input_dim, features_dim)  # W_h, b_h
        self.norm = nn.LayerNorm(features_dim, eps=LAYER_NORM_EPS)
        (in_1, out_1), (in_2, out_2) = self.projection_sizes()
        self.proj_1 = nn.Linear(in_1, out_1, bias=False)  # W_1
        self.proj_2 = nn.Linear(in_2, out_2, bias=False)  # W_2
        self.reset_parameters()

    def projection_sizes(self) -> tuple[tuple[int, int], tuple[int, int]]:
        """(inputs, outputs) of W_1 and of W_2."""
        raise NotImplementedError

    def reset_parameters(self) -> None:
        """
        Initialise as the reference code does (flax's defaults, docs/algorithm.md, "8. Initialisation"): every weight
        matrix LeCun-normal, every bias zero, LayerNorm scale 1 and bias 0 (torch's ``nn.Linear`` default is a smaller
        uniform, with non-zero biases).
        """
        for module in self.modules():
            if isinstance(module, nn.Linear):
                lecun_normal_(module.weight.data)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.LayerNorm):
                module.reset_parameters()

    def activity(self, x: th.Tensor) -> th.Tensor:
        """h = LayerNorm(ReLU(W_h X + b_h)), shape (batch, d)."""
        return self.norm(th.relu(self.hidden(x)))

    def q_bound(self, h: th.Tensor) -> th.Tensor:
        """
        The largest |Q(X, a)| the cell can represent at activity h, for any action: |tanh| <= 1 gives
        |y_i| <= ||h||_1, which bounds the goodness (``Goodness.bound``) and the AD cell's Q (its goodness is "std").

        :param h: Activities, shape (batch, d).
        :return: Bounds, shape (batch,).
        """
        return GOODNESS[self.spec.goodness].bound(h.abs().sum(dim=-1))

    def _product(self, z1: th.Tensor, z2: th.Tensor, h: th.Tensor) -> th.Tensor:
        product = compiled_tanh_standardised_product() if self.spec.compile_cells else tanh_standardised_product
        return product(z1, z2, h, self.spec.cell_product)

    def _project(self, proj: nn.Linear, x: th.Tensor, n_columns: int) -> th.Tensor:
        """W X as (batch, H, n_columns), head-major (output k * n_columns + i is head k, column i)."""
        return proj(x).unflatten(-1, (self.spec.n_heads, n_columns))

    def q_values(self, x: th.Tensor, h: th.Tensor, actions: th.Tensor | None = None) -> th.Tensor:
        """
        Q(X, a) for the given actions, or for every action.

        :param x: Cell input X, shape (batch, input_dim).
        :param h: The cell's activity for X (``activity(x)``), shape (batch, d).
        :param actions: Action index per sample, shape (batch,), or None for all actions.
        :return: Q values, shape (batch,) for given actions, (batch, n_actions) for all actions.
        """
        raise NotImplementedError


class ARQCell(LocalCell):
    """
    The ARQ cell (docs/algorithm.md, "1. The cell"), action-conditioned at the input. With e(a) the action code:

        Z1  = reshape(W_1 [X, e(a)], H x d),  Z2 = reshape(W_2 [X, e(a)], H x d)
        M   = Z2^T Z1                                         d x d, rank <= H
        y_a = tanh((M - rowmean(M)) / (rowstd(M) + 1e-6)) h,   Q(X, a) = g(y_a)

    For every action, X is not tiled over actions: W [X, e(a)] = W_x X + W_e e(a). Arguments: see ``LocalCell``.
    """

    def projection_sizes(self) -> tuple[tuple[int, int], tuple[int, int]]:
        size = (self.input_dim + self.codes.shape[1], self.spec.n_heads * self.features_dim)
        return size, size

    def _all_actions(self, proj: nn.Linear, x: th.Tensor) -> th.Tensor:
        """W [X, e(a)] for every action, (batch, n_actions, H, d): X is not tiled, W [X, e(a)] = W_x X + W_e e(a)."""
        weight_x, weight_e = proj.weight.split((self.input_dim, self.codes.shape[1]), dim=1)
        per_action = weight_e.T if self.onehot_codes else F.linear(self.codes, weight_e)  # (n_actions, H*d)
        return (F.linear(x, weight_x).unsqueeze(1) + per_action).unflatten(-1, (self.spec.n_heads, self.features_dim))

    def q_values(self, x: th.Tensor, h: th.Tensor, actions: th.Tensor | None = None) -> th.Tensor:
        if actions is None:
            z1, z2, h = self._all_actions(self.proj_1, x), self._all_actions(self.proj_2, x), h[:, None, :]
        else:  # one action per sample: [X, e(a)] as one input (W's gradient in one piece, not through two slices)
            xa = th.cat([x, self.codes[actions]], dim=1)
            z1, z2 = self._project(self.proj_1, xa, self.features_dim), self._project(self.proj_2, xa, self.features_dim)
        return GOODNESS[self.spec.goodness](self._product(z1, z2, h))


class OutputConditionedARQCell(LocalCell):
    """
    "ARQ without action conditioning" (docs/algorithm.md, "6. Variants"): no action in the input; Z2 has one block of
    d columns per action, M = Z2^T Z1 is (n_actions * d) x d, and the goodness is taken per block of y. Arguments:
    see ``LocalCell`` (only the count of the codes is used).
    """

    def projection_sizes(self) -> tuple[tuple[int, int], tuple[int, int]]:
        d, heads = self.features_dim, self.spec.n_heads
        return (self.input_dim, heads * d), (self.input_dim, heads * self.n_actions * d)

    def q_values(self, x: th.Tensor, h: th.Tensor, actions: th.Tensor | None = None) -> th.Tensor:
        z1 = self._project(self.proj_1, x, self.features_dim)
        z2 = self._project(self.proj_2, x, self.n_actions * self.features_dim).unflatten(-1, (self.n_actions, -1))
        if actions is None:
            y = self._product(z1, z2.flatten(-2), h).unflatten(-1, (self.n_actions, -1))
            return GOODNESS[self.spec.goodness](y)
        # The rows of M are standardised one by one, so the taken action's block alone is exact.
        z2 = z2[th.arange(len(x)), :, actions]  # (batch, H, d)
        return GOODNESS[self.spec.goodness](self._product(z1, z2, h))


class ADCell(LocalCell):
    """
    The Artificial Dopamine cell (Guan et al., NeurIPS 2024), ARQ's predecessor (docs/algorithm.md, "6. Variants"):
    Z2 = W_2 X is H x n_actions and Q = tanh(rowstandardise(Z2^T Z1)) h directly, one scalar per action (output tied
    to n_actions). Its Q is not a goodness and can be negative, so ``goodness`` must stay "std" (its default).
    Arguments: see ``LocalCell`` (only the count of the codes is used).
    """

    nonnegative_q = False

    def projection_sizes(self) -> tuple[tuple[int, int], tuple[int, int]]:
        if self.spec.goodness != "std":
            raise ValueError(
                f"goodness applies to ARQ cells; the AD cell's Q is tanh(...) h itself, got goodness={self.spec.goodness!r}"
            )
        return (self.input_dim, self.spec.n_heads * self.features_dim), (self.input_dim, self.spec.n_heads * self.n_actions)

    def q_values(self, x: th.Tensor, h: th.Tensor, actions: th.Tensor | None = None) -> th.Tensor:
        z1 = self._project(self.proj_1, x, self.features_dim)
        q = self._product(z1, self._project(self.proj_2, x, self.n_actions), h)
        return q if actions is None else q[th.arange(len(x)), actions]


# Cell type -> action conditioning -> class; the first conditioning of a type is its default.
CELLS: dict[str, dict[str, type[LocalCell]]] = {
    "arq": {"input": ARQCell, "output": OutputConditionedARQCell},
    "ad": {"output": ADCell},
}


def cell_class(cell_type: str, action_conditioning: str | None = None) -> type[LocalCell]:
    """
    The class registered for a cell type and action conditioning (None: the type's default), or a ValueError that
    lists the valid combinations.
    """
    if cell_type not in CELLS:
        raise ValueError(f"cell_type must be one of {list(CELLS)}, got {cell_type!r}")
    conditionings = CELLS[cell_type]
    if action_conditioning is None:
        return next(iter(conditionings.values()))
    if action_conditioning not in conditionings:
        raise ValueError(
            f"action_conditioning must be one of {list(conditionings)} for cell_type={cell_type!r}, "
            f"got {action_conditioning!r}"
        )
    return conditionings[action_conditioning]
