"""
Learning-curve benchmark: a grid {algorithms} x {tasks} x {seeds} (``benchmarks/grids.py``) of ordinary rl-zoo3 runs.

    python benchmarks/learning.py --grid cpu                 # run what is missing, one run at a time, then report
    python benchmarks/learning.py --grid cpu --report-only   # only aggregate the finished runs
    python benchmarks/learning.py --grid paper --describe    # print the grid (runs, commands) and exit
    python benchmarks/learning_ray.py --grid paper           # the same runs as Ray tasks, several at once

A run is one ``python -m sb3_arq.train`` process logging to ``<log-root>/<grid>/<variant>/<algo>/<Env-Name>_<id>/``
(rl-zoo3's run folder). It is finished when its ``args.yml`` has its command's arguments, its ``config.yml`` the
hyperparameter entry it would read now, and its ``evaluations.npz`` reaches the budget; unfinished attempts are deleted
before it starts again. The runner writes a finished run's CPU time into its folder (``cpu_seconds.txt``): beside the
wall time, it is the time per run that does not depend on the machine's other load. The report:
``benchmarks/results/<grid>.*``.

The logs are not committed; the ledger of finished runs is: ``benchmarks/results/ledger/<grid>.json`` keeps every
evaluation of every finished run with the run's fingerprint (its rl-zoo3 arguments and the hyperparameter file's entry
it read), and is updated from the logs before each report. A run in the ledger with the fingerprint it would have now
counts as finished on a machine without its logs (a later session, another machine): it is not rerun and stays in the
report. To rerun such a run, delete its rows from the ledger (or change its settings). The report (``<grid>.md``,
``.png`` and ``.json``: the summary per task and variant) is an output, never read.
"""

import argparse
import contextlib
import functools
import hashlib
import json
import os
import resource
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import rl_zoo3
import yaml
from filelock import FileLock, Timeout
from grids import GRIDS
from scipy import stats

from sb3_arq.common.files import atomic_write_text
from sb3_arq.plots import draw_evaluations, evaluation_statistics
from sb3_arq.zoo import ZOO_ALGOS, hyperparams_path
from sb3_arq.zoo.callbacks import load_zoo_args

REPO = Path(__file__).resolve().parents[1]
RESULTS, LOG_ROOT = REPO / "benchmarks" / "results", REPO / "logs" / "benchmarks"
PAPER_EVAL = "sb3_arq.zoo.callbacks.EpsilonGreedyEvalCallback"  # the paper's evaluation protocol
FLAGS = {"n_timesteps": "-n", "log_folder": "-f", "hyperparams": "-params"}  # the others: --name-with-dashes
MATCHED = ("algo", "env", "seed", "n_timesteps", "eval_freq", "eval_episodes")  # with -params: identify a run's folder
CONTINUOUS_ALGOS = ("sac",)  # evaluated greedily whatever the grid's protocol (no epsilon-greedy action)
BOOTSTRAP_RESAMPLES = 10_000  # of the interquartile mean's 95% confidence interval
COLUMNS = ["variant", "env", "seed", "run_dir", "timesteps", "mean_return", "seconds", "cpu_seconds", "fingerprint", "source"]
CPU_FILE = "cpu_seconds.txt"  # in a finished run's folder: its CPU time, written by the runner (``children_cpu_seconds``)
MACHINE_PATHS = ("log_folder", "conf_file")  # arguments that name paths of one machine: not in a run's fingerprint


def env_name(env_id: str) -> str:
    """rl-zoo3's folder name of an env id (``MinAtar/Breakout-v1`` -> ``MinAtar-Breakout-v1``)."""
    return env_id.replace("/", "-")


def display_path(path: Path) -> str:
    """A path relative to the repository when it is inside it (the runs and the README's commands start there)."""
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def log(message: str) -> None:
    """A time-stamped progress line on stdout (flushed, for nohup logs)."""
    print(f"[{time.strftime('%Y-%m-%d %H:%M:%S')}] {message}", flush=True)


def grid_runs(grid: dict) -> list[dict]:
    """Every run of the grid (variant, env, seed) in the order they are run (block by block, seed by seed), once."""
    blocks = [(block, seed) for block in grid["blocks"] for seed in block.get("seeds", grid["seeds"])]
    runs = [(name, env_id, seed) for block, seed in blocks for name in block["variants"] for env_id in block["tasks"]]
    return [{"variant": name, "env": env_id, "seed": seed} for name, env_id, seed in dict.fromkeys(runs)]


def run_key(run: dict) -> tuple:
    """A run's (variant, env, seed): what names it in a grid."""
    return run["variant"], run["env"], run["seed"]


