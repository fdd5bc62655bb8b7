"""
The speed and memory benchmark scripts (``benchmarks/common.py`` and the scripts that import it; ``gpu_check.sh`` runs
three of them on a GPU), run here on the CPU at their small sizes as ``gpu_check.sh`` runs them (``python
benchmarks/<script>.py``), so that a change that breaks them shows in CI instead of on the one GPU run. Their CUDA
branches (capture, Triton at the published sizes, CUDA memory) run only there.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run_script(name: str, *args: str) -> None:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    result = subprocess.run(
        [sys.executable, f"benchmarks/{name}", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def test_graph_check_runs_and_the_fast_paths_agree(tmp_path):
    run_script("graph_check.py", *"--config small --seconds 1 --updates 2 --repeats 2".split(), "--out", str(tmp_path))
    report = json.loads((tmp_path / "graph-check-cpu-small.json").read_text())
    result = report["result"]
    assert result["agreement_rel"] == 0.0  # on CPU the "captured" update runs eagerly: the same operations
    for label in ("numpy_eager", "device_eager", "device_graph"):
        assert result[f"update_ms_{label}"] > 0 and result[f"update_peak_cuda_mb_{label}"] is None
    assert result["train_updates_default"] > 0 and result["train_updates_fast"] > 0
    assert "Agreement after 2 updates" in (tmp_path / "graph-check-cpu-small.md").read_text()


def test_cell_product_memory_times_every_product_of_the_small_model(tmp_path):
    args = "--scope update --model small --threads 1 --rounds 1 --repeats 1".split()
    run_script("cell_product_memory.py", *args, "--out", str(tmp_path))
    report = json.loads((tmp_path / "cell-product-memory-update-cpu-small.json").read_text())
    assert [r["impl"] for r in report["results"]] == ["dense", "chunked", "auto"]
    for r in report["results"]:
        assert r["min_ms"] > 0 and r["peak_rss_mb"] >= r["rss_before_mb"] > 0
    assert (tmp_path / "cell-product-memory-update-cpu-small.md").exists()


def test_throughput_measures_arq_beside_dqn_on_the_small_configuration(tmp_path):
    args = "--configs small --threads 1 --repeats 1 --tag small".split()
    run_script("throughput.py", *args, "--out", str(tmp_path))
    report = json.loads((tmp_path / "throughput-cpu-small.json").read_text())
    assert report["command"].startswith("python benchmarks/throughput.py --configs small")
    (result,) = report["results"]
    assert result["config"] == "small (CPU)" and result["cuda_max_allocated_mb"] is None
    for key in ("arq_update_ms", "arq_graph_act_ms_8envs", "arq_graph_env_steps_per_s", "dqn_update_ms", "peak_rss_mb"):
        assert result[key] > 0
    assert "naive_update_ms" not in result  # Breakout only
    assert "| small (CPU) |" in (tmp_path / "throughput-cpu-small.md").read_text()


def test_profile_update_writes_the_phases_and_the_operator_table(tmp_path):
    run_script("profile_update.py", *"--config small --updates 2".split(), "--out", str(tmp_path))
    text = (tmp_path / "profile-cpu.txt").read_text()
    assert text.startswith("python benchmarks/profile_update.py --config small --updates 2")
    phases = re.search(r"sampling ([\d.]+) ms, the cells' losses ([\d.]+) ms, .* optimizer steps ([\d.]+) ms", text)
    assert all(float(ms) > 0 for ms in phases.groups())
    assert "Self CPU" in text


def test_cost_measures_an_update_beside_its_floor_and_dqn(tmp_path):
    run_script("cost.py", *"--configs cartpole --repeats 2 --compile".split(), "--out", str(tmp_path))
    (result,) = json.loads((tmp_path / "cost-cpu.json").read_text())["results"]
    assert result["arq_update_gflop"] > result["dqn_update_gflop"] > 0 and result["gemm_gflops"] > 0
    # One tanh per element of every cell's d x d M: the online cells at s (the taken action) and at s' (both actions),
    # the target cells at s' (the online cells' choice); 2 cells of d = 64, batch 32, no context
    assert result["arq_update_tanh"] == 2 * 32 * 64 * 64 * (1 + 2 + 1) and result["sigmoid_per_ns"] > 0
    compiled = ("arq_compiled_update_ms", "arq_compiled_collect_ms_1env", "arq_compiled_act_ms_1env")
    for key in ("arq_update_ms", "dqn_update_ms", "arq_act_ms_1env", "arq_act_floor_ms", "dqn_act_floor_ms", *compiled):
        assert result[key] > 0
    text = (tmp_path / "cost-cpu.md").read_text()
    assert "| CartPole-v1 entry | [64, 64], 4, 0, 32 |" in text and "Through torch.compile" in text
    assert "predict carrying the context, 1 env" in text and "x its floor" in text and "x both floors;" in text


def test_defaults_times_arq_and_dqn_in_wall_and_cpu_time(tmp_path):
    run_script("defaults.py", *"--seeds 0 --steps 1500".split(), "--out", str(tmp_path))
    runs = json.loads((tmp_path / "defaults-cartpole.json").read_text())["runs"]
    assert [run["algo"] for run in runs] == ["ARQ", "DQN"]
    # one torch thread, nothing else in the process: its CPU time cannot exceed the wall time by much (a compiler process)
    assert all(0 < run["cpu_seconds"] < 1.5 * run["seconds"] + 1 for run in runs)
    text = (tmp_path / "defaults-cartpole.md").read_text()
    assert "`learn(1500)` with every default" in text and "| CPU time per run (s), mean |" in text
    assert re.search(r"ARQ's time per run over DQN's: [\d.]+x in wall time, [\d.]+x in CPU time", text)
