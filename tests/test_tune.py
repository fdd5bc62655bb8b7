"""
ARQ's hyperparameter search, end to end with real parts: the search space that rl-zoo3's ``-optimize`` samples (a tiny
real study through ``python -m rl_zoo3.train --algo arq -optimize`` on a journal file, one of its trials trained again
with ``--trial-id``), and the multi-seed search of ``benchmarks/search/search.py``: pins, a trial scored by its worst
seed, the entry's learning-rate schedule kept, trials pruned with their reason, the report and its best entry trained
again, two workers sharing one study on a real PostgreSQL server started here, clear errors on bad storage.

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
from pathlib import Path

import optuna
import pytest
import rl_zoo3.train
import rl_zoo3.utils
import yaml
from rl_zoo3.hyperparams_opt import HYPERPARAMS_CONVERTER, HYPERPARAMS_SAMPLER

import sb3_arq.zoo
from sb3_arq import ARQ
from sb3_arq.arq.cells import GOODNESS
from sb3_arq.zoo.callbacks import load_zoo_args
from sb3_arq.zoo.sampler import NET_ARCH_PRESETS, SEARCH_SPACE, convert_arq_params, sample_arq_params
from tests.helpers import run_python, zoo_env

# Whether the import hook registered arq when rl_zoo3 was imported above (sb3-arq installed); else the explicit script
HOOK_ACTIVE = "arq" in rl_zoo3.utils.ALGOS
sb3_arq.zoo.register()
ZOO_TRAIN = "rl_zoo3.train" if HOOK_ACTIVE else "sb3_arq.train"
SEARCH = Path(__file__).resolve().parents[1] / "benchmarks" / "search"

# A tiny CartPole entry: a few hundred steps (a multiple of every sampled train_freq, so that the linear schedule ends
# at 0) and tiny pins for the search script
TINY_CONF = {
    "CartPole-v1": {
        "n_timesteps": 320,
        "policy": "MlpPolicy",
        "learning_rate": "lin_1e-3",
        "learning_starts": 100,
        "buffer_size": 1000,
        "gamma": 0.99,
        "policy_kwargs": "dict(input_skip=True, act_with='mean')",
    }
}
PINS = ["-params", "batch_size:16", "context_size:2", "policy_kwargs:dict(net_arch=[16, 16], act_with='mean')"]
TRIAL_LINE = re.compile(r"Trial (\d+) (finished|pruned|failed)")


def search_args(folder: Path, storage: str, study_name: str, n_trials: int, *extra: str, seed: int = 0) -> list[str]:
    """
    ``benchmarks/search/search.py`` on the tiny conf (written to ``folder/conf.yml``), one torch thread, on the CPU.

    :param folder: Working directory (holds ``conf.yml``; the runs' logs go to ``folder/logs``).
    :param storage: ``--storage``.
    :param study_name: ``--study-name``.
    :param n_trials: ``--n-trials`` of this process.
    :param extra: More arguments (after the pins).
    :param seed: ``--seed`` (of the sampler).
    :return: The arguments after ``python``.
    """
    (folder / "conf.yml").write_text(yaml.safe_dump(TINY_CONF))
    return [
        str(SEARCH / "search.py"), "--env", "CartPole-v1", "--conf-file", str(folder / "conf.yml"),
        "--storage", storage, "--study-name", study_name, "--n-trials", str(n_trials), "--eval-episodes", "2",
        "--seed", str(seed), "--num-threads", "1", "--device", "cpu", "-f", str(folder / "logs"), *PINS, *extra,
    ]  # fmt: skip


def trial_numbers(log: str) -> list[int]:
    """Numbers of the trials that a worker's Optuna log says it finished (or pruned, or failed)."""
    return [int(match.group(1)) for match in TRIAL_LINE.finditer(log)]


def journal(path: Path) -> optuna.storages.JournalStorage:
    """The Optuna storage of a journal file."""
    return optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(path)))


def load_entry(path: Path) -> tuple[str, dict]:
    """The single env entry of a yml file."""
    (env_id, entry), *others = yaml.safe_load(path.read_text()).items()
    assert not others
    return env_id, entry


