"""
ARQ's hyperparameter search space for rl-zoo3's ``-optimize`` (``python -m rl_zoo3.train --algo arq -optimize ...``).

``SEARCH_SPACE`` is the one table of the searched hyperparameters: ``sample_arq_params`` suggests its entries,
``convert_arq_params`` turns a trial's values back into ARQ's arguments, ``SEARCHED_ARGUMENTS`` (what ``--trial-id``
loads) is derived from it. ``sb3_arq.zoo.register()`` puts the sampler in rl-zoo3's ``HYPERPARAMS_SAMPLER`` and the
converter in its ``HYPERPARAMS_CONVERTER``. The sampler reads what it knows of the running search from rl-zoo3's
``additional_args`` (``SEARCH_ARGS``), which ``sb3_arq.zoo.exp_manager.ARQExperimentManager`` fills; called with
``{}`` (outside rl-zoo3), it samples the whole space around ARQ's defaults. ``trial_entry`` turns a trial back into the
yml entry it ran with (``--trial-id``, ``best_params``).
"""

import inspect
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from rl_zoo3.utils import linear_schedule
from stable_baselines3.common.utils import LinearSchedule

from sb3_arq import ARQ
from sb3_arq.arq.cells import GOODNESS

# Width presets of the three cells, bottom to top ("dmc" and "minatar" are the published settings)
NET_ARCH_PRESETS = {
    "small": [64, 64, 64],
    "dmc": [128, 96, 96],
    "medium": [256, 128, 128],
    "minatar": [400, 200, 200],
}
# Peak training memory of the d x d matrices, measured on CPU (torch 2.13): about 2.2 float32 tensors of shape
# (batch, n_actions, d, d) for the widest cell (the no-grad pass over all actions); 3 leaves some margin.
ACTIVATION_TENSORS = 3
# Share of the free memory (GPU if the trial runs on one, else RAM) that one trial may take, split over --n-jobs
MEMORY_FRACTION = 0.5
# Overrides the memory budget of one trial, in GiB (e.g. for several worker processes on one machine)
MEMORY_ENV_VAR = "SB3_ARQ_TUNE_MEMORY_GB"
# The learning rate is searched over this factor either side of the entry's (initial) learning rate, log-uniformly
LEARNING_RATE_SPAN = 10.0
# ARQ's defaults (learning_starts, batch_size), for a yml entry that does not set them
ARQ_DEFAULTS = {name: parameter.default for name, parameter in inspect.signature(ARQ).parameters.items()}


@dataclass(frozen=True)
class Searched:
    """
    One searched hyperparameter of ``SEARCH_SPACE``.

    :param distribution: Optuna distribution of the sampled value.
    :param param: Name of the Optuna parameter where it is not the hyperparameter's (e.g. ``batch_size_pow``).
    :param decode: Sampled value -> the hyperparameter's value (None: the value itself).
    :param policy_kwarg: Whether it goes into ``policy_kwargs`` (else it is an argument of ``ARQ``).
    :param around_learning_rate: Whether the distribution's bounds are factors of the entry's (initial) learning rate.
    """

    distribution: BaseDistribution
    param: str | None = None
    decode: Callable[[Any], Any] | None = None
    policy_kwarg: bool = False
    around_learning_rate: bool = False


