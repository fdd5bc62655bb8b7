"""
ARQ's hyperparameter search space for rl-zoo3's ``-optimize`` (``python -m rl_zoo3.train --algo arq -optimize ...``).

``sb3_arq.zoo.register()`` puts ``sample_arq_params`` in rl-zoo3's ``HYPERPARAMS_SAMPLER`` and ``convert_arq_params``
in its ``HYPERPARAMS_CONVERTER``. The sampler reads the running experiment (``-params`` pins, the yml entry, the
trial's budget and device) from ``RUNNING_EXPERIMENT``, which ``sb3_arq.zoo.exp_manager.ARQExperimentManager`` sets
around each trial. ``trial_entry`` turns a trial back into the yml entry it ran with (``--trial-id``, ``best_params``).
"""

import contextvars
import inspect
import json
import os
from pathlib import Path
from typing import Any

import optuna
from rl_zoo3.utils import linear_schedule

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

# The ExperimentManager whose trial is being sampled (None when the sampler is called outside rl-zoo3)
RUNNING_EXPERIMENT: contextvars.ContextVar[Any] = contextvars.ContextVar("sb3_arq_experiment", default=None)


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
    if isinstance(value, str) and value.startswith("lin_"):
        return float(value[len("lin_") :]), True
    return float(value), False


def convert_arq_params(params: dict[str, Any]) -> dict[str, Any]:
    """
    Turn sampled values (an Optuna trial's ``params``) into ARQ's arguments: ``batch_size_pow`` -> ``batch_size``, the
    ``net_arch`` preset name -> widths, ``net_arch``/``n_heads``/``goodness`` -> ``policy_kwargs``. Pinned parameters
    (not sampled) are simply absent.

    :param params: Sampled values, by name.
    :return: Hyperparameters for ``ARQ(...)``.
    """
    hyperparams = dict(params)
    if "batch_size_pow" in hyperparams:
        hyperparams["batch_size"] = 2 ** hyperparams.pop("batch_size_pow")
    if "net_arch" in hyperparams:
        hyperparams["net_arch"] = list(NET_ARCH_PRESETS[hyperparams["net_arch"]])
    policy_kwargs = {key: hyperparams.pop(key) for key in ("net_arch", "n_heads", "goodness") if key in hyperparams}
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
    Sampler of ARQ's hyperparameters (rl-zoo3's sampler signature), around the published settings (those of the
    paper's reference code; MinAtar / DMC values in the comments); the learning rate over a decade either side of the
    entry's, keeping the entry's shape (a constant, or rl-zoo3's ``lin_`` schedule). Everything else (gamma, buffer_size,
    learning_starts, the connections...) comes from the yml entry. A hyperparameter given with ``-params`` is pinned:
    not searched, it keeps that value; the sampled policy kwargs are merged into the entry's. Two kinds of trial are
    pruned before anything is built, with the reason: one whose budget (``-n``) does not exceed ``learning_starts``
    (it would end before its first gradient step: its score would be noise), and one whose d x d matrices
    (``activation_bytes``) exceed ``memory_budget()``. Each trial records ``env_id`` and ``hyperparams`` (its complete
    yml entry, see ``trial_entry``) as user attrs.

    :param trial: The Optuna trial.
    :param n_actions: Number of discrete actions (0 if unknown).
    :param n_envs: Number of environments (unused).
    :param additional_args: rl-zoo3's extra arguments (unused: ARQ has no HER).
    :return: The sampled hyperparameters, ready for ``ARQ(...)``.
    """
    experiment = RUNNING_EXPERIMENT.get()
    # rl-zoo3's hyperparameters before sampling: -params, ``_hyperparams`` (evaluated), ``yml_entry`` (as written)
    custom, base, entry = {}, {}, {}
    if experiment is not None:
        custom, base, entry = experiment.custom_hyperparams or {}, experiment._hyperparams, experiment.yml_entry
    pinned = set(custom) | set(custom["policy_kwargs"] if isinstance(custom.get("policy_kwargs"), dict) else ())

    center, linear = initial_learning_rate(entry)
    if "learning_rate" not in pinned:  # 1e-4 / 2.5e-4 published; a decade either side of the entry's
        trial.suggest_float("learning_rate", center / LEARNING_RATE_SPAN, center * LEARNING_RATE_SPAN, log=True)
    if "batch_size" not in pinned:
        trial.suggest_int("batch_size_pow", 5, 10)  # batch 32 ... 1024; 512
    if "net_arch" not in pinned:
        trial.suggest_categorical("net_arch", list(NET_ARCH_PRESETS))  # minatar / dmc
    if "n_heads" not in pinned:
        trial.suggest_categorical("n_heads", [2, 4, 8, 16])  # 8
    if "goodness" not in pinned:
        trial.suggest_categorical("goodness", list(GOODNESS))  # std
    if "context_size" not in pinned:
        trial.suggest_int("context_size", 1, 16, log=True)  # 10
    if "max_grad_norm" not in pinned:
        trial.suggest_float("max_grad_norm", 0.05, 10.0, log=True)  # 1.0 / 0.1
    if "exploration_fraction" not in pinned:
        trial.suggest_float("exploration_fraction", 0.02, 0.5)  # 0.1 / 0.25
    if "exploration_final_eps" not in pinned:
        trial.suggest_float("exploration_final_eps", 0.0, 0.1)  # 0.01
    if "target_update_interval" not in pinned:
        trial.suggest_int("target_update_interval", 100, 10000, log=True)  # 1000
    if "train_freq" not in pinned:
        trial.suggest_categorical("train_freq", [1, 2, 4, 8])  # 4 (gradient_steps stays the entry's)

    hyperparams = convert_arq_params(trial.params)
    hyperparams["policy_kwargs"] = {**base.get("policy_kwargs", {}), **hyperparams.get("policy_kwargs", {})}
    recorded = yaml_form({**entry, **hyperparams})
    if linear and "learning_rate" in trial.params:  # the entry's schedule keeps its shape: the search sets its start
        recorded["learning_rate"] = f"lin_{trial.params['learning_rate']}"
        hyperparams["learning_rate"] = linear_schedule(trial.params["learning_rate"])
    trial.set_user_attr("env_id", experiment.env_name.gym_id if experiment is not None else None)
    trial.set_user_attr("hyperparams", recorded)

    learning_starts = base.get("learning_starts", ARQ_DEFAULTS["learning_starts"])
    if experiment is not None and experiment.n_timesteps <= learning_starts:
        raise optuna.TrialPruned(
            f"the trial's budget of {experiment.n_timesteps} steps (-n, else the entry's n_timesteps) does not exceed "
            f"learning_starts={learning_starts}: it would end before its first gradient step and score an untrained "
            "network. Pass a larger -n or add a smaller learning_starts to -params: not run"
        )
    batch_size = hyperparams.get("batch_size", base.get("batch_size", ARQ_DEFAULTS["batch_size"]))
    net_arch = hyperparams["policy_kwargs"].get("net_arch", NET_ARCH_PRESETS["minatar"])
    budget = memory_budget(experiment.device, experiment.n_jobs) if experiment is not None else memory_budget()
    needed = activation_bytes(batch_size, net_arch, n_actions)
    if budget is not None and needed > budget:
        raise optuna.TrialPruned(
            f"batch_size={batch_size} with net_arch={net_arch} and {n_actions} actions needs about {needed / 2**30:.3g} GiB "
            f"for its d x d matrices, over this machine's budget of {budget / 2**30:.3g} GiB per trial "
            f"(half the free memory / --n-jobs, or {MEMORY_ENV_VAR}): not run"
        )
    return hyperparams
