"""Replay buffers that store each observation once and return, per sampled transition, its window of past observations."""

from typing import Any, NamedTuple

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.buffers import BaseBuffer, ReplayBuffer
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
        self._allocate(buffer_size, observation_space, action_space, device, n_envs)
        self.handle_timeout_termination = handle_timeout_termination
        self.context_size = context_size
        self._current_step = np.zeros(self.n_envs, dtype=np.int32)  # per env, the index of its next transition

    def _allocate(
        self,
        buffer_size: int,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        device: th.device | str,
        n_envs: int,
    ) -> None:
        """
        Set up SB3's buffer attributes and allocate the storage: observations, actions, rewards, dones, timeouts,
        ``step_in_episode`` (each transition's index in its episode) and the final observations of episode ends.
        """
        # The layout stores each observation once whatever optimize_memory_usage says (it is accepted, as SB3's
        # off-policy algorithms pass it). SB3 refuses its own optimised layout with timeouts because it loses final
        # observations; ours keeps them. The caller sets handle_timeout_termination afterwards.
        ReplayBuffer.__init__(
            self,
            buffer_size,
            observation_space,
            action_space,
            device,
            n_envs,
            optimize_memory_usage=True,
            handle_timeout_termination=False,
        )
        self.step_in_episode = np.zeros((self.buffer_size, self.n_envs), dtype=np.int32)
        self.final_observations: dict[tuple[int, int], np.ndarray] = {}  # (slot, env) -> observation after an episode end

    def _advance_episode_steps(self, ended: np.ndarray) -> np.ndarray:
        """
        :param ended: Per env, whether the transition being added ends its episode.
        :return: Each env's index in its episode of the transition being added; the counters move on (0 after an end).
        """
        steps = self._current_step
        self._current_step = np.where(ended, 0, steps + 1).astype(np.int32)
        return steps

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
        self.step_in_episode[self.pos] = self._advance_episode_steps(ended)
        self.timeouts[self.pos] = 0.0  # ReplayBuffer.add sets it only with handle_timeout_termination
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

    def _oldest_slot(self) -> int:
        """
        :return: The slot of the oldest observation still stored: 0 before the ring buffer is full, then ``pos + 1``
            (slot ``pos`` holds the newest transition's next observation).
        """
        return (self.pos + 1) % self.buffer_size if self.full else 0

    def _window_offsets(self) -> np.ndarray:
        """
        :return: How far back each observation of an unclipped window lies: C, C - 1, ..., 0.
        """
        return np.arange(self.context_size, -1, -1)

    def window_indices(self, batch_inds: np.ndarray, env_inds: np.ndarray) -> np.ndarray:
        """
        Slots of x_{t-C}, ..., x_t for each sampled (slot, env), clipped at the episode start or the oldest stored slot.
        Indexing and arithmetic only: the same code serves the numpy storage here and the device tensors of
        ``DeviceContextReplayBuffer``.

        :param batch_inds: Sampled slots, shape (batch,).
        :param env_inds: Sampled envs, shape (batch,).
        :return: Slots, shape (batch, C + 1), oldest first.
        """
        stored_back = (batch_inds - self._oldest_slot()) % self.buffer_size  # older observations still stored
        max_back = self.step_in_episode[batch_inds, env_inds].clip(max=stored_back)
        back = self._window_offsets().clip(max=max_back[:, None])
        return (batch_inds[:, None] - back) % self.buffer_size

    def _next_observations(self, batch_inds: np.ndarray, env_inds: np.ndarray) -> np.ndarray:
        """
        :param batch_inds: Sampled slots, shape (batch,).
        :param env_inds: Sampled envs, shape (batch,).
        :return: The next observation of each sampled transition: the following slot's observation, or the final
            observation kept aside where the transition ended an episode.
        """
        next_obs = self.observations[(batch_inds + 1) % self.buffer_size, env_inds]
        for i in np.flatnonzero(self.dones[batch_inds, env_inds]):
            next_obs[i] = self.final_observations[(batch_inds[i], env_inds[i])]
        return next_obs

    def _get_samples(self, batch_inds: np.ndarray, env: VecNormalize | None = None) -> ContextReplayBufferSamples:
        env_inds = np.random.randint(0, high=self.n_envs, size=(len(batch_inds),))
        return self.samples_at(batch_inds, env_inds, env)

    def samples_at(
        self, batch_inds: np.ndarray, env_inds: np.ndarray, env: VecNormalize | None = None
    ) -> ContextReplayBufferSamples:
        """
        The transitions stored at the given slots and envs, with their windows (indexing and arithmetic only: the same
        code serves the numpy storage here and the device tensors of ``DeviceContextReplayBuffer``).

        :param batch_inds: Slots, shape (batch,).
        :param env_inds: Envs, shape (batch,).
        :param env: ``VecNormalize`` to normalise observations and rewards with, if any.
        :return: The samples, as tensors on ``device``.
        """
        context_obs = None
        if self.context_size > 0:
            window = self.observations[self.window_indices(batch_inds, env_inds), env_inds[:, None]]
            context_obs = self.to_torch(self._normalize_obs(window, env))
        dones = self.dones[batch_inds, env_inds] * (1 - self.timeouts[batch_inds, env_inds])
        return ContextReplayBufferSamples(
            observations=self.to_torch(self._normalize_obs(self.observations[batch_inds, env_inds], env)),
            actions=self.to_torch(self.actions[batch_inds, env_inds]),
            next_observations=self.to_torch(self._normalize_obs(self._next_observations(batch_inds, env_inds), env)),
            dones=self.to_torch(dones.reshape(-1, 1)),
            rewards=self.to_torch(self._normalize_reward(self.rewards[batch_inds, env_inds].reshape(-1, 1), env)),
            context_observations=context_obs,
        )


