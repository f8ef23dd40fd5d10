"""The fused losses' sparse backward (sparse_backward=True, the default):
float32 gradients against float64 within the unfused float32 path's own
error, on random and on peaky (trained-like) joiners, full and pruned (and
HAT), with the share of cells the rule drops; non-finite inputs."""

import pytest
import torch

import rnnt_ops
from test_fused_joiner import joiner, leaves, random_problem, ranges_for

GRADS = ("am", "lm", "weight", "bias")
SKIP_RATIO_F32 = 2.0**-24 / 8  # the rule's eps in float32


def losses(pruned, ranges, symbols, boundary, activation, hat=False):
    """(fused(am, lm, weight, bias, **options), unfused(am, lm, weight, bias));
    hat: the pruned losses' HAT factorisation."""
    if pruned:
        def fused(am, lm, weight, bias, **options):
            return rnnt_ops.rnnt_loss_pruned_fused(am, lm, ranges, weight, bias, symbols, 0,
                                                   boundary, activation, reduction="sum",
                                                   use_hat_loss=hat, **options)

        def unfused(am, lm, weight, bias):
            am_p, lm_p = rnnt_ops.do_rnnt_pruning(am, lm, ranges)
            return rnnt_ops.rnnt_loss_pruned(joiner(am_p, lm_p, weight, bias, activation),
                                             symbols, ranges, 0, boundary, reduction="sum",
                                             use_hat_loss=hat)
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


def occupation_of(fused, inputs):
    """|grad_symbol| + |grad_blank| per cell ([B][T][K]) as the fused
    backward receives them (a hook on the joiner's autograd node)."""
    loss = fused(*leaves(*inputs))
    seen, todo, node = set(), [loss.grad_fn], None
    while node is None:
        fn = todo.pop()
        if fn is None or fn in seen:
            continue
        seen.add(fn)
        node = fn if "FusedJoiner" in fn.name() else None
        todo.extend(f for f, _ in fn.next_functions)
    got = {}
    node.register_prehook(lambda g: got.update(g=g))
    loss.backward()
    return got["g"][0].double().abs() + got["g"][1].double().abs()


# (pruned, logit scale, activation, HAT): scale 8 makes the joiner peaky,
# as a trained one is (occupation concentrated near the best alignment).
CASES = [(False, 1.0, "tanh", False), (False, 8.0, "tanh", False), (False, 8.0, "relu", False),
         (True, 1.0, "tanh", False), (True, 8.0, "tanh", False), (True, 8.0, "tanh", True)]


@pytest.mark.parametrize("pruned,scale,activation,hat", CASES)
@pytest.mark.parametrize("shape", [(3, 40, 12, 16, 24), (2, 60, 20, 8, 40)])
def test_float32_gradients_within_unfused_error(pruned, scale, activation, hat, shape):
    B, T, S, D, C = shape
    am, lm, weight, bias, symbols, boundary = random_problem(
        T + S + int(scale), "regular", B=B, T=T, S=S, D=D, C=C, dtype=torch.float32)
    weight = weight * scale
    inputs = (am, lm, weight, bias)
    ranges = ranges_for(am, lm, symbols, boundary, "regular", 4, C, seed=1) if pruned else None
    fused, unfused = losses(pruned, ranges, symbols, boundary, activation, hat)
    exact = grads(unfused, [t.double() for t in inputs])
    unfused32 = grads(unfused, inputs)
    sparse32 = grads(fused, inputs, sparse_backward=True)
    # Whole-gradient (Frobenius) errors: a single entry's error is rounding
    # noise that the order of a sum decides, and the packed cells sum in
    # another order than the unfused path's.
    for name, ref, base, got in zip(GRADS, exact, unfused32, sparse32):
        base_err = (base.double() - ref).norm()
        err = (got.double() - ref).norm()
        assert err <= 1.5 * base_err, f"d {name}: sparse error {err:.3g}, unfused {base_err:.3g}"
    # Not vacuous: the rule drops a good share of a peaky lattice (with HAT,
    # these small windows keep up to 90% of their cells).
    assert kept_share(occupation_of(fused, inputs), SKIP_RATIO_F32) < (
        0.75 if scale > 1 and not hat else 1.0)


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
