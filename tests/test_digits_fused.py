"""examples/digits with --fused: the model's losses with the joiner fused
into them (rnnt_loss_fused, rnnt_loss_pruned_fused, rnnt_loss_tdt_fused)
equal the unfused losses, values and every parameter's gradient, in
float64 on random features (no corpus needed); the command line rejects
--fused with pruned_tdt."""

import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "examples" / "digits"

sys.path.insert(0, str(RECIPE))
try:
    from model import Transducer
    from train import parse_args
finally:
    sys.path.remove(str(RECIPE))


@pytest.mark.parametrize("loss", ["full", "pruned", "tdt"])
def test_fused_losses_match_unfused(loss):
    torch.manual_seed(0)
    net = Transducer(num_features=20, dim=16, num_layers=1,
                     durations=[0, 1, 2] if loss == "tdt" else None).double()
    feats = torch.randn(3, 40, 20, dtype=torch.float64)
    feat_lens = torch.tensor([40, 33, 25])
    symbols = torch.randint(1, 10, (3, 4))
    symbol_lens = torch.tensor([4, 3, 2])
    results = []
    for fused in (False, True):
        net.zero_grad()
        simple, main = net(feats, feat_lens, symbols, symbol_lens, loss=loss, fused=fused,
                           tdt_omega=0.1)
        (simple + main).backward()
        results.append(((simple, main), {n: p.grad.clone() for n, p in net.named_parameters()
                                         if p.grad is not None}))
    (plain, plain_grads), (fused, fused_grads) = results
    torch.testing.assert_close(fused, plain, rtol=1e-9, atol=1e-9)
    assert fused_grads.keys() == plain_grads.keys()
    for name, grad in fused_grads.items():
        torch.testing.assert_close(grad, plain_grads[name], rtol=1e-8, atol=1e-9,
                                   msg=lambda m: f"d {name}: {m}")


def test_fused_pruned_tdt_is_a_usage_error():
    with pytest.raises(SystemExit):
        parse_args(["--fused", "--loss", "pruned_tdt"])
