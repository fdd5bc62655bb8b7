"""
The learning benchmark (``benchmarks/learning.py``, ``benchmarks/learning_ray.py``) on its tiny ``smoke`` grid: two
algorithms x MinAtar Breakout x two seeds of real rl-zoo3 runs (600 steps), run one at a time and on a local Ray; the
finished-run bookkeeping, the aggregation, and a Ray run killed twice (retried once, then reported) that a restarted
driver alone completes, with the same table as the sequential runs. The ``smoke-dmc`` grid: ARQ vs SAC on one
DeepMind Control task, one seed, in one report.

The tests live beside the scripts and import them as the scripts import each other (``import learning``): pytest puts
the folder of a test module outside a package first on ``sys.path``, as Python does for a script.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import learning
import numpy as np
import pandas as pd
import pytest
import rl_zoo3
import yaml
from stable_baselines3 import SAC

from sb3_arq import ARQ
from sb3_arq.envs import DMC_ENV_IDS, MINATAR_ENV_IDS

REPO = Path(__file__).resolve().parents[1]

SMOKE = learning.GRIDS["smoke"]


@pytest.fixture(scope="module")
def sequential(tmp_path_factory):
    """The smoke grid run one run at a time (4 rl-zoo3 runs): its log root."""
    root = tmp_path_factory.mktemp("sequential")
    learning.run_grid(SMOKE, "smoke", root / "logs", root / "results")
    return root


def test_summary_is_mean_and_standard_error_over_seeds():
    data = pd.DataFrame(
        {"env": "E", "variant": ["a"] * 6 + ["b"] * 2, "seed": [0, 0, 1, 1, 2, 2, 0, 0], "seconds": 60.0}
        | {"timesteps": [1, 2] * 4, "mean_return": [5.0, 1.0, 2.0, 2.0, 0.0, 3.0, 4.0, 7.0]}
        | {"cpu_seconds": [30.0, 30.0, 60.0, 60.0, 90.0, 90.0, np.nan, np.nan]}
    )
    summary = learning.summarise(data)
    a, b = summary.loc[("E", "a")], summary.loc[("E", "b")]
    assert a["final", "size"] == 3 and a["final", "mean"] == pytest.approx(2.0)
    assert a["final", "sem"] == pytest.approx(np.std([1, 2, 3], ddof=1) / np.sqrt(3)) and a["best", "mean"] == pytest.approx(
        10 / 3
    )
    assert b["final", "size"] == 1 and np.isnan(b["final", "sem"]) and a["seconds", "mean"] == 60.0
    assert a["cpu", "mean"] == 60.0 and np.isnan(b["cpu", "mean"])  # b's run has no CPU time recorded
    # CPU time: the mean over every seed or none (a mean over some seeds would not compare with another variant's)
    partly = learning.summarise(data.assign(cpu_seconds=data["cpu_seconds"].where(data["seed"] != 2))).loc[("E", "a")]
    assert np.isnan(partly["cpu", "mean"]) and partly["seconds", "mean"] == 60.0
    grid = {"variants": {"a": {"label": "A"}, "b": {"label": "B"}}, "blocks": [{"tasks": ["E"], "variants": ["a", "b"]}]}
    grid |= {"per_task": {}, "n_timesteps": 2}
    table = learning.summary_table(grid, summary, "E")
    assert table[0].endswith("| best return | training time per run | CPU time per run |")
    assert table[2].endswith("| 1.0 min | 1.0 min |") and table[3].endswith("| 1.0 min | - |")
    no_cpu = learning.summarise(data.assign(cpu_seconds=np.nan))  # runs from before the runner recorded CPU time
    assert learning.summary_table(grid, no_cpu, "E")[0].endswith("| best return | training time per run |")
    assert learning.fmt(b["final", "mean"], b["final", "sem"]) == "7.00" and learning.fmt(2.0, 0.5) == "2.00 +- 0.50"
    # no target: no share of seeds reaching it; one seed: its return, an empty interval
    assert np.isnan(a["final", "reached"]) and b["final", "iqm"] == b["final", "iqm_low"] == b["final", "iqm_high"] == 7.0


def test_interquartile_mean_interval_and_targets():
    """The IQM: the mean of the middle half of the final returns, inside its bootstrap interval; targets count seeds."""
    finals = [10.0, 500.0, 480.0, 20.0, 490.0, 30.0, 400.0, 470.0, 9.0, 500.0]  # one final evaluation per seed
    data = pd.DataFrame({"env": "E", "variant": "a", "seed": range(10), "timesteps": 1, "mean_return": finals, "seconds": 1.0})
    data["cpu_seconds"] = np.nan
    row = learning.summarise(data, {"E": 475}).loc[("E", "a")]
    middle = np.sort(finals)[2:8]  # 10 seeds: the lowest and the highest 2 (25% of 10, rounded down) are cut
    assert row["final", "iqm"] == pytest.approx(middle.mean())
    assert row["final", "iqm_low"] < row["final", "iqm"] < row["final", "iqm_high"]
    assert min(finals) <= row["final", "iqm_low"] and row["final", "iqm_high"] <= max(finals)
    assert row["final", "reached"] == pytest.approx(0.4)  # 500, 480, 490, 500
    again = learning.summarise(data, {"E": 475}).loc[("E", "a")]  # a seeded bootstrap
    assert (again["final", "iqm_low"], again["final", "iqm_high"]) == (row["final", "iqm_low"], row["final", "iqm_high"])
    table = learning.summary_table(
        {**learning.GRIDS["classic"], "per_task": {"E": {"target": 475, "n_timesteps": 9}}},
        learning.summarise(data, {"E": 475}),
        "E",
    )
    assert table[0].startswith("| E, 9 env steps | n | final return | final IQM [95% CI] | final >= 475 |")


def test_probability_of_improvement_counts_pairs_of_runs_per_task():
    """P(X > Y): per task the share of (x run, y run) pairs where x wins, ties a half, averaged over tasks."""
    x = [np.array([3.0, 4.0, 5.0]), np.array([1.0, 1.0]), np.array([0.0, 9.0, 2.0, 7.0])]
    y = [np.array([1.0, 2.0, 3.0]), np.array([1.0, 0.0, 2.0]), np.array([5.0, 5.0])]
    naive = np.mean(
        [np.mean([1.0 if a > b else 0.5 if a == b else 0.0 for a in xs for b in ys]) for xs, ys in zip(x, y, strict=True)]
    )
    probability, low, high = learning.probability_of_improvement(x, y)
    assert probability == pytest.approx(naive) and low <= probability <= high and 0 <= low and high <= 1
    assert learning.probability_of_improvement(y, x)[0] == pytest.approx(1 - probability)  # the two sides sum to 1
    assert learning.probability_of_improvement(x, y) == (probability, low, high)  # a seeded bootstrap
    assert learning.probability_of_improvement([np.array([2.0, 3.0])], [np.array([0.0, 1.0])]) == (1.0, 1.0, 1.0)
    # in a report: the tasks where both variants finished runs
    grid = {"compare": ("a", "b"), "blocks": [{"variants": ["a", "b"], "tasks": ["E", "F", "G"]}], "seeds": [0, 1, 2]}
    grid["variants"] = {"a": {"label": "A"}, "b": {"label": "B"}}
    runs = [("a", "E", [3.0, 4.0, 5.0]), ("b", "E", [1.0, 2.0, 3.0]), ("a", "F", [1.0, 1.0]), ("b", "F", [1.0, 0.0, 2.0])]
    runs.append(("a", "G", [9.0]))  # B has no run of G: G is left out
    rows = [(v, e, seed, t, r) for v, e, finals in runs for seed, r in enumerate(finals) for t in (1, 2)]
    data = pd.DataFrame(rows, columns=["variant", "env", "seed", "timesteps", "mean_return"])
    (line, _) = learning.improvement_lines(grid, data)
    expected = learning.probability_of_improvement(x[:2], y[:2])[0]
    assert (
        line.startswith("Across 2 task(s) (E, F): the probability that A's final return exceeds B's")
        and f"**{expected:.2f}**" in line
        and "[95% CI " in line
    )
    (line, _) = learning.improvement_lines(grid, data[(data["env"] != "F") | (data["seed"] == 0)])  # F: one run of each
    assert "no confidence interval yet: a task has a single run of one of them" in line and "95% CI" not in line
    assert (
        learning.improvement_lines({**grid, "compare": ("a", "c")}, data) == [] and learning.improvement_lines({}, data) == []
    )


def test_grids_and_commands(capsys):
    for name, grid in learning.GRIDS.items():
        assert all(set(block["variants"]) <= set(grid["variants"]) for block in grid["blocks"])
        for run in learning.grid_runs(grid):  # the last evaluation lands on the budget
            budget, eval_freq = (
                learning.task_setting(grid, run["env"], key, run["variant"]) for key in ("n_timesteps", "eval_freq")
            )
            assert budget % eval_freq == 0
        # one evaluation protocol, in the commands, for every discrete-action algorithm of a grid
        discrete = [variant for variant, spec in grid["variants"].items() if spec["algo"] != "sac"]
        env_id = learning.grid_tasks(grid)[0]
        commands = [learning.train_command(grid, {"variant": v, "env": env_id, "seed": 0}, Path("l"), name) for v in discrete]
        epsilon = {any("EpsilonGreedyEvalCallback" in part for part in command) for command in commands}
        assert epsilon <= {grid["evaluation"] == "paper"}, name  # (none: a grid of SAC alone)
    paper, cpu = learning.GRIDS["paper"], learning.GRIDS["cpu"]
    assert len(learning.grid_runs(paper)) == (3 * 5 + 2 * 5) * 5
    # a part of a grid: --env, --variant and --seed (repeatable) select runs; a value the grid lacks is refused
    args = learning.parser().parse_args(["--grid", "paper", "--variant", "qrdqn", "--seed", "3", "--seed", "4"])
    selected = learning.selected_runs(paper, args)
    assert len(selected) == 5 * 2 and {(run["variant"], run["seed"]) for run in selected} == {("qrdqn", 3), ("qrdqn", 4)}
    with pytest.raises(SystemExit, match=r"--seed \[7\] is not in the paper grid: \[0, 1, 2, 3, 4\]"):
        learning.selected_runs(paper, learning.parser().parse_args(["--grid", "paper", "--seed", "7"]))
    assert learning.grid_tasks(paper) == [*MINATAR_ENV_IDS, *DMC_ENV_IDS]
    assert learning.grid_tasks(learning.GRIDS["ablation"]) == ["MinAtar/Breakout-v1", "MinAtar/SpaceInvaders-v1"]
    # the paper's evaluation (epsilon 0.05, our callback) for every discrete-action algorithm of the paper grids
    for grid in (paper, learning.GRIDS["ablation"]):
        for name, spec in grid["variants"].items():
            command = learning.train_command(grid, {"variant": name, "env": "MinAtar/Breakout-v1", "seed": 0}, Path("l"), "g")
            paper_eval = spec["algo"] != "sac"
            assert (command[command.index("--eval-freq") + 1] == "-1") == paper_eval
            assert (
                any(part.startswith("callback:") and "'epsilon': 0.05" in part.replace('"', "'") for part in command)
                == paper_eval
            )
    arq_cpu = learning.train_command(cpu, {"variant": "arq", "env": "MinAtar/Breakout-v1", "seed": 2}, Path("l"), "cpu")
    assert " ".join(arq_cpu).endswith(
        "-n 30000 --eval-freq 3000 --eval-episodes 10 --seed 2 --num-threads 1 --device cpu -f l/cpu/arq -params "
        'learning_starts:1500 batch_size:32 buffer_size:100000 policy_kwargs:{"net_arch": [64, 64, 64]}'
    )
    learning.describe(paper, "paper", Path("logs"))
    printed = capsys.readouterr().out
    assert printed.count("python -m sb3_arq.train") == 125 and "- None" not in printed


def test_smoke_grid_runs_resumes_and_aggregates(sequential, capsys, tmp_path):
    log_root, results = sequential / "logs", sequential / "results"
    runs = learning.grid_runs(SMOKE)
    folders = {}
    for run in runs:
        finished, unfinished = learning.find_attempts(SMOKE, run, log_root, "smoke")
        assert finished is not None and unfinished == []
        folders[run["variant"], run["seed"]] = finished
        evaluations = np.load(finished / "evaluations.npz")
        assert evaluations["timesteps"].tolist() == [300, 600] and evaluations["results"].shape == (2, 2)
        # The run's CPU time, recorded by the runner: at least the start of a process that imports torch and rl-zoo3
        assert 1.0 < float((finished / learning.CPU_FILE).read_text()) < 900.0

    # No finished run (another log root): a committed report is not overwritten
    assert learning.write_report(SMOKE, "smoke", tmp_path / "no-logs", tmp_path / "results") is None
    assert not (tmp_path / "results").exists()
    # The report: final and best evaluation per seed, then mean +- standard error (over the 2 seeds)
    learning.write_report(SMOKE, "smoke", log_root, results)
    report = (results / "smoke.md").read_text()
    for name, label in (("arq", "ARQ"), ("dqn", "DQN")):
        returns = [np.load(folders[name, seed] / "evaluations.npz")["results"].mean(axis=1) for seed in (0, 1)]
        final = learning.fmt(np.mean([r[-1] for r in returns]), np.std([r[-1] for r in returns], ddof=1) / np.sqrt(2))
        best = learning.fmt(np.mean([r.max() for r in returns]), np.std([r.max() for r in returns], ddof=1) / np.sqrt(2))
        finals = sorted(r[-1] for r in returns)  # 2 seeds: the interquartile mean trims nothing
        iqm = f"{np.mean(finals):.2f} [{finals[0]:.2f}, {finals[1]:.2f}]"  # the bootstrap's interval spans the two
        cpu_minutes = np.mean([float((folders[name, seed] / learning.CPU_FILE).read_text()) for seed in (0, 1)]) / 60
        assert f"| {label} | 2 | {final} | {iqm} | {best} |" in report and f" min | {cpu_minutes:.1f} min |" in report
    assert "Finished runs: 4 of 4" in report and "epsilon 0.05 for every discrete-action algorithm, as in the paper" in report
    assert (results / "smoke.png").stat().st_size > 0 and len(
        pd.read_json(results / "smoke.json", typ="series")["summary"]
    ) == 2
    assert len(pd.read_json(results / "ledger" / "smoke.json", typ="series")["runs"]) == 8  # every evaluation of every run

    # Resuming: nothing is rerun while every run is finished
    capsys.readouterr()
    learning.run_grid(SMOKE, "smoke", log_root, results)
    assert "4 of 4 runs finished already" in capsys.readouterr().out
    assert len(list(log_root.glob("smoke/*/*/MinAtar-Breakout-v1_*"))) == 4

    # Another machine, without the logs: the runs recorded in the committed ledger count as finished and stay in the
    # report, unless their settings (arguments or hyperparameter entry) changed since; the report itself is not read
    elsewhere = tmp_path / "clone-results"
    (elsewhere / "ledger").mkdir(parents=True)
    subprocess.run(["cp", str(results / "ledger" / "smoke.json"), str(elsewhere / "ledger")], check=True)
    no_logs = tmp_path / "clone-logs"
    assert learning.missing_runs(SMOKE, "smoke", no_logs, elsewhere, runs) == []
    learning.write_report(SMOKE, "smoke", no_logs, elsewhere)
    clone_report = (elsewhere / "smoke.md").read_text()
    assert "Of these, 4 are recorded in the ledger `ledger/smoke.json` by an earlier machine" in clone_report
    assert [line for line in clone_report.splitlines() if line.startswith("| ")] == [
        line for line in report.splitlines() if line.startswith("| ")
    ]
    changed = {**SMOKE, "variants": {**SMOKE["variants"], "dqn": {**SMOKE["variants"]["dqn"], "params": {"batch_size": 8}}}}
    dqn_runs = [run for run in runs if run["variant"] == "dqn"]
    assert learning.missing_runs(changed, "smoke", no_logs, elsewhere, runs) == dqn_runs
    assert learning.fingerprint(SMOKE, runs[0], log_root, "smoke") == learning.fingerprint(SMOKE, runs[0], no_logs, "smoke")
    # The hyperparameter entry is part of the fingerprint (the file's path is not): rl-zoo3's own dqn.yml has no MinAtar
    # entry (rl-zoo3 reads its `default` one), sb3-arq's has one
    zoo_file = {**SMOKE, "variants": {**SMOKE["variants"], "dqn": {**SMOKE["variants"]["dqn"], "conf": None}}}
    zoo_dqn = yaml.safe_load((Path(rl_zoo3.__file__).parent / "hyperparams" / "dqn.yml").read_text())
    assert learning.hyperparams_entry(SMOKE["variants"]["dqn"], "MinAtar/Breakout-v1")["learning_rate"] == 2.5e-4
    assert learning.hyperparams_entry(zoo_file["variants"]["dqn"], "MinAtar/Breakout-v1") == zoo_dqn["default"]
    assert learning.missing_runs(zoo_file, "smoke", no_logs, elsewhere, runs) == dqn_runs

    # A copy with a shorter evaluation file is an unfinished attempt; the finished run still counts
    run = {"variant": "arq", "env": "MinAtar/Breakout-v1", "seed": 1}
    partial = folders["arq", 1].with_name("MinAtar-Breakout-v1_9")
    subprocess.run(["cp", "-r", str(folders["arq", 1]), str(partial)], check=True)
    evaluations = dict(np.load(partial / "evaluations.npz"))
    np.savez(partial / "evaluations.npz", **{key: value[:1] for key, value in evaluations.items()})
    assert learning.find_attempts(SMOKE, run, log_root, "smoke") == (folders["arq", 1], [partial])
    # A later finished copy whose run read another hyperparameter entry (same command, config.yml differs) is not this run
    other_entry = folders["arq", 1].with_name("MinAtar-Breakout-v1_10")
    subprocess.run(["cp", "-r", str(folders["arq", 1]), str(other_entry)], check=True)
    config = other_entry / "MinAtar-Breakout-v1" / "config.yml"
    saved = learning.load_zoo_args(config)
    config.write_text(yaml.dump({**saved, "gamma": saved["gamma"] / 2}))
    assert learning.find_attempts(SMOKE, run, log_root, "smoke") == (folders["arq", 1], [partial])
    config.write_text(yaml.dump(saved))
    assert learning.find_attempts(SMOKE, run, log_root, "smoke") == (other_entry, [partial])
    subprocess.run(["rm", "-r", str(other_entry)], check=True)
    # Another budget does not match these runs
    assert learning.find_attempts({**SMOKE, "n_timesteps": 900}, run, log_root, "smoke")[0] is None
    subprocess.run(["rm", "-r", str(partial)], check=True)


def test_smoke_dmc_grid_compares_arq_and_sac(tmp_path):
    """ARQ (bang-bang actions, the paper's epsilon 0.05 evaluation) and SAC (continuous actions, rl-zoo3's greedy
    evaluation) on the same DeepMind Control task, in one report."""
    grid, name = learning.GRIDS["smoke-dmc"], learning.env_name("dm_control/reacher-hard-v0")
    learning.run_grid(grid, "smoke-dmc", tmp_path / "logs", tmp_path / "results")
    finals = {}
    for run, algo in zip(learning.grid_runs(grid), (ARQ, SAC), strict=True):
        finished, unfinished = learning.find_attempts(grid, run, tmp_path / "logs", "smoke-dmc")
        assert finished is not None and unfinished == [] and run["variant"] == algo.__name__.lower()
        evaluations = np.load(finished / "evaluations.npz")
        assert evaluations["timesteps"].tolist() == [300, 600] and evaluations["ep_lengths"].tolist() == [[1000], [1000]]
        finals[run["variant"]] = evaluations["results"][-1, 0]
        model = algo.load(finished / f"{name}.zip", device="cpu")
        assert model.observation_space.shape == (6,) and model.num_timesteps == 600
        assert getattr(model.action_space, "n", None) == (4 if algo is ARQ else None)  # ARQ: 2**2 bang-bang actions
        evaluation = learning.load_zoo_args(finished / name / "args.yml")
        assert (evaluation["eval_freq"] == -1) == (algo is ARQ)  # ARQ: our callback instead of rl-zoo3's evaluation
    report = (tmp_path / "results" / "smoke-dmc.md").read_text()
    assert "Finished runs: 2 of 2" in report and "SAC greedily (continuous actions)" in report
    for variant, label in (("arq", "ARQ"), ("sac", "SAC")):
        assert f"| {label} | 1 | {finals[variant]:.2f} |" in report


def zoo_processes(log_root: Path) -> dict[int, list[str]]:
    """The rl-zoo3 runs (``sb3_arq.train`` processes) logging under ``log_root``: pid -> command line."""
    found = {}
    for entry in Path("/proc").iterdir():
        try:
            command = [part.decode() for part in (entry / "cmdline").read_bytes().split(b"\0") if part]
        except OSError:
            continue
        if "sb3_arq.train" in command and any(str(log_root) in part for part in command):
            found[int(entry.name)] = command
    return found


def training(pid: int) -> bool:
    """Whether the run has its env up (its Monitor log open): past rl-zoo3's set-up, before the end of training."""
    try:
        return any(os.readlink(f"/proc/{pid}/fd/{fd}").endswith("monitor.csv") for fd in os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return False


def test_ray_grid_retries_reports_restarts_and_matches_sequential(sequential, tmp_path):
    """Two runs at once on a local Ray (2 CPUs, 1 per run). The ARQ seed-1 run is killed mid-way, and its retry too:
    the driver reports it and finishes the others; a restarted driver runs only that one. The Ray runs' evaluations
    and table equal the sequential runs' (same commands, seeds, CPU)."""
    log_root, results = tmp_path / "logs", tmp_path / "results"
    command = [sys.executable, "benchmarks/learning_ray.py", "--grid", "smoke", "--cpus-per-run", "1"]
    command += ["--log-root", str(log_root), "--results-dir", str(results)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    driver = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    killed, at_once, deadline = [], 0, time.time() + 900  # a guard: a loaded machine runs the smoke grid slowly
    while driver.poll() is None and time.time() < deadline:
        processes = zoo_processes(log_root)
        at_once = max(at_once, len(processes))
        for pid, args in processes.items():
            target = args[args.index("--algo") + 1] == "arq" and args[args.index("--seed") + 1] == "1"
            if target and pid not in killed and len(killed) < 2 and training(pid):
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
        time.sleep(0.05)
    output = driver.communicate(timeout=300)[0]
    print(output[-3000:])
    print(f"at most {at_once} runs at once; killed {killed}")
    assert at_once >= 2 and len(killed) == 2
    assert driver.returncode == 1 and "retrying once" in output and "FAILED twice" in output
    assert "1 runs failed twice" in output and "Finished runs: 3 of 4" in (results / "smoke.md").read_text()

    restart = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)  # a guard, as above
    print(restart.stdout[-2000:], restart.stderr[-2000:])
    assert restart.returncode == 0 and "3 of 4 runs finished already (in the logs or the ledger), 1 to run" in restart.stdout
    assert "removing the unfinished attempt" in restart.stdout  # the second killed attempt
    for run in learning.grid_runs(SMOKE):
        ray_run, unfinished = learning.find_attempts(SMOKE, run, log_root, "smoke")
        sequential_run = learning.find_attempts(SMOKE, run, sequential / "logs", "smoke")[0]
        assert ray_run is not None and unfinished == []
        ours, reference = np.load(ray_run / "evaluations.npz"), np.load(sequential_run / "evaluations.npz")
        for key in ("timesteps", "results", "ep_lengths"):
            np.testing.assert_array_equal(ours[key], reference[key])
    summaries = [learning.summarise(learning.collect(SMOKE, "smoke", root)) for root in (log_root, sequential / "logs")]
    pd.testing.assert_frame_equal(summaries[0][["final", "best"]], summaries[1][["final", "best"]])
    tables = [learning.summary_table(SMOKE, summary, "MinAtar/Breakout-v1") for summary in summaries]
    print("\n".join(tables[0]))
    assert [line.rsplit("|", 3)[0] for line in tables[0]] == [line.rsplit("|", 3)[0] for line in tables[1]]  # but times
    assert "Finished runs: 4 of 4" in (results / "smoke.md").read_text()
