"""The options after ``reduction`` of the k2/fast_rnnt-named losses are
keyword-only: k2 and fast_rnnt disagree on what follows ``reduction``
(k2's ``rnnt_loss_pruned`` has ``use_hat_loss`` where fast_rnnt has
``return_grad``), so a positional call written for either raises here
instead of meaning something else. TorchScript, which has no keyword-only
parameters with defaults, still compiles them (directly and inside a
module) and gives the Python numbers."""

import io

import pytest
import torch

import rnnt_ops as R
from reference import loss_reference

LOSSES = {"rnnt_loss": 7, "rnnt_loss_simple": 8, "rnnt_loss_smoothed": 10, "rnnt_loss_pruned": 8}


def problem(seed=0, B=2, S=3, T=4, C=5):
    g = torch.Generator().manual_seed(seed)
    am = torch.randn(B, T, C, generator=g, dtype=torch.float64)
    lm = torch.randn(B, S + 1, C, generator=g, dtype=torch.float64)
    symbols = torch.randint(1, C, (B, S), generator=g)
    boundary = torch.tensor([[0, 0, 3, 4], [0, 0, 2, 3]])
    return am, lm, symbols, boundary


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_options_after_reduction_are_keyword_only(name):
    import inspect
    params = list(inspect.signature(getattr(R, name)).parameters.values())
    positional = [p.name for p in params if p.kind == p.POSITIONAL_OR_KEYWORD]
    assert positional[-1] == "reduction" and len(positional) == LOSSES[name]
    assert all(p.kind == p.KEYWORD_ONLY for p in params[len(positional):])


def test_peer_positional_call_raises_instead_of_changing_meaning():
    """fast_rnnt's positional ``return_grad=True`` would be k2's
    ``use_hat_loss=True`` (and vice versa): neither is accepted."""
    am, lm, symbols, boundary = problem()
    ranges = torch.arange(3).expand(2, 4, 3).contiguous()
    logits = am[:, :, None] + lm[:, None]
    with pytest.raises(TypeError, match="positional"):
        R.rnnt_loss_pruned(logits[:, :, :3], symbols, ranges, 0, boundary, "regular", 0.0,
                           "none", True)
    with pytest.raises(TypeError, match="positional"):
        R.rnnt_loss(logits, symbols, 0, boundary, "regular", 0.0, "none", True)
    with pytest.raises(TypeError, match="positional"):
        R.rnnt_loss_simple(lm, am, symbols, 0, boundary, "regular", 0.0, "none", True)
    # By keyword both mean what they say.
    loss, (px_grad, _) = R.rnnt_loss(logits, symbols, 0, boundary, "regular", 0.0, "none",
                                     return_grad=True)
    ref = loss_reference(logits.log_softmax(-1), symbols, 0, "regular", boundary)
    torch.testing.assert_close(loss, ref, rtol=1e-10, atol=1e-10)
    assert px_grad.shape == (2, 3, 5)


class CallsWithKeywords(torch.nn.Module):
    def forward(self, logits: torch.Tensor, symbols: torch.Tensor, boundary: torch.Tensor):
        loss = R.rnnt_loss(logits, symbols, 0, boundary, "regular", 0.0, "none",
                           zero_infinity=True, fastemit_lambda=0.0)
        assert isinstance(loss, torch.Tensor)
        return loss


def test_torchscript_compiles_the_keyword_only_losses():
    am, lm, symbols, boundary = problem(seed=1)
    logits = am[:, :, None] + lm[:, None]
    module = torch.jit.script(CallsWithKeywords())
    buffer = io.BytesIO()
    torch.jit.save(module, buffer)
    buffer.seek(0)
    loaded = torch.jit.load(buffer)
    ref = loss_reference(logits.log_softmax(-1), symbols, 0, "regular", boundary)
    for m in (module, loaded):
        torch.testing.assert_close(m(logits, symbols, boundary), ref, rtol=1e-10, atol=1e-10)
    scripted = torch.jit.script(R.rnnt_loss_pruned)
    ranges = torch.arange(4).expand(2, 4, 4).contiguous()
    got = scripted(logits, symbols, ranges, 0, boundary, reduction="none", use_hat_loss=False)
    torch.testing.assert_close(got, ref, rtol=1e-10, atol=1e-10)
