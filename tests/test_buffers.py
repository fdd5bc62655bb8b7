import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.save_util import load_from_pkl, save_to_pkl
from stable_baselines3.common.utils import set_random_seed

import sb3_arq.envs  # noqa: F401 (registers the MinAtar ids)
from sb3_arq import ARQ
from sb3_arq.arq.buffers import ContextReplayBuffer, DeviceContextReplayBuffer

OBS_SPACE = spaces.Box(-np.inf, np.inf, (3,), np.float32)  # an observation says (env, episode, step)


def fill(buffer: ContextReplayBuffer, episode_lengths: list[list[int]], n_steps: int, truncate_every: int = 2):
    """
    Add n_steps transitions per env; env e's episodes have the lengths episode_lengths[e] (cycled). Every
    ``truncate_every``-th episode ends by a time limit, the others terminate. Returns the truth per (step, env).
    """
    n_envs = buffer.n_envs
    episode, step, length_index = np.zeros(n_envs, int), np.zeros(n_envs, int), np.zeros(n_envs, int)
    truth = []
    for _ in range(n_steps):
        obs = np.stack([[e, episode[e], step[e]] for e in range(n_envs)]).astype(np.float32)
        lengths = [episode_lengths[e][length_index[e] % len(episode_lengths[e])] for e in range(n_envs)]
        done = np.array([step[e] + 1 == lengths[e] for e in range(n_envs)])
        truncated = np.array([done[e] and episode[e] % truncate_every == 0 for e in range(n_envs)])
        final = np.stack([[e, episode[e], step[e] + 1] for e in range(n_envs)]).astype(np.float32)
        infos = [{"TimeLimit.truncated": bool(truncated[e])} for e in range(n_envs)]
        buffer.add(obs, final, np.zeros((n_envs, 1)), np.ones(n_envs), done.astype(np.float32), infos)
        truth.append([(tuple(obs[e]), tuple(final[e]), bool(done[e] and not truncated[e])) for e in range(n_envs)])
        for e in range(n_envs):
            if done[e]:
                episode[e], step[e], length_index[e] = episode[e] + 1, 0, length_index[e] + 1
            else:
                step[e] += 1
    return truth


def stored_slots(buffer: ContextReplayBuffer) -> np.ndarray:
    """Slots that sample() may return (SB3's optimize_memory_usage rule)."""
    if buffer.full:
        return (np.arange(1, buffer.buffer_size) + buffer.pos) % buffer.buffer_size
    return np.arange(buffer.pos)


@pytest.mark.parametrize("buffer_size, n_steps", [(64, 40), (13, 40), (10, 10), (7, 23)])
def test_windows_stay_in_their_env_and_episode(buffer_size, n_steps):
    """Each window x_{t-C}..x_t holds the same env and episode, consecutive steps, clipped at the episode's first
    observation or, once the ring buffer has overwritten it, at the oldest observation still stored."""
    context_size, n_envs = 4, 3
    buffer = ContextReplayBuffer(buffer_size * n_envs, OBS_SPACE, spaces.Discrete(2), n_envs=n_envs, context_size=context_size)
    fill(buffer, [[3, 7], [1, 2, 9], [40]], n_steps)
    oldest = (buffer.pos + 1) % buffer.buffer_size if buffer.full else 0
    for slot in stored_slots(buffer):
        for env in range(n_envs):
            window = buffer.observations[buffer.window_indices(np.array([slot]), np.array([env]))[0], env]
            env_ids, episodes, steps = window.T
            t = int(buffer.observations[slot, env, 2])
            stored_back = (slot - oldest) % buffer.buffer_size  # how far back observations are still stored
            first_step = max(t - stored_back, 0)
            assert (env_ids == env).all() and (episodes == episodes[-1]).all()
            expected_steps = [max(t - k, first_step) for k in range(context_size, -1, -1)]
            np.testing.assert_array_equal(steps, expected_steps)


