"""examples/digits/progress.py: the training loop's progress line."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples" / "digits"))

import progress  # noqa: E402


def test_line_has_step_rate_and_eta(monkeypatch):
    clock = iter([100.0, 140.0])  # start, then 40 s later
    monkeypatch.setattr(progress.time, "monotonic", lambda: next(clock))
    line = progress.Progress(total_steps=100).line(20)
    # 20 steps in 40 s: 0.5 steps/s, 80 steps left: 160 s.
    assert line == "step 20/100 (20%), 0.50 steps/s, elapsed 40s, ETA 2m40s"


def test_format_duration():
    assert progress.format_duration(59.4) == "59s"
    assert progress.format_duration(61) == "1m01s"
    assert progress.format_duration(3 * 3600 + 5 * 60) == "3h05m"