def grid_tasks(grid: dict) -> list[str]:
    """The grid's tasks, in the order of their first appearance."""
    return list(dict.fromkeys(env_id for block in grid["blocks"] for env_id in block["tasks"]))


def task_variants(grid: dict, env_id: str) -> list[str]:
    """The variants that run on a task, in grid order."""
    return list(dict.fromkeys(name for block in grid["blocks"] if env_id in block["tasks"] for name in block["variants"]))


def task_setting(grid: dict, env_id: str, key: str, variant: str | None = None):
    """
    A setting of one task (``n_timesteps``, ``eval_freq``, ``target``): the variant's ``per_task`` value if it has one,
    else the grid's ``per_task`` value, else the grid's.
    """
    own = grid["variants"][variant].get("per_task", {}).get(env_id, {}) if variant is not None else {}
    return own.get(key, grid["per_task"].get(env_id, {}).get(key, grid.get(key)))


def paper_evaluation(grid: dict, spec: dict) -> bool:
    """Whether a variant is evaluated with epsilon 0.05: the grid's protocol, for algorithms with actions to explore."""
    return grid["evaluation"] == "paper" and spec["algo"] not in CONTINUOUS_ALGOS


def zoo_args(grid: dict, run: dict, log_root: Path, grid_name: str) -> dict:
    """A run's rl-zoo3 arguments, named as in its saved ``args.yml``, in command-line order."""
    spec = grid["variants"][run["variant"]]
    budget, eval_freq = (task_setting(grid, run["env"], key, run["variant"]) for key in ("n_timesteps", "eval_freq"))
    args, params = {"algo": spec["algo"], "env": run["env"], "n_timesteps": budget}, dict(spec["params"])
    if paper_evaluation(grid, spec):  # rl-zoo3's greedy evaluation off, the paper's on
        evaluation = {"eval_freq": eval_freq, "n_eval_episodes": grid["eval_episodes"], "epsilon": 0.05}
        args["eval_freq"], params["callback"] = -1, [{PAPER_EVAL: evaluation}]
    else:
        args.update(eval_freq=eval_freq, eval_episodes=grid["eval_episodes"])
    args.update(seed=run["seed"], num_threads=grid["num_threads"], device=grid["device"])
    args["log_folder"] = display_path(log_root / grid_name / run["variant"])
    if spec["conf"] is not None:
        args["conf_file"] = display_path(Path(hyperparams_path(spec["conf"])).resolve())
    return {**args, "hyperparams": params}


def hyperparams_entry(spec: dict, env_id: str) -> dict:
    """The entry for a task of the hyperparameter file a variant's runs read, before the variant's ``-params`` (as
    rl-zoo3 picks it: the task's, else the file's ``default``)."""
    if spec["conf"] is not None or spec["algo"] in ZOO_ALGOS:
        path = Path(hyperparams_path(spec["conf"] or spec["algo"]))
    else:
        path = Path(rl_zoo3.__file__).parent / "hyperparams" / f"{spec['algo']}.yml"
    entries = hyperparams_file(path)
    return entries.get(env_id, entries.get("default", {}))


@functools.cache
def hyperparams_file(path: Path) -> dict:
    """A hyperparameter file's entries, read once per process (every run's fingerprint reads its file's entry)."""
    return yaml.safe_load(path.read_text())


def fingerprint(grid: dict, run: dict, log_root: Path, grid_name: str) -> str:
    """What a run is, on any machine: its rl-zoo3 arguments but paths, and its hyperparameter entry (a short hash)."""
    args = {key: value for key, value in zoo_args(grid, run, log_root, grid_name).items() if key not in MACHINE_PATHS}
    entry = hyperparams_entry(grid["variants"][run["variant"]], run["env"])
    return hashlib.sha256(json.dumps([args, entry], sort_keys=True, default=str).encode()).hexdigest()[:16]


def train_command(grid: dict, run: dict, log_root: Path, grid_name: str) -> list[str]:
    """The ``python -m sb3_arq.train`` command line of one run (``-params`` values: python literals, strings in ")."""
    command = [sys.executable, "-m", "sb3_arq.train"]
    for key, value in zoo_args(grid, run, log_root, grid_name).items():
        if key != "hyperparams":
            command += [FLAGS.get(key, "--" + key.replace("_", "-")), str(value)]
        elif value:
            command += ["-params", *(f"{name}:{param!r}".replace("'", '"') for name, param in value.items())]
    return command


