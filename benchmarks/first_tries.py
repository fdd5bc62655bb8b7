"""
The first-try commands of the README on this CPU: the classic-control entries of ``hyperparams/arq.yml`` through
``python -m rl_zoo3.train``, two seeds each, one after the other; final greedy evaluation return and wall time.

    python benchmarks/first_tries.py            # writes benchmarks/results/first-tries-cpu.md
    python benchmarks/first_tries.py --readme   # ... and the table of the README's section "Train with rl-zoo3"

Each run is the README's command plus ``--seed``, ``-f logs/benchmarks/first-tries`` and ``--tensorboard-log
logs/benchmarks/first-tries/tb`` (for ``python -m sb3_arq.plots``), run from the repository root with this
interpreter and ``OMP_NUM_THREADS=1``. The wall time is the whole process (start-up, training and the evaluations,
10 episodes every ``--eval-freq`` steps); the machine's load average before and after each run is recorded, since
other jobs may share the cores. sb3-arq must be installed (``pip install -e .``) so that ``--algo arq`` exists.
"""

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results" / "first-tries-cpu.md"
README = REPO_ROOT / "README.md"
LOG_ROOT = "logs/benchmarks/first-tries"
# (env id, evaluation interval) of the README's first-try commands
TASKS = (("CartPole-v1", 2500), ("Acrobot-v1", 5000), ("MountainCar-v0", 20000))
SEEDS = (0, 1)
README_MARKERS = ("<!-- classic-measured:start -->", "<!-- classic-measured:end -->")


def readme_command(env_id: str, eval_freq: int) -> list[str]:
    return ["python", "-m", "rl_zoo3.train", "--algo", "arq", "--env", env_id, "--eval-freq", str(eval_freq)]


def run(env_id: str, eval_freq: int, seed: int) -> dict:
    """Run one first-try command; return its command line, wall time, load averages and evaluations."""
    command = [*readme_command(env_id, eval_freq), "--eval-episodes", "10", "--num-threads", "1", "--seed", str(seed)]
    command += ["-f", LOG_ROOT, "--tensorboard-log", f"{LOG_ROOT}/tb"]
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    env = dict(os.environ, OMP_NUM_THREADS="1")
    result = subprocess.run([sys.executable, *command[1:]], cwd=REPO_ROOT, env=env, capture_output=True, text=True)
    wall_time = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    log_path = re.search(r"^Log path: (.+)$", result.stdout, flags=re.MULTILINE).group(1).strip()
    evaluations = np.load(REPO_ROOT / log_path / "evaluations.npz")
    return {
        "command": " ".join(command),
        "env_id": env_id,
        "seed": seed,
        "wall_time": wall_time,
        "load": (load_before, os.getloadavg()[0]),
        "timesteps": evaluations["timesteps"],
        "returns": evaluations["results"].mean(axis=1),
    }


def table(runs: list[dict]) -> list[str]:
    lines = [
        "| task | seed | greedy return at each evaluation | final | wall time | load average before / after |",
        "|---|---|---|---|---|---|",
    ]
    for r in runs:
        curve = ", ".join(f"{step / 1000:g}k: {value:.0f}" for step, value in zip(r["timesteps"], r["returns"], strict=True))
        lines.append(
            f"| {r['env_id']} | {r['seed']} | {curve} | {r['returns'][-1]:.1f} | {r['wall_time']:.0f} s "
            f"| {r['load'][0]:.1f} / {r['load'][1]:.1f} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--readme", action="store_true", help="also rewrite the table in README.md")
    args = parser.parse_args()
    runs = []
    for env_id, eval_freq in TASKS:
        for seed in SEEDS:
            runs.append(run(env_id, eval_freq, seed))
            print(table(runs)[-1], flush=True)
    summary = table(runs)
    note = (
        f"Measured by `python benchmarks/first_tries.py` on this {os.cpu_count()}-core x86_64 machine, shared with other "
        "jobs (the load average is in the table), one torch thread; the wall time includes the evaluations "
        "(10 greedy episodes each). Returns: mean of the 10 episodes (CartPole-v1: 500 at most; Acrobot-v1 and "
        "MountainCar-v0: -1 per step until the goal, -500 and -200 when the 500- and 200-step limits are reached)."
    )
    lines = ["# First-try commands on a CPU (classic control, `hyperparams/arq.yml`)", "", note, "", *summary, ""]
    lines += ["Commands (from the repository root):", "", "```bash", *[r["command"] for r in runs], "```", ""]
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text("\n".join(lines))
    print("\n".join(lines))
    if args.readme:
        text = README.read_text()
        start, end = (text.index(marker) for marker in README_MARKERS)
        block = "\n".join([README_MARKERS[0], *summary, "", note + " Details: `benchmarks/results/first-tries-cpu.md`."])
        README.write_text(text[:start] + block + "\n" + text[end:])


if __name__ == "__main__":
    main()
