"""
Peak memory and time of the cell product, y = tanh(Z2n^T Z1c) h, per implementation: of the product alone, or of
whole training updates of the model (``--scope update``).

    python benchmarks/cell_product_memory.py                 # CPU: benchmarks/results/cell-product-memory-cpu.{json,md}
    python benchmarks/cell_product_memory.py --device cuda   # GPU: ...-cuda.{json,md}, with Triton checked first
    python benchmarks/cell_product_memory.py --scope update  # whole updates: ...-update-cpu.{json,md}
    python benchmarks/cell_product_memory.py --scope update --model small  # ... of the small CPU model: ...-cpu-small

At the published MinAtar Breakout sizes (batch 512, 3 actions, widths 400/200/200, 8 heads), one training update's
products per cell: every action of the next states under no_grad (the TD target), the taken action with autograd,
then the backward pass. Only the product: the projections, standardisation, goodness and optimizers of the cells are
not run, so the numbers are not those of a whole update. Each implementation runs in a fresh process, so its peak
memory (RSS from ru_maxrss; on a GPU also torch.cuda.max_memory_allocated) is its own; the RSS before the first
product (inputs made, torch loaded) is given beside it. The implementations take turns for several rounds (a fresh
process each time) and the fastest update of each is reported beside the median, so that load from other processes
on a shared machine weighs on all alike. On a GPU, the Triton kernels (exact float32 and TF32) are first compared with
the chunked implementation on these sizes; the script exits with an error if exact float32 differs by more than 1e-4.

``--scope update``: each process builds the published Breakout model (ARQ, ``policy_kwargs`` net_arch [400, 200, 200],
8 heads, context 10, batch 512, ``cell_product`` the implementation with its default chunks; MinAtar Breakout, or a
stand-in env of its sizes where MinAtar is not installed), fills its buffer with 1,000 random transitions (no update),
then times whole ``train(1)`` updates: sampling, context replays, every cell's losses, backward, clipping and Adam.
The peak RSS is then that of a process that builds the model and runs updates (parameters and Adam states included).
``--model small``: the same with the small CPU configuration (widths [64, 64, 64], batch 64); ``--model`` takes any
configuration of ``common.py``.
"""

import os
import statistics
import sys

import torch as th
from common import (
    CONFIGS,
    ENV_SIZES,
    PREFILL,
    argument_parser,
    describe_run,
    in_subprocess,
    make_arq,
    markdown_header,
    peak_cuda_mb,
    peak_rss_mb,
    reset_peak_cuda,
    times_ms,
    write_results,
)

from sb3_arq.kernels import tanh_product

PUBLISHED = CONFIGS["breakout"]  # the sizes of the products (--scope product)
BATCH, WIDTHS = PUBLISHED["batch_size"], PUBLISHED["net_arch"]  # the widths d; the cells' inputs do not enter the product
N_ACTIONS, N_HEADS = ENV_SIZES[PUBLISHED["env"]][1], 8
TOLERANCE = 1e-4  # Triton (exact float32) against chunked, relative to the largest entry


def operands(width: int, lead: tuple, n_outputs: int, h_lead: tuple, generator: th.Generator, device: str) -> list:
    """Centred Z1, Z2 scaled so that M's entries are of order one (as after the row standardisation), and h."""
    z1 = th.randn(*lead, N_HEADS, width, generator=generator).to(device)
    z2n = (th.randn(*lead, N_HEADS, n_outputs, generator=generator) / N_HEADS**0.5).to(device)
    return [z1 - z1.mean(dim=-1, keepdim=True), z2n, th.randn(*h_lead, width, generator=generator).to(device)]


def timed_updates(update, device: str, repeats: int) -> dict:
    """
    Wall time of ``repeats`` calls of ``update`` after one warm-up (also Triton's compilation), the peak RSS before and
    after them, and on a GPU the CUDA memory allocated before them and the peak while they ran.
    """
    rss_before = peak_rss_mb()
    reset_peak_cuda(device)
    cuda_before = th.cuda.memory_allocated() / 2**20 if device == "cuda" else None
    times = times_ms(update, repeats, device)
    result = {"times_ms": times, "rss_before_mb": rss_before, "peak_rss_mb": peak_rss_mb()}
    if device == "cuda":
        result["cuda_inputs_mb"] = cuda_before
        result["cuda_peak_mb"] = peak_cuda_mb(device)
    return result


def measure_update(impl: str, config: str, device: str, threads: int, repeats: int) -> dict:
    """Time and peak memory of ``repeats`` whole updates of one configuration (run in a process of its own)."""
    th.set_num_threads(threads)
    model = make_arq(config, device, {"n_heads": N_HEADS, "cell_product": impl})
    return timed_updates(lambda: model.train(1, model.batch_size), device, repeats)


