"""Small settings shared by the benchmarks and the tests (the tests import them from here, never the other way)."""

# Small CartPole-v1 settings of ARQ: tests/test_learning.py learns with them (policy [64, 64], context 4) and
# benchmarks/learn_wall_time.py times them.
CARTPOLE = {
    "learning_rate": 1e-2,  # 1e-3 before the cells initialised as the reference code (larger weights)
    "gamma": 0.95,
    "batch_size": 32,
    "learning_starts": 1000,
    "buffer_size": 50_000,
    "target_update_interval": 250,
    "exploration_fraction": 0.2,
    "exploration_final_eps": 0.02,
    "train_freq": 2,
    "context_size": 4,
}
