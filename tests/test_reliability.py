"""Bad input gets one clear error, replay buffers and states are checked, SB3's contracts hold (issue: reliability)."""

import warnings

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from stable_baselines3 import DQN
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.save_util import load_from_zip_file

from sb3_arq import ARQ
from tests.conftest import SMALL, small_model


def test_load_replay_buffer_refuses_what_does_not_fit(tmp_path):
    model = small_model()
    model.learn(50)
    model.save_replay_buffer(tmp_path / "context3")
    no_context = small_model(
        policy_kwargs={**SMALL["policy_kwargs"], "recurrent_connections": False, "forward_connections": False}
    )
    no_context.learn(50)
    no_context.save_replay_buffer(tmp_path / "no_context")
    DQN("MlpPolicy", "CartPole-v1", buffer_size=100).save_replay_buffer(tmp_path / "dqn")
    small_model(make_vec_env("CartPole-v1", n_envs=4), buffer_size=400).save_replay_buffer(tmp_path / "four_envs")
    small_model("Acrobot-v1").save_replay_buffer(tmp_path / "acrobot")

    target = small_model(context_size=5)
    own = target.replay_buffer
    cases = {
        "context3": r"context_size 3 \(this model: 5\)",
        "no_context": r"context_size 0 \(this model: 5\)",
        "dqn": "needs a ContextReplayBuffer.*holds a ReplayBuffer",
        "four_envs": r"n_envs 4 \(this model: 1\)",
        "acrobot": "observation_space Box.*action_space Discrete",
    }
    for name, message in cases.items():
        with pytest.raises(ValueError, match=message):
            target.load_replay_buffer(tmp_path / name)
        assert target.replay_buffer is own  # nothing modified
    small_model(context_size=3).load_replay_buffer(tmp_path / "context3")  # a fitting buffer loads


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"batch_size": 0}, r"batch_size must be an int >= 1, got 0"),
        ({"batch_size": -4}, r"batch_size must be an int >= 1, got -4"),
        ({"buffer_size": 1}, r"buffer_size must hold at least 2 transitions per env, i.e. >= 2 for 1 env\(s\), got 1"),
        ({"gamma": 1.5}, r"gamma must be in \[0.0, 1.0\], got 1.5"),
        ({"gamma": -0.1}, r"gamma must be in \[0.0, 1.0\]"),
        ({"tau": 0.0}, r"tau must be in \(0.0, 1.0\], got 0.0"),
        ({"tau": 1.5}, r"tau must be in \(0.0, 1.0\]"),
        ({"max_grad_norm": 0}, r"max_grad_norm must be in \(0.0, inf\], got 0"),
        ({"target_update_interval": 0}, r"target_update_interval must be an int >= 1, got 0"),
        ({"train_freq": 0}, r"train_freq must be an int >= 1, got 0"),
        ({"train_freq": (2, "epoch")}, r'train_freq must be an int >= 1 or a tuple \(n, "step" \| "episode"\)'),
        ({"gradient_steps": -2}, r"gradient_steps must be an int >= 0 or -1, got -2"),
        ({"learning_rate": -1e-3}, r"learning_rate must be in \[0.0, inf\], got -0.001"),
        ({"exploration_final_eps": 2.0}, r"exploration_final_eps must be in \[0.0, 1.0\]"),
        ({"context_size": 0}, r"context_size must be an int >= 1, got 0"),
    ],
)
def test_numbers_are_checked_at_construction(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ARQ("MlpPolicy", "CartPole-v1", **kwargs)


def test_gradient_steps_zero_collects_without_updating():
    """As in SB3's off-policy algorithms: 0 gradient steps fill the replay buffer and update nothing."""
    model = ARQ("MlpPolicy", "CartPole-v1", gradient_steps=0, learning_starts=10, device="cpu", seed=0)
    before = [p.detach().clone() for p in model.policy.parameters()]
    model.learn(60)
    assert model.replay_buffer.size() == 60 and model._n_updates == 0
    assert all(th.equal(a, b) for a, b in zip(before, model.policy.parameters(), strict=True))


class NaNAfterEnv(gym.Env):
    """CartPole-sized env whose observations (or rewards) become NaN after a number of steps."""

    def __init__(self, nan_after: int, what: str):
        self.observation_space = spaces.Box(-1.0, 1.0, (4,), np.float32)
        self.action_space = spaces.Discrete(2)
        self.nan_after, self.what, self.steps = nan_after, what, 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(4, np.float32), {}

    def step(self, action):
        self.steps += 1
        broken = self.steps > self.nan_after
        obs = np.full(4, np.nan if broken and self.what == "obs" else 0.1, np.float32)
        reward = np.nan if broken and self.what == "reward" else 1.0
        return obs, reward, False, self.steps % 50 == 0, {}


@pytest.mark.parametrize(
    "what, cause", [("obs", "sampled observations contain NaN or inf"), ("reward", "sampled rewards contain NaN or inf")]
)
def test_non_finite_training_stops_naming_the_cell_update_and_cause(what, cause):
    model = small_model(NaNAfterEnv(300, what), learning_starts=200, buffer_size=400)
    with pytest.raises(ValueError, match=rf"ARQ stopped: cell \d's (loss|Q) became nan at update \d+; the {cause}"):
        model.learn(600)
    assert model._n_updates < 100  # stopped, did not go on training


def test_divergence_names_the_likely_cause():
    model = small_model()
    model.learn(250)
    stats = np.zeros((1, 3 * 3 + 2))
    stats[0, 1], stats[0, -2:] = np.inf, 1.0  # cell 1's loss, finite inputs
    with pytest.raises(ValueError, match=r"cell 1's loss became inf at update \d+; the cell diverged: lower learning_rate"):
        model._check_training(stats, 3)


def test_dict_observations_say_what_to_wrap_the_env_in():
    env = gym.wrappers.TransformObservation(
        gym.make("CartPole-v1"),
        lambda obs: {"state": obs},
        spaces.Dict({"state": gym.make("CartPole-v1").observation_space}),
    )
    for policy in ("MlpPolicy", "MultiInputPolicy"):
        with pytest.raises(ValueError, match="FlattenDictObservation"):
            ARQ(policy, env)
    from sb3_arq.envs import FlattenDictObservation

    assert ARQ("MlpPolicy", FlattenDictObservation(env), buffer_size=100).policy.q_net.obs_dim == 4


class ImageEnv(gym.Env):
    """uint8 image observations, all 255."""

    observation_space = spaces.Box(0, 255, (3, 8, 8), np.uint8)
    action_space = spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.full((3, 8, 8), 255, np.uint8), {}

    def step(self, action):
        return np.full((3, 8, 8), 255, np.uint8), 1.0, False, False, {}


def test_uint8_images_are_scaled_and_cnn_policy_explains():
    model = ARQ("MlpPolicy", ImageEnv(), buffer_size=100)
    x = model.policy.flatten_obs(th.full((1, 3, 8, 8), 255, dtype=th.uint8))
    assert x.shape == (1, 192) and th.equal(x, th.ones(1, 192))
    assert ARQ("MlpPolicy", "MinAtar/Breakout-v1", buffer_size=100).policy.flatten_obs(th.ones(1, 10, 10, 4)).max() == 1
    with pytest.raises(ValueError, match="ARQ has no CnnPolicy: its cells read one flat observation vector"):
        ARQ("CnnPolicy", ImageEnv())
    with pytest.raises(ValueError, match=r"policy_kwargs has unknown key\(s\) \['features_extractor_class'\]"):
        ARQ("MlpPolicy", ImageEnv(), policy_kwargs={"features_extractor_class": object})


def test_predict_checks_the_state_it_is_given():
    small = small_model(policy_kwargs={"net_arch": [8, 8], "n_heads": 2})
    obs = np.zeros((4, 4), np.float32)
    _, state = small.predict(obs)
    with pytest.raises(ValueError, match=r"one array per cell of shapes \[\(2, 8\), \(2, 8\)\] \(n_envs = 2"):
        small.predict(obs[:2], state)
    with pytest.raises(ValueError, match=r"episode_start must have one flag per observation \(4\)"):
        small.predict(obs, state, episode_start=np.array([True, False]))
    wider = small_model(policy_kwargs={"net_arch": [16, 16], "n_heads": 2})
    with pytest.raises(ValueError, match=r"shapes \[\(4, 16\), \(4, 16\)\]"):
        wider.predict(obs, state)
    with pytest.raises(ValueError, match=r"got <class 'numpy\.ndarray'>"):
        small.predict(obs, state[0])


def test_set_parameters_raises_runtime_error_like_torch_strict_loading(tmp_path):
    model = small_model()
    model.save(tmp_path / "arq")
    _, params, _ = load_from_zip_file(tmp_path / "arq")
    del params["policy"]["q_net.cells.1.proj_1.weight"]
    with pytest.raises(RuntimeError, match=r"missing tensor\(s\) \['q_net.cells.1.proj_1.weight'\].*corrupted") as error:
        model.set_parameters(params)
    assert "policy_kwargs it was saved with" not in str(error.value)
    with pytest.raises(RuntimeError, match="the file has 3 cell"):
        ARQ.load(tmp_path / "arq", custom_objects={"policy_kwargs": {"net_arch": [8, 6], "n_heads": 2}})


def test_optimize_memory_usage_is_accepted_and_many_envs_warn_like_dqn():
    for optimize in (False, True):
        assert ARQ(
            "MlpPolicy", "CartPole-v1", buffer_size=100, optimize_memory_usage=optimize
        ).replay_buffer.optimize_memory_usage
    with pytest.warns(UserWarning, match="greater than the target network update interval"):
        ARQ("MlpPolicy", make_vec_env("CartPole-v1", n_envs=4), buffer_size=100, target_update_interval=2)


class BigRewardEnv(gym.Env):
    """Rewards of 5000 per step."""

    observation_space = spaces.Box(-1.0, 1.0, (4,), np.float32)
    action_space = spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return self.observation_space.sample(), {}

    def step(self, action):
        return self.observation_space.sample(), 5000.0, False, False, {}


def test_rewards_beyond_what_the_cells_represent_warn_once():
    model = small_model(BigRewardEnv(), buffer_size=1000)
    with pytest.warns(UserWarning, match="TD targets are up to .*x the largest Q its cells can represent") as record:
        model.learn(400)
    assert sum("largest Q" in str(w.message) for w in record) == 1
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*largest Q")  # CartPole's rewards of 1 fit
        small_model().learn(400)