# The searched hyperparameters, in sampling order, by the name that -params pins (published values in the comments:
# MinAtar / DMC). Everything else (gamma, buffer_size, learning_starts, the connections...) comes from the yml entry.
SEARCH_SPACE = {
    # a decade either side of the entry's learning rate; 1e-4 / 2.5e-4
    "learning_rate": Searched(
        FloatDistribution(1 / LEARNING_RATE_SPAN, LEARNING_RATE_SPAN, log=True), around_learning_rate=True
    ),
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
# The arguments of ``ARQ`` that the search sets (sampled or pinned): what ``--trial-id`` takes from a trial's entry
SEARCHED_ARGUMENTS = tuple(
    dict.fromkeys("policy_kwargs" if searched.policy_kwarg else name for name, searched in SEARCH_SPACE.items())
)
# What the sampler reads from rl-zoo3's ``additional_args`` (all optional), and its default
SEARCH_ARGS = {
    "pinned": {},  # rl-zoo3's ``-params``: pinned hyperparameters (also policy kwargs), not searched
    "entry": {},  # the yml entry as written, ``-params`` applied (its learning rate centres the search)
    "policy_kwargs": {},  # the entry's policy kwargs as rl-zoo3 evaluated them: the sampled ones are merged into them
    "n_timesteps": None,  # the budget of a trial (``-n``, else the entry's); not above learning_starts: pruned
    "device": "auto",  # ``--device`` and ``--n-jobs``: where the memory budget is read, and how many trials share it
    "n_jobs": 1,
    "env_id": None,  # recorded as the trial's user attr ``env_id``
}


def activation_bytes(batch_size: int, net_arch: list[int], n_actions: int) -> int:
    """
    Estimated peak memory of one ARQ gradient step: the tanh of the d x d matrices M of every sample and action,
    ``ACTIVATION_TENSORS * 4 * batch_size * n_actions * max(net_arch) ** 2`` bytes (cells are computed one at a time,
    so the widest cell counts). Weights, optimizer states and the replay buffer come on top.

    :param batch_size: Minibatch size.
    :param net_arch: Widths of the cells.
    :param n_actions: Number of discrete actions (0, unknown, counts as 1).
    :return: Bytes.
    """
    return ACTIVATION_TENSORS * 4 * batch_size * max(n_actions, 1) * max(net_arch) ** 2


def memory_budget(device: str = "auto", n_jobs: int = 1) -> int | None:
    """
    Memory that one trial may use: ``MEMORY_FRACTION`` of the memory free now on the trial's device (the GPU's,
    including what this process's CUDA cache holds unused, or the machine's available RAM), shared by the ``n_jobs``
    trials that run at once. ``SB3_ARQ_TUNE_MEMORY_GB`` sets it explicitly.

    :param device: The trial's device, as rl-zoo3's ``--device`` ("auto", "cpu", "cuda", "cuda:1", ...).
    :param n_jobs: Trials run in parallel by this process (``--n-jobs``).
    :return: Bytes, or None where the free memory cannot be read (then there is no cap).
    """
    explicit = os.environ.get(MEMORY_ENV_VAR, "").strip()
    if explicit:
        try:
            return int(float(explicit) * 2**30)
        except ValueError:
            raise ValueError(f"{MEMORY_ENV_VAR} must be a number of GiB, got {explicit!r}") from None
    import torch as th
    from stable_baselines3.common.utils import get_device

    torch_device = get_device(device)
    if torch_device.type == "cuda":
        free, _ = th.cuda.mem_get_info(torch_device)
        free += th.cuda.memory_reserved(torch_device) - th.cuda.memory_allocated(torch_device)
    else:
        meminfo = Path("/proc/meminfo").read_text() if Path("/proc/meminfo").is_file() else ""
        available = [int(line.split()[1]) * 1024 for line in meminfo.splitlines() if line.startswith("MemAvailable:")]
        if not available:
            return None
        free = available[0]
    return int(MEMORY_FRACTION * free / max(n_jobs, 1))


def yaml_form(hyperparams: dict[str, Any]) -> dict[str, Any]:
    """
    Hyperparameters as an entry of ``hyperparams/arq.yml``: policy kwargs as a ``dict(...)`` string that rl-zoo3
    evaluates, tuples as lists, any other value that is not plain data as its ``repr`` (JSON-safe, so that it can be
    stored as an Optuna user attr).

    :param hyperparams: Hyperparameters as rl-zoo3 reads them or as the sampler returns them.
    :return: A new dict.
    """
    entry = {}
    for key, value in hyperparams.items():
        if key == "policy_kwargs" and isinstance(value, dict):
            value = "dict(" + ", ".join(f"{name}={item!r}" for name, item in value.items()) + ")"
        try:
            entry[key] = json.loads(json.dumps(value))
        except (TypeError, ValueError):
            entry[key] = repr(value)
    return entry


def initial_learning_rate(entry: dict[str, Any]) -> tuple[float, bool]:
    """
    The learning rate of a yml entry as written: a number, or rl-zoo3's ``"lin_<value>"`` (decayed linearly to 0).

    :param entry: The entry (``-params`` applied), before rl-zoo3 turns ``lin_`` strings into schedules.
    :return: The (initial) value, ARQ's default where the entry has none, and whether it is a linear schedule.
    """
    value = entry.get("learning_rate", ARQ_DEFAULTS["learning_rate"])
    if isinstance(value, LinearSchedule):  # ARQ's default: linear to 0
        return float(value.start), True
    if isinstance(value, str) and value.startswith("lin_"):
        return float(value[len("lin_") :]), True
    return float(value), False


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
    ``batch_size_pow`` -> ``batch_size``, the ``net_arch`` preset name -> widths in ``policy_kwargs``. Pinned
    hyperparameters (not sampled) are simply absent.

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


def trial_entry(trial: optuna.trial.FrozenTrial) -> dict[str, Any]:
    """
    The yml entry that a trial ran with: the one ``sample_arq_params`` recorded (the config file's entry, ``-params``
    and the sampled values, policy kwargs merged into one ``dict(...)`` string), else only the converted ``params``.

    :param trial: A trial of an ARQ study.
    :return: A new dict, in the form of ``hyperparams/arq.yml``.
    """
    recorded = trial.user_attrs.get("hyperparams")
    return dict(recorded) if recorded is not None else yaml_form(convert_arq_params(trial.params))


def sample_arq_params(trial: optuna.Trial, n_actions: int, n_envs: int, additional_args: dict) -> dict[str, Any]:
    """
    Sampler of ARQ's hyperparameters (rl-zoo3's sampler signature): every entry of ``SEARCH_SPACE`` that is not
    pinned, the learning rate keeping the entry's shape (a constant, or rl-zoo3's ``lin_`` schedule). A hyperparameter
    given with ``-params`` is pinned: not searched, it keeps that value; the sampled policy kwargs are merged into the
    entry's. Two kinds of trial are pruned before anything is built, with the reason: one whose budget does not exceed
    ``learning_starts`` (it would end before its first gradient step: its score would be noise), and one whose d x d
    matrices (``activation_bytes``) exceed ``memory_budget()``. Each trial records ``env_id`` and ``hyperparams`` (its
    complete yml entry, see ``trial_entry``) as user attrs.

    :param trial: The Optuna trial.
    :param n_actions: Number of discrete actions (0 if unknown).
    :param n_envs: Number of environments (unused).
    :param additional_args: rl-zoo3's extra arguments; the keys of ``SEARCH_ARGS`` are read (ARQ has no HER).
    :return: The sampled hyperparameters, ready for ``ARQ(...)``.
    """
    args = {**SEARCH_ARGS, **additional_args}
    pinned, entry = args["pinned"], args["entry"]
    pinned_names = set(pinned) | set(pinned["policy_kwargs"] if isinstance(pinned.get("policy_kwargs"), dict) else ())

    center, linear = initial_learning_rate(entry)
    for name, searched in SEARCH_SPACE.items():
        if name in pinned_names:
            continue
        distribution = searched.distribution
        if searched.around_learning_rate:
            distribution = FloatDistribution(center * distribution.low, center * distribution.high, log=distribution.log)
        suggest(trial, searched.param or name, distribution)

    hyperparams = convert_arq_params(trial.params)
    hyperparams["policy_kwargs"] = {**args["policy_kwargs"], **hyperparams.get("policy_kwargs", {})}
    recorded = yaml_form({**entry, **hyperparams})
    if linear and "learning_rate" in trial.params:  # the entry's schedule keeps its shape: the search sets its start
        recorded["learning_rate"] = f"lin_{trial.params['learning_rate']}"
        hyperparams["learning_rate"] = linear_schedule(trial.params["learning_rate"])
    trial.set_user_attr("env_id", args["env_id"])
    trial.set_user_attr("hyperparams", recorded)

    learning_starts = entry.get("learning_starts", ARQ_DEFAULTS["learning_starts"])
    if args["n_timesteps"] is not None and args["n_timesteps"] <= learning_starts:
        raise optuna.TrialPruned(
            f"the trial's budget of {args['n_timesteps']} steps (-n, else the entry's n_timesteps) does not exceed "
            f"learning_starts={learning_starts}: it would end before its first gradient step and score an untrained "
            "network. Pass a larger -n or add a smaller learning_starts to -params: not run"
        )
    batch_size = hyperparams.get("batch_size", entry.get("batch_size", ARQ_DEFAULTS["batch_size"]))
    net_arch = hyperparams["policy_kwargs"].get("net_arch", NET_ARCH_PRESETS["minatar"])
    budget = memory_budget(args["device"], args["n_jobs"])
    needed = activation_bytes(batch_size, net_arch, n_actions)
    if budget is not None and needed > budget:
        raise optuna.TrialPruned(
            f"batch_size={batch_size} with net_arch={net_arch} and {n_actions} actions needs about {needed / 2**30:.3g} GiB "
            f"for its d x d matrices, over this machine's budget of {budget / 2**30:.3g} GiB per trial "
            f"(half the free memory / --n-jobs, or {MEMORY_ENV_VAR}): not run"
        )
    return hyperparams
