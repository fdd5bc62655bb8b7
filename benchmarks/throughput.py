"""
Training and acting throughput of ARQ beside SB3's DQN, at the published sizes (docs/algorithm.md,
"10. Published settings"; the configurations of ``common.py``).

    python benchmarks/throughput.py                  # CPU: writes benchmarks/results/throughput-cpu.{json,md}
    python benchmarks/throughput.py --device cuda    # GPU: throughput-cuda.{json,md}
    python benchmarks/throughput.py --configs small --threads 1 --repeats 1 --tag small   # a quick check

Per configuration, in a fresh process (so that its peak memory is its own): the buffer is filled with random
transitions, then one update (all cells, connections through time on) is timed, and beside it, on the same
observation and action sizes and batch, one update of SB3's DQN with the same widths and one with about as many
parameters as ARQ. Every ARQ timing is also given as a ratio to DQN's, measured in the same run. For Breakout also:
the update with the connections through time off, and the naive spec implementation of the tests (batch tiled over
actions, M materialised and standardised in a second pass). Acting is ``predict`` for 1 and 8 envs carrying the
context, and the same step through ``ActingGraph`` (``graph_acting=True``); env steps/s is a short ``learn`` with
updates every 4 steps, with the default acting path and with ``graph_acting=True``. torch's thread count is measured
(1 vs 2 on the small configuration) unless ``--threads`` sets it, and the faster one used throughout.
"""

import time

import numpy as np
import torch as th
from common import (
    BUFFER_SIZE,
    CONFIGS,
    PREFILL,
    StandInEnv,
    argument_parser,
    describe_run,
    in_subprocess,
    make_arq,
    make_env,
    markdown_header,
    median_ms,
    peak_cuda_mb,
    peak_rss_mb,
    write_results,
)
from stable_baselines3 import DQN

from sb3_arq.arq.acting import ActingGraph
from sb3_arq.naive import naive_codes, naive_td_losses

LEARN_STEPS = 40  # env steps of the timed learn() (one update every 4)
NAIVE = "breakout"  # the configuration also timed with the naive implementation and without connections through time


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

    return median_ms(update, repeats, device)


def env_steps_per_s(model) -> float:
    """Env steps per second of ``learn(LEARN_STEPS)`` after the prefill (one update every 4 steps)."""
    start = time.perf_counter()
    model.learn(LEARN_STEPS, reset_num_timesteps=False)
    return LEARN_STEPS / (time.perf_counter() - start)