def is_finished(run_dir: Path, grid: dict, run: dict) -> bool:
    """Whether a run's evaluations.npz reaches the budget with every evaluation complete (False while it is written)."""
    with contextlib.suppress(OSError, ValueError, KeyError, IndexError):
        steps, results = (np.load(run_dir / "evaluations.npz")[key] for key in ("timesteps", "results"))
        budget = task_setting(grid, run["env"], "n_timesteps", run["variant"])
        return bool(steps[-1] >= budget and results.shape == (len(steps), grid["eval_episodes"]))
    return False


def find_attempts(grid: dict, run: dict, log_root: Path, grid_name: str) -> tuple[Path | None, list[Path]]:
    """
    A run's latest finished rl-zoo3 folder (or None) and its unfinished ones: the folders whose saved arguments
    (``args.yml``) and hyperparameters (``config.yml``: the entry read, updated by ``-params``) are the run's now, or
    are not written yet.
    """
    expected, prefix = zoo_args(grid, run, log_root, grid_name), env_name(run["env"]) + "_"
    config = {**hyperparams_entry(grid["variants"][run["variant"]], run["env"]), **expected["hyperparams"]}
    folders = (log_root / grid_name / run["variant"] / expected["algo"]).glob(prefix + "*")
    finished, unfinished = [], []
    for run_dir in sorted(folders, key=lambda path: (len(path.name), path.name)):  # by rl-zoo3's run id
        if not run_dir.name[len(prefix) :].isdigit():
            continue
        saved = run_dir / env_name(run["env"])  # rl-zoo3 writes config.yml, then args.yml
        args = load_zoo_args(saved / "args.yml") if (saved / "args.yml").is_file() else None
        same = args is not None and all(args.get(key) == expected[key] for key in MATCHED if key in expected)
        same = same and (args.get("hyperparams") or {}) == expected["hyperparams"]
        if args is None or (same and load_zoo_args(saved / "config.yml") == config):
            done = args is not None and is_finished(run_dir, grid, run)
            (finished if done else unfinished).append(run_dir)
    return (finished[-1] if finished else None), unfinished


def ledger_path(results_dir: Path, grid_name: str) -> Path:
    """The ledger of a grid's finished runs (committed; the report beside it is an output)."""
    return results_dir / "ledger" / f"{grid_name}.json"


def write_ledger(grid_name: str, data: pd.DataFrame, results_dir: Path) -> None:
    """
    Record the finished runs of ``data`` (``collect``'s rows) in the ledger, keeping the rows of runs recorded with
    another fingerprint (settings since changed: they count again if the settings come back).
    """
    path = ledger_path(results_dir, grid_name)
    recorded = json.loads(path.read_text())["runs"] if path.is_file() else []
    kept = [row for row in recorded if row["fingerprint"] not in set(data["fingerprint"])]
    rows = kept + data.drop(columns="source").replace({np.nan: None}).to_dict(orient="records")
    atomic_write_text(path, json.dumps({"grid": grid_name, "runs": rows}, indent=1) + "\n")


def recorded_runs(grid: dict, grid_name: str, log_root: Path, results_dir: Path) -> pd.DataFrame:
    """
    The rows of the ledger (``collect``'s columns) of the grid's runs recorded with the fingerprint they would have now:
    runs finished where their logs are not. A run is its fingerprint: rows recorded under another variant's name (the
    same command and entry, e.g. a variant renamed) are this variant's.
    """
    path = ledger_path(results_dir, grid_name)
    rows = pd.DataFrame(json.loads(path.read_text())["runs"] if path.is_file() else [], columns=COLUMNS)
    frames = [rows.iloc[:0]]
    for run in grid_runs(grid):
        same = rows[rows["fingerprint"] == fingerprint(grid, run, log_root, grid_name)]
        if len(same):
            frames.append(same[same["variant"] == same["variant"].iloc[0]].assign(variant=run["variant"]))
    return pd.concat(frames, ignore_index=True)


def missing_runs(grid: dict, grid_name: str, log_root: Path, results_dir: Path, runs: list[dict]) -> list[dict]:
    """
    The runs among ``runs`` that are neither finished in the logs nor recorded in the ledger, their
    unfinished attempts deleted (call it with the grid locked: no run of it is live).
    """
    recorded = {run_key(row) for row in recorded_runs(grid, grid_name, log_root, results_dir).to_dict(orient="records")}
    todo = []
    for run in runs:
        finished, unfinished = find_attempts(grid, run, log_root, grid_name)
        if finished is None and run_key(run) not in recorded:
            for attempt in unfinished:
                log(f"{run['variant']} {run['env']} seed {run['seed']}: removing the unfinished attempt {attempt}")
                shutil.rmtree(attempt)
            todo.append(run)
    log(f"{len(runs) - len(todo)} of {len(runs)} runs finished already (in the logs or the ledger), {len(todo)} to run")
    return todo


