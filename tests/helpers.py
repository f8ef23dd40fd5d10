"""Helpers shared by several test files: a small training step's inputs and
losses (full and pruned path), and the recursion's check against the
float64 reference. (Independent references: reference.py; traced
compositions: composite.py; the stand-in model: standin.py.)"""

import torch

import rnnt_ops as R
from rnnt_ops import mutual_information_recursion
from reference import recursion_reference


def step_inputs(device, dtype, B=3, T=7, S=4, C=11, seed=0):
    hidden = C  # am and lm also feed the simple loss
    g = torch.Generator().manual_seed(seed)
    am = torch.randn(B, T, hidden, generator=g, dtype=torch.float64).to(device, dtype)
    lm = torch.randn(B, S + 1, hidden, generator=g, dtype=torch.float64).to(device, dtype)
    symbols = torch.randint(1, C, (B, S), generator=g).to(device)
    boundary = torch.tensor([[0, 0, S, T], [0, 0, S - 1, T - 2], [0, 0, 2, T - 1]], device=device)
    joiner = torch.nn.Linear(hidden, C).to(device, dtype)
    return am.requires_grad_(), lm.requires_grad_(), symbols, boundary, joiner


def full_loss(inputs, inplace_grad, rnnt_type):
    am, lm, symbols, boundary, joiner = inputs
    logits = joiner(torch.tanh(am[:, :, None] + lm[:, None]))
    return R.rnnt_loss(logits, symbols, 0, boundary, rnnt_type=rnnt_type,
                       reduction="sum", inplace_grad=inplace_grad)


def pruned_loss(inputs, inplace_grad, rnnt_type):
    am, lm, symbols, boundary, joiner = inputs
    _, (px_grad, py_grad) = R.rnnt_loss_simple(
        lm, am, symbols, 0, boundary, rnnt_type=rnnt_type, return_grad=True
    )
    ranges = R.get_rnnt_prune_ranges(px_grad, py_grad, boundary, 3)
    am_p, lm_p = R.do_rnnt_pruning(am, lm, ranges)
    logits = joiner(torch.tanh(am_p + lm_p))
    return R.rnnt_loss_pruned(logits, symbols, ranges, 0, boundary, rnnt_type=rnnt_type,
                              reduction="sum", inplace_grad=inplace_grad)


def loss_and_grads(loss_fn, inputs, inplace_grad, rnnt_type):
    am, lm, _, _, joiner = inputs
    params = (am, lm, joiner.weight, joiner.bias)
    loss = loss_fn(inputs, inplace_grad, rnnt_type)
    return loss.detach(), torch.autograd.grad(loss, params)


RECURSION_TOL = {torch.float32: dict(rtol=1e-5, atol=1e-4), torch.float64: dict(rtol=1e-10, atol=1e-10)}
NEG_INF = float("-inf")


def recursion_inputs(B, S, T, modified, seed, neg_inf_fraction=0.0):
    g = torch.Generator().manual_seed(seed)
    px = torch.randn(B, S, T if modified else T + 1, generator=g, dtype=torch.float64)
    py = torch.randn(B, S + 1, T, generator=g, dtype=torch.float64)
    if neg_inf_fraction:
        for x in (px, py):
            x[torch.rand(x.shape, generator=g) < neg_inf_fraction] = NEG_INF
    return px, py


def check_recursion_against_reference(px64, py64, boundary, dtype):
    """Scores and gradients (of a random weighting of the scores) of the op
    in `dtype` against reference.py in float64."""
    px = px64.to(dtype, copy=True).requires_grad_()
    py = py64.to(dtype, copy=True).requires_grad_()
    scores = mutual_information_recursion(px, py, boundary)
    ref_px, ref_py = px64.clone().requires_grad_(), py64.clone().requires_grad_()
    ref = recursion_reference(ref_px, ref_py, boundary)
    torch.testing.assert_close(scores.double(), ref.detach(), **RECURSION_TOL[dtype])

    weights = torch.rand(px.shape[0], dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    finite = torch.isfinite(ref.detach())
    (torch.where(finite, scores, 0) * weights.to(dtype)).sum().backward()
    if ref.requires_grad:
        (torch.where(finite, ref, 0) * weights).sum().backward()
    for ours, theirs in ((px, ref_px), (py, ref_py)):
        expected = theirs.grad if theirs.grad is not None else torch.zeros_like(theirs)
        torch.testing.assert_close(ours.grad.double(), expected, **RECURSION_TOL[dtype])
