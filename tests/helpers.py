"""The tests' shared helpers and constants (conftest.py holds only what pytest applies to every test)."""

import os
import site
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import sb3_arq
from sb3_arq import ARQ
from sb3_arq.arq.cells import CELLS, GOODNESS

# Directory that the tested sb3_arq was imported from (the repository, or site-packages for a regular install)
SB3_ARQ_IMPORT_ROOT = Path(sb3_arq.__file__).resolve().parents[1]
HOOK_PTH = "sb3_arq_zoo_hook.pth"
# The classic-control entries of hyperparams/arq.yml
CLASSIC_CONTROL_IDS = ("CartPole-v1", "Acrobot-v1", "MountainCar-v0")
# A guard against a hung subprocess, not a speed check: the longest run (the CartPole-v1 learning test, 50,000 steps)
# takes 4 minutes on an idle core, longer beside the other test worker.
HUNG_AFTER_S = 1800


def zoo_env(**extra: str) -> dict[str, str]:
    """
    Environment of the rl-zoo3 subprocesses of the tests: one torch/OpenMP thread, headless matplotlib, the tested
    sb3_arq importable, the import hook on whatever the caller's environment says.

    :param extra: Variables to add.
    :return: The environment.
    """
    env = {key: value for key, value in os.environ.items() if key != "SB3_ARQ_NO_ZOO_HOOK"}
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", MPLBACKEND="Agg")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SB3_ARQ_IMPORT_ROOT), os.environ.get("PYTHONPATH")]))
    env.update(extra)
    return env


def run_python(args: list[str], cwd: Path, check: bool = True, **extra_env: str) -> subprocess.CompletedProcess:
    """
    Run ``python <args>`` with the test interpreter and ``zoo_env``.

    :param args: Arguments after ``python``.
    :param cwd: Working directory.
    :param check: Assert that it succeeded (showing the end of its output otherwise).
    :param extra_env: Extra environment variables.
    :return: The finished process, with text stdout and stderr.
    """
    result = subprocess.run(
        [sys.executable, *args], cwd=cwd, env=zoo_env(**extra_env), capture_output=True, text=True, timeout=HUNG_AFTER_S
    )
    if check:
        assert result.returncode == 0, f"{args} failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    return result


# Every variant the registries define, as policy_kwargs: cell type x action conditioning x goodness (AD: no goodness)
VARIANTS = {
    f"{cell_type}-{conditioning}" + (f"-{goodness}" if cls.nonnegative_q else ""): {
        "cell_type": cell_type,
        "action_conditioning": conditioning,
        "goodness": goodness,
    }
    for cell_type, conditionings in CELLS.items()
    for conditioning, cls in conditionings.items()
    for goodness in (GOODNESS if cls.nonnegative_q else ["std"])
}
# Small settings: a few steps of CartPole reach the first updates in seconds
# Connections through time on (ARQ's defaults have them off), so that every test of a small model exercises the context
SMALL = {
    "learning_rate": 1e-4,  # constant (ARQ's default decays to 0 over the run: these tests train past the end of learn())
    "learning_starts": 200,
    "batch_size": 16,
    "context_size": 3,
    "policy_kwargs": {"net_arch": [8, 6, 5], "n_heads": 2, "recurrent_connections": True, "forward_connections": True},
}


def small_model(env="CartPole-v1", **kwargs) -> ARQ:
    """ARQ with the ``SMALL`` settings (overridden by ``kwargs``), on the CPU, seed 0."""
    return ARQ("MlpPolicy", env, **{**SMALL, **kwargs}, device="cpu", seed=0)


SITE_DIRS = [Path(directory) for directory in [*site.getsitepackages(), site.getusersitepackages()]]


def sb3_arq_is_installed() -> bool:
    """:return: Whether sb3-arq is installed (regular or editable) in this interpreter's site-packages."""
    return any(any(directory.glob("sb3_arq-*.dist-info")) for directory in SITE_DIRS)


# Installed without the .pth file is a packaging bug (or an install older than the hook: reinstall): the tests that
# need the hook then run and fail rather than skip
requires_hook = pytest.mark.skipif(
    not sb3_arq_is_installed() and not any((directory / HOOK_PTH).is_file() for directory in SITE_DIRS),
    reason="sb3-arq is not installed (pip install -e .), so its rl-zoo3 import hook is not active",
)


def zoo_train(
    log_folder: Path,
    algo: str,
    env_id: str,
    n_timesteps: int,
    eval_freq: int,
    eval_episodes: int,
    *extra: str,
    seed: int = 0,
    **extra_env,
) -> subprocess.CompletedProcess:
    """
    ``python -m rl_zoo3.train`` with evaluation on, one torch thread.

    :param extra: More command line arguments.
    :param seed: ``--seed``.
    :param extra_env: Extra environment variables.
    :return: The finished process.
    """
    args = ["-m", "rl_zoo3.train", "--algo", algo, "--env", env_id, "-f", str(log_folder), "--seed", str(seed)]
    args += ["-n", str(n_timesteps), "--eval-freq", str(eval_freq), "--eval-episodes", str(eval_episodes)]
    return run_python([*args, "--num-threads", "1", *extra], cwd=log_folder, **extra_env)


def check_run(log_folder: Path, algo: str, env_id: str, eval_timesteps: list[int], eval_episodes: int) -> Path:
    """
    Assert rl-zoo3's outputs: the run folder, ``evaluations.npz``, the saved models, the monitor and the config.

    :return: Path of the saved (final) model.
    """
    env_name = env_id.replace("/", "-")
    run_dir = log_folder / algo / f"{env_name}_1"
    assert run_dir.is_dir(), sorted(str(p) for p in log_folder.rglob("*"))
    evaluations = np.load(run_dir / "evaluations.npz")
    np.testing.assert_array_equal(evaluations["timesteps"], eval_timesteps)
    assert evaluations["results"].shape == (len(eval_timesteps), eval_episodes)
    assert np.isfinite(evaluations["results"]).all()
    assert (run_dir / "0.monitor.csv").is_file() and (run_dir / "best_model.zip").is_file()
    for name in ("config.yml", "args.yml", "command.txt"):
        assert (run_dir / env_name / name).is_file()
    model_path = run_dir / f"{env_name}.zip"
    assert model_path.is_file()
    return model_path