def children_cpu_seconds() -> float:
    """
    User + system CPU seconds of this process's ended child processes and of the ones they waited for (the run's
    inductor compile workers among them): the difference across one run, with no other child ending meanwhile (one run
    at a time per runner or Ray worker), is the run's CPU time, which other load on the machine does not inflate as
    it does the wall time.
    """
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def record_cpu_seconds(run_dir: Path, seconds: float) -> None:
    """Keep a finished run's CPU time in its folder (``collect`` reads it; runs without the file report none)."""
    atomic_write_text(run_dir / CPU_FILE, f"{seconds:.1f}\n")


def run_environment(grid: dict) -> dict:
    """Environment variables added to every run's: no display, unbuffered output, the grid's torch threads."""
    threads = {"OMP_NUM_THREADS": str(grid["num_threads"]), "MKL_NUM_THREADS": str(grid["num_threads"])}
    return {"MPLBACKEND": "Agg", "PYTHONUNBUFFERED": "1", **(threads if grid["num_threads"] > 0 else {})}


def output_path(run: dict, log_root: Path, grid_name: str) -> Path:
    """Where a run's stdout and stderr go (its folder made)."""
    (log_root / grid_name / run["variant"]).mkdir(parents=True, exist_ok=True)
    return log_root / grid_name / run["variant"] / f"{env_name(run['env'])}_seed{run['seed']}.out"


def grid_lock(log_root: Path, grid_name: str) -> FileLock:
    """Keep a second runner (sequential or Ray) off a grid's log folder (released when the runner ends, however)."""
    (log_root / grid_name).mkdir(parents=True, exist_ok=True)
    lock = FileLock(log_root / grid_name / "runner.lock")
    try:
        lock.acquire(timeout=0)
    except Timeout:
        sys.exit(f"Another runner is working on {log_root / grid_name}; use --report-only.")
    return lock


def run_grid(grid: dict, grid_name: str, log_root: Path, results_dir: Path, runs: list[dict] | None = None) -> None:
    """Run the grid's missing runs (those of ``runs`` only, if given) one at a time, reporting after each."""
    with grid_lock(log_root, grid_name):
        todo = missing_runs(grid, grid_name, log_root, results_dir, grid_runs(grid) if runs is None else runs)
        for index, run in enumerate(todo, start=1):
            name = f"({index}/{len(todo)}) {run['variant']} {run['env']} seed {run['seed']}"
            command, output = train_command(grid, run, log_root, grid_name), output_path(run, log_root, grid_name)
            log(f"{name}: {shlex.join(['python', *command[1:]])}  (output: {output})")
            start, cpu_start, env = time.time(), children_cpu_seconds(), {**os.environ, **run_environment(grid)}
            with open(output, "w") as file:
                code = subprocess.run(command, cwd=REPO, env=env, stdout=file, stderr=subprocess.STDOUT).returncode
            run_dir = find_attempts(grid, run, log_root, grid_name)[0]
            if code != 0 or run_dir is None:
                log(f"{name}: FAILED (exit code {code}, no finished run folder), see {output}")
                continue
            cpu_seconds = children_cpu_seconds() - cpu_start
            record_cpu_seconds(run_dir, cpu_seconds)
            log(f"{name}: done in {time.time() - start:.0f} s ({cpu_seconds:.0f} s of CPU time)")
            write_report(grid, grid_name, log_root, results_dir)


def collect(grid: dict, grid_name: str, log_root: Path, results_dir: Path | None = None) -> pd.DataFrame:
    """
    One row per evaluation of every finished run (``COLUMNS``: variant, env, seed, run folder, timesteps, mean return,
    seconds (training wall time), CPU seconds (the whole run's, NaN where the runner did not record it), fingerprint,
    source): from its logs, else (with ``results_dir``) as recorded in the ledger.
    """
    recorded = recorded_runs(grid, grid_name, log_root, results_dir) if results_dir is not None else None
    frames = []
    for run in grid_runs(grid):
        run_dir = find_attempts(grid, run, log_root, grid_name)[0]
        if run_dir is not None:
            evaluations = np.load(run_dir / "evaluations.npz")
            start, end = run_dir / env_name(run["env"]) / "args.yml", run_dir / f"{env_name(run['env'])}.zip"
            times = {
                "seconds": end.stat().st_mtime - start.stat().st_mtime if end.is_file() else np.nan,  # training wall time
                "cpu_seconds": float((run_dir / CPU_FILE).read_text()) if (run_dir / CPU_FILE).is_file() else np.nan,
            }
            curve = {"timesteps": evaluations["timesteps"], "mean_return": evaluations["results"].mean(axis=1)}
            run_id = {"fingerprint": fingerprint(grid, run, log_root, grid_name), "source": "logs"}
            frames.append(pd.DataFrame({**run, "run_dir": display_path(run_dir), **curve, **times, **run_id}))
        elif recorded is not None:
            same_run = recorded[["variant", "env", "seed"]].eq(pd.Series(run)).all(axis=1)
            frames.append(recorded[same_run].assign(source="ledger"))
    frames = [frame for frame in frames if len(frame)]
    return pd.concat(frames, ignore_index=True)[COLUMNS] if frames else pd.DataFrame(columns=COLUMNS)


