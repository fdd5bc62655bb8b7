"""
The benchmark environments (docs/algorithm.md, "9. Environments and action codes"): registration, bang-bang index
order, flattening, MinAtar's network.
"""

import subprocess
import sys
import warnings

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from stable_baselines3 import DQN
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import VecFrameStack

import sb3_arq.envs
from sb3_arq import ARQ
from sb3_arq.baselines import MinAtarCNN
from sb3_arq.envs import (
    DMC_ENV_IDS,
    ENV_IDS,
    MINATAR_ENV_IDS,
    BangBangWrapper,
    FlattenDictObservation,
    ShiftReward,
    bang_bang_actions,
)

# (channels, actions) per MinAtar game and (flat obs size, action dims) per DeepMind Control task
MINATAR_SHAPES = {
    "MinAtar/Breakout-v1": (4, 3),
    "MinAtar/Freeway-v1": (7, 3),
    "MinAtar/SpaceInvaders-v1": (6, 4),
    "MinAtar/Seaquest-v1": (10, 6),
    "MinAtar/Asterix-v1": (4, 5),
}
DMC_SHAPES = {
    "dm_control/walker-walk-v0": (24, 6),
    "dm_control/walker-run-v0": (24, 6),
    "dm_control/hopper-hop-v0": (15, 4),
    "dm_control/cheetah-run-v0": (17, 6),
    "dm_control/reacher-hard-v0": (6, 2),
}


class RecordActionEnv(gym.Env):
    """One-step env with a Box action space that remembers the last action it received."""

    def __init__(self, n_dims: int = 3, dtype=np.float32, low=-1.0, high=1.0):
        self.observation_space = spaces.Box(-1.0, 1.0, (2,), np.float32)
        self.action_space = spaces.Box(low, high, (n_dims,), dtype)
        self.last_action = None

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(2, np.float32), {}

    def step(self, action):
        self.last_action = np.array(action)
        return np.zeros(2, np.float32), 0.0, True, False, {}


def test_env_id_lists():
    assert set(MINATAR_ENV_IDS) == set(MINATAR_SHAPES)
    assert set(DMC_ENV_IDS) == set(DMC_SHAPES)
    assert ENV_IDS == MINATAR_ENV_IDS + DMC_ENV_IDS


def test_registration_is_idempotent():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # gymnasium warns when an id is registered again
        assert sb3_arq.envs.register_minatar_envs()
        assert sb3_arq.envs.register_dm_control_envs()
    for game in ("Breakout", "Freeway", "SpaceInvaders", "Seaquest", "Asterix"):
        assert f"MinAtar/{game}-v0" in gym.registry
        assert f"MinAtar/{game}-v1" in gym.registry


@pytest.mark.parametrize("env_id", MINATAR_ENV_IDS)
def test_minatar_env(env_id):
    n_channels, n_actions = MINATAR_SHAPES[env_id]
    env = gym.make(env_id)
    assert env.observation_space == spaces.Box(0.0, 1.0, (10, 10, n_channels), bool)
    assert env.action_space == spaces.Discrete(n_actions)
    obs, _ = env.reset(seed=0)
    assert obs.dtype == np.bool_ and obs.shape == (10, 10, n_channels)
    for action in range(n_actions):
        obs, reward, terminated, truncated, _ = env.step(action)
        assert obs.dtype == np.bool_ and env.observation_space.contains(obs)
        assert np.isscalar(reward) and isinstance(terminated, bool) and not truncated
        if terminated:
            env.reset()
    env.close()


@pytest.mark.parametrize("env_id", DMC_ENV_IDS)
def test_dm_control_env(env_id):
    obs_size, n_dims = DMC_SHAPES[env_id]
    raw_env = gym.make(env_id)
    assert isinstance(raw_env.observation_space, spaces.Dict)
    assert raw_env.action_space == spaces.Box(-1.0, 1.0, (n_dims,), np.float64)
    env = BangBangWrapper(FlattenDictObservation(raw_env))
    assert env.observation_space.shape == (obs_size,) and env.observation_space.dtype == np.float32
    assert env.action_space == spaces.Discrete(2**n_dims)
    obs, _ = env.reset(seed=0)
    assert obs.dtype == np.float32 and env.observation_space.contains(obs)
    for action in (0, 2**n_dims - 1, 1):
        obs, reward, terminated, truncated, _ = env.step(action)
        assert obs.shape == (obs_size,) and obs.dtype == np.float32
        assert 0.0 <= reward <= 1.0 and not terminated and not truncated
    env.close()


