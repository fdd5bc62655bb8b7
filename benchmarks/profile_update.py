"""
Where the time of one ARQ update goes: torch.profiler over a few updates at a published size.

    python benchmarks/profile_update.py --device cuda    # writes benchmarks/results/profile-cuda.txt

The table lists the operators by total device time (self CPU time on CPU), and the header the number of kernel
launches per update, the measure of how launch-bound an update is.
"""

import torch as th
from common import CONFIGS, argument_parser, describe_run, make_arq, write_results
from torch.profiler import ProfilerActivity, profile


def main() -> None:
    parser = argument_parser(__doc__)
    parser.add_argument("--config", default="breakout", choices=list(CONFIGS), help="the configuration (common.py)")
    parser.add_argument("--updates", type=int, default=5)
    parser.add_argument("--compile-update", default=None, help="ARQ's compile_update mode")
    args = parser.parse_args()

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
    text = header + prof.key_averages().table(sort_by=sort_by, row_limit=30, max_name_column_width=60)
    name = f"profile-{args.device}" + (f"-{args.compile_update}" if args.compile_update else "")
    write_results(args, name, text, suffix=".txt")


if __name__ == "__main__":
    main()
