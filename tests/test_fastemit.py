"""FastEmit on rnnt_loss / rnnt_loss_pruned: NeMo/warp-rnnt's gradient
(symbol-emission arcs scaled by 1 + lambda) and reported value
((1 + lambda) * loss), against a float64 reference recursion."""

import pytest
import torch

import rnnt_ops as R
from reference import loss_reference


def make(B=3, T=7, S=3, C=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(B, T, S + 1, C, generator=g, dtype=torch.float64, requires_grad=True)
    symbols = torch.randint(1, C, (B, S), generator=g)
    boundary = torch.tensor([[0, 0, S, T], [0, 0, S - 1, T - 2], [0, 0, 1, T - 1]][:B])
    return logits, symbols, boundary


def nemo_fastemit_grad(logits, symbols, boundary, rnnt_type, lam):
    """d loss / d logits with the symbol log-probs' gradient scaled by
    1 + lam, composed through the log-softmax by hand."""
    lp = logits.detach().log_softmax(-1).requires_grad_(True)
    (g,) = torch.autograd.grad(loss_reference(lp, symbols, 0, rnnt_type, boundary).sum(), lp)
    emits = torch.zeros_like(g, dtype=torch.bool)
    B, S = symbols.shape
    for b in range(B):
        for s in range(S):
            emits[b, :, s, symbols[b, s]] = True
    g = torch.where(emits, (1 + lam) * g, g)
    return g - lp.exp() * g.sum(-1, keepdim=True)


@pytest.mark.parametrize("rnnt_type", ["regular", "modified"])
@pytest.mark.parametrize("lam", [0.01, 0.5])
def test_rnnt_loss_fastemit(rnnt_type, lam):
    logits, symbols, boundary = make(seed=int(lam * 100))
    ours = R.rnnt_loss(logits, symbols, 0, boundary, rnnt_type, reduction="none",
                       fastemit_lambda=lam)
    plain = R.rnnt_loss(logits, symbols, 0, boundary, rnnt_type, reduction="none")
    torch.testing.assert_close(ours, (1 + lam) * plain, rtol=1e-12, atol=1e-12)
    (grad,) = torch.autograd.grad(ours.sum(), logits)
    expected = nemo_fastemit_grad(logits, symbols, boundary, rnnt_type, lam)
    torch.testing.assert_close(grad, expected, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_pruned_fastemit_with_full_windows_equals_full(reduction):
    logits, symbols, boundary = make(seed=3)
    B, T, S1, _ = logits.shape
    ranges = torch.arange(S1).expand(B, T, S1).contiguous()
    full = R.rnnt_loss(logits, symbols, 0, boundary, reduction=reduction, fastemit_lambda=0.2)
    pruned = R.rnnt_loss_pruned(logits, symbols, ranges, 0, boundary, reduction=reduction,
                                fastemit_lambda=0.2)
    torch.testing.assert_close(pruned, full, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(torch.autograd.grad(pruned, logits)[0],
                               torch.autograd.grad(full, logits)[0], rtol=1e-10, atol=1e-10)


def test_fastemit_return_grad_and_errors():
    logits, symbols, boundary = make(seed=4)
    loss, (px_grad, py_grad) = R.rnnt_loss(logits, symbols, 0, boundary, return_grad=True,
                                           fastemit_lambda=0.1)
    _, (px_ref, py_ref) = R.rnnt_loss(logits, symbols, 0, boundary, return_grad=True)
    torch.testing.assert_close(px_grad, px_ref)
    torch.testing.assert_close(py_grad, py_ref)
    with pytest.raises(ValueError, match="rnnt_loss: fastemit_lambda and delay_penalty"):
        R.rnnt_loss(logits, symbols, 0, delay_penalty=0.1, fastemit_lambda=0.1)
    with pytest.raises(ValueError, match="fastemit_lambda must be finite and >= 0"):
        R.rnnt_loss(logits, symbols, 0, fastemit_lambda=-0.1)


def test_fastemit_reaches_torchscript_through_the_op():
    """FastEmit is an argument of the C++ op: a scripted caller gets the
    same value and gradient as the Python wrapper."""

    @torch.jit.script
    def scripted(logits: torch.Tensor, symbols: torch.Tensor, boundary: torch.Tensor):
        return torch.ops.rnnt.rnnt_loss(logits, symbols, 0, boundary, "regular", 0.0, "sum",
                                        False, False, 0.25)

    logits, symbols, boundary = make(seed=5)
    out = scripted(logits, symbols, boundary)
    ref = R.rnnt_loss(logits, symbols, 0, boundary, reduction="sum", fastemit_lambda=0.25)
    torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(torch.autograd.grad(out, logits)[0],
                               torch.autograd.grad(ref, logits)[0], rtol=1e-12, atol=1e-12)