def test_dm_control_episode_is_1000_steps_and_truncated():
    env = BangBangWrapper(FlattenDictObservation(gym.make("dm_control/reacher-hard-v0")))
    env.reset(seed=0)
    for step in range(1, 1001):
        _, _, terminated, truncated, _ = env.step(step % 4)
        if terminated or truncated:
            break
    assert step == 1000 and truncated and not terminated


def test_flatten_dict_observation_concatenates_in_key_order():
    env = FlattenDictObservation(gym.make("dm_control/walker-walk-v0"))
    obs, _ = env.reset(seed=3)
    raw_env = gym.make("dm_control/walker-walk-v0")
    raw_obs, _ = raw_env.reset(seed=3)
    assert list(raw_env.observation_space.spaces) == ["height", "orientations", "velocity"]
    expected = np.concatenate([np.ravel(raw_obs[key]) for key in raw_env.observation_space.spaces]).astype(np.float32)
    np.testing.assert_array_equal(obs, expected)


@pytest.mark.parametrize(
    ("n_dims", "index", "corner"),
    [
        (1, 0, [-1]),
        (1, 1, [1]),
        (2, 0, [-1, -1]),
        (2, 1, [-1, 1]),
        (2, 2, [1, -1]),
        (2, 3, [1, 1]),
        (3, 1, [-1, -1, 1]),
        (3, 4, [1, -1, -1]),
        (3, 6, [1, 1, -1]),
        (6, 0, [-1] * 6),
        (6, 63, [1] * 6),
        (6, 0b100101, [1, -1, -1, 1, -1, 1]),
    ],
)
def test_bang_bang_index_order(n_dims, index, corner):
    """Dimension i is +1 iff bit (dim - 1 - i) of the index is set (first dimension = MSB)."""
    np.testing.assert_array_equal(bang_bang_actions(n_dims)[index], np.array(corner, np.float32))
    env = BangBangWrapper(RecordActionEnv(n_dims))
    env.reset()
    env.step(index)
    np.testing.assert_array_equal(env.unwrapped.last_action, np.array(corner, np.float32))


def test_bang_bang_wrapper_spaces_and_errors():
    env = BangBangWrapper(RecordActionEnv(4, dtype=np.float64))
    assert env.action_space == spaces.Discrete(16)
    assert env.corners.shape == (16, 4) and env.corners.dtype == np.float64
    # every corner once, each a +-1 vector, unscaled
    assert len({tuple(c) for c in env.corners}) == 16 and set(np.unique(env.corners)) == {-1.0, 1.0}
    env.reset()
    env.step(np.int64(5))  # numpy integers, as SB3 passes them
    np.testing.assert_array_equal(env.unwrapped.last_action, [-1, 1, -1, 1])
    with pytest.raises(TypeError):
        BangBangWrapper(gym.make("CartPole-v1"))
    with pytest.raises(ValueError):
        BangBangWrapper(RecordActionEnv(17))


def test_bang_bang_wrapper_declares_its_action_code_through_vec_env():
    """ARQ's action_encoding="auto" reads the wrapper's ``action_encoding`` through the VecEnv, under SB3/rl-zoo3's own
    wrappers (Monitor, VecFrameStack)."""
    vec_env = make_vec_env(
        "dm_control/reacher-hard-v0", n_envs=1, wrapper_class=lambda env: BangBangWrapper(FlattenDictObservation(env))
    )
    assert vec_env.get_attr("action_encoding") == ["binary"]
    assert vec_env.action_space == spaces.Discrete(4)
    vec_env.close()
    pendulum = VecFrameStack(make_vec_env("Pendulum-v1", n_envs=2, wrapper_class=BangBangWrapper), n_stack=2)
    assert ARQ("MlpPolicy", pendulum, buffer_size=100, device="cpu").policy.action_encoding == "binary"
    assert ARQ("MlpPolicy", "CartPole-v1", buffer_size=100, device="cpu").policy.action_encoding == "onehot"