def iqm_interval(finals: pd.Series) -> pd.Series:
    """
    The interquartile mean of the seeds' final returns (the 25% trimmed mean, ``scipy.stats.trim_mean``, as rliable's
    ``aggregate_iqm``) with its 95% percentile-bootstrap confidence interval (``scipy.stats.bootstrap``, seeded; rliable's
    stratified bootstrap for one task). rliable itself is not used: its bootstrap fails with the current ``arch`` (8).
    """
    values, interquartile_mean = finals.to_numpy(dtype=float), functools.partial(stats.trim_mean, proportiontocut=0.25)
    low = high = iqm = interquartile_mean(values)
    if len(values) > 1 and np.ptp(values) > 0:
        bootstrap = stats.bootstrap((values,), interquartile_mean, n_resamples=BOOTSTRAP_RESAMPLES, method="percentile", rng=0)
        low, high = bootstrap.confidence_interval
    return pd.Series({"iqm": iqm, "iqm_low": low, "iqm_high": high})


def probability_of_improvement(x: list[np.ndarray], y: list[np.ndarray]) -> tuple[float, float, float]:
    """
    P(X > Y) across tasks (Agarwal et al., NeurIPS 2021, "Deep RL at the edge of the statistical precipice", as
    rliable's ``probability_of_improvement``): per task, the share of pairs of runs (one of X, one of Y) where X's final
    return is higher, ties counting a half (the Mann-Whitney U statistic over n m); then the mean over tasks. Its 95%
    interval is a percentile bootstrap stratified by task and algorithm (``scipy.stats.bootstrap`` with every task's
    runs of each algorithm as an independent sample, seeded, as ``iqm_interval``); with a single run in some sample
    there is nothing to resample and the interval is the point.

    :param x: Per task, X's final returns (one per seed).
    :param y: Per task, Y's final returns, in the same task order.
    :return: The probability, and the low and high ends of its 95% confidence interval.
    """

    def across_tasks(*samples: np.ndarray, axis: int = -1) -> np.ndarray:  # X's tasks, then Y's; runs on the last axis
        shares = []
        for a, b in zip(samples[: len(x)], samples[len(x) :], strict=True):
            a, b = a[..., :, None], b[..., None, :]
            shares.append(((a > b) + 0.5 * (a == b)).mean(axis=(-2, -1)))
        return np.mean(shares, axis=0)

    samples = [np.asarray(task, dtype=float) for task in (*x, *y)]
    probability = low = high = float(across_tasks(*samples))
    if min(len(runs) for runs in samples) > 1:
        bootstrap = stats.bootstrap(
            samples, across_tasks, paired=False, vectorized=True, n_resamples=BOOTSTRAP_RESAMPLES, method="percentile", rng=0
        )
        low, high = map(float, bootstrap.confidence_interval)
    return probability, low, high


def summarise(data: pd.DataFrame, targets: dict[str, float] | None = None) -> pd.DataFrame:
    """
    Per task and variant: number of seeds, mean and standard error over seeds of the final and best return, the wall
    time and the CPU time (none unless every seed has one);
    the final return's interquartile mean and its 95% confidence interval (``iqm_interval``: columns ``final, iqm``,
    ``iqm_low``, ``iqm_high``) and, for a task with a target, the fraction of seeds whose final return reaches it
    (``final, reached``).
    """
    per_seed = data.groupby(["env", "variant", "seed"]).agg(
        final=("mean_return", "last"),
        best=("mean_return", "max"),
        seconds=("seconds", "first"),
        cpu=("cpu_seconds", "first"),
    )
    summary = per_seed.groupby(["env", "variant"]).agg(["size", "mean", "sem"])  # columns (final|best|seconds|cpu, statistic)
    summary.loc[per_seed["cpu"].isna().groupby(level=["env", "variant"]).any(), "cpu"] = np.nan  # a mean of all seeds or none
    if len(per_seed):
        robust = per_seed["final"].groupby(level=["env", "variant"]).apply(iqm_interval).unstack()
        target = per_seed.index.get_level_values("env").map((targets or {}).get).to_numpy(dtype=float)
        reached = (per_seed["final"] >= target).where(~np.isnan(target)).groupby(level=["env", "variant"]).mean()
        for key, column in [*robust.items(), ("reached", reached)]:
            summary["final", key] = column
    return summary


