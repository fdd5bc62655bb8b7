"""
The grids of ``benchmarks/learning.py`` as Ray tasks: several runs at once, on this machine or on a Ray cluster.

    python benchmarks/learning_ray.py --grid cpu --cpus-per-run 1                 # a local Ray (no server to start)
    python benchmarks/learning_ray.py --grid paper --gpus-per-run 0.125 --cpus-per-run 2   # 8 runs per GPU
    python benchmarks/learning_ray.py --grid paper --address <head-ip>:6379 --gpus-per-run 0.25   # an existing cluster

Each task is exactly the run of the sequential runner: the same ``python -m sb3_arq.train`` command and rl-zoo3 log
folder, so its finished runs count for either runner and the report is the same. Ray places the tasks by the declared
resources; runs of the same variant and env start one after another (rl-zoo3 numbers its run folders by looking at
the existing ones), then train side by side. Finished runs are skipped; a run that fails (its process dies, its exit
code is not 0, or it leaves no finished folder) is retried once, then reported, and the others go on. Interrupt and
restart at will: a restart finishes only what is missing. On a cluster, every node needs sb3-arq installed and the
repository and log root at the same path (a shared file system).
"""

import os
import subprocess
import sys
import time
from pathlib import Path

import learning
import ray
from filelock import FileLock
from tqdm import tqdm


@ray.remote(max_retries=0)  # the driver retries a failed run itself, once
def run_task(command: list[str], cwd: str, env: dict, output: str, algo_dir: str, prefix: str) -> tuple[int, float]:
    """
    Run one rl-zoo3 command on a Ray worker, output to ``output``; return its exit code and CPU seconds
    (``learning.children_cpu_seconds``: a worker runs one task at a time). rl-zoo3 picks the run folder
    ``<algo_dir>/<prefix><id>`` from the existing ones: the start is locked until the new folder exists.
    """
    algo_dir, process, cpu_start = Path(algo_dir), None, learning.children_cpu_seconds()
    algo_dir.mkdir(parents=True, exist_ok=True)
    try:
        with FileLock(algo_dir.parent / f".{prefix}start.lock"), open(output, "w") as file:
            before = set(algo_dir.glob(prefix + "*"))
            env = {**os.environ, **env}  # the worker's, with the GPUs Ray gave it (CUDA_VISIBLE_DEVICES)
            process = subprocess.Popen(command, cwd=cwd, env=env, stdout=file, stderr=subprocess.STDOUT)
            while process.poll() is None and not set(algo_dir.glob(prefix + "*")) - before:
                time.sleep(0.2)
        return process.wait(), learning.children_cpu_seconds() - cpu_start
    finally:  # cancelled (the driver was interrupted): end the run with the task
        if process is not None and process.poll() is None:
            process.kill()


def run_grid(grid: dict, grid_name: str, log_root: Path, results_dir: Path, resources: dict, runs: list[dict]) -> list:
    """
    Run the missing runs among ``runs`` (some or all of the grid's) as Ray tasks (Ray must be initialised); return
    the runs that failed twice.
    """
    todo = learning.missing_runs(grid, grid_name, log_root, results_dir, runs)  # no run is live yet: the grid is locked
    learning.log(f"{len(todo)} runs to run with {resources}")
    task = run_task.options(**resources)
    pending, failed = {}, []

    def submit(run: dict, attempt: int) -> None:
        output = learning.output_path(run, log_root, grid_name)
        output.unlink(missing_ok=True)  # its existence tells that the task has started
        command = learning.train_command(grid, run, log_root, grid_name)
        algo_dir = log_root / grid_name / run["variant"] / grid["variants"][run["variant"]]["algo"]
        prefix = learning.env_name(run["env"]) + "_"
        ref = task.remote(command, str(learning.REPO), learning.run_environment(grid), str(output), str(algo_dir), prefix)
        pending[ref] = (run, attempt, output)

    start = time.time()
    for run in todo:
        submit(run, 1)
    bar = tqdm(total=len(runs), initial=len(runs) - len(todo), desc=f"{grid_name} runs", unit="run", dynamic_ncols=True)
    try:
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=1.0)
            for ref in ready:
                run, attempt, output = pending.pop(ref)
                try:
                    code, cpu_seconds = ray.get(ref)
                except ray.exceptions.RayError as error:  # the worker died
                    code = f"{type(error).__name__}"
                name = f"{run['variant']} {run['env']} seed {run['seed']}"
                run_dir = learning.find_attempts(grid, run, log_root, grid_name)[0] if code == 0 else None
                if run_dir is not None:
                    learning.record_cpu_seconds(run_dir, cpu_seconds)
                    bar.update()
                    learning.write_report(grid, grid_name, log_root, results_dir)
                elif attempt == 1:
                    tqdm.write(f"{name}: failed (exit code {code}), see {output}; retrying once")
                    submit(run, 2)
                else:
                    tqdm.write(f"{name}: FAILED twice (exit code {code}), see {output}")
                    failed.append(run)
            running = sum(output.exists() for _, _, output in pending.values())
            bar.set_postfix(running=running, queued=len(pending) - running, failed=len(failed))
    except KeyboardInterrupt:
        for ref in pending:
            ray.cancel(ref)
        raise
    finally:
        bar.close()
    done, seconds = len(todo) - len(failed), time.time() - start
    if done:  # e.g. the packing grid: the aggregate throughput of the runs at once
        steps = sum(
            learning.task_setting(grid, run["env"], "n_timesteps", run["variant"]) for run in todo if run not in failed
        )
        learning.log(
            f"{done} runs: {steps:,} env steps in {seconds:.0f} s, {steps / seconds:.1f} env steps/s in all (with starts)"
        )
    return failed


def main() -> None:
    """Command line: ``learning.py``'s, plus where Ray runs and what one run needs."""
    cli = learning.parser()
    cli.add_argument("--address", default=None, help="a Ray cluster's address (default: start Ray on this machine)")
    cli.add_argument("--cpus-per-run", type=float, default=1.0, help="CPUs Ray reserves for one run")
    cli.add_argument("--gpus-per-run", type=float, default=0.0, help="GPUs for one run; a fraction packs runs on one GPU")
    args = cli.parse_args()
    grid, log_root, results_dir = learning.GRIDS[args.grid], args.log_root.resolve(), args.results_dir.resolve()
    if args.describe:
        return learning.describe(grid, args.grid, log_root)
    failed, runs = [], learning.selected_runs(grid, args)
    if not args.report_only:
        with learning.grid_lock(log_root, args.grid):
            ray.init(address=args.address, include_dashboard=False, log_to_driver=False)
            learning.log(f"Ray: {ray.cluster_resources()}")
            resources = {"num_cpus": args.cpus_per_run, "num_gpus": args.gpus_per_run}
            try:
                failed = run_grid(grid, args.grid, log_root, results_dir, resources, runs)
            except KeyboardInterrupt:
                sys.exit("Interrupted: the running runs were stopped; rerun the same command to finish what is missing.")
    learning.log(f"report: {learning.write_report(grid, args.grid, log_root, results_dir)}")
    if failed:
        sys.exit(f"{len(failed)} runs failed twice: {failed}; rerun this command to retry them")


if __name__ == "__main__":
    main()
