"""
The cost of ARQ on one CPU core: an update beside its matrix-multiply floor, acting, and SB3's DQN at the same widths.

    python benchmarks/cost.py                                  # writes benchmarks/results/cost-cpu.{md,json}
    python benchmarks/cost.py --configs cartpole --repeats 20 --tag quick

Per configuration (``common.py``: the classic-control entries' sizes, a CPU-sized MinAtar, ARQ's defaults and the
published sizes), in a fresh process with one torch thread:

- the GEMM rate of this core: the median time of a float32 512 x 512 x 512 matrix product, as GFLOP/s;
- ARQ's update (``train(1)``: sampling, the context replays, every cell's losses, backward, clipping, Adam): the
  median time, and its floor, the matrix-multiply FLOPs of one update (torch's ``FlopCounterMode``, with every cell's
  product in its dense form, ``cell_product="dense"``, so that each of its matrix products is counted once) over the
  GEMM rate; the update's time as a multiple of its floor. Beside it a second floor that adds the cells' tanh: every
  element of every cell's d x d matrix M goes through one (the dense form computes it as a sigmoid), which the
  matrix-multiply floor leaves out; the elements are counted in the same update (``TanhCounter``) and divided by the
  rate of the fastest sigmoid this core has (aten's or inductor's, ``sigmoid_per_ns``);
- acting: ``predict`` carrying the context (state passed back) for 1 and 8 envs, and the step of ARQ's collection
  (``EagerActing``) for 1 env; its floor is a memory floor, since a step multiplies every weight once: the bytes of the
  online cells' parameters over the rate at which this core reads a tensor of that size (``read_gbps``: the cache
  level where such a working set lives), for DQN its network's;
- SB3's DQN (``MlpPolicy``) with the same widths, batch, observations and actions: its update, floor and ``predict``;
- with ``--compile``: ARQ's update through ``compile_update="default"`` and the collection step through
  ``graph_acting=True`` (an ``ActingGraph`` through torch.compile) for 1 env, each with its first call's time
  (compilation).

Times are medians of this thread's CPU time (``time.thread_time``; with one torch thread every operation, backward
included, runs in it) after a warm-up, so that other processes on the machine do not inflate them; a first call
(compilation) in wall time, since inductor compiles in other processes. Whole runs (ARQ beside DQN at the same steps)
are in the classic grid's report (``learning.py``).
"""

import dataclasses
import functools
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
    write_results,
)
from stable_baselines3 import DQN
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

from sb3_arq.arq.acting import ActingGraph

COST_CONFIGS = ["cartpole", "acrobot", "minatar-cpu", "defaults", "breakout", "walker"]
GEMM_SIZE = 512
LARGE_BATCH = 512  # configurations with batches this large time a tenth of --repeats updates (at least 3)
SIGMOID_SIZE = 2**18  # elements of the tensor the sigmoid rate is measured on (1 MiB: one M of a batch of 64 at d = 64)
TANH_OPS = {th.ops.aten.tanh.default, th.ops.aten.tanh_.default, th.ops.aten.sigmoid.default, th.ops.aten.sigmoid_.default}
cpu_ms = functools.partial(median_ms, device="cpu", clock=time.thread_time)


class TanhCounter(TorchDispatchMode):
    """Counts the elements that go through a tanh or a sigmoid (the cells' transcendental) in what runs under it."""

    def __init__(self):
        super().__init__()
        self.elements = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if func in TANH_OPS:
            self.elements += out.numel()
        return out


def gemm_gflops(repeats: int = 50) -> float:
    """GFLOP/s of a float32 GEMM_SIZE^3 matrix product on this core (the rate the floors divide by)."""
    a, b = th.randn(GEMM_SIZE, GEMM_SIZE), th.randn(GEMM_SIZE, GEMM_SIZE)
    return 2 * GEMM_SIZE**3 / (cpu_ms(lambda: a @ b, repeats) * 1e6)


