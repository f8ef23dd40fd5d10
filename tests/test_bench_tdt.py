"""bench/bench_tdt.py runs on a tiny configuration, with fixed shapes and with
the standard benchmark's lengths (scaled down), and prints one table row per
loss. No timing assertions: this only checks that the benchmark works."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def table_rows(args):
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "bench_tdt.py"), "--vocab", "12", "--steps", "2",
                           "--threads", "1"] + args, capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [line.split("|")[1:-1] for line in proc.stdout.splitlines() if line.startswith("| rnnt_loss")]
    return proc.stdout, {cells[0].strip(): [float(c) for c in cells[1:]] for cells in rows}


@pytest.mark.parametrize("args", [["--batch", "2", "--T", "9", "--U", "3"],
                                  ["--standard", "--batch", "3", "--length-scale", "20"]])
def test_bench_tdt_prints_a_row_per_loss(args):
    out, rows = table_rows(args)
    assert set(rows) == {"rnnt_loss", "rnnt_loss_tdt", "rnnt_loss_multiblank"}, out
    for name, (ms, time_ratio, mib, mem_ratio) in rows.items():
        assert ms > 0 and time_ratio > 0, out
    assert rows["rnnt_loss"][1] == 1.0, out
    if "--standard" in args:
        assert "B=3, groups 0..2" in out and "divided by 20" in out, out
