"""The ARQ cell (spec section 2): a layer that makes its own action-conditioned Q estimate."""

from typing import Literal

import torch as th
from torch import nn

Goodness = Literal["std", "rms", "msq"]
GOODNESS = ("std", "rms", "msq")
ROW_STD_EPS = 1e-6  # added outside the square root of the row variance of M
LAYER_NORM_EPS = 1e-6  # added inside the square root of LayerNorm's variance


def action_codes(n_actions: int, encoding: Literal["onehot", "binary"]) -> th.Tensor:
    """
    The action code e(a) of every action, one row per action (spec section 2).

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
    raise ValueError(f"action encoding must be 'onehot' or 'binary', got {encoding!r}")


def safe_sqrt(x: th.Tensor) -> th.Tensor:
    """sqrt(x) for x > 0 and 0 elsewhere, with a zero (not NaN) gradient there: a dead cell must not poison its weights."""
    positive = x > 0
    return th.where(positive, x.where(positive, 1.0).sqrt(), 0.0)


def goodness_of(y: th.Tensor, goodness: Goodness) -> th.Tensor:
    """
    Q = g(y) over the last axis: ``std`` (centred root mean square), ``rms`` or ``msq`` (mean square, "ARQ-MS").

    :param y: Action-conditioned activity, shape (..., d).
    :param goodness: Which g.
    :return: Q values, shape (...,); always >= 0.
    """
    if goodness == "std":
        return safe_sqrt((y - y.mean(dim=-1, keepdim=True)).square().mean(dim=-1))
    if goodness == "rms":
        return safe_sqrt(y.square().mean(dim=-1))
    return y.square().mean(dim=-1)


class ARQCell(nn.Module):
    """
    One ARQ cell (spec section 2). With X the cell's input, e(a) the action code, d = ``features_dim``, H = ``n_heads``:

        h    = LayerNorm(ReLU(W_h X + b_h))                   action-free activity, what other cells receive
        Z1   = reshape(W_1 [X, e(a)], H x d),  Z2 = reshape(W_2 [X, e(a)], H x d)     head-major
        M    = Z2^T Z1                                         d x d, rank <= H
        Mt   = tanh((M - rowmean(M)) / (rowstd(M) + 1e-6))
        y_a  = Mt h,   Q(X, a) = g(y_a)

    Computed exactly but without tiling X over actions: W [X, e(a)] = W_x X + W_e e(a), and the row statistics of M
    come from the H x H Gram matrix of the feature-centred Z1, so M is formed once, already standardised.
    Each cell is trained alone; its optimizer is attached by the policy (spec section 4).

    :param input_dim: Size of X.
    :param features_dim: Width d.
    :param codes: Action codes e(a), shape (n_actions, code size), see ``action_codes``.
    :param n_heads: Number of heads H (the rank of M).
    :param goodness: The goodness g that turns y into Q.
    """

    optimizer: th.optim.Optimizer  # the cell's own optimizer, set by ARQPolicy

    def __init__(self, input_dim: int, features_dim: int, codes: th.Tensor, n_heads: int = 8, goodness: Goodness = "std"):
        super().__init__()
        self.input_dim = input_dim
        self.features_dim = features_dim
        self.n_heads = n_heads
        self.goodness = goodness
        self.register_buffer("codes", codes.float(), persistent=False)
        self.hidden = nn.Linear(input_dim, features_dim)  # W_h, b_h
        self.norm = nn.LayerNorm(features_dim, eps=LAYER_NORM_EPS)
        self.proj_1 = nn.Linear(input_dim + codes.shape[1], n_heads * features_dim, bias=False)  # W_1
        self.proj_2 = nn.Linear(input_dim + codes.shape[1], n_heads * features_dim, bias=False)  # W_2

    def activity(self, x: th.Tensor) -> th.Tensor:
        """h = LayerNorm(ReLU(W_h X + b_h)), shape (batch, d)."""
        return self.norm(th.relu(self.hidden(x)))

    def _heads(self, proj: nn.Linear, x: th.Tensor, actions: th.Tensor | None) -> th.Tensor:
        """W [X, e(a)] as (batch, H, d) for the given actions, or (batch, n_actions, H, d) for all actions."""
        weight_x, weight_e = proj.weight[:, : self.input_dim], proj.weight[:, self.input_dim :]
        per_sample = x @ weight_x.T  # (batch, H*d)
        per_action = self.codes @ weight_e.T  # (n_actions, H*d)
        if actions is None:
            z = per_sample[:, None, :] + per_action[None, :, :]
        else:
            z = per_sample + per_action[actions]
        return z.unflatten(-1, (self.n_heads, self.features_dim))

    def q_values(self, x: th.Tensor, h: th.Tensor, actions: th.Tensor | None = None) -> th.Tensor:
        """
        Q(X, a) for the given actions, or for every action.

        :param x: Cell input X, shape (batch, input_dim).
        :param h: The cell's activity for X (``activity(x)``), shape (batch, d).
        :param actions: Action index per sample, shape (batch,), or None for all actions.
        :return: Q values, shape (batch,) for given actions, (batch, n_actions) for all actions.
        """
        z1 = self._heads(self.proj_1, x, actions)
        z2 = self._heads(self.proj_2, x, actions)
        z1 = z1 - z1.mean(dim=-1, keepdim=True)  # centring Z1's features centres every row of M
        gram = z1 @ z1.transpose(-1, -2) / self.features_dim  # (..., H, H)
        row_var = ((gram @ z2) * z2).sum(dim=-2)  # z2_i^T G z2_i = mean_j (M_ij - rowmean_i)^2
        z2 = z2 / (safe_sqrt(row_var) + ROW_STD_EPS).unsqueeze(-2)
        m = th.tanh(z2.transpose(-1, -2) @ z1)  # (..., d, d), standardised rows
        if actions is None:
            h = h[:, None, :]
        y = (m @ h.unsqueeze(-1)).squeeze(-1)  # (..., d)
        return goodness_of(y, self.goodness)
