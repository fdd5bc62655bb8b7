"""
Learning-curve benchmark: a grid {algorithms} x {tasks} x {seeds} trained through rl-zoo3, then aggregated.

    python benchmarks/learning.py --grid cpu                 # run what is missing, then write the report
    python benchmarks/learning.py --grid cpu --report-only   # only aggregate the finished runs
    python benchmarks/learning.py --grid cpu --report-only --readme   # ... and rewrite its tables in README.md
    python benchmarks/learning.py --grid paper --describe    # print the grid (runs, commands) and exit

Every run is one ``python -m sb3_arq.train`` subprocess (rl-zoo3's ``train`` with ARQ registered), run one at a time,
evaluating every ``eval_freq`` steps on ``eval_episodes`` episodes (rl-zoo3 evaluates greedily, ``deterministic=True``).
Each variant (an algorithm with its settings) has its own rl-zoo3 log folder ``<log-root>/<grid>/<variant>/``, so the
runs are ordinary rl-zoo3 runs ``<variant>/<algo>/<Env-Name>_<id>/`` and ``rl_zoo3.plots`` works on them, e.g.

    python -m rl_zoo3.cli all_plots -a arq -e MinAtar-Breakout-v1 -f logs/benchmarks/cpu/arq logs/benchmarks/cpu/dqn ...

(the exact command is in the report). Resuming: a run counts as finished when its saved ``args.yml`` has the grid's
algorithm, env, seed, budget, evaluation settings and ``-params`` overrides and its ``evaluations.npz`` reaches the
budget; finished runs are never rerun, unfinished attempts of a missing run are deleted before it is started again.
The report (``benchmarks/results/<grid>.md``, ``.png`` and ``.json``) is rewritten after every run and is idempotent:
final and best evaluation return (mean of the evaluation episodes; mean +- standard error over seeds), learning curves
(mean and standard-error band over seeds, one panel per task) and every setting of the grid.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
LOG_ROOT = REPO / "logs" / "benchmarks"

MINATAR = [
    "MinAtar/Breakout-v1",
    "MinAtar/Freeway-v1",
    "MinAtar/SpaceInvaders-v1",
    "MinAtar/Seaquest-v1",
    "MinAtar/Asterix-v1",
]
DMC = [
    "dm_control/walker-walk-v0",
    "dm_control/walker-run-v0",
    "dm_control/hopper-hop-v0",
    "dm_control/cheetah-run-v0",
    "dm_control/reacher-hard-v0",
]
ABLATION_TASKS = ["MinAtar/Breakout-v1", "MinAtar/SpaceInvaders-v1"]

# --- The CPU grid: what is reduced versus the published settings (ARQ_SPEC.md section 5; hyperparams/dqn.yml) ---
CPU_STEPS = 30_000
CPU_LEARNING_STARTS = 1_500  # 5% of the run, for both (published: ARQ 50k and DQN 5k of 4M)
# ARQ: widths [64, 64, 64] instead of [400, 200, 200], batch 32 instead of 512, buffer 100k instead of 5M (it holds
# the whole run either way); 8 heads, context 10, lr 1e-4, Adam beta2 0.99, grad norm 1.0 per cell, train every 4
# steps, hard target copy every 1000 steps and epsilon 1.0 -> 0.01 over 10% of the run after learning starts as
# published (ARQ's defaults: a policy_kwargs override replaces the whole dict, the rest takes ARQ's defaults).
CPU_ARQ = {
    "learning_starts": CPU_LEARNING_STARTS,
    "batch_size": 32,
    "buffer_size": 100_000,
}
# DQN: the MinAtar paper's network and settings (hyperparams/dqn.yml) with the same learning start as ARQ and its
# epsilon annealing (1.0 -> 0.1) ending at the same step as ARQ's: SB3 anneals from step 0, so the fraction is
# (learning_starts + 0.1 * n) / n = 0.15 (published: 100k of 4M steps, from step 0).
CPU_DQN = {
    "learning_starts": CPU_LEARNING_STARTS,
    "exploration_fraction": (CPU_LEARNING_STARTS + 0.1 * CPU_STEPS) / CPU_STEPS,
}
CPU_REDUCTIONS = [
    f"{CPU_STEPS:,} env steps per run instead of 4,000,000 (0.75% of the published budget); learning starts after "
    f"{CPU_LEARNING_STARTS:,} steps for both (published: ARQ 50,000, DQN 5,000).",
    "ARQ: widths [64, 64, 64] instead of [400, 200, 200], batch 32 instead of 512, replay buffer 100k instead of 5M "
    "(it holds the whole run either way); unchanged: 8 heads, context 10 with all connections, lr 1e-4 (Adam, beta2 "
    "0.99), grad norm 1.0 per cell, train every 4 steps, hard target copy every 1000 steps, gamma 0.99, epsilon "
    "1.0 -> 0.01 over 10% of the run after learning starts (steps 1,500-4,500).",
    "DQN: the MinAtar paper's network and settings (hyperparams/dqn.yml: conv 16 + 128 units, batch 32, buffer 100k, "
    "centred RMSProp 2.5e-4, train every step, target copy every 1000 steps) with epsilon 1.0 -> 0.1 ending at step "
    "4,500 like ARQ's (exploration_fraction 0.15; published: over the first 100k steps).",
    "ARQ variants (ablations) on Breakout only, with the reduced ARQ settings above, 2 seeds (0, 1) instead of 3.",
    "One process at a time, one torch thread (OMP_NUM_THREADS=1, --num-threads 1), on a 2-core machine shared with "
    "other work.",
]


def arq_policy(**kwargs) -> str:
    """The ``policy_kwargs`` override of an ARQ variant: a ``dict(...)`` expression (strings in double quotes)."""
    items = [f'{key}="{value}"' if isinstance(value, str) else f"{key}={value!r}" for key, value in kwargs.items()]
    return "dict(" + ", ".join(items) + ")"


def variant(label: str, algo: str, params: dict, conf: str | None = None) -> dict:
    """
    One algorithm with its settings. ``params`` are rl-zoo3 ``-params`` overrides: a string value is a python
    expression that rl-zoo3 evaluates (``dict(...)``), any other value is written with ``repr``. ``conf`` names a
    packaged hyperparameter file (``--conf-file``; None: rl-zoo3's default, for ``arq`` sb3-arq's own).
    """
    return {"label": label, "algo": algo, "params": params, "conf": conf}


ARQ_VARIANTS = {
    "arq": ("ARQ", {}),
    "arq-noac": ("ARQ without action conditioning", {"action_conditioning": "output"}),
    "ad": ("AD", {"cell": "ad"}),
    "arq-ms": ("ARQ-MS", {"goodness": "msq"}),
}


def cpu_variant(name: str) -> dict:
    """An ARQ variant of the CPU grid: the reduced ARQ settings plus the variant's policy option."""
    label, options = ARQ_VARIANTS[name]
    policy = arq_policy(net_arch=[64, 64, 64], **options)
    return variant(label, "arq", {**CPU_ARQ, "policy_kwargs": policy})


