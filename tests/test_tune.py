"""
ARQ's hyperparameter search through rl-zoo3 and Optuna, end to end with real parts: the sampler's search space, a
tiny real study (``python -m rl_zoo3.train --algo arq -optimize``) on a local journal file whose best trial is written
as yml and trained again, two worker processes sharing one study on a real PostgreSQL server started here, trials
pruned with their reason (a budget that never reaches learning_starts, a memory cap), and clear errors on bad input.

The PostgreSQL test starts its own server (initdb + pg_ctl, as the ``postgres`` system user when run as root) on a
free localhost port; it is skipped only where no PostgreSQL server binary is installed (``apt-get install -y
postgresql``; ``.ci/run`` installs it).
"""

import os
import pwd
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from argparse import Namespace
from pathlib import Path

import optuna
import pytest
import rl_zoo3.exp_manager
import rl_zoo3.train
import rl_zoo3.utils
import yaml

import sb3_arq.zoo
from sb3_arq import ARQ
from sb3_arq.arq.cells import GOODNESS
from sb3_arq.zoo import best_params
from sb3_arq.zoo.exp_manager import TRIAL_SEEDS_ENV_VAR, ARQExperimentManager, open_storage, trial_seeds
from sb3_arq.zoo.sampler import (
    MEMORY_ENV_VAR,
    NET_ARCH_PRESETS,
    SEARCH_SPACE,
    SEARCHED_ARGUMENTS,
    activation_bytes,
    convert_arq_params,
    memory_budget,
    sample_arq_params,
    trial_entry,
)
from tests.helpers import run_python, zoo_env

# Whether the import hook registered arq when rl_zoo3 was imported above (sb3-arq installed); else the explicit script
HOOK_ACTIVE = "arq" in rl_zoo3.utils.ALGOS
sb3_arq.zoo.register()
ZOO_TRAIN = "rl_zoo3.train" if HOOK_ACTIVE else "sb3_arq.train"

# A tiny CartPole entry (the search overrides the tuned keys) and pins: tiny widths, batch and context
TINY_CONF = {
    "CartPole-v1": {
        "n_timesteps": 400,
        "policy": "MlpPolicy",
        "learning_rate": 1e-3,  # a constant: the searched learning rate stays one (ARQ's default is a linear schedule)
        "learning_starts": 100,
        "buffer_size": 1000,
        "gamma": 0.99,
        "policy_kwargs": "dict(input_skip=True, act_with='mean')",
    }
}
PINS = ["-params", "batch_size:16", "context_size:2", "policy_kwargs:dict(net_arch=[16, 16], act_with='mean')"]
TRIAL_LINE = re.compile(r"Trial (\d+) (finished|pruned|failed)")


def optimize_args(
    module: str, folder: Path, storage: str, study_name: str, n_trials: int, seed: int = 0, n_timesteps: int = 400
) -> list[str]:
    """
    ``-m <module> --algo arq --env CartPole-v1 -optimize ...`` on the tiny conf (written to ``folder/conf.yml``).

    :param module: ``rl_zoo3.train`` or ``sb3_arq.train``.
    :param folder: Working directory (holds ``conf.yml``; logs go to ``folder/logs``).
    :param storage: ``--storage``.
    :param study_name: ``--study-name``.
    :param n_trials: ``--n-trials`` of this process.
    :param seed: ``--seed`` (of the env, the sampler and the first trials).
    :param n_timesteps: ``-n``, the budget of each trial.
    :return: The arguments after ``python``.
    """
    (folder / "conf.yml").write_text(yaml.safe_dump(TINY_CONF))
    return [
        "-m", module, "--algo", "arq", "--env", "CartPole-v1", "--conf-file", str(folder / "conf.yml"),
        "-optimize", "--n-trials", str(n_trials), "--n-jobs", "1", "--sampler", "tpe", "--pruner", "median",
        "--storage", storage, "--study-name", study_name, "-n", str(n_timesteps), "--n-evaluations", "2",
        "--eval-episodes", "2", "--num-threads", "1", "--no-optim-plots", "--seed", str(seed), "-f", str(folder / "logs"),
        *PINS,
    ]  # fmt: skip


