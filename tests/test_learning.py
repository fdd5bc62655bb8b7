"""
Learning checks of the paper's variants on CartPole-v1 with the settings of the CartPole-v1 entry of
``hyperparams/arq.yml`` (the entry itself, on three seeds: tests/test_classic_control.py; the README's first example:
tests/test_readme.py). The slowest tests (their own file for xdist), all marked ``slow``.
"""

import gymnasium as gym
import pytest
from stable_baselines3.common.evaluation import evaluate_policy

from sb3_arq import ARQ
from sb3_arq.zoo.packaged import entry_settings
from tests.helpers import VARIANTS

pytestmark = pytest.mark.slow

RANDOM_POLICY_RETURN = 22  # mean return of uniformly random actions on CartPole-v1
N_TIMESTEPS, MAKE_ENV, CARTPOLE = entry_settings("CartPole-v1")


@pytest.mark.parametrize("variant", ["arq-input-rms", "arq-input-msq", "arq-output-std", "ad-output"])
def test_every_variant_learns_cartpole(variant):
    """
    Each variant of the paper's comparison set, with the entry's other settings for a quarter of its budget (seed 0):
    its greedy mean return over 10 episodes is clearly above a random policy's.
    """
    policy_kwargs = {**CARTPOLE["policy_kwargs"], **VARIANTS[variant]}
    model = ARQ("MlpPolicy", MAKE_ENV(), **{**CARTPOLE, "policy_kwargs": policy_kwargs}, seed=0, device="cpu")
    model.learn(N_TIMESTEPS // 4)
    eval_env = gym.make("CartPole-v1")
    eval_env.reset(seed=0)  # seeded evaluation episodes
    mean_return, _ = evaluate_policy(model, eval_env, n_eval_episodes=10)
    print(f"{variant}: greedy mean return {mean_return:.1f}")
    assert mean_return >= 3 * RANDOM_POLICY_RETURN