def paper_variant(name: str) -> dict:
    """An ARQ variant at the published settings (hyperparams/arq.yml) plus the variant's policy option."""
    label, options = ARQ_VARIANTS[name]
    if not options:
        return variant(label, "arq", {})
    return variant(label, "arq", {"policy_kwargs": arq_policy(net_arch=[400, 200, 200], n_heads=8, **options)})


# A grid: its runs are blocks of {variants} x {tasks} x {seeds} (a block's "seeds" replaces the grid's), run block by
# block, seed by seed (so a cut-short grid has whole seeds).
GRIDS = {
    "cpu": {
        "description": "ARQ vs DQN and the ARQ ablations on MinAtar Breakout at a CPU budget (one core, about an hour)",
        "n_timesteps": CPU_STEPS,
        "eval_freq": 3_000,
        "eval_episodes": 10,
        "seeds": [0, 1, 2],
        "num_threads": 1,
        "device": "cpu",
        "variants": {
            "arq": cpu_variant("arq"),
            "dqn": variant("DQN", "dqn", CPU_DQN, conf="dqn"),
            "arq-noac": cpu_variant("arq-noac"),
            "ad": cpu_variant("ad"),
            "arq-ms": cpu_variant("arq-ms"),
        },
        "blocks": [
            {"variants": ["arq", "dqn"], "tasks": ["MinAtar/Breakout-v1"]},
            {"variants": ["arq-noac", "ad", "arq-ms"], "tasks": ["MinAtar/Breakout-v1"], "seeds": [0, 1]},
        ],
        "reductions": CPU_REDUCTIONS,
    },
    "paper": {
        "description": "The paper's comparison (spec section 7): ARQ vs DQN and QR-DQN on MinAtar, ARQ vs SAC on DMC",
        "n_timesteps": 4_000_000,
        "eval_freq": 200_000,
        "eval_episodes": 10,
        "seeds": [0, 1, 2, 3, 4],
        "num_threads": -1,
        "device": "auto",
        "variants": {
            "arq": paper_variant("arq"),
            "dqn": variant("DQN", "dqn", {}, conf="dqn"),
            "qrdqn": variant("QR-DQN", "qrdqn", {}, conf="qrdqn"),
            "sac": variant("SAC", "sac", {}, conf="sac"),
        },
        "blocks": [
            {"variants": ["arq", "dqn", "qrdqn"], "tasks": MINATAR},
            {"variants": ["arq", "sac"], "tasks": DMC},
        ],
        "reductions": [
            "None: the published settings of every algorithm (hyperparams/*.yml) at 4M env steps (SAC's yml says 1M; "
            "-n 4000000 overrides it), 5 seeds; evaluation every 200k steps (the paper: every 1M) on 10 greedy "
            "episodes (the paper: epsilon 0.05)."
        ],
    },
    "ablation": {
        "description": "The paper's ablation figure: ARQ, ARQ without action conditioning, AD and ARQ-MS at the published "
        "MinAtar settings",
        "n_timesteps": 4_000_000,
        "eval_freq": 200_000,
        "eval_episodes": 10,
        "seeds": [0, 1, 2, 3, 4],
        "num_threads": -1,
        "device": "auto",
        "variants": {name: paper_variant(name) for name in ARQ_VARIANTS},
        "blocks": [{"variants": list(ARQ_VARIANTS), "tasks": ABLATION_TASKS}],
        "reductions": ["None: the published MinAtar settings (hyperparams/arq.yml), 4M env steps, 5 seeds."],
    },
    # A few seconds per run: what tests/test_learning_benchmark.py runs.
    "smoke": {
        "description": "Tiny runs that check the pipeline (not a result)",
        "n_timesteps": 600,
        "eval_freq": 300,
        "eval_episodes": 2,
        "seeds": [0, 1],
        "num_threads": 1,
        "device": "cpu",
        "variants": {
            "arq": variant(
                "ARQ",
                "arq",
                {
                    "learning_starts": 200,
                    "batch_size": 16,
                    "buffer_size": 1000,
                    "context_size": 2,
                    "policy_kwargs": arq_policy(net_arch=[16, 16]),
                },
            ),
        },
        "blocks": [{"variants": ["arq"], "tasks": ["MinAtar/Breakout-v1"]}],
        "reductions": ["Everything: a pipeline check, not a result."],
    },
}


