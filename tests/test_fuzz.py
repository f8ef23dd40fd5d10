"""Property-based fuzzing of every op (hypothesis).

Random B, S, T (S = 0, T = 1, S > T included; up to 41 lattice rows, so
several SIMD strips, for the recursion), ragged boundaries (boxes
without any alignment included), rnnt_type, reduction, delay_penalty,
s_range and dtype (and inplace_grad against the default). Each call either matches the float64 reference, or
raises the documented error; never a crash, never a NaN gradient.
RNNT_OPS_FUZZ_LONG=1 runs 10x more examples.
"""

import math
import os

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import rnnt_ops as R
from helpers import check_recursion_against_reference, recursion_inputs
from reference import loss_reference, pruned_logp_to_full, recursion_reference

EXAMPLES = 40 * (10 if os.environ.get("RNNT_OPS_FUZZ_LONG") else 1)
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))


@st.composite
def problems(draw):
    B = draw(st.integers(1, 3))
    S = draw(st.integers(0, 4))
    T = draw(st.integers(1, 5))
    C = draw(st.integers(2, 5))
    rnnt_type = draw(st.sampled_from(["regular", "modified", "constrained"]))
    rows = []
    for _ in range(B):
        sb = draw(st.integers(0, S))
        tb = draw(st.integers(0, T))
        rows.append([sb, tb, draw(st.integers(sb, S)), draw(st.integers(tb, T))])
    use_boundary = draw(st.booleans())
    return dict(
        B=B, S=S, T=T, C=C, rnnt_type=rnnt_type,
        boundary=torch.tensor(rows) if use_boundary else None,
        reduction=draw(st.sampled_from(["none", "mean", "sum"])),
        delay_penalty=draw(st.sampled_from([0.0, 0.0, 0.25])),
        dtype=draw(st.sampled_from([torch.float32, torch.float64])),
        s_range=draw(st.integers(1, S + 2)),
        seed=draw(st.integers(0, 2**16)),
    )


def tensors(p):
    g = torch.Generator().manual_seed(p["seed"])
    am = torch.randn(p["B"], p["T"], p["C"], generator=g, dtype=torch.float64)
    lm = torch.randn(p["B"], p["S"] + 1, p["C"], generator=g, dtype=torch.float64)
    symbols = torch.randint(1, p["C"], (p["B"], p["S"]), generator=g)
    return am.to(p["dtype"]).requires_grad_(), lm.to(p["dtype"]).requires_grad_(), symbols


def reduced(per_item, reduction):
    return {"none": per_item, "mean": per_item.mean(), "sum": per_item.sum()}[reduction]


def no_boundary_error(p):
    return p["boundary"] is None and p["rnnt_type"] != "regular" and p["S"] > p["T"]


def finite_sum(loss):
    """The sum of the finite entries of the loss."""
    return torch.where(torch.isfinite(loss), loss, torch.zeros_like(loss)).sum()


def check_grads(loss, inputs):
    """Gradients of the finite part of the loss are finite (never NaN)."""
    for g in torch.autograd.grad(finite_sum(loss), inputs, allow_unused=True, retain_graph=True):
        assert g is None or not torch.isnan(g).any()


def tol(dtype):
    return dict(rtol=1e-4, atol=1e-3) if dtype == torch.float32 else dict(rtol=1e-9, atol=1e-9)


@FUZZ
@given(problems())
def test_fuzz_full_and_simple_losses(p):
    am, lm, symbols = tensors(p)
    kw = dict(boundary=p["boundary"], rnnt_type=p["rnnt_type"], delay_penalty=p["delay_penalty"],
              reduction=p["reduction"])
    logits = am[:, :, None] + lm[:, None]
    if no_boundary_error(p):
        with pytest.raises(RuntimeError, match="needs S <= T"):
            R.rnnt_loss(logits, symbols, 0, **kw)
        return
    full = R.rnnt_loss(logits, symbols, 0, **kw)
    ref = reduced(
        loss_reference(logits.detach().double().log_softmax(-1), symbols, 0, p["rnnt_type"],
                       p["boundary"], p["delay_penalty"]),
        p["reduction"],
    )
    torch.testing.assert_close(full.double(), ref, **tol(p["dtype"]))
    simple = R.rnnt_loss_simple(lm, am, symbols, 0, **kw)
    torch.testing.assert_close(simple, full, **tol(p["dtype"]))
    check_grads(full, (am, lm))
    check_grads(simple, (am, lm))
    # inplace_grad: the same gradients, bit for bit.
    inplace = R.rnnt_loss(am[:, :, None] + lm[:, None], symbols, 0, inplace_grad=True, **kw)
    for a, b in zip(torch.autograd.grad(finite_sum(inplace), (am, lm)),
                    torch.autograd.grad(finite_sum(full), (am, lm), retain_graph=True)):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    smoothed = R.rnnt_loss_smoothed(lm, am, symbols, 0, 0.2, 0.1, **kw)
    check_grads(smoothed, (am, lm))


