"""
ARQ's guards: what ``ARQ`` refuses, with the parameter's name and what would be valid, before it could fail deep inside
torch or train silently into NaN: its arguments, a saved policy that does not fit, a replay buffer that does not fit,
and non-finite training statistics.
"""

import warnings
from typing import Any

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.type_aliases import TrainFreq

from sb3_arq.arq.buffers import ContextReplayBuffer, DeviceContextReplayBuffer
from sb3_arq.arq.policies import ARQPolicy
from sb3_arq.arq.statistics import UpdateStatistics
from sb3_arq.common.callers import user_stacklevel
from sb3_arq.common.checks import check_int, check_number, check_train_freq

# Warn when a TD target exceeds the largest Q a cell can represent by this factor
TARGET_SCALE_WARNING = 10.0
# compile_update: torch.compile's modes, eager (None), or ARQ's choice by device and run length ("auto")
COMPILE_MODES = (None, "auto", "default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


def check_policy_name(policy_name: str) -> None:
    """Refuse SB3's policy names that ARQ has no policy for, saying why and what to use."""
    if policy_name in ("CnnPolicy", "MultiInputPolicy"):
        raise ValueError(
            f"ARQ has no {policy_name}: its cells read one flat observation vector (uint8 images are scaled to [0, 1] "
            "and flattened), and no gradient may cross a cell, so there is no shared convolutional feature extractor. "
            "Use 'MlpPolicy' (for a Dict observation space, wrap the env in sb3_arq.envs.FlattenDictObservation)."
        )


def check_arguments(model: OffPolicyAlgorithm) -> None:
    """Refuse the constructor arguments of ``model`` that would fail later or train silently into NaN."""
    if not (isinstance(model.policy_class, type) and issubclass(model.policy_class, ARQPolicy)):
        raise ValueError(f"ARQ needs an ARQPolicy, got {model.policy_class!r}: is this file an ARQ model?")
    if not isinstance(model.action_space, spaces.Discrete):
        raise ValueError(
            f"ARQ needs a Discrete action space, got {model.action_space}. Discretise a Box action space with "
            "sb3_arq.envs.BangBangWrapper (every corner of the box): ARQ('MlpPolicy', BangBangWrapper(env)), or under "
            "rl-zoo3 in the env's entry of the hyperparameter file, `env_wrapper: [sb3_arq.envs.BangBangWrapper]` (after "
            "sb3_arq.envs.FlattenDictObservation for a Dict observation, as the dm_control entries of "
            "hyperparams/arq.yml)."
        )
    if isinstance(model.observation_space, spaces.Dict):
        raise ValueError(
            f"ARQ's cells read one flat observation vector, got a Dict observation space {model.observation_space}. "
            "Wrap the env in sb3_arq.envs.FlattenDictObservation (the entries concatenated in the Dict space's key "
            "order, as float32) and use 'MlpPolicy'."
        )
    model.policy_class.check_policy_kwargs(model.policy_kwargs)
    if not (isinstance(model.graph_acting, bool) or model.graph_acting == "auto"):
        raise TypeError(f"graph_acting must be True, False or 'auto', got {model.graph_acting!r}")
    if not isinstance(model.graph_update, bool):
        raise TypeError(f"graph_update must be True or False, got {model.graph_update!r}")
    if model.compile_update not in COMPILE_MODES:
        raise ValueError(f"compile_update must be one of {list(COMPILE_MODES)}, got {model.compile_update!r}")
    if not (isinstance(model.replay_buffer_class, type) and issubclass(model.replay_buffer_class, ContextReplayBuffer)):
        raise TypeError(
            "replay_buffer_class must be ContextReplayBuffer or DeviceContextReplayBuffer (sb3_arq.arq.buffers): ARQ's "
            f"training needs the observation windows of the contexts, got {model.replay_buffer_class!r}"
        )
    if model.graph_update and not issubclass(model.replay_buffer_class, DeviceContextReplayBuffer):
        raise ValueError(
            "graph_update=True needs replay_buffer_class=DeviceContextReplayBuffer (sb3_arq.arq.buffers): the "
            f"captured update samples on the device, without host work; got {model.replay_buffer_class.__name__}"
        )
    if model.graph_update and model.compile_update in ("reduce-overhead", "max-autotune"):
        raise ValueError(
            f"compile_update={model.compile_update!r} makes CUDA graphs of its own, which cannot be captured inside "
            "graph_update's: use compile_update=None or 'default' with graph_update=True"
        )
    check_int("batch_size", model.batch_size, 1)
    check_int("buffer_size", model.buffer_size, 1)
    if model.buffer_size // model.n_envs < 2:
        raise ValueError(
            f"buffer_size must hold at least 2 transitions per env, i.e. >= {2 * model.n_envs} for {model.n_envs} "
            f"env(s), got {model.buffer_size}"
        )
    check_int("learning_starts", model.learning_starts, 0)
    check_int("gradient_steps", model.gradient_steps, 0, allowed=(-1,))
    check_int("target_update_interval", model.target_update_interval, 1)
    check_int("context_size", model.context_size, 1)
    check_train_freq(model.train_freq.frequency if isinstance(model.train_freq, TrainFreq) else model.train_freq)
    check_number("gamma", model.gamma, 0.0, 1.0)
    check_number("tau", model.tau, 0.0, 1.0, low_open=True)
    check_number("max_grad_norm", model.max_grad_norm, 0.0, float("inf"), low_open=True)
    check_number("reward_shift", model.reward_shift, -float("inf"), float("inf"), low_open=True, high_open=True)
    check_number("reward_scale", model.reward_scale, 0.0, float("inf"), low_open=True, high_open=True)
    check_number("exploration_fraction", model.exploration_fraction, 0.0, 1.0)
    check_number("exploration_initial_eps", model.exploration_initial_eps, 0.0, 1.0)
    check_number("exploration_final_eps", model.exploration_final_eps, 0.0, 1.0)
    if not callable(model.learning_rate):  # 0 is allowed: rl-zoo3's enjoy loads models with learning_rate 0
        check_number("learning_rate", model.learning_rate, 0.0, float("inf"), high_open=True)
    if model.n_envs > model.target_update_interval:
        warnings.warn(
            "The number of environments used is greater than the target network update interval "
            f"({model.n_envs} > {model.target_update_interval}), therefore the target cells will be updated after each "
            f"call to env.step() which corresponds to {model.n_envs} steps (SB3's DQN warning).",
            stacklevel=user_stacklevel(),
        )


def check_scheduled_learning_rate(value: float, progress_remaining: float, update: int) -> None:
    """Refuse a learning rate that a schedule returned if it is not a finite number >= 0."""
    if not (np.isfinite(value) and value >= 0):
        raise ValueError(
            f"learning_rate's schedule returned {value!r} at progress_remaining {progress_remaining!r} (update {update}): "
            "a learning rate must be a finite number >= 0"
        )


def check_saved_policy(policy: ARQPolicy, params: dict[str, dict[str, th.Tensor]]) -> None:
    """
    Refuse saved parameters that do not fit ``policy`` exactly, telling a size mismatch apart from a foreign file
    (RuntimeError, as torch's strict loading raises in SB3).
    """
    expected = {name: value.shape for name, value in policy.state_dict().items()}
    found = {name: value.shape for name, value in params.get("policy", {}).items()}
    if expected == found:
        return
    missing, unexpected = sorted(expected.keys() - found.keys()), sorted(found.keys() - expected.keys())
    n_cells = len({name.split(".")[2] for name in found if name.startswith("q_net.cells.")})
    if 0 < n_cells != len(policy.q_net.cells) or not (missing or unexpected):
        resized = sorted(name for name in expected.keys() & found.keys() if expected[name] != found[name])
        raise RuntimeError(
            f"The saved policy does not fit this ARQ: the file has {n_cells} cell(s), this model has "
            f"{len(policy.q_net.cells)} of widths {policy.net_arch}; parameters of other sizes, e.g. "
            f"{(resized or missing or unexpected)[:3]}. Load it with the policy_kwargs it was saved with."
        )
    raise RuntimeError(
        f"The saved policy is not a complete ARQ policy of this version: missing tensor(s) {missing[:3]}"
        f"{' ...' if len(missing) > 3 else ''}, unexpected tensor(s) {unexpected[:3]}"
        f"{' ...' if len(unexpected) > 3 else ''}. Is the file corrupted, or saved by another algorithm or version?"
    )


def check_replay_buffer(model: OffPolicyAlgorithm, buffer: Any) -> None:
    """Refuse a loaded replay buffer that is not a ``ContextReplayBuffer`` fitting ``model``, saying what differs."""
    if not isinstance(buffer, ContextReplayBuffer):
        raise ValueError(
            f"ARQ needs a ContextReplayBuffer (it stores the observation windows of the contexts), the file holds a "
            f"{type(buffer).__name__}: save one with an ARQ model's save_replay_buffer()."
        )
    expected = {
        "context_size": model.context_size if model.policy.uses_context else 0,
        "n_envs": model.n_envs,
        "observation_space": model.observation_space,
        "action_space": model.action_space,
    }
    found = {name: getattr(buffer, name) for name in expected}
    differing = [f"{name} {found[name]} (this model: {value})" for name, value in expected.items() if found[name] != value]
    if differing:
        raise ValueError(
            f"The replay buffer does not fit this model: {'; '.join(differing)}. Load it into a model with the same "
            "context_size (and time connections), number of envs and spaces, or start with an empty buffer."
        )
    if isinstance(buffer, DeviceContextReplayBuffer) and buffer.observations.device.type != model.device.type:
        raise ValueError(
            f"The DeviceContextReplayBuffer's storage is on {buffer.observations.device}, this model on {model.device}: "
            "load it into a model on the device it was saved from."
        )


def check_training(stats: UpdateStatistics, n_updates: int) -> None:
    """
    Stop at a non-finite loss or Q, saying which cell, at which update and the likely cause.

    :param stats: The statistics of this ``train()`` call's updates.
    :param n_updates: Updates before this ``train()`` call.
    """
    for name, values in (("loss", stats.losses), ("Q", stats.q_means)):
        bad = ~np.isfinite(values)
        if not bad.any():
            continue
        step, cell = np.argwhere(bad)[0]
        if not stats.finite_observations[step]:
            cause = "the sampled observations contain NaN or inf: check the env (and VecNormalize's statistics)"
        elif not stats.finite_rewards[step]:
            cause = "the sampled rewards contain NaN or inf: check the env's rewards"
        else:
            cause = "the cell diverged: lower learning_rate or max_grad_norm, or scale the rewards"
        raise ValueError(
            f"ARQ stopped: cell {cell}'s {name} became {values[step, cell]} at update {n_updates + step + 1}; {cause}. The "
            "cells' parameters may be non-finite from this update on: reload a saved model to go on."
        )


def warn_target_scale(stats: UpdateStatistics) -> bool:
    """
    Warn when the TD targets of this ``train()`` call are far beyond what the cells can represent; return whether it
    warned.
    """
    scale = stats.target_scales.max()
    if scale <= TARGET_SCALE_WARNING:
        return False
    warnings.warn(
        f"ARQ's TD targets are up to {scale:.0f}x the largest Q its cells can represent (|y_i| <= ||h||_1, as |tanh| <= "
        "1): the cells cannot fit them. Scale the rewards down with ARQ's reward_scale (docs/algorithm.md, \"4. Learning "
        'rule"), or VecNormalize(env, norm_obs=False, norm_reward=True).',
        stacklevel=user_stacklevel(),
    )
    return True


def warn_negative_reward(reward: np.ndarray, shift: float, scale: float) -> bool:
    """
    Warn when a reward plus ARQ's ``reward_shift`` is negative (an ARQ cell's Q is a goodness >= 0), saying how to
    choose the shift and the scale; return whether it warned.

    :param reward: The rewards of one env step (one per env).
    :param shift: ARQ's ``reward_shift``.
    :param scale: ARQ's ``reward_scale``.
    """
    if not np.any(reward + shift < 0):
        return False
    warnings.warn(
        f"ARQ received a negative reward ({np.min(reward):g}, {np.min(reward) + shift:g} after reward_shift={shift:g}): "
        "the Q-values of its cells are goodness values >= 0 and cannot represent negative returns. Set ARQ's "
        "reward_shift to minus the smallest reward the env can give per step (the low end of its reward range: 1.0 for "
        "-1 per step): ARQ adds it to every reward, and at a termination the discounted shift of the steps after the "
        f"end, so the optimal policy is unchanged. reward_scale (now {scale:g}) then brings the shifted returns, about "
        "reward_scale * (max reward + shift) / (1 - gamma), within what the cells' Q spans (10 or less): "
        "hyperparams/arq.yml's classic-control entries use 0.1, e.g. Acrobot-v1's ARQ(..., reward_shift=1.0, "
        "reward_scale=0.1); under rl-zoo3, the keys `reward_shift: 1.0` and `reward_scale: 0.1` of the env's entry "
        '(docs/algorithm.md, "4. Learning rule").',
        stacklevel=user_stacklevel(),
    )
    return True


def warn_no_update(total_timesteps: int, num_timesteps: int, learning_starts: int) -> None:
    """Warn when learn() will end before ``learning_starts``: every action random, no update."""
    if total_timesteps <= learning_starts:
        warnings.warn(
            f"learn() will stop at {total_timesteps} env steps (from {num_timesteps}), not after learning_starts="
            f"{learning_starts}: every action will be random and no update will happen. Learn for more steps or lower "
            "learning_starts.",
            stacklevel=user_stacklevel(),
        )
