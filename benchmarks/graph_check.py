"""
The fast paths of ARQ beside the default ones, measured in the same run: the captured update (``graph_update``) and
the device-resident buffer against eager updates, ``ActingGraph`` (``graph_acting``) against ``predict``, and a
wall-clock training window with everything on against everything off.

    python benchmarks/graph_check.py --device cuda     # benchmarks/results/graph-check-cuda.{json,md}
    python benchmarks/graph_check.py --config small    # CPU: the same steps, eagerly (a check of the script itself)

On CPU nothing is captured (``CapturedStep`` runs eagerly), so the CPU numbers only show that the paths agree and run.

1. Agreement: two ARQ models from the same seed fill a ``DeviceContextReplayBuffer`` alike (``learning_starts``
   random steps), then one runs ``--updates`` eager updates, the other the same updates with ``graph_update`` (on a
   GPU: three eager ones, then graph replays); largest |difference| / largest |value| over all parameters.
2. Update time (median of ``--repeats`` after warm-up) and peak CUDA memory (everything allocated: the model, its Adam
   states, the buffer, the update): eager with the numpy buffer (the default), eager with the device buffer, captured
   with the device buffer.
3. Acting time per env step, 1 env: ``predict`` carrying the context, and ``ActingGraph`` (epsilon 0.01).
4. Training: ``learn`` for ``--seconds`` of wall time after the buffer is prefilled, env steps/s, default paths vs
   ``replay_buffer_class=DeviceContextReplayBuffer, graph_acting=True, graph_update=True``.
"""

import argparse
import json
import multiprocessing
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch as th

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.throughput import timed_ms

RESULTS = Path(__file__).parent / "results"
CONFIGS = {  # net_arch, batch size, as in throughput.py
    "breakout": {"net_arch": [400, 200, 200], "batch_size": 512},
    "small": {"net_arch": [64, 64, 64], "batch_size": 64},
}
PREFILL = 1000


def make_model(config: str, device: str, cell_product: str, device_buffer: bool, graph_acting: bool, graph_update: bool):
    """ARQ on MinAtar Breakout (or a stand-in env of its sizes) with the configuration's sizes, seed 0."""
    from benchmarks.throughput import CONFIGS as THROUGHPUT_CONFIGS
    from benchmarks.throughput import make_env
    from sb3_arq import ARQ
    from sb3_arq.arq.buffers import ContextReplayBuffer, DeviceContextReplayBuffer

    return ARQ(
        "MlpPolicy",
        make_env(THROUGHPUT_CONFIGS["MinAtar Breakout"]),
        buffer_size=100_000,
        learning_starts=PREFILL,
        batch_size=CONFIGS[config]["batch_size"],
        replay_buffer_class=DeviceContextReplayBuffer if device_buffer else ContextReplayBuffer,
        graph_acting=graph_acting,
        graph_update=graph_update,
        policy_kwargs={"net_arch": CONFIGS[config]["net_arch"], "cell_product": cell_product},
        device=device,
        seed=0,
    )


def peak_cuda_mb(device: str) -> float | None:
    return th.cuda.max_memory_allocated() / 2**20 if device == "cuda" else None


