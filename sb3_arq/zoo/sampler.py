"""
ARQ's hyperparameter search through rl-zoo3 and Optuna (``python -m rl_zoo3.train --algo arq -optimize ...``).

``register_sampler()`` (called by ``sb3_arq.zoo.register()``) adds ``sample_arq_params`` to rl-zoo3's
``HYPERPARAMS_SAMPLER`` and ``convert_arq_params`` to its ``HYPERPARAMS_CONVERTER`` (trial params -> ARQ's arguments),
and wraps four methods of ``ExperimentManager``, for ``--algo arq`` only:

- ``_preprocess_action_noise``: also records the number of actions of a ``Discrete`` action space in ``n_actions``
  (rl-zoo3 only does it for ``Box`` spaces), which the sampler needs for the memory cap;
- ``objective``: makes the running ``ExperimentManager`` visible to the sampler (``-params`` pins, base policy kwargs,
  config file, device, ``--n-jobs``);
- ``load_trial`` (``--trial-id``): returns the tuned hyperparameters a trial ran with, as recorded by the sampler;
- ``hyperparameters_optimization``: checks ``--storage`` (and ``--sampler auto``) first, with a clear message.
"""

import contextvars
import functools
import importlib.util
import json
import os
import time
from pathlib import Path
from typing import Any

import optuna
import yaml

# Width presets of the three cells, bottom to top ("dmc" and "minatar" are the published settings, spec section 5)
NET_ARCH_PRESETS = {
    "small": [64, 64, 64],
    "dmc": [128, 96, 96],
    "medium": [256, 128, 128],
    "minatar": [400, 200, 200],
}
# Hyperparameters that the sampler searches (unless pinned with ``-params``) and the policy kwargs among them
TUNED_HYPERPARAMS = (
    "learning_rate",
    "batch_size",
    "context_size",
    "max_grad_norm",
    "exploration_fraction",
    "exploration_final_eps",
    "target_update_interval",
    "train_freq",
)
TUNED_POLICY_KWARGS = ("net_arch", "n_heads", "goodness")
# Peak training memory of the d x d matrices, measured on CPU (torch 2.13): about 2.2 float32 tensors of shape
# (batch, n_actions, d, d) for the widest cell (the no-grad pass over all actions); 3 leaves some margin.
ACTIVATION_TENSORS = 3
# Share of the free memory (GPU if the trial runs on one, else RAM) that one trial may take, split over --n-jobs
MEMORY_FRACTION = 0.5
# Overrides the memory budget of one trial, in GiB (e.g. for several worker processes on one machine)
MEMORY_ENV_VAR = "SB3_ARQ_TUNE_MEMORY_GB"
# Seconds to wait for a database server before --storage is reported unreachable
CONNECT_TIMEOUT = 10

# The ExperimentManager whose objective is running (set by the ``objective`` wrapper; None outside rl-zoo3)
_EXPERIMENT: contextvars.ContextVar[Any] = contextvars.ContextVar("sb3_arq_experiment", default=None)


def activation_bytes(batch_size: int, net_arch: list[int], n_actions: int) -> int:
    """
    Estimated peak memory of one ARQ gradient step: the tanh of the d x d matrices M of every sample and action,
    ``ACTIVATION_TENSORS * 4 * batch_size * n_actions * max(net_arch) ** 2`` bytes (cells are computed one at a time,
    so the widest cell counts). Weights, optimizer states and the replay buffer come on top (they do not scale with
    batch * d * d; the replay buffer is ``buffer_size`` observations, not tuned here).

    :param batch_size: Minibatch size.
    :param net_arch: Widths of the cells.
    :param n_actions: Number of discrete actions (0, unknown, counts as 1).
    :return: Bytes.
    """
    return ACTIVATION_TENSORS * 4 * batch_size * max(n_actions, 1) * max(net_arch) ** 2


