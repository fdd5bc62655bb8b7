"""
ARQ's hyperparameter search space for rl-zoo3's ``-optimize`` (``python -m rl_zoo3.train --algo arq -optimize ...``).

``SEARCH_SPACE`` is the one table of the searched hyperparameters: ``sample_arq_params`` suggests its entries,
``convert_arq_params`` turns a trial's values back into ARQ's arguments (what rl-zoo3's ``--trial-id`` loads).
``sb3_arq.zoo.register()`` puts them in rl-zoo3's ``HYPERPARAMS_SAMPLER`` and ``HYPERPARAMS_CONVERTER``. As for
rl-zoo3's own algorithms, the sampled values replace the yml entry's, ``policy_kwargs`` as a whole.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution

from sb3_arq.arq.cells import GOODNESS

# Width presets of the three cells, bottom to top ("dmc" and "minatar" are the published settings)
NET_ARCH_PRESETS = {
    "small": [64, 64, 64],
    "dmc": [128, 96, 96],
    "medium": [256, 128, 128],
    "minatar": [400, 200, 200],
}


@dataclass(frozen=True)
class Searched:
    """
    One searched hyperparameter of ``SEARCH_SPACE``.

    :param distribution: Optuna distribution of the sampled value.
    :param param: Name of the Optuna parameter where it is not the hyperparameter's (e.g. ``batch_size_pow``).
    :param decode: Sampled value -> the hyperparameter's value (None: the value itself).
    :param policy_kwarg: Whether it goes into ``policy_kwargs`` (else it is an argument of ``ARQ``).
    """

    distribution: BaseDistribution
    param: str | None = None
    decode: Callable[[Any], Any] | None = None
    policy_kwarg: bool = False


# The searched hyperparameters, in sampling order (published values in the comments: MinAtar / DMC; the CartPole-v1
# entry's after them). Everything else (gamma, buffer_size, learning_starts, the connections...) comes from the yml
# entry, or ARQ's defaults for the policy kwargs.
SEARCH_SPACE = {
    "learning_rate": Searched(FloatDistribution(1e-5, 1e-1, log=True)),  # 1e-4 / 2.5e-4; 2.6e-2 decayed linearly
    "batch_size": Searched(IntDistribution(5, 10), param="batch_size_pow", decode=lambda power: 2**power),  # 32...1024; 512
    "net_arch": Searched(  # minatar / dmc
        CategoricalDistribution(list(NET_ARCH_PRESETS)),
        decode=lambda preset: list(NET_ARCH_PRESETS[preset]),
        policy_kwarg=True,
    ),
    "n_heads": Searched(CategoricalDistribution([2, 4, 8, 16]), policy_kwarg=True),  # 8
    "goodness": Searched(CategoricalDistribution(list(GOODNESS)), policy_kwarg=True),  # std
    "context_size": Searched(IntDistribution(1, 16, log=True)),  # 10
    "max_grad_norm": Searched(FloatDistribution(0.05, 10.0, log=True)),  # 1.0 / 0.1
    "exploration_fraction": Searched(FloatDistribution(0.02, 0.5)),  # 0.1 / 0.25
    "exploration_final_eps": Searched(FloatDistribution(0.0, 0.1)),  # 0.01
    "target_update_interval": Searched(IntDistribution(100, 10000, log=True)),  # 1000
    "train_freq": Searched(CategoricalDistribution([1, 2, 4, 8])),  # 4 (gradient_steps stays the entry's)
}


def suggest(trial: optuna.Trial, name: str, distribution: BaseDistribution) -> Any:
    """
    Sample a value of an Optuna distribution with the trial's ``suggest_*`` method.

    :param trial: The Optuna trial.
    :param name: The parameter's name.
    :param distribution: A float, int or categorical distribution.
    :return: The sampled value.
    """
    if isinstance(distribution, CategoricalDistribution):
        return trial.suggest_categorical(name, distribution.choices)
    if isinstance(distribution, IntDistribution):
        return trial.suggest_int(name, distribution.low, distribution.high, log=distribution.log)
    return trial.suggest_float(name, distribution.low, distribution.high, log=distribution.log)


def convert_arq_params(params: dict[str, Any]) -> dict[str, Any]:
    """
    Turn sampled values (an Optuna trial's ``params``) into ARQ's arguments with ``SEARCH_SPACE``, e.g.
    ``batch_size_pow`` -> ``batch_size``, the ``net_arch`` preset name -> widths in ``policy_kwargs``. Values that were
    not sampled are simply absent.

    :param params: Sampled values, by Optuna parameter name.
    :return: Hyperparameters for ``ARQ(...)``.
    """
    hyperparams, policy_kwargs = {}, {}
    for name, searched in SEARCH_SPACE.items():
        param = searched.param or name
        if param in params:
            value = params[param] if searched.decode is None else searched.decode(params[param])
            (policy_kwargs if searched.policy_kwarg else hyperparams)[name] = value
    if policy_kwargs:
        hyperparams["policy_kwargs"] = policy_kwargs
    return hyperparams


def sample_arq_params(trial: optuna.Trial, n_actions: int, n_envs: int, additional_args: dict) -> dict[str, Any]:
    """
    Sampler of ARQ's hyperparameters (rl-zoo3's sampler signature): every entry of ``SEARCH_SPACE``.

    :param trial: The Optuna trial.
    :param n_actions: Number of actions (unused: rl-zoo3 sets it for continuous actions only).
    :param n_envs: Number of environments (unused).
    :param additional_args: rl-zoo3's extra arguments (unused: ARQ has no HER).
    :return: The sampled hyperparameters, ready for ``ARQ(...)``.
    """
    for name, searched in SEARCH_SPACE.items():
        suggest(trial, searched.param or name, searched.distribution)
    return convert_arq_params(trial.params)
