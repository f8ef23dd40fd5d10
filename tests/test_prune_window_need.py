"""get_rnnt_prune_ranges widens a too-small s_range from each item's own
lengths (its boundary's s_end and t_end), not the tensor sizes, so that on
a ragged batch every item whose full loss is finite keeps a path inside its
windows and its pruned loss is finite too."""

import warnings

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import rnnt_ops as R

TYPES = ["regular", "modified", "constrained"]


def losses(am, lm, symbols, boundary, rnnt_type, s_range):
    """(full loss per item, pruned loss per item, ranges) with the simple
    joiner's occupation grads choosing the windows."""
    _, (px_grad, py_grad) = R.rnnt_loss_simple(
        lm, am, symbols, 0, boundary, rnnt_type=rnnt_type, reduction="none", return_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ranges = R.get_rnnt_prune_ranges(px_grad, py_grad, boundary, s_range)
    am_p, lm_p = R.do_rnnt_pruning(am, lm, ranges)
    pruned = R.rnnt_loss_pruned(am_p + lm_p, symbols, ranges, 0, boundary,
                                rnnt_type=rnnt_type, reduction="none")
    full = R.rnnt_loss(am[:, :, None] + lm[:, None], symbols, 0, boundary,
                       rnnt_type=rnnt_type, reduction="none")
    return full, pruned, ranges


def inputs(B, S, T, C, seed):
    g = torch.Generator().manual_seed(seed)
    am = torch.randn(B, T, C, generator=g, dtype=torch.float64)
    lm = torch.randn(B, S + 1, C, generator=g, dtype=torch.float64)
    symbols = torch.randint(1, C, (B, S), generator=g)
    return am, lm, symbols


def test_the_issue_case_item_with_many_symbols_per_frame():
    """Item 1 has 11 symbols over 2 frames: the tensor sizes (S = T = 12)
    allow s_range = 2, the item needs (11 - 1) // 2 + 2 = 7."""
    am, lm, symbols = inputs(2, 12, 12, 20, 0)
    boundary = torch.tensor([[0, 0, 12, 12], [0, 0, 11, 2]])
    full, pruned, ranges = losses(am, lm, symbols, boundary, "regular", 2)
    assert ranges.shape[2] == 7
    assert torch.isfinite(full).all() and torch.isfinite(pruned).all()
    # The last frame's window of item 1 ends at its s_end.
    assert int(ranges[1, 1, -1]) == 11


@pytest.mark.parametrize("rnnt_type", ["modified", "constrained"])
def test_modified_item_with_one_symbol_per_frame_needs_two(rnnt_type):
    """An item with as many symbols as frames must emit on every frame,
    its last one included, and a constrained emission also scores the
    next row's blank in the same frame: a window of 1 cannot hold that."""
    am, lm, symbols = inputs(2, 6, 8, 10, 1)
    boundary = torch.tensor([[0, 0, 3, 8], [0, 0, 5, 5]])
    full, pruned, ranges = losses(am, lm, symbols, boundary, rnnt_type, 1)
    assert ranges.shape[2] == 2
    assert torch.isfinite(full).all() and torch.isfinite(pruned).all()


def test_a_wide_enough_s_range_is_kept():
    am, lm, symbols = inputs(2, 12, 12, 20, 0)
    boundary = torch.tensor([[0, 0, 12, 12], [0, 0, 11, 2]])
    _, (px_grad, py_grad) = R.rnnt_loss_simple(lm, am, symbols, 0, boundary, return_grad=True)
    assert R.get_rnnt_prune_ranges(px_grad, py_grad, boundary, 7).shape[2] == 7
    assert R.get_rnnt_prune_ranges(px_grad, py_grad, None, 2).shape[2] == 2


def test_boundary_outside_the_lattice_raises():
    px_grad, py_grad = torch.zeros(2, 4, 6), torch.zeros(2, 5, 5)
    for bad in ([[0, 0, 4, 5], [0, 0, 5, 5]], [[0, 0, 4, 6], [0, 0, 4, 5]],
                [[0, 0, 4, 5], [3, 0, 2, 5]], [[-1, 0, 4, 5], [0, 0, 4, 5]]):
        with pytest.raises(ValueError, match=r"get_rnnt_prune_ranges: boundary\[\d\]"):
            R.get_rnnt_prune_ranges(px_grad, py_grad, torch.tensor(bad), 2)


@st.composite
def ragged_batches(draw):
    """Batches where some items have many symbols per frame (regular) or
    about one (modified/constrained), with the smallest allowed s_range."""
    rnnt_type = draw(st.sampled_from(TYPES))
    B = draw(st.integers(1, 4))
    S = draw(st.integers(1, 14))
    T = draw(st.integers(1, 14))
    rows = []
    for _ in range(B):
        t_end = draw(st.integers(1, T))
        if rnnt_type == "regular":
            s_end = draw(st.integers(0, S))
        else:  # at most one symbol per frame, often exactly one
            s_end = draw(st.integers(max(0, min(S, t_end) - 2), min(S, t_end)))
        rows.append([0, 0, s_end, t_end])
    s_range = 2 if rnnt_type == "regular" else 1
    return rnnt_type, S, T, rows, s_range, draw(st.integers(0, 2**31 - 1))


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(ragged_batches())
def test_pruned_loss_is_finite_whenever_the_full_loss_is(case):
    rnnt_type, S, T, rows, s_range, seed = case
    am, lm, symbols = inputs(len(rows), S, T, 6, seed)
    boundary = torch.tensor(rows)
    full, pruned, ranges = losses(am, lm, symbols, boundary, rnnt_type, s_range)
    finite = torch.isfinite(full)
    assert torch.isfinite(pruned[finite]).all(), (rows, ranges.shape, full, pruned)
    # Pruning keeps a subset of the paths: never a better loss.
    assert (pruned[finite] >= full[finite] - 1e-9).all()