def env_name(env_id: str) -> str:
    """rl-zoo3's folder name of an env id (``MinAtar/Breakout-v1`` -> ``MinAtar-Breakout-v1``)."""
    return env_id.replace("/", "-")


def grid_runs(grid: dict) -> list[dict]:
    """Every run of the grid (variant, task, seed), in the order they are run, without duplicates."""
    runs, seen = [], set()
    for block in grid["blocks"]:
        for seed in block.get("seeds", grid["seeds"]):
            for name in block["variants"]:
                for env_id in block["tasks"]:
                    if (name, env_id, seed) not in seen:
                        seen.add((name, env_id, seed))
                        runs.append({"variant": name, "env": env_id, "seed": seed})
    return runs


def grid_tasks(grid: dict) -> list[str]:
    """The grid's tasks, in the order of their first appearance."""
    return list(dict.fromkeys(env_id for block in grid["blocks"] for env_id in block["tasks"]))


def task_variants(grid: dict, env_id: str) -> list[str]:
    """The variants that run on a task, in grid order."""
    names = [name for block in grid["blocks"] if env_id in block["tasks"] for name in block["variants"]]
    return list(dict.fromkeys(names))


def conf_path(conf: str) -> str:
    """Path of a packaged hyperparameter file, relative to the repository when it is inside it."""
    from sb3_arq.zoo import hyperparams_path

    path = Path(hyperparams_path(conf)).resolve()
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def train_command(grid: dict, run: dict, log_root: Path, grid_name: str) -> list[str]:
    """The ``python -m sb3_arq.train`` command line of one run (rl-zoo3's arguments)."""
    spec = grid["variants"][run["variant"]]
    command = [sys.executable, "-m", "sb3_arq.train", "--algo", spec["algo"], "--env", run["env"]]
    command += ["-n", str(grid["n_timesteps"]), "--eval-freq", str(grid["eval_freq"])]
    command += ["--eval-episodes", str(grid["eval_episodes"]), "--seed", str(run["seed"])]
    command += ["--num-threads", str(grid["num_threads"]), "--device", grid["device"]]
    command += ["-f", display_path(log_root / grid_name / run["variant"])]  # the runner works in the repository
    if spec["conf"] is not None:
        command += ["--conf-file", conf_path(spec["conf"])]
    if spec["params"]:
        command += ["-params"] + [f"{key}:{expression(value)}" for key, value in spec["params"].items()]
    return command