def memory_budget(device: str = "auto", n_jobs: int = 1) -> int | None:
    """
    Memory that one trial may use: ``MEMORY_FRACTION`` of the memory free now on the device the trial runs on (the
    GPU's, including what this process's CUDA cache holds unused, or the machine's available RAM), shared by the
    ``n_jobs`` trials that run at once. ``SB3_ARQ_TUNE_MEMORY_GB`` sets it explicitly, e.g. for several worker
    processes on one machine.

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
        try:
            meminfo = Path("/proc/meminfo").read_text()
        except OSError:
            return None
        available = [line.split()[1] for line in meminfo.splitlines() if line.startswith("MemAvailable:")]
        if not available:
            return None
        free = int(available[0]) * 1024
    return int(MEMORY_FRACTION * free / max(n_jobs, 1))


def format_policy_kwargs(policy_kwargs: dict[str, Any]) -> str:
    """
    Policy kwargs in the form of ``hyperparams/arq.yml``: a ``dict(...)`` string that rl-zoo3 evaluates.

    :param policy_kwargs: The keyword arguments (literal values; anything else is written with its ``repr``).
    :return: E.g. ``"dict(net_arch=[64, 64, 64], n_heads=8, goodness='std')"``.
    """
    return "dict(" + ", ".join(f"{key}={value!r}" for key, value in policy_kwargs.items()) + ")"


def yaml_form(hyperparams: dict[str, Any]) -> dict[str, Any]:
    """
    Hyperparameters as an entry of ``hyperparams/arq.yml``: policy kwargs as a ``dict(...)`` string, tuples as lists,
    any other value that is not plain data as its ``repr`` (JSON-safe, so it can be stored as an Optuna user attr).

    :param hyperparams: Hyperparameters as rl-zoo3 reads them (before its preprocessing) or as the sampler returns them.
    :return: A new dict.
    """
    entry = {}
    for key, value in hyperparams.items():
        if key == "policy_kwargs" and isinstance(value, dict):
            value = format_policy_kwargs(value)
        try:
            entry[key] = json.loads(json.dumps(value))
        except (TypeError, ValueError):
            entry[key] = repr(value)
    return entry


def convert_arq_params(params: dict[str, Any]) -> dict[str, Any]:
    """
    Turn the sampled values (an Optuna trial's ``params``) into ARQ's arguments: ``batch_size_pow`` -> ``batch_size``,
    the ``net_arch`` preset name -> widths, ``net_arch``/``n_heads``/``goodness`` -> ``policy_kwargs``. Parameters that
    were pinned (not sampled) are simply absent. Used for trials that recorded no ``hyperparams`` user attr (the
    recorded entry, pins and merged ``policy_kwargs`` included, is what ``--trial-id`` and ``best_params`` use).

    :param params: Sampled values, by name.
    :return: Hyperparameters for ``ARQ(...)``.
    """
    hyperparams = dict(params)
    if "batch_size_pow" in hyperparams:
        hyperparams["batch_size"] = 2 ** hyperparams.pop("batch_size_pow")
    policy_kwargs = {}
    if "net_arch" in hyperparams:
        policy_kwargs["net_arch"] = list(NET_ARCH_PRESETS[hyperparams.pop("net_arch")])
    for key in ("n_heads", "goodness"):
        if key in hyperparams:
            policy_kwargs[key] = hyperparams.pop(key)
    if policy_kwargs:
        hyperparams["policy_kwargs"] = policy_kwargs
    return hyperparams


def base_hyperparams(experiment: Any) -> dict[str, Any]:
    """
    The hyperparameters of the experiment before anything is sampled, as rl-zoo3 reads them: the env's entry of the
    config file (or its ``default`` entry) updated with ``-params``.

    :param experiment: rl-zoo3's ``ExperimentManager``.
    :return: A new dict (only ``-params`` when the config is not a yml file).
    """
    entry: dict[str, Any] = {}
    if str(experiment.config).endswith((".yml", ".yaml")):
        with open(experiment.config) as file:
            config = yaml.safe_load(file) or {}
        entry = dict(config.get(experiment.env_name.gym_id) or config.get("default") or {})
    entry.update(experiment.custom_hyperparams or {})
    return entry


def sample_arq_params(trial: optuna.Trial, n_actions: int, n_envs: int, additional_args: dict) -> dict[str, Any]:
    """
    Sampler for ARQ hyperparams (rl-zoo3's sampler signature). The search space, around the published settings
    (spec section 5, MinAtar / DMC in brackets):

    ======================== ============================================ =====================
    learning_rate            log-uniform [1e-5, 2e-3]                     (1e-4 / 2.5e-4)
    batch_size               2 ** batch_size_pow, 32 ... 1024             (512)
    net_arch (preset name)   small [64, 64, 64], dmc [128, 96, 96],       (minatar / dmc)
                             medium [256, 128, 128], minatar [400, 200, 200]
    n_heads                  2, 4, 8, 16                                  (8)
    goodness                 std, rms, msq                                (std)
    context_size             log-int [1, 16]                              (10)
    max_grad_norm            log-uniform [0.05, 10]                       (1.0 / 0.1)
    exploration_fraction     uniform [0.02, 0.5]                          (0.1 / 0.25)
    exploration_final_eps    uniform [0, 0.1]                             (0.01)
    target_update_interval   log-int [100, 10000]                         (1000)
    train_freq               1, 2, 4, 8 (gradient_steps stays the yml's)  (4)
    ======================== ============================================ =====================

    Everything else (gamma, buffer_size, learning_starts, the connections, ...) comes from the yml entry, as for any
    rl-zoo3 search. Two ARQ-specific rules:

    - Pinning: a hyperparameter given on the command line with ``-params`` is not searched, it keeps that value
      (``-params batch_size:64 "policy_kwargs:dict(net_arch=[64, 64])"`` pins the batch size and the widths, and
      still searches n_heads and goodness). The sampled policy kwargs are merged into the yml's (or ``-params``')
      ``policy_kwargs`` instead of replacing them.
    - Fitting the machine: the search space is the same on every machine (a shared study needs that), but a trial
      whose d x d matrices would not fit is pruned before it builds anything. Its estimated peak,
      ``activation_bytes(batch_size, net_arch, n_actions)`` = 3 * 4 bytes * batch * n_actions * max(width)^2 (the
      published MinAtar setting with 6 actions: 5.9 GB; DMC's 64 actions at [400, 200, 200] would need 126 GB at batch
      1024), must stay within ``memory_budget()``: half the memory free on the trial's device (GPU, else RAM), split
      over ``--n-jobs``; ``SB3_ARQ_TUNE_MEMORY_GB`` sets it per trial. TPE then learns to avoid those configurations.
      Time is not capped: on a CPU, pin small widths and batches (one gradient step at [400, 200, 200], batch 256,
      takes seconds on one core).

    Each trial records in its user attrs ``env_id`` and ``hyperparams``: the complete yml entry that it ran with, which
    ``python -m sb3_arq.zoo.best_params`` writes out.

    :param trial: The Optuna trial.
    :param n_actions: Number of discrete actions (set by sb3-arq's integration; 0 if unknown).
    :param n_envs: Number of environments (unused).
    :param additional_args: rl-zoo3's extra arguments (unused: ARQ has no HER).
    :return: The sampled hyperparameters, ready for ``ARQ(...)`` (policy kwargs merged with the base ones).
    """
    experiment = _EXPERIMENT.get()
    base = base_hyperparams(experiment) if experiment is not None else {}
    pinned = dict(experiment.custom_hyperparams or {}) if experiment is not None else {}
    pinned_policy_kwargs = pinned.get("policy_kwargs") if isinstance(pinned.get("policy_kwargs"), dict) else {}
    # The policy kwargs that rl-zoo3 would pass (the yml's, or -params' which replace them), already evaluated
    base_policy_kwargs = experiment._hyperparams.get("policy_kwargs", {}) if experiment is not None else {}

    if "learning_rate" not in pinned:
        trial.suggest_float("learning_rate", 1e-5, 2e-3, log=True)
    if "batch_size" not in pinned:
        trial.suggest_int("batch_size_pow", 5, 10)
    if "net_arch" not in pinned_policy_kwargs:
        trial.suggest_categorical("net_arch", list(NET_ARCH_PRESETS))
    if "n_heads" not in pinned_policy_kwargs:
        trial.suggest_categorical("n_heads", [2, 4, 8, 16])
    if "goodness" not in pinned_policy_kwargs:
        trial.suggest_categorical("goodness", ["std", "rms", "msq"])
    if "context_size" not in pinned:
        trial.suggest_int("context_size", 1, 16, log=True)
    if "max_grad_norm" not in pinned:
        trial.suggest_float("max_grad_norm", 0.05, 10.0, log=True)
    if "exploration_fraction" not in pinned:
        trial.suggest_float("exploration_fraction", 0.02, 0.5)
    if "exploration_final_eps" not in pinned:
        trial.suggest_float("exploration_final_eps", 0.0, 0.1)
    if "target_update_interval" not in pinned:
        trial.suggest_int("target_update_interval", 100, 10000, log=True)
    if "train_freq" not in pinned:
        trial.suggest_categorical("train_freq", [1, 2, 4, 8])

    hyperparams = convert_arq_params(trial.params)
    hyperparams["policy_kwargs"] = {**base_policy_kwargs, **hyperparams.get("policy_kwargs", {})}

    trial.set_user_attr("env_id", experiment.env_name.gym_id if experiment is not None else None)
    trial.set_user_attr("hyperparams", yaml_form({**base, **hyperparams}))

    batch_size = hyperparams.get("batch_size", base.get("batch_size", 512))
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


def _redacted(url: str) -> str:
    """The storage URL with its password masked (as written if it cannot be parsed)."""
    import sqlalchemy

    try:
        return sqlalchemy.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url


def open_storage(storage: str) -> optuna.storages.BaseStorage:
    """
    Open an Optuna storage as rl-zoo3's ``--storage`` means it, and fail with a clear message where it cannot be used.

    ``*.log`` is a local journal file (``JournalFileBackend``: no server, several processes of one machine can share
    it); anything else is a SQLAlchemy database URL, e.g. ``sqlite:///study.db`` or
    ``postgresql+psycopg2://user:password@host:5432/database`` (tables are created at the first use).

    :param storage: The ``--storage`` value.
    :return: The opened storage.
    """
    if storage.endswith(".log"):
        try:
            Path(storage).parent.mkdir(parents=True, exist_ok=True)
            return optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(storage))
        except OSError as error:
            raise ValueError(f"Cannot use the Optuna journal file --storage {storage!r}: {error}") from None

    import sqlalchemy

    hint = (
        "--storage takes a journal file ending in .log (one machine, no server) or a database URL such as "
        "sqlite:///study.db or postgresql+psycopg2://user:password@host:5432/database"
    )
    try:
        url = sqlalchemy.engine.make_url(storage)
    except sqlalchemy.exc.ArgumentError:
        raise ValueError(f"--storage {storage!r} is not a storage: {hint}") from None
    engine_kwargs = {}
    if url.get_backend_name() in ("postgresql", "mysql"):
        engine_kwargs = {"connect_args": {"connect_timeout": CONNECT_TIMEOUT}}
    for attempt in range(3):
        try:
            return optuna.storages.RDBStorage(storage, engine_kwargs=engine_kwargs)
        except ImportError as error:
            raise ValueError(
                f"The database driver of --storage {_redacted(storage)} is not installed ({error.__cause__ or error}). "
                "For PostgreSQL: pip install psycopg2-binary and write postgresql+psycopg2://... (SQLAlchemy >= 2.1 "
                "reads a plain postgresql:// as psycopg 3: pip install 'psycopg[binary]')"
            ) from None
        except sqlalchemy.exc.NoSuchModuleError:
            raise ValueError(f"Unknown database in --storage {_redacted(storage)}: {hint}") from None
        except sqlalchemy.exc.OperationalError as error:
            reason = str(error.orig or error).strip().splitlines()[0]
            raise ValueError(
                f"Cannot connect to the Optuna storage {_redacted(storage)}: {reason}. Is the database server running and "
                "reachable from this machine, and are the user, password and database name right? (see the README, Tune)"
            ) from None
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError):
            # Several workers that start together on an empty database race to create Optuna's tables: retry
            if attempt == 2:
                raise
            time.sleep(1.0 + attempt)
    raise AssertionError("unreachable")


def check_optimization_args(experiment: Any) -> None:
    """
    Fail early and clearly on what rl-zoo3 leaves to a deep traceback: a ``--storage`` that cannot be opened or
    reached, and ``--sampler auto`` without ``optunahub``. (Unknown ``--sampler``/``--pruner`` names are refused by
    rl-zoo3's argument parser, and by ``ExperimentManager`` with "Unknown sampler/pruner".)

    :param experiment: rl-zoo3's ``ExperimentManager``.
    """
    if experiment.sampler == "auto" and importlib.util.find_spec("optunahub") is None:
        raise ValueError("--sampler auto needs the optunahub package (pip install optunahub), or use tpe or random")
    if experiment.storage is not None:
        storage = open_storage(experiment.storage)
        if isinstance(storage, optuna.storages.RDBStorage):
            storage.engine.dispose()


def _record_discrete_n_actions(experiment_manager_cls: type) -> None:
    """Wrap ``ExperimentManager._preprocess_action_noise`` to set ``n_actions`` for Discrete actions too (arq only)."""
    original = experiment_manager_cls._preprocess_action_noise

    @functools.wraps(original)
    def _preprocess_action_noise(self, hyperparams, saved_hyperparams, env):
        hyperparams = original(self, hyperparams, saved_hyperparams, env)
        if self.algo == "arq" and hasattr(env.action_space, "n"):
            self.n_actions = int(env.action_space.n)
        return hyperparams

    experiment_manager_cls._preprocess_action_noise = _preprocess_action_noise


def _expose_experiment(experiment_manager_cls: type) -> None:
    """Wrap ``ExperimentManager.objective`` so that ``sample_arq_params`` sees the running experiment (arq only)."""
    original = experiment_manager_cls.objective

    @functools.wraps(original)
    def objective(self, trial):
        if self.algo != "arq":
            return original(self, trial)
        token = _EXPERIMENT.set(self)
        try:
            return original(self, trial)
        finally:
            _EXPERIMENT.reset(token)

    experiment_manager_cls.objective = objective


def _load_recorded_trial(experiment_manager_cls: type) -> None:
    """
    Wrap ``ExperimentManager.load_trial`` (``--storage ... --study-name ... --trial-id N``) so that, for arq, it
    returns the tuned hyperparameters that the trial ran with (pinned ones and the whole ``policy_kwargs`` included),
    from its recorded ``hyperparams`` user attr, rather than only its converted ``params``.
    """
    original = experiment_manager_cls.load_trial

    @functools.wraps(original)
    def load_trial(self, storage, study_name, trial_id=None, convert=True):
        if self.algo != "arq" or not convert:
            return original(self, storage, study_name, trial_id, convert)
        study = optuna.load_study(storage=open_storage(storage), study_name=study_name)
        trial = study.trials[trial_id] if trial_id is not None else study.best_trial
        entry = trial.user_attrs.get("hyperparams")
        if entry is None:
            return convert_arq_params(trial.params)
        return {key: entry[key] for key in (*TUNED_HYPERPARAMS, "policy_kwargs") if key in entry}

    experiment_manager_cls.load_trial = load_trial


def _check_before_optimizing(experiment_manager_cls: type) -> None:
    """Wrap ``ExperimentManager.hyperparameters_optimization`` with ``check_optimization_args`` (arq only)."""
    original = experiment_manager_cls.hyperparameters_optimization

    @functools.wraps(original)
    def hyperparameters_optimization(self):
        if self.algo != "arq":
            return original(self)
        check_optimization_args(self)
        try:
            original(self)
        except ValueError as error:
            if "No trials are completed yet" not in str(error):
                raise
            # rl-zoo3 reports the best trial at the end, which fails when every trial was pruned
            raise ValueError(
                "No trial of the study has completed: every trial was pruned (Optuna's log above says why; a trial that "
                f"does not fit the memory budget is pruned before it runs: pin a smaller batch_size or net_arch with "
                f"-params, or set {MEMORY_ENV_VAR})"
            ) from None
        if self.storage is not None:
            study_name = "" if self.study_name is None else f" --study-name {self.study_name}"
            command = f"python -m sb3_arq.zoo.best_params --storage {self.storage}{study_name} -o best.yml"
            print(f"Best hyperparameters as yml: {command}")

    experiment_manager_cls.hyperparameters_optimization = hyperparameters_optimization


def register_sampler() -> None:
    """
    Register ARQ's sampler and converter with rl-zoo3 and wrap ``ExperimentManager`` for them (idempotent).
    """
    from rl_zoo3.exp_manager import ExperimentManager
    from rl_zoo3.hyperparams_opt import HYPERPARAMS_CONVERTER, HYPERPARAMS_SAMPLER

    # The same dicts that rl_zoo3.exp_manager imported by name
    HYPERPARAMS_SAMPLER["arq"] = sample_arq_params
    HYPERPARAMS_CONVERTER["arq"] = convert_arq_params
    if getattr(ExperimentManager, "_sb3_arq_tuning", False):
        return
    _record_discrete_n_actions(ExperimentManager)
    _expose_experiment(ExperimentManager)
    _load_recorded_trial(ExperimentManager)
    _check_before_optimizing(ExperimentManager)
    ExperimentManager._sb3_arq_tuning = True


__all__ = [
    "NET_ARCH_PRESETS",
    "activation_bytes",
    "check_optimization_args",
    "convert_arq_params",
    "format_policy_kwargs",
    "memory_budget",
    "open_storage",
    "register_sampler",
    "sample_arq_params",
]
