"""bench/bench_dispatch.py runs, and the kernel calls it counts for an eager
pruned step are our fused kernels, not their ATen compositions. No timing
assertions."""

import sys
from pathlib import Path

from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import bench_dispatch  # noqa: E402
from bench.steps import BenchModel, make_batch, pruned_step  # noqa: E402


def test_pruned_step_calls_fused_kernels():
    model = BenchModel(50, 32)
    batch = make_batch(bench_dispatch.SHAPES, 50, 32)
    calls = bench_dispatch.kernel_calls(lambda: pruned_step(model, batch))
    for fused in ("rnnt::_simple_lattice", "rnnt::_simple_lattice_backward",
                  "rnnt::_simple_lattice_gather_grads_", "rnnt::_prune_ranges",
                  "rnnt::_pruned_lattice", "rnnt::_pruned_lattice_backward",
                  "rnnt::_joiner_logprobs", "rnnt::_joiner_logprobs_backward"):
        assert calls[fused] == 1, fused
    assert calls["rnnt::_mutual_information_forward"] == 2  # simple and pruned
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        pruned_step(model, batch)
    called = {e.name for e in prof.events()}
    for composed in ("aten::cummin", "aten::argmax", "aten::scatter", "aten::log"):
        assert composed not in called


def test_table(capsys):
    assert bench_dispatch.main(["--steps", "2", "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    assert "| rnnt_ops pruned (0.5*simple + pruned, s_range 5) |" in out
    assert "| rnnt_ops pruned, value checks off |" in out
