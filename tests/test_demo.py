"""The README's demo trains: 30 steps cut the pruned loss by at least 30%,
in float32 and with a bfloat16 / float16 autocast forward."""

import pytest
import torch

from rnnt_ops import demo
from rnnt_ops.demo import train


def test_demo_losses_fall():
    history = train(steps=30, log_every=10)
    first, last = history[0], history[-1]
    assert last["pruned"] <= 0.7 * first["pruned"], (first, last)
    assert last["simple"] < first["simple"], (first, last)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_demo_trains_under_low_precision_autocast(dtype, monkeypatch):
    logits_dtypes = set()
    forward = demo.TinyTransducer.forward

    def recording_forward(self, *args, **kwargs):
        handle = self.joiner_output.register_forward_hook(
            lambda module, inputs, out: logits_dtypes.add(out.dtype))
        try:
            return forward(self, *args, **kwargs)
        finally:
            handle.remove()

    monkeypatch.setattr(demo.TinyTransducer, "forward", recording_forward)
    history = train(steps=30, log_every=10, autocast_dtype=dtype)
    assert logits_dtypes == {dtype}  # the losses really saw low-precision logits
    first, last = history[0], history[-1]
    assert all(torch.isfinite(torch.tensor([r["simple"], r["pruned"]])).all() for r in history)
    assert last["pruned"] <= 0.7 * first["pruned"], (first, last)
    assert last["simple"] < first["simple"], (first, last)