def test_minatar_observations_stay_bool_in_replay_buffers():
    """SB3 buffers take the dtype of the observation space: MinAtar grids are stored as 1-byte bools."""
    env = gym.make("MinAtar/Seaquest-v1")
    buffer = ReplayBuffer(1000, env.observation_space, env.action_space)
    assert buffer.observations.dtype == np.bool_ and buffer.observations.nbytes == 1000 * 10 * 10 * 10
    model = DQN(
        "MlpPolicy",
        "MinAtar/Breakout-v1",
        buffer_size=500,
        learning_starts=100,
        batch_size=8,
        policy_kwargs=dict(features_extractor_class=MinAtarCNN, net_arch=[]),
        device="cpu",
        seed=0,
    )
    model.learn(150)
    assert model.replay_buffer.observations.dtype == np.bool_
    assert model.replay_buffer.next_observations.dtype == np.bool_
    assert model.replay_buffer.observations[:150].any()
    env.close()


def test_minatar_cnn_matches_the_paper_network():
    observation_space = spaces.Box(0.0, 1.0, (10, 10, 7), bool)
    extractor = MinAtarCNN(observation_space)
    assert extractor.features_dim == 128
    conv = extractor.cnn[0]
    assert (conv.in_channels, conv.out_channels) == (7, 16)
    assert (conv.kernel_size, conv.stride, conv.padding) == ((3, 3), (1, 1), (0, 0))
    assert extractor.linear[0].in_features == 16 * 8 * 8
    n_params = sum(p.numel() for p in extractor.parameters())
    assert n_params == (7 * 9 * 16 + 16) + (1024 * 128 + 128)
    # channel-last bool observations are moved to channel-first before the convolution
    obs = th.as_tensor(np.random.default_rng(0).random((5, 10, 10, 7)) < 0.3)
    with th.no_grad():
        features = extractor(obs.float())
        expected = extractor.linear(th.relu(conv(obs.float().permute(0, 3, 1, 2))).flatten(1))
    assert features.shape == (5, 128)
    th.testing.assert_close(features, expected)