def test_search_space_and_converter():
    """
    rl-zoo3's tables hold ARQ's sampler and converter; every sampled configuration builds an ARQ model and converts
    back from the trial's params alone; the one table ``SEARCH_SPACE`` gives the sampled params and the arguments.
    """
    assert HYPERPARAMS_SAMPLER["arq"] is sample_arq_params and HYPERPARAMS_CONVERTER["arq"] is convert_arq_params
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0))
    for index in range(30):
        trial = study.ask()
        hyperparams = sample_arq_params(trial, 0, 1, {"using_her_replay_buffer": False, "her_kwargs": {}})
        assert set(trial.params) == {searched.param or name for name, searched in SEARCH_SPACE.items()}
        assert hyperparams == convert_arq_params(trial.params)
        assert set(hyperparams) | set(hyperparams["policy_kwargs"]) == set(SEARCH_SPACE) | {"policy_kwargs"}
        assert 1e-5 <= hyperparams["learning_rate"] <= 1e-1 and 32 <= hyperparams["batch_size"] <= 1024
        assert hyperparams["policy_kwargs"]["net_arch"] in NET_ARCH_PRESETS.values()
        assert hyperparams["policy_kwargs"]["n_heads"] in (2, 4, 8, 16)
        assert hyperparams["policy_kwargs"]["goodness"] in GOODNESS
        assert 1 <= hyperparams["context_size"] <= 16 and hyperparams["train_freq"] in (1, 2, 4, 8)
        if index < 5:
            model = ARQ("MlpPolicy", "CartPole-v1", buffer_size=100, device="cpu", **hyperparams)
            assert model.policy.net_arch == hyperparams["policy_kwargs"]["net_arch"]
        study.tell(trial, 0.0)
    assert convert_arq_params({"batch_size_pow": 6, "net_arch": "small"}) == {
        "batch_size": 64,
        "policy_kwargs": {"net_arch": [64, 64, 64]},
    }
    # the published sizes are presets
    assert NET_ARCH_PRESETS["minatar"] == [400, 200, 200] and NET_ARCH_PRESETS["dmc"] == [128, 96, 96]


def test_rl_zoo3_optimize_then_trial_id(tmp_path):
    """
    rl-zoo3's own search with ARQ's sampler (2 trials on a journal file; learning starts after the budget, so that the
    sampled sizes cost nothing), then a training run that loads trial 1's sampled values with ``--trial-id``.
    """
    conf = {"CartPole-v1": {**TINY_CONF["CartPole-v1"], "learning_starts": 400}}
    (tmp_path / "conf.yml").write_text(yaml.safe_dump(conf))
    common = ["-m", ZOO_TRAIN, "--algo", "arq", "--env", "CartPole-v1", "--conf-file", str(tmp_path / "conf.yml")]
    common += ["--storage", str(tmp_path / "study.log"), "--study-name", "zoo", "--num-threads", "1", "--device", "cpu"]
    search = ["-optimize", "--n-trials", "2", "--sampler", "random", "--pruner", "none", "--n-evaluations", "1"]
    run_python([*common, *search, "--eval-episodes", "2", "--no-optim-plots", "-f", "logs", "--seed", "0"], tmp_path)
    study = optuna.load_study(study_name="zoo", storage=journal(tmp_path / "study.log"))
    assert [trial.state for trial in study.trials] == [optuna.trial.TrialState.COMPLETE] * 2
    assert set(study.trials[1].params) == {searched.param or name for name, searched in SEARCH_SPACE.items()}
    assert list((tmp_path / "logs" / "arq").glob("report_CartPole-v1_2-trials-320-random-none_*.csv"))

    run_python([*common, "--trial-id", "1", "-n", "100", "--eval-freq", "-1", "-f", "trained", "--seed", "0"], tmp_path)
    config = load_zoo_args(tmp_path / "trained" / "arq" / "CartPole-v1_1" / "CartPole-v1" / "config.yml")
    expected = convert_arq_params(study.trials[1].params)
    assert {key: config[key] for key in expected} == expected


