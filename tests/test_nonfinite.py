"""Impossible alignments, masked (-inf) logits and NaN inputs."""

import math

import pytest
import torch

import rnnt_ops as R
from reference import loss_reference

TYPES = ["regular", "modified", "constrained"]


def make(B, T, S, C, seed=0):
    g = torch.Generator().manual_seed(seed)
    am = torch.randn(B, T, C, generator=g, dtype=torch.float64, requires_grad=True)
    lm = torch.randn(B, S + 1, C, generator=g, dtype=torch.float64, requires_grad=True)
    symbols = torch.randint(1, C, (B, S), generator=g)
    return am, lm, symbols


def all_losses(am, lm, symbols, boundary, rnnt_type, **kw):
    """name -> per-item loss of every loss function on the same inputs."""
    _, (px_grad, py_grad) = R.rnnt_loss_simple(
        lm.detach(), am.detach(), symbols, 0, boundary, rnnt_type, return_grad=True
    )
    ranges = R.get_rnnt_prune_ranges(px_grad, py_grad, boundary, 2)
    am_p, lm_p = R.do_rnnt_pruning(am, lm, ranges)
    common = dict(boundary=boundary, rnnt_type=rnnt_type, reduction="none", **kw)
    return {
        "simple": R.rnnt_loss_simple(lm, am, symbols, 0, **common),
        "smoothed": R.rnnt_loss_smoothed(lm, am, symbols, 0, 0.1, 0.1, **common),
        "full": R.rnnt_loss((am[:, :, None] + lm[:, None]).tanh(), symbols, 0, **common),
        "pruned": R.rnnt_loss_pruned((am_p + lm_p).tanh(), symbols, ranges, 0, **common),
    }


@pytest.mark.parametrize("rnnt_type", ["modified", "constrained"])
def test_item_without_alignment_has_inf_loss_and_zero_grads(rnnt_type):
    """Item 0 has 3 symbols in 2 frames: no alignment. Its loss is inf, its
    gradients zero, and item 1's gradients are what they are alone."""
    am, lm, symbols = make(2, 4, 3, 5, seed=1)
    boundary = torch.tensor([[0, 0, 3, 2], [0, 0, 2, 4]])
    for name, loss in all_losses(am, lm, symbols, boundary, rnnt_type).items():
        if name == "smoothed":  # its unigram LM mixes items: not per item
            continue
        assert math.isinf(loss[0].item()) and loss[0] > 0, name
        assert torch.isfinite(loss[1]), name
        g_am, g_lm = torch.autograd.grad(loss[1], (am, lm), retain_graph=True)
        zero_am, zero_lm = torch.autograd.grad(
            torch.where(torch.isinf(loss), torch.zeros_like(loss), loss).sum(), (am, lm)
        )
        assert torch.isfinite(zero_am).all() and torch.isfinite(zero_lm).all(), name
        assert (zero_am[0] == 0).all() and (zero_lm[0] == 0).all(), name
        torch.testing.assert_close(zero_am[1], g_am[1])
        # zero_infinity: the same item's loss becomes 0, the rest unchanged.
        zeroed = all_losses(am, lm, symbols, boundary, rnnt_type, zero_infinity=True)[name]
        assert zeroed[0] == 0 and zeroed[1] == loss[1], name
        total = zeroed.sum()
        g = torch.autograd.grad(total, am)[0]
        assert torch.isfinite(g).all() and (g[0] == 0).all(), name


@pytest.mark.parametrize("rnnt_type", TYPES)
def test_masked_logits_are_handled(rnnt_type):
    """-inf logits for some vocabulary entries (never the reference's
    symbols or blank): finite loss matching the reference, finite grads."""
    am, lm, symbols = make(2, 5, 3, 6, seed=2)
    symbols = symbols % 3 + 1  # symbols in 1..3; mask 4 and 5
    logits = (am[:, :, None] + lm[:, None]).tanh()
    mask = torch.zeros(6, dtype=torch.bool)
    mask[4:] = True
    masked = logits.masked_fill(mask, float("-inf"))
    loss = R.rnnt_loss(masked, symbols, 0, rnnt_type=rnnt_type, reduction="none")
    ref = loss_reference(masked.log_softmax(-1), symbols, 0, rnnt_type)
    torch.testing.assert_close(loss, ref)
    g = torch.autograd.grad(loss.sum(), am)[0]
    assert torch.isfinite(g).all()
    simple = R.rnnt_loss_simple(lm, am.masked_fill(mask, float("-inf")), symbols, 0, rnnt_type=rnnt_type)
    g = torch.autograd.grad(simple, (am, lm))
    assert torch.isfinite(simple) and all(torch.isfinite(x).all() for x in g)


def test_nan_input_stays_in_its_item():
    am, lm, symbols = make(3, 5, 2, 4, seed=3)
    poisoned = am.detach().clone()
    poisoned[1, 2, 3] = float("nan")
    for name, loss in all_losses(poisoned, lm, symbols, None, "regular").items():
        if name == "smoothed":
            continue
        assert torch.isnan(loss[1]), name
        assert torch.isfinite(loss[[0, 2]]).all(), name
