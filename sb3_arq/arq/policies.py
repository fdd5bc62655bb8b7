"""The ARQ policy: L cells wired through depth and time (spec section 3), each with its own optimizer and target."""

import copy
from typing import Any, Literal

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.preprocessing import get_flattened_obs_dim, preprocess_obs
from stable_baselines3.common.type_aliases import PyTorchObs, Schedule
from torch import nn

from sb3_arq.arq.cells import GOODNESS, ADCell, ARQCell, Goodness, LocalCell, OutputConditionedARQCell, action_codes

Context = list[th.Tensor]  # h^l_{t-1} for every cell l, each of shape (batch, d_l)


class ARQPolicy(BasePolicy):
    """
    Policy and Q-cells of ARQ. Cell l's input X^l_t is a concatenation (spec section 3):

        X^0_t     = [x_t,               h^0_{t-1}, h^1_{t-1}]
        X^l_t     = [h^{l-1}_t, x_t,    h^l_{t-1}, h^{l+1}_{t-1}]      0 < l < L-1
        X^{L-1}_t = [h^{L-2}_t, x_t,    h^{L-1}_{t-1}]

    where x_t is the flattened observation, x_t in cells above the first is the input skip, h^l_{t-1} the recurrent
    and h^{l+1}_{t-1} the forward-in-time connection; each part can be switched off. What a cell receives from other
    cells is detached: no gradient crosses a cell boundary. The previous step's activities are the *context*; when
    acting, ``predict`` carries it as the SB3 recurrent ``state`` (one array per cell, zero at episode start).

    :param observation_space: Observation space (Box, Discrete, MultiDiscrete or MultiBinary; flattened).
    :param action_space: Discrete action space.
    :param lr_schedule: Learning rate schedule, applied to every cell's optimizer.
    :param net_arch: Width of each cell, bottom to top (L = len(net_arch)); default [400, 200, 200] (MinAtar).
    :param cell: "arq" (``ARQCell``) or "ad" (``ADCell``, the Artificial Dopamine cell of the paper's comparison).
    :param action_conditioning: For ARQ cells, "input" (the action code is part of the input, default) or "output"
        (the paper's "ARQ without action conditioning" ablation, ``OutputConditionedARQCell``); AD cells are "output".
    :param n_heads: Number of heads H of every cell (the rank of M).
    :param goodness: How an ARQ cell's y becomes Q: "std" (reference code), "rms" (paper) or "msq" (ARQ-MS ablation).
    :param action_encoding: Action code e(a) of input-conditioned ARQ cells: "onehot" or "binary" (+-1 bits,
        power-of-two action counts). "auto" is resolved by ARQ (binary behind ``BangBangWrapper``, else onehot) and
        means "onehot" for a bare policy. Cells conditioned at the output use no action code.
    :param input_skip: Cells above the first also see the observation.
    :param recurrent_connections: Each cell sees its own previous activity h^l_{t-1}.
    :param forward_connections: Each cell sees the previous activity h^{l+1}_{t-1} of the cell above.
    :param act_with: Greedy action from "mean" (mean of the cells' Q), "last" (top cell) or a cell index.
    :param compile_cells: Compute the cells' d x d products through torch.compile (exact up to float rounding;
        faster on CPU and GPU after a compilation of some seconds; see the throughput benchmark).
    :param optimizer_class: Optimizer of every cell.
    :param optimizer_kwargs: Its keyword arguments (default for Adam: betas (0.9, 0.99) as in the reference, fused).
    """

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Discrete,
        lr_schedule: Schedule,
        net_arch: list[int] | None = None,
        cell: Literal["arq", "ad"] = "arq",
        action_conditioning: Literal["input", "output"] | None = None,
        n_heads: int = 8,
        goodness: Goodness = "std",
        action_encoding: Literal["onehot", "binary", "auto"] = "auto",
        input_skip: bool = True,
        recurrent_connections: bool = True,
        forward_connections: bool = True,
        act_with: Literal["mean", "last"] | int = "mean",
        compile_cells: bool = False,
        optimizer_class: type[th.optim.Optimizer] = th.optim.Adam,
        optimizer_kwargs: dict[str, Any] | None = None,
    ):
        if optimizer_kwargs is None and optimizer_class is th.optim.Adam:
            optimizer_kwargs = {"betas": (0.9, 0.99), "fused": True}
        super().__init__(
            observation_space,
            action_space,
            normalize_images=False,
            optimizer_class=optimizer_class,
            optimizer_kwargs=optimizer_kwargs,
        )
        if net_arch is None:
            net_arch = [400, 200, 200]
        if not isinstance(action_space, spaces.Discrete):
            raise ValueError(f"ARQPolicy needs a Discrete action space, got {action_space}")
        if isinstance(observation_space, spaces.Dict):
            raise ValueError("ARQPolicy needs a flat observation space, got a Dict: wrap the env in FlattenObservation")
        if len(net_arch) == 0 or not all(isinstance(w, int) and w > 0 for w in net_arch):
            raise ValueError(f"net_arch must be a non-empty list of positive ints (one width per cell), got {net_arch!r}")
        if goodness not in GOODNESS:
            raise ValueError(f"goodness must be one of {GOODNESS}, got {goodness!r}")
        if action_encoding not in ("onehot", "binary", "auto"):
            raise ValueError(f"action_encoding must be 'onehot', 'binary' or 'auto', got {action_encoding!r}")
        if cell not in ("arq", "ad"):
            raise ValueError(f"cell must be 'arq' or 'ad', got {cell!r}")
        if action_conditioning is None:
            action_conditioning = "input" if cell == "arq" else "output"
        if action_conditioning not in ("input", "output") or (cell == "ad" and action_conditioning != "output"):
            raise ValueError(
                f"action_conditioning must be 'input' or 'output' ('output' for cell='ad'), got {action_conditioning!r}"
            )
        if cell == "ad" and goodness != "std":
            raise ValueError(
                f"goodness applies to ARQ cells; the AD cell's Q is tanh(...) h itself, got goodness={goodness!r}"
            )
        if not (isinstance(n_heads, int) and n_heads > 0):
            raise ValueError(f"n_heads must be a positive int, got {n_heads!r}")
        if not (act_with in ("mean", "last") or (isinstance(act_with, int) and -len(net_arch) <= act_with < len(net_arch))):
            raise ValueError(f"act_with must be 'mean', 'last' or a cell index in [0, {len(net_arch)}), got {act_with!r}")

        self.net_arch = list(net_arch)
        self.cell = cell
        self.action_conditioning = action_conditioning
        self.n_heads = n_heads
        self.goodness = goodness
        self.action_encoding = action_encoding
        self.input_skip = input_skip
        self.recurrent_connections = recurrent_connections
        self.forward_connections = forward_connections
        self.act_with = act_with
        self.compile_cells = compile_cells
        self.obs_dim = get_flattened_obs_dim(observation_space)
        self._build(lr_schedule)

    @property
    def uses_context(self) -> bool:
        """Whether the cells see the previous step's activities (then acting and training need a context)."""
        return self.recurrent_connections or self.forward_connections

    def _input_layout(self, level: int) -> dict[str, int]:
        """The parts of X^level in order (spec section 3) with their sizes."""
        n_cells = len(self.net_arch)
        layout = {}
        if level > 0:
            layout["below"] = self.net_arch[level - 1]
        if level == 0 or self.input_skip:
            layout["obs"] = self.obs_dim
        if self.recurrent_connections:
            layout["self_prev"] = self.net_arch[level]
        if self.forward_connections and level < n_cells - 1:
            layout["above_prev"] = self.net_arch[level + 1]
        return layout

    def _make_cell(self, input_dim: int, width: int) -> LocalCell:
        n_actions = int(self.action_space.n)
        if self.cell == "ad":
            cell = ADCell(input_dim, width, n_actions, self.n_heads, self.compile_cells)
        elif self.action_conditioning == "output":
            cell = OutputConditionedARQCell(input_dim, width, n_actions, self.n_heads, self.goodness, self.compile_cells)
        else:
            codes = action_codes(n_actions, "onehot" if self.action_encoding == "auto" else self.action_encoding)
            cell = ARQCell(input_dim, width, codes, self.n_heads, self.goodness, self.compile_cells)
        cell.reset_parameters()
        return cell

    def _build(self, lr_schedule: Schedule) -> None:
        self.cells = nn.ModuleList(
            self._make_cell(sum(self._input_layout(level).values()), width) for level, width in enumerate(self.net_arch)
        )
        self.cells_target = copy.deepcopy(self.cells)
        self.cells_target.requires_grad_(False)
        for cell in self.cells:
            cell.optimizer = self.optimizer_class(cell.parameters(), lr=lr_schedule(1), **self.optimizer_kwargs)

    @property
    def optimizers(self) -> list[th.optim.Optimizer]:
        """One optimizer per cell, bottom to top."""
        return [cell.optimizer for cell in self.cells]

    def _get_constructor_parameters(self) -> dict[str, Any]:
        return dict(
            observation_space=self.observation_space,
            action_space=self.action_space,
            net_arch=self.net_arch,
            cell=self.cell,
            action_conditioning=self.action_conditioning,
            n_heads=self.n_heads,
            goodness=self.goodness,
            action_encoding=self.action_encoding,
            input_skip=self.input_skip,
            recurrent_connections=self.recurrent_connections,
            forward_connections=self.forward_connections,
            act_with=self.act_with,
            compile_cells=self.compile_cells,
            optimizer_class=self.optimizer_class,
            optimizer_kwargs=self.optimizer_kwargs,
            lr_schedule=self._dummy_schedule,
        )

    def flatten_obs(self, obs: PyTorchObs) -> th.Tensor:
        """x_t: the observation as a flat float32 vector (no scaling), shape (batch, obs_dim)."""
        return preprocess_obs(obs, self.observation_space, normalize_images=False).float().flatten(1)

    def zero_context(self, batch_size: int) -> Context:
        """The context at an episode's start: every h^l_{-1} = 0."""
        return [th.zeros(batch_size, width, device=self.device) for width in self.net_arch]

    def cell_input(self, level: int, x: th.Tensor, below: th.Tensor | None, context: Context) -> th.Tensor:
        """X^level_t from the observation x_t, the activity of the cell below and the context, all as constants."""
        parts = {"obs": x, "below": None if below is None else below.detach()}
        if self.uses_context:
            parts["self_prev"] = context[level].detach()
            parts["above_prev"] = context[level + 1].detach() if level + 1 < len(context) else None
        return th.cat([parts[name] for name in self._input_layout(level)], dim=1)

    def activities(self, x: th.Tensor, context: Context, cells: nn.ModuleList) -> Context:
        """The h path alone: every cell's activity h^l_t, bottom to top (the next step's context)."""
        hs: Context = []
        for level, cell in enumerate(cells):
            hs.append(cell.activity(self.cell_input(level, x, hs[-1] if hs else None, context)))
        return hs

    def q_values(
        self, x: th.Tensor, context: Context, cells: nn.ModuleList, actions: list[th.Tensor] | None = None
    ) -> tuple[Context, list[th.Tensor]]:
        """
        Every cell's activity and Q estimate at x_t. Each Q depends on its own cell's parameters only.

        :param x: Flattened observations, shape (batch, obs_dim).
        :param context: The previous step's activities (ignored when no time connection is on).
        :param cells: ``self.cells`` or ``self.cells_target``.
        :param actions: One action tensor (batch,) per cell, or None for the Q of every action.
        :return: Activities h^l_t and Q^l, each (batch,) or (batch, n_actions).
        """
        hs: Context = []
        qs = []
        for level, cell in enumerate(cells):
            cell_x = self.cell_input(level, x, hs[-1] if hs else None, context)
            hs.append(cell.activity(cell_x))
            qs.append(cell.q_values(cell_x, hs[-1], None if actions is None else actions[level]))
        return hs, qs

    def replay_context(self, x_window: th.Tensor, cells: nn.ModuleList) -> Context:
        """
        Rebuild a context by running the h path over a window of observations from a zero context (spec section 3).

        :param x_window: Flattened observations, shape (batch, steps, obs_dim), oldest first.
        :param cells: ``self.cells`` or ``self.cells_target``.
        :return: The activities after the window's last observation: the context of the step that follows it.
        """
        context = self.zero_context(x_window.shape[0])
        for step in range(x_window.shape[1]):
            context = self.activities(x_window[:, step], context, cells)
        return context

    def greedy_action(self, q_values: list[th.Tensor]) -> th.Tensor:
        """argmax_a of the mean of the cells' Q ("mean"), of the top cell's ("last") or of one cell's."""
        if self.act_with == "mean":
            return th.stack(q_values).mean(dim=0).argmax(dim=1)
        return q_values[-1 if self.act_with == "last" else self.act_with].argmax(dim=1)

    def forward(self, obs: PyTorchObs, context: Context) -> tuple[th.Tensor, Context]:
        """Greedy actions and the new context (the cells' activities at this step)."""
        hs, qs = self.q_values(self.flatten_obs(obs), context, self.cells)
        return self.greedy_action(qs), hs

    def _predict(self, observation: PyTorchObs, deterministic: bool = True) -> th.Tensor:
        """Greedy actions from a zero context (an episode's first step); ``predict`` carries the context."""
        return self(observation, self.zero_context(len(observation)))[0]

    def act(self, obs: PyTorchObs, context: Context | None, episode_start: th.Tensor | None) -> tuple[th.Tensor, Context]:
        """
        One acting step on the policy's device (what ``predict`` and ARQ's collection share; the context stays there).

        :param obs: Observations, one row per env.
        :param context: The previous step's activities, None at the start (zero).
        :param episode_start: Per env, whether this step starts an episode (its context is reset to zero).
        :return: Greedy actions and the new context.
        """
        context = self.zero_context(len(obs)) if context is None else context
        if episode_start is not None:
            keep = 1.0 - episode_start.float().reshape(len(obs), 1)
            context = [h * keep for h in context]
        with th.no_grad():
            return self(obs, context)

    def predict(
        self,
        observation: np.ndarray | dict[str, np.ndarray],
        state: tuple[np.ndarray, ...] | None = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = False,
    ) -> tuple[np.ndarray, tuple[np.ndarray, ...] | None]:
        """
        Greedy action for an observation, carrying the context between calls like SB3's recurrent policies.

        :param observation: Observation(s), single or batched (one row per env).
        :param state: The context returned by the previous call (one array per cell), None at the start.
        :param episode_start: Per env, whether this step starts an episode (its context is reset to zero).
        :param deterministic: Unused (the greedy action is deterministic; exploration is ARQ's).
        :return: Actions and the new context (None when no time connection is on).
        """
        self.set_training_mode(False)
        obs_tensor, vectorized_env = self.obs_to_tensor(observation)
        n_envs = len(obs_tensor)
        context = None
        if state is not None:
            context = [th.as_tensor(h, dtype=th.float32, device=self.device).reshape(n_envs, -1) for h in state]
        start = None if episode_start is None else th.as_tensor(np.asarray(episode_start), device=self.device)
        actions, hs = self.act(obs_tensor, context, start)
        actions = actions.cpu().numpy()
        if not vectorized_env:
            actions = actions.squeeze(axis=0)
        return actions, (tuple(h.cpu().numpy() for h in hs) if self.uses_context else None)


MlpPolicy = ARQPolicy
