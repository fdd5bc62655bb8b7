"""
The cases of the upstream test suites (tests/upstream/plugin.py) that are expected to differ with ARQ in place of DQN
(QR-DQN), by distribution: each with the exception it raises and why. They run as strict xfails on that exception: one
that passes, or fails otherwise, fails the run.
"""

import pytest

NO_CNN_POLICY = (
    "ARQ has no CnnPolicy (ValueError): its cells read the flattened observation (uint8 images scaled to [0, 1]) and no "
    "gradient may cross a cell, so there is no shared convolutional features extractor; MlpPolicy takes images"
)
NO_FEATURES_EXTRACTOR = (
    "policy_kwargs features_extractor_class (a batch-norm or dropout features extractor) is refused (ValueError): ARQ's "
    "cells read the flattened observation, there is no features extractor to set"
)
BOX_ACTIONS = (
    "Box actions are refused with a ValueError that names sb3_arq.envs.BangBangWrapper (the project's convention: a "
    "clear ValueError naming the parameter), where the test expects SB3's AssertionError"
)
Q_NET_IS_A_STACK = (
    "model.q_net is ARQ's stack of cells (CellStack), a torch module but not a policy: it has no predict, save or load "
    "of its own (model.policy has them)"
)

EXPECTED_DIFFERENCES: dict[str, dict[str, tuple[type[BaseException], str]]] = {
    "stable-baselines3": {
        "tests/test_save_load.py::test_save_load_policy[False-CnnPolicy-ARQAsDQN]": (ValueError, NO_CNN_POLICY),
        "tests/test_save_load.py::test_save_load_q_net[MlpPolicy-ARQAsDQN]": (AttributeError, Q_NET_IS_A_STACK),
        "tests/test_save_load.py::test_save_load_q_net[CnnPolicy-ARQAsDQN]": (ValueError, NO_CNN_POLICY),
        "tests/test_save_load.py::test_save_load_no_target_params": (
            pytest.fail.Exception,
            "loads a file saved with policy.optimizer replaced by one torch optimizer over the whole policy (the layout of "
            "DQN files before SB3 2.4, which SB3 loads with a warning): ARQ has one optimizer per cell and refuses it "
            "with a ValueError, which the test's pytest.warns reports as 'DID NOT WARN'",
        ),
        "tests/test_spaces.py::test_action_spaces[Pendulum-v1-ARQAsDQN]": (ValueError, BOX_ACTIONS),
        "tests/test_spaces.py::test_action_spaces[env2-ARQAsDQN]": (ValueError, BOX_ACTIONS),
        "tests/test_callbacks.py::test_eval_success_logging": (
            ValueError,
            "MultiInputPolicy on a Dict observation space: ARQ has none (ValueError that says to wrap the env in "
            "sb3_arq.envs.FlattenDictObservation and use MlpPolicy)",
        ),
        "tests/test_train_eval_mode.py::test_dqn_train_with_batch_norm": (ValueError, NO_FEATURES_EXTRACTOR),
        "tests/test_train_eval_mode.py::test_offpolicy_collect_rollout_batch_norm[ARQAsDQN]": (
            ValueError,
            NO_FEATURES_EXTRACTOR,
        ),
        "tests/test_train_eval_mode.py::test_predict_with_dropout_batch_norm[CartPole-v1-ARQAsDQN]": (
            ValueError,
            NO_FEATURES_EXTRACTOR,
        ),
    },
    "sb3-contrib": {
        "tests/test_save_load.py::test_save_load_policy[CnnPolicy-ARQAsQRDQN]": (ValueError, NO_CNN_POLICY),
        "tests/test_save_load.py::test_save_load_q_net[MlpPolicy-ARQAsQRDQN]": (
            AttributeError,
            "reads model.quantile_net, QR-DQN's network of quantiles: ARQ has no quantiles (its Q-network is model.q_net)",
        ),
        "tests/test_save_load.py::test_save_load_q_net[CnnPolicy-ARQAsQRDQN]": (ValueError, NO_CNN_POLICY),
        "tests/test_train_eval_mode.py::test_qrdqn_train_with_batch_norm": (ValueError, NO_FEATURES_EXTRACTOR),
        "tests/test_train_eval_mode.py::test_offpolicy_collect_rollout_batch_norm[ARQAsQRDQN]": (
            ValueError,
            NO_FEATURES_EXTRACTOR,
        ),
        "tests/test_train_eval_mode.py::test_predict_with_dropout_batch_norm[CartPole-v1-ARQAsQRDQN]": (
            ValueError,
            NO_FEATURES_EXTRACTOR,
        ),
    },
    "rl-zoo3": {},
}