def fmt(mean: float, se: float) -> str:
    """``mean +- se`` with two decimals (``mean`` alone when the standard error is undefined)."""
    return f"{mean:.2f}" if np.isnan(se) else f"{mean:.2f} +- {se:.2f}"


def summary_table(grid: dict, summary: pd.DataFrame, env_id: str) -> list[str]:
    """
    The markdown table of one task: per variant the seeds, the final return (mean +- SE, and its interquartile mean
    with the 95% bootstrap confidence interval), the share of seeds reaching the task's target (if it has one), the best
    return (mean +- SE), the training (wall) time and, once some run of the grid has it, the CPU time of the whole run.
    """
    target = task_setting(grid, env_id, "target")
    reached = [] if target is None else [f"final >= {target:g}"]
    cpu = ["CPU time per run"] if summary["cpu", "mean"].notna().any() else []
    lines = [f"| {env_id}, {task_setting(grid, env_id, 'n_timesteps'):,} env steps | n | final return | final IQM [95% CI] |"]
    lines[0] += "".join(f" {column} |" for column in [*reached, "best return", "training time per run", *cpu])
    lines.append("|---" * (6 + len(reached) + len(cpu)) + "|")
    for name in task_variants(grid, env_id):
        label, row = grid["variants"][name]["label"], summary.loc[(env_id, name)] if (env_id, name) in summary.index else None
        if row is None:
            lines.append(f"| {label} | 0 |" + " - |" * (4 + len(reached) + len(cpu)))
            continue
        n = int(row["final", "size"])
        final, best = fmt(row["final", "mean"], row["final", "sem"]), fmt(row["best", "mean"], row["best", "sem"])
        iqm = f"{row['final', 'iqm']:.2f} [{row['final', 'iqm_low']:.2f}, {row['final', 'iqm_high']:.2f}]"
        share = [] if target is None else [f"{round(row['final', 'reached'] * n)} of {n}"]
        wall, cpu_time = (
            "-" if np.isnan(row[key, "mean"]) else f"{row[key, 'mean'] / 60:.1f} min" for key in ("seconds", "cpu")
        )
        cells = [*share, best, wall, *([cpu_time] if cpu else [])]
        lines.append(f"| {label} | {n} | {final} | {iqm} |" + "".join(f" {cell} |" for cell in cells))
    return lines


def improvement_lines(grid: dict, data: pd.DataFrame) -> list[str]:
    """
    The grid's ``compare`` pair (variant X, variant Y), if it has one: P(X's final return > Y's) across the tasks where
    both have finished runs (``probability_of_improvement``), as a sentence; none without such a task.
    """
    if "compare" not in grid:
        return []
    finals = data.groupby(["variant", "env", "seed"])["mean_return"].last()
    (x, y), present = grid["compare"], set(finals.index.droplevel("seed"))
    tasks = [env_id for env_id in grid_tasks(grid) if (x, env_id) in present and (y, env_id) in present]
    if not tasks:
        return []
    x_finals, y_finals = ([finals[name, env_id].to_numpy() for env_id in tasks] for name in (x, y))
    probability, low, high = probability_of_improvement(x_finals, y_finals)
    labels = [grid["variants"][name]["label"] for name in (x, y)]
    if min(len(runs) for runs in (*x_finals, *y_finals)) > 1:
        interval = f"[95% CI {low:.2f}, {high:.2f}] (stratified bootstrap over seeds, {BOOTSTRAP_RESAMPLES:,} resamples)"
    else:
        interval = "(no confidence interval yet: a task has a single run of one of them)"
    return [
        f"Across {len(tasks)} task(s) ({', '.join(tasks)}): the probability that {labels[0]}'s final return exceeds "
        f"{labels[1]}'s (probability of improvement, Agarwal et al. 2021) is **{probability:.2f}** {interval}.",
        "",
    ]


