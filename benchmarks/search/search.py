"""
A hyperparameter search of ARQ that rewards settings that learn on every seed: each trial trains one configuration on
``--seeds-per-trial`` seeds and scores the worst seed's final greedy return (``--eval-episodes`` episodes).

    python benchmarks/search/search.py --env CartPole-v1 --conf-file benchmarks/search/cartpole-v1-gamma99.yml \\
        --storage logs/search/cartpole.log --study-name cartpole --n-trials 16 --seeds-per-trial 3 -n 20000 \\
        -params batch_size:32 "policy_kwargs:dict(net_arch=[64, 64])"

A trial's runs are rl-zoo3 runs (``ExperimentManager``, logs under ``-f``): the ``--conf-file`` entry for ``--env``
(else its ``default``), the ``-params`` given here, and the values sampled from ``SEARCH_SPACE``
(``sb3_arq.zoo.sampler``) but for the pinned ones. Beyond rl-zoo3's own ``-optimize``:

- a hyperparameter given with ``-params`` is pinned: not searched (a policy kwarg too); the sampled policy kwargs are
  merged into the entry's;
- the learning rate is searched over ``--learning-rate-span`` either side of the entry's, log-uniformly, and an
  entry's ``lin_<value>`` stays a linear schedule whose start is searched;
- repeat ``i`` of trial ``n`` is seeded with ``1000 * (n + 1) + i`` (seeds below 1000 stay for validation); each
  trial records its returns (user attr ``seed_returns``) and its complete yml entry (``hyperparams``);
- a trial is pruned before it trains, saying why, when its budget does not exceed ``learning_starts`` or when its d x d
  matrices would not fit ``--memory-gb``; a search in which every trial was pruned fails with the ways out.

``--storage`` is a journal file (ending in ``.log``: processes of one machine can share it) or a database URL
(``postgresql+psycopg2://user:password@host/db`` for workers on several machines); workers of one study sample their
own configurations when each has its own ``--seed``. ``report.py`` writes a study's trials as a table and its best trial
as a yml entry for ``--conf-file``.
"""

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import optuna
import torch as th
import yaml
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState
from rl_zoo3.exp_manager import ExperimentManager
from rl_zoo3.utils import StoreDict
from stable_baselines3.common.evaluation import evaluate_policy

import sb3_arq.zoo
from sb3_arq.zoo.sampler import SEARCH_SPACE, convert_arq_params, suggest

TRIAL_SEED_STRIDE = 1000  # repeat i of trial n: seed 1000 * (n + 1) + i
# Peak training memory of the d x d matrices, measured on CPU (torch 2.13): about 2.2 float32 tensors of shape
# (batch, n_actions, d, d) for the widest cell (the no-grad pass over all actions); 3 leaves some margin.
ACTIVATION_TENSORS = 3
CONNECT_TIMEOUT = 10  # seconds to wait for a database server before --storage is reported unreachable


