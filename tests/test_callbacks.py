"""The paper's evaluation protocol (``sb3_arq.zoo.callbacks``) on DQN and ARQ: epsilon, the schedule, the npz layout."""

import os
import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3 import DQN
from stable_baselines3.common.callbacks import EvalCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.monitor import Monitor

from sb3_arq import ARQ
from sb3_arq.zoo.callbacks import EpsilonGreedyEvalCallback, EpsilonGreedyPredictor

ALGOS = {
    "dqn": lambda: DQN("MlpPolicy", "CartPole-v1", learning_starts=100, policy_kwargs={"net_arch": [16]}, seed=0),
    "arq": lambda: ARQ(
        "MlpPolicy",
        "CartPole-v1",
        learning_starts=100,
        batch_size=16,
        context_size=3,
        policy_kwargs={"net_arch": [16, 8], "recurrent_connections": True, "forward_connections": True},
        seed=0,
    ),
}


@pytest.mark.parametrize("algo", ALGOS)
def test_epsilon_replaces_the_greedy_action_at_its_rate(algo):
    """Epsilon 0 is the greedy action (and the model's state passes through); epsilon 0.05 changes the action of about
    0.05 * (1 - 1/2) of the steps (a random action may equal the greedy one), epsilon 1 of about half."""
    model = ALGOS[algo]()
    obs = np.stack([model.observation_space.sample() for _ in range(8000)])
    greedy, state = model.predict(obs, deterministic=True)
    actions, new_state = EpsilonGreedyPredictor(model, 0.0, seed=0).predict(obs)
    np.testing.assert_array_equal(actions, greedy)
    if algo == "arq":  # the context of the two calls (same observations, zero start) is the same
        assert all(np.array_equal(a, b) for a, b in zip(state, new_state, strict=True))
    for epsilon, low, high in ((0.05, 0.018, 0.032), (1.0, 0.47, 0.53)):
        changed = np.mean(EpsilonGreedyPredictor(model, epsilon, seed=1).predict(obs)[0] != greedy)
        print(f"{algo}: epsilon {epsilon}: {changed:.4f} of the actions changed")
        assert low < changed < high


def test_epsilon_zero_is_sb3_greedy_evaluation_with_the_context():
    """With epsilon 0, ARQ's evaluation through the predictor (context carried by evaluate_policy) equals SB3's greedy
    evaluate_policy on an identically seeded env, episode by episode."""
    model = ALGOS["arq"]()
    model.learn(600)
    ours = evaluate_policy(
        EpsilonGreedyPredictor(model, 0.0), make_vec_env("CartPole-v1", seed=3), 5, return_episode_rewards=True
    )
    sb3 = evaluate_policy(model, make_vec_env("CartPole-v1", seed=3), 5, deterministic=True, return_episode_rewards=True)
    assert ours == sb3


@pytest.mark.parametrize("algo", ALGOS)
def test_schedule_and_evaluations_npz_layout(algo, tmp_path):
    """Evaluations every eval_freq steps and at the end (250 is no multiple of 100), written as SB3's EvalCallback
    writes them (same keys, dtypes and shapes per evaluation), so rl-zoo3's plots read the file."""
    model = ALGOS[algo]()
    callback = EpsilonGreedyEvalCallback(
        Monitor(gym.make("CartPole-v1")), eval_freq=100, n_eval_episodes=3, log_path=str(tmp_path / "ours")
    )
    sb3_callback = EvalCallback(
        Monitor(gym.make("CartPole-v1")), n_eval_episodes=3, eval_freq=100, log_path=str(tmp_path / "sb3")
    )
    model.learn(250, callback=[callback, sb3_callback])
    ours, sb3 = np.load(tmp_path / "ours" / "evaluations.npz"), np.load(tmp_path / "sb3" / "evaluations.npz")
    assert 250 <= model.num_timesteps < 300  # SB3 may finish a rollout of train_freq steps past 250
    assert ours["timesteps"].tolist() == [100, 200, model.num_timesteps] and sb3["timesteps"].tolist() == [100, 200]
    assert sorted(ours) == sorted(sb3) == ["ep_lengths", "results", "timesteps"]
    for key in sb3:
        assert ours[key].dtype == sb3[key].dtype and ours[key].shape[1:] == sb3[key].shape[1:]
    assert ours["results"].shape == (3, 3) and (ours["ep_lengths"] >= 1).all()
    np.testing.assert_array_equal(ours["results"], ours["ep_lengths"])  # CartPole: +1 per step


def test_bad_arguments():
    with pytest.raises(ValueError, match="epsilon must be in"):
        EpsilonGreedyEvalCallback(epsilon=1.5)
    with pytest.raises(ValueError, match="eval_freq must be an int >= 1"):
        EpsilonGreedyEvalCallback(eval_freq=0)
    with pytest.raises(ValueError, match="n_eval_episodes must be an int >= 1"):
        EpsilonGreedyEvalCallback(n_eval_episodes=2.5)
    model = ALGOS["dqn"]()
    with pytest.raises(ValueError, match="eval_env=None needs an rl-zoo3 run"):
        model.learn(10, callback=EpsilonGreedyEvalCallback())


def test_from_an_rl_zoo3_entry_with_its_wrappers(tmp_path):
    """Through rl-zoo3's ``callback`` hyperparameter (here with ``-params``; a yml entry is the same dict), with rl-zoo3's
    own evaluation off: the evaluation env is rebuilt from the run's saved config (its env_wrapper included) and
    evaluations.npz lands in the run folder."""
    callback = [{"sb3_arq.zoo.callbacks.EpsilonGreedyEvalCallback": {"eval_freq": 100, "n_eval_episodes": 2}}]
    command = [sys.executable, "-m", "sb3_arq.train", "--algo", "dqn", "--env", "CartPole-v1", "-n", "200"]
    command += [
        "--eval-freq",
        "-1",
        "--seed",
        "0",
        "-f",
        str(tmp_path),
        "-params",
        "learning_starts:100",
        "train_freq:1",
        "gradient_steps:1",
    ]
    command += [f"callback:{callback!r}", 'env_wrapper:[{"gymnasium.wrappers.TimeLimit": {"max_episode_steps": 20}}]']
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    evaluations = np.load(tmp_path / "dqn" / "CartPole-v1_1" / "evaluations.npz")
    assert evaluations["timesteps"].tolist() == [100, 200] and evaluations["results"].shape == (2, 2)
    assert (evaluations["ep_lengths"] <= 20).all()  # the yml's env_wrapper is on the evaluation env too