def plot(grid: dict, grid_name: str, data: pd.DataFrame, path: Path) -> None:
    """Learning curves: mean evaluation return over seeds with a standard-error band, one panel per task."""
    from matplotlib.figure import Figure

    tasks = [env_id for env_id in grid_tasks(grid) if env_id in set(data["env"])]
    fig = Figure(figsize=(6 * len(tasks), 4.2), layout="tight")
    axes = fig.subplots(1, len(tasks), squeeze=False)
    for ax, env_id in zip(axes[0], tasks, strict=True):
        curves = {}
        for name in task_variants(grid, env_id):
            task = data[(data["env"] == env_id) & (data["variant"] == name)]
            runs = [(seed["timesteps"].to_numpy(), seed["mean_return"].to_numpy()) for _, seed in task.groupby("seed")]
            if runs:
                curves[grid["variants"][name]["label"]] = evaluation_statistics(runs)
        draw_evaluations(ax, curves, env_id)
        ax.set_ylabel(f"evaluation return ({grid['eval_episodes']} episodes)")
    fig.suptitle(f"{grid_name} grid: mean +- standard error over seeds")
    fig.savefig(path, dpi=110)


def evaluation_text(grid: dict) -> str:
    """How the grid's variants are evaluated (one protocol for every discrete-action algorithm)."""
    continuous = [spec["label"] for spec in grid["variants"].values() if spec["algo"] in CONTINUOUS_ALGOS]
    if grid["evaluation"] != "paper":
        return "greedy for every algorithm (rl-zoo3's deterministic evaluation)"
    greedy = f"; {', '.join(continuous)} greedily (continuous actions)" if continuous else ""
    return f"epsilon 0.05 for every discrete-action algorithm, as in the paper{greedy}"


def budget_text(grid: dict) -> str:
    """The grid's budget per run (per task where they differ)."""
    budgets = {env_id: task_setting(grid, env_id, "n_timesteps") for env_id in grid_tasks(grid)}
    if len(set(budgets.values())) == 1:
        return f"{next(iter(budgets.values())):,} env steps per run"
    return "env steps per run: " + ", ".join(f"{env_id} {steps:,}" for env_id, steps in budgets.items())


def write_report(grid: dict, grid_name: str, log_root: Path, results_dir: Path) -> Path | None:
    """
    Record the finished runs of the logs in the ledger, then write the report ``<grid>.md``, ``.png``, ``.json`` from
    the finished runs, in the logs or the ledger (idempotent; README.md links them). Without any finished run, nothing
    is written.

    :return: The markdown report's path, or None when nothing was written.
    """
    data, runs, tasks = collect(grid, grid_name, log_root, results_dir), grid_runs(grid), grid_tasks(grid)
    if data.empty:
        log(f"no finished run of the {grid_name} grid under {log_root}: no report written")
        return None
    write_ledger(grid_name, data, results_dir)
    summary = summarise(data, {env_id: task_setting(grid, env_id, "target") for env_id in tasks})
    md = [f"# Learning benchmark: `{grid_name}` grid", ""]
    eval_freqs = {task_setting(grid, run["env"], "eval_freq", run["variant"]) for run in runs}
    eval_freqs = ", ".join(f"{eval_freq:,}" for eval_freq in sorted(eval_freqs))
    md += [f"{grid['description']}. **Budget: {budget_text(grid)}**; evaluation every "
           f"{eval_freqs} steps on {grid['eval_episodes']} episodes, {evaluation_text(grid)}; seeds "
           f"{grid['seeds']}. Finished runs: {int(summary['final', 'size'].sum())} of {len(runs)}.", ""]  # fmt: skip
    sources = data.drop_duplicates(["variant", "env", "seed"])["source"].value_counts()
    if sources.get("ledger", 0):
        md += [f"Of these, {sources['ledger']} are recorded in the ledger `ledger/{grid_name}.json` by an earlier machine "
               f"(their logs were not kept; `learning.py` docstring), {sources.get('logs', 0)} are in this machine's logs.",
               ""]  # fmt: skip
    md += ["Final = the last evaluation (at the budget), best = the best evaluation of the run; each is the mean return "
           "of the evaluation episodes, then mean +- standard error over seeds (n = number of seeds).", ""]  # fmt: skip
    for env_id in tasks:
        md += [f"## {env_id}", "", *summary_table(grid, summary, env_id), ""]
    md += improvement_lines(grid, data)
    if len(data):
        plot(grid, grid_name, data, results_dir / f"{grid_name}.png")
        md += [f"![learning curves]({grid_name}.png)", ""]
    md += ["## Settings", "", "What differs from the published settings:", "", *(f"- {line}" for line in grid["reductions"])]
    md += ["", "Every run (rl-zoo3 arguments; `-f` is the variant's log folder):", "", "```bash"]
    for name, spec in grid["variants"].items():
        example = next(run for run in runs if run["variant"] == name)
        command = shlex.join(["python", *train_command(grid, {**example, "seed": "<seed>"}, log_root, grid_name)[1:]])
        md += [f"# {spec['label']}", command.replace("'<seed>'", "<seed>")]
    folders = " ".join(display_path(log_root / grid_name / name) for name in grid["variants"])
    algos = " ".join(dict.fromkeys(spec["algo"] for spec in grid["variants"].values()))
    md += ["```", "", "Reproduce (resumable; finished runs are skipped) and re-aggregate:", "", "```bash"]
    md += [
        f"python benchmarks/learning.py --grid {grid_name}",
        f"python benchmarks/learning.py --grid {grid_name} --report-only",
    ]
    longest = max(task_setting(grid, run["env"], "n_timesteps", run["variant"]) for run in runs)
    md += ["# rl-zoo3's own plots and table of the same logs",
           f"MPLBACKEND=Agg python -m rl_zoo3.cli all_plots -a {algos} -e {' '.join(map(env_name, tasks))} -f {folders} "
           f"-l {' '.join(grid['variants'])} -max {longest} --no-million --no-display", "```", ""]  # fmt: skip
    path = results_dir / f"{grid_name}.md"
    atomic_write_text(path, "\n".join(md))
    keys = ("description", "n_timesteps", "eval_freq", "eval_episodes", "seeds", "evaluation", "per_task")
    settings = {key: grid[key] for key in keys}
    report = {"grid": grid_name, "settings": settings, "variants": grid["variants"], "reductions": grid["reductions"]}
    summary.columns = [f"{quantity}_{statistic}" for quantity, statistic in summary.columns]  # e.g. final_mean, final_iqm
    report["summary"] = summary.reset_index().replace({np.nan: None}).to_dict(orient="records")  # per task and variant
    atomic_write_text(results_dir / f"{grid_name}.json", json.dumps(report, indent=1) + "\n")
    return path


