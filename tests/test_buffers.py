import numpy as np
import pytest
from gymnasium import spaces

from sb3_arq import ARQ
from sb3_arq.arq.buffers import ContextReplayBuffer

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


def test_replay_buffer_save_load_round_trip(tmp_path):
    model = ARQ("MlpPolicy", "CartPole-v1", learning_starts=1000, context_size=3, policy_kwargs={"net_arch": [8]}, seed=0)
    model.learn(300)
    model.save_replay_buffer(tmp_path / "buffer.pkl")
    loaded = ARQ("MlpPolicy", "CartPole-v1", learning_starts=1000, context_size=3, policy_kwargs={"net_arch": [8]}, seed=0)
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