def measure(impl: str, chunk_mib: int | None, tf32: bool, device: str, threads: int, repeats: int) -> dict:
    """Time and peak memory of ``repeats`` updates' products (run in a process of its own)."""
    th.set_num_threads(threads)
    generator = th.Generator().manual_seed(0)
    cells = [
        {
            "next": operands(width, (BATCH, N_ACTIONS), width, (BATCH, 1), generator, device),
            "taken": [t.requires_grad_() for t in operands(width, (BATCH,), width, (BATCH,), generator, device)],
        }
        for width in WIDTHS
    ]
    kwargs = {"tf32": tf32, "chunk_bytes": chunk_mib * 2**20 if chunk_mib else None}

    def update() -> None:
        for cell in cells:
            with th.no_grad():
                target = tanh_product(*cell["next"], impl, **kwargs).square().mean(dim=-1).amax(dim=-1)
            y = tanh_product(*cell["taken"], impl, **kwargs)
            loss = (y.square().mean(dim=-1) - target).square().mean()
            th.autograd.grad(loss, cell["taken"])

    return timed_updates(update, device, repeats)


def check_triton(device: str) -> list[dict]:
    """Triton (exact float32, TF32) against chunked on the published sizes: y and every gradient."""
    checks = []
    generator = th.Generator().manual_seed(1)
    for width in WIDTHS[:2]:
        row_shapes = {  # leading dims, R, h's leading dims
            "ARQ all actions": ((BATCH, N_ACTIONS), width, (BATCH, 1)),
            "ARQ taken action": ((BATCH,), width, (BATCH,)),
            "output-conditioned": ((BATCH,), N_ACTIONS * width, (BATCH,)),
            "AD": ((BATCH,), N_ACTIONS, (BATCH,)),
        }
        for name, (lead, n_outputs, h_lead) in row_shapes.items():
            inputs = [t.requires_grad_() for t in operands(width, lead, n_outputs, h_lead, generator, device)]
            weights = th.randn(*lead, n_outputs, generator=generator).to(device)
            results = {}
            for label, impl, tf32 in (("chunked", "chunked", False), ("triton", "triton", False), ("tf32", "triton", True)):
                y = tanh_product(*inputs, impl, tf32=tf32)
                results[label] = [y.detach(), *th.autograd.grad((y * weights).sum(), inputs)]
            check = {"shape": f"{name}, d={width}"}
            for label in ("triton", "tf32"):
                check[label] = [
                    ((a - b).abs().max() / b.abs().max()).item()
                    for a, b in zip(results[label], results["chunked"], strict=True)
                ]
            checks.append(check)
    return checks


def summary(impl: tuple, runs: list[dict]) -> dict:
    """One implementation's rounds: fastest and median update, largest peak memory."""
    times = [t for run in runs for t in run["times_ms"]]
    result = {
        "impl": impl[0],
        "chunk_mib": impl[1],
        "tf32": impl[2],
        "min_ms": min(times),
        "median_ms": statistics.median(times),
    }
    result["times_ms"] = times
    for key in runs[0]:
        if key != "times_ms":
            result[key] = max(run[key] for run in runs)
    return result


def label(result: dict) -> str:
    if result["impl"] == "chunked":
        return f"chunked ({result['chunk_mib']} MiB chunks)" if result["chunk_mib"] else "chunked (default chunks)"
    return result["impl"] + (" TF32" if result["tf32"] else "")


UNITS = {"product": "update's products", "update": "update"}


def scope_text(report: dict) -> str:
    if report["scope"] == "update":
        config = CONFIGS[report["model"]]
        sizes = f"the {report['model']} configuration ({config['env']}, batch {config['batch_size']}, "
        sizes += f"{ENV_SIZES[config['env']][1]} actions, widths {config['net_arch']}, {N_HEADS} heads)"
        return (
            f"Whole training updates (`model.train(1)`) of ARQ in {sizes}, context 10, in a process that built the model and "
            f"filled its buffer with {PREFILL:,} transitions: sampling, the context replays, every cell's losses, backward, "
            "clipping and Adam. `cell_product` is the implementation (chunked: its default chunk budget; auto: what "
            '`cell_product="auto"` picks on CPU, per product: chunked, or dense when the product\'s matrices all fit in '
            "one chunk); the RSS before the updates includes the model, its Adam states and the buffer."
        )
    sizes = f"the published MinAtar Breakout sizes (batch {BATCH}, {N_ACTIONS} actions, widths {WIDTHS}, "
    sizes += f"{N_HEADS} heads)"
    return (
        f"Products of one training update at {sizes}: per cell, y for every action of the next states under no_grad, y "
        "for the taken action with autograd, and the backward pass. **The product alone**: the projections, "
        "standardisation, goodness and optimizers are not run (`--scope update` measures whole updates)."
    )