def trial_numbers(log: str) -> list[int]:
    """Numbers of the trials that a worker's Optuna log says it finished (or pruned, or failed)."""
    return [int(match.group(1)) for match in TRIAL_LINE.finditer(log)]


def load_entry(path: Path) -> tuple[str, dict]:
    """The single env entry of a yml file written by best_params."""
    (env_id, entry), *others = yaml.safe_load(path.read_text()).items()
    assert not others
    return env_id, entry


def test_search_space_and_converter(monkeypatch):
    """
    Every sampled configuration is valid for ARQ and converts back from the trial's params alone; the one table
    ``SEARCH_SPACE`` gives the sampled params, the converted arguments and what ``--trial-id`` loads.
    """
    monkeypatch.setenv(MEMORY_ENV_VAR, "1000")
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(30):
        trial = study.ask()
        hyperparams = sample_arq_params(trial, 3, 1, {"entry": {"learning_rate": 1e-4}})
        assert set(trial.params) == {searched.param or name for name, searched in SEARCH_SPACE.items()}
        assert hyperparams == convert_arq_params(trial.params) and set(hyperparams) == set(SEARCHED_ARGUMENTS)
        assert set(hyperparams) | set(hyperparams["policy_kwargs"]) == set(SEARCH_SPACE) | {"policy_kwargs"}
        # a decade either side of the entry's learning rate (a constant 1e-4 here)
        assert 1e-5 <= hyperparams["learning_rate"] <= 1e-3 and 32 <= hyperparams["batch_size"] <= 1024
        assert hyperparams["policy_kwargs"]["net_arch"] in NET_ARCH_PRESETS.values()
        assert hyperparams["policy_kwargs"]["n_heads"] in (2, 4, 8, 16)
        assert hyperparams["policy_kwargs"]["goodness"] in GOODNESS
        assert 1 <= hyperparams["context_size"] <= 16 and hyperparams["train_freq"] in (1, 2, 4, 8)
        assert trial.user_attrs["hyperparams"]["policy_kwargs"].startswith("dict(net_arch=")
        study.tell(trial, 0.0)
    # the trial -> yml entry function: the recorded entry, else (a trial sampled elsewhere) the converted params
    assert trial_entry(study.trials[0]) == study.trials[0].user_attrs["hyperparams"]
    foreign = optuna.trial.create_trial(
        params={"batch_size_pow": 6, "net_arch": "small"},
        distributions={
            "batch_size_pow": optuna.distributions.IntDistribution(5, 10),
            "net_arch": optuna.distributions.CategoricalDistribution(list(NET_ARCH_PRESETS)),
        },
        value=0.0,
    )
    assert trial_entry(foreign) == {"batch_size": 64, "policy_kwargs": "dict(net_arch=[64, 64, 64])"}
    # the published sizes are presets; the cost model of the d x d matrices
    assert NET_ARCH_PRESETS["minatar"] == [400, 200, 200] and NET_ARCH_PRESETS["dmc"] == [128, 96, 96]
    assert activation_bytes(512, [400, 200, 200], 6) == 3 * 4 * 512 * 6 * 400**2
    # a trial that does not fit the memory budget is pruned before anything is built, with the reason
    monkeypatch.setenv(MEMORY_ENV_VAR, "0.001")
    assert memory_budget() == int(0.001 * 2**30)
    with pytest.raises(optuna.TrialPruned, match=r"needs about .* GiB .* budget"):
        sample_arq_params(study.ask(), 3, 1, {})
    monkeypatch.delenv(MEMORY_ENV_VAR)
    assert memory_budget("cpu", n_jobs=2) > 0  # half the available RAM, split over the jobs


