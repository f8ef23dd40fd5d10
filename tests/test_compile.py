"""torch.compile(fullgraph=True) over the losses and the pruning pipeline,
with dynamic shapes: same values and gradients as eager."""

import torch
import torch._dynamo

import rnnt_ops as R


def pruned_step(am, lm, symbols, boundary):
    simple, (px_grad, py_grad) = R.rnnt_loss_simple(
        lm, am, symbols, 0, boundary, reduction="sum", return_grad=True
    )
    ranges = R.get_rnnt_prune_ranges(px_grad, py_grad, boundary, 3)
    am_p, lm_p = R.do_rnnt_pruning(am, lm, ranges)
    pruned = R.rnnt_loss_pruned((am_p + lm_p).tanh(), symbols, ranges, 0, boundary, reduction="sum")
    full = R.rnnt_loss((am[:, :, None] + lm[:, None]).tanh(), symbols, 0, boundary, reduction="sum")
    smoothed = R.rnnt_loss_smoothed(lm, am, symbols, 0, 0.1, 0.1, boundary, reduction="sum")
    return 0.5 * simple + pruned + full + smoothed


def test_compiled_losses_match_eager_with_dynamic_shapes(device):
    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    compiled = torch.compile(pruned_step, fullgraph=True, dynamic=True, backend="aot_eager")
    for B, T, S in [(2, 8, 3), (3, 10, 4), (4, 12, 5)]:
        g = torch.Generator().manual_seed(B)
        am = torch.randn(B, T, 6, generator=g, dtype=torch.float64).to(device).requires_grad_()
        lm = torch.randn(B, S + 1, 6, generator=g, dtype=torch.float64).to(device).requires_grad_()
        symbols = torch.randint(1, 6, (B, S), generator=g).to(device)
        boundary = torch.tensor([[0, 0, S, T]] * (B - 1) + [[0, 0, S - 1, T - 2]], device=device)
        out = compiled(am, lm, symbols, boundary)
        grads = torch.autograd.grad(out, (am, lm))
        ref = pruned_step(am, lm, symbols, boundary)
        ref_grads = torch.autograd.grad(ref, (am, lm))
        torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12)
        for a, b in zip(grads, ref_grads):
            torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    graphs = torch._dynamo.utils.counters["stats"]["unique_graphs"]
    assert graphs <= 2, f"recompiled for every shape: {graphs} graphs for 3 shapes"
