"""The ARQ policy: validation, the online and target cell stacks, one optimizer per cell, acting with the context."""

import inspect
import warnings
from dataclasses import fields
from typing import Any, Literal

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.preprocessing import get_flattened_obs_dim, preprocess_obs
from stable_baselines3.common.type_aliases import PyTorchObs, Schedule

from sb3_arq.arq.cells import CELLS, CellSpec, action_codes, cell_class
from sb3_arq.arq.stack import CellStack, Context, StackSpec
from sb3_arq.common.callers import user_stacklevel
from sb3_arq.common.checks import check_net_arch


class CellOptimizers:
    """
    One optimizer per cell, held as one object so that SB3 saves, loads and schedules them as it does a policy's
    ``optimizer``. The policy creates them (one per cell of the online stack), ``ARQ.train`` clips and steps each
    cell's alone (docs/algorithm.md, "4. Learning rule"), SB3 saves them as ``policy.optimizer``.

    :param optimizers: The cells' optimizers, bottom to top.
    """

    def __init__(self, optimizers: list[th.optim.Optimizer]):
        self.optimizers = optimizers

    @property
    def param_groups(self) -> list[dict[str, Any]]:
        """Every cell's parameter groups (SB3's ``update_learning_rate`` sets their learning rate)."""
        return [group for optimizer in self.optimizers for group in optimizer.param_groups]

    def zero_grad(self) -> None:
        for optimizer in self.optimizers:
            optimizer.zero_grad()

    def state_dict(self) -> dict[str, Any]:
        return {"cells": [optimizer.state_dict() for optimizer in self.optimizers]}

    def load_state_dict(self, state_dict: dict[str, Any], strict: bool = True) -> None:
        """
        Load every cell's optimizer state (``strict`` is accepted for SB3's loader, which passes it to modules). Whether
        an optimizer is capturable stays this one's: it says where the optimizer runs (a CUDA graph), not what it learnt.
        """
        if "cells" not in state_dict:
            raise ValueError(
                "The saved optimizer state is not ARQ's (one optimizer per cell): was the file saved by another algorithm, "
                "or with policy.optimizer replaced?"
            )
        if len(state_dict["cells"]) != len(self.optimizers):
            raise ValueError(
                f"the saved optimizer state is for {len(state_dict['cells'])} cell(s), this policy has {len(self.optimizers)}"
            )
        for optimizer, cell_state in zip(self.optimizers, state_dict["cells"], strict=True):
            capturable = [group.get("capturable") for group in optimizer.param_groups]
            optimizer.load_state_dict(cell_state)
            for group, value in zip(optimizer.param_groups, capturable, strict=True):
                if value is not None:
                    group["capturable"] = value

    def make_capturable(self) -> None:
        """
        Let the optimizers run inside a CUDA graph: ``capturable`` on (Adam and the optimizers that have the flag), and
        their step counters on the parameters' device (where capturable optimizers keep them).
        """
        for optimizer in self.optimizers:
            for group in optimizer.param_groups:
                if "capturable" in group:
                    group["capturable"] = True
                for param in group["params"]:
                    state = optimizer.state.get(param, {})
                    if isinstance(state.get("step"), th.Tensor):
                        state["step"] = state["step"].to(param.device)


def spec_fields(spec_class: type, options: dict[str, Any]) -> dict[str, Any]:
    """
    :param spec_class: ``CellSpec`` or ``StackSpec``, whose fields have the names of ``ARQPolicy``'s options.
    :param options: The policy's options by name.
    :return: The options that are fields of the spec.
    """
    return {field.name: options[field.name] for field in fields(spec_class) if field.name in options}