def test_arq_imports_no_environment_package_and_registers_a_family_on_demand():
    """Building ARQ on CartPole imports none of the benchmark packages; a MinAtar id works after ``import sb3_arq`` alone
    and imports MinAtar only (a fresh interpreter, so that no other test's imports count)."""
    script = """
import sys
import sb3_arq
sb3_arq.ARQ("MlpPolicy", "CartPole-v1", buffer_size=100)
print(sorted({name.split(".")[0] for name in sys.modules} & {"minatar", "shimmy", "dm_control", "mujoco"}))
sb3_arq.ARQ("MlpPolicy", "MinAtar/Breakout-v1", buffer_size=100)
print(sorted({name.split(".")[0] for name in sys.modules} & {"minatar", "shimmy", "dm_control", "mujoco"}))
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.splitlines() == ["[]", "['minatar']"]


def test_bang_bang_wrapper_sends_the_corners_of_the_box():
    """Each dimension gets the Box's own low or high bound: Pendulum's full +-2 torque, any asymmetric box."""
    low, high = np.array([-2.0, 0.0, -0.5], np.float32), np.array([2.0, 1.0, 3.0], np.float32)
    env = BangBangWrapper(RecordActionEnv(3, low=low, high=high))
    env.reset()
    for index, corner in ((0, [-2.0, 0.0, -0.5]), (0b101, [2.0, 0.0, 3.0]), (0b011, [-2.0, 1.0, 3.0]), (7, [2.0, 1.0, 3.0])):
        env.step(index)
        np.testing.assert_array_equal(env.unwrapped.last_action, np.array(corner, np.float32))

    pendulum = BangBangWrapper(gym.make("Pendulum-v1"))
    assert pendulum.action_space == spaces.Discrete(2)
    np.testing.assert_array_equal(pendulum.corners, np.array([[-2.0], [2.0]], np.float32))
    assert pendulum.corners.dtype == np.float32
    raw = gym.make("Pendulum-v1")
    pendulum.reset(seed=0)
    raw.reset(seed=0)
    for index in (1, 1, 0, 1):
        obs, reward, *_ = pendulum.step(index)
        raw_obs, raw_reward, *_ = raw.step(np.array([2.0 if index else -2.0], np.float32))
        np.testing.assert_array_equal(obs, raw_obs)
        assert reward == raw_reward

    with pytest.raises(ValueError, match="finite low and high bounds"):
        BangBangWrapper(RecordActionEnv(2, low=-np.inf, high=np.inf))


def test_minatar_renders_watchable_uint8_frames():
    """rgb_array frames: uint8, 160x160 (16 px per cell), the game's objects in colour; observations and dynamics are
    MinAtar's own (same states as minatar.gym's env under the same seed and actions)."""
    from minatar.gym import BaseEnv

    env = gym.make("MinAtar/SpaceInvaders-v1", render_mode="rgb_array")
    reference = BaseEnv("space_invaders", use_minimal_action_set=True)
    obs, _ = env.reset(seed=3)
    reference_obs, _ = reference.reset(seed=3)
    for step in range(30):
        frame = env.render()
        assert frame.dtype == np.uint8 and frame.shape == (160, 160, 3)
        # every occupied cell is a non-black 16x16 block, every empty cell a black one
        blocks = frame.reshape(10, 16, 10, 16, 3)
        assert (blocks == blocks[:, :1, :, :1]).all()
        np.testing.assert_array_equal(blocks[:, 0, :, 0].any(axis=-1), obs.any(axis=-1))
        assert len(np.unique(frame.reshape(-1, 3), axis=0)) >= 3  # background and at least two kinds of object
        np.testing.assert_array_equal(obs, reference_obs)
        action = step % env.action_space.n
        obs, reward, terminated, *_ = env.step(action)
        reference_obs, reference_reward, *_ = reference.step(action)
        assert reward == reference_reward
        if terminated:
            break
    with pytest.raises(ValueError, match="cell_pixels"):
        gym.make("MinAtar/Breakout-v1", cell_pixels=0)


class ChooseLengthEnv(gym.Env):
    """-1 per step (Acrobot/MountainCar-like); action 1 reaches the goal (terminates), action 0 goes on."""

    observation_space = spaces.Box(0.0, 1.0, (1,), np.float32)
    action_space = spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(1, np.float32), {}

    def step(self, action):
        return np.zeros(1, np.float32), -1.0, bool(action == 1), False, {}


@pytest.mark.parametrize("shift, gamma, scale", [(1.0, 0.99, 1.0), (1.0, 0.9, 0.1), (3.0, 0.5, 2.0)])
def test_shift_reward_keeps_the_optimal_policy(shift, gamma, scale):
    """Every episode's discounted return becomes scale * (return + shift / (1 - gamma)): rewards >= 0, and reaching the
    goal sooner is still better (a plain +1 would make every length worth 0)."""
    env = ShiftReward(ChooseLengthEnv(), shift=shift, gamma=gamma, scale=scale)
    shifted_returns = []
    for length in range(1, 8):
        env.reset()
        rewards = [env.step(int(step == length - 1))[1] for step in range(length)]
        assert min(rewards) >= 0.0
        discounts = gamma ** np.arange(length)
        original_return = -discounts.sum()
        shifted_returns.append(float(discounts @ rewards))
        assert shifted_returns[-1] == pytest.approx(scale * (original_return + shift / (1 - gamma)))
    assert shifted_returns == sorted(shifted_returns, reverse=True) and len(set(shifted_returns)) == 7


def test_shift_reward_on_acrobot_and_errors():
    env = ShiftReward(gym.make("Acrobot-v1", max_episode_steps=20), shift=1.0, gamma=0.99)
    env.reset(seed=0)
    for _ in range(20):
        _, reward, terminated, truncated, _ = env.step(0)
        assert reward == 0.0 and not terminated  # -1 + 1; no end bonus on truncation by the time limit
    assert truncated
    for bad in (dict(gamma=1.0), dict(gamma=-0.1)):
        with pytest.raises(ValueError, match="gamma"):
            ShiftReward(gym.make("Acrobot-v1"), shift=1.0, **bad)
    with pytest.raises(ValueError, match="scale"):
        ShiftReward(gym.make("Acrobot-v1"), shift=1.0, gamma=0.99, scale=0.0)
