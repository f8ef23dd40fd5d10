"""NeMo-shaped inputs through rnnt_ops.TDTLoss and MultiBlankRNNTLoss
(blank last, duration logits last, act_lens/label_lens, NeMo reductions)
against the float64 reference of duration_reference.py."""

import pytest
import torch

import rnnt_ops as R
from duration_reference import multiblank_arc_kinds, reference_scores, tdt_arc_kinds


def nemo_batch(C_total, V, seed):
    g = torch.Generator().manual_seed(seed)
    B, T, U = 3, 8, 4
    acts = torch.randn(B, T, U + 1, C_total, generator=g, dtype=torch.float64,
                       requires_grad=True)
    labels = torch.randint(0, V, (B, U + 2), generator=g)  # wider than the lattice (padding)
    act_lens = torch.tensor([8, 6, 7])
    label_lens = torch.tensor([4, 2, 3])
    return acts, labels, act_lens, label_lens


def boundary_of(act_lens, label_lens):
    z = torch.zeros_like(act_lens)
    return torch.stack([z, z, label_lens, act_lens], 1)


def nemo_reduce(losses, label_lens, reduction):
    return {
        "none": losses, "sum": losses.sum(), "mean_batch": losses.mean(),
        "mean": (losses / label_lens).mean(), "mean_volume": losses.sum() / label_lens.sum(),
    }[reduction]


@pytest.mark.parametrize("reduction", ["none", "sum", "mean_batch", "mean", "mean_volume"])
def test_tdt_module_matches_reference(reduction):
    V, durations = 5, [0, 1, 2, 3]
    acts, labels, act_lens, label_lens = nemo_batch(V + 1 + len(durations), V, seed=1)
    loss = R.TDTLoss(blank_idx=V, durations=durations, reduction=reduction, sigma=0.05)(
        acts, labels, act_lens, label_lens)
    per_item = -reference_scores(acts[..., :V + 1], acts[..., V + 1:], labels[:, :4],
                                 tdt_arc_kinds(V, durations), boundary_of(act_lens, label_lens),
                                 sigma=0.05)
    ref = nemo_reduce(per_item, label_lens, reduction)
    torch.testing.assert_close(loss, ref, rtol=1e-10, atol=1e-10)
    ours_grad = torch.autograd.grad(loss.sum(), acts, retain_graph=True)[0]
    torch.testing.assert_close(ours_grad, torch.autograd.grad(ref.sum(), acts)[0],
                               rtol=1e-9, atol=1e-9)


def test_tdt_module_clamps_gradient():
    """NeMo's TDT kernel clips the gradient of the label logits only; the
    duration logits' gradient is left as it is."""
    V, durations = 5, [0, 1, 2]
    acts, labels, act_lens, label_lens = nemo_batch(V + 1 + 3, V, seed=2)
    loss = R.TDTLoss(V, durations, reduction="sum", clamp=0.05)(acts, labels, act_lens, label_lens)
    (grad,) = torch.autograd.grad(loss, acts)
    unclamped = R.TDTLoss(V, durations, reduction="sum")(acts, labels, act_lens, label_lens)
    (ref,) = torch.autograd.grad(unclamped, acts)
    torch.testing.assert_close(grad[..., :V + 1], ref[..., :V + 1].clamp(-0.05, 0.05))
    torch.testing.assert_close(grad[..., V + 1:], ref[..., V + 1:])
    assert ref[..., V + 1:].abs().max() > 0.05  # the duration part would have been clipped


@pytest.mark.parametrize("reduction", ["mean_batch", "mean"])
def test_multiblank_module_matches_reference(reduction):
    V, big = 4, [2, 4]
    blank = V + len(big)  # NeMo: standard blank last, big blanks just below
    acts, labels, act_lens, label_lens = nemo_batch(blank + 1, V, seed=3)
    loss = R.MultiBlankRNNTLoss(blank, big, reduction=reduction, sigma=0.1)(
        acts, labels, act_lens, label_lens)
    per_item = -reference_scores(acts, None, labels[:, :4],
                                 multiblank_arc_kinds(blank, [blank - 1, blank - 2], big),
                                 boundary_of(act_lens, label_lens), sigma=0.1)
    ref = nemo_reduce(per_item, label_lens, reduction)
    torch.testing.assert_close(loss, ref, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(torch.autograd.grad(loss, acts, retain_graph=True)[0],
                               torch.autograd.grad(ref, acts)[0], rtol=1e-9, atol=1e-9)


def test_module_rejects_unknown_reduction():
    with pytest.raises(ValueError, match="TDTLoss: reduction must be one of"):
        R.TDTLoss(0, [0, 1], reduction="avg")