def test_search_scores_the_worst_seed_and_keeps_the_entry_schedule(tmp_path):
    """
    ``search.py --seeds-per-trial 2``: a trial trains two seeded runs of one configuration and scores the worse, pins
    are not searched, the entry's ``lin_`` learning rate stays a linear schedule whose start is searched over a decade
    either side of the entry's; the same search again gives the same returns. The report's best entry trains again.
    """
    returns, entries = [], []
    for name in ("first", "again"):
        folder = tmp_path / name
        folder.mkdir()
        run_python(search_args(folder, str(folder / "study.log"), "seeds", 1, "--seeds-per-trial", "2"), cwd=folder)
        (trial,) = optuna.load_study(study_name="seeds", storage=journal(folder / "study.log")).trials
        seed_returns = trial.user_attrs["seed_returns"]
        assert len(seed_returns) == 2 and trial.value == min(seed_returns)
        assert {"batch_size_pow", "net_arch", "context_size"}.isdisjoint(trial.params)
        assert {"learning_rate", "n_heads", "goodness", "train_freq"} <= set(trial.params)
        assert 1e-4 <= trial.params["learning_rate"] <= 1e-2
        entry = trial.user_attrs["hyperparams"]
        assert entry["learning_rate"] == f"lin_{trial.params['learning_rate']}"
        assert entry["batch_size"] == 16 and entry["context_size"] == 2 and entry["learning_starts"] == 100
        assert eval(entry["policy_kwargs"]) == dict(
            input_skip=True, act_with="mean", net_arch=[16, 16], n_heads=trial.params["n_heads"],
            goodness=trial.params["goodness"],
        )  # fmt: skip
        assert len(list((folder / "logs" / "arq").glob("CartPole-v1_*"))) == 2  # the two runs' rl-zoo3 folders
        returns.append(seed_returns)
        entries.append(entry)
    assert entries[0] == entries[1] and returns[0] == returns[1]  # seeded: the same search again gives the same trial

    folder = tmp_path / "first"
    report = ["--storage", str(folder / "study.log"), "--study-name", "seeds", "-o", "report.md", "--yml", "best.yml"]
    run_python([str(SEARCH / "report.py"), *report], cwd=folder)
    assert "| 0 (complete) |" in (folder / "report.md").read_text()
    env_id, best = load_entry(folder / "best.yml")
    assert env_id == "CartPole-v1" and best == entries[0]
    args = ["-m", ZOO_TRAIN, "--algo", "arq", "--env", env_id, "--conf-file", "best.yml", "-n", "160", "-f", "trained"]
    run_python([*args, "--eval-freq", "-1", "--num-threads", "1", "--device", "cpu", "--seed", "0"], cwd=folder)
    model = ARQ.load(folder / "trained" / "arq" / "CartPole-v1_1" / "CartPole-v1.zip", device="cpu")
    assert model.policy.n_heads == trial.params["n_heads"] and model.batch_size == 16 and model.num_timesteps == 160


def test_report_of_a_study_in_progress(tmp_path):
    """A study whose only trial is still running (a search cut short): the table, no best entry, and --yml refused."""
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(tmp_path / "study.log")))
    optuna.create_study(study_name="running", storage=storage).ask(
        {"learning_rate": optuna.distributions.FloatDistribution(1e-4, 1e-2)}
    )
    report = [str(SEARCH / "report.py"), "--storage", "study.log", "--study-name", "running", "-o", "report.md"]
    run_python(report, cwd=tmp_path)
    text = (tmp_path / "report.md").read_text()
    assert "| 0 (running) |" in text and "No trial has completed yet." in text and "Best trial" not in text
    result = run_python([*report, "--yml", "best.yml"], cwd=tmp_path, check=False)
    assert result.returncode == 2 and "no trial of 'running' has completed" in result.stderr
    assert not (tmp_path / "best.yml").exists()


