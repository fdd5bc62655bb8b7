"""A step function on static tensors, replayed as one CUDA graph after a few eager calls; an optimizer update as one."""

from collections.abc import Callable
from typing import Any, Generic, TypeVar

import torch as th

Output = TypeVar("Output")


class CapturedStep(Generic[Output]):
    """
    Run ``step`` (a function of no argument that reads and writes only tensors allocated once, and makes no host-device
    synchronisation) once per call. With ``capture``, the first ``warmup`` calls run eagerly on a side stream (lazy
    initialisations, cuDNN/Triton autotuning, optimizer states), the next one records the step as a CUDA graph and
    replays it, and every later call replays it: one launch instead of one per operation. Every call runs the step
    exactly once, so warm-up calls are real ones. Without ``capture`` every call runs ``step`` eagerly (CPU, tests).

    Tensors that the step returns live in the graph's memory: a replay overwrites them, so copy what must outlive the
    next call. The graph reads its inputs, and the parameters it uses, at fixed addresses: write new inputs into the
    static tensors in place, and do not reallocate the parameters (moving the model to another device needs a new
    ``CapturedStep``). RNG on the device works through the default CUDA generator (PyTorch advances its offset at
    every replay); another CUDA generator that the step draws from must be given in ``generators``.

    :param step: The step.
    :param capture: Capture it as a CUDA graph (the tensors must be on the current CUDA device); False runs it eagerly.
    :param warmup: Eager calls before the capture.
    :param generators: Non-default CUDA generators the step draws from, registered with the graph
        (``CUDAGraph.register_generator_state``) so that each replay advances them.
    """

    def __init__(
        self, step: Callable[[], Output], capture: bool, warmup: int = 3, generators: list[th.Generator] | None = None
    ):
        if capture and not th.cuda.is_available():
            raise ValueError("capture=True needs CUDA, which is not available here")
        self.step = step
        self.capture = capture
        self.warmup = warmup
        self.generators = [] if generators is None else generators
        self.calls = 0
        self.graph: th.cuda.CUDAGraph | None = None
        self.output: Output | None = None

    def __call__(self) -> Output:
        self.calls += 1
        if not self.capture:
            return self.step()
        if self.calls <= self.warmup:
            stream = th.cuda.Stream()
            stream.wait_stream(th.cuda.current_stream())
            with th.cuda.stream(stream):
                output = self.step()
            th.cuda.current_stream().wait_stream(stream)
            return output
        if self.graph is None:
            self.graph = th.cuda.CUDAGraph()
            for generator in self.generators:
                self.graph.register_generator_state(generator)
            with th.cuda.graph(self.graph):
                self.output = self.step()
        self.graph.replay()
        return self.output


class CapturedUpdate:
    """
    ``update(batch_size)`` (sample a batch, losses, backward, optimizer steps) as a ``CapturedStep`` per batch size and
    learning rates: a learning rate is a Python number baked into the graph, so a new one (e.g. from a schedule), or
    a new batch size, is captured anew (without a new warm-up). On CUDA the optimizer is made capturable first.

    :param update: The update, a function of the batch size returning a tensor of statistics (in the graph's memory:
        copy what must outlive the next call).
    :param optimizer: The update's optimizer(s): ``param_groups`` and ``make_capturable()`` (``CellOptimizers``).
    :param generators: Non-default CUDA generators the update draws from (see ``CapturedStep``).
    :param capture: Capture on CUDA; False runs the update eagerly.
    """

    def __init__(self, update: Callable[[int], th.Tensor], optimizer: Any, generators: list[th.Generator], capture: bool):
        self.update = update
        self.optimizer = optimizer
        self.generators = generators
        self.capture = capture
        self.step: CapturedStep[th.Tensor] | None = None
        self.key: tuple | None = None  # (batch size, learning rates) the step was captured with

    def __call__(self, batch_size: int) -> th.Tensor:
        key = (batch_size, tuple(group["lr"] for group in self.optimizer.param_groups))
        if self.step is None or self.key != key:
            if self.capture:
                self.optimizer.make_capturable()
            warmup = 3 if self.step is None else 0  # a recapture needs no new warm-up
            self.step = CapturedStep(lambda: self.update(batch_size), self.capture, warmup, self.generators)
            self.key = key
        return self.step()