def test_the_sampler_reads_the_search_from_additional_args(monkeypatch):
    """
    What rl-zoo3's ``-optimize`` knows reaches the sampler in its ``additional_args`` (as ARQExperimentManager fills
    them): pins are not searched, the entry's ``lin_`` learning rate keeps its shape around the entry's value, the
    sampled policy kwargs are merged into the entry's, and a budget not over learning_starts prunes the trial.
    """
    monkeypatch.setenv(MEMORY_ENV_VAR, "1000")
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0))
    entry = {"learning_rate": "lin_1e-2", "learning_starts": 100, "batch_size": 16, "policy_kwargs": "dict(n_heads=2)"}
    search = {
        "pinned": {"batch_size": 16, "policy_kwargs": {"net_arch": [8, 8], "n_heads": 2}},
        "entry": entry,
        "policy_kwargs": {"net_arch": [8, 8], "n_heads": 2},
        "n_timesteps": 400,
        "env_id": "CartPole-v1",
    }
    trial = study.ask()
    hyperparams = sample_arq_params(trial, 2, 1, {"using_her_replay_buffer": False, **search})
    assert {"batch_size_pow", "net_arch", "n_heads"}.isdisjoint(trial.params) and "batch_size" not in hyperparams
    assert 1e-3 <= trial.params["learning_rate"] <= 1e-1 and hyperparams["learning_rate"](1.0) == trial.params["learning_rate"]
    assert hyperparams["policy_kwargs"] == {"net_arch": [8, 8], "n_heads": 2, "goodness": trial.params["goodness"]}
    recorded = trial_entry(study.tell(trial, 0.0))
    assert recorded["learning_rate"] == f"lin_{trial.params['learning_rate']}" and recorded["batch_size"] == 16
    assert eval(recorded["policy_kwargs"]) == hyperparams["policy_kwargs"] and trial.user_attrs["env_id"] == "CartPole-v1"
    with pytest.raises(optuna.TrialPruned, match=r"budget of 100 steps .* does not exceed learning_starts=100"):
        sample_arq_params(study.ask(), 2, 1, {**search, "n_timesteps": 100})


def test_tiny_study_journal_storage(tmp_path):
    """3 trials on the embedded storage (a journal file), best trial -> yml -> ARQ(...) and rl-zoo3 --conf-file."""
    storage = str(tmp_path / "logs" / "arq_cartpole.log")
    start = time.perf_counter()
    result = run_python(optimize_args(ZOO_TRAIN, tmp_path, storage, "tiny", 3), cwd=tmp_path)
    print(f"tiny study (3 trials x 400 steps, one process): {time.perf_counter() - start:.1f} s")
    assert f"python -m sb3_arq.zoo.best_params --storage {storage} --study-name tiny -o best.yml" in result.stdout
    study = optuna.load_study(study_name="tiny", storage=open_storage(storage))
    assert [trial.number for trial in study.trials] == [0, 1, 2]
    assert all(trial.state == optuna.trial.TrialState.COMPLETE for trial in study.trials)
    # pinned with -params: not searched; the rest is
    assert {"batch_size_pow", "net_arch", "context_size"}.isdisjoint(study.best_trial.params)
    assert {"learning_rate", "n_heads", "goodness", "train_freq"} <= set(study.best_trial.params)
    # rl-zoo3's own report
    assert list((tmp_path / "logs" / "arq").glob("report_CartPole-v1_3-trials-400-tpe-median_*.csv"))

    output = tmp_path / "best.yml"
    run_python(["-m", "sb3_arq.zoo.best_params", "--storage", storage, "--study-name", "tiny", "-o", str(output)], tmp_path)
    env_id, entry = load_entry(output)
    best = study.best_trial
    assert env_id == "CartPole-v1"
    assert entry["learning_rate"] == best.params["learning_rate"] and entry["train_freq"] == best.params["train_freq"]
    assert entry["batch_size"] == 16 and entry["context_size"] == 2 and entry["learning_starts"] == 100
    policy_kwargs = eval(entry["policy_kwargs"])
    assert policy_kwargs == dict(
        net_arch=[16, 16], act_with="mean", n_heads=best.params["n_heads"], goodness=best.params["goodness"]
    )

    # rl-zoo3's --trial-id reads the same hyperparameters (pins and the merged policy kwargs included)
    manager = rl_zoo3.exp_manager.ExperimentManager(Namespace(), "arq", "CartPole-v1", str(tmp_path / "logs"))
    assert isinstance(manager, ARQExperimentManager)
    loaded = manager.load_trial(storage, "tiny", best.number)
    assert loaded == {key: entry[key] for key in loaded} and loaded["policy_kwargs"] == entry["policy_kwargs"]
    assert loaded["batch_size"] == 16 and loaded["learning_rate"] == best.params["learning_rate"]

    # the entry loads back into ARQ(...) and learns
    kwargs = {key: value for key, value in entry.items() if key not in ("n_timesteps", "policy")}
    model = ARQ(entry["policy"], env_id, device="cpu", seed=0, **{**kwargs, "policy_kwargs": policy_kwargs})
    model.learn(150)
    assert model.num_timesteps == 150 and model.policy.n_heads == best.params["n_heads"]
    assert model.learning_rate == best.params["learning_rate"] and model.batch_size == 16


