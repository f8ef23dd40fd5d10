"""The fused losses' sparse backward (sparse_backward=True, the default):
float32 gradients against float64 within the unfused float32 path's own
error, on random and on peaky (trained-like) joiners, full and pruned; the
skip rule's share of cells, from an independent float64 occupation."""

import pytest
import torch

import rnnt_ops
from test_fused_joiner import joiner, leaves, random_problem, ranges_for

GRADS = ("am", "lm", "weight", "bias")
SKIP_RATIO_F32 = 2.0**-24 / 8  # the rule's eps in float32


def losses(pruned, ranges, symbols, boundary, activation):
    """(fused(am, lm, weight, bias, **options), unfused(am, lm, weight, bias))."""
    if pruned:
        def fused(am, lm, weight, bias, **options):
            return rnnt_ops.rnnt_loss_pruned_fused(am, lm, ranges, weight, bias, symbols, 0,
                                                   boundary, activation, reduction="sum",
                                                   **options)

        def unfused(am, lm, weight, bias):
            am_p, lm_p = rnnt_ops.do_rnnt_pruning(am, lm, ranges)
            return rnnt_ops.rnnt_loss_pruned(joiner(am_p, lm_p, weight, bias, activation),
                                             symbols, ranges, 0, boundary, reduction="sum")
    else:
        def fused(am, lm, weight, bias, **options):
            return rnnt_ops.rnnt_loss_fused(am, lm, weight, bias, symbols, 0, boundary,
                                            activation, reduction="sum", **options)

        def unfused(am, lm, weight, bias):
            logits = joiner(am[:, :, None], lm[:, None], weight, bias, activation)
            return rnnt_ops.rnnt_loss(logits, symbols, 0, boundary, reduction="sum")
    return fused, unfused


def grads(fn, inputs, **options):
    leaf = leaves(*inputs)
    return torch.autograd.grad(fn(*leaf, **options), leaf)


def kept_share(occupation, budget_ratio):
    """Share of cells (of positive occupation) the rule keeps: per item, the
    lightest cells whose occupations sum to at most budget_ratio * total go."""
    occ = occupation.flatten(1).double()
    live = (occ > 0).sum()
    sorted_occ, _ = occ.sort(1)
    running = sorted_occ.cumsum(1)
    dropped = (running <= budget_ratio * running[:, -1:]).sum() - (occ == 0).sum()
    return 1 - float(dropped) / float(live)


def occupation_of(pruned, inputs, ranges, symbols, boundary, activation):
    """Each cell's occupation |d loss / d symbol lp| + |d loss / d blank lp|
    ([B][T][K], float64) from the unfused loss's logit gradient: on every
    class j but the cell's symbol and the blank it is occupation * softmax_j."""
    am, lm, weight, bias = (t.double() for t in inputs)
    if pruned:
        am, lm = rnnt_ops.do_rnnt_pruning(am, lm, ranges)
    else:
        am, lm = am[:, :, None], lm[:, None]
    logits = joiner(am, lm, weight, bias, activation).requires_grad_(True)
    loss = (rnnt_ops.rnnt_loss_pruned(logits, symbols, ranges, 0, boundary, reduction="sum")
            if pruned else rnnt_ops.rnnt_loss(logits, symbols, 0, boundary, reduction="sum"))
    (grad,) = torch.autograd.grad(loss, logits)
    B, S = symbols.shape
    ext = torch.cat([symbols, torch.zeros(B, 1, dtype=torch.int64)], 1)
    index = ext[:, None].expand(B, logits.shape[1], S + 1)
    if pruned:
        index = torch.gather(index, 2, ranges)
    others = torch.ones_like(logits, dtype=torch.bool).scatter_(-1, index[..., None], False)
    others[..., 0] = False
    prob = logits.detach().softmax(-1)
    return (grad * others).sum(-1) / (prob * others).sum(-1)


# (pruned, logit scale, activation): scale 8 makes the joiner peaky, as a
# trained one is (occupation concentrated near the best alignment).
CASES = [(False, 1.0, "tanh"), (False, 8.0, "tanh"), (False, 8.0, "relu"),
         (True, 1.0, "tanh"), (True, 8.0, "tanh")]


@pytest.mark.parametrize("pruned,scale,activation", CASES)
@pytest.mark.parametrize("shape", [(3, 40, 12, 16, 24), (2, 60, 20, 8, 40)])
def test_float32_gradients_within_unfused_error(pruned, scale, activation, shape):
    B, T, S, D, C = shape
    am, lm, weight, bias, symbols, boundary = random_problem(
        T + S + int(scale), "regular", B=B, T=T, S=S, D=D, C=C, dtype=torch.float32)
    weight = weight * scale
    inputs = (am, lm, weight, bias)
    ranges = ranges_for(am, lm, symbols, boundary, "regular", 4, C, seed=1) if pruned else None
    fused, unfused = losses(pruned, ranges, symbols, boundary, activation)
    exact = grads(unfused, [t.double() for t in inputs])
    unfused32 = grads(unfused, inputs)
    sparse32 = grads(fused, inputs, sparse_backward=True)
    for name, ref, base, got in zip(GRADS, exact, unfused32, sparse32):
        base_err = (base.double() - ref).abs().max()
        err = (got.double() - ref).abs().max()
        assert err <= 1.5 * base_err, f"d {name}: sparse error {err:.3g}, unfused {base_err:.3g}"
    if scale > 1:  # Not vacuous: the rule drops a good share of a peaky lattice.
        occupation = occupation_of(pruned, inputs, ranges, symbols, boundary, activation)
        assert kept_share(occupation, SKIP_RATIO_F32) < 0.75


@pytest.mark.parametrize("pruned", [False, True])
def test_a_nonfinite_item_keeps_its_cells(pruned):
    """A NaN in one item's am makes its loss NaN and its cells' logits NaN
    (their gradient rows NaN whatever their occupation): the rule keeps
    them, so the NaN reaches the gradients as without skipping; the other
    items' gradients agree."""
    am, lm, weight, bias, symbols, boundary = random_problem(5, "regular", T=8, S=3)
    am[1, 0, 0] = float("nan")
    ranges = ranges_for(am.nan_to_num(), lm, symbols, boundary, "regular", 2, 7, 1) if pruned \
        else None
    fused, _ = losses(pruned, ranges, symbols, boundary, "tanh")
    inputs = (am, lm, weight, bias)
    sparse, dense = grads(fused, inputs), grads(fused, inputs, sparse_backward=False)
    for name, a, b in zip(GRADS, sparse, dense):
        assert torch.equal(a.isnan(), b.isnan()), name
        torch.testing.assert_close(a.nan_to_num(), b.nan_to_num(), rtol=1e-9, atol=1e-9)
    assert sparse[0][1].isnan().any() and not sparse[0][0].isnan().any()
