"""rnnt_ops.fast_rnnt and rnnt_ops.k2: each peer's functions called
positionally in the peer's own order (the cases of the peers' test files:
the recursion, simple / smoothed / full losses with their grads, pruning
over every s_range, HAT, the small-s_range and few-symbol batches) against
the float64 references of reference.py, and the peers' window rule, which
keeps a modified/constrained s_range of 1 (rnnt_ops itself widens it)."""

import inspect
import warnings

import pytest
import torch

import rnnt_ops as R
import rnnt_ops.fast_rnnt as fast_rnnt
from rnnt_ops import k2
from reference import (
    hat_log_probs,
    loss_reference,
    pruned_logp_to_full,
    recursion_reference,
    smoothed_log_probs,
)

TYPES = ["regular", "modified", "constrained"]
DOORS = [fast_rnnt, k2]
TOL = dict(rtol=1e-9, atol=1e-9)


def problem(seed, B=3, S=4, T=6, C=7, rnnt_type="regular"):
    """am, lm, symbols (blank C - 1 never a symbol) and a ragged boundary
    (item 0 full size; modified/constrained items keep s_end <= t_end)."""
    g = torch.Generator().manual_seed(seed)
    am = torch.randn(B, T, C, generator=g, dtype=torch.float64)
    lm = torch.randn(B, S + 1, C, generator=g, dtype=torch.float64)
    symbols = torch.randint(0, C - 1, (B, S), generator=g)
    t_end = torch.randint(1, T + 1, (B,), generator=g)
    s_end = torch.randint(1, S + 1, (B,), generator=g)
    t_end[0], s_end[0] = T, S
    if rnnt_type != "regular":
        s_end = torch.minimum(s_end, t_end)
    zeros = torch.zeros(B, dtype=torch.int64)
    return am, lm, symbols, torch.stack([zeros, zeros, s_end, t_end], 1), C - 1


# ---- signatures: each peer's positional order -------------------------------

FAST_RNNT_SIGNATURES = {
    "rnnt_loss": ["logits", "symbols", "termination_symbol", "boundary", "rnnt_type",
                  "delay_penalty", "reduction", "return_grad"],
    "rnnt_loss_pruned": ["logits", "symbols", "ranges", "termination_symbol", "boundary",
                         "rnnt_type", "delay_penalty", "reduction", "return_grad"],
    "get_rnnt_logprobs_joint": ["logits", "symbols", "termination_symbol", "boundary",
                                "rnnt_type"],
    "get_rnnt_logprobs_pruned": ["logits", "symbols", "ranges", "termination_symbol",
                                 "boundary", "rnnt_type"],
}
K2_SIGNATURES = {
    "rnnt_loss": ["logits", "symbols", "termination_symbol", "boundary", "rnnt_type",
                  "delay_penalty", "reduction"],
    "rnnt_loss_pruned": ["logits", "symbols", "ranges", "termination_symbol", "boundary",
                         "rnnt_type", "delay_penalty", "reduction", "use_hat_loss"],
    "get_rnnt_logprobs_joint": ["logits", "symbols", "termination_symbol", "rnnt_type",
                                "boundary"],
    "get_rnnt_logprobs_pruned": ["logits", "symbols", "ranges", "termination_symbol",
                                 "boundary", "rnnt_type"],
}


@pytest.mark.parametrize("door,table", [(fast_rnnt, FAST_RNNT_SIGNATURES), (k2, K2_SIGNATURES)])
def test_positional_order_is_the_peers(door, table):
    for name, params in table.items():
        assert list(inspect.signature(getattr(door, name)).parameters) == params, name
    assert inspect.signature(k2.get_rnnt_logprobs_pruned).parameters["boundary"].default \
        is inspect.Parameter.empty


def test_public_names_and_with_cuda():
    names = {"rnnt_loss", "rnnt_loss_simple", "rnnt_loss_smoothed", "rnnt_loss_pruned",
             "get_rnnt_logprobs", "get_rnnt_logprobs_joint", "get_rnnt_logprobs_pruned",
             "get_rnnt_logprobs_smoothed", "get_rnnt_prune_ranges", "do_rnnt_pruning",
             "mutual_information_recursion", "joint_mutual_information_recursion", "with_cuda"}
    assert names <= set(fast_rnnt.__all__) and names <= set(k2.__all__)
    assert "get_rnnt_prune_ranges_deprecated" in k2.__all__
    assert fast_rnnt.with_cuda() is R.with_cuda()  # a function in fast_rnnt
    assert k2.with_cuda is R.with_cuda()  # a bool in k2


# ---- recursion ---------------------------------------------------------------

