"""
Learning-curve benchmark: a grid {algorithms} x {tasks} x {seeds} (``benchmarks/grids.py``) of ordinary rl-zoo3 runs.

    python benchmarks/learning.py --grid cpu                 # run what is missing, one run at a time, then report
    python benchmarks/learning.py --grid cpu --report-only   # only aggregate the finished runs (--readme: and README.md)
    python benchmarks/learning.py --grid paper --describe    # print the grid (runs, commands) and exit
    python benchmarks/learning_ray.py --grid paper           # the same runs as Ray tasks, several at once

A run is one ``python -m sb3_arq.train`` process logging to ``<log-root>/<grid>/<variant>/<algo>/<Env-Name>_<id>/``
(rl-zoo3's run folder). It is finished when its ``args.yml`` has its command's arguments and its ``evaluations.npz``
reaches the budget; unfinished attempts are deleted before it starts again. The report: ``benchmarks/results/<grid>.*``.
"""

import argparse
import contextlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from filelock import FileLock, Timeout
from grids import GRIDS

from sb3_arq.zoo import hyperparams_path
from sb3_arq.zoo.callbacks import load_zoo_args

REPO = Path(__file__).resolve().parents[1]
RESULTS, LOG_ROOT = REPO / "benchmarks" / "results", REPO / "logs" / "benchmarks"
PAPER_EVAL = "sb3_arq.zoo.callbacks.EpsilonGreedyEvalCallback"  # the paper's evaluation protocol
FLAGS = {"n_timesteps": "-n", "log_folder": "-f", "hyperparams": "-params"}  # the others: --name-with-dashes
MATCHED = ("algo", "env", "seed", "n_timesteps", "eval_freq", "eval_episodes")  # with -params: identify a run's folder


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


def grid_tasks(grid: dict) -> list[str]:
    """The grid's tasks, in the order of their first appearance."""
    return list(dict.fromkeys(env_id for block in grid["blocks"] for env_id in block["tasks"]))


def task_variants(grid: dict, env_id: str) -> list[str]:
    """The variants that run on a task, in grid order."""
    return list(dict.fromkeys(name for block in grid["blocks"] if env_id in block["tasks"] for name in block["variants"]))


def zoo_args(grid: dict, run: dict, log_root: Path, grid_name: str) -> dict:
    """A run's rl-zoo3 arguments, named as in its saved ``args.yml``, in command-line order."""
    spec = grid["variants"][run["variant"]]
    args, params = {"algo": spec["algo"], "env": run["env"], "n_timesteps": grid["n_timesteps"]}, dict(spec["params"])
    if spec["paper_eval"]:  # rl-zoo3's greedy evaluation off, the paper's on
        evaluation = {"eval_freq": grid["eval_freq"], "n_eval_episodes": grid["eval_episodes"], "epsilon": 0.05}
        args["eval_freq"], params["callback"] = -1, [{PAPER_EVAL: evaluation}]
    else:
        args.update(eval_freq=grid["eval_freq"], eval_episodes=grid["eval_episodes"])
    args.update(seed=run["seed"], num_threads=grid["num_threads"], device=grid["device"])
    args["log_folder"] = display_path(log_root / grid_name / run["variant"])
    if spec["conf"] is not None:
        args["conf_file"] = display_path(Path(hyperparams_path(spec["conf"])).resolve())
    return {**args, "hyperparams": params}


def train_command(grid: dict, run: dict, log_root: Path, grid_name: str) -> list[str]:
    """The ``python -m sb3_arq.train`` command line of one run (``-params`` values: python literals, strings in ")."""
    command = [sys.executable, "-m", "sb3_arq.train"]
    for key, value in zoo_args(grid, run, log_root, grid_name).items():
        if key != "hyperparams":
            command += [FLAGS.get(key, "--" + key.replace("_", "-")), str(value)]
        elif value:
            command += ["-params", *(f"{name}:{param!r}".replace("'", '"') for name, param in value.items())]
    return command


