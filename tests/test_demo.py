"""The README's demo trains: 30 steps cut the pruned loss by at least 30%."""

from rnnt_ops.demo import train


def test_demo_losses_fall():
    history = train(steps=30, log_every=10)
    first, last = history[0], history[-1]
    assert last["pruned"] <= 0.7 * first["pruned"], (first, last)
    assert last["simple"] < first["simple"], (first, last)