class DeviceContextReplayBuffer(ContextReplayBuffer):
    """
    ``ContextReplayBuffer`` whose storage is made of torch tensors on ``device`` (e.g. the GPU that trains): a sample
    is drawn and gathered there by a fixed sequence of tensor operations with static shapes, without host work or
    host-device synchronisation, so that a whole update, sampling included, can be captured in one CUDA graph. For the
    same slots and envs it returns the same observations, next observations, windows, actions, rewards and dones as
    ``ContextReplayBuffer``, and it samples among the same slots (SB3's rule: every stored slot but ``pos`` once the
    ring buffer is full), uniformly, with a uniform env per sample.

    Storage: observations in the observation space's dtype (bool stays bool), once per slot (the windows read them),
    and a second tensor of the next observation of every slot (SB3's layout without ``optimize_memory_usage``), which
    holds the final observations of episode ends without any bookkeeping on the host. Bytes per transition: two
    observations, the action (8 for ``Discrete``), reward, done and timeout flags (4 each) and a 4-byte episode step
    counter. MinAtar Breakout: 800 + 8 + 12 + 4 = 824 bytes (4.1 GB for 5M transitions, twice the observations of
    ``ContextReplayBuffer``). ``add()`` copies each field to the device (one copy per field and step).

    The random draws come from the buffer's own ``th.Generator`` on ``device`` (``generator``), seeded at
    construction by one draw from torch's global RNG that leaves that RNG as it was: ``set_random_seed`` (which SB3 calls
    with the model's ``seed`` before creating the buffer) makes the samples reproducible, and a model seeded alike
    starts from the same parameters with either buffer. The fill level (oldest slot, number of slots that can be
    sampled) is also kept as 0-d tensors on ``device``, updated in place by ``add()``.

    Not supported: ``VecNormalize`` with observation or reward normalisation (``sample(env=...)`` raises a
    ValueError); loading a saved buffer onto another device (the buffer is pickled with its tensors, a CUDA buffer
    loads on a machine with CUDA only).

    :param buffer_size: Max number of transitions (over all envs).
    :param observation_space: Observation space.
    :param action_space: Action space.
    :param device: PyTorch device of the storage and of the sampled tensors.
    :param n_envs: Number of parallel environments.
    :param optimize_memory_usage: Accepted for SB3's off-policy algorithms, which pass it: both values give the
        same buffer.
    :param handle_timeout_termination: Bootstrap through time limits (``TimeLimit.truncated``) instead of treating
        them as terminations.
    :param context_size: Number C of past observations returned with each transition (0: none).
    """

    observations: th.Tensor
    next_observations: th.Tensor
    actions: th.Tensor
    rewards: th.Tensor
    dones: th.Tensor
    timeouts: th.Tensor
    step_in_episode: th.Tensor

    def _allocate(
        self,
        buffer_size: int,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        device: th.device | str,
        n_envs: int,
    ) -> None:
        # BaseBuffer's attributes only: ReplayBuffer.__init__ would allocate numpy storage.
        BaseBuffer.__init__(self, buffer_size, observation_space, action_space, device, n_envs=n_envs)
        self.buffer_size = max(buffer_size // n_envs, 1)  # per env, as in ReplayBuffer
        self.optimize_memory_usage = True
        slots = (self.buffer_size, self.n_envs)
        obs_dtype = torch_dtype(observation_space.dtype)
        self.observations = th.zeros((*slots, *self.obs_shape), dtype=obs_dtype, device=self.device)
        self.next_observations = th.zeros((*slots, *self.obs_shape), dtype=obs_dtype, device=self.device)
        action_dtype = torch_dtype(self._maybe_cast_dtype(action_space.dtype))
        self.actions = th.zeros((*slots, self.action_dim), dtype=action_dtype, device=self.device)
        self.rewards = th.zeros(slots, dtype=th.float32, device=self.device)
        self.dones = th.zeros(slots, dtype=th.float32, device=self.device)
        self.timeouts = th.zeros(slots, dtype=th.float32, device=self.device)
        self.step_in_episode = th.zeros(slots, dtype=th.int32, device=self.device)
        self.generator = th.Generator(device=self.device)
        with th.random.fork_rng(devices=[]):  # the global RNG, which initialises the policy next, is left as it was
            self.generator.manual_seed(int(th.randint(0, 2**62, ())))
        self._device_oldest_slot = th.zeros((), dtype=th.int64, device=self.device)
        self._device_n_slots = th.zeros((), dtype=th.int64, device=self.device)

    def _n_slots(self) -> int:
        """
        :return: The number of slots that can be sampled (all stored but slot ``pos`` once the ring buffer is full).
        """
        return self.buffer_size - 1 if self.full else self.pos

    def _update_fill_level(self) -> None:
        """Copy the fill level to its device tensors, in place (their memory stays where a CUDA graph finds it)."""
        self._device_oldest_slot.fill_(super()._oldest_slot())
        self._device_n_slots.fill_(self._n_slots())

    def add(
        self,
        obs: np.ndarray,
        next_obs: np.ndarray,
        action: np.ndarray,
        reward: np.ndarray,
        done: np.ndarray,
        infos: list[dict[str, Any]],
    ) -> None:
        next_obs = th.as_tensor(np.asarray(next_obs), device=self.device).reshape((self.n_envs, *self.obs_shape))
        self.observations[self.pos] = th.as_tensor(np.asarray(obs), device=self.device).reshape((self.n_envs, *self.obs_shape))
        self.observations[(self.pos + 1) % self.buffer_size] = next_obs
        self.next_observations[self.pos] = next_obs
        self.actions[self.pos] = th.as_tensor(np.asarray(action), device=self.device).reshape((self.n_envs, self.action_dim))
        self.rewards[self.pos] = th.as_tensor(np.asarray(reward), device=self.device).reshape(self.n_envs)
        self.dones[self.pos] = th.as_tensor(np.asarray(done), device=self.device).reshape(self.n_envs)
        timeouts = [self.handle_timeout_termination and info.get("TimeLimit.truncated", False) for info in infos]
        self.timeouts[self.pos] = th.as_tensor(np.array(timeouts, dtype=np.float32), device=self.device)
        ended = np.asarray(done, dtype=bool).reshape(self.n_envs)
        self.step_in_episode[self.pos] = th.as_tensor(self._advance_episode_steps(ended), device=self.device)
        self.pos += 1
        if self.pos == self.buffer_size:
            self.full = True
            self.pos = 0
        self._update_fill_level()

    def reset(self) -> None:
        super().reset()
        self._update_fill_level()

    def truncate_last_trajectory(self) -> None:
        """
        End every env's current episode at the last stored transition (a time-limit truncation), e.g. because the
        env is about to be reset. Its next observation is already stored: only the done and timeout flags change.
        """
        if self.pos == 0 and not self.full:
            return
        last = (self.pos - 1) % self.buffer_size
        self.timeouts[last] = th.where(self.dones[last] == 0, 1.0, self.timeouts[last])
        self.dones[last] = 1.0
        self._current_step[:] = 0

    def _oldest_slot(self) -> th.Tensor:
        """
        :return: The slot of the oldest observation still stored, a 0-d tensor on ``device`` (see
            ``ContextReplayBuffer._oldest_slot``).
        """
        return self._device_oldest_slot

    def _window_offsets(self) -> th.Tensor:
        """
        :return: How far back each observation of an unclipped window lies: C, C - 1, ..., 0, on ``device``.
        """
        return th.arange(self.context_size, -1, -1, device=self.device)

    def _next_observations(self, batch_inds: th.Tensor, env_inds: th.Tensor) -> th.Tensor:
        """
        :param batch_inds: Sampled slots, shape (batch,).
        :param env_inds: Sampled envs, shape (batch,).
        :return: The next observation of each sampled transition (the final observation where it ended an episode).
        """
        return self.next_observations[batch_inds, env_inds]

    def to_torch(self, array: th.Tensor, copy: bool = True) -> th.Tensor:
        """
        :param array: Samples gathered from the storage: new tensors on ``device`` already.
        :param copy: Unused (gathering copies).
        :return: ``array`` as it is.
        """
        return th.as_tensor(array, device=self.device)

    def sample(self, batch_size: int, env: VecNormalize | None = None) -> ContextReplayBufferSamples:
        """
        Sample transitions uniformly among the stored ones, on ``device``, with the buffer's ``generator``.

        :param batch_size: Number of transitions.
        :param env: Must be None, or a ``VecNormalize`` that normalises neither observations nor rewards.
        :return: The samples.
        """
        if self._n_slots() == 0:
            raise ValueError("The replay buffer holds no transition to sample yet: add() some first.")
        draws = th.rand(batch_size, generator=self.generator, device=self.device, dtype=th.float64)
        batch_inds = (self._device_oldest_slot + (draws * self._device_n_slots).long()) % self.buffer_size
        return self._get_samples(batch_inds, env)

    def _get_samples(self, batch_inds: th.Tensor, env: VecNormalize | None = None) -> ContextReplayBufferSamples:
        if env is not None and (env.norm_obs or env.norm_reward):
            raise ValueError(
                "DeviceContextReplayBuffer does not normalise observations or rewards: use it without VecNormalize (or "
                "with norm_obs=False and norm_reward=False), or use ContextReplayBuffer."
            )
        batch_inds = th.as_tensor(batch_inds, device=self.device)
        env_inds = th.randint(0, self.n_envs, batch_inds.shape, generator=self.generator, device=self.device)
        return self.samples_at(batch_inds, env_inds)


def torch_dtype(dtype: np.typing.DTypeLike) -> th.dtype:
    """
    :param dtype: A numpy dtype.
    :return: The torch dtype that ``th.as_tensor`` gives a numpy array of that dtype.
    """
    return th.from_numpy(np.empty(0, dtype=dtype)).dtype
