"""
Where the time of one ARQ update goes: torch.profiler over a few updates at a published size.

    python benchmarks/profile_update.py --device cuda    # writes benchmarks/results/profile-cuda.txt
    python benchmarks/profile_update.py --config defaults --compile-update default --updates 200   # one CPU thread

The table lists the operators by total device time (self CPU time on CPU), and the header the number of kernel
launches per update, the measure of how launch-bound an update is. On CPU the header also splits an update into its
phases, timed without the profiler through the model's own ``ARQ._update``: sampling the batch, the cells' losses
(the forward passes, eager or compiled), and the rest (one backward pass, each cell's clipping and optimizer step);
medians of this thread's CPU time (``time.thread_time``: other processes on the machine do not inflate it).
"""

import statistics
import time

import torch as th
from common import CONFIGS, argument_parser, describe_run, make_arq, write_results
from torch.profiler import ProfilerActivity, profile


def phase_ms(model, updates: int) -> dict[str, float]:
    """Median thread CPU ms of an update's phases: "sample", "losses", "rest" and "update" (all of ``ARQ._update``)."""
    clock = time.thread_time
    times = {"sample": [], "losses": [], "update": []}
    sample, cell_losses = model.replay_buffer.sample, model._compiled_cell_losses or model._cell_losses

    def timed(name, fn):
        def call(*args, **kwargs):
            start = clock()
            result = fn(*args, **kwargs)
            times[name].append(clock() - start)
            return result

        return call

    model.replay_buffer.sample = timed("sample", sample)
    update, timed_losses = timed("update", model._update), timed("losses", cell_losses)
    try:
        for _ in range(updates):
            update(timed_losses, model.batch_size)
    finally:
        del model.replay_buffer.sample  # back to the class's method
    medians = {name: statistics.median(values) * 1e3 for name, values in times.items()}
    medians["rest"] = medians["update"] - medians["sample"] - medians["losses"]
    return medians


def main() -> None:
    parser = argument_parser(__doc__)
    parser.add_argument("--config", default="breakout", choices=list(CONFIGS), help="the configuration (common.py)")
    parser.add_argument("--updates", type=int, default=5)
    parser.add_argument("--compile-update", default=None, help="ARQ's compile_update mode")
    parser.add_argument("--threads", type=int, default=1, help="torch threads on CPU (the phases time this thread only)")
    args = parser.parse_args()
    if args.device == "cpu":
        th.set_num_threads(args.threads)

    model = make_arq(args.config, args.device, compile_update=args.compile_update)
    for _ in range(3):  # warm-up (and compilation)
        model.train(1, model.batch_size)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if args.device == "cuda" else [])
    with profile(activities=activities) as prof:
        for _ in range(args.updates):
            model.train(1, model.batch_size)
        if args.device == "cuda":
            th.cuda.synchronize()
    sort_by = "cuda_time_total" if args.device == "cuda" else "self_cpu_time_total"
    kernels = sum(e.count for e in prof.events() if e.device_type == th.autograd.DeviceType.CUDA) / args.updates
    header = (
        f"{describe_run(args.device)['command']}\n"
        f"torch {th.__version__}, {args.updates} updates profiled, {kernels:.0f} device kernels per update\n\n"
    )
    if args.device == "cpu":
        phases = phase_ms(model, args.updates)
        header += (
            f"Phases of one update ({th.get_num_threads()} torch thread(s); median thread CPU time of {args.updates} "
            f"updates, without the profiler): sampling {phases['sample']:.3f} ms, the cells' losses {phases['losses']:.3f} "
            f"ms, backward + clipping + optimizer steps {phases['rest']:.3f} ms; all of _update {phases['update']:.3f} ms\n\n"
        )
    text = header + prof.key_averages().table(sort_by=sort_by, row_limit=30, max_name_column_width=60)
    name = f"profile-{args.device}" + (f"-{args.compile_update}" if args.compile_update else "")
    write_results(args, name, text, suffix=".txt")


if __name__ == "__main__":
    main()
