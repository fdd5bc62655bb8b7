"""
SB3's contracts that a new user relies on first: every observation space SB3's DQN takes, through ``learn``,
``predict`` and ``evaluate_policy``; a saved run continued without a reset (``force_reset=False``). SB3's own test
cases run against ARQ as well (tests/upstream, docs/testing.md); these are the project's own, small and fast.
"""

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.envs import (
    FakeImageEnv,
    IdentityEnv,
    SimpleMultiObsEnv,
)
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.vec_env import DummyVecEnv

from sb3_arq import ARQ
from sb3_arq.envs import FlattenDictObservation

# A CPU-sized ARQ that trains from its 16th step on
SMALL = dict(learning_starts=16, batch_size=8, buffer_size=200, context_size=3, train_freq=2, target_update_interval=10)
SMALL_NET = dict(net_arch=[8, 8], n_heads=2)


class SpaceEnv(gym.Env):
    """
    Observations uniformly random in the given space, 3 actions, reward 1 for action 0, 10 steps per episode.

    :param observation_space: The observation space.
    """

    def __init__(self, observation_space: spaces.Space):
        self.observation_space = observation_space
        self.action_space = spaces.Discrete(3)
        self.steps = 0

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self.observation_space.seed(seed)
        self.steps = 0
        return self.observation_space.sample(), {}

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict]:
        self.steps += 1
        return self.observation_space.sample(), float(action == 0), False, self.steps >= 10, {}


# Every observation space SB3's DQN takes (a Dict through the documented wrapper), by name
SPACES = {
    "Discrete (FrozenLake-v1)": lambda: gym.make("FrozenLake-v1", max_episode_steps=30),
    "Discrete (Taxi-v4)": lambda: gym.make("Taxi-v4", max_episode_steps=30),
    "Discrete (CliffWalking-v1)": lambda: gym.make("CliffWalking-v1", max_episode_steps=30),
    "Discrete (IdentityEnv)": lambda: IdentityEnv(dim=4, ep_length=10),
    "MultiDiscrete": lambda: SpaceEnv(spaces.MultiDiscrete([3, 2, 4])),
    "MultiBinary": lambda: SpaceEnv(spaces.MultiBinary(5)),
    "MultiBinary 2-d": lambda: SpaceEnv(spaces.MultiBinary([2, 3])),
    "Box 1-d (CartPole-v1)": lambda: gym.make("CartPole-v1"),
    "Box 1-d float64": lambda: SpaceEnv(spaces.Box(-1.0, 1.0, (3,), dtype=np.float64)),
    "Box 2-d": lambda: SpaceEnv(spaces.Box(-1.0, 1.0, (3, 4))),
    "Box 4-d": lambda: SpaceEnv(spaces.Box(-1.0, 1.0, (2, 3, 2, 2))),
    "Box image, uint8, channel last": lambda: FakeImageEnv(screen_height=12, screen_width=12, n_channels=3, discrete=True),
    "Box image, uint8, channel first": lambda: FakeImageEnv(
        screen_height=12, screen_width=12, n_channels=1, discrete=True, channel_first=True
    ),
    "Dict (FlattenDictObservation)": lambda: FlattenDictObservation(SimpleMultiObsEnv(random_start=False)),
}


@pytest.mark.parametrize("n_envs", [1, 2])
@pytest.mark.parametrize("space", SPACES)
def test_every_observation_space_of_dqn_learns_predicts_and_evaluates(space, n_envs):
    env = make_vec_env(SPACES[space], n_envs=n_envs, seed=0)
    model = ARQ("MlpPolicy", env, policy_kwargs=SMALL_NET, seed=0, **SMALL).learn(40)
    assert model._n_updates > 0

    # One observation (not batched), then the env's batch, with and without the state through time
    single = env.observation_space.sample()
    action, state = model.predict(single, deterministic=True)
    assert np.shape(action) == () and model.action_space.contains(int(action))
    obs = env.reset()
    actions, state = model.predict(obs, episode_start=np.ones(n_envs, dtype=bool), deterministic=True)
    actions, _ = model.predict(obs, state=state, episode_start=np.zeros(n_envs, dtype=bool), deterministic=True)
    assert actions.shape == (n_envs,) and all(model.action_space.contains(int(a)) for a in actions)

    mean, _ = evaluate_policy(model, env, n_eval_episodes=2)
    assert np.isfinite(mean)


