"""
sb3-arq's one hook into rl-zoo3: ``ARQExperimentManager``, a subclass of rl-zoo3's ``ExperimentManager``.

rl-zoo3's ``train`` script builds the class it finds under the name ``rl_zoo3.exp_manager.ExperimentManager``;
``bind_experiment_manager()`` (run by ``sb3_arq.zoo.register()``) binds that name to this subclass (and
``rl_zoo3.train.ExperimentManager`` if that module is already imported). For any ``--algo`` but ``arq`` the subclass
is rl-zoo3's class unchanged. For ``--algo arq``:

- without ``--conf-file`` it reads sb3-arq's packaged ``hyperparams/arq.yml``;
- during ``-optimize``, rl-zoo3's ``HYPERPARAMS_SAMPLER["arq"]`` is ``sample_hyperparams``, which adds to rl-zoo3's
  ``additional_args`` what ARQ's sampler reads (``sampler.SEARCH_ARGS``: ``-params`` pins, the yml entry as written,
  the trial's budget, device and ``--n-jobs``), as rl-zoo3's TQC sampler adds its key before calling SAC's; with
  ``SB3_ARQ_TRIAL_SEEDS=N`` each trial trains N seeds and scores the worst (``objective``);
- before a search it checks ``--storage`` and ``--sampler auto`` with clear errors, and records the number of actions
  of a ``Discrete`` action space in ``n_actions`` (rl-zoo3 does it for ``Box`` only), for the sampler's memory cap;
- the ``random`` and ``tpe`` samplers sample each trial with a sampler seeded from ``--seed`` and the trial's number
  (``TrialSeededSampler``): workers of one study started with the same ``--seed`` do not repeat configurations;
- ``--trial-id`` loads the hyperparameters that the trial ran with (``sampler.trial_entry``: pins and merged policy
  kwargs included) of ``sampler.SEARCHED_ARGUMENTS``, not only its sampled values.

The study itself is created by rl-zoo3 from the ``--storage`` string (a ``.log`` journal file or a database URL).
"""

import importlib.util
import inspect
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import rl_zoo3.exp_manager
import rl_zoo3.utils
from gymnasium import spaces
from rl_zoo3.exp_manager import ExperimentManager
from rl_zoo3.hyperparams_opt import HYPERPARAMS_SAMPLER
from stable_baselines3.common.utils import set_random_seed

from sb3_arq.zoo.packaged import ZOO_ALGOS, hyperparams_path
from sb3_arq.zoo.sampler import MEMORY_ENV_VAR, SEARCHED_ARGUMENTS, sample_arq_params, trial_entry

# What Optuna says of a study's best trial when no trial completed: in memory or a journal file, then in a database
NO_COMPLETED_TRIAL = ("No trials are completed yet", "Record does not exist")
# Seconds to wait for a database server before --storage is reported unreachable
CONNECT_TIMEOUT = 10
# Seeds per trial (SB3_ARQ_TRIAL_SEEDS, default 1): the trial's value is the worst seed's; seeds of repeats start at the stride
TRIAL_SEEDS_ENV_VAR = "SB3_ARQ_TRIAL_SEEDS"
TRIAL_SEED_STRIDE = 1000


def trial_seeds() -> int:
    """The number of seeds each trial of ``-optimize`` runs (``SB3_ARQ_TRIAL_SEEDS``, default 1), checked."""
    value = os.environ.get(TRIAL_SEEDS_ENV_VAR, "1").strip()
    if not value.isdigit() or not 1 <= int(value) < TRIAL_SEED_STRIDE:
        raise ValueError(f"{TRIAL_SEEDS_ENV_VAR} must be an integer from 1 to {TRIAL_SEED_STRIDE - 1}, got {value!r}")
    return int(value)


