import os
import subprocess
import sys
from pathlib import Path

import torch as th

import sb3_arq
from sb3_arq import ARQ
from sb3_arq.arq.cells import CELLS, GOODNESS

# This machine (and CI) has 2 cores; torch's default thread count oversubscribes them. Tests run on one thread.
th.set_num_threads(1)

# Directory that the tested sb3_arq was imported from (the repository, or site-packages for a regular install)
SB3_ARQ_IMPORT_ROOT = Path(sb3_arq.__file__).resolve().parents[1]


def zoo_env(**extra: str) -> dict[str, str]:
    """
    Environment of the rl-zoo3 subprocesses of the tests: one torch/OpenMP thread, headless matplotlib, the tested
    sb3_arq importable, none of sb3-arq's switches inherited from the caller (the import hook on, no tuning budget).

    :param extra: Variables to add.
    :return: The environment.
    """
    switches = ("SB3_ARQ_NO_ZOO_HOOK", "SB3_ARQ_TUNE_MEMORY_GB")
    env = {key: value for key, value in os.environ.items() if key not in switches}
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
        [sys.executable, *args], cwd=cwd, env=zoo_env(**extra_env), capture_output=True, text=True, timeout=300
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
SMALL = {"learning_starts": 200, "batch_size": 16, "context_size": 3, "policy_kwargs": {"net_arch": [8, 6, 5], "n_heads": 2}}


def small_model(env="CartPole-v1", **kwargs) -> ARQ:
    """ARQ with the ``SMALL`` settings (overridden by ``kwargs``), on the CPU, seed 0."""
    return ARQ("MlpPolicy", env, **{**SMALL, **kwargs}, device="cpu", seed=0)
