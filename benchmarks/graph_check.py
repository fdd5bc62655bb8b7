"""
The fast paths of ARQ beside the default ones, measured in the same run: the captured update (``graph_update``) and
the device-resident buffer against eager updates, and a wall-clock training window with everything on against
everything off. Acting through ``ActingGraph`` beside ``predict`` is measured by ``throughput.py``.

    python benchmarks/graph_check.py --device cuda     # benchmarks/results/graph-check-cuda.{json,md}
    python benchmarks/graph_check.py --config small    # CPU: the same steps, eagerly (a check of the script itself)

On CPU nothing is captured (``CapturedUpdate`` runs eagerly), so the CPU numbers only show that the paths agree and
run.

1. Agreement: two ARQ models from the same seed fill a ``DeviceContextReplayBuffer`` alike (``PREFILL`` random
   steps), then one runs ``--updates`` eager updates, the other the same updates with ``graph_update`` (on a GPU:
   three eager ones, then graph replays); largest |difference| / largest |value| over all parameters.
2. Update time (median of ``--repeats`` after warm-up) and peak CUDA memory (everything allocated: the model, its Adam
   states, the buffer, the update): eager with the numpy buffer (the default), eager with the device buffer, captured
   with the device buffer.
3. Training: ``learn`` for ``--seconds`` of wall time after the buffer is prefilled, env steps/s, default paths vs
   ``replay_buffer_class=DeviceContextReplayBuffer, graph_acting=True, graph_update=True``.
"""

import time

import torch as th
from common import (
    CONFIGS,
    PREFILL,
    argument_parser,
    describe_run,
    in_subprocess,
    make_arq,
    markdown_header,
    median_ms,
    peak_cuda_mb,
    reset_peak_cuda,
    write_results,
)
from stable_baselines3.common.callbacks import BaseCallback

from sb3_arq.arq.buffers import ContextReplayBuffer, DeviceContextReplayBuffer

BUFFER_SIZE = 100_000  # common.BUFFER_SIZE is 20,000: the training windows collect more steps than the other measurements


def make_model(config: str, device: str, cell_product: str, device_buffer: bool, graph_acting: bool, graph_update: bool):
    """ARQ at the configuration (buffer prefilled), with the device buffer or not, graph_acting and graph_update."""
    return make_arq(
        config,
        device,
        {"cell_product": cell_product},
        buffer_size=BUFFER_SIZE,
        replay_buffer_class=DeviceContextReplayBuffer if device_buffer else ContextReplayBuffer,
        graph_acting=graph_acting,
        graph_update=graph_update,
    )


class StopAfter(BaseCallback):
    """Stops ``learn`` after ``seconds`` of wall time."""

    def __init__(self, seconds: float):
        super().__init__()
        self.seconds = seconds

    def _on_training_start(self) -> None:
        self.start, self.steps_at_start = time.perf_counter(), self.model.num_timesteps

    def _on_step(self) -> bool:
        return time.perf_counter() - self.start < self.seconds


def measure(config: str, device: str, cell_product: str, threads: int, updates: int, repeats: int, seconds: float) -> dict:
    """Every measurement (run in a fresh process)."""
    th.set_num_threads(threads)
    batch_size = CONFIGS[config]["batch_size"]
    result = {}

    # 1. Agreement of the captured update with the eager one
    eager, graphed = (make_model(config, device, cell_product, True, False, graph_update) for graph_update in (False, True))
    for model in (eager, graphed):
        model.train(updates, batch_size)
    pairs = [(a.detach(), b.detach()) for a, b in zip(eager.policy.parameters(), graphed.policy.parameters(), strict=True)]
    largest = max(a.abs().max().item() for a, _ in pairs)
    result["agreement_rel"] = max((a - b).abs().max().item() for a, b in pairs) / largest

    # 2. Update time and peak CUDA memory
    eager = None  # freed before the next models
    for label, model in (("numpy_eager", None), ("device_eager", None), ("device_graph", graphed)):
        if model is None:
            model = make_model(config, device, cell_product, label != "numpy_eager", False, False)
        reset_peak_cuda(device)
        result[f"update_ms_{label}"] = median_ms(lambda model=model: model.train(1, batch_size), repeats, device)
        result[f"update_peak_cuda_mb_{label}"] = peak_cuda_mb(device)
    model = graphed = None  # freed before the training windows

    # 3. A training window of `seconds`, after the prefill
    for label, fast in (("default", False), ("fast", True)):
        model = make_model(config, device, cell_product, fast, fast, fast)
        stop = StopAfter(seconds)
        model.learn(10**9, callback=stop, reset_num_timesteps=False)
        steps = model.num_timesteps - stop.steps_at_start
        result[f"train_env_steps_per_s_{label}"] = steps / (time.perf_counter() - stop.start)
        result[f"train_updates_{label}"] = model._n_updates
    return result


def fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def markdown(report: dict) -> str:
    r, config = report["result"], CONFIGS[report["config"]]
    lines = [
        *markdown_header("Fast paths", report),
        f"torch {report['torch']}, {report['threads']} torch thread(s), configuration {config['name']} ({config['env']} "
        f"or a stand-in env of its sizes, widths {config['net_arch']}, batch {config['batch_size']}), cell_product "
        f"{report['cell_product']!r}, {PREFILL} random transitions prefilled. "
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
        f"| training env steps/s over {report['seconds']:g} s (default / everything on) | "
        f"{fmt(r['train_env_steps_per_s_default'], 1)} | - | {fmt(r['train_env_steps_per_s_fast'], 1)} |",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argument_parser(__doc__)
    parser.add_argument("--config", default="breakout", choices=list(CONFIGS), help="the configuration (common.py)")
    parser.add_argument("--cell-product", default="auto", help="policy_kwargs cell_product of every model")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--updates", type=int, default=20, help="updates before the parameters are compared")
    parser.add_argument("--repeats", type=int, default=20, help="timed updates (median)")
    parser.add_argument("--seconds", type=float, default=60.0, help="wall time of each training window")
    args = parser.parse_args()
    options = (args.config, args.device, args.cell_product, args.threads, args.updates, args.repeats, args.seconds)
    report = {
        **describe_run(args.device),
        "threads": args.threads,
        "config": args.config,
        "cell_product": args.cell_product,
        "updates": args.updates,
        "seconds": args.seconds,
        "result": in_subprocess(measure, *options),
    }
    name = f"graph-check-{args.device}" + ("" if args.config == "breakout" else f"-{args.config}")
    write_results(args, name, markdown(report), report)


if __name__ == "__main__":
    main()
