"""
A deliberately naive ARQ written straight from the equations (docs/algorithm.md and the paper), to check the fast
implementation against: the tests' oracle, and the reference of benchmarks/throughput.py. It lives in the package so that
both import it (and so can anyone checking a cell variant of their own) without tests and benchmarks importing each other.

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
    if goodness == "msq":
        return (y**2).mean(dim=-1)
    raise ValueError(f"the naive oracle knows the goodness 'std', 'rms' and 'msq', not {goodness!r}: write its naive form")


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
    y = (naive_standardised_tanh(z2.transpose(1, 2) @ z1) @ h_tiled[:, :, None])[:, :, 0]
    return naive_goodness(y, goodness).reshape(batch, n_actions)


def naive_standardised_tanh(m: th.Tensor) -> th.Tensor:
    row_mean = m.mean(dim=-1, keepdim=True)
    row_std = th.sqrt(((m - row_mean) ** 2).mean(dim=-1, keepdim=True)) + 1e-6
    return th.tanh((m - row_mean) / row_std)


def naive_q_all_output_conditioned(params: dict[str, th.Tensor], x: th.Tensor, n_actions: int, n_heads: int, goodness: str):
    """ "ARQ without action conditioning": M = Z2^T Z1 is (n_actions * d) x d, goodness per block of y."""
    batch, d = x.shape[0], params["hidden.weight"].shape[0]
    h = naive_activity(params, x)
    z1 = (x @ params["proj_1.weight"].T).reshape(batch, n_heads, d)
    z2 = (x @ params["proj_2.weight"].T).reshape(batch, n_heads, n_actions * d)
    y = (naive_standardised_tanh(z2.transpose(1, 2) @ z1) @ h[:, :, None])[:, :, 0]
    return th.stack([naive_goodness(y[:, a * d : (a + 1) * d], goodness) for a in range(n_actions)], dim=1)


def naive_q_all_ad(params: dict[str, th.Tensor], x: th.Tensor, n_actions: int, n_heads: int) -> th.Tensor:
    """The AD cell: Z2 is H x n_actions, Q = tanh(standardised Z2^T Z1) h."""
    batch, d = x.shape[0], params["hidden.weight"].shape[0]
    h = naive_activity(params, x)
    z1 = (x @ params["proj_1.weight"].T).reshape(batch, n_heads, d)
    z2 = (x @ params["proj_2.weight"].T).reshape(batch, n_heads, n_actions)
    return (naive_standardised_tanh(z2.transpose(1, 2) @ z1) @ h[:, :, None])[:, :, 0]


def naive_cell_input(level: int, n_cells: int, x: th.Tensor, below: th.Tensor | None, context: list[th.Tensor]) -> th.Tensor:
    """X^level_t with all three connection types (docs/algorithm.md, "2. Wiring through depth and time")."""
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
    x = window[0]
    context = [th.zeros(x.shape[0], p["hidden.weight"].shape[0], dtype=x.dtype, device=x.device) for p in cells]
    for x in window:
        context, _ = naive_step(cells, x, context)
    return context


def naive_window(observations: list[np.ndarray], t: int, episode_start: int, context_size: int) -> list[np.ndarray]:
    """x_{t-C} .. x_t, repeating the episode's first observation where the window reaches before it."""
    return [observations[max(t - k, episode_start)] for k in range(context_size, -1, -1)]


def naive_td_losses(
    online: list[dict[str, th.Tensor]],
    target: list[dict[str, th.Tensor]],
    data,
    gamma: float,
    codes: th.Tensor,
    n_heads: int,
    reward_shift: float = 0.0,
    reward_scale: float = 1.0,
) -> list[th.Tensor]:
    """
    Per-cell TD losses of the learning rule (docs/algorithm.md, "4. Learning rule"; goodness std, all three connection
    types) for a sampled batch: rewards shifted and scaled, contexts rebuilt from the window, double Q with each cell's
    own argmax and target copy, plain MSE. Gradients reach a cell's tensors in ``online`` only through that cell's own Q.
    """
    dtype = online[0]["hidden.weight"].dtype
    x, x_next = data.observations.flatten(1).to(dtype), data.next_observations.flatten(1).to(dtype)
    window = list(data.context_observations.flatten(2).to(dtype).unbind(1))
    rewards, dones = data.rewards[:, 0].to(dtype), data.dones[:, 0].to(dtype)
    # dones are terminations: the shift of the steps after the end, discounted, is added there
    end_bonus = th.where(dones > 0, reward_shift * gamma / (1 - gamma), 0.0)
    rewards = reward_scale * (rewards + reward_shift + end_bonus)
    rows, actions = th.arange(len(x), device=x.device), data.actions[:, 0].long()
    frozen = [{k: v.detach() for k, v in params.items()} for params in online]
    with th.no_grad():
        _, inputs = naive_step(frozen, x, naive_replay(frozen, window[:-1]))
        # The h path over the whole window x_{t-C} .. x_t: C steps give the context of s_t, C + 1 that of s_{t+1}
        _, next_inputs = naive_step(frozen, x_next, naive_replay(frozen, window))
        _, target_inputs = naive_step(target, x_next, naive_replay(target, window))
    losses = []
    for level, params in enumerate(online):
        with th.no_grad():
            a_star = naive_q_all(frozen[level], next_inputs[level], codes, n_heads, "std").argmax(dim=1)
            q_next = naive_q_all(target[level], target_inputs[level], codes, n_heads, "std")[rows, a_star]
            y = rewards + gamma * (1 - dones) * q_next
        q = naive_q_all(params, inputs[level], codes, n_heads, "std")[rows, actions]
        losses.append(((q - y) ** 2).mean())
    return losses
