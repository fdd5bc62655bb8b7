"""
Training and acting throughput of ARQ beside SB3's DQN, at the published sizes (docs/algorithm.md,
"10. Published settings").

    python benchmarks/throughput.py                  # CPU: writes benchmarks/results/throughput-cpu.{json,md}
    python benchmarks/throughput.py --device cuda    # GPU: throughput-cuda.{json,md}

Per configuration, in a fresh process (so that its peak memory is its own): the buffer is filled with random
transitions, then one update (all cells, connections through time on) is timed, and beside it, on the same
observation and action sizes and batch, one update of SB3's DQN with the same widths and one with about as many
parameters as ARQ. Every ARQ timing is also given as a ratio to DQN's, measured in the same run. For Breakout also:
the update with the connections through time off, and the naive spec implementation of the tests (batch tiled over
actions, M materialised and standardised in a second pass). Acting is ``predict`` for 1 and 8 envs carrying the
context; env steps/s is a short ``learn`` with updates every 4 steps. torch's thread count is measured (1 vs 2 on the
small configuration) and the faster one used throughout.
"""

import argparse
import json
import multiprocessing
import platform
import resource
import sys
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch as th

RESULTS = Path(__file__).parent / "results"
CONFIGS = {
    "MinAtar Breakout": {"env": "MinAtar/Breakout-v1", "net_arch": [400, 200, 200], "batch_size": 512, "naive": True},
    "MinAtar Seaquest": {"env": "MinAtar/Seaquest-v1", "net_arch": [400, 200, 200], "batch_size": 512},
    "DMC walker-walk": {
        "env": "dm_control/walker-walk-v0",
        "net_arch": [128, 96, 96],
        "batch_size": 512,
        "sizes": (24, 64),  # of the stand-in env, where dm_control is not installed
        "action_encoding": "binary",  # the +-1 code of the bang-bang actions
    },
    "small (CPU)": {"env": "MinAtar/Breakout-v1", "net_arch": [64, 64, 64], "batch_size": 64},
}
PREFILL = 1000  # random transitions in the buffer before timing
LEARN_STEPS = 40  # env steps of the timed learn() (one update every 4)


class StandInEnv(gym.Env):
    """
    Random observations of a task's sizes, for a machine without its simulator (the update cost is the same).
    ARQ is told the task's action code (``action_encoding`` of the config), which ``"auto"`` cannot see here.
    """

    def __init__(self, obs_dim: int, n_actions: int):
        self.observation_space = gym.spaces.Box(-1.0, 1.0, (obs_dim,), np.float32)
        self.action_space = gym.spaces.Discrete(n_actions)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        return self.observation_space.sample(), {}

    def step(self, action: int):
        return self.observation_space.sample(), 1.0, False, False, {}


def make_env(config: dict) -> gym.Env:
    from sb3_arq.envs import BangBangWrapper, FlattenDictObservation

    if config["env"] not in gym.registry:
        return StandInEnv(*config["sizes"])
    env = gym.make(config["env"])
    if config["env"].startswith("dm_control/"):
        env = BangBangWrapper(FlattenDictObservation(env))
    return env


