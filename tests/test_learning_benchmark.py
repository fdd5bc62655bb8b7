"""
The learning benchmark's bookkeeping (``benchmarks/learning.py``) on its tiny ``smoke`` grid: two real rl-zoo3 runs of
600 steps, then resuming (finished runs are not rerun, an unfinished one is), the finished-run detection and the
aggregation (mean +- standard error over seeds of the final and best evaluation).
"""

import importlib.util
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def load_learning():
    """Import ``benchmarks/learning.py`` (a script, not a package)."""
    spec = importlib.util.spec_from_file_location("learning_benchmark", REPO_ROOT / "benchmarks" / "learning.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_mean_se():
    learning = load_learning()
    mean, se = learning.mean_se([1.0, 2.0, 3.0])
    assert mean == pytest.approx(2.0) and se == pytest.approx(1.0 / np.sqrt(3.0))
    assert np.isnan(learning.mean_se([5.0])[1])


def test_grids_are_consistent():
    learning = load_learning()
    for grid in learning.GRIDS.values():
        for block in grid["blocks"]:
            assert set(block["variants"]) <= set(grid["variants"])
        assert grid["n_timesteps"] % grid["eval_freq"] == 0  # the last evaluation lands on the budget
    paper = learning.GRIDS["paper"]
    assert len(learning.grid_runs(paper)) == (3 * 5 + 2 * 5) * 5
    assert learning.grid_tasks(learning.GRIDS["ablation"]) == ["MinAtar/Breakout-v1", "MinAtar/SpaceInvaders-v1"]


def test_smoke_grid_runs_resumes_and_aggregates(tmp_path, monkeypatch):
    learning = load_learning()
    grid, name = learning.GRIDS["smoke"], "smoke"
    log_root, results = tmp_path / "logs", tmp_path / "results"
    learning.run_grid(grid, name, log_root, results)

    runs = learning.grid_runs(grid)
    folders = {}
    for run in runs:
        finished, unfinished = learning.find_attempts(grid, run, log_root, name)
        assert finished is not None and unfinished == []
        folders[run["seed"]] = finished

    # The report: final and best evaluation per seed, then mean +- standard error
    learning.write_report(grid, name, log_root, results)
    summary = learning.collect(grid, name, log_root)["MinAtar/Breakout-v1"]["arq"]
    assert sorted(summary) == [0, 1]
    for seed, run_dir in folders.items():
        evaluations = np.load(run_dir / "evaluations.npz")
        returns = evaluations["results"].mean(axis=1)
        assert evaluations["timesteps"].tolist() == [300, 600]
        assert summary[seed]["final"] == pytest.approx(returns[-1])
        assert summary[seed]["best"] == pytest.approx(returns.max())
    report = (results / "smoke.md").read_text()
    final = learning.fmt(*learning.mean_se([summary[0]["final"], summary[1]["final"]]))
    assert "Finished runs: 2 of 2" in report and f"| ARQ | 2 | {final} |" in report
    assert (results / "smoke.png").stat().st_size > 0 and (results / "smoke.json").is_file()

    # Resuming: nothing is rerun while every run is finished
    def no_run(*args, **kwargs):
        raise AssertionError("a finished run was started again")

    monkeypatch.setattr(learning.subprocess, "run", no_run)
    learning.run_grid(grid, name, log_root, results)

    # A copy with a shorter evaluation file is an unfinished attempt; the finished run still counts
    partial = folders[1].with_name(f"{folders[1].name.rsplit('_', 1)[0]}_9")
    shutil.copytree(folders[1], partial)
    evaluations = dict(np.load(partial / "evaluations.npz"))
    np.savez(partial / "evaluations.npz", **{key: value[:1] for key, value in evaluations.items()})
    finished, unfinished = learning.find_attempts(grid, runs[1], log_root, name)
    assert finished == folders[1] and unfinished == [partial]

    # Another budget does not match these runs
    assert learning.find_attempts({**grid, "n_timesteps": 900}, runs[0], log_root, name)[0] is None

    # A run whose only folder is unfinished is started again, after its unfinished attempt is removed (the start is
    # recorded, not run: it would be the same real run as above)
    shutil.rmtree(folders[1])
    started = []

    def record(command, **kwargs):
        started.append(command)
        return subprocess.CompletedProcess(command, 0)

    monkeypatch.setattr(learning.subprocess, "run", record)
    learning.run_grid(grid, name, log_root, results)
    assert len(started) == 1 and started[0][started[0].index("--seed") + 1] == "1"
    assert not partial.exists()
