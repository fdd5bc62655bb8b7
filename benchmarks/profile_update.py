"""
Where the time of one ARQ update goes: torch.profiler over a few updates at a published size.

    python benchmarks/profile_update.py --device cuda    # writes benchmarks/results/profile-cuda.txt

The table lists the operators by total device time (self CPU time on CPU), and the header the number of kernel
launches per update, the measure of how launch-bound an update is.
"""

import argparse
from pathlib import Path

import torch as th
from throughput import CONFIGS, PREFILL, make_env
from torch.profiler import ProfilerActivity, profile

RESULTS = Path(__file__).parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--config", default="MinAtar Breakout", choices=list(CONFIGS))
    parser.add_argument("--updates", type=int, default=5)
    parser.add_argument("--compile-update", default=None, help="ARQ's compile_update mode")
    args = parser.parse_args()

    from sb3_arq import ARQ

    config = CONFIGS[args.config]
    model = ARQ(
        "MlpPolicy",
        make_env(config),
        buffer_size=20_000,
        learning_starts=PREFILL,
        batch_size=config["batch_size"],
        compile_update=args.compile_update,
        policy_kwargs={"net_arch": config["net_arch"]},
        device=args.device,
        seed=0,
    )
    model.learn(PREFILL)
    for _ in range(3):  # warm-up (and compilation)
        model.train(1, config["batch_size"])
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if args.device == "cuda" else [])
    with profile(activities=activities) as prof:
        for _ in range(args.updates):
            model.train(1, config["batch_size"])
        if args.device == "cuda":
            th.cuda.synchronize()
    events = prof.key_averages()
    sort_by = "cuda_time_total" if args.device == "cuda" else "self_cpu_time_total"
    kernels = sum(e.count for e in prof.events() if e.device_type == th.autograd.DeviceType.CUDA) / args.updates
    header = (
        f"python benchmarks/profile_update.py --device {args.device} --config '{args.config}'"
        + (f" --compile-update {args.compile_update}" if args.compile_update else "")
        + f"\ntorch {th.__version__}, {args.updates} updates profiled, {kernels:.0f} device kernels per update\n\n"
    )
    RESULTS.mkdir(exist_ok=True)
    suffix = f"-{args.compile_update}" if args.compile_update else ""
    text = header + events.table(sort_by=sort_by, row_limit=30, max_name_column_width=60)
    (RESULTS / f"profile-{args.device}{suffix}.txt").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
