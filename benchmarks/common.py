"""
What the speed and memory benchmarks share (``throughput.py``, ``cell_product_memory.py``, ``graph_check.py``,
``profile_update.py``): the configurations, an ARQ model built at one with its buffer prefilled, the timing loop, peak
memory, a measurement in a fresh process, and the result files with the command that made them.

The scripts run as ``python benchmarks/<script>.py``, so ``benchmarks/`` is the first entry of ``sys.path`` (also in
the processes they spawn) and they ``import common``.
"""

import argparse
import json
import multiprocessing
import platform
import resource
import shlex
import statistics
import sys
import time
import warnings
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch as th

from sb3_arq import ARQ
from sb3_arq.common.files import atomic_write_text
from sb3_arq.envs import BangBangWrapper, FlattenDictObservation

RESULTS = Path(__file__).parent / "results"
# The published sizes (docs/algorithm.md, "10. Published settings"), CPU ones, and the classic-control entries' sizes
# (hyperparams/arq.yml). "policy_kwargs" and "kwargs" (ARQ's) are added to make_arq's; "net_arch" or "batch_size" None:
# ARQ's default.
PUBLISHED_CELLS = {"n_heads": 8, "recurrent_connections": True, "forward_connections": True}  # and context_size 10
CONFIGS = {
    "breakout": {
        "name": "MinAtar Breakout",
        "env": "MinAtar/Breakout-v1",
        "net_arch": [400, 200, 200],
        "batch_size": 512,
        "policy_kwargs": PUBLISHED_CELLS,
    },
    "seaquest": {
        "name": "MinAtar Seaquest",
        "env": "MinAtar/Seaquest-v1",
        "net_arch": [400, 200, 200],
        "batch_size": 512,
        "policy_kwargs": PUBLISHED_CELLS,
    },
    "walker": {
        "name": "DMC walker-walk",
        "env": "dm_control/walker-walk-v0",
        "net_arch": [128, 96, 96],
        "batch_size": 512,
        "action_encoding": "binary",  # the +-1 code of the bang-bang actions
        "policy_kwargs": PUBLISHED_CELLS,
    },
    "small": {
        "name": "small (CPU)",
        "env": "MinAtar/Breakout-v1",
        "net_arch": [64, 64, 64],
        "batch_size": 64,
        "policy_kwargs": PUBLISHED_CELLS,
    },
    "minatar-cpu": {
        "name": "MinAtar Breakout, CPU size",
        "env": "MinAtar/Breakout-v1",
        "net_arch": [64, 64, 64],
        "batch_size": 32,
        "policy_kwargs": PUBLISHED_CELLS,
    },
    "minatar-entry": {  # hyperparams/arq_cpu.yml: the minatar grid's ARQ (no connections through time)
        "name": "MinAtar Breakout, CPU entry",
        "env": "MinAtar/Breakout-v1",
        "net_arch": [64, 64, 64],
        "batch_size": 32,
        "policy_kwargs": {"n_heads": 8, "goodness": "msq", "recurrent_connections": False, "forward_connections": False},
    },
    "cartpole": {
        "name": "CartPole-v1 entry",
        "env": "CartPole-v1",
        "net_arch": [64, 64],
        "batch_size": 32,
        "policy_kwargs": {"n_heads": 4, "recurrent_connections": False, "forward_connections": False},
    },
    "acrobot": {
        "name": "Acrobot-v1 entry",
        "env": "Acrobot-v1",
        "net_arch": [64, 64],
        "batch_size": 32,
        "policy_kwargs": {"n_heads": 8, "recurrent_connections": False, "forward_connections": False},
    },
    "defaults": {"name": "CartPole-v1, ARQ's defaults", "env": "CartPole-v1", "net_arch": None, "batch_size": None},
}
ENV_SIZES = {  # observation size and number of actions of each env (a stand-in's where its simulator is not installed)
    "MinAtar/Breakout-v1": (400, 3),
    "MinAtar/Seaquest-v1": (1000, 6),
    "dm_control/walker-walk-v0": (24, 64),
}
PREFILL = 1000  # random transitions in the buffer before anything is timed
BUFFER_SIZE = 20_000


class StandInEnv(gym.Env):
    """
    Random observations of a task's sizes, for a machine without its simulator (the update cost is the same, the env
    steps/s are not). ARQ is told the task's action code (``action_encoding`` of the config), which ``"auto"`` cannot
    see here.
    """

    def __init__(self, obs_dim: int, n_actions: int):
        self.observation_space = gym.spaces.Box(-1.0, 1.0, (obs_dim,), np.float32)
        self.action_space = gym.spaces.Discrete(n_actions)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        return self.observation_space.sample(), {}

    def step(self, action: int):
        return self.observation_space.sample(), 1.0, False, False, {}