def describe(grid: dict, grid_name: str, log_root: Path) -> None:
    """Print the grid: settings, number of runs and every command line."""
    runs = grid_runs(grid)
    print(f"Grid {grid_name!r}: {grid['description']}")
    steps = sum(task_setting(grid, run["env"], "n_timesteps", run["variant"]) for run in runs)
    print(f"  {budget_text(grid)}, {grid['eval_episodes']} evaluation episodes, {evaluation_text(grid)}")
    print(f"  seeds {grid['seeds']}, {len(runs)} runs ({steps:,} env steps in all)")
    print(*(f"  - {line}" for line in grid["reductions"]), sep="\n")
    print(*("  " + shlex.join(["python", *train_command(grid, run, log_root, grid_name)[1:]]) for run in runs), sep="\n")


def selected_runs(grid: dict, args: argparse.Namespace) -> list[dict]:
    """The grid's runs of the tasks ``--env``, variants ``--variant`` and seeds ``--seed`` (all where not given), checked."""
    runs = grid_runs(grid)
    selectors = {"env": args.env, "variant": args.variant, "seed": args.seed}
    for key, chosen in selectors.items():
        known = list(dict.fromkeys(run[key] for run in runs))
        if set(chosen or ()) - set(known):
            sys.exit(f"--{key} {sorted(set(chosen) - set(known))} is not in the {args.grid} grid: {known}")
    return [run for run in runs if all(run[key] in (chosen or [run[key]]) for key, chosen in selectors.items())]


def parser() -> argparse.ArgumentParser:
    """The command line (``learning_ray.py`` adds its options)."""
    cli = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cli.add_argument("--grid", choices=sorted(GRIDS), default="cpu")
    cli.add_argument("--log-root", type=Path, default=LOG_ROOT, help="rl-zoo3 log folders go to <log-root>/<grid>/")
    cli.add_argument("--results-dir", type=Path, default=RESULTS, help="where <grid>.md/.png/.json are written")
    cli.add_argument("--report-only", action="store_true", help="aggregate the finished runs, run nothing")
    cli.add_argument("--env", action="append", help="run only this task's runs (repeatable); the report covers all")
    cli.add_argument("--variant", action="append", help="run only this variant's runs (repeatable); the report covers all")
    cli.add_argument("--seed", action="append", type=int, help="run only this seed's runs (repeatable); the report covers all")
    cli.add_argument("--describe", action="store_true", help="print the grid and its commands, run nothing")
    return cli


def main() -> None:
    """Command line: run (resumably) and report a grid, or only report / describe it."""
    args = parser().parse_args()
    grid, log_root, results_dir = GRIDS[args.grid], args.log_root.resolve(), args.results_dir.resolve()
    if args.describe:
        return describe(grid, args.grid, log_root)
    if not args.report_only:
        run_grid(grid, args.grid, log_root, results_dir, selected_runs(grid, args))
    log(f"report: {write_report(grid, args.grid, log_root, results_dir)}")


if __name__ == "__main__":
    main()