def test_trials_score_their_worst_seed_and_keep_the_entry_schedule(tmp_path, monkeypatch):
    """
    SB3_ARQ_TRIAL_SEEDS=2: each trial trains two seeded repeats of one configuration and scores the worse; an entry's
    ``lin_`` learning rate stays a linear schedule whose start is searched over a decade either side of the entry's.
    """
    returns = []
    for name in ("first", "again"):
        folder = tmp_path / name
        folder.mkdir()
        args = optimize_args(ZOO_TRAIN, folder, str(folder / "study.log"), "seeds", 1, n_timesteps=300)
        conf = {"CartPole-v1": {**TINY_CONF["CartPole-v1"], "learning_rate": "lin_1e-3"}}
        (folder / "conf.yml").write_text(yaml.safe_dump(conf))
        run_python(args, cwd=folder, **{TRIAL_SEEDS_ENV_VAR: "2"})
        (trial,) = optuna.load_study(study_name="seeds", storage=open_storage(str(folder / "study.log"))).trials
        seed_returns = trial.user_attrs["seed_returns"]
        assert len(seed_returns) == 2 and trial.value == min(seed_returns)
        assert 1e-4 <= trial.params["learning_rate"] <= 1e-2
        assert trial_entry(trial)["learning_rate"] == f"lin_{trial.params['learning_rate']}"
        returns.append(seed_returns)
    assert returns[0] == returns[1]  # the repeats are seeded: the same study again gives the same returns
    for value in ("0", "two", "1000"):
        monkeypatch.setenv(TRIAL_SEEDS_ENV_VAR, value)
        with pytest.raises(ValueError, match=f"{TRIAL_SEEDS_ENV_VAR} must be an integer from 1 to 999"):
            trial_seeds()


@pytest.mark.parametrize("kind", ["journal", "sqlite"])
def test_budget_not_over_learning_starts_prunes_with_the_reason(tmp_path, kind):
    """
    -n 100 with learning_starts 100: no trial would make a gradient step, so each is pruned, saying why; the search
    ends with the same explanation whatever the storage (Optuna's RDB storage says only "Record does not exist.").
    """
    (tmp_path / "logs").mkdir()
    storage = str(tmp_path / "logs" / "short.log") if kind == "journal" else f"sqlite:///{tmp_path / 'logs' / 'short.db'}"
    result = run_python(optimize_args(ZOO_TRAIN, tmp_path, storage, "short", 2, n_timesteps=100), tmp_path, check=False)
    reason = "budget of 100 steps (-n, else the entry's n_timesteps) does not exceed learning_starts=100: it would end"
    assert result.stderr.count(reason) == 2 and "Trial 0 pruned." in result.stderr, result.stderr[-3000:]
    # every trial pruned: the run fails with the ways out, instead of reporting noise as a result
    assert result.returncode != 0 and "No trial of the study has completed: every trial was pruned" in result.stderr
    study = optuna.load_study(study_name="short", storage=open_storage(storage))
    assert [trial.state for trial in study.trials] == [optuna.trial.TrialState.PRUNED] * 2
    assert not any(trial.intermediate_values for trial in study.trials)  # pruned before any evaluation


