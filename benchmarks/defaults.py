"""
ARQ with every default beside SB3's DQN with every default, on CartPole-v1 (the raw env), at the same env steps.

    python benchmarks/defaults.py                      # seeds 0-9: writes benchmarks/results/defaults-cartpole.{md,json}
    python benchmarks/defaults.py --seeds 0 1 --tag quick

Per seed, in one process with one torch thread: ``ARQ("MlpPolicy", "CartPole-v1", seed=seed).learn(50_000)`` and
``DQN("MlpPolicy", "CartPole-v1", seed=seed).learn(50_000)``, one after the other on the same core, each timed, then
evaluated greedily over 10 episodes (``evaluate_policy``, which carries ARQ's context; deterministic=True).
``--workers`` processes share the seeds. Times: the wall time of ``learn`` and its CPU time (this process's, and that
of the processes it started and waited for: inductor compiles in this process, its C++ compiler runs as such a
process), which other load on the machine does not inflate. The report: per seed the final return and the times of
each, the seeds at or above CartPole-v1's target of 475, the interquartile mean of the returns with its 95% bootstrap
confidence interval (``learning.iqm_interval``, as the learning grids), and ARQ's times over DQN's.
"""

import functools
import multiprocessing
import time

import pandas as pd
import torch as th
from common import argument_parser, describe_run, markdown_header, write_results
from learning import children_cpu_seconds, iqm_interval
from stable_baselines3 import DQN
from stable_baselines3.common.evaluation import evaluate_policy
from torch._inductor import config as inductor_config

from sb3_arq import ARQ

ENV_ID = "CartPole-v1"
TARGET = 475.0
EVAL_EPISODES = 10


def run_seed(seed: int, steps: int) -> list[dict]:
    """Both algorithms with every default at one seed: final greedy return, wall and CPU time of learn()."""
    th.set_num_threads(1)
    inductor_config.compile_threads = 1  # no pool of compile workers, whose CPU time would not be counted
    rows = []
    for name, algo in (("ARQ", ARQ), ("DQN", DQN)):
        start, cpu_start = time.perf_counter(), time.process_time() + children_cpu_seconds()
        model = algo("MlpPolicy", ENV_ID, seed=seed).learn(steps)
        seconds, cpu_seconds = time.perf_counter() - start, time.process_time() + children_cpu_seconds() - cpu_start
        mean, _ = evaluate_policy(model, model.get_env(), n_eval_episodes=EVAL_EPISODES, deterministic=True)
        rows.append({"algo": name, "seed": seed, "final": float(mean), "seconds": seconds, "cpu_seconds": cpu_seconds})
    return rows


def markdown(report: dict) -> str:
    data = pd.DataFrame(report["runs"])
    lines = [
        *markdown_header(f"Every default on {ENV_ID}: ARQ beside DQN", report),
        f"torch {report['torch']}, one torch thread per process, {report['workers']} worker process(es) sharing the "
        f"seeds; `learn({report['steps']})` with every default, then {EVAL_EPISODES} greedy episodes (evaluate_policy).",
        "",
        "| algorithm | seeds >= 475 | final return IQM [95% CI] | mean +- SE | wall time per run (s), mean | "
        "CPU time per run (s), mean | per seed (return, wall s, CPU s) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, group in data.groupby("algo", sort=False):
        iqm = iqm_interval(group["final"])
        per_seed = ", ".join(
            f"{row.seed}: {row.final:.0f} ({row.seconds:.0f}, {row.cpu_seconds:.0f})" for row in group.itertuples()
        )
        finals = group["final"]
        lines.append(
            f"| {name} | {(finals >= TARGET).sum()} of {len(group)} | {iqm['iqm']:.1f} [{iqm['iqm_low']:.1f}, "
            f"{iqm['iqm_high']:.1f}] | {finals.mean():.1f} +- {finals.sem():.1f} | "
            f"{group['seconds'].mean():.0f} | {group['cpu_seconds'].mean():.0f} | {per_seed} |"
        )
    times = data.groupby("algo")[["seconds", "cpu_seconds"]].mean()
    wall, cpu = times.loc["ARQ"] / times.loc["DQN"]
    lines += ["", f"ARQ's time per run over DQN's: {wall:.2f}x in wall time, {cpu:.2f}x in CPU time."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argument_parser(__doc__)
    parser.add_argument("--seeds", type=int, nargs="*", default=list(range(10)))
    parser.add_argument("--workers", type=int, default=1, help="processes sharing the seeds")
    parser.add_argument("--steps", type=int, default=50_000, help="env steps of each learn()")
    args = parser.parse_args()
    with multiprocessing.get_context("spawn").Pool(args.workers) as pool:
        per_seed = pool.map(functools.partial(run_seed, steps=args.steps), args.seeds, chunksize=1)
    runs = [row for rows in per_seed for row in rows]
    report = {**describe_run("cpu"), "workers": args.workers, "steps": args.steps, "runs": runs}
    write_results(args, "defaults-cartpole", markdown(report), report)


if __name__ == "__main__":
    main()