def test_predict_checks_observations_of_any_shape_for_nan():
    """The non-finite check of ``predict`` on n-d observations names the env; 1-d (Discrete) ones pass it."""
    model = ARQ("MlpPolicy", SpaceEnv(spaces.Box(-1.0, 1.0, (2, 3))), policy_kwargs=SMALL_NET, **SMALL)
    obs = np.zeros((3, 2, 3), dtype=np.float32)
    obs[1, 1, 2] = np.nan
    with pytest.raises(ValueError, match=r"env\(s\) \[1\] contains NaN or inf"):
        model.predict(obs)
    discrete = ARQ("MlpPolicy", IdentityEnv(dim=4), policy_kwargs=SMALL_NET, **SMALL)
    actions, _ = discrete.predict(np.array([0, 3, 1]), deterministic=True)
    assert actions.shape == (3,)


TIME_CONNECTIONS = {
    "connections through time": dict(recurrent_connections=True, forward_connections=True),
    "recurrent only": dict(recurrent_connections=True, forward_connections=False),
    "no connection through time": dict(recurrent_connections=False, forward_connections=False),
}


@pytest.mark.parametrize("graph_acting", [False, True])
@pytest.mark.parametrize("connections", TIME_CONNECTIONS)
def test_a_loaded_model_goes_on_without_a_reset(tmp_path, connections, graph_acting):
    """SB3's way to continue a run: ``load(path, env=env, force_reset=False)``, then ``learn(reset_num_timesteps=False)``."""
    env = DummyVecEnv([lambda: gym.make("CartPole-v1")] * 2)
    policy_kwargs = {**SMALL_NET, **TIME_CONNECTIONS[connections]}
    model = ARQ("MlpPolicy", env, policy_kwargs=policy_kwargs, graph_acting=graph_acting, seed=0, **SMALL).learn(40)
    model.save(tmp_path / "model.zip")
    last_obs = model._last_obs.copy()

    model = ARQ.load(tmp_path / "model.zip", env=env, force_reset=False)
    np.testing.assert_array_equal(model._last_obs, last_obs)  # the env is not reset: its episodes go on
    model.learn(40, reset_num_timesteps=False)
    assert model.num_timesteps == 80

    # The same without an env at load, which set_env then gives (force_reset=False: the episodes in progress go on)
    model.save(tmp_path / "model.zip")
    model = ARQ.load(tmp_path / "model.zip")
    model.set_env(env, force_reset=False)
    model.learn(40, reset_num_timesteps=False)
    assert model.num_timesteps == 120

    # set_env with a reset (SB3's default), then on without resetting the timesteps
    model.set_env(DummyVecEnv([lambda: gym.make("CartPole-v1")] * 2))
    model.learn(40, reset_num_timesteps=False)
    assert model.num_timesteps == 160


def test_a_file_with_another_optimizer_layout_is_refused_clearly(tmp_path):
    """SB3's DQN loads files whose optimizer is one torch optimizer (before SB3 2.4); ARQ has one per cell: a clear error."""
    model = ARQ("MlpPolicy", "CartPole-v1", policy_kwargs=SMALL_NET, **SMALL)
    model.policy.optimizer = th.optim.Adam(model.policy.parameters())
    model.save(tmp_path / "model.zip")
    with pytest.raises(ValueError, match="optimizer state is not ARQ's"):
        ARQ.load(tmp_path / "model.zip")