def open_storage(storage: str) -> optuna.storages.BaseStorage:
    """
    Open an Optuna storage as rl-zoo3's ``--storage`` means it, and fail with a clear message (password masked) where
    it cannot be used: a path ending in ``.log`` is a journal file (no server; processes of one machine can share it),
    anything else a SQLAlchemy URL such as ``sqlite:///study.db`` or ``postgresql+psycopg2://user:password@host/db``
    (Optuna's tables are created at the first use).

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

    hint = "--storage takes a journal file ending in .log or a database URL such as sqlite:///study.db"
    try:
        url = sqlalchemy.engine.make_url(storage)
    except sqlalchemy.exc.ArgumentError:
        raise ValueError(f"--storage {storage!r} is not a storage: {hint}") from None
    shown = url.render_as_string(hide_password=True)
    engine_kwargs = {}
    if url.get_backend_name() in ("postgresql", "mysql"):
        engine_kwargs = {"connect_args": {"connect_timeout": CONNECT_TIMEOUT}}
    for attempt in range(3):
        try:
            return optuna.storages.RDBStorage(storage, engine_kwargs=engine_kwargs)
        except ImportError as error:
            raise ValueError(
                f"The database driver of --storage {shown} is not installed ({error.__cause__ or error}). For PostgreSQL: "
                "pip install psycopg2-binary and write postgresql+psycopg2://... (SQLAlchemy >= 2.1 reads a plain "
                "postgresql:// as psycopg 3: pip install 'psycopg[binary]')"
            ) from None
        except sqlalchemy.exc.NoSuchModuleError:
            raise ValueError(f"Unknown database in --storage {shown}: {hint}") from None
        except sqlalchemy.exc.OperationalError as error:
            raise ValueError(
                f"Cannot connect to the Optuna storage {shown}: {str(error.orig or error).strip().splitlines()[0]}. Is the "
                "database server running and reachable from here, and are the user, password and database name right?"
            ) from None
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError):
            # Workers that start together on an empty database race to create Optuna's tables: retry
            if attempt == 2:
                raise
            time.sleep(1.0 + attempt)
    raise AssertionError("unreachable")


class TrialSeededSampler(optuna.samplers.BaseSampler):
    """
    An Optuna sampler that samples each trial with its own sampler, seeded from the search's seed and the trial's
    number: workers of one study started with the same ``--seed`` never sample each other's configurations (a trial
    number is unique in a study), and one worker's search stays reproducible. The samplers read the study's history
    (e.g. TPE after its startup trials) as a single sampler would.

    :param method: rl-zoo3's ``--sampler``: "random" or "tpe" (multivariate, as rl-zoo3 makes it).
    :param seed: The search's seed (None: each trial's seed from the OS's entropy).
    :param n_startup_trials: TPE's random trials before it models the history (rl-zoo3's ``n_startup_trials``).
    """

    def __init__(self, method: str, seed: int | None, n_startup_trials: int = 0):
        if method not in ("random", "tpe"):
            raise ValueError(f"method must be 'random' or 'tpe', got {method!r}")
        self.method = method
        self.seed = seed
        self.n_startup_trials = n_startup_trials
        # Per trial number. With --n-jobs, trials sample in threads, each trial in one thread: one key per thread.
        self._samplers: dict[int, optuna.samplers.BaseSampler] = {}

    def make_sampler(self, seed: int) -> optuna.samplers.BaseSampler:
        """:return: The sampler of one trial, seeded with ``seed``."""
        if self.method == "random":
            return optuna.samplers.RandomSampler(seed=seed)
        with warnings.catch_warnings():  # rl-zoo3's own TPESampler has warned once that multivariate is experimental
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.samplers.TPESampler(n_startup_trials=self.n_startup_trials, seed=seed, multivariate=True)

    def trial_seed(self, number: int) -> int:
        """:return: The seed of trial ``number``'s sampler."""
        entropy = None if self.seed is None else [self.seed, number]
        return int(np.random.SeedSequence(entropy).generate_state(1)[0])

    def _sampler(self, trial: optuna.trial.FrozenTrial) -> optuna.samplers.BaseSampler:
        if trial.number not in self._samplers:
            self._samplers[trial.number] = self.make_sampler(self.trial_seed(trial.number))
        return self._samplers[trial.number]

    def infer_relative_search_space(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> dict[str, Any]:
        return self._sampler(trial).infer_relative_search_space(study, trial)

    def sample_relative(self, study: optuna.Study, trial: optuna.trial.FrozenTrial, search_space: dict[str, Any]) -> dict:
        return self._sampler(trial).sample_relative(study, trial, search_space)

    def sample_independent(
        self, study: optuna.Study, trial: optuna.trial.FrozenTrial, param_name: str, param_distribution: Any
    ) -> Any:
        return self._sampler(trial).sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        self._sampler(trial).before_trial(study, trial)

    def after_trial(self, study: optuna.Study, trial: optuna.trial.FrozenTrial, state: Any, values: Any) -> None:
        self._sampler(trial).after_trial(study, trial, state, values)
        self._samplers.pop(trial.number, None)

    def reseed_rng(self) -> None:
        """Nothing to reseed: each trial's sampler is seeded from the seed and the trial's number."""


class ARQExperimentManager(ExperimentManager):
    """rl-zoo3's ``ExperimentManager``, with sb3-arq's packaged hyperparameters and search for ``--algo arq``."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        config = inspect.signature(ExperimentManager.__init__).bind(self, *args, **kwargs).arguments.get("config")
        if config is None and self.algo in ZOO_ALGOS:
            self.config = hyperparams_path(self.algo)
        self.yml_entry: dict[str, Any] = {}

    def read_hyperparameters(self) -> tuple[dict[str, Any], dict[str, Any]]:
        hyperparams, saved_hyperparams = super().read_hyperparameters()
        self.yml_entry = dict(saved_hyperparams)  # the entry as written, -params applied, before any preprocessing
        return hyperparams, saved_hyperparams

    def objective(self, trial: optuna.Trial) -> float:
        """
        rl-zoo3's objective (train, then the last evaluation's mean return), run with the same sampled configuration
        for ``trial_seeds()`` seeds when ``SB3_ARQ_TRIAL_SEEDS`` > 1: repeat ``i`` of trial ``n`` seeds the model and its
        envs with ``--seed + TRIAL_SEED_STRIDE * (n + 1) + i`` (never a seed below the stride, kept for validation), and
        the trial's value is the worst repeat's, so that the search rewards settings that learn on every seed. The
        returns of the repeats are the trial's user attr ``seed_returns``; pruning (rl-zoo3's ``--pruner``) sees the
        first repeat's evaluations only.
        """
        n_seeds = trial_seeds() if self.algo in ZOO_ALGOS else 1
        if n_seeds == 1:
            return super().objective(trial)
        first_seed = self.seed
        try:
            returns = []
            for repeat in range(n_seeds):
                self.seed = first_seed + TRIAL_SEED_STRIDE * (trial.number + 1) + repeat
                set_random_seed(self.seed)  # rl-zoo3 builds the trial's model with seed=None: the global generators
                returns.append(super().objective(trial))
            trial.set_user_attr("seed_returns", returns)
            return min(returns)
        finally:
            self.seed = first_seed

    def sample_hyperparams(
        self, trial: optuna.Trial, n_actions: int, n_envs: int, additional_args: dict[str, Any]
    ) -> dict[str, Any]:
        """
        rl-zoo3's ``HYPERPARAMS_SAMPLER["arq"]`` while this manager searches: ARQ's sampler, with this search's
        ``-params`` (pins), yml entry, evaluated policy kwargs, budget, device, ``--n-jobs`` and env id added to
        rl-zoo3's ``additional_args`` (``sampler.SEARCH_ARGS``).

        :param trial: The Optuna trial.
        :param n_actions: Number of discrete actions (``n_actions``, set by ``hyperparameters_optimization``).
        :param n_envs: Number of environments.
        :param additional_args: rl-zoo3's extra arguments.
        :return: The sampled hyperparameters, ready for ``ARQ(...)``.
        """
        search_args = dict(
            pinned=self.custom_hyperparams or {},
            entry=self.yml_entry,
            policy_kwargs=self._hyperparams.get("policy_kwargs", {}),
            n_timesteps=self.n_timesteps,
            device=self.device,
            n_jobs=self.n_jobs,
            env_id=self.env_name.gym_id,
        )
        return sample_arq_params(trial, n_actions, n_envs, {**additional_args, **search_args})

    def load_trial(self, storage: str, study_name: str, trial_id: int | None = None, convert: bool = True) -> dict[str, Any]:
        if self.algo not in ZOO_ALGOS or not convert:
            return super().load_trial(storage, study_name, trial_id, convert)
        study = optuna.load_study(storage=open_storage(storage), study_name=study_name)
        entry = trial_entry(study.trials[trial_id] if trial_id is not None else study.best_trial)
        return {key: entry[key] for key in SEARCHED_ARGUMENTS if key in entry}

    def _create_sampler(self, sampler_method: str) -> optuna.samplers.BaseSampler:
        """
        rl-zoo3's sampler; for ``--algo arq`` with ``random`` or ``tpe``, a ``TrialSeededSampler``, so that workers of
        one study started with the same ``--seed`` do not repeat configurations. ``auto`` (optunahub's AutoSampler,
        which keeps a state across trials) is rl-zoo3's: a warning asks for one ``--seed`` per worker when the study
        is shared through ``--storage``.
        """
        sampler = super()._create_sampler(sampler_method)  # rl-zoo3's checks and messages
        if self.algo not in ZOO_ALGOS:
            return sampler
        if sampler_method == "auto":
            if self.storage is not None:
                warnings.warn(
                    "--sampler auto: workers that share --storage with the same --seed sample the same configurations; "
                    "start each worker with its own --seed (or use --sampler tpe or random, which never repeat them)",
                    stacklevel=2,
                )
            return sampler

        return TrialSeededSampler(sampler_method, self.seed, self.n_startup_trials)

    def hyperparameters_optimization(self) -> None:
        if self.algo not in ZOO_ALGOS:
            return super().hyperparameters_optimization()
        if self.sampler == "auto" and importlib.util.find_spec("optunahub") is None:
            raise ValueError("--sampler auto needs the optunahub package (pip install optunahub), or use tpe or random")
        if self.storage is not None:
            storage = open_storage(self.storage)
            if isinstance(storage, optuna.storages.RDBStorage):
                storage.engine.dispose()
        env = self.create_envs(1, no_log=True)
        if isinstance(env.action_space, spaces.Discrete):
            self.n_actions = int(env.action_space.n)
        env.close()
        registered, HYPERPARAMS_SAMPLER[self.algo] = HYPERPARAMS_SAMPLER[self.algo], self.sample_hyperparams
        try:
            super().hyperparameters_optimization()
        except ValueError as error:
            if not any(message in str(error) for message in NO_COMPLETED_TRIAL):
                raise
            raise ValueError(
                "No trial of the study has completed: every trial was pruned. Optuna's log above says why; a trial is "
                "pruned before it runs when its budget does not exceed learning_starts (pass a larger -n or add a smaller "
                "learning_starts to -params) or when it does not fit the memory budget (add a smaller batch_size or "
                f"net_arch to -params, or set {MEMORY_ENV_VAR})"
            ) from None
        finally:
            HYPERPARAMS_SAMPLER[self.algo] = registered
        if self.storage is not None:
            study_name = "" if self.study_name is None else f" --study-name {self.study_name}"
            command = f"python -m sb3_arq.zoo.best_params --storage {self.storage}{study_name} -o best.yml"
            print(f"Best hyperparameters as yml: {command}")


def bind_experiment_manager() -> None:
    """
    Bind the name ``ExperimentManager`` of ``rl_zoo3.exp_manager`` (and of ``rl_zoo3.train`` if imported) to
    ``ARQExperimentManager``, where rl-zoo3's ``train`` script finds the class it builds.
    """
    for module in (rl_zoo3.exp_manager, sys.modules.get("rl_zoo3.train")):
        if module is not None:
            module.ExperimentManager = ARQExperimentManager
