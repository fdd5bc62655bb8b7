"""
ARQ's two ways of acting while collecting, with one interface (``actor(observations, episode_starts, epsilon)``,
``context``, ``undo_step()``): ``EagerActing``, the policy's ``act`` and numpy's epsilon, and ``ActingGraph``, one env
step of every env as one fixed sequence of device operations from static tensors (a CUDA graph on a GPU).
"""

import numpy as np
import torch as th
from gymnasium import spaces

from sb3_arq.arq.policies import ARQPolicy
from sb3_arq.arq.stack import Context
from sb3_arq.common.cuda_graph import CapturedStep


def explore(actions: np.ndarray, epsilon: float, action_space: spaces.Discrete) -> np.ndarray:
    """
    :return: A copy of ``actions`` (also of a single, 0-d action) where each action is replaced, with probability
        ``epsilon``, by ``action_space.sample()`` (numpy's generators, as SB3's DQN).
    """
    actions = np.array(actions)
    flat_actions = actions.reshape(-1)
    for i in np.flatnonzero(np.random.rand(flat_actions.size) < epsilon):
        flat_actions[i] = action_space.sample()
    return actions


class EagerActing:
    """
    The acting step of ARQ's collection through ``ARQPolicy.act``: each env's context stays on the policy's device
    between steps (zero at an episode start), the greedy action is replaced by a random one with probability epsilon
    (``explore``). The same greedy actions and contexts as ``ActingGraph``, and as ``predict`` carrying its state.

    :param policy: The policy whose online cells act (for any number of envs: one row per env).
    """

    def __init__(self, policy: ARQPolicy):
        self.policy = policy
        self.context: Context | None = None  # None: zero (no step yet)
        self.previous_context: Context | None = None

    def __call__(self, observations: np.ndarray, episode_starts: np.ndarray, epsilon: float) -> np.ndarray:
        """Act in every env: see ``ActingGraph.__call__``."""
        obs = self.policy.obs_to_tensor(observations)[0]
        self.previous_context = self.context  # act() makes new tensors: a reference, no copy
        actions, self.context = self.policy.act(obs, self.context, np.asarray(episode_starts, dtype=bool))
        return explore(actions.cpu().numpy(), epsilon, self.policy.action_space)

    def undo_step(self) -> None:
        """Go back to the context before the last step (e.g. when the env failed to step on its actions)."""
        self.context = self.previous_context


class ActingGraph:
    """
    The acting step of ARQ's collection, on the policy's device from tensors allocated once: reset the context of the
    envs whose episode starts, run the online cells (every cell, every action), take the greedy action, replace it by
    a uniformly random action with probability epsilon (drawn on the device), and keep the new activities as the next
    step's context. On CUDA the step runs eagerly three times, is then captured as a CUDA graph and replayed at every
    later env step (``CapturedStep``: no Python and no kernel launch per cell); elsewhere it can run through
    ``torch.compile`` (one fused program per step, compiled at the first call: seconds), or eagerly. Per env step: one
    host-to-device copy of the observations and episode starts, one device-to-host copy of the actions.

    The greedy actions and contexts are those of ``ARQPolicy.act`` (and so of ``predict`` carrying its state); the
    random actions come from torch's generator of the device instead of numpy's (both are seeded by ``seed``).

    :param policy: The policy whose online cells act. Its parameters are read in place at every step, so optimizer
        steps and ``set_parameters`` are seen; moving the policy to another device needs a new ``ActingGraph``.
    :param n_envs: Number of envs acting together.
    :param capture: Capture the step as a CUDA graph (the policy must be on CUDA).
    :param compile: Run the step through ``torch.compile`` (not with ``capture``). Neither: eagerly.
    :param context: The context to start from (copied), None for zero. ``context`` holds the current one,
        ``previous_context`` the one before the last step (``undo_step`` goes back to it).
    """

    def __init__(self, policy: ARQPolicy, n_envs: int, capture: bool, compile: bool = False, context: Context | None = None):
        if capture and compile:
            raise ValueError("capture and compile are two ways to run the step: choose one")
        if capture and policy.device.type != "cuda":
            raise ValueError(f"capture=True needs the policy on a CUDA device, it is on {policy.device}")
        self.policy = policy
        self.n_envs = n_envs
        self.n_actions = int(policy.action_space.n)  # a Python int: the compiled step reads no numpy scalar
        obs_dtype = th.from_numpy(np.asarray(policy.observation_space.sample())).dtype
        self.obs = th.zeros((n_envs, *policy.observation_space.shape), dtype=obs_dtype, device=policy.device)
        self.episode_start = th.ones(n_envs, dtype=th.bool, device=policy.device)
        self.epsilon = th.ones((), device=policy.device)
        self.context = policy.q_net.zero_context(n_envs) if context is None else [h.clone() for h in context]
        self.previous_context = [h.clone() for h in self.context]
        self.actions = th.zeros(n_envs, dtype=th.long, device=policy.device)
        self.step = CapturedStep(th.compile(self._step) if compile else self._step, capture)

    def _step(self) -> None:
        """One step of every env, reading and writing only the static tensors."""
        with th.no_grad():
            for previous, h in zip(self.previous_context, self.context, strict=True):
                previous.copy_(h)
            keep = (~self.episode_start).float().unsqueeze(1)
            greedy, activities = self.policy(self.obs, [h * keep for h in self.context])
            explore = th.rand(self.n_envs, device=self.actions.device) < self.epsilon
            random = th.randint(0, self.n_actions, (self.n_envs,), device=self.actions.device)
            self.actions.copy_(th.where(explore, random, greedy))
            for h, activity in zip(self.context, activities, strict=True):
                h.copy_(activity)

    def __call__(self, observations: np.ndarray, episode_starts: np.ndarray, epsilon: float) -> np.ndarray:
        """
        Act in every env.

        :param observations: One observation per env, shape (n_envs, *obs_shape).
        :param episode_starts: Per env, whether this step starts an episode (its context is reset to zero).
        :param epsilon: Probability of a uniformly random action, per env.
        :return: The actions, shape (n_envs,).
        """
        self.obs.copy_(th.as_tensor(np.asarray(observations)).reshape(self.obs.shape))
        self.episode_start.copy_(th.as_tensor(np.asarray(episode_starts, dtype=bool)).reshape(self.n_envs))
        self.epsilon.fill_(epsilon)
        self.step()
        return self.actions.to("cpu", copy=True).numpy()  # a copy also on CPU, where the static tensor would be shared

    def undo_step(self) -> None:
        """Go back to the context before the last step (e.g. when the env failed to step on its actions)."""
        for h, previous in zip(self.context, self.previous_context, strict=True):
            h.copy_(previous)
