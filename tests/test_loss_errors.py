"""Bad input to the losses and pruning: a clear error naming the argument."""

import pytest
import torch

import rnnt_ops as R

B, T, S, C = 2, 5, 3, 4


def inputs(device):
    am = torch.randn(B, T, C, device=device)
    lm = torch.randn(B, S + 1, C, device=device)
    symbols = torch.randint(1, C, (B, S), device=device)
    return am, lm, symbols


def ranges_for(device, s_range=2):
    return torch.zeros(B, T, s_range, dtype=torch.int64, device=device) + torch.arange(s_range, device=device)


CASES = {
    "lm rank": (lambda am, lm, sy, d: R.rnnt_loss_simple(lm[0], am, sy, 0), RuntimeError, "lm must be 3-D"),
    "am rank": (lambda am, lm, sy, d: R.rnnt_loss_simple(lm, am[0], sy, 0), RuntimeError, "am must be 3-D"),
    "B mismatch": (lambda am, lm, sy, d: R.rnnt_loss_simple(lm[:1], am, sy, 0), RuntimeError, "agree on B and C"),
    "C mismatch": (lambda am, lm, sy, d: R.rnnt_loss_simple(lm[..., :3], am, sy, 0), RuntimeError, "agree on B and C"),
    "lm dtype": (lambda am, lm, sy, d: R.rnnt_loss_simple(lm.long(), am, sy, 0), RuntimeError, "lm must be float16, bfloat16, float32 or float64"),
    "am dtype": (lambda am, lm, sy, d: R.rnnt_loss_simple(lm, am.double(), sy, 0), RuntimeError, "am must have the dtype of lm"),
    "symbols shape": (lambda am, lm, sy, d: R.rnnt_loss_simple(lm, am, sy[:, :2], 0), RuntimeError, r"symbols \[B\]\[S\] disagree on S"),
    "symbols dtype": (lambda am, lm, sy, d: R.rnnt_loss_simple(lm, am, sy.float(), 0), RuntimeError, "symbols must be int64"),
    "symbols >= C": (lambda am, lm, sy, d: R.rnnt_loss_simple(lm, am, sy + C, 0), ValueError, r"symbols must lie in \[0, 4\)"),
    "symbols < 0": (lambda am, lm, sy, d: R.rnnt_loss(am[:, :, None] + lm[:, None], -sy, 0), ValueError, "symbols must lie in"),
    "termination_symbol >= C": (lambda am, lm, sy, d: R.rnnt_loss_simple(lm, am, sy, C), ValueError, "termination_symbol must be in"),
    "termination_symbol < 0": (lambda am, lm, sy, d: R.rnnt_loss_simple(lm, am, sy, -1), ValueError, "termination_symbol must be in"),
    "rnnt_type": (lambda am, lm, sy, d: R.rnnt_loss_simple(lm, am, sy, 0, rnnt_type="fancy"), ValueError, "rnnt_type must be"),
    "reduction": (lambda am, lm, sy, d: R.rnnt_loss_simple(lm, am, sy, 0, reduction="avg"), ValueError, "reduction must be"),
    "reduction full": (lambda am, lm, sy, d: R.rnnt_loss(am[:, :, None] + lm[:, None], sy, 0, reduction=None), (ValueError, RuntimeError), "reduction"),
    "boundary shape": (lambda am, lm, sy, d: R.rnnt_loss_simple(lm, am, sy, 0, torch.zeros(B, 3, dtype=torch.int64, device=d)), RuntimeError, r"boundary must be \[B\]\[4\]"),
    "boundary range": (lambda am, lm, sy, d: R.rnnt_loss_simple(lm, am, sy, 0, torch.tensor([[0, 0, S, T + 1]] * B, device=d)), ValueError, r"boundary\[0\]"),
    "modified S > T": (lambda am, lm, sy, d: R.rnnt_loss_simple(lm, am[:, :2], sy, 0, rnnt_type="modified"), RuntimeError, "needs S <= T"),
    "logits rank": (lambda am, lm, sy, d: R.rnnt_loss(am, sy, 0), RuntimeError, "logits must be 4-D"),
    "logits S": (lambda am, lm, sy, d: R.rnnt_loss(am[:, :, None] + lm[:, None, :S], sy, 0), RuntimeError, r"symbols \[B\]\[S\] disagree on S"),
    "ranges shape": (lambda am, lm, sy, d: R.rnnt_loss_pruned(torch.randn(B, T, 2, C, device=d), sy, ranges_for(d)[:, :4], 0), RuntimeError, r"ranges must be \[B\]\[T\]\[s_range\]"),
    "ranges values": (lambda am, lm, sy, d: R.rnnt_loss_pruned(torch.randn(B, T, 2, C, device=d), sy, ranges_for(d) + S, 0), ValueError, r"ranges must lie in \[0, 4\)"),
    "pruning ranges values": (lambda am, lm, sy, d: R.do_rnnt_pruning(am, lm, ranges_for(d) + S), ValueError, "ranges must lie in"),
    "pruning ranges dtype": (lambda am, lm, sy, d: R.do_rnnt_pruning(am, lm, ranges_for(d).int()), RuntimeError, "ranges must be an int64"),
    "pruning B": (lambda am, lm, sy, d: R.do_rnnt_pruning(am[:1], lm, ranges_for(d)), RuntimeError, "must match am"),
    "s_range < 2 regular": (lambda am, lm, sy, d: R.get_rnnt_prune_ranges(torch.zeros(B, S, T + 1, device=d), torch.zeros(B, S + 1, T, device=d), None, 1), ValueError, "s_range must be >= 2"),
    "s_range < 1 modified": (lambda am, lm, sy, d: R.get_rnnt_prune_ranges(torch.zeros(B, S, T, device=d), torch.zeros(B, S + 1, T, device=d), None, 0), ValueError, "s_range must be >= 1"),
    "prune grads shape": (lambda am, lm, sy, d: R.get_rnnt_prune_ranges(torch.zeros(B, S, T + 2, device=d), torch.zeros(B, S + 1, T, device=d), None, 2), RuntimeError, "px_grad must be"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_raises(case, device):
    fn, error, message = CASES[case]
    am, lm, symbols = inputs(device)
    with pytest.raises(error, match=message):
        fn(am, lm, symbols, device)


def test_modified_with_boundary_allowing_it(device):
    """S > T overall is fine when each item's box has a path."""
    am, lm, symbols = inputs(device)
    boundary = torch.tensor([[0, 0, 2, 2], [0, 0, 1, 2]], device=device)
    loss = R.rnnt_loss_simple(lm, am[:, :2], symbols, 0, boundary, "modified", reduction="none")
    assert torch.isfinite(loss).all()