def shell_line(command: list[str]) -> str:
    """A command line to paste into a shell (``python`` for the interpreter, arguments quoted where needed)."""
    import shlex

    return " ".join(["python"] + [shlex.quote(part) for part in command[1:]])


def expression(value) -> str:
    """A ``-params`` value as written on the command line: strings are expressions already, the rest ``repr``."""
    return value if isinstance(value, str) else repr(value)


def expected_params(spec: dict) -> dict:
    """The ``-params`` overrides as rl-zoo3 stores them in args.yml (each value evaluated, as its StoreDict does)."""
    params = {key: eval(expression(value)) for key, value in spec["params"].items()}
    policy_kwargs = params.get("policy_kwargs")
    if isinstance(policy_kwargs, dict) and "action_encoding" in policy_kwargs and policy_kwargs["action_encoding"] == "auto":
        params["policy_kwargs"] = {key: value for key, value in policy_kwargs.items() if key != "action_encoding"}
    return params


def saved_params(args: dict) -> dict:
    """
    The ``-params`` overrides saved in a run's args.yml. ARQ writes the action code it resolved from "auto" into the
    ``policy_kwargs`` dict it is given (rl-zoo3's, saved after the model is built), so that key is dropped here unless
    the override set it.
    """
    params = dict(args.get("hyperparams") or {})
    policy_kwargs = params.get("policy_kwargs")
    if isinstance(policy_kwargs, dict) and "action_encoding" in policy_kwargs:
        params["policy_kwargs"] = {key: value for key, value in policy_kwargs.items() if key != "action_encoding"}
    return params


def load_args(run_dir: Path, env_id: str) -> dict | None:
    """rl-zoo3's saved command-line arguments of a run folder (``<run>/<Env-Name>/args.yml``), None if absent."""
    path = run_dir / env_name(env_id) / "args.yml"
    if not path.is_file():
        return None
    with open(path) as file:
        # rl-zoo3 writes an OrderedDict (a python tag), and reads it back with the unsafe loader too (enjoy.py)
        return dict(yaml.load(file, Loader=yaml.UnsafeLoader))


