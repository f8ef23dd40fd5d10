"""The simple and smoothed losses on huge logits: the row maxima cancel
exactly (simple_lattice_math.h, mix), so a logit of 1e30 changes nothing
but what it should. Checked against a float64 reference that shifts each
row by its maximum before anything else (reference.py's math, written out
here for the smoothed mix), in eager and traced (composition) mode."""

import pytest
import torch

import rnnt_ops as R
from composite import Traced

B, S, T, C = 2, 4, 6, 7


def inputs(seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    am = torch.randn(B, T, C, generator=g, dtype=dtype)
    lm = torch.randn(B, S + 1, C, generator=g, dtype=dtype)
    symbols = torch.randint(1, C, (B, S), generator=g)
    return am, lm, symbols


def smoothed_reference(lm, am, symbols, lm_scale, am_scale):
    """k2's smoothed px/py from explicit log-softmaxes over [B][T][S+1][C]
    (log_softmax shifts by the row maximum itself), then the recursion."""
    lm, am = lm.double(), am.double()
    combined = torch.log_softmax(am[:, None] + lm[:, :, None], -1)  # [B][S+1][T][C]
    lm_only = torch.log_softmax(lm, -1)[:, :, None]  # [B][S+1][1][C]
    lm_probs = torch.softmax(lm, -1)
    unigram = lm_probs.mean((0, 1))
    am_only = torch.log_softmax(am + unigram.log(), -1)[:, None]  # [B][1][T][C]
    mixed = (1 - lm_scale - am_scale) * combined + lm_scale * lm_only + am_scale * am_only
    sym = symbols[:, :, None, None].expand(B, S, T, 1)
    px = mixed[:, :S].gather(3, sym)[..., 0]
    px = torch.cat([px, torch.full((B, S, 1), float("-inf"), dtype=px.dtype)], 2)
    py = mixed[..., 0]
    return -R.mutual_information_recursion(px, py)


@pytest.mark.parametrize("traced", [False, True], ids=["eager", "traced"])
@pytest.mark.parametrize("big", [1e4, 1e10, 1e30])
def test_smoothed_loss_with_a_huge_logit(big, traced):
    am, lm, symbols = inputs()
    am[0, 0, 0] = big
    lm[1, 2, 3] = big
    ref = smoothed_reference(lm, am, symbols, 0.1, 0.1)
    assert torch.isfinite(ref).all()
    run = Traced() if traced else _Eager()
    with run:
        got = R.rnnt_loss_smoothed(lm, am, symbols, 0, 0.1, 0.1, reduction="none")
    torch.testing.assert_close(got, ref, rtol=1e-10, atol=1e-9)


class _Eager:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@pytest.mark.parametrize("big", [1e2, 1e4, 1e6])
def test_float32_error_does_not_grow_with_the_logit(big):
    am, lm, symbols = inputs(1)
    am[0, 0, 0] = big
    ref = smoothed_reference(lm, am, symbols, 0.1, 0.1)
    got = R.rnnt_loss_smoothed(lm.float(), am.float(), symbols, 0, 0.1, 0.1, reduction="none")
    # As accurate as float32 is on the same inputs without the big logit.
    assert (got.double() - ref).abs().max() < 1e-4 * (1 + ref.abs().max())