@pytest.mark.parametrize("door", DOORS)
@pytest.mark.parametrize("modified", [False, True])
def test_recursion(door, modified):
    g = torch.Generator().manual_seed(3)
    B, S, T = 3, 4, 5
    px = torch.randn(B, S, T if modified else T + 1, generator=g, dtype=torch.float64)
    py = torch.randn(B, S + 1, T, generator=g, dtype=torch.float64)
    boundary = torch.tensor([[0, 0, 4, 5], [1, 0, 3, 4], [0, 2, 2, 5]])
    scores, (px_grad, py_grad) = door.mutual_information_recursion(px, py, boundary, True)
    torch.testing.assert_close(scores, recursion_reference(px, py, boundary), **TOL)
    px_ref = px.detach().requires_grad_()
    py_ref = py.detach().requires_grad_()
    recursion_reference(px_ref, py_ref, boundary).sum().backward()
    torch.testing.assert_close(px_grad, px_ref.grad, **TOL)
    torch.testing.assert_close(py_grad, py_ref.grad, **TOL)
    joint = door.joint_mutual_information_recursion([px, 0.5 * px], [py, 0.5 * py], boundary)
    torch.testing.assert_close(joint.sum(0), recursion_reference(1.5 * px, 1.5 * py, boundary),
                               **TOL)


# ---- simple, smoothed and full losses ------------------------------------------

@pytest.mark.parametrize("door", DOORS)
@pytest.mark.parametrize("rnnt_type", TYPES)
def test_simple_smoothed_and_full_losses(door, rnnt_type):
    am, lm, symbols, boundary, blank = problem(4, rnnt_type=rnnt_type)
    logp = (am[:, :, None] + lm[:, None]).log_softmax(-1)
    ref = loss_reference(logp, symbols, blank, rnnt_type, boundary, 0.2)
    # Positional, as the peers document: ..., boundary, rnnt_type, delay_penalty,
    # reduction, return_grad.
    loss, (px_grad, py_grad) = door.rnnt_loss_simple(lm, am, symbols, blank, boundary,
                                                     rnnt_type, 0.2, "none", True)
    torch.testing.assert_close(loss, ref, **TOL)
    assert px_grad.shape == (3, 4, 7 if rnnt_type == "regular" else 6)
    px, py = door.get_rnnt_logprobs(lm, am, symbols, blank, rnnt_type, boundary)
    torch.testing.assert_close(-R.mutual_information_recursion(px, py, boundary),
                               loss_reference(logp, symbols, blank, rnnt_type, boundary), **TOL)
    smooth = smoothed_log_probs(lm, am, 0.2, 0.1)
    loss = door.rnnt_loss_smoothed(lm, am, symbols, blank, 0.2, 0.1, boundary, rnnt_type, 0.0,
                                   "sum")
    torch.testing.assert_close(
        loss, loss_reference(smooth, symbols, blank, rnnt_type, boundary).sum(), **TOL)
    logits = torch.tanh(am[:, :, None] + lm[:, None])
    full_ref = loss_reference(logits.log_softmax(-1), symbols, blank, rnnt_type, boundary)
    torch.testing.assert_close(
        door.rnnt_loss(logits, symbols, blank, boundary, rnnt_type, 0.0, "mean"),
        full_ref.mean(), **TOL)
    if door is k2:  # k2: rnnt_type before boundary
        px, py = k2.get_rnnt_logprobs_joint(logits, symbols, blank, rnnt_type, boundary)
    else:
        px, py = fast_rnnt.get_rnnt_logprobs_joint(logits, symbols, blank, boundary, rnnt_type)
    torch.testing.assert_close(-R.mutual_information_recursion(px, py, boundary), full_ref, **TOL)


def test_full_loss_return_grad_is_fast_rnnt_only():
    am, lm, symbols, boundary, blank = problem(5)
    logits = am[:, :, None] + lm[:, None]
    loss, (px_grad, py_grad) = fast_rnnt.rnnt_loss(logits, symbols, blank, boundary, "regular",
                                                   0.0, "sum", True)
    px = fast_rnnt.get_rnnt_logprobs_joint(logits, symbols, blank, boundary)[0]
    px_leaf = px.detach().requires_grad_()
    py_leaf = fast_rnnt.get_rnnt_logprobs_joint(logits, symbols, blank, boundary)[1]
    py_leaf = py_leaf.detach().requires_grad_()
    recursion_reference(px_leaf, py_leaf, boundary).sum().backward()
    torch.testing.assert_close(px_grad, px_leaf.grad, **TOL)
    torch.testing.assert_close(py_grad, py_leaf.grad, **TOL)
    with pytest.raises(TypeError):
        k2.rnnt_loss(logits, symbols, blank, boundary, "regular", 0.0, "sum", True)


# ---- pruning -----------------------------------------------------------------------