def markdown(report: dict) -> str:
    dense = report["results"][0]
    cuda = report["device"] == "cuda"
    lines = [
        *markdown_header("Cell product memory and time", report),
        f"torch {report['torch']}, {report['threads']} torch thread(s) (--threads; {report['cpu_count']} CPU cores), "
        f"float32 inputs. {report['rounds']} rounds; in "
        f"each, every implementation in a fresh process times {report['repeats']} updates after one warm-up. Load "
        f"average (1 min) before and after: {report['load_before']:.2f}, {report['load_after']:.2f} (on a shared "
        "machine the fastest update is the least disturbed).",
        "",
        scope_text(report),
        "",
        f"| implementation | fastest ms per {UNITS[report['scope']]} | x dense | median ms | x dense | peak RSS MB | "
        f"RSS before the {report['scope']}s MB |" + (" peak CUDA MB | CUDA inputs MB |" if cuda else ""),
        "|---|---|---|---|---|---|---|" + ("---|---|" if cuda else ""),
    ]
    for r in report["results"]:
        lines.append(
            f"| {label(r)} | {r['min_ms']:.2f} | {r['min_ms'] / dense['min_ms']:.2f} | {r['median_ms']:.2f} | "
            f"{r['median_ms'] / dense['median_ms']:.2f} | {r['peak_rss_mb']:.0f} | {r['rss_before_mb']:.0f} |"
            + (f" {r['cuda_peak_mb']:.0f} | {r['cuda_inputs_mb']:.0f} |" if cuda else "")
        )
    if report.get("triton_check"):
        lines += [
            "",
            f"Triton against chunked (float32, TF32 matmuls off), largest |difference| / largest |entry| of y, dZ1c, "
            f"dZ2n, dh (exact float32 must be <= {TOLERANCE:g}):",
            "",
            "| shape | Triton float32 | Triton TF32 |",
            "|---|---|---|",
        ]
        for check in report["triton_check"]:
            errors = [" ".join(f"{e:.1e}" for e in check[key]) for key in ("triton", "tf32")]
            lines.append(f"| {check['shape']} | {errors[0]} | {errors[1]} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argument_parser(__doc__)
    parser.add_argument("--scope", default="product", choices=["product", "update"], help="the product alone, or updates")
    parser.add_argument("--model", default="breakout", choices=list(CONFIGS), help="the configuration of --scope update")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (2: this CPU machine's core count)")
    parser.add_argument("--repeats", type=int, default=3, help="timed updates per process")
    parser.add_argument("--rounds", type=int, default=3, help="turns of every implementation")
    parser.add_argument("--chunk-mib", type=int, nargs="+", default=[1, 4, 16, 64], help="chunk budgets of 'chunked' (CPU)")
    args = parser.parse_args()
    if args.scope == "update":
        fused = "triton" if args.device == "cuda" else "auto"  # what "auto" picks on CUDA is triton
        impls = [("dense", None, False), ("chunked", None, False), (fused, None, False)]
    elif args.device == "cuda":
        impls = [("dense", None, False), ("chunked", None, False), ("triton", None, False), ("triton", None, True)]
    else:
        impls = [("dense", None, False)] + [("chunked", mib, False) for mib in args.chunk_mib]
    load_before = os.getloadavg()[0]
    triton_check = check_triton(args.device) if args.device == "cuda" and args.scope == "product" else None

    def run(impl: tuple) -> dict:
        if args.scope == "update":
            return in_subprocess(measure_update, impl[0], args.model, args.device, args.threads, args.repeats)
        return in_subprocess(measure, *impl, args.device, args.threads, args.repeats)

    runs = [[run(impl) for impl in impls] for _ in range(args.rounds)]
    report = {
        **describe_run(args.device),
        "scope": args.scope,
        "model": args.model,
        "threads": args.threads,
        "cpu_count": os.cpu_count(),
        "repeats": args.repeats,
        "rounds": args.rounds,
        "load_before": load_before,
        "load_after": os.getloadavg()[0],
        "triton_check": triton_check,
        "results": [summary(impl, [round_[i] for round_ in runs]) for i, impl in enumerate(impls)],
    }
    name = "cell-product-memory-" + ("update-" if args.scope == "update" else "") + args.device
    name += f"-{args.model}" if args.scope == "update" and args.model != "breakout" else ""
    write_results(args, name, markdown(report), report)
    if triton_check and max(e for check in triton_check for e in check["triton"]) > TOLERANCE:
        sys.exit(f"Triton (exact float32) differs from chunked by more than {TOLERANCE:g}: see the table above")


if __name__ == "__main__":
    main()