@pytest.fixture(scope="module")
def postgres_url():
    """
    A real PostgreSQL server in a temporary directory on a free localhost port, with an empty database ``optuna``.

    :return: Its SQLAlchemy URL (psycopg2 driver).
    """
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda path: int(path.parts[-3]))
    bin_dir = found[-1].parent if found else (Path(shutil.which("initdb")).parent if shutil.which("initdb") else None)
    if bin_dir is None or not (bin_dir / "pg_ctl").is_file():
        pytest.skip("no PostgreSQL server binary (initdb, pg_ctl): apt-get install -y postgresql")
    # in /tmp when root: the postgres user must be able to reach it (TMPDIR may be under /root)
    root = Path(tempfile.mkdtemp(prefix="sb3_arq_pg_", dir="/tmp" if os.geteuid() == 0 else None))
    as_postgres = []
    if os.geteuid() == 0:
        # PostgreSQL refuses to run as root: run it as the postgres system user, owner of the directory
        user = pwd.getpwnam("postgres")
        os.chown(root, user.pw_uid, user.pw_gid)
        as_postgres = ["runuser", "-u", "postgres", "--"]
    data, log = root / "data", root / "server.log"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"

    def run(*command: str) -> None:
        result = subprocess.run([*as_postgres, *command], capture_output=True, text=True, timeout=120)
        server_log = log.read_text() if log.is_file() else ""
        assert result.returncode == 0, f"{command}: {result.stdout}{result.stderr}{server_log}"

    try:
        run(str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync")
        run(str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w", "-t", "60", "start")
        run(str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "optuna")
        yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/optuna"
    finally:
        if (data / "postmaster.pid").is_file():
            subprocess.run([*as_postgres, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], timeout=60)
        shutil.rmtree(root, ignore_errors=True)


def test_two_workers_share_a_postgresql_study(postgres_url, tmp_path):
    """
    Two processes started together on one study, rl-zoo3's script (through the import hook) and sb3-arq's (hook
    switched off): every trial lands there once.
    """
    n_trials = 2
    workers = []
    for index, (module, env) in enumerate([(ZOO_TRAIN, zoo_env()), ("sb3_arq.train", zoo_env(SB3_ARQ_NO_ZOO_HOOK="1"))]):
        folder = tmp_path / f"worker{index}"
        folder.mkdir()
        command = [sys.executable, *optimize_args(module, folder, postgres_url, "arq-shared", n_trials, seed=index)]
        workers.append(
            subprocess.Popen(command, cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        )
    logs = []
    for worker in workers:
        stdout, stderr = worker.communicate(timeout=300)
        assert worker.returncode == 0, stdout[-3000:] + stderr[-3000:]
        logs.append(stderr)

    study = optuna.load_study(study_name="arq-shared", storage=postgres_url)
    numbers = sorted(trial.number for trial in study.trials)
    per_worker = [trial_numbers(log) for log in logs]
    print(f"PostgreSQL study: trials {numbers}, by worker {per_worker}")
    # 2 workers x 2 trials, numbered 0..3 by the database: none lost, none duplicated
    assert numbers == list(range(2 * n_trials))
    assert all(trial.state == optuna.trial.TrialState.COMPLETE for trial in study.trials)
    assert [len(worker_numbers) for worker_numbers in per_worker] == [n_trials, n_trials]
    assert sorted(per_worker[0] + per_worker[1]) == numbers
    assert optuna.get_all_study_names(postgres_url) == ["arq-shared"]

    # any machine can write the best trial as yml from the shared study
    text = best_params.main(["--storage", postgres_url, "--study-name", "arq-shared", "-o", str(tmp_path / "best.yml")])
    env_id, entry = load_entry(tmp_path / "best.yml")
    assert env_id == "CartPole-v1" and entry["learning_rate"] == study.best_trial.params["learning_rate"]
    assert f"Trial {study.best_trial.number} of study 'arq-shared'" in text


@pytest.mark.parametrize("option", ["--sampler", "--pruner"])
def test_unknown_sampler_or_pruner(option, tmp_path, monkeypatch, capsys):
    args = ["train", "--algo", "arq", "--env", "CartPole-v1", "-optimize", option, "bayes", "-f", str(tmp_path)]
    monkeypatch.setattr(sys, "argv", args)
    with pytest.raises(SystemExit) as exit_info:
        rl_zoo3.train.train()
    assert exit_info.value.code == 2
    assert f"argument {option}: invalid choice: 'bayes'" in capsys.readouterr().err


def test_unreachable_or_invalid_storage(tmp_path, monkeypatch):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    url = f"postgresql+psycopg2://optuna:secret@127.0.0.1:{closed_port}/optuna"
    args = optimize_args("rl_zoo3.train", tmp_path, url, "unreachable", 1)[2:]
    monkeypatch.setattr(sys, "argv", ["train", *args])
    # the whole rl-zoo3 script, in process: it fails before any trial, saying why, without the password
    expected = rf"Cannot connect to the Optuna storage .*127\.0\.0\.1:{closed_port}/optuna"
    with pytest.raises(ValueError, match=expected) as error:
        rl_zoo3.train.train()
    assert "secret" not in str(error.value) and "***" in str(error.value)
    with pytest.raises(ValueError, match="is not a storage"):
        open_storage("not a url")
    with pytest.raises(ValueError, match="Unknown database"):
        open_storage("nosuchdb://host/db")
    with pytest.raises(ValueError, match="Cannot use the Optuna journal file"):
        open_storage("/proc/no_such_dir/study.log")
    # best_params: an unknown study name lists the ones there are
    open_storage(str(tmp_path / "empty.log"))
    with pytest.raises(SystemExit, match=r"No study named 'nope'"):
        best_params.main(["--storage", str(tmp_path / "empty.log"), "--study-name", "nope"])


def ask_and_tell(studies: list[optuna.Study]) -> list[tuple[float, int]]:
    """One trial of each study in turn (a worker's sampling), with two parameters; returns the configurations."""
    configurations = []
    for study in studies:
        trial = study.ask()
        configurations.append((trial.suggest_float("learning_rate", 1e-5, 1e-2, log=True), trial.suggest_int("n", 1, 9)))
        study.tell(trial, configurations[-1][0])
    return configurations


def test_workers_of_one_study_with_the_same_seed_do_not_repeat_configurations(tmp_path):
    """Two workers started with the same --seed evaluate different configurations."""
    storage = str(tmp_path / "study.log")
    workers = [
        rl_zoo3.exp_manager.ExperimentManager(Namespace(), "arq", "CartPole-v1", str(tmp_path), seed=0, storage=storage)
        for _ in range(2)
    ]
    kwargs = dict(storage=open_storage(storage), direction="maximize", load_if_exists=True)
    for method in ("random", "tpe"):
        shared = [optuna.create_study(study_name=method, sampler=w._create_sampler(method), **kwargs) for w in workers]
        configurations = ask_and_tell(shared * 3)  # the workers take turns: trials 0 to 5
        assert len(set(configurations)) == 6
        alone = optuna.create_study(study_name=f"{method}-alone", sampler=workers[0]._create_sampler(method), **kwargs)
        assert ask_and_tell([alone] * 6) == configurations  # one worker's search is reproducible
