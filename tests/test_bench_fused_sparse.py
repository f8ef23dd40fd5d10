"""bench/bench_fused_sparse.py's pieces run on a small vocabulary: the
three steps agree, the profiler counts GEMMs, and the hook on the fused
node sees the occupations the skip rule reads. No timing assertions."""

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import bench_fused_sparse as bench  # noqa: E402


@pytest.mark.parametrize("kind", ["full", "pruned", "tdt"])
def test_steps_counts_and_skipped_share(kind):
    inputs, call, cells = bench.problem(torch, kind, 5, 8.0)
    losses = {v: bench.step(torch, inputs, call, v) for v in bench.VARIANTS}
    assert losses["sparse"] == losses["all cells"]
    assert abs(losses["sparse"] - losses["unfused"]) <= 1e-5 * abs(losses["unfused"])
    gemms = {v: bench.gemm_calls(torch, inputs, call, v) for v in bench.VARIANTS}
    assert gemms["unfused"] == (6 if kind == "tdt" else 3)  # the TDT joint has two heads
    assert 3 < gemms["sparse"] <= gemms["all cells"]
    assert 0.0 < bench.skipped_share(torch, inputs, call, cells) < 1.0