def is_finished(run_dir: Path, grid: dict) -> bool:
    """Whether a run's evaluations.npz reaches the budget with every evaluation complete (False while it is written)."""
    with contextlib.suppress(OSError, ValueError, KeyError, IndexError):
        steps, results = (np.load(run_dir / "evaluations.npz")[key] for key in ("timesteps", "results"))
        return bool(steps[-1] >= grid["n_timesteps"] and results.shape == (len(steps), grid["eval_episodes"]))
    return False


def find_attempts(grid: dict, run: dict, log_root: Path, grid_name: str) -> tuple[Path | None, list[Path]]:
    """A run's latest finished rl-zoo3 folder (or None) and its unfinished ones (args.yml matching, or not written yet)."""
    expected, prefix = zoo_args(grid, run, log_root, grid_name), env_name(run["env"]) + "_"
    folders = (log_root / grid_name / run["variant"] / expected["algo"]).glob(prefix + "*")
    finished, unfinished = [], []
    for run_dir in sorted(folders, key=lambda path: (len(path.name), path.name)):  # by rl-zoo3's run id
        if not run_dir.name[len(prefix) :].isdigit():
            continue
        args_file = run_dir / env_name(run["env"]) / "args.yml"
        args = load_zoo_args(args_file) if args_file.is_file() else None
        same = args is not None and all(args.get(key) == expected[key] for key in MATCHED if key in expected)
        if args is None or (same and (args.get("hyperparams") or {}) == expected["hyperparams"]):
            done = args is not None and is_finished(run_dir, grid)
            (finished if done else unfinished).append(run_dir)
    return (finished[-1] if finished else None), unfinished


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


def run_grid(grid: dict, grid_name: str, log_root: Path, results_dir: Path, readme: Path | None = None) -> None:
    """Run the grid's missing runs one at a time, reporting after each."""
    runs = grid_runs(grid)
    with grid_lock(log_root, grid_name):
        for index, run in enumerate(runs, start=1):
            name = f"({index}/{len(runs)}) {run['variant']} {run['env']} seed {run['seed']}"
            finished, unfinished = find_attempts(grid, run, log_root, grid_name)
            if finished is not None:
                log(f"{name}: finished in {finished}, skipped")
                continue
            for attempt in unfinished:
                log(f"{name}: removing the unfinished attempt {attempt}")
                shutil.rmtree(attempt)
            command, output = train_command(grid, run, log_root, grid_name), output_path(run, log_root, grid_name)
            log(f"{name}: {shlex.join(['python', *command[1:]])}  (output: {output})")
            start, env = time.time(), {**os.environ, **run_environment(grid)}
            with open(output, "w") as file:
                code = subprocess.run(command, cwd=REPO, env=env, stdout=file, stderr=subprocess.STDOUT).returncode
            if code != 0 or find_attempts(grid, run, log_root, grid_name)[0] is None:
                log(f"{name}: FAILED (exit code {code}, no finished run folder), see {output}")
                continue
            log(f"{name}: done in {time.time() - start:.0f} s")
            write_report(grid, grid_name, log_root, results_dir, readme)


def collect(grid: dict, grid_name: str, log_root: Path) -> pd.DataFrame:
    """One row per evaluation of every finished run: variant, env, seed, run folder, timesteps, mean return, seconds."""
    frames = []
    for run in grid_runs(grid):
        run_dir = find_attempts(grid, run, log_root, grid_name)[0]
        if run_dir is not None:
            evaluations = np.load(run_dir / "evaluations.npz")
            start, end = run_dir / env_name(run["env"]) / "args.yml", run_dir / f"{env_name(run['env'])}.zip"
            seconds = end.stat().st_mtime - start.stat().st_mtime if end.is_file() else np.nan  # training wall time
            curve = {"timesteps": evaluations["timesteps"], "mean_return": evaluations["results"].mean(axis=1)}
            frames.append(pd.DataFrame({**run, "run_dir": display_path(run_dir), **curve, "seconds": seconds}))
    columns = ["variant", "env", "seed", "run_dir", "timesteps", "mean_return", "seconds"]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)


