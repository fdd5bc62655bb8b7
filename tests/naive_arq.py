"""
A deliberately naive ARQ written straight from ../shared/ARQ_SPEC.md, to check the fast implementation against.

No trick of the fast code is used here: the batch is tiled over actions, the action code is concatenated to the input,
M = Z2^T Z1 is materialised and standardised in a second pass, contexts are rebuilt one sample at a time.
Parameters are read from a cell's state_dict by name, so the naive code shares no function with sb3_arq.
"""

import numpy as np
import torch as th


def naive_codes(n_actions: int, encoding: str) -> th.Tensor:
    if encoding == "onehot":
        return th.eye(n_actions, dtype=th.float64)
    n_bits = int(np.log2(n_actions))
    return th.tensor([[1.0 if (a >> j) & 1 else -1.0 for j in range(n_bits)] for a in range(n_actions)], dtype=th.float64)


def naive_activity(params: dict[str, th.Tensor], x: th.Tensor) -> th.Tensor:
    pre = th.relu(x @ params["hidden.weight"].T + params["hidden.bias"])
    mean = pre.mean(dim=-1, keepdim=True)
    var = ((pre - mean) ** 2).mean(dim=-1, keepdim=True)
    return (pre - mean) / th.sqrt(var + 1e-6) * params["norm.weight"] + params["norm.bias"]


def naive_goodness(y: th.Tensor, goodness: str) -> th.Tensor:
    if goodness == "std":
        return th.sqrt(((y - y.mean(dim=-1, keepdim=True)) ** 2).mean(dim=-1))
    if goodness == "rms":
        return th.sqrt((y**2).mean(dim=-1))
    return (y**2).mean(dim=-1)


def naive_q_all(params: dict[str, th.Tensor], x: th.Tensor, codes: th.Tensor, n_heads: int, goodness: str) -> th.Tensor:
    """Q(X, a) for every action, shape (batch, n_actions)."""
    batch, n_actions = x.shape[0], codes.shape[0]
    d = params["hidden.weight"].shape[0]
    h = naive_activity(params, x)
    x_tiled = x.repeat_interleave(n_actions, dim=0)  # sample-major: row b * n_actions + a
    codes_tiled = codes.repeat(batch, 1)
    h_tiled = h.repeat_interleave(n_actions, dim=0)
    xa = th.cat([x_tiled, codes_tiled], dim=1)
    z1 = (xa @ params["proj_1.weight"].T).reshape(-1, n_heads, d)
    z2 = (xa @ params["proj_2.weight"].T).reshape(-1, n_heads, d)
    m = z2.transpose(1, 2) @ z1
    row_mean = m.mean(dim=-1, keepdim=True)
    row_std = th.sqrt(((m - row_mean) ** 2).mean(dim=-1, keepdim=True)) + 1e-6
    m_tilde = th.tanh((m - row_mean) / row_std)
    y = (m_tilde @ h_tiled[:, :, None])[:, :, 0]
    return naive_goodness(y, goodness).reshape(batch, n_actions)


def naive_cell_input(level: int, n_cells: int, x: th.Tensor, below: th.Tensor | None, context: list[th.Tensor]) -> th.Tensor:
    """Spec section 3 with all three connection types."""
    if level == 0:
        parts = [x, context[0], context[1]] if n_cells > 1 else [x, context[0]]
    elif level < n_cells - 1:
        parts = [below, x, context[level], context[level + 1]]
    else:
        parts = [below, x, context[level]]
    return th.cat(parts, dim=1)


def naive_step(cells: list[dict[str, th.Tensor]], x: th.Tensor, context: list[th.Tensor]):
    """One time step through all cells: activities h^l_t and the inputs X^l_t."""
    hs, inputs = [], []
    for level, params in enumerate(cells):
        inputs.append(naive_cell_input(level, len(cells), x, hs[-1] if hs else None, context))
        hs.append(naive_activity(params, inputs[-1]))
    return hs, inputs


def naive_replay(cells: list[dict[str, th.Tensor]], window: list[th.Tensor]) -> list[th.Tensor]:
    """Context after running the h path over a window of observations (each (batch, obs_dim)) from zero."""
    context = [th.zeros(window[0].shape[0], p["hidden.weight"].shape[0], dtype=window[0].dtype) for p in cells]
    for x in window:
        context, _ = naive_step(cells, x, context)
    return context


def naive_window(observations: list[np.ndarray], t: int, episode_start: int, context_size: int) -> list[np.ndarray]:
    """x_{t-C} .. x_t, repeating the episode's first observation where the window reaches before it."""
    return [observations[max(t - k, episode_start)] for k in range(context_size, -1, -1)]