def test_samples_next_observations_dones_and_windows():
    context_size, n_envs = 3, 2
    buffer = ContextReplayBuffer(30 * n_envs, OBS_SPACE, spaces.Discrete(2), n_envs=n_envs, context_size=context_size)
    truth = fill(buffer, [[4, 2, 6], [5]], 50)  # wraps: pos = 50 % 30
    by_obs = {obs: (final, terminated) for step in truth for obs, final, terminated in step}
    np.random.seed(0)
    data = buffer.sample(400)
    columns = (data.observations, data.next_observations, data.dones, data.context_observations)
    for obs, next_obs, done, window in zip(*(column.numpy() for column in columns), strict=True):
        final, terminated = by_obs[tuple(obs)]
        np.testing.assert_array_equal(next_obs, final)  # also at episode ends: the true final observation
        assert done[0] == float(terminated)  # truncation bootstraps, termination does not
        np.testing.assert_array_equal(window[-1], obs)
        assert (window[:, :2] == obs[:2]).all()


def test_truncate_last_trajectory_keeps_the_final_observation_and_separates_episodes():
    buffer = ContextReplayBuffer(20, OBS_SPACE, spaces.Discrete(2), n_envs=1, context_size=3)
    fill(buffer, [[100]], 5)  # an episode in progress: steps 0..4
    buffer.truncate_last_trajectory()
    # The env is reset: a new episode (id 7) starts and overwrites the slot that held the old next observation.
    for step in range(3):
        obs, next_obs = np.array([[0, 7, step]], np.float32), np.array([[0, 7, step + 1]], np.float32)
        buffer.add(obs, next_obs, np.zeros((1, 1)), np.ones(1), np.zeros(1), [{}])
    np.random.seed(1)
    data = buffer._get_samples(np.array([4, 5, 7]))
    np.testing.assert_array_equal(data.next_observations.numpy()[0], [0, 0, 5])  # the truncated episode's real next obs
    assert data.dones.numpy()[0, 0] == 0.0  # a truncation, bootstrapped through
    np.testing.assert_array_equal(data.context_observations.numpy()[1, :, 1], [7, 7, 7, 7])  # new episode only
    np.testing.assert_array_equal(data.context_observations.numpy()[2, :, 2], [0, 0, 1, 2])


WITH_CONTEXT = {"net_arch": [8], "recurrent_connections": True, "forward_connections": True}


def test_replay_buffer_save_load_round_trip(tmp_path):
    model = ARQ("MlpPolicy", "CartPole-v1", learning_starts=1000, context_size=3, policy_kwargs=WITH_CONTEXT, seed=0)
    model.learn(300)
    model.save_replay_buffer(tmp_path / "buffer.pkl")
    loaded = ARQ("MlpPolicy", "CartPole-v1", learning_starts=1000, context_size=3, policy_kwargs=WITH_CONTEXT, seed=0)
    loaded.load_replay_buffer(tmp_path / "buffer.pkl")
    original, restored = model.replay_buffer, loaded.replay_buffer
    assert restored.pos == original.pos == 300 and restored.context_size == 3
    np.testing.assert_array_equal(restored.observations, original.observations)
    np.testing.assert_array_equal(restored.step_in_episode, original.step_in_episode)
    assert restored.final_observations.keys() == original.final_observations.keys() and len(original.final_observations) > 3
    np.random.seed(0)
    a = original.sample(64)
    np.random.seed(0)
    b = restored.sample(64)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x.numpy(), y.numpy())


def test_bad_context_size():
    with pytest.raises(ValueError, match="context_size"):
        ContextReplayBuffer(10, OBS_SPACE, spaces.Discrete(2), context_size=-1)


def fill_both(buffer_size: int, n_steps: int, context_size: int, obs_space=OBS_SPACE, n_envs: int = 3):
    """A ContextReplayBuffer and a DeviceContextReplayBuffer fed the same episodes (terminations and truncations)."""
    buffers = [
        cls(buffer_size * n_envs, obs_space, spaces.Discrete(3), device="cpu", n_envs=n_envs, context_size=context_size)
        for cls in (ContextReplayBuffer, DeviceContextReplayBuffer)
    ]
    for buffer in buffers:
        fill(buffer, [[3, 7], [1, 2, 9], [40]], n_steps)
    return buffers