def summarise(data: pd.DataFrame) -> pd.DataFrame:
    """Per task and variant: number of seeds, mean and standard error over seeds of the final and best return and time."""
    per_seed = data.groupby(["env", "variant", "seed"]).agg(
        final=("mean_return", "last"), best=("mean_return", "max"), seconds=("seconds", "first")
    )
    return per_seed.groupby(["env", "variant"]).agg(["size", "mean", "sem"])  # columns (final|best|seconds, statistic)


def fmt(mean: float, se: float) -> str:
    """``mean +- se`` with two decimals (``mean`` alone when the standard error is undefined)."""
    return f"{mean:.2f}" if np.isnan(se) else f"{mean:.2f} +- {se:.2f}"


def summary_table(grid: dict, summary: pd.DataFrame, env_id: str) -> list[str]:
    """The markdown table of one task: per variant the seeds, final and best return (mean +- SE), training time."""
    lines = [f"| {env_id}, {grid['n_timesteps']:,} env steps | n | final return | best return | training time per run |"]
    lines.append("|---|---|---|---|---|")
    for name in task_variants(grid, env_id):
        label, row = grid["variants"][name]["label"], summary.loc[(env_id, name)] if (env_id, name) in summary.index else None
        if row is None:
            lines.append(f"| {label} | 0 | - | - | - |")
        else:
            final, best = fmt(row["final", "mean"], row["final", "sem"]), fmt(row["best", "mean"], row["best", "sem"])
            wall = "-" if np.isnan(row["seconds", "mean"]) else f"{row['seconds', 'mean'] / 60:.1f} min"
            lines.append(f"| {label} | {int(row['final', 'size'])} | {final} | {best} | {wall} |")
    return lines


def plot(grid: dict, grid_name: str, data: pd.DataFrame, path: Path) -> None:
    """Learning curves: mean evaluation return over seeds with a standard-error band (seaborn), one panel per task."""
    import seaborn as sns
    from matplotlib.figure import Figure

    tasks = [env_id for env_id in grid_tasks(grid) if env_id in set(data["env"])]
    fig = Figure(figsize=(6 * len(tasks), 4.2), layout="tight")
    axes = fig.subplots(1, len(tasks), squeeze=False)
    for ax, env_id in zip(axes[0], tasks, strict=True):
        task = data[data["env"] == env_id]
        n = task.groupby("variant")["seed"].nunique()
        labels = {name: f"{spec['label']} (n={n[name]})" for name, spec in grid["variants"].items() if name in n}
        sns.lineplot(x=task["timesteps"], y=task["mean_return"], hue=task["variant"].map(labels), errorbar="se", ax=ax)
        ax.set(title=env_id, xlabel="env steps", ylabel=f"evaluation return ({grid['eval_episodes']} episodes)")
        ax.grid(alpha=0.3)
    fig.suptitle(f"{grid_name} grid: {grid['n_timesteps']:,} env steps per run, mean +- standard error over seeds")
    fig.savefig(path, dpi=110)


def evaluation_text(grid: dict) -> str:
    """How the grid's variants are evaluated."""
    paper, greedy = [spec["label"] for spec in grid["variants"].values() if spec["paper_eval"]], "greedy (rl-zoo3's)"
    return f"epsilon 0.05 as in the paper for {', '.join(paper)}, otherwise {greedy}" if paper else greedy


