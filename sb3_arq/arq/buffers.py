"""Replay buffer that stores each observation once and returns, per sampled transition, its window of past observations."""

from typing import Any, NamedTuple

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.vec_env import VecNormalize


class ContextReplayBufferSamples(NamedTuple):
    observations: th.Tensor
    actions: th.Tensor
    next_observations: th.Tensor
    dones: th.Tensor
    rewards: th.Tensor
    context_observations: th.Tensor | None  # (batch, context_size + 1, *obs_shape): x_{t-C} .. x_t, oldest first


class ContextReplayBuffer(ReplayBuffer):
    """
    Replay buffer for ARQ. Observations are stored once: the next observation of a transition is read from the
    following slot (SB3's ``optimize_memory_usage`` layout), except where an episode ended (terminated or truncated),
    whose final observation is kept aside until its slot is overwritten. Unlike SB3's layout, time-limit truncation is
    therefore handled exactly. Bytes per transition: one observation (1 byte per cell for MinAtar's bool grids), the
    action, reward, done and timeout flags (4 bytes each for rewards and flags), a 4-byte episode step counter, plus
    one observation per episode end. MinAtar Breakout: 400 + 8 + 12 + 4 = 424 bytes (2.1 GB for 5M transitions).

    With ``context_size`` C > 0, every sample also carries ``context_observations``, the observations
    x_{t-C}, ..., x_t of the same env and episode. A window is clipped at the episode start by repeating the first
    observation of the episode (as the reference code does; episode boundaries are terminations and truncations),
    or at the oldest observation still stored when the ring buffer has overwritten the episode's start.

    :param buffer_size: Max number of transitions (over all envs).
    :param observation_space: Observation space.
    :param action_space: Action space.
    :param device: PyTorch device of the sampled tensors.
    :param n_envs: Number of parallel environments.
    :param optimize_memory_usage: Accepted for SB3's off-policy algorithms, which pass it: the buffer always stores
        each observation once (the memory-optimised layout), and keeps final observations aside, so both values give
        the same buffer.
    :param handle_timeout_termination: Bootstrap through time limits (``TimeLimit.truncated``) instead of treating
        them as terminations.
    :param context_size: Number C of past observations returned with each transition (0: none).
    """

    def __init__(
        self,
        buffer_size: int,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        device: th.device | str = "auto",
        n_envs: int = 1,
        optimize_memory_usage: bool = True,
        handle_timeout_termination: bool = True,
        context_size: int = 10,
    ):
        if not (isinstance(context_size, int) and context_size >= 0):
            raise ValueError(f"context_size must be an int >= 0, got {context_size!r}")
        # The layout stores each observation once whatever optimize_memory_usage says (it is accepted, as SB3's
        # off-policy algorithms pass it). SB3 refuses its own optimised layout with timeouts because it loses final
        # observations; ours keeps them.
        super().__init__(
            buffer_size,
            observation_space,
            action_space,
            device,
            n_envs,
            optimize_memory_usage=True,
            handle_timeout_termination=False,
        )
        self.handle_timeout_termination = handle_timeout_termination
        self.context_size = context_size
        self.step_in_episode = np.zeros(
            (self.buffer_size, self.n_envs), dtype=np.int32
        )  # each transition's index in its episode
        self.final_observations: dict[tuple[int, int], np.ndarray] = {}  # (slot, env) -> observation after an episode end
        self._current_step = np.zeros(self.n_envs, dtype=np.int32)  # per env, the index of its next transition

    def add(
        self,
        obs: np.ndarray,
        next_obs: np.ndarray,
        action: np.ndarray,
        reward: np.ndarray,
        done: np.ndarray,
        infos: list[dict[str, Any]],
    ) -> None:
        next_obs = np.asarray(next_obs).reshape((self.n_envs, *self.obs_shape))
        ended = np.asarray(done, dtype=bool).reshape(self.n_envs)
        for env_idx in range(self.n_envs):
            self.final_observations.pop((self.pos, env_idx), None)
            if ended[env_idx]:
                self.final_observations[(self.pos, env_idx)] = next_obs[env_idx].copy()
        self.step_in_episode[self.pos] = self._current_step
        self._current_step = np.where(ended, 0, self._current_step + 1).astype(np.int32)
        super().add(obs, next_obs, action, reward, done, infos)

    def truncate_last_trajectory(self) -> None:
        """
        End every env's current episode at the last stored transition (a time-limit truncation), e.g. because the
        env is about to be reset: its next observation is saved aside before the reset observation overwrites it.
        """
        if self.pos == 0 and not self.full:
            return
        last = (self.pos - 1) % self.buffer_size
        still_open = self.dones[last] == 0
        for env_idx in np.flatnonzero(still_open):
            self.final_observations[(last, env_idx)] = self.observations[self.pos, env_idx].copy()
        self.dones[last, still_open] = 1.0
        self.timeouts[last, still_open] = 1.0
        self._current_step[:] = 0

    def window_indices(self, batch_inds: np.ndarray, env_inds: np.ndarray) -> np.ndarray:
        """
        Slots of x_{t-C}, ..., x_t for each sampled (slot, env), clipped at the episode start or the oldest stored slot.

        :param batch_inds: Sampled slots, shape (batch,).
        :param env_inds: Sampled envs, shape (batch,).
        :return: Slots, shape (batch, C + 1), oldest first.
        """
        max_back = self.step_in_episode[batch_inds, env_inds].astype(np.int64)
        if self.full:
            # Slot `pos` holds the newest transition's next observation, so the oldest intact observation is at pos + 1.
            max_back = np.minimum(max_back, (batch_inds - self.pos - 1) % self.buffer_size)
        back = np.minimum(np.arange(self.context_size, -1, -1)[None, :], max_back[:, None])
        return (batch_inds[:, None] - back) % self.buffer_size

    def _get_samples(self, batch_inds: np.ndarray, env: VecNormalize | None = None) -> ContextReplayBufferSamples:
        env_inds = np.random.randint(0, high=self.n_envs, size=(len(batch_inds),))
        next_obs = self.observations[(batch_inds + 1) % self.buffer_size, env_inds]
        for i in np.flatnonzero(self.dones[batch_inds, env_inds]):
            next_obs[i] = self.final_observations[(batch_inds[i], env_inds[i])]
        context_obs = None
        if self.context_size > 0:
            window = self.observations[self.window_indices(batch_inds, env_inds), env_inds[:, None]]
            context_obs = self.to_torch(self._normalize_obs(window, env))
        return ContextReplayBufferSamples(
            observations=self.to_torch(self._normalize_obs(self.observations[batch_inds, env_inds], env)),
            actions=self.to_torch(self.actions[batch_inds, env_inds]),
            next_observations=self.to_torch(self._normalize_obs(next_obs, env)),
            dones=self.to_torch((self.dones[batch_inds, env_inds] * (1 - self.timeouts[batch_inds, env_inds])).reshape(-1, 1)),
            rewards=self.to_torch(self._normalize_reward(self.rewards[batch_inds, env_inds].reshape(-1, 1), env)),
            context_observations=context_obs,
        )
