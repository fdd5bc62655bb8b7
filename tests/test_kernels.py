"""
The fused cell product (sb3_arq.kernels): the chunked operator against the dense reference in float64, the Triton
kernels (run by Triton's CPU interpreter in a subprocess) against the chunked operator in float32, what the fused
operator keeps for the backward pass, torch.compile through it, and the choice of implementation.

``python -m tests.test_kernels`` (with TRITON_INTERPRET=1) runs the Triton comparison on its own.
"""

import importlib.util
import logging
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch as th

import sb3_arq.kernels.product
from sb3_arq.kernels import resolve_impl, tanh_product

N_ACTIONS = 3
WIDTHS = (5, 16, 37, 128)
HEADS = (1, 8)
ROW_SHAPES = ("arq_all_actions", "arq_taken_action", "output_conditioned", "ad")
BATCHES = (1, 5)
ROOT = Path(__file__).resolve().parents[1]


def make_inputs(row_shape: str, batch: int, n_heads: int, width: int, broadcast_h: bool, dtype: th.dtype, seed: int = 0):
    """
    z1c, z2n, h as a cell passes them (leading dims, R and h's broadcasting of each cell kind), requiring gradients.
    Z2's scale keeps M's entries of order one, as the row standardisation does.
    """
    generator = th.Generator().manual_seed(seed)
    lead, n_outputs = {
        "arq_all_actions": ((batch, N_ACTIONS), width),  # ARQ cell, every action of every sample
        "arq_taken_action": ((batch,), width),  # ARQ cell, the taken action
        "output_conditioned": ((batch,), N_ACTIONS * width),  # the ablation without action conditioning
        "ad": ((batch,), N_ACTIONS),  # the AD cell: one row of M per action
    }[row_shape]
    h_lead = (lead[0], 1) if row_shape == "arq_all_actions" else ()
    z1 = th.randn(*lead, n_heads, width, generator=generator, dtype=dtype)
    z1c = z1 - z1.mean(dim=-1, keepdim=True)
    z2n = th.randn(*lead, n_heads, n_outputs, generator=generator, dtype=dtype) / n_heads**0.5
    h = th.randn(*(h_lead if broadcast_h else lead), width, generator=generator, dtype=dtype)
    return [tensor.requires_grad_() for tensor in (z1c, z2n, h)]


def output_and_grads(impl: str, inputs: list[th.Tensor], **kwargs) -> list[th.Tensor]:
    """y and the gradients of a fixed random weighting of y with respect to every input."""
    y = tanh_product(*inputs, impl, **kwargs)
    weights = th.randn(y.shape, generator=th.Generator().manual_seed(1), dtype=y.dtype)
    return [y.detach(), *th.autograd.grad((y * weights).sum(), inputs)]


def relative_errors(results: list[th.Tensor], reference: list[th.Tensor]) -> list[float]:
    for result, expected in zip(results, reference, strict=True):
        assert result.shape == expected.shape
    return [
        ((result - expected).abs().max() / expected.abs().max()).item()
        for result, expected in zip(results, reference, strict=True)
    ]


@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("row_shape", ROW_SHAPES)
@pytest.mark.parametrize("n_heads", HEADS)
@pytest.mark.parametrize("width", WIDTHS)
def test_chunked_matches_dense(width, n_heads, row_shape, batch):
    for broadcast_h in (False, True):
        inputs = make_inputs(row_shape, batch, n_heads, width, broadcast_h, th.float64)
        reference = output_and_grads("dense", inputs)
        n_outputs = inputs[1].shape[-1]
        # two rows per chunk: the odd row counts end on a short chunk; and the default budget
        for chunk_bytes in (2 * n_outputs * width * 8, None):
            errors = relative_errors(output_and_grads("chunked", inputs, chunk_bytes=chunk_bytes), reference)
            print(f"{row_shape} d={width} H={n_heads} batch={batch} broadcast h={broadcast_h}: y, dz1c, dz2n, dh {errors}")
            assert max(errors) < 1e-10


@pytest.mark.parametrize("impl", ["chunked", "dense"])
def test_saved_for_backward(impl):
    """The fused operator keeps its inputs only; the dense path keeps an R x d matrix per row."""
    inputs = make_inputs("arq_all_actions", batch=5, n_heads=8, width=37, broadcast_h=True, dtype=th.float32)
    saved = []

    def pack(tensor: th.Tensor) -> th.Tensor:
        saved.append(tensor.numel())
        return tensor

    with th.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        tanh_product(*inputs, impl, chunk_bytes=37 * 37 * 4)
    m_elements = 5 * N_ACTIONS * 37 * 37
    print(f"{impl}: saved tensors of {saved} elements; M of all rows has {m_elements}")
    if impl == "chunked":
        assert max(saved) == 5 * N_ACTIONS * 8 * 37  # z1c or z2n, the largest input
    else:
        assert max(saved) >= m_elements


def test_compiled_matches_eager():
    """torch.compile traces through the operator (fullgraph: no graph break), forward and backward."""

    def loss(z1, z2n, h):  # the centring in PyTorch around the operator, as in the cells
        y = tanh_product(z1 - z1.mean(dim=-1, keepdim=True), z2n, h, "auto", chunk_bytes=2 * 16 * 16 * 8)
        return y.square().sum()

    inputs = make_inputs("arq_all_actions", batch=5, n_heads=8, width=16, broadcast_h=True, dtype=th.float64)
    compiled = th.compile(loss, fullgraph=True)
    results = [compiled(*inputs)]
    results += th.autograd.grad(results[0], inputs)
    expected = [loss(*inputs)]
    expected += th.autograd.grad(expected[0], inputs)
    errors = relative_errors(results, expected)
    print(f"compiled vs eager: loss, dz1, dz2n, dh {errors}")
    assert max(errors) < 1e-10