def timed_ms(fn, repeats: int, device: str) -> float:
    """Median wall time of fn() in milliseconds, after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        if device == "cuda":
            th.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device == "cuda":
            th.cuda.synchronize()
        times.append((time.perf_counter() - start) * 1000)
    return float(np.median(times))


def dqn_width_for(n_params: int, obs_dim: int, n_actions: int, depth: int = 3) -> int:
    """Width w of a depth-layer DQN MLP [w] * depth whose parameter count is closest to n_params."""

    def count(w: int) -> int:
        return obs_dim * w + w + (depth - 1) * (w * w + w) + w * n_actions + n_actions

    return min(range(8, 8192), key=lambda w: abs(count(w) - n_params))


def naive_update_ms(model, repeats: int, device: str) -> float:
    """
    One update of the naive implementation (sb3_arq/naive.py, the tests' oracle; float32, Adam per cell,
    clipping) on the model's batch.
    """
    from sb3_arq.naive import naive_codes, naive_td_losses

    online = [{k: v.detach().clone().requires_grad_(True) for k, v in c.state_dict().items()} for c in model.q_net.cells]
    target = [{k: v.detach().clone() for k, v in cell.state_dict().items()} for cell in model.q_net_target.cells]
    optimizers = [th.optim.Adam(params.values(), lr=1e-4, betas=(0.9, 0.99)) for params in online]
    codes = naive_codes(model.action_space.n, "onehot").float().to(device)

    def update() -> None:
        data = model.replay_buffer.sample(model.batch_size)
        for params, loss, optimizer in zip(
            online, naive_td_losses(online, target, data, 0.99, codes, 8), optimizers, strict=True
        ):
            optimizer.zero_grad()
            loss.backward()
            th.nn.utils.clip_grad_norm_(params.values(), 1.0)
            optimizer.step()

    return timed_ms(update, repeats, device)


def measure(name: str, device: str, threads: int, repeats: int, compile_update: str | None, tf32: bool) -> dict:
    """All measurements of one configuration (run in its own process)."""
    from stable_baselines3 import DQN

    from sb3_arq import ARQ
    from sb3_arq.arq.acting import ActingGraph

    th.set_num_threads(threads)
    th.backends.cuda.matmul.allow_tf32 = tf32
    config = CONFIGS[name]
    batch_size, net_arch = config["batch_size"], config["net_arch"]
    common = {"buffer_size": 20_000, "learning_starts": PREFILL, "batch_size": batch_size, "device": device, "seed": 0}
    arq_kwargs = {**common, "compile_update": compile_update}
    stand_in = isinstance(make_env(config), StandInEnv)
    result = {"config": name, "env": config["env"] + (" (stand-in)" if stand_in else ""), "net_arch": net_arch}

    def arq(**policy_kwargs) -> ARQ:
        policy_kwargs = {"net_arch": net_arch, "action_encoding": config.get("action_encoding", "auto"), **policy_kwargs}
        model = ARQ("MlpPolicy", make_env(config), **arq_kwargs, policy_kwargs=policy_kwargs)
        model.learn(PREFILL)
        return model

    model = arq()
    result["arq_params"] = sum(p.numel() for p in model.q_net.cells.parameters())
    result["arq_update_ms"] = timed_ms(lambda: model.train(1, batch_size), repeats, device)
    obs = np.stack([model.observation_space.sample() for _ in range(8)])
    state = model.predict(obs, deterministic=True)[1]
    state_1env = tuple(h[:1] for h in state)
    result["arq_act_ms_1env"] = timed_ms(lambda: model.predict(obs[:1], state_1env, deterministic=True), 20, device)
    result["arq_act_ms_8envs"] = timed_ms(lambda: model.predict(obs, state, deterministic=True), 20, device)
    for n_envs in (1, 8):  # the same step through ActingGraph (graph_acting=True), a CUDA graph replay on a GPU
        actor = ActingGraph(model.policy, n_envs, capture=device == "cuda")
        starts = np.zeros(n_envs, dtype=bool)
        result[f"arq_graph_act_ms_{n_envs}env{'s' if n_envs > 1 else ''}"] = timed_ms(
            lambda actor=actor, starts=starts: actor(obs[: len(starts)], starts, 0.01), 20, device
        )
    start = time.perf_counter()
    model.learn(LEARN_STEPS, reset_num_timesteps=False)
    result["arq_env_steps_per_s"] = LEARN_STEPS / (time.perf_counter() - start)
    model.graph_acting = True
    model.learn(4, reset_num_timesteps=False)  # builds (on a GPU: captures) the acting graph
    start = time.perf_counter()
    model.learn(LEARN_STEPS, reset_num_timesteps=False)
    result["arq_graph_env_steps_per_s"] = LEARN_STEPS / (time.perf_counter() - start)
    obs_dim, n_actions = int(np.prod(model.observation_space.shape)), int(model.action_space.n)
    if config.get("naive"):
        result["naive_update_ms"] = naive_update_ms(model, repeats, device)
        feed_forward = arq(recurrent_connections=False, forward_connections=False)
        result["arq_update_ms_no_context"] = timed_ms(lambda: feed_forward.train(1, batch_size), repeats, device)

    for label, arch in (("dqn", net_arch), ("dqn_eq_params", [dqn_width_for(result["arq_params"], obs_dim, n_actions)] * 3)):
        dqn = DQN("MlpPolicy", make_env(config), **common, policy_kwargs={"net_arch": arch})
        dqn.learn(PREFILL)
        result[f"{label}_net_arch"] = arch
        result[f"{label}_params"] = sum(p.numel() for p in dqn.q_net.parameters())
        result[f"{label}_update_ms"] = timed_ms(lambda dqn=dqn: dqn.train(1, batch_size), repeats, device)
        if label == "dqn":
            result["dqn_act_ms_1env"] = timed_ms(lambda dqn=dqn: dqn.predict(obs[:1], deterministic=True), 20, device)
            result["dqn_act_ms_8envs"] = timed_ms(lambda dqn=dqn: dqn.predict(obs, deterministic=True), 20, device)
        del dqn
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if device == "cuda":
        result["cuda_max_allocated_mb"] = th.cuda.max_memory_allocated() / 2**20
    return result


def in_subprocess(*args) -> dict:
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(measure, args)


def cuda_memory(result: dict) -> str:
    return f" (CUDA {result['cuda_max_allocated_mb']:.0f})" if "cuda_max_allocated_mb" in result else ""


def markdown(report: dict) -> str:
    lines = [
        f"# Throughput on {report['device_name']} ({report['device']})",
        "",
        f"Command: `{report['command']}`  ",
        f"torch {report['torch']}, {report['threads']} torch thread(s) ({report['thread_choice']}), "
        f"{PREFILL} transitions prefilled, median of {report['repeats']} timed updates after one warm-up, "
        f"ARQ compile_update={report['compile_update']}, TF32 matmuls={report['tf32']}. A stand-in env has random "
        "observations of the task's sizes (its simulator is not installed there): its update costs are the task's, its "
        "env steps/s are not.",
        "",
        "ARQ: all cells, connections through time on (context 10). DQN: SB3 DQN on the same observations, actions and "
        "batch, with the same widths, and with about ARQ's parameter count. xDQN = ARQ time / DQN time (same widths).",
        "",
        "| configuration | ARQ params | ARQ ms/update | xDQN | xDQN equal params | ARQ env steps/s (training) | "
        "4M steps (h) | DQN ms/update | DQN equal params (arch) ms/update | act ms 1 env (xDQN) | act ms 8 envs (xDQN) | "
        "peak RSS MB |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["results"]:
        lines.append(
            f"| {r['config']} | {r['arq_params'] / 1e6:.2f}M | {r['arq_update_ms']:.1f} | "
            f"{r['arq_update_ms'] / r['dqn_update_ms']:.1f} | {r['arq_update_ms'] / r['dqn_eq_params_update_ms']:.1f} | "
            f"{r['arq_env_steps_per_s']:.1f} | {4e6 / r['arq_env_steps_per_s'] / 3600:.1f} | {r['dqn_update_ms']:.2f} | "
            f"{r['dqn_eq_params_update_ms']:.1f} ({r['dqn_eq_params_net_arch'][0]}x3, {r['dqn_eq_params_params'] / 1e6:.1f}M) "
            f"| {r['arq_act_ms_1env']:.2f} ({r['arq_act_ms_1env'] / r['dqn_act_ms_1env']:.1f}) | {r['arq_act_ms_8envs']:.2f} "
            f"({r['arq_act_ms_8envs'] / r['dqn_act_ms_8envs']:.1f}) | {r['peak_rss_mb']:.0f}{cuda_memory(r)} |"
        )
    lines += [
        "",
        "Acting through `ActingGraph` (`graph_acting=True`: one static-tensor step, a CUDA graph replay on a GPU, "
        "epsilon 0.01 on the device) beside `predict` (above):",
        "",
    ]
    for r in report["results"]:
        lines.append(
            f"- {r['config']}: {r['arq_graph_act_ms_1env']:.2f} ms 1 env (predict {r['arq_act_ms_1env']:.2f}), "
            f"{r['arq_graph_act_ms_8envs']:.2f} ms 8 envs (predict {r['arq_act_ms_8envs']:.2f}); training "
            f"{r['arq_graph_env_steps_per_s']:.1f} env steps/s (without: {r['arq_env_steps_per_s']:.1f})"
        )
    for r in report["results"]:
        if "naive_update_ms" in r:
            lines += [
                "",
                f"{r['config']}: naive spec implementation {r['naive_update_ms']:.1f} ms/update, ARQ "
                f"{r['arq_update_ms']:.1f} ms: {r['naive_update_ms'] / r['arq_update_ms']:.2f}x faster. "
                f"Connections through time off: {r['arq_update_ms_no_context']:.1f} ms/update "
                f"({r['arq_update_ms'] / r['arq_update_ms_no_context']:.2f}x less than with the context).",
            ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--repeats", type=int, default=3, help="timed updates per measurement (median)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: measure 1 and 2, use the faster)")
    parser.add_argument("--configs", nargs="*", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--compile-update", default=None, help="ARQ's compile_update mode, e.g. default, reduce-overhead")
    parser.add_argument("--tf32", action="store_true", help="allow TF32 matmuls on GPU (ARQ and DQN)")
    parser.add_argument("--tag", default="", help="suffix of the result files' names")
    args = parser.parse_args()
    options = (args.repeats, args.compile_update, args.tf32)

    if args.threads:
        threads, choice = args.threads, "set by --threads"
    else:
        small = {n: in_subprocess("small (CPU)", args.device, n, *options)["arq_update_ms"] for n in (1, 2)}
        threads = min(small, key=small.get)
        choice = f"measured on the small configuration: 1 thread {small[1]:.1f} ms/update, 2 threads {small[2]:.1f}"
    device_name = th.cuda.get_device_name() if args.device == "cuda" else platform.processor() or platform.machine()
    name = f"throughput-{args.device}" + (f"-{args.tag}" if args.tag else "")
    report = {
        "command": "python " + " ".join(sys.argv),
        "device": args.device,
        "device_name": device_name,
        "torch": th.__version__,
        "threads": threads,
        "thread_choice": choice,
        "repeats": args.repeats,
        "compile_update": args.compile_update,
        "tf32": args.tf32,
        "results": [in_subprocess(config, args.device, threads, *options) for config in args.configs],
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(report, indent=2) + "\n")
    (RESULTS / f"{name}.md").write_text(markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    main()