@pytest.mark.parametrize("context_size", [0, 1, 3])
@pytest.mark.parametrize("buffer_size, n_steps", [(64, 40), (13, 40), (10, 10), (7, 23)])
def test_device_buffer_gathers_what_the_numpy_buffer_gathers(context_size, buffer_size, n_steps):
    numpy_buffer, device_buffer = fill_both(buffer_size, n_steps, context_size)
    assert numpy_buffer.full == device_buffer.full == (n_steps >= buffer_size) and numpy_buffer.pos == device_buffer.pos
    slots, envs = np.meshgrid(stored_slots(numpy_buffer), np.arange(3), indexing="ij")
    slots, envs = slots.ravel(), envs.ravel()
    expected = numpy_buffer.samples_at(slots, envs)
    found = device_buffer.samples_at(th.as_tensor(slots), th.as_tensor(envs))
    for name, x, y in zip(expected._fields, expected, found, strict=True):
        if x is None:
            assert y is None and context_size == 0, name
        else:
            assert x.dtype == y.dtype and th.equal(x, y), name
    if context_size > 0:
        np.testing.assert_array_equal(
            numpy_buffer.window_indices(slots, envs), device_buffer.window_indices(th.as_tensor(slots), th.as_tensor(envs))
        )


@pytest.mark.parametrize("buffer_size, n_steps", [(10, 7), (10, 10), (10, 23), (10, 30)])
def test_device_buffer_samples_exactly_the_slots_the_numpy_buffer_samples(buffer_size, n_steps):
    numpy_buffer, device_buffer = fill_both(buffer_size, n_steps, 2)
    written = range(min(n_steps + 1, buffer_size))  # (env, episode, step) observations: unique where written
    slot_of = {tuple(device_buffer.observations[slot, env].tolist()): slot for slot in written for env in range(3)}
    data = device_buffer.sample(4000)
    sampled = {slot_of[tuple(obs)] for obs in data.observations.tolist()}
    assert sampled == set(stored_slots(numpy_buffer).tolist())  # every valid slot, and only those (not pos when full)
    assert {int(obs[0]) for obs in data.observations.tolist()} == {0, 1, 2}  # every env


def test_device_buffer_rejects_what_it_cannot_sample():
    buffer = DeviceContextReplayBuffer(20, OBS_SPACE, spaces.Discrete(2), device="cpu", context_size=2)
    with pytest.raises(ValueError, match="no transition"):
        buffer.sample(4)
    fill(buffer, [[5]], 6)
    normalize = type("VecNormalizeLike", (), {"norm_obs": True, "norm_reward": False})()
    with pytest.raises(ValueError, match="VecNormalize"):
        buffer.sample(4, env=normalize)


def test_device_buffer_truncate_last_trajectory_matches_the_numpy_buffer():
    buffers = [
        cls(20, OBS_SPACE, spaces.Discrete(2), device="cpu", context_size=3)
        for cls in (ContextReplayBuffer, DeviceContextReplayBuffer)
    ]
    for buffer in buffers:
        fill(buffer, [[100]], 5)
        buffer.truncate_last_trajectory()
        for step in range(3):
            obs, next_obs = np.array([[0, 7, step]], np.float32), np.array([[0, 7, step + 1]], np.float32)
            buffer.add(obs, next_obs, np.zeros((1, 1)), np.ones(1), np.zeros(1), [{}])
    slots = np.arange(8)
    expected = buffers[0].samples_at(slots, np.zeros(8, int))
    found = buffers[1].samples_at(th.as_tensor(slots), th.zeros(8, dtype=th.int64))
    for name, x, y in zip(expected._fields, expected, found, strict=True):
        assert th.equal(x, y), name
    np.testing.assert_array_equal(found.next_observations[4].numpy(), [0, 0, 5])
    assert found.dones[4, 0] == 0.0


