"""float16/bfloat16 network outputs: float32 accumulation, float32 loss,
gradients in the input dtype; autocast runs the losses in float32; the
fused joiner kernel against plain log-softmax."""

import subprocess
import sys

import pytest
import torch

import rnnt_ops as R

LOW = [torch.bfloat16, torch.float16]


def make(device, B=3, T=12, S=5, C=40, seed=0):
    g = torch.Generator().manual_seed(seed)
    am = torch.randn(B, T, C, generator=g)
    lm = torch.randn(B, S + 1, C, generator=g)
    symbols = torch.randint(1, C, (B, S), generator=g)
    boundary = torch.tensor([[0, 0, S, T]] + [[0, 0, S - 1, T - 3]] * (B - 1))
    return am.to(device), lm.to(device), symbols.to(device), boundary.to(device)


def losses(am, lm, symbols, boundary):
    """Every loss on the same inputs; pruning from the float32 simple loss."""
    _, (px_grad, py_grad) = R.rnnt_loss_simple(
        lm.float(), am.float(), symbols, 0, boundary, return_grad=True
    )
    ranges = R.get_rnnt_prune_ranges(px_grad, py_grad, boundary, 3)
    am_p, lm_p = R.do_rnnt_pruning(am, lm, ranges)
    kw = dict(boundary=boundary, reduction="none")
    return {
        "simple": R.rnnt_loss_simple(lm, am, symbols, 0, **kw),
        "smoothed": R.rnnt_loss_smoothed(lm, am, symbols, 0, 0.1, 0.1, **kw),
        "full": R.rnnt_loss(am[:, :, None] + lm[:, None], symbols, 0, **kw),
        "pruned": R.rnnt_loss_pruned(am_p + lm_p, symbols, ranges, 0, **kw),
        "hat": R.rnnt_loss_pruned(am_p + lm_p, symbols, ranges, 0, use_hat_loss=True, **kw),
    }


@pytest.mark.parametrize("dtype", LOW)
def test_low_precision_losses_match_float32(dtype, device):
    am, lm, symbols, boundary = make(device)
    am_low = am.to(dtype).requires_grad_()
    lm_low = lm.to(dtype).requires_grad_()
    # float32 on the very same (rounded) values
    am32 = am_low.detach().float().requires_grad_()
    lm32 = lm_low.detach().float().requires_grad_()
    low, ref = losses(am_low, lm_low, symbols, boundary), losses(am32, lm32, symbols, boundary)
    for name in low:
        assert low[name].dtype == torch.float32, name
        torch.testing.assert_close(low[name], ref[name], rtol=1e-2, atol=1e-2, msg=name)
        g_am, g_lm = torch.autograd.grad(low[name].sum(), (am_low, lm_low), retain_graph=True)
        r_am, r_lm = torch.autograd.grad(ref[name].sum(), (am32, lm32), retain_graph=True)
        assert g_am.dtype == dtype and g_lm.dtype == dtype, name
        assert torch.isfinite(g_am).all() and torch.isfinite(g_lm).all(), name
        torch.testing.assert_close(g_am.float(), r_am, rtol=5e-2, atol=5e-2, msg=name)


def test_autocast_keeps_losses_in_float32(device):
    am, lm, symbols, boundary = make(device, seed=1)
    am.requires_grad_()
    lm.requires_grad_()
    kind = "cuda" if device == "cuda" else "cpu"
    with torch.autocast(kind, dtype=torch.bfloat16):
        auto = R.rnnt_loss_simple(lm, am, symbols, 0, boundary)
        auto_full = R.rnnt_loss(am[:, :, None] + lm[:, None], symbols, 0, boundary)
    assert auto.dtype == torch.float32 and auto_full.dtype == torch.float32
    # Autocast off inside the op: the simple loss's matmul ran in float32.
    torch.testing.assert_close(auto, R.rnnt_loss_simple(lm, am, symbols, 0, boundary))
    torch.testing.assert_close(auto_full, R.rnnt_loss(am[:, :, None] + lm[:, None], symbols, 0, boundary))
    auto.backward()
    assert torch.isfinite(am.grad).all()


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.bfloat16])
def test_fused_joiner_logprobs_match_log_softmax(dtype, device):
    g = torch.Generator().manual_seed(2)
    logits = torch.randn(4, 6, 3, 50, generator=g).to(device, dtype).requires_grad_()
    index = torch.randint(0, 50, (4, 6, 3), generator=g).to(device)
    sym, blank, norm = torch.ops.rnnt._joiner_logprobs(logits, index, 7)
    logp = logits.float().log_softmax(-1) if dtype != torch.float64 else logits.log_softmax(-1)
    ref_sym = logp.gather(-1, index[..., None]).squeeze(-1)
    ref_blank = logp[..., 7]
    tol = dict(rtol=1e-5, atol=1e-5) if dtype != torch.float64 else {}
    torch.testing.assert_close(sym, ref_sym, **tol)
    torch.testing.assert_close(blank, ref_blank, **tol)
    w1, w2 = torch.rand_like(sym), torch.rand_like(blank)
    (g_fused,) = torch.autograd.grad((sym * w1 + blank * w2).sum(), logits)
    (g_ref,) = torch.autograd.grad((ref_sym * w1 + ref_blank * w2).sum(), logits)
    assert g_fused.dtype == dtype
    torch.testing.assert_close(g_fused, g_ref, **({} if dtype == torch.float64 else dict(rtol=2e-2, atol=2e-3)))
    if dtype == torch.float64:
        assert torch.autograd.gradcheck(
            lambda x: torch.ops.rnnt._joiner_logprobs(x, index, 7)[:2], (logits,)
        )
        torch.library.opcheck(torch.ops.rnnt._joiner_logprobs.default, (logits, index, 7))


def test_fused_joiner_rejects_bad_index(device):
    logits = torch.randn(2, 5, device=device)
    if device == "cpu":
        with pytest.raises(RuntimeError, match="outside"):
            torch.ops.rnnt._joiner_logprobs(logits, torch.tensor([0, 5]), 0)
    else:
        # The losses check symbols on the host before this op; its CUDA
        # kernel guards with a device-side assert (no out-of-bounds read),
        # which ends the process's CUDA context: run it in a child process.
        code = (
            "import torch, rnnt_ops\n"
            "logits = torch.randn(2, 5, device='cuda')\n"
            "torch.ops.rnnt._joiner_logprobs(logits, torch.tensor([0, 5], device='cuda'), 0)\n"
            "torch.cuda.synchronize()\n"
        )
        child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert child.returncode != 0
        assert "sym >= 0 && sym < C" in child.stdout + child.stderr
        assert "device-side assert triggered" in child.stderr
    with pytest.raises(RuntimeError, match="leading shape"):
        torch.ops.rnnt._joiner_logprobs(logits, torch.tensor([0], device=device), 0)
