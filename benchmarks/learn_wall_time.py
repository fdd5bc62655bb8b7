"""
Wall time of ``ARQ(...).learn(10_000)`` on CartPole-v1, with the defaults and with the small settings of the tests.

    python benchmarks/learn_wall_time.py    # writes benchmarks/results/learn-wall-time-cpu.md

With the defaults (the published MinAtar settings: widths [400, 200, 200], learning starts at 50k steps) the 10k steps
are all acting, no update; the small settings are ``benchmarks/configs.py``'s ``CARTPOLE`` (those of
``tests/test_learning.py::test_learns_cartpole``). One torch
thread; the machine's load average is recorded, since other jobs may share the cores.
"""

import os
import time
from pathlib import Path

import torch as th
from configs import CARTPOLE

from sb3_arq import ARQ

RESULTS = Path(__file__).parent / "results"
SMALL = {**CARTPOLE, "policy_kwargs": {"net_arch": [64, 64]}}


def main() -> None:
    th.set_num_threads(1)
    lines = [
        "# Wall time of 10k CartPole-v1 steps (CPU, 1 torch thread)",
        "",
        "Command: `python benchmarks/learn_wall_time.py`",
        "",
        "| settings | updates | wall time (s) | load average during the run |",
        "|---|---|---|---|",
    ]
    for name, kwargs in (("defaults", {}), ("small (tests)", SMALL)):
        model = ARQ("MlpPolicy", "CartPole-v1", seed=0, device="cpu", **kwargs)
        start = time.perf_counter()
        model.learn(10_000)
        elapsed = time.perf_counter() - start
        lines.append(f"| {name} | {model._n_updates} | {elapsed:.1f} | {os.getloadavg()[0]:.1f} |")
    text = "\n".join(lines) + "\n"
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "learn-wall-time-cpu.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
