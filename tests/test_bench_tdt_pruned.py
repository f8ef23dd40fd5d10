"""bench/bench_tdt_pruned.py and bench/pruned_tdt_paths.py run on tiny
configurations and print their tables. No timing assertions: this only
checks that the benchmarks work."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(script, args):
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / script)] + args,
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout, [line.split("|")[1:-1] for line in proc.stdout.splitlines()
                         if line.startswith("| ") and not line.startswith("| step")
                         and not line.startswith("| durations")]


def test_bench_tdt_pruned_prints_a_row_per_step():
    out, rows = run("bench_tdt_pruned.py", ["--batch", "2", "--T", "9", "--U", "3", "--vocab", "12",
                                            "--hidden", "8", "--s-range", "2", "--steps", "1"])
    names = [cells[0].strip() for cells in rows]
    assert names == ["full TDT + joiner", "pruned TDT + joiner", "pruned RNN-T + joiner"], out
    assert all(float(cells[1]) > 0 for cells in rows), out
    assert float(rows[0][2]) == 1.0, out


def test_pruned_tdt_paths_prints_a_row_per_duration_set():
    out, rows = run("pruned_tdt_paths.py", ["--cases", "2", "--s-ranges", "2"])
    assert len(rows) == 6, out
    for cells in rows:
        lost, finite = (int(v) for v in cells[1].split("/"))
        assert 0 <= lost <= finite, out
        if cells[0].strip().startswith("[0, 1"):  # durations with 0 and 1 keep a path
            assert lost == 0, out