def measure(config: str, device: str, cell_product: str, threads: int, updates: int, repeats: int, seconds: float) -> dict:
    """Every measurement (run in a fresh process)."""
    from stable_baselines3.common.callbacks import BaseCallback

    from sb3_arq.arq.acting import ActingGraph

    th.set_num_threads(threads)
    batch_size = CONFIGS[config]["batch_size"]
    result = {}

    # 1. Agreement of the captured update with the eager one
    eager, graphed = (make_model(config, device, cell_product, True, False, graph_update) for graph_update in (False, True))
    for model in (eager, graphed):
        model.learn(PREFILL)
        model.train(updates, batch_size)
    pairs = [(a.detach(), b.detach()) for a, b in zip(eager.policy.parameters(), graphed.policy.parameters(), strict=True)]
    largest = max(a.abs().max().item() for a, _ in pairs)
    result["agreement_rel"] = max((a - b).abs().max().item() for a, b in pairs) / largest

    # 2. Update time and peak CUDA memory
    eager = None  # freed before the next models
    for label, model in (("numpy_eager", None), ("device_eager", None), ("device_graph", graphed)):
        if model is None:
            model = make_model(config, device, cell_product, label != "numpy_eager", False, False)
            model.learn(PREFILL)
        if device == "cuda":
            th.cuda.synchronize()
            th.cuda.reset_peak_memory_stats()
        result[f"update_ms_{label}"] = timed_ms(lambda model=model: model.train(1, batch_size), repeats, device)
        result[f"update_peak_cuda_mb_{label}"] = peak_cuda_mb(device)

    # 3. Acting, 1 env
    graphed = None
    model = make_model(config, device, cell_product, False, False, False)
    obs = model.observation_space.sample()[None]
    state = model.predict(obs, deterministic=True)[1]
    result["act_ms_predict"] = timed_ms(lambda: model.predict(obs, state, deterministic=True), 50, device)
    actor, start = ActingGraph(model.policy, 1, capture=device == "cuda"), np.zeros(1, dtype=bool)
    result["act_ms_graph"] = timed_ms(lambda: actor(obs, start, 0.01), 50, device)
    model = actor = None  # freed before the training windows

    # 4. A training window of `seconds`, after the prefill
    class StopAfter(BaseCallback):
        def _on_training_start(self) -> None:
            self.start, self.steps_at_start = time.perf_counter(), self.model.num_timesteps

        def _on_step(self) -> bool:
            return time.perf_counter() - self.start < seconds

    for label, fast in (("default", False), ("fast", True)):
        model = make_model(config, device, cell_product, fast, fast, fast)
        model.learn(PREFILL)
        stop = StopAfter()
        model.learn(10**9, callback=stop, reset_num_timesteps=False)
        steps = model.num_timesteps - stop.steps_at_start
        result[f"train_env_steps_per_s_{label}"] = steps / (time.perf_counter() - stop.start)
        result[f"train_updates_{label}"] = model._n_updates
    return result


def in_subprocess(*args) -> dict:
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(measure, args)


def fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def markdown(report: dict) -> str:
    r = report["result"]
    lines = [
        f"# Fast paths on {report['device_name']} ({report['device']})",
        "",
        f"Command: `{report['command']}`  ",
        f"torch {report['torch']}, {report['threads']} torch thread(s), configuration {report['config']} "
        f"({CONFIGS[report['config']]}), cell_product {report['cell_product']!r}, MinAtar Breakout (or a stand-in env "
        f"of its sizes), {PREFILL} random transitions prefilled. "
        + (
            "Captured paths are CUDA graphs."
            if report["device"] == "cuda"
            else "On CPU nothing is captured: the fast "
            "paths run eagerly, so only the agreement and that they run are shown here."
        ),
        "",
        f"Agreement after {report['updates']} updates, captured vs eager (device buffer, same seed): largest |difference| "
        f"/ largest |parameter| = {r['agreement_rel']:.2e}.",
        "",
        "| measurement | default | device buffer, eager | fast (captured) |",
        "|---|---|---|---|",
        f"| ms per update | {fmt(r['update_ms_numpy_eager'])} | {fmt(r['update_ms_device_eager'])} | "
        f"{fmt(r['update_ms_device_graph'])} |",
        f"| peak CUDA MB while updating | {fmt(r['update_peak_cuda_mb_numpy_eager'], 0)} | "
        f"{fmt(r['update_peak_cuda_mb_device_eager'], 0)} | {fmt(r['update_peak_cuda_mb_device_graph'], 0)} |",
        f"| ms per env step, acting, 1 env (predict / ActingGraph) | {fmt(r['act_ms_predict'])} | - | "
        f"{fmt(r['act_ms_graph'])} |",
        f"| training env steps/s over {report['seconds']:g} s (default / everything on) | "
        f"{fmt(r['train_env_steps_per_s_default'], 1)} | - | {fmt(r['train_env_steps_per_s_fast'], 1)} |",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--config", default="breakout", choices=list(CONFIGS))
    parser.add_argument("--cell-product", default="auto", help="policy_kwargs cell_product of every model")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--updates", type=int, default=20, help="updates before the parameters are compared")
    parser.add_argument("--repeats", type=int, default=20, help="timed updates (median)")
    parser.add_argument("--seconds", type=float, default=60.0, help="wall time of each training window")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder of the result files")
    args = parser.parse_args()
    device_name = th.cuda.get_device_name() if args.device == "cuda" else platform.processor() or platform.machine()
    options = (args.config, args.device, args.cell_product, args.threads, args.updates, args.repeats, args.seconds)
    report = {
        "command": " ".join(["python", *sys.argv]),
        "device": args.device,
        "device_name": device_name,
        "torch": th.__version__,
        "threads": args.threads,
        "config": args.config,
        "cell_product": args.cell_product,
        "updates": args.updates,
        "seconds": args.seconds,
        "result": in_subprocess(*options),
    }
    name = f"graph-check-{args.device}" + ("" if args.config == "breakout" else f"-{args.config}")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{name}.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.out / f"{name}.md").write_text(markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    main()