def peer_ranges_reference(px_grad, py_grad, boundary, s_range):
    """The peers' windows, loop by loop: widen a regular s_range to the batch
    maximum of (s_end - 1) // t_end + 2, cap at S + 1; each frame before an
    item's last takes the start s0 maximising sum(py_grad[s0:s0+R]) -
    px_grad[s0-1]; from the last frame on, s_end - R + 1 (at least 0); then
    start[t] = t*k - max(0, min_{t' >= t} (t'*k - low[t'])) with low the
    running minimum from the right and k = 1 (modified) or R - 1."""
    B, S, T1 = px_grad.shape
    T = py_grad.shape[2]
    modified = T1 == T
    R_ = s_range
    if not modified:
        R_ = max(R_, max((int(s) - 1) // int(t) + 2 for s, t in boundary[:, 2:].tolist()))
    R_ = min(R_, S + 1)
    k = 1 if modified else R_ - 1
    out = torch.zeros(B, T, R_, dtype=torch.int64)
    for b in range(B):
        s_end, t_end = int(boundary[b, 2]), int(boundary[b, 3])
        start = []
        for t in range(T):
            if t < t_end - 1:
                scores = [float(py_grad[b, s0:s0 + R_, t].sum())
                          - (float(px_grad[b, s0 - 1, t]) if s0 > 0 else 0.0)
                          for s0 in range(S + 2 - R_)]
                start.append(max(range(len(scores)), key=lambda i: (scores[i], -i)))
            else:
                start.append(max(s_end - R_ + 1, 0))
        low = [min(start[t:]) for t in range(T)]
        for t in range(T):
            tail = min(u * k - low[u] for u in range(t, T))
            out[b, t] = t * k - max(0, tail) + torch.arange(R_)
    return out


@pytest.mark.parametrize("door", DOORS)
@pytest.mark.parametrize("rnnt_type", TYPES)
def test_pruned_loss_over_every_s_range(door, rnnt_type):
    """The peers' test_rnnt_loss_pruned / _small_symbols_number: every
    s_range from the smallest each peer accepts (1 for modified and
    constrained) to beyond S, a nonlinear joiner, positional calls."""
    am, lm, symbols, boundary, blank = problem(6, S=4, T=7, rnnt_type=rnnt_type)
    _, (px_grad, py_grad) = door.rnnt_loss_simple(lm, am, symbols, blank, boundary, rnnt_type,
                                                  0.0, "none", True)
    for s_range in range(1 if rnnt_type != "regular" else 2, 4 + 3):
        ranges = door.get_rnnt_prune_ranges(px_grad, py_grad, boundary, s_range)
        torch.testing.assert_close(ranges, peer_ranges_reference(px_grad, py_grad, boundary,
                                                                 s_range), rtol=0, atol=0)
        am_p, lm_p = door.do_rnnt_pruning(am, lm, ranges)
        logits = torch.sigmoid(am_p + lm_p)
        full = pruned_logp_to_full(logits.log_softmax(-1), ranges, 4)
        ref = loss_reference(full, symbols, blank, rnnt_type, boundary, 0.1)
        loss = door.rnnt_loss_pruned(logits, symbols, ranges, blank, boundary, rnnt_type, 0.1,
                                     "none")
        torch.testing.assert_close(loss, ref, **TOL)
        if s_range == 1 and rnnt_type == "modified":
            assert torch.isfinite(loss).all()  # a window of 1 keeps a modified path
        if s_range == 1 and rnnt_type == "constrained":
            assert torch.isinf(loss).all()  # ...not a constrained one, as in the peers
        px, py = door.get_rnnt_logprobs_pruned(logits, symbols, ranges, blank, boundary,
                                               rnnt_type)
        torch.testing.assert_close(-R.mutual_information_recursion(px, py, boundary),
                                   loss_reference(full, symbols, blank, rnnt_type, boundary),
                                   **TOL)


def test_rnnt_ops_itself_widens_a_modified_s_range_of_one():
    """rnnt_ops.get_rnnt_prune_ranges cannot tell constrained from
    modified, so it widens s_range = 1 to 2 and its warning says why."""
    am, lm, symbols, boundary, blank = problem(7, rnnt_type="modified")
    _, (px_grad, py_grad) = R.rnnt_loss_simple(lm, am, symbols, blank, boundary, "modified",
                                               return_grad=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ranges = R.get_rnnt_prune_ranges(px_grad, py_grad, boundary, 1)
    assert ranges.shape[2] == 2
    assert k2.get_rnnt_prune_ranges(px_grad, py_grad, boundary, 1).shape[2] == 1
    # TORCH_WARN_ONCE: the text is checked only if this process has not warned yet.
    for w in caught:
        assert "constrained" in str(w.message) and "modified items would" in str(w.message)


@pytest.mark.parametrize("door", DOORS)
def test_small_s_range_is_widened_for_regular(door):
    """The peers' test_rnnt_loss_pruned_small_s_range: many symbols over few
    frames; s_range 2 is widened so that no item is left without a path."""
    am, lm, symbols, boundary, blank = problem(8, S=9, T=2)
    boundary = torch.tensor([[0, 0, 9, 2], [0, 0, 5, 1], [0, 0, 3, 2]])
    _, (px_grad, py_grad) = door.rnnt_loss_simple(lm, am, symbols, blank, boundary, "regular",
                                                  0.0, "none", True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ranges = door.get_rnnt_prune_ranges(px_grad, py_grad, boundary, 2)
    assert ranges.shape[2] == (5 - 1) // 1 + 2
    am_p, lm_p = door.do_rnnt_pruning(am, lm, ranges)
    loss = door.rnnt_loss_pruned(am_p + lm_p, symbols, ranges, blank, boundary, "regular", 0.0,
                                 "none")
    full = pruned_logp_to_full((am_p + lm_p).log_softmax(-1), ranges, 9)
    torch.testing.assert_close(loss, loss_reference(full, symbols, blank, "regular", boundary),
                               **TOL)
    assert torch.isfinite(loss).all()


@pytest.mark.parametrize("rnnt_type", TYPES)
def test_k2_pruned_hat_loss_positional(rnnt_type):
    """k2's ninth positional argument is use_hat_loss (fast_rnnt's is
    return_grad)."""
    am, lm, symbols, boundary, _ = problem(9, rnnt_type=rnnt_type)
    symbols = symbols + 1  # HAT: blank 0
    _, (px_grad, py_grad) = k2.rnnt_loss_simple(lm, am, symbols.clamp(max=6), 0, boundary,
                                                rnnt_type, 0.0, "none", True)
    ranges = k2.get_rnnt_prune_ranges(px_grad, py_grad, boundary, 3)
    am_p, lm_p = k2.do_rnnt_pruning(am, lm, ranges)
    logits = am_p + lm_p
    loss = k2.rnnt_loss_pruned(logits, symbols.clamp(max=6), ranges, 0, boundary, rnnt_type,
                               0.0, "none", True)
    full = pruned_logp_to_full(hat_log_probs(logits), ranges, 4)
    torch.testing.assert_close(
        loss, loss_reference(full, symbols.clamp(max=6), 0, rnnt_type, boundary), **TOL)
    loss, (px_g, py_g) = fast_rnnt.rnnt_loss_pruned(logits, symbols.clamp(max=6), ranges, 0,
                                                    boundary, rnnt_type, 0.0, "sum", True)
    softmax_full = pruned_logp_to_full(logits.log_softmax(-1), ranges, 4)
    torch.testing.assert_close(
        loss, loss_reference(softmax_full, symbols.clamp(max=6), 0, rnnt_type, boundary).sum(),
        **TOL)
    assert px_g.shape == px_grad.shape


@pytest.mark.parametrize("modified", [False, True])
def test_k2_deprecated_ranges(modified):
    """k2.get_rnnt_prune_ranges_deprecated: each frame's window maximises
    the total occupation px_grad + py_grad of its rows (loop reference)."""
    rnnt_type = "modified" if modified else "regular"
    am, lm, symbols, boundary, blank = problem(10, rnnt_type=rnnt_type)
    _, (px_grad, py_grad) = k2.rnnt_loss_simple(lm, am, symbols, blank, boundary, rnnt_type,
                                                0.0, "none", True)
    for s_range in range(1 if modified else 2, 7):
        got = k2.get_rnnt_prune_ranges_deprecated(px_grad, py_grad, boundary, s_range)
        R_ = min(s_range, 5)
        k = 1 if modified else R_ - 1
        B, S, T1 = px_grad.shape
        T = py_grad.shape[2]
        occupation = torch.zeros(B, S + 1, T1, dtype=torch.float64)
        occupation[:, :S] += px_grad
        occupation[:, :, :T] += py_grad
        for b in range(B):
            s_end, t_end = int(boundary[b, 2]), int(boundary[b, 3])
            start = []
            for t in range(T):
                if t < t_end - 1:
                    sums = [float(occupation[b, s0:s0 + R_, t].sum()) for s0 in range(S + 2 - R_)]
                    start.append(max(range(len(sums)), key=lambda i: (sums[i], -i)))
                else:
                    start.append(max(s_end - R_ + 1, 0))
            low = [min(start[t:]) for t in range(T)]
            want = [t * k - max(0, min(u * k - low[u] for u in range(t, T))) for t in range(T)]
            assert got[b, :, 0].tolist() == want and got.shape[2] == R_
