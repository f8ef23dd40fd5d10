"""Every public function that takes symbols or a boundary takes them as
int32 (torchaudio's index dtype) as well as int64, with identical results:
values of the losses, px/py constructions and prune ranges, and gradients."""

import pytest
import torch

import rnnt_ops as R


def problem(seed=0, B=3, T=7, S=4, C=6):
    g = torch.Generator().manual_seed(seed)
    am = torch.randn(B, T, C, generator=g, dtype=torch.float64, requires_grad=True)
    lm = torch.randn(B, S + 1, C, generator=g, dtype=torch.float64, requires_grad=True)
    logits = torch.randn(B, T, S + 1, C, generator=g, dtype=torch.float64, requires_grad=True)
    symbols = torch.randint(1, C, (B, S), generator=g)
    boundary = torch.tensor([[0, 0, S, T], [0, 0, S - 1, T - 2], [0, 0, 1, T - 1]])
    return am, lm, logits, symbols, boundary


def ranges_of(am, lm, symbols, boundary, s_range=3):
    _, (px_grad, py_grad) = R.rnnt_loss_simple(lm, am, symbols, 0, boundary, return_grad=True)
    return R.get_rnnt_prune_ranges(px_grad, py_grad, boundary, s_range)


CALLS = {
    "get_rnnt_logprobs": lambda am, lm, x, y, b: R.get_rnnt_logprobs(lm, am, y, 0, "regular", b),
    "get_rnnt_logprobs_smoothed": lambda am, lm, x, y, b: R.get_rnnt_logprobs_smoothed(
        lm, am, y, 0, 0.1, 0.1, b),
    "get_rnnt_logprobs_joint": lambda am, lm, x, y, b: R.get_rnnt_logprobs_joint(x, y, 0, b),
    "get_rnnt_logprobs_pruned": lambda am, lm, x, y, b: R.get_rnnt_logprobs_pruned(
        x[:, :, :3], y, ranges_of(am, lm, y.long(), b.long()), 0, b),
    "rnnt_loss_simple": lambda am, lm, x, y, b: R.rnnt_loss_simple(lm, am, y, 0, b, reduction="none"),
    "rnnt_loss_smoothed": lambda am, lm, x, y, b: R.rnnt_loss_smoothed(
        lm, am, y, 0, 0.1, 0.1, b, reduction="none"),
    "rnnt_loss": lambda am, lm, x, y, b: R.rnnt_loss(x, y, 0, b, reduction="none"),
    "rnnt_loss_pruned": lambda am, lm, x, y, b: R.rnnt_loss_pruned(
        x[:, :, :3], y, ranges_of(am, lm, y.long(), b.long()), 0, b, reduction="none"),
}


@pytest.mark.parametrize("name", sorted(CALLS))
def test_int32_equals_int64(name):
    am, lm, logits, symbols, boundary = problem()
    fn = CALLS[name]
    wide = fn(am, lm, logits, symbols, boundary)
    narrow = fn(am, lm, logits, symbols.int(), boundary.int())
    wide, narrow = (o if isinstance(o, tuple) else (o,) for o in (wide, narrow))
    leaves = (am, lm, logits)
    for a, b in zip(narrow, wide):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
        weights = torch.rand_like(b)
        grads_a = torch.autograd.grad((a.nan_to_num(neginf=0) * weights).sum(), leaves,
                                      allow_unused=True, retain_graph=True)
        grads_b = torch.autograd.grad((b.nan_to_num(neginf=0) * weights).sum(), leaves,
                                      allow_unused=True, retain_graph=True)
        for ga, gb in zip(grads_a, grads_b):
            if gb is not None:
                torch.testing.assert_close(ga, gb, rtol=0, atol=0)


def test_prune_ranges_take_an_int32_boundary():
    am, lm, _, symbols, boundary = problem(seed=1)
    _, (px_grad, py_grad) = R.rnnt_loss_simple(lm, am, symbols, 0, boundary, return_grad=True)
    for s_range in (2, 3):
        torch.testing.assert_close(
            R.get_rnnt_prune_ranges(px_grad, py_grad, boundary.int(), s_range),
            R.get_rnnt_prune_ranges(px_grad, py_grad, boundary, s_range), rtol=0, atol=0)
