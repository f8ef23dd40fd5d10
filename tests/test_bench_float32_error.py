"""bench/float32_error.py runs and reports every case of test_cuda_vs_cpu.py
on each device, within the bounds that test applies to CUDA."""

import subprocess
import sys
from pathlib import Path

import torch

BENCH = Path(__file__).resolve().parents[1] / "bench" / "float32_error.py"


def test_float32_error_table():
    proc = subprocess.run([sys.executable, str(BENCH)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    rows = [[c.strip() for c in line.strip("|").split("|")]
            for line in proc.stdout.splitlines() if line.startswith(("| cpu", "| cuda"))]
    devices = 2 if torch.cuda.is_available() else 1
    assert len(rows) == 14 * devices
    for row in rows:
        eps_units, value_units = float(row[6]), float(row[7])
        assert eps_units < 64 and value_units < 1, row