@FUZZ
@given(problems())
def test_fuzz_pruned_path(p):
    am, lm, symbols = tensors(p)
    rnnt_type, boundary = p["rnnt_type"], p["boundary"]
    if no_boundary_error(p):
        return  # covered above
    _, (px_grad, py_grad) = R.rnnt_loss_simple(lm, am, symbols, 0, boundary, rnnt_type, return_grad=True)
    assert not torch.isnan(px_grad).any() and not torch.isnan(py_grad).any()
    if rnnt_type == "regular" and p["s_range"] < 2:
        with pytest.raises(ValueError, match="s_range must be >= 2"):
            R.get_rnnt_prune_ranges(px_grad, py_grad, boundary, p["s_range"])
        return
    ranges = R.get_rnnt_prune_ranges(px_grad, py_grad, boundary, p["s_range"])
    assert ranges.min() >= 0 and ranges.max() <= p["S"]
    am_p, lm_p = R.do_rnnt_pruning(am, lm, ranges)
    logits = am_p + lm_p
    pruned = R.rnnt_loss_pruned(logits, symbols, ranges, 0, boundary, rnnt_type, p["delay_penalty"], "none")
    logp = pruned_logp_to_full(logits.detach().double().log_softmax(-1), ranges, p["S"])
    ref = loss_reference(logp, symbols, 0, rnnt_type, boundary, p["delay_penalty"])
    torch.testing.assert_close(pruned.double(), ref, **tol(p["dtype"]))
    check_grads(pruned, (am, lm))


@FUZZ
@given(problems())
def test_fuzz_recursion(p):
    g = torch.Generator().manual_seed(p["seed"])
    modified = p["rnnt_type"] != "regular"
    px = torch.randn(p["B"], p["S"], p["T"] + (0 if modified else 1), generator=g, dtype=torch.float64)
    py = torch.randn(p["B"], p["S"] + 1, p["T"], generator=g, dtype=torch.float64)
    px, py = px.to(p["dtype"]).requires_grad_(), py.to(p["dtype"]).requires_grad_()
    scores, (px_grad, py_grad) = R.mutual_information_recursion(px, py, p["boundary"], return_grad=True)
    ref = recursion_reference(px.detach().double(), py.detach().double(), p["boundary"])
    torch.testing.assert_close(scores.double(), ref, **tol(p["dtype"]))
    assert not torch.isnan(px_grad).any() and not torch.isnan(py_grad).any()
    for b in range(p["B"]):
        if math.isinf(scores[b].item()):
            assert (px_grad[b] == 0).all() and (py_grad[b] == 0).all()


@st.composite
def strip_problems(draw):
    """Lattices of several SIMD strips (up to 41 rows), ragged boxes."""
    B = draw(st.integers(1, 3))
    S = draw(st.integers(0, 40))
    modified = draw(st.booleans())
    T = draw(st.integers(1 if modified else 0, 48))
    rows = []
    for _ in range(B):
        sb, tb = draw(st.integers(0, S)), draw(st.integers(0, T))
        rows.append([sb, tb, draw(st.integers(sb, S)), draw(st.integers(tb, T))])
    return dict(B=B, S=S, T=T, modified=modified, boundary=torch.tensor(rows),
                neg_inf_fraction=draw(st.sampled_from([0.0, 0.0, 0.1])),
                dtype=draw(st.sampled_from([torch.float32, torch.float64])),
                seed=draw(st.integers(0, 2**16)))


@settings(max_examples=max(EXAMPLES // 4, 10), deadline=None,
          suppress_health_check=list(HealthCheck))
@given(strip_problems())
def test_fuzz_recursion_across_strips(p):

    px, py = recursion_inputs(p["B"], p["S"], p["T"], p["modified"], p["seed"], p["neg_inf_fraction"])
    check_recursion_against_reference(px, py, p["boundary"], p["dtype"])
