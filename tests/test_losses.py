"""The losses against the definitions in reference.py (float64 loops and
alignment enumeration), plus the properties that tie them together."""

import pytest
import torch

import rnnt_ops as R
from reference import (
    hat_log_probs,
    loss_by_enumeration,
    loss_reference,
    pruned_logp_to_full,
    random_boundary,
    smoothed_log_probs,
)

TYPES = ["regular", "modified", "constrained"]
TOL = {torch.float32: dict(rtol=1e-4, atol=1e-4), torch.float64: dict(rtol=1e-9, atol=1e-9)}


def make(B, T, S, C, device, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    am = torch.randn(B, T, C, generator=g, dtype=torch.float64)
    lm = torch.randn(B, S + 1, C, generator=g, dtype=torch.float64)
    symbols = torch.randint(1, C, (B, S), generator=g)
    to = dict(device=device, dtype=dtype)
    return am.to(**to).requires_grad_(), lm.to(**to).requires_grad_(), symbols.to(device)


def boundary_for(kind, B, S, T, rnnt_type, seed):
    if kind == "none":
        return None
    g = torch.Generator().manual_seed(seed)
    return random_boundary(B, S, T, g, with_begin=(kind == "begins"), modified=rnnt_type != "regular")


def reduce(per_item, reduction):
    return {"none": per_item, "mean": per_item.mean(), "sum": per_item.sum()}[reduction]


def assert_grads_close(ours, ref, inputs, tol):
    g_ours = torch.autograd.grad(ours.sum(), inputs, retain_graph=True)
    g_ref = torch.autograd.grad(ref.sum(), [x for x in inputs])
    for a, b in zip(g_ours, g_ref):
        torch.testing.assert_close(a.double().cpu(), b.double().cpu(), **tol)


@pytest.mark.parametrize("rnnt_type", TYPES)
@pytest.mark.parametrize("boundary_kind", ["none", "ragged", "begins"])
@pytest.mark.parametrize("delay_penalty", [0.0, 0.3])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_full_loss_matches_reference(rnnt_type, boundary_kind, delay_penalty, reduction, device):
    B, T, S, C = 3, 6, 4, 5
    am, lm, symbols = make(B, T, S, C, device, seed=1)
    logits = (am[:, :, None] + lm[:, None]).tanh() * 3  # any joiner
    boundary = boundary_for(boundary_kind, B, S, T, rnnt_type, seed=2)
    b_dev = None if boundary is None else boundary.to(device)
    ours = R.rnnt_loss(logits, symbols, 0, b_dev, rnnt_type, delay_penalty, reduction)
    ref = reduce(
        loss_reference(logits.log_softmax(-1).cpu(), symbols.cpu(), 0, rnnt_type, boundary, delay_penalty),
        reduction,
    )
    torch.testing.assert_close(ours.cpu(), ref, **TOL[torch.float64])
    assert_grads_close(ours, ref, [am, lm], TOL[torch.float64])


@pytest.mark.parametrize("rnnt_type", TYPES)
@pytest.mark.parametrize("delay_penalty", [0.0, 0.5])
def test_reference_matches_alignment_enumeration(rnnt_type, delay_penalty):
    """The loop reference against a brute-force sum over alignments, and our
    op against both, on tiny shapes with ragged boundaries."""
    for B, T, S, C, seed in [(2, 4, 2, 4, 0), (3, 5, 3, 3, 1), (2, 3, 0, 3, 2)]:
        am, lm, symbols = make(B, T, S, C, "cpu", seed=seed)
        logp = (am[:, :, None] + lm[:, None]).log_softmax(-1).detach()
        boundary = boundary_for("begins", B, S, T, rnnt_type, seed=seed)
        brute = loss_by_enumeration(logp, symbols, 0, rnnt_type, boundary, delay_penalty)
        ref = loss_reference(logp, symbols, 0, rnnt_type, boundary, delay_penalty)
        ours = R.rnnt_loss(logp, symbols, 0, boundary, rnnt_type, delay_penalty, "none")
        torch.testing.assert_close(ref, brute)
        torch.testing.assert_close(ours, brute)


@pytest.mark.parametrize("rnnt_type", TYPES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_simple_loss_equals_full_loss_of_sum_joiner(rnnt_type, dtype, device):
    B, T, S, C = 3, 7, 4, 6
    am, lm, symbols = make(B, T, S, C, device, dtype, seed=3)
    boundary = boundary_for("ragged", B, S, T, rnnt_type, seed=4).to(device)
    simple = R.rnnt_loss_simple(lm, am, symbols, 2, boundary, rnnt_type, 0.2, "none")
    full = R.rnnt_loss(am[:, :, None] + lm[:, None], symbols, 2, boundary, rnnt_type, 0.2, "none")
    torch.testing.assert_close(simple, full, **TOL[dtype])
    assert_grads_close(simple, full, [am, lm], TOL[dtype])


@pytest.mark.parametrize("rnnt_type", TYPES)
@pytest.mark.parametrize("scales", [(0.1, 0.1), (0.25, 0.0), (0.0, 0.3)])
def test_smoothed_loss_matches_reference(rnnt_type, scales, device):
    B, T, S, C = 2, 6, 3, 5
    am, lm, symbols = make(B, T, S, C, device, seed=5)
    boundary = boundary_for("ragged", B, S, T, rnnt_type, seed=6)
    ours = R.rnnt_loss_smoothed(lm, am, symbols, 0, *scales, boundary.to(device), rnnt_type, reduction="none")
    logp = smoothed_log_probs(lm.cpu(), am.cpu(), *scales)
    ref = loss_reference(logp, symbols.cpu(), 0, rnnt_type, boundary)
    torch.testing.assert_close(ours.cpu(), ref, rtol=1e-9, atol=1e-9)
    assert_grads_close(ours, ref, [am, lm], dict(rtol=1e-7, atol=1e-9))


def test_smoothed_with_zero_scales_equals_simple(device):
    am, lm, symbols = make(3, 6, 4, 5, device, seed=7)
    torch.testing.assert_close(
        R.rnnt_loss_smoothed(lm, am, symbols, 0, 0.0, 0.0, reduction="none"),
        R.rnnt_loss_simple(lm, am, symbols, 0, reduction="none"),
    )


def simple_then_ranges(am, lm, symbols, s_range, rnnt_type, boundary):
    _, (px_grad, py_grad) = R.rnnt_loss_simple(
        lm, am, symbols, 0, boundary, rnnt_type, return_grad=True
    )
    return R.get_rnnt_prune_ranges(px_grad, py_grad, boundary, s_range)


@pytest.mark.parametrize("rnnt_type", TYPES)
@pytest.mark.parametrize("boundary_kind", ["none", "ragged"])
def test_pruned_loss(rnnt_type, boundary_kind, device):
    B, T, S, C = 3, 8, 5, 6
    am, lm, symbols = make(B, T, S, C, device, seed=8)
    boundary = boundary_for(boundary_kind, B, S, T, rnnt_type, seed=9)
    b_dev = None if boundary is None else boundary.to(device)
    joiner = lambda a, l: (a + l).tanh() * 4
    full = R.rnnt_loss(joiner(am[:, :, None], lm[:, None]), symbols, 0, b_dev, rnnt_type, reduction="none")
    for s_range in [2, 3, S + 1, S + 3]:
        ranges = simple_then_ranges(am, lm, symbols, s_range, rnnt_type, b_dev)
        am_p, lm_p = R.do_rnnt_pruning(am, lm, ranges)
        logits = joiner(am_p, lm_p)
        pruned = R.rnnt_loss_pruned(logits, symbols, ranges, 0, b_dev, rnnt_type, reduction="none")
        # Independent: the pruned joiner output scattered into the full
        # lattice (-inf outside the windows), then the definition.
        logp_full = pruned_logp_to_full(logits.log_softmax(-1).cpu(), ranges.cpu(), S)
        ref = loss_reference(logp_full, symbols.cpu(), 0, rnnt_type, boundary)
        torch.testing.assert_close(pruned.cpu(), ref, rtol=1e-9, atol=1e-9)
        assert_grads_close(pruned, ref, [am, lm], dict(rtol=1e-8, atol=1e-9))
        # Pruning only removes paths.
        assert (pruned >= full - 1e-9).all()
        if s_range >= S + 1:
            torch.testing.assert_close(pruned, full)


@pytest.mark.parametrize("rnnt_type", TYPES)
def test_hat_pruned_loss(rnnt_type, device):
    B, T, S, C = 2, 6, 3, 5
    am, lm, symbols = make(B, T, S, C, device, seed=10)
    ranges = simple_then_ranges(am, lm, symbols, 2, rnnt_type, None)
    am_p, lm_p = R.do_rnnt_pruning(am, lm, ranges)
    logits = am_p + lm_p
    ours = R.rnnt_loss_pruned(logits, symbols, ranges, 0, None, rnnt_type, reduction="none", use_hat_loss=True)
    logp_full = pruned_logp_to_full(hat_log_probs(logits.cpu()), ranges.cpu(), S)
    ref = loss_reference(logp_full, symbols.cpu(), 0, rnnt_type)
    torch.testing.assert_close(ours.cpu(), ref)
    assert_grads_close(ours, ref, [am, lm], dict(rtol=1e-8, atol=1e-9))
    with pytest.raises(ValueError, match="use_hat_loss"):
        R.rnnt_loss_pruned(logits, symbols, ranges, 1, use_hat_loss=True)


def window_need(boundary, rnnt_type):
    """The smallest pruning window every item with a path needs (k2's rule,
    per item, batch maximum): windows start at 0 and grow by at most
    s_range - 1 (regular) or 1 symbol per frame and must reach s_end by
    the item's last frame; a modified/constrained item with symbols keeps
    two rows (a constrained emission also scores the next row's blank)."""
    need = 1
    for s_end, t_end in boundary[:, 2:].tolist():
        if s_end >= 1 and t_end >= 1:
            if rnnt_type == "regular":
                need = max(need, (s_end - 1) // t_end + 2)
            elif s_end <= t_end:
                need = max(need, 2)
    return need


@pytest.mark.parametrize("rnnt_type", TYPES)
def test_prune_ranges_properties(rnnt_type, device):
    B, T, S, C = 4, 12, 7, 6
    am, lm, symbols = make(B, T, S, C, device, seed=11)
    boundary = boundary_for("ragged", B, S, T, rnnt_type, seed=12)
    boundary[:, :2] = 0
    for s_range in [1, 2, 3, 5, S + 1, S + 4]:
        if rnnt_type == "regular" and s_range < 2:
            continue
        ranges = simple_then_ranges(am, lm, symbols, s_range, rnnt_type, boundary.to(device)).cpu()
        width = min(max(s_range, window_need(boundary, rnnt_type)), S + 1)
        assert ranges.shape == (B, T, width)
        torch.testing.assert_close(ranges, ranges[:, :, :1] + torch.arange(width))
        begin = ranges[:, :, 0]
        assert (begin[:, 0] == 0).all()
        steps = begin[:, 1:] - begin[:, :-1]
        assert (steps >= 0).all()
        assert (steps < (width if rnnt_type == "regular" else 2)).all()
        assert ranges.min() >= 0 and ranges.max() <= S
        for b in range(B):
            s_end, t_end = int(boundary[b, 2]), int(boundary[b, 3])
            if t_end >= 1:  # the window at the item's last frame reaches s_end
                assert int(ranges[b, t_end - 1, -1]) >= min(s_end, width - 1)


def test_prune_ranges_raises_small_s_range_once(device):
    """Regular with S > T needs several symbols per frame: s_range grows."""
    am, lm, symbols = make(2, 3, 8, 5, device, seed=13)
    _, (px_grad, py_grad) = R.rnnt_loss_simple(lm, am, symbols, 0, return_grad=True)
    ranges = R.get_rnnt_prune_ranges(px_grad, py_grad, None, 2)
    assert ranges.shape == (2, 3, (8 - 1) // 3 + 2)
    with pytest.raises(ValueError, match="s_range must be >= 2"):
        R.get_rnnt_prune_ranges(px_grad, py_grad, None, 1)


def test_do_rnnt_pruning_gathers(device):
    am, lm, symbols = make(2, 5, 4, 3, device, seed=14)
    ranges = simple_then_ranges(am, lm, symbols, 3, "regular", None)
    am_p, lm_p = R.do_rnnt_pruning(am, lm, ranges)
    for b in range(2):
        for t in range(5):
            for k in range(3):
                torch.testing.assert_close(am_p[b, t, k], am[b, t])
                torch.testing.assert_close(lm_p[b, t, k], lm[b, int(ranges[b, t, k])])


@pytest.mark.parametrize("rnnt_type", TYPES)
def test_empty_reference_is_all_blank(rnnt_type, device):
    am, lm, symbols = make(2, 4, 0, 3, device, seed=15)
    logits = am[:, :, None] + lm[:, None]
    loss = R.rnnt_loss(logits, symbols, 0, rnnt_type=rnnt_type, reduction="none")
    expected = -logits.log_softmax(-1)[:, :, 0, 0].sum(1)
    torch.testing.assert_close(loss, expected)
    torch.testing.assert_close(R.rnnt_loss_simple(lm, am, symbols, 0, rnnt_type=rnnt_type, reduction="none"), expected)
    ranges = simple_then_ranges(am, lm, symbols, 3, rnnt_type, None)
    am_p, lm_p = R.do_rnnt_pruning(am, lm, ranges)
    torch.testing.assert_close(
        R.rnnt_loss_pruned(am_p + lm_p, symbols, ranges, 0, rnnt_type=rnnt_type, reduction="none"), expected
    )


@pytest.mark.parametrize("name", ["simple", "smoothed", "full", "pruned"])
def test_return_grad_is_occupation_of_the_loss_lattice(name, device):
    am, lm, symbols = make(2, 6, 3, 5, device, seed=16)
    ranges = simple_then_ranges(am, lm, symbols, 2, "regular", None)
    am_p, lm_p = R.do_rnnt_pruning(am, lm, ranges)
    calls = {
        "simple": (R.rnnt_loss_simple, R.get_rnnt_logprobs, (lm, am, symbols, 0)),
        "smoothed": (R.rnnt_loss_smoothed, R.get_rnnt_logprobs_smoothed, (lm, am, symbols, 0)),
        "full": (R.rnnt_loss, R.get_rnnt_logprobs_joint, (am[:, :, None] + lm[:, None], symbols, 0)),
        "pruned": (R.rnnt_loss_pruned, R.get_rnnt_logprobs_pruned, (am_p + lm_p, symbols, ranges, 0)),
    }
    loss_fn, logprobs_fn, args = calls[name]
    loss, (px_grad, py_grad) = loss_fn(*args, reduction="sum", return_grad=True)
    torch.testing.assert_close(loss, loss_fn(*args, reduction="sum"))
    px, py = logprobs_fn(*args)
    scores, (ref_px_grad, ref_py_grad) = R.mutual_information_recursion(px, py, return_grad=True)
    torch.testing.assert_close(loss, -scores.sum())
    torch.testing.assert_close(px_grad, ref_px_grad)
    torch.testing.assert_close(py_grad, ref_py_grad)


@pytest.mark.parametrize("rnnt_type", TYPES)
def test_gradcheck_every_loss(rnnt_type, device):
    am, lm, symbols = make(2, 4, 2, 3, device, seed=17)
    boundary = torch.tensor([[0, 0, 2, 4], [0, 0, 1, 3]], device=device)
    ranges = simple_then_ranges(am, lm, symbols, 2, rnnt_type, boundary)
    kw = dict(boundary=boundary, rnnt_type=rnnt_type, delay_penalty=0.1, reduction="sum")
    checks = {
        "simple": lambda a, l: R.rnnt_loss_simple(l, a, symbols, 0, **kw),
        "smoothed": lambda a, l: R.rnnt_loss_smoothed(l, a, symbols, 0, 0.2, 0.1, **kw),
        "full": lambda a, l: R.rnnt_loss((a[:, :, None] + l[:, None]).tanh(), symbols, 0, **kw),
        "pruned": lambda a, l: R.rnnt_loss_pruned(
            torch.tanh(sum(R.do_rnnt_pruning(a, l, ranges))), symbols, ranges, 0, **kw
        ),
        "hat": lambda a, l: R.rnnt_loss_pruned(
            sum(R.do_rnnt_pruning(a, l, ranges)), symbols, ranges, 0, use_hat_loss=True, **kw
        ),
    }
    for name, fn in checks.items():
        assert torch.autograd.gradcheck(fn, (am, lm)), name
