"""The TDT and multi-blank losses under torch.compile (fullgraph, dynamic
shapes) and TorchScript (scripted, saved, reloaded): same values and
gradients as eager."""

import torch
import torch._dynamo
from torch import Tensor

import rnnt_ops as R


def losses(logits: Tensor, z: Tensor, symbols: Tensor, boundary: Tensor) -> Tensor:
    tdt = torch.ops.rnnt.rnnt_loss_tdt(logits, z, symbols, 0, [0, 1, 2], boundary, 0.05, 0.1,
                                       0.01, "sum")
    multiblank = torch.ops.rnnt.rnnt_loss_multiblank(logits, symbols, 0, [6], [3], boundary, 0.0,
                                                     "mean")
    return tdt + multiblank


def batch(B, T, S, seed=0):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(B, T, S + 1, 7, generator=g, dtype=torch.float64, requires_grad=True)
    z = torch.randn(B, T, S + 1, 3, generator=g, dtype=torch.float64, requires_grad=True)
    symbols = torch.randint(1, 5, (B, S), generator=g)
    boundary = torch.tensor([[0, 0, S, T]] * (B - 1) + [[0, 0, S - 1, T - 2]])
    return logits, z, symbols, boundary


def check_same(fn, args):
    out = fn(*args)
    ref = losses(*args)
    torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12)
    for a, b in zip(torch.autograd.grad(out, args[:2]), torch.autograd.grad(ref, args[:2])):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_compiled_matches_eager_with_dynamic_shapes():
    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    compiled = torch.compile(losses, fullgraph=True, dynamic=True, backend="aot_eager")
    # First sizes distinct from each other, C = 7, D = 3 and the boundary's 4
    # (duck sizing would equate them).
    for B, T, S in [(2, 8, 5), (4, 10, 6), (5, 12, 8)]:
        check_same(compiled, batch(B, T, S, seed=B))
    graphs = torch._dynamo.utils.counters["stats"]["unique_graphs"]
    assert graphs <= 2, f"recompiled for every shape: {graphs} graphs for 3 shapes"


def test_compiled_with_inductor():
    torch._dynamo.reset()
    check_same(torch.compile(losses, fullgraph=True), batch(2, 6, 2, seed=9))


def test_torchscript_saved_and_reloaded(tmp_path):
    scripted = torch.jit.script(losses)
    path = str(tmp_path / "tdt.pt")
    torch.jit.save(scripted, path)
    check_same(torch.jit.load(path), batch(3, 7, 3, seed=4))


def test_autocast_leaves_the_losses_in_float32():
    """Under CPU autocast both losses run as without it (autocast is off for
    them), forward and backward."""
    logits, z, symbols, boundary = batch(3, 6, 3, seed=4)
    inputs = [t.detach().float().requires_grad_() for t in (logits, z)]
    plain = losses(*inputs, symbols, boundary)
    plain_grads = torch.autograd.grad(plain, inputs)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        autocast = losses(*inputs, symbols, boundary)
        autocast_grads = torch.autograd.grad(autocast, inputs)
    assert autocast.dtype == torch.float32
    torch.testing.assert_close(autocast, plain)
    for a, b in zip(autocast_grads, plain_grads):
        torch.testing.assert_close(a, b)