class ARQPolicy(BasePolicy):
    """
    Policy of ARQ: an online and a target ``CellStack`` (``q_net``, ``q_net_target``), one optimizer per cell
    (``optimizer``, a ``CellOptimizers``), and acting with the context: ``predict`` carries the previous step's
    activities as the SB3 recurrent ``state`` (one array per cell, zero at episode start). The stacks are built from
    ``stack_spec``: the keyword arguments that set the cells and their wiring, by name (``StackSpec``, ``CellSpec``).

    :param observation_space: Observation space (Box, Discrete, MultiDiscrete or MultiBinary; flattened).
    :param action_space: Discrete action space.
    :param lr_schedule: Learning rate schedule, applied to every cell's optimizer.
    :param net_arch: Width of each cell, bottom to top (L = len(net_arch)); default [64, 64] (the published runs:
        [400, 200, 200] for MinAtar, [128, 96, 96] for DeepMind Control).
    :param cell_type: "arq" (the ARQ cell) or "ad" (the Artificial Dopamine cell of the paper's comparison); the
        registry is ``sb3_arq.arq.cells.CELLS``.
    :param action_conditioning: For ARQ cells, "input" (the action code is part of the input, default) or "output"
        (the paper's "ARQ without action conditioning" ablation); AD cells are "output". None: the type's default.
    :param n_heads: Number of heads H of every cell (the rank of M); the published runs use 8.
    :param goodness: How an ARQ cell's y becomes Q: "std" (reference code), "rms" (paper) or "msq" (ARQ-MS ablation);
        the registry is ``sb3_arq.arq.cells.GOODNESS``.
    :param action_encoding: Action code e(a) of input-conditioned ARQ cells: "onehot" or "binary" (+-1 bits,
        power-of-two action counts). "auto" is resolved by ARQ (binary behind ``BangBangWrapper``, else onehot) and
        means "onehot" for a bare policy. Cells conditioned at the output use no action code.
    :param input_skip: Cells above the first also see the observation.
    :param recurrent_connections: Each cell sees its own previous activity h^l_{t-1} (on in the published runs; off by
        default: CartPole-v1's observation is its whole state).
    :param forward_connections: Each cell sees the previous activity h^{l+1}_{t-1} of the cell above (on in the
        published runs, off by default).
    :param act_with: Greedy action from "mean" (mean of the cells' Q), "last" (top cell) or a cell index.
    :param compile_cells: Compute the cells' d x d products through torch.compile (exact up to float rounding;
        faster on CPU and GPU after a compilation of some seconds; see the throughput benchmark).
    :param cell_product: How each cell computes tanh(standardised Z2^T Z1) h (``sb3_arq.kernels.tanh_product``,
        docs/kernels.md): None (the default: "dense" on CUDA, "auto" elsewhere), "dense" (plain autograd: keeps one
        d x d matrix per sample and action for the backward pass), "chunked" (PyTorch, recomputes the matrices chunk
        by chunk in the backward pass: a fraction of the memory), "triton" (fused CUDA kernels) or "auto" (triton on
        CUDA when it imports, else chunked, or dense for a product whose matrices all fit in one chunk, as for the
        classic-control entries).
    :param normalize_images: Scale uint8 image observations to [0, 1] before flattening, as every SB3 policy does
        (other observations, e.g. MinAtar's bool grids, are not scaled).
    :param optimizer_class: Optimizer of every cell.
    :param optimizer_kwargs: Its keyword arguments (default for Adam: betas (0.9, 0.99) as in the reference, fused).
    """

    optimizer: CellOptimizers

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Discrete,
        lr_schedule: Schedule,
        net_arch: list[int] | None = None,
        cell_type: str = "arq",
        action_conditioning: Literal["input", "output"] | None = None,
        n_heads: int = 4,
        goodness: str = "std",
        action_encoding: Literal["onehot", "binary", "auto"] = "auto",
        input_skip: bool = True,
        recurrent_connections: bool = False,
        forward_connections: bool = False,
        act_with: Literal["mean", "last"] | int = "mean",
        compile_cells: bool = False,
        cell_product: str | None = None,
        normalize_images: bool = True,
        optimizer_class: type[th.optim.Optimizer] = th.optim.Adam,
        optimizer_kwargs: dict[str, Any] | None = None,
    ):
        check_net_arch(net_arch)
        if net_arch is None:
            net_arch = [64, 64]
        net_arch = list(net_arch)
        if not isinstance(action_space, spaces.Discrete):
            raise ValueError(f"ARQPolicy needs a Discrete action space, got {action_space}")
        if isinstance(observation_space, spaces.Dict):
            raise ValueError("ARQPolicy needs a flat observation space, got a Dict: wrap the env in FlattenObservation")
        if action_encoding not in ("onehot", "binary", "auto"):
            raise ValueError(f"action_encoding must be 'onehot', 'binary' or 'auto', got {action_encoding!r}")
        if not (act_with in ("mean", "last") or (isinstance(act_with, int) and -len(net_arch) <= act_with < len(net_arch))):
            raise ValueError(f"act_with must be 'mean', 'last' or a cell index in [0, {len(net_arch)}), got {act_with!r}")
        resolved_cell_class = cell_class(cell_type, action_conditioning)
        if action_conditioning is None:
            action_conditioning = next(iter(CELLS[cell_type]))
        if optimizer_kwargs is None:
            optimizer_kwargs = {"betas": (0.9, 0.99), "fused": True} if optimizer_class is th.optim.Adam else {}
        # Every option by name, with the defaults above resolved: the attributes and the specs are built from it
        options = {name: value for name, value in locals().items() if name in self.options}
        super().__init__(
            observation_space,
            action_space,
            normalize_images=normalize_images,
            optimizer_class=optimizer_class,
            optimizer_kwargs=optimizer_kwargs,
        )
        for name, value in options.items():
            setattr(self, name, value)
        self.cell_class = resolved_cell_class
        self.stack_spec = StackSpec(
            cell_class=resolved_cell_class, cell=CellSpec(**spec_fields(CellSpec, options)), **spec_fields(StackSpec, options)
        )
        self._predicts_without_state = 0  # consecutive predict() calls that restarted the context (see predict)
        self._warned_predict_habit = False
        self._acting_forward = self.forward  # act()'s greedy step: eager, or compiled (compile_acting)
        self._build(lr_schedule)

    # The keyword arguments (policy_kwargs): the signature's after the spaces and the schedule. Each is kept as the
    # attribute of the same name; they are the names ``check_policy_kwargs`` accepts and what a saved policy keeps.
    options = tuple(inspect.signature(__init__).parameters)[4:]

    def make_stack(self) -> CellStack:
        """A stack of freshly initialised cells with this policy's settings."""
        codes = action_codes(int(self.action_space.n), "onehot" if self.action_encoding == "auto" else self.action_encoding)
        return CellStack(get_flattened_obs_dim(self.observation_space), codes, self.stack_spec)

    def _build(self, lr_schedule: Schedule) -> None:
        self.q_net = self.make_stack()
        self.q_net_target = self.make_stack()
        self.q_net_target.load_state_dict(self.q_net.state_dict())
        self.q_net_target.requires_grad_(False)
        self.optimizer = CellOptimizers(
            [self.optimizer_class(cell.parameters(), lr=lr_schedule(1), **self.optimizer_kwargs) for cell in self.q_net.cells]
        )

    @property
    def uses_context(self) -> bool:
        """Whether the cells see the previous step's activities (then acting and training need a context)."""
        return self.q_net.uses_context

    @classmethod
    def check_policy_kwargs(cls, policy_kwargs: dict[str, Any]) -> None:
        """Refuse the keys of ``policy_kwargs`` that are not this policy's ``options``, naming those that are."""
        unknown = sorted(set(policy_kwargs) - set(cls.options))
        if unknown:
            raise ValueError(
                f"policy_kwargs has unknown key(s) {unknown}; {cls.__name__} takes {list(cls.options)}. ARQ's cells read "
                "the flattened observation: there is no features extractor or network architecture dict to pass."
            )

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update({name: getattr(self, name) for name in self.options})
        data.update(lr_schedule=self._dummy_schedule)
        return data

    def flatten_obs(self, obs: PyTorchObs) -> th.Tensor:
        """x_t: the observation as a flat float32 vector, shape (batch, obs_dim) (uint8 images scaled to [0, 1])."""
        return preprocess_obs(obs, self.observation_space, normalize_images=self.normalize_images).float().flatten(1)

    def greedy_action(self, q_values: list[th.Tensor]) -> th.Tensor:
        """argmax_a of the mean of the cells' Q ("mean"), of the top cell's ("last") or of one cell's."""
        if self.act_with == "mean":
            return th.stack(q_values).mean(dim=0).argmax(dim=1)
        return q_values[-1 if self.act_with == "last" else self.act_with].argmax(dim=1)

    def forward(self, obs: PyTorchObs, context: Context) -> tuple[th.Tensor, Context]:
        """Greedy actions and the new context (the cells' activities at this step)."""
        hs, qs = self.q_net(self.flatten_obs(obs), context)
        return self.greedy_action(qs), hs

    def set_training_mode(self, mode: bool) -> None:
        """
        SB3's switch between training and evaluation mode (it calls it at every collection and every ``train()``): the
        ``training`` flag of every module, as ``nn.Module.train`` sets it, without its recursion through
        ``nn.Module.__setattr__`` (about 4x faster for a three-cell policy: a few percent of a CPU run's time).
        """
        for module in self.modules():
            object.__setattr__(module, "training", mode)

    def compile_acting(self, compiled: bool = True) -> None:
        """
        From now on, run ``act``'s greedy step (so ``predict``, and evaluations) through ``torch.compile`` (one fused
        program per step, compiled at its first call: seconds, and again for another number of envs; the same greedy
        actions and contexts as the eager step up to float rounding), or eagerly (``compiled=False``). ARQ compiles it
        with ``graph_acting`` off CUDA.
        """
        self._acting_forward = th.compile(self.forward) if compiled else self.forward

    def _predict(self, observation: PyTorchObs, deterministic: bool = True) -> th.Tensor:
        """Greedy actions from a zero context (an episode's first step); ``predict`` carries the context."""
        return self(observation, self.q_net.zero_context(len(observation)))[0]

    def act(self, obs: PyTorchObs, context: Context | None, episode_start: np.ndarray | None) -> tuple[th.Tensor, Context]:
        """
        One acting step on the policy's device (what ``predict`` and ARQ's collection share; the context stays there),
        in inference mode: the returned tensors are for acting, not for autograd.

        :param obs: Observations, one row per env.
        :param context: The previous step's activities, None at the start (zero); ignored without connections through
            time.
        :param episode_start: Per env, whether this step starts an episode (its context is reset to zero): bools, or
            None for none.
        :return: Greedy actions and the new context.
        """
        with th.inference_mode():
            if not self.uses_context:
                context = []
            elif context is None:
                context = self.q_net.zero_context(len(obs))
            elif episode_start is not None and episode_start.any():
                keep = th.as_tensor(~episode_start.reshape(len(obs), 1), device=self.device)
                context = [h * keep for h in context]
            return self._acting_forward(obs, context)

    def predict(
        self,
        observation: np.ndarray | dict[str, np.ndarray],
        state: tuple[np.ndarray, ...] | None = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = False,
    ) -> tuple[np.ndarray, tuple[np.ndarray, ...] | None]:
        """
        Greedy action for an observation, carrying the context between calls like SB3's recurrent policies.

        With connections through time, pass back the state that the previous call returned, with ``episode_start``
        True at an episode's first step (as ``evaluate_policy`` does): without it, every call acts from a zero context,
        as at an episode's first step. A warning (once per policy) says so when two calls in a row come without state.

        :param observation: Observation(s), single or batched (one row per env).
        :param state: The context returned by the previous call (one array per cell), None at the start.
        :param episode_start: Per env, whether this step starts an episode (its context is reset to zero).
        :param deterministic: Unused (the greedy action is deterministic; exploration is ARQ's).
        :return: Actions and the new context (None when no time connection is on).
        :raises ValueError: When an observation or the state contains NaN or inf (naming the env).
        """
        if self.training:
            self.set_training_mode(False)
        obs_tensor, vectorized_env = self.obs_to_tensor(observation)
        n_envs = len(obs_tensor)
        if not th.isfinite(obs_tensor).all():
            not_finite = ~th.isfinite(obs_tensor.reshape(n_envs, -1)).all(dim=1)
            envs = np.flatnonzero(not_finite.cpu().numpy()).tolist()
            raise ValueError(
                f"The observation of env(s) {envs} contains NaN or inf: predict refuses it, "
                "as the context would carry it to the end of the episode. Check the env (and VecNormalize's statistics)."
            )
        context = None if state is None else self._state_to_context(state, n_envs)
        self._check_predict_habit(state, episode_start)
        if episode_start is not None:
            if np.size(episode_start) != n_envs:
                raise ValueError(f"episode_start must have one flag per observation ({n_envs}), got {np.shape(episode_start)}")
            episode_start = np.asarray(episode_start, dtype=bool).reshape(n_envs)
        actions, hs = self.act(obs_tensor, context, episode_start)
        actions = actions.cpu().numpy()
        if not vectorized_env:
            actions = actions.squeeze(axis=0)
        return actions, (tuple(h.cpu().numpy() for h in hs) if self.uses_context else None)

    def _check_predict_habit(self, state: tuple[np.ndarray, ...] | None, episode_start: np.ndarray | None) -> None:
        """
        Warn once when ``predict`` is called again without the state it returned (SB3's ``action, _ = predict(obs)``
        loop), on a policy with connections through time: every call would restart the context from zero.
        """
        restarts = state is None and (episode_start is None or not np.all(episode_start))
        self._predicts_without_state = self._predicts_without_state + 1 if restarts else 0
        if self.uses_context and self._predicts_without_state >= 2 and not self._warned_predict_habit:
            warnings.warn(
                "predict() was called again without the state it returned: this ARQ policy has connections through "
                "time (its context is a recurrent state), so every such call restarts the context from zero, as at an "
                "episode's first step, and acts worse. Pass the state back, as for SB3's recurrent policies: "
                "`action, state = model.predict(obs, state=state, episode_start=episode_start, deterministic=True)`, "
                "with state=None and episode_start True at the start of each episode (evaluate_policy does this).",
                stacklevel=user_stacklevel(),
            )
            self._warned_predict_habit = True

    def _state_to_context(self, state: tuple[np.ndarray, ...], n_envs: int) -> Context:
        """The ``state`` given to ``predict`` as a context, after checking it is one of this policy's for n_envs."""
        expected = [(n_envs, width) for width in self.net_arch]
        found = [np.shape(h) for h in state] if isinstance(state, (tuple, list)) else None
        if found != expected:
            raise ValueError(
                f"state must be the context returned by this policy's previous predict() call: one array per cell of "
                f"shapes {expected} (n_envs = {n_envs}, widths {self.net_arch}), got {found if found else type(state)}. "
                "Pass state=None (and episode_start) at the start of an episode."
            )
        not_finite = ~np.stack([np.isfinite(h).all(axis=1) for h in state]).all(axis=0)
        if not_finite.any():
            raise ValueError(
                f"state contains NaN or inf for env(s) {np.flatnonzero(not_finite).tolist()}: pass the state returned by "
                "the previous predict() call, or state=None (and episode_start) at the start of an episode."
            )
        return [th.as_tensor(h, dtype=th.float32, device=self.device) for h in state]


MlpPolicy = ARQPolicy