def test_device_buffer_keeps_minatar_bool_observations_and_no_numpy_storage():
    env = make_vec_env("MinAtar/Breakout-v1", n_envs=2, seed=0)
    buffers = [
        cls(50, env.observation_space, env.action_space, device="cpu", n_envs=2, context_size=2)
        for cls in (ContextReplayBuffer, DeviceContextReplayBuffer)
    ]
    env.action_space.seed(0)
    obs = env.reset()
    for _ in range(40):  # wraps (25 slots per env); Breakout episodes of a random policy end within it
        actions = np.array([env.action_space.sample() for _ in range(2)])
        next_obs, rewards, dones, infos = env.step(actions)
        final = np.stack(
            [info["terminal_observation"] if done else o for o, done, info in zip(next_obs, dones, infos, strict=True)]
        )
        for buffer in buffers:
            buffer.add(obs, final, actions, rewards, dones, infos)
        obs = next_obs
    env.close()
    numpy_buffer, device_buffer = buffers
    assert device_buffer.observations.dtype == device_buffer.next_observations.dtype == th.bool
    assert device_buffer.observations.shape == (25, 2, 10, 10, 4) and device_buffer.observations.any()
    assert numpy_buffer.dones.any()
    slots, envs = np.meshgrid(stored_slots(numpy_buffer), np.arange(2), indexing="ij")
    expected = numpy_buffer.samples_at(slots.ravel(), envs.ravel())
    found = device_buffer.samples_at(th.as_tensor(slots.ravel()), th.as_tensor(envs.ravel()))
    for name, x, y in zip(expected._fields, expected, found, strict=True):
        assert x.dtype == y.dtype and th.equal(x, y), name
    assert found.observations.dtype == found.context_observations.dtype == th.bool  # as ContextReplayBuffer's to_torch
    # No numpy copy of the storage: the only arrays left are the per-env step counters.
    arrays = {name: value.shape for name, value in vars(device_buffer).items() if isinstance(value, np.ndarray)}
    assert arrays == {"_current_step": (2,)}


def test_device_buffer_is_reproducible_and_round_trips_through_pickle(tmp_path):
    def seeded_buffer():
        set_random_seed(3)
        return fill_both(13, 40, 3)[1]

    a, b = seeded_buffer(), seeded_buffer()
    save_to_pkl(tmp_path / "buffer.pkl", a)  # what model.save_replay_buffer does
    restored = load_from_pkl(tmp_path / "buffer.pkl")
    assert isinstance(restored.generator, th.Generator) and restored.pos == a.pos and restored.full
    for data in zip(a.sample(64), b.sample(64), restored.sample(64), strict=True):
        assert th.equal(data[0], data[1]) and th.equal(data[0], data[2])
    assert not th.equal(a.sample(64).observations, seeded_buffer().sample(64).observations)  # the generator advances


def test_device_buffer_leaves_the_initial_parameters_as_the_numpy_buffer_does():
    """Seeding the buffer's generator draws from torch's global RNG without advancing it: same seed, same policy."""
    models = [
        ARQ("MlpPolicy", "CartPole-v1", replay_buffer_class=cls, learning_starts=10, seed=5, device="cpu")
        for cls in (ContextReplayBuffer, DeviceContextReplayBuffer)
    ]
    pairs = list(zip(*(model.policy.state_dict().values() for model in models), strict=True))
    assert all(th.equal(a, b) for a, b in pairs)


@pytest.mark.parametrize("buffer_class", [ContextReplayBuffer, DeviceContextReplayBuffer])
def test_overwritten_slot_loses_its_truncation_flag(buffer_class):
    """Without handle_timeout_termination, a truncate_last_trajectory() flag must not outlive its transition."""
    buffer = buffer_class(4, OBS_SPACE, spaces.Discrete(2), device="cpu", handle_timeout_termination=False, context_size=0)
    fill(buffer, [[100]], 2)
    buffer.truncate_last_trajectory()
    assert buffer.timeouts[1, 0] == 1.0
    fill(buffer, [[100]], 4)  # wraps over slot 1
    assert buffer.timeouts[1, 0] == 0.0
