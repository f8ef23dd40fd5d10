"""Every loss and the recursion are differentiable once: their backward
holds the lattice occupation probabilities constant, so a gradient of a
gradient (create_graph=True, then grad again) would be wrong. It raises an
error naming the function instead; first-order gradients computed with
create_graph=True keep their values."""

import pytest
import torch

import rnnt_ops as R

B, S, T, C = 2, 3, 4, 5


def inputs(seed=0):
    g = torch.Generator().manual_seed(seed)
    am = torch.randn(B, T, C, generator=g, dtype=torch.float64, requires_grad=True)
    lm = torch.randn(B, S + 1, C, generator=g, dtype=torch.float64, requires_grad=True)
    symbols = torch.randint(1, C, (B, S), generator=g)
    return am, lm, symbols


def simple(am, lm, symbols):
    return R.rnnt_loss_simple(lm, am, symbols, 0), (lm, am)


def smoothed(am, lm, symbols):
    return R.rnnt_loss_smoothed(lm, am, symbols, 0, 0.1, 0.1), (lm, am)


def full(am, lm, symbols):
    logits = (am[:, :, None] + lm[:, None]).tanh()
    return R.rnnt_loss(logits, symbols, 0), (am, lm)


def pruned(am, lm, symbols, use_hat_loss=False):
    with torch.no_grad():
        _, (px_grad, py_grad) = R.rnnt_loss_simple(lm, am, symbols, 0, return_grad=True)
    ranges = R.get_rnnt_prune_ranges(px_grad, py_grad, None, 2)
    am_p, lm_p = R.do_rnnt_pruning(am, lm, ranges)
    return R.rnnt_loss_pruned((am_p + lm_p).tanh(), symbols, ranges, 0,
                              use_hat_loss=use_hat_loss), (am, lm)


def pruned_hat(am, lm, symbols):
    return pruned(am, lm, symbols, use_hat_loss=True)


def recursion(am, lm, symbols):
    px, py = am[:, None, :, :1].expand(B, S, T, 1)[..., 0], lm[:, :, :T]
    px = torch.cat([px, px[:, :, :1]], 2)  # [B][S][T+1]
    return R.mutual_information_recursion(px, py).sum(), (am, lm)


def recursion_with_grad(am, lm, symbols):
    px = torch.cat([am[:, None, :, 0].expand(B, S, T), am[:, None, :1, 1].expand(B, S, 1)], 2)
    scores, _ = R.mutual_information_recursion(px, lm[:, :, :T], return_grad=True)
    return scores.sum(), (am, lm)


def joint_recursion(am, lm, symbols):
    px = torch.cat([am[:, None, :, 0].expand(B, S, T), am[:, None, :1, 1].expand(B, S, 1)], 2)
    py = lm[:, :, :T]
    return R.joint_mutual_information_recursion([px, 0.5 * px], [py, 0.5 * py]).sum(), (am, lm)


LOSSES = {
    "rnnt_loss_simple": simple,
    "rnnt_loss_smoothed": smoothed,
    "rnnt_loss": full,
    "rnnt_loss_pruned": pruned,
    "rnnt_loss_pruned(use_hat_loss)": pruned_hat,
    "mutual_information": recursion,
    "mutual_information(return_grad)": recursion_with_grad,
    "joint_mutual_information_recursion": joint_recursion,
}


@pytest.mark.parametrize("name", list(LOSSES))
def test_second_order_gradient_raises_naming_the_function(name):
    am, lm, symbols = inputs()
    loss, wrt = LOSSES[name](am, lm, symbols)
    first = torch.autograd.grad(loss, wrt, create_graph=True)
    # The first-order values are those of a plain backward.
    loss_again, wrt_again = LOSSES[name](*inputs())
    plain = torch.autograd.grad(loss_again, wrt_again)
    for a, b in zip(first, plain):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    expected = name.split("(")[0]
    with pytest.raises(RuntimeError, match=rf"{expected} is differentiable once"):
        torch.autograd.grad(sum((g * g).sum() for g in first), wrt)
    # .backward() reaches the same error.
    loss, wrt = LOSSES[name](*inputs())
    first = torch.autograd.grad(loss, wrt, create_graph=True)
    with pytest.raises(RuntimeError, match="is differentiable once"):
        sum(g.sum() for g in first).backward()