def is_finished(run_dir: Path, n_timesteps: int, eval_episodes: int) -> bool:
    """A run is finished when its evaluations.npz reaches the budget with every evaluation complete."""
    path = run_dir / "evaluations.npz"
    if not path.is_file():
        return False
    try:
        data = np.load(path)
        timesteps, results = data["timesteps"], data["results"]
    except (OSError, ValueError, KeyError):
        return False  # being written, or cut off while it was
    return len(timesteps) > 0 and timesteps[-1] >= n_timesteps and results.shape == (len(timesteps), eval_episodes)


def find_attempts(grid: dict, run: dict, log_root: Path, grid_name: str) -> tuple[Path | None, list[Path]]:
    """
    The rl-zoo3 run folders of one grid run: the latest finished one (or None) and the unfinished attempts.

    A folder belongs to the run when its args.yml has the run's algorithm, env and seed and the grid's budget,
    evaluation settings and ``-params`` overrides.
    """
    spec = grid["variants"][run["variant"]]
    algo_dir = log_root / grid_name / run["variant"] / spec["algo"]
    prefix = env_name(run["env"]) + "_"
    if not algo_dir.is_dir():
        return None, []
    finished, unfinished = [], []
    for run_dir in algo_dir.iterdir():
        if not (run_dir.is_dir() and run_dir.name.startswith(prefix) and run_dir.name[len(prefix) :].isdigit()):
            continue
        args = load_args(run_dir, run["env"])
        if args is None:
            unfinished.append(run_dir)  # started, config not written yet (or cut off before)
            continue
        matches = (
            args.get("algo") == spec["algo"]
            and args.get("env") == run["env"]
            and args.get("seed") == run["seed"]
            and args.get("n_timesteps") == grid["n_timesteps"]
            and args.get("eval_freq") == grid["eval_freq"]
            and args.get("eval_episodes") == grid["eval_episodes"]
            and saved_params(args) == expected_params(spec)
        )
        if not matches:
            continue
        if is_finished(run_dir, grid["n_timesteps"], grid["eval_episodes"]):
            finished.append(run_dir)
        else:
            unfinished.append(run_dir)
    finished.sort(key=lambda path: int(path.name[len(prefix) :]))
    return (finished[-1] if finished else None), unfinished


def run_seconds(run_dir: Path, env_id: str) -> float | None:
    """Wall time of a finished run: from rl-zoo3's args.yml (written before training) to the final model's save."""
    start = run_dir / env_name(env_id) / "args.yml"
    end = run_dir / f"{env_name(env_id)}.zip"
    if not (start.is_file() and end.is_file()):
        return None
    return end.stat().st_mtime - start.stat().st_mtime


