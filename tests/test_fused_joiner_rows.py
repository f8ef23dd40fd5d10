"""The fused joiner kernel row by row: class counts around the SIMD width
(tails), -inf and NaN entries, and every dtype, against log_softmax."""

import pytest
import torch

DTYPES = [torch.float64, torch.float32, torch.bfloat16, torch.float16]


def reference(logits, index, blank, w_sym, w_blank):
    """(symbol log-prob, blank log-prob, d(w_sym.sym + w_blank.blank)/d logits)
    by log_softmax in float64."""
    x = logits.detach().double().requires_grad_()
    logp = x.log_softmax(-1)
    sym = logp.gather(-1, index[..., None]).squeeze(-1)
    blk = logp[..., blank]
    (grad,) = torch.autograd.grad((sym * w_sym.double() + blk * w_blank.double()).sum(), x)
    return sym, blk, grad


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("C", [1, 2, 7, 8, 9, 15, 16, 17, 31, 33, 64, 500])
def test_rows_match_log_softmax(C, dtype, device):
    g = torch.Generator().manual_seed(C)
    logits = (3 * torch.randn(5, 3, C, generator=g)).to(device, dtype).requires_grad_()
    index = torch.randint(0, C, (5, 3), generator=g).to(device)
    blank = C // 2
    sym, blk, _ = torch.ops.rnnt._joiner_logprobs(logits, index, blank)
    w_sym, w_blank = torch.rand_like(sym), torch.rand_like(blk)
    (grad,) = torch.autograd.grad((sym * w_sym + blk * w_blank).sum(), logits)
    ref_sym, ref_blk, ref_grad = reference(logits, index, blank, w_sym, w_blank)
    exact = dtype == torch.float64
    tol = {} if exact else dict(rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(sym.double(), ref_sym, **tol)
    torch.testing.assert_close(blk.double(), ref_blk, **tol)
    grad_tol = {} if dtype in (torch.float64, torch.float32) else dict(rtol=1e-2, atol=4e-3)
    if dtype == torch.float32:
        grad_tol = dict(rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(grad.double(), ref_grad, **grad_tol)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_rows_with_inf_and_nan(dtype, device):
    C = 19
    logits = torch.randn(4, C, dtype=dtype)
    logits[0, 3] = float("-inf")  # one impossible class: softmax 0, finite rest
    logits[1] = float("-inf")  # no class possible: -inf log-probs (no path: inf loss), zero gradient
    logits[2, 11] = float("nan")  # NaN stays in its row
    logits = logits.to(device).requires_grad_()
    index = torch.tensor([3, 0, 1, 5], device=device)
    sym, blk, norm = torch.ops.rnnt._joiner_logprobs(logits, index, 0)
    assert sym[0] == float("-inf") and torch.isfinite(blk[0])
    assert sym[1] == float("-inf") and blk[1] == float("-inf") and norm[1] == float("-inf")
    assert sym[2].isnan() and blk[2].isnan() and norm[2].isnan()
    assert torch.isfinite(sym[3]) and torch.isfinite(blk[3])
    w = torch.tensor([0.0, 0.0, 0.0, 1.0], dtype=dtype, device=device)
    (grad,) = torch.autograd.grad((blk * w).sum(), logits)
    assert (grad[:2] == 0).all() and torch.isfinite(grad[3]).all()
    _, _, ref_grad = reference(logits[3:], index[3:], 0, w[3:] * 0, w[3:])
    torch.testing.assert_close(grad[3:].double(), ref_grad, rtol=1e-5, atol=1e-6)