@pytest.mark.parametrize("kind", ["journal", "sqlite"])
def test_trials_that_cannot_learn_or_fit_are_pruned_with_the_reason(tmp_path, kind):
    """
    -n 100 with learning_starts 100 (journal storage): no trial would make a gradient step; --memory-gb too small
    (SQLite): no configuration fits. Each trial is pruned before it trains, saying why, and the search fails with the
    ways out instead of reporting noise as a result.
    """
    storage = str(tmp_path / "short.log") if kind == "journal" else f"sqlite:///{tmp_path / 'short.db'}"
    extra = ["-n", "100"] if kind == "journal" else ["--memory-gb", "1e-9"]
    result = run_python(search_args(tmp_path, storage, "short", 2, *extra), tmp_path, check=False)
    reason = {
        "journal": "budget of 100 steps (-n, else the entry's n_timesteps) does not exceed learning_starts=100: it would",
        "sqlite": "batch_size=16 with net_arch=[16, 16] and 2 actions needs about",
    }[kind]
    assert result.stderr.count(reason) == 2 and "Trial 0 pruned." in result.stderr, result.stderr[-3000:]
    assert result.returncode != 0 and "no trial of the study has completed: every trial was pruned" in result.stderr
    study = optuna.load_study(study_name="short", storage=storage if kind == "sqlite" else journal(Path(storage)))
    assert [trial.state for trial in study.trials] == [optuna.trial.TrialState.PRUNED] * 2


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
    Two search processes started together on one study, each with its own --seed (the second with the import hook
    switched off: the script registers ARQ itself): every trial lands there once, and the report reads the shared study.
    """
    n_trials = 2
    workers = []
    for index, env in enumerate([zoo_env(), zoo_env(SB3_ARQ_NO_ZOO_HOOK="1")]):
        folder = tmp_path / f"worker{index}"
        folder.mkdir()
        command = [sys.executable, *search_args(folder, postgres_url, "arq-shared", n_trials, seed=index)]
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
    assert len({tuple(sorted(trial.params.items())) for trial in study.trials}) == 2 * n_trials
    assert optuna.get_all_study_names(postgres_url) == ["arq-shared"]

    # any machine can write the report and the best trial's entry from the shared study
    report = ["--storage", postgres_url, "--study-name", "arq-shared", "-o", "report.md", "--yml", "best.yml"]
    run_python([str(SEARCH / "report.py"), *report], cwd=tmp_path)
    env_id, entry = load_entry(tmp_path / "best.yml")
    assert env_id == "CartPole-v1" and entry == study.best_trial.user_attrs["hyperparams"]


@pytest.mark.parametrize("option", ["--sampler", "--pruner"])
def test_unknown_sampler_or_pruner(option, tmp_path, monkeypatch, capsys):
    args = ["train", "--algo", "arq", "--env", "CartPole-v1", "-optimize", option, "bayes", "-f", str(tmp_path)]
    monkeypatch.setattr(sys, "argv", args)
    with pytest.raises(SystemExit) as exit_info:
        rl_zoo3.train.train()
    assert exit_info.value.code == 2
    assert f"argument {option}: invalid choice: 'bayes'" in capsys.readouterr().err


def test_unreachable_or_invalid_storage(tmp_path):
    """The search fails before any trial, saying why, without the password."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    expected = {
        f"postgresql+psycopg2://optuna:secret@127.0.0.1:{closed_port}/optuna": rf"Cannot connect to the Optuna storage "
        rf"postgresql\+psycopg2://optuna:\*\*\*@127\.0\.0\.1:{closed_port}/optuna",
        "not a url": "neither a journal file ending in .log nor a database URL",
        "nosuchdb://host/db": "Cannot open --storage nosuchdb://host/db",
        "/proc/no_such_dir/study.log": "Cannot use the Optuna journal file",
    }
    for storage, message in expected.items():
        result = run_python(search_args(tmp_path, storage, "bad", 1), tmp_path, check=False)
        assert result.returncode != 0 and re.search(message, result.stderr), result.stderr[-3000:]
        assert "secret" not in result.stderr and "Trial 0" not in result.stderr