def make_env(config: str) -> gym.Env:
    """The configuration's env, or a ``StandInEnv`` of its sizes where its simulator is not installed."""
    env_id = CONFIGS[config]["env"]
    if env_id not in gym.registry:
        return StandInEnv(*ENV_SIZES[env_id])
    env = gym.make(env_id)
    if env_id.startswith("dm_control/"):
        env = BangBangWrapper(FlattenDictObservation(env))
    return env


def make_arq(config: str, device: str, policy_kwargs: dict | None = None, **kwargs) -> ARQ:
    """
    ARQ (seed 0) on the configuration's env with its widths, batch size and settings, ``policy_kwargs`` and ``kwargs`` on top,
    its buffer filled with ``PREFILL`` random transitions (no update yet: the next step trains). Eager unless ``kwargs``
    say otherwise (ARQ's "auto" would compile a long run on a CPU).
    """
    spec = CONFIGS[config]
    policy_kwargs = {
        **({"net_arch": spec["net_arch"]} if spec["net_arch"] else {}),
        "action_encoding": spec.get("action_encoding", "auto"),
        **spec.get("policy_kwargs", {}),
        **(policy_kwargs or {}),
    }
    kwargs = {
        "buffer_size": BUFFER_SIZE,
        "learning_starts": PREFILL,
        **({"batch_size": spec["batch_size"]} if spec["batch_size"] else {}),
        "seed": 0,
        "compile_update": None,
        "graph_acting": False,
        **spec.get("kwargs", {}),
        **kwargs,
    }
    model = ARQ("MlpPolicy", make_env(config), policy_kwargs=policy_kwargs, device=device, **kwargs)
    with warnings.catch_warnings():  # the prefill is meant to end before learning_starts, without an update
        warnings.filterwarnings("ignore", message=r"learn\(\) will stop at")
        model.learn(PREFILL)
    return model


def times_ms(fn, repeats: int, device: str, clock=time.perf_counter) -> list[float]:
    """
    Times in milliseconds of ``repeats`` calls of fn() after one warm-up call, on CUDA between synchronisations: wall
    times, or by ``clock`` (``time.thread_time``: this thread's CPU time, which other processes do not inflate; the
    work of one torch thread on CPU, backward included, runs in the calling thread).
    """
    fn()
    times = []
    for _ in range(repeats):
        if device == "cuda":
            th.cuda.synchronize()
        start = clock()
        fn()
        if device == "cuda":
            th.cuda.synchronize()
        times.append((clock() - start) * 1000)
    return times


def median_ms(fn, repeats: int, device: str, clock=time.perf_counter) -> float:
    return statistics.median(times_ms(fn, repeats, device, clock))


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak_cuda(device: str) -> None:
    if device == "cuda":
        th.cuda.synchronize()
        th.cuda.reset_peak_memory_stats()


def peak_cuda_mb(device: str) -> float | None:
    """Peak CUDA memory allocated since the process started or ``reset_peak_cuda``; None off CUDA."""
    return th.cuda.max_memory_allocated() / 2**20 if device == "cuda" else None


def in_subprocess(function, *args):
    """function(*args) in a fresh (spawned) process, so that its peak memory and torch threads are its own."""
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(function, args)


def argument_parser(doc: str) -> argparse.ArgumentParser:
    """A script's arguments, with the ones every script has: --device, --out and --tag."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder of the result files")
    parser.add_argument("--tag", default="", help="suffix of the result files' names")
    return parser


def describe_run(device: str) -> dict:
    """The command (as typed), the device and torch, for a report's header."""
    name = th.cuda.get_device_name() if device == "cuda" else platform.processor() or platform.machine()
    return {"command": shlex.join(["python", *sys.argv]), "device": device, "device_name": name, "torch": th.__version__}


def markdown_header(title: str, report: dict) -> list[str]:
    """The first lines of a result's markdown: its title on the device, and the command (``describe_run``'s)."""
    return [f"# {title} on {report['device_name']} ({report['device']})", "", f"Command: `{report['command']}`  "]


def write_results(args: argparse.Namespace, name: str, text: str, report: dict | None = None, suffix: str = ".md") -> None:
    """``<name>[-<tag>]<suffix>`` in ``--out`` holding text (also printed), and ``<name>[-<tag>].json`` the report."""
    path = args.out / (name + (f"-{args.tag}" if args.tag else ""))
    if report is not None:
        atomic_write_text(f"{path}.json", json.dumps(report, indent=2) + "\n")
    atomic_write_text(f"{path}{suffix}", text)
    print(text)
