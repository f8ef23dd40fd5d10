"""bench/profile_step.py runs and names our kernels in its table (tiny CPU
configuration; no timing assertions)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from torch.profiler import ProfilerActivity, profile  # noqa: E402

from bench import profile_step  # noqa: E402


def test_profile_table_lists_the_rnnt_kernels(tmp_path, capsys):
    argv = ["--device", "cpu", "--impls", "full,pruned", "--shapes", str(tmp_path / "absent.json"),
            "--batch-size", "2", "--length-scale", "20", "--vocab", "16", "--dim", "8",
            "--warmup", "1", "--steps", "1", "--top", "50"]
    assert profile_step.main(argv) == 0
    out = capsys.readouterr().out
    assert "stand-in lengths" in out
    full, pruned = out.split("rnnt_ops pruned")
    assert "| operator / kernel |" in full and "`rnnt::_joiner_logprobs`" in full
    assert "`rnnt::_mutual_information_forward`" in pruned


def test_self_time_of_host_only_operators():
    """A GPU profile also lists host-only operators; their device self time
    is 0 (read without error on every torch), their CPU self time is not."""
    x = torch.randn(64, 64)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        torch.ops.rnnt._joiner_logprobs(x, torch.zeros(64, dtype=torch.int64), 0)
    events = [e for e in prof.key_averages() if e.key == "rnnt::_joiner_logprobs"]
    assert len(events) == 1
    assert profile_step.self_time_us(events[0], on_device=True) == 0
    assert profile_step.self_time_us(events[0], on_device=False) > 0