def open_storage(storage: str) -> optuna.storages.BaseStorage:
    """
    Open an Optuna storage, and fail with a clear message (password masked) where it cannot be used: a path ending in
    ``.log`` is a journal file, anything else a SQLAlchemy URL (Optuna's tables are created at the first use).

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

    try:
        url = sqlalchemy.engine.make_url(storage)
    except sqlalchemy.exc.ArgumentError:
        raise ValueError(f"--storage {storage!r} is neither a journal file ending in .log nor a database URL") from None
    shown = url.render_as_string(hide_password=True)
    engine_kwargs = {"connect_args": {"connect_timeout": CONNECT_TIMEOUT}} if url.get_backend_name() == "postgresql" else {}
    for attempt in range(3):
        try:
            return optuna.storages.RDBStorage(storage, engine_kwargs=engine_kwargs)
        except (ImportError, sqlalchemy.exc.NoSuchModuleError) as error:
            raise ValueError(f"Cannot open --storage {shown}: {error} (PostgreSQL: pip install psycopg2-binary)") from None
        except sqlalchemy.exc.OperationalError as error:
            reason = str(error.orig or error).strip().splitlines()[0]
            raise ValueError(f"Cannot connect to the Optuna storage {shown}: {reason}") from None
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError):
            # Workers that start together on an empty database race to create Optuna's tables: retry
            if attempt == 2:
                raise
            time.sleep(1.0 + attempt)
    raise AssertionError("unreachable")


def activation_bytes(batch_size: int, net_arch: list[int], n_actions: int) -> int:
    """
    Estimated peak memory of one ARQ gradient step: the tanh of the d x d matrices of every sample and action, for the
    widest cell (cells are computed one at a time). Weights, optimizer states and the replay buffer come on top.

    :param batch_size: Minibatch size.
    :param net_arch: Widths of the cells.
    :param n_actions: Number of discrete actions.
    :return: Bytes.
    """
    return ACTIVATION_TENSORS * 4 * batch_size * n_actions * max(net_arch) ** 2


def yaml_form(hyperparams: dict[str, Any]) -> dict[str, Any]:
    """
    Hyperparameters as a yml entry: policy kwargs as the ``dict(...)`` string that rl-zoo3 evaluates, any other value
    that is not plain data as its ``repr`` (JSON-safe, for an Optuna user attr).

    :param hyperparams: Hyperparameters, ``policy_kwargs`` a dict.
    :return: A new dict.
    """
    entry = {}
    for key, value in hyperparams.items():
        if key == "policy_kwargs":
            value = "dict(" + ", ".join(f"{name}={item!r}" for name, item in value.items()) + ")"
        try:
            entry[key] = json.loads(json.dumps(value))
        except (TypeError, ValueError):
            entry[key] = repr(value)
    return entry


def read_entry(conf_file: str, env_id: str) -> dict[str, Any]:
    """
    :param conf_file: A yml file of rl-zoo3's form.
    :param env_id: The env id.
    :return: Its entry for the env (else its ``default``), as written.
    """
    entries = yaml.safe_load(Path(conf_file).read_text())
    if env_id not in entries and "default" not in entries:
        raise ValueError(f"{conf_file} has no entry for {env_id} and no default entry")
    return dict(entries.get(env_id, entries.get("default")))


def written_learning_rate(entry: dict[str, Any], pinned: dict[str, Any]) -> tuple[float, bool]:
    """
    :param entry: The yml entry, as written.
    :param pinned: The ``-params`` hyperparameters.
    :return: The (initial) learning rate that the search centres on (a number, or rl-zoo3's ``lin_<value>``), and
        whether it is a linear schedule.
    """
    value = str(pinned.get("learning_rate", entry.get("learning_rate", "")))
    try:
        return float(value.removeprefix("lin_")), value.startswith("lin_")
    except ValueError:
        raise ValueError(f"the learning rate to search around must be a number or lin_<number>, got {value!r}") from None


def sample_overrides(trial: optuna.Trial, args: argparse.Namespace, entry: dict[str, Any]) -> dict[str, Any]:
    """
    Sample a trial's configuration: every hyperparameter of ``SEARCH_SPACE`` that is not pinned, the learning rate
    around the entry's (keeping its ``lin_`` schedule).

    :param trial: The Optuna trial.
    :param args: The search's arguments (``hyperparams``: the pins, ``policy_kwargs`` a dict).
    :param entry: The yml entry, as written.
    :return: The hyperparameters that override the entry: the pins and the sampled values, policy kwargs merged into
        the entry's.
    """
    pinned = args.hyperparams or {}
    pinned_names = set(pinned) | set(pinned.get("policy_kwargs", {}))
    center, linear = written_learning_rate(entry, pinned)
    for name, searched in SEARCH_SPACE.items():
        distribution = searched.distribution
        if name == "learning_rate":
            span = args.learning_rate_span
            distribution = FloatDistribution(center / span, center * span, log=True)
        if name not in pinned_names:
            suggest(trial, searched.param or name, distribution)
    sampled = convert_arq_params(trial.params)
    if linear and "learning_rate" in sampled:
        sampled["learning_rate"] = f"lin_{sampled['learning_rate']}"
    written = eval(entry.get("policy_kwargs", "dict()"))  # rl-zoo3 evaluates the entry's dict(...) string too
    policy_kwargs = {**written, **pinned.get("policy_kwargs", {}), **sampled.get("policy_kwargs", {})}
    return {**pinned, **sampled, "policy_kwargs": policy_kwargs}


def train_and_evaluate(args: argparse.Namespace, overrides: dict[str, Any], seed: int) -> float:
    """
    One rl-zoo3 run of a trial's configuration, then its final greedy evaluation; pruned before it trains when the
    budget or the memory does not fit the configuration.

    :param args: The search's arguments.
    :param overrides: The hyperparameters that override the entry.
    :param seed: The run's seed.
    :return: The mean return of ``args.eval_episodes`` greedy episodes.
    """
    manager = ExperimentManager(
        args, "arq", args.env, args.log_folder, n_timesteps=args.n_timesteps, eval_freq=-1, hyperparams=overrides,
        seed=seed, device=args.device, config=args.conf_file, verbose=0,
    )  # fmt: skip
    model, _ = manager.setup_experiment()
    batch_size, net_arch, n_actions = model.batch_size, model.policy.net_arch, model.action_space.n
    needed = activation_bytes(batch_size, net_arch, n_actions)
    reason = None
    if manager.n_timesteps <= model.learning_starts:
        reason = (
            f"the trial's budget of {manager.n_timesteps} steps (-n, else the entry's n_timesteps) does not exceed "
            f"learning_starts={model.learning_starts}: it would end before its first gradient step"
        )
    elif args.memory_gb is not None and needed > args.memory_gb * 2**30:
        reason = (
            f"batch_size={batch_size} with net_arch={net_arch} and {n_actions} actions needs about "
            f"{needed / 2**30:.3g} GiB for its d x d matrices, over --memory-gb {args.memory_gb}"
        )
    try:
        if reason is not None:
            raise optuna.TrialPruned(f"{reason}: not run")
        model.learn(manager.n_timesteps, callback=manager.callbacks)
    finally:
        model.env.close()
    eval_env = manager.create_envs(1, eval_env=True)
    mean_return, _ = evaluate_policy(model, eval_env, n_eval_episodes=args.eval_episodes)
    eval_env.close()
    return float(mean_return)


def objective(trial: optuna.Trial, args: argparse.Namespace, entry: dict[str, Any]) -> float:
    """
    Train a sampled configuration on ``args.seeds_per_trial`` seeds.

    :param trial: The Optuna trial.
    :param args: The search's arguments.
    :param entry: The yml entry, as written.
    :return: The worst seed's final return.
    """
    overrides = sample_overrides(trial, args, entry)
    trial.set_user_attr("env_id", args.env)
    trial.set_user_attr("hyperparams", yaml_form({**entry, **overrides}))
    returns = []
    for repeat in range(args.seeds_per_trial):
        try:
            returns.append(train_and_evaluate(args, overrides, TRIAL_SEED_STRIDE * (trial.number + 1) + repeat))
        except (AssertionError, ValueError) as error:  # e.g. a configuration that diverges: pruned, as by rl-zoo3
            raise optuna.TrialPruned(f"{type(error).__name__}: {error}") from error
    trial.set_user_attr("seed_returns", returns)
    return min(returns)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """:return: The search's arguments (rl-zoo3's names where rl-zoo3 has the option)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", required=True, help="env id")
    parser.add_argument("--conf-file", default=sb3_arq.zoo.hyperparams_path("arq"), help="yml file of the entries")
    parser.add_argument("-params", "--hyperparams", nargs="+", action=StoreDict, help="pinned hyperparameters")
    parser.add_argument("-n", "--n-timesteps", type=int, default=-1, help="budget of a run (default: the entry's)")
    parser.add_argument("--seeds-per-trial", type=int, default=1, help="runs per trial; its value is the worst")
    parser.add_argument("--eval-episodes", type=int, default=10, help="greedy episodes of a run's final evaluation")
    parser.add_argument("--learning-rate-span", type=float, default=10.0, help="factor either side of the entry's")
    parser.add_argument("--memory-gb", type=float, default=None, help="prune a trial whose d x d matrices need more")
    parser.add_argument("--storage", default=None, help="journal file ending in .log, or a database URL")
    parser.add_argument("--study-name", default=None)
    parser.add_argument("--n-trials", type=int, default=10, help="trials of this worker")
    parser.add_argument("--max-total-trials", type=int, default=None, help="trials of the whole study (all workers)")
    parser.add_argument("--sampler", choices=["tpe", "random"], default="tpe")
    parser.add_argument("--n-startup-trials", type=int, default=5, help="TPE's random trials first")
    parser.add_argument("--seed", type=int, default=0, help="the sampler's seed (one per worker of a study)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--num-threads", type=int, default=-1, help="torch threads (-1: torch's default)")
    parser.add_argument("-f", "--log-folder", default="logs/search", help="the runs' rl-zoo3 log folder")
    args = parser.parse_args(argv)
    if not 1 <= args.seeds_per_trial < TRIAL_SEED_STRIDE:
        parser.error(f"--seeds-per-trial must be from 1 to {TRIAL_SEED_STRIDE - 1}")
    return args