def measure(config: str, device: str, threads: int, repeats: int, compile_update: str | None, tf32: bool) -> dict:
    """All measurements of one configuration (run in its own process)."""
    th.set_num_threads(threads)
    th.backends.cuda.matmul.allow_tf32 = tf32
    batch_size, net_arch = CONFIGS[config]["batch_size"], CONFIGS[config]["net_arch"]
    env = make_env(config)
    env_name = CONFIGS[config]["env"] + (" (stand-in)" if isinstance(env, StandInEnv) else "")
    result = {"config": CONFIGS[config]["name"], "env": env_name, "net_arch": net_arch}

    model = make_arq(config, device, compile_update=compile_update)
    result["arq_params"] = sum(p.numel() for p in model.q_net.cells.parameters())
    result["arq_update_ms"] = median_ms(lambda: model.train(1, batch_size), repeats, device)
    obs = np.stack([model.observation_space.sample() for _ in range(8)])
    state = model.predict(obs, deterministic=True)[1]
    state_1env = tuple(h[:1] for h in state)
    result["arq_act_ms_1env"] = median_ms(lambda: model.predict(obs[:1], state_1env, deterministic=True), 20, device)
    result["arq_act_ms_8envs"] = median_ms(lambda: model.predict(obs, state, deterministic=True), 20, device)
    for n_envs in (1, 8):  # the same step through ActingGraph (graph_acting=True), a CUDA graph replay on a GPU
        actor = ActingGraph(model.policy, n_envs, capture=device == "cuda")
        starts = np.zeros(n_envs, dtype=bool)
        result[f"arq_graph_act_ms_{n_envs}env{'s' if n_envs > 1 else ''}"] = median_ms(
            lambda actor=actor, starts=starts: actor(obs[: len(starts)], starts, 0.01), 20, device
        )
    result["arq_env_steps_per_s"] = env_steps_per_s(model)
    if config == NAIVE:
        result["naive_update_ms"] = naive_update_ms(model, repeats, device)
    model = None  # freed before the next ARQ models
    graph_acting = make_arq(config, device, compile_update=compile_update, graph_acting=True)  # its prefill captures
    result["arq_graph_env_steps_per_s"] = env_steps_per_s(graph_acting)
    graph_acting = None
    if config == NAIVE:
        feed_forward = make_arq(
            config, device, {"recurrent_connections": False, "forward_connections": False}, compile_update=compile_update
        )
        result["arq_update_ms_no_context"] = median_ms(lambda: feed_forward.train(1, batch_size), repeats, device)
        feed_forward = None

    dqn_kwargs = {
        "buffer_size": BUFFER_SIZE,
        "learning_starts": PREFILL,
        "batch_size": batch_size,
        "device": device,
        "seed": 0,
    }
    obs_dim, n_actions = int(np.prod(env.observation_space.shape)), int(env.action_space.n)
    for label, arch in (("dqn", net_arch), ("dqn_eq_params", [dqn_width_for(result["arq_params"], obs_dim, n_actions)] * 3)):
        dqn = DQN("MlpPolicy", make_env(config), **dqn_kwargs, policy_kwargs={"net_arch": arch})
        dqn.learn(PREFILL)
        result[f"{label}_net_arch"] = arch
        result[f"{label}_params"] = sum(p.numel() for p in dqn.q_net.parameters())
        result[f"{label}_update_ms"] = median_ms(lambda dqn=dqn: dqn.train(1, batch_size), repeats, device)
        if label == "dqn":
            result["dqn_act_ms_1env"] = median_ms(lambda dqn=dqn: dqn.predict(obs[:1], deterministic=True), 20, device)
            result["dqn_act_ms_8envs"] = median_ms(lambda dqn=dqn: dqn.predict(obs, deterministic=True), 20, device)
        dqn = None
    result["peak_rss_mb"] = peak_rss_mb()
    result["cuda_max_allocated_mb"] = peak_cuda_mb(device)
    return result


def cuda_memory(result: dict) -> str:
    return f" (CUDA {result['cuda_max_allocated_mb']:.0f})" if result.get("cuda_max_allocated_mb") else ""


def markdown(report: dict) -> str:
    lines = [
        *markdown_header("Throughput", report),
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
    parser = argument_parser(__doc__)
    parser.add_argument("--repeats", type=int, default=3, help="timed updates per measurement (median)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: measure 1 and 2, use the faster)")
    parser.add_argument("--configs", nargs="*", default=["breakout", "seaquest", "walker", "small"], choices=list(CONFIGS))
    parser.add_argument("--compile-update", default=None, help="ARQ's compile_update mode, e.g. default, reduce-overhead")
    parser.add_argument("--tf32", action="store_true", help="allow TF32 matmuls on GPU (ARQ and DQN)")
    args = parser.parse_args()
    options = (args.repeats, args.compile_update, args.tf32)

    if args.threads:
        threads, choice = args.threads, "set by --threads"
    else:
        small = {n: in_subprocess(measure, "small", args.device, n, *options)["arq_update_ms"] for n in (1, 2)}
        threads = min(small, key=small.get)
        choice = f"measured on the small configuration: 1 thread {small[1]:.1f} ms/update, 2 threads {small[2]:.1f}"
    report = {
        **describe_run(args.device),
        "threads": threads,
        "thread_choice": choice,
        "repeats": args.repeats,
        "compile_update": args.compile_update,
        "tf32": args.tf32,
        "results": [in_subprocess(measure, config, args.device, threads, *options) for config in args.configs],
    }
    write_results(args, f"throughput-{args.device}", markdown(report), report)


if __name__ == "__main__":
    main()
