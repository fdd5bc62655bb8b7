"""
Peak memory and time of the cell product alone, y = tanh(Z2n^T Z1c) h, per implementation, on CPU.

    python benchmarks/cell_product_memory.py    # writes benchmarks/results/cell-product-memory-cpu.{json,md}

At the published MinAtar Breakout sizes (batch 512, 3 actions, widths 400/200/200, 8 heads), one training update's
products per cell: every action of the next states under no_grad (the TD target), the taken action with autograd,
then the backward pass. Only the product: the projections, standardisation, goodness and optimizers of the cells are
not run, so the numbers are not those of a whole update. Each implementation runs in a fresh process, so its peak
RSS (ru_maxrss) is its own; the RSS before the first product (inputs made, torch loaded) is given beside it. The
implementations take turns for several rounds (a fresh process each time) and the fastest update of each is
reported beside the median, so that load from other processes on a shared machine weighs on all alike.
"""

import argparse
import json
import multiprocessing
import os
import platform
import resource
import statistics
import sys
import time
from pathlib import Path

import torch as th

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
RESULTS = Path(__file__).parent / "results"
BATCH, N_ACTIONS, N_HEADS = 512, 3, 8
WIDTHS = (400, 200, 200)  # the cells' widths d; their inputs (1000, 1200, 800) do not enter the product


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cell_inputs(width: int, generator: th.Generator) -> dict:
    """One cell's product inputs: all actions of the next states, and the taken actions (leaves with gradients)."""

    def operands(*lead):
        z1 = th.randn(*lead, N_HEADS, width, generator=generator)
        z2n = th.randn(*lead, N_HEADS, width, generator=generator) / N_HEADS**0.5
        return z1 - z1.mean(dim=-1, keepdim=True), z2n

    next_z1c, next_z2n = operands(BATCH, N_ACTIONS)
    z1c, z2n = operands(BATCH)
    return {
        "next": (next_z1c, next_z2n, th.randn(BATCH, 1, width, generator=generator)),
        "taken": [t.requires_grad_() for t in (z1c, z2n, th.randn(BATCH, width, generator=generator))],
    }


def measure(impl: str, chunk_mib: int, threads: int, repeats: int) -> dict:
    """Time and peak RSS of ``repeats`` updates' products (run in a process of its own)."""
    from sb3_arq.kernels import tanh_product

    th.set_num_threads(threads)
    generator = th.Generator().manual_seed(0)
    cells = [cell_inputs(width, generator) for width in WIDTHS]
    kwargs = {"chunk_bytes": chunk_mib * 2**20} if impl == "chunked" else {}
    rss_before = peak_rss_mb()

    def update() -> None:
        for cell in cells:
            with th.no_grad():
                target = tanh_product(*cell["next"], impl, **kwargs).square().mean(dim=-1).amax(dim=-1)
            y = tanh_product(*cell["taken"], impl, **kwargs)
            loss = (y.square().mean(dim=-1) - target).square().mean()
            th.autograd.grad(loss, cell["taken"])

    times = []
    for _ in range(repeats + 1):  # the first is a warm-up
        start = time.perf_counter()
        update()
        times.append(1000 * (time.perf_counter() - start))
    return {
        "impl": impl,
        "chunk_mib": chunk_mib if impl == "chunked" else None,
        "times_ms": times[1:],
        "rss_before_mb": rss_before,
        "peak_rss_mb": peak_rss_mb(),
    }


def in_subprocess(*args) -> dict:
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(measure, args)


def summary(runs: list[dict]) -> dict:
    """One implementation's rounds: fastest and median update, largest peak RSS."""
    times = [t for run in runs for t in run["times_ms"]]
    return {
        "impl": runs[0]["impl"],
        "chunk_mib": runs[0]["chunk_mib"],
        "min_ms": min(times),
        "median_ms": statistics.median(times),
        "times_ms": times,
        "rss_before_mb": max(run["rss_before_mb"] for run in runs),
        "peak_rss_mb": max(run["peak_rss_mb"] for run in runs),
    }


def markdown(report: dict) -> str:
    dense = next(r for r in report["results"] if r["impl"] == "dense")
    lines = [
        f"# Cell product memory and time on CPU ({report['machine']})",
        "",
        f"Command: `{report['command']}`  ",
        f"torch {report['torch']}, {report['threads']} torch threads (the machine's core count, the faster setting in "
        "`throughput-cpu.md`), float32, median of "
        f"{report['repeats']} timed updates after one warm-up, each implementation in a fresh process.",
        "",
        f"Products of one training update at the published MinAtar Breakout sizes (batch {BATCH}, {N_ACTIONS} actions, "
        f"widths {list(WIDTHS)}, {N_HEADS} heads): per cell, y for every action of the next states under no_grad, y "
        "for the taken action with autograd, and the backward pass. **The product alone**: the issue's targets "
        "(<= 1.2 GB peak RSS at <= 1.1x the dense time) are for a process running whole updates of the model "
        "(parameters and Adam states ~0.45 GB), which this does not measure.",
        "",
        "| implementation | fastest ms per update's products | x dense | median ms | x dense | peak RSS MB | "
        "RSS before the products MB | peak - before MB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in report["results"]:
        name = r["impl"] + (f" ({r['chunk_mib']} MiB chunks)" if r["chunk_mib"] else "")
        lines.append(
            f"| {name} | {r['min_ms']:.0f} | {r['min_ms'] / dense['min_ms']:.2f} | {r['median_ms']:.0f} | "
            f"{r['median_ms'] / dense['median_ms']:.2f} | {r['peak_rss_mb']:.0f} | {r['rss_before_mb']:.0f} | "
            f"{r['peak_rss_mb'] - r['rss_before_mb']:.0f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--repeats", type=int, default=3, help="timed updates per implementation")
    parser.add_argument("--rounds", type=int, default=3, help="turns of every implementation")
    parser.add_argument("--chunk-mib", type=int, nargs="+", default=[1, 4, 16, 64], help="chunk budgets of 'chunked'")
    args = parser.parse_args()
    impls = [("dense", 0)] + [("chunked", mib) for mib in args.chunk_mib]
    load_before = os.getloadavg()[0]
    runs = [[in_subprocess(impl, mib, args.threads, args.repeats) for impl, mib in impls] for _ in range(args.rounds)]
    report = {
        "command": " ".join(["python", *sys.argv]),
        "machine": platform.machine(),
        "torch": th.__version__,
        "threads": args.threads,
        "repeats": args.repeats,
        "rounds": args.rounds,
        "load_before": load_before,
        "load_after": os.getloadavg()[0],
        "results": [summary([round_[i] for round_ in runs]) for i in range(len(impls))],
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "cell-product-memory-cpu.json").write_text(json.dumps(report, indent=2) + "\n")
    (RESULTS / "cell-product-memory-cpu.md").write_text(markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    main()