def main(argv: list[str] | None = None) -> None:
    """Run (or join) the study; print its best trial as a yml entry."""
    args = parse_args(argv)
    sb3_arq.zoo.register()
    if args.num_threads > 0:
        th.set_num_threads(args.num_threads)
    try:
        storage = None if args.storage is None else open_storage(args.storage)
        entry = read_entry(args.conf_file, args.env)
        written_learning_rate(entry, args.hyperparams or {})
    except ValueError as error:
        sys.exit(f"search: error: {error}")
    if args.sampler == "tpe":
        sampler = optuna.samplers.TPESampler(n_startup_trials=args.n_startup_trials, seed=args.seed, multivariate=True)
    else:
        sampler = optuna.samplers.RandomSampler(seed=args.seed)
    study = optuna.create_study(
        storage=storage, study_name=args.study_name, sampler=sampler, direction="maximize", load_if_exists=True
    )
    counted = (TrialState.COMPLETE, TrialState.RUNNING, TrialState.PRUNED)
    n_trials = args.n_trials
    if args.max_total_trials is not None:
        n_trials = min(n_trials, max(args.max_total_trials - len(study.get_trials(states=counted)), 0))
    callbacks = [] if args.max_total_trials is None else [optuna.study.MaxTrialsCallback(args.max_total_trials, counted)]
    study.optimize(lambda trial: objective(trial, args, entry), n_trials=n_trials, callbacks=callbacks)
    completed = study.get_trials(states=(TrialState.COMPLETE,))
    if not completed:
        sys.exit(
            "search: error: no trial of the study has completed: every trial was pruned (the log above says why). Pass a "
            "larger -n or pin a smaller learning_starts, or pin a smaller batch_size or net_arch with -params"
        )
    best = study.best_trial
    print(f"Best trial: {best.number}, value {best.value} (returns {best.user_attrs['seed_returns']}), as a yml entry:")
    print(yaml.safe_dump({args.env: best.user_attrs["hyperparams"]}, sort_keys=False))


if __name__ == "__main__":
    main()