def read_gbps(n_bytes: int, repeats: int = 50) -> float:
    """GB/s at which this core reads a float32 tensor of ``n_bytes`` (its sum): the rate of the cache level it lives in."""
    x = th.ones(max(n_bytes // 4, 1))
    return n_bytes / (cpu_ms(x.sum, repeats) * 1e6)


def sigmoid_per_ns(repeats: int = 50) -> float:
    """
    Elements per nanosecond of the fastest float32 sigmoid on this core: aten's (in place) or inductor's (torch.compile,
    vectorised), on ``SIGMOID_SIZE`` elements: the cells compute tanh(m) as 2 sigmoid(2 m) - 1 on CPU (docs/kernels.md).
    """
    x, out, compiled = th.randn(SIGMOID_SIZE), th.empty(SIGMOID_SIZE), th.compile(th.sigmoid)
    ms = min(cpu_ms(lambda: th.sigmoid(x, out=out), repeats), cpu_ms(lambda: compiled(x), repeats))
    return SIGMOID_SIZE / (ms * 1e6)


def param_bytes(parameters) -> int:
    return sum(p.numel() * p.element_size() for p in parameters)


def matmul_flops(fn) -> int:
    """The matrix-multiply FLOPs of fn() (torch's FlopCounterMode: mm, addmm, bmm, baddbmm, matmul, ...)."""
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def arq_update_work(model, batch_size: int) -> tuple[int, int]:
    """The matrix-multiply FLOPs and the tanh elements of one update of ``model``, every cell's product in its dense form."""
    cells = [*model.q_net.cells, *model.q_net_target.cells]
    specs = [cell.spec for cell in cells]
    for cell in cells:
        cell.spec = dataclasses.replace(cell.spec, cell_product="dense")
    try:
        with TanhCounter() as tanh:
            flops = matmul_flops(lambda: model.train(1, batch_size))
        return flops, tanh.elements
    finally:
        for cell, spec in zip(cells, specs, strict=True):
            cell.spec = spec


def acting_ms(model, obs: np.ndarray, repeats: int) -> float:
    """``predict`` carrying the context for len(obs) envs (the state of the previous call passed back)."""
    state = model.predict(obs, deterministic=True)[1]
    starts = np.zeros(len(obs), dtype=bool)
    return cpu_ms(lambda: model.predict(obs, state, starts, deterministic=True), repeats)


def first_call_s(fn) -> float:
    """Seconds of the first call of fn() (a compilation included)."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def measure(config: str, repeats: int, compile_update: bool) -> dict:
    """All measurements of one configuration (run in its own process, one torch thread)."""
    th.set_num_threads(1)
    if (CONFIGS[config]["batch_size"] or 0) >= LARGE_BATCH:  # the published sizes: seconds per update on one core
        repeats = max(3, repeats // 10)
    rate, sigmoid_rate = gemm_gflops(), sigmoid_per_ns()
    env = make_env(config)
    env_name = CONFIGS[config]["env"] + (" (stand-in)" if isinstance(env, StandInEnv) else "")
    model = make_arq(config, "cpu")
    batch_size = model.batch_size
    result = {
        "config": CONFIGS[config]["name"],
        "env": env_name,
        "net_arch": model.policy.net_arch,
        "n_heads": model.policy.n_heads,
        "context_size": model.replay_buffer.context_size,
        "batch_size": batch_size,
        "gemm_gflops": rate,
        "sigmoid_per_ns": sigmoid_rate,
        "repeats": repeats,
        "arq_params": sum(p.numel() for p in model.q_net.cells.parameters()),
    }
    arq_bytes = param_bytes(model.q_net.cells.parameters())
    result["arq_act_floor_ms"] = arq_bytes / read_gbps(arq_bytes) / 1e6
    result["arq_update_ms"] = cpu_ms(lambda: model.train(1, batch_size), repeats)
    flops, tanh_elements = arq_update_work(model, batch_size)
    result["arq_update_gflop"], result["arq_update_tanh"] = flops / 1e9, tanh_elements
    obs = np.stack([model.observation_space.sample() for _ in range(8)])
    result["arq_act_ms_1env"] = acting_ms(model, obs[:1], 10 * repeats)
    result["arq_act_ms_8envs"] = acting_ms(model, obs, 10 * repeats)
    starts = np.zeros(1, dtype=bool)
    result["arq_collect_ms_1env"] = cpu_ms(lambda: model._actor(obs[:1], starts, 0.0), 10 * repeats)
    model = None
    if compile_update:
        compiled = make_arq(config, "cpu", compile_update="default")
        result["arq_compile_s"] = first_call_s(lambda: compiled.train(1, batch_size))
        result["arq_compiled_update_ms"] = cpu_ms(lambda: compiled.train(1, batch_size), repeats)
        actor = ActingGraph(compiled.policy, 1, capture=False, compile=True)
        result["arq_compiled_collect_compile_s"] = first_call_s(lambda: actor(obs[:1], starts, 0.0))
        result["arq_compiled_collect_ms_1env"] = cpu_ms(lambda: actor(obs[:1], starts, 0.0), 10 * repeats)
        compiled.policy.compile_acting()  # predict as with graph_acting=True
        result["arq_compiled_act_compile_s"] = first_call_s(lambda: compiled.predict(obs[:1], deterministic=True))
        result["arq_compiled_act_ms_1env"] = acting_ms(compiled, obs[:1], 10 * repeats)
        compiled = actor = None

    dqn = DQN(
        "MlpPolicy",
        make_env(config),
        buffer_size=BUFFER_SIZE,
        learning_starts=PREFILL,
        batch_size=batch_size,
        policy_kwargs={"net_arch": result["net_arch"]},
        device="cpu",
        seed=0,
    )
    dqn.learn(PREFILL)
    dqn_bytes = param_bytes(dqn.q_net.parameters())
    result["dqn_act_floor_ms"] = dqn_bytes / read_gbps(dqn_bytes) / 1e6
    result["dqn_update_ms"] = cpu_ms(lambda: dqn.train(1, batch_size), repeats)
    result["dqn_update_gflop"] = matmul_flops(lambda: dqn.train(1, batch_size)) / 1e9
    result["dqn_act_ms_1env"] = cpu_ms(lambda: dqn.predict(obs[:1], deterministic=True), 10 * repeats)
    result["dqn_act_ms_8envs"] = cpu_ms(lambda: dqn.predict(obs, deterministic=True), 10 * repeats)
    return result


def floor_ms(result: dict, algo: str) -> float:
    """The matrix-multiply floor of an update."""
    return result[f"{algo}_update_gflop"] / result["gemm_gflops"] * 1e3


def both_floors_ms(result: dict) -> float:
    """ARQ's matrix-multiply floor plus its tanh floor (the update's tanh elements over the sigmoid rate)."""
    return floor_ms(result, "arq") + result["arq_update_tanh"] / result["sigmoid_per_ns"] / 1e6


def markdown(report: dict) -> str:
    lines = [
        *markdown_header("Cost on one CPU core", report),
        f"torch {report['torch']}, 1 torch thread, {PREFILL} transitions prefilled, medians of {report['repeats']} "
        f"updates (a tenth, at least 3, at batch {LARGE_BATCH}) and ten times as many acting steps after a warm-up. "
        "Floor: the update's matrix-multiply FLOPs (torch's FlopCounterMode; ARQ's products in their dense form) over "
        "this core's float32 "
        f"{GEMM_SIZE}x{GEMM_SIZE}x{GEMM_SIZE} GEMM rate, measured in the same process; both floors: that plus the "
        "update's tanh elements (every element of every cell's M) over the fastest sigmoid rate of this core (aten's or "
        "inductor's), measured in the same process. Times: this thread's CPU time. DQN: SB3's DQN with the same "
        "widths, batch, observations and actions. A stand-in env has random observations of the task's sizes (its "
        "simulator is not installed there). Acting floor: the bytes of the weights a step reads (ARQ's online cells, "
        "DQN's network) over the rate at which this core reads a tensor of that size, measured in the same process.",
        "",
        "| configuration | widths, heads, context, batch | GEMM GFLOP/s | ARQ update ms | ARQ floor ms | x floor | "
        "tanh per update (M), per ns | both floors ms | x both floors | DQN update ms | DQN floor ms | DQN x floor | "
        "ARQ / DQN update | act 1 env ms (x DQN predict) | "
        "act floor ms (x DQN predict) | DQN act floor ms | act 8 envs ms (x DQN) | collection step 1 env ms |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["results"]:
        arq_floor, dqn_floor = floor_ms(r, "arq"), floor_ms(r, "dqn")
        lines.append(
            f"| {r['config']} | {r['net_arch']}, {r['n_heads']}, {r['context_size']}, {r['batch_size']} | "
            f"{r['gemm_gflops']:.0f} | {r['arq_update_ms']:.2f} | {arq_floor:.3f} | {r['arq_update_ms'] / arq_floor:.1f} | "
            f"{r['arq_update_tanh'] / 1e6:.2f}, {r['sigmoid_per_ns']:.2f} | {both_floors_ms(r):.3f} | "
            f"{r['arq_update_ms'] / both_floors_ms(r):.1f} | "
            f"{r['dqn_update_ms']:.2f} | {dqn_floor:.3f} | {r['dqn_update_ms'] / dqn_floor:.1f} | "
            f"{r['arq_update_ms'] / r['dqn_update_ms']:.1f} | "
            f"{r['arq_act_ms_1env']:.3f} ({r['arq_act_ms_1env'] / r['dqn_act_ms_1env']:.1f}) | "
            f"{r['arq_act_floor_ms']:.3f} ({r['arq_act_floor_ms'] / r['dqn_act_ms_1env']:.1f}) | "
            f"{r['dqn_act_floor_ms']:.4f} | "
            f"{r['arq_act_ms_8envs']:.3f} ({r['arq_act_ms_8envs'] / r['dqn_act_ms_8envs']:.1f}) | "
            f"{r['arq_collect_ms_1env']:.3f} |"
        )
    compiled = [r for r in report["results"] if "arq_compiled_update_ms" in r]
    if compiled:
        lines += [
            "",
            'Through torch.compile (inductor on CPU): the update with `compile_update="default"`, the collection step '
            "and `predict` with `graph_acting=True`:",
            "",
        ]
        for r in compiled:
            update, collect = r["arq_compiled_update_ms"], r["arq_compiled_collect_ms_1env"]
            act = r["arq_compiled_act_ms_1env"]
            lines.append(
                f"- {r['config']}: update {update:.2f} ms ({update / floor_ms(r, 'arq'):.1f}x floor, "
                f"{update / both_floors_ms(r):.1f}x both floors; eager "
                f"{r['arq_update_ms']:.2f} ms), first call (compilation) {r['arq_compile_s']:.1f} s; collection step, 1 "
                f"env, {collect:.3f} ms ({collect / r['dqn_act_ms_1env']:.1f}x DQN's predict, "
                f"{collect / r['arq_act_floor_ms']:.1f}x its floor; eager "
                f"{r['arq_collect_ms_1env']:.3f} ms), first call {r['arq_compiled_collect_compile_s']:.1f} s; predict "
                f"carrying the context, 1 env, {act:.3f} ms ({act / r['dqn_act_ms_1env']:.1f}x DQN's; eager "
                f"{r['arq_act_ms_1env']:.3f} ms), first call {r['arq_compiled_act_compile_s']:.1f} s"
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argument_parser(__doc__)
    parser.set_defaults(device="cpu")
    parser.add_argument("--repeats", type=int, default=30, help="timed updates per measurement (median)")
    parser.add_argument("--configs", nargs="*", default=COST_CONFIGS, choices=list(CONFIGS))
    parser.add_argument("--compile", action="store_true", help='also time compile_update="default" and graph_acting')
    args = parser.parse_args()
    if args.device != "cpu":
        parser.error("cost.py measures one CPU core (--device cpu)")
    report = {
        **describe_run("cpu"),
        "repeats": args.repeats,
        "results": [in_subprocess(measure, config, args.repeats, args.compile) for config in args.configs],
    }
    write_results(args, "cost-cpu", markdown(report), report)


if __name__ == "__main__":
    main()