def display_path(path: Path) -> str:
    """A path relative to the repository when it is inside it (as the README's commands run from there)."""
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def log(message: str) -> None:
    """A time-stamped progress line on stdout (flushed, for nohup logs)."""
    print(f"[{time.strftime('%Y-%m-%d %H:%M:%S')}] {message}", flush=True)


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def run_grid(grid: dict, grid_name: str, log_root: Path, results_dir: Path, readme: Path | None = None) -> None:
    """Run the grid's missing runs one at a time (a lock file keeps a second runner out), reporting after each."""
    grid_dir = log_root / grid_name
    grid_dir.mkdir(parents=True, exist_ok=True)
    lock = grid_dir / "runner.pid"
    if lock.is_file() and lock.read_text().strip().isdigit() and pid_alive(int(lock.read_text().strip())):
        sys.exit(f"Another runner (pid {lock.read_text().strip()}) is working on {grid_dir}; use --report-only.")
    lock.write_text(str(os.getpid()))
    env = dict(os.environ, MPLBACKEND="Agg")
    if grid["num_threads"] > 0:
        env.update(OMP_NUM_THREADS=str(grid["num_threads"]), MKL_NUM_THREADS=str(grid["num_threads"]))
    runs = grid_runs(grid)
    try:
        for index, run in enumerate(runs, start=1):
            name = f"{run['variant']} {run['env']} seed {run['seed']}"
            finished, unfinished = find_attempts(grid, run, log_root, grid_name)
            if finished is not None:
                log(f"({index}/{len(runs)}) {name}: finished in {finished}, skipped")
                continue
            for attempt in unfinished:
                log(f"({index}/{len(runs)}) {name}: removing the unfinished attempt {attempt}")
                shutil.rmtree(attempt)
            command = train_command(grid, run, log_root, grid_name)
            output = grid_dir / run["variant"] / f"{env_name(run['env'])}_seed{run['seed']}.out"
            output.parent.mkdir(parents=True, exist_ok=True)
            log(f"({index}/{len(runs)}) {name}: {shell_line(command)}  (output: {output})")
            start = time.time()
            with open(output, "w") as file:
                code = subprocess.run(command, cwd=REPO, env=env, stdout=file, stderr=subprocess.STDOUT).returncode
            finished, _ = find_attempts(grid, run, log_root, grid_name)
            if code != 0 or finished is None:
                log(f"({index}/{len(runs)}) {name}: FAILED (exit code {code}, no finished run folder), see {output}")
                continue
            log(f"({index}/{len(runs)}) {name}: done in {time.time() - start:.0f} s")
            write_report(grid, grid_name, log_root, results_dir, readme)
    finally:
        lock.unlink(missing_ok=True)


def mean_se(values: list[float]) -> tuple[float, float]:
    """Mean and standard error of the mean (sample std / sqrt(n); nan for fewer than 2 values)."""
    array = np.asarray(values, dtype=float)
    se = float(array.std(ddof=1) / np.sqrt(len(array))) if len(array) > 1 else float("nan")
    return float(array.mean()), se


def collect(grid: dict, grid_name: str, log_root: Path) -> dict:
    """The finished runs' evaluations: per task and variant, per seed the curve (timesteps, mean return) and summary."""
    data = {}
    for env_id in grid_tasks(grid):
        data[env_id] = {}
        for name in task_variants(grid, env_id):
            seeds = {}
            for seed in grid["seeds"]:
                run_dir, _ = find_attempts(grid, {"variant": name, "env": env_id, "seed": seed}, log_root, grid_name)
                if run_dir is None:
                    continue
                evaluations = np.load(run_dir / "evaluations.npz")
                returns = evaluations["results"].mean(axis=1)
                seeds[seed] = {
                    "run_dir": display_path(run_dir),
                    "timesteps": evaluations["timesteps"].tolist(),
                    "mean_return": returns.tolist(),
                    "final": float(returns[-1]),
                    "best": float(returns.max()),
                    "seconds": run_seconds(run_dir, env_id),
                }
            data[env_id][name] = seeds
    return data


def fmt(mean: float, se: float) -> str:
    """``mean +- se`` with two decimals (``mean`` alone when the standard error is undefined)."""
    return f"{mean:.2f}" if np.isnan(se) else f"{mean:.2f} +- {se:.2f}"


