"""Learning checks on CartPole-v1 with fixed seeds and CI-sized budgets (the slowest tests; their own file for xdist)."""

import gymnasium as gym
import pytest
from stable_baselines3.common.evaluation import evaluate_policy

from benchmarks.configs import CARTPOLE
from sb3_arq import ARQ
from tests.conftest import VARIANTS

RANDOM_POLICY_RETURN = 22  # mean return of uniformly random actions on CartPole-v1


@pytest.mark.parametrize(
    "variant, seed, threshold",
    [
        ("arq-input-std", 0, 120),
        ("arq-input-std", 1, 120),
        ("arq-input-std", 2, 120),
        # One seed per variant, a smoke test: clearly above random (seen with lr 1e-2: 125, 405, 127, 204).
        ("arq-input-rms", 0, 75),
        ("arq-input-msq", 0, 75),
        ("arq-output-std", 0, 75),
        ("ad-output", 0, 75),
    ],
)
def test_learns_cartpole(variant, seed, threshold):
    """
    With the published wiring (all connections, context 4 here) and small widths, ARQ clearly beats a random policy on
    CartPole-v1 in 10k steps: greedy mean return >= 120 (5x random) over 10 episodes for each of 3 seeds (seen with the
    reference code's initialisation and lr 1e-2: 419, 195 and 141; with torch's default initialisation and lr 1e-3 the
    test asked >= 150 and saw 292, 242 and 238); every variant of the paper's comparison set learns too.
    """
    policy_kwargs = {"net_arch": [64, 64], **VARIANTS[variant]}
    model = ARQ("MlpPolicy", "CartPole-v1", **CARTPOLE, policy_kwargs=policy_kwargs, seed=seed, device="cpu")
    model.learn(10_000)
    mean_return, _ = evaluate_policy(model, gym.make("CartPole-v1"), n_eval_episodes=10)
    print(f"{variant} seed {seed}: mean eval return {mean_return:.1f}")
    assert mean_return >= threshold > 3 * RANDOM_POLICY_RETURN
