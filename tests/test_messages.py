"""
The messages a newcomer meets first: warnings point at the user's line (not SB3's), and the errors and warnings about
net_arch, Box actions and negative rewards say what was passed, what is valid and how to fix it, in Python and in an
rl-zoo3 hyperparameter entry (whose snippet is checked to work as rl-zoo3 reads it).
"""

import re
import warnings

import gymnasium as gym
import pytest
import yaml
from gymnasium import spaces
from rl_zoo3.utils import get_wrapper_class
from stable_baselines3.common.env_util import make_vec_env

from sb3_arq import ARQ

SMALL = dict(learning_starts=8, batch_size=4, buffer_size=100, policy_kwargs=dict(net_arch=[8], n_heads=2))


def yml_snippet(message: str, pattern: str) -> dict:
    """The snippets of a message (between backticks) that match ``pattern``, as rl-zoo3 reads a yml entry's keys."""
    return {
        key: value for snippet in re.findall(rf"`({pattern}[^`]*)`", message) for key, value in yaml.safe_load(snippet).items()
    }


def test_the_negative_reward_warning_points_at_the_users_line_and_says_how_to_shift_and_scale():
    model = ARQ("MlpPolicy", "Acrobot-v1", gamma=0.97, **SMALL)
    with pytest.warns(UserWarning, match="negative reward") as record:
        model.learn(20)
    (warning,) = [w for w in record if "negative reward" in str(w.message)]
    assert warning.filename == __file__
    message = str(warning.message)
    assert "ARQ received a negative reward (-1, -1 after reward_shift=0)" in message
    assert "minus the smallest reward the env can give per step" in message and "reward range" in message
    assert "reward_scale (now 0.1)" in message and "hyperparams/arq.yml" in message

    # The rl-zoo3 keys work as an entry's ARQ arguments: Acrobot's rewards are >= 0 after the shift, no warning
    entry = yml_snippet(message, "reward_")
    assert entry == {"reward_shift": 1.0, "reward_scale": 0.1}
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        ARQ("MlpPolicy", "Acrobot-v1", **entry, **SMALL).learn(20)


def test_the_other_warnings_point_at_the_users_line():
    with pytest.warns(UserWarning, match="greater than the target network update interval") as record:
        ARQ("MlpPolicy", make_vec_env("CartPole-v1", n_envs=2), target_update_interval=1, **SMALL)
    assert record[0].filename == __file__

    # Rewards of 1000 per step after reward_scale: TD targets far beyond what a width-8 cell's Q can represent
    model = ARQ("MlpPolicy", "CartPole-v1", reward_scale=1000.0, **SMALL)
    with pytest.warns(UserWarning, match="TD targets are up to") as record:
        model.learn(16)
    assert record[0].filename == __file__

    with pytest.warns(UserWarning, match="no update will happen") as record:
        ARQ("MlpPolicy", "CartPole-v1", **SMALL).learn(5)
    assert record[0].filename == __file__


@pytest.mark.parametrize(
    "net_arch, shown",
    [
        (dict(pi=[64, 64], qf=[64, 64]), "got the dict {'pi': [64, 64], 'qf': [64, 64]}: ARQ has one stack of cells"),
        (dict(qf=[64]), "got the dict {'qf': [64]}"),
        (64, "got 64"),
        ([64, 0], "got [64, 0]"),
        ([64.0], "got [64.0]"),
        ([], "got []"),
    ],
)
def test_a_net_arch_that_is_not_a_list_of_widths_is_refused_saying_what_was_passed_and_what_is_valid(net_arch, shown):
    with pytest.raises(ValueError) as error:
        ARQ("MlpPolicy", "CartPole-v1", policy_kwargs=dict(net_arch=net_arch))
    message = str(error.value)
    assert message.startswith("net_arch must be a list of ints, one width per cell, bottom to top")
    assert "e.g. net_arch=[64, 64] for two cells of width 64" in message and shown in message


def test_the_box_action_error_says_how_to_wrap_in_python_and_in_an_rl_zoo3_entry():
    with pytest.raises(ValueError, match="ARQ needs a Discrete action space") as error:
        ARQ("MlpPolicy", "Pendulum-v1")
    message = str(error.value)
    assert "ARQ('MlpPolicy', BangBangWrapper(env))" in message
    # The rl-zoo3 snippet works as an entry's env_wrapper: ARQ takes the wrapped env
    env = get_wrapper_class(yml_snippet(message, "env_wrapper: "))(gym.make("Pendulum-v1"))
    assert isinstance(env.action_space, spaces.Discrete) and env.action_space.n == 2
    with pytest.warns(UserWarning, match="negative reward"):  # Pendulum: rewards <= 0
        assert ARQ("MlpPolicy", env, **SMALL).learn(20).num_timesteps == 20


def test_verbose_learn_says_what_the_run_will_do_and_how_to_see_its_time_left(capsys):
    ARQ("MlpPolicy", "CartPole-v1", verbose=1, **SMALL).learn(20)
    out = capsys.readouterr().out
    assert "ARQ: 20 env steps, the first 8 of the run with random actions" in out and "progress_bar=True" in out
    ARQ("MlpPolicy", "CartPole-v1", **SMALL).learn(20)
    assert "ARQ:" not in capsys.readouterr().out