def test_opcheck():
    """torch.library's own checks of the registration (schema, fake tensor, autograd, AOT dispatch)."""
    z1c, z2n, h = (
        tensor.detach().flatten(0, 1).requires_grad_() for tensor in make_inputs("arq_all_actions", 2, 8, 5, False, th.float64)
    )
    th.library.opcheck(th.ops.sb3_arq.tanh_product, (z1c, z2n, h, "chunked", 5 * 5 * 8, False))


def test_resolve_impl(caplog, monkeypatch):
    # Each message is reported once per process: start from none reported (other test files may have run here before)
    monkeypatch.setattr(sb3_arq.kernels.product, "_reported", set())
    with caplog.at_level(logging.INFO, logger="sb3_arq.kernels.product"):
        # a product whose matrices all fit in one chunk gains nothing from chunking: dense (no recomputation)
        z1c, z2n, h = th.randn(4, 8, 5), th.randn(4, 8, 5), th.randn(4, 5)  # 4 rows of 5 x 5 float32: 400 bytes
        tanh_product(z1c, z2n, h, "auto", chunk_bytes=400)
        tanh_product(z1c, z2n, h, "auto", chunk_bytes=399)
        assert resolve_impl("auto", th.device("cpu"), th.float32) == "chunked"
        assert resolve_impl("auto", th.device("cpu"), th.float32, fits_one_chunk=True) == "dense"
    assert [record.getMessage() for record in caplog.records] == [
        "cell_product='auto' uses 'dense' on cpu torch.float32 (the tensors are on cpu, not CUDA; all rows fit in one chunk)",
        "cell_product='auto' uses 'chunked' on cpu torch.float32 (the tensors are on cpu, not CUDA)",
    ]
    assert resolve_impl("dense", th.device("cpu"), th.float32) == "dense"
    assert resolve_impl("chunked", th.device("cpu"), th.float64) == "chunked"
    # None, the cells' default, resolves per device: "auto" on CPU, dense on CUDA (Triton not measured on a GPU yet)
    assert resolve_impl(None, th.device("cpu"), th.float32) == "chunked"
    assert resolve_impl(None, th.device("cpu"), th.float32, fits_one_chunk=True) == "dense"
    assert resolve_impl(None, th.device("cuda"), th.float32) == "dense"
    with pytest.warns(UserWarning, match=r"cell_product='triton' cannot run here \(the tensors are on cpu, not CUDA\)"):
        assert resolve_impl("triton", th.device("cpu"), th.float32) == "chunked"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # warned once only
        assert resolve_impl("triton", th.device("cpu"), th.float32) == "chunked"
    with pytest.raises(ValueError, match="must be one of"):
        resolve_impl("fused", th.device("cpu"), th.float32)


def test_bad_inputs():
    z1c, z2n, h = th.zeros(2, 8, 5), th.zeros(2, 8, 3), th.zeros(2, 5)
    with pytest.raises(ValueError, match="same H"):
        tanh_product(z1c, th.zeros(2, 4, 3), h)
    with pytest.raises(ValueError, match="same d"):
        tanh_product(z1c, z2n, th.zeros(2, 4))
    with pytest.raises(ValueError, match="h needs at least 1"):
        tanh_product(z1c, z2n, th.zeros(()))
    with pytest.raises(TypeError, match="one dtype and device"):
        tanh_product(z1c, z2n.double(), h)
    with pytest.raises(ValueError, match="chunk_bytes"):
        tanh_product(z1c, z2n, h, "chunked", chunk_bytes=0)
    with pytest.raises(RuntimeError, match="broadcast"):
        tanh_product(z1c, z2n, th.zeros(3, 5))


@pytest.mark.skipif(importlib.util.find_spec("triton") is None, reason="needs triton (the tests extra)")
def test_triton_interpreted_matches_chunked():
    """The Triton kernels, run by Triton's interpreter on CPU tensors: TRITON_INTERPRET=1 must be set before triton
    is imported, so in a subprocess of its own."""
    env = {**os.environ, "TRITON_INTERPRET": "1", "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    run = subprocess.run([sys.executable, "-m", "tests.test_kernels"], cwd=ROOT, env=env, capture_output=True, text=True)
    print(run.stdout, run.stderr)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.count("ok") == len(WIDTHS) * len(HEADS) * len(ROW_SHAPES) * 2


def triton_interpreted_matches_chunked() -> None:
    """The Triton comparison (float32, 1e-4 relative) of ``test_triton_interpreted_matches_chunked``."""
    assert os.environ.get("TRITON_INTERPRET") == "1", "run with TRITON_INTERPRET=1"
    th.set_num_threads(1)
    for width in WIDTHS:
        for n_heads in HEADS:
            for row_shape in ROW_SHAPES:
                for batch, broadcast_h in ((1, False), (3, True)):
                    inputs = make_inputs(row_shape, batch, n_heads, width, broadcast_h, th.float32)
                    errors = relative_errors(output_and_grads("triton", inputs), output_and_grads("chunked", inputs))
                    verdict = "ok" if max(errors) < 1e-4 else "FAILED"
                    print(f"{row_shape} d={width} H={n_heads} batch={batch}: y, dz1c, dz2n, dh {errors} {verdict}")
                    assert verdict == "ok"


if __name__ == "__main__":
    triton_interpreted_matches_chunked()