def write_report(grid: dict, grid_name: str, log_root: Path, results_dir: Path, readme: Path | None = None) -> Path:
    """Write ``<grid>.md``, ``.png``, ``.json`` from the finished runs (idempotent), and the README's tables if asked."""
    results_dir.mkdir(parents=True, exist_ok=True)
    data, runs, tasks = collect(grid, grid_name, log_root), grid_runs(grid), grid_tasks(grid)
    summary = summarise(data)
    md = [f"# Learning benchmark: `{grid_name}` grid", ""]
    md += [f"{grid['description']}. **Budget: {grid['n_timesteps']:,} env steps per run**; evaluation every "
           f"{grid['eval_freq']:,} steps on {grid['eval_episodes']} episodes, {evaluation_text(grid)}; seeds "
           f"{grid['seeds']}. Finished runs: {int(summary['final', 'size'].sum())} of {len(runs)}.", ""]  # fmt: skip
    md += ["Final = the last evaluation (at the budget), best = the best evaluation of the run; each is the mean return "
           "of the evaluation episodes, then mean +- standard error over seeds (n = number of seeds).", ""]  # fmt: skip
    for env_id in tasks:
        md += [f"## {env_id}", "", *summary_table(grid, summary, env_id), ""]
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
    md += ["# rl-zoo3's own plots and table of the same logs",
           f"MPLBACKEND=Agg python -m rl_zoo3.cli all_plots -a {algos} -e {' '.join(map(env_name, tasks))} -f {folders} "
           f"-l {' '.join(grid['variants'])} -max {grid['n_timesteps']} --no-million --no-display", "```", ""]  # fmt: skip
    path = results_dir / f"{grid_name}.md"
    path.write_text("\n".join(md))
    settings = {key: grid[key] for key in ("description", "n_timesteps", "eval_freq", "eval_episodes", "seeds")}
    report = {"grid": grid_name, "settings": settings, "variants": grid["variants"], "reductions": grid["reductions"]}
    report["runs"] = data.replace({np.nan: None}).to_dict(orient="records")  # every evaluation of every finished run
    (results_dir / f"{grid_name}.json").write_text(json.dumps(report, indent=1) + "\n")
    start, end = f"<!-- {grid_name}-table:start -->", f"<!-- {grid_name}-table:end -->"  # README.md's tables
    if readme is not None and start in readme.read_text() and end in readme.read_text():
        head, rest = readme.read_text().split(start, 1)
        tables = [line for env_id in tasks for line in [*summary_table(grid, summary, env_id), ""]]
        readme.write_text(head + start + "\n" + "\n".join(tables) + end + rest.split(end, 1)[1])
        log(f"updated the {grid_name} tables in {readme}")
    return path


def describe(grid: dict, grid_name: str, log_root: Path) -> None:
    """Print the grid: settings, number of runs and every command line."""
    runs = grid_runs(grid)
    print(f"Grid {grid_name!r}: {grid['description']}")
    print(f"  budget {grid['n_timesteps']:,} env steps, evaluation every {grid['eval_freq']:,} steps x "
          f"{grid['eval_episodes']} episodes, {evaluation_text(grid)}")  # fmt: skip
    print(f"  seeds {grid['seeds']}, {len(runs)} runs ({len(runs) * grid['n_timesteps']:,} env steps in all)")
    print(*(f"  - {line}" for line in grid["reductions"]), sep="\n")
    print(*("  " + shlex.join(["python", *train_command(grid, run, log_root, grid_name)[1:]]) for run in runs), sep="\n")


def parser() -> argparse.ArgumentParser:
    """The command line (``learning_ray.py`` adds its options)."""
    cli = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cli.add_argument("--grid", choices=sorted(GRIDS), default="cpu")
    cli.add_argument("--log-root", type=Path, default=LOG_ROOT, help="rl-zoo3 log folders go to <log-root>/<grid>/")
    cli.add_argument("--results-dir", type=Path, default=RESULTS, help="where <grid>.md/.png/.json are written")
    cli.add_argument("--readme", action="store_true", help="also rewrite the grid's tables in README.md")
    cli.add_argument("--report-only", action="store_true", help="aggregate the finished runs, run nothing")
    cli.add_argument("--describe", action="store_true", help="print the grid and its commands, run nothing")
    return cli


def main() -> None:
    """Command line: run (resumably) and report a grid, or only report / describe it."""
    args = parser().parse_args()
    grid, log_root, results_dir = GRIDS[args.grid], args.log_root.resolve(), args.results_dir.resolve()
    readme = REPO / "README.md" if args.readme else None
    if args.describe:
        return describe(grid, args.grid, log_root)
    if not args.report_only:
        run_grid(grid, args.grid, log_root, results_dir, readme)
    log(f"report: {write_report(grid, args.grid, log_root, results_dir, readme)}")


if __name__ == "__main__":
    main()