def plot(grid: dict, grid_name: str, data: dict, path: Path) -> None:
    """Learning curves: mean evaluation return over seeds with a standard-error band, one panel per task."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    tasks = list(data)
    fig, axes = plt.subplots(1, len(tasks), figsize=(6 * len(tasks), 4.2), squeeze=False)
    for ax, env_id in zip(axes[0], tasks, strict=True):
        for name, seeds in data[env_id].items():
            if not seeds:
                continue
            # runs of one grid share the evaluation schedule; cut to the shortest in case one differs
            length = min(len(run["timesteps"]) for run in seeds.values())
            steps = np.asarray(next(iter(seeds.values()))["timesteps"][:length])
            curves = np.array([run["mean_return"][:length] for run in seeds.values()])
            mean = curves.mean(axis=0)
            se = curves.std(axis=0, ddof=1) / np.sqrt(len(curves)) if len(curves) > 1 else np.zeros_like(mean)
            label = f"{grid['variants'][name]['label']} (n={len(curves)})"
            (line,) = ax.plot(steps, mean, label=label)
            ax.fill_between(steps, mean - se, mean + se, color=line.get_color(), alpha=0.2)
        ax.set_title(env_id)
        ax.set_xlabel("env steps")
        ax.set_ylabel(f"evaluation return ({grid['eval_episodes']} greedy episodes)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"{grid_name} grid: {grid['n_timesteps']:,} env steps per run, mean +- standard error over seeds")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def summary_table(grid: dict, data: dict, env_id: str) -> list[str]:
    """The markdown table of one task: per variant the seeds, final and best return (mean +- SE), training time."""
    budget = f"{grid['n_timesteps']:,}"
    lines = [
        f"| {env_id}, {budget} env steps | n | final return | best return | training time per run |",
        "|---|---|---|---|---|",
    ]
    for name, seeds in data[env_id].items():
        label = grid["variants"][name]["label"]
        if not seeds:
            lines.append(f"| {label} | 0 | - | - | - |")
            continue
        final = fmt(*mean_se([run["final"] for run in seeds.values()]))
        best = fmt(*mean_se([run["best"] for run in seeds.values()]))
        seconds = [run["seconds"] for run in seeds.values() if run["seconds"] is not None]
        wall = f"{np.mean(seconds) / 60:.1f} min" if seconds else "-"
        lines.append(f"| {label} | {len(seeds)} | {final} | {best} | {wall} |")
    return lines


def update_readme(grid: dict, grid_name: str, data: dict, readme: Path) -> bool:
    """
    Replace the grid's tables in README.md between ``<!-- <grid>-table:start -->`` and ``<!-- <grid>-table:end -->``
    (nothing else is touched). Returns False when the README has no such markers.
    """
    start, end = f"<!-- {grid_name}-table:start -->", f"<!-- {grid_name}-table:end -->"
    text = readme.read_text()
    if start not in text or end not in text:
        return False
    tables = []
    for env_id in data:
        tables += [*summary_table(grid, data, env_id), ""]
    head, rest = text.split(start, 1)
    tail = rest.split(end, 1)[1]
    readme.write_text(head + start + "\n" + "\n".join(tables) + end + tail)
    return True


def write_report(grid: dict, grid_name: str, log_root: Path, results_dir: Path, readme: Path | None = None) -> Path:
    """
    Write ``<grid>.md``, ``<grid>.png`` and ``<grid>.json`` from the finished runs (idempotent), and the grid's tables
    into ``readme`` when given (see ``update_readme``).
    """
    results_dir.mkdir(parents=True, exist_ok=True)
    data = collect(grid, grid_name, log_root)
    runs = grid_runs(grid)
    n_done = sum(len(seeds) for variants in data.values() for seeds in variants.values())
    md = [
        f"# Learning benchmark: `{grid_name}` grid",
        "",
        f"{grid['description']}. **Budget: {grid['n_timesteps']:,} env steps per run**; evaluation every "
        f"{grid['eval_freq']:,} steps on {grid['eval_episodes']} episodes, greedy (rl-zoo3's EvalCallback with "
        f"deterministic=True); seeds {grid['seeds']}. Finished runs: {n_done} of {len(runs)}.",
        "",
        "Final = the last evaluation (at the budget), best = the best evaluation of the run; each is the mean return "
        "of the evaluation episodes, then mean +- standard error over seeds (n = number of seeds).",
        "",
    ]
    for env_id in data:
        md += [f"## {env_id}", "", *summary_table(grid, data, env_id), ""]
    if n_done:
        plot(grid, grid_name, data, results_dir / f"{grid_name}.png")
        md += [f"![learning curves]({grid_name}.png)", ""]
    md += ["## Settings", "", "What differs from the published settings:", ""]
    md += [f"- {line}" for line in grid["reductions"]]
    md += ["", "Every run (rl-zoo3 arguments; `-f` is the variant's log folder):", "", "```bash"]
    for name, spec in grid["variants"].items():
        example = next(run for run in runs if run["variant"] == name)
        command = train_command(grid, {**example, "seed": "<seed>"}, log_root, grid_name)
        md += [f"# {spec['label']}", shell_line(command).replace("'<seed>'", "<seed>")]
    md += ["```", "", "Reproduce (resumable; finished runs are skipped) and re-aggregate:", "", "```bash"]
    md += [
        f"python benchmarks/learning.py --grid {grid_name}",
        f"python benchmarks/learning.py --grid {grid_name} --report-only",
    ]
    folders = " ".join(display_path(log_root / grid_name / name) for name in grid["variants"])
    algos = " ".join(dict.fromkeys(spec["algo"] for spec in grid["variants"].values()))
    envs = " ".join(env_name(env_id) for env_id in grid_tasks(grid))
    labels = " ".join(name for name in grid["variants"])
    md += [
        "# rl-zoo3's own plots and table of the same logs",
        f"MPLBACKEND=Agg python -m rl_zoo3.cli all_plots -a {algos} -e {envs} -f {folders} -l {labels} "
        f"-max {grid['n_timesteps']} --no-million --no-display",
        "```",
        "",
    ]
    path = results_dir / f"{grid_name}.md"
    path.write_text("\n".join(md))
    summary = {
        "grid": grid_name,
        "settings": {key: grid[key] for key in ("description", "n_timesteps", "eval_freq", "eval_episodes", "seeds")},
        "variants": grid["variants"],
        "reductions": grid["reductions"],
        "runs": data,
    }
    (results_dir / f"{grid_name}.json").write_text(json.dumps(summary, indent=1) + "\n")
    if readme is not None and update_readme(grid, grid_name, data, readme):
        log(f"updated the {grid_name} tables in {readme}")
    return path


def describe(grid: dict, grid_name: str, log_root: Path) -> None:
    """Print the grid: settings, number of runs and every command line."""
    runs = grid_runs(grid)
    print(f"Grid {grid_name!r}: {grid['description']}")
    budget, freq, episodes = grid["n_timesteps"], grid["eval_freq"], grid["eval_episodes"]
    print(f"  budget {budget:,} env steps, eval every {freq:,} steps x {episodes} episodes")
    print(f"  seeds {grid['seeds']}, {len(runs)} runs ({len(runs) * grid['n_timesteps']:,} env steps in all)")
    for line in grid["reductions"]:
        print(f"  - {line}")
    for run in runs:
        print("  " + shell_line(train_command(grid, run, log_root, grid_name)))


def main() -> None:
    """Command line: run (resumably) and report a grid, or only report / describe it."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--grid", choices=sorted(GRIDS), default="cpu")
    parser.add_argument("--report-only", action="store_true", help="aggregate the finished runs, run nothing")
    parser.add_argument("--describe", action="store_true", help="print the grid and its commands, run nothing")
    parser.add_argument("--log-root", type=Path, default=LOG_ROOT, help="rl-zoo3 log folders go to <log-root>/<grid>/")
    parser.add_argument("--results-dir", type=Path, default=RESULTS, help="where <grid>.md/.png/.json are written")
    parser.add_argument(
        "--readme",
        action="store_true",
        help="also rewrite the grid's tables in README.md between <!-- <grid>-table:start --> and <!-- <grid>-table:end -->",
    )
    args = parser.parse_args()
    grid = GRIDS[args.grid]
    log_root, results_dir = args.log_root.resolve(), args.results_dir.resolve()
    readme = REPO / "README.md" if args.readme else None
    if args.describe:
        describe(grid, args.grid, log_root)
        return
    if not args.report_only:
        run_grid(grid, args.grid, log_root, results_dir, readme)
    path = write_report(grid, args.grid, log_root, results_dir, readme)
    log(f"report: {path}")


if __name__ == "__main__":
    main()
